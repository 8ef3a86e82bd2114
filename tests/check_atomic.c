/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Check suite for vmmem/atomic.h: swappable memory with RCU guards (vm-memory's
 * GuestMemoryAtomic): the §3.7 vectors, writers (insert/remove/replace/vhost log), guard
 * lifetimes, nesting, and a reader/writer stress run. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static bool under_valgrind(void)
{
	const char *v = getenv("VMMEM_TEST_UNDER_VALGRIND");

	return v && *v && strcmp(v, "0") != 0;
}

static bool under_tsan(void)
{
#if defined(__SANITIZE_THREAD__)
	return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

/* An atomic over a fresh memory of n (gpa, size) ranges; the atomic holds the only
 * reference to the memory. */
static struct vmmem_atomic *atomic_over(const uint64_t *ranges, size_t n)
{
	struct vmmem_memory *m = tu_anon_memory(ranges, n);
	struct vmmem_atomic *a = NULL;

	ck_assert_int_eq(vmmem_atomic_new(&a, m), 0);
	ck_assert_ptr_nonnull(a);
	vmmem_memory_unref(m);
	return a;
}

/* Is the host page at p mapped? (mincore fails with ENOMEM on unmapped addresses) */
static bool is_mapped(const void *p)
{
	unsigned char vec[1];
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)(tu_page_size() - 1);

	if (mincore((void *)page, 1, vec) == 0)
		return true;
	ck_assert_int_eq(errno, ENOMEM);
	return false;
}

/* Insert a fresh region-owned anonymous region; returns its host address. The atomic's
 * memory holds the only reference afterwards. */
static void *insert_fresh(struct vmmem_atomic *a, uint64_t gpa, uint64_t size)
{
	struct vmmem_region *r = tu_anon_region(gpa, size, 0);
	void *host = vmmem_region_host(r);
	int rc = vmmem_atomic_insert_region(a, r);

	ck_assert_msg(rc == 0, "insert 0x%llx: %d %s", (unsigned long long)gpa, rc,
		      vmmem_errormsg());
	vmmem_region_unref(r);
	return host;
}

static size_t count_now(struct vmmem_atomic *a)
{
	const struct vmmem_memory *m = vmmem_atomic_acquire(a);
	size_t n;

	ck_assert_ptr_nonnull(m);
	n = vmmem_memory_region_count(m);
	vmmem_atomic_release(a, m);
	return n;
}

struct release_info {
	int calls; /* atomic: the callback may run on another thread */
	void *base;
	uint64_t size;
};

static void release_cb(void *opaque, void *base, uint64_t size)
{
	struct release_info *ri = opaque;

	ri->base = base;
	ri->size = size;
	__atomic_add_fetch(&ri->calls, 1, __ATOMIC_SEQ_CST);
}

static int calls(struct release_info *ri)
{
	return __atomic_load_n(&ri->calls, __ATOMIC_SEQ_CST);
}

static struct vmmem_vhost_log *log_new(uint64_t *buf, uint64_t size, struct release_info *ri)
{
	struct vmmem_vhost_log *log = NULL;

	ck_assert_int_eq(vmmem_vhost_log_new(&log, buf, size, ri ? release_cb : NULL, ri), 0);
	ck_assert_ptr_nonnull(log);
	return log;
}

/* A thread that takes a guard, reports, and releases it when told. */
struct holder {
	struct vmmem_atomic *a;
	const struct vmmem_memory *seen;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;       /* 0 start, 1 holding, 2 release now, 3 released */
	int delay_ms;    /* sleep before releasing */
	int released;    /* atomic: set just before the release call */
	int io_ok;       /* the held memory was still readable and writable at release time */
	uint64_t probe;  /* a GPA to read and write before releasing (0: none) */
};

