/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/snapshot.h
 * @brief Snapshot and restore of guest memory: full, dirty-diff and sparse files; restore by
 *        parallel copy, by a private mapping of the file, or lazily with userfaultfd.
 *
 * The file format is specified in docs/SNAPSHOT.md. In short: a checksummed header, a
 * checksummed table (one entry per region: GPA, size, the region's config string, where its
 * data lies, a CRC32C of its data), then page data at page-aligned offsets, so that a
 * region can be mapped straight from the file. Zero pages are not written: they stay holes
 * of a sparse file. A *diff* snapshot holds only the pages dirtied since its parent (named
 * by the parent's 16-byte id), with a table of dirty ranges per region.
 *
 * Saving while the guest runs is allowed: each region's dirty bits are fetched and cleared
 * (atomically, page by page) *before* its pages are copied, so a write that lands during or
 * after the copy sets its bit again and is in the next diff. Every file is self-consistent
 * (its checksums match what was written), even if the guest wrote while it was saved.
 *
 * Typical use:
 * @code
 *   struct vmmem_snapshot_save_opts so = { .size = sizeof(so) };
 *   vmmem_memory_snapshot_save(mem, fd, &so);          // full; so.id names it
 *   ...
 *   so.flags = VMMEM_SNAPSHOT_DIFF;                    // parent_id = the last id
 *   memcpy(so.parent_id, so.id, VMMEM_SNAPSHOT_ID_SIZE);
 *   vmmem_memory_snapshot_save(mem, fd2, &so);
 *
 *   struct vmmem_snapshot *s;
 *   vmmem_snapshot_open(&s, fd);                       // checks header and table
 *   struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_MAP };
 *   vmmem_snapshot_restore(s, ctx, &ro, &mem2, NULL);
 *   vmmem_snapshot_apply(diff, mem2);                   // or merge the diff first
 * @endcode
 *
 * Options structures are size-prefixed: set `.size = sizeof(struct ...)`; fields added
 * in later versions go at the end, and an older caller's smaller size gets their defaults.
 * @since 1.1
 */
#ifndef VMMEM_SNAPSHOT_H
#define VMMEM_SNAPSHOT_H

#include <vmmem/common.h>
#include <vmmem/ctx.h>
#include <vmmem/memory.h>
#include <vmmem/region.h>

VMMEM_BEGIN_DECLS

/** Bytes of a snapshot id (random, from getrandom(2)). */
#define VMMEM_SNAPSHOT_ID_SIZE 16

/** Save only the pages dirtied since the parent (vmmem_snapshot_save_opts::flags). */
#define VMMEM_SNAPSHOT_DIFF 0x1u

/**
 * @brief A progress report for long operations, called from the working thread (for lazy
 *        restore: the restore's own thread).
 * @param arg   the caller's pointer from the options.
 * @param done  bytes of guest memory handled so far.
 * @param total bytes to handle in all; the last call has done == total.
 * @return 0 to go on; anything else cancels the operation, which then fails with
 *         -ECANCELED (a lazy restore cannot be cancelled: its return value is ignored).
 */
typedef int (*vmmem_progress_fn)(void *arg, uint64_t done, uint64_t total);

/** Options of vmmem_memory_snapshot_save() and vmmem_regions_snapshot_save(). */
struct vmmem_snapshot_save_opts {
	uint32_t size;  /**< sizeof(struct vmmem_snapshot_save_opts) */
	uint32_t flags; /**< 0 (full) or ::VMMEM_SNAPSHOT_DIFF */
	/** For a diff: the id of the snapshot it follows (full or diff). */
	uint8_t parent_id[VMMEM_SNAPSHOT_ID_SIZE];
	vmmem_progress_fn progress; /**< NULL, or called about every 64 MiB */
	void *progress_arg;         /**< passed to @ref progress */
	/** Out: the id of the snapshot written (a diff's children name it as parent). */
	uint8_t id[VMMEM_SNAPSHOT_ID_SIZE];
	/** Out: bytes of page data written (holes not counted). */
	uint64_t data_bytes;
};

