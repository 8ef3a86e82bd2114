/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* What saving, merging and the restore modes share: walking a file's data and holes,
 * writing page data sparsely with its checksum, progress reports, and the regions a
 * restore creates from the table's config strings. */
#ifndef VMM_SNAPIO_H
#define VMM_SNAPIO_H

#include <stdbool.h>
#include <stdint.h>

#include <vmmem/ctx.h>
#include <vmmem/snapshot.h>

#include "snapfile.h"

/* Bytes read or written at a time: large enough for the kernel's copy to dominate, small
 * enough for the checksum to run on data still in the cache. */
#define VMM_SNAP_CHUNK (1u << 20)

/* Progress of one operation: reports every 64 MiB and at the end. */
struct vmm_progress {
	vmmem_progress_fn fn;
	void *arg;
	uint64_t done;
	uint64_t total;
	uint64_t next;
};

void vmm_progress_init(struct vmm_progress *p, vmmem_progress_fn fn, void *arg, uint64_t total);
/* Count @n more bytes done; -ECANCELED (with a message) if the callback says stop. */
int vmm_progress_add(struct vmm_progress *p, uint64_t n);

/* Walks [base, base + len) of a file as alternating data and hole extents, from the
 * snapshot's extent map (no system call). */
struct vmm_extents {
	const struct vmm_extent_map *map;
	size_t next;       /* first map extent that may end after pos */
	uint64_t base;
	uint64_t len;
	uint64_t pos;      /* next byte, relative to base */
};

void vmm_extents_init(struct vmm_extents *it, const struct vmm_extent_map *map, uint64_t base,
		      uint64_t len);
/* The next extent: 1 with *off and *n (relative to base; data extents at most @max bytes)
 * and *data, or 0 at the end. */
int vmm_extents_next(struct vmm_extents *it, uint64_t max, uint64_t *off, uint64_t *n,
		     bool *data);

/* Is the buffer all zero bytes? */
bool vmm_is_zero(const uint8_t *p, uint64_t n);

/* Write @n bytes of @buf (a whole number of @page_size pages, except maybe at the end) at
 * file offset @off, leaving all-zero pages as holes; fold the bytes into *@crc and add the
 * bytes written to *@written. */
int vmm_write_sparse(int fd, const uint8_t *buf, uint64_t n, uint64_t off, uint32_t page_size,
		     uint32_t *crc, uint64_t *written);

/* May @fd be truncated and rewritten as a snapshot? Not if it is in append mode (pwrite
 * would ignore offsets), not if it is the file of @avoid1/@avoid2 (inputs of a merge, -1:
 * none), and not while this process maps it (a memory restored from it by map: truncating
 * the file would take the memory's pages away). 0, or -EINVAL / -EBUSY with a message. */
int vmm_snap_check_output(int fd, int avoid1, int avoid2);

/* Truncate @fd and size it to @size (all holes). */
int vmm_snap_resize(int fd, uint64_t size);

/* The regions of a restore: created from the table's config strings or from @config's
 * regions (which must match the table's GPAs and sizes). @no_prealloc: leave pages
 * unpopulated (lazy restore). *@out gets an array of s->n_regions regions. */
int vmm_snap_create_regions(const struct vmmem_snapshot *s, struct vmmem_ctx *ctx,
			    const char *config, bool no_prealloc, struct vmmem_region ***out);
void vmm_snap_unref_regions(struct vmmem_region **regions, size_t n);

/* Does a region just created for a restore read as zeros everywhere? An anonymous one
 * does; a file-backed one does if its file has no blocks yet (a provider may reopen an
 * existing file, e.g. a hugetlbfs mem-path: then holes of the snapshot must be written). */
bool vmm_snap_region_fresh(const struct vmmem_region *r);

/* The data checksum of region @i, read from the file; VMMEM_E_SNAPSHOT_CHECKSUM if it does
 * not match the table. */
int vmm_snap_verify_region(const struct vmmem_snapshot *s, size_t i, uint8_t *buf,
			   struct vmm_progress *p);

/* The message for a region whose data does not match the table's checksum. */
int vmm_snap_checksum_error(const struct vmmem_snapshot *s, size_t i, uint32_t crc);

#endif /* VMM_SNAPIO_H */
