/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Preallocation: populating a mapping's pages up front, in parallel (the core's prealloc
 * service, also given to providers). */
#ifndef VMM_PREALLOC_H
#define VMM_PREALLOC_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

int vmm_prealloc(void *addr, uint64_t length, uint64_t page_size, uint32_t threads);

/* What a prealloc may be told beyond the thread count. */
struct vmm_prealloc_opts {
	uint32_t threads;     /* requested (0 means 1), capped by vmm_prealloc_threads */
	bool read_only;       /* the mapping is PROT_READ: populate for reading */
	const cpu_set_t *cpus; /* run every worker on these CPUs (QEMU's prealloc-context:
				* the NUMA policy's nodes), NULL: wherever */
	uint64_t cpus_used;   /* out: bit n set if a worker ran on CPU n (n < 64) */
};

int vmm_prealloc_ex(void *addr, uint64_t length, uint64_t page_size,
		    struct vmm_prealloc_opts *o);
/* QEMU's thread-count rule: min(requested, cpus, 16, pages, max(1, length / 64 MiB)). */
uint32_t vmm_prealloc_threads(uint64_t length, uint64_t page_size, uint32_t requested,
			      long cpus);

#endif /* VMM_PREALLOC_H */
