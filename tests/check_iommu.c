/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Check suite for vmmem/iommu.h: the IOTLB (vm-memory 0.18's vectors, limits, bad input) and
 * accesses by IOVA (permissions, misses and the miss handler, pass-through, dirty logging by
 * GPA, views, fd I/O, hotplug, concurrent invalidation). */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RW VMMEM_ACCESS_RW
#define RD VMMEM_ACCESS_READ
#define WR VMMEM_ACCESS_WRITE

static struct vmmem_iotlb *new_tlb(size_t max, unsigned int policy)
{
	struct vmmem_iotlb *t = NULL;
	int rc = vmmem_iotlb_new(&t, max, policy);

	ck_assert_msg(rc == 0, "vmmem_iotlb_new: %s", vmmem_errormsg());
	return t;
}

static void update_ok(struct vmmem_iotlb *t, uint64_t iova, uint64_t size, uint64_t gpa,
		      unsigned int perm)
{
	int rc = vmmem_iotlb_update(t, iova, size, gpa, perm);

	ck_assert_msg(rc == 0, "update(0x%llx, 0x%llx): %d %s", (unsigned long long)iova,
		      (unsigned long long)size, rc, vmmem_errormsg());
}

/* Lookup expected to succeed with exactly the @n pieces given as (iova, gpa, len). */
static void expect_pieces(struct vmmem_iotlb *t, uint64_t iova, uint64_t len,
			  unsigned int access, const uint64_t *want, size_t n)
{
	struct vmmem_iotlb_range out[8];
	size_t count = 99;
	int rc = vmmem_iotlb_lookup(t, iova, len, access, out, 8, &count, NULL);

	ck_assert_msg(rc == 0, "lookup(%llu, %llu): %d %s", (unsigned long long)iova,
		      (unsigned long long)len, rc, vmmem_errormsg());
	ck_assert_uint_eq(count, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(out[i].iova, want[3 * i]);
		ck_assert_uint_eq(out[i].gpa, want[3 * i + 1]);
		ck_assert_uint_eq(out[i].len, want[3 * i + 2]);
	}
}

/* Lookup expected to fail with @err, naming [f_iova, f_iova + f_len). */
static void expect_fault(struct vmmem_iotlb *t, uint64_t iova, uint64_t len, unsigned int access,
			 int err, uint64_t f_iova, uint64_t f_len)
{
	struct vmmem_iotlb_range out[8];
	struct vmmem_iova_fault f = { 0 };
	size_t count = 99;
	int rc = vmmem_iotlb_lookup(t, iova, len, access, out, 8, &count, &f);

	ck_assert_int_eq(rc, err);
	ck_assert_uint_eq(count, 0);
	ck_assert_int_eq(f.error, err);
	ck_assert_uint_eq(f.iova, f_iova);
	ck_assert_uint_eq(f.len, f_len);
	ck_assert_uint_eq(f.access, access);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "iova 0x"));
}

/* ---- IOTLB: vm-memory 0.18 vectors (research §3.7) ----------------------------------- */

START_TEST(test_iotlb_merge_and_split)
{
	struct vmmem_iotlb *t = new_tlb(64, VMMEM_IOTLB_EVICT_OLDEST);

	/* 42->87 len 123, 165->210 len 234: continuous in both spaces, one range. */
	update_ok(t, 42, 123, 87, RW);
	update_ok(t, 165, 234, 210, RW);
	ck_assert_int_eq(vmmem_iotlb_count(t), 1);
	expect_pieces(t, 42, 357, RW, (const uint64_t[]){ 42, 87, 357 }, 1);
	expect_pieces(t, 164, 2, RW, (const uint64_t[]){ 164, 209, 2 }, 1);
	vmmem_iotlb_unref(t);

	/* 42->87 len 123, 165->87 len 234: two IOVA ranges onto one base never merge. */
	t = new_tlb(64, VMMEM_IOTLB_EVICT_OLDEST);
	update_ok(t, 42, 123, 87, RW);
	update_ok(t, 165, 234, 87, RW);
	ck_assert_int_eq(vmmem_iotlb_count(t), 2);
	expect_pieces(t, 42, 357, RW, (const uint64_t[]){ 42, 87, 123, 165, 87, 234 }, 2);
	vmmem_iotlb_unref(t);
}
END_TEST

START_TEST(test_iotlb_permissions)
{
	struct vmmem_iotlb *t = new_tlb(64, VMMEM_IOTLB_EVICT_OLDEST);

	update_ok(t, 42, 123, 87, RD);
	update_ok(t, 165, 234, 210, WR);
	ck_assert_int_eq(vmmem_iotlb_count(t), 2); /* same diff, other permission: no merge */
	/* RW fails on both entries: the first is reported, the second on its own. */
	expect_fault(t, 42, 357, RW, VMMEM_E_IOTLB_DENIED, 42, 123);
	expect_fault(t, 165, 234, RW, VMMEM_E_IOTLB_DENIED, 165, 234);
	expect_fault(t, 42, 357, RD, VMMEM_E_IOTLB_DENIED, 165, 234);
	expect_fault(t, 42, 357, WR, VMMEM_E_IOTLB_DENIED, 42, 123);
	/* No access asked: both hit; continuous in GPA space, so one piece. */
	expect_pieces(t, 42, 357, 0, (const uint64_t[]){ 42, 87, 357 }, 1);
	/* A permission-0 entry is mapped but allows nothing. */
	update_ok(t, 1000, 10, 5000, 0);
	expect_fault(t, 1000, 10, RD, VMMEM_E_IOTLB_DENIED, 1000, 10);
	expect_pieces(t, 1000, 10, 0, (const uint64_t[]){ 1000, 5000, 10 }, 1);
	vmmem_iotlb_unref(t);
}
END_TEST

START_TEST(test_iotlb_invalidate_exact)
{
	struct vmmem_iotlb *t = new_tlb(64, VMMEM_IOTLB_EVICT_OLDEST);
	uint64_t gen;

	update_ok(t, 42, 123, 87, RW);
	gen = vmmem_iotlb_generation(t);
	ck_assert_uint_ne(gen, 0);
	ck_assert_int_eq(vmmem_iotlb_invalidate(t, 103, 3), 1);
	ck_assert_uint_ne(vmmem_iotlb_generation(t), gen);
	ck_assert_int_eq(vmmem_iotlb_count(t), 2);
	expect_pieces(t, 42, 61, RW, (const uint64_t[]){ 42, 87, 61 }, 1);
	expect_fault(t, 42, 123, RW, VMMEM_E_IOTLB_MISS, 103, 3);
	expect_pieces(t, 106, 59, RW, (const uint64_t[]){ 106, 151, 59 }, 1);
	ck_assert_int_eq(vmmem_iotlb_invalidate_all(t), 2);
	ck_assert_int_eq(vmmem_iotlb_count(t), 0);
	expect_fault(t, 42, 123, RW, VMMEM_E_IOTLB_MISS, 42, 123);
	vmmem_iotlb_unref(t);
}
END_TEST

/* ---- IOTLB: overlaps, limits, bad input ---------------------------------------------- */

START_TEST(test_iotlb_overlapping_updates)
{
	struct vmmem_iotlb *t = new_tlb(64, VMMEM_IOTLB_EVICT_OLDEST);

	update_ok(t, 0x1000, 0x2000, 0x10000, RW);
	/* The second half is remapped elsewhere: the first entry is cut, not dropped. */
	update_ok(t, 0x2000, 0x1000, 0x50000, RD);
	expect_pieces(t, 0x1000, 0x2000, RD,
		      (const uint64_t[]){ 0x1000, 0x10000, 0x1000, 0x2000, 0x50000, 0x1000 }, 2);
	/* A hole punched into the middle of the first: three entries. */
	update_ok(t, 0x1800, 0x100, 0x90000, WR);
	ck_assert_int_eq(vmmem_iotlb_count(t), 4);
	expect_pieces(t, 0x1000, 0x1000, 0,
		      (const uint64_t[]){ 0x1000, 0x10000, 0x800, 0x1800, 0x90000, 0x100,
					  0x1900, 0x10900, 0x700 }, 3);
	/* Re-mapping the original translation merges everything back into one entry. */
	update_ok(t, 0x1800, 0x100, 0x10800, RW);
	ck_assert_int_eq(vmmem_iotlb_count(t), 2);
	/* An update covering everything replaces everything. */
	update_ok(t, 0, 0x10000, 0x700000, RD);
	ck_assert_int_eq(vmmem_iotlb_count(t), 1);
	expect_pieces(t, 0x1000, 0x2000, RD, (const uint64_t[]){ 0x1000, 0x701000, 0x2000 }, 1);
	/* Not mapped: invalidation is a no-op that keeps the generation. */
	uint64_t gen = vmmem_iotlb_generation(t);

	ck_assert_int_eq(vmmem_iotlb_invalidate(t, 0x20000, 0x1000), 0);
	ck_assert_uint_eq(vmmem_iotlb_generation(t), gen);
	vmmem_iotlb_unref(t);
}
END_TEST

