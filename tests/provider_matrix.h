/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The provider matrix: the same region tests, run (tcase_add_loop_test) over a table of
 * provider configurations. Included by check_providers.c (anon and memfd specs) and by
 * check_hugetlb.c (the huge-page specs, skipped as a whole where the machine has none).
 *
 * The includer defines the table and calls pm_add_matrix(); every test reads its spec as
 * pm_specs[_i]. Each test gets a fresh context from a checked fixture.
 */
#ifndef VMMEM_TEST_PROVIDER_MATRIX_H
#define VMMEM_TEST_PROVIDER_MATRIX_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* What a spec is expected to give. */
enum pm_seals {
	PM_SEALS_NO_FD = -1,      /* no fd at all */
	PM_SEALS_NO_SHRINK = -2,  /* an fd not sealed against shrinking (e.g. a hugetlbfs file:
				   * F_GET_SEALS fails or lacks F_SEAL_SHRINK) */
};

struct pm_spec {
	const char *label;    /* for messages */
	const char *provider; /* provider name, also the config prefix */
	const char *options;  /* appended after "gpa=..,size=..": "" or ",key=value..." */
	uint64_t page_size;   /* expected vmmem_region_page_size(); 0 = host page size */
	bool has_fd;          /* vmmem_region_fd() >= 0 */
	bool shareable;       /* vmmem_region_to_vhost() succeeds */
	int seals;            /* exact F_GET_SEALS value, or an enum pm_seals */
	bool ro_mapping;      /* readonly=on maps PROT_READ (file): fill through the fd */
};

/* True (after saying so) when the suites run under qemu-user, which accepts madvise and
 * ignores it: a check of what madvise does to a mapping cannot be made there. */
static bool pm_madvise_ignored(const char *what)
{
	if (!tu_under_qemu_user())
		return false;
	tu_skip_emulated(what);
	return true;
}

/* anon share=on discards with MADV_REMOVE, which qemu-user ignores. */
static bool pm_discard_ignored(const struct pm_spec *s)
{
	return !strcmp(s->provider, "anon") && strstr(s->options, "share=on") &&
	       pm_madvise_ignored("discard of anon share=on (MADV_REMOVE)");
}

/* The includer's table (set before the suite runs). */
static const struct pm_spec *pm_specs;

/* Guest layout of the matrix tests. */
#define PM_GPA (UINT64_C(1) << 30) /* 1 GiB */
#define PM_SIZE (UINT64_C(8) << 20) /* 8 MiB: 4 huge pages of 2 MiB, 2048 small pages */

static struct vmmem_ctx *pm_ctx;

static void pm_setup(void)
{
	ck_assert_int_eq(vmmem_ctx_new(&pm_ctx), 0);
}

static void pm_teardown(void)
{
	pm_ctx = vmmem_ctx_unref(pm_ctx);
}

static uint64_t pm_page(const struct pm_spec *s)
{
	return s->page_size ? s->page_size : (uint64_t)tu_page_size();
}

/* vmmem_region_create() of "<provider>:gpa=<gpa>,size=<size><options><extra>". */
static int pm_try_create(struct vmmem_region **out, const struct pm_spec *s, uint64_t gpa,
			 uint64_t size, const char *extra)
{
	char spec[1024];
	int n = snprintf(spec, sizeof(spec), "%s:gpa=%llu,size=%llu%s%s", s->provider,
			 (unsigned long long)gpa, (unsigned long long)size, s->options, extra);

	ck_assert_int_lt(n, (int)sizeof(spec));
	return vmmem_region_create(out, pm_ctx, spec);
}

static struct vmmem_region *pm_create(const struct pm_spec *s, uint64_t gpa, uint64_t size,
				      const char *extra)
{
	struct vmmem_region *r = NULL;
	int rc = pm_try_create(&r, s, gpa, size, extra);

	ck_assert_msg(rc == 0, "[%s] creating %s%s at 0x%llx: %s (%d): %s", s->label, s->options,
		      extra, (unsigned long long)gpa, vmmem_strerror(rc), rc, vmmem_errormsg());
	ck_assert_ptr_nonnull(r);
	return r;
}

