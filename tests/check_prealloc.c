/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Preallocation through the public API: regions made with prealloc=on have every page
 * populated when vmmem_region_create() returns (checked with mincore), with one thread or
 * several, on anonymous, memfd and hugetlb memory; without prealloc nothing is populated.
 * (The thread-count rule itself is unit-tested by tests/unit_prealloc_threads.c.) */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define MiB (UINT64_C(1) << 20)

/* Base pages of [p, p + len) resident in memory (mincore counts in base pages, also for
 * hugetlb mappings). */
static size_t resident_pages(const void *p, uint64_t len)
{
	size_t pg = tu_page_size(), n = (size_t)((len + pg - 1) / pg), count = 0;
	unsigned char *vec = malloc(n);

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)p, (size_t)len, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

static size_t all_pages(const struct vmmem_region *r)
{
	return (size_t)(vmmem_region_size(r) / tu_page_size());
}

static struct vmmem_ctx *new_ctx(void)
{
	struct vmmem_ctx *ctx = NULL;

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
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

static void assert_zero(const struct vmmem_region *r)
{
	const uint8_t *p = vmmem_region_host(r);

	for (uint64_t i = 0; i < vmmem_region_size(r); i += 512)
		if (p[i])
			ck_abort_msg("byte %llu is 0x%02x", (unsigned long long)i, p[i]);
}

/* A region made with spec is fully resident; made without prealloc (spec_off), not at all. */
static void check_prealloc(const char *spec_on, const char *spec_off)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_region *r = create_ok(ctx, spec_on);

	ck_assert_msg(resident_pages(vmmem_region_host(r), vmmem_region_size(r)) == all_pages(r),
		      "'%s': %zu of %zu pages resident", spec_on,
		      resident_pages(vmmem_region_host(r), vmmem_region_size(r)), all_pages(r));
	assert_zero(r);
	vmmem_region_unref(r);
	if (spec_off) {
		r = create_ok(ctx, spec_off);
		ck_assert_msg(resident_pages(vmmem_region_host(r), vmmem_region_size(r)) == 0,
			      "'%s': %zu pages resident without prealloc", spec_off,
			      resident_pages(vmmem_region_host(r), vmmem_region_size(r)));
		vmmem_region_unref(r);
	}
	vmmem_ctx_unref(ctx);
}

START_TEST(test_prealloc_anon)
{
	check_prealloc("anon:gpa=0,size=8M,prealloc=on", "anon:gpa=0,size=8M");
	check_prealloc("anon:gpa=0,size=8M,prealloc=yes,share=on", "anon:gpa=0,size=8M,share=on");
	/* prealloc=off is the default spelled out. */
	check_prealloc("anon:gpa=1M,size=1M,prealloc=true", "anon:gpa=1M,size=1M,prealloc=off");
}
END_TEST

START_TEST(test_prealloc_memfd)
{
	check_prealloc("memfd:gpa=0,size=8M,prealloc=on", "memfd:gpa=0,size=8M");
	check_prealloc("memfd:gpa=0,size=8M,prealloc=on,share=off", "memfd:gpa=0,size=8M,share=off");
	check_prealloc("memfd:gpa=0,size=4M,prealloc=on,seal=off,readonly=on,dump=off", NULL);
}
END_TEST

/* Several threads: 128 MiB allows two (one per 64 MiB); every page is still populated. */
START_TEST(test_prealloc_two_threads)
{
	check_prealloc("anon:gpa=0,size=130M,prealloc=on,prealloc-threads=2", NULL);
	check_prealloc("memfd:gpa=0,size=128M,prealloc=on,prealloc-threads=2", NULL);
	/* More threads than allowed is capped, not an error. */
	check_prealloc("anon:gpa=0,size=4M,prealloc=on,prealloc-threads=64", NULL);
	check_prealloc("anon:gpa=0,size=12K,prealloc=on,prealloc-threads=1000", NULL);
}
END_TEST

