/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Check suite for vmmem/slice.h: bounded views (VolatileSlice) and typed arrays. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* A slice over a host buffer; fails the test if it cannot be made. */
static struct vmmem_slice buf_slice(void *p, size_t n, uint32_t flags)
{
	struct vmmem_slice s;
	int rc;

	memset(&s, 0xa5, sizeof(s));
	rc = vmmem_slice_from_buffer(&s, p, n, flags);
	ck_assert_msg(rc == 0, "vmmem_slice_from_buffer(%zu): %d", n, rc);
	return s;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

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

static const int bad_load_orders[] = { VMMEM_ORDER_RELEASE, 42, -1, 1, 4 };
static const int bad_store_orders[] = { VMMEM_ORDER_ACQUIRE, 42, -1, 1, 4 };
static const int load_orders[] = { VMMEM_ORDER_RELAXED, VMMEM_ORDER_ACQUIRE, VMMEM_ORDER_SEQ_CST };
static const int store_orders[] = { VMMEM_ORDER_RELAXED, VMMEM_ORDER_RELEASE, VMMEM_ORDER_SEQ_CST };

/* ---------------------------------------------------------------------------------------- */
/* from_buffer                                                                              */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_slice_from_buffer_fields)
{
	uint8_t buf[16];
	struct vmmem_slice s;

	memset(&s, 0xa5, sizeof(s));
	ck_assert_int_eq(vmmem_slice_from_buffer(&s, buf, sizeof(buf), 0), 0);
	ck_assert_ptr_eq(s.ptr, buf);
	ck_assert_uint_eq(s.len, sizeof(buf));
	ck_assert_ptr_null(s.region);
	ck_assert_uint_eq(s.region_offset, 0);
	ck_assert_uint_eq(s.flags, 0);
	ck_assert_uint_eq(s.reserved, 0);

	memset(&s, 0xa5, sizeof(s));
	ck_assert_int_eq(vmmem_slice_from_buffer(&s, buf, 3, VMMEM_SLICE_READ_ONLY), 0);
	ck_assert_ptr_eq(s.ptr, buf);
	ck_assert_uint_eq(s.len, 3);
	ck_assert_ptr_null(s.region);
	ck_assert_uint_eq(s.flags, VMMEM_SLICE_READ_ONLY);
	ck_assert_uint_eq(s.reserved, 0);

	/* NULL is fine for an empty buffer */
	memset(&s, 0xa5, sizeof(s));
	ck_assert_int_eq(vmmem_slice_from_buffer(&s, NULL, 0, 0), 0);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_uint_eq(s.flags, 0);
}
END_TEST

