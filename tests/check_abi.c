/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Pins the binary layout of everything that crosses the library boundary by value: the
 * provider-ABI tables of vmmem/provider.h, and the public value structs callers allocate
 * themselves (slices, arrays, vhost region descriptors, the explicit-endian types). The
 * numbers are LP64's (x86-64, arm64 and s390x agree). A failure here means an ABI break: in the provider tables only
 * appending fields (with the size prefix) is allowed within a major; a public value struct
 * may not change at all without a new SONAME (docs/ABI.md). Runtime asserts, not
 * _Static_assert, so every wrong number is reported with its actual value. */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>

#include <vmmem/provider.h>

#include "testutil.h"

#define PIN_SIZE(type, n)                                                                     \
	do {                                                                                  \
		ck_assert_msg(sizeof(type) == (n), "sizeof(" #type ") is %zu, ABI says %zu",      \
			      sizeof(type), (size_t)(n));                                         \
	} while (0)
#define PIN_ALIGN(type, n)                                                                    \
	do {                                                                                  \
		ck_assert_msg(alignof(type) == (n), "alignof(" #type ") is %zu, ABI says %zu",    \
			      alignof(type), (size_t)(n));                                        \
	} while (0)
#define PIN_OFF(type, field, n)                                                               \
	do {                                                                                  \
		ck_assert_msg(offsetof(type, field) == (n),                                       \
			      "offsetof(" #type ", " #field ") is %zu, ABI says %zu",             \
			      offsetof(type, field), (size_t)(n));                                \
	} while (0)

START_TEST(test_abi_provider_version)
{
	ck_assert_int_eq(VMMEM_PROVIDER_ABI_MAJOR, 1);
	ck_assert_int_ge(VMMEM_PROVIDER_ABI_MINOR, 0);
	ck_assert_str_eq(VMMEM_PROVIDER_ENTRY_NAME, "vmmem_provider_init");
}
END_TEST

START_TEST(test_abi_option_desc)
{
	PIN_SIZE(struct vmmem_option_desc, 32);
	PIN_ALIGN(struct vmmem_option_desc, 8);
	PIN_OFF(struct vmmem_option_desc, key, 0);
	PIN_OFF(struct vmmem_option_desc, type, 8);
	PIN_OFF(struct vmmem_option_desc, reserved, 12);
	PIN_OFF(struct vmmem_option_desc, default_value, 16);
	PIN_OFF(struct vmmem_option_desc, help, 24);
	/* The enum values are ABI too: they travel in option_desc.type. */
	ck_assert_int_eq(VMMEM_OPTION_BOOL, 1);
	ck_assert_int_eq(VMMEM_OPTION_SIZE, 2);
	ck_assert_int_eq(VMMEM_OPTION_UINT, 3);
	ck_assert_int_eq(VMMEM_OPTION_STRING, 4);
}
END_TEST

START_TEST(test_abi_option_value)
{
	PIN_SIZE(struct vmmem_option_value, 24);
	PIN_ALIGN(struct vmmem_option_value, 8);
	PIN_OFF(struct vmmem_option_value, is_set, 0);
	PIN_OFF(struct vmmem_option_value, reserved, 4);
	PIN_OFF(struct vmmem_option_value, num, 8);
	PIN_OFF(struct vmmem_option_value, str, 16);
}
END_TEST

START_TEST(test_abi_provider_params)
{
	/* 40 bytes in provider ABI 1.0; 1.1 appended flags (tables only grow at the end). */
	PIN_SIZE(struct vmmem_provider_params, 48);
	PIN_ALIGN(struct vmmem_provider_params, 8);
	PIN_OFF(struct vmmem_provider_params, size, 0);
	PIN_OFF(struct vmmem_provider_params, reserved, 4);
	PIN_OFF(struct vmmem_provider_params, gpa, 8);
	PIN_OFF(struct vmmem_provider_params, length, 16);
	PIN_OFF(struct vmmem_provider_params, options, 24);
	PIN_OFF(struct vmmem_provider_params, n_options, 32);
	PIN_OFF(struct vmmem_provider_params, reserved2, 36);
	PIN_OFF(struct vmmem_provider_params, flags, 40);
	PIN_OFF(struct vmmem_provider_params, reserved3, 44);
}
END_TEST

START_TEST(test_abi_mapping)
{
	PIN_SIZE(struct vmmem_mapping, 56);
	PIN_ALIGN(struct vmmem_mapping, 8);
	PIN_OFF(struct vmmem_mapping, size, 0);
	PIN_OFF(struct vmmem_mapping, flags, 4);
	PIN_OFF(struct vmmem_mapping, addr, 8);
	PIN_OFF(struct vmmem_mapping, length, 16);
	PIN_OFF(struct vmmem_mapping, page_size, 24);
	PIN_OFF(struct vmmem_mapping, fd, 32);
	PIN_OFF(struct vmmem_mapping, reserved, 36);
	PIN_OFF(struct vmmem_mapping, fd_offset, 40);
	PIN_OFF(struct vmmem_mapping, priv, 48);
	ck_assert_uint_eq(VMMEM_MAPPING_SHARED, 0x1);
	ck_assert_uint_eq(VMMEM_MAPPING_HUGETLB, 0x2);
	ck_assert_uint_eq(VMMEM_MAPPING_SEALED, 0x4);
}
END_TEST