/* A memory of the given regions; the caller keeps its references. */
static struct vmmem_memory *pm_memory(struct vmmem_region *const *regions, size_t n)
{
	struct vmmem_memory *m = NULL;
	int rc = vmmem_memory_new(&m, regions, n);

	ck_assert_msg(rc == 0, "vmmem_memory_new: %s", vmmem_errormsg());
	return m;
}

/* The test pattern: byte of guest address gpa for pattern number seed (never zero, so a
 * discarded byte is told apart from a kept one). */
static uint8_t pm_byte(uint64_t gpa, unsigned int seed)
{
	uint64_t x = ((gpa & ~UINT64_C(7)) + seed * UINT64_C(0x100000001b3)) *
		     UINT64_C(0x9e3779b97f4a7c15);

	x ^= x >> 29;
	return (uint8_t)((x >> (8 * (gpa & 7))) | 1);
}

static void pm_gen(uint8_t *buf, uint64_t gpa, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pm_byte(gpa + i, seed);
}

/* Write the pattern over guest [gpa, gpa + len). */
static void pm_fill(const struct vmmem_memory *m, uint64_t gpa, size_t len, unsigned int seed)
{
	uint8_t *buf = malloc(len);
	size_t done = 0;
	int rc;

	ck_assert_ptr_nonnull(buf);
	pm_gen(buf, gpa, len, seed);
	rc = vmmem_memory_write_exact(m, gpa, buf, len, &done);
	free(buf);
	ck_assert_msg(rc == 0, "write_exact(0x%llx, %zu): %d after %zu bytes: %s",
		      (unsigned long long)gpa, len, rc, done, vmmem_errormsg());
	ck_assert_uint_eq(done, len);
}

#define PM_ZERO (-1) /* pm_expect(): every byte must read zero */

/* Read guest [gpa, gpa + len) and check each byte: pattern @seed, or zero (PM_ZERO). */
static void pm_expect(const struct vmmem_memory *m, uint64_t gpa, size_t len, int seed,
		      const char *what)
{
	uint8_t *buf = malloc(len ? len : 1);
	size_t done = 0, bad = SIZE_MAX;
	uint8_t want = 0;
	int rc;

	ck_assert_ptr_nonnull(buf);
	rc = vmmem_memory_read_exact(m, gpa, buf, len, &done);
	if (rc == 0) {
		for (size_t i = 0; i < len; i++) {
			want = seed == PM_ZERO ? 0 : pm_byte(gpa + i, (unsigned int)seed);
			if (buf[i] != want) {
				bad = i;
				break;
			}
		}
	}
	ck_assert_msg(rc == 0, "%s: read_exact(0x%llx, %zu): %d after %zu: %s", what,
		      (unsigned long long)gpa, len, rc, done, vmmem_errormsg());
	ck_assert_msg(bad == SIZE_MAX, "%s: byte at GPA 0x%llx is 0x%02x, expected 0x%02x", what,
		      (unsigned long long)(gpa + bad), buf[bad == SIZE_MAX ? 0 : bad], want);
	free(buf);
}

/* Same check on raw host memory (what the region's mapping holds). One assertion at the
 * end: Check records every passing assertion, far too slow per byte. */
static void pm_expect_host(const uint8_t *host, uint64_t gpa, size_t len, int seed,
			   const char *what)
{
	size_t bad = SIZE_MAX;
	uint8_t want = 0;

	for (size_t i = 0; i < len; i++) {
		want = seed == PM_ZERO ? 0 : pm_byte(gpa + i, (unsigned int)seed);
		if (host[i] != want) {
			bad = i;
			break;
		}
	}
	ck_assert_msg(bad == SIZE_MAX, "%s: host byte for GPA 0x%llx is 0x%02x, expected 0x%02x",
		      what, (unsigned long long)(gpa + bad), host[bad == SIZE_MAX ? 0 : bad], want);
}

