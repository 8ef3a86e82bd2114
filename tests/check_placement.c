/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Where a provider's mapping lands (core/placement.c, core_api map): guard=on (the
 * default) puts one PROT_NONE page right below and right above the region's host mapping,
 * so a host overrun faults instead of reaching a neighbour; align= sets the base
 * alignment; both are removed with the region. Checked in /proc/self/maps and, for the
 * fault itself, in a child process that overruns the mapping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static struct vmmem_ctx *ctx;

static void setup(void)
{
	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
}

static void teardown(void)
{
	ctx = vmmem_ctx_unref(ctx);
}

/* The permissions of the mapping that holds @addr ("rw-p", "---p"), or "" if unmapped. */
static const char *perms_at(uintptr_t addr)
{
	static char perms[8];
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	perms[0] = '\0';
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char p[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, p) == 3 && addr >= lo && addr < hi) {
			snprintf(perms, sizeof(perms), "%s", p);
			break;
		}
	}
	fclose(f);
	return perms;
}

/* qemu-user emulates /proc/self/maps from its own view of the guest's mappings, which
 * does not follow a MAP_FIXED mapping made inside a reservation: the checks that read it
 * run natively (the overrun test, which needs no maps, runs everywhere). */
static bool maps_emulated(void)
{
	if (!tu_under_qemu_user())
		return false;
	tu_skip_emulated("guard pages read from /proc/self/maps");
	return true;
}

static struct vmmem_region *create(const char *spec)
{
	struct vmmem_region *r = NULL;
	int rc = vmmem_region_create(&r, ctx, spec);

	ck_assert_msg(rc == 0, "'%s': %s: %s", spec, vmmem_strerror(rc), vmmem_errormsg());
	return r;
}

static const char *const guarded_specs[] = {
	"anon:gpa=0,size=64K",
	"anon:gpa=0,size=64K,share=on",
	"memfd:gpa=0,size=64K",
	"file:gpa=0,size=64K,mem-path=/dev/shm,share=on",
	"anon:gpa=0,size=64K,guard=on,align=2M",
	"anon:gpa=0,size=100", /* not whole pages: the upper guard follows the last page */
};

/* Each provider's region sits between two PROT_NONE pages, which go with the region. */
START_TEST(test_placement_guard_pages)
{
	const uintptr_t pg = tu_page_size();
	struct vmmem_region *r = create(guarded_specs[_i]);
	uintptr_t host = (uintptr_t)vmmem_region_host(r);
	uintptr_t size = (vmmem_region_size(r) + pg - 1) / pg * pg;

	if (maps_emulated()) {
		vmmem_region_unref(r);
		return;
	}
	ck_assert_str_eq(perms_at(host - pg), "---p");
	ck_assert_str_eq(perms_at(host + size), "---p");
	ck_assert_str_ne(perms_at(host), "---p");
	ck_assert_str_ne(perms_at(host + size - 1), "---p");
	vmmem_region_unref(r);
	/* Gone with the region (nothing else maps here in this single-threaded test). */
	ck_assert_str_eq(perms_at(host - pg), "");
	ck_assert_str_eq(perms_at(host + size), "");
}
END_TEST

/* A host write one byte past the region faults (in a child, which dies of SIGSEGV)
 * instead of landing in whatever mapping follows. */
START_TEST(test_placement_overrun_faults)
{
	struct vmmem_region *r = create("anon:gpa=0,size=64K");
	volatile uint8_t *host = vmmem_region_host(r);
	uint64_t size = vmmem_region_size(r);
	int status = 0;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		/* Die of the fault itself, not of a sanitizer's report of it. */
		sigaction(SIGSEGV, &dfl, NULL);
		host[size - 1] = 1; /* the last byte is fine */
		host[size] = 1;     /* the guard page */
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child status 0x%x",
		      status);
	vmmem_region_unref(r);
}
END_TEST

/* guard=off: the region is placed (align= still holds) without guard pages. The
 * neighbours are whatever the kernel put there (a library's PROT_NONE gap may be one), so
 * the check is that the region's own mapping count is one: made inside a reservation of
 * at least 1 MiB + 64 KiB, the slack on both sides is gone. */
START_TEST(test_placement_guard_off)
{
	struct vmmem_region *r = create("anon:gpa=0,size=64K,guard=off,align=1M");
	uintptr_t host = (uintptr_t)vmmem_region_host(r), pg = tu_page_size();

	ck_assert_uint_eq(host % (1u << 20), 0);
	if (maps_emulated()) {
		vmmem_region_unref(r);
		return;
	}
	ck_assert_str_eq(perms_at(host), "rw-p");
	vmmem_region_unref(r);
	ck_assert_str_eq(perms_at(host), "");
	r = create("anon:gpa=0,size=64K,guard=on,align=1M");
	host = (uintptr_t)vmmem_region_host(r);
	ck_assert_str_eq(perms_at(host - pg), "---p");
	vmmem_region_unref(r);
}
END_TEST