START_TEST(test_iotlb_top_of_space)
{
	struct vmmem_iotlb *t = new_tlb(8, VMMEM_IOTLB_EVICT_OLDEST);

	/* The last byte may be 2^64 - 1, on either side. */
	update_ok(t, UINT64_MAX - 0xfff, 0x1000, 0x1000, RW);
	update_ok(t, 0, 0x1000, UINT64_MAX - 0xfff, RW);
	expect_pieces(t, UINT64_MAX, 1, RW, (const uint64_t[]){ UINT64_MAX, 0x1fff, 1 }, 1);
	expect_pieces(t, 0xfff, 1, RW, (const uint64_t[]){ 0xfff, UINT64_MAX, 1 }, 1);
	/* An entry ending at GPA 2^64 - 1 does not "continue" into GPA 0. */
	update_ok(t, 0x1000, 0x1000, 0, RW);
	ck_assert_int_eq(vmmem_iotlb_count(t), 3);
	expect_pieces(t, 0xfff, 2, RW, (const uint64_t[]){ 0xfff, UINT64_MAX, 1, 0x1000, 0, 1 }, 2);
	ck_assert_int_eq(vmmem_iotlb_update(t, UINT64_MAX - 0xfff, 0x1001, 0, RW), -EOVERFLOW);
	ck_assert_int_eq(vmmem_iotlb_update(t, 0, 0x1001, UINT64_MAX - 0xfff, RW), -EOVERFLOW);
	ck_assert_int_eq(vmmem_iotlb_invalidate(t, UINT64_MAX, 2), -EOVERFLOW);
	ck_assert_int_eq(vmmem_iotlb_invalidate(t, UINT64_MAX, 1), 1);
	vmmem_iotlb_unref(t);
}
END_TEST

START_TEST(test_iotlb_limit_evicts_oldest)
{
	struct vmmem_iotlb *t = new_tlb(4, VMMEM_IOTLB_EVICT_OLDEST);

	/* Five entries that cannot merge (each maps to a lower GPA than the last). */
	for (uint64_t i = 0; i < 5; i++)
		update_ok(t, i * 0x1000, 0x1000, 0x100000 - i * 0x10000, RW);
	ck_assert_int_eq(vmmem_iotlb_count(t), 4);
	expect_fault(t, 0, 0x1000, RD, VMMEM_E_IOTLB_MISS, 0, 0x1000); /* the oldest went */
	expect_pieces(t, 0x4000, 0x1000, RD, (const uint64_t[]){ 0x4000, 0xc0000, 0x1000 }, 1);
	/* Re-mapping an old entry makes it the newest: the next eviction takes 0x2000. */
	update_ok(t, 0x1000, 0x1000, 0x300000, RW);
	update_ok(t, 0x9000, 0x1000, 0x500000, RW);
	expect_fault(t, 0x2000, 0x1000, RD, VMMEM_E_IOTLB_MISS, 0x2000, 0x1000);
	expect_pieces(t, 0x1000, 0x1000, RD, (const uint64_t[]){ 0x1000, 0x300000, 0x1000 }, 1);
	/* A split of a full table evicts, it never grows past the limit. */
	update_ok(t, 0x1400, 0x100, 0x900000, RW);
	ck_assert_int_le(vmmem_iotlb_count(t), 4);
	expect_pieces(t, 0x1400, 0x100, RD, (const uint64_t[]){ 0x1400, 0x900000, 0x100 }, 1);
	vmmem_iotlb_unref(t);
}
END_TEST

START_TEST(test_iotlb_limit_refuses)
{
	struct vmmem_iotlb *t = new_tlb(2, VMMEM_IOTLB_REFUSE);
	uint64_t gen;

	update_ok(t, 0, 0x1000, 0x50000, RW);
	update_ok(t, 0x2000, 0x1000, 0x10000, RW);
	gen = vmmem_iotlb_generation(t);
	ck_assert_int_eq(vmmem_iotlb_update(t, 0x4000, 0x1000, 0x90000, RW), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "full"));
	ck_assert_uint_eq(vmmem_iotlb_generation(t), gen);
	ck_assert_int_eq(vmmem_iotlb_count(t), 2);
	/* Replacing an entry in place still fits. */
	update_ok(t, 0x2000, 0x1000, 0x30000, RD);
	/* An invalidation that splits an entry never fails for room: the oldest goes. */
	ck_assert_int_eq(vmmem_iotlb_invalidate(t, 0x2400, 0x100), 1);
	ck_assert_int_eq(vmmem_iotlb_count(t), 2);
	expect_fault(t, 0x2400, 0x100, 0, VMMEM_E_IOTLB_MISS, 0x2400, 0x100);
	vmmem_iotlb_unref(t);
}
END_TEST

START_TEST(test_iotlb_bad_input)
{
	struct vmmem_iotlb *t = (struct vmmem_iotlb *)1;
	struct vmmem_iotlb_range r;
	size_t count;

	ck_assert_int_eq(vmmem_iotlb_new(NULL, 4, 0), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_new(&t, 0, 0), -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(vmmem_iotlb_new(&t, VMMEM_IOTLB_MAX_ENTRIES + 1, 0), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_new(&t, 4, 2), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "policy"));
	t = new_tlb(4, VMMEM_IOTLB_EVICT_OLDEST);
	ck_assert_int_eq(vmmem_iotlb_update(NULL, 0, 1, 0, RW), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_update(t, 0, 0, 0, RW), VMMEM_E_ZERO_SIZE);
	ck_assert_int_eq(vmmem_iotlb_update(t, 0, 1, 0, 4), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_update(t, UINT64_MAX, 2, 0, RW), -EOVERFLOW);
	ck_assert_int_eq(vmmem_iotlb_invalidate(NULL, 0, 1), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_invalidate(t, 0, 0), VMMEM_E_ZERO_SIZE);
	ck_assert_int_eq(vmmem_iotlb_invalidate_all(NULL), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_invalidate_all(t), 0);
	ck_assert_int_eq(vmmem_iotlb_count(NULL), -EINVAL);
	ck_assert_uint_eq(vmmem_iotlb_generation(NULL), 0);
	ck_assert_int_eq(vmmem_iotlb_lookup(t, 0, 1, RD, &r, 1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_lookup(NULL, 0, 1, RD, &r, 1, &count, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_lookup(t, 0, 1, RD, NULL, 1, &count, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_lookup(t, 0, 1, 4, &r, 1, &count, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_lookup(t, 2, UINT64_MAX, RD, &r, 1, &count, NULL), -EOVERFLOW);
	ck_assert_int_eq(vmmem_iotlb_lookup(t, 5, 0, RD, NULL, 0, &count, NULL), 0);
	ck_assert_uint_eq(count, 0);
	/* More pieces than room: success, the count says how many, the first are written. */
	update_ok(t, 0, 0x1000, 0x9000, RW);
	update_ok(t, 0x1000, 0x1000, 0x3000, RW);
	ck_assert_int_eq(vmmem_iotlb_lookup(t, 0, 0x2000, RD, &r, 1, &count, NULL), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_uint_eq(r.gpa, 0x9000);
	ck_assert_ptr_null(vmmem_iotlb_unref(NULL));
	ck_assert_ptr_null(vmmem_iotlb_ref(NULL));
	ck_assert_ptr_eq(vmmem_iotlb_ref(t), t);
	vmmem_iotlb_unref(t);
	vmmem_iotlb_unref(t);
}
END_TEST

/* ---- the caller-side cache ---- */

START_TEST(test_iotlb_cache)
{
	struct vmmem_iotlb *t = new_tlb(8, VMMEM_IOTLB_EVICT_OLDEST), *t2 = new_tlb(8, 0);
	struct vmmem_iotlb_cache c = { 0 };
	uint64_t gpa = 0;

	update_ok(t, 0x10000, 0x1000, 0x50000, RD);
	update_ok(t, 0x11000, 0x1000, 0x90000, RW);
	update_ok(t2, 0x10000, 0x1000, 0x70000, RW);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0x10010, 8, RD, &gpa), 0);
	ck_assert_uint_eq(gpa, 0x50010);
	ck_assert_ptr_eq(c.iotlb, t);
	ck_assert_uint_eq(c.iova, 0x10000);
	ck_assert_uint_eq(c.last, 0x10fff);
	/* A hit is answered from the cache alone: a doctored entry shows it (a fill would
	 * answer 0x50ff8). */
	c.gpa = 0xdead0000;
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0x10ff8, 8, RD, &gpa), 0);
	ck_assert_uint_eq(gpa, 0xdead0ff8);
	c.seen = 0; /* a generation never seen: refilled */
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0x10ff8, 8, RD, &gpa), 0);
	ck_assert_uint_eq(gpa, 0x50ff8);
	/* Past the entry, another access, another IOTLB: fills (and answers) afresh. */
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0x10ffc, 8, RD, &gpa),
			 VMMEM_E_CROSSES_REGION);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0x10000, 8, WR, &gpa),
			 VMMEM_E_IOTLB_DENIED);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0x11000, 8, WR, &gpa), 0);
	ck_assert_uint_eq(gpa, 0x90000);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t2, 0x10000, 8, WR, &gpa), 0);
	ck_assert_uint_eq(gpa, 0x70000);
	/* Any change empties it: an invalidation elsewhere, then of the entry itself. */
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0x11000, 8, WR, &gpa), 0);
	ck_assert_uint_eq(c.seen, vmmem_iotlb_generation(t));
	ck_assert_int_eq(vmmem_iotlb_invalidate(t, 0x10000, 0x1000), 1);
	ck_assert_uint_ne(c.seen, vmmem_iotlb_generation(t));
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0x11000, 8, WR, &gpa), 0);
	ck_assert_int_eq(vmmem_iotlb_invalidate(t, 0x11000, 0x1000), 1);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0x11000, 8, WR, &gpa),
			 VMMEM_E_IOTLB_MISS);
	/* Length 0 is refused even against an entry covering the whole space. */
	update_ok(t2, 0, UINT64_C(1) << 63, 0, RD);
	update_ok(t2, UINT64_C(1) << 63, UINT64_C(1) << 63, UINT64_C(1) << 63, RD);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t2, 0, 8, RD, &gpa), 0);
	ck_assert_uint_eq(c.last, UINT64_MAX);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t2, 0, 0, RD, &gpa), -EINVAL);
	/* Bad input. */
	ck_assert_int_eq(vmmem_iotlb_translate_cached(NULL, t, 0, 1, RD, &gpa), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, NULL, 0, 1, RD, &gpa), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t, 0, 1, RD, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t2, 0x10000, 0, RD, &gpa), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t2, 0x10000, 8, 0, &gpa), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t2, 0x10000, 8, 4, &gpa), -EINVAL);
	ck_assert_int_eq(vmmem_iotlb_translate_cached(&c, t2, UINT64_MAX, 2, RD, &gpa), -EOVERFLOW);
	vmmem_iotlb_unref(t);
	vmmem_iotlb_unref(t2);
}
END_TEST

