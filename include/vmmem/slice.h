/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/slice.h
 * @brief Bounded views of guest memory: slices (vm-memory's VolatileSlice) and typed
 *        element arrays (VolatileRef, VolatileArrayRef).
 *
 * A slice is a small value (pointer, length, origin) that the caller keeps on the stack and
 * passes around by pointer. It never extends past one region, and every operation on it is
 * bounds-checked against its own length. A slice does not hold a reference: it is valid as
 * long as the memory or region it came from is referenced by the caller.
 *
 * Offsets and lengths are relative to the slice. The copy rule of vmmem/access.h applies:
 * 8 bytes or less are moved with single accesses as wide as alignment allows. Every write
 * through these functions is recorded by dirty tracking (vmmem/dirty.h); writes through
 * `ptr` are not, unless marked with vmmem_slice_mark_dirty().
 *
 * Thread safety of every function here: MT-Safe; slices are plain values, and guest bytes
 * race like any shared memory.
 */
#ifndef VMMEM_SLICE_H
#define VMMEM_SLICE_H

#include <vmmem/common.h>
#include <vmmem/memory.h>

VMMEM_BEGIN_DECLS

/** The slice refuses writes (it views a read-only region, or was made so). */
#define VMMEM_SLICE_READ_ONLY 0x1u

/**
 * @brief A view of @p len bytes at host address @p ptr.
 *
 * Treat the fields as read-only: build and narrow slices with the functions below so the
 * bounds stay true. Field layout is part of the ABI.
 */
struct vmmem_slice {
	uint8_t *ptr;                      /**< host address of the first byte */
	size_t len;                        /**< length in bytes */
	const struct vmmem_region *region; /**< region it views (borrowed), NULL for buffers */
	const struct vmmem_memory *memory; /**< memory it came from (borrowed), or NULL: writes
					        also set bits in that memory's vhost log */
	uint64_t region_offset;            /**< offset of ptr within that region */
	uint32_t flags;                    /**< ::VMMEM_SLICE_READ_ONLY */
	uint32_t reserved;                 /**< zero */
};

/**
 * @brief An array of @p count elements of @p elem_size bytes inside a slice (vm-memory's
 *        VolatileArrayRef; with count 1 it is a VolatileRef).
 *
 * Elements need no alignment; an element of 1, 2, 4 or 8 bytes is loaded and stored with one
 * access of that width.
 */
struct vmmem_array {
	struct vmmem_slice slice; /**< exactly elem_size * count bytes */
	size_t elem_size;         /**< bytes per element, at least 1 */
	size_t count;             /**< number of elements */
};

/**
 * @brief A slice over a plain host buffer (for copies between guest and host views).
 * @param[out] out the slice.
 * @param ptr   the buffer; may be NULL only when @p len is 0.
 * @param flags ::VMMEM_SLICE_READ_ONLY or 0.
 * @return 0, or -EINVAL (@p out NULL, @p ptr NULL with @p len > 0, unknown @p flags, or
 *         ptr + len wraps the address space).
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_from_buffer(struct vmmem_slice *out, void *ptr, size_t len,
					 uint32_t flags);

/**
 * @brief A slice of guest memory [gpa, gpa + len), which must lie inside one region
 *        (vm-memory's get_slice). @p len 0 gives an empty slice at a mapped @p gpa.
 * @param access ::VMMEM_ACCESS_READ (the slice is read-only if the region is),
 *               ::VMMEM_ACCESS_WRITE or ::VMMEM_ACCESS_RW (refused on read-only regions).
 * @return 0, or
 * @retval -EINVAL                  @p m or @p out is NULL, or @p access is not valid
 * @retval -EOVERFLOW               gpa + len passes 2^64
 * @retval VMMEM_E_UNMAPPED         @p gpa is in no region
 * @retval VMMEM_E_CROSSES_REGION   the range runs past the end of @p gpa's region
 * @retval VMMEM_E_READ_ONLY        write access on a read-only region
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_get_slice(const struct vmmem_memory *m, uint64_t gpa, size_t len,
					unsigned int access, struct vmmem_slice *out);

/**
 * @brief A slice of a region, by offset (vm-memory's region get_slice / as_volatile_slice).
 * @return 0, or
 * @retval -EINVAL               @p r or @p out is NULL, or @p access is not valid
 * @retval -EOVERFLOW            offset + len wraps
 * @retval VMMEM_E_OUT_OF_BOUNDS offset + len is past the region's size
 * @retval VMMEM_E_READ_ONLY     write access on a read-only region
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_get_slice(const struct vmmem_region *r, uint64_t offset, size_t len,
					unsigned int access, struct vmmem_slice *out);

/**
 * @brief The sub-view [off, off + len) of @p s. off + len == s->len is allowed.
 * @return 0, or
 * @retval -EINVAL                @p s or @p out is NULL
 * @retval -EOVERFLOW             off + len wraps
 * @retval VMMEM_E_OUT_OF_BOUNDS  off + len > s->len
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_subslice(const struct vmmem_slice *s, size_t off, size_t len,
				      struct vmmem_slice *out);

/**
 * @brief The suffix of @p s from byte @p n on (vm-memory's offset()).
 * @return 0, or -EINVAL (NULL argument), or ::VMMEM_E_OUT_OF_BOUNDS if @p n > s->len.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_offset(const struct vmmem_slice *s, size_t n,
				    struct vmmem_slice *out);

/**
 * @brief Split @p s into [0, mid) and [mid, len).
 * @param[out] head first part (may be NULL).
 * @param[out] tail second part (may be NULL).
 * @return 0, or -EINVAL (@p s NULL), or ::VMMEM_E_OUT_OF_BOUNDS if @p mid > s->len.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_split_at(const struct vmmem_slice *s, size_t mid,
				      struct vmmem_slice *head, struct vmmem_slice *tail);

/**
 * @brief Copy min(s->len, len) bytes from the start of @p s into @p buf.
 * @return the number of bytes copied, or -EINVAL (@p s NULL, or @p buf NULL with len > 0).
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_slice_copy_to(const struct vmmem_slice *s, void *buf, size_t len);

/**
 * @brief Copy min(s->len, len) bytes from @p buf to the start of @p s.
 * @return the number of bytes copied, or -EINVAL, or ::VMMEM_E_READ_ONLY.
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_slice_copy_from(const struct vmmem_slice *s, const void *buf,
					   size_t len);

/**
 * @brief Copy min(src->len, dst->len) bytes between two views; they may overlap (memmove).
 * @return the number of bytes copied, or -EINVAL, or ::VMMEM_E_READ_ONLY (@p dst).
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_slice_copy_to_slice(const struct vmmem_slice *src,
					       const struct vmmem_slice *dst);

/**
 * @brief Read up to @p len bytes at offset @p off (vm-memory's `Bytes<usize>::read`).
 * @return bytes copied (min(len, s->len - off)); 0 when @p len is 0 at any @p off; or
 * @retval -EINVAL                NULL argument, or @p len > SSIZE_MAX
 * @retval VMMEM_E_OUT_OF_BOUNDS  @p off >= s->len (with @p len > 0)
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_slice_read(const struct vmmem_slice *s, size_t off, void *buf,
				      size_t len);

/**
 * @brief Write up to @p len bytes at offset @p off.
 * @return bytes copied, or the errors of vmmem_slice_read(), or ::VMMEM_E_READ_ONLY.
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_slice_write(const struct vmmem_slice *s, size_t off, const void *buf,
				       size_t len);

/**
 * @brief Read exactly @p size bytes at @p off.
 * @return 0, ::VMMEM_E_PARTIAL if the object runs past the end (the part inside is copied),
 *         or the errors of vmmem_slice_read().
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_read_obj(const struct vmmem_slice *s, size_t off, void *obj,
				      size_t size);

/**
 * @brief Write exactly @p size bytes at @p off.
 * @return 0, ::VMMEM_E_PARTIAL (the part inside is written), or the errors of
 *         vmmem_slice_write().
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_write_obj(const struct vmmem_slice *s, size_t off, const void *obj,
				       size_t size);

/**
 * @brief Atomic load of a naturally aligned value at offset @p off of the slice.
 * @return 0, or
 * @retval -EINVAL                NULL argument or invalid @p order for a load
 * @retval VMMEM_E_OUT_OF_BOUNDS  the value runs past the slice (checked before alignment)
 * @retval VMMEM_E_MISALIGNED     the host address is not aligned to the value's size
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_load_u8(const struct vmmem_slice *s, size_t off, int order,
				     uint8_t *out);
/** @copydoc vmmem_slice_load_u8 */
VMMEM_EXPORT int vmmem_slice_load_u16(const struct vmmem_slice *s, size_t off, int order,
				      uint16_t *out);
/** @copydoc vmmem_slice_load_u8 */
VMMEM_EXPORT int vmmem_slice_load_u32(const struct vmmem_slice *s, size_t off, int order,
				      uint32_t *out);
/** @copydoc vmmem_slice_load_u8 */
VMMEM_EXPORT int vmmem_slice_load_u64(const struct vmmem_slice *s, size_t off, int order,
				      uint64_t *out);

/**
 * @brief Atomic store of a naturally aligned value at offset @p off of the slice.
 * @return 0, or the errors of vmmem_slice_load_u8() (invalid order for a store), or
 *         ::VMMEM_E_READ_ONLY.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_store_u8(const struct vmmem_slice *s, size_t off, uint8_t val,
				      int order);
/** @copydoc vmmem_slice_store_u8 */
VMMEM_EXPORT int vmmem_slice_store_u16(const struct vmmem_slice *s, size_t off, uint16_t val,
				       int order);
/** @copydoc vmmem_slice_store_u8 */
VMMEM_EXPORT int vmmem_slice_store_u32(const struct vmmem_slice *s, size_t off, uint32_t val,
				       int order);
/** @copydoc vmmem_slice_store_u8 */
VMMEM_EXPORT int vmmem_slice_store_u64(const struct vmmem_slice *s, size_t off, uint64_t val,
				       int order);

/**
 * @brief An array of @p count elements of @p elem_size bytes at offset @p off of @p s
 *        (vm-memory's get_array_ref).
 * @return 0, or
 * @retval -EINVAL                NULL argument or @p elem_size 0
 * @retval -EOVERFLOW             elem_size * count exceeds SSIZE_MAX (vm-memory's TooBig), or
 *                                off + that wraps
 * @retval VMMEM_E_OUT_OF_BOUNDS  the array runs past the slice
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_get_array(const struct vmmem_slice *s, size_t off, size_t elem_size,
				       size_t count, struct vmmem_array *out);

/**
 * @brief A single object of @p size bytes at @p off (vm-memory's get_ref): an array of one.
 * @return as vmmem_slice_get_array() with count 1.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_get_ref(const struct vmmem_slice *s, size_t off, size_t size,
				     struct vmmem_array *out);

/**
 * @brief Load element @p index into @p out (elem_size bytes).
 * @return 0, -EINVAL (NULL argument), or ::VMMEM_E_OUT_OF_BOUNDS if @p index >= count.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_array_load(const struct vmmem_array *a, size_t index, void *out);

/**
 * @brief Store @p in (elem_size bytes) as element @p index.
 * @return 0, -EINVAL, ::VMMEM_E_OUT_OF_BOUNDS, or ::VMMEM_E_READ_ONLY.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_array_store(const struct vmmem_array *a, size_t index, const void *in);

/**
 * @brief Element @p index as a one-element array (vm-memory's ref_at).
 * @return 0, -EINVAL, or ::VMMEM_E_OUT_OF_BOUNDS.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_array_ref_at(const struct vmmem_array *a, size_t index,
				    struct vmmem_array *out);

/**
 * @brief Copy min(count, n) elements from the array into @p buf (n elements of elem_size).
 * @return elements copied, or -EINVAL.
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_array_copy_to(const struct vmmem_array *a, void *buf, size_t n);

/**
 * @brief Copy min(count, n) elements from @p buf into the array.
 * @return elements copied, -EINVAL, or ::VMMEM_E_READ_ONLY.
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_array_copy_from(const struct vmmem_array *a, const void *buf,
					   size_t n);

VMMEM_END_DECLS

#endif /* VMMEM_SLICE_H */
