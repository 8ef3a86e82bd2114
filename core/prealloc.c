/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Preallocation: populate a mapping with MADV_POPULATE_WRITE over several threads, turning
 * what would be a SIGBUS at first touch into an error at creation. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prealloc.h"
#include "error.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define MAX_THREADS 16                   /* QEMU's MAX_MEM_PREALLOC_THREAD_COUNT */
#define BYTES_PER_THREAD (UINT64_C(64) << 20) /* no thread for less than 64 MiB */

uint32_t
vmm_prealloc_threads(uint64_t length, uint64_t page_size, uint32_t requested, long cpus)
{
	uint64_t n = requested ? requested : 1;
	uint64_t pages = page_size ? length / page_size : 0;
	uint64_t by_size = length / BYTES_PER_THREAD;

	if (cpus > 0 && (uint64_t)cpus < n)
		n = (uint64_t)cpus;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	if (n > pages)
		n = pages;
	if (n > (by_size ? by_size : 1))
		n = by_size ? by_size : 1;
	return n ? (uint32_t)n : 1;
}

struct job {
	uint8_t *start;
	uint64_t length;
	uint64_t page_size;
	int error; /* -errno */
	bool read_only;
	int cpu;   /* where the populating ran, -1 if unknown */
	struct start_gate *gate;
};

/* All workers are created before any starts faulting: thread creation takes the mmap lock
 * too, and populating while threads are still being created convoys on it (QEMU 037fb5eb39). */
struct start_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state; /* 0 wait, 1 go, -1 abort */
};

static int gate_wait(struct start_gate *g)
{
	int s;

	pthread_mutex_lock(&g->lock);
	while (g->state == 0)
		pthread_cond_wait(&g->cond, &g->lock);
	s = g->state;
	pthread_mutex_unlock(&g->lock);
	return s;
}

static void gate_open(struct start_gate *g, int state)
{
	pthread_mutex_lock(&g->lock);
	g->state = state;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void populate(struct job *j)
{
	j->cpu = sched_getcpu();
	if (madvise(j->start, j->length,
		    j->read_only ? MADV_POPULATE_READ : MADV_POPULATE_WRITE) == 0)
		return;
	if (errno != EINVAL) {
		j->error = -errno;
		return;
	}
	/* Kernels before 5.14: touch each page, keeping its contents (read, write back; only
	 * read where the mapping is read-only). */
	for (uint64_t off = 0; off < j->length; off += j->page_size) {
		volatile uint8_t *p = j->start + off;
		uint8_t v = *p;

		if (!j->read_only)
			*p = v;
	}
}

static void *worker(void *arg)
{
	struct job *j = arg;

	if (gate_wait(j->gate) > 0)
		populate(j);
	return NULL;
}

int
vmm_prealloc(void *addr, uint64_t length, uint64_t page_size, uint32_t threads)
{
	struct vmm_prealloc_opts o = { .threads = threads };

	return vmm_prealloc_ex(addr, length, page_size, &o);
}

int
vmm_prealloc_ex(void *addr, uint64_t length, uint64_t page_size, struct vmm_prealloc_opts *o)
{
	struct start_gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	struct job jobs[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	pthread_attr_t attr;
	/* With a CPU set every job gets a worker placed there (the caller's thread may run
	 * anywhere); otherwise the caller's thread takes job 0. */
	uint32_t n, first = o->cpus ? 0 : 1, started;
	uint64_t pages, off = 0;
	long cpus = o->cpus ? CPU_COUNT(o->cpus) : sysconf(_SC_NPROCESSORS_ONLN);
	int rc = 0;

	o->cpus_used = 0;
	if (!addr || !page_size || (page_size & (page_size - 1)) || length % page_size)
		return vmm_err(-EINVAL, "prealloc: %p + 0x%llx is not a whole number of 0x%llx pages",
			       addr, (unsigned long long)length, (unsigned long long)page_size);
	n = vmm_prealloc_threads(length, page_size, o->threads, cpus);
	pages = length / page_size;
	/* Even split; the first (pages % n) threads take one page more. */
	for (uint32_t i = 0; i < n; i++) {
		uint64_t count = pages / n + (i < pages % n);

		jobs[i] = (struct job){ .start = (uint8_t *)addr + off, .length = count * page_size,
					.page_size = page_size, .read_only = o->read_only,
					.cpu = -1, .gate = &gate };
		off += count * page_size;
	}
	pthread_attr_init(&attr);
	if (o->cpus && pthread_attr_setaffinity_np(&attr, sizeof(*o->cpus), o->cpus) != 0)
		first = 1; /* cannot place them: fall back to the unplaced split */
	for (started = first; started < n; started++)
		if (pthread_create(&tids[started], &attr, worker, &jobs[started]) != 0)
			break;
	pthread_attr_destroy(&attr);
	/* Fewer threads than planned still do all the work: the caller's thread takes the
	 * jobs of the threads that could not be created. */
	gate_open(&gate, 1);
	if (first)
		populate(&jobs[0]);
	for (uint32_t i = started; i < n; i++)
		populate(&jobs[i]);
	for (uint32_t i = first; i < started; i++)
		pthread_join(tids[i], NULL);
	for (uint32_t i = 0; i < n; i++)
		if (jobs[i].cpu >= 0 && jobs[i].cpu < 64)
			o->cpus_used |= UINT64_C(1) << jobs[i].cpu;
	for (uint32_t i = 0; i < n && !rc; i++)
		if (jobs[i].error)
			rc = vmm_err(jobs[i].error,
				     "prealloc of 0x%llx bytes at %p failed at %p: %s%s",
				     (unsigned long long)length, addr, (void *)jobs[i].start,
				     vmmem_strerror(jobs[i].error),
				     jobs[i].error == -EFAULT || jobs[i].error == -ENOMEM
					     ? " (not enough memory or huge pages)"
					     : "");
	return rc;
}
