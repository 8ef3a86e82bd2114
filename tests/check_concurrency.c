/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Concurrency stress, meant for the ThreadSanitizer build (it also runs, shorter, in the
 * others): every path a hypervisor may drive from several threads at once, each for a bounded
 * time (VMMEM_STRESS_MS per test, default 1500 ms; under valgrind 300 ms).
 *
 *  - first use of the library from several threads at once (lazily filled process state);
 *  - contexts created and destroyed in parallel, each loading the same provider plugins
 *    (dlopen, plugin init, dlclose) while other threads create regions through a shared
 *    context (plugin-side state written by init while create reads it);
 *  - regions created in N threads through one context;
 *  - the swappable memory: regions inserted and removed, the vhost log switched, while
 *    readers read and write;
 *  - dirty tracking switched on and off and harvested while writers write.
 *
 * Each test starts its threads before the library has done anything in the process (Check
 * forks a fresh process per test), so a lazily initialised global is first touched by
 * unsynchronised threads, the situation TSan needs to see to report it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define KiB (UINT64_C(1) << 10)
#define NTHREADS 4

static const char *provider_dir;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t stress_ms(void)
{
	const char *v = getenv("VMMEM_STRESS_MS");

	if (v && *v)
		return strtoull(v, NULL, 10);
	return getenv("VMMEM_TEST_UNDER_VALGRIND") ? 300 : 1500;
}

/* Worker bookkeeping: the first failure is kept for the report (each worker its own). */
struct worker {
	unsigned int id;
	pthread_barrier_t *start; /* every worker's first call happens at the same moment */
	uint64_t deadline;
	void *shared;
	unsigned long iterations;
	unsigned int failures;
	char first_failure[256];
};

static void note_failure(struct worker *w, const char *what, int rc)
{
	if (w->failures++ == 0)
		snprintf(w->first_failure, sizeof(w->first_failure), "%s: %d (%s)", what, rc,
			 vmmem_errormsg());
}

static void run_workers(void *(*fn)(void *), struct worker *w, unsigned int n, void *shared)
{
	pthread_t t[NTHREADS + 2];
	uint64_t deadline = now_ms() + stress_ms();
	pthread_barrier_t start;

	ck_assert_uint_le(n, NTHREADS + 2);
	ck_assert_int_eq(pthread_barrier_init(&start, NULL, n), 0);
	for (unsigned int i = 0; i < n; i++) {
		w[i] = (struct worker){ .id = i, .start = &start, .deadline = deadline,
					.shared = shared };
		ck_assert_int_eq(pthread_create(&t[i], NULL, fn, &w[i]), 0);
	}
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_msg(w[i].failures == 0, "worker %u: %u failures, first: %s", i,
			      w[i].failures, w[i].first_failure);
		ck_assert_uint_gt(w[i].iterations, 0);
	}
	pthread_barrier_destroy(&start);
}

/* Loop condition of every worker: the first call waits for all workers to be ready. */
static bool running(struct worker *w)
{
	if (w->iterations == 0) {
		pthread_barrier_wait(w->start);
		return true;
	}
	return now_ms() < w->deadline;
}

/* Write a pattern at @gpa and read it back. */
static void round_trip(struct worker *w, const struct vmmem_memory *m, uint64_t gpa)
{
	uint64_t v = ((uint64_t)w->id << 32) | w->iterations, back = 0;
	int rc = vmmem_memory_write_obj(m, gpa, &v, sizeof(v));

	if (rc == 0)
		rc = vmmem_memory_read_obj(m, gpa, &back, sizeof(back));
	if (rc)
		note_failure(w, "round trip", rc);
	else if (back != v)
		note_failure(w, "round trip: read back another value", -1);
}

/* ---- first use from several threads ---- */

static void *first_use_main(void *arg)
{
	struct worker *w = arg;

	while (running(w)) {
		/* No Check assertions on this path: Check's message lock would order the
		 * threads and hide from TSan exactly the races this test is after. */
		void *host = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct vmmem_region *r = NULL;
		struct vmmem_memory *m = NULL;
		int rc;

		if (host == MAP_FAILED) {
			note_failure(w, "mmap", -errno);
			break;
		}
		rc = vmmem_region_new(&r, w->id * 64 * KiB, 64 * KiB, host,
				      VMMEM_REGION_OWN_MAPPING);
		if (rc) {
			munmap(host, 64 * KiB);
			note_failure(w, "vmmem_region_new", rc);
			break;
		}
		rc = vmmem_memory_new(&m, &r, 1);
		vmmem_region_unref(r);
		if (rc) {
			note_failure(w, "vmmem_memory_new", rc);
			break;
		}
		round_trip(w, m, w->id * 64 * KiB + 8);
		vmmem_memory_unref(m);
		w->iterations++;
	}
	return NULL;
}