/* Is every page of [p, p + len) resident (mincore)? */
static bool pm_resident(const void *p, size_t len)
{
	size_t pg = tu_page_size(), n = (len + pg - 1) / pg;
	unsigned char *vec = malloc(n);
	bool all = true;

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)(uintptr_t)p, len, vec), 0);
	for (size_t i = 0; i < n && all; i++)
		all = vec[i] & 1;
	free(vec);
	return all;
}

/* ---- the matrix tests ---- */

/* Creation gives the asked-for range, page size, provider and fd. */
START_TEST(test_providers_properties)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, "");
	const struct vmmem_provider *p = vmmem_region_provider(r);
	uint64_t pg = pm_page(s);
	int fd = vmmem_region_fd(r);

	ck_assert_uint_eq(vmmem_region_gpa(r), PM_GPA);
	ck_assert_uint_eq(vmmem_region_size(r), PM_SIZE);
	ck_assert_uint_eq(vmmem_region_last(r), PM_GPA + PM_SIZE - 1);
	ck_assert_msg(vmmem_region_page_size(r) == pg, "[%s] page size 0x%llx, expected 0x%llx",
		      s->label, (unsigned long long)vmmem_region_page_size(r),
		      (unsigned long long)pg);
	ck_assert_ptr_nonnull(vmmem_region_host(r));
	ck_assert_uint_eq((uintptr_t)vmmem_region_host(r) % pg, 0);
	ck_assert_uint_eq(vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(vmmem_provider_name(p), s->provider);
	ck_assert(vmmem_region_contains(r, PM_GPA));
	ck_assert(vmmem_region_contains(r, PM_GPA + PM_SIZE - 1));
	ck_assert(!vmmem_region_contains(r, PM_GPA - 1));
	ck_assert(!vmmem_region_contains(r, PM_GPA + PM_SIZE));
	ck_assert_uint_eq(vmmem_region_fd_offset(r), 0);
	if (s->has_fd) {
		struct stat st;

		ck_assert_msg(fd >= 0, "[%s] expected an fd, got %d", s->label, fd);
		ck_assert_int_eq(fstat(fd, &st), 0);
		ck_assert_int_eq((long long)st.st_size, (long long)PM_SIZE);
		ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	} else {
		ck_assert_msg(fd == -1, "[%s] expected no fd, got %d", s->label, fd);
	}
	vmmem_region_unref(r);
}
END_TEST

/* Shareable regions describe themselves; the others refuse with NOT_SHAREABLE. */
START_TEST(test_providers_vhost)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, "");
	struct vmmem_vhost_region d;
	int fd = -42, rc;

	memset(&d, 0xa5, sizeof(d));
	rc = vmmem_region_to_vhost(r, &d, &fd);
	if (s->shareable) {
		ck_assert_msg(rc == 0, "[%s] to_vhost: %d %s", s->label, rc, vmmem_errormsg());
		ck_assert_uint_eq(d.guest_phys_addr, PM_GPA);
		ck_assert_uint_eq(d.memory_size, PM_SIZE);
		ck_assert_uint_eq(d.userspace_addr, (uint64_t)(uintptr_t)vmmem_region_host(r));
		ck_assert_uint_eq(d.mmap_offset, vmmem_region_fd_offset(r));
		ck_assert_int_eq(fd, vmmem_region_fd(r));
		ck_assert_int_ge(fd, 0);
	} else {
		ck_assert_msg(rc == VMMEM_E_NOT_SHAREABLE, "[%s] to_vhost: %d, expected NOT_SHAREABLE",
			      s->label, rc);
		ck_assert_str_ne(vmmem_errormsg(), "");
	}
	vmmem_region_unref(r);
}
END_TEST