static void holder_set(struct holder *h, int state)
{
	pthread_mutex_lock(&h->lock);
	h->state = state;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static void holder_wait(struct holder *h, int state)
{
	pthread_mutex_lock(&h->lock);
	while (h->state < state)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

static void *holder_main(void *arg)
{
	struct holder *h = arg;
	const struct vmmem_memory *m = vmmem_atomic_acquire(h->a);

	h->seen = m;
	holder_set(h, 1);
	holder_wait(h, 2);
	if (h->delay_ms) {
		struct timespec ts = { .tv_sec = h->delay_ms / 1000,
				       .tv_nsec = (long)(h->delay_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	if (h->probe) {
		uint64_t v = 0x1234, back = 0;

		h->io_ok = vmmem_memory_write_obj(m, h->probe, &v, 8) == 0 &&
			   vmmem_memory_read_obj(m, h->probe, &back, 8) == 0 && back == v;
	} else {
		h->io_ok = vmmem_memory_region_count(m) > 0;
	}
	__atomic_store_n(&h->released, 1, __ATOMIC_SEQ_CST);
	vmmem_atomic_release(h->a, m);
	holder_set(h, 3);
	return NULL;
}

static void holder_start(struct holder *h, pthread_t *t, struct vmmem_atomic *a)
{
	memset(h, 0, sizeof(*h));
	h->a = a;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	ck_assert_int_eq(pthread_create(t, NULL, holder_main, h), 0);
	holder_wait(h, 1);
}

static void holder_finish(struct holder *h, pthread_t t)
{
	holder_set(h, 2);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
}

/* ---------------------------------------------------------------------------------------- */
/* vm-memory §3.7 vectors                                                                   */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_atomic_vectors_snapshot_and_get)
{
	static const uint64_t ranges[] = { 0, 0x400, 0x1000, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2), *ref;
	struct vmmem_atomic *a = NULL;
	const struct vmmem_memory *g, *g2;
	struct vmmem_region *r = NULL;
	uint32_t v = 0xfeedface, back = 0;

	ck_assert_int_eq(vmmem_atomic_new(&a, m), 0);
	g = vmmem_atomic_acquire(a);
	ck_assert_ptr_eq(g, m);
	ck_assert_uint_eq(vmmem_memory_region_count(g), 2);
	ck_assert_int_eq(vmmem_memory_find_region(g, 0x1000, &r), 0);
	ck_assert_uint_eq(vmmem_region_gpa(r), 0x1000);
	ck_assert_int_eq(vmmem_memory_find_region(g, 0x10000, &r), VMMEM_E_UNMAPPED);
	ck_assert_ptr_null(r);
	/* into_inner: a reference that outlives the guard */
	ref = vmmem_atomic_get(a);
	ck_assert_ptr_eq(ref, m);
	/* clone of the guard: a nested guard sees the same memory */
	g2 = vmmem_atomic_acquire(a);
	ck_assert_ptr_eq(g2, g);
	vmmem_atomic_release(a, g2);
	ck_assert_uint_eq(vmmem_memory_region_count(g), 2);
	vmmem_atomic_release(a, g);
	vmmem_memory_unref(m);
	vmmem_atomic_unref(a);
	/* the reference is still valid after the guard and the atomic are gone */
	ck_assert_uint_eq(vmmem_memory_region_count(ref), 2);
	ck_assert_int_eq(vmmem_memory_write_obj(ref, 0x1010, &v, 4), 0);
	ck_assert_int_eq(vmmem_memory_read_obj(ref, 0x1010, &back, 4), 0);
	ck_assert_uint_eq(back, v);
	vmmem_memory_unref(ref);
}
END_TEST

START_TEST(test_atomic_vectors_insert_and_old_snapshot)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x100000, 0x1000 };
	static const uint64_t want[] = { 0, 0x4000, 0x8000, 0xc000, 0x100000 };
	struct vmmem_atomic *a = atomic_over(ranges, 2);
	const struct vmmem_memory *g0 = vmmem_atomic_acquire(a), *g1, *g2;
	struct vmmem_region *dup = tu_anon_region(0x8000, 0x1000, 0);
	struct vmmem_memory *single;
	static const uint64_t one[] = { 0x200000, 0x1000 };

	insert_fresh(a, 0x8000, 0x1000);
	insert_fresh(a, 0x4000, 0x1000);
	insert_fresh(a, 0xc000, 0x1000);
	ck_assert_int_eq(vmmem_atomic_insert_region(a, dup), VMMEM_E_OVERLAP);
	vmmem_region_unref(dup);
	/* the snapshot taken before the inserts still sees 2 regions */
	ck_assert_uint_eq(vmmem_memory_region_count(g0), 2);
	ck_assert_int_eq(vmmem_memory_check_address(g0, 0x8000), VMMEM_E_UNMAPPED);
	g1 = vmmem_atomic_acquire(a);
	ck_assert_ptr_ne(g1, g0);
	ck_assert_uint_eq(vmmem_memory_region_count(g1), 5);
	for (size_t i = 0; i < 5; i++)
		ck_assert_uint_eq(vmmem_region_gpa(vmmem_memory_region_at(g1, i)), want[i]);
	ck_assert_ptr_null(vmmem_memory_region_at(g1, 5));
	/* the untouched regions are shared, not copied */
	ck_assert_ptr_eq(vmmem_memory_region_at(g0, 0), vmmem_memory_region_at(g1, 0));
	ck_assert_ptr_eq(vmmem_memory_region_at(g0, 1), vmmem_memory_region_at(g1, 4));
	vmmem_atomic_release(a, g1);
	ck_assert_uint_eq(vmmem_memory_region_count(g0), 2);
	vmmem_atomic_release(a, g0);
	ck_assert_uint_eq(count_now(a), 5);

	/* replace: snapshots before keep the old map, new ones see the replacement */
	g2 = vmmem_atomic_acquire(a);
	single = tu_anon_memory(one, 1);
	ck_assert_int_eq(vmmem_atomic_replace(a, single), 0);
	g1 = vmmem_atomic_acquire(a);
	ck_assert_ptr_eq(g1, single);
	ck_assert_uint_eq(vmmem_memory_region_count(g1), 1);
	ck_assert_uint_eq(vmmem_memory_region_count(g2), 5);
	vmmem_atomic_release(a, g1);
	vmmem_atomic_release(a, g2);
	/* the atomic took its own reference */
	vmmem_memory_unref(single);
	g1 = vmmem_atomic_acquire(a);
	ck_assert_uint_eq(vmmem_region_gpa(vmmem_memory_region_at(g1, 0)), 0x200000);
	vmmem_atomic_release(a, g1);
	vmmem_atomic_unref(a);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Writers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_atomic_remove_region)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x4000, 0x1000, 0x8000, 0x2000 };
	struct vmmem_atomic *a = atomic_over(ranges, 3);
	struct vmmem_region *removed = (struct vmmem_region *)&removed, *r4;
	const struct vmmem_memory *g = vmmem_atomic_acquire(a), *g2;

	r4 = vmmem_memory_region_at(g, 1);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x4000, 0x1000, &removed), 0);
	ck_assert_ptr_eq(removed, r4);
	ck_assert_uint_eq(vmmem_region_gpa(removed), 0x4000);
	ck_assert_uint_eq(vmmem_region_size(removed), 0x1000);
	g2 = vmmem_atomic_acquire(a);
	ck_assert_uint_eq(vmmem_memory_region_count(g2), 2);
	ck_assert_int_eq(vmmem_memory_check_address(g2, 0x4000), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_check_address(g, 0x4000), 0);
	vmmem_atomic_release(a, g2);
	vmmem_atomic_release(a, g);
	/* the removed region is ours now (one reference), usable on its own */
	ck_assert_uint_eq(vmmem_region_gpa(removed), 0x4000);
	removed = vmmem_region_unref(removed);

	/* failures publish nothing */
	g = vmmem_atomic_acquire(a);
	removed = (struct vmmem_region *)&removed;
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x8000, 0x1000, &removed),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_ptr_null(removed);
	removed = (struct vmmem_region *)&removed;
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x8800, 0x1800, &removed),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_ptr_null(removed);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x4000, 0x1000, NULL),
			 VMMEM_E_NO_SUCH_REGION);
	g2 = vmmem_atomic_acquire(a);
	ck_assert_ptr_eq(g2, g);
	vmmem_atomic_release(a, g2);
	vmmem_atomic_release(a, g);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x8000, 0x2000, NULL), 0);
	ck_assert_uint_eq(count_now(a), 1);
	/* Removing the last region publishes an empty memory; a guard taken before still
	 * sees the region. */
	g = vmmem_atomic_acquire(a);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0, 0x1000, &removed), 0);
	ck_assert_ptr_nonnull(removed);
	ck_assert_uint_eq(vmmem_memory_region_count(g), 1);
	g2 = vmmem_atomic_acquire(a);
	ck_assert_uint_eq(vmmem_memory_region_count(g2), 0);
	vmmem_atomic_release(a, g2);
	vmmem_atomic_release(a, g);
	/* ... and a region can be added back to it. */
	ck_assert_int_eq(vmmem_atomic_insert_region(a, removed), 0);
	ck_assert_uint_eq(count_now(a), 1);
	vmmem_region_unref(removed);
	vmmem_atomic_unref(a);
}
END_TEST

