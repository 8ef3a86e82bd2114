/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Check suite for vmmem/access.h: byte transfers, objects, atomics and translation by GPA. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Memory from already created regions; drops the caller's region references. */
static struct vmmem_memory *mem_from_regions(struct vmmem_region **regs, size_t n)
{
	struct vmmem_memory *m = NULL;
	int rc = vmmem_memory_new(&m, regs, n);

	ck_assert_msg(rc == 0, "vmmem_memory_new: %d %s", rc, vmmem_errormsg());
	for (size_t i = 0; i < n; i++)
		vmmem_region_unref(regs[i]);
	return m;
}

/* Host address of gpa, found without vmmem_memory_translate(). */
static uint8_t *host_of(const struct vmmem_memory *m, uint64_t gpa)
{
	struct vmmem_region *r = NULL;
	uint64_t off = 0;
	int rc = vmmem_memory_to_region(m, gpa, &r, &off);

	ck_assert_msg(rc == 0, "to_region(0x%llx): %d", (unsigned long long)gpa, rc);
	return (uint8_t *)vmmem_region_host(r) + off;
}

/* Two adjacent regions [(0,0x1000),(0x1000,0x1000)]. */
static struct vmmem_memory *two_adjacent(void)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000 };

	return tu_anon_memory(ranges, 2);
}

/* [(0,0x1000) read/write, (0x1000,0x1000) read-only]. */
static struct vmmem_memory *rw_then_ro(void)
{
	struct vmmem_region *regs[2];

	regs[0] = tu_anon_region(0, 0x1000, 0);
	regs[1] = tu_anon_region(0x1000, 0x1000, VMMEM_REGION_READ_ONLY);
	return mem_from_regions(regs, 2);
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7u + (i >> 8));
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static const int load_orders[] = { VMMEM_ORDER_RELAXED, VMMEM_ORDER_ACQUIRE, VMMEM_ORDER_SEQ_CST };
static const int store_orders[] = { VMMEM_ORDER_RELAXED, VMMEM_ORDER_RELEASE, VMMEM_ORDER_SEQ_CST };
/* 1 is C11's consume, 4 acq_rel: neither is in enum vmmem_order. */
static const int bad_load_orders[] = { VMMEM_ORDER_RELEASE, 42, -1, 1, 4, 6 };
static const int bad_store_orders[] = { VMMEM_ORDER_ACQUIRE, 42, -1, 1, 4, 6 };

