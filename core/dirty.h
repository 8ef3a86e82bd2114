/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Dirty tracking: the region bitmap API, and the inline marking every data-path write calls
 * after copying (region bitmap and vhost-user log). */
#ifndef VMM_DIRTY_H
#define VMM_DIRTY_H

#include <vmmem/dirty.h>

#include "bitmap.h"
#include "memory.h"
#include "region.h"
#include "util.h"
#include "vlog.h"

/* The marking itself, out of line: only tracked writes get here. */
void vmm_mark_written_slow(const struct vmmem_memory *m, const struct vmmem_region *r,
			   uint64_t off, uint64_t gpa, uint64_t len);

/* Record a write of [gpa, gpa + len) into region @r (at region offset @off), made through
 * memory @m (may be NULL). Called by every write path after its copy. */
static inline void vmm_mark_written(const struct vmmem_memory *m, const struct vmmem_region *r,
				    uint64_t off, uint64_t gpa, uint64_t len)
{
	if (unlikely(__atomic_load_n(&vmm_tracked_regions, __ATOMIC_RELAXED) != 0 ||
		     (m && m->vlog != NULL)))
		vmm_mark_written_slow(m, r, off, gpa, len);
}

/* Page @offset's bit of region @r: 0 or 1, or -1 when @r is not tracked or @offset is past
 * its end (the caller reports which). vmmem_region_dirty_test()'s body, inline so that the
 * benchmark can compile the very same test into its loop (bitmap_scan_dirty_at_inline_1g). */
static inline int vmm_region_dirty_bit(const struct vmmem_region *r, uint64_t offset)
{
	const struct vmm_dirty *d = __atomic_load_n(&r->dirty, __ATOMIC_ACQUIRE);
	uint64_t p;

	if (unlikely(!d) || unlikely(offset >= r->size))
		return -1;
	p = offset >> d->page_shift;
	return (int)((__atomic_load_n(&d->words[p / 64], __ATOMIC_ACQUIRE) >> (p % 64)) & 1);
}

/* Record a write of [gpa, gpa + len) of @m, a range known to be mapped (len may be 0). */
void vmm_mark_range(const struct vmmem_memory *m, uint64_t gpa, uint64_t len);

#endif /* VMM_DIRTY_H */
