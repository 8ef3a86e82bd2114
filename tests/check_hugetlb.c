/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Huge pages: the provider matrix (provider_matrix.h) over the hugetlb configurations of
 * memfd and hugetlbfs, their own options and errors (page-size multiples, running out of
 * huge pages, keep, mem-path files, discard-data), and importing hugetlb fds, in one
 * process and in a peer process (share_session.h).
 *
 * Runs for real only where the machine has 2 MiB huge pages (nr_hugepages > 0) and a
 * writable hugetlbfs mount of them; otherwise main() returns 77 and ctest reports a skip.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "provider_matrix.h"
#include "share_proto.h"
#include "share_session.h"
#include "testutil.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define HPS (UINT64_C(2) << 20) /* the huge page size these tests use */
#define MiB (UINT64_C(1) << 20)
#define KiB (UINT64_C(1) << 10)
#define SEAL_ALL (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)
#define HP_SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB/"

/* A writable hugetlbfs mount with 2 MiB pages (/dev/hugepages preferred). */
static char mount_dir[PATH_MAX];
static char explicit_options[PATH_MAX + 64];
static char file_options[PATH_MAX + 64];

static struct pm_spec hugetlb_specs[] = {
	{ "memfd hugetlb=on", "memfd", ",hugetlb=on", HPS, true, true, SEAL_ALL, false },
	{ "memfd hugetlb=on,hugetlbsize=2M", "memfd", ",hugetlb=on,hugetlbsize=2M", HPS, true,
	  true, SEAL_ALL, false },
	{ "memfd hugetlb=on,seal=off", "memfd", ",hugetlb=on,seal=off", HPS, true, true, 0, false },
	{ "memfd hugetlb=on,share=off", "memfd", ",hugetlb=on,share=off", HPS, true, false,
	  SEAL_ALL, false },
	{ "hugetlbfs", "hugetlbfs", "", HPS, true, true, PM_SEALS_NO_SHRINK, false },
	{ "hugetlbfs mem-path,pagesize=2M", "hugetlbfs", explicit_options, HPS, true, true,
	  PM_SEALS_NO_SHRINK, false },
	{ "hugetlbfs share=off", "hugetlbfs", ",share=off", HPS, true, false, PM_SEALS_NO_SHRINK,
	  false },
	/* the file provider on a hugetlbfs directory takes its page size from the mount */
	{ "file on hugetlbfs", "file", file_options, HPS, true, true, PM_SEALS_NO_SHRINK, true },
};

#define N_SPECS ((int)(sizeof(hugetlb_specs) / sizeof(hugetlb_specs[0])))

static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static uint64_t default_huge_page_size(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb = 0;
	char line[128];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* Can the hugetlb tests run here? If not, why not. */
static bool hugetlb_available(char *why, size_t size)
{
	long nr = read_long(HP_SYSFS "nr_hugepages");
	FILE *f;
	struct mntent *e;

	if (nr <= 0) {
		snprintf(why, size, "no 2 MiB huge pages (%snr_hugepages = %ld)", HP_SYSFS, nr);
		return false;
	}
	if (default_huge_page_size() != HPS) {
		snprintf(why, size, "the default huge page size is not 2 MiB");
		return false;
	}
	f = setmntent("/proc/mounts", "re");
	if (!f) {
		snprintf(why, size, "cannot read /proc/mounts");
		return false;
	}
	while ((e = getmntent(f))) {
		struct statfs sfs;

		if (strcmp(e->mnt_type, "hugetlbfs") || statfs(e->mnt_dir, &sfs) < 0 ||
		    (uint64_t)sfs.f_bsize != HPS || access(e->mnt_dir, W_OK) != 0)
			continue;
		if (!mount_dir[0] || !strcmp(e->mnt_dir, "/dev/hugepages"))
			snprintf(mount_dir, sizeof(mount_dir), "%s", e->mnt_dir);
	}
	endmntent(f);
	if (!mount_dir[0]) {
		snprintf(why, size, "no writable hugetlbfs mount with 2 MiB pages in /proc/mounts");
		return false;
	}
	return true;
}

static struct vmmem_ctx *ctx;

static void setup(void)
{
	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
}

static void teardown(void)
{
	ctx = vmmem_ctx_unref(ctx);
}

static struct vmmem_region *create(const char *spec)
{
	struct vmmem_region *r = NULL;
	int rc = vmmem_region_create(&r, ctx, spec);

	ck_assert_msg(rc == 0, "'%s': %s: %s", spec, vmmem_strerror(rc), vmmem_errormsg());
	return r;
}

static void expect_create_error(const char *spec, int want)
{
	struct vmmem_region *r = (struct vmmem_region *)(uintptr_t)0x1000;
	int rc = vmmem_region_create(&r, ctx, spec);

	ck_assert_msg(rc == want, "'%s': got %d (%s: %s), expected %d (%s)", spec, rc,
		      vmmem_strerror(rc), vmmem_errormsg(), want, vmmem_strerror(want));
	ck_assert_ptr_null(r);
	ck_assert_str_ne(vmmem_errormsg(), "");
}

static struct vmmem_memory *memory_of(struct vmmem_region *const *r, size_t n)
{
	struct vmmem_memory *m = NULL;
	int rc = vmmem_memory_new(&m, r, n);

	ck_assert_msg(rc == 0, "vmmem_memory_new: %s", vmmem_errormsg());
	return m;
}

/* Entries of a directory other than . and ..; the first one's name into first. */
static int dir_entries(const char *path, char *first, size_t size)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n++ == 0 && first)
			snprintf(first, size, "%s", e->d_name);
	}
	closedir(d);
	return n;
}