/* ---------------------------------------------------------------------------------------- */
/* read / write                                                                             */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_access_write_read_roundtrip)
{
	static const uint64_t ranges[] = { 0x1000, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	const uint8_t src[5] = { 1, 2, 3, 4, 5 };
	uint8_t dst[5] = { 0 };

	ck_assert_int_eq(vmmem_memory_write(m, 0x1000, src, sizeof(src)), 5);
	ck_assert_mem_eq(host_of(m, 0x1000), src, 5);
	ck_assert_int_eq(vmmem_memory_read(m, 0x1000, dst, sizeof(dst)), 5);
	ck_assert_mem_eq(dst, src, 5);
	/* neighbours untouched */
	ck_assert_uint_eq(host_of(m, 0x1005)[0], 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_write_past_region_end_is_short)
{
	static const uint64_t ranges[] = { 0x1000, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	const uint8_t src[5] = { 1, 2, 3, 4, 5 };
	uint8_t dst[5] = { 0xee, 0xee, 0xee, 0xee, 0xee };

	ck_assert_int_eq(vmmem_memory_write(m, 0x13ff, src, sizeof(src)), 1);
	ck_assert_uint_eq(host_of(m, 0x13ff)[0], 1);
	ck_assert_int_eq(vmmem_memory_read(m, 0x13ff, dst, sizeof(dst)), 1);
	ck_assert_uint_eq(dst[0], 1);
	/* the rest of the caller's buffer is not touched */
	ck_assert(all_bytes(dst + 1, 4, 0xee));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_write_read_cross_adjacent_regions)
{
	struct vmmem_memory *m = two_adjacent();
	const uint8_t src[5] = { 1, 2, 3, 4, 5 };
	uint8_t dst[5] = { 0 };

	ck_assert_int_eq(vmmem_memory_write(m, 0xffc, src, sizeof(src)), 5);
	ck_assert_int_eq(vmmem_memory_read(m, 0xffc, dst, sizeof(dst)), 5);
	ck_assert_mem_eq(dst, src, 5);
	/* the bytes really are split between the two host mappings */
	ck_assert_mem_eq(host_of(m, 0xffc), src, 4);
	ck_assert_uint_eq(host_of(m, 0x1000)[0], 5);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_large_transfer_spans_three_regions)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000, 0x2000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 3);
	size_t n = 0x2000;
	uint8_t *src = malloc(n);
	uint8_t *dst = calloc(1, n);

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	fill_pattern(src, n, 3);
	ck_assert_int_eq(vmmem_memory_write(m, 0x800, src, n), (ssize_t)n);
	ck_assert_mem_eq(host_of(m, 0x800), src, 0x800);
	ck_assert_mem_eq(host_of(m, 0x1000), src + 0x800, 0x1000);
	ck_assert_mem_eq(host_of(m, 0x2000), src + 0x1800, 0x800);
	ck_assert_uint_eq(host_of(m, 0x7ff)[0], 0);
	ck_assert_uint_eq(host_of(m, 0x2800)[0], 0);
	ck_assert_int_eq(vmmem_memory_read(m, 0x800, dst, n), (ssize_t)n);
	ck_assert_mem_eq(dst, src, n);
	/* the whole memory, exactly to its end */
	memset(dst, 0, n);
	ck_assert_int_eq(vmmem_memory_read(m, 0x1000, dst, n), (ssize_t)n);
	ck_assert_mem_eq(dst, src + 0x800, 0x1800);
	ck_assert(all_bytes(dst + 0x1800, 0x800, 0));
	free(src);
	free(dst);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_hole_mid_range_gives_short_count)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x2000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t src[0x20], dst[0x20];

	fill_pattern(src, sizeof(src), 9);
	memset(dst, 0xee, sizeof(dst));
	ck_assert_int_eq(vmmem_memory_write(m, 0xff0, src, sizeof(src)), 0x10);
	ck_assert_mem_eq(host_of(m, 0xff0), src, 0x10);
	/* nothing landed in the next region */
	ck_assert(all_bytes(host_of(m, 0x2000), 0x20, 0));
	ck_assert_int_eq(vmmem_memory_read(m, 0xff0, dst, sizeof(dst)), 0x10);
	ck_assert_mem_eq(dst, src, 0x10);
	ck_assert(all_bytes(dst + 0x10, 0x10, 0xee));
	/* starting in the hole */
	ck_assert_int_eq(vmmem_memory_write(m, 0x1000, src, sizeof(src)), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_read(m, 0x1fff, dst, 2), VMMEM_E_UNMAPPED);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_unmapped_first_byte)
{
	struct vmmem_memory *m = two_adjacent();
	uint8_t buf[8] = { 0 };

	ck_assert_int_eq(vmmem_memory_read(m, 0x2000, buf, 1), VMMEM_E_UNMAPPED);
	ck_assert_str_ne(vmmem_errormsg(), "");
	ck_assert_int_eq(vmmem_memory_write(m, 0x2000, buf, 1), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_read(m, UINT64_MAX - 8, buf, 8), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_write(m, 0x100000, buf, 8), VMMEM_E_UNMAPPED);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_zero_length_anywhere)
{
	static const uint64_t ranges[] = { 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	const uint64_t addrs[] = { 0x1000, 0x1fff, 0x2000, 0, 0x5000, UINT64_MAX };
	uint8_t buf[4] = { 0 };

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint64_t a = addrs[i];
		size_t done = 77;

		ck_assert_int_eq(vmmem_memory_read(m, a, buf, 0), 0);
		ck_assert_int_eq(vmmem_memory_write(m, a, buf, 0), 0);
		ck_assert_int_eq(vmmem_memory_read(m, a, NULL, 0), 0);
		ck_assert_int_eq(vmmem_memory_write(m, a, NULL, 0), 0);
		ck_assert_int_eq(vmmem_memory_read_exact(m, a, buf, 0, &done), 0);
		ck_assert_uint_eq(done, 0);
		done = 77;
		ck_assert_int_eq(vmmem_memory_write_exact(m, a, NULL, 0, &done), 0);
		ck_assert_uint_eq(done, 0);
		ck_assert_int_eq(vmmem_memory_read_exact(m, a, NULL, 0, NULL), 0);
		ck_assert_int_eq(vmmem_memory_write_exact(m, a, buf, 0, NULL), 0);
		ck_assert_int_eq(vmmem_memory_read_obj(m, a, buf, 0), 0);
		ck_assert_int_eq(vmmem_memory_write_obj(m, a, buf, 0), 0);
		ck_assert_int_eq(vmmem_memory_read_obj(m, a, NULL, 0), 0);
		ck_assert_int_eq(vmmem_memory_write_obj(m, a, NULL, 0), 0);
	}
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_zero_length_on_read_only_region)
{
	struct vmmem_memory *m = rw_then_ro();
	uint8_t buf[1] = { 0 };

	ck_assert_int_eq(vmmem_memory_write(m, 0x1000, buf, 0), 0);
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x1000, buf, 0, NULL), 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x1000, buf, 0), 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_invalid_arguments)
{
	struct vmmem_memory *m = two_adjacent();
	uint8_t buf[8] = { 0 };
	size_t big = (size_t)SSIZE_MAX + 1;
	size_t done = 77;

	ck_assert_int_eq(vmmem_memory_read(NULL, 0, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write(NULL, 0, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_exact(NULL, 0, buf, 1, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_exact(NULL, 0, buf, 1, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_obj(NULL, 0, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_obj(NULL, 0, buf, 1), -EINVAL);

	ck_assert_int_eq(vmmem_memory_read(m, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write(m, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0, NULL, 1, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0, NULL, 1, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0, NULL, 4), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0, NULL, 4), -EINVAL);

	/* len > SSIZE_MAX (never touched: refused before any copy) */
	ck_assert_int_eq(vmmem_memory_read(m, 0, buf, big), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write(m, 0, buf, big), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read(m, 0, buf, SIZE_MAX), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0, buf, big, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0, buf, big, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0, buf, big), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0, buf, big), -EINVAL);
	/* nothing was written by the refused calls */
	ck_assert(all_bytes(host_of(m, 0), 0x1000, 0));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_overflow_past_2_64)
{
	/* The last region ends at 2^64 - 0x1000; a range past 2^64 is refused up front even
	 * though vm-memory would have copied the mapped prefix. */
	struct vmmem_region *regs[1];
	struct vmmem_memory *m;
	uint8_t *buf = calloc(1, 0x3000);
	uint64_t base = UINT64_MAX - 0x1fff; /* 0xffff_ffff_ffff_e000 */
	size_t done = 77;

	ck_assert_ptr_nonnull(buf);
	regs[0] = tu_anon_region(base, 0x1000, 0);
	m = mem_from_regions(regs, 1);
	memset(buf, 0xab, 0x3000);

	ck_assert_int_eq(vmmem_memory_write(m, base, buf, 0x3000), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_read(m, base, buf, 0x3000), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_write_exact(m, base, buf, 0x3000, &done), -EOVERFLOW);
	ck_assert_uint_eq(done, 0);
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact(m, base, buf, 0x3000, &done), -EOVERFLOW);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, base, buf, 0x3000), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_read_obj(m, base, buf, 0x3000), -EOVERFLOW);
	/* refused up front: nothing was copied into guest memory */
	ck_assert(all_bytes(host_of(m, base), 0x1000, 0));

	/* also at an unmapped address: the overflow check comes first */
	ck_assert_int_eq(vmmem_memory_read(m, UINT64_MAX, buf, 2), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_write(m, UINT64_MAX - 3, buf, 8), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_read_obj(m, UINT64_MAX, buf, 8), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_write_obj(m, UINT64_MAX - 6, buf, 8), -EOVERFLOW);

	/* an end of exactly 2^64 does not pass 2^64: the mapped prefix is copied */
	ck_assert_int_eq(vmmem_memory_write(m, base + 0x800, buf, 0x1800), 0x800);
	ck_assert(all_bytes(host_of(m, base + 0x800), 0x800, 0xab));
	free(buf);
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* read_exact / write_exact / read_obj / write_obj                                          */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_access_write_obj_unmapped)
{
	struct vmmem_memory *m = two_adjacent();
	uint64_t v = 0x0123456789abcdefULL;

	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x2001, &v, sizeof(v)), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x2001, &v, sizeof(v)), VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(v, 0x0123456789abcdefULL);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_write_obj_partial)
{
	struct vmmem_memory *m = two_adjacent();
	uint64_t v = 0x0807060504030201ULL; /* bytes 01..08 on little-endian */
	uint8_t vb[8];
	uint8_t out[8];

	memcpy(vb, &v, 8);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x1ffc, &v, sizeof(v)), VMMEM_E_PARTIAL);
	/* the 4 bytes that fit were written and stay */
	ck_assert_mem_eq(host_of(m, 0x1ffc), vb, 4);

	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x1ffc, out, sizeof(out)), VMMEM_E_PARTIAL);
	ck_assert_mem_eq(out, vb, 4);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_exact_partial_reports_done)
{
	struct vmmem_memory *m = two_adjacent();
	uint8_t src[8] = { 11, 12, 13, 14, 15, 16, 17, 18 };
	uint8_t out[8];
	size_t done = 77;

	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x1ffc, src, 8, &done), VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 4);
	ck_assert_mem_eq(host_of(m, 0x1ffc), src, 4);

	memset(out, 0xee, sizeof(out));
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0x1ffc, out, 8, &done), VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 4);
	ck_assert_mem_eq(out, src, 4);
	ck_assert(all_bytes(out + 4, 4, 0xee));

	/* done may be NULL */
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x1ffc, src, 8, NULL), VMMEM_E_PARTIAL);
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0x1ffc, out, 8, NULL), VMMEM_E_PARTIAL);

	/* unmapped first byte: done is 0 */
	done = 77;
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x2000, src, 8, &done), VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(done, 0);
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0x3000, out, 8, &done), VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(done, 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_exact_hole_mid_range)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000, 0x3000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 3);
	size_t n = 0x2000;
	uint8_t *src = malloc(n);
	uint8_t *dst = malloc(n);
	size_t done = 77;

	ck_assert_ptr_nonnull(src);
	ck_assert_ptr_nonnull(dst);
	fill_pattern(src, n, 1);
	memset(dst, 0xee, n);
	/* [0x800, 0x2800): 0x1800 bytes mapped (two adjacent regions), then the hole */
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x800, src, n, &done), VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x1800);
	ck_assert_mem_eq(host_of(m, 0x800), src, 0x800);
	ck_assert_mem_eq(host_of(m, 0x1000), src + 0x800, 0x1000);
	ck_assert(all_bytes(host_of(m, 0x3000), 0x1000, 0));
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0x800, dst, n, &done), VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x1800);
	ck_assert_mem_eq(dst, src, 0x1800);
	ck_assert(all_bytes(dst + 0x1800, 0x800, 0xee));
	/* the plain variants give the same count */
	ck_assert_int_eq(vmmem_memory_read(m, 0x800, dst, n), 0x1800);
	ck_assert_int_eq(vmmem_memory_write(m, 0x800, src, n), 0x1800);
	/* fully mapped: success with done == len */
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0x800, dst, 0x1800, &done), 0);
	ck_assert_uint_eq(done, 0x1800);
	done = 77;
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x3000, src, 0x1000, &done), 0);
	ck_assert_uint_eq(done, 0x1000);
	ck_assert_mem_eq(host_of(m, 0x3000), src, 0x1000);
	free(src);
	free(dst);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_obj_roundtrip)
{
	struct vmmem_memory *m = two_adjacent();
	uint64_t a = 0xaa55aa55aa55aa55ULL, b = 0x55aa55aa55aa55aaULL, out = 0;
	uint32_t s = 0xdeadbeef, so = 0;

	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x500, &a, sizeof(a)), 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x1020, &b, sizeof(b)), 0);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x500, &out, sizeof(out)), 0);
	ck_assert_uint_eq(out, a);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x1020, &out, sizeof(out)), 0);
	ck_assert_uint_eq(out, b);
	ck_assert_mem_eq(host_of(m, 0x500), &a, 8);
	ck_assert_mem_eq(host_of(m, 0x1020), &b, 8);
	/* an object may straddle two adjacent regions (copied in two pieces) */
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0xffe, &s, sizeof(s)), 0);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0xffe, &so, sizeof(so)), 0);
	ck_assert_uint_eq(so, 0xdeadbeef);
	ck_assert_mem_eq(host_of(m, 0xffe), &s, 2);
	ck_assert_mem_eq(host_of(m, 0x1000), (const uint8_t *)&s + 2, 2);
	/* unaligned object inside one region */
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x333, &a, sizeof(a)), 0);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x333, &out, sizeof(out)), 0);
	ck_assert_uint_eq(out, a);
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Read-only regions                                                                        */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_access_read_only_first_byte_refused)
{
	struct vmmem_memory *m = rw_then_ro();
	uint8_t src[16], dst[16];
	uint64_t v = ~0ULL;
	size_t done = 77;

	fill_pattern(src, sizeof(src), 5);
	ck_assert_int_eq(vmmem_memory_write(m, 0x1000, src, sizeof(src)), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_write(m, 0x1ff0, src, sizeof(src)), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x1000, src, sizeof(src), &done),
			 VMMEM_E_READ_ONLY);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x1008, &v, sizeof(v)), VMMEM_E_READ_ONLY);
	ck_assert(all_bytes(host_of(m, 0x1000), 0x1000, 0));

	/* reads of a read-only region work (set its bytes through the host mapping) */
	memcpy(host_of(m, 0x1100), src, sizeof(src));
	ck_assert_int_eq(vmmem_memory_read(m, 0x1100, dst, sizeof(dst)), (ssize_t)sizeof(dst));
	ck_assert_mem_eq(dst, src, sizeof(src));
	memset(dst, 0, sizeof(dst));
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0x1100, dst, sizeof(dst), NULL), 0);
	ck_assert_mem_eq(dst, src, sizeof(src));
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x1100, &v, sizeof(v)), 0);
	ck_assert_mem_eq(&v, src, 8);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_read_only_later_in_range_ends_write)
{
	struct vmmem_memory *m = rw_then_ro();
	uint8_t src[0x20], dst[0x20];
	uint64_t v = 0x1122334455667788ULL;
	size_t done = 77;

	fill_pattern(src, sizeof(src), 17);
	ck_assert_int_eq(vmmem_memory_write(m, 0xff0, src, sizeof(src)), 0x10);
	ck_assert_mem_eq(host_of(m, 0xff0), src, 0x10);
	ck_assert(all_bytes(host_of(m, 0x1000), 0x1000, 0));

	memset(host_of(m, 0xff0), 0, 0x10);
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0xff0, src, sizeof(src), &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x10);
	ck_assert_mem_eq(host_of(m, 0xff0), src, 0x10);
	ck_assert(all_bytes(host_of(m, 0x1000), 0x1000, 0));

	ck_assert_int_eq(vmmem_memory_write_obj(m, 0xffc, &v, sizeof(v)), VMMEM_E_PARTIAL);
	ck_assert_mem_eq(host_of(m, 0xffc), &v, 4);
	ck_assert(all_bytes(host_of(m, 0x1000), 0x1000, 0));

	/* reading across the same boundary is complete */
	memset(host_of(m, 0x1000), 0x5a, 0x10);
	ck_assert_int_eq(vmmem_memory_read(m, 0xff0, dst, sizeof(dst)), 0x20);
	ck_assert(all_bytes(dst + 0x10, 0x10, 0x5a));
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Atomic load / store                                                                      */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_access_load_store_u32_vector)
{
	static const uint64_t ranges[] = { 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	uint32_t v = 0xdeadbeef;

	ck_assert_int_eq(vmmem_memory_load_u32(m, 0x1000, VMMEM_ORDER_SEQ_CST, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0x1000, 100, VMMEM_ORDER_SEQ_CST), 0);
	ck_assert_int_eq(vmmem_memory_load_u32(m, 0x1000, VMMEM_ORDER_SEQ_CST, &v), 0);
	ck_assert_uint_eq(v, 100);
	v = 0xdeadbeef;
	ck_assert_int_eq(vmmem_memory_load_u32(m, 0x2000, VMMEM_ORDER_SEQ_CST, &v),
			 VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(v, 0xdeadbeef); /* written only on success */
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0x2000, 100, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_load_u32(m, 0x0, VMMEM_ORDER_SEQ_CST, &v),
			 VMMEM_E_UNMAPPED);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_load_store_region_edges)
{
	struct vmmem_memory *m = two_adjacent();
	uint8_t b = 0xee;
	uint16_t h = 0xeeee;
	uint32_t w = 0xeeeeeeee;
	uint64_t d = 0;

	/* straddles the region end (also misaligned: bounds are checked first) */
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0xffe, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_CROSSES_REGION);
	ck_assert_int_eq(vmmem_memory_load_u32(m, 0xffe, VMMEM_ORDER_SEQ_CST, &w),
			 VMMEM_E_CROSSES_REGION);
	ck_assert_int_eq(vmmem_memory_load_u64(m, 0xffc, VMMEM_ORDER_SEQ_CST, &d),
			 VMMEM_E_CROSSES_REGION);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 0x1ffc, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_CROSSES_REGION);
	ck_assert_int_eq(vmmem_memory_store_u16(m, 0x1fff, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_CROSSES_REGION);
	ck_assert(all_bytes(host_of(m, 0xff8), 8, 0));
	ck_assert(all_bytes(host_of(m, 0x1000), 8, 0));
	ck_assert(all_bytes(host_of(m, 0x1ff8), 8, 0));

	/* misaligned inside one region */
	ck_assert_int_eq(vmmem_memory_load_u32(m, 0x1001, VMMEM_ORDER_SEQ_CST, &w),
			 VMMEM_E_MISALIGNED);
	ck_assert_uint_eq(w, 0xeeeeeeee);
	ck_assert_int_eq(vmmem_memory_load_u16(m, 0x1001, VMMEM_ORDER_SEQ_CST, &h),
			 VMMEM_E_MISALIGNED);
	ck_assert_uint_eq(h, 0xeeee);
	ck_assert_int_eq(vmmem_memory_load_u64(m, 0x1004, VMMEM_ORDER_SEQ_CST, &d),
			 VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_memory_store_u16(m, 0x3, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0x6, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 0xc, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_MISALIGNED);
	ck_assert(all_bytes(host_of(m, 0), 0x10, 0));

	/* last byte of the memory and last aligned values of each region */
	host_of(m, 0x1fff)[0] = 0x7b;
	ck_assert_int_eq(vmmem_memory_load_u8(m, 0x1fff, VMMEM_ORDER_SEQ_CST, &b), 0);
	ck_assert_uint_eq(b, 0x7b);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 0xff8, 0x0102030405060708ULL,
						VMMEM_ORDER_SEQ_CST), 0);
	ck_assert_int_eq(vmmem_memory_load_u64(m, 0xff8, VMMEM_ORDER_SEQ_CST, &d), 0);
	ck_assert_uint_eq(d, 0x0102030405060708ULL);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 0x1ff8, 5, VMMEM_ORDER_SEQ_CST), 0);
	ck_assert_int_eq(vmmem_memory_load_u64(m, 0x1ff8, VMMEM_ORDER_SEQ_CST, &d), 0);
	ck_assert_uint_eq(d, 5);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_load_store_every_width_and_order)
{
	struct vmmem_memory *m = two_adjacent();

	for (size_t i = 0; i < 3; i++) {
		int so = store_orders[i];
		uint8_t b = 0;
		uint16_t h = 0;
		uint32_t w = 0;
		uint64_t d = 0;
		uint8_t v8 = (uint8_t)(0xa0 + i);
		uint16_t v16 = (uint16_t)(0xb1b2 + i);
		uint32_t v32 = 0xc1c2c3c4u + (uint32_t)i;
		uint64_t v64 = 0xd1d2d3d4d5d6d7d8ULL + i;

		ck_assert_int_eq(vmmem_memory_store_u8(m, 0x1001, v8, so), 0);
		ck_assert_int_eq(vmmem_memory_store_u16(m, 0x1002, v16, so), 0);
		ck_assert_int_eq(vmmem_memory_store_u32(m, 0x1004, v32, so), 0);
		ck_assert_int_eq(vmmem_memory_store_u64(m, 0x1008, v64, so), 0);
		ck_assert_uint_eq(host_of(m, 0x1001)[0], v8);
		ck_assert_mem_eq(host_of(m, 0x1002), &v16, 2);
		ck_assert_mem_eq(host_of(m, 0x1004), &v32, 4);
		ck_assert_mem_eq(host_of(m, 0x1008), &v64, 8);
		for (size_t j = 0; j < 3; j++) {
			ck_assert_int_eq(vmmem_memory_load_u8(m, 0x1001, load_orders[j], &b), 0);
			ck_assert_int_eq(vmmem_memory_load_u16(m, 0x1002, load_orders[j], &h), 0);
			ck_assert_int_eq(vmmem_memory_load_u32(m, 0x1004, load_orders[j], &w), 0);
			ck_assert_int_eq(vmmem_memory_load_u64(m, 0x1008, load_orders[j], &d), 0);
			ck_assert_uint_eq(b, v8);
			ck_assert_uint_eq(h, v16);
			ck_assert_uint_eq(w, v32);
			ck_assert_uint_eq(d, v64);
		}
	}
	/* neighbouring bytes untouched */
	ck_assert_uint_eq(host_of(m, 0x1000)[0], 0);
	ck_assert(all_bytes(host_of(m, 0x1010), 0x10, 0));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_load_store_invalid_order)
{
	struct vmmem_memory *m = two_adjacent();

	for (size_t i = 0; i < sizeof(bad_load_orders) / sizeof(bad_load_orders[0]); i++) {
		int o = bad_load_orders[i];
		uint8_t b = 0xee;
		uint16_t h = 0xeeee;
		uint32_t w = 0xeeeeeeee;
		uint64_t d = 0xeeeeeeeeeeeeeeeeULL;

		ck_assert_int_eq(vmmem_memory_load_u8(m, 0x10, o, &b), -EINVAL);
		ck_assert_int_eq(vmmem_memory_load_u16(m, 0x10, o, &h), -EINVAL);
		ck_assert_int_eq(vmmem_memory_load_u32(m, 0x10, o, &w), -EINVAL);
		ck_assert_int_eq(vmmem_memory_load_u64(m, 0x10, o, &d), -EINVAL);
		ck_assert_uint_eq(b, 0xee);
		ck_assert_uint_eq(h, 0xeeee);
		ck_assert_uint_eq(w, 0xeeeeeeee);
		ck_assert_uint_eq(d, 0xeeeeeeeeeeeeeeeeULL);
	}
	for (size_t i = 0; i < sizeof(bad_store_orders) / sizeof(bad_store_orders[0]); i++) {
		int o = bad_store_orders[i];

		ck_assert_int_eq(vmmem_memory_store_u8(m, 0x10, 1, o), -EINVAL);
		ck_assert_int_eq(vmmem_memory_store_u16(m, 0x10, 1, o), -EINVAL);
		ck_assert_int_eq(vmmem_memory_store_u32(m, 0x10, 1, o), -EINVAL);
		ck_assert_int_eq(vmmem_memory_store_u64(m, 0x10, 1, o), -EINVAL);
	}
	ck_assert(all_bytes(host_of(m, 0x10), 8, 0));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_load_store_null_arguments)
{
	struct vmmem_memory *m = two_adjacent();
	uint8_t b;
	uint16_t h;
	uint32_t w;
	uint64_t d;

	ck_assert_int_eq(vmmem_memory_load_u8(NULL, 0, VMMEM_ORDER_SEQ_CST, &b), -EINVAL);
	ck_assert_int_eq(vmmem_memory_load_u16(NULL, 0, VMMEM_ORDER_SEQ_CST, &h), -EINVAL);
	ck_assert_int_eq(vmmem_memory_load_u32(NULL, 0, VMMEM_ORDER_SEQ_CST, &w), -EINVAL);
	ck_assert_int_eq(vmmem_memory_load_u64(NULL, 0, VMMEM_ORDER_SEQ_CST, &d), -EINVAL);
	ck_assert_int_eq(vmmem_memory_load_u8(m, 0, VMMEM_ORDER_SEQ_CST, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_load_u16(m, 0, VMMEM_ORDER_SEQ_CST, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_load_u32(m, 0, VMMEM_ORDER_SEQ_CST, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_load_u64(m, 0, VMMEM_ORDER_SEQ_CST, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_store_u8(NULL, 0, 1, VMMEM_ORDER_SEQ_CST), -EINVAL);
	ck_assert_int_eq(vmmem_memory_store_u16(NULL, 0, 1, VMMEM_ORDER_SEQ_CST), -EINVAL);
	ck_assert_int_eq(vmmem_memory_store_u32(NULL, 0, 1, VMMEM_ORDER_SEQ_CST), -EINVAL);
	ck_assert_int_eq(vmmem_memory_store_u64(NULL, 0, 1, VMMEM_ORDER_SEQ_CST), -EINVAL);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_store_read_only_region)
{
	struct vmmem_memory *m = rw_then_ro();
	uint32_t w = 0;
	uint64_t d = 0;

	ck_assert_int_eq(vmmem_memory_store_u8(m, 0x1000, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_store_u16(m, 0x1002, 1, VMMEM_ORDER_RELAXED),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0x1004, 1, VMMEM_ORDER_RELEASE),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 0x1ff8, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_READ_ONLY);
	ck_assert(all_bytes(host_of(m, 0x1000), 0x1000, 0));
	/* loads are fine */
	memcpy(host_of(m, 0x1008), &(uint64_t){ 0x1234567890abcdefULL }, 8);
	ck_assert_int_eq(vmmem_memory_load_u64(m, 0x1008, VMMEM_ORDER_ACQUIRE, &d), 0);
	ck_assert_uint_eq(d, 0x1234567890abcdefULL);
	ck_assert_int_eq(vmmem_memory_load_u32(m, 0x1008, VMMEM_ORDER_RELAXED, &w), 0);
	ck_assert_mem_eq(&w, host_of(m, 0x1008), 4);
	/* the read/write region next to it still takes stores */
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0xffc, 7, VMMEM_ORDER_SEQ_CST), 0);
	ck_assert_mem_eq(host_of(m, 0xffc), &(uint32_t){ 7 }, 4);
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* translate                                                                                */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_access_translate_vector)
{
	static const uint64_t ranges[] = { 0, 0x400, 0x800, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	struct vmmem_region *r2 = vmmem_memory_region_at(m, 1);
	struct vmmem_region *r1 = vmmem_memory_region_at(m, 0);
	uint8_t *base2 = vmmem_region_host(r2);
	void *host = &host;
	uint64_t contig = 0;

	ck_assert_ptr_nonnull(base2);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x600, VMMEM_ACCESS_READ, &host, &contig),
			 VMMEM_E_UNMAPPED);
	ck_assert_ptr_null(host);

	ck_assert_int_eq(vmmem_memory_translate(m, 0x800, VMMEM_ACCESS_READ, &host, &contig), 0);
	ck_assert_ptr_eq(host, base2);
	ck_assert_uint_eq(contig, 0x400);
	ck_assert_int_eq(vmmem_memory_translate(m, 0xa00, VMMEM_ACCESS_RW, &host, &contig), 0);
	ck_assert_ptr_eq(host, base2 + 0x200);
	ck_assert_uint_eq(contig, 0x200);
	ck_assert_int_eq(vmmem_memory_translate(m, 0xbff, VMMEM_ACCESS_WRITE, &host, &contig), 0);
	ck_assert_ptr_eq(host, base2 + 0x3ff);
	ck_assert_uint_eq(contig, 1);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x3ff, VMMEM_ACCESS_READ, &host, NULL), 0);
	ck_assert_ptr_eq(host, (uint8_t *)vmmem_region_host(r1) + 0x3ff);
	host = &host;
	ck_assert_int_eq(vmmem_memory_translate(m, 0x400, VMMEM_ACCESS_READ, &host, &contig),
			 VMMEM_E_UNMAPPED);
	ck_assert_ptr_null(host);
	host = &host;
	ck_assert_int_eq(vmmem_memory_translate(m, 0xc00, VMMEM_ACCESS_READ, &host, NULL),
			 VMMEM_E_UNMAPPED);
	ck_assert_ptr_null(host);

	/* the pointer is the real backing: a write through it is seen by read */
	*(base2 + 0x200) = 0x42;
	{
		uint8_t b = 0;

		ck_assert_int_eq(vmmem_memory_read(m, 0xa00, &b, 1), 1);
		ck_assert_uint_eq(b, 0x42);
	}
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_translate_contiguous_is_region_remainder)
{
	/* adjacent regions: contiguous stops at the region end, not the memory end */
	struct vmmem_memory *m = two_adjacent();
	void *host = NULL;
	uint64_t contig = 0;

	ck_assert_int_eq(vmmem_memory_translate(m, 0x10, VMMEM_ACCESS_READ, &host, &contig), 0);
	ck_assert_uint_eq(contig, 0x1000 - 0x10);
	ck_assert_ptr_eq(host, host_of(m, 0x10));
	ck_assert_int_eq(vmmem_memory_translate(m, 0x1000, VMMEM_ACCESS_READ, &host, &contig), 0);
	ck_assert_uint_eq(contig, 0x1000);
	ck_assert_ptr_eq(host, host_of(m, 0x1000));
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_access_translate_read_only_and_bad_arguments)
{
	struct vmmem_memory *m = rw_then_ro();
	void *host = &host;
	uint64_t contig = 0;

	ck_assert_int_eq(vmmem_memory_translate(m, 0x1010, VMMEM_ACCESS_WRITE, &host, &contig),
			 VMMEM_E_READ_ONLY);
	ck_assert_ptr_null(host);
	host = &host;
	ck_assert_int_eq(vmmem_memory_translate(m, 0x1010, VMMEM_ACCESS_RW, &host, &contig),
			 VMMEM_E_READ_ONLY);
	ck_assert_ptr_null(host);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x1010, VMMEM_ACCESS_READ, &host, &contig), 0);
	ck_assert_ptr_eq(host, host_of(m, 0x1010));
	ck_assert_uint_eq(contig, 0xff0);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x10, VMMEM_ACCESS_WRITE, &host, &contig), 0);
	ck_assert_ptr_eq(host, host_of(m, 0x10));

	ck_assert_int_eq(vmmem_memory_translate(m, 0x10, 0, &host, &contig), -EINVAL);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x10, 4, &host, &contig), -EINVAL);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x10, 7, &host, &contig), -EINVAL);
	ck_assert_int_eq(vmmem_memory_translate(NULL, 0x10, VMMEM_ACCESS_READ, &host, &contig),
			 -EINVAL);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x10, VMMEM_ACCESS_READ, NULL, &contig),
			 -EINVAL);
	vmmem_memory_unref(m);
}
END_TEST

