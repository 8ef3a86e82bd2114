/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Unit tests for vmmem/memory.h: building, lookup, copy-on-write insert/remove, and a large
 * lookup test of the region index against a brute-force search. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "testutil.h"

#define REGION_SENTINEL ((struct vmmem_region *)(uintptr_t)0x5a5a5a5a5a5a5000u)
#define MEMORY_SENTINEL ((struct vmmem_memory *)(uintptr_t)0xa5a5a5a5a5a5a000u)
#define U64_SENTINEL UINT64_C(0xdeadbeefcafef00d)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small helpers -------------------------------------------------------------------- */

/* Is every page of [p, p + len) mapped? mincore() fails with ENOMEM on an unmapped page
 * (and, unlike msync(), is not reported by valgrind for probing unmapped memory). */
static int is_mapped(void *p, size_t len)
{
	size_t pg = tu_page_size();
	uintptr_t first = (uintptr_t)p & ~(uintptr_t)(pg - 1);

	for (uintptr_t a = first; a < (uintptr_t)p + len; a += pg) {
		unsigned char vec;

		if (mincore((void *)a, 1, &vec) != 0) { /* 1 byte: one page, one status byte */
			ck_assert_msg(errno == ENOMEM, "mincore: unexpected errno %d", errno);
			return 0;
		}
	}
	return 1;
}

/* Deterministic pseudo-random numbers (splitmix64). */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* A region over one page of `area` (no OWN_MAPPING): host memory is never touched by the
 * lookup tests, so many regions may share the same few pages. */
static struct vmmem_region *area_region(char *area, size_t area_pages, size_t i, uint64_t gpa,
					uint64_t size)
{
	struct vmmem_region *r = NULL;
	int rc = vmmem_region_new(&r, gpa, size, area + (i % area_pages) * tu_page_size(), 0);

	/* (no ck_assert on the success path: it is called in large loops) */
	if (rc != 0 || r == NULL)
		ck_abort_msg("vmmem_region_new(0x%llx, 0x%llx) = %d: %s", (unsigned long long)gpa,
			     (unsigned long long)size, rc, vmmem_errormsg());
	return r;
}

/* Build a memory from the given regions, expecting failure `want`, and check *out is NULL. */
static void expect_new_fails(struct vmmem_region *const *regs, size_t n, int want)
{
	struct vmmem_memory *m = MEMORY_SENTINEL;
	int rc = vmmem_memory_new(&m, regs, n);

	ck_assert_msg(rc == want, "vmmem_memory_new(%zu regions) = %d, want %d", n, rc, want);
	ck_assert_ptr_null(m);
}

/* Build [ranges] with tu_anon_region() regions held by the caller in regs[]. */
static void anon_regions(const uint64_t *ranges, size_t n, struct vmmem_region **regs)
{
	for (size_t i = 0; i < n; i++)
		regs[i] = tu_anon_region(ranges[2 * i], ranges[2 * i + 1], 0);
}

static void unref_all(struct vmmem_region **regs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		regs[i] = vmmem_region_unref(regs[i]);
}

/* Check that m's regions are exactly ranges (in order). */
static void expect_layout(const struct vmmem_memory *m, const uint64_t *ranges, size_t n)
{
	ck_assert_uint_eq(vmmem_memory_region_count(m), n);
	for (size_t i = 0; i < n; i++) {
		struct vmmem_region *r = vmmem_memory_region_at(m, i);

		ck_assert_msg(r != NULL, "region_at(%zu) is NULL", i);
		ck_assert_msg(vmmem_region_gpa(r) == ranges[2 * i] &&
				      vmmem_region_size(r) == ranges[2 * i + 1],
			      "region %zu is [0x%llx, +0x%llx), want [0x%llx, +0x%llx)", i,
			      (unsigned long long)vmmem_region_gpa(r),
			      (unsigned long long)vmmem_region_size(r),
			      (unsigned long long)ranges[2 * i],
			      (unsigned long long)ranges[2 * i + 1]);
	}
	ck_assert_ptr_null(vmmem_memory_region_at(m, n));
	ck_assert_uint_eq(vmmem_memory_last_addr(m), ranges[2 * n - 2] + ranges[2 * n - 1] - 1);
}

/* No region can start at 2^64 - 1 (it could not contain that byte): "expect unmapped". */
#define NOWHERE UINT64_MAX

/* find_region expecting the region starting at want_gpa, or NOWHERE for unmapped. */
static void expect_find(const struct vmmem_memory *m, uint64_t gpa, uint64_t want_gpa)
{
	struct vmmem_region *r = REGION_SENTINEL;
	int rc = vmmem_memory_find_region(m, gpa, &r);

	if (want_gpa == NOWHERE) {
		ck_assert_msg(rc == VMMEM_E_UNMAPPED, "find_region(0x%llx) = %d, want unmapped",
			      (unsigned long long)gpa, rc);
		ck_assert_ptr_null(r);
	} else {
		ck_assert_msg(rc == 0, "find_region(0x%llx) = %d", (unsigned long long)gpa, rc);
		ck_assert_ptr_nonnull(r);
		ck_assert_ptr_ne(r, REGION_SENTINEL);
		ck_assert_msg(vmmem_region_gpa(r) == want_gpa,
			      "find_region(0x%llx) gave the region at 0x%llx, want 0x%llx",
			      (unsigned long long)gpa, (unsigned long long)vmmem_region_gpa(r),
			      (unsigned long long)want_gpa);
	}
}

/* Does the error message name value v (in hex with 0x, either case, or in decimal)? */
static bool msg_mentions(const char *msg, uint64_t v)
{
	char a[32], b[32], c[32];

	snprintf(a, sizeof(a), "0x%llx", (unsigned long long)v);
	snprintf(b, sizeof(b), "0x%llX", (unsigned long long)v);
	snprintf(c, sizeof(c), "%llu", (unsigned long long)v);
	return strstr(msg, a) || strstr(msg, b) || strstr(msg, c);
}

/* ---- vmmem_memory_new ----------------------------------------------------------------- */

START_TEST(test_memory_new_empty)
{
	struct vmmem_region *r = tu_anon_region(0, 0x1000, 0);
	struct vmmem_region *regs[1] = { r };

	expect_new_fails(regs, 0, VMMEM_E_NO_REGIONS);
	expect_new_fails(NULL, 0, VMMEM_E_NO_REGIONS);
	ck_assert_msg(vmmem_errormsg()[0] != '\0', "no message");
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_memory_new_invalid)
{
	struct vmmem_region *a = tu_anon_region(0, 0x1000, 0);
	struct vmmem_region *b = tu_anon_region(0x1000, 0x1000, 0);
	struct vmmem_region *with_null[3] = { a, NULL, b };
	struct vmmem_region *first_null[2] = { NULL, a };
	struct vmmem_region *one[1] = { a };

	ck_assert_int_eq(vmmem_memory_new(NULL, one, 1), -EINVAL);
	expect_new_fails(NULL, 1, -EINVAL);
	expect_new_fails(NULL, 5, -EINVAL);
	expect_new_fails(with_null, 3, -EINVAL);
	expect_new_fails(first_null, 2, -EINVAL);
	/* count above 2^31: refused before the (short) array is read. */
	expect_new_fails(one, ((size_t)1 << 31) + 1, -EINVAL);
	expect_new_fails(one, SIZE_MAX, -EINVAL);
	/* The failures neither dropped nor kept references: one unref each unmaps. */
	void *ha = vmmem_region_host(a), *hb = vmmem_region_host(b);

	vmmem_region_unref(a);
	vmmem_region_unref(b);
	ck_assert(!is_mapped(ha, 0x1000));
	ck_assert(!is_mapped(hb, 0x1000));
}
END_TEST

START_TEST(test_memory_new_overlap)
{
	static const uint64_t cases[][4] = {
		{ 0, 100, 99, 100 },       /* §3.1: last byte of the first is the second's first */
		{ 99, 100, 0, 100 },       /* same, unsorted */
		{ 0, 100, 0, 50 },         /* equal starts */
		{ 0, 50, 0, 100 },         /* equal starts, other order */
		{ 0, 100, 0, 100 },        /* identical ranges, distinct regions */
		{ 0, 0x10000, 0x100, 0x10 }, /* contained */
		{ 0x100, 0x10, 0, 0x10000 }, /* contained, unsorted */
		{ 0, 0x1000, 0xfff, 1 },   /* one byte */
		{ UINT64_MAX - 0x2000, 0x1000, UINT64_MAX - 0x1001, 0x1000 }, /* near the top */
	};

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct vmmem_region *regs[2];
		void *h[2];

		regs[0] = tu_anon_region(cases[c][0], cases[c][1], 0);
		regs[1] = tu_anon_region(cases[c][2], cases[c][3], 0);
		h[0] = vmmem_region_host(regs[0]);
		h[1] = vmmem_region_host(regs[1]);
		{
			struct vmmem_memory *m = MEMORY_SENTINEL;
			int rc = vmmem_memory_new(&m, regs, 2);

			ck_assert_msg(rc == VMMEM_E_OVERLAP,
				      "case %zu: [0x%llx,+0x%llx) [0x%llx,+0x%llx): %d", c,
				      (unsigned long long)cases[c][0],
				      (unsigned long long)cases[c][1],
				      (unsigned long long)cases[c][2],
				      (unsigned long long)cases[c][3], rc);
			ck_assert_ptr_null(m);
			ck_assert_msg(vmmem_errormsg()[0] != '\0', "no message");
		}
		unref_all(regs, 2);
		/* No reference leaked by the failure. */
		ck_assert(!is_mapped(h[0], 1));
		ck_assert(!is_mapped(h[1], 1));
	}
}
END_TEST

