/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/region.h
 * @brief A guest memory region: one contiguous guest-physical range backed by a host mapping.
 *
 * A region records where guest-physical range [gpa, gpa + size) lives in the host address
 * space, and optionally the file descriptor and file offset behind that mapping (needed to
 * share it with another process). Its fields never change after creation. Regions are
 * reference counted; a guest memory (vmmem/memory.h) holds a reference on each of its
 * regions, so the same region may belong to several memories at once (copy-on-write
 * updates share regions).
 *
 * Limits (as in vm-memory): the size is not zero and gpa + size must be below 2^64, so every
 * region's exclusive end fits in 64 bits. For regions described with vmmem_region_new*(),
 * the host pointer and the file offset must be page-aligned, as mmap(2) gives and needs
 * them; an imported region (vmmem/share.h) keeps the byte offset the peer gave, so its host
 * address and fd offset may be unaligned.
 */
#ifndef VMMEM_REGION_H
#define VMMEM_REGION_H

#include <vmmem/common.h>

VMMEM_BEGIN_DECLS

/** Opaque region handle. */
struct vmmem_region;

/** Guest writes through libvmmem are refused with ::VMMEM_E_READ_ONLY. */
#define VMMEM_REGION_READ_ONLY 0x1u
/** The region owns its host mapping and munmap()s it when the last reference goes. */
#define VMMEM_REGION_OWN_MAPPING 0x2u
/** All flags known to this version; other bits are refused with -EINVAL. */
#define VMMEM_REGION_FLAGS_ALL (VMMEM_REGION_READ_ONLY | VMMEM_REGION_OWN_MAPPING)