/* The cached translation agrees with vmmem_memory_translate() everywhere: random addresses
 * over regions, holes and a read-only region, every access kind (bad ones too), one cache
 * carried across all calls; a failure leaves the cache as it was. */
START_TEST(test_access_translate_cached_matches_translate)
{
	struct vmmem_memory *m = rw_then_ro(), *other = two_adjacent();
	struct vmmem_translate_cache c, before;
	const unsigned int kinds[] = { VMMEM_ACCESS_READ, VMMEM_ACCESS_WRITE, VMMEM_ACCESS_RW, 0,
				       4, 7 };
	uint64_t seed = 0x7a11;
	unsigned int hits = 0;

	memset(&c, 0, sizeof(c));
	for (int i = 0; i < 20000; i++) {
		const struct vmmem_memory *mem = i % 97 == 0 ? other : m;
		uint64_t gpa, contig_a = 7, contig_b = 9;
		unsigned int access;
		void *ha = &ha, *hb = &hb;
		int ra, rb;

		seed = seed * 6364136223846793005u + 1442695040888963407u;
		gpa = (seed >> 33) % 0x2400; /* both regions and past the end */
		access = kinds[(seed >> 20) % (i % 5 ? 3 : 6)];
		if (c.memory == mem && gpa - c.gpa <= c.last - c.gpa)
			hits++;
		before = c;
		ra = vmmem_memory_translate(mem, gpa, access, &ha, &contig_a);
		rb = vmmem_memory_translate_cached(&c, mem, gpa, access, &hb, &contig_b);
		ck_assert_msg(ra == rb, "gpa 0x%llx access %u: translate %d, cached %d",
			      (unsigned long long)gpa, access, ra, rb);
		ck_assert_ptr_eq(ha, hb);
		if (ra == 0)
			ck_assert_uint_eq(contig_a, contig_b);
		else
			ck_assert_mem_eq(&c, &before, sizeof(c));
	}
	ck_assert_uint_gt(hits, 5000); /* the inline path really ran (~44 % of the calls) */
	vmmem_memory_unref(m);
	vmmem_memory_unref(other);
}
END_TEST

