/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The provider plugins (anon, memfd, hugetlbfs) through vmmem_region_create(): the same
 * region tests over every configuration that needs no huge pages (provider_matrix.h), and
 * the option errors of each provider. The huge-page configurations are in check_hugetlb.c,
 * which is skipped where the machine has no huge pages.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "provider_matrix.h"
#include "testutil.h"

#define MEMFD_SEALS (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)

static const struct pm_spec provider_specs[] = {
	{ "anon", "anon", "", 0, false, false, PM_SEALS_NO_FD, false },
	{ "anon share=on", "anon", ",share=on", 0, false, false, PM_SEALS_NO_FD, false },
	{ "anon thp=on", "anon", ",thp=on", 0, false, false, PM_SEALS_NO_FD, false },
	{ "memfd", "memfd", "", 0, true, true, MEMFD_SEALS, false },
	{ "memfd share=off", "memfd", ",share=off", 0, true, false, MEMFD_SEALS, false },
	{ "memfd seal=off", "memfd", ",seal=off", 0, true, true, 0, false },
	{ "memfd share=on,seal=on", "memfd", ",share=on,seal=on", 0, true,
	  true, MEMFD_SEALS, false },
	/* file in a directory (an unlinked new file): on tmpfs and on the disk filesystem */
	{ "file tmpfs share=on", "file", ",mem-path=/dev/shm,share=on", 0, true, true,
	  PM_SEALS_NO_SHRINK, true },
	{ "file disk share=on", "file", ",mem-path=/var/tmp,share=on", 0, true, true,
	  PM_SEALS_NO_SHRINK, true },
};

#define N_SPECS ((int)(sizeof(provider_specs) / sizeof(provider_specs[0])))

/* vmmem_region_create(spec) must fail with @want and leave *out NULL. */
static void expect_create_error(const char *spec, int want, const char *msg_part)
{
	struct vmmem_ctx *ctx = NULL;
	struct vmmem_region *r = (struct vmmem_region *)(uintptr_t)0x1000;
	int rc;

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	rc = vmmem_region_create(&r, ctx, spec);
	ck_assert_msg(rc == want, "'%s': got %d (%s: %s), expected %d (%s)", spec, rc,
		      vmmem_strerror(rc), vmmem_errormsg(), want, vmmem_strerror(want));
	ck_assert_ptr_null(r);
	if (msg_part)
		ck_assert_msg(strstr(vmmem_errormsg(), msg_part) != NULL,
			      "'%s': message '%s' does not mention '%s'", spec, vmmem_errormsg(),
			      msg_part);
	vmmem_ctx_unref(ctx);
}

START_TEST(test_providers_memfd_size_not_page_multiple)
{
	char spec[128];

	snprintf(spec, sizeof(spec), "memfd:gpa=0,size=%zu", tu_page_size() + 1);
	expect_create_error(spec, VMMEM_E_CONFIG_VALUE, "page size");
	snprintf(spec, sizeof(spec), "memfd:gpa=0,size=%zu,seal=off", tu_page_size() / 2 * 3);
	expect_create_error(spec, VMMEM_E_CONFIG_VALUE, "page size");
	expect_create_error("memfd:gpa=1G,size=1", VMMEM_E_CONFIG_VALUE, "page size");
}
END_TEST

START_TEST(test_providers_memfd_hugetlbsize_without_hugetlb)
{
	expect_create_error("memfd:gpa=0,size=4M,hugetlbsize=2M", VMMEM_E_CONFIG_CONFLICT,
			    "hugetlbsize");
	expect_create_error("memfd:gpa=0,size=4M,hugetlb=off,hugetlbsize=2M",
			    VMMEM_E_CONFIG_CONFLICT, "hugetlbsize");
}
END_TEST

START_TEST(test_providers_memfd_hugetlbsize_not_power_of_two)
{
	expect_create_error("memfd:gpa=0,size=6M,hugetlb=on,hugetlbsize=3M", VMMEM_E_CONFIG_VALUE,
			    "hugetlbsize");
	expect_create_error("memfd:gpa=0,size=6M,hugetlb=on,hugetlbsize=0", VMMEM_E_CONFIG_VALUE,
			    NULL);
}
END_TEST