START_TEST(test_memory_new_overlap_message)
{
	/* "the message names both ranges" */
	static const uint64_t a_gpa = UINT64_MAX - 0x2000, b_gpa = UINT64_MAX - 0x1001;
	struct vmmem_region *regs[2];
	const char *msg;

	regs[0] = tu_anon_region(b_gpa, 0x1000, 0);
	regs[1] = tu_anon_region(a_gpa, 0x1000, 0);
	expect_new_fails(regs, 2, VMMEM_E_OVERLAP);
	msg = vmmem_errormsg();
	ck_assert_msg(msg_mentions(msg, a_gpa) && msg_mentions(msg, b_gpa),
		      "message \"%s\" does not name both ranges", msg);
	unref_all(regs, 2);
}
END_TEST

START_TEST(test_memory_new_same_region_twice)
{
	struct vmmem_region *a = tu_anon_region(0x1000, 0x1000, 0);
	struct vmmem_region *b = tu_anon_region(0x4000, 0x1000, 0);
	struct vmmem_region *twice[2] = { a, a };
	struct vmmem_region *three[3] = { a, b, a };
	void *ha = vmmem_region_host(a);

	expect_new_fails(twice, 2, VMMEM_E_OVERLAP);
	expect_new_fails(three, 3, VMMEM_E_OVERLAP);
	vmmem_region_unref(b);
	vmmem_region_unref(a);
	ck_assert(!is_mapped(ha, 0x1000));
}
END_TEST

START_TEST(test_memory_new_overlap_among_many)
{
	size_t pg = tu_page_size();
	char *area = tu_map_anon(16 * pg);
	struct vmmem_region *regs[101];
	uint64_t seed = 7;

	for (size_t i = 0; i < 100; i++)
		regs[i] = area_region(area, 16, i, 0x100000 + i * 0x1000, 0x1000);
	regs[100] = area_region(area, 16, 100, 0x100000 + 57 * 0x1000 + 0x800, 0x1000);
	/* Adjacent only: fine. */
	{
		struct vmmem_memory *m = NULL;

		ck_assert_int_eq(vmmem_memory_new(&m, regs, 100), 0);
		ck_assert_uint_eq(vmmem_memory_region_count(m), 100);
		vmmem_memory_unref(m);
	}
	/* With the overlapping one, in any position. */
	expect_new_fails(regs, 101, VMMEM_E_OVERLAP);
	for (int round = 0; round < 5; round++) {
		for (size_t i = 100; i > 0; i--) {
			size_t j = (size_t)(rnd(&seed) % (i + 1));
			struct vmmem_region *t = regs[i];

			regs[i] = regs[j];
			regs[j] = t;
		}
		expect_new_fails(regs, 101, VMMEM_E_OVERLAP);
	}
	unref_all(regs, 101);
	tu_unmap(area, 16 * pg);
}
END_TEST

START_TEST(test_memory_new_adjacent)
{
	static const uint64_t ranges[] = { 0, 100, 100, 100 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);

	/* §3.1 */
	expect_layout(m, ranges, 2);
	ck_assert_uint_eq(vmmem_memory_last_addr(m), 199);
	expect_find(m, 0, 0);
	expect_find(m, 99, 0);
	expect_find(m, 100, 100);
	expect_find(m, 199, 100);
	expect_find(m, 200, NOWHERE);
	expect_find(m, UINT64_MAX, NOWHERE);
	ck_assert(vmmem_memory_check_range(m, 0, 200));
	ck_assert(vmmem_memory_check_range(m, 50, 100));
	ck_assert(!vmmem_memory_check_range(m, 0, 201));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_new_adjacent_top)
{
	/* Two regions touching at the very top of the address space. */
	static const uint64_t ranges[] = { UINT64_MAX - 0x2000, 0x1000, UINT64_MAX - 0x1000,
					   0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);

	expect_layout(m, ranges, 2);
	ck_assert_uint_eq(vmmem_memory_last_addr(m), UINT64_MAX - 1);
	expect_find(m, UINT64_MAX - 0x2000, UINT64_MAX - 0x2000);
	expect_find(m, UINT64_MAX - 0x1001, UINT64_MAX - 0x2000);
	expect_find(m, UINT64_MAX - 0x1000, UINT64_MAX - 0x1000);
	expect_find(m, UINT64_MAX - 1, UINT64_MAX - 0x1000);
	expect_find(m, UINT64_MAX, NOWHERE);
	expect_find(m, UINT64_MAX - 0x2001, NOWHERE);
	expect_find(m, 0, NOWHERE);
	ck_assert(vmmem_memory_address_in_range(m, UINT64_MAX - 1));
	ck_assert(!vmmem_memory_address_in_range(m, UINT64_MAX));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_new_unsorted)
{
	static const uint64_t sorted[] = { 0, 100, 100, 100 };
	static const uint64_t input[] = { 100, 100, 0, 100 };
	struct vmmem_memory *m = tu_anon_memory(input, 2);

	/* §3.1 UnsortedMemoryRegions: libvmmem sorts. */
	expect_layout(m, sorted, 2);
	expect_find(m, 0, 0);
	expect_find(m, 150, 100);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_new_unsorted_many)
{
	static const uint64_t input[] = {
		0x90000, 0x1000, 0x1000, 0x800,   0x50000, 0x10000, 0x1800, 0x800,
		0x0,     0x1000, 0x60000, 0x1000, 0x20000, 0x4000,
	};
	static const uint64_t sorted[] = {
		0x0,     0x1000, 0x1000, 0x800,   0x1800, 0x800,   0x20000, 0x4000,
		0x50000, 0x10000, 0x60000, 0x1000, 0x90000, 0x1000,
	};
	struct vmmem_memory *m = tu_anon_memory(input, 7);

	expect_layout(m, sorted, 7);
	ck_assert_uint_eq(vmmem_memory_last_addr(m), 0x90fff);
	expect_find(m, 0x1fff, 0x1800);
	expect_find(m, 0x2000, NOWHERE);
	expect_find(m, 0x5ffff, 0x50000);
	expect_find(m, 0x60000, 0x60000);
	ck_assert(vmmem_memory_check_range(m, 0, 0x2000));
	ck_assert(vmmem_memory_check_range(m, 0x50000, 0x11000));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_iter_order)
{
	/* §3.1: [(0,0x400),(0x1000,0x400)] iterates in order. */
	static const uint64_t ranges[] = { 0, 0x400, 0x1000, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);

	expect_layout(m, ranges, 2);
	ck_assert_ptr_null(vmmem_memory_region_at(m, 2));
	ck_assert_ptr_null(vmmem_memory_region_at(m, SIZE_MAX));
	vmmem_memory_unref(m);
}
END_TEST

/* ---- references ----------------------------------------------------------------------- */

START_TEST(test_memory_holds_region_refs)
{
	static const uint64_t ranges[] = { 0x10000, 0x2000, 0, 0x1000 };
	struct vmmem_region *regs[2];
	struct vmmem_memory *m = NULL;
	void *h0, *h1;
	char *p;

	anon_regions(ranges, 2, regs);
	h0 = vmmem_region_host(regs[0]);
	h1 = vmmem_region_host(regs[1]);
	ck_assert_int_eq(vmmem_memory_new(&m, regs, 2), 0);
	ck_assert_ptr_nonnull(m);
	unref_all(regs, 2);

	/* The memory's references keep the regions (and their mappings) alive. */
	ck_assert(is_mapped(h0, 0x2000));
	ck_assert(is_mapped(h1, 0x1000));
	ck_assert_ptr_eq(vmmem_region_host(vmmem_memory_region_at(m, 0)), h1);
	ck_assert_ptr_eq(vmmem_region_host(vmmem_memory_region_at(m, 1)), h0);
	p = vmmem_region_host(vmmem_memory_region_at(m, 1));
	memset(p, 0x5a, 0x2000);
	expect_find(m, 0x11fff, 0x10000);

	/* The last memory reference drops them. */
	ck_assert_ptr_null(vmmem_memory_unref(m));
	ck_assert(!is_mapped(h0, 0x2000));
	ck_assert(!is_mapped(h1, 0x1000));
}
END_TEST

START_TEST(test_memory_caller_keeps_refs)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x3000, 0x1000 };
	struct vmmem_region *regs[2];
	struct vmmem_memory *m = NULL;

	anon_regions(ranges, 2, regs);
	ck_assert_int_eq(vmmem_memory_new(&m, regs, 2), 0);
	vmmem_memory_unref(m);
	ck_assert_uint_eq(vmmem_region_gpa(regs[1]), 0x3000);
	ck_assert(is_mapped(vmmem_region_host(regs[0]), 0x1000));
	ck_assert(is_mapped(vmmem_region_host(regs[1]), 0x1000));
	unref_all(regs, 2);
}
END_TEST