START_TEST(test_atomic_null_arguments)
{
	static const uint64_t ranges[] = { 0, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	struct vmmem_atomic *a = (struct vmmem_atomic *)&a, *good;
	struct vmmem_region *r = tu_anon_region(0x10000, 0x1000, 0);
	struct vmmem_region *removed = r;
	const struct vmmem_memory *g;

	ck_assert_int_eq(vmmem_atomic_new(NULL, m), -EINVAL);
	ck_assert_int_eq(vmmem_atomic_new(&a, NULL), -EINVAL);
	ck_assert_ptr_null(a);
	ck_assert_ptr_null(vmmem_atomic_ref(NULL));
	ck_assert_ptr_null(vmmem_atomic_unref(NULL));
	ck_assert_ptr_null(vmmem_atomic_acquire(NULL));
	vmmem_atomic_release(NULL, m);
	ck_assert_ptr_null(vmmem_atomic_get(NULL));
	ck_assert_int_eq(vmmem_atomic_replace(NULL, m), -EINVAL);
	ck_assert_int_eq(vmmem_atomic_insert_region(NULL, r), -EINVAL);
	ck_assert_int_eq(vmmem_atomic_remove_region(NULL, 0, 0x1000, &removed), -EINVAL);
	ck_assert_ptr_null(removed);
	ck_assert_int_eq(vmmem_atomic_set_vhost_log(NULL, NULL), -EINVAL);

	ck_assert_int_eq(vmmem_atomic_new(&good, m), 0);
	ck_assert_int_eq(vmmem_atomic_replace(good, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_atomic_insert_region(good, NULL), -EINVAL);
	/* release with NULL is ignored: the guard stays held and usable */
	g = vmmem_atomic_acquire(good);
	vmmem_atomic_release(good, NULL);
	ck_assert_ptr_eq(g, m);
	ck_assert_uint_eq(vmmem_memory_region_count(g), 1);
	vmmem_atomic_release(good, g);
	ck_assert_uint_eq(count_now(good), 1);
	vmmem_atomic_unref(good);
	vmmem_region_unref(r);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_atomic_ref_unref)
{
	static const uint64_t ranges[] = { 0x100000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	struct vmmem_atomic *a = NULL;
	void *host = vmmem_region_host(vmmem_memory_region_at(m, 0));

	ck_assert_int_eq(vmmem_atomic_new(&a, m), 0);
	vmmem_memory_unref(m); /* the atomic holds the only reference now */
	ck_assert_ptr_eq(vmmem_atomic_ref(a), a);
	ck_assert_ptr_eq(vmmem_atomic_ref(a), a);
	ck_assert_ptr_null(vmmem_atomic_unref(a));
	ck_assert_ptr_null(vmmem_atomic_unref(a));
	/* still alive with one reference */
	ck_assert_uint_eq(count_now(a), 1);
	ck_assert(is_mapped(host));
	ck_assert_ptr_null(vmmem_atomic_unref(a));
	/* the last reference freed the memory (and so the region's mapping) */
	ck_assert(!is_mapped(host));
}
END_TEST

/* Word i of a vhost-user log: little-endian 64-bit words whatever the host (vhost-user
 * spec). */
static uint64_t log_word(const uint64_t *log, size_t i)
{
	return vmmem_le64_to_cpu_raw(log[i]);
}

START_TEST(test_atomic_set_vhost_log)
{
	static const uint64_t ranges[] = { 0, 0x10000 };
	struct vmmem_atomic *a = atomic_over(ranges, 1);
	uint64_t *tiny_buf = calloc(1, 8), *buf1 = calloc(1, 8), *buf2 = calloc(1, 8);
	struct release_info ri1 = { 0 }, ri2 = { 0 }, rit = { 0 };
	struct vmmem_vhost_log *tiny = log_new(tiny_buf, 1, &rit), *log1, *log2;
	const struct vmmem_memory *g, *g2, *before;
	struct vmmem_region *far = tu_anon_region(0x100000, 0x1000, 0);
	struct holder h;
	pthread_t t;

	/* too small: -ENOBUFS, nothing published, the log not kept */
	before = vmmem_atomic_acquire(a);
	ck_assert_int_eq(vmmem_atomic_set_vhost_log(a, tiny), -ENOBUFS);
	g = vmmem_atomic_acquire(a);
	ck_assert_ptr_eq(g, before);
	ck_assert_ptr_null(vmmem_memory_vhost_log(g));
	vmmem_atomic_release(a, g);
	vmmem_atomic_release(a, before);
	vmmem_vhost_log_unref(tiny);
	ck_assert_int_eq(calls(&rit), 1);

	log1 = log_new(buf1, 8, &ri1);
	ck_assert_int_eq(vmmem_atomic_set_vhost_log(a, log1), 0);
	vmmem_vhost_log_unref(log1); /* the published memory holds it */
	ck_assert_int_eq(calls(&ri1), 0);
	g = vmmem_atomic_acquire(a);
	ck_assert_ptr_eq(vmmem_memory_vhost_log(g), log1);
	ck_assert_int_eq(vmmem_memory_store_u8(g, 0x1000, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_uint_eq(log_word(buf1, 0), 2);
	/* a region the log does not cover cannot be added */
	ck_assert_int_eq(vmmem_atomic_insert_region(a, far), -ENOBUFS);
	ck_assert_uint_eq(count_now(a), 1);

	/* switch logs while guard g (taken before) is held: log1 stays until g goes */
	log2 = log_new(buf2, 8, &ri2);
	ck_assert_int_eq(vmmem_atomic_set_vhost_log(a, log2), 0);
	vmmem_vhost_log_unref(log2);
	ck_assert_int_eq(calls(&ri1), 0);
	g2 = vmmem_atomic_acquire(a);
	ck_assert_ptr_eq(vmmem_memory_vhost_log(g2), log2);
	ck_assert_ptr_eq(vmmem_memory_vhost_log(g), log1);
	ck_assert_int_eq(vmmem_memory_store_u8(g, 0x2000, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_uint_eq(log_word(buf1, 0), 6);
	vmmem_atomic_release(a, g2);
	ck_assert_int_eq(calls(&ri1), 0);
	vmmem_atomic_release(a, g);
	ck_assert_int_eq(calls(&ri1), 1);
	ck_assert_ptr_eq(ri1.base, buf1);
	ck_assert_uint_eq(ri1.size, 8);

	/* a guard held by another thread keeps log2 until that thread releases */
	holder_start(&h, &t, a);
	ck_assert_ptr_eq(vmmem_memory_vhost_log(h.seen), log2);
	ck_assert_int_eq(vmmem_atomic_set_vhost_log(a, NULL), 0);
	g = vmmem_atomic_acquire(a);
	ck_assert_ptr_null(vmmem_memory_vhost_log(g));
	vmmem_atomic_release(a, g);
	ck_assert_int_eq(calls(&ri2), 0);
	holder_finish(&h, t);
	ck_assert_int_eq(h.io_ok, 1);
	ck_assert_int_eq(calls(&ri2), 1);
	ck_assert_int_eq(calls(&ri1), 1);
	/* without a log the far region fits */
	ck_assert_int_eq(vmmem_atomic_insert_region(a, far), 0);
	ck_assert_uint_eq(count_now(a), 2);
	vmmem_region_unref(far);
	vmmem_atomic_unref(a);
	free(tiny_buf);
	free(buf1);
	free(buf2);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Guard lifetimes                                                                          */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_atomic_old_memory_freed_on_last_release)
{
	static const uint64_t ranges[] = { 0, 0x1000 };
	struct vmmem_atomic *a = atomic_over(ranges, 1);
	const struct vmmem_memory *g, *g2;
	struct vmmem_region *removed = NULL;
	struct vmmem_memory *ref;
	void *host;

	/* a removed region lives as long as the last guard on the old memory */
	host = insert_fresh(a, 0x100000, 0x1000);
	g = vmmem_atomic_acquire(a);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x100000, 0x1000, NULL), 0);
	ck_assert(is_mapped(host));
	g2 = vmmem_atomic_acquire(a);
	ck_assert_uint_eq(vmmem_memory_region_count(g2), 1);
	vmmem_atomic_release(a, g2);
	ck_assert(is_mapped(host));
	ck_assert_int_eq(vmmem_memory_store_u64(g, 0x100008, 7, VMMEM_ORDER_RELAXED), 0);
	vmmem_atomic_release(a, g);
	ck_assert(!is_mapped(host));

	/* ... and a removed-region reference keeps it beyond that */
	host = insert_fresh(a, 0x100000, 0x1000);
	g = vmmem_atomic_acquire(a);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x100000, 0x1000, &removed), 0);
	vmmem_atomic_release(a, g);
	ck_assert(is_mapped(host));
	ck_assert_ptr_eq(vmmem_region_host(removed), host);
	vmmem_region_unref(removed);
	ck_assert(!is_mapped(host));

	/* ... and so does a memory reference taken under the guard */
	host = insert_fresh(a, 0x100000, 0x1000);
	g = vmmem_atomic_acquire(a);
	ref = vmmem_memory_ref((struct vmmem_memory *)(uintptr_t)g);
	vmmem_atomic_release(a, g);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x100000, 0x1000, NULL), 0);
	ck_assert(is_mapped(host));
	ck_assert_int_eq(vmmem_memory_store_u64(ref, 0x100008, 7, VMMEM_ORDER_RELAXED), 0);
	vmmem_memory_unref(ref);
	ck_assert(!is_mapped(host));

	/* with no guard held, a writer frees the old memory right away */
	host = insert_fresh(a, 0x100000, 0x1000);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x100000, 0x1000, NULL), 0);
	ck_assert(!is_mapped(host));
	vmmem_atomic_unref(a);
}
END_TEST