/**
 * @brief Describe an existing host mapping as a guest memory region.
 *
 * @param[out] out  the new region, with one reference; set to NULL first, so it is NULL on
 *                  every failure.
 * @param gpa       guest-physical address of the first byte.
 * @param size      length in bytes (need not be a page multiple).
 * @param host      host address of the first byte; page-aligned, mapped for at least
 *                  @p size bytes, and kept mapped by the caller for the region's lifetime
 *                  (unless ::VMMEM_REGION_OWN_MAPPING hands it over).
 * @param flags     ::VMMEM_REGION_READ_ONLY, ::VMMEM_REGION_OWN_MAPPING, or 0. With
 *                  OWN_MAPPING the mapping is unmapped only by the last unref, never on
 *                  failure: a failed call leaves it to the caller.
 * @return 0 on success, or
 * @retval -EINVAL             @p out or @p host is NULL, or @p flags has unknown bits
 * @retval VMMEM_E_ZERO_SIZE   @p size is 0
 * @retval -EOVERFLOW          gpa + size passes 2^64 - 1, or host + size wraps the host
 *                             address space
 * @retval VMMEM_E_MISALIGNED  @p host is not page-aligned
 * @retval -ENOMEM             out of memory
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_new(struct vmmem_region **out, uint64_t gpa, uint64_t size,
				  void *host, uint32_t flags);

/**
 * @brief Like vmmem_region_new() for a mapping of a file descriptor.
 *
 * The region keeps its own duplicate of @p fd (close-on-exec) for its whole lifetime, so the
 * caller may close @p fd afterwards; vmmem_region_fd() returns the duplicate.
 *
 * @param fd         the descriptor the mapping was made from (>= 0).
 * @param fd_offset  file offset of the region's first byte; page-aligned.
 * @return 0 on success, every error of vmmem_region_new(), or
 * @retval -EBADF              @p fd is negative or not an open descriptor
 * @retval VMMEM_E_MISALIGNED  @p fd_offset is not page-aligned
 * @retval -EOVERFLOW          fd_offset + size passes 2^63 - 1 (the largest file offset)
 * @retval -EMFILE             no descriptor left for the duplicate
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_new_fd(struct vmmem_region **out, uint64_t gpa, uint64_t size,
				     void *host, uint32_t flags, int fd, uint64_t fd_offset);

/**
 * @brief Take one more reference.
 * @param r a region, or NULL.
 * @return @p r (NULL stays NULL).
 * @par Thread safety
 * MT-Safe (the count is atomic).
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_region *vmmem_region_ref(struct vmmem_region *r);

/**
 * @brief Drop one reference; the last one closes the region's fd duplicate and, with
 *        ::VMMEM_REGION_OWN_MAPPING, unmaps its host mapping.
 * @param r a region, or NULL (then nothing happens).
 * @return NULL, so that `r = vmmem_region_unref(r);` clears the pointer.
 * @par Thread safety
 * MT-Safe, but the caller must not use @p r after dropping its last reference.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_region *vmmem_region_unref(struct vmmem_region *r);

/**
 * @brief Guest-physical address of the first byte.
 * @return the address, or 0 if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint64_t vmmem_region_gpa(const struct vmmem_region *r);

/**
 * @brief Size in bytes.
 * @return the size (never 0 for a valid region), or 0 if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint64_t vmmem_region_size(const struct vmmem_region *r);

/**
 * @brief Guest-physical address of the last byte (gpa + size - 1).
 * @return the address, or 0 if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint64_t vmmem_region_last(const struct vmmem_region *r);

/**
 * @brief Host address of the first byte.
 *
 * Writes through this pointer bypass the read-only flag and (from dirty tracking on) are
 * not recorded as dirty: the caller takes that responsibility.
 * @return the host address, or NULL if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT void *vmmem_region_host(const struct vmmem_region *r);

/**
 * @brief The region's flags (::VMMEM_REGION_READ_ONLY, ::VMMEM_REGION_OWN_MAPPING).
 * @return the flags, or 0 if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint32_t vmmem_region_flags(const struct vmmem_region *r);

/**
 * @brief The file descriptor behind the mapping, owned by the region.
 *
 * Do not close it; dup() it to keep it beyond the region's life.
 * @return the descriptor, -1 for a region without one, or -EINVAL if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_fd(const struct vmmem_region *r);

/**
 * @brief File offset of the region's first byte.
 * @return the offset; 0 for a region without an fd or if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint64_t vmmem_region_fd_offset(const struct vmmem_region *r);

/**
 * @brief Does the region hold guest-physical address @p gpa?
 * @return true if gpa <= @p gpa <= last; false otherwise or if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT bool vmmem_region_contains(const struct vmmem_region *r, uint64_t gpa);

/**
 * @brief Page size of the memory backing the region: the host page size for caller-made
 *        regions, the provider's (e.g. 2 MiB for hugetlb) otherwise. Discards must be
 *        aligned to it.
 * @return the page size, or 0 if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint64_t vmmem_region_page_size(const struct vmmem_region *r);

struct vmmem_provider;

/**
 * @brief The provider that made the region (vmmem/ctx.h).
 * @return the provider, or NULL for regions made with vmmem_region_new*() or imported, or
 *         if @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT const struct vmmem_provider *vmmem_region_provider(const struct vmmem_region *r);

/**
 * @brief Give back the memory of [offset, offset + len) of the region (balloon and
 *        virtio-mem use); it reads as zeroes afterwards.
 *
 * The way depends on the backing: a hole punched in a shared file (memfd, hugetlbfs,
 * imported fds), MADV_REMOVE for shared anonymous memory, MADV_DONTNEED for private memory.
 * @return 0 (also for @p len 0), or
 * @retval -EINVAL                 @p r is NULL
 * @retval -EOVERFLOW              offset + len wraps
 * @retval VMMEM_E_OUT_OF_BOUNDS   the range runs past the region
 * @retval VMMEM_E_MISALIGNED      @p offset or @p len is not a multiple of the page size
 * @retval VMMEM_E_READ_ONLY       the region is read-only
 * @retval -EOPNOTSUPP             the region was made with vmmem_region_new*(): libvmmem does
 *                                 not know how the caller's mapping was made
 * @retval -errno                  the kernel refused (message says which call)
 * @par Thread safety
 * MT-Safe; concurrent guest accesses to the range see old data or zeroes.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_discard(struct vmmem_region *r, uint64_t offset, uint64_t len);

/**
 * @brief Where the region's pages are: the number of pages on each NUMA node, and how many
 *        are not present yet (move_pages(2) in query mode, page by page of the region's
 *        page size).
 * @param pages    array of @p nodes counters, filled for nodes 0 .. @p nodes - 1 (pages on
 *                 higher nodes are counted in the return value only).
 * @param[out] absent  pages not present (never touched, or swapped out); may be NULL.
 * @return the number of present pages (on any node), or
 * @retval -EINVAL  @p r is NULL, or @p pages is NULL with @p nodes > 0
 * @retval -errno   move_pages failed (e.g. -ENOSYS without NUMA support in the kernel)
 * @par Thread safety
 * MT-Safe; the answer is a snapshot (pages may move or be faulted in meanwhile).
 * @since 1.1
 */
VMMEM_EXPORT int64_t vmmem_region_numa_pages(const struct vmmem_region *r, uint64_t *pages,
					     size_t nodes, uint64_t *absent);

VMMEM_END_DECLS

#endif /* VMMEM_REGION_H */