/* Write/read round trips at the start, middle and end, seen in the host mapping too. */
START_TEST(test_providers_round_trip)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, "");
	struct vmmem_memory *m = pm_memory(&r, 1);
	const uint8_t *host = vmmem_region_host(r);
	const uint64_t offs[] = { 0, PM_SIZE / 2 - 3, PM_SIZE - 64 };
	uint8_t two[2] = { 0x11, 0x22 }, b = 0;
	uint64_t v = 0;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		pm_expect(m, PM_GPA + offs[i], 64, PM_ZERO, "fresh memory");
		pm_fill(m, PM_GPA + offs[i], 64, (unsigned int)i + 1);
		pm_expect(m, PM_GPA + offs[i], 64, (int)i + 1, s->label);
		pm_expect_host(host + offs[i], PM_GPA + offs[i], 64, (int)i + 1, s->label);
	}
	/* The last byte is the region's; one past it is not. */
	ck_assert_int_eq(vmmem_memory_write(m, PM_GPA + PM_SIZE - 1, two, 2), 1);
	ck_assert_uint_eq(host[PM_SIZE - 1], 0x11);
	ck_assert_int_eq(vmmem_memory_read(m, PM_GPA + PM_SIZE, &b, 1), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_store_u64(m, PM_GPA + 8, UINT64_C(0x0123456789abcdef),
						 VMMEM_ORDER_SEQ_CST), 0);
	ck_assert_int_eq(vmmem_memory_load_u64(m, PM_GPA + 8, VMMEM_ORDER_SEQ_CST, &v), 0);
	ck_assert_uint_eq(v, UINT64_C(0x0123456789abcdef));
	ck_assert_uint_eq(vmmem_memory_last_addr(m), PM_GPA + PM_SIZE - 1);
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
}
END_TEST

/* Two adjacent regions of the provider: an access across the boundary lands in both. */
START_TEST(test_providers_adjacent)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r[2];
	struct vmmem_memory *m;
	const uint64_t span = 64 * 1024, start = PM_GPA + PM_SIZE - span / 2;

	/* Given in reverse order: the memory sorts them. */
	r[1] = pm_create(s, PM_GPA + PM_SIZE, PM_SIZE, "");
	r[0] = pm_create(s, PM_GPA, PM_SIZE, "");
	m = pm_memory(r, 2);
	ck_assert_uint_eq(vmmem_memory_region_count(m), 2);
	ck_assert_ptr_eq(vmmem_memory_region_at(m, 0), r[0]);
	ck_assert_ptr_eq(vmmem_memory_region_at(m, 1), r[1]);
	pm_fill(m, start, span, 7);
	pm_expect(m, start, span, 7, "across the boundary");
	pm_expect_host((const uint8_t *)vmmem_region_host(r[0]) + PM_SIZE - span / 2, start,
		       span / 2, 7, "first region's tail");
	pm_expect_host(vmmem_region_host(r[1]), PM_GPA + PM_SIZE, span / 2, 7,
		       "second region's head");
	/* Bytes around the write are untouched. */
	pm_expect(m, start - 4096, 4096, PM_ZERO, "before the write");
	pm_expect(m, start + span, 4096, PM_ZERO, "after the write");
	vmmem_memory_unref(m);
	vmmem_region_unref(r[0]);
	vmmem_region_unref(r[1]);
}
END_TEST

/* An aligned discard zeroes exactly its pages; the memory stays usable. */
START_TEST(test_providers_discard)
{
	const struct pm_spec *s = &pm_specs[_i];
	if (pm_discard_ignored(s))
		return;
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, "");
	struct vmmem_memory *m = pm_memory(&r, 1);
	uint64_t pg = pm_page(s), off = pg, len = 2 * pg;
	int rc;

	pm_fill(m, PM_GPA, PM_SIZE, 3);
	rc = vmmem_region_discard(r, off, len);
	ck_assert_msg(rc == 0, "[%s] discard(0x%llx, 0x%llx): %d %s", s->label,
		      (unsigned long long)off, (unsigned long long)len, rc, vmmem_errormsg());
	pm_expect(m, PM_GPA, off, 3, "before the discarded range");
	pm_expect(m, PM_GPA + off, len, PM_ZERO, "discarded range");
	pm_expect(m, PM_GPA + off + len, PM_SIZE - off - len, 3, "after the discarded range");
	/* Writable again afterwards. */
	pm_fill(m, PM_GPA + off, len, 4);
	pm_expect(m, PM_GPA + off, len, 4, "rewritten range");
	/* Length 0 is a no-op. */
	ck_assert_int_eq(vmmem_region_discard(r, 0, 0), 0);
	ck_assert_int_eq(vmmem_region_discard(r, pg, 0), 0);
	pm_expect(m, PM_GPA, off, 3, "after a 0-byte discard");
	/* The whole region at once. */
	ck_assert_int_eq(vmmem_region_discard(r, 0, PM_SIZE), 0);
	pm_expect(m, PM_GPA, PM_SIZE, PM_ZERO, "whole region discarded");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
}
END_TEST

