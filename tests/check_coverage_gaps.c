/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Public behaviour the other suites left untested (found by tools/coverage.sh, see
 * docs/COVERAGE.md): file-offset overflow in the fd transfers, byte arrays (elem_size 1),
 * the vhost log export of a dirty page that runs past its region's end, and the hugetlbfs
 * provider's mem-path errors, which happen before any huge page is
 * needed and so run on every machine. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fd transfers: offset + len past 2^63 - 1 ---- */

static off_t fd_size(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_size;
}

START_TEST(test_fd_offset_plus_len_overflows)
{
	static const uint64_t ranges[] = { 0, 0x10000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	const off_t near_max = (off_t)(INT64_MAX - 100);
	int fd = tu_memfd(0);
	size_t done = 1234;
	ssize_t n;

	/* 100 bytes still fit below 2^63 - 1 ... */
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, fd, 0, near_max), 0);
	/* ... 4096 do not: refused before any system call, in every direction. */
	n = vmmem_memory_write_to_fd(m, 0, fd, 4096, near_max);
	ck_assert_int_eq(n, -EOVERFLOW);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "passes 2^63 - 1"));
	ck_assert_int_eq(fd_size(fd), 0);

	n = vmmem_memory_read_from_fd(m, 0, fd, 4096, near_max);
	ck_assert_int_eq(n, -EOVERFLOW);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "passes 2^63 - 1"));

	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0, fd, 4096, near_max, &done),
			 -EOVERFLOW);
	ck_assert_uint_eq(done, 0);
	done = 1234;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0, fd, 4096, near_max, &done),
			 -EOVERFLOW);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(fd_size(fd), 0);

	/* The largest offset that still fits works (pwritev then fails with EFBIG or
	 * EINVAL from the file system, not with the library's own -EOVERFLOW). */
	n = vmmem_memory_write_to_fd(m, 0, fd, 100, near_max);
	ck_assert_int_ne(n, -EOVERFLOW);
	close(fd);
	vmmem_memory_unref(m);
}
END_TEST

/* ---- arrays of 1-byte elements: copied as one block ---- */

START_TEST(test_byte_array_copy_to_and_from)
{
	static const uint64_t ranges[] = { 0x100000, 0x10000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	struct vmmem_slice s;
	struct vmmem_array a;
	uint8_t in[64], out[80], check[48];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xa0 + i);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x100010, 48, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 1, 48, &a), 0);
	ck_assert_uint_eq(a.elem_size, 1);
	ck_assert_uint_eq(a.count, 48);

	/* copy_from: min(count, n) bytes, nothing past the array. */
	ck_assert_int_eq(vmmem_array_copy_from(&a, in, sizeof(in)), 48);
	ck_assert_int_eq(vmmem_memory_read(m, 0x100010, check, sizeof(check)), 48);
	ck_assert_mem_eq(check, in, 48);
	ck_assert_int_eq(vmmem_memory_read(m, 0x100010 + 48, check, 1), 1);
	ck_assert_uint_eq(check[0], 0);

	/* copy_to: n smaller than the array copies n, larger copies count. */
	memset(out, 0x55, sizeof(out));
	ck_assert_int_eq(vmmem_array_copy_to(&a, out, 5), 5);
	ck_assert_mem_eq(out, in, 5);
	ck_assert_uint_eq(out[5], 0x55);
	memset(out, 0x55, sizeof(out));
	ck_assert_int_eq(vmmem_array_copy_to(&a, out, sizeof(out)), 48);
	ck_assert_mem_eq(out, in, 48);
	ck_assert_uint_eq(out[48], 0x55);
	ck_assert_int_eq(vmmem_array_copy_to(&a, NULL, 0), 0);

	vmmem_memory_unref(m);
}
END_TEST

/* ---- vhost log export: a dirty page that runs past the region's end ---- */

/* A 12 KiB region tracked in 8 KiB pages: its second dirty page covers only 4 KiB of region.
 * Exporting it must set the log bit of that 4 KiB alone, not of the GPA page after the region
 * (which belongs to the next region, or to nothing). */
START_TEST(test_export_vhost_clamps_last_dirty_page_to_region)
{
	struct vmmem_region *r[2] = { tu_anon_region(0x10000, 0x3000, 0),
				      tu_anon_region(0x13000, 0x1000, 0) };
	struct vmmem_memory *m = NULL;
	uint8_t log[8] = { 0 }, byte = 0x5a;

	ck_assert_int_eq(vmmem_region_dirty_enable(r[0], 0x2000), 0);
	ck_assert_int_eq(vmmem_region_dirty_enable(r[1], 0x1000), 0);
	ck_assert_int_eq(vmmem_memory_new(&m, r, 2), 0);
	vmmem_region_unref(r[0]);
	vmmem_region_unref(r[1]);

	/* A byte in the region's last 4 KiB dirties its second 8 KiB page. */
	ck_assert_int_eq(vmmem_memory_write(m, 0x12010, &byte, 1), 1);
	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(m, log, sizeof(log), true), 1);
	/* GPA page 0x12 (bit 2 of byte 2) only; 0x13, the next region's page, stays clear. */
	ck_assert_uint_eq(log[2], 1u << 2);
	for (size_t i = 0; i < sizeof(log); i++)
		if (i != 2)
			ck_assert_msg(log[i] == 0, "log byte %zu is 0x%02x", i, log[i]);

	/* Cleared: a second export sets nothing. */
	memset(log, 0, sizeof(log));
	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(m, log, sizeof(log), false), 0);
	ck_assert_uint_eq(log[2], 0);
	vmmem_memory_unref(m);
}
END_TEST