/*
 * Directories the tests make on the hugetlbfs mount live in base_dir, made before the
 * tests of a TCase and removed with everything in it afterwards (an unchecked fixture: it
 * runs in the runner process, so it also cleans up after a test that failed half-way).
 */
static char base_dir[PATH_MAX + 64];

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void base_dir_setup(void)
{
	if (snprintf(base_dir, sizeof(base_dir), "%s/vmmem-check-hugetlb-XXXXXX", mount_dir) >=
		    (int)sizeof(base_dir) ||
	    !mkdtemp(base_dir))
		base_dir[0] = '\0'; /* make_dir() fails the tests that need it */
}

static void base_dir_teardown(void)
{
	if (base_dir[0])
		nftw(base_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	base_dir[0] = '\0';
}

/* A fresh directory on the hugetlbfs mount (inside base_dir). */
static void make_dir(char *buf, size_t size)
{
	ck_assert_msg(base_dir[0], "no base directory on %s", mount_dir);
	ck_assert_int_lt(snprintf(buf, size, "%s/XXXXXX", base_dir), (int)size);
	ck_assert_ptr_nonnull(mkdtemp(buf));
}

/* ---- options and errors ---- */

START_TEST(test_hugetlb_size_not_page_multiple)
{
	char spec[PATH_MAX + 128];

	expect_create_error("memfd:gpa=0,size=3M,hugetlb=on", VMMEM_E_CONFIG_VALUE);
	expect_create_error("memfd:gpa=0,size=4K,hugetlb=on,hugetlbsize=2M", VMMEM_E_CONFIG_VALUE);
	expect_create_error("memfd:gpa=0,size=5M,hugetlb=on,seal=off", VMMEM_E_CONFIG_VALUE);
	expect_create_error("hugetlbfs:gpa=0,size=3M", VMMEM_E_CONFIG_VALUE);
	expect_create_error("hugetlbfs:gpa=0,size=1M,pagesize=2M", VMMEM_E_CONFIG_VALUE);
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=6140K,mem-path=%s", mount_dir);
	expect_create_error(spec, VMMEM_E_CONFIG_VALUE);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "page size"));
}
END_TEST

START_TEST(test_hugetlb_pagesize_mismatch)
{
	char spec[PATH_MAX + 128];

	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=4M,mem-path=%s,pagesize=1G", mount_dir);
	expect_create_error(spec, VMMEM_E_CONFIG_VALUE);
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=4M,mem-path=%s,pagesize=4K", mount_dir);
	expect_create_error(spec, VMMEM_E_CONFIG_VALUE);
}
END_TEST