/**
 * @brief Save the regions of @p m into the regular file open for writing on @p fd.
 *
 * The file is truncated and written from offset 0; zero pages become holes. A full snapshot
 * of a region whose dirty tracking is on also clears its dirty bits (page by page, before
 * the page is copied), so that a later diff names this snapshot as parent. A diff needs
 * tracking on every region and saves exactly the pages whose bits it cleared.
 *
 * @param m     the memory (its regions at the time of the call).
 * @param fd    a regular file, open for writing (O_RDWR or O_WRONLY).
 * @param opts  options; `size` must be set. Out fields are filled on success.
 * @return 0, or
 * @retval -EINVAL               @p m or @p opts NULL, `opts->size` too small, unknown flags,
 *                               or @p fd is not a regular file or is in append mode
 * @retval -EBUSY                @p fd's file is mapped by this process (a memory restored
 *                               from it by map: truncating it would take those pages away)
 * @retval -E2BIG                more regions (65536) or a longer config string (4096
 *                               bytes) than the format holds
 * @retval -EAGAIN               a region's dirty page size changed during the save (its
 *                               pages are all marked dirty; save again)
 * @retval VMMEM_E_NOT_TRACKED   a diff, and a region has no dirty tracking (message names it)
 * @retval -ECANCELED            the progress callback asked to stop
 * @retval -EFAULT               a guarded region lost its backing while it was read
 * @retval -EIO, -ENOSPC, ...    a write failed (negative errno)
 * @retval -ENOMEM               out of memory
 * On failure the file's contents are unspecified (its header is written last, so a
 * partial file is never taken for a snapshot); the dirty bits cleared so far are set again.
 * @par Thread safety
 * MT-Safe; the guest and other threads may write to @p m meanwhile (see the file comment).
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_memory_snapshot_save(const struct vmmem_memory *m, int fd,
					    struct vmmem_snapshot_save_opts *opts);

/**
 * @brief Like vmmem_memory_snapshot_save() for a set of regions.
 * @param regions @p n regions; they must not overlap (they are saved in GPA order).
 * @return as vmmem_memory_snapshot_save(), and
 * @retval VMMEM_E_NO_REGIONS  @p n is 0
 * @retval VMMEM_E_OVERLAP     two regions overlap
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_regions_snapshot_save(struct vmmem_region *const *regions, size_t n,
					     int fd, struct vmmem_snapshot_save_opts *opts);

/** An open snapshot file (opaque). */
struct vmmem_snapshot;

/**
 * @brief Open a snapshot file: read and check its header and table.
 *
 * Checks the magic, the format version, the page size, both checksums, that the file is as
 * long as the header says, and every table entry (ranges inside the file and the region,
 * regions sorted and disjoint). Page data is checked by vmmem_snapshot_verify() and by each
 * restore that reads it.
 * @param[out] out the snapshot; NULL on failure.
 * @param fd   the file, open for reading; the snapshot keeps a duplicate.
 * @return 0, or
 * @retval -EINVAL                     @p out NULL, or @p fd not a regular file
 * @retval -EBADF                      @p fd is not open
 * @retval VMMEM_E_SNAPSHOT_FORMAT     not a libvmmem snapshot, or a field is invalid or
 *                                     over-large (message names the field and its offset)
 * @retval VMMEM_E_SNAPSHOT_VERSION    a format version this library does not read
 * @retval VMMEM_E_SNAPSHOT_PAGE_SIZE  the page size is not a power of two in [4 KiB, 1 GiB]
 * @retval VMMEM_E_SNAPSHOT_TRUNCATED  the file is shorter than its header or table says
 * @retval VMMEM_E_SNAPSHOT_CHECKSUM   the header or the table checksum does not match
 * @retval -ENOMEM, -EIO, ...          out of memory or a read error
 * @par Thread safety
 * MT-Safe. A snapshot may be used from several threads at once (its calls only read it).
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_snapshot_open(struct vmmem_snapshot **out, int fd);

/**
 * @brief Close a snapshot (NULL is ignored). Memory restored from it stays valid.
 * @par Thread safety
 * Not while another call uses @p s.
 * @since 1.1
 */
