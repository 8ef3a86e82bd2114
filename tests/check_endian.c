/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Unit tests for the explicit-endian types of vmmem/endian.h. */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "testutil.h"

/* Same size and alignment as the native integers, so they can sit in guest structs. */
_Static_assert(sizeof(struct vmmem_le16) == sizeof(uint16_t), "le16 size");
_Static_assert(sizeof(struct vmmem_le32) == sizeof(uint32_t), "le32 size");
_Static_assert(sizeof(struct vmmem_le64) == sizeof(uint64_t), "le64 size");
_Static_assert(sizeof(struct vmmem_be16) == sizeof(uint16_t), "be16 size");
_Static_assert(sizeof(struct vmmem_be32) == sizeof(uint32_t), "be32 size");
_Static_assert(sizeof(struct vmmem_be64) == sizeof(uint64_t), "be64 size");
_Static_assert(alignof(struct vmmem_le16) == alignof(uint16_t), "le16 align");
_Static_assert(alignof(struct vmmem_le32) == alignof(uint32_t), "le32 align");
_Static_assert(alignof(struct vmmem_le64) == alignof(uint64_t), "le64 align");
_Static_assert(alignof(struct vmmem_be16) == alignof(uint16_t), "be16 align");
_Static_assert(alignof(struct vmmem_be32) == alignof(uint32_t), "be32 align");
_Static_assert(alignof(struct vmmem_be64) == alignof(uint64_t), "be64 align");

/* A guest-visible structure mixing them has the layout of the native one. */
struct guest_le {
	struct vmmem_le16 a;
	struct vmmem_le32 b;
	struct vmmem_be16 c;
	struct vmmem_le64 d;
	struct vmmem_be64 e;
	struct vmmem_be32 f;
};
struct guest_native {
	uint16_t a;
	uint32_t b;
	uint16_t c;
	uint64_t d;
	uint64_t e;
	uint32_t f;
};
_Static_assert(sizeof(struct guest_le) == sizeof(struct guest_native), "struct size");
_Static_assert(offsetof(struct guest_le, b) == offsetof(struct guest_native, b), "b");
_Static_assert(offsetof(struct guest_le, c) == offsetof(struct guest_native, c), "c");
_Static_assert(offsetof(struct guest_le, d) == offsetof(struct guest_native, d), "d");
_Static_assert(offsetof(struct guest_le, e) == offsetof(struct guest_native, e), "e");
_Static_assert(offsetof(struct guest_le, f) == offsetof(struct guest_native, f), "f");

#define V64 UINT64_C(0x0123456789ABCDEF)
#define V32 ((uint32_t)V64) /* 0x89ABCDEF */
#define V16 ((uint16_t)V64) /* 0xCDEF */

/* The raw (in-memory) value a type holds for native v: v itself when the type's byte order
 * is the host's, v byte-swapped otherwise. The suites run on little- and big-endian hosts
 * (s390x under qemu-user); the byte-layout tests below pin the bytes on both. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LE16(v) __builtin_bswap16(v)
#define LE32(v) __builtin_bswap32(v)
#define LE64(v) __builtin_bswap64(v)
#define BE16(v) ((uint16_t)(v))
#define BE32(v) ((uint32_t)(v))
#define BE64(v) ((uint64_t)(v))
#else
#define LE16(v) ((uint16_t)(v))
#define LE32(v) ((uint32_t)(v))
#define LE64(v) ((uint64_t)(v))
#define BE16(v) __builtin_bswap16(v)
#define BE32(v) __builtin_bswap32(v)
#define BE64(v) __builtin_bswap64(v)
#endif

START_TEST(test_endian_sizes)
{
	ck_assert_uint_eq(sizeof(struct vmmem_le16), 2);
	ck_assert_uint_eq(sizeof(struct vmmem_le32), 4);
	ck_assert_uint_eq(sizeof(struct vmmem_le64), 8);
	ck_assert_uint_eq(sizeof(struct vmmem_be16), 2);
	ck_assert_uint_eq(sizeof(struct vmmem_be32), 4);
	ck_assert_uint_eq(sizeof(struct vmmem_be64), 8);
	ck_assert_uint_eq(alignof(struct vmmem_le64), alignof(uint64_t));
	ck_assert_uint_eq(alignof(struct vmmem_be64), alignof(uint64_t));
	/* The header's idea of the host byte order is the compiler's. */
	ck_assert_int_eq(VMMEM_HOST_BIG_ENDIAN, __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
}
END_TEST

START_TEST(test_endian_truncated_values)
{
	ck_assert_uint_eq(V32, 0x89ABCDEFu);
	ck_assert_uint_eq(V16, 0xCDEFu);
}
END_TEST