/* Ranges not aligned to the region's page size are refused and discard nothing. */
START_TEST(test_providers_discard_misaligned)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, "");
	struct vmmem_memory *m = pm_memory(&r, 1);
	uint64_t pg = pm_page(s), hpg = (uint64_t)tu_page_size();

	pm_fill(m, PM_GPA, 4 * pg, 5);
	ck_assert_int_eq(vmmem_region_discard(r, pg / 2, pg), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_discard(r, 0, pg / 2), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_discard(r, 1, pg), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_discard(r, pg, pg + 1), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_discard(r, pg, 1), VMMEM_E_MISALIGNED);
	if (pg > hpg) {
		/* Host-page aligned is not enough on huge pages. */
		ck_assert_int_eq(vmmem_region_discard(r, hpg, pg), VMMEM_E_MISALIGNED);
		ck_assert_int_eq(vmmem_region_discard(r, 0, hpg), VMMEM_E_MISALIGNED);
		ck_assert_int_eq(vmmem_region_discard(r, pg, pg + hpg), VMMEM_E_MISALIGNED);
	}
	ck_assert_str_ne(vmmem_errormsg(), "");
	pm_expect(m, PM_GPA, 4 * pg, 5, "after refused discards");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
}
END_TEST

/* Ranges past the region are refused; so are wrapping ones and a NULL region. */
START_TEST(test_providers_discard_bounds)
{
	const struct pm_spec *s = &pm_specs[_i];
	if (pm_discard_ignored(s))
		return;
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, "");
	struct vmmem_memory *m = pm_memory(&r, 1);
	uint64_t pg = pm_page(s);

	pm_fill(m, PM_GPA + PM_SIZE - 2 * pg, 2 * pg, 6);
	ck_assert_int_eq(vmmem_region_discard(r, PM_SIZE - pg, 2 * pg), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_discard(r, PM_SIZE, pg), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_discard(r, 0, PM_SIZE + pg), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_discard(r, 2 * PM_SIZE, pg), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_discard(r, UINT64_MAX - pg + 1, 2 * pg), -EOVERFLOW);
	ck_assert_int_eq(vmmem_region_discard(NULL, 0, pg), -EINVAL);
	pm_expect(m, PM_GPA + PM_SIZE - 2 * pg, 2 * pg, 6, "after refused discards");
	/* The last page exactly is fine. */
	ck_assert_int_eq(vmmem_region_discard(r, PM_SIZE - pg, pg), 0);
	pm_expect(m, PM_GPA + PM_SIZE - 2 * pg, pg, 6, "next-to-last page");
	pm_expect(m, PM_GPA + PM_SIZE - pg, pg, PM_ZERO, "last page");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
}
END_TEST