/* ---- hugetlbfs mem-path errors (no huge pages needed) ---- */

static int create_error(const char *spec, struct vmmem_region **r)
{
	struct vmmem_ctx *ctx = NULL;
	int rc;

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	*r = (struct vmmem_region *)(uintptr_t)0x1000;
	rc = vmmem_region_create(r, ctx, spec);
	vmmem_ctx_unref(ctx);
	return rc;
}

START_TEST(test_hugetlbfs_mem_path_in_missing_directory)
{
	char base[] = "/tmp/vmmem-cov-XXXXXX", spec[256], path[128];
	struct vmmem_region *r;
	int rc;

	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(path, sizeof(path), "%s/no-such-dir/backing", base);
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=2M,mem-path=%s", path);
	rc = create_error(spec, &r);
	ck_assert_msg(rc == -ENOENT, "got %d: %s", rc, vmmem_errormsg());
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "hugetlbfs: opening"));
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), path));
	ck_assert_int_eq(rmdir(base), 0); /* nothing was created in it */
}
END_TEST

/* A directory whose path fits PATH_MAX, but not with "/vmmem-XXXXXX" appended. */
START_TEST(test_hugetlbfs_mem_path_directory_too_long)
{
	char base[] = "/tmp/vmmem-cov-XXXXXX";
	char path[PATH_MAX], comp[201], *spec;
	size_t len, depth = 0, want = PATH_MAX - 8; /* + "/vmmem-XXXXXX" + NUL > PATH_MAX */
	struct vmmem_region *r;
	int rc;

	ck_assert_ptr_nonnull(mkdtemp(base));
	len = (size_t)snprintf(path, sizeof(path), "%s", base);
	memset(comp, 'd', sizeof(comp) - 1);
	comp[sizeof(comp) - 1] = '\0';
	while (len < want) {
		size_t n = want - len - 1 < sizeof(comp) - 1 ? want - len - 1 : sizeof(comp) - 1;

		path[len++] = '/';
		memcpy(path + len, comp, n);
		len += n;
		path[len] = '\0';
		ck_assert_msg(mkdir(path, 0700) == 0, "mkdir (depth %zu): %s", depth,
			      strerror(errno));
		depth++;
	}
	ck_assert_uint_eq(strlen(path), want);
	ck_assert_int_eq(asprintf(&spec, "hugetlbfs:gpa=0,size=2M,mem-path=%s", path) > 0, 1);
	rc = create_error(spec, &r);
	ck_assert_msg(rc == -ENAMETOOLONG, "got %d: %s", rc, vmmem_errormsg());
	ck_assert_ptr_null(r);
	/* The message names the path, so it is cut to the error buffer (511 bytes). */
	ck_assert_msg(strncmp(vmmem_errormsg(), "hugetlbfs: mem-path /tmp/vmmem-cov-", 35) == 0,
		      "message: %s", vmmem_errormsg());
	ck_assert_uint_eq(strlen(vmmem_errormsg()), 511);
	free(spec);
	/* Nothing was created: every directory is empty and goes again, deepest first. */
	while (depth--) {
		ck_assert_msg(rmdir(path) == 0, "rmdir: %s", strerror(errno));
		*strrchr(path, '/') = '\0';
	}
	ck_assert_int_eq(rmdir(base), 0);
}
END_TEST

static Suite *coverage_gaps_suite(void)
{
	Suite *s = suite_create("coverage_gaps");
	TCase *tc = tcase_create("io");

	tcase_add_test(tc, test_fd_offset_plus_len_overflows);
	suite_add_tcase(s, tc);
	tc = tcase_create("slice");
	tcase_add_test(tc, test_byte_array_copy_to_and_from);
	suite_add_tcase(s, tc);
	tc = tcase_create("dirty");
	tcase_add_test(tc, test_export_vhost_clamps_last_dirty_page_to_region);
	suite_add_tcase(s, tc);
	tc = tcase_create("hugetlbfs");
	tcase_add_test(tc, test_hugetlbfs_mem_path_in_missing_directory);
	tcase_add_test(tc, test_hugetlbfs_mem_path_directory_too_long);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(coverage_gaps_suite());
}
