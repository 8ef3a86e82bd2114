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

struct vmm_iotlb_table {
	uint64_t gen; /* unique in the process, never 0: a hint's key */
	size_t count;
	struct vmm_iotlb_entry e[];
};

struct vmmem_iotlb {
	struct vmm_iotlb_table *table; /* published with vmm_rcu_publish; never NULL */
	unsigned long refs;            /* atomic */
	pthread_mutex_t writer;        /* serialises changes */
	size_t max;
	unsigned int policy;
	uint64_t seq; /* next insertion sequence (under writer) */
	struct vmm_retired *last_node; /* retires the object at the last unref: no allocation */
};

/* The entry this thread translated through last, keyed by its table's generation: tables
 * never change and generations are never reused, so a hint is either exact or ignored. */
struct vmm_iotlb_hint {
	uint64_t gen;
	uint64_t iova;
	uint64_t last;
	uint64_t gpa;
	unsigned int perm;
};
extern __thread struct vmm_iotlb_hint vmm_iotlb_hint __attribute__((tls_model("initial-exec")));

/* The current table, inside a read section. */
static inline const struct vmm_iotlb_table *vmm_iotlb_table(const struct vmmem_iotlb *tlb)
{
	return vmm_rcu_load(&tlb->table);
}

/* Translate [iova, iova + len) (len >= 1, no wrap) when one entry holds it all and allows
 * @access: the per-thread hint first, then a binary search that refreshes the hint. */
bool vmm_iotlb_find(const struct vmm_iotlb_table *t, uint64_t iova, uint64_t len,
		    unsigned int access, uint64_t *gpa);

static inline bool vmm_iotlb_one(const struct vmm_iotlb_table *t, uint64_t iova, uint64_t len,
				 unsigned int access, uint64_t *gpa)
{
	const struct vmm_iotlb_hint *h = &vmm_iotlb_hint;

	if (likely(h->gen == t->gen) && iova - h->iova <= h->last - h->iova &&
	    len - 1 <= h->last - iova && (h->perm & access) == access) {
		*gpa = h->gpa + (iova - h->iova);
		return true;
	}
	return vmm_iotlb_find(t, iova, len, access, gpa);
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