/* Differential: the cache agrees with vmmem_iotlb_lookup on random ranges and accesses
 * while the table changes under it. */
START_TEST(test_iotlb_cache_differential)
{
	struct vmmem_iotlb *t = new_tlb(64, VMMEM_IOTLB_EVICT_OLDEST);
	struct vmmem_iotlb_cache c = { 0 };
	uint64_t x = 12345;

	for (int k = 0; k < 20000; k++) {
		uint64_t r, iova, len, gpa = 0;
		unsigned int access;
		struct vmmem_iotlb_range p[2];
		size_t n = 0;
		int want, got;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		r = x >> 16;
		if (k % 50 == 0)
			update_ok(t, (r % 64) * 0x1000, 0x1000 * (1 + r % 3), (r % 97) * 0x1000,
				  1 + (unsigned int)(r % 3));
		if (k % 170 == 0)
			ck_assert_int_ge(vmmem_iotlb_invalidate(t, (r % 64) * 0x1000, 0x800), 0);
		iova = (r % (70 * 0x1000)) & ~7ull;
		len = 1 + (r >> 20) % 16;
		access = 1 + (unsigned int)((r >> 30) % 3);
		want = vmmem_iotlb_lookup(t, iova, len, access, p, 2, &n, NULL);
		got = vmmem_iotlb_translate_cached(&c, t, iova, len, access, &gpa);
		if (want == 0 && n == 1 && p[0].len == len) {
			/* one piece; it may still span two merged-in-GPA entries */
			ck_assert(got == 0 || got == VMMEM_E_CROSSES_REGION);
			if (got == 0)
				ck_assert_uint_eq(gpa, p[0].gpa);
		} else if (want == 0) {
			ck_assert_int_eq(got, VMMEM_E_CROSSES_REGION);
		} else {
			ck_assert_int_eq(got, want);
		}
	}
	vmmem_iotlb_unref(t);
}
END_TEST

/* ---- the IOMMU view ------------------------------------------------------------------ */

/* Guest memory [(0x4000, 0x2000) dirty-tracked, (0x8000, 0x1000), (0x10000, 0x1000) read-only]
 * in a swappable memory, seen through an IOMMU with an IOTLB of 64 entries. */
struct fixture {
	struct vmmem_memory *m;
	struct vmmem_atomic *a;
	struct vmmem_iotlb *t;
	struct vmmem_iommu *io;
	struct vmmem_region *tracked;
};

static struct fixture fx;

static void fx_setup(void)
{
	struct vmmem_region *regs[3];
	int rc;

	regs[0] = tu_anon_region(0x4000, 0x2000, 0);
	regs[1] = tu_anon_region(0x8000, 0x1000, 0);
	regs[2] = tu_anon_region(0x10000, 0x1000, VMMEM_REGION_READ_ONLY);
	ck_assert_int_eq(vmmem_region_dirty_enable(regs[0], 4096), 0);
	fx.tracked = regs[0];
	rc = vmmem_memory_new(&fx.m, regs, 3);
	ck_assert_int_eq(rc, 0);
	for (int i = 1; i < 3; i++)
		vmmem_region_unref(regs[i]);
	ck_assert_int_eq(vmmem_atomic_new(&fx.a, fx.m), 0);
	fx.t = new_tlb(64, VMMEM_IOTLB_EVICT_OLDEST);
	ck_assert_int_eq(vmmem_iommu_new(&fx.io, fx.a, fx.t), 0);
}

static void fx_teardown(void)
{
	vmmem_iommu_unref(fx.io);
	vmmem_iotlb_unref(fx.t);
	vmmem_atomic_unref(fx.a);
	vmmem_memory_unref(fx.m);
	vmmem_region_unref(fx.tracked);
	memset(&fx, 0, sizeof(fx));
}

static uint8_t *host(uint64_t gpa)
{
	struct vmmem_region *r = NULL;
	uint64_t off = 0;

	ck_assert_int_eq(vmmem_memory_to_region(fx.m, gpa, &r, &off), 0);
	return (uint8_t *)vmmem_region_host(r) + off;
}

START_TEST(test_iommu_check_range_vectors)
{
	/* vm-memory's IommuMemory vector: IOVA 0x2a000 (256 B, read-only) over two physical
	 * pieces 0x4000 (128 B) and 0x8000 (128 B). */
	update_ok(fx.t, 0x2a000, 128, 0x4000, RD);
	update_ok(fx.t, 0x2a080, 128, 0x8000, RD);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x2a000, 256, 0), 0);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x2a000, 256, RD), 0);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x2a000, 256, WR), VMMEM_E_IOTLB_DENIED);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x2a000, 256, RW), VMMEM_E_IOTLB_DENIED);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x29fff, 1, RD), VMMEM_E_IOTLB_MISS);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x2a100, 1, RD), VMMEM_E_IOTLB_MISS);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x2a000, 0, RD), 0);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0, 2, 9), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_check_range(NULL, 0, 2, RD), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, UINT64_MAX, 2, RD), -EOVERFLOW);

	/* Reads of the same vectors name the unresolved sub-range, and copy nothing. */
	uint8_t buf[257];

	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x29fff, buf, 1), VMMEM_E_IOTLB_MISS);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "0x29fff..0x29fff"));
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x2a100, buf, 1), VMMEM_E_IOTLB_MISS);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "0x2a100..0x2a100"));
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x2a000, buf, 257), VMMEM_E_IOTLB_MISS);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "0x2a100..0x2a100"));
	ck_assert_uint_eq(buf[0], 0x5a);
	/* A translation into a guest-physical hole. */
	update_ok(fx.t, 0x3000, 0x100, 0x7000, RD);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x3000, 0x100, RD), VMMEM_E_UNMAPPED);
}
END_TEST

