/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Placement of a provider's mapping: aligned to align= and the page size, between two
 * PROT_NONE guard pages (the core_api map service). */
#ifndef VMM_PLACEMENT_H
#define VMM_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmmem/provider.h>

/* The guard pages one placed mapping left: [lo, lo + size) and [hi, hi + size), removed
 * after the provider's destroy unmapped what lies between. size 0: none. */
struct vmm_guards {
	uint8_t *lo;
	uint8_t *hi;
	size_t size;
};

/*
 * mmap(@prot, @flags, @fd, @offset) of @length (> 0) bytes at an address aligned to
 * max(@align, @page_size) (both powers of two: config.c and vmm_core_map check them), with
 * one host page of PROT_NONE on each
 * side if @guard. The reservation is one anonymous PROT_NONE mapping that MAP_FIXED then
 * replaces in the middle, so no other thread's mmap can land in between. Returns the
 * address, filling @g, or MAP_FAILED with errno set (and @g empty).
 */
void *vmm_place_map(uint64_t length, uint64_t align, uint64_t page_size, bool guard, int prot,
		    int flags, int fd, uint64_t offset, struct vmm_guards *g);

/* One provider create call, as core_api map finds it: the call running on this thread
 * (vmm_place_begin/end around the provider's create), whose params map must be given. */
struct vmm_place_call {
	uint64_t align; /* align=, 0: the page size */
	bool guard;     /* guard= */
	struct vmmem_provider_params params;
	void *placed;   /* what map returned, NULL before */
	struct vmm_guards guards;
};

/* The provider's create for @call runs on this thread now / has returned. */
void vmm_place_begin(struct vmm_place_call *call);
void vmm_place_end(void);

/* core_api map (vmmem/provider.h): place the mapping of the create call @params belongs
 * to, as its align= and guard= want. */
void *vmm_core_map(const struct vmmem_provider_params *params, uint64_t page_size, int prot,
		   int flags, int fd, uint64_t offset);

/* Remove the guard pages (after the mapping between them is gone); empties @g. */
void vmm_guards_release(struct vmm_guards *g);

#endif /* VMM_PLACEMENT_H */
