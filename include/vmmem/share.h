/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/share.h
 * @brief Sharing guest memory with another process: describing a region in the vhost-user
 *        memory-region layout, and building regions from received file descriptors.
 *
 * The sender (a VMM) describes each fd-backed, shared region with vmmem_region_to_vhost()
 * and passes the fd (SCM_RIGHTS). The receiver (a vhost-user backend) calls
 * vmmem_region_import() for each, then vmmem_memory_new(). Before mapping, import checks
 * that the file is at least mmap_offset + memory_size long and sealed against shrinking, so
 * the peer cannot make the receiver SIGBUS by truncating the file later.
 */
#ifndef VMMEM_SHARE_H
#define VMMEM_SHARE_H

#include <vmmem/common.h>
#include <vmmem/memory.h>
#include <vmmem/region.h>

VMMEM_BEGIN_DECLS

/** The vhost-user memory region descriptor (VhostUserMemoryRegion, 32 bytes, host order). */
struct vmmem_vhost_region {
	uint64_t guest_phys_addr; /**< GPA of the first byte */
	uint64_t memory_size;     /**< bytes */
	uint64_t userspace_addr;  /**< the sender's host address of the first byte */
	uint64_t mmap_offset;     /**< offset in the fd where the region starts */
};

/**
 * @brief Describe a shareable region for another process.
 * @param[out] out the descriptor.
 * @param[out] fd  the region's descriptor (still owned by the region; send it, do not close
 *                 it); may be NULL.
 * @return 0, or
 * @retval -EINVAL                @p r or @p out is NULL
 * @retval VMMEM_E_NOT_SHAREABLE  the region has no fd, or it is a private (copy-on-write)
 *                                mapping whose writes the other process would not see
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_to_vhost(const struct vmmem_region *r,
				       struct vmmem_vhost_region *out, int *fd);

/** Map the region read-only; writes through libvmmem are refused. */
#define VMMEM_IMPORT_READ_ONLY 0x1u
/** Accept a file that is not sealed against shrinking (the peer is trusted not to). */
#define VMMEM_IMPORT_ALLOW_UNSEALED 0x2u
/** All import flags known to this version. */
#define VMMEM_IMPORT_FLAGS_ALL (VMMEM_IMPORT_READ_ONLY | VMMEM_IMPORT_ALLOW_UNSEALED)

/**
 * @brief Build a region from a received fd and its vhost-user descriptor.
 *
 * Checks, in order: arguments; size and overflow of gpa + size and offset + size;
 * F_GET_SEALS includes F_SEAL_SHRINK (unless ::VMMEM_IMPORT_ALLOW_UNSEALED); the fd is a
 * regular file (or memfd); fstat size >= mmap_offset + memory_size. The seals are read
 * before the size: a sealed file cannot shrink after it was measured, so a peer cannot
 * shrink and then seal it between the checks. Then maps MAP_SHARED from mmap_offset rounded
 * down to the file's page size (huge pages on hugetlbfs, where the mapping reserves its
 * huge pages, so a file the peer never populated cannot SIGBUS at first touch when the pool
 * runs dry), with MADV_DONTDUMP. The region keeps its own duplicate of @p fd; the caller
 * may close @p fd.
 *
 * What seals cannot prevent: a peer may still punch holes (FALLOC_FL_PUNCH_HOLE) in a
 * sealed file. On shmem the hole reads back as zeroes; on hugetlb it also drops the
 * reservation, and a later touch can SIGBUS if the pool is empty by then.
 *
 * Guarded regions: a region imported without F_SEAL_SHRINK (::VMMEM_IMPORT_ALLOW_UNSEALED)
 * or from hugetlb is accessed by libvmmem's calls under a SIGBUS guard: an access to pages
 * the peer took away fails with -EFAULT instead of killing the process. The first such
 * import installs a process-wide SIGBUS handler that passes every other SIGBUS on to the
 * handler it replaced (or the default action); an application that installs its own SIGBUS
 * handler later must chain to the one it replaces. Raw pointers (translate, views' ptr,
 * fd I/O through the kernel, which returns EFAULT itself) are not guarded.
 * @param[out] out the region with one reference; NULL on failure (nothing stays mapped).
 * @return 0, or
 * @retval -EINVAL                 NULL argument or unknown @p flags, or the fd is not a
 *                                 regular file (a pipe, socket, directory)
 * @retval -EBADF                  @p fd is not an open descriptor
 * @retval VMMEM_E_ZERO_SIZE       memory_size is 0
 * @retval -EOVERFLOW              gpa + size passes 2^64 - 1 or offset + size passes 2^63 - 1
 * @retval VMMEM_E_FILE_TOO_SHORT  the file is shorter than mmap_offset + memory_size
 * @retval VMMEM_E_NOT_SEALED      the file is not sealed with F_SEAL_SHRINK, or cannot carry
 *                                 seals at all (F_GET_SEALS: EINVAL; the message says so)
 * @retval -ENOMEM                 hugetlb: not enough free huge pages to reserve the region
 * @retval -errno                  fstat, fcntl (EBADF: also an O_PATH fd), mmap, madvise, or
 *                                 sigaction installing the SIGBUS guard
 *                                 failed
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_import(struct vmmem_region **out,
				     const struct vmmem_vhost_region *desc, int fd,
				     uint32_t flags);

/**
 * @brief The sender's address of an imported region's first byte (the descriptor's
 *        userspace_addr: for vhost-user, the front-end's virtual address, QVA).
 * @param[out] addr the address.
 * @return 0, or -EINVAL (NULL argument), or -ENOENT (the region was not imported).
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_region_peer_addr(const struct vmmem_region *r, uint64_t *addr);

/**
 * @brief Translate a range of the sender's addresses (vhost-user QVAs: the ring addresses
 *        of SET_VRING_ADDR, the uaddr of IOTLB updates) to a guest-physical address,
 *        through the imported regions of @p m, in O(log regions).
 *
 * Sender ranges normally do not overlap; where they do (one piece of a peer's memory
 * imported at two GPAs), the lookup scans the imported regions (O(n)) and answers with the
 * first, in sender-address order, that holds the whole range.
 * @param len    bytes, at least 1; the whole range must lie in one region.
 * @param[out] gpa  the guest-physical address of @p addr.
 * @return 0, or
 * @retval -EINVAL                 @p m or @p gpa is NULL, or @p len is 0
 * @retval -EOVERFLOW              addr + len passes 2^64
 * @retval VMMEM_E_UNMAPPED        no imported region holds @p addr
 * @retval VMMEM_E_CROSSES_REGION  the range runs past the end of its region
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_memory_translate_peer(const struct vmmem_memory *m, uint64_t addr,
					     uint64_t len, uint64_t *gpa);

VMMEM_END_DECLS

#endif /* VMMEM_SHARE_H */
