/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/memory.h
 * @brief A guest memory: an immutable, sorted set of non-overlapping regions
 *        (vm-memory's GuestMemoryMmap), and region lookup.
 *
 * A memory is built once from regions given in any order and never changes afterwards;
 * "changing" it (insert or remove a region) builds a new memory that shares the untouched
 * regions. Because it is immutable, any number of threads may read it and access guest
 * memory through it at once without locks. It is reference counted and holds a reference
 * on each region. Lookup of the region holding a GPA costs about the same with one region
 * as with tens of thousands (an index built at creation, no per-lookup allocation, no
 * indirect call).
 *
 * Regions that touch (one's last byte + 1 == the next one's first) are fine; an access may
 * span them. Gaps between regions are "holes".
 */
#ifndef VMMEM_MEMORY_H
#define VMMEM_MEMORY_H

#include <vmmem/common.h>
#include <vmmem/region.h>

VMMEM_BEGIN_DECLS

/** Opaque guest memory handle. */
struct vmmem_memory;

/**
 * @brief Build a guest memory from a set of regions.
 *
 * The regions may come in any order; they are sorted by guest address. The memory takes its
 * own reference on each region; the caller keeps its references.
 *
 * @param[out] out    the new memory, with one reference; NULL on every failure.
 * @param regions     array of @p count region pointers.
 * @param count       number of regions (at most 2^31).
 * @return 0 on success, or
 * @retval -EINVAL             @p out is NULL, @p regions is NULL with @p count > 0, an entry
 *                             is NULL, or @p count is too large
 * @retval VMMEM_E_NO_REGIONS  @p count is 0
 * @retval VMMEM_E_OVERLAP     two regions share a guest address (also: the same region twice);
 *                             the message names both ranges
 * @retval -ENOMEM             out of memory
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_new(struct vmmem_memory **out, struct vmmem_region *const *regions,
				  size_t count);

/**
 * @brief An empty guest memory (vm-memory's GuestRegionCollection::new()): no region, every
 *        lookup fails. The starting point of a vhost-user backend before its first
 *        ADD_MEM_REG; regions come in with vmmem_memory_insert_region().
 * @param[out] out the memory with one reference; NULL on failure.
 * @return 0, -EINVAL (@p out NULL) or -ENOMEM.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_new_empty(struct vmmem_memory **out);

/**
 * @brief Take one more reference.
 * @param m a memory, or NULL.
 * @return @p m.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_memory *vmmem_memory_ref(struct vmmem_memory *m);

/**
 * @brief Drop one reference; the last one drops the memory's region references.
 * @param m a memory, or NULL (then nothing happens).
 * @return NULL.
 * @par Thread safety
 * MT-Safe, but no thread may use @p m after the last reference is dropped.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_memory *vmmem_memory_unref(struct vmmem_memory *m);

/**
 * @brief Number of regions.
 * @return the count (0 for an empty memory), or 0 if @p m is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT size_t vmmem_memory_region_count(const struct vmmem_memory *m);

/**
 * @brief The @p index-th region in ascending guest-address order (iteration).
 * @return a borrowed pointer valid while @p m is referenced, or NULL if @p m is NULL or
 *         @p index >= vmmem_memory_region_count().
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_region *vmmem_memory_region_at(const struct vmmem_memory *m,
							 size_t index);

/**
 * @brief Highest guest address backed by the memory (the last region's last byte).
 * @return the address; 0 for an empty memory (as vm-memory) or if @p m is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint64_t vmmem_memory_last_addr(const struct vmmem_memory *m);

/**
 * @brief Find the region holding @p gpa.
 * @param[out] out the region (borrowed, valid while @p m is referenced); NULL on failure.
 * @return 0, or
 * @retval -EINVAL            @p m or @p out is NULL
 * @retval VMMEM_E_UNMAPPED   @p gpa is in no region
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_find_region(const struct vmmem_memory *m, uint64_t gpa,
					  struct vmmem_region **out);

/**
 * @brief Translate @p gpa to (region, offset in that region).
 * @param[out] region the region (borrowed); may be NULL if not wanted.
 * @param[out] offset @p gpa minus the region's start; may be NULL if not wanted.
 * @return 0, or
 * @retval -EINVAL            @p m is NULL
 * @retval VMMEM_E_UNMAPPED   @p gpa is in no region (outputs untouched)
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_to_region(const struct vmmem_memory *m, uint64_t gpa,
					struct vmmem_region **region, uint64_t *offset);

/**
 * @brief Is @p gpa backed by some region?
 * @return true or false; false if @p m is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT bool vmmem_memory_address_in_range(const struct vmmem_memory *m, uint64_t gpa);

/**
 * @brief Like vmmem_memory_address_in_range(), as an error code with a message.
 * @return 0 if @p gpa is backed, or
 * @retval -EINVAL            @p m is NULL
 * @retval VMMEM_E_UNMAPPED   @p gpa is in no region
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_check_address(const struct vmmem_memory *m, uint64_t gpa);

/**
 * @brief @p base + @p offset, which must land in some region (vm-memory's checked_offset).
 *
 * Only the resulting address is checked: the bytes between @p base and it may be holes.
 * @param[out] out the address; written only on success.
 * @return 0, or
 * @retval -EINVAL            @p m or @p out is NULL
 * @retval -EOVERFLOW         base + offset passes 2^64 - 1
 * @retval VMMEM_E_UNMAPPED   the result is in no region
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_checked_offset(const struct vmmem_memory *m, uint64_t base,
					     uint64_t offset, uint64_t *out);

/**
 * @brief Is every byte of [gpa, gpa + len) backed (possibly by several adjacent regions)?
 * @return true if so; true for @p len 0 at any address (as vm-memory); false if a byte is
 *         in a hole, if gpa + len passes 2^64, or if @p m is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT bool vmmem_memory_check_range(const struct vmmem_memory *m, uint64_t gpa,
					   uint64_t len);

/**
 * @brief A new memory with one more region (copy-on-write; @p m is not changed).
 * @param[out] out the new memory with one reference; NULL on failure.
 * @return 0, or
 * @retval -EINVAL            @p m, @p r or @p out is NULL
 * @retval VMMEM_E_OVERLAP    @p r overlaps a region of @p m
 * @retval -ENOMEM            out of memory
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_insert_region(const struct vmmem_memory *m, struct vmmem_region *r,
					    struct vmmem_memory **out);

/**
 * @brief A new memory without the region that starts at @p gpa and has size @p size
 *        (copy-on-write; @p m is not changed).
 * @param[out] out      the new memory with one reference; NULL on failure.
 * @param[out] removed  the removed region, with a new reference the caller must drop; may be
 *                      NULL if not wanted. NULL on failure.
 * @return 0, or
 * @retval -EINVAL                  @p m or @p out is NULL
 * @retval VMMEM_E_NO_SUCH_REGION   no region starts at @p gpa with exactly @p size bytes
 * @retval -ENOMEM                  out of memory
 * Removing the only region gives an empty memory (vmmem_memory_new_empty()).
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_remove_region(const struct vmmem_memory *m, uint64_t gpa,
					    uint64_t size, struct vmmem_memory **out,
					    struct vmmem_region **removed);

/**
 * @brief Discard the guest range [gpa, gpa + len), which may span regions: each piece is
 *        discarded as vmmem_region_discard() does, after the whole range has been checked.
 * @return 0 (also for @p len 0), or
 * @retval -EINVAL             @p m is NULL
 * @retval -EOVERFLOW          gpa + len passes 2^64
 * @retval VMMEM_E_UNMAPPED    a byte of the range is in no region (nothing discarded)
 * @retval ...                 the errors of vmmem_region_discard() (pieces before the failing
 *                             one stay discarded)
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_discard(const struct vmmem_memory *m, uint64_t gpa, uint64_t len);

VMMEM_END_DECLS

#endif /* VMMEM_MEMORY_H */
