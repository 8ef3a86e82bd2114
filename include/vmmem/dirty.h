/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/dirty.h
 * @brief Dirty-page tracking for live migration: per-region bitmaps, and the vhost-user
 *        shared log.
 *
 * A region can carry a dirty bitmap (off by default; the `dirty-log=on` config key or
 * vmmem_region_dirty_enable()), one bit per page of a chosen size (4 KiB by default, any power
 * of two of at least 4 KiB), indexed from the region's start like vm-memory's AtomicBitmap.
 * Every write libvmmem performs marks the pages it touched: vmmem_memory_write*,
 * vmmem_memory_write_obj, the atomic stores, reads from an fd into guest memory, and every
 * write through a slice or array. Writes the library does not see — through pointers from
 * vmmem_memory_translate(), vmmem_region_host(), iovecs or a slice's ptr — are the caller's
 * to mark with vmmem_memory_mark_dirty() or vmmem_slice_mark_dirty().
 *
 * A memory can also carry a vhost-user log (the buffer a backend maps on SET_LOG_BASE): one
 * bit per 4 KiB page of *guest-physical address*, bytes LSB-first. With a log attached
 * (vmmem_memory_set_vhost_log()), every write also sets the log's bits, atomically. A log
 * can also be filled from the region bitmaps (vmmem_memory_dirty_export_vhost()).
 *
 * All bit updates are atomic: marking, testing and get-and-clear may run concurrently from
 * any threads, and get-and-clear never loses a bit set concurrently (each bit is reported
 * by exactly one get-and-clear).
 */
#ifndef VMMEM_DIRTY_H
#define VMMEM_DIRTY_H

#include <vmmem/common.h>
#include <vmmem/memory.h>
#include <vmmem/region.h>
#include <vmmem/slice.h>

VMMEM_BEGIN_DECLS

/** The vhost-user dirty-log page size: one log bit per 4 KiB of guest-physical address. */
#define VMMEM_VHOST_LOG_PAGE 4096u

/**
 * @brief Start tracking writes to region @p r.
 *
 * If tracking is on with the same page size, nothing changes (bits are kept). Otherwise a
 * fresh, all-clean bitmap is used.
 * @param page_size bytes per bit: a power of two >= 4096, or 0 for 4096.
 * @return 0, or -EINVAL (@p r NULL or bad @p page_size), or -ENOMEM.
 * @par Thread safety
 * MT-Safe; writes racing with the call may or may not be recorded.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_dirty_enable(struct vmmem_region *r, uint64_t page_size);

/**
 * @brief Stop tracking writes to @p r; its bits are dropped.
 * @return 0, or -EINVAL (@p r NULL).
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_dirty_disable(struct vmmem_region *r);

/**
 * @brief The tracking page size of @p r.
 * @return the page size, or 0 if tracking is off or @p r is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint64_t vmmem_region_dirty_page_size(const struct vmmem_region *r);

/**
 * @brief Is the page holding region offset @p offset dirty?
 * @return 1 (dirty), 0 (clean), or
 * @retval -EINVAL                 @p r is NULL
 * @retval VMMEM_E_NOT_TRACKED     tracking is off for @p r
 * @retval VMMEM_E_OUT_OF_BOUNDS   @p offset >= the region's size
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_dirty_test(const struct vmmem_region *r, uint64_t offset);

/**
 * @brief Fetch and clear the dirty bits of the pages covering [offset, offset + len).
 *
 * Bit i of @p words (bit i % 64 of words[i / 64]) is page offset / page_size + i. Words past
 * the range are zeroed. Each bit is cleared by the same atomic operation that reads it.
 * @param offset  a multiple of the tracking page size.
 * @param words   room for @p nwords words.
 * @return the number of pages covered, or
 * @retval -EINVAL                 NULL argument, or @p words NULL with @p nwords > 0
 * @retval VMMEM_E_NOT_TRACKED     tracking is off
 * @retval VMMEM_E_MISALIGNED      @p offset is not page-aligned
 * @retval VMMEM_E_OUT_OF_BOUNDS   the range runs past the region (or overflows)
 * @retval -ENOBUFS                @p nwords is smaller than ceil(pages / 64)
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_region_dirty_get_and_clear(struct vmmem_region *r, uint64_t offset,
						      uint64_t len, uint64_t *words,
						      size_t nwords);

/**
 * @brief Clear the dirty bits of every page that [offset, offset + len) touches.
 * @return 0 (also for @p len 0), -EINVAL, ::VMMEM_E_NOT_TRACKED or ::VMMEM_E_OUT_OF_BOUNDS.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_dirty_clear(struct vmmem_region *r, uint64_t offset, uint64_t len);

/**
 * @brief Mark dirty every page that [offset, offset + len) touches (for writes made through
 *        host pointers). A no-op when tracking is off.
 * @return 0 (also for @p len 0 or tracking off), -EINVAL or ::VMMEM_E_OUT_OF_BOUNDS.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_dirty_mark(struct vmmem_region *r, uint64_t offset, uint64_t len);

/**
 * @brief Number of dirty pages in the region.
 * @return the count, or -EINVAL / ::VMMEM_E_NOT_TRACKED.
 * @par Thread safety
 * MT-Safe (a snapshot: concurrent marks may or may not be counted).
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_region_dirty_count(const struct vmmem_region *r);

/**
 * @brief OR a KVM dirty bitmap (KVM_GET_DIRTY_LOG layout: bit i = host page i of the memory
 *        slot, the slot being this region) into the region's bitmap.
 *
 * KVM counts in host pages (4 KiB on x86-64; 4, 16 or 64 KiB on arm64, whatever the
 * kernel was built with) and writes little-endian 64-bit words on every host, big-endian
 * ones included: pass the buffer exactly as KVM_GET_DIRTY_LOG filled it. A KVM page
 * marks every tracking page it overlaps.
 * @param nwords number of words; bits past the region's pages must be zero.
 * @return the number of KVM (host) pages found dirty, or
 * @retval -EINVAL                 NULL argument
 * @retval VMMEM_E_NOT_TRACKED     tracking is off
 * @retval VMMEM_E_OUT_OF_BOUNDS   a set bit lies past the region's end
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_region_dirty_merge_kvm(struct vmmem_region *r, const uint64_t *bitmap,
						  size_t nwords);

/**
 * @brief Mark [gpa, gpa + len) dirty in the region bitmaps and the memory's vhost log (for
 *        writes made through translated pointers or iovecs).
 * @return 0 (also for @p len 0), or
 * @retval -EINVAL             @p m is NULL
 * @retval -EOVERFLOW          gpa + len passes 2^64
 * @retval VMMEM_E_UNMAPPED    a byte of the range is in no region (nothing marked)
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_mark_dirty(const struct vmmem_memory *m, uint64_t gpa,
					 uint64_t len);

/**
 * @brief Mark [off, off + len) of a slice dirty (for writes made through s->ptr): in its
 *        region's bitmap and, for slices that came from a memory, the memory's vhost log.
 * @return 0, -EINVAL, or ::VMMEM_E_OUT_OF_BOUNDS (range past the slice).
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_slice_mark_dirty(const struct vmmem_slice *s, size_t off, size_t len);

/**
 * @brief A vhost-user dirty log: a caller-provided buffer of bits, one per 4 KiB of GPA,
 *        LSB-first bytes (what a backend maps from the SET_LOG_BASE fd). Reference counted.
 */