START_TEST(test_providers_hugetlbfs_pagesize_not_power_of_two)
{
	expect_create_error("hugetlbfs:gpa=0,size=6M,pagesize=3M", VMMEM_E_CONFIG_VALUE,
			    "pagesize");
}
END_TEST

/* Remove the files in dir (not recursive); returns how many there were. */
static int empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
		n++;
	}
	closedir(d);
	return n;
}

/* mem-path on a file system that is not hugetlbfs: -EINVAL, and no file is left behind. */
START_TEST(test_providers_hugetlbfs_not_hugetlbfs)
{
	char dir[] = "/tmp/vmmem-check-providers-XXXXXX", spec[256];
	struct vmmem_ctx *ctx = NULL;
	struct vmmem_region *r = (struct vmmem_region *)(uintptr_t)0x1000;
	int rc, left, removed;
	char msg[512];

	expect_create_error("hugetlbfs:gpa=0,size=4M,mem-path=/tmp", -EINVAL, "hugetlbfs");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=4M,mem-path=%s", dir);
	/* Clean up before asserting, so a failure leaves nothing in /tmp. */
	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	rc = vmmem_region_create(&r, ctx, spec);
	snprintf(msg, sizeof(msg), "%s", vmmem_errormsg());
	if (rc == 0)
		vmmem_region_unref(r);
	vmmem_ctx_unref(ctx);
	left = empty_dir(dir);
	removed = rmdir(dir);
	ck_assert_msg(rc == -EINVAL, "'%s': got %d (%s), expected -EINVAL", spec, rc, msg);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(msg, dir));
	ck_assert_msg(left == 0, "%d file(s) left in the mem-path directory", left);
	ck_assert_int_eq(removed, 0);
}
END_TEST

/* More anonymous memory than the machine has, reserved: an error at creation (the kernel's
 * overcommit heuristic refuses it), with or without prealloc, never a crash. Not run where
 * overcommit is unlimited (vm.overcommit_memory = 1): there prealloc would really try. */
START_TEST(test_providers_anon_too_big)
{
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "re");
	int mode = -1;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &mode), 1);
	fclose(f);
	/* Valgrind's own address-space manager refuses such a mapping with EINVAL first. */
	if (mode == 1 || getenv("VMMEM_TEST_UNDER_VALGRIND"))
		return;
	/* qemu-user keeps flags per guest page: the core's 1 TiB PROT_NONE reservation (guard
	 * pages, placement) takes it minutes. Natively it is one cheap mmap. */
	if (tu_under_qemu_user()) {
		tu_skip_emulated("a 1 TiB address-space reservation");
		return;
	}
	expect_create_error("anon:gpa=0,size=1T", -ENOMEM, "anon");
	expect_create_error("anon:gpa=0,size=1T,prealloc=on", -ENOMEM, "anon");
	expect_create_error("anon:gpa=0,size=1T,share=on,prealloc=on", -ENOMEM, "anon");
}
END_TEST

START_TEST(test_providers_bad_option_values)
{
	expect_create_error("memfd:gpa=0,size=4M,seal=maybe", VMMEM_E_CONFIG_VALUE, "seal");
	expect_create_error("anon:gpa=0,size=4M,thp=2", VMMEM_E_CONFIG_VALUE, "thp");
	expect_create_error("anon:gpa=0,size=4M,share=", VMMEM_E_CONFIG_VALUE, "share");
	expect_create_error("memfd:gpa=0,size=4M,hugetlb=on,hugetlbsize=big",
			    VMMEM_E_CONFIG_VALUE, "hugetlbsize");
	expect_create_error("anon:gpa=0,size=4M,hugetlb=on", VMMEM_E_CONFIG_KEY, "hugetlb");
	expect_create_error("anon:gpa=0,size=4M,prealloc=on,reserve=off", VMMEM_E_CONFIG_CONFLICT,
			    "reserve");
	expect_create_error("memfd:gpa=0,size=4M,prealloc=on,reserve=off",
			    VMMEM_E_CONFIG_CONFLICT, "reserve");
	expect_create_error("hugetlbfs:gpa=0,size=4M,prealloc=on,reserve=off",
			    VMMEM_E_CONFIG_CONFLICT, "reserve");
}
END_TEST