/* align= is honoured for every provider; bad values are refused at parse time. */
START_TEST(test_placement_align)
{
	static const char *const specs[] = {
		"anon:gpa=0,size=64K,align=1G",
		"memfd:gpa=0,size=64K,align=2M",
		"file:gpa=0,size=64K,mem-path=/dev/shm,share=on,align=64M",
	};
	static const uint64_t want[] = { UINT64_C(1) << 30, UINT64_C(2) << 20, UINT64_C(64) << 20 };
	static const char *const bad[] = {
		"anon:gpa=0,size=64K,align=3K",   "anon:gpa=0,size=64K,align=0",
		"anon:gpa=0,size=64K,align=2048", "anon:gpa=0,size=64K,align=2T",
		"anon:gpa=0,size=64K,align=x",    "anon:gpa=0,size=64K,guard=maybe",
	};

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		struct vmmem_region *r = create(specs[i]);

		ck_assert_msg((uintptr_t)vmmem_region_host(r) % want[i] == 0, "'%s' at %p",
			      specs[i], vmmem_region_host(r));
		vmmem_region_unref(r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vmmem_region *r = NULL;
		int rc = vmmem_region_create(&r, ctx, bad[i]);

		ck_assert_msg(rc == VMMEM_E_CONFIG_VALUE, "'%s': %d %s", bad[i], rc,
			      vmmem_errormsg());
		ck_assert_ptr_null(r);
		ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "position"));
	}
}
END_TEST

/* Bytes of small (below 1 MiB) PROT_NONE mappings in this process. Leaked guard pages add
 * to it even where they merge with a neighbouring PROT_NONE mapping (which defeats counting
 * mappings); the large ones are a sanitizer's reservations, which its allocator eats into
 * as it grows. */
static unsigned long prot_none_bytes(void)
{
	unsigned long n = 0;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char p[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, p) == 3 && !strcmp(p, "---p") &&
		    hi - lo < (1ul << 20))
			n += hi - lo;
	}
	fclose(f);
	return n;
}

/* A region whose making fails after the provider mapped it leaves no guard page behind. */
START_TEST(test_placement_failure_leaves_nothing)
{
	static const char *const spec = "anon:gpa=0,size=64K,host-nodes=63,policy=bind";
	struct vmmem_region *r = NULL;
	unsigned long before;

	if (maps_emulated())
		return;
	/* host-nodes names a node no machine here has: the failure comes after the
	 * provider's map (in mbind's check). The first round loads the plugin and lets any
	 * allocator (a sanitizer's) grow to what the path needs. */
	ck_assert_int_eq(vmmem_region_create(&r, ctx, spec), -EINVAL);
	before = prot_none_bytes();
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(vmmem_region_create(&r, ctx, spec), -EINVAL);
		ck_assert_ptr_null(r);
	}
	ck_assert_uint_eq(prot_none_bytes(), before);
}
END_TEST

/* The core's map service misused by a provider (tests/plugins/mapper.c), and used well;
 * a provider that maps by itself is held to align= after the fact; a size whose
 * reservation would pass 2^64 is refused. */
START_TEST(test_placement_map_service)
{
	static const struct {
		const char *spec;
		int rc;
		const char *msg;
	} cases[] = {
		{ "mapper:gpa=0,size=64K,misuse=1", -EBUSY, "mapper: map" },
		{ "mapper:gpa=0,size=64K,misuse=2", -EINVAL, "mapper: map" },
		{ "mapper:gpa=0,size=64K,misuse=3", -EINVAL, "mapper: map" },
		{ "mapper:gpa=0,size=64K,misuse=4", VMMEM_E_PROVIDER_INVALID, "not the mapping" },
		{ "mapper:gpa=0,size=64K,misuse=5", -EIO, "not 0 or a negative error" },
		{ "good:gpa=0,size=64K,align=1T", VMMEM_E_CONFIG_VALUE, "by itself" },
		{ "anon:gpa=0,size=0xffffff0000000000,align=1T", -ENOMEM, "anon" },
	};
	const char *dir = getenv("VMMEM_TEST_PLUGIN_DIR");
	struct vmmem_region *r = NULL;
	char path[4096];

	if (!dir) {
		fprintf(stderr, "check_placement: run through ctest (VMMEM_TEST_PLUGIN_DIR)\n");
		ck_abort();
	}
	snprintf(path, sizeof(path), "%s:%s", dir, getenv("VMMEM_PROVIDER_PATH"));
	ck_assert_int_eq(vmmem_ctx_set_search_path(ctx, path), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = vmmem_region_create(&r, ctx, cases[i].spec);

		ck_assert_msg(rc == cases[i].rc && strstr(vmmem_errormsg(), cases[i].msg),
			      "'%s': %d %s, expected %d", cases[i].spec, rc, vmmem_errormsg(),
			      cases[i].rc);
		ck_assert_ptr_null(r);
	}
	r = create("mapper:gpa=0,size=64K,align=2M");
	ck_assert_uint_eq((uintptr_t)vmmem_region_host(r) % (2u << 20), 0);
	vmmem_region_unref(r);
}
END_TEST

static Suite *placement_suite(void)
{
	Suite *s = suite_create("placement");
	TCase *tc = tcase_create("placement");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_placement_guard_pages, 0,
			    (int)(sizeof(guarded_specs) / sizeof(guarded_specs[0])));
	tcase_add_test(tc, test_placement_overrun_faults);
	tcase_add_test(tc, test_placement_guard_off);
	tcase_add_test(tc, test_placement_align);
	tcase_add_test(tc, test_placement_failure_leaves_nothing);
	tcase_add_test(tc, test_placement_map_service);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(placement_suite());
}