START_TEST(test_atomic_nested_guards_one_atomic)
{
	static const uint64_t ranges[] = { 0, 0x1000 };
	struct vmmem_atomic *a = atomic_over(ranges, 1);
	void *h1 = insert_fresh(a, 0x100000, 0x1000), *h2;
	const struct vmmem_memory *g1, *g2, *g3;

	g1 = vmmem_atomic_acquire(a);
	h2 = insert_fresh(a, 0x200000, 0x1000);
	g2 = vmmem_atomic_acquire(a);
	ck_assert_uint_eq(vmmem_memory_region_count(g1), 2);
	ck_assert_uint_eq(vmmem_memory_region_count(g2), 3);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x100000, 0x1000, NULL), 0);
	ck_assert_int_eq(vmmem_atomic_remove_region(a, 0x200000, 0x1000, NULL), 0);
	g3 = vmmem_atomic_acquire(a);
	ck_assert_uint_eq(vmmem_memory_region_count(g3), 1);
	/* released out of order: each memory stays valid until its own release */
	vmmem_atomic_release(a, g1);
	ck_assert(is_mapped(h2));
	ck_assert_int_eq(vmmem_memory_store_u32(g2, 0x200000, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_memory_store_u32(g2, 0x100000, 1, VMMEM_ORDER_RELAXED), 0);
	vmmem_atomic_release(a, g3);
	ck_assert(is_mapped(h2));
	ck_assert(is_mapped(h1));
	vmmem_atomic_release(a, g2);
	ck_assert(!is_mapped(h1));
	ck_assert(!is_mapped(h2));
	vmmem_atomic_unref(a);
}
END_TEST

START_TEST(test_atomic_nested_guards_two_atomics)
{
	static const uint64_t ranges[] = { 0, 0x1000 };
	struct vmmem_atomic *a1 = atomic_over(ranges, 1), *a2 = atomic_over(ranges, 1);
	void *h1 = insert_fresh(a1, 0x100000, 0x1000), *h2 = insert_fresh(a2, 0x100000, 0x1000);
	const struct vmmem_memory *g1 = vmmem_atomic_acquire(a1), *g2 = vmmem_atomic_acquire(a2);
	uint64_t v = 0;

	ck_assert_ptr_ne(g1, g2);
	ck_assert_int_eq(vmmem_atomic_remove_region(a1, 0x100000, 0x1000, NULL), 0);
	ck_assert_int_eq(vmmem_atomic_remove_region(a2, 0x100000, 0x1000, NULL), 0);
	ck_assert_uint_eq(count_now(a1), 1);
	ck_assert_uint_eq(count_now(a2), 1);
	ck_assert(is_mapped(h1));
	ck_assert(is_mapped(h2));
	/* release the first atomic's guard first: the second's memory stays valid */
	vmmem_atomic_release(a1, g1);
	ck_assert(is_mapped(h2));
	ck_assert_int_eq(vmmem_memory_store_u64(g2, 0x100000, 9, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_memory_load_u64(g2, 0x100000, VMMEM_ORDER_RELAXED, &v), 0);
	ck_assert_uint_eq(v, 9);
	vmmem_atomic_release(a2, g2);
	ck_assert(!is_mapped(h1));
	ck_assert(!is_mapped(h2));

	/* and the other order */
	h1 = insert_fresh(a1, 0x100000, 0x1000);
	h2 = insert_fresh(a2, 0x100000, 0x1000);
	g1 = vmmem_atomic_acquire(a1);
	g2 = vmmem_atomic_acquire(a2);
	ck_assert_int_eq(vmmem_atomic_remove_region(a1, 0x100000, 0x1000, NULL), 0);
	ck_assert_int_eq(vmmem_atomic_remove_region(a2, 0x100000, 0x1000, NULL), 0);
	vmmem_atomic_release(a2, g2);
	ck_assert(is_mapped(h1));
	ck_assert_int_eq(vmmem_memory_store_u64(g1, 0x100000, 9, VMMEM_ORDER_RELAXED), 0);
	vmmem_atomic_release(a1, g1);
	ck_assert(!is_mapped(h1));
	ck_assert(!is_mapped(h2));
	vmmem_atomic_unref(a1);
	vmmem_atomic_unref(a2);
}
END_TEST

START_TEST(test_atomic_509_regions)
{
	static const uint64_t ranges[] = { 0, 0x1000 };
	struct vmmem_atomic *a = atomic_over(ranges, 1);
	const struct vmmem_memory *g0 = vmmem_atomic_acquire(a), *g;
	enum { N = 509 };

	for (uint64_t i = 0; i < N; i++) {
		insert_fresh(a, (i + 1) * 0x2000, 0x1000);
		ck_assert_uint_eq(count_now(a), i + 2);
	}
	/* a guard from before sees the original memory */
	ck_assert_uint_eq(vmmem_memory_region_count(g0), 1);
	vmmem_atomic_release(a, g0);
	g = vmmem_atomic_acquire(a);
	ck_assert_uint_eq(vmmem_memory_region_count(g), N + 1);
	for (uint64_t i = 0; i <= N; i++) {
		struct vmmem_region *r = NULL;

		ck_assert_uint_eq(vmmem_region_gpa(vmmem_memory_region_at(g, i)), i * 0x2000);
		ck_assert_int_eq(vmmem_memory_find_region(g, i * 0x2000 + 0xfff, &r), 0);
		ck_assert_ptr_eq(r, vmmem_memory_region_at(g, i));
		ck_assert_int_eq(vmmem_memory_check_address(g, i * 0x2000 + 0x1000),
				 VMMEM_E_UNMAPPED);
	}
	vmmem_atomic_release(a, g);
	/* remove the odd ones, then the even ones, newest first */
	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t i = N; i >= 1; i--) {
			struct vmmem_region *removed = NULL;

			if ((i % 2) != (uint64_t)(pass == 0))
				continue;
			ck_assert_int_eq(vmmem_atomic_remove_region(a, i * 0x2000, 0x1000, &removed),
					 0);
			ck_assert_uint_eq(vmmem_region_gpa(removed), i * 0x2000);
			vmmem_region_unref(removed);
		}
		ck_assert_uint_eq(count_now(a), pass == 0 ? 1 + N / 2 : 1);
	}
	g = vmmem_atomic_acquire(a);
	ck_assert_uint_eq(vmmem_region_gpa(vmmem_memory_region_at(g, 0)), 0);
	vmmem_atomic_release(a, g);
	vmmem_atomic_unref(a);
}
END_TEST

