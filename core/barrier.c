/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Process-wide barriers (barrier.h). */
#define _GNU_SOURCE
#include "barrier.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define VMM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VMM_TSAN 1
#endif
#endif

static bool registered;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;

static void do_register(void)
{
#ifndef VMM_TSAN
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);

	registered = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
		     syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0;
#endif
}

bool
vmm_membarrier_available(void)
{
	pthread_once(&register_once, do_register);
	return registered;
}

void
vmm_membarrier(void)
{
	if (!vmm_membarrier_available())
		return;
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0) != 0) {
		/* Registered commands do not fail; if one did, fence-free readers would be
		 * unprotected, and use-after-free is worse than stopping here. */
		fprintf(stderr, "libvmmem: membarrier(PRIVATE_EXPEDITED) failed after registration\n");
		abort();
	}
}