START_TEST(test_endian_le_round_trip)
{
	struct vmmem_le16 a = vmmem_le16_from_cpu(V16);
	struct vmmem_le32 b = vmmem_le32_from_cpu(V32);
	struct vmmem_le64 c = vmmem_le64_from_cpu(V64);

	ck_assert_uint_eq(a.raw, LE16(V16));
	ck_assert_uint_eq(b.raw, LE32(V32));
	ck_assert_uint_eq(c.raw, LE64(V64));
	ck_assert_uint_eq(vmmem_le16_to_cpu(a), V16);
	ck_assert_uint_eq(vmmem_le32_to_cpu(b), V32);
	ck_assert_uint_eq(vmmem_le64_to_cpu(c), V64);
}
END_TEST

START_TEST(test_endian_be_round_trip)
{
	struct vmmem_be16 a = vmmem_be16_from_cpu(V16);
	struct vmmem_be32 b = vmmem_be32_from_cpu(V32);
	struct vmmem_be64 c = vmmem_be64_from_cpu(V64);

	ck_assert_uint_eq(a.raw, BE16(V16));
	ck_assert_uint_eq(b.raw, BE32(V32));
	ck_assert_uint_eq(c.raw, BE64(V64));
	ck_assert_uint_eq(vmmem_be16_to_cpu(a), V16);
	ck_assert_uint_eq(vmmem_be32_to_cpu(b), V32);
	ck_assert_uint_eq(vmmem_be64_to_cpu(c), V64);
}
END_TEST

START_TEST(test_endian_raw_conversions)
{
	ck_assert_uint_eq(vmmem_cpu_to_le16(V16), LE16(V16));
	ck_assert_uint_eq(vmmem_cpu_to_le32(V32), LE32(V32));
	ck_assert_uint_eq(vmmem_cpu_to_le64(V64), LE64(V64));
	ck_assert_uint_eq(vmmem_cpu_to_be16(V16), BE16(V16));
	ck_assert_uint_eq(vmmem_cpu_to_be32(V32), BE32(V32));
	ck_assert_uint_eq(vmmem_cpu_to_be64(V64), BE64(V64));
	ck_assert_uint_eq(vmmem_le16_to_cpu_raw(LE16(V16)), V16);
	ck_assert_uint_eq(vmmem_le32_to_cpu_raw(LE32(V32)), V32);
	ck_assert_uint_eq(vmmem_le64_to_cpu_raw(LE64(V64)), V64);
	ck_assert_uint_eq(vmmem_be16_to_cpu_raw(BE16(V16)), V16);
	ck_assert_uint_eq(vmmem_be32_to_cpu_raw(BE32(V32)), V32);
	ck_assert_uint_eq(vmmem_be64_to_cpu_raw(BE64(V64)), V64);
	/* The raw values' bytes are the wire order whatever the host. */
	{
		uint16_t raw = vmmem_cpu_to_be16(V16);
		uint8_t bytes[2];

		memcpy(bytes, &raw, 2);
		ck_assert_uint_eq(bytes[0], 0xCD);
		raw = vmmem_cpu_to_le16(V16);
		memcpy(bytes, &raw, 2);
		ck_assert_uint_eq(bytes[0], 0xEF);
	}
}
END_TEST

START_TEST(test_endian_le_byte_layout)
{
	static const uint8_t want16[] = { 0xEF, 0xCD };
	static const uint8_t want32[] = { 0xEF, 0xCD, 0xAB, 0x89 };
	static const uint8_t want64[] = { 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01 };
	struct vmmem_le16 a = vmmem_le16_from_cpu(V16);
	struct vmmem_le32 b = vmmem_le32_from_cpu(V32);
	struct vmmem_le64 c = vmmem_le64_from_cpu(V64);

	ck_assert_mem_eq(&a, want16, sizeof(want16));
	ck_assert_mem_eq(&b, want32, sizeof(want32));
	ck_assert_mem_eq(&c, want64, sizeof(want64));
}
END_TEST

START_TEST(test_endian_be_byte_layout)
{
	static const uint8_t want16[] = { 0xCD, 0xEF };
	static const uint8_t want32[] = { 0x89, 0xAB, 0xCD, 0xEF };
	static const uint8_t want64[] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF };
	struct vmmem_be16 a = vmmem_be16_from_cpu(V16);
	struct vmmem_be32 b = vmmem_be32_from_cpu(V32);
	struct vmmem_be64 c = vmmem_be64_from_cpu(V64);

	ck_assert_mem_eq(&a, want16, sizeof(want16));
	ck_assert_mem_eq(&b, want32, sizeof(want32));
	ck_assert_mem_eq(&c, want64, sizeof(want64));
}
END_TEST

START_TEST(test_endian_from_bytes)
{
	/* Values read from guest bytes (memcpy into the type) convert to the right native. */
	static const uint8_t bytes[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF };
	struct vmmem_le16 l16;
	struct vmmem_le32 l32;
	struct vmmem_le64 l64;
	struct vmmem_be16 b16;
	struct vmmem_be32 b32;
	struct vmmem_be64 b64;

	memcpy(&l16, bytes, sizeof(l16));
	memcpy(&l32, bytes, sizeof(l32));
	memcpy(&l64, bytes, sizeof(l64));
	memcpy(&b16, bytes, sizeof(b16));
	memcpy(&b32, bytes, sizeof(b32));
	memcpy(&b64, bytes, sizeof(b64));
	ck_assert_uint_eq(vmmem_le16_to_cpu(l16), 0x2301u);
	ck_assert_uint_eq(vmmem_le32_to_cpu(l32), 0x67452301u);
	ck_assert_uint_eq(vmmem_le64_to_cpu(l64), UINT64_C(0xEFCDAB8967452301));
	ck_assert_uint_eq(vmmem_be16_to_cpu(b16), 0x0123u);
	ck_assert_uint_eq(vmmem_be32_to_cpu(b32), 0x01234567u);
	ck_assert_uint_eq(vmmem_be64_to_cpu(b64), V64);
}
END_TEST