/* readonly=on: guest writes and discards are refused, reads work. */
START_TEST(test_providers_readonly)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, ",readonly=on");
	struct vmmem_memory *m = pm_memory(&r, 1);
	uint64_t pg = pm_page(s), v = 0x55;
	uint8_t *host = vmmem_region_host(r), buf[16] = { 0 };
	size_t done = 99;

	ck_assert_uint_eq(vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY, VMMEM_REGION_READ_ONLY);
	if (s->ro_mapping) {
		/* The mapping itself is PROT_READ: put the pattern in the file behind it, through
		 * a writable mapping of its own (hugetlbfs files take no write()). */
		uint8_t *w = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED,
				  vmmem_region_fd(r), (off_t)vmmem_region_fd_offset(r));

		ck_assert_ptr_ne(w, MAP_FAILED);
		pm_gen(w, PM_GPA, 2 * pg, 8);
		munmap(w, 2 * pg);
	} else {
		/* The host pointer bypasses the flag: put a pattern there. */
		pm_gen(host, PM_GPA, 2 * pg, 8);
	}
	ck_assert_int_eq(vmmem_memory_write(m, PM_GPA, buf, sizeof(buf)), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_write_exact(m, PM_GPA + 16, buf, sizeof(buf), &done),
			 VMMEM_E_READ_ONLY);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, PM_GPA + pg, &v, sizeof(v)), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_store_u32(m, PM_GPA + 4, 7, VMMEM_ORDER_RELAXED),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_region_discard(r, 0, pg), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_region_discard(r, pg, pg), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_discard(m, PM_GPA, 2 * pg), VMMEM_E_READ_ONLY);
	pm_expect(m, PM_GPA, 2 * pg, 8, "read-only region after refused writes/discards");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
}
END_TEST

/* vmmem_memory_discard across two regions, and over a hole (nothing discarded). */
START_TEST(test_providers_memory_discard)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r[3];
	struct vmmem_memory *m;
	uint64_t pg = pm_page(s), a = PM_GPA, b = PM_GPA + PM_SIZE, c = PM_GPA + 3 * PM_SIZE;

	if (pm_discard_ignored(s))
		return;
	/* [a, a+S) [b, b+S) hole [b+S, c) [c, c+S) */
	r[0] = pm_create(s, a, PM_SIZE, "");
	r[1] = pm_create(s, b, PM_SIZE, "");
	r[2] = pm_create(s, c, PM_SIZE, "");
	m = pm_memory(r, 3);
	pm_fill(m, a, 2 * PM_SIZE, 9);
	pm_fill(m, c, PM_SIZE, 9);

	/* The last page of the first region and the first page of the second. */
	ck_assert_int_eq(vmmem_memory_discard(m, b - pg, 2 * pg), 0);
	pm_expect(m, a, PM_SIZE - pg, 9, "first region before the discard");
	pm_expect(m, b - pg, 2 * pg, PM_ZERO, "discard across the boundary");
	pm_expect(m, b + pg, PM_SIZE - pg, 9, "second region after the discard");

	/* Into the hole, out of the hole, and across it: refused, nothing discarded. */
	ck_assert_int_eq(vmmem_memory_discard(m, b + PM_SIZE - pg, 2 * pg), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_discard(m, c - pg, 2 * pg), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_discard(m, b + PM_SIZE - pg, PM_SIZE + 2 * pg),
			 VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_discard(m, b + PM_SIZE, pg), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_discard(m, a - pg, 2 * pg), VMMEM_E_UNMAPPED);
	pm_expect(m, b + PM_SIZE - 2 * pg, 2 * pg, 9, "second region's tail after refusals");
	pm_expect(m, c, 2 * pg, 9, "third region's head after refusals");
	pm_expect(m, a, pg, 9, "first region's head after refusals");

	/* Misaligned in the first piece: refused before anything is discarded. */
	ck_assert_int_eq(vmmem_memory_discard(m, a + pg / 2, pg), VMMEM_E_MISALIGNED);
	pm_expect(m, a, 2 * pg, 9, "after a misaligned discard");

	ck_assert_int_eq(vmmem_memory_discard(m, UINT64_MAX - pg + 1, 2 * pg), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_discard(NULL, a, pg), -EINVAL);
	ck_assert_int_eq(vmmem_memory_discard(m, b + PM_SIZE, 0), 0);

	/* Everything at once, spanning all of the first two regions. */
	ck_assert_int_eq(vmmem_memory_discard(m, a, 2 * PM_SIZE), 0);
	pm_expect(m, a, 2 * PM_SIZE, PM_ZERO, "first two regions discarded");
	pm_expect(m, c, PM_SIZE, 9, "third region untouched");
	vmmem_memory_unref(m);
	for (int i = 0; i < 3; i++)
		vmmem_region_unref(r[i]);
}
END_TEST