START_TEST(test_access_translate_cached_bad_arguments)
{
	struct vmmem_memory *m = two_adjacent();
	struct vmmem_translate_cache c = { 0 };
	void *host = &host;
	uint64_t contig = 0;

	ck_assert_int_eq(vmmem_memory_translate_cached(NULL, m, 0x10, VMMEM_ACCESS_READ, &host,
						       &contig),
			 -EINVAL);
	ck_assert_ptr_null(host);
	ck_assert_int_eq(vmmem_memory_translate_cached(&c, m, 0x10, VMMEM_ACCESS_READ, NULL,
						       &contig),
			 -EINVAL);
	ck_assert_ptr_null(c.memory);
	ck_assert_int_eq(vmmem_memory_translate_cached(&c, NULL, 0x10, VMMEM_ACCESS_READ, &host,
						       NULL),
			 -EINVAL);
	ck_assert_int_eq(vmmem_translate_cache_fill(NULL, m, 0x10, VMMEM_ACCESS_READ, &host,
						    NULL),
			 -EINVAL);
	ck_assert_int_eq(vmmem_translate_cache_fill(&c, m, 0x10, VMMEM_ACCESS_READ, NULL, NULL),
			 -EINVAL);
	/* Filled, then a NULL memory is still refused, not matched. */
	ck_assert_int_eq(vmmem_memory_translate_cached(&c, m, 0x10, VMMEM_ACCESS_READ, &host,
						       NULL),
			 0);
	ck_assert_ptr_eq(c.memory, m);
	ck_assert_uint_eq(c.gpa, 0);
	ck_assert_uint_eq(c.last, 0xfff);
	ck_assert_int_eq(vmmem_memory_translate_cached(&c, NULL, 0x10, VMMEM_ACCESS_READ, &host,
						       NULL),
			 -EINVAL);
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Torn values (copy rule)                                                                  */
/* ---------------------------------------------------------------------------------------- */

#define TORN_RUN_NS 500000000L  /* each concurrent test runs about 0.5 s */
#define TORN_MAX_ITERS 50000000UL /* and never more than this many iterations per thread */
#define TORN_MIN_ITERS 2000UL     /* but at least this many, however the threads are scheduled */

/* vm-memory's test object: a 2-byte value followed by 8 bytes. At 0xffe of
 * [(0,0x1000),(0x1000,0x1000)], val is the whole first piece (2 bytes, 2-aligned). */
struct torn_data {
	uint16_t val;
	uint8_t bytes[8];
};

enum torn_mode {
	TORN_DATA_LIB,     /* write_obj vs read_obj of struct torn_data */
	TORN_U64_LIB,      /* write_obj vs read_obj of a uint64_t */
	TORN_U32_LIB_HOST, /* write_obj vs a host atomic load */
	TORN_U16_HOST_LIB, /* a host atomic store vs read_obj */
};

struct torn_ctx {
	const struct vmmem_memory *m;
	uint64_t gpa;
	void *host; /* host address of gpa */
	enum torn_mode mode;
	atomic_int stop;
	unsigned long torn;      /* reader: inconsistent values seen */
	unsigned long bad_value; /* reader: a value that was never written */
	unsigned long r_errors;  /* reader: a call that did not return 0 */
	unsigned long w_errors;  /* writer: a call that did not return 0 */
	unsigned long reads;
	unsigned long writes;
};

static void *torn_writer(void *arg)
{
	struct torn_ctx *c = arg;

	for (unsigned long i = 0; i < TORN_MAX_ITERS; i++) {
		int flip = (int)(i & 1);
		int rc = 0;

		if (i >= TORN_MIN_ITERS && atomic_load_explicit(&c->stop, memory_order_relaxed))
			break;
		switch (c->mode) {
		case TORN_DATA_LIB: {
			struct torn_data d;

			d.val = flip ? 0xffff : 0x0000;
			memset(d.bytes, flip ? 0xff : 0x00, sizeof(d.bytes));
			rc = vmmem_memory_write_obj(c->m, c->gpa, &d, sizeof(d));
			break;
		}
		case TORN_U64_LIB: {
			uint64_t v = flip ? ~0ULL : 0;

			rc = vmmem_memory_write_obj(c->m, c->gpa, &v, sizeof(v));
			break;
		}
		case TORN_U32_LIB_HOST: {
			uint32_t v = flip ? ~0U : 0;

			rc = vmmem_memory_write_obj(c->m, c->gpa, &v, sizeof(v));
			break;
		}
		case TORN_U16_HOST_LIB:
			__atomic_store_n((uint16_t *)c->host, (uint16_t)(flip ? 0xffff : 0),
					 __ATOMIC_RELAXED);
			break;
		}
		if (rc != 0)
			c->w_errors++;
		c->writes++;
	}
	return NULL;
}

static void torn_check(struct torn_ctx *c, const uint8_t *p, size_t n)
{
	if (!all_bytes(p, n, p[0]))
		c->torn++;
	else if (p[0] != 0 && p[0] != 0xff)
		c->bad_value++;
}

static void *torn_reader(void *arg)
{
	struct torn_ctx *c = arg;

	for (unsigned long i = 0; i < TORN_MAX_ITERS; i++) {
		int rc = 0;

		if (i >= TORN_MIN_ITERS && atomic_load_explicit(&c->stop, memory_order_relaxed))
			break;
		switch (c->mode) {
		case TORN_DATA_LIB: {
			struct torn_data d;
			uint8_t vb[2];

			rc = vmmem_memory_read_obj(c->m, c->gpa, &d, sizeof(d));
			memcpy(vb, &d.val, 2);
			torn_check(c, vb, 2);
			break;
		}
		case TORN_U64_LIB: {
			uint64_t v;
			uint8_t vb[8];

			rc = vmmem_memory_read_obj(c->m, c->gpa, &v, sizeof(v));
			memcpy(vb, &v, 8);
			torn_check(c, vb, 8);
			break;
		}
		case TORN_U32_LIB_HOST: {
			uint32_t v = __atomic_load_n((uint32_t *)c->host, __ATOMIC_RELAXED);
			uint8_t vb[4];

			memcpy(vb, &v, 4);
			torn_check(c, vb, 4);
			break;
		}
		case TORN_U16_HOST_LIB: {
			uint16_t v;
			uint8_t vb[2];

			rc = vmmem_memory_read_obj(c->m, c->gpa, &v, sizeof(v));
			memcpy(vb, &v, 2);
			torn_check(c, vb, 2);
			break;
		}
		}
		if (rc != 0)
			c->r_errors++;
		c->reads++;
	}
	return NULL;
}

static void run_torn(enum torn_mode mode, uint64_t gpa)
{
	struct vmmem_memory *m = two_adjacent();
	struct torn_ctx c;
	pthread_t w, r;
	struct timespec start, now;
	const struct timespec tick = { 0, 10000000L };

	memset(&c, 0, sizeof(c));
	c.m = m;
	c.gpa = gpa;
	c.host = host_of(m, gpa);
	c.mode = mode;
	atomic_init(&c.stop, 0);

	ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &start), 0);
	ck_assert_int_eq(pthread_create(&w, NULL, torn_writer, &c), 0);
	ck_assert_int_eq(pthread_create(&r, NULL, torn_reader, &c), 0);
	for (int i = 0; i < 1000; i++) { /* bounded: at most ~10 s even if the clock stalls */
		long ns;

		nanosleep(&tick, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		ns = (now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec);
		if (ns >= TORN_RUN_NS)
			break;
	}
	atomic_store(&c.stop, 1);
	ck_assert_int_eq(pthread_join(w, NULL), 0);
	ck_assert_int_eq(pthread_join(r, NULL), 0);

	ck_assert_msg(c.w_errors == 0 && c.r_errors == 0, "%lu writes, %lu reads failed",
		      c.w_errors, c.r_errors);
	ck_assert_msg(c.torn == 0, "%lu torn values in %lu reads (%lu writes)", c.torn, c.reads,
		      c.writes);
	ck_assert_msg(c.bad_value == 0, "%lu reads saw a value never written", c.bad_value);
	ck_assert_uint_gt(c.reads, 0);
	ck_assert_uint_gt(c.writes, 0);
	vmmem_memory_unref(m);
}

