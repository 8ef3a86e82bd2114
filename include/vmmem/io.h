/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/io.h
 * @brief Scatter-gather lists over guest memory, and transfers between guest memory and
 *        file descriptors (vm-memory's get_slices, read_volatile_from, write_volatile_to).
 *
 * A guest range may span several regions, whose host mappings are not contiguous. The
 * scatter-gather functions return one view or iovec per region piece, ready for
 * readv(2)/writev(2)/preadv(2) or zero-copy hand-off. The fd functions use those lists
 * internally, so a short read(2) never leaves a gap in guest memory (vm-memory 0.17+
 * resumes the next region at its start after a short read; libvmmem does not).
 *
 * The range rules of vmmem/access.h apply (zero length, 2^64 overflow, unmapped first byte,
 * read-only regions). Thread safety of every function here: MT-Safe.
 */
#ifndef VMMEM_IO_H
#define VMMEM_IO_H

#include <sys/uio.h>

#include <vmmem/common.h>
#include <vmmem/memory.h>
#include <vmmem/slice.h>

VMMEM_BEGIN_DECLS

/**
 * @brief The views covering guest range [gpa, gpa + len), one per region piece, in order.
 *
 * @param access   ::VMMEM_ACCESS_READ, ::VMMEM_ACCESS_WRITE or ::VMMEM_ACCESS_RW.
 * @param out      array of @p max slices (may be NULL if @p max is 0).
 * @param[out] count  on success, the number of slices written (0 for @p len 0). On
 *                    ::VMMEM_E_UNMAPPED / ::VMMEM_E_READ_ONLY, the number of slices before
 *                    the hole or read-only region (a usable prefix, as vm-memory's
 *                    stop_on_error). On -ENOBUFS, the number of slices needed.
 * @return 0 when the whole range is covered, or
 * @retval -EINVAL            @p m or @p count is NULL, @p out NULL with @p max > 0, bad
 *                            @p access
 * @retval -EOVERFLOW         gpa + len passes 2^64
 * @retval VMMEM_E_UNMAPPED   a byte of the range is in no region (message names it)
 * @retval VMMEM_E_READ_ONLY  write access and a piece is read-only
 * @retval -ENOBUFS           more than @p max pieces are needed
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_get_slices(const struct vmmem_memory *m, uint64_t gpa,
					 uint64_t len, unsigned int access,
					 struct vmmem_slice *out, size_t max, size_t *count);

/**
 * @brief Like vmmem_memory_get_slices(), as struct iovec entries for readv/writev.
 *
 * Writes through the iovecs bypass dirty tracking: mark them with vmmem_memory_mark_dirty(),
 * or use vmmem_memory_read_exact_from_fd(), which marks what it reads.
 * @return as vmmem_memory_get_slices().
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_get_iovecs(const struct vmmem_memory *m, uint64_t gpa,
					 uint64_t len, unsigned int access, struct iovec *iov,
					 size_t max, size_t *count);

/**
 * @brief A guest range handed to a device for DMA by vmmem_memory_dma_get(): it holds a
 *        reference on the memory (so hot-unplug cannot unmap what the device is using),
 *        and vmmem_dma_put() marks the range dirty if the device may have written it.
 *        Caller-owned; zeroed by a failed get and by put. Fixed layout (ABI).
 * @since 1.1
 */
struct vmmem_dma {
	struct vmmem_memory *memory; /**< the pinned memory (a reference); NULL: none */
	uint64_t gpa;                /**< first guest-physical byte */
	uint64_t len;                /**< bytes */
	uint32_t access;             /**< ::VMMEM_ACCESS_READ, _WRITE or _RW */
	uint32_t reserved;           /**< zero */
};

/**
 * @brief Pin [gpa, gpa + len) for device I/O and return its host pieces as iovecs (the
 *        get half of a DMA map; vmmem_dma_put() is the other).
 *
 * Like vmmem_memory_get_iovecs(), and on success @p dma holds a reference on @p m until
 * vmmem_dma_put(). With write access the put marks the whole range dirty (region bitmaps
 * and the vhost-user log), so a device backend that writes through the iovecs cannot
 * forget the dirty log; a short transfer is over-marked, which migration tolerates.
 * @param[out] dma  the mapping to release; zeroed on failure.
 * @return 0, or the errors of vmmem_memory_get_iovecs(), or -EINVAL (@p dma NULL, or
 *         @p len 0).
 * @par Thread safety
 * MT-Safe; a struct vmmem_dma is its owner's.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_memory_dma_get(const struct vmmem_memory *m, uint64_t gpa, uint64_t len,
				      unsigned int access, struct iovec *iov, size_t max,
				      size_t *count, struct vmmem_dma *dma);

/**
 * @brief Release a DMA mapping: with write access, mark its range dirty; then drop the
 *        memory reference and zero @p dma.
 * @return 0, or -EINVAL (@p dma NULL or not holding a mapping: a second put).
 * @par Thread safety
 * MT-Safe; a struct vmmem_dma is its owner's.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_dma_put(struct vmmem_dma *dma);

/**
 * @brief Read from @p fd into guest memory at @p gpa: one readv(2) / preadv(2) call over the
 *        range's pieces, like read(2) (vm-memory's read_volatile_from).
 *
 * EINTR is retried. The count may be short (end of file, a pipe or socket with less data,
 * a hole or read-only region ending the range, or more than 1024 region pieces).
 * @param offset  file offset to read at (preadv), or -1 to use and advance the file position.
 * @return bytes read (0 at end of file or for @p len 0), or
 * @retval -EINVAL            @p m NULL, @p offset < -1, or @p len > SSIZE_MAX
 * @retval -EOVERFLOW         gpa + len passes 2^64, or offset + len passes 2^63 - 1
 * @retval VMMEM_E_UNMAPPED   @p gpa is in no region
 * @retval VMMEM_E_READ_ONLY  @p gpa is in a read-only region
 * @retval -errno             the system call failed (e.g. -EBADF, -EAGAIN, -EIO)
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_memory_read_from_fd(const struct vmmem_memory *m, uint64_t gpa, int fd,
					       size_t len, off_t offset);

/**
 * @brief Read exactly @p len bytes from @p fd into guest memory, looping over short reads and
 *        resuming at the exact guest address where the previous read stopped.
 * @param[out] done bytes read, also on failure; may be NULL.
 * @return 0, or
 * @retval VMMEM_E_PARTIAL   end of file, or a hole / read-only region, after *done bytes
 * @retval ...               every error of vmmem_memory_read_from_fd() (a system call error
 *                           after some progress is also returned, with *done set)
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_read_exact_from_fd(const struct vmmem_memory *m, uint64_t gpa,
						 int fd, size_t len, off_t offset, size_t *done);

/**
 * @brief Write guest memory at @p gpa to @p fd (vm-memory's write_volatile_to): writev(2) /
 *        pwritev(2), looping until the mapped prefix of the range is written.
 *
 * EINTR is retried. A hole ends the range (the count is then short). If the system call
 * fails after some bytes went out, the count so far is returned.
 * @param offset  file offset to write at (pwritev), or -1 for the file position.
 * @return bytes written, or
 * @retval -EINVAL            @p m NULL, @p offset < -1, or @p len > SSIZE_MAX
 * @retval -EOVERFLOW         gpa + len passes 2^64, or offset + len passes 2^63 - 1
 * @retval VMMEM_E_UNMAPPED   @p gpa is in no region
 * @retval -EIO               the descriptor accepted 0 bytes (vm-memory's WriteZero)
 * @retval -errno             the system call failed before anything was written
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_memory_write_to_fd(const struct vmmem_memory *m, uint64_t gpa, int fd,
					      size_t len, off_t offset);

/**
 * @brief Write exactly @p len bytes of guest memory to @p fd.
 * @param[out] done bytes written, also on failure; may be NULL.
 * @return 0, or
 * @retval VMMEM_E_PARTIAL   a hole ended the range after *done bytes
 * @retval ...               every error of vmmem_memory_write_to_fd()
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_write_all_to_fd(const struct vmmem_memory *m, uint64_t gpa, int fd,
					      size_t len, off_t offset, size_t *done);

VMMEM_END_DECLS

#endif /* VMMEM_IO_H */