/* Prealloc of every region of a memory built from a config. */
START_TEST(test_prealloc_memory_from_config)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *m = NULL;

	ck_assert_int_eq(vmmem_config_parse(&cfg, "anon:gpa=0,size=4M,prealloc=on;"
						  "memfd:gpa=4M,size=4M,prealloc=on,prealloc-threads=2;"
						  "anon:gpa=8M,size=4M"),
			 0);
	ck_assert_int_eq(vmmem_memory_new_from_config(&m, ctx, cfg), 0);
	ck_assert_uint_eq(vmmem_memory_region_count(m), 3);
	for (size_t i = 0; i < 3; i++) {
		struct vmmem_region *r = vmmem_memory_region_at(m, i);
		size_t want = i < 2 ? all_pages(r) : 0;

		ck_assert_uint_eq(resident_pages(vmmem_region_host(r), vmmem_region_size(r)), want);
	}
	vmmem_memory_unref(m);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* Free huge pages of the default size, and that size (0 if unknown). */
static unsigned long free_huge_pages(uint64_t *size)
{
	char line[128];
	unsigned long free_pages = 0, kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %lu", &free_pages);
		sscanf(line, "Hugepagesize: %lu kB", &kib);
	}
	fclose(f);
	*size = (uint64_t)kib * 1024;
	return kib ? free_pages : 0;
}

/* Create "<provider>:gpa=0,size=<2 huge pages>,<page_key>=<huge page size>,prealloc=on<extra>"
 * and check it is populated. Skipped (returns false) when the machine has no huge pages
 * free, before or - since other processes may take them - when creation reports -ENOMEM. */
static bool check_hugetlb(const char *provider, const char *page_key, const char *extra)
{
	uint64_t hsize = 0;
	char spec[256];
	struct vmmem_ctx *ctx;
	struct vmmem_region *r = NULL;
	int rc;

	if (free_huge_pages(&hsize) < 2) {
		fprintf(stderr, "check_prealloc: fewer than 2 free huge pages, %s not tested\n",
			provider);
		return false;
	}
	snprintf(spec, sizeof(spec), "%s:gpa=0,size=%lluM,%s=%lluM,prealloc=on%s", provider,
		 (unsigned long long)(2 * hsize / MiB), page_key, (unsigned long long)(hsize / MiB),
		 extra);
	ctx = new_ctx();
	rc = vmmem_region_create(&r, ctx, spec);
	if (rc == -ENOMEM && free_huge_pages(&hsize) < 2) {
		fprintf(stderr, "check_prealloc: huge pages taken meanwhile, '%s' not tested\n", spec);
		vmmem_ctx_unref(ctx);
		return false;
	}
	ck_assert_msg(rc == 0, "'%s': %d (%s): %s", spec, rc, vmmem_strerror(rc), vmmem_errormsg());
	ck_assert_uint_eq(vmmem_region_page_size(r), hsize);
	ck_assert_uint_eq(vmmem_region_size(r), 2 * hsize);
	ck_assert_msg(resident_pages(vmmem_region_host(r), vmmem_region_size(r)) == all_pages(r),
		      "'%s': %zu of %zu base pages resident", spec,
		      resident_pages(vmmem_region_host(r), vmmem_region_size(r)), all_pages(r));
	assert_zero(r);
	vmmem_region_unref(r);
	/* Control: the same without prealloc reserves the pages but populates none. */
	snprintf(spec, sizeof(spec), "%s:gpa=0,size=%lluM,%s=%lluM%s", provider,
		 (unsigned long long)(2 * hsize / MiB), page_key, (unsigned long long)(hsize / MiB),
		 extra);
	r = NULL;
	rc = vmmem_region_create(&r, ctx, spec);
	if (rc == 0) {
		ck_assert_msg(resident_pages(vmmem_region_host(r), vmmem_region_size(r)) == 0,
			      "'%s': pages resident without prealloc", spec);
		vmmem_region_unref(r);
	} else {
		ck_assert_msg(rc == -ENOMEM, "'%s': %d (%s): %s", spec, rc, vmmem_strerror(rc),
			      vmmem_errormsg());
	}
	vmmem_ctx_unref(ctx);
	return true;
}