VMMEM_EXPORT void vmmem_snapshot_close(struct vmmem_snapshot *s);

/** What vmmem_snapshot_info() reports. */
struct vmmem_snapshot_info {
	uint32_t size;          /**< in: sizeof(struct vmmem_snapshot_info) */
	uint32_t version;       /**< the file format version */
	uint32_t flags;         /**< ::VMMEM_SNAPSHOT_DIFF or 0 */
	uint32_t page_size;     /**< bytes per page of data in the file */
	uint64_t region_count;  /**< entries in the region table */
	uint64_t guest_bytes;   /**< sum of the regions' sizes */
	uint64_t data_bytes;    /**< page data stored (a diff: the dirty pages) */
	uint64_t file_size;     /**< bytes of the file */
	uint64_t created_ns;    /**< CLOCK_REALTIME at save, in nanoseconds */
	uint8_t id[VMMEM_SNAPSHOT_ID_SIZE];        /**< this snapshot's id */
	uint8_t parent_id[VMMEM_SNAPSHOT_ID_SIZE]; /**< a diff's parent; zero for a full one */
};

/**
 * @brief Describe the snapshot.
 * @param info `info->size` set by the caller; the rest is filled.
 * @return 0, or -EINVAL (NULL argument or `info->size` too small).
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_snapshot_info(const struct vmmem_snapshot *s,
				     struct vmmem_snapshot_info *info);

/** One entry of the region table (vmmem_snapshot_region()). */
struct vmmem_snapshot_region {
	uint32_t size;        /**< in: sizeof(struct vmmem_snapshot_region) */
	uint32_t flags;       /**< VMMEM_REGION_READ_ONLY or 0 */
	uint64_t gpa;         /**< guest-physical address of the first byte */
	uint64_t length;      /**< bytes */
	uint64_t data_offset; /**< file offset of the region's data (page-aligned) */
	uint64_t data_bytes;  /**< bytes of data the file holds for it (a diff: dirty bytes) */
	uint64_t range_count; /**< a diff: the number of dirty ranges; 0 in a full snapshot */
	uint32_t data_crc;    /**< CRC32C of the data (docs/SNAPSHOT.md says of what) */
	uint32_t reserved;    /**< zero */
	/** The config string the region is restored from ("provider:gpa=...,size=...");
	 *  valid while @p s is open. */
	const char *spec;
};