START_TEST(test_iommu_scattered_read_write)
{
	uint8_t in[0x300], out[0x300];

	/* IOVA 0x100000.. in three pieces, out of order in guest memory. */
	update_ok(fx.t, 0x100000, 0x100, 0x8800, RW);
	update_ok(fx.t, 0x100100, 0x100, 0x4f00, RW);
	update_ok(fx.t, 0x100200, 0x100, 0x8000, RW);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(vmmem_iommu_write(fx.io, 0x100000, in, sizeof(in)), (ssize_t)sizeof(in));
	ck_assert_mem_eq(host(0x8800), in, 0x100);
	ck_assert_mem_eq(host(0x4f00), in + 0x100, 0x100);
	ck_assert_mem_eq(host(0x8000), in + 0x200, 0x100);
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x100000, out, sizeof(out)), (ssize_t)sizeof(out));
	ck_assert_mem_eq(out, in, sizeof(in));
	/* Exact variants and objects, outside and inside a read section. */
	size_t done = 9;

	ck_assert_int_eq(vmmem_iommu_read_exact(fx.io, 0x1000f8, out, 16, &done), 0);
	ck_assert_uint_eq(done, 16);
	ck_assert_mem_eq(out, in + 0xf8, 16);
	uint64_t v = 0x1122334455667788ull, w = 0;
	const struct vmmem_memory *m = vmmem_iommu_acquire(fx.io);

	ck_assert_ptr_eq(m, fx.m);
	ck_assert_int_eq(vmmem_iommu_write_obj(fx.io, 0x1001fc, &v, 8), 0); /* crosses pieces */
	ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x1001fc, &w, 8), 0);
	ck_assert_uint_eq(w, v);
	ck_assert_int_eq(vmmem_iommu_write_obj(fx.io, 0x100010, &v, 8), 0); /* one piece */
	ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x100010, &w, 8), 0);
	ck_assert_mem_eq(host(0x8810), &v, 8);
	ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x100300, &w, 8), VMMEM_E_IOTLB_MISS);
	vmmem_iommu_release(fx.io, m);
	ck_assert_int_eq(vmmem_iommu_write_exact(fx.io, 0x1002fc, &v, 8, &done), VMMEM_E_IOTLB_MISS);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0, NULL, 0), 0);
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_read(NULL, 0, out, 1), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_read(fx.io, UINT64_MAX, out, 2), -EOVERFLOW);
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0, out, (size_t)SSIZE_MAX + 1), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0, NULL, 8), -EINVAL);
}
END_TEST

START_TEST(test_iommu_partial_and_read_only)
{
	uint8_t buf[0x200];
	size_t done = 0;

	memset(buf, 0x33, sizeof(buf));
	/* The translation is complete, but the guest-physical range runs into a hole after
	 * 0x100 bytes (0x5f00 + 0x100 = 0x6000, the end of the first region). */
	update_ok(fx.t, 0x200000, 0x200, 0x5f00, RW);
	ck_assert_int_eq(vmmem_iommu_write(fx.io, 0x200000, buf, 0x200), 0x100);
	ck_assert_int_eq(vmmem_iommu_read_exact(fx.io, 0x200000, buf, 0x200, &done), VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x100);
	ck_assert_int_eq(vmmem_iommu_write_exact(fx.io, 0x200000, buf, 0x200, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x100);
	/* The IOTLB allows the write; the region does not. */
	update_ok(fx.t, 0x300000, 0x1000, 0x10000, RW);
	ck_assert_int_eq(vmmem_iommu_write(fx.io, 0x300000, buf, 8), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_iommu_store_u32(fx.io, 0x300000, 1, VMMEM_ORDER_RELAXED),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x300000, buf, 8), 8);
	/* The region allows the write; the IOTLB does not: nothing is written. */
	update_ok(fx.t, 0x400000, 0x1000, 0x8000, RD);
	memset(host(0x8000), 0, 8);
	ck_assert_int_eq(vmmem_iommu_write(fx.io, 0x400000, buf, 8), VMMEM_E_IOTLB_DENIED);
	ck_assert_int_eq(vmmem_iommu_store_u8(fx.io, 0x400000, 1, VMMEM_ORDER_RELAXED),
			 VMMEM_E_IOTLB_DENIED);
	ck_assert_int_eq(host(0x8000)[0], 0);
}
END_TEST

START_TEST(test_iommu_values)
{
	uint8_t u8 = 0;
	uint16_t u16 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;

	update_ok(fx.t, 0x500000, 0x1000, 0x8000, RW);
	update_ok(fx.t, 0x501000, 0x1000, 0x4000, RW); /* not contiguous in GPA */
	ck_assert_int_eq(vmmem_iommu_store_u8(fx.io, 0x500001, 0xab, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_iommu_store_u16(fx.io, 0x500002, 0xbeef, VMMEM_ORDER_RELEASE), 0);
	ck_assert_int_eq(vmmem_iommu_store_u32(fx.io, 0x500004, 0xdeadbeef, VMMEM_ORDER_SEQ_CST), 0);
	ck_assert_int_eq(vmmem_iommu_store_u64(fx.io, 0x501008, 0x0123456789abcdefull,
					       VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_iommu_load_u8(fx.io, 0x500001, VMMEM_ORDER_RELAXED, &u8), 0);
	ck_assert_int_eq(vmmem_iommu_load_u16(fx.io, 0x500002, VMMEM_ORDER_ACQUIRE, &u16), 0);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0x500004, VMMEM_ORDER_SEQ_CST, &u32), 0);
	ck_assert_int_eq(vmmem_iommu_load_u64(fx.io, 0x501008, VMMEM_ORDER_RELAXED, &u64), 0);
	ck_assert_uint_eq(u8, 0xab);
	ck_assert_uint_eq(u16, 0xbeef);
	ck_assert_uint_eq(u32, 0xdeadbeef);
	ck_assert_uint_eq(u64, 0x0123456789abcdefull);
	ck_assert_uint_eq(*(uint64_t *)host(0x4008), 0x0123456789abcdefull);
	/* Two entries (their permissions differ, so they do not merge) that continue each
	 * other in guest memory hold one value. */
	update_ok(fx.t, 0xd00000, 0xffc, 0x8000, RW);
	update_ok(fx.t, 0xd00ffc, 0x4, 0x8ffc, RD);
	ck_assert_int_eq(vmmem_iommu_load_u64(fx.io, 0xd00ff8, VMMEM_ORDER_RELAXED, &u64), 0);
	ck_assert_int_eq(vmmem_iommu_store_u64(fx.io, 0xd00ff8, 1, VMMEM_ORDER_RELAXED),
			 VMMEM_E_IOTLB_DENIED);
	/* Straddling two entries that are not contiguous in guest memory. */
	ck_assert_int_eq(vmmem_iommu_load_u64(fx.io, 0x500ffc, VMMEM_ORDER_RELAXED, &u64),
			 VMMEM_E_CROSSES_REGION);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0x500001, VMMEM_ORDER_RELAXED, &u32),
			 VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0x600000, VMMEM_ORDER_RELAXED, &u32),
			 VMMEM_E_IOTLB_MISS);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0x500000, VMMEM_ORDER_RELEASE, &u32), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0x500000, VMMEM_ORDER_RELAXED, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_load_u32(NULL, 0x500000, VMMEM_ORDER_RELAXED, &u32), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_store_u16(fx.io, UINT64_MAX, 1, VMMEM_ORDER_RELAXED),
			 -EOVERFLOW);
	ck_assert_int_eq(vmmem_iommu_store_u16(NULL, 0, 1, VMMEM_ORDER_RELAXED), -EINVAL);
}
END_TEST

/* Reads a hint translated go straight to host memory when the same section read in that
 * region before; the host window never reaches past its region, into a hole or another
 * view's memory. An entry over region 0 (0x4000-0x5fff), a hole and region 1 (0x8000). */
START_TEST(test_iommu_read_host_hint)
{
	struct vmmem_region *other = tu_anon_region(0x4000, 0x2000, 0);
	struct vmmem_memory *m2 = NULL;
	struct vmmem_atomic *a2 = NULL;
	struct vmmem_iommu *io2 = NULL;
	const struct vmmem_memory *held, *held2;
	uint64_t v = 0;

	for (uint64_t off = 0; off < 0x2000; off += 8) {
		*(uint64_t *)host(0x4000 + off) = 0xa000000000000000ull + off;
		*(uint64_t *)((uint8_t *)vmmem_region_host(other) + off) = 0xb000000000000000ull + off;
	}
	*(uint64_t *)host(0x8000) = 0xc0c0c0c0c0c0c0c0ull;
	ck_assert_int_eq(vmmem_memory_new(&m2, &other, 1), 0);
	ck_assert_int_eq(vmmem_atomic_new(&a2, m2), 0);
	ck_assert_int_eq(vmmem_iommu_new(&io2, a2, fx.t), 0);
	update_ok(fx.t, 0x700000, 0x6000, 0x4000, RD);
	for (int pass = 0; pass < 2; pass++) { /* in one section, then call by call */
		held = pass ? NULL : vmmem_iommu_acquire(fx.io);
		held2 = pass ? NULL : vmmem_iommu_acquire(io2);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x700010, &v, 8), 0);
		ck_assert_uint_eq(v, 0xa000000000000010ull);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x701ff8, &v, 8), 0);
		ck_assert_uint_eq(v, 0xa000000000001ff8ull);
		/* Past the region's end: into the hole, never beyond the host mapping. */
		ck_assert_int_lt(vmmem_iommu_read_obj(fx.io, 0x701ffc, &v, 8), 0);
		ck_assert_int_lt(vmmem_iommu_read_obj(fx.io, 0x702000, &v, 8), 0);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x704000, &v, 8), 0);
		ck_assert_uint_eq(v, 0xc0c0c0c0c0c0c0c0ull);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x700100, &v, 8), 0);
		ck_assert_uint_eq(v, 0xa000000000000100ull);
		/* The other view shares the IOTLB, not the memory. */
		ck_assert_int_eq(vmmem_iommu_read_obj(io2, 0x700100, &v, 8), 0);
		ck_assert_uint_eq(v, 0xb000000000000100ull);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x700108, &v, 8), 0);
		ck_assert_uint_eq(v, 0xa000000000000108ull);
		/* Invalidated by this thread: the window goes with the hint. */
		ck_assert_int_ge(vmmem_iotlb_invalidate(fx.t, 0x700000, 0x1000), 0);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x700108, &v, 8), VMMEM_E_IOTLB_MISS);
		update_ok(fx.t, 0x700000, 0x1000, 0x8000, RD); /* now onto region 1 */
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x700000, &v, 8), 0);
		ck_assert_uint_eq(v, 0xc0c0c0c0c0c0c0c0ull);
		update_ok(fx.t, 0x700000, 0x1000, 0x4000, RD);
		if (!pass) {
			vmmem_iommu_release(io2, held2);
			vmmem_iommu_release(fx.io, held);
		}
	}
	vmmem_iommu_unref(io2);
	vmmem_atomic_unref(a2);
	vmmem_memory_unref(m2);
	vmmem_region_unref(other);
}
END_TEST