START_TEST(test_access_torn_u16_straddling_object)
{
	run_torn(TORN_DATA_LIB, 0xffe);
}
END_TEST

START_TEST(test_access_torn_u64_aligned)
{
	run_torn(TORN_U64_LIB, 0x1008);
}
END_TEST

START_TEST(test_access_torn_write_obj_vs_host_load)
{
	run_torn(TORN_U32_LIB_HOST, 0x1010);
}
END_TEST

START_TEST(test_access_torn_host_store_vs_read_obj)
{
	run_torn(TORN_U16_HOST_LIB, 0xffe);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

static Suite *access_suite(void)
{
	Suite *s = suite_create("access");
	TCase *tc;

	tc = tcase_create("read_write");
	tcase_add_test(tc, test_access_write_read_roundtrip);
	tcase_add_test(tc, test_access_write_past_region_end_is_short);
	tcase_add_test(tc, test_access_write_read_cross_adjacent_regions);
	tcase_add_test(tc, test_access_large_transfer_spans_three_regions);
	tcase_add_test(tc, test_access_hole_mid_range_gives_short_count);
	tcase_add_test(tc, test_access_unmapped_first_byte);
	tcase_add_test(tc, test_access_zero_length_anywhere);
	tcase_add_test(tc, test_access_zero_length_on_read_only_region);
	tcase_add_test(tc, test_access_invalid_arguments);
	tcase_add_test(tc, test_access_overflow_past_2_64);
	suite_add_tcase(s, tc);

	tc = tcase_create("exact_obj");
	tcase_add_test(tc, test_access_write_obj_unmapped);
	tcase_add_test(tc, test_access_write_obj_partial);
	tcase_add_test(tc, test_access_exact_partial_reports_done);
	tcase_add_test(tc, test_access_exact_hole_mid_range);
	tcase_add_test(tc, test_access_obj_roundtrip);
	suite_add_tcase(s, tc);

	tc = tcase_create("read_only");
	tcase_add_test(tc, test_access_read_only_first_byte_refused);
	tcase_add_test(tc, test_access_read_only_later_in_range_ends_write);
	suite_add_tcase(s, tc);

	tc = tcase_create("atomic");
	tcase_add_test(tc, test_access_load_store_u32_vector);
	tcase_add_test(tc, test_access_load_store_region_edges);
	tcase_add_test(tc, test_access_load_store_every_width_and_order);
	tcase_add_test(tc, test_access_load_store_invalid_order);
	tcase_add_test(tc, test_access_load_store_null_arguments);
	tcase_add_test(tc, test_access_store_read_only_region);
	suite_add_tcase(s, tc);

	tc = tcase_create("translate");
	tcase_add_test(tc, test_access_translate_vector);
	tcase_add_test(tc, test_access_translate_contiguous_is_region_remainder);
	tcase_add_test(tc, test_access_translate_read_only_and_bad_arguments);
	tcase_add_test(tc, test_access_translate_cached_matches_translate);
	tcase_add_test(tc, test_access_translate_cached_bad_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("torn");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_access_torn_u16_straddling_object);
	tcase_add_test(tc, test_access_torn_u64_aligned);
	tcase_add_test(tc, test_access_torn_write_obj_vs_host_load);
	tcase_add_test(tc, test_access_torn_host_store_vs_read_obj);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tu_run_suite(access_suite());
}
