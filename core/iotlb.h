/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The IOTLB: an immutable table of IOVA -> GPA entries sorted by IOVA, republished whole on
 * every change (read-copy-update in the domain of core/atomic.h), and the lookups the IOMMU
 * data path makes on it.
 */
#ifndef VMM_IOTLB_H
#define VMM_IOTLB_H

#include <pthread.h>

#include <vmmem/iommu.h>

#include "atomic.h"
#include "util.h"

struct vmm_iotlb_entry {
	uint64_t iova; /* first IOVA */
	uint64_t last; /* last IOVA (inclusive: [0, 2^64 - 1] is expressible) */
	uint64_t gpa;  /* GPA of iova */
	uint64_t meta; /* insertion sequence << 2 | permission */
};

#define VMM_IOTLB_PERM(e) ((unsigned int)((e)->meta & 3))

/*
 * What one bucket translates without looking at an entry: piece A, the part of the entry
 * holding the bucket's first byte that lies in the bucket, and piece B, the part of the
 * entry holding its last byte. A bucket inside one entry has A = B; entries that start and
 * end inside the bucket are in neither piece and are found through the entries. The random
 * hop between entries (a queue's descriptors spread over many mappings) then costs one
 * load of 32 bytes before the GPA is known, instead of a bucket, an entry and the entry it
 * picks. The cells use the buckets' grid. They are built for tables of up to
 * VMM_IOTLB_CELL_BUCKETS buckets (32 bytes each; 8 MiB at most) whose buckets are at most
 * 4 GiB (offsets in 32 bits); other tables get two empty cells that cover everything
 * (cshift 63), and their lookups take the entries.
 */
#define VMM_IOTLB_CELL_BUCKETS ((size_t)1 << 18)
struct vmm_iotlb_cell {
	uint64_t delta[2]; /* GPA - IOVA (mod 2^64) of piece A, piece B */
	uint32_t last[2];  /* A covers bucket offsets [0, last[0]]; last[1] is the bucket's last */
	uint32_t b_first;  /* B covers [b_first, last[1]] */
	uint8_t perm[2];   /* permission of A, B; 0 = no such piece */
};

/*
 * Entries sorted by IOVA, plus a bucket index like the memory's (core/memory.h): the span
 * [e[0].iova, e[count - 1].last] is cut into 2^k equal buckets (about two per entry), and
 * bucket[b] is the first entry whose last IOVA reaches bucket b. A lookup reads one bucket
 * and usually resolves among one or two entries, so it costs the same at 64 and at 4096
 * entries for layouts as a vIOMMU makes them; a crowded bucket is searched by halving.
 */
struct vmm_iotlb_table {
	uint64_t gen;      /* unique in the process, never 0 */
	size_t count;
	uint64_t base;     /* e[0].iova */
	uint64_t span;     /* e[count - 1].last - base */
	uint32_t shift;    /* log2 of the bucket size */
	uint32_t cshift;   /* log2 of the size a cell covers: shift, or 63 without cells */
	uint64_t cmask;    /* that size - 1 */
	uint32_t *bucket;  /* (span >> shift) + 2 entries, after e[] in the same block */
	size_t ncells;     /* cells allocated: room for the index of the capacity, or 2 */
	struct vmm_iotlb_cell *cell; /* (span >> cshift) + 1 cells, after bucket[] */
	struct vmm_iotlb_entry e[];
};

/* Index of the first entry whose last IOVA is at or after @iova, for an @iova inside the
 * span of a table that has entries (off = iova - base <= span): its bucket's candidates. */
static inline size_t vmm_iotlb_reaching_in_span(const struct vmm_iotlb_table *t, uint64_t iova,
						uint64_t off)
{
	size_t lo = t->bucket[off >> t->shift];
	size_t n = t->bucket[(off >> t->shift) + 1] - lo + 1; /* candidates lo ..= next bucket's */

	if (likely(n <= 2)) {
		/* One or two candidates, resolved without a branch (a data-dependent branch
		 * mispredicts on random IOVAs). With one, e[lo] reaches past this bucket (or is
		 * the last entry, which reaches the span's end), so the compare is false. */
		return lo + (t->e[lo].last < iova);
	}
	while (n > 1) { /* first with last >= iova among them */
		size_t half = n / 2;

		if (t->e[lo + half - 1].last < iova) {
			lo += half;
			n -= half;
		} else {
			n = half;
		}
	}
	return lo;
}

/* Index of the first entry whose last IOVA is at or after @iova (count if none). */
static inline size_t vmm_iotlb_first_reaching(const struct vmm_iotlb_table *t, uint64_t iova)
{
	uint64_t off = iova - t->base;

	if (unlikely(t->count == 0) || off > t->span)
		return iova < t->base && t->count ? 0 : t->count;
	return vmm_iotlb_reaching_in_span(t, iova, off);
}

struct vmmem_iotlb {
	struct vmm_iotlb_table *table; /* published with vmm_rcu_publish; never NULL */
	uint64_t generation;           /* atomic: table->gen, stored (release) after each
					* publish; what caller-side caches check */
	unsigned long refs;            /* atomic */
	pthread_mutex_t writer;        /* serialises changes */
	size_t max;
	unsigned int policy;
	uint64_t seq; /* next insertion sequence (under writer) */
	struct vmm_retired *last_node; /* retires the object at the last unref: no allocation */
};