START_TEST(test_endian_struct_layout)
{
	struct guest_le g;
	uint8_t bytes[sizeof(g)];

	memset(&g, 0, sizeof(g));
	g.a = vmmem_le16_from_cpu(0x1122);
	g.c = vmmem_be16_from_cpu(0x3344);
	g.f = vmmem_be32_from_cpu(0x55667788u);
	memcpy(bytes, &g, sizeof(g));
	ck_assert_uint_eq(bytes[offsetof(struct guest_le, a)], 0x22);
	ck_assert_uint_eq(bytes[offsetof(struct guest_le, a) + 1], 0x11);
	ck_assert_uint_eq(bytes[offsetof(struct guest_le, c)], 0x33);
	ck_assert_uint_eq(bytes[offsetof(struct guest_le, c) + 1], 0x44);
	ck_assert_uint_eq(bytes[offsetof(struct guest_le, f)], 0x55);
	ck_assert_uint_eq(bytes[offsetof(struct guest_le, f) + 3], 0x88);
}
END_TEST

/* Deterministic pseudo-random values (splitmix64). */
static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

START_TEST(test_endian_round_trip_many)
{
	uint64_t seed = 42;
	unsigned int bad = 0;

	for (int i = 0; i < 10000; i++) {
		uint64_t v = splitmix(&seed);
		uint16_t v16 = (uint16_t)v;
		uint32_t v32 = (uint32_t)v;

		bad += vmmem_le16_to_cpu(vmmem_le16_from_cpu(v16)) != v16;
		bad += vmmem_le32_to_cpu(vmmem_le32_from_cpu(v32)) != v32;
		bad += vmmem_le64_to_cpu(vmmem_le64_from_cpu(v)) != v;
		bad += vmmem_be16_to_cpu(vmmem_be16_from_cpu(v16)) != v16;
		bad += vmmem_be32_to_cpu(vmmem_be32_from_cpu(v32)) != v32;
		bad += vmmem_be64_to_cpu(vmmem_be64_from_cpu(v)) != v;
		bad += vmmem_be64_from_cpu(v).raw != BE64(v);
		bad += vmmem_be32_from_cpu(v32).raw != BE32(v32);
		bad += vmmem_be16_from_cpu(v16).raw != BE16(v16);
		bad += vmmem_le64_from_cpu(v).raw != LE64(v);
		bad += vmmem_le32_from_cpu(v32).raw != LE32(v32);
		bad += vmmem_le16_from_cpu(v16).raw != LE16(v16);
	}
	ck_assert_uint_eq(bad, 0);
}
END_TEST

START_TEST(test_endian_extremes)
{
	ck_assert_uint_eq(vmmem_be16_from_cpu(0).raw, 0);
	ck_assert_uint_eq(vmmem_be16_from_cpu(UINT16_MAX).raw, UINT16_MAX);
	ck_assert_uint_eq(vmmem_be32_from_cpu(1).raw, BE32(1u));
	ck_assert_uint_eq(vmmem_be64_from_cpu(1).raw, BE64(UINT64_C(1)));
	ck_assert_uint_eq(vmmem_le32_from_cpu(1).raw, LE32(1u));
	ck_assert_uint_eq(vmmem_be64_to_cpu(vmmem_be64_from_cpu(UINT64_MAX)), UINT64_MAX);
	ck_assert_uint_eq(vmmem_le64_to_cpu(vmmem_le64_from_cpu(UINT64_MAX)), UINT64_MAX);
}
END_TEST

Suite *endian_suite(void);
Suite *endian_suite(void)
{
	Suite *s = suite_create("endian");
	TCase *tc = tcase_create("layout");

	tcase_add_test(tc, test_endian_sizes);
	tcase_add_test(tc, test_endian_truncated_values);
	tcase_add_test(tc, test_endian_le_byte_layout);
	tcase_add_test(tc, test_endian_be_byte_layout);
	tcase_add_test(tc, test_endian_from_bytes);
	tcase_add_test(tc, test_endian_struct_layout);
	suite_add_tcase(s, tc);

	tc = tcase_create("convert");
	tcase_add_test(tc, test_endian_le_round_trip);
	tcase_add_test(tc, test_endian_be_round_trip);
	tcase_add_test(tc, test_endian_raw_conversions);
	tcase_add_test(tc, test_endian_round_trip_many);
	tcase_add_test(tc, test_endian_extremes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(endian_suite());
}