/* Reads that hop between entries in one section take the bucket index (the hint stays on
 * the first entry read): each lands where its own entry says, and whatever the index cannot
 * serve by itself takes the general path with its own error (a write-only entry, a gap, an
 * object across two entries, an entry over a region's end). */
START_TEST(test_iommu_read_indexed)
{
	const struct vmmem_memory *held;
	uint64_t v = 0;
	uint32_t u32 = 0;
	uint8_t b[8];

	for (uint64_t off = 0; off < 0x2000; off += 8)
		*(uint64_t *)host(0x4000 + off) = 0xa000000000000000ull + off;
	*(uint64_t *)host(0x8000) = 0xc0c0c0c0c0c0c0c0ull;
	*(uint64_t *)host(0x8ff8) = 0xc1c1c1c1c1c1c1c1ull;
	update_ok(fx.t, 0x100000, 0x1000, 0x4000, RD);
	update_ok(fx.t, 0x200000, 0x1000, 0x5000, RW);
	update_ok(fx.t, 0x201000, 0x1000, 0x8000, RD); /* continues 0x200000 in IOVA only */
	update_ok(fx.t, 0x300000, 0x1000, 0x4000, WR);
	update_ok(fx.t, 0x400000, 0x2000, 0x5000, RD); /* 0x5000-0x5fff, then the hole */
	held = vmmem_iommu_acquire(fx.io);
	ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x100008, &v, 8), 0); /* sets the hint */
	ck_assert_uint_eq(v, 0xa000000000000008ull);
	for (int round = 0; round < 3; round++) {
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x200010, &v, 8), 0);
		ck_assert_uint_eq(v, 0xa000000000001010ull);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x201ff8, &v, 8), 0);
		ck_assert_uint_eq(v, 0xc1c1c1c1c1c1c1c1ull);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x100ff8, &v, 8), 0);
		ck_assert_uint_eq(v, 0xa000000000000ff8ull);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x400ffc, &u32, 4), 0);
		ck_assert_int_eq(memcmp(&u32, host(0x5ffc), 4), 0);
		/* Not for reading, not mapped, and past a region's end. */
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x300000, &v, 8), VMMEM_E_IOTLB_DENIED);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x380000, &v, 8), VMMEM_E_IOTLB_MISS);
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x401000, &v, 8), VMMEM_E_UNMAPPED);
		/* Across two entries: two pieces, still one object. */
		ck_assert_int_eq(vmmem_iommu_read_obj(fx.io, 0x200ffc, b, 8), 0);
		ck_assert_int_eq(memcmp(b, host(0x5ffc), 4), 0);
		ck_assert_int_eq(memcmp(b + 4, host(0x8000), 4), 0);
	}
	vmmem_iommu_release(fx.io, held);
}
END_TEST

START_TEST(test_iommu_disabled_passes_through)
{
	uint32_t v = 0;
	uint8_t b[4] = { 1, 2, 3, 4 };

	ck_assert_int_eq(vmmem_iommu_enabled(fx.io), 1);
	ck_assert_int_eq(vmmem_iommu_set_enabled(fx.io, 0), 0);
	ck_assert_int_eq(vmmem_iommu_enabled(fx.io), 0);
	/* Empty IOTLB, IOVA = GPA, no permission check. */
	ck_assert_int_eq(vmmem_iommu_write(fx.io, 0x8004, b, 4), 4);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0x8004, VMMEM_ORDER_RELAXED, &v), 0);
	ck_assert_mem_eq(&v, b, 4);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x4000, 0x2000, RW), 0);
	ck_assert_int_eq(vmmem_iommu_check_range(fx.io, 0x6000, 1, RW), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x7000, b, 4), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_iommu_set_enabled(fx.io, 1), 0);
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x8004, b, 4), VMMEM_E_IOTLB_MISS);
	ck_assert_int_eq(vmmem_iommu_set_enabled(NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_enabled(NULL), -EINVAL);
}
END_TEST

/* GPA-indexed dirty logging: the region bitmap and the vhost log see GPAs, never IOVAs. */
START_TEST(test_iommu_dirty_by_gpa)
{
	const size_t log_size = 0x1000;
	uint8_t *log = calloc(1, log_size), buf[8] = { 0 };
	struct vmmem_vhost_log *vlog = NULL;

	ck_assert_int_eq(vmmem_vhost_log_new(&vlog, log, log_size, NULL, NULL), 0);
	ck_assert_int_eq(vmmem_atomic_set_vhost_log(fx.a, vlog), 0);
	/* IOVA 0x2a000 + 8 KiB -> GPA 0x4000 + 8 KiB (vm-memory's IOVA-bitmap vector). */
	update_ok(fx.t, 0x2a000, 0x2000, 0x4000, RW);
	ck_assert_int_eq(vmmem_region_dirty_clear(fx.tracked, 0, 0x2000), 0);
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x2a000, buf, 8), 8);
	ck_assert_int_eq(vmmem_region_dirty_count(fx.tracked), 0); /* reads never dirty */
	ck_assert_int_eq(vmmem_iommu_store_u64(fx.io, 0x2a000, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(fx.tracked, 0), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(fx.tracked, 0x1000), 0);
	ck_assert_int_eq(vmmem_iommu_write(fx.io, 0x2b000, buf, 8), 8);
	ck_assert_int_eq(vmmem_region_dirty_test(fx.tracked, 0x1000), 1);
	/* The vhost log: GPA pages 4 and 5 (bit 4, 5 of byte 0), not IOVA pages 0x2a/0x2b. */
	ck_assert_uint_eq(log[0], 0x30);
	ck_assert_uint_eq(log[0x2a / 8], 0);
	ck_assert_int_eq(vmmem_atomic_set_vhost_log(fx.a, NULL), 0);
	ck_assert_int_eq(vmmem_atomic_synchronize(fx.a), 0);
	vmmem_vhost_log_unref(vlog);
	free(log);
}
END_TEST