START_TEST(test_memory_ref_unref)
{
	static const uint64_t ranges[] = { 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	void *h = vmmem_region_host(vmmem_memory_region_at(m, 0));

	ck_assert_ptr_eq(vmmem_memory_ref(m), m);
	ck_assert_ptr_eq(vmmem_memory_ref(m), m);
	ck_assert_ptr_null(vmmem_memory_unref(m));
	ck_assert_ptr_null(vmmem_memory_unref(m));
	expect_find(m, 0x1000, 0x1000);
	ck_assert(is_mapped(h, 0x1000));
	ck_assert_ptr_null(vmmem_memory_unref(m));
	ck_assert(!is_mapped(h, 0x1000));
	ck_assert_ptr_null(vmmem_memory_ref(NULL));
	ck_assert_ptr_null(vmmem_memory_unref(NULL));
}
END_TEST

START_TEST(test_memory_accessors_null)
{
	struct vmmem_region *r = REGION_SENTINEL;
	uint64_t v = U64_SENTINEL;

	ck_assert_uint_eq(vmmem_memory_region_count(NULL), 0);
	ck_assert_ptr_null(vmmem_memory_region_at(NULL, 0));
	ck_assert_uint_eq(vmmem_memory_last_addr(NULL), 0);
	ck_assert_int_eq(vmmem_memory_find_region(NULL, 0, &r), -EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(vmmem_memory_to_region(NULL, 0, NULL, NULL), -EINVAL);
	ck_assert(!vmmem_memory_address_in_range(NULL, 0));
	ck_assert_int_eq(vmmem_memory_check_address(NULL, 0), -EINVAL);
	ck_assert_int_eq(vmmem_memory_checked_offset(NULL, 0, 0, &v), -EINVAL);
	ck_assert_uint_eq(v, U64_SENTINEL);
	ck_assert(!vmmem_memory_check_range(NULL, 0, 1));
}
END_TEST

/* ---- lookup (§3.1 vectors) ------------------------------------------------------------ */

START_TEST(test_memory_find_region_args)
{
	static const uint64_t ranges[] = { 0, 0x400, 0x800, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	struct vmmem_region *r = REGION_SENTINEL;

	ck_assert_int_eq(vmmem_memory_find_region(m, 0, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_find_region(m, 0x600, &r), VMMEM_E_UNMAPPED);
	ck_assert_ptr_null(r);
	ck_assert_msg(vmmem_errormsg()[0] != '\0', "no message");
	r = REGION_SENTINEL;
	ck_assert_int_eq(vmmem_memory_find_region(m, 0x800, &r), 0);
	ck_assert_ptr_eq(r, vmmem_memory_region_at(m, 1));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_unmapped_message)
{
	static const uint64_t ranges[] = { 0x10000, 0x400, 0x20000, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	struct vmmem_region *r = NULL;
	char saved[512];

	ck_assert_int_eq(vmmem_memory_find_region(m, 0x15abc, &r), VMMEM_E_UNMAPPED);
	ck_assert_msg(msg_mentions(vmmem_errormsg(), 0x15abc), "message \"%s\"",
		      vmmem_errormsg());
	ck_assert_int_eq(vmmem_memory_check_address(m, 0x1f123), VMMEM_E_UNMAPPED);
	ck_assert_msg(msg_mentions(vmmem_errormsg(), 0x1f123), "message \"%s\"",
		      vmmem_errormsg());
	snprintf(saved, sizeof(saved), "%s", vmmem_errormsg());
	/* Successful calls leave it alone. */
	ck_assert_int_eq(vmmem_memory_find_region(m, 0x10000, &r), 0);
	ck_assert_int_eq(vmmem_memory_check_address(m, 0x20000), 0);
	ck_assert(vmmem_memory_check_range(m, 0x10000, 0x400));
	ck_assert_str_eq(vmmem_errormsg(), saved);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_address_in_range)
{
	/* §3.1: [(0,0x400),(0x800,0x400)] address_in_range 0x200/0x600/0xa00/0xc00 = T/F/T/F. */
	static const uint64_t ranges[] = { 0, 0x400, 0x800, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);

	ck_assert(vmmem_memory_address_in_range(m, 0x200));
	ck_assert(!vmmem_memory_address_in_range(m, 0x600));
	ck_assert(vmmem_memory_address_in_range(m, 0xa00));
	ck_assert(!vmmem_memory_address_in_range(m, 0xc00));
	ck_assert(vmmem_memory_address_in_range(m, 0));
	ck_assert(vmmem_memory_address_in_range(m, 0x3ff));
	ck_assert(!vmmem_memory_address_in_range(m, 0x400));
	ck_assert(!vmmem_memory_address_in_range(m, 0x7ff));
	ck_assert(vmmem_memory_address_in_range(m, 0xbff));
	ck_assert(!vmmem_memory_address_in_range(m, UINT64_MAX));

	ck_assert_int_eq(vmmem_memory_check_address(m, 0x200), 0);
	ck_assert_int_eq(vmmem_memory_check_address(m, 0x600), VMMEM_E_UNMAPPED);
	ck_assert_msg(vmmem_errormsg()[0] != '\0', "no message");
	ck_assert_int_eq(vmmem_memory_check_address(m, 0xa00), 0);
	ck_assert_int_eq(vmmem_memory_check_address(m, 0xc00), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_check_address(m, UINT64_MAX), VMMEM_E_UNMAPPED);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_to_region)
{
	/* §3.1: to_region_addr 0x600 / 0x800 / 0xa00 = None / (r2,0) / (r2,0x200). */
	static const uint64_t ranges[] = { 0, 0x400, 0x800, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	struct vmmem_region *r2 = vmmem_memory_region_at(m, 1);
	struct vmmem_region *r = REGION_SENTINEL;
	uint64_t off = U64_SENTINEL;

	ck_assert_int_eq(vmmem_memory_to_region(m, 0x600, &r, &off), VMMEM_E_UNMAPPED);
	ck_assert_ptr_eq(r, REGION_SENTINEL); /* outputs untouched */
	ck_assert_uint_eq(off, U64_SENTINEL);
	ck_assert_int_eq(vmmem_memory_to_region(m, 0x800, &r, &off), 0);
	ck_assert_ptr_eq(r, r2);
	ck_assert_uint_eq(off, 0);
	ck_assert_int_eq(vmmem_memory_to_region(m, 0xa00, &r, &off), 0);
	ck_assert_ptr_eq(r, r2);
	ck_assert_uint_eq(off, 0x200);
	ck_assert_int_eq(vmmem_memory_to_region(m, 0x3ff, &r, &off), 0);
	ck_assert_ptr_eq(r, vmmem_memory_region_at(m, 0));
	ck_assert_uint_eq(off, 0x3ff);
	/* Either output may be NULL. */
	off = U64_SENTINEL;
	ck_assert_int_eq(vmmem_memory_to_region(m, 0xbff, NULL, &off), 0);
	ck_assert_uint_eq(off, 0x3ff);
	r = REGION_SENTINEL;
	ck_assert_int_eq(vmmem_memory_to_region(m, 0xbff, &r, NULL), 0);
	ck_assert_ptr_eq(r, r2);
	ck_assert_int_eq(vmmem_memory_to_region(m, 0xbff, NULL, NULL), 0);
	ck_assert_int_eq(vmmem_memory_to_region(m, 0xc00, NULL, NULL), VMMEM_E_UNMAPPED);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_checked_offset)
{
	/* §3.1: [(0,0x400),(0x800,0x400),(0xc00,0x400)] checked_offset
	 * (0,0x200),(0,0xa00),(0x800,0x7ff),(0x800,0xc00),(0,MAX),(0,0x400),(0,0x3ff)
	 * = 0x200, 0xa00, 0xfff, None, None, None, 0x3ff. */
	static const uint64_t ranges[] = { 0, 0x400, 0x800, 0x400, 0xc00, 0x400 };
	static const struct {
		uint64_t base, off;
		int rc;
		uint64_t want;
	} v[] = {
		{ 0, 0x200, 0, 0x200 },
		{ 0, 0xa00, 0, 0xa00 },
		{ 0x800, 0x7ff, 0, 0xfff },
		{ 0x800, 0xc00, VMMEM_E_UNMAPPED, 0 },
		{ 0, UINT64_MAX, VMMEM_E_UNMAPPED, 0 },
		{ 0, 0x400, VMMEM_E_UNMAPPED, 0 },
		{ 0, 0x3ff, 0, 0x3ff },
		/* the result counts, not the bytes in between (a hole at 0x400..0x7ff) */
		{ 0x200, 0x700, 0, 0x900 },
		/* base itself may be unmapped */
		{ 0x500, 0x400, 0, 0x900 },
		{ 0x5000, 0, VMMEM_E_UNMAPPED, 0 },
		{ 0x800, 0, 0, 0x800 },
		/* overflow past 2^64 */
		{ 0x800, UINT64_MAX, -EOVERFLOW, 0 },
		{ 1, UINT64_MAX, -EOVERFLOW, 0 },
		{ UINT64_MAX, 1, -EOVERFLOW, 0 },
		{ UINT64_MAX, UINT64_MAX, -EOVERFLOW, 0 },
		{ UINT64_MAX, 0, VMMEM_E_UNMAPPED, 0 },
	};
	struct vmmem_memory *m = tu_anon_memory(ranges, 3);

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		uint64_t out = U64_SENTINEL;
		int rc = vmmem_memory_checked_offset(m, v[i].base, v[i].off, &out);

		ck_assert_msg(rc == v[i].rc, "checked_offset(0x%llx, 0x%llx) = %d, want %d",
			      (unsigned long long)v[i].base, (unsigned long long)v[i].off, rc,
			      v[i].rc);
		if (v[i].rc == 0)
			ck_assert_msg(out == v[i].want, "checked_offset(0x%llx, 0x%llx) -> 0x%llx",
				      (unsigned long long)v[i].base, (unsigned long long)v[i].off,
				      (unsigned long long)out);
		else
			ck_assert_msg(out == U64_SENTINEL, "out written on failure (vector %zu)", i);
	}
	ck_assert_int_eq(vmmem_memory_checked_offset(m, 0, 0x200, NULL), -EINVAL);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_check_range)
{
	/* §3.1: check_range (0,0),(0,0x200),(0,0x400),(0,0xa00),(0x800,0x7ff),(0x800,0x800),
	 * (0x800,0x801),(0x800,0xc00),(0,MAX) = T,T,T,F,T,T,F,F,F. */
	static const uint64_t ranges[] = { 0, 0x400, 0x800, 0x400, 0xc00, 0x400 };
	static const struct {
		uint64_t gpa, len;
		bool want;
	} v[] = {
		{ 0, 0, true },
		{ 0, 0x200, true },
		{ 0, 0x400, true },
		{ 0, 0xa00, false },
		{ 0x800, 0x7ff, true },
		{ 0x800, 0x800, true },
		{ 0x800, 0x801, false },
		{ 0x800, 0xc00, false },
		{ 0, UINT64_MAX, false },
		/* len 0 is true at any address, mapped or not (vm-memory HEAD) */
		{ 0x400, 0, true },
		{ 0x600, 0, true },
		{ 0x1000, 0, true },
		{ UINT64_MAX, 0, true },
		/* others */
		{ 0x3ff, 1, true },
		{ 0x3ff, 2, false },
		{ 0x400, 1, false },
		{ 0x7ff, 2, false },
		{ 0xbff, 2, true }, /* crosses the adjacent pair */
		{ 0xa00, 0x600, true },
		{ 0xfff, 1, true },
		{ 0xfff, 2, false },
		{ 0x1000, 1, false },
		{ 0x900, UINT64_MAX, false },
		{ UINT64_MAX, 1, false },
		{ UINT64_MAX, UINT64_MAX, false },
	};
	struct vmmem_memory *m = tu_anon_memory(ranges, 3);

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		ck_assert_msg(vmmem_memory_check_range(m, v[i].gpa, v[i].len) == v[i].want,
			      "check_range(0x%llx, 0x%llx) != %d", (unsigned long long)v[i].gpa,
			      (unsigned long long)v[i].len, v[i].want);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_check_range_top)
{
	static const uint64_t ranges[] = { UINT64_MAX - 0x2000, 0x1000, UINT64_MAX - 0x1000,
					   0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);

	ck_assert(vmmem_memory_check_range(m, UINT64_MAX - 0x2000, 0x2000));
	ck_assert(vmmem_memory_check_range(m, UINT64_MAX - 0x1000, 0x1000));
	ck_assert(vmmem_memory_check_range(m, UINT64_MAX - 1, 1));
	/* byte 2^64 - 1 is never backed; gpa + len == 2^64 or past it */
	ck_assert(!vmmem_memory_check_range(m, UINT64_MAX - 0x2000, 0x2001));
	ck_assert(!vmmem_memory_check_range(m, UINT64_MAX - 1, 2));
	ck_assert(!vmmem_memory_check_range(m, UINT64_MAX - 1, 3));
	ck_assert(!vmmem_memory_check_range(m, UINT64_MAX - 0x2000, UINT64_MAX));
	ck_assert(!vmmem_memory_check_range(m, UINT64_MAX, 1));
	ck_assert(vmmem_memory_check_range(m, UINT64_MAX, 0));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_check_range_many_adjacent)
{
	size_t pg = tu_page_size();
	char *area = tu_map_anon(4 * pg);
	struct vmmem_region *regs[300];
	struct vmmem_memory *m = NULL;

	/* 300 one-byte regions at 0x1000.., adjacent except for a hole at 0x1000 + 200. */
	for (size_t i = 0; i < 300; i++)
		regs[i] = area_region(area, 4, i, 0x1000 + i + (i >= 200), 1);
	ck_assert_int_eq(vmmem_memory_new(&m, regs, 300), 0);
	unref_all(regs, 300);
	ck_assert(vmmem_memory_check_range(m, 0x1000, 200));
	ck_assert(!vmmem_memory_check_range(m, 0x1000, 201));
	ck_assert(vmmem_memory_check_range(m, 0x1000 + 201, 100));
	ck_assert(!vmmem_memory_check_range(m, 0x1000 + 201, 101));
	ck_assert(!vmmem_memory_check_range(m, 0xfff, 2));
	ck_assert(vmmem_memory_check_range(m, 0x1001, 199));
	ck_assert_uint_eq(vmmem_memory_last_addr(m), 0x1000 + 300);
	vmmem_memory_unref(m);
	tu_unmap(area, 4 * pg);
}
END_TEST

/* ---- insert / remove (copy-on-write) -------------------------------------------------- */

START_TEST(test_memory_insert_region)
{
	/* §3.1: [(0,0x1000),(0x100000,0x1000)] insert 0x8000, 0x4000, 0xc000 -> 5 regions. */
	static const uint64_t base[] = { 0, 0x1000, 0x100000, 0x1000 };
	static const uint64_t after1[] = { 0, 0x1000, 0x8000, 0x1000, 0x100000, 0x1000 };
	static const uint64_t after2[] = { 0, 0x1000, 0x4000, 0x1000, 0x8000, 0x1000,
					   0x100000, 0x1000 };
	static const uint64_t after3[] = { 0,      0x1000, 0x4000, 0x1000, 0x8000,
					   0x1000, 0xc000, 0x1000, 0x100000, 0x1000 };
	struct vmmem_memory *m0 = tu_anon_memory(base, 2);
	struct vmmem_memory *m1 = MEMORY_SENTINEL, *m2 = MEMORY_SENTINEL, *m3 = MEMORY_SENTINEL;
	struct vmmem_memory *bad = MEMORY_SENTINEL;
	struct vmmem_region *r8 = tu_anon_region(0x8000, 0x1000, 0);
	struct vmmem_region *r4 = tu_anon_region(0x4000, 0x1000, 0);
	struct vmmem_region *rc = tu_anon_region(0xc000, 0x1000, 0);
	struct vmmem_region *dup = tu_anon_region(0xc000, 0x1000, 0);
	void *hdup = vmmem_region_host(dup);

	ck_assert_int_eq(vmmem_memory_insert_region(m0, r8, &m1), 0);
	ck_assert_int_eq(vmmem_memory_insert_region(m1, r4, &m2), 0);
	ck_assert_int_eq(vmmem_memory_insert_region(m2, rc, &m3), 0);
	ck_assert_ptr_nonnull(m1);
	ck_assert_ptr_ne(m1, m0);
	expect_layout(m3, after3, 5);
	/* The originals are unchanged. */
	expect_layout(m0, base, 2);
	expect_layout(m1, after1, 3);
	expect_layout(m2, after2, 4);
	expect_find(m0, 0x8000, NOWHERE);
	expect_find(m3, 0x8000, 0x8000);
	expect_find(m3, 0xcfff, 0xc000);
	expect_find(m3, 0xd000, NOWHERE);
	ck_assert_ptr_eq(vmmem_memory_region_at(m3, 3), rc);
	/* Untouched regions are shared. */
	ck_assert_ptr_eq(vmmem_memory_region_at(m3, 0), vmmem_memory_region_at(m0, 0));
	ck_assert_ptr_eq(vmmem_memory_region_at(m3, 4), vmmem_memory_region_at(m0, 1));

	/* §3.1: inserting (0xc000, 0x1000) again overlaps. */
	ck_assert_int_eq(vmmem_memory_insert_region(m3, dup, &bad), VMMEM_E_OVERLAP);
	ck_assert_ptr_null(bad);
	bad = MEMORY_SENTINEL;
	ck_assert_int_eq(vmmem_memory_insert_region(m3, rc, &bad), VMMEM_E_OVERLAP);
	ck_assert_ptr_null(bad);
	expect_layout(m3, after3, 5);
	/* The failed insert kept no reference on dup. */
	vmmem_region_unref(dup);
	ck_assert(!is_mapped(hdup, 0x1000));

	/* The new memories hold their own references on the inserted regions. */
	vmmem_region_unref(r8);
	vmmem_region_unref(r4);
	vmmem_region_unref(rc);
	vmmem_memory_unref(m0);
	vmmem_memory_unref(m1);
	vmmem_memory_unref(m2);
	expect_layout(m3, after3, 5);
	memset(vmmem_region_host(vmmem_memory_region_at(m3, 2)), 1, 0x1000);
	vmmem_memory_unref(m3);
}
END_TEST

START_TEST(test_memory_insert_edges)
{
	static const uint64_t base[] = { 0x10000, 0x1000, 0x20000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(base, 2);
	struct vmmem_memory *out = MEMORY_SENTINEL;
	static const struct {
		uint64_t gpa, size;
		int rc;
	} v[] = {
		{ 0, 0x1000, 0 },            /* front */
		{ 0xf000, 0x1000, 0 },       /* adjacent below the first */
		{ 0x11000, 0x1000, 0 },      /* adjacent above the first */
		{ 0x11000, 0xf000, 0 },      /* fills the gap exactly */
		{ 0x30000, 0x1000, 0 },      /* end */
		{ UINT64_MAX - 0x1000, 0x1000, 0 }, /* very top */
		{ 0xf000, 0x1001, VMMEM_E_OVERLAP },
		{ 0x10fff, 0x2, VMMEM_E_OVERLAP },
		{ 0x11000, 0xf001, VMMEM_E_OVERLAP },
		{ 0, 0x30000, VMMEM_E_OVERLAP }, /* covers both */
		{ 0x10800, 0x10, VMMEM_E_OVERLAP },
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		struct vmmem_region *r = tu_anon_region(v[i].gpa, v[i].size, 0);
		int rc = vmmem_memory_insert_region(m, r, &out);

		ck_assert_msg(rc == v[i].rc, "insert [0x%llx, +0x%llx) = %d, want %d",
			      (unsigned long long)v[i].gpa, (unsigned long long)v[i].size, rc,
			      v[i].rc);
		if (rc == 0) {
			ck_assert_uint_eq(vmmem_memory_region_count(out), 3);
			expect_find(out, v[i].gpa, v[i].gpa);
			expect_find(out, v[i].gpa + v[i].size - 1, v[i].gpa);
			expect_find(out, 0x10000, 0x10000);
			expect_find(out, 0x20fff, 0x20000);
			out = vmmem_memory_unref(out);
		} else {
			ck_assert_ptr_null(out);
		}
		vmmem_region_unref(r);
		out = MEMORY_SENTINEL;
	}
	expect_layout(m, base, 2);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_insert_invalid)
{
	static const uint64_t base[] = { 0x10000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(base, 1);
	struct vmmem_region *r = tu_anon_region(0, 0x1000, 0);
	struct vmmem_memory *out = MEMORY_SENTINEL;

	ck_assert_int_eq(vmmem_memory_insert_region(NULL, r, &out), -EINVAL);
	ck_assert_ptr_null(out);
	out = MEMORY_SENTINEL;
	ck_assert_int_eq(vmmem_memory_insert_region(m, NULL, &out), -EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(vmmem_memory_insert_region(m, r, NULL), -EINVAL);
	expect_layout(m, base, 1);
	vmmem_region_unref(r);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_remove_region)
{
	/* §3.1: [(0,0x1000),(0x100000,0x1000)] remove(0,128) / remove(0x4000,128) /
	 * remove(0x100000,0x1000) = NoMemoryRegion / NoMemoryRegion / OK. */
	static const uint64_t base[] = { 0, 0x1000, 0x100000, 0x1000 };
	static const uint64_t left[] = { 0, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(base, 2);
	struct vmmem_memory *out = MEMORY_SENTINEL;
	struct vmmem_region *removed = REGION_SENTINEL;
	struct vmmem_region *orig1 = vmmem_memory_region_at(m, 1);
	void *h1 = vmmem_region_host(orig1);

	ck_assert_int_eq(vmmem_memory_remove_region(m, 0, 128, &out, &removed),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_ptr_null(out);
	ck_assert_ptr_null(removed);
	out = MEMORY_SENTINEL;
	removed = REGION_SENTINEL;
	ck_assert_int_eq(vmmem_memory_remove_region(m, 0x4000, 128, &out, &removed),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_ptr_null(out);
	ck_assert_ptr_null(removed);
	/* Size must match exactly; the start must be the region's start. */
	ck_assert_int_eq(vmmem_memory_remove_region(m, 0x100000, 0x1001, &out, &removed),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_int_eq(vmmem_memory_remove_region(m, 0x100000, 0xfff, &out, &removed),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_int_eq(vmmem_memory_remove_region(m, 0x100001, 0xfff, &out, &removed),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_int_eq(vmmem_memory_remove_region(m, 0x100000, 0, &out, &removed),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_int_eq(vmmem_memory_remove_region(m, UINT64_MAX, UINT64_MAX, &out, &removed),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_ptr_null(out);
	ck_assert_ptr_null(removed);
	ck_assert_msg(vmmem_errormsg()[0] != '\0', "no message");

	ck_assert_int_eq(vmmem_memory_remove_region(m, 0x100000, 0x1000, &out, &removed), 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_ne(out, m);
	ck_assert_ptr_eq(removed, orig1);
	ck_assert_uint_eq(vmmem_region_gpa(removed), 0x100000);
	expect_layout(out, left, 1);
	expect_find(out, 0x100000, NOWHERE);
	/* The original still has both. */
	expect_layout(m, base, 2);
	expect_find(m, 0x100000, 0x100000);

	/* removed carries its own reference: it outlives both memories. */
	vmmem_memory_unref(m);
	vmmem_memory_unref(out);
	ck_assert(is_mapped(h1, 0x1000));
	ck_assert_uint_eq(vmmem_region_size(removed), 0x1000);
	vmmem_region_unref(removed);
	ck_assert(!is_mapped(h1, 0x1000));
}
END_TEST

START_TEST(test_memory_remove_region_not_wanted)
{
	static const uint64_t base[] = { 0, 0x1000, 0x2000, 0x1000, 0x4000, 0x1000 };
	static const uint64_t left[] = { 0, 0x1000, 0x4000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(base, 3);
	struct vmmem_memory *out = NULL;
	void *h1 = vmmem_region_host(vmmem_memory_region_at(m, 1));

	ck_assert_int_eq(vmmem_memory_remove_region(m, 0x2000, 0x1000, &out, NULL), 0);
	expect_layout(out, left, 2);
	expect_find(out, 0x2000, NOWHERE);
	ck_assert(!vmmem_memory_check_range(out, 0, 0x5000));
	ck_assert(vmmem_memory_check_range(m, 0x2000, 0x1000));
	ck_assert_ptr_eq(vmmem_memory_region_at(out, 1), vmmem_memory_region_at(m, 2));
	/* With the original gone, the removed region has no owner left. */
	vmmem_memory_unref(m);
	ck_assert(!is_mapped(h1, 0x1000));
	expect_find(out, 0x4000, 0x4000);
	expect_layout(out, left, 2);
	vmmem_memory_unref(out);
}
END_TEST

START_TEST(test_memory_remove_only_region)
{
	static const uint64_t base[] = { 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(base, 1);
	struct vmmem_memory *out = MEMORY_SENTINEL, *back = NULL;
	struct vmmem_region *removed = REGION_SENTINEL, *found = REGION_SENTINEL;
	uint8_t byte = 0;

	/* A wrong size is "no such region". */
	ck_assert_int_eq(vmmem_memory_remove_region(m, 0x1000, 0x800, &out, NULL),
			 VMMEM_E_NO_SUCH_REGION);
	ck_assert_ptr_null(out);
	/* Removing the only region gives an empty memory. */
	ck_assert_int_eq(vmmem_memory_remove_region(m, 0x1000, 0x1000, &out, &removed), 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_eq(removed, vmmem_memory_region_at(m, 0));
	ck_assert_uint_eq(vmmem_memory_region_count(out), 0);
	ck_assert_ptr_null(vmmem_memory_region_at(out, 0));
	ck_assert_uint_eq(vmmem_memory_last_addr(out), 0);
	ck_assert_int_eq(vmmem_memory_find_region(out, 0x1000, &found), VMMEM_E_UNMAPPED);
	ck_assert_ptr_null(found);
	ck_assert(!vmmem_memory_address_in_range(out, 0x1000));
	ck_assert(!vmmem_memory_check_range(out, 0x1000, 1));
	ck_assert(vmmem_memory_check_range(out, 0x1000, 0));
	ck_assert_int_eq(vmmem_memory_read(out, 0x1000, &byte, 1), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_remove_region(out, 0x1000, 0x1000, &back, NULL),
			 VMMEM_E_NO_SUCH_REGION);
	/* The region goes back in. */
	ck_assert_int_eq(vmmem_memory_insert_region(out, removed, &back), 0);
	expect_layout(back, base, 1);
	expect_layout(m, base, 1); /* the original is untouched */
	vmmem_memory_unref(back);
	vmmem_memory_unref(out);
	vmmem_region_unref(removed);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_empty_memory)
{
	struct vmmem_memory *e = MEMORY_SENTINEL, *one = NULL;
	struct vmmem_region *r = tu_anon_region(0x2000, 0x1000, 0), *found = REGION_SENTINEL;
	uint64_t gpas[] = { 0, 1, 0x2000, UINT64_MAX - 1, UINT64_MAX };

	ck_assert_int_eq(vmmem_memory_new_empty(NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_new_empty(&e), 0);
	ck_assert_uint_eq(vmmem_memory_region_count(e), 0);
	ck_assert_uint_eq(vmmem_memory_last_addr(e), 0);
	for (size_t i = 0; i < sizeof(gpas) / sizeof(gpas[0]); i++) {
		ck_assert_int_eq(vmmem_memory_find_region(e, gpas[i], &found), VMMEM_E_UNMAPPED);
		ck_assert_ptr_null(found);
	}
	ck_assert_int_eq(vmmem_memory_insert_region(e, r, &one), 0);
	ck_assert_uint_eq(vmmem_memory_region_count(one), 1);
	ck_assert_int_eq(vmmem_memory_find_region(one, 0x2fff, &found), 0);
	ck_assert_ptr_eq(found, r);
	vmmem_memory_unref(one);
	vmmem_memory_unref(e);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_memory_remove_invalid)
{
	static const uint64_t base[] = { 0, 0x1000, 0x2000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(base, 2);
	struct vmmem_memory *out = MEMORY_SENTINEL;
	struct vmmem_region *removed = REGION_SENTINEL;

	ck_assert_int_eq(vmmem_memory_remove_region(NULL, 0, 0x1000, &out, &removed), -EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_ptr_null(removed);
	removed = REGION_SENTINEL;
	ck_assert_int_eq(vmmem_memory_remove_region(m, 0, 0x1000, NULL, &removed), -EINVAL);
	ck_assert_ptr_null(removed);
	expect_layout(m, base, 2);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_memory_remove_then_insert_rebased)
{
	/* §3.1: [(0x1000,0x1000)] remove(0x1000,0x1000), re-base the mapping to 0x2000 and
	 * insert: find(0x1000) none, find(0x2000) found. A memory is never empty in libvmmem,
	 * so the re-based region is inserted first and the old one removed after. */
	static const uint64_t base[] = { 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(base, 1);
	struct vmmem_region *r1 = vmmem_memory_region_at(m, 0);
	struct vmmem_region *r2 = NULL, *removed = NULL;
	struct vmmem_memory *m2 = NULL, *m3 = NULL;

	ck_assert_int_eq(vmmem_region_new(&r2, 0x2000, 0x1000, vmmem_region_host(r1), 0), 0);
	ck_assert_int_eq(vmmem_memory_insert_region(m, r2, &m2), 0);
	expect_find(m2, 0x1000, 0x1000);
	expect_find(m2, 0x2000, 0x2000);
	ck_assert_int_eq(vmmem_memory_remove_region(m2, 0x1000, 0x1000, &m3, &removed), 0);
	ck_assert_ptr_eq(removed, r1);
	expect_find(m3, 0x1000, NOWHERE);
	expect_find(m3, 0x2000, 0x2000);
	ck_assert_uint_eq(vmmem_memory_region_count(m3), 1);
	ck_assert_uint_eq(vmmem_memory_last_addr(m3), 0x2fff);
	vmmem_memory_unref(m3);
	vmmem_memory_unref(m2);
	vmmem_region_unref(r2);
	vmmem_region_unref(removed);
	vmmem_memory_unref(m);
}
END_TEST

/* ---- discard (regions made by the caller) --------------------------------------------- */

START_TEST(test_memory_discard_checks)
{
	/* In host pages P (4, 16 or 64 KiB): [0, 2P) [2P, 4P) hole [16P, 17P). */
	const uint64_t P = tu_page_size();
	const uint64_t ranges[] = { 0, 2 * P, 2 * P, 2 * P, 16 * P, P };
	struct vmmem_memory *m = tu_anon_memory(ranges, 3);
	unsigned char *h[3];

	for (size_t i = 0; i < 3; i++) {
		h[i] = vmmem_region_host(vmmem_memory_region_at(m, i));
		memset(h[i], 0x40 + (int)i, ranges[2 * i + 1]);
	}
	ck_assert_int_eq(vmmem_memory_discard(NULL, 0, P), -EINVAL);
	/* len 0: success anywhere. */
	ck_assert_int_eq(vmmem_memory_discard(m, 0, 0), 0);
	ck_assert_int_eq(vmmem_memory_discard(m, 8 * P, 0), 0);
	ck_assert_int_eq(vmmem_memory_discard(m, UINT64_MAX, 0), 0);
	/* gpa + len passes 2^64. */
	ck_assert_int_eq(vmmem_memory_discard(m, UINT64_MAX, 2), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_discard(m, P, UINT64_MAX), -EOVERFLOW);
	/* A hole anywhere in the range: nothing discarded. */
	ck_assert_int_eq(vmmem_memory_discard(m, 8 * P, P), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_discard(m, 0, 5 * P), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_discard(m, 3 * P, 14 * P), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_discard(m, UINT64_MAX, 1), VMMEM_E_UNMAPPED);
	/* Fully backed, but by caller mappings libvmmem cannot discard. */
	ck_assert_int_eq(vmmem_memory_discard(m, 0, P), -EOPNOTSUPP);
	ck_assert_int_eq(vmmem_memory_discard(m, P, 2 * P), -EOPNOTSUPP);
	/* Nothing changed. */
	for (size_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(h[i][0], 0x40 + i);
		ck_assert_uint_eq(h[i][ranges[2 * i + 1] - 1], 0x40 + i);
	}
	vmmem_memory_unref(m);
}
END_TEST

/* ---- threads -------------------------------------------------------------------------- */

struct lookup_thread {
	struct vmmem_memory *m;
	unsigned int bad;
};

static void *lookup_thread_fn(void *arg)
{
	struct lookup_thread *t = arg;

	for (uint64_t i = 0; i < 20000; i++) {
		uint64_t gpa = (i * 0x777) % 0x20000;
		struct vmmem_region *r = NULL;
		struct vmmem_memory *m = vmmem_memory_ref(t->m);
		int rc = vmmem_memory_find_region(m, gpa, &r);
		bool mapped = (gpa / 0x1000) % 2 == 0;

		if (mapped ? (rc != 0 || vmmem_region_gpa(r) != (gpa & ~UINT64_C(0xfff)))
			   : rc != VMMEM_E_UNMAPPED)
			t->bad++;
		vmmem_memory_unref(m);
	}
	return NULL;
}

START_TEST(test_memory_concurrent_lookup)
{
	size_t pg = tu_page_size();
	char *area = tu_map_anon(pg);
	struct vmmem_region *regs[16];
	struct lookup_thread t[3];
	pthread_t th[3];
	struct vmmem_memory *m = NULL;

	for (size_t i = 0; i < 16; i++)
		regs[i] = area_region(area, 1, 0, i * 0x2000, 0x1000);
	ck_assert_int_eq(vmmem_memory_new(&m, regs, 16), 0);
	unref_all(regs, 16);
	for (int i = 0; i < 3; i++) {
		t[i].m = m;
		t[i].bad = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, lookup_thread_fn, &t[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_uint_eq(t[i].bad, 0);
	}
	vmmem_memory_unref(m);
	tu_unmap(area, pg);
}
END_TEST

/* ---- large lookup test ---------------------------------------------------------------- */

#define AREA_PAGES 256

enum layout_kind {
	L_EQUAL_ADJ,     /* equal sizes, all adjacent */
	L_EQUAL_HOLES,   /* equal sizes with equal holes, from 0 */
	L_MIXED,         /* tiny to huge sizes, random gaps (some adjacent) */
	L_CLUSTER_FAR,   /* a dense cluster near 0, one region across 2^63, one at the top */
	L_EXPONENTIAL,   /* starts spread geometrically over 2^0..2^62 */
	L_GIANT_FIRST,   /* one region of ~2^62 bytes followed by many small ones */
	L_RANDOM_SPARSE, /* random starts over the whole 64-bit space */
	L_ADJ_TINY,      /* adjacent one-byte regions plus one at 2^64 - 2 */
	L_COUNT
};

static const char *const layout_names[L_COUNT] = {
	"equal-adjacent", "equal-holes", "mixed", "cluster-far",
	"exponential",    "giant-first", "random-sparse", "adjacent-tiny",
};

struct layout {
	enum layout_kind kind;
	size_t n;
	uint64_t *start;
	uint64_t *size;
	struct vmmem_region **regs; /* sorted like start[]; borrowed from the memory */
};

struct fails {
	unsigned long count;
	char first[512];
};

__attribute__((format(printf, 2, 3))) static void fail_note(struct fails *f, const char *fmt,
							     ...)
{
	if (f->count++ == 0) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(f->first, sizeof(f->first), fmt, ap);
		va_end(ap);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void gen_layout(struct layout *l, uint64_t seed)
{
	static const uint64_t sizes[] = { 1,      2,         0xfff,      0x1000,
					  0x10000, UINT64_C(1) << 20, UINT64_C(1) << 30,
					  UINT64_C(1) << 36 };
	static const uint64_t gaps[] = { 0, 0, 1, 0x1000, UINT64_C(1) << 20, UINT64_C(1) << 32 };
	size_t n = l->n;
	uint64_t s = seed;

	switch (l->kind) {
	case L_EQUAL_ADJ:
		for (size_t i = 0; i < n; i++) {
			l->start[i] = 0x40000000 + (uint64_t)i * 0x1000;
			l->size[i] = 0x1000;
		}
		break;
	case L_EQUAL_HOLES:
		for (size_t i = 0; i < n; i++) {
			l->start[i] = (uint64_t)i * 0x3000;
			l->size[i] = 0x1000;
		}
		break;
	case L_MIXED: {
		uint64_t pos = rnd(&s) % (UINT64_C(1) << 20);

		for (size_t i = 0; i < n; i++) {
			l->start[i] = pos;
			l->size[i] = sizes[rnd(&s) % ARRAY_SIZE(sizes)];
			pos += l->size[i] + gaps[rnd(&s) % ARRAY_SIZE(gaps)];
		}
		break;
	}
	case L_CLUSTER_FAR: {
		size_t k = n >= 3 ? n - 2 : 0;

		for (size_t i = 0; i < k; i++) {
			l->start[i] = 0x1000 + (uint64_t)i * 0x2000;
			l->size[i] = (i % 3 == 0) ? 0x2000 : 0x1000; /* some adjacent */
		}
		l->start[k] = (UINT64_C(1) << 63) - 0x1000; /* crosses 2^63 */
		l->size[k] = 0x3000;
		if (n >= 2) {
			l->start[k + 1] = UINT64_MAX - 0x10000; /* last byte 2^64 - 2 */
			l->size[k + 1] = 0x10000;
		}
		break;
	}
	case L_EXPONENTIAL: {
		uint64_t prev_end = 0;

		for (size_t i = 0; i < n; i++) {
			unsigned int e = (unsigned int)((uint64_t)i * 62 / n);
			uint64_t frac = (uint64_t)i * 62 % n;
			uint64_t t = (UINT64_C(1) << e) + ((UINT64_C(1) << e) / n) * frac;

			if (t < prev_end)
				t = prev_end;
			l->start[i] = t;
			l->size[i] = 1 + rnd(&s) % 0x1000;
			prev_end = t + l->size[i];
		}
		break;
	}
	case L_GIANT_FIRST:
		l->start[0] = 0x1000;
		l->size[0] = (UINT64_C(1) << 62) - 0x1000;
		for (size_t i = 1; i < n; i++) {
			l->start[i] = (UINT64_C(1) << 62) + (uint64_t)(i - 1) * 0x2000;
			l->size[i] = (i % 2) ? 0x1000 : 0x2000;
		}
		break;
	case L_RANDOM_SPARSE: {
		const uint64_t limit = UINT64_MAX - (UINT64_C(1) << 32);

		for (size_t i = 0; i < n; i++)
			l->start[i] = rnd(&s) % limit;
		qsort(l->start, n, sizeof(uint64_t), cmp_u64);
		for (size_t i = 1; i < n; i++)
			if (l->start[i] < l->start[i - 1] + 2)
				l->start[i] = l->start[i - 1] + 2;
		for (size_t i = 0; i < n; i++) {
			uint64_t room = i + 1 < n ? l->start[i + 1] - l->start[i]
						  : UINT64_MAX - l->start[i];
			uint64_t sz = 1 + rnd(&s) % (UINT64_C(1) << 20);

			l->size[i] = sz < room ? sz : room;
		}
		break;
	}
	case L_ADJ_TINY:
		for (size_t i = 0; i + 1 < n; i++) {
			l->start[i] = 0x100 + (uint64_t)i;
			l->size[i] = 1;
		}
		l->start[n - 1] = UINT64_MAX - 1;
		l->size[n - 1] = 1;
		break;
	case L_COUNT:
		ck_abort_msg("bad layout kind");
	}

	/* Guard against generator bugs: sorted, non-overlapping, every end <= 2^64 - 1. */
	for (size_t i = 0; i < n; i++) {
		if (l->size[i] == 0 || l->start[i] > UINT64_MAX - l->size[i])
			ck_abort_msg("generator: bad region %zu", i);
		if (i > 0 && l->start[i] < l->start[i - 1] + l->size[i - 1])
			ck_abort_msg("generator: overlap at %zu", i);
	}
}

static uint64_t lay_last(const struct layout *l, size_t i)
{
	return l->start[i] + l->size[i] - 1;
}

/* Brute force: linear scan. */
static long oracle_linear(const struct layout *l, uint64_t a)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->start[i] <= a && a <= lay_last(l, i))
			return (long)i;
	return -1;
}

/* Plain binary search over the sorted starts (independent of the library's index). */
static long oracle_bsearch(const struct layout *l, uint64_t a)
{
	size_t lo = 0, hi = l->n; /* first index with start > a */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->start[mid] <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	return a <= lay_last(l, lo - 1) ? (long)(lo - 1) : -1;
}

static long oracle(const struct layout *l, uint64_t a)
{
	return l->n <= 512 ? oracle_linear(l, a) : oracle_bsearch(l, a);
}

static bool oracle_range(const struct layout *l, uint64_t gpa, uint64_t len)
{
	uint64_t end;
	long i;

	if (len == 0)
		return true;
	if (__builtin_add_overflow(gpa, len - 1, &end))
		return false;
	i = oracle(l, gpa);
	if (i < 0)
		return false;
	while (lay_last(l, (size_t)i) < end) {
		if ((size_t)i + 1 >= l->n || l->start[i + 1] != lay_last(l, (size_t)i) + 1)
			return false;
		i++;
	}
	return true;
}

/* Check every lookup function at address a against the oracle. */
static void check_addr(const struct vmmem_memory *m, const struct layout *l, uint64_t a,
		       struct fails *f)
{
	long e = oracle(l, a);
	struct vmmem_region *r = REGION_SENTINEL;
	uint64_t off = U64_SENTINEL;
	int rc;

	rc = vmmem_memory_find_region(m, a, &r);
	if (e >= 0) {
		if (rc != 0 || r != l->regs[e])
			fail_note(f,
				  "find_region(0x%llx) = %d, region %p; want region %ld "
				  "[0x%llx, +0x%llx) %p",
				  (unsigned long long)a, rc, (void *)r, e,
				  (unsigned long long)l->start[e], (unsigned long long)l->size[e],
				  (void *)l->regs[e]);
	} else if (rc != VMMEM_E_UNMAPPED || r != NULL) {
		fail_note(f, "find_region(0x%llx) = %d, region %p (gpa 0x%llx); want unmapped",
			  (unsigned long long)a, rc, (void *)r,
			  (unsigned long long)(rc == 0 ? vmmem_region_gpa(r) : 0));
	}

	r = REGION_SENTINEL;
	rc = vmmem_memory_to_region(m, a, &r, &off);
	if (e >= 0) {
		if (rc != 0 || r != l->regs[e] || off != a - l->start[e])
			fail_note(f, "to_region(0x%llx) = %d, %p, off 0x%llx; want region %ld",
				  (unsigned long long)a, rc, (void *)r, (unsigned long long)off, e);
	} else if (rc != VMMEM_E_UNMAPPED || r != REGION_SENTINEL || off != U64_SENTINEL) {
		fail_note(f, "to_region(0x%llx) = %d; want unmapped, outputs untouched",
			  (unsigned long long)a, rc);
	}

	if (vmmem_memory_address_in_range(m, a) != (e >= 0))
		fail_note(f, "address_in_range(0x%llx) != %d", (unsigned long long)a, e >= 0);
	rc = vmmem_memory_check_address(m, a);
	if (rc != (e >= 0 ? 0 : VMMEM_E_UNMAPPED))
		fail_note(f, "check_address(0x%llx) = %d", (unsigned long long)a, rc);
}

static void check_offset(const struct vmmem_memory *m, const struct layout *l, uint64_t base,
			 uint64_t offset, struct fails *f)
{
	uint64_t sum, out = U64_SENTINEL;
	int want, rc;

	if (__builtin_add_overflow(base, offset, &sum))
		want = -EOVERFLOW;
	else
		want = oracle(l, sum) >= 0 ? 0 : VMMEM_E_UNMAPPED;
	rc = vmmem_memory_checked_offset(m, base, offset, &out);
	if (rc != want || (want == 0 && out != sum) || (want != 0 && out != U64_SENTINEL))
		fail_note(f, "checked_offset(0x%llx, 0x%llx) = %d, out 0x%llx; want %d",
			  (unsigned long long)base, (unsigned long long)offset, rc,
			  (unsigned long long)out, want);
}

static void check_range1(const struct vmmem_memory *m, const struct layout *l, uint64_t gpa,
			 uint64_t len, struct fails *f)
{
	bool want = oracle_range(l, gpa, len);

	if (vmmem_memory_check_range(m, gpa, len) != want)
		fail_note(f, "check_range(0x%llx, 0x%llx) != %d", (unsigned long long)gpa,
			  (unsigned long long)len, want);
}

/* Verify m against layout l: structure, every boundary and many random addresses. */
static void verify_layout(const struct vmmem_memory *m, const struct layout *l, uint64_t seed,
			  unsigned int nrandom, struct fails *f)
{
	size_t n = l->n;
	uint64_t s = seed;
	uint64_t lo = l->start[0], hi = lay_last(l, n - 1);

	if (vmmem_memory_region_count(m) != n)
		fail_note(f, "region_count = %zu, want %zu", vmmem_memory_region_count(m), n);
	for (size_t i = 0; i < n; i++)
		if (vmmem_memory_region_at(m, i) != l->regs[i])
			fail_note(f, "region_at(%zu) is not the region at 0x%llx", i,
				  (unsigned long long)l->start[i]);
	if (vmmem_memory_region_at(m, n) != NULL)
		fail_note(f, "region_at(count) is not NULL");
	if (vmmem_memory_last_addr(m) != hi)
		fail_note(f, "last_addr = 0x%llx, want 0x%llx",
			  (unsigned long long)vmmem_memory_last_addr(m), (unsigned long long)hi);

	/* Every boundary. */
	check_addr(m, l, 0, f);
	check_addr(m, l, UINT64_MAX, f);
	check_addr(m, l, UINT64_C(1) << 63, f);
	check_addr(m, l, (UINT64_C(1) << 63) - 1, f);
	for (size_t i = 0; i < n; i++) {
		uint64_t a = l->start[i], z = lay_last(l, i);

		check_addr(m, l, a, f);
		check_addr(m, l, z, f);
		check_addr(m, l, a + l->size[i] / 2, f);
		if (z != UINT64_MAX)
			check_addr(m, l, z + 1, f);
		if (a != 0)
			check_addr(m, l, a - 1, f);
	}

	/* Random addresses: anywhere, within the span, and near/inside a random region. */
	for (unsigned int k = 0; k < nrandom; k++) {
		size_t i = (size_t)(rnd(&s) % n);
		uint64_t a;

		check_addr(m, l, rnd(&s), f);
		a = hi > lo ? lo + rnd(&s) % (hi - lo + 1) : lo;
		check_addr(m, l, a, f);
		a = l->start[i] + rnd(&s) % l->size[i];
		check_addr(m, l, a, f);
		a = l->start[i] + (rnd(&s) % 64) - 32;
		check_addr(m, l, a, f);

		/* checked_offset: results near boundaries and anywhere, with overflows. */
		check_offset(m, l, lo, a - lo, f);
		check_offset(m, l, rnd(&s), rnd(&s), f);
		check_offset(m, l, l->start[i], l->size[i], f);
		check_offset(m, l, l->start[i], l->size[i] - 1, f);

		/* check_range: from inside region i to around the end of region j >= i. */
		{
			size_t j = i + (size_t)(rnd(&s) % 4);
			uint64_t from = l->start[i] + rnd(&s) % l->size[i];
			uint64_t to;

			if (j >= n)
				j = n - 1;
			to = lay_last(l, j);
			if (to != UINT64_MAX)
				to += rnd(&s) % 3; /* last, last + 1, last + 2 */
			if (to > 0)
				to -= 1;
			if (to >= from)
				check_range1(m, l, from, to - from + 1, f);
			check_range1(m, l, from, 0, f);
			check_range1(m, l, rnd(&s), rnd(&s) % 0x10000, f);
			check_range1(m, l, l->start[i], rnd(&s), f);
		}
	}
}

/* Sizes of the large test. */
static const size_t large_ns[] = { 1, 2, 3, 7, 100, 509, 4096, 32768 };

static void run_layout(enum layout_kind kind, size_t n, char *area, uint64_t seed)
{
	struct layout l = { kind, n, NULL, NULL, NULL };
	struct vmmem_region **input;
	struct vmmem_memory *m = NULL;
	struct fails f = { 0, "" };
	uint64_t s = seed;
	unsigned int nrandom = n >= 4096 ? 1000 : 2000;
	int rc;

	l.start = calloc(n, sizeof(*l.start));
	l.size = calloc(n, sizeof(*l.size));
	l.regs = calloc(n, sizeof(*l.regs));
	input = calloc(n, sizeof(*input));
	ck_assert(l.start && l.size && l.regs && input);
	gen_layout(&l, seed);
	for (size_t i = 0; i < n; i++) {
		l.regs[i] = area_region(area, AREA_PAGES, i, l.start[i], l.size[i]);
		input[i] = l.regs[i];
	}
	/* Give the regions in a shuffled order (reversed for one kind). */
	if (kind == L_EQUAL_HOLES) {
		for (size_t i = 0; i < n; i++)
			input[i] = l.regs[n - 1 - i];
	} else {
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)(rnd(&s) % (i + 1));
			struct vmmem_region *t = input[i];

			input[i] = input[j];
			input[j] = t;
		}
	}
	rc = vmmem_memory_new(&m, input, n);
	ck_assert_msg(rc == 0, "%s n=%zu: vmmem_memory_new = %d: %s", layout_names[kind], n, rc,
		      vmmem_errormsg());
	/* The memory now holds the only references. */
	for (size_t i = 0; i < n; i++)
		vmmem_region_unref(input[i]);

	/* Cross-check the two oracles on a sample when the fast one is in use. */
	if (n > 512) {
		for (int k = 0; k < 200; k++) {
			size_t i = (size_t)(rnd(&s) % n);
			uint64_t a = k % 2 ? rnd(&s) : l.start[i] + rnd(&s) % (l.size[i] + 2) - 1;

			if (oracle_linear(&l, a) != oracle_bsearch(&l, a))
				ck_abort_msg("oracle mismatch at 0x%llx", (unsigned long long)a);
		}
	}

	verify_layout(m, &l, seed ^ 0x1234, nrandom, &f);
	ck_assert_msg(f.count == 0, "%s n=%zu: %lu mismatches; first: %s", layout_names[kind], n,
		      f.count, f.first);

	/* Copy-on-write remove and re-insert of a middle region: the index of the new
	 * memories must be right too. */
	if (n >= 2 && (kind == L_MIXED || kind == L_ADJ_TINY || kind == L_CLUSTER_FAR ||
		       kind == L_RANDOM_SPARSE)) {
		size_t k = n / 2;
		struct layout l2 = { kind, n - 1, NULL, NULL, NULL };
		struct vmmem_memory *m2 = NULL, *m3 = NULL, *bad = MEMORY_SENTINEL;
		struct vmmem_region *removed = NULL;

		l2.start = calloc(n - 1, sizeof(*l2.start));
		l2.size = calloc(n - 1, sizeof(*l2.size));
		l2.regs = calloc(n - 1, sizeof(*l2.regs));
		ck_assert(l2.start && l2.size && l2.regs);
		for (size_t i = 0, j = 0; i < n; i++) {
			if (i == k)
				continue;
			l2.start[j] = l.start[i];
			l2.size[j] = l.size[i];
			l2.regs[j] = l.regs[i];
			j++;
		}
		rc = vmmem_memory_remove_region(m, l.start[k], l.size[k], &m2, &removed);
		ck_assert_msg(rc == 0, "%s n=%zu: remove_region = %d", layout_names[kind], n, rc);
		ck_assert_ptr_eq(removed, l.regs[k]);
		verify_layout(m2, &l2, seed ^ 0x5678, nrandom / 4, &f);
		ck_assert_msg(f.count == 0, "%s n=%zu after remove: %lu mismatches; first: %s",
			      layout_names[kind], n, f.count, f.first);
		verify_layout(m, &l, seed ^ 0x9abc, nrandom / 8, &f);
		ck_assert_msg(f.count == 0, "%s n=%zu original after remove: %lu mismatches; %s",
			      layout_names[kind], n, f.count, f.first);

		ck_assert_int_eq(vmmem_memory_insert_region(m2, removed, &m3), 0);
		verify_layout(m3, &l, seed ^ 0xdef0, nrandom / 4, &f);
		ck_assert_msg(f.count == 0, "%s n=%zu after re-insert: %lu mismatches; first: %s",
			      layout_names[kind], n, f.count, f.first);
		ck_assert_int_eq(vmmem_memory_insert_region(m, removed, &bad), VMMEM_E_OVERLAP);
		ck_assert_ptr_null(bad);

		vmmem_region_unref(removed);
		vmmem_memory_unref(m3);
		vmmem_memory_unref(m2);
		free(l2.start);
		free(l2.size);
		free(l2.regs);
	}

	vmmem_memory_unref(m);
	free(input);
	free(l.regs);
	free(l.size);
	free(l.start);
}

START_TEST(test_memory_large_lookup)
{
	size_t n = large_ns[_i];
	size_t pg = tu_page_size();
	char *area = tu_map_anon(AREA_PAGES * pg);

	for (int kind = 0; kind < L_COUNT; kind++)
		run_layout((enum layout_kind)kind, n, area, UINT64_C(0x1000) * n + (uint64_t)kind);
	tu_unmap(area, AREA_PAGES * pg);
}
END_TEST

Suite *memory_suite(void);
Suite *memory_suite(void)
{
	Suite *s = suite_create("memory");
	TCase *tc = tcase_create("new");

	tcase_add_test(tc, test_memory_new_empty);
	tcase_add_test(tc, test_memory_new_invalid);
	tcase_add_test(tc, test_memory_new_overlap);
	tcase_add_test(tc, test_memory_new_overlap_message);
	tcase_add_test(tc, test_memory_new_same_region_twice);
	tcase_add_test(tc, test_memory_new_overlap_among_many);
	tcase_add_test(tc, test_memory_new_adjacent);
	tcase_add_test(tc, test_memory_new_adjacent_top);
	tcase_add_test(tc, test_memory_new_unsorted);
	tcase_add_test(tc, test_memory_new_unsorted_many);
	tcase_add_test(tc, test_memory_iter_order);
	tcase_add_test(tc, test_memory_holds_region_refs);
	tcase_add_test(tc, test_memory_caller_keeps_refs);
	tcase_add_test(tc, test_memory_ref_unref);
	tcase_add_test(tc, test_memory_accessors_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookup");
	tcase_add_test(tc, test_memory_find_region_args);
	tcase_add_test(tc, test_memory_unmapped_message);
	tcase_add_test(tc, test_memory_address_in_range);
	tcase_add_test(tc, test_memory_to_region);
	tcase_add_test(tc, test_memory_checked_offset);
	tcase_add_test(tc, test_memory_check_range);
	tcase_add_test(tc, test_memory_check_range_top);
	tcase_add_test(tc, test_memory_check_range_many_adjacent);
	tcase_add_test(tc, test_memory_concurrent_lookup);
	tcase_add_test(tc, test_memory_discard_checks);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("cow");
	tcase_add_test(tc, test_memory_insert_region);
	tcase_add_test(tc, test_memory_insert_edges);
	tcase_add_test(tc, test_memory_insert_invalid);
	tcase_add_test(tc, test_memory_remove_region);
	tcase_add_test(tc, test_memory_remove_region_not_wanted);
	tcase_add_test(tc, test_memory_remove_only_region);
	tcase_add_test(tc, test_memory_empty_memory);
	tcase_add_test(tc, test_memory_remove_invalid);
	tcase_add_test(tc, test_memory_remove_then_insert_rebased);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_add_loop_test(tc, test_memory_large_lookup, 0, (int)ARRAY_SIZE(large_ns));
	tcase_set_timeout(tc, 240);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(memory_suite());
}
