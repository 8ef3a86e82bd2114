/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Walking a guest range region piece by piece: the one engine behind every transfer that
 * may span regions (reads, writes, scatter-gather lists, fd I/O). */
#ifndef VMM_WALK_H
#define VMM_WALK_H

#include <stdbool.h>

#include "memory.h"
#include "util.h"

struct vmm_walk {
	const struct vmmem_memory *m;
	long idx;      /* slot holding gpa, or -1 for a hole */
	uint64_t gpa;  /* next guest byte */
	uint64_t left; /* bytes still to walk */
	bool write;    /* read-only regions end the walk */
};

/* Start a walk over [gpa, gpa + len); the caller has checked that the range fits in 2^64. */
static inline void vmm_walk_init(struct vmm_walk *w, const struct vmmem_memory *m, uint64_t gpa,
				 uint64_t len, bool write)
{
	w->m = m;
	w->idx = len ? vmm_lookup_index(m, gpa) : -1;
	w->gpa = gpa;
	w->left = len;
	w->write = write;
}

/*
 * The next piece (w->left must be > 0): host address and length of the bytes from w->gpa to
 * the end of its region or of the range. Returns 0, or VMMEM_E_UNMAPPED / VMMEM_E_READ_ONLY
 * when w->gpa is in a hole or (for writes) a read-only region; the walk then stays there.
 * The next region is found by adjacency, not by a new lookup.
 */
static inline int vmm_walk_next(struct vmm_walk *w, uint8_t **host, uint64_t *n,
				const struct vmm_slot **slot)
{
	const struct vmm_slot *s;
	uint64_t avail, take;

	if (w->idx < 0)
		return VMMEM_E_UNMAPPED;
	s = &w->m->slots[w->idx];
	if (w->write && vmm_slot_read_only(s))
		return VMMEM_E_READ_ONLY;
	avail = s->last - w->gpa + 1; /* last <= 2^64 - 2: no wrap */
	take = w->left < avail ? w->left : avail;
	*host = s->host + (w->gpa - s->gpa);
	*n = take;
	if (slot)
		*slot = s;
	w->left -= take;
	w->gpa += take;
	if (w->left) {
		long next = w->idx + 1;

		w->idx = ((uint32_t)next < w->m->count && w->m->slots[next].gpa == w->gpa) ? next
											  : -1;
	}
	return 0;
}

/* Is @access one of VMMEM_ACCESS_READ / _WRITE / _RW? */
static inline bool vmm_access_ok(unsigned int access)
{
	return access >= VMMEM_ACCESS_READ && access <= VMMEM_ACCESS_RW;
}

/* Message and code for a walk that stopped at @gpa for @why. */
VMM_COLD int vmm_err_stop(int why, uint64_t gpa);
/* Message and -EOVERFLOW for a range past 2^64. */
VMM_COLD int vmm_err_wraps(uint64_t gpa, uint64_t len);

#endif /* VMM_WALK_H */
