/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Provider-ABI evolution across minor versions, with the purpose-built plugins of
 * tests/plugins/: an older provider whose ops table ends after destroy (oldops) loads and
 * gets the core's default discard; a newer-minor provider with appended fields in both
 * tables (newtables) loads and works, the extra fields ignored; a different major (badabi)
 * and tables smaller than the mandatory part (smalldesc, smallops) are refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmmem/provider.h>

#include "testutil.h"

#define KiB (UINT64_C(1) << 10)

static const char *plugin_dir; /* the test plugins (VMMEM_TEST_PLUGIN_DIR) */

static struct vmmem_ctx *plugin_ctx(void)
{
	struct vmmem_ctx *ctx = NULL;

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(vmmem_ctx_set_search_path(ctx, plugin_dir), 0);
	return ctx;
}

static struct vmmem_region *create_ok(struct vmmem_ctx *ctx, const char *spec)
{
	struct vmmem_region *r = NULL;
	int rc = vmmem_region_create(&r, ctx, spec);

	ck_assert_msg(rc == 0, "'%s': %d (%s): %s", spec, rc, vmmem_strerror(rc), vmmem_errormsg());
	ck_assert_ptr_nonnull(r);
	return r;
}

/* The region is usable: writable, reads back, and the geometry the spec asked for. */
static void assert_usable(struct vmmem_region *r, uint64_t gpa, uint64_t size)
{
	uint8_t *p = vmmem_region_host(r);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(vmmem_region_gpa(r), gpa);
	ck_assert_uint_eq(vmmem_region_size(r), size);
	ck_assert_uint_eq(vmmem_region_page_size(r), tu_page_size());
	ck_assert_int_eq(vmmem_region_fd(r), -1);
	ck_assert_uint_eq(p[0], 0);
	memset(p, 0xa5, size);
	ck_assert_uint_eq(p[0], 0xa5);
	ck_assert_uint_eq(p[size - 1], 0xa5);
}

START_TEST(test_provider_abi_oldops_loads)
{
	struct vmmem_ctx *ctx = plugin_ctx();
	const struct vmmem_provider *p = NULL;

	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "oldops"), 0);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "oldops", &p), 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(vmmem_provider_name(p), "oldops");
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_provider_abi_oldops_works)
{
	struct vmmem_ctx *ctx = plugin_ctx();
	struct vmmem_region *r = create_ok(ctx, "oldops:gpa=0x100000,size=64K");

	assert_usable(r, 0x100000, 64 * KiB);
	/* No discard in its table: the core's default, not the poison past ops.size (-EIO). */
	ck_assert_int_eq(vmmem_region_discard(r, 0, tu_page_size()), -EOPNOTSUPP);
	ck_assert_uint_eq(((uint8_t *)vmmem_region_host(r))[0], 0xa5);
	vmmem_region_unref(r);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_provider_abi_newtables_works)
{
	struct vmmem_ctx *ctx = plugin_ctx();
	const struct vmmem_provider *p = NULL;
	struct vmmem_region *r;

	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "newtables", &p), 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(vmmem_provider_name(p), "newtables");
	ck_assert_str_eq(vmmem_provider_description(p), "test plugin newtables");
	ck_assert_uint_eq(vmmem_provider_version(p), 0x010100);
	ck_assert_uint_eq(vmmem_provider_option_count(p), 0);

	r = create_ok(ctx, "newtables:gpa=0x200000,size=128K");
	assert_usable(r, 0x200000, 128 * KiB);
	/* Its discard is NULL within the 1.0 part: the default, whatever follows in the table. */
	ck_assert_int_eq(vmmem_region_discard(r, 0, tu_page_size()), -EOPNOTSUPP);
	vmmem_region_unref(r);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* Both evolved providers side by side, with regions in one memory. */
START_TEST(test_provider_abi_old_and_new_together)
{
	struct vmmem_ctx *ctx = plugin_ctx();
	struct vmmem_region *a = create_ok(ctx, "oldops:gpa=0,size=64K");
	struct vmmem_region *b = create_ok(ctx, "newtables:gpa=0x10000,size=64K");
	struct vmmem_region *regions[2] = { a, b };
	struct vmmem_memory *m = NULL;
	const uint8_t out[4] = { 1, 2, 3, 4 };
	uint8_t in[4] = { 0 };
	uint32_t v = 0;

	ck_assert_int_eq(vmmem_memory_new(&m, regions, 2), 0);
	/* A copy across the boundary of the two providers' regions. */
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0xfffe, out, sizeof(out), NULL), 0);
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0xfffe, in, sizeof(in), NULL), 0);
	ck_assert_mem_eq(in, out, sizeof(in));
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0x10000, 0x12345678, VMMEM_ORDER_SEQ_CST), 0);
	ck_assert_int_eq(vmmem_memory_load_u32(m, 0x10000, VMMEM_ORDER_SEQ_CST, &v), 0);
	ck_assert_uint_eq(v, 0x12345678);
	vmmem_memory_unref(m);
	vmmem_region_unref(a);
	vmmem_region_unref(b);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* What evolution does not allow. */
static const struct {
	const char *name;
	int error;
} refused[] = {
	{ "badabi", VMMEM_E_PROVIDER_ABI },    /* another major */
	{ "smalldesc", VMMEM_E_PROVIDER_ABI }, /* description smaller than 1.0's */
	{ "smallops", VMMEM_E_PROVIDER_ABI },  /* ops table ends before destroy */
};

START_TEST(test_provider_abi_refused)
{
	struct vmmem_ctx *ctx = plugin_ctx();
	struct vmmem_region *r = NULL;
	char spec[64];

	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, refused[_i].name), refused[_i].error);
	snprintf(spec, sizeof(spec), "%s:gpa=0,size=64K", refused[_i].name);
	ck_assert_int_lt(vmmem_region_create(&r, ctx, spec), 0);
	ck_assert_ptr_null(r);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
	vmmem_ctx_unref(ctx);
}
END_TEST

static Suite *provider_abi_suite(void)
{
	Suite *s = suite_create("provider_abi");
	TCase *tc = tcase_create("evolution");

	tcase_add_test(tc, test_provider_abi_oldops_loads);
	tcase_add_test(tc, test_provider_abi_oldops_works);
	tcase_add_test(tc, test_provider_abi_newtables_works);
	tcase_add_test(tc, test_provider_abi_old_and_new_together);
	tcase_add_loop_test(tc, test_provider_abi_refused, 0,
			    (int)(sizeof(refused) / sizeof(refused[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	plugin_dir = getenv("VMMEM_TEST_PLUGIN_DIR");
	if (!plugin_dir || !*plugin_dir) {
		fprintf(stderr, "check_provider_abi: run through ctest (VMMEM_TEST_PLUGIN_DIR must "
				"name the build's test plugin directory)\n");
		return 77;
	}
	return tu_run_suite(provider_abi_suite());
}