struct vmmem_vhost_log;

/**
 * @brief Wrap a log buffer.
 * @param base     the buffer, 8-byte aligned (an mmap is page-aligned).
 * @param size     its size in bytes; it covers GPAs [0, size * 8 * 4096).
 * @param release  called once when the last reference goes (e.g. to munmap); may be NULL.
 * @param opaque   passed to @p release.
 * @param[out] out the log with one reference; NULL on failure.
 * @return 0, -EINVAL (NULL @p out or @p base, @p size 0), ::VMMEM_E_MISALIGNED or -ENOMEM.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_vhost_log_new(struct vmmem_vhost_log **out, void *base, uint64_t size,
				     void (*release)(void *opaque, void *base, uint64_t size),
				     void *opaque);

/**
 * @brief Take one more reference. @return @p log.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_vhost_log *vmmem_vhost_log_ref(struct vmmem_vhost_log *log);

/**
 * @brief Drop one reference; the last one calls the release callback. @return NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_vhost_log *vmmem_vhost_log_unref(struct vmmem_vhost_log *log);

/**
 * @brief Size in bytes of a log's buffer (it covers GPAs [0, size * 8 * 4096)).
 * @return the size, or 0 if @p log is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint64_t vmmem_vhost_log_size(const struct vmmem_vhost_log *log);

/**
 * @brief Set the log bits of guest range [gpa, gpa + len) directly, whether or not the range
 *        is mapped (vhost-user logs used-ring writes at the ring's log_guest_addr).
 * @return 0 (also for @p len 0), or
 * @retval -EINVAL    @p log is NULL
 * @retval -ERANGE    the range passes 2^64 or the end of the log
 * @par Thread safety
 * MT-Safe (atomic bit operations).
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_vhost_log_mark(struct vmmem_vhost_log *log, uint64_t gpa, uint64_t len);

/**
 * @brief A new memory like @p m whose writes also set bits in @p log (copy-on-write; @p m
 *        is unchanged). NULL @p log gives a memory without a log.
 * @param[out] out the new memory with one reference; NULL on failure.
 * @return 0, or
 * @retval -EINVAL    @p m or @p out is NULL
 * @retval -ENOBUFS   the log does not cover the memory's last address
 * @retval -ENOMEM    out of memory
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_set_vhost_log(const struct vmmem_memory *m,
					    struct vmmem_vhost_log *log, struct vmmem_memory **out);

/**
 * @brief The vhost log attached to @p m.
 * @return the log (borrowed), or NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_vhost_log *vmmem_memory_vhost_log(const struct vmmem_memory *m);

/**
 * @brief OR the dirty pages of every tracked region of @p m into a vhost-user format log
 *        (bit per 4 KiB GPA page, LSB-first bytes), optionally clearing the region bits.
 * @param clear  true: get-and-clear the region bitmaps (no bit is lost to a concurrent write).
 * @return the number of 4 KiB log pages set, or
 * @retval -EINVAL    NULL argument or @p log_size 0
 * @retval -ENOBUFS   the log is too small to cover the memory's last address
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT ssize_t vmmem_memory_dirty_export_vhost(const struct vmmem_memory *m, uint8_t *log,
						     uint64_t log_size, bool clear);

VMMEM_END_DECLS

#endif /* VMMEM_DIRTY_H */