START_TEST(test_iommu_views)
{
	struct vmmem_slice s[4];
	struct iovec iov[4];
	size_t count = 0;
	const struct vmmem_memory *m;
	uint64_t gpa = 0, cont = 0;
	void *h = NULL;

	update_ok(fx.t, 0x700000, 0x800, 0x8800, RW);
	update_ok(fx.t, 0x700800, 0x800, 0x4000, RD);
	/* Outside a section: refused, pointers would outlive the translation. */
	ck_assert_int_eq(vmmem_iommu_get_slices(fx.io, 0x700000, 0x1000, RD, s, 4, &count), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "vmmem_iommu_acquire"));
	ck_assert_int_eq(vmmem_iommu_translate(fx.io, 0x700000, RD, &gpa, &h, &cont), -EINVAL);
	m = vmmem_iommu_acquire(fx.io);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(vmmem_iommu_get_slices(fx.io, 0x700000, 0x1000, RD, s, 4, &count), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_ptr_eq(s[0].ptr, host(0x8800));
	ck_assert_uint_eq(s[0].len, 0x800);
	ck_assert_ptr_eq(s[1].ptr, host(0x4000));
	ck_assert_int_eq(vmmem_iommu_get_iovecs(fx.io, 0x7007f0, 0x20, RD, iov, 4, &count), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_ptr_eq(iov[0].iov_base, host(0x8ff0));
	ck_assert_uint_eq(iov[0].iov_len, 0x10);
	ck_assert_ptr_eq(iov[1].iov_base, host(0x4000));
	ck_assert_int_eq(vmmem_iommu_get_iovecs(fx.io, 0x700000, 0x1000, RD, iov, 1, &count),
			 -ENOBUFS);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(vmmem_iommu_get_slices(fx.io, 0x700000, 0x1000, RW, s, 4, &count),
			 VMMEM_E_IOTLB_DENIED);
	ck_assert_int_eq(vmmem_iommu_get_slices(fx.io, 0x700000, 0x1000, 0, s, 4, &count), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_get_slices(fx.io, 0x700000, 0, RD, s, 4, &count), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_int_eq(vmmem_iommu_get_slices(fx.io, 0x700000, 8, RD, NULL, 4, &count), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_get_slices(fx.io, 0x700000, 8, RD, s, 4, NULL), -EINVAL);
	/* Translate: contiguous is the smaller of the IOTLB run and the region. */
	ck_assert_int_eq(vmmem_iommu_translate(fx.io, 0x700100, RD, &gpa, &h, &cont), 0);
	ck_assert_uint_eq(gpa, 0x8900);
	ck_assert_ptr_eq(h, host(0x8900));
	ck_assert_uint_eq(cont, 0x700);
	ck_assert_int_eq(vmmem_iommu_translate(fx.io, 0x700900, RD, &gpa, &h, &cont), 0);
	ck_assert_uint_eq(gpa, 0x4100);
	ck_assert_uint_eq(cont, 0x700);
	update_ok(fx.t, 0x701000, 0x4000, 0x4800, RD); /* continues, but the region ends first */
	ck_assert_int_eq(vmmem_iommu_translate(fx.io, 0x700900, RD, &gpa, &h, &cont), 0);
	ck_assert_uint_eq(cont, 0x1f00);
	ck_assert_int_eq(vmmem_iommu_translate(fx.io, 0x700900, WR, &gpa, &h, &cont),
			 VMMEM_E_IOTLB_DENIED);
	ck_assert_ptr_null(h);
	ck_assert_int_eq(vmmem_iommu_translate(fx.io, 0x700900, 7, &gpa, &h, &cont), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_translate(fx.io, 0x900000, RD, NULL, NULL, NULL),
			 VMMEM_E_IOTLB_MISS);
	vmmem_iommu_release(fx.io, m);
}
END_TEST

START_TEST(test_iommu_fd_io)
{
	int fd = tu_memfd(0x1000);
	uint8_t data[0x200], back[0x200];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0xff - i);
	ck_assert_int_eq(pwrite(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	update_ok(fx.t, 0x800000, 0x100, 0x5000, RW);
	update_ok(fx.t, 0x800100, 0x100, 0x8000, RW);
	ck_assert_int_eq(vmmem_region_dirty_clear(fx.tracked, 0, 0x2000), 0);
	/* Guest <- file, then guest -> file at another offset. */
	ck_assert_int_eq(vmmem_iommu_read_from_fd(fx.io, 0x800000, fd, 0x200, 0), 0x200);
	ck_assert_mem_eq(host(0x5000), data, 0x100);
	ck_assert_mem_eq(host(0x8000), data + 0x100, 0x100);
	ck_assert_int_eq(vmmem_region_dirty_test(fx.tracked, 0x1000), 1);
	ck_assert_int_eq(vmmem_iommu_write_to_fd(fx.io, 0x800000, fd, 0x200, 0x800), 0x200);
	ck_assert_int_eq(pread(fd, back, sizeof(back), 0x800), (ssize_t)sizeof(back));
	ck_assert_mem_eq(back, data, sizeof(data));
	/* The file position variant; end of file gives a short count. */
	ck_assert_int_eq(lseek(fd, 0xf80, SEEK_SET), 0xf80);
	ck_assert_int_eq(vmmem_iommu_read_from_fd(fx.io, 0x800000, fd, 0x200, -1), 0x80);
	ck_assert_int_eq(vmmem_iommu_read_from_fd(fx.io, 0x800000, fd, 0x300, 0), VMMEM_E_IOTLB_MISS);
	ck_assert_int_eq(vmmem_iommu_read_from_fd(fx.io, 0x800000, -1, 0x10, 0), -EBADF);
	ck_assert_int_eq(vmmem_iommu_read_from_fd(fx.io, 0x800000, fd, 0x10, -2), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_write_to_fd(NULL, 0x800000, fd, 0x10, 0), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_write_to_fd(fx.io, UINT64_MAX, fd, 0x10, 0), -EOVERFLOW);
	ck_assert_int_eq(vmmem_iommu_write_to_fd(fx.io, 0x800000, fd, 0, 0), 0);
	/* Exact variants: all of it, end of file, a miss before any byte. */
	size_t done = 9;

	ck_assert_int_eq(vmmem_iommu_read_exact_from_fd(fx.io, 0x800000, fd, 0x200, 0, &done), 0);
	ck_assert_uint_eq(done, 0x200);
	ck_assert_int_eq(vmmem_iommu_write_all_to_fd(fx.io, 0x800000, fd, 0x200, 0x400, &done), 0);
	ck_assert_uint_eq(done, 0x200);
	ck_assert_int_eq(pread(fd, back, sizeof(back), 0x400), (ssize_t)sizeof(back));
	ck_assert_mem_eq(back, data, sizeof(data));
	ck_assert_int_eq(vmmem_iommu_read_exact_from_fd(fx.io, 0x800000, fd, 0x200, 0xf00, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x100);
	ck_assert_int_eq(vmmem_iommu_write_all_to_fd(fx.io, 0x800100, fd, 0x200, 0, &done),
			 VMMEM_E_IOTLB_MISS);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(vmmem_iommu_read_exact_from_fd(NULL, 0, fd, 1, 0, NULL), -EINVAL);
	/* A guest-physical hole after progress is a partial transfer (GPA 0x6000 ends the
	 * first region). */
	update_ok(fx.t, 0x900000, 0x2000, 0x5000, RW);
	ck_assert_int_eq(vmmem_iommu_read_exact_from_fd(fx.io, 0x900000, fd, 0x2000, 0, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x1000);
	ck_assert_int_eq(vmmem_iommu_write_all_to_fd(fx.io, 0x900000, fd, 0x2000, 0, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x1000);
	close(fd);
}
END_TEST

/* ---- miss handlers ------------------------------------------------------------------- */

struct handler_state {
	int calls;
	int result;          /* what to return */
	bool resolve;        /* insert the missing translation first */
	struct vmmem_iova_fault last;
};

static int miss_handler(void *opaque, const struct vmmem_iova_fault *f)
{
	struct handler_state *h = opaque;

	h->calls++;
	h->last = *f;
	if (h->resolve)
		/* Resolve at page granularity, as QEMU's vIOMMU answers. */
		vmmem_iotlb_update(fx.t, f->iova & ~0xfffull, 0x1000, 0x8000, RW);
	return h->result;
}

START_TEST(test_iommu_miss_handler)
{
	struct handler_state h = { .resolve = true, .result = 0 };
	uint32_t v = 0;

	ck_assert_int_eq(vmmem_iommu_set_miss_handler(fx.io, miss_handler, &h), 0);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0x900010, VMMEM_ORDER_RELAXED, &v), 0);
	ck_assert_int_eq(h.calls, 1);
	ck_assert_uint_eq(h.last.iova, 0x900010);
	ck_assert_uint_eq(h.last.len, 4);
	ck_assert_uint_eq(h.last.access, RD);
	ck_assert_int_eq(h.last.error, VMMEM_E_IOTLB_MISS);
	/* A hit does not call it. */
	ck_assert_int_eq(vmmem_iommu_store_u32(fx.io, 0x900020, 7, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(h.calls, 1);
	/* Resolving inside the caller's section works too. */
	const struct vmmem_memory *m = vmmem_iommu_acquire(fx.io);

	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0x910000, VMMEM_ORDER_RELAXED, &v), 0);
	ck_assert_int_eq(h.calls, 2);
	vmmem_iommu_release(fx.io, m);
	/* A refusal goes to the handler as well. */
	update_ok(fx.t, 0x920000, 0x1000, 0x8000, RD);
	ck_assert_int_eq(vmmem_iommu_store_u8(fx.io, 0x920000, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(h.last.error, VMMEM_E_IOTLB_DENIED);
	ck_assert_uint_eq(h.last.access, WR);
	/* Asynchronous: the miss is reported and the access fails, to be retried later. */
	h = (struct handler_state){ .result = -EAGAIN };
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0x930000, VMMEM_ORDER_RELAXED, &v),
			 VMMEM_E_IOTLB_MISS);
	ck_assert_int_eq(h.calls, 1);
	/* A failing handler's error is the access's. */
	h = (struct handler_state){ .result = -ECONNRESET };
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x930000, &v, 4), -ECONNRESET);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "miss handler failed"));
	h = (struct handler_state){ .result = 5 };
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x930000, &v, 4), -EIO);
	/* A handler that claims success without resolving is not called forever. */
	h = (struct handler_state){ .result = 0 };
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x930000, &v, 4), -ELOOP);
	ck_assert_int_eq(h.calls, 8);
	ck_assert_int_eq(vmmem_iommu_set_miss_handler(fx.io, NULL, NULL), 0);
	ck_assert_int_eq(vmmem_iommu_read(fx.io, 0x930000, &v, 4), VMMEM_E_IOTLB_MISS);
	ck_assert_int_eq(vmmem_iommu_set_miss_handler(NULL, NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(test_iommu_new_and_accessors)
{
	struct vmmem_iommu *io = (struct vmmem_iommu *)1;

	ck_assert_int_eq(vmmem_iommu_new(NULL, fx.a, fx.t), -EINVAL);
	ck_assert_int_eq(vmmem_iommu_new(&io, NULL, fx.t), -EINVAL);
	ck_assert_ptr_null(io);
	ck_assert_int_eq(vmmem_iommu_new(&io, fx.a, NULL), -EINVAL);
	ck_assert_ptr_eq(vmmem_iommu_iotlb(fx.io), fx.t);
	ck_assert_ptr_eq(vmmem_iommu_memory(fx.io), fx.a);
	ck_assert_ptr_null(vmmem_iommu_iotlb(NULL));
	ck_assert_ptr_null(vmmem_iommu_memory(NULL));
	ck_assert_ptr_null(vmmem_iommu_acquire(NULL));
	vmmem_iommu_release(NULL, NULL);
	ck_assert_ptr_eq(vmmem_iommu_ref(fx.io), fx.io);
	ck_assert_ptr_null(vmmem_iommu_unref(fx.io));
	ck_assert_ptr_null(vmmem_iommu_ref(NULL));
	ck_assert_ptr_null(vmmem_iommu_unref(NULL));
	/* The view outlives the caller's references to what it joins. */
	struct vmmem_iotlb *t = new_tlb(4, VMMEM_IOTLB_EVICT_OLDEST);
	struct vmmem_atomic *a = NULL;
	uint8_t b = 0;

	ck_assert_int_eq(vmmem_atomic_new(&a, fx.m), 0);
	ck_assert_int_eq(vmmem_iommu_new(&io, a, t), 0);
	vmmem_atomic_unref(a);
	vmmem_iotlb_unref(t);
	update_ok(vmmem_iommu_iotlb(io), 0, 0x1000, 0x8000, RW);
	ck_assert_int_eq(vmmem_iommu_read(io, 0, &b, 1), 1);
	vmmem_iommu_unref(io);
}
END_TEST

/* Regions hot-plugged under the view are reachable without touching the IOTLB. */
START_TEST(test_iommu_hotplug)
{
	struct vmmem_region *r = tu_anon_region(0x100000, 0x1000, 0);
	uint64_t v = 0;

	update_ok(fx.t, 0xa00000, 0x1000, 0x100000, RW);
	ck_assert_int_eq(vmmem_iommu_store_u64(fx.io, 0xa00000, 9, VMMEM_ORDER_RELAXED),
			 VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_atomic_insert_region(fx.a, r), 0);
	ck_assert_int_eq(vmmem_iommu_store_u64(fx.io, 0xa00000, 9, VMMEM_ORDER_RELAXED), 0);
	ck_assert_uint_eq(*(uint64_t *)vmmem_region_host(r), 9);
	ck_assert_int_eq(vmmem_atomic_remove_region(fx.a, 0x100000, 0x1000, NULL), 0);
	ck_assert_int_eq(vmmem_iommu_load_u64(fx.io, 0xa00000, VMMEM_ORDER_RELAXED, &v),
			 VMMEM_E_UNMAPPED);
	vmmem_region_unref(r);
}
END_TEST

/* A section entered with vmmem_iommu_acquire keeps its memory: a region removed meanwhile
 * stays reachable until the release; without it each access sees the memory of the day. */
START_TEST(test_iommu_acquire_pins_memory)
{
	struct vmmem_region *r = tu_anon_region(0x100000, 0x1000, 0);
	const struct vmmem_memory *m, *inner;
	uint32_t v = 0;

	update_ok(fx.t, 0xc00000, 0x1000, 0x100000, RW);
	ck_assert_int_eq(vmmem_atomic_insert_region(fx.a, r), 0);
	m = vmmem_iommu_acquire(fx.io);
	ck_assert_int_eq(vmmem_atomic_remove_region(fx.a, 0x100000, 0x1000, NULL), 0);
	inner = vmmem_iommu_acquire(fx.io);
	ck_assert_ptr_eq(inner, m); /* nested: the outer memory */
	ck_assert_int_eq(vmmem_iommu_store_u32(fx.io, 0xc00000, 77, VMMEM_ORDER_RELAXED), 0);
	vmmem_iommu_release(fx.io, inner);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0xc00000, VMMEM_ORDER_RELAXED, &v), 0);
	ck_assert_uint_eq(v, 77);
	vmmem_iommu_release(fx.io, m);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0xc00000, VMMEM_ORDER_RELAXED, &v),
			 VMMEM_E_UNMAPPED);
	/* A plain guard does not pin: the access sees the current memory. */
	m = vmmem_atomic_acquire(fx.a);
	ck_assert_int_eq(vmmem_iommu_load_u32(fx.io, 0xc00000, VMMEM_ORDER_RELAXED, &v),
			 VMMEM_E_UNMAPPED);
	vmmem_atomic_release(fx.a, m);
	ck_assert_uint_eq(*(uint32_t *)vmmem_region_host(r), 77);
	vmmem_region_unref(r);
}
END_TEST