/* A memory built from a config of several providers has their regions in order. */
START_TEST(test_providers_mixed_config)
{
	static const char *const text =
		"memfd:gpa=0,size=4M;anon:gpa=4M,size=4M,share=on;memfd:gpa=16M,size=2M,seal=off";
	struct vmmem_config *cfg = NULL;
	struct vmmem_ctx *ctx = NULL;
	struct vmmem_memory *m = NULL;
	static const char *const names[] = { "memfd", "anon", "memfd" };
	static const uint64_t gpas[] = { 0, 4u << 20, 16u << 20 };
	uint8_t buf[8192];

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	ck_assert_int_eq(vmmem_config_parse(&cfg, text), 0);
	ck_assert_int_eq(vmmem_memory_new_from_config(&m, ctx, cfg), 0);
	ck_assert_uint_eq(vmmem_memory_region_count(m), 3);
	for (size_t i = 0; i < 3; i++) {
		struct vmmem_region *r = vmmem_memory_region_at(m, i);

		ck_assert_uint_eq(vmmem_region_gpa(r), gpas[i]);
		ck_assert_str_eq(vmmem_provider_name(vmmem_region_provider(r)), names[i]);
	}
	/* Across the memfd / anon boundary. */
	memset(buf, 0x5c, sizeof(buf));
	ck_assert_int_eq(vmmem_memory_write_exact(m, (4u << 20) - 4096, buf, sizeof(buf), NULL), 0);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(vmmem_memory_read_exact(m, (4u << 20) - 4096, buf, sizeof(buf), NULL), 0);
	{
		size_t i = 0;

		while (i < sizeof(buf) && buf[i] == 0x5c)
			i++;
		ck_assert_msg(i == sizeof(buf), "byte %zu across the boundary is 0x%02x", i,
			      i < sizeof(buf) ? buf[i] : 0);
	}
	vmmem_memory_unref(m);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* The lowest free descriptor number (a leaked fd moves it). */
static int lowest_free_fd(void)
{
	int fd = dup(0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(close(fd), 0);
	return fd;
}

/* Mappings of provider memfds in this process (/proc/self/maps names them "memfd:..."). */
static int memfd_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[1024];
	int n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "/memfd:vmmem-memfd") != NULL;
	fclose(f);
	return n;
}

/* A config whose later region fails: an error, and no region (fd, mapping) survives. */
START_TEST(test_providers_config_failure_leaves_nothing)
{
	static const char *const texts[] = {
		"memfd:gpa=0,size=4M;memfd:gpa=4M,size=5000",
		"memfd:gpa=0,size=4M;anon:gpa=4M,size=4M;memfd:gpa=8M,size=4M,bogus=1",
		"memfd:gpa=0,size=4M;memfd:gpa=4M,size=4M,prealloc=on,reserve=off",
	};
	static const int want[] = { VMMEM_E_CONFIG_VALUE, VMMEM_E_CONFIG_KEY,
				    VMMEM_E_CONFIG_CONFLICT };
	struct vmmem_ctx *ctx = NULL;

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	{
		/* The mapping count does see a provider memfd. */
		struct vmmem_region *r = NULL;
		int before = memfd_mappings();

		ck_assert_int_eq(vmmem_region_create(&r, ctx, "memfd:gpa=0,size=4M"), 0);
		ck_assert_int_eq(memfd_mappings(), before + 1);
		vmmem_region_unref(r);
		ck_assert_int_eq(memfd_mappings(), before);
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct vmmem_config *cfg = NULL;
		struct vmmem_memory *m = (struct vmmem_memory *)(uintptr_t)0x1000;
		int fd_before, maps_before, rc;

		ck_assert_int_eq(vmmem_config_parse(&cfg, texts[i]), 0);
		fd_before = lowest_free_fd();
		maps_before = memfd_mappings();
		rc = vmmem_memory_new_from_config(&m, ctx, cfg);
		ck_assert_msg(rc == want[i], "'%s': got %d (%s), expected %d", texts[i], rc,
			      vmmem_errormsg(), want[i]);
		ck_assert_ptr_null(m);
		ck_assert_int_eq(lowest_free_fd(), fd_before);
		ck_assert_int_eq(memfd_mappings(), maps_before);
		vmmem_config_free(cfg);
	}
	vmmem_ctx_unref(ctx);
}
END_TEST