/* The entry this thread translated through last is its section hint (core/atomic.h):
 * owner = the IOTLB, first/last = the entry's IOVAs, value = its GPA, flags = permission.
 * Found in the section it is used in; a change made by this thread drops it, changes made by
 * others are seen at the next section (a reader may use a translation until its section
 * ends: invalidate, then vmmem_atomic_synchronize, before acknowledging). */

/* A table with room for @cap entries, none yet (NULL and a message on ENOMEM). */
struct vmm_iotlb_table *vmm_iotlb_table_new(size_t cap);
/* Build the bucket index and the cells of a table whose entries are final (sorted, not
 * overlapping, count set). */
void vmm_iotlb_table_index(struct vmm_iotlb_table *t);
/* Free a table (a retire callback). */
void vmm_iotlb_table_free(void *t);

/* Translate [iova, iova + len) (1 <= len <= 2^32, no wrap) for @access (not 0) by the cell
 * of its bucket alone; false when the cell cannot say (another entry, a gap, a refusal,
 * the bucket's end): the entries decide then. Inside a section. */
static inline bool vmm_iotlb_cell_find(const struct vmm_iotlb_table *t, uint64_t iova,
				       uint64_t len, unsigned int access, uint64_t *gpa)
{
	uint64_t off = iova - t->base, rel, lim;
	const struct vmm_iotlb_cell *c;
	unsigned int in_b;

	if (unlikely(off > t->span))
		return false;
	c = &t->cell[off >> t->cshift];
	rel = off & t->cmask;
	in_b = rel >= c->b_first; /* the pieces as arrays: no branch on a random IOVA */
	lim = c->last[in_b];
	/* a cell with a piece has rel < 2^32; len <= 2^32: the sum does not wrap */
	if (unlikely((c->perm[in_b] & access) != access) || rel + (len - 1) > lim)
		return false;
	*gpa = iova + c->delta[in_b];
	return true;
}

/* The current table, inside a read section. */
static inline const struct vmm_iotlb_table *vmm_iotlb_table(const struct vmmem_iotlb *tlb)
{
	return vmm_rcu_load(&tlb->table);
}

/* The entry of @t that holds @iova, or NULL. Inside a section. */
static inline const struct vmm_iotlb_entry *vmm_iotlb_entry_at(const struct vmm_iotlb_table *t,
							       uint64_t iova)
{
	uint64_t off = iova - t->base;
	const struct vmm_iotlb_entry *e;

	/* The first test also refuses everything of an empty table but IOVA 0 (base and span
	 * are 0), the second the rest. Inside the span some entry reaches @iova, so the
	 * index needs no count check. */
	if (unlikely(off > t->span) || unlikely(t->count == 0))
		return NULL;
	e = &t->e[vmm_iotlb_reaching_in_span(t, iova, off)];
	return likely(e->iova <= iova) ? e : NULL;
}

/* Translate [iova, iova + len) (len >= 1, no wrap) when one entry of @t holds it all and
 * allows @access, through the bucket index; refreshes the hint. Inside a section. Inline:
 * it is the IOMMU's hit path whenever consecutive accesses use different entries. */
static inline bool vmm_iotlb_find(const struct vmmem_iotlb *tlb, const struct vmm_iotlb_table *t,
				  uint64_t iova, uint64_t len, unsigned int access, uint64_t *gpa)
{
	const struct vmm_iotlb_entry *e = vmm_iotlb_entry_at(t, iova);

	if (unlikely(!e))
		return false;
	vmm_section_hint = (struct vmm_section_hint){
		.owner = tlb, .first = e->iova, .last = e->last, .value = e->gpa,
		.flags = VMM_IOTLB_PERM(e),
	};
	if (unlikely(len - 1 > e->last - iova || (VMM_IOTLB_PERM(e) & access) != access))
		return false;
	*gpa = e->gpa + (iova - e->iova);
	return true;
}

/* The hint alone: does it translate [iova, iova + len) (len >= 1) for @access? */
static inline bool vmm_iotlb_hint_hit(const struct vmmem_iotlb *tlb, uint64_t iova, uint64_t len,
				      unsigned int access, uint64_t *gpa)
{
	const struct vmm_section_hint *h = &vmm_section_hint;

	if (likely(h->owner == tlb) && iova - h->first <= h->last - h->first &&
	    len - 1 <= h->last - iova && (h->flags & access) == access) {
		*gpa = h->value + (iova - h->first);
		return true;
	}
	return false;
}

static inline bool vmm_iotlb_one(const struct vmmem_iotlb *tlb, const struct vmm_iotlb_table *t,
				 uint64_t iova, uint64_t len, unsigned int access, uint64_t *gpa)
{
	return vmm_iotlb_hint_hit(tlb, iova, len, access, gpa) ||
	       vmm_iotlb_find(tlb, t, iova, len, access, gpa);
}

/* Translate [iova, iova + len) (len >= 1, no wrap) into pieces, merging entries that
 * continue each other in GPA space. Writes at most @max pieces, sets *count to the number
 * needed. On a gap or refusal returns VMMEM_E_IOTLB_MISS / _DENIED and fills @fault (if
 * not NULL), without setting a message. */
int vmm_iotlb_walk(const struct vmm_iotlb_table *t, uint64_t iova, uint64_t len,
		   unsigned int access, struct vmmem_iotlb_range *out, size_t max, size_t *count,
		   struct vmmem_iova_fault *fault);

/* The message for a failed walk; returns fault->error. */
VMM_COLD int vmm_iotlb_fault_err(const struct vmmem_iova_fault *fault);

#endif /* VMM_IOTLB_H */