/* The last unref while another thread holds a guard: the guard's memory stays usable. */
START_TEST(test_atomic_unref_keeps_guarded_memory)
{
	static const uint64_t ranges[] = { 0x100000, 0x1000 };
	struct vmmem_atomic *a = atomic_over(ranges, 1);
	void *host;
	struct holder h;
	pthread_t t;

	holder_start(&h, &t, a);
	host = vmmem_region_host(vmmem_memory_region_at(h.seen, 0));
	h.probe = 0x100010;
	vmmem_atomic_unref(a);
	/* the holder still has its guard: its memory is alive */
	ck_assert_int_eq(__atomic_load_n(&h.released, __ATOMIC_SEQ_CST), 0);
	ck_assert(is_mapped(host));
	holder_finish(&h, t);
	ck_assert_int_eq(h.io_ok, 1);
	ck_assert(!is_mapped(host));
}
END_TEST

/* atomic.h: "The last [unref] waits until no guard on this object is held by any thread". */
START_TEST(test_atomic_unref_does_not_wait_for_guards)
{
	static const uint64_t ranges[] = { 0x100000, 0x1000 };
	struct vmmem_atomic *a = atomic_over(ranges, 1);
	struct holder h;
	pthread_t t;
	int released_before_return;

	holder_start(&h, &t, a);
	h.delay_ms = 300;
	holder_set(&h, 2); /* the holder sleeps, then uses its guard and releases it */
	vmmem_atomic_unref(a); /* the last reference: must not wait for the holder */
	released_before_return = __atomic_load_n(&h.released, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	pthread_mutex_destroy(&h.lock);
	pthread_cond_destroy(&h.cond);
	ck_assert_msg(released_before_return == 0,
		      "the last vmmem_atomic_unref waited for another thread's guard");
	/* The guard held across the unref stayed valid: the holder's accesses worked. */
	ck_assert_int_eq(h.io_ok, 1);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Stress: readers see one consistent snapshot while a writer hot-plugs                     */
/* ---------------------------------------------------------------------------------------- */

#define ST_READERS 4
#define ST_SLOTS 128u
#define ST_SLOT_BASE UINT64_C(0x100000)
#define ST_SLOT_STRIDE UINT64_C(0x10000)
#define ST_SPACE (ST_SLOT_BASE + ST_SLOTS * ST_SLOT_STRIDE)
#define ST_MAX_LIVE 64u
#define ST_MAX_GEN (1u << 17)
#define ST_PERM_SIZE UINT64_C(0x10000)
#define ST_PERM_SERIAL UINT64_C(0x5045524d414e454e)
#define ST_LOG_BYTES 4096u

/* Every region starts with this header, written before it is published. */
struct st_header {
	uint64_t serial;
	uint64_t gpa;
	uint64_t check; /* ~serial */
};

/* What the writer published as generation g (fields accessed atomically). */
struct st_gen {
	uint64_t count;
	uint64_t xor;
	uint64_t has_log;
};

struct stress {
	struct vmmem_atomic *a;
	struct st_gen *gens;
	uint64_t cur_gen; /* atomic: last generation fully published */
	int stop;         /* atomic */
	int failed;       /* atomic */
	char msg[512];
	int logs_created, logs_released; /* atomic */
	struct timespec deadline;
	unsigned long max_ops;
	unsigned long ops[5];
	unsigned long iters[ST_READERS];
};

struct st_reader {
	struct stress *st;
	unsigned int id;
	uint64_t seed;
};

static void st_fail(struct stress *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void st_fail(struct stress *st, const char *fmt, ...)
{
	if (__atomic_exchange_n(&st->failed, 1, __ATOMIC_SEQ_CST) == 0) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
		va_end(ap);
	}
	__atomic_store_n(&st->stop, 1, __ATOMIC_SEQ_CST);
}

static uint64_t st_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static bool past(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* Fingerprint of a snapshot: region count and XOR of the header serials; checks each
 * region's header and the list's order on the way. false (after st_fail) on a problem. */
static bool st_fingerprint(struct stress *st, const struct vmmem_memory *m, uint64_t *count,
			   uint64_t *xor)
{
	size_t n = vmmem_memory_region_count(m);
	uint64_t x = 0, prev_end = 0;

	if (n < 1 || n > ST_MAX_LIVE + 1) {
		st_fail(st, "snapshot has %zu regions", n);
		return false;
	}
	if (vmmem_memory_region_at(m, n) != NULL) {
		st_fail(st, "region_at(count) is not NULL");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct vmmem_region *r = vmmem_memory_region_at(m, i), *found = NULL;
		struct st_header h;
		int rc;

		if (!r) {
			st_fail(st, "region_at(%zu) of %zu is NULL", i, n);
			return false;
		}
		if (i > 0 && vmmem_region_gpa(r) < prev_end) {
			st_fail(st, "regions out of order at %zu", i);
			return false;
		}
		prev_end = vmmem_region_gpa(r) + vmmem_region_size(r);
		rc = vmmem_memory_find_region(m, vmmem_region_last(r), &found);
		if (rc != 0 || found != r) {
			st_fail(st, "find_region(last byte of region %zu): %d", i, rc);
			return false;
		}
		rc = vmmem_memory_read_obj(m, vmmem_region_gpa(r), &h, sizeof(h));
		if (rc != 0 || h.gpa != vmmem_region_gpa(r) || h.check != ~h.serial) {
			st_fail(st, "region %zu at 0x%llx: header rc %d gpa 0x%llx serial %llx/%llx", i,
				(unsigned long long)vmmem_region_gpa(r), rc,
				(unsigned long long)h.gpa, (unsigned long long)h.serial,
				(unsigned long long)h.check);
			return false;
		}
		x ^= h.serial;
	}
	*count = n;
	*xor = x;
	return true;
}

static void st_reader_iteration(struct st_reader *rd, unsigned long iter,
				struct vmmem_memory **held)
{
	struct stress *st = rd->st;
	uint64_t g_before = __atomic_load_n(&st->cur_gen, __ATOMIC_ACQUIRE);
	const struct vmmem_memory *m = vmmem_atomic_acquire(st->a);
	uint64_t g_after = __atomic_load_n(&st->cur_gen, __ATOMIC_ACQUIRE);
	uint64_t count, xor, count2, xor2, has_log;
	bool matched = false;

	if (!m) {
		st_fail(st, "acquire returned NULL");
		return;
	}
	if (!st_fingerprint(st, m, &count, &xor))
		goto out;
	has_log = vmmem_memory_vhost_log(m) != NULL;
	/* The snapshot is one of the generations published while we acquired. */
	for (uint64_t g = g_before; g <= g_after + 1 && g < ST_MAX_GEN; g++) {
		const struct st_gen *e = &st->gens[g];

		if (__atomic_load_n(&e->count, __ATOMIC_RELAXED) == count &&
		    __atomic_load_n(&e->xor, __ATOMIC_RELAXED) == xor &&
		    __atomic_load_n(&e->has_log, __ATOMIC_RELAXED) == has_log) {
			matched = true;
			break;
		}
	}
	if (!matched) {
		st_fail(st, "reader %u: snapshot (%llu regions, xor %llx, log %llu) is no generation in "
			    "[%llu, %llu]",
			rd->id, (unsigned long long)count, (unsigned long long)xor,
			(unsigned long long)has_log, (unsigned long long)g_before,
			(unsigned long long)g_after + 1);
		goto out;
	}
	/* Random lookups agree with the snapshot's region list. */
	for (int k = 0; k < 8; k++) {
		uint64_t gpa = st_rand(&rd->seed) % ST_SPACE;
		struct vmmem_region *r = NULL;
		bool want = false;

		for (size_t i = 0; i < count; i++)
			if (vmmem_region_contains(vmmem_memory_region_at(m, i), gpa))
				want = true;
		if (vmmem_memory_address_in_range(m, gpa) != want ||
		    (vmmem_memory_find_region(m, gpa, &r) == 0) != want) {
			st_fail(st, "lookup of 0x%llx disagrees with the region list",
				(unsigned long long)gpa);
			goto out;
		}
	}
	/* Round trips: the permanent region, and a dynamic region of the snapshot. */
	{
		uint64_t gpa = 0x1000 * (rd->id + 1) + (iter % 64) * 8, v = (iter << 8) | rd->id,
			 back = 0;
		size_t i = (size_t)(st_rand(&rd->seed) % count);
		struct vmmem_region *r = vmmem_memory_region_at(m, i);

		if (vmmem_memory_write_obj(m, gpa, &v, 8) != 0 ||
		    vmmem_memory_read_obj(m, gpa, &back, 8) != 0 || back != v) {
			st_fail(st, "round trip at 0x%llx failed", (unsigned long long)gpa);
			goto out;
		}
		gpa = vmmem_region_gpa(r) + 0x100 + rd->id * 8;
		if (vmmem_memory_store_u64(m, gpa, v, VMMEM_ORDER_RELEASE) != 0 ||
		    vmmem_memory_load_u64(m, gpa, VMMEM_ORDER_ACQUIRE, &back) != 0 || back != v) {
			st_fail(st, "round trip at 0x%llx (region %zu) failed", (unsigned long long)gpa,
				i);
			goto out;
		}
	}
	/* A nested guard now and then. */
	if (iter % 4 == 1) {
		const struct vmmem_memory *m2 = vmmem_atomic_acquire(st->a);

		if (!m2 || vmmem_memory_region_count(m2) < 1)
			st_fail(st, "nested acquire failed");
		vmmem_atomic_release(st->a, m2);
	}
	/* A long-lived reference now and then, dropped a while later. */
	if (iter % 32 == 0) {
		vmmem_memory_unref(*held);
		*held = vmmem_memory_ref((struct vmmem_memory *)(uintptr_t)m);
	}
	/* The snapshot never changed under us. */
	if (!st_fingerprint(st, m, &count2, &xor2))
		goto out;
	if (count2 != count || xor2 != xor)
		st_fail(st, "snapshot changed while guarded");
out:
	vmmem_atomic_release(st->a, m);
}

static void *st_reader_main(void *arg)
{
	struct st_reader *rd = arg;
	struct vmmem_memory *held = NULL;
	unsigned long iter = 0;

	while (!__atomic_load_n(&rd->st->stop, __ATOMIC_ACQUIRE)) {
		st_reader_iteration(rd, iter, &held);
		iter++;
		if (held && iter % 32 == 16) {
			/* check the held memory is intact before dropping it */
			uint64_t c, x;

			st_fingerprint(rd->st, held, &c, &x);
			held = vmmem_memory_unref(held);
		}
	}
	vmmem_memory_unref(held);
	rd->st->iters[rd->id] = iter;
	return NULL;
}

static void st_log_release(void *opaque, void *base, uint64_t size)
{
	struct stress *st = opaque;

	(void)size;
	free(base);
	__atomic_add_fetch(&st->logs_released, 1, __ATOMIC_SEQ_CST);
}

/* The writer's model of the published memory. */
struct st_model {
	uint64_t serial[ST_SLOTS]; /* 0: slot free */
	uint64_t size[ST_SLOTS];
	unsigned int live;
	uint64_t xor;
	bool has_log;
	uint64_t gen;
	uint64_t next_serial;
	struct vmmem_region *graveyard[8]; /* removed regions whose reference we keep a while */
};

static void st_publish_gen(struct stress *st, struct st_model *md)
{
	struct st_gen *e = &st->gens[md->gen + 1];

	__atomic_store_n(&e->count, (uint64_t)md->live + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&e->xor, md->xor ^ ST_PERM_SERIAL, __ATOMIC_RELAXED);
	__atomic_store_n(&e->has_log, (uint64_t)md->has_log, __ATOMIC_RELAXED);
}

static void st_published(struct stress *st, struct st_model *md)
{
	md->gen++;
	__atomic_store_n(&st->cur_gen, md->gen, __ATOMIC_RELEASE);
}

static unsigned int st_pick(struct st_model *md, uint64_t *seed, bool live)
{
	unsigned int start = (unsigned int)(st_rand(seed) % ST_SLOTS);

	for (unsigned int k = 0; k < ST_SLOTS; k++) {
		unsigned int s = (start + k) % ST_SLOTS;

		if ((md->serial[s] != 0) == live)
			return s;
	}
	return ST_SLOTS;
}

static bool st_insert(struct stress *st, struct st_model *md, uint64_t *seed)
{
	unsigned int s = st_pick(md, seed, false);
	uint64_t gpa = ST_SLOT_BASE + s * ST_SLOT_STRIDE;
	uint64_t size = 0x1000 * (1 + st_rand(seed) % 4);
	struct vmmem_region *r = NULL;
	struct st_header *h;
	void *p;
	int rc;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		st_fail(st, "mmap failed");
		return false;
	}
	h = p;
	h->serial = (md->next_serial++ << 20) ^ (st_rand(seed) & 0xfffff) ^ UINT64_C(0x1000000000);
	h->gpa = gpa;
	h->check = ~h->serial;
	rc = vmmem_region_new(&r, gpa, size, p, VMMEM_REGION_OWN_MAPPING);
	if (rc) {
		munmap(p, size);
		st_fail(st, "region_new: %d", rc);
		return false;
	}
	if (st_rand(seed) % 4 == 0 && vmmem_region_dirty_enable(r, 0) != 0) {
		vmmem_region_unref(r);
		st_fail(st, "dirty_enable failed");
		return false;
	}
	md->serial[s] = h->serial;
	md->size[s] = size;
	md->live++;
	md->xor ^= h->serial;
	st_publish_gen(st, md);
	rc = vmmem_atomic_insert_region(st->a, r);
	vmmem_region_unref(r);
	if (rc) {
		st_fail(st, "insert at 0x%llx: %d", (unsigned long long)gpa, rc);
		return false;
	}
	st_published(st, md);
	return true;
}

/* Forget slot s in the model (the caller publishes). */
static uint64_t st_forget(struct st_model *md, unsigned int s)
{
	md->xor ^= md->serial[s];
	md->serial[s] = 0;
	md->live--;
	return md->size[s];
}

static bool st_remove(struct stress *st, struct st_model *md, uint64_t *seed)
{
	unsigned int s = st_pick(md, seed, true);
	uint64_t gpa = ST_SLOT_BASE + s * ST_SLOT_STRIDE, size = st_forget(md, s);
	bool keep = st_rand(seed) % 2 == 0;
	struct vmmem_region *removed = NULL;
	int rc;

	st_publish_gen(st, md);
	rc = vmmem_atomic_remove_region(st->a, gpa, size, keep ? &removed : NULL);
	if (rc) {
		st_fail(st, "remove 0x%llx: %d", (unsigned long long)gpa, rc);
		return false;
	}
	st_published(st, md);
	if (keep) {
		unsigned int k = (unsigned int)(st_rand(seed) % 8);

		if (vmmem_region_gpa(removed) != gpa || vmmem_region_size(removed) != size) {
			vmmem_region_unref(removed);
			st_fail(st, "removed region is not 0x%llx", (unsigned long long)gpa);
			return false;
		}
		vmmem_region_unref(md->graveyard[k]);
		md->graveyard[k] = removed;
	}
	return true;
}

/* Replace with a copy-on-write derivative: minus one region (keeps the log), or a memory
 * rebuilt from the same regions (no log). */
static bool st_replace(struct stress *st, struct st_model *md, uint64_t *seed, bool rebuild)
{
	struct vmmem_memory *cur = vmmem_atomic_get(st->a), *next = NULL;
	int rc;

	if (!cur) {
		st_fail(st, "atomic_get returned NULL");
		return false;
	}
	if (rebuild) {
		size_t n = vmmem_memory_region_count(cur);
		struct vmmem_region *regs[ST_MAX_LIVE + 1];

		for (size_t i = 0; i < n && i <= ST_MAX_LIVE; i++)
			regs[i] = vmmem_memory_region_at(cur, i);
		rc = vmmem_memory_new(&next, regs, n);
		md->has_log = false;
	} else {
		unsigned int s = st_pick(md, seed, true);
		uint64_t gpa = ST_SLOT_BASE + s * ST_SLOT_STRIDE, size = st_forget(md, s);

		rc = vmmem_memory_remove_region(cur, gpa, size, &next, NULL);
	}
	vmmem_memory_unref(cur);
	if (rc) {
		st_fail(st, "building the replacement: %d", rc);
		return false;
	}
	st_publish_gen(st, md);
	rc = vmmem_atomic_replace(st->a, next);
	vmmem_memory_unref(next);
	if (rc) {
		st_fail(st, "replace: %d", rc);
		return false;
	}
	st_published(st, md);
	return true;
}

static bool st_toggle_log(struct stress *st, struct st_model *md)
{
	struct vmmem_vhost_log *log = NULL;
	int rc;

	if (!md->has_log) {
		void *buf = calloc(ST_LOG_BYTES / 8, 8);

		if (!buf || vmmem_vhost_log_new(&log, buf, ST_LOG_BYTES, st_log_release, st) != 0) {
			free(buf);
			st_fail(st, "creating a log failed");
			return false;
		}
		__atomic_add_fetch(&st->logs_created, 1, __ATOMIC_SEQ_CST);
	}
	md->has_log = !md->has_log;
	st_publish_gen(st, md);
	rc = vmmem_atomic_set_vhost_log(st->a, log);
	vmmem_vhost_log_unref(log); /* the published memory holds its own */
	if (rc) {
		st_fail(st, "set_vhost_log: %d", rc);
		return false;
	}
	st_published(st, md);
	return true;
}

static void *st_writer_main(void *arg)
{
	struct stress *st = arg;
	struct st_model *md = calloc(1, sizeof(*md));
	uint64_t seed = UINT64_C(0x2545f4914f6cdd1d);
	unsigned long op = 0;

	if (!md) {
		st_fail(st, "out of memory");
		return NULL;
	}
	md->next_serial = 1;
	while (!__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE) && op < st->max_ops &&
	       md->gen + 2 < ST_MAX_GEN && !past(&st->deadline)) {
		unsigned int c = (unsigned int)(st_rand(&seed) % 20);
		bool ok;

		if (md->live < 8 || (c < 9 && md->live < ST_MAX_LIVE)) {
			ok = st_insert(st, md, &seed);
			st->ops[0]++;
		} else if (c < 17 || md->live >= ST_MAX_LIVE) {
			ok = st_remove(st, md, &seed);
			st->ops[1]++;
		} else if (c < 18) {
			ok = st_replace(st, md, &seed, false);
			st->ops[2]++;
		} else if (c < 19) {
			ok = st_replace(st, md, &seed, true);
			st->ops[3]++;
		} else {
			ok = st_toggle_log(st, md);
			st->ops[4]++;
		}
		if (!ok)
			break;
		op++;
	}
	for (int k = 0; k < 8; k++)
		vmmem_region_unref(md->graveyard[k]);
	free(md);
	__atomic_store_n(&st->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(test_atomic_stress_readers_and_writer)
{
	struct stress *st = calloc(1, sizeof(*st));
	struct st_reader rd[ST_READERS];
	pthread_t tr[ST_READERS], tw;
	struct vmmem_region *perm;
	struct vmmem_memory *m;
	struct st_header *h;
	unsigned long total = 0;
	long seconds = 2;

	ck_assert_ptr_nonnull(st);
	st->gens = calloc(ST_MAX_GEN, sizeof(*st->gens));
	ck_assert_ptr_nonnull(st->gens);
	st->max_ops = ULONG_MAX;
	if (under_valgrind()) {
		st->max_ops = 10000;
		seconds = 20;
	} else if (under_tsan()) {
		st->max_ops = 20000;
	}
	clock_gettime(CLOCK_MONOTONIC, &st->deadline);
	st->deadline.tv_sec += seconds;

	/* generation 0: the permanent region alone */
	perm = tu_anon_region(0, ST_PERM_SIZE, 0);
	h = vmmem_region_host(perm);
	h->serial = ST_PERM_SERIAL;
	h->gpa = 0;
	h->check = ~ST_PERM_SERIAL;
	ck_assert_int_eq(vmmem_memory_new(&m, &perm, 1), 0);
	vmmem_region_unref(perm);
	st->gens[0] = (struct st_gen){ .count = 1, .xor = ST_PERM_SERIAL, .has_log = 0 };
	ck_assert_int_eq(vmmem_atomic_new(&st->a, m), 0);
	vmmem_memory_unref(m);

	for (unsigned int i = 0; i < ST_READERS; i++) {
		rd[i] = (struct st_reader){ .st = st, .id = i,
					    .seed = UINT64_C(0x9e3779b97f4a7c15) * (i + 1) };
		ck_assert_int_eq(pthread_create(&tr[i], NULL, st_reader_main, &rd[i]), 0);
	}
	ck_assert_int_eq(pthread_create(&tw, NULL, st_writer_main, st), 0);
	ck_assert_int_eq(pthread_join(tw, NULL), 0);
	for (unsigned int i = 0; i < ST_READERS; i++)
		ck_assert_int_eq(pthread_join(tr[i], NULL), 0);
	ck_assert_msg(st->failed == 0, "%s", st->msg);
	for (unsigned int i = 0; i < ST_READERS; i++)
		total += st->iters[i];
	ck_assert_uint_gt(st->ops[0], 0);
	ck_assert_uint_gt(st->cur_gen, 0);
	/* readers always see at least the permanent region and their last write */
	{
		const struct vmmem_memory *g = vmmem_atomic_acquire(st->a);

		ck_assert_uint_ge(vmmem_memory_region_count(g), 1);
		vmmem_atomic_release(st->a, g);
	}
	if (getenv("VMMEM_TEST_VERBOSE"))
		fprintf(stderr,
			"stress: %llu generations; inserts %lu, removes %lu, replaces %lu + %lu, log "
			"switches %lu; %lu reader iterations; %d logs\n",
			(unsigned long long)st->cur_gen, st->ops[0], st->ops[1], st->ops[2], st->ops[3],
			st->ops[4], total, st->logs_created);
	vmmem_atomic_unref(st->a);
	/* every log ever published was released exactly once, once nothing held it */
	ck_assert_int_eq(__atomic_load_n(&st->logs_released, __ATOMIC_SEQ_CST),
			 __atomic_load_n(&st->logs_created, __ATOMIC_SEQ_CST));
	free(st->gens);
	free(st);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------------------- */
/* synchronize: wait out guards taken before the call                                        */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_atomic_synchronize_waits_for_older_guards)
{
	static const uint64_t ranges[] = { 0x100000, 0x1000 };
	struct vmmem_atomic *a = atomic_over(ranges, 1);
	struct holder h;
	pthread_t t;

	holder_start(&h, &t, a);
	h.delay_ms = 100;
	holder_set(&h, 2); /* the holder sleeps, then releases */
	ck_assert_int_eq(vmmem_atomic_synchronize(a), 0);
	/* Ordering, not timing: synchronize returned only after the older guard went. */
	ck_assert_int_eq(__atomic_load_n(&h.released, __ATOMIC_SEQ_CST), 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	pthread_mutex_destroy(&h.lock);
	pthread_cond_destroy(&h.cond);
	/* With no guard held anywhere it returns at once. */
	ck_assert_int_eq(vmmem_atomic_synchronize(a), 0);
	vmmem_atomic_unref(a);
}
END_TEST

START_TEST(test_atomic_synchronize_bad_calls)
{
	static const uint64_t ranges[] = { 0x100000, 0x1000 };
	struct vmmem_atomic *a = atomic_over(ranges, 1);
	const struct vmmem_memory *g;

	ck_assert_int_eq(vmmem_atomic_synchronize(NULL), -EINVAL);
	g = vmmem_atomic_acquire(a);
	ck_assert_ptr_nonnull(g);
	/* Waiting for one's own guard would never end. */
	ck_assert_int_eq(vmmem_atomic_synchronize(a), -EDEADLK);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "holds a guard"));
	vmmem_atomic_release(a, g);
	ck_assert_int_eq(vmmem_atomic_synchronize(a), 0);
	vmmem_atomic_unref(a);
}
END_TEST


static Suite *atomic_suite(void)
{
	Suite *s = suite_create("atomic");
	TCase *tc;

	tc = tcase_create("vectors");
	tcase_add_test(tc, test_atomic_vectors_snapshot_and_get);
	tcase_add_test(tc, test_atomic_vectors_insert_and_old_snapshot);
	suite_add_tcase(s, tc);

	tc = tcase_create("writers");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_atomic_remove_region);
	tcase_add_test(tc, test_atomic_null_arguments);
	tcase_add_test(tc, test_atomic_ref_unref);
	tcase_add_test(tc, test_atomic_set_vhost_log);
	tcase_add_test(tc, test_atomic_509_regions);
	suite_add_tcase(s, tc);

	tc = tcase_create("guards");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_atomic_old_memory_freed_on_last_release);
	tcase_add_test(tc, test_atomic_nested_guards_one_atomic);
	tcase_add_test(tc, test_atomic_nested_guards_two_atomics);
	tcase_add_test(tc, test_atomic_unref_keeps_guarded_memory);
	tcase_add_test(tc, test_atomic_unref_does_not_wait_for_guards);
	suite_add_tcase(s, tc);

	tc = tcase_create("synchronize");
	tcase_add_test(tc, test_atomic_synchronize_waits_for_older_guards);
	tcase_add_test(tc, test_atomic_synchronize_bad_calls);
	suite_add_tcase(s, tc);

	tc = tcase_create("stress");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_atomic_stress_readers_and_writer);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tu_run_suite(atomic_suite());
}