START_TEST(test_slice_from_buffer_invalid)
{
	uint8_t buf[16];
	struct vmmem_slice s;

	ck_assert_int_eq(vmmem_slice_from_buffer(NULL, buf, sizeof(buf), 0), -EINVAL);
	ck_assert_int_eq(vmmem_slice_from_buffer(&s, NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(vmmem_slice_from_buffer(&s, buf, sizeof(buf), 0x2), -EINVAL);
	ck_assert_int_eq(vmmem_slice_from_buffer(&s, buf, sizeof(buf), 0x80000000u), -EINVAL);
	/* ptr + len wraps the address space (never dereferenced) */
	ck_assert_int_eq(vmmem_slice_from_buffer(&s, (void *)(UINTPTR_MAX - 15), 32, 0),
			 -EINVAL);
	ck_assert_int_eq(vmmem_slice_from_buffer(&s, buf, SIZE_MAX, 0), -EINVAL);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* subslice / offset / split_at                                                             */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_slice_subslice_bounds)
{
	uint8_t buf[100];
	struct vmmem_slice s = buf_slice(buf, sizeof(buf), 0), o;
	static const size_t ok[][2] = { { 0, 0 }, { 99, 0 }, { 99, 1 }, { 100, 0 }, { 0, 100 },
					{ 50, 50 } };
	static const size_t oob[][2] = { { 0, 101 }, { 99, 2 }, { 100, 1 }, { 101, 0 },
					 { 101, 1 }, { 55, 50 } };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		memset(&o, 0xa5, sizeof(o));
		ck_assert_int_eq(vmmem_slice_subslice(&s, ok[i][0], ok[i][1], &o), 0);
		ck_assert_ptr_eq(o.ptr, buf + ok[i][0]);
		ck_assert_uint_eq(o.len, ok[i][1]);
		ck_assert_uint_eq(o.flags, 0);
		ck_assert_ptr_null(o.region);
	}
	for (size_t i = 0; i < sizeof(oob) / sizeof(oob[0]); i++)
		ck_assert_msg(vmmem_slice_subslice(&s, oob[i][0], oob[i][1], &o) ==
				      VMMEM_E_OUT_OF_BOUNDS,
			      "subslice(%zu,%zu) not OUT_OF_BOUNDS", oob[i][0], oob[i][1]);
	ck_assert_int_eq(vmmem_slice_subslice(&s, SIZE_MAX, 2, &o), -EOVERFLOW);
	ck_assert_int_eq(vmmem_slice_subslice(&s, 2, SIZE_MAX, &o), -EOVERFLOW);
	ck_assert_int_eq(vmmem_slice_subslice(NULL, 0, 1, &o), -EINVAL);
	ck_assert_int_eq(vmmem_slice_subslice(&s, 0, 1, NULL), -EINVAL);
}
END_TEST

START_TEST(test_slice_subslice_and_offset_content)
{
	uint8_t buf[100] = { 0 };
	uint8_t ones[80], out[100];
	struct vmmem_slice s = buf_slice(buf, sizeof(buf), 0), sub, off;

	memset(ones, 1, sizeof(ones));
	ck_assert_int_eq(vmmem_slice_write(&s, 10, ones, sizeof(ones)), 80);
	ck_assert_int_eq(vmmem_slice_subslice(&s, 10, 80, &sub), 0);
	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(vmmem_slice_read(&sub, 0, out, 80), 80);
	ck_assert(all_bytes(out, 80, 1));

	ck_assert_int_eq(vmmem_slice_offset(&s, 101, &off), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_offset(&s, 10, &off), 0);
	ck_assert_uint_eq(off.len, 90);
	ck_assert_ptr_eq(off.ptr, buf + 10);
	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(vmmem_slice_read(&off, 0, out, sizeof(out)), 90);
	ck_assert(all_bytes(out, 80, 1));
	ck_assert(all_bytes(out + 80, 10, 0));
	ck_assert(all_bytes(out + 90, 10, 0xee));

	ck_assert_int_eq(vmmem_slice_offset(&s, 100, &off), 0);
	ck_assert_uint_eq(off.len, 0);
	ck_assert_int_eq(vmmem_slice_offset(&s, 0, &off), 0);
	ck_assert_uint_eq(off.len, 100);
	ck_assert_ptr_eq(off.ptr, buf);
	ck_assert_int_eq(vmmem_slice_offset(&s, SIZE_MAX, &off), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_offset(NULL, 1, &off), -EINVAL);
	ck_assert_int_eq(vmmem_slice_offset(&s, 1, NULL), -EINVAL);
}
END_TEST

START_TEST(test_slice_split_at)
{
	uint8_t buf[32];
	struct vmmem_slice s = buf_slice(buf, sizeof(buf), 0), h, t;
	static const size_t mids[] = { 8, 0, 31, 32 };

	for (size_t i = 0; i < sizeof(mids) / sizeof(mids[0]); i++) {
		size_t mid = mids[i];

		memset(&h, 0xa5, sizeof(h));
		memset(&t, 0xa5, sizeof(t));
		ck_assert_int_eq(vmmem_slice_split_at(&s, mid, &h, &t), 0);
		ck_assert_ptr_eq(h.ptr, buf);
		ck_assert_uint_eq(h.len, mid);
		ck_assert_ptr_eq(t.ptr, buf + mid);
		ck_assert_uint_eq(t.len, 32 - mid);
		ck_assert_uint_eq(h.flags, 0);
		ck_assert_uint_eq(t.flags, 0);
	}
	ck_assert_int_eq(vmmem_slice_split_at(&s, 33, &h, &t), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_split_at(&s, SIZE_MAX, &h, &t), VMMEM_E_OUT_OF_BOUNDS);
	/* either output may be NULL */
	memset(&t, 0xa5, sizeof(t));
	ck_assert_int_eq(vmmem_slice_split_at(&s, 8, NULL, &t), 0);
	ck_assert_uint_eq(t.len, 24);
	memset(&h, 0xa5, sizeof(h));
	ck_assert_int_eq(vmmem_slice_split_at(&s, 8, &h, NULL), 0);
	ck_assert_uint_eq(h.len, 8);
	ck_assert_int_eq(vmmem_slice_split_at(&s, 8, NULL, NULL), 0);
	ck_assert_int_eq(vmmem_slice_split_at(NULL, 8, &h, &t), -EINVAL);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* read / write / read_obj / write_obj                                                      */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_slice_read_write_vectors)
{
	uint8_t mem[5] = { 0 };
	const uint8_t src[6] = { 1, 2, 3, 4, 5, 6 };
	uint8_t out[8];
	struct vmmem_slice s = buf_slice(mem, sizeof(mem), 0);
	struct vmmem_slice empty = buf_slice(mem, 0, 0);

	ck_assert_int_eq(vmmem_slice_write(&s, 0, src, sizeof(src)), 5);
	ck_assert_mem_eq(mem, src, 5);
	ck_assert_int_eq(vmmem_slice_write(&s, 5, src, 3), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_read(&s, 5, out, 3), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_write(&s, 6, src, 1), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_read(&s, SIZE_MAX, out, 1), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_write(&empty, 0, src, 1), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_mem_eq(mem, src, 5);

	/* zero-length transfers succeed at any offset */
	ck_assert_int_eq(vmmem_slice_write(&s, 100, src, 0), 0);
	ck_assert_int_eq(vmmem_slice_read(&s, 4, out, 0), 0);
	ck_assert_int_eq(vmmem_slice_write(&empty, 1, src, 0), 0);
	ck_assert_int_eq(vmmem_slice_read(&s, SIZE_MAX, out, 0), 0);

	/* partial counts */
	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(vmmem_slice_read(&s, 3, out, 4), 2);
	ck_assert_uint_eq(out[0], 4);
	ck_assert_uint_eq(out[1], 5);
	ck_assert(all_bytes(out + 2, 6, 0xee));
	ck_assert_int_eq(vmmem_slice_write(&s, 4, (const uint8_t[]){ 9, 9 }, 2), 1);
	ck_assert_uint_eq(mem[4], 9);
	ck_assert_uint_eq(mem[3], 4);

	/* bad arguments */
	ck_assert_int_eq(vmmem_slice_read(NULL, 0, out, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write(NULL, 0, src, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_read(&s, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write(&s, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_read(&s, 0, out, (size_t)SSIZE_MAX + 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write(&s, 0, src, (size_t)SSIZE_MAX + 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write(&s, 0, src, SIZE_MAX), -EINVAL);
	ck_assert_uint_eq(mem[0], 1);
}
END_TEST

START_TEST(test_slice_obj_vectors)
{
	uint8_t mem[5] = { 10, 11, 12, 13, 14 };
	struct vmmem_slice s = buf_slice(mem, sizeof(mem), 0);
	uint16_t v = 0x0201, o = 0xeeee;
	uint8_t vb[2], ob[2];
	struct vmmem_array ref;

	memcpy(vb, &v, 2);
	ck_assert_int_eq(vmmem_slice_write_obj(&s, 4, &v, sizeof(v)), VMMEM_E_PARTIAL);
	ck_assert_uint_eq(mem[4], vb[0]); /* the byte inside was written */
	ck_assert_uint_eq(mem[3], 13);
	ck_assert_int_eq(vmmem_slice_write_obj(&s, SIZE_MAX, &v, sizeof(v)), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_write_obj(&s, 5, &v, sizeof(v)), VMMEM_E_OUT_OF_BOUNDS);

	mem[4] = 0x77;
	ck_assert_int_eq(vmmem_slice_read_obj(&s, 4, &o, sizeof(o)), VMMEM_E_PARTIAL);
	memcpy(ob, &o, 2);
	ck_assert_uint_eq(ob[0], 0x77); /* the part inside was copied */
	ck_assert_int_eq(vmmem_slice_read_obj(&s, SIZE_MAX, &o, sizeof(o)), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_read_obj(&s, 5, &o, sizeof(o)), VMMEM_E_OUT_OF_BOUNDS);

	/* round trip through get_ref and read_obj */
	ck_assert_int_eq(vmmem_slice_get_ref(&s, 2, sizeof(uint16_t), &ref), 0);
	v = 9;
	ck_assert_int_eq(vmmem_array_store(&ref, 0, &v), 0);
	o = 0;
	ck_assert_int_eq(vmmem_slice_read_obj(&s, 2, &o, sizeof(o)), 0);
	ck_assert_uint_eq(o, 9);
	ck_assert_mem_eq(mem + 2, &v, 2);

	/* whole objects, unaligned */
	v = 0xbeef;
	ck_assert_int_eq(vmmem_slice_write_obj(&s, 1, &v, sizeof(v)), 0);
	ck_assert_mem_eq(mem + 1, &v, 2);
	o = 0;
	ck_assert_int_eq(vmmem_slice_read_obj(&s, 1, &o, sizeof(o)), 0);
	ck_assert_uint_eq(o, 0xbeef);
	ck_assert_int_eq(vmmem_slice_read_obj(&s, 3, &o, 2), 0);

	/* zero-sized objects */
	ck_assert_int_eq(vmmem_slice_read_obj(&s, 100, &o, 0), 0);
	ck_assert_int_eq(vmmem_slice_write_obj(&s, 100, &o, 0), 0);

	ck_assert_int_eq(vmmem_slice_read_obj(NULL, 0, &o, 2), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write_obj(NULL, 0, &o, 2), -EINVAL);
	ck_assert_int_eq(vmmem_slice_read_obj(&s, 0, NULL, 2), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write_obj(&s, 0, NULL, 2), -EINVAL);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* copy_to / copy_from / copy_to_slice                                                      */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_slice_copy_to_from_counts)
{
	uint8_t mem[5] = { 1, 2, 3, 4, 5 };
	uint8_t out[6];
	const uint8_t src[5] = { 2, 4, 6, 8, 10 };
	uint8_t dst6[6];
	struct vmmem_slice s = buf_slice(mem, sizeof(mem), 0);
	struct vmmem_slice s4, s6;

	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(vmmem_slice_copy_to(&s, out, 4), 4);
	ck_assert_mem_eq(out, mem, 4);
	ck_assert_uint_eq(out[4], 0xee);
	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(vmmem_slice_copy_to(&s, out, 6), 5);
	ck_assert_mem_eq(out, mem, 5);
	ck_assert_uint_eq(out[5], 0xee);
	ck_assert_int_eq(vmmem_slice_copy_to(&s, out, 0), 0);
	ck_assert_int_eq(vmmem_slice_copy_to(&s, NULL, 0), 0);

	memset(mem, 0, sizeof(mem));
	s4 = buf_slice(mem, 4, 0);
	ck_assert_int_eq(vmmem_slice_copy_from(&s4, src, 5), 4);
	ck_assert_mem_eq(mem, src, 4);
	ck_assert_uint_eq(mem[4], 0);
	memset(dst6, 0xee, sizeof(dst6));
	s6 = buf_slice(dst6, 6, 0);
	ck_assert_int_eq(vmmem_slice_copy_from(&s6, src, 5), 5);
	ck_assert_mem_eq(dst6, src, 5);
	ck_assert_uint_eq(dst6[5], 0xee);
	ck_assert_int_eq(vmmem_slice_copy_from(&s6, src, 0), 0);
	ck_assert_int_eq(vmmem_slice_copy_from(&s6, NULL, 0), 0);

	ck_assert_int_eq(vmmem_slice_copy_to(NULL, out, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_to(&s, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_from(NULL, src, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_from(&s, NULL, 1), -EINVAL);
}
END_TEST

START_TEST(test_slice_copy_to_slice)
{
	uint8_t a[5] = { 2, 4, 6, 8, 10 };
	uint8_t b[6] = { 0 };
	uint8_t buf[16];
	uint8_t expect[16];
	struct vmmem_slice sa = buf_slice(a, 5, 0), sb = buf_slice(b, 4, 0), whole, x, y;

	ck_assert_int_eq(vmmem_slice_copy_to_slice(&sa, &sb), 4);
	ck_assert_mem_eq(b, ((const uint8_t[]){ 2, 4, 6, 8, 0, 0 }), 6);
	memset(b, 0, sizeof(b));
	sb = buf_slice(b, 6, 0);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&sa, &sb), 5);
	ck_assert_mem_eq(b, ((const uint8_t[]){ 2, 4, 6, 8, 10, 0 }), 6);

	/* overlapping views: memmove semantics, forward */
	for (size_t i = 0; i < 16; i++)
		buf[i] = (uint8_t)i;
	whole = buf_slice(buf, sizeof(buf), 0);
	ck_assert_int_eq(vmmem_slice_subslice(&whole, 0, 10, &x), 0);
	ck_assert_int_eq(vmmem_slice_subslice(&whole, 2, 10, &y), 0);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&x, &y), 10);
	for (size_t i = 0; i < 16; i++)
		expect[i] = (uint8_t)i;
	for (size_t i = 0; i < 10; i++)
		expect[2 + i] = (uint8_t)i;
	ck_assert_mem_eq(buf, expect, 16);

	/* and backward */
	for (size_t i = 0; i < 16; i++)
		buf[i] = (uint8_t)i;
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&y, &x), 10);
	for (size_t i = 0; i < 16; i++)
		expect[i] = (uint8_t)i;
	for (size_t i = 0; i < 10; i++)
		expect[i] = (uint8_t)(2 + i);
	ck_assert_mem_eq(buf, expect, 16);

	/* same view onto itself */
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&x, &x), 10);
	ck_assert_mem_eq(buf, expect, 16);

	ck_assert_int_eq(vmmem_slice_copy_to_slice(NULL, &x), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&x, NULL), -EINVAL);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Arrays and references                                                                    */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_slice_get_array_vectors)
{
	uint8_t mem[5] = { 0 };
	struct vmmem_slice s = buf_slice(mem, sizeof(mem), 0);
	struct vmmem_array a, r;
	uint8_t v;

	ck_assert_int_eq(vmmem_slice_get_array(&s, 4, sizeof(uint32_t), SIZE_MAX, &a), -EOVERFLOW);
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 2, (size_t)SSIZE_MAX / 2 + 1, &a),
			 -EOVERFLOW);
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 1, (size_t)SSIZE_MAX, &a),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_get_array(&s, SIZE_MAX, 1, 2, &a), -EOVERFLOW);
	ck_assert_int_eq(vmmem_slice_get_array(&s, 2, 1, 4, &a), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 0, 1, &a), -EINVAL);
	ck_assert_int_eq(vmmem_slice_get_array(NULL, 0, 1, 1, &a), -EINVAL);
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 1, 1, NULL), -EINVAL);

	/* an empty array at the end is fine */
	ck_assert_int_eq(vmmem_slice_get_array(&s, 5, 1, 0, &a), 0);
	ck_assert_uint_eq(a.count, 0);

	ck_assert_int_eq(vmmem_slice_get_array(&s, 1, 1, 4, &a), 0);
	ck_assert_uint_eq(a.count, 4);
	ck_assert_uint_eq(a.elem_size, 1);
	ck_assert_ptr_eq(a.slice.ptr, mem + 1);
	ck_assert_uint_eq(a.slice.len, 4);
	for (size_t i = 1; i <= 3; i++) {
		v = (uint8_t)(2 * i);
		ck_assert_int_eq(vmmem_array_store(&a, i, &v), 0);
	}
	ck_assert_mem_eq(mem, ((const uint8_t[]){ 0, 0, 2, 4, 6 }), 5);
	for (size_t i = 1; i <= 3; i++) {
		v = 0;
		ck_assert_int_eq(vmmem_array_load(&a, i, &v), 0);
		ck_assert_uint_eq(v, 2 * i);
	}
	v = 0xee;
	ck_assert_int_eq(vmmem_array_load(&a, 4, &v), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_uint_eq(v, 0xee);
	ck_assert_int_eq(vmmem_array_store(&a, 4, &v), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_array_store(&a, SIZE_MAX, &v), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_mem_eq(mem, ((const uint8_t[]){ 0, 0, 2, 4, 6 }), 5);

	/* ref_at */
	ck_assert_int_eq(vmmem_array_ref_at(&a, 4, &r), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_array_ref_at(&a, 2, &r), 0);
	ck_assert_uint_eq(r.count, 1);
	ck_assert_uint_eq(r.elem_size, 1);
	ck_assert_ptr_eq(r.slice.ptr, mem + 3);
	ck_assert_uint_eq(r.slice.len, 1);
	v = 0x99;
	ck_assert_int_eq(vmmem_array_store(&r, 0, &v), 0);
	ck_assert_uint_eq(mem[3], 0x99);
	ck_assert_int_eq(vmmem_array_store(&r, 1, &v), VMMEM_E_OUT_OF_BOUNDS);
}
END_TEST

START_TEST(test_slice_get_ref_vectors)
{
	uint8_t mem[7] = { 1, 2, 0xaa, 0xaa, 0xaa, 0xaa, 4 };
	uint8_t small[3] = { 0 };
	uint8_t big[100] = { 0 };
	uint8_t one[1] = { 0 };
	struct vmmem_slice s = buf_slice(mem, sizeof(mem), 0);
	struct vmmem_slice s3 = buf_slice(small, sizeof(small), 0);
	struct vmmem_slice s100 = buf_slice(big, sizeof(big), 0);
	struct vmmem_slice s1 = buf_slice(one, sizeof(one), 0);
	struct vmmem_array r;
	uint32_t v = 0;

	ck_assert_int_eq(vmmem_slice_get_ref(&s, 2, sizeof(uint32_t), &r), 0);
	ck_assert_uint_eq(r.count, 1);
	ck_assert_uint_eq(r.elem_size, 4);
	ck_assert_ptr_eq(r.slice.ptr, mem + 2);
	ck_assert_int_eq(vmmem_array_load(&r, 0, &v), 0);
	ck_assert_uint_eq(v, 0xaaaaaaaau);
	v = 0x55555555u;
	ck_assert_int_eq(vmmem_array_store(&r, 0, &v), 0);
	ck_assert_mem_eq(mem, ((const uint8_t[]){ 1, 2, 0x55, 0x55, 0x55, 0x55, 4 }), 7);

	ck_assert_int_eq(vmmem_slice_get_ref(&s3, 0, sizeof(uint32_t), &r), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_get_ref(&s100, 99, 1, &r), 0);
	ck_assert_int_eq(vmmem_slice_get_ref(&s100, 99, 2, &r), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_get_ref(&s1, SIZE_MAX, 1, &r), -EOVERFLOW);
	ck_assert_int_eq(vmmem_slice_get_ref(&s, 0, 0, &r), -EINVAL);
	ck_assert_int_eq(vmmem_slice_get_ref(NULL, 0, 1, &r), -EINVAL);
	ck_assert_int_eq(vmmem_slice_get_ref(&s, 0, 1, NULL), -EINVAL);
}
END_TEST

START_TEST(test_slice_array_odd_element_size)
{
	uint8_t mem[10] = { 0 };
	struct vmmem_slice s = buf_slice(mem, sizeof(mem), 0);
	struct vmmem_array a;
	uint8_t e[3] = { 7, 8, 9 }, o[3] = { 0 };

	ck_assert_int_eq(vmmem_slice_get_array(&s, 1, 3, 3, &a), 0);
	ck_assert_uint_eq(a.slice.len, 9);
	ck_assert_int_eq(vmmem_array_store(&a, 2, e), 0);
	ck_assert_mem_eq(mem, ((const uint8_t[]){ 0, 0, 0, 0, 0, 0, 0, 7, 8, 9 }), 10);
	ck_assert_int_eq(vmmem_array_load(&a, 2, o), 0);
	ck_assert_mem_eq(o, e, 3);
	ck_assert_int_eq(vmmem_array_store(&a, 3, e), VMMEM_E_OUT_OF_BOUNDS);
}
END_TEST

START_TEST(test_slice_array_copy_u16_elements)
{
	uint16_t backing[5] = { 1, 2, 3, 4, 5 };
	uint16_t c[6];
	const uint16_t src[5] = { 0x1111, 0x2222, 0x3333, 0x4444, 0x5555 };
	struct vmmem_slice s9 = buf_slice(backing, 9, 0); /* 4.5 u16 elements */
	struct vmmem_slice s8 = buf_slice(backing, 8, 0);
	struct vmmem_array a;

	/* the array over 9 bytes has 4 whole u16 elements */
	ck_assert_int_eq(vmmem_slice_get_array(&s9, 0, 2, 4, &a), 0);
	ck_assert_int_eq(vmmem_slice_get_array(&s9, 0, 2, 5, &a), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_get_array(&s9, 0, 2, 4, &a), 0);

	for (size_t i = 0; i < 6; i++)
		c[i] = 0xeeee;
	ck_assert_int_eq(vmmem_array_copy_to(&a, c, 4), 4);
	ck_assert_mem_eq(c, ((const uint16_t[]){ 1, 2, 3, 4, 0xeeee, 0xeeee }), 12);
	for (size_t i = 0; i < 6; i++)
		c[i] = 0xeeee;
	ck_assert_int_eq(vmmem_array_copy_to(&a, c, 6), 4);
	ck_assert_mem_eq(c, ((const uint16_t[]){ 1, 2, 3, 4, 0xeeee, 0xeeee }), 12);
	for (size_t i = 0; i < 6; i++)
		c[i] = 0xeeee;
	ck_assert_int_eq(vmmem_array_copy_to(&a, c, 2), 2);
	ck_assert_mem_eq(c, ((const uint16_t[]){ 1, 2, 0xeeee, 0xeeee, 0xeeee, 0xeeee }), 12);
	ck_assert_int_eq(vmmem_array_copy_to(&a, c, 0), 0);

	/* copy_from into the 9-byte and the 8-byte views: 4 elements, 5th untouched */
	ck_assert_int_eq(vmmem_array_copy_from(&a, src, 5), 4);
	ck_assert_mem_eq(backing, ((const uint16_t[]){ 0x1111, 0x2222, 0x3333, 0x4444, 5 }), 10);
	for (size_t i = 0; i < 5; i++)
		backing[i] = (uint16_t)(i + 1);
	ck_assert_int_eq(vmmem_slice_get_array(&s8, 0, 2, 4, &a), 0);
	ck_assert_int_eq(vmmem_array_copy_from(&a, src, 5), 4);
	ck_assert_mem_eq(backing, ((const uint16_t[]){ 0x1111, 0x2222, 0x3333, 0x4444, 5 }), 10);
	ck_assert_int_eq(vmmem_array_copy_from(&a, src + 1, 2), 2);
	ck_assert_mem_eq(backing, ((const uint16_t[]){ 0x2222, 0x3333, 0x3333, 0x4444, 5 }), 10);

	ck_assert_int_eq(vmmem_array_copy_to(NULL, c, 1), -EINVAL);
	ck_assert_int_eq(vmmem_array_copy_to(&a, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_array_copy_from(NULL, src, 1), -EINVAL);
	ck_assert_int_eq(vmmem_array_copy_from(&a, NULL, 1), -EINVAL);
}
END_TEST

START_TEST(test_slice_array_copy_unaligned_elements)
{
	/* u32 elements at an odd address */
	uint8_t mem[13] = { 0 };
	struct vmmem_slice s = buf_slice(mem, sizeof(mem), 0);
	struct vmmem_array a;
	const uint32_t src[3] = { 0x04030201u, 0x08070605u, 0x0c0b0a09u };
	uint32_t out[3] = { 0 };

	ck_assert_int_eq(vmmem_slice_get_array(&s, 1, 4, 3, &a), 0);
	ck_assert_int_eq(vmmem_array_copy_from(&a, src, 3), 3);
	ck_assert_mem_eq(mem + 1, src, 12);
	ck_assert_uint_eq(mem[0], 0);
	ck_assert_int_eq(vmmem_array_copy_to(&a, out, 3), 3);
	ck_assert_mem_eq(out, src, 12);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Slice atomics                                                                            */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_slice_atomic_bounds_then_alignment)
{
	uint64_t storage[2] = { 0, 0 };
	uint8_t *p = (uint8_t *)storage;
	struct vmmem_slice s = buf_slice(p, 8, 0), odd;
	uint8_t b = 0xee;
	uint16_t h = 0xeeee;
	uint32_t w = 0xeeeeeeee;
	uint64_t d = 0xeeeeeeeeeeeeeeeeULL;

	/* bounds first: these are both out of bounds and misaligned */
	ck_assert_int_eq(vmmem_slice_load_u64(&s, 1, VMMEM_ORDER_SEQ_CST, &d),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_load_u32(&s, 5, VMMEM_ORDER_SEQ_CST, &w),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_store_u16(&s, 7, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_store_u64(&s, 4, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_load_u8(&s, 8, VMMEM_ORDER_SEQ_CST, &b),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_store_u8(&s, 8, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_OUT_OF_BOUNDS);
	/* in bounds but misaligned */
	ck_assert_int_eq(vmmem_slice_load_u32(&s, 1, VMMEM_ORDER_SEQ_CST, &w), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_slice_load_u16(&s, 3, VMMEM_ORDER_SEQ_CST, &h), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_slice_store_u32(&s, 2, 1, VMMEM_ORDER_SEQ_CST), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_slice_store_u16(&s, 5, 1, VMMEM_ORDER_SEQ_CST), VMMEM_E_MISALIGNED);
	ck_assert_uint_eq(b, 0xee);
	ck_assert_uint_eq(h, 0xeeee);
	ck_assert_uint_eq(w, 0xeeeeeeee);
	ck_assert_uint_eq(d, 0xeeeeeeeeeeeeeeeeULL);
	ck_assert_uint_eq(storage[0], 0);

	/* alignment is of the host address, not of the offset */
	odd = buf_slice(p + 1, 15, 0);
	ck_assert_int_eq(vmmem_slice_load_u32(&odd, 0, VMMEM_ORDER_SEQ_CST, &w), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_slice_store_u32(&odd, 3, 0x11223344u, VMMEM_ORDER_SEQ_CST), 0);
	ck_assert_mem_eq(p + 4, &(uint32_t){ 0x11223344u }, 4);
	ck_assert_int_eq(vmmem_slice_load_u64(&odd, 7, VMMEM_ORDER_SEQ_CST, &d), 0);
	ck_assert_uint_eq(d, 0);
	ck_assert_int_eq(vmmem_slice_load_u8(&odd, 0, VMMEM_ORDER_SEQ_CST, &b), 0);
	ck_assert_uint_eq(b, 0);
}
END_TEST

START_TEST(test_slice_atomic_roundtrip_every_order)
{
	static const uint64_t ranges[] = { 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	struct vmmem_slice s;
	uint8_t *host;
	uint32_t w = 0xeeeeeeee;

	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x1000, 0x1000, VMMEM_ACCESS_RW, &s), 0);
	host = s.ptr;
	/* vector: load u32 @0 = 0; store 100; load = 100; @0x1000 out of bounds */
	ck_assert_int_eq(vmmem_slice_load_u32(&s, 0, VMMEM_ORDER_SEQ_CST, &w), 0);
	ck_assert_uint_eq(w, 0);
	ck_assert_int_eq(vmmem_slice_store_u32(&s, 0, 100, VMMEM_ORDER_SEQ_CST), 0);
	ck_assert_int_eq(vmmem_slice_load_u32(&s, 0, VMMEM_ORDER_SEQ_CST, &w), 0);
	ck_assert_uint_eq(w, 100);
	ck_assert_int_eq(vmmem_slice_load_u32(&s, 0x1000, VMMEM_ORDER_SEQ_CST, &w),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_store_u32(&s, 0x1000, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_load_u32(&s, 0xffe, VMMEM_ORDER_SEQ_CST, &w),
			 VMMEM_E_OUT_OF_BOUNDS);

	for (size_t i = 0; i < 3; i++) {
		uint8_t v8 = (uint8_t)(0x10 + i), b = 0;
		uint16_t v16 = (uint16_t)(0x2021 + i), h = 0;
		uint32_t v32 = 0x30313233u + (uint32_t)i;
		uint64_t v64 = 0x4041424344454647ULL + i, d = 0;

		ck_assert_int_eq(vmmem_slice_store_u8(&s, 0xff1, v8, store_orders[i]), 0);
		ck_assert_int_eq(vmmem_slice_store_u16(&s, 0xff2, v16, store_orders[i]), 0);
		ck_assert_int_eq(vmmem_slice_store_u32(&s, 0xff4, v32, store_orders[i]), 0);
		ck_assert_int_eq(vmmem_slice_store_u64(&s, 0xff8, v64, store_orders[i]), 0);
		ck_assert_uint_eq(host[0xff1], v8);
		ck_assert_mem_eq(host + 0xff2, &v16, 2);
		ck_assert_mem_eq(host + 0xff4, &v32, 4);
		ck_assert_mem_eq(host + 0xff8, &v64, 8);
		ck_assert_int_eq(vmmem_slice_load_u8(&s, 0xff1, load_orders[i], &b), 0);
		ck_assert_int_eq(vmmem_slice_load_u16(&s, 0xff2, load_orders[i], &h), 0);
		ck_assert_int_eq(vmmem_slice_load_u32(&s, 0xff4, load_orders[i], &w), 0);
		ck_assert_int_eq(vmmem_slice_load_u64(&s, 0xff8, load_orders[i], &d), 0);
		ck_assert_uint_eq(b, v8);
		ck_assert_uint_eq(h, v16);
		ck_assert_uint_eq(w, v32);
		ck_assert_uint_eq(d, v64);
	}
	/* the guest sees the stores */
	{
		uint64_t d = 0;

		ck_assert_int_eq(vmmem_memory_read_obj(m, 0x1ff8, &d, sizeof(d)), 0);
		ck_assert_uint_eq(d, 0x4041424344454647ULL + 2);
	}
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_slice_atomic_invalid_arguments)
{
	uint64_t storage[1] = { 0 };
	struct vmmem_slice s = buf_slice(storage, 8, 0);
	uint8_t b = 0xee;
	uint16_t h = 0xeeee;
	uint32_t w = 0xeeeeeeee;
	uint64_t d = 0xeeeeeeeeeeeeeeeeULL;

	for (size_t i = 0; i < sizeof(bad_load_orders) / sizeof(bad_load_orders[0]); i++) {
		int o = bad_load_orders[i];

		ck_assert_int_eq(vmmem_slice_load_u8(&s, 0, o, &b), -EINVAL);
		ck_assert_int_eq(vmmem_slice_load_u16(&s, 0, o, &h), -EINVAL);
		ck_assert_int_eq(vmmem_slice_load_u32(&s, 0, o, &w), -EINVAL);
		ck_assert_int_eq(vmmem_slice_load_u64(&s, 0, o, &d), -EINVAL);
	}
	for (size_t i = 0; i < sizeof(bad_store_orders) / sizeof(bad_store_orders[0]); i++) {
		int o = bad_store_orders[i];

		ck_assert_int_eq(vmmem_slice_store_u8(&s, 0, 1, o), -EINVAL);
		ck_assert_int_eq(vmmem_slice_store_u16(&s, 0, 1, o), -EINVAL);
		ck_assert_int_eq(vmmem_slice_store_u32(&s, 0, 1, o), -EINVAL);
		ck_assert_int_eq(vmmem_slice_store_u64(&s, 0, 1, o), -EINVAL);
	}
	ck_assert_uint_eq(storage[0], 0);
	ck_assert_uint_eq(b, 0xee);
	ck_assert_uint_eq(h, 0xeeee);
	ck_assert_uint_eq(w, 0xeeeeeeee);
	ck_assert_uint_eq(d, 0xeeeeeeeeeeeeeeeeULL);

	ck_assert_int_eq(vmmem_slice_load_u8(NULL, 0, VMMEM_ORDER_SEQ_CST, &b), -EINVAL);
	ck_assert_int_eq(vmmem_slice_load_u16(NULL, 0, VMMEM_ORDER_SEQ_CST, &h), -EINVAL);
	ck_assert_int_eq(vmmem_slice_load_u32(NULL, 0, VMMEM_ORDER_SEQ_CST, &w), -EINVAL);
	ck_assert_int_eq(vmmem_slice_load_u64(NULL, 0, VMMEM_ORDER_SEQ_CST, &d), -EINVAL);
	ck_assert_int_eq(vmmem_slice_load_u8(&s, 0, VMMEM_ORDER_SEQ_CST, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_slice_load_u16(&s, 0, VMMEM_ORDER_SEQ_CST, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_slice_load_u32(&s, 0, VMMEM_ORDER_SEQ_CST, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_slice_load_u64(&s, 0, VMMEM_ORDER_SEQ_CST, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_slice_store_u8(NULL, 0, 1, VMMEM_ORDER_SEQ_CST), -EINVAL);
	ck_assert_int_eq(vmmem_slice_store_u16(NULL, 0, 1, VMMEM_ORDER_SEQ_CST), -EINVAL);
	ck_assert_int_eq(vmmem_slice_store_u32(NULL, 0, 1, VMMEM_ORDER_SEQ_CST), -EINVAL);
	ck_assert_int_eq(vmmem_slice_store_u64(NULL, 0, 1, VMMEM_ORDER_SEQ_CST), -EINVAL);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Slices of guest memory and of regions                                                    */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_slice_memory_get_slice_vector)
{
	static const uint64_t ranges[] = { 0, 0x400, 0x800, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	struct vmmem_region *r1 = vmmem_memory_region_at(m, 0);
	struct vmmem_region *r2 = vmmem_memory_region_at(m, 1);
	uint8_t *h1 = vmmem_region_host(r1), *h2 = vmmem_region_host(r2);
	struct vmmem_slice s;

	memset(&s, 0xa5, sizeof(s));
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x100, 0x200, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_uint_eq(s.len, 0x200);
	ck_assert_ptr_eq(s.ptr, h1 + 0x100);
	ck_assert_ptr_eq(s.region, r1);
	ck_assert_uint_eq(s.region_offset, 0x100);
	ck_assert_uint_eq(s.flags, 0);
	ck_assert_uint_eq(s.reserved, 0);

	memset(&s, 0xa5, sizeof(s));
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x800, 0x400, VMMEM_ACCESS_READ, &s), 0);
	ck_assert_uint_eq(s.len, 0x400);
	ck_assert_ptr_eq(s.ptr, h2);
	ck_assert_ptr_eq(s.region, r2);
	ck_assert_uint_eq(s.region_offset, 0);
	ck_assert_uint_eq(s.flags, 0); /* read access on a writable region: not read-only */

	memset(&s, 0xa5, sizeof(s));
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x900, 0, VMMEM_ACCESS_WRITE, &s), 0);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_ptr_eq(s.region, r2);
	ck_assert_uint_eq(s.region_offset, 0x100);

	ck_assert_int_eq(vmmem_memory_get_slice(m, 0, 0x500, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_CROSSES_REGION);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x600, 0x100, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0xc00, 0x100, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x3ff, 2, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_CROSSES_REGION);
	ck_assert_int_eq(vmmem_memory_get_slice(m, UINT64_MAX - 1, 4, VMMEM_ACCESS_RW, &s),
			 -EOVERFLOW);

	/* the view is the guest memory: writes through it are read back by GPA */
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0xbfc, 4, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_int_eq(vmmem_slice_write(&s, 0, "\x01\x02\x03\x04", 4), 4);
	{
		uint8_t out[4] = { 0 };

		ck_assert_int_eq(vmmem_memory_read(m, 0xbfc, out, 4), 4);
		ck_assert_mem_eq(out, "\x01\x02\x03\x04", 4);
	}

	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x100, 1, 0, &s), -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x100, 1, 4, &s), -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_slice(NULL, 0x100, 1, VMMEM_ACCESS_RW, &s), -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x100, 1, VMMEM_ACCESS_RW, NULL), -EINVAL);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_slice_memory_get_slice_adjacent_regions)
{
	/* one slice never spans two regions, even adjacent ones */
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	struct vmmem_slice s;

	ck_assert_int_eq(vmmem_memory_get_slice(m, 0xff0, 0x20, VMMEM_ACCESS_READ, &s),
			 VMMEM_E_CROSSES_REGION);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0xff0, 0x10, VMMEM_ACCESS_READ, &s), 0);
	ck_assert_ptr_eq(s.region, vmmem_memory_region_at(m, 0));
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x1000, 0x1000, VMMEM_ACCESS_READ, &s), 0);
	ck_assert_ptr_eq(s.region, vmmem_memory_region_at(m, 1));
	ck_assert_uint_eq(s.region_offset, 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_slice_region_get_slice_vector)
{
	struct vmmem_region *r = tu_anon_region(0x5000, 0x400, 0);
	uint8_t *h = vmmem_region_host(r);
	struct vmmem_slice s;
	struct vmmem_array ref;
	uint32_t v = 0;

	memset(&s, 0xa5, sizeof(s));
	ck_assert_int_eq(vmmem_region_get_slice(r, 0x100, 0x200, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_uint_eq(s.len, 0x200);
	ck_assert_ptr_eq(s.ptr, h + 0x100);
	ck_assert_ptr_eq(s.region, r);
	ck_assert_uint_eq(s.region_offset, 0x100);
	ck_assert_uint_eq(s.flags, 0);
	ck_assert_uint_eq(s.reserved, 0);

	ck_assert_int_eq(vmmem_region_get_slice(r, 0x200, 0, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_int_eq(vmmem_region_get_slice(r, 0x300, 0x200, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_get_slice(r, 0x400, 0, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_int_eq(vmmem_region_get_slice(r, 0x400, 1, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_get_slice(r, 0x401, 0, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_OUT_OF_BOUNDS);
	/* offsets are region-relative, not guest addresses */
	ck_assert_int_eq(vmmem_region_get_slice(r, 0x5000, 1, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_get_slice(r, UINT64_MAX, 2, VMMEM_ACCESS_RW, &s),
			 -EOVERFLOW);

	/* whole region; get_ref u32 at 0x200 round trip */
	ck_assert_int_eq(vmmem_region_get_slice(r, 0, 0x400, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_uint_eq(s.len, 0x400);
	ck_assert_ptr_eq(s.ptr, h);
	ck_assert_int_eq(vmmem_slice_get_ref(&s, 0x200, sizeof(uint32_t), &ref), 0);
	v = 0x12345678;
	ck_assert_int_eq(vmmem_array_store(&ref, 0, &v), 0);
	v = 0;
	ck_assert_int_eq(vmmem_array_load(&ref, 0, &v), 0);
	ck_assert_uint_eq(v, 0x12345678);
	ck_assert_mem_eq(h + 0x200, &(uint32_t){ 0x12345678 }, 4);

	/* a subslice keeps its place in the region */
	{
		struct vmmem_slice sub;

		ck_assert_int_eq(vmmem_slice_subslice(&s, 0x30, 0x10, &sub), 0);
		ck_assert_ptr_eq(sub.region, r);
		ck_assert_uint_eq(sub.region_offset, 0x30);
		ck_assert_int_eq(vmmem_slice_offset(&sub, 4, &sub), 0);
		ck_assert_uint_eq(sub.region_offset, 0x34);
		ck_assert_ptr_eq(sub.ptr, h + 0x34);
	}

	ck_assert_int_eq(vmmem_region_get_slice(r, 0, 1, 0, &s), -EINVAL);
	ck_assert_int_eq(vmmem_region_get_slice(r, 0, 1, 4, &s), -EINVAL);
	ck_assert_int_eq(vmmem_region_get_slice(NULL, 0, 1, VMMEM_ACCESS_RW, &s), -EINVAL);
	ck_assert_int_eq(vmmem_region_get_slice(r, 0, 1, VMMEM_ACCESS_RW, NULL), -EINVAL);
	vmmem_region_unref(r);
}
END_TEST

/* Every write entry point on a read-only view refuses, and changes nothing. */
static void assert_all_writes_refused(const struct vmmem_slice *s, const uint8_t *host,
				      size_t n)
{
	uint8_t src[16];
	_Alignas(16) uint8_t wbuf[16] = { 0 };
	struct vmmem_slice w = buf_slice(wbuf, sizeof(wbuf), 0);
	struct vmmem_array a;

	ck_assert_uint_ge(n, 16);
	memset(src, 0x5a, sizeof(src));
	ck_assert_uint_eq(s->flags & VMMEM_SLICE_READ_ONLY, VMMEM_SLICE_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_write(s, 0, src, 4), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_write_obj(s, 0, src, 4), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_copy_from(s, src, 4), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&w, s), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_store_u8(s, 0, 1, VMMEM_ORDER_SEQ_CST), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_store_u16(s, 0, 1, VMMEM_ORDER_SEQ_CST), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_store_u32(s, 0, 1, VMMEM_ORDER_SEQ_CST), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_store_u64(s, 8, 1, VMMEM_ORDER_SEQ_CST), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_get_array(s, 0, 4, 4, &a), 0);
	ck_assert_uint_eq(a.slice.flags & VMMEM_SLICE_READ_ONLY, VMMEM_SLICE_READ_ONLY);
	ck_assert_int_eq(vmmem_array_store(&a, 1, src), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_array_copy_from(&a, src, 4), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_slice_get_ref(s, 2, 8, &a), 0);
	ck_assert_int_eq(vmmem_array_store(&a, 0, src), VMMEM_E_READ_ONLY);
	ck_assert(all_bytes(host, n, 0));
}

/* Views derived from a read-only view stay read-only. */
static void assert_derived_views_read_only(const struct vmmem_slice *s, const uint8_t *host,
					   size_t n)
{
	struct vmmem_slice sub, head, tail;
	struct vmmem_array a, r;

	ck_assert_int_eq(vmmem_slice_subslice(s, 0, 16, &sub), 0);
	assert_all_writes_refused(&sub, host, n);
	ck_assert_int_eq(vmmem_slice_offset(s, 0, &sub), 0);
	assert_all_writes_refused(&sub, host, n);
	ck_assert_int_eq(vmmem_slice_split_at(s, 0, &head, &tail), 0);
	ck_assert_uint_eq(head.flags & VMMEM_SLICE_READ_ONLY, VMMEM_SLICE_READ_ONLY);
	assert_all_writes_refused(&tail, host, n);
	ck_assert_int_eq(vmmem_slice_get_array(s, 0, 1, 16, &a), 0);
	ck_assert_int_eq(vmmem_array_ref_at(&a, 3, &r), 0);
	ck_assert_uint_eq(r.slice.flags & VMMEM_SLICE_READ_ONLY, VMMEM_SLICE_READ_ONLY);
	ck_assert_int_eq(vmmem_array_store(&r, 0, "x"), VMMEM_E_READ_ONLY);
	ck_assert(all_bytes(host, n, 0));
}

/* Reads through a read-only view work. */
static void assert_reads_work(const struct vmmem_slice *s, uint8_t *host)
{
	uint8_t out[8] = { 0 };
	uint8_t wbuf[8] = { 0 };
	struct vmmem_slice w = buf_slice(wbuf, sizeof(wbuf), 0);
	uint32_t v = 0;
	struct vmmem_array a;

	host[4] = 0x11;
	host[5] = 0x22;
	host[6] = 0x33;
	host[7] = 0x44;
	ck_assert_int_eq(vmmem_slice_read(s, 4, out, 4), 4);
	ck_assert_mem_eq(out, "\x11\x22\x33\x44", 4);
	ck_assert_int_eq(vmmem_slice_read_obj(s, 4, &v, 4), 0);
	ck_assert_mem_eq(&v, "\x11\x22\x33\x44", 4);
	v = 0;
	ck_assert_int_eq(vmmem_slice_load_u32(s, 4, VMMEM_ORDER_ACQUIRE, &v), 0);
	ck_assert_mem_eq(&v, "\x11\x22\x33\x44", 4);
	ck_assert_int_eq(vmmem_slice_copy_to(s, out, 8), 8);
	ck_assert_mem_eq(out + 4, "\x11\x22\x33\x44", 4);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(s, &w), 8);
	ck_assert_mem_eq(wbuf + 4, "\x11\x22\x33\x44", 4);
	ck_assert_int_eq(vmmem_slice_get_ref(s, 4, 4, &a), 0);
	v = 0;
	ck_assert_int_eq(vmmem_array_load(&a, 0, &v), 0);
	ck_assert_mem_eq(&v, "\x11\x22\x33\x44", 4);
	ck_assert_int_eq(vmmem_array_copy_to(&a, &v, 1), 1);
	memset(host + 4, 0, 4);
}

START_TEST(test_slice_read_only_region_views)
{
	struct vmmem_region *regs[2];
	struct vmmem_memory *m;
	struct vmmem_region *ro;
	uint8_t *h;
	struct vmmem_slice s;

	regs[0] = tu_anon_region(0, 0x1000, 0);
	regs[1] = tu_anon_region(0x1000, 0x1000, VMMEM_REGION_READ_ONLY);
	m = mem_from_regions(regs, 2);
	ro = vmmem_memory_region_at(m, 1);
	h = vmmem_region_host(ro);

	/* write access is refused up front */
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x1000, 0x10, VMMEM_ACCESS_WRITE, &s),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x1000, 0x10, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_region_get_slice(ro, 0, 0x10, VMMEM_ACCESS_WRITE, &s),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_region_get_slice(ro, 0, 0x10, VMMEM_ACCESS_RW, &s),
			 VMMEM_E_READ_ONLY);

	/* read access gives read-only views */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x1000, 0x40, VMMEM_ACCESS_READ, &s), 0);
	ck_assert_uint_eq(s.flags, VMMEM_SLICE_READ_ONLY);
	ck_assert_ptr_eq(s.region, ro);
	assert_all_writes_refused(&s, h, 0x1000);
	assert_derived_views_read_only(&s, h, 0x1000);
	assert_reads_work(&s, h);

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(vmmem_region_get_slice(ro, 0x100, 0x40, VMMEM_ACCESS_READ, &s), 0);
	ck_assert_uint_eq(s.flags, VMMEM_SLICE_READ_ONLY);
	assert_all_writes_refused(&s, h, 0x1000);
	assert_reads_work(&s, h + 0x100);

	/* the writable region next to it gives writable views */
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x0, 0x40, VMMEM_ACCESS_READ, &s), 0);
	ck_assert_uint_eq(s.flags, 0);
	ck_assert_int_eq(vmmem_slice_write(&s, 0, "ab", 2), 2);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_slice_read_only_buffer_views)
{
	_Alignas(16) uint8_t buf[32] = { 0 };
	struct vmmem_slice s = buf_slice(buf, sizeof(buf), VMMEM_SLICE_READ_ONLY);

	assert_all_writes_refused(&s, buf, sizeof(buf));
	assert_derived_views_read_only(&s, buf, sizeof(buf));
	assert_reads_work(&s, buf);
}
END_TEST

START_TEST(test_slice_null_arguments)
{
	uint8_t buf[16] = { 0 };
	struct vmmem_slice s = buf_slice(buf, sizeof(buf), 0), o;
	struct vmmem_array a;
	uint8_t v = 0;

	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 1, 4, &a), 0);

	ck_assert_int_eq(vmmem_slice_from_buffer(NULL, buf, 1, 0), -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_slice(NULL, 0, 1, VMMEM_ACCESS_READ, &o), -EINVAL);
	ck_assert_int_eq(vmmem_region_get_slice(NULL, 0, 1, VMMEM_ACCESS_READ, &o), -EINVAL);
	ck_assert_int_eq(vmmem_slice_subslice(NULL, 0, 1, &o), -EINVAL);
	ck_assert_int_eq(vmmem_slice_subslice(&s, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_slice_offset(NULL, 0, &o), -EINVAL);
	ck_assert_int_eq(vmmem_slice_offset(&s, 0, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_slice_split_at(NULL, 0, &o, &o), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_to(NULL, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_to(&s, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_from(NULL, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_from(&s, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(NULL, &s), -EINVAL);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&s, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_slice_read(NULL, 0, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_read(&s, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write(NULL, 0, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write(&s, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_read_obj(NULL, 0, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_read_obj(&s, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write_obj(NULL, 0, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_write_obj(&s, 0, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_get_array(NULL, 0, 1, 1, &a), -EINVAL);
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 1, 1, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_slice_get_ref(NULL, 0, 1, &a), -EINVAL);
	ck_assert_int_eq(vmmem_slice_get_ref(&s, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_array_load(NULL, 0, &v), -EINVAL);
	ck_assert_int_eq(vmmem_array_load(&a, 0, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_array_store(NULL, 0, &v), -EINVAL);
	ck_assert_int_eq(vmmem_array_store(&a, 0, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_array_ref_at(NULL, 0, &a), -EINVAL);
	ck_assert_int_eq(vmmem_array_ref_at(&a, 0, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_array_copy_to(NULL, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_array_copy_to(&a, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_array_copy_from(NULL, buf, 1), -EINVAL);
	ck_assert_int_eq(vmmem_array_copy_from(&a, NULL, 1), -EINVAL);
	ck_assert(all_bytes(buf, sizeof(buf), 0));
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

static Suite *slice_suite(void)
{
	Suite *s = suite_create("slice");
	TCase *tc;

	tc = tcase_create("views");
	tcase_add_test(tc, test_slice_from_buffer_fields);
	tcase_add_test(tc, test_slice_from_buffer_invalid);
	tcase_add_test(tc, test_slice_subslice_bounds);
	tcase_add_test(tc, test_slice_subslice_and_offset_content);
	tcase_add_test(tc, test_slice_split_at);
	suite_add_tcase(s, tc);

	tc = tcase_create("bytes");
	tcase_add_test(tc, test_slice_read_write_vectors);
	tcase_add_test(tc, test_slice_obj_vectors);
	tcase_add_test(tc, test_slice_copy_to_from_counts);
	tcase_add_test(tc, test_slice_copy_to_slice);
	suite_add_tcase(s, tc);

	tc = tcase_create("arrays");
	tcase_add_test(tc, test_slice_get_array_vectors);
	tcase_add_test(tc, test_slice_get_ref_vectors);
	tcase_add_test(tc, test_slice_array_odd_element_size);
	tcase_add_test(tc, test_slice_array_copy_u16_elements);
	tcase_add_test(tc, test_slice_array_copy_unaligned_elements);
	suite_add_tcase(s, tc);

	tc = tcase_create("atomic");
	tcase_add_test(tc, test_slice_atomic_bounds_then_alignment);
	tcase_add_test(tc, test_slice_atomic_roundtrip_every_order);
	tcase_add_test(tc, test_slice_atomic_invalid_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("guest");
	tcase_add_test(tc, test_slice_memory_get_slice_vector);
	tcase_add_test(tc, test_slice_memory_get_slice_adjacent_regions);
	tcase_add_test(tc, test_slice_region_get_slice_vector);
	tcase_add_test(tc, test_slice_read_only_region_views);
	tcase_add_test(tc, test_slice_read_only_buffer_views);
	tcase_add_test(tc, test_slice_null_arguments);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tu_run_suite(slice_suite());
}
