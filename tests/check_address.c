/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Unit tests for the inline guest-address arithmetic of vmmem/address.h. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

#define SENTINEL UINT64_C(0xdeadbeefcafef00d)

/* ---- is_power_of_two ------------------------------------------------------------------ */

START_TEST(test_address_is_power_of_two)
{
	ck_assert(!vmmem_is_power_of_two(0));
	ck_assert(vmmem_is_power_of_two(1));
	ck_assert(vmmem_is_power_of_two(2));
	ck_assert(!vmmem_is_power_of_two(3));
	ck_assert(vmmem_is_power_of_two(4));
	ck_assert(!vmmem_is_power_of_two(6));
	ck_assert(!vmmem_is_power_of_two(12));
	ck_assert(vmmem_is_power_of_two(0x1000));
	ck_assert(!vmmem_is_power_of_two(0x1001));
	ck_assert(!vmmem_is_power_of_two(0xfff));
	ck_assert(vmmem_is_power_of_two(UINT64_C(1) << 63));
	ck_assert(!vmmem_is_power_of_two((UINT64_C(1) << 63) + 1));
	ck_assert(!vmmem_is_power_of_two((UINT64_C(1) << 63) | (UINT64_C(1) << 62)));
	ck_assert(!vmmem_is_power_of_two(UINT64_MAX));
	for (unsigned int i = 0; i < 64; i++) {
		uint64_t p = UINT64_C(1) << i;

		ck_assert_msg(vmmem_is_power_of_two(p), "2^%u", i);
		if (i > 1)
			ck_assert_msg(!vmmem_is_power_of_two(p - 1), "2^%u - 1", i);
		if (i > 0)
			ck_assert_msg(!vmmem_is_power_of_two(p + 1), "2^%u + 1", i);
	}
}
END_TEST

/* ---- checked_add / overflowing_add ---------------------------------------------------- */

START_TEST(test_address_checked_add)
{
	uint64_t out = SENTINEL;

	ck_assert_int_eq(vmmem_addr_checked_add(10, 10, &out), 0);
	ck_assert_uint_eq(out, 20);
	ck_assert_int_eq(vmmem_addr_checked_add(UINT64_MAX - 1, 1, &out), 0);
	ck_assert_uint_eq(out, UINT64_MAX);
	ck_assert_int_eq(vmmem_addr_checked_add(0, 0, &out), 0);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(vmmem_addr_checked_add(0, UINT64_MAX, &out), 0);
	ck_assert_uint_eq(out, UINT64_MAX);
	ck_assert_int_eq(vmmem_addr_checked_add(UINT64_MAX, 0, &out), 0);
	ck_assert_uint_eq(out, UINT64_MAX);
	ck_assert_int_eq(vmmem_addr_checked_add(UINT64_C(1) << 63, (UINT64_C(1) << 63) - 1, &out),
			 0);
	ck_assert_uint_eq(out, UINT64_MAX);
}
END_TEST

START_TEST(test_address_checked_add_overflow)
{
	uint64_t out = SENTINEL;

	ck_assert_int_eq(vmmem_addr_checked_add(UINT64_MAX, 1, &out), -EOVERFLOW);
	ck_assert_uint_eq(out, SENTINEL); /* written only on success */
	ck_assert_int_eq(vmmem_addr_checked_add(1, UINT64_MAX, &out), -EOVERFLOW);
	ck_assert_int_eq(vmmem_addr_checked_add(UINT64_MAX, UINT64_MAX, &out), -EOVERFLOW);
	ck_assert_int_eq(vmmem_addr_checked_add(UINT64_C(1) << 63, UINT64_C(1) << 63, &out),
			 -EOVERFLOW);
	ck_assert_int_eq(vmmem_addr_checked_add(0xffffffffffff0000u, 0x10000, &out), -EOVERFLOW);
	ck_assert_uint_eq(out, SENTINEL);
}
END_TEST