/* ---- concurrency (the TSan build runs this) ------------------------------------------ */

/* Readers copy 64 bytes at IOVA 0xb00000 while a writer keeps remapping it between two
 * pages of different contents and invalidating it. Every read is all of one page or a
 * miss: one access never mixes two translations, and no table is freed under a reader. */
#define RACE_ROUNDS 3000

static int race_stop;
static long race_hits[3]; /* atomic: each reader's hits so far */
static bool race_yield; /* under valgrind, whose one-thread-at-a-time scheduler would
			 * otherwise give the writer a slice only every few readers' */

static void *race_reader(void *arg)
{
	long bad = 0, hits = 0, *shared_hits = arg;

	while (!__atomic_load_n(&race_stop, __ATOMIC_ACQUIRE)) {
		uint8_t buf[64];

		if (race_yield)
			sched_yield();
		const struct vmmem_memory *m = vmmem_iommu_acquire(fx.io);
		ssize_t r = vmmem_iommu_read(fx.io, 0xb00000 + 0xfe0, buf, sizeof(buf));

		vmmem_iommu_release(fx.io, m);
		if (r == VMMEM_E_IOTLB_MISS)
			continue;
		if (r != (ssize_t)sizeof(buf)) {
			bad++;
			continue;
		}
		hits++;
		__atomic_store_n(shared_hits, hits, __ATOMIC_RELAXED);
		for (size_t i = 1; i < sizeof(buf); i++)
			if (buf[i] != buf[0] || (buf[0] != 0xaa && buf[0] != 0xbb))
				bad++;
		/* Outside a section: the access enters its own. */
		r = vmmem_iommu_read(fx.io, 0xb00000, buf, 8);
		if (r != 8 && r != VMMEM_E_IOTLB_MISS)
			bad++;
	}
	return (void *)(hits > 0 ? bad : bad + 1000000);
}

START_TEST(test_iommu_concurrent_invalidation)
{
	pthread_t th[3];

	memset(host(0x4000), 0xaa, 0x2000);
	memset(host(0x8000), 0xbb, 0x1000);
	/* Start mapped, so that every reader sees hits. */
	update_ok(fx.t, 0xb00000, 0x2000, 0x4000, RD);
	race_stop = 0;
	race_yield = getenv("VMMEM_TEST_UNDER_VALGRIND") != NULL;
	for (int i = 0; i < 3; i++) {
		race_hits[i] = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, race_reader, &race_hits[i]), 0);
	}
	for (int round = 0; round < (race_yield ? RACE_ROUNDS / 10 : RACE_ROUNDS); round++) {
		switch (round % 4) {
		case 0:
			update_ok(fx.t, 0xb00000, 0x2000, 0x4000, RD);
			break;
		case 1:
			ck_assert_int_ge(vmmem_iotlb_invalidate(fx.t, 0xb00f00, 0x200), 0);
			break;
		case 2: /* 0xb00fe0..+64 crosses into the second page: two pieces, both 0xbb */
			update_ok(fx.t, 0xb00000, 0x1000, 0x8000, RD);
			update_ok(fx.t, 0xb01000, 0x1000, 0x8000, RD);
			break;
		default:
			ck_assert_int_ge(vmmem_iotlb_invalidate_all(fx.t), 0);
			break;
		}
		if (round % 512 == 0)
			usleep(200); /* let the readers run between bursts */
	}
	/* Mapped again until every reader has had a hit (a loaded machine may not have run
	 * one of them yet: a fixed wait made this test flaky), at most 20 s. */
	update_ok(fx.t, 0xb00000, 0x2000, 0x4000, RD);
	for (int waited = 0; waited < 20000; waited++) {
		bool all = true;

		for (int i = 0; i < 3; i++)
			all = all && __atomic_load_n(&race_hits[i], __ATOMIC_RELAXED) > 0;
		if (all)
			break;
		usleep(1000);
	}
	__atomic_store_n(&race_stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 3; i++) {
		void *bad = NULL;

		ck_assert_int_eq(pthread_join(th[i], &bad), 0);
		ck_assert_msg(bad == NULL, "reader %d: %ld bad reads", i, (long)bad);
	}
}
END_TEST

