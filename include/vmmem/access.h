/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/access.h
 * @brief Reading and writing guest memory by guest-physical address, atomic accesses and
 *        GPA-to-host translation (vm-memory's `Bytes<GuestAddress>`).
 *
 * Rules shared by every function here:
 * - A transfer may span adjacent regions; it is copied piece by piece.
 * - A zero-length transfer succeeds (returns 0) at any address, even an unmapped one.
 * - A range whose end would pass 2^64 is refused up front with -EOVERFLOW.
 * - If the first byte is in no region the call fails with ::VMMEM_E_UNMAPPED; a write whose
 *   first byte is in a read-only region fails with ::VMMEM_E_READ_ONLY.
 * - A hole (or, for writes, a read-only region) met after some bytes were transferred ends
 *   the transfer: the plain read/write return the short count, the exact and object
 *   variants fail with ::VMMEM_E_PARTIAL and report the count. Bytes already copied stay.
 * - Inside one region, a copy of 8 bytes or less is done with the widest single loads and
 *   stores the alignment of both sides allows, so a naturally aligned 2-, 4- or 8-byte
 *   object is never torn. Longer copies use memcpy and may tear. Only the load/store
 *   functions below promise atomicity.
 * - No call allocates memory or calls through a function pointer.
 * - Guarded regions (imported from a file a peer can still truncate or punch holes in, see
 *   vmmem_region_import()) are copied under a SIGBUS guard: pages the peer took away end a
 *   transfer like a hole, with -EFAULT ("no longer backed") instead of a crash. Elements
 *   and objects in them are copied with memcpy (no single-access promise), and pointers
 *   from vmmem_memory_translate() or views' ptr bypass the guard.
 *
 * Thread safety of every function here: MT-Safe. Concurrent accesses to the same guest
 * bytes race like any shared memory; use the atomic functions where that matters.
 */
#ifndef VMMEM_ACCESS_H
#define VMMEM_ACCESS_H

#include <vmmem/common.h>
#include <vmmem/memory.h>

VMMEM_BEGIN_DECLS

/**
 * @brief Copy up to @p len bytes from guest memory at @p gpa into @p buf.
 * @return the number of bytes copied (less than @p len if a hole ends the range), or
 * @retval -EINVAL            @p m is NULL, @p buf is NULL with @p len > 0, or @p len > SSIZE_MAX
 * @retval -EOVERFLOW         gpa + len passes 2^64
 * @retval VMMEM_E_UNMAPPED   @p gpa is in no region (and @p len > 0)
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_memory_read(const struct vmmem_memory *m, uint64_t gpa, void *buf,
				       size_t len);

/**
 * @brief Copy up to @p len bytes from @p buf into guest memory at @p gpa.
 * @return the number of bytes copied (less than @p len if a hole or a read-only region ends
 *         the range), or
 * @retval -EINVAL             as vmmem_memory_read()
 * @retval -EOVERFLOW          gpa + len passes 2^64
 * @retval VMMEM_E_UNMAPPED    @p gpa is in no region
 * @retval VMMEM_E_READ_ONLY   @p gpa is in a read-only region
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_memory_write(const struct vmmem_memory *m, uint64_t gpa,
					const void *buf, size_t len);

/**
 * @brief Copy exactly @p len bytes from guest memory (vm-memory's read_slice).
 * @param[out] done bytes copied, also on failure; may be NULL.
 * @return 0, or
 * @retval VMMEM_E_PARTIAL    a hole ended the range after *done bytes
 * @retval ...                every error of vmmem_memory_read()
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_read_exact(const struct vmmem_memory *m, uint64_t gpa, void *buf,
					 size_t len, size_t *done);

/**
 * @brief Copy exactly @p len bytes into guest memory (vm-memory's write_slice).
 * @param[out] done bytes copied, also on failure; may be NULL.
 * @return 0, or
 * @retval VMMEM_E_PARTIAL    a hole or read-only region ended the range after *done bytes
 * @retval ...                every error of vmmem_memory_write()
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_write_exact(const struct vmmem_memory *m, uint64_t gpa,
					  const void *buf, size_t len, size_t *done);

/**
 * @brief Read an object of @p size bytes (vm-memory's read_obj): vmmem_memory_read_exact()
 *        without the count, tuned for small objects.
 * @return 0, or the errors of vmmem_memory_read_exact().
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_read_obj(const struct vmmem_memory *m, uint64_t gpa, void *obj,
				       size_t size);

/**
 * @brief Write an object of @p size bytes (vm-memory's write_obj).
 * @return 0, or the errors of vmmem_memory_write_exact().
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_write_obj(const struct vmmem_memory *m, uint64_t gpa,
					const void *obj, size_t size);

/**
 * @brief Atomic loads of naturally aligned 1/2/4/8-byte guest values.
 *
 * The value must lie inside one region and its host address must be aligned to its size;
 * it is never split.
 * @param order  ::VMMEM_ORDER_RELAXED, ::VMMEM_ORDER_ACQUIRE or ::VMMEM_ORDER_SEQ_CST.
 * @param[out] out the value; written only on success.
 * @return 0, or
 * @retval -EINVAL                  @p m or @p out is NULL, or @p order is not valid for a load
 * @retval VMMEM_E_UNMAPPED         @p gpa is in no region
 * @retval VMMEM_E_CROSSES_REGION   the value runs past its region's end
 * @retval VMMEM_E_MISALIGNED       the host address is not aligned to the value's size
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_load_u8(const struct vmmem_memory *m, uint64_t gpa, int order,
				      uint8_t *out);
/** @copydoc vmmem_memory_load_u8 */
VMMEM_EXPORT int vmmem_memory_load_u16(const struct vmmem_memory *m, uint64_t gpa, int order,
				       uint16_t *out);
/** @copydoc vmmem_memory_load_u8 */
VMMEM_EXPORT int vmmem_memory_load_u32(const struct vmmem_memory *m, uint64_t gpa, int order,
				       uint32_t *out);
/** @copydoc vmmem_memory_load_u8 */
VMMEM_EXPORT int vmmem_memory_load_u64(const struct vmmem_memory *m, uint64_t gpa, int order,
				       uint64_t *out);

/**
 * @brief Atomic stores of naturally aligned 1/2/4/8-byte guest values.
 * @param order  ::VMMEM_ORDER_RELAXED, ::VMMEM_ORDER_RELEASE or ::VMMEM_ORDER_SEQ_CST.
 * @return 0, or
 * @retval -EINVAL                  @p m is NULL, or @p order is not valid for a store
 * @retval VMMEM_E_UNMAPPED         @p gpa is in no region
 * @retval VMMEM_E_READ_ONLY        the region is read-only
 * @retval VMMEM_E_CROSSES_REGION   the value runs past its region's end
 * @retval VMMEM_E_MISALIGNED       the host address is not aligned to the value's size
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_store_u8(const struct vmmem_memory *m, uint64_t gpa, uint8_t val,
				       int order);
/** @copydoc vmmem_memory_store_u8 */
VMMEM_EXPORT int vmmem_memory_store_u16(const struct vmmem_memory *m, uint64_t gpa,
					uint16_t val, int order);
/** @copydoc vmmem_memory_store_u8 */
VMMEM_EXPORT int vmmem_memory_store_u32(const struct vmmem_memory *m, uint64_t gpa,
					uint32_t val, int order);
/** @copydoc vmmem_memory_store_u8 */
VMMEM_EXPORT int vmmem_memory_store_u64(const struct vmmem_memory *m, uint64_t gpa,
					uint64_t val, int order);

/**
 * @brief Translate a guest-physical address to a host address (vm-memory's
 *        get_host_address), also telling how many bytes from there are contiguous.
 *
 * Accesses through the returned pointer bypass libvmmem: they are not dirty-tracked, not
 * guarded against a peer truncating the file behind the region (they may SIGBUS), and the
 * caller must stay inside the contiguous length.
 * @param access      ::VMMEM_ACCESS_READ, ::VMMEM_ACCESS_WRITE or ::VMMEM_ACCESS_RW.
 * @param[out] host   the host address; NULL on failure.
 * @param[out] contiguous bytes from @p gpa to the end of its region (at least 1); may be NULL.
 * @return 0, or
 * @retval -EINVAL             @p m or @p host is NULL, or @p access is not one of the above
 * @retval VMMEM_E_UNMAPPED    @p gpa is in no region
 * @retval VMMEM_E_READ_ONLY   write access asked for on a read-only region
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_translate(const struct vmmem_memory *m, uint64_t gpa,
					unsigned int access, void **host, uint64_t *contiguous);

/**
 * @brief A caller-owned cache of the region a translation last found, for
 *        vmmem_memory_translate_cached().
 *
 * Zero it (or set @c memory to NULL) before first use; it needs no freeing. An entry
 * belongs to the memory it was filled from. A memory never changes, so the entry stays
 * right for as long as the caller keeps that memory alive (a reference, or the guard of a
 * swappable memory); a translation against another memory refills it. Empty the cache
 * when that memory is released: a new memory can be allocated at the same address. The layout is part
 * of the ABI (fields may only be appended in a later version, with the cache then growing).
 * @since 1.1
 */
struct vmmem_translate_cache {
	const struct vmmem_memory *memory; /**< memory of the entry; NULL: empty */
	uint64_t gpa;                      /**< first guest address of the cached region */
	uint64_t last;                     /**< last guest address of the cached region */
	uint8_t *host;                     /**< host address of @c gpa */
	uint32_t read_only;                /**< non-zero: the region refuses write access */
	uint32_t reserved;                 /**< zero */
};

/**
 * @brief vmmem_memory_translate() through a cache filled by earlier calls (the miss
 *        path; use vmmem_memory_translate_cached()).
 *
 * Translates like vmmem_memory_translate() and, on success, stores the region in @p c.
 * @param c  the cache; left unchanged on failure.
 * @return as vmmem_memory_translate(), and -EINVAL if @p c is NULL.
 * @par Thread safety
 * MT-Safe for distinct caches; a cache is one thread's (or guarded by its owner's lock).
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_translate_cache_fill(struct vmmem_translate_cache *c,
					    const struct vmmem_memory *m, uint64_t gpa,
					    unsigned int access, void **host,
					    uint64_t *contiguous);

/**
 * @brief vmmem_memory_translate() with a caller-side cache: an address in the region the
 *        cache holds is translated inline, without a call into the library.
 *
 * The fastest form for a caller that translates many addresses of one region (a device
 * walking its rings and buffers, a single-region VM): a hit is a few instructions in the
 * caller (a shared-library call costs more than the lookup itself; bench/README.md,
 * `find_region_inline_r1`); a miss calls vmmem_translate_cache_fill(). Results, errors
 * and the caveats of pointers are exactly vmmem_memory_translate()'s.
 * @param c  a cache as described at struct vmmem_translate_cache.
 * @return as vmmem_translate_cache_fill().
 * @par Thread safety
 * As vmmem_translate_cache_fill().
 * @since 1.1
 */
static inline int vmmem_memory_translate_cached(struct vmmem_translate_cache *c,
						const struct vmmem_memory *m, uint64_t gpa,
						unsigned int access, void **host,
						uint64_t *contiguous)
{
	/* gpa below c->gpa wraps to a huge offset: one compare covers both ends. */
	if (c && host && c->memory == m && m && gpa - c->gpa <= c->last - c->gpa &&
	    (access == VMMEM_ACCESS_READ || (!c->read_only && (access == VMMEM_ACCESS_WRITE ||
							       access == VMMEM_ACCESS_RW)))) {
		*host = c->host + (gpa - c->gpa);
		if (contiguous)
			*contiguous = c->last - gpa + 1;
		return 0;
	}
	return vmmem_translate_cache_fill(c, m, gpa, access, host, contiguous);
}

VMMEM_END_DECLS

#endif /* VMMEM_ACCESS_H */