/* More huge pages than the system could ever give: an error at creation, never a SIGBUS. */
static uint64_t too_many_pages_size(void)
{
	long total = read_long(HP_SYSFS "nr_hugepages");
	long free_pages = read_long(HP_SYSFS "free_hugepages");
	long over = read_long("/proc/sys/vm/nr_overcommit_hugepages");
	long n;

	ck_assert_int_gt(total, 0);
	ck_assert_int_ge(free_pages, 0);
	/* free + 1 would do; total + overcommit + 1 stays out of reach even if other tests
	 * give pages back meanwhile. */
	n = (total > free_pages ? total : free_pages) + (over > 0 ? over : 0) + 1;
	return (uint64_t)n * HPS;
}

START_TEST(test_hugetlb_more_than_free_hugetlbfs)
{
	uint64_t size = too_many_pages_size();
	struct vmmem_region *r;
	char spec[256];

	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=%llu", (unsigned long long)size);
	expect_create_error(spec, -ENOMEM);
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=%llu,prealloc=on",
		 (unsigned long long)size);
	expect_create_error(spec, -ENOMEM);
	/* Nothing was kept: a small region still works. */
	r = create("hugetlbfs:gpa=0,size=4M,prealloc=on");
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_hugetlb_more_than_free_memfd)
{
	uint64_t size = too_many_pages_size();
	struct vmmem_region *r;
	char spec[256];

	snprintf(spec, sizeof(spec), "memfd:gpa=0,size=%llu,hugetlb=on", (unsigned long long)size);
	expect_create_error(spec, -ENOMEM);
	snprintf(spec, sizeof(spec), "memfd:gpa=0,size=%llu,hugetlb=on,prealloc=on",
		 (unsigned long long)size);
	expect_create_error(spec, -ENOMEM);
	r = create("memfd:gpa=0,size=4M,hugetlb=on,prealloc=on");
	vmmem_region_unref(r);
}
END_TEST