START_TEST(test_address_checked_add_null_out)
{
	ck_assert_int_eq(vmmem_addr_checked_add(10, 10, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_addr_checked_add(UINT64_MAX, 1, NULL), -EINVAL);
}
END_TEST

START_TEST(test_address_overflowing_add)
{
	uint64_t out = SENTINEL;

	ck_assert(!vmmem_addr_overflowing_add(10, 10, &out));
	ck_assert_uint_eq(out, 20);
	ck_assert(!vmmem_addr_overflowing_add(UINT64_MAX - 1, 1, &out));
	ck_assert_uint_eq(out, UINT64_MAX);
	ck_assert(vmmem_addr_overflowing_add(UINT64_MAX, 1, &out));
	ck_assert_uint_eq(out, 0);
	ck_assert(vmmem_addr_overflowing_add(UINT64_MAX, UINT64_MAX, &out));
	ck_assert_uint_eq(out, UINT64_MAX - 1);
	ck_assert(vmmem_addr_overflowing_add(UINT64_C(1) << 63, (UINT64_C(1) << 63) + 5, &out));
	ck_assert_uint_eq(out, 5);
	ck_assert(!vmmem_addr_overflowing_add(0, 0, &out));
	ck_assert_uint_eq(out, 0);
	/* out may be NULL. */
	ck_assert(vmmem_addr_overflowing_add(UINT64_MAX, 1, NULL));
	ck_assert(!vmmem_addr_overflowing_add(1, 1, NULL));
}
END_TEST

/* ---- checked_sub / overflowing_sub / offset_from -------------------------------------- */

START_TEST(test_address_checked_sub)
{
	uint64_t out = SENTINEL;

	ck_assert_int_eq(vmmem_addr_checked_sub(1, 1, &out), 0);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(vmmem_addr_checked_sub(20, 10, &out), 0);
	ck_assert_uint_eq(out, 10);
	ck_assert_int_eq(vmmem_addr_checked_sub(UINT64_MAX, UINT64_MAX, &out), 0);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(vmmem_addr_checked_sub(UINT64_MAX, 0, &out), 0);
	ck_assert_uint_eq(out, UINT64_MAX);
	ck_assert_int_eq(vmmem_addr_checked_sub(0, 0, &out), 0);
	ck_assert_uint_eq(out, 0);

	out = SENTINEL;
	ck_assert_int_eq(vmmem_addr_checked_sub(0, 1, &out), -EOVERFLOW);
	ck_assert_uint_eq(out, SENTINEL);
	ck_assert_int_eq(vmmem_addr_checked_sub(10, 11, &out), -EOVERFLOW);
	ck_assert_int_eq(vmmem_addr_checked_sub(UINT64_MAX - 1, UINT64_MAX, &out), -EOVERFLOW);
	ck_assert_uint_eq(out, SENTINEL);

	ck_assert_int_eq(vmmem_addr_checked_sub(1, 1, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_addr_checked_sub(0, 1, NULL), -EINVAL);
}
END_TEST

START_TEST(test_address_overflowing_sub)
{
	uint64_t out = SENTINEL;

	ck_assert(!vmmem_addr_overflowing_sub(1, 1, &out));
	ck_assert_uint_eq(out, 0);
	ck_assert(vmmem_addr_overflowing_sub(0, 1, &out));
	ck_assert_uint_eq(out, UINT64_MAX);
	ck_assert(vmmem_addr_overflowing_sub(0, UINT64_MAX, &out));
	ck_assert_uint_eq(out, 1);
	ck_assert(vmmem_addr_overflowing_sub(5, 6, &out));
	ck_assert_uint_eq(out, UINT64_MAX);
	ck_assert(!vmmem_addr_overflowing_sub(UINT64_MAX, UINT64_MAX, &out));
	ck_assert_uint_eq(out, 0);
	ck_assert(!vmmem_addr_overflowing_sub(0x150, 0x100, &out));
	ck_assert_uint_eq(out, 0x50);
	ck_assert(vmmem_addr_overflowing_sub(0, 1, NULL));
	ck_assert(!vmmem_addr_overflowing_sub(1, 0, NULL));
}
END_TEST

START_TEST(test_address_offset_from)
{
	uint64_t out = SENTINEL;

	ck_assert_int_eq(vmmem_addr_offset_from(0x150, 0x100, &out), 0);
	ck_assert_uint_eq(out, 0x50);
	ck_assert_int_eq(vmmem_addr_offset_from(0x100, 0x100, &out), 0);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(vmmem_addr_offset_from(UINT64_MAX, 0, &out), 0);
	ck_assert_uint_eq(out, UINT64_MAX);

	out = SENTINEL;
	ck_assert_int_eq(vmmem_addr_offset_from(0x100, 0x150, &out), -EOVERFLOW);
	ck_assert_uint_eq(out, SENTINEL);
	ck_assert_int_eq(vmmem_addr_offset_from(0, UINT64_MAX, &out), -EOVERFLOW);
	ck_assert_uint_eq(out, SENTINEL);
	ck_assert_int_eq(vmmem_addr_offset_from(0x150, 0x100, NULL), -EINVAL);
}
END_TEST

/* ---- align_up / align_down / is_aligned ----------------------------------------------- */

START_TEST(test_address_align_up)
{
	uint64_t out = SENTINEL;

	ck_assert_int_eq(vmmem_addr_align_up(0x128, 8, &out), 0);
	ck_assert_uint_eq(out, 0x128);
	ck_assert_int_eq(vmmem_addr_align_up(0x128, 16, &out), 0);
	ck_assert_uint_eq(out, 0x130);
	ck_assert_int_eq(vmmem_addr_align_up(0, 0x1000, &out), 0);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(vmmem_addr_align_up(1, 0x1000, &out), 0);
	ck_assert_uint_eq(out, 0x1000);
	ck_assert_int_eq(vmmem_addr_align_up(0x1000, 0x1000, &out), 0);
	ck_assert_uint_eq(out, 0x1000);
	ck_assert_int_eq(vmmem_addr_align_up(0x1001, 0x1000, &out), 0);
	ck_assert_uint_eq(out, 0x2000);
	ck_assert_int_eq(vmmem_addr_align_up(12345, 1, &out), 0);
	ck_assert_uint_eq(out, 12345);
	ck_assert_int_eq(vmmem_addr_align_up(UINT64_MAX, 1, &out), 0);
	ck_assert_uint_eq(out, UINT64_MAX);
	ck_assert_int_eq(vmmem_addr_align_up(1, UINT64_C(1) << 63, &out), 0);
	ck_assert_uint_eq(out, UINT64_C(1) << 63);
	ck_assert_int_eq(vmmem_addr_align_up(UINT64_C(1) << 63, UINT64_C(1) << 63, &out), 0);
	ck_assert_uint_eq(out, UINT64_C(1) << 63);
	/* Already aligned near the top: addr + (align - 1) == UINT64_MAX, no overflow. */
	ck_assert_int_eq(vmmem_addr_align_up(0xffffffffffff0000u, 0x10000, &out), 0);
	ck_assert_uint_eq(out, 0xffffffffffff0000u);
	ck_assert_int_eq(vmmem_addr_align_up(UINT64_MAX - 1, 2, &out), 0);
	ck_assert_uint_eq(out, UINT64_MAX - 1);
}
END_TEST

START_TEST(test_address_align_up_overflow)
{
	uint64_t out = SENTINEL;

	ck_assert_int_eq(vmmem_addr_align_up(UINT64_MAX - 0x3fff, 0x10000, &out), -EOVERFLOW);
	ck_assert_uint_eq(out, SENTINEL);
	ck_assert_int_eq(vmmem_addr_align_up(UINT64_MAX, 2, &out), -EOVERFLOW);
	ck_assert_int_eq(vmmem_addr_align_up((UINT64_C(1) << 63) + 1, UINT64_C(1) << 63, &out),
			 -EOVERFLOW);
	ck_assert_int_eq(vmmem_addr_align_up(0xfffffffffffff001u, 0x1000, &out), -EOVERFLOW);
	ck_assert_uint_eq(out, SENTINEL);
}
END_TEST

START_TEST(test_address_align_up_invalid)
{
	uint64_t out = SENTINEL;

	ck_assert_int_eq(vmmem_addr_align_up(0x128, 12, &out), -EINVAL);
	ck_assert_int_eq(vmmem_addr_align_up(0x128, 0, &out), -EINVAL);
	ck_assert_int_eq(vmmem_addr_align_up(0x128, 3, &out), -EINVAL);
	ck_assert_int_eq(vmmem_addr_align_up(0x128, UINT64_MAX, &out), -EINVAL);
	ck_assert_int_eq(vmmem_addr_align_up(0, 0x1001, &out), -EINVAL);
	ck_assert_uint_eq(out, SENTINEL);
	ck_assert_int_eq(vmmem_addr_align_up(0x128, 8, NULL), -EINVAL);
	/* Not a power of two wins over an overflow. */
	ck_assert_int_eq(vmmem_addr_align_up(UINT64_MAX, 12, &out), -EINVAL);
	ck_assert_uint_eq(out, SENTINEL);
}
END_TEST

START_TEST(test_address_align_down)
{
	uint64_t out = SENTINEL;

	ck_assert_int_eq(vmmem_addr_align_down(0x128, 8, &out), 0);
	ck_assert_uint_eq(out, 0x128);
	ck_assert_int_eq(vmmem_addr_align_down(0x128, 16, &out), 0);
	ck_assert_uint_eq(out, 0x120);
	ck_assert_int_eq(vmmem_addr_align_down(0xfff, 0x1000, &out), 0);
	ck_assert_uint_eq(out, 0);
	ck_assert_int_eq(vmmem_addr_align_down(UINT64_MAX, 0x1000, &out), 0);
	ck_assert_uint_eq(out, 0xfffffffffffff000u);
	ck_assert_int_eq(vmmem_addr_align_down(UINT64_MAX, 1, &out), 0);
	ck_assert_uint_eq(out, UINT64_MAX);
	ck_assert_int_eq(vmmem_addr_align_down(UINT64_MAX, UINT64_C(1) << 63, &out), 0);
	ck_assert_uint_eq(out, UINT64_C(1) << 63);

	out = SENTINEL;
	ck_assert_int_eq(vmmem_addr_align_down(0x128, 12, &out), -EINVAL);
	ck_assert_int_eq(vmmem_addr_align_down(0x128, 0, &out), -EINVAL);
	ck_assert_int_eq(vmmem_addr_align_down(0x128, UINT64_MAX, &out), -EINVAL);
	ck_assert_uint_eq(out, SENTINEL);
	ck_assert_int_eq(vmmem_addr_align_down(0x128, 8, NULL), -EINVAL);
}
END_TEST

START_TEST(test_address_is_aligned)
{
	ck_assert(vmmem_addr_is_aligned(0x128, 8));
	ck_assert(!vmmem_addr_is_aligned(0x128, 16));
	ck_assert(vmmem_addr_is_aligned(0, 0x1000));
	ck_assert(vmmem_addr_is_aligned(0, UINT64_C(1) << 63));
	ck_assert(vmmem_addr_is_aligned(UINT64_C(1) << 63, UINT64_C(1) << 63));
	ck_assert(!vmmem_addr_is_aligned(UINT64_MAX, 2));
	ck_assert(vmmem_addr_is_aligned(UINT64_MAX, 1));
	ck_assert(vmmem_addr_is_aligned(0x123, 1));
	/* Not a power of two: false even when the address is a multiple. */
	ck_assert(!vmmem_addr_is_aligned(0, 0));
	ck_assert(!vmmem_addr_is_aligned(24, 12));
	ck_assert(!vmmem_addr_is_aligned(36, 12));
	ck_assert(!vmmem_addr_is_aligned(0, 3));
}
END_TEST

/* ---- mask ----------------------------------------------------------------------------- */

START_TEST(test_address_mask)
{
	ck_assert_uint_eq(vmmem_addr_mask(0x5050, 0xff00), 0x5000);
	ck_assert_uint_eq(vmmem_addr_mask(0x0ff0, 0xf00f), 0);
	ck_assert_uint_eq(vmmem_addr_mask(UINT64_MAX, 0), 0);
	ck_assert_uint_eq(vmmem_addr_mask(UINT64_MAX, UINT64_MAX), UINT64_MAX);
	ck_assert_uint_eq(vmmem_addr_mask(0x123456789abcdef0u, 0xffffffff00000000u),
			  0x1234567800000000u);
	ck_assert_uint_eq(vmmem_addr_mask(0x5050, 0xff00) | 5, 0x5005);
	ck_assert_uint_eq(vmmem_addr_mask(0x5050, UINT64_MAX) | 5, 0x5055);
}
END_TEST

Suite *address_suite(void);
Suite *address_suite(void)
{
	Suite *s = suite_create("address");
	TCase *tc = tcase_create("arith");

	tcase_add_test(tc, test_address_is_power_of_two);
	tcase_add_test(tc, test_address_checked_add);
	tcase_add_test(tc, test_address_checked_add_overflow);
	tcase_add_test(tc, test_address_checked_add_null_out);
	tcase_add_test(tc, test_address_overflowing_add);
	tcase_add_test(tc, test_address_checked_sub);
	tcase_add_test(tc, test_address_overflowing_sub);
	tcase_add_test(tc, test_address_offset_from);
	suite_add_tcase(s, tc);

	tc = tcase_create("align");
	tcase_add_test(tc, test_address_align_up);
	tcase_add_test(tc, test_address_align_up_overflow);
	tcase_add_test(tc, test_address_align_up_invalid);
	tcase_add_test(tc, test_address_align_down);
	tcase_add_test(tc, test_address_is_aligned);
	tcase_add_test(tc, test_address_mask);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(address_suite());
}