/* prealloc=on populates every page at creation; the region then works as usual. */
START_TEST(test_providers_prealloc)
{
	const struct pm_spec *s = &pm_specs[_i];
	static const char *const extras[] = { ",prealloc=on", ",prealloc=on,prealloc-threads=2" };

	for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
		struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, extras[i]);
		struct vmmem_memory *m = pm_memory(&r, 1);

		ck_assert_msg(pm_madvise_ignored("residency after prealloc (MADV_POPULATE_WRITE)") ||
				      pm_resident(vmmem_region_host(r), PM_SIZE),
			      "[%s%s] not every page is resident after prealloc", s->label,
			      extras[i]);
		pm_expect(m, PM_GPA, PM_SIZE, PM_ZERO, "preallocated memory");
		pm_fill(m, PM_GPA + PM_SIZE - 4096, 4096, 10);
		pm_expect(m, PM_GPA + PM_SIZE - 4096, 4096, 10, "preallocated memory");
		vmmem_memory_unref(m);
		vmmem_region_unref(r);
	}
}
END_TEST

/* Is the mapping at p marked "dd" (MADV_DONTDUMP) in /proc/self/smaps? */
static bool pm_dontdump(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false, found = false, dd = false;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		/* Mapping header lines start "lo-hi perms ..."; field lines "Key: ...". */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			found = true;
			dd = strstr(line, " dd") != NULL;
			break;
		}
	}
	fclose(f);
	ck_assert_msg(found, "no smaps entry for %p", p);
	return dd;
}

/* dump=off keeps the memory out of core dumps (MADV_DONTDUMP); the region works. */
START_TEST(test_providers_dump_off)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, ",dump=off");
	struct vmmem_memory *m = pm_memory(&r, 1);

	if (!pm_madvise_ignored("dump=off's MADV_DONTDUMP flag")) {
		ck_assert_msg(pm_dontdump(vmmem_region_host(r)),
			      "[%s] dump=off: mapping is not 'dd'", s->label);
		ck_assert_msg(pm_dontdump((const uint8_t *)vmmem_region_host(r) + PM_SIZE - 1),
			      "[%s] dump=off: end of the mapping is not 'dd'", s->label);
	}
	pm_fill(m, PM_GPA, 8192, 11);
	pm_expect(m, PM_GPA, 8192, 11, "dump=off memory");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
}
END_TEST

/* merge=on (KSM) is accepted where the kernel has KSM. */
START_TEST(test_providers_merge)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r;
	struct vmmem_memory *m;

	if (access("/sys/kernel/mm/ksm/run", F_OK) != 0)
		return; /* no KSM in this kernel: merge=on is expected to fail */
	r = pm_create(s, PM_GPA, PM_SIZE, ",merge=on");
	m = pm_memory(&r, 1);
	pm_fill(m, PM_GPA, 8192, 12);
	pm_expect(m, PM_GPA, 8192, 12, "merge=on memory");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
}
END_TEST

/* memfd regions are sealed against resizing unless seal=off; other fds cannot be sealed. */
START_TEST(test_providers_seals)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, "");
	int fd = vmmem_region_fd(r), seals;

	if (s->seals == PM_SEALS_NO_FD) {
		ck_assert_int_eq(fd, -1);
	} else if (s->seals == PM_SEALS_NO_SHRINK) {
		ck_assert_int_ge(fd, 0);
		seals = fcntl(fd, F_GET_SEALS);
		ck_assert_msg(seals < 0 || !(seals & F_SEAL_SHRINK), "[%s] F_GET_SEALS = 0x%x",
			      s->label, seals);
	} else {
		seals = fcntl(fd, F_GET_SEALS);
		ck_assert_msg(seals == s->seals, "[%s] F_GET_SEALS = 0x%x, expected 0x%x", s->label,
			      seals, s->seals);
		if (seals & F_SEAL_SHRINK) {
			errno = 0;
			ck_assert_int_eq(ftruncate(fd, (off_t)(PM_SIZE / 2)), -1);
			ck_assert_int_eq(errno, EPERM);
		}
		if (seals & F_SEAL_GROW) {
			errno = 0;
			ck_assert_int_eq(ftruncate(fd, (off_t)(PM_SIZE * 2)), -1);
			ck_assert_int_eq(errno, EPERM);
		}
		if (seals & F_SEAL_SEAL) {
			errno = 0;
			ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
			ck_assert_int_eq(errno, EPERM);
		}
	}
	vmmem_region_unref(r);
}
END_TEST