/**
 * @brief Describe region @p index (in GPA order).
 * @return 0, or -EINVAL (NULL argument or `out->size` too small), or -ERANGE (@p index past
 *         the table).
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_snapshot_region(const struct vmmem_snapshot *s, size_t index,
				       struct vmmem_snapshot_region *out);

/**
 * @brief Read all page data and check each region's checksum.
 * @param progress NULL, or called as the data is read.
 * @return 0, or
 * @retval -EINVAL                     @p s NULL
 * @retval VMMEM_E_SNAPSHOT_CHECKSUM   a region's data does not match its checksum (the
 *                                     message names the region)
 * @retval VMMEM_E_SNAPSHOT_TRUNCATED  the file shrank since it was opened
 * @retval -ECANCELED, -EIO, -ENOMEM
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_snapshot_verify(const struct vmmem_snapshot *s,
				       vmmem_progress_fn progress, void *progress_arg);

/**
 * @brief Write to @p out_fd the full snapshot that results from applying diff @p diff on
 *        top of @p parent (a full snapshot, itself possibly a merge).
 *
 * The result has the diff's id, so a later diff of the chain (whose parent is @p diff) can
 * be merged onto it in turn; its region configs are the diff's. Both inputs' data
 * checksums are checked as they are read.
 * @param out_fd a regular file open for writing; truncated first. Must not be either input.
 * @return 0, or
 * @retval -EINVAL                     NULL argument, @p out_fd not a regular file, in append
 *                                     mode, or the file of an input
 * @retval -EBUSY                      @p out_fd's file is mapped by this process
 * @retval VMMEM_E_SNAPSHOT_PARENT     @p parent is a diff, @p diff is not a diff, its parent
 *                                     id is not @p parent's id, or their region tables
 *                                     differ (message says which)
 * @retval VMMEM_E_SNAPSHOT_CHECKSUM   input data does not match its checksum
 * @retval -ECANCELED, -EIO, -ENOSPC, -ENOMEM
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_snapshot_merge(const struct vmmem_snapshot *parent,
				      const struct vmmem_snapshot *diff, int out_fd,
				      vmmem_progress_fn progress, void *progress_arg);

/**
 * @brief Copy a diff's pages into memory @p m (restored from the diff's parent chain).
 *
 * The diff's data is checked against its checksums *before* any byte of @p m changes, so a
 * corrupt diff leaves @p m as it was. Pages written are marked dirty like any write.
 * @return 0, or
 * @retval -EINVAL                     NULL argument
 * @retval VMMEM_E_SNAPSHOT_PARENT     @p diff is not a diff
 * @retval VMMEM_E_UNMAPPED            a diff range is not inside one region of @p m
 * @retval VMMEM_E_READ_ONLY           a diff range lies in a read-only region
 * @retval VMMEM_E_SNAPSHOT_CHECKSUM   the diff does not match its checksums (memory
 *                                     unchanged), or the file changed while it was applied
 *                                     (memory partly updated: restore again)
 * @retval -EIO, -ENOMEM
 * @par Thread safety
 * MT-Safe; concurrent writes to the same pages race with it as any two writes do.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_snapshot_apply(const struct vmmem_snapshot *diff,
				      const struct vmmem_memory *m);

/** Restore by creating each region and copying its data in, with several threads. */
#define VMMEM_RESTORE_COPY 1u
/** Restore by mapping each region's data privately (MAP_PRIVATE) from the file: pages are
 *  read on first touch by the kernel, writes stay in this process. */
#define VMMEM_RESTORE_MAP 2u
/** Restore by creating each region empty and filling it on demand with userfaultfd, while
 *  a background thread prefetches everything; see vmmem_restore_wait(). Until the restore
 *  is complete, do not discard ranges of the memory (a discarded page would be filled
 *  again from the file). */
#define VMMEM_RESTORE_LAZY 3u

/** Check every region's data checksum (map: read the whole file first; copy and lazy
 *  always check as they read, this flag changes nothing for them). */
#define VMMEM_RESTORE_VERIFY 0x1u
/** Lazy only: no background prefetch yet, pages come in only when touched (for measuring
 *  the fault path, and for guests that touch little). vmmem_restore_wait() with a timeout
 *  reports -ETIMEDOUT until the prefetch runs; waiting without one (-1), and
 *  vmmem_restore_free(), start it. */
#define VMMEM_RESTORE_NO_PREFETCH 0x2u

/** Options of vmmem_snapshot_restore(). */
struct vmmem_restore_opts {
	uint32_t size;    /**< sizeof(struct vmmem_restore_opts) */
	uint32_t mode;    /**< ::VMMEM_RESTORE_COPY, ::VMMEM_RESTORE_MAP or ::VMMEM_RESTORE_LAZY */
	uint32_t flags;   /**< ::VMMEM_RESTORE_VERIFY, ::VMMEM_RESTORE_NO_PREFETCH */
	uint32_t threads; /**< copy: worker threads; 0 = one per online CPU, at most 8 */
	/** NULL, or a config string to create the regions from instead of the file's: it
	 *  must describe regions of exactly the file's GPAs and sizes (copy and lazy). */
	const char *config;
	vmmem_progress_fn progress; /**< NULL, or progress reports */
	void *progress_arg;         /**< passed to @ref progress */
};

