/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* struct vmmem_memory and the region lookup every data-path call starts with. */
#ifndef VMM_MEMORY_H
#define VMM_MEMORY_H

#include <vmmem/memory.h>

#include "region.h"
#include "util.h"

/*
 * One region as the data path sees it: the fields a lookup and a copy need, cached from the
 * region so the hot path touches one 32-byte slot and nothing else. The region pointer's low
 * bit carries the read-only flag (regions are malloc'd, so the bit is free), which keeps the
 * slot at 32 bytes: two slots per cache line.
 */
struct vmm_slot {
	uint64_t gpa;          /* first byte */
	uint64_t last;         /* last byte (inclusive) */
	uint8_t *host;         /* host address of gpa */
	uintptr_t region_ro;   /* struct vmmem_region * | 1 if read-only | 2 if guarded */
};

#define VMM_SLOT_RO ((uintptr_t)1)
#define VMM_SLOT_GUARDED ((uintptr_t)2) /* copies must go through guard.c */

static inline struct vmmem_region *vmm_slot_region(const struct vmm_slot *s)
{
	return (struct vmmem_region *)(s->region_ro & ~(VMM_SLOT_RO | VMM_SLOT_GUARDED));
}

static inline bool vmm_slot_guarded(const struct vmm_slot *s)
{
	return (s->region_ro & VMM_SLOT_GUARDED) != 0;
}

static inline int vmm_slot_read_only(const struct vmm_slot *s)
{
	return (int)(s->region_ro & VMM_SLOT_RO);
}

/*
 * Regions sorted by gpa, plus a bucket index: the span [base, last_addr] is cut into
 * nbuckets equal buckets of 2^shift bytes (about two per region), and bucket[b] is the
 * first slot whose last byte is at or after bucket b's start. A GPA in bucket b can only be
 * in slots bucket[b] ..= bucket[b + 1], usually one or two of them, so a lookup costs the
 * same with 1 or 30000 regions; a skewed layout (tiny regions next to huge ones) degrades to
 * a binary search inside one bucket, never worse.
 */
struct vmmem_memory {
	unsigned long refs;     /* atomic */
	uint32_t count;         /* regions; 0 for an empty memory */
	uint32_t shift;         /* log2 of the bucket size */
	uint64_t base;          /* gpa of the first region */
	uint64_t nbuckets;      /* bucket[] has nbuckets + 1 entries */
	uint64_t last_addr;     /* last byte of the last region */
	struct vmmem_vhost_log *vlog; /* with a reference, or NULL: writes also set its bits */
	uint64_t map_len;       /* size of the huge-page mapping holding this, 0 if malloc'd */
	uint32_t *bucket;
	uint32_t npeer;         /* imported regions (with a sender address) */
	bool peer_overlap;      /* two of their sender ranges overlap (aliases) */
	uint32_t *peer;         /* their slot indices sorted by sender address (after bucket[]) */
	struct vmm_slot slots[]; /* count entries, a sentinel (gpa = 2^64 - 1), the buckets */
};

/* The slot holding @gpa, or NULL. Branch-light; no calls. */
static inline const struct vmm_slot *vmm_lookup(const struct vmmem_memory *m, uint64_t gpa)
{
	const struct vmm_slot *s = m->slots;
	uint32_t lo, n;
	uint64_t b;

	/* One region is the common VM: it skips the index and falls straight through (no taken
	 * branch on its path, which the compiler otherwise moves out of line). */
	if (__builtin_expect(m->count != 1, 0)) {
		if (unlikely(m->count == 0))
			return NULL;
		b = gpa - m->base; /* gpa < base wraps to a huge offset */
		/* Past the last byte (or before the first): no region. This also keeps
		 * 2^64 - 1, which no region holds, away from the sentinel below. */
		if (unlikely(b > m->last_addr - m->base))
			return NULL;
		b >>= m->shift;
		lo = m->bucket[b];
		n = m->bucket[b + 1] - lo + 1;
		s = &m->slots[lo];
		if (likely(n <= 2)) {
			/* One or two candidates, resolved without a branch. With one, the next
			 * slot (maybe the sentinel) starts past this bucket, so the compare is
			 * false; with two, it picks the second if it starts at or before gpa. */
			s += s[1].gpa <= gpa;
		} else {
			/* A crowded bucket: largest candidate starting at or before gpa. */
			while (n > 1) {
				uint32_t half = n / 2;

				s = s[half].gpa <= gpa ? s + half : s;
				n -= half;
			}
		}
	}
	/* gpa < s->gpa wraps to a huge offset, so one compare covers both ends. */
	if (unlikely(gpa - s->gpa > s->last - s->gpa))
		return NULL;
	return s;
}

/* Index of the slot holding @gpa, or -1. */
static inline long vmm_lookup_index(const struct vmmem_memory *m, uint64_t gpa)
{
	const struct vmm_slot *s = vmm_lookup(m, gpa);

	return s ? s - m->slots : -1;
}

/* Reported when a GPA has no region: sets the message, returns VMMEM_E_UNMAPPED. */
VMM_COLD int vmm_err_unmapped(uint64_t gpa);

#endif /* VMM_MEMORY_H */