/* prealloc=on with reserve=off contradicts itself (QEMU's rule). */
START_TEST(test_providers_prealloc_noreserve)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = (struct vmmem_region *)(uintptr_t)0x1000;

	ck_assert_int_eq(pm_try_create(&r, s, PM_GPA, PM_SIZE, ",prealloc=on,reserve=off"),
			 VMMEM_E_CONFIG_CONFLICT);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "reserve"));
	/* Each alone is fine. */
	r = pm_create(s, PM_GPA, PM_SIZE, ",reserve=off");
	vmmem_region_unref(r);
}
END_TEST

/* A key the provider does not know is refused, naming it. */
START_TEST(test_providers_unknown_key)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = (struct vmmem_region *)(uintptr_t)0x1000;

	ck_assert_int_eq(pm_try_create(&r, s, PM_GPA, PM_SIZE, ",bogus=1"), VMMEM_E_CONFIG_KEY);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "bogus"));
}
END_TEST

/* The region, and the memory holding it, outlive the context that made it. */
START_TEST(test_providers_outlive_ctx)
{
	const struct pm_spec *s = &pm_specs[_i];
	struct vmmem_region *r = pm_create(s, PM_GPA, PM_SIZE, "");
	struct vmmem_memory *m = pm_memory(&r, 1);

	pm_ctx = vmmem_ctx_unref(pm_ctx);
	vmmem_region_unref(r);
	pm_fill(m, PM_GPA + PM_SIZE / 2, 4096, 13);
	pm_expect(m, PM_GPA + PM_SIZE / 2, 4096, 13, "after the context is gone");
	ck_assert_ptr_nonnull(vmmem_region_provider(vmmem_memory_region_at(m, 0)));
	ck_assert_str_eq(vmmem_provider_name(vmmem_region_provider(vmmem_memory_region_at(m, 0))),
			 s->provider);
	vmmem_memory_unref(m);
}
END_TEST

/* Add the matrix, one TCase, looping over specs [0, n). */
static void pm_add_matrix(Suite *suite, const char *name, const struct pm_spec *specs, int n)
{
	TCase *tc = tcase_create(name);

	pm_specs = specs;
	tcase_add_checked_fixture(tc, pm_setup, pm_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_providers_properties, 0, n);
	tcase_add_loop_test(tc, test_providers_vhost, 0, n);
	tcase_add_loop_test(tc, test_providers_round_trip, 0, n);
	tcase_add_loop_test(tc, test_providers_adjacent, 0, n);
	tcase_add_loop_test(tc, test_providers_discard, 0, n);
	tcase_add_loop_test(tc, test_providers_discard_misaligned, 0, n);
	tcase_add_loop_test(tc, test_providers_discard_bounds, 0, n);
	tcase_add_loop_test(tc, test_providers_readonly, 0, n);
	tcase_add_loop_test(tc, test_providers_memory_discard, 0, n);
	tcase_add_loop_test(tc, test_providers_prealloc, 0, n);
	tcase_add_loop_test(tc, test_providers_dump_off, 0, n);
	tcase_add_loop_test(tc, test_providers_merge, 0, n);
	tcase_add_loop_test(tc, test_providers_seals, 0, n);
	tcase_add_loop_test(tc, test_providers_prealloc_noreserve, 0, n);
	tcase_add_loop_test(tc, test_providers_unknown_key, 0, n);
	tcase_add_loop_test(tc, test_providers_outlive_ctx, 0, n);
	suite_add_tcase(suite, tc);
}

#endif /* VMMEM_TEST_PROVIDER_MATRIX_H */