START_TEST(test_abi_provider_ops)
{
	PIN_SIZE(struct vmmem_provider_ops, 32);
	PIN_ALIGN(struct vmmem_provider_ops, 8);
	PIN_OFF(struct vmmem_provider_ops, size, 0);
	PIN_OFF(struct vmmem_provider_ops, reserved, 4);
	PIN_OFF(struct vmmem_provider_ops, create, 8);
	PIN_OFF(struct vmmem_provider_ops, destroy, 16);
	PIN_OFF(struct vmmem_provider_ops, discard, 24);
}
END_TEST

START_TEST(test_abi_provider_desc)
{
	PIN_SIZE(struct vmmem_provider_desc, 56);
	PIN_ALIGN(struct vmmem_provider_desc, 8);
	PIN_OFF(struct vmmem_provider_desc, size, 0);
	PIN_OFF(struct vmmem_provider_desc, abi_major, 4);
	PIN_OFF(struct vmmem_provider_desc, abi_minor, 8);
	PIN_OFF(struct vmmem_provider_desc, version, 12);
	PIN_OFF(struct vmmem_provider_desc, name, 16);
	PIN_OFF(struct vmmem_provider_desc, description, 24);
	PIN_OFF(struct vmmem_provider_desc, options, 32);
	PIN_OFF(struct vmmem_provider_desc, ops, 40);
	PIN_OFF(struct vmmem_provider_desc, provider_data, 48);
}
END_TEST

START_TEST(test_abi_core_api)
{
	/* 64 bytes in provider ABI 1.0; 1.1 appended map. */
	PIN_SIZE(struct vmmem_core_api, 72);
	PIN_ALIGN(struct vmmem_core_api, 8);
	PIN_OFF(struct vmmem_core_api, size, 0);
	PIN_OFF(struct vmmem_core_api, abi_major, 4);
	PIN_OFF(struct vmmem_core_api, abi_minor, 8);
	PIN_OFF(struct vmmem_core_api, reserved, 12);
	PIN_OFF(struct vmmem_core_api, register_provider, 16);
	PIN_OFF(struct vmmem_core_api, set_error, 24);
	PIN_OFF(struct vmmem_core_api, alloc, 32);
	PIN_OFF(struct vmmem_core_api, free, 40);
	PIN_OFF(struct vmmem_core_api, prealloc, 48);
	PIN_OFF(struct vmmem_core_api, host_page_size, 56);
	PIN_OFF(struct vmmem_core_api, map, 64);
}
END_TEST

START_TEST(test_abi_slice)
{
	PIN_SIZE(struct vmmem_slice, 48);
	PIN_ALIGN(struct vmmem_slice, 8);
	PIN_OFF(struct vmmem_slice, ptr, 0);
	PIN_OFF(struct vmmem_slice, len, 8);
	PIN_OFF(struct vmmem_slice, region, 16);
	PIN_OFF(struct vmmem_slice, memory, 24);
	PIN_OFF(struct vmmem_slice, region_offset, 32);
	PIN_OFF(struct vmmem_slice, flags, 40);
	PIN_OFF(struct vmmem_slice, reserved, 44);
}
END_TEST

START_TEST(test_abi_array)
{
	PIN_SIZE(struct vmmem_array, 64);
	PIN_ALIGN(struct vmmem_array, 8);
	PIN_OFF(struct vmmem_array, slice, 0);
	PIN_OFF(struct vmmem_array, elem_size, 48);
	PIN_OFF(struct vmmem_array, count, 56);
}
END_TEST

START_TEST(test_abi_vhost_region)
{
	/* VhostUserMemoryRegion: the wire format fixes this one independently of the ABI. */
	PIN_SIZE(struct vmmem_vhost_region, 32);
	PIN_ALIGN(struct vmmem_vhost_region, 8);
	PIN_OFF(struct vmmem_vhost_region, guest_phys_addr, 0);
	PIN_OFF(struct vmmem_vhost_region, memory_size, 8);
	PIN_OFF(struct vmmem_vhost_region, userspace_addr, 16);
	PIN_OFF(struct vmmem_vhost_region, mmap_offset, 24);
}
END_TEST

