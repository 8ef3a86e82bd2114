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

/* Record a write of [gpa, gpa + len) of @m, a range known to be mapped (len may be 0). */
void vmm_mark_range(const struct vmmem_memory *m, uint64_t gpa, uint64_t len);

#endif /* VMM_DIRTY_H */
