/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The epoch read-copy-update domain behind struct vmmem_atomic, for other core objects that
 * publish immutable snapshots (the IOTLB's tables). One domain for the whole process: a
 * guard taken on any atomic, or a section entered here, protects every snapshot at once,
 * so an IOMMU access needs one read section for both the memory and the IOTLB.
 */
#ifndef VMM_ATOMIC_H
#define VMM_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#include <vmmem/atomic.h>

#include "util.h"

struct vmm_reader {
	uint64_t active;         /* atomic: epoch of the outermost guard, 0 when quiescent */
	uint32_t nest;           /* guards held beyond the outermost one (active != 0);
				  * touched only by the owning thread */
	int in_use;              /* atomic: claimed by a live thread */
	struct vmm_reader *next; /* registry list; records are recycled, never freed */
};

/*
 * A translation cached by the calling thread for the rest of its current read section (the
 * IOTLB's per-thread hint, core/iotlb.h): @owner is the object it came from, NULL when none.
 * Leaving the outermost section clears it, so a hint is only ever used inside the section
 * that found it: a translation a reader may keep until its section ends anyway (RCU), and
 * its owner cannot be freed and replaced at the same address before that.
 */
struct vmm_section_hint {
	const void *owner;
	uint64_t first; /* first key covered */
	uint64_t last;  /* last key covered (inclusive) */
	uint64_t value; /* what @first translates to */
	unsigned int flags;
	/* An IOMMU view's reads (iommu.c): where the hint's keys that one plain region
	 * holds live in the host, so a read translated by the hint skips the region lookup.
	 * Set by the view @view that found it; reset with every new hint. */
	const void *view;
	uint64_t host_first, host_span; /* keys (IOVAs) [host_first, host_first + host_span]
					 * inside one region */
	const uint8_t *host;            /* host address of @host_first */
};
extern __thread struct vmm_section_hint vmm_section_hint __attribute__((tls_model("initial-exec")));

/*
 * The memory an IOMMU view's accesses use for the rest of the calling thread's section:
 * what vmmem_iommu_acquire() returned, so that a batch sees one memory from start to end
 * (as a plain caller does with the memory its guard returned), even if a writer publishes
 * another meanwhile. Cleared with the hint when the outermost guard ends.
 */
struct vmm_section_pin {
	const struct vmmem_atomic *owner; /* NULL: none */
	const struct vmmem_memory *memory;
};
extern __thread struct vmm_section_pin vmm_section_pin __attribute__((tls_model("initial-exec")));

/* The calling thread's record, NULL before its first guard. */
extern __thread struct vmm_reader *vmm_reader_self __attribute__((tls_model("initial-exec")));
/* Whether readers rely on the writers' membarrier (set once, before any writer runs). */
extern bool vmm_rcu_membarrier;

/* Is the calling thread inside a read section (any guard)? */
static inline bool vmm_rcu_held(void)
{
	struct vmm_reader *r = vmm_reader_self;

	return r && __atomic_load_n(&r->active, __ATOMIC_RELAXED) != 0;
}

/* Load a pointer published with vmm_rcu_publish(), inside a read section. */
#define vmm_rcu_load(p) \
	__atomic_load_n((p), vmm_rcu_membarrier ? __ATOMIC_ACQUIRE : __ATOMIC_SEQ_CST)

/* Enter / leave a read section (they nest like guards). Enter fails only when this thread's
 * first section finds no reader record (message set, -ENOMEM). */
int vmm_rcu_enter(void);
void vmm_rcu_exit(void);

/* Make sure the domain is set up (writers call it before their first publish). */
void vmm_rcu_init(void);

/* A node that carries one retired object; allocated before the writer changes anything so
 * that publishing never fails (NULL and a message on ENOMEM). Free an unused one with
 * free(). */
struct vmm_retired;
struct vmm_retired *vmm_retired_node(void);

/* Swap *slot to @obj (sequentially consistent, the writer's half of the protocol) and
 * retire the old value: @release(old) runs once no read section that could hold it is
 * left. Writers of one slot must be serialised by their caller. */
void vmm_rcu_publish(void **slot, void *obj, struct vmm_retired *t, void (*release)(void *));

/* Retire @obj (no longer reachable for new readers) with node @t. */
void vmm_rcu_retire(void *obj, struct vmm_retired *t, void (*release)(void *));

/* The memory an atomic currently publishes, inside a read section. */
static inline const struct vmmem_memory *vmm_atomic_current(struct vmmem_atomic *a)
{
	/* The first member of struct vmmem_atomic (core/atomic.c) */
	return vmm_rcu_load((const struct vmmem_memory **)a);
}

#endif /* VMM_ATOMIC_H */