START_TEST(test_abi_translate_cache)
{
	/* Callers allocate it and vmmem_memory_translate_cached() reads it inline (1.1). */
	PIN_SIZE(struct vmmem_translate_cache, 40);
	PIN_ALIGN(struct vmmem_translate_cache, 8);
	PIN_OFF(struct vmmem_translate_cache, memory, 0);
	PIN_OFF(struct vmmem_translate_cache, gpa, 8);
	PIN_OFF(struct vmmem_translate_cache, last, 16);
	PIN_OFF(struct vmmem_translate_cache, host, 24);
	PIN_OFF(struct vmmem_translate_cache, read_only, 32);
	PIN_OFF(struct vmmem_translate_cache, reserved, 36);
	PIN_SIZE(struct vmmem_dma, 32);
	PIN_OFF(struct vmmem_dma, memory, 0);
	PIN_OFF(struct vmmem_dma, gpa, 8);
	PIN_OFF(struct vmmem_dma, len, 16);
	PIN_OFF(struct vmmem_dma, access, 24);
	PIN_OFF(struct vmmem_dma, reserved, 28);
	PIN_SIZE(struct vmmem_iotlb_cache, 56);
	PIN_ALIGN(struct vmmem_iotlb_cache, 8);
	PIN_OFF(struct vmmem_iotlb_cache, iotlb, 0);
	PIN_OFF(struct vmmem_iotlb_cache, generation, 8);
	PIN_OFF(struct vmmem_iotlb_cache, seen, 16);
	PIN_OFF(struct vmmem_iotlb_cache, iova, 24);
	PIN_OFF(struct vmmem_iotlb_cache, last, 32);
	PIN_OFF(struct vmmem_iotlb_cache, gpa, 40);
	PIN_OFF(struct vmmem_iotlb_cache, perm, 48);
	PIN_OFF(struct vmmem_iotlb_cache, reserved, 52);
	PIN_SIZE(struct vmmem_iotlb_range, 24);
	PIN_OFF(struct vmmem_iotlb_range, iova, 0);
	PIN_OFF(struct vmmem_iotlb_range, gpa, 8);
	PIN_OFF(struct vmmem_iotlb_range, len, 16);
	PIN_SIZE(struct vmmem_iova_fault, 24);
	PIN_OFF(struct vmmem_iova_fault, iova, 0);
	PIN_OFF(struct vmmem_iova_fault, len, 8);
	PIN_OFF(struct vmmem_iova_fault, access, 16);
	PIN_OFF(struct vmmem_iova_fault, error, 20);
}
END_TEST

START_TEST(test_abi_endian)
{
	/* Each has its native integer's size and alignment (they sit in guest structs). */
	PIN_SIZE(struct vmmem_le16, 2);
	PIN_ALIGN(struct vmmem_le16, 2);
	PIN_SIZE(struct vmmem_le32, 4);
	PIN_ALIGN(struct vmmem_le32, 4);
	PIN_SIZE(struct vmmem_le64, 8);
	PIN_ALIGN(struct vmmem_le64, 8);
	PIN_SIZE(struct vmmem_be16, 2);
	PIN_ALIGN(struct vmmem_be16, 2);
	PIN_SIZE(struct vmmem_be32, 4);
	PIN_ALIGN(struct vmmem_be32, 4);
	PIN_SIZE(struct vmmem_be64, 8);
	PIN_ALIGN(struct vmmem_be64, 8);
	PIN_OFF(struct vmmem_le16, raw, 0);
	PIN_OFF(struct vmmem_le32, raw, 0);
	PIN_OFF(struct vmmem_le64, raw, 0);
	PIN_OFF(struct vmmem_be16, raw, 0);
	PIN_OFF(struct vmmem_be32, raw, 0);
	PIN_OFF(struct vmmem_be64, raw, 0);
}
END_TEST

static Suite *abi_suite(void)
{
	Suite *s = suite_create("abi");
	TCase *provider = tcase_create("provider");
	TCase *values = tcase_create("values");

	tcase_add_test(provider, test_abi_provider_version);
	tcase_add_test(provider, test_abi_option_desc);
	tcase_add_test(provider, test_abi_option_value);
	tcase_add_test(provider, test_abi_provider_params);
	tcase_add_test(provider, test_abi_mapping);
	tcase_add_test(provider, test_abi_provider_ops);
	tcase_add_test(provider, test_abi_provider_desc);
	tcase_add_test(provider, test_abi_core_api);
	suite_add_tcase(s, provider);

	tcase_add_test(values, test_abi_slice);
	tcase_add_test(values, test_abi_array);
	tcase_add_test(values, test_abi_vhost_region);
	tcase_add_test(values, test_abi_translate_cache);
	tcase_add_test(values, test_abi_endian);
	suite_add_tcase(s, values);
	return s;
}

int main(void)
{
#if defined(__LP64__) && (defined(__x86_64__) || defined(__aarch64__) || defined(__s390x__))
	/* The same numbers on every LP64 Linux target the project builds for: naturally
	 * aligned 8-byte integers and pointers, whatever the byte order. */
	return tu_run_suite(abi_suite());
#else
	(void)abi_suite;
	fprintf(stderr, "check_abi: the pinned numbers are LP64's; skipped on this target\n");
	return 77;
#endif
}
