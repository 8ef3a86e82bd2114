/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Preallocation: populating a mapping's pages up front, in parallel (the core's prealloc
 * service, also given to providers). */
#ifndef VMM_PREALLOC_H
#define VMM_PREALLOC_H

#include <stdint.h>

int vmm_prealloc(void *addr, uint64_t length, uint64_t page_size, uint32_t threads);
/* QEMU's thread-count rule: min(requested, cpus, 16, pages, max(1, length / 64 MiB)). */
uint32_t vmm_prealloc_threads(uint64_t length, uint64_t page_size, uint32_t requested,
			      long cpus);

#endif /* VMM_PREALLOC_H */