/* vmmem_memory_discard: a piece that cannot be discarded stops it; pieces before it stay
 * discarded, pieces after it are untouched. */
START_TEST(test_providers_memory_discard_partial)
{
	struct vmmem_ctx *ctx = NULL;
	struct vmmem_region *r[2] = { NULL, NULL };
	struct vmmem_memory *m;
	const uint64_t mib4 = UINT64_C(4) << 20, pg = (uint64_t)tu_page_size();
	uint8_t *buf = malloc(2 * mib4);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	for (int order = 0; order < 2; order++) {
		/* order 0: provider region, then a caller's region; order 1: the other way. */
		uint64_t pgpa = order ? mib4 : 0, cgpa = order ? 0 : mib4;
		char spec[64];
		size_t i;

		snprintf(spec, sizeof(spec), "memfd:gpa=%llu,size=4M", (unsigned long long)pgpa);
		ck_assert_int_eq(vmmem_region_create(&r[0], ctx, spec), 0);
		r[1] = tu_anon_region(cgpa, mib4, 0);
		ck_assert_int_eq(vmmem_memory_new(&m, r, 2), 0);
		memset(buf, 0xee, 2 * mib4);
		ck_assert_int_eq(vmmem_memory_write_exact(m, 0, buf, 2 * mib4, NULL), 0);
		ck_assert_int_eq(vmmem_memory_discard(m, mib4 - pg, 2 * pg), -EOPNOTSUPP);
		ck_assert_int_eq(vmmem_memory_read_exact(m, 0, buf, 2 * mib4, NULL), 0);
		for (i = 0; i < 2 * mib4; i++) {
			/* Only the provider's page before the caller's region is discarded. */
			uint8_t want = (order == 0 && i >= mib4 - pg && i < mib4) ? 0 : 0xee;

			if (buf[i] != want)
				break;
		}
		ck_assert_msg(i == 2 * mib4, "order %d: byte at 0x%zx is 0x%02x", order, i,
			      i < 2 * mib4 ? buf[i] : 0);
		vmmem_memory_unref(m);
		r[0] = vmmem_region_unref(r[0]);
		r[1] = vmmem_region_unref(r[1]);
	}
	vmmem_ctx_unref(ctx);
	free(buf);
}
END_TEST

static Suite *providers_suite(void)
{
	Suite *s = suite_create("providers");
	TCase *tc;

	pm_add_matrix(s, "matrix", provider_specs, N_SPECS);

	tc = tcase_create("errors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_providers_memfd_size_not_page_multiple);
	tcase_add_test(tc, test_providers_memfd_hugetlbsize_without_hugetlb);
	tcase_add_test(tc, test_providers_memfd_hugetlbsize_not_power_of_two);
	tcase_add_test(tc, test_providers_hugetlbfs_pagesize_not_power_of_two);
	tcase_add_test(tc, test_providers_hugetlbfs_not_hugetlbfs);
	tcase_add_test(tc, test_providers_bad_option_values);
	tcase_add_test(tc, test_providers_anon_too_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_providers_mixed_config);
	tcase_add_test(tc, test_providers_config_failure_leaves_nothing);
	tcase_add_test(tc, test_providers_memory_discard_partial);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(providers_suite());
}
