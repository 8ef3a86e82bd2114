/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Unit tests of core/crc32c.c against an independent bitwise CRC32C. Built twice: with the
 * hardware path (where the CPU has SSE4.2) and with the table path forced. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "tu_run.h"

static uint32_t reference(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

static uint8_t *random_bytes(size_t n)
{
	uint8_t *b = malloc(n + 16);
	uint64_t x = 0x9E3779B97F4A7C15ull;

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n + 16; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	return b;
}

START_TEST(test_crc32c_check_value)
{
	/* The catalogue check value of CRC-32C, and the empty input. */
	ck_assert_uint_eq(vmm_crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(vmm_crc32c(0, "", 0), 0);
	ck_assert_uint_eq(vmm_crc32c(0x12345678u, "", 0), 0x12345678u);
}
END_TEST

START_TEST(test_crc32c_matches_reference)
{
	size_t n = 3 * 3 * 4096 + 100; /* several rounds of the interleaved loop */
	uint8_t *b = random_bytes(n);

	/* Every alignment, lengths around the 8-byte and 3x4096 boundaries. */
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= n; len += (len < 64 ? 1 : 997))
			ck_assert_uint_eq(vmm_crc32c(0, b + off, len), reference(0, b + off, len));
	for (size_t len = 3 * 4096 - 9; len < 3 * 4096 + 9; len++)
		ck_assert_uint_eq(vmm_crc32c(0, b + 1, len), reference(0, b + 1, len));
	/* Continuing a checksum is appending. */
	ck_assert_uint_eq(vmm_crc32c(vmm_crc32c(0, b, 5000), b + 5000, n - 5000),
			  reference(0, b, n));
	free(b);
}
END_TEST

START_TEST(test_crc32c_zeros_and_combine)
{
	size_t n = 70000;
	uint8_t *b = random_bytes(n), *z = calloc(1, n);

	ck_assert_ptr_nonnull(z);
	for (size_t len = 0; len < n; len = len * 3 + 1) {
		uint32_t head = vmm_crc32c(0, b, 123);

		/* n zero bytes appended without reading them. */
		ck_assert_uint_eq(vmm_crc32c_zeros(head, len), reference(head, z, len));
		/* crc(A || B) from crc(A), crc(B) and |B|. */
		for (size_t split = 0; split <= len; split += len / 3 + 1)
			ck_assert_uint_eq(vmm_crc32c_combine(vmm_crc32c(0, b, split),
							     vmm_crc32c(0, b + split, len - split),
							     len - split),
					  reference(0, b, len));
	}
	/* Huge hole lengths: 1 TiB of zeros then a byte equals the two-step form. */
	uint32_t t = vmm_crc32c_zeros(0, 1ull << 40);

	ck_assert_uint_eq(vmm_crc32c(t, "x", 1),
			  vmm_crc32c_combine(t, vmm_crc32c(0, "x", 1), 1));
	ck_assert_uint_eq(vmm_crc32c_zeros(vmm_crc32c_zeros(0, 1ull << 39), 1ull << 39), t);
	free(b);
	free(z);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("crc32c");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_crc32c_check_value);
	tcase_add_test(tc, test_crc32c_matches_reference);
	tcase_add_test(tc, test_crc32c_zeros_and_combine);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