/** A lazy restore in progress (opaque). */
struct vmmem_restore;

/**
 * @brief Restore a full snapshot into new memory.
 *
 * Copy and lazy create each region from its config string (or from @p opts->config) with
 * @p ctx's providers; prealloc is turned off for lazy (userfaultfd fills missing pages
 * only). Map needs no provider: each region is a private mapping of the file (huge-page
 * regions come back with base pages), so the file must not be truncated or rewritten
 * while the memory lives (saves and merges into it are refused with -EBUSY). Dirty
 * tracking is turned on as the config says.
 *
 * @param ctx   provider context (copy and lazy; may be NULL for map).
 * @param[out] out   the memory; NULL on every failure (nothing half-restored is returned).
 * @param[out] lazy  lazy mode: the restore, to wait for and free (required); other modes:
 *                   may be NULL, set to NULL.
 * @return 0, or
 * @retval -EINVAL                     NULL argument, bad mode or flags, `opts->size` too
 *                                     small, or @p ctx NULL for copy/lazy
 * @retval VMMEM_E_SNAPSHOT_PARENT     @p s is a diff (restore its merged chain, or its full
 *                                     parent then vmmem_snapshot_apply())
 * @retval VMMEM_E_SNAPSHOT_PAGE_SIZE  map mode: the file's page size is not a multiple of
 *                                     the host's
 * @retval VMMEM_E_CONFIG_CONFLICT     @p opts->config does not match the file's regions
 * @retval VMMEM_E_SNAPSHOT_CHECKSUM   copy (or map with VERIFY): data does not match
 * @retval -EOPNOTSUPP                 lazy: userfaultfd is not available, or not for this
 *                                     kind of memory (message says why)
 * @retval -EBUSY                      lazy: a region's backing file already holds data (a
 *                                     provider reopened an existing file)
 * @retval -ECANCELED                  the progress callback asked to stop
 * @retval any error of vmmem_region_create() and vmmem_memory_new()
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_snapshot_restore(const struct vmmem_snapshot *s, struct vmmem_ctx *ctx,
					const struct vmmem_restore_opts *opts,
					struct vmmem_memory **out, struct vmmem_restore **lazy);

/**
 * @brief Wait for a lazy restore to have every page in place and its checksums checked.
 * @param timeout_ms  < 0: wait for as long as it takes; 0: just poll.
 * @return 0 when complete, or
 * @retval -EINVAL                     @p r NULL
 * @retval -ETIMEDOUT                  not complete yet
 * @retval VMMEM_E_SNAPSHOT_CHECKSUM   a region's data did not match: the memory must not be
 *                                     used (pages that could not be read are poisoned:
 *                                     touching them raises SIGBUS)
 * @retval -EIO, ...                   reading the file failed
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_restore_wait(struct vmmem_restore *r, int timeout_ms);

/**
 * @brief How far a lazy restore is.
 * @param[out] done   bytes in place (NULL: not wanted).
 * @param[out] total  bytes to restore (NULL: not wanted).
 * @param[out] faults page faults served on demand so far (NULL: not wanted).
 * @return 0, or -EINVAL (@p r NULL).
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_restore_progress(const struct vmmem_restore *r, uint64_t *done,
					uint64_t *total, uint64_t *faults);

/**
 * @brief Finish with a lazy restore: wait until it is complete, then free it (NULL is
 *        ignored). The restored memory stays valid.
 * @return what vmmem_restore_wait(r, -1) returns.
 * @par Thread safety
 * Not while another call uses @p r.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_restore_free(struct vmmem_restore *r);

VMMEM_END_DECLS

#endif /* VMMEM_SNAPSHOT_H */