/*
 * Object reads through every path of vmmem_iommu_read_obj (the hint's host window, the
 * table's cells, the entries behind them, the general way) against the IOTLB lookup and
 * plain reads: random layouts with entries smaller and larger than a bucket, gaps, all
 * permissions, GPAs in and out of the regions, one memory with one region and one with two,
 * and IOVA spans wide enough that the cells are not built.
 */
static uint8_t pattern(uint64_t gpa)
{
	return (uint8_t)(gpa * 131 + (gpa >> 8) * 7 + 3);
}

static void read_obj_differential(const uint64_t (*regions)[2], size_t nregions,
				  uint64_t iova_spread, uint64_t seed)
{
	struct vmmem_memory *m = tu_anon_memory(&regions[0][0], nregions);
	struct vmmem_atomic *a = NULL;
	struct vmmem_iommu *io = NULL;
	struct vmmem_iotlb *t = new_tlb(256, VMMEM_IOTLB_EVICT_OLDEST);
	uint64_t x = seed, gpa_end = regions[nregions - 1][0] + regions[nregions - 1][1];
	uint64_t iovas[64], lens[64];
	size_t nio = 0;

	for (size_t i = 0; i < nregions; i++) {
		struct vmmem_region *r = NULL;
		uint64_t off = 0;

		ck_assert_int_eq(vmmem_memory_to_region(m, regions[i][0], &r, &off), 0);
		for (uint64_t g = 0; g < regions[i][1]; g++)
			((uint8_t *)vmmem_region_host(r))[g] = pattern(regions[i][0] + g);
	}
	ck_assert_int_eq(vmmem_atomic_new(&a, m), 0);
	ck_assert_int_eq(vmmem_iommu_new(&io, a, t), 0);
	for (int round = 0; round < 40; round++) {
		const struct vmmem_memory *held;

		/* A few changes: entries of 1 byte to 64 KiB, some right after the last one. */
		for (int k = 0; k < 12; k++) {
			static const uint64_t sizes[] = { 1, 7, 0x100, 0x1000, 0x3000, 0x10000 };
			uint64_t r, iova, size, gpa;

			x = x * 6364136223846793005ull + 1442695040888963407ull;
			r = x >> 11;
			size = sizes[r % 6];
			/* a quarter right after an earlier entry (touching it) */
			iova = nio && r % 4 == 0 ? iovas[(r >> 8) % nio] + lens[(r >> 8) % nio]
						 : ((r >> 12) % 64) * iova_spread + (r >> 40) % 0x20000;
			gpa = (r >> 20) % gpa_end;
			if (gpa + size > gpa_end + 0x800)
				gpa = gpa_end + 0x800 - size;
			/* permissions 0 (mapped, no access) to RW */
			update_ok(t, iova, size, gpa, (unsigned int)((r >> 50) % 4));
			if (nio < 64) {
				iovas[nio] = iova;
				lens[nio++] = size;
			} else {
				iovas[(r >> 30) % 64] = iova;
				lens[(r >> 30) % 64] = size;
			}
		}
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		if (x % 5 == 0)
			ck_assert_int_ge(vmmem_iotlb_invalidate(t, iovas[(x >> 20) % nio], 0x800), 0);
		held = vmmem_iommu_acquire(io);
		for (int k = 0; k < 400; k++) {
			struct vmmem_iotlb_range p[8];
			uint8_t got[8], want[8];
			size_t n = 0, size;
			uint64_t r, iova;
			int want_rc, rc;

			x = x * 6364136223846793005ull + 1442695040888963407ull;
			r = x >> 11;
			size = 1 + r % 8;
			/* near an entry's start or end, or anywhere around it */
			iova = iovas[(r >> 4) % nio] + ((r >> 12) % 3 == 0   ? (r >> 16) % 16 - 8
							: (r >> 12) % 3 == 1 ? 0xff8 + (r >> 16) % 16
									     : (r >> 16) % 0x11000);
			want_rc = vmmem_iotlb_lookup(t, iova, size, RD, p, 8, &n, NULL);
			memset(got, 0xee, sizeof(got));
			rc = vmmem_iommu_read_obj(io, iova, got, size);
			if (want_rc < 0) {
				ck_assert_msg(rc == want_rc, "iova 0x%llx size %zu: %d, lookup %d",
					      (unsigned long long)iova, size, rc, want_rc);
				continue;
			}
			/* Translated: the bytes of the pieces, if the regions hold them all. */
			for (size_t i = 0, at = 0; i < n; at += p[i].len, i++) {
				for (uint64_t b = 0; b < p[i].len; b++) {
					uint64_t g = p[i].gpa + b;
					bool in = false;

					for (size_t j = 0; j < nregions; j++)
						in = in || (g >= regions[j][0] &&
							    g - regions[j][0] < regions[j][1]);
					if (!in)
						want_rc = VMMEM_E_UNMAPPED;
					want[at + b] = pattern(g);
				}
			}
			if (want_rc < 0) {
				ck_assert_msg(rc < 0, "iova 0x%llx size %zu: read an unmapped GPA",
					      (unsigned long long)iova, size);
				continue;
			}
			ck_assert_msg(rc == 0, "iova 0x%llx size %zu: %d %s", (unsigned long long)iova,
				      size, rc, vmmem_errormsg());
			ck_assert_msg(memcmp(got, want, size) == 0, "iova 0x%llx size %zu: wrong bytes",
				      (unsigned long long)iova, size);
		}
		vmmem_iommu_release(io, held);
	}
	vmmem_iommu_unref(io);
	vmmem_iotlb_unref(t);
	vmmem_atomic_unref(a);
	vmmem_memory_unref(m);
}

START_TEST(test_iommu_read_obj_differential)
{
	static const uint64_t one[][2] = { { 0, 0x40000 } };
	static const uint64_t two[][2] = { { 0, 0x30000 }, { 0x38000, 0x10000 } };

	read_obj_differential(one, 1, 0x20000, 1);              /* small buckets: cells */
	read_obj_differential(two, 2, 0x20000, 2);              /* two regions, holes */
	read_obj_differential(one, 1, 0x3000, 3);               /* crowded buckets */
	read_obj_differential(two, 2, (uint64_t)1 << 42, 4);    /* buckets > 4 GiB: no cells */
}
END_TEST

static Suite *iommu_suite(void)
{
	Suite *s = suite_create("iommu");
	TCase *tc = tcase_create("iotlb");

	tcase_add_test(tc, test_iotlb_merge_and_split);
	tcase_add_test(tc, test_iotlb_permissions);
	tcase_add_test(tc, test_iotlb_invalidate_exact);
	tcase_add_test(tc, test_iotlb_overlapping_updates);
	tcase_add_test(tc, test_iotlb_top_of_space);
	tcase_add_test(tc, test_iotlb_limit_evicts_oldest);
	tcase_add_test(tc, test_iotlb_limit_refuses);
	tcase_add_test(tc, test_iotlb_bad_input);
	tcase_add_test(tc, test_iotlb_cache);
	tcase_add_test(tc, test_iotlb_cache_differential);
	tcase_add_test(tc, test_iommu_read_obj_differential);
	suite_add_tcase(s, tc);

	tc = tcase_create("view");
	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_iommu_check_range_vectors);
	tcase_add_test(tc, test_iommu_scattered_read_write);
	tcase_add_test(tc, test_iommu_partial_and_read_only);
	tcase_add_test(tc, test_iommu_values);
	tcase_add_test(tc, test_iommu_read_host_hint);
	tcase_add_test(tc, test_iommu_read_indexed);
	tcase_add_test(tc, test_iommu_disabled_passes_through);
	tcase_add_test(tc, test_iommu_dirty_by_gpa);
	tcase_add_test(tc, test_iommu_views);
	tcase_add_test(tc, test_iommu_fd_io);
	tcase_add_test(tc, test_iommu_miss_handler);
	tcase_add_test(tc, test_iommu_new_and_accessors);
	tcase_add_test(tc, test_iommu_hotplug);
	tcase_add_test(tc, test_iommu_acquire_pins_memory);
	tcase_add_test(tc, test_iommu_concurrent_invalidation);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(iommu_suite());
}