/* One fresh process whose threads make its first library calls together; exits 0 if all
 * went well (and, under TSan, 66 if it saw a race). */
static void first_use_child(void)
{
	struct worker w[NTHREADS];
	pthread_barrier_t start;
	pthread_t t[NTHREADS];
	uint64_t deadline = now_ms() + 20;
	int bad = 0;

	if (pthread_barrier_init(&start, NULL, NTHREADS))
		exit(2);
	for (unsigned int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .id = i, .start = &start, .deadline = deadline };
		if (pthread_create(&t[i], NULL, first_use_main, &w[i]))
			exit(2);
	}
	for (unsigned int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failures) {
			fprintf(stderr, "worker %u: %s\n", i, w[i].first_failure);
			bad = 1;
		}
	}
	exit(bad); /* exit, not _exit: TSan reports at exit */
}

/* A race on state filled at first use shows only in the first moments of a process, and
 * TSan sees it only if the accesses land close together: so many fresh processes. */
START_TEST(test_first_use_in_threads)
{
	for (unsigned int round = 0; round < 16; round++) {
		pid_t pid = fork();
		int status;

		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			first_use_child();
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "round %u: the child's first use from %d threads failed (status 0x%x;"
			      " 66 is a ThreadSanitizer report)",
			      round, NTHREADS, (unsigned int)status);
	}
}
END_TEST

/* ---- contexts and plugins ---- */

static const char *const specs[] = {
	"anon:gpa=0,size=64K",
	"memfd:gpa=0,size=64K,share=on",
	"anon:gpa=0,size=64K,share=on,dirty-log=on",
	"memfd:gpa=0,size=64K,seal=off",
};

static void create_and_use(struct worker *w, struct vmmem_ctx *ctx, const char *spec)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = NULL;
	int rc = vmmem_region_create(&r, ctx, spec);

	if (rc) {
		note_failure(w, spec, rc);
		return;
	}
	rc = vmmem_memory_new(&m, &r, 1);
	vmmem_region_unref(r);
	if (rc) {
		note_failure(w, "vmmem_memory_new", rc);
		return;
	}
	round_trip(w, m, 4096);
	vmmem_memory_unref(m);
}

/* Even workers: a private context per iteration (load, init, create, dlclose). Odd workers:
 * regions through the shared context, whose plugins stay loaded. */
static void *ctx_main(void *arg)
{
	struct worker *w = arg;
	struct vmmem_ctx *shared = w->shared;

	while (running(w)) {
		const char *spec = specs[(w->iterations + w->id) % 4];

		if (w->id % 2 == 0) {
			struct vmmem_ctx *ctx = NULL;
			int rc = vmmem_ctx_new(&ctx);

			if (rc == 0)
				rc = vmmem_ctx_set_search_path(ctx, provider_dir);
			if (rc) {
				note_failure(w, "context", rc);
				vmmem_ctx_unref(ctx);
				break;
			}
			if (w->iterations % 8 == 0) {
				size_t failed = 0;

				rc = vmmem_ctx_load_all(ctx, &failed);
				if (rc || failed)
					note_failure(w, "vmmem_ctx_load_all", rc ? rc : (int)failed);
			}
			create_and_use(w, ctx, spec);
			vmmem_ctx_unref(ctx);
		} else {
			create_and_use(w, shared, spec);
		}
		w->iterations++;
	}
	return NULL;
}

static struct vmmem_ctx *provider_ctx(void)
{
	struct vmmem_ctx *ctx = NULL;

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	ck_assert_int_eq(vmmem_ctx_set_search_path(ctx, provider_dir), 0);
	return ctx;
}

START_TEST(test_contexts_and_plugins)
{
	struct vmmem_ctx *shared = provider_ctx();
	struct worker w[NTHREADS];

	run_workers(ctx_main, w, NTHREADS, shared);
	vmmem_ctx_unref(shared);
}
END_TEST

/* Every worker creates through one context; the first create loads the plugin. */
static void *one_ctx_main(void *arg)
{
	struct worker *w = arg;

	while (running(w)) {
		create_and_use(w, w->shared, specs[(w->iterations + w->id) % 4]);
		w->iterations++;
	}
	return NULL;
}

START_TEST(test_regions_in_threads)
{
	struct vmmem_ctx *shared = provider_ctx();
	struct worker w[NTHREADS];

	run_workers(one_ctx_main, w, NTHREADS, shared);
	vmmem_ctx_unref(shared);
}
END_TEST

/* ---- the swappable memory ---- */