START_TEST(test_prealloc_hugetlb_memfd)
{
	check_hugetlb("memfd", "hugetlbsize", ",hugetlb=on");
	check_hugetlb("memfd", "hugetlbsize", ",hugetlb=on,prealloc-threads=2,share=off");
}
END_TEST

START_TEST(test_prealloc_hugetlbfs)
{
	check_hugetlb("hugetlbfs", "pagesize", "");
}
END_TEST

/* prealloc=on needs reserved memory: with reserve=off it is refused before mapping. */
START_TEST(test_prealloc_needs_reserve)
{
	static const char *const specs[] = {
		"anon:gpa=0,size=4M,prealloc=on,reserve=off",
		"memfd:gpa=0,size=4M,prealloc=on,reserve=off",
	};
	struct vmmem_ctx *ctx = new_ctx();

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct vmmem_region *r = NULL;

		ck_assert_int_eq(vmmem_region_create(&r, ctx, specs[i]), VMMEM_E_CONFIG_CONFLICT);
		ck_assert_ptr_null(r);
	}
	vmmem_ctx_unref(ctx);
}
END_TEST

/* ---- lock=on|on-fault (mlock2) ---- */

/* The "Locked:" kB /proc/self/smaps reports for the mapping (VMA) holding p. */
static long locked_kb(const void *p)
{
	char line[256];
	FILE *f = fopen("/proc/self/smaps", "r");
	bool in = false;
	long kb = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;

		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in = (uintptr_t)p >= start && (uintptr_t)p < end;
		else if (in && sscanf(line, "Locked: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

START_TEST(test_lock_on)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_region *r = create_ok(ctx, "anon:gpa=0,size=2M,lock=on");
	struct vmmem_region *m = create_ok(ctx, "memfd:gpa=0,size=1M,lock=on,prealloc=on");

	/* Every page resident and locked at once. */
	ck_assert_uint_eq(resident_pages(vmmem_region_host(r), vmmem_region_size(r)), all_pages(r));
	ck_assert_int_eq(locked_kb(vmmem_region_host(r)), 2048);
	ck_assert_int_eq(locked_kb(vmmem_region_host(m)), 1024);
	assert_zero(r);
	vmmem_region_unref(r);
	vmmem_region_unref(m);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_lock_on_fault)
{
	struct vmmem_ctx *ctx;
	struct vmmem_region *r;
	uint8_t *p;

	/* MLOCK_ONFAULT needs mlock2 (Linux 4.4); valgrind 3.19 does not know the call. */
	if (mlock2(&ctx, 1, MLOCK_ONFAULT) != 0 && (errno == ENOSYS || errno == EINVAL)) {
		printf("SKIP test_lock_on_fault: no mlock2 here (valgrind?)\n");
		ctx = new_ctx();
		ck_assert_int_eq(vmmem_region_create(&r, ctx, "anon:gpa=0,size=2M,lock=on-fault"),
				 -ENOSYS);
		vmmem_ctx_unref(ctx);
		return;
	}
	munlock(&ctx, 1);
	ctx = new_ctx();
	r = create_ok(ctx, "anon:gpa=0,size=2M,lock=on-fault");
	p = vmmem_region_host(r);

	/* Locked as touched: nothing yet, then the pages written. */
	ck_assert_uint_eq(resident_pages(p, vmmem_region_size(r)), 0);
	ck_assert_int_eq(locked_kb(p), 0);
	p[0] = 1;
	p[tu_page_size()] = 1;
	ck_assert_int_ge(locked_kb(p), (long)(2 * tu_page_size() / 1024));
	vmmem_region_unref(r);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* Drop CAP_IPC_LOCK (root keeps its other powers: the child can still write the coverage
 * counters as it exits), so RLIMIT_MEMLOCK applies. */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[0].effective &= ~(1u << CAP_IPC_LOCK);
	d[0].permitted &= ~(1u << CAP_IPC_LOCK);
	d[0].inheritable &= ~(1u << CAP_IPC_LOCK);
	return (int)syscall(SYS_capset, &h, d);
}

/* Over RLIMIT_MEMLOCK (a process without CAP_IPC_LOCK: the child drops it, or root): a
 * clear error naming the limit, and nothing left behind. */
START_TEST(test_lock_over_rlimit)
{
	pid_t pid;
	int status = 0, fds[2];
	char result = 'x';

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit lim = { 64 * 1024, 64 * 1024 };
		struct vmmem_ctx *ctx = NULL;
		struct vmmem_region *r = (struct vmmem_region *)1;
		int rc;

		/* The verdict goes through the pipe: under valgrind the child's exit status
		 * reports the parent's heap it inherited as leaked. */
		close(fds[0]);
		if (setrlimit(RLIMIT_MEMLOCK, &lim) ||
		    (getuid() == 0 && drop_ipc_lock() && setuid(65534)))
			result = '2';
		else if (vmmem_ctx_new(&ctx))
			result = '3';
		else if ((rc = vmmem_region_create(&r, ctx, "anon:gpa=0,size=4M,lock=on")) >= 0 ||
			 r != NULL)
			result = '4';
		else if (!strstr(vmmem_errormsg(), "RLIMIT_MEMLOCK is 65536 bytes") ||
			 !strstr(vmmem_errormsg(), "lock=on"))
			result = '5';
		else
			result = '0';
		vmmem_ctx_unref(ctx);
		if (write(fds[1], &result, 1) != 1)
			_exit(7);
		exit(0); /* not _exit: a coverage build writes its counters at exit */
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &result, 1), 1);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(result == '0', "child verdict %c: %s", result,
		      result == '5' ? "the message does not name the limit" : "see the code");
	ck_assert(WIFEXITED(status));
}
END_TEST