/* keep=on leaves the file in the mem-path directory, with the guest's data. */
START_TEST(test_hugetlb_keep_on)
{
	char dir[PATH_MAX], name[256], file[PATH_MAX * 2], spec[PATH_MAX * 3];
	struct vmmem_region *r;
	struct vmmem_memory *m;
	struct stat st, fst;

	make_dir(dir, sizeof(dir));
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=4M,mem-path=%s,keep=on", dir);
	r = create(spec);
	ck_assert_int_eq(dir_entries(dir, name, sizeof(name)), 1);
	ck_assert_msg(!strncmp(name, "vmmem-", 6), "kept file is named '%s'", name);
	snprintf(file, sizeof(file), "%s/%s", dir, name);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(fstat(vmmem_region_fd(r), &fst), 0);
	ck_assert_uint_eq(st.st_ino, fst.st_ino);
	ck_assert_int_eq((long long)st.st_size, (long long)(4 * MiB));
	m = memory_of(&r, 1);
	pm_fill(m, 0, 4 * MiB, 70);
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	ck_assert_int_eq(dir_entries(dir, NULL, 0), 1);

	/* The kept file, named as mem-path, holds what the guest wrote. */
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=4M,mem-path=%s", file);
	r = create(spec);
	m = memory_of(&r, 1);
	pm_expect(m, 0, 4 * MiB, 70, "kept file reopened");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	ck_assert_int_eq(dir_entries(dir, NULL, 0), 1);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* keep=off (the default) leaves no file, while the region lives or after. */
START_TEST(test_hugetlb_keep_off)
{
	static const char *const keeps[] = { ",keep=off", "" };
	char dir[PATH_MAX], spec[PATH_MAX * 2];

	make_dir(dir, sizeof(dir));
	for (size_t i = 0; i < 2; i++) {
		struct vmmem_region *r;
		struct stat st;

		snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=4M,mem-path=%s%s", dir, keeps[i]);
		r = create(spec);
		ck_assert_int_eq(dir_entries(dir, NULL, 0), 0);
		ck_assert_int_eq(fstat(vmmem_region_fd(r), &st), 0);
		ck_assert_int_eq((int)st.st_nlink, 0);
		vmmem_region_unref(r);
		ck_assert_int_eq(dir_entries(dir, NULL, 0), 0);
	}
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* mem-path naming a file: created if missing, used as is, never unlinked. */
START_TEST(test_hugetlb_mem_path_file)
{
	char dir[PATH_MAX], file[PATH_MAX + 16], spec[PATH_MAX * 2];
	struct vmmem_region *r;
	struct stat st;

	make_dir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/guest.ram", dir);
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=4M,mem-path=%s", file);
	r = create(spec);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq((long long)st.st_size, (long long)(4 * MiB));
	vmmem_region_unref(r);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* discard-data=on gives the pages back when the region goes, even in a kept file. */
START_TEST(test_hugetlb_discard_data)
{
	char dir[PATH_MAX], file[PATH_MAX + 16], spec[PATH_MAX * 2];
	struct vmmem_region *r;
	struct vmmem_memory *m;

	make_dir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/guest.ram", dir);
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=4M,mem-path=%s,discard-data=on", file);
	r = create(spec);
	m = memory_of(&r, 1);
	pm_fill(m, 0, 4 * MiB, 71);
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	snprintf(spec, sizeof(spec), "hugetlbfs:gpa=0,size=4M,mem-path=%s", file);
	r = create(spec);
	m = memory_of(&r, 1);
	pm_expect(m, 0, 4 * MiB, PM_ZERO, "file after discard-data=on");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- importing huge-page fds ---- */

static struct vmmem_region *import_ok(const struct vmmem_vhost_region *d, int fd,
				      uint32_t flags)
{
	struct vmmem_region *r = NULL;
	int rc = vmmem_region_import(&r, d, fd, flags);

	ck_assert_msg(rc == 0, "import (gpa 0x%llx size 0x%llx offset 0x%llx flags 0x%x): %s: %s",
		      (unsigned long long)d->guest_phys_addr, (unsigned long long)d->memory_size,
		      (unsigned long long)d->mmap_offset, flags, vmmem_strerror(rc),
		      vmmem_errormsg());
	return r;
}

/* Is the page at p unmapped? */
static bool unmapped(const void *p)
{
	unsigned char vec;
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(tu_page_size() - 1);

	errno = 0;
	return mincore((void *)a, tu_page_size(), &vec) == -1 && errno == ENOMEM;
}

/* A hugetlbfs file cannot be sealed: refused unless allowed; page size 2 MiB. */
START_TEST(test_hugetlb_import_hugetlbfs)
{
	struct vmmem_region *er = create("hugetlbfs:gpa=0,size=8M"), *ir = NULL;
	struct vmmem_memory *em = memory_of(&er, 1), *im;
	struct vmmem_vhost_region d;
	int fd, rc;

	pm_fill(em, 0, 8 * MiB, 72);
	ck_assert_int_eq(vmmem_region_to_vhost(er, &d, &fd), 0);
	ir = (struct vmmem_region *)(uintptr_t)0x1000;
	rc = vmmem_region_import(&ir, &d, fd, 0);
	ck_assert_msg(rc == VMMEM_E_NOT_SEALED, "import of a hugetlbfs file: %d %s", rc,
		      vmmem_errormsg());
	ck_assert_ptr_null(ir);
	ir = import_ok(&d, fd, VMMEM_IMPORT_ALLOW_UNSEALED);
	ck_assert_uint_eq(vmmem_region_page_size(ir), HPS);
	ck_assert_uint_eq((uintptr_t)vmmem_region_host(ir) % HPS, 0);
	ck_assert_int_ne(vmmem_region_fd(ir), fd);
	im = memory_of(&ir, 1);
	pm_expect(im, 0, 8 * MiB, 72, "importer reads the hugetlbfs file");
	pm_fill(im, 3 * MiB, 2 * MiB, 73);
	pm_expect(em, 3 * MiB, 2 * MiB, 73, "exporter sees the importer's write");
	/* Discards follow the 2 MiB page size and punch holes the exporter sees. */
	ck_assert_int_eq(vmmem_region_discard(ir, 4 * KiB, 4 * KiB), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_discard(ir, 0, 4 * KiB), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_discard(ir, MiB, HPS), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_discard(ir, 6 * MiB, HPS), 0);
	pm_expect(em, 6 * MiB, HPS, PM_ZERO, "exporter sees the importer's discard");
	pm_expect(em, 0, 3 * MiB, 72, "exporter before");
	pm_expect(em, 3 * MiB, 2 * MiB, 73, "exporter middle");
	pm_expect(em, 5 * MiB, MiB, 72, "exporter before the hole");
	vmmem_memory_unref(im);
	vmmem_region_unref(ir);
	vmmem_memory_unref(em);
	vmmem_region_unref(er);
}
END_TEST

/* A hugetlb memfd is sealed: imported without flags. */
START_TEST(test_hugetlb_import_memfd)
{
	struct vmmem_region *er = create("memfd:gpa=1G,size=4M,hugetlb=on"), *ir;
	struct vmmem_memory *em = memory_of(&er, 1), *im;
	struct vmmem_vhost_region d;
	int fd;

	pm_fill(em, 1u << 30, 4 * MiB, 74);
	ck_assert_int_eq(vmmem_region_to_vhost(er, &d, &fd), 0);
	ir = import_ok(&d, fd, 0);
	ck_assert_uint_eq(vmmem_region_page_size(ir), HPS);
	im = memory_of(&ir, 1);
	pm_expect(im, 1u << 30, 4 * MiB, 74, "importer reads the hugetlb memfd");
	ck_assert_int_eq(vmmem_memory_discard(im, (1u << 30) + HPS, HPS), 0);
	pm_expect(em, (1u << 30) + HPS, HPS, PM_ZERO, "exporter sees the discard");
	pm_expect(em, 1u << 30, HPS, 74, "exporter's first page");
	vmmem_memory_unref(im);
	vmmem_region_unref(ir);
	vmmem_memory_unref(em);
	vmmem_region_unref(er);
}
END_TEST

/* mmap_offset into a hugetlbfs file: huge-page aligned, and not (rounded down). */
START_TEST(test_hugetlb_import_offset)
{
	struct vmmem_region *er = create("hugetlbfs:gpa=0,size=8M"), *ir;
	struct vmmem_memory *em = memory_of(&er, 1), *im;
	struct vmmem_vhost_region d;
	int fd;

	pm_fill(em, 0, 8 * MiB, 75);
	ck_assert_int_eq(vmmem_region_to_vhost(er, &d, &fd), 0);

	d = (struct vmmem_vhost_region){ .guest_phys_addr = 1u << 30, .memory_size = 4 * MiB,
					 .mmap_offset = 2 * MiB };
	ir = import_ok(&d, fd, VMMEM_IMPORT_ALLOW_UNSEALED);
	ck_assert_uint_eq(vmmem_region_fd_offset(ir), 2 * MiB);
	im = memory_of(&ir, 1);
	{
		uint8_t *buf = malloc(4 * MiB);

		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(vmmem_memory_read_exact(im, 1u << 30, buf, 4 * MiB, NULL), 0);
		pm_expect_host(buf, 2 * MiB, 4 * MiB, 75, "offset 2M");
		free(buf);
	}
	vmmem_memory_unref(im);
	vmmem_region_unref(ir);

	/* 4 KiB into the file: mapped from the huge page below. */
	d = (struct vmmem_vhost_region){ .guest_phys_addr = 1u << 30, .memory_size = HPS,
					 .mmap_offset = 4 * KiB };
	ir = import_ok(&d, fd, VMMEM_IMPORT_ALLOW_UNSEALED);
	im = memory_of(&ir, 1);
	{
		uint8_t *buf = malloc(HPS);

		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(vmmem_memory_read_exact(im, 1u << 30, buf, HPS, NULL), 0);
		pm_expect_host(buf, 4 * KiB, HPS, 75, "offset 4K");
		free(buf);
	}
	vmmem_memory_unref(im);
	vmmem_region_unref(ir);
	vmmem_memory_unref(em);
	vmmem_region_unref(er);
}
END_TEST

/* The last unref unmaps an imported huge-page mapping, whatever its size and offset. */
START_TEST(test_hugetlb_import_unmaps)
{
	static const struct {
		uint64_t size, offset;
	} cases[] = {
		{ 2 * MiB, 0 },
		{ 4 * MiB, 2 * MiB },
		{ MiB, 0 },          /* not a huge-page multiple */
		{ 2 * MiB, 4 * KiB }, /* offset inside a huge page */
	};
	struct vmmem_region *er = create("hugetlbfs:gpa=0,size=8M");
	struct vmmem_vhost_region d;
	char leaked[512] = "";
	size_t used = 0;
	int fd;

	ck_assert_int_eq(vmmem_region_to_vhost(er, &d, &fd), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vmmem_region *ir;
		uint8_t *host;

		d = (struct vmmem_vhost_region){ .guest_phys_addr = 0,
						 .memory_size = cases[i].size,
						 .mmap_offset = cases[i].offset };
		ir = import_ok(&d, fd, VMMEM_IMPORT_ALLOW_UNSEALED);
		host = vmmem_region_host(ir);
		ck_assert(!unmapped(host));
		vmmem_region_unref(ir);
		if (!unmapped(host) || !unmapped(host + cases[i].size - 1)) {
			/* Still mapped: note it, and unmap it here so later tests are not affected. */
			uintptr_t base = (uintptr_t)host & ~(uintptr_t)(HPS - 1);

			used += (size_t)snprintf(leaked + used, sizeof(leaked) - used,
						 " [size 0x%llx, offset 0x%llx]",
						 (unsigned long long)cases[i].size,
						 (unsigned long long)cases[i].offset);
			munmap((void *)base, (size_t)((cases[i].size + cases[i].offset % HPS + HPS - 1) &
						      ~(HPS - 1)));
		}
	}
	vmmem_region_unref(er);
	ck_assert_msg(used == 0, "imports still mapped after their last unref:%s", leaked);
}
END_TEST

/* ---- a peer process importing huge-page memory ---- */

static void peer_hugetlb(uint32_t flags)
{
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *m = NULL;
	struct sp_request req = {
		.magic = SP_MAGIC_REQUEST,
		.count = 2,
		.import_flags = flags,
		.check_seed = 80,
		.check_gpa = 0,
		.check_len = 8 * MiB,
		.discard_gpa = 6 * MiB,
		.discard_len = HPS,
		.write_seed = 81,
		.write_gpa = 4 * MiB - 4 * KiB,
		.write_len = 8 * KiB,
	};
	struct sp_result res;
	int fds[2];
	char why[1024];

	ck_assert_int_eq(vmmem_config_parse(&cfg, "memfd:gpa=0,size=4M,hugetlb=on;"
						  "hugetlbfs:gpa=4M,size=4M"),
			 0);
	ck_assert_msg(vmmem_memory_new_from_config(&m, ctx, cfg) == 0, "%s", vmmem_errormsg());
	pm_fill(m, 0, 8 * MiB, 80);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(vmmem_region_to_vhost(vmmem_memory_region_at(m, (size_t)i),
						       &req.regions[i], &fds[i]),
				 0);
	sp_run(&req, fds, &res);
	ck_assert_msg(res.ok && res.exited && res.exit_code == 0, "peer session: %s",
		      sp_describe(&res, why, sizeof(why)));
	if (!(flags & VMMEM_IMPORT_ALLOW_UNSEALED)) {
		/* The sealed hugetlb memfd is fine; the hugetlbfs file is not sealed. */
		ck_assert_msg(res.reply.status == VMMEM_E_NOT_SEALED &&
				      res.reply.stage == SP_STAGE_IMPORT && res.reply.index == 1,
			      "peer: %s", sp_describe(&res, why, sizeof(why)));
		ck_assert_uint_eq(res.reply.page_size[0], HPS);
		pm_expect(m, 0, 8 * MiB, 80, "untouched after the refused import");
	} else {
		ck_assert_msg(res.reply.status == 0 && res.reply.stage == SP_STAGE_DONE, "peer: %s",
			      sp_describe(&res, why, sizeof(why)));
		ck_assert_uint_eq(res.reply.page_size[0], HPS);
		ck_assert_uint_eq(res.reply.page_size[1], HPS);
		pm_expect(m, 0, 4 * MiB - 4 * KiB, 80, "before the peer's write");
		pm_expect(m, 4 * MiB - 4 * KiB, 8 * KiB, 81, "the peer's write across regions");
		pm_expect(m, 4 * MiB + 4 * KiB, 2 * MiB - 4 * KiB, 80, "after the peer's write");
		pm_expect(m, 6 * MiB, HPS, PM_ZERO, "the peer's discard");
	}
	vmmem_memory_unref(m);
	vmmem_config_free(cfg);
}

START_TEST(test_hugetlb_peer_allowed)
{
	peer_hugetlb(VMMEM_IMPORT_ALLOW_UNSEALED);
}
END_TEST

START_TEST(test_hugetlb_peer_unsealed_refused)
{
	peer_hugetlb(0);
}
END_TEST

/* A hostile peer's hugetlb memfd: sealed, never populated (no pages, no reservation).
 * Made in a real second process and passed over a socket. */
static int peer_unpopulated_hugetlb_memfd(uint64_t size)
{
	int sv[2], fd = -1, status;
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	pid_t pid;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int mfd = memfd_create("peer", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

		if (mfd < 0 || ftruncate(mfd, (off_t)size) < 0 ||
		    fcntl(mfd, F_ADD_SEALS, SEAL_ALL) < 0)
			_exit(2);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &mfd, sizeof(int));
		_exit(sendmsg(sv[1], &msg, 0) == 1 ? 0 : 3);
	}
	close(sv[1]);
	struct cmsghdr *got;

	ck_assert_int_eq(recvmsg(sv[0], &msg, 0), 1);
	got = CMSG_FIRSTHDR(&msg);
	if (!got)
		ck_abort_msg("peer sent no fd");
	else
		memcpy(&fd, CMSG_DATA(got), sizeof(int));
	close(sv[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "peer: 0x%x",
		      (unsigned int)status);
	return fd;
}

/* The import reserves the huge pages it maps, or fails: no SIGBUS at first touch later. */
START_TEST(test_hugetlb_import_reserves)
{
	uint64_t big = too_many_pages_size();
	struct vmmem_vhost_region d = { .memory_size = big };
	struct vmmem_region *r = (struct vmmem_region *)1;
	struct vmmem_memory *m;
	long rsvd;
	int fd = peer_unpopulated_hugetlb_memfd(big);

	/* More than the pool can ever hold: refused at import, with a message saying why. */
	ck_assert_int_eq(vmmem_region_import(&r, &d, fd, 0), -ENOMEM);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "huge pages"));
	close(fd);

	/* Two pages: imported with both reserved, then touched safely. */
	fd = peer_unpopulated_hugetlb_memfd(2 * HPS);
	d.memory_size = 2 * HPS;
	rsvd = read_long(HP_SYSFS "resv_hugepages");
	r = import_ok(&d, fd, 0);
	ck_assert_int_eq(read_long(HP_SYSFS "resv_hugepages"), rsvd + 2);
	m = memory_of(&r, 1);
	pm_fill(m, 0, 2 * HPS, 77);
	pm_expect(m, 0, 2 * HPS, 77, "imported unpopulated hugetlb memfd");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	close(fd);
}
END_TEST

static Suite *hugetlb_suite(void)
{
	Suite *s = suite_create("hugetlb");
	TCase *tc;

	snprintf(explicit_options, sizeof(explicit_options), ",mem-path=%s,pagesize=2M",
		 mount_dir);
	snprintf(file_options, sizeof(file_options), ",mem-path=%s,share=on", mount_dir);
	pm_add_matrix(s, "matrix", hugetlb_specs, N_SPECS);

	tc = tcase_create("options");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_unchecked_fixture(tc, base_dir_setup, base_dir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hugetlb_size_not_page_multiple);
	tcase_add_test(tc, test_hugetlb_pagesize_mismatch);
	tcase_add_test(tc, test_hugetlb_more_than_free_hugetlbfs);
	tcase_add_test(tc, test_hugetlb_more_than_free_memfd);
	tcase_add_test(tc, test_hugetlb_keep_on);
	tcase_add_test(tc, test_hugetlb_keep_off);
	tcase_add_test(tc, test_hugetlb_mem_path_file);
	tcase_add_test(tc, test_hugetlb_discard_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("import");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hugetlb_import_hugetlbfs);
	tcase_add_test(tc, test_hugetlb_import_memfd);
	tcase_add_test(tc, test_hugetlb_import_offset);
	tcase_add_test(tc, test_hugetlb_import_unmaps);
	tcase_add_test(tc, test_hugetlb_import_reserves);
	suite_add_tcase(s, tc);

	tc = tcase_create("peer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_hugetlb_peer_allowed);
	tcase_add_test(tc, test_hugetlb_peer_unsealed_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char why[256];

	if (!hugetlb_available(why, sizeof(why))) {
		printf("check_hugetlb: skipped: %s\n", why);
		return 77;
	}
	return tu_run_suite(hugetlb_suite());
}
