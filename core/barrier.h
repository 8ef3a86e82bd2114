/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Process-wide barriers: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full
 * memory barrier on every CPU currently running a thread of this process. A control-path
 * writer pays for it so that the data path's readers need no fence at all (the asymmetric
 * pattern of docs/MEMORY-ORDERING.md): the swappable memory's writers, and dirty tracking
 * being switched on while writers run.
 */
#ifndef VMM_BARRIER_H
#define VMM_BARRIER_H

#include <stdbool.h>

/* Is the expedited membarrier registered for this process? Registers it on the first call
 * (thread-safe). Always false under ThreadSanitizer, which does not model it: those builds
 * use the sequentially consistent fallback everywhere. */
bool vmm_membarrier_available(void);

/* A full barrier on every thread of the process, if vmm_membarrier_available(); nothing
 * otherwise. Aborts if the kernel refuses the registered command: readers would then run
 * unprotected. */
void vmm_membarrier(void);

#endif /* VMM_BARRIER_H */