START_TEST(test_lock_bad_values)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_region *r = NULL;
	static const char *const bad[] = { "anon:gpa=0,size=1M,lock=maybe",
					   "anon:gpa=0,size=1M,lock=",
					   "anon:gpa=0,size=1M,lock=on,lock=off",
					   "anon:gpa=0,size=1M,lock=onfault" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = vmmem_region_create(&r, ctx, bad[i]);

		ck_assert_msg(rc == VMMEM_E_CONFIG_VALUE || rc == VMMEM_E_CONFIG_KEY ||
			      rc == VMMEM_E_CONFIG_SYNTAX, "'%s': %d", bad[i], rc);
		ck_assert_ptr_null(r);
		ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "config position"));
	}
	r = create_ok(ctx, "anon:gpa=0,size=1M,lock=off");
	ck_assert_int_eq(locked_kb(vmmem_region_host(r)), 0);
	vmmem_region_unref(r);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* ---- host-nodes= / policy= (mbind) and where the pages are (move_pages) ---- */

START_TEST(test_numa_policies)
{
	static const char *const specs[] = {
		"anon:gpa=0,size=2M,prealloc=on,host-nodes=0,policy=bind",
		"anon:gpa=0,size=2M,prealloc=on,host-nodes=0,policy=preferred",
		"memfd:gpa=0,size=2M,prealloc=on,host-nodes=0,policy=interleave",
		"anon:gpa=0,size=2M,prealloc=on,host-nodes=0-0,policy=bind",
		"anon:gpa=0,size=256M,prealloc=on,prealloc-threads=2,host-nodes=0,policy=bind",
		"file:gpa=0,size=2M,mem-path=/dev/shm,share=on,prealloc=on,host-nodes=0,policy=bind",
	};
	struct vmmem_ctx *ctx = new_ctx();

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct vmmem_region *r = create_ok(ctx, specs[i]);
		uint64_t pages[4] = { 9, 9, 9, 9 }, absent = 9;
		int64_t n = vmmem_region_numa_pages(r, pages, 4, &absent);

		/* This machine has node 0 only: every page is there. */
		ck_assert_msg(n == (int64_t)all_pages(r), "'%s': %lld present", specs[i], (long long)n);
		ck_assert_uint_eq(pages[0], all_pages(r));
		ck_assert_uint_eq(pages[1] + pages[2] + pages[3], 0);
		ck_assert_uint_eq(absent, 0);
		vmmem_region_unref(r);
	}
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_numa_errors)
{
	static const struct { const char *spec; int rc; const char *msg; } bad[] = {
		{ "anon:gpa=0,size=1M,host-nodes=5,policy=bind", -EINVAL, "does not have" },
		{ "anon:gpa=0,size=1M,host-nodes=0-1,,3,policy=interleave", -EINVAL, "nodes online" },
		{ "anon:gpa=0,size=1M,host-nodes=0", VMMEM_E_CONFIG_CONFLICT, "policy" },
		{ "anon:gpa=0,size=1M,policy=bind", VMMEM_E_CONFIG_CONFLICT, "host-nodes" },
		{ "anon:gpa=0,size=1M,host-nodes=64,policy=bind", VMMEM_E_CONFIG_VALUE, "NUMA node" },
		{ "anon:gpa=0,size=1M,host-nodes=3-1,policy=bind", VMMEM_E_CONFIG_VALUE, "NUMA node" },
		{ "anon:gpa=0,size=1M,host-nodes=0-,policy=bind", VMMEM_E_CONFIG_VALUE, "NUMA node" },
		{ "anon:gpa=0,size=1M,host-nodes=0,policy=local", VMMEM_E_CONFIG_VALUE, "interleave" },
	};
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_region *r = NULL;
	uint64_t pages[1], absent = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = vmmem_region_create(&r, ctx, bad[i].spec);

		ck_assert_msg(rc == bad[i].rc, "'%s': %d (%s), expected %d", bad[i].spec, rc,
			      vmmem_errormsg(), bad[i].rc);
		ck_assert_ptr_null(r);
		ck_assert_msg(strstr(vmmem_errormsg(), bad[i].msg), "'%s': %s", bad[i].spec,
			      vmmem_errormsg());
	}
	/* A region nothing touched yet: nothing present. */
	r = create_ok(ctx, "anon:gpa=0,size=1M");
	ck_assert_int_eq(vmmem_region_numa_pages(r, pages, 1, &absent), 0);
	ck_assert_uint_eq(absent, all_pages(r));
	ck_assert_int_eq(vmmem_region_numa_pages(r, NULL, 0, NULL), 0);
	ck_assert_int_eq(vmmem_region_numa_pages(r, NULL, 1, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_region_numa_pages(NULL, pages, 1, NULL), -EINVAL);
	vmmem_region_unref(r);
	vmmem_ctx_unref(ctx);
}
END_TEST

static Suite *prealloc_suite(void)
{
	Suite *s = suite_create("prealloc");
	TCase *tc = tcase_create("prealloc");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_prealloc_anon);
	tcase_add_test(tc, test_prealloc_memfd);
	tcase_add_test(tc, test_prealloc_two_threads);
	tcase_add_test(tc, test_prealloc_memory_from_config);
	tcase_add_test(tc, test_prealloc_hugetlb_memfd);
	tcase_add_test(tc, test_prealloc_hugetlbfs);
	tcase_add_test(tc, test_prealloc_needs_reserve);
	tcase_add_test(tc, test_lock_on);
	tcase_add_test(tc, test_lock_on_fault);
	tcase_add_test(tc, test_lock_over_rlimit);
	tcase_add_test(tc, test_lock_bad_values);
	tcase_add_test(tc, test_numa_policies);
	tcase_add_test(tc, test_numa_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (!getenv("VMMEM_PROVIDER_PATH")) {
		fprintf(stderr, "check_prealloc: run through ctest (VMMEM_PROVIDER_PATH must name "
				"the build's provider directory)\n");
		return 77;
	}
	return tu_run_suite(prealloc_suite());
}