#define SWAP_BASE (1024 * KiB) /* the fixed region readers use; hot-plugged ones go above */

struct swap {
	struct vmmem_atomic *a;
	uint64_t log_words[64]; /* covers 64 * 64 * 4 KiB = 16 MiB of GPA */
	uint64_t log_words2[64];
};

static void *swap_reader_main(void *arg)
{
	struct worker *w = arg;
	struct swap *s = w->shared;

	while (running(w)) {
		const struct vmmem_memory *m = vmmem_atomic_acquire(s->a);
		uint64_t v = 0;

		round_trip(w, m, SWAP_BASE + w->id * 8);
		/* The hot-plugged region may or may not be there; either answer is fine. */
		(void)vmmem_memory_read_obj(m, 4 * SWAP_BASE, &v, sizeof(v));
		vmmem_atomic_release(s->a, m);
		w->iterations++;
	}
	return NULL;
}

static void *swap_writer_main(void *arg)
{
	struct worker *w = arg;
	struct swap *s = w->shared;

	while (running(w)) {
		struct vmmem_region *r = tu_anon_region(4 * SWAP_BASE, 64 * KiB, 0), *removed = NULL;
		struct vmmem_vhost_log *log = NULL;
		uint64_t *words = w->iterations % 2 ? s->log_words : s->log_words2;
		int rc = vmmem_atomic_insert_region(s->a, r);

		vmmem_region_unref(r);
		if (rc == 0)
			rc = vmmem_atomic_remove_region(s->a, 4 * SWAP_BASE, 64 * KiB, &removed);
		vmmem_region_unref(removed);
		if (rc == 0)
			rc = vmmem_vhost_log_new(&log, words, sizeof(s->log_words), NULL, NULL);
		if (rc == 0)
			rc = vmmem_atomic_set_vhost_log(s->a, w->iterations % 3 ? log : NULL);
		vmmem_vhost_log_unref(log);
		if (rc)
			note_failure(w, "writer", rc);
		w->iterations++;
	}
	return NULL;
}

static void *swap_main(void *arg)
{
	struct worker *w = arg;

	return w->id == 0 ? swap_writer_main(arg) : swap_reader_main(arg);
}

START_TEST(test_swap_with_readers)
{
	static struct swap s;
	struct vmmem_region *r = tu_anon_region(SWAP_BASE, 64 * KiB, 0);
	struct vmmem_memory *m = NULL;
	struct worker w[NTHREADS];

	ck_assert_int_eq(vmmem_memory_new(&m, &r, 1), 0);
	vmmem_region_unref(r);
	ck_assert_int_eq(vmmem_atomic_new(&s.a, m), 0);
	vmmem_memory_unref(m);
	run_workers(swap_main, w, NTHREADS, &s);
	ck_assert_int_eq(vmmem_atomic_set_vhost_log(s.a, NULL), 0);
	vmmem_atomic_unref(s.a);
}
END_TEST

/* ---- dirty tracking switched during writes ---- */

static void *dirty_main(void *arg)
{
	struct worker *w = arg;
	const struct vmmem_memory *m = w->shared;
	struct vmmem_region *r = vmmem_memory_region_at(m, 0);

	while (running(w)) {
		if (w->id == 0) {
			uint64_t words[4];
			int rc = vmmem_region_dirty_enable(r, 4 * KiB);
			ssize_t n;

			if (rc)
				note_failure(w, "vmmem_region_dirty_enable", rc);
			n = vmmem_region_dirty_get_and_clear(r, 0, 256 * KiB, words, 4);
			(void)n; /* off again by the time it runs: an error is a fine answer */
			if (w->iterations % 2)
				(void)vmmem_region_dirty_disable(r);
		} else {
			round_trip(w, m, (w->iterations * 4 * KiB + w->id * 8) % (256 * KiB));
		}
		w->iterations++;
	}
	return NULL;
}

START_TEST(test_dirty_switch_during_writes)
{
	static const uint64_t ranges[] = { 0, 256 * KiB };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	struct worker w[NTHREADS];

	run_workers(dirty_main, w, NTHREADS, m);
	vmmem_memory_unref(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("concurrency");
	TCase *tc = tcase_create("stress");

	provider_dir = getenv("VMMEM_PROVIDER_PATH");
	if (!provider_dir || !*provider_dir) {
		printf("check_concurrency: VMMEM_PROVIDER_PATH is not set (run through ctest)\n");
		return 77;
	}
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_first_use_in_threads);
	tcase_add_test(tc, test_contexts_and_plugins);
	tcase_add_test(tc, test_regions_in_threads);
	tcase_add_test(tc, test_swap_with_readers);
	tcase_add_test(tc, test_dirty_switch_during_writes);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
