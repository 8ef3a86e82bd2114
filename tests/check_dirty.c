/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Check suite for vmmem/dirty.h: region dirty bitmaps (enable/disable, every write path,
 * get-and-clear layout and concurrency, KVM merge), the vhost-user dirty log and the
 * dirty-log config keys. */
#define _GNU_SOURCE
#include "testutil.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

#define KiB UINT64_C(1024)
#define MiB (KiB * 1024)
#define GiB (MiB * 1024)

#define PG UINT64_C(4096)

static bool under_valgrind(void)
{
	const char *v = getenv("VMMEM_TEST_UNDER_VALGRIND");

	return v && *v && strcmp(v, "0") != 0;
}

static bool under_sanitizer(void)
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

/* A region over fresh zeroed anonymous memory (region-owned), tracked with @page_size
 * (0: 4096), or untracked if @page_size is UINT64_MAX. */
static struct vmmem_region *region_at(uint64_t gpa, uint64_t size, uint64_t page_size)
{
	struct vmmem_region *r = tu_anon_region(gpa, size, 0);

	if (page_size != UINT64_MAX) {
		int rc = vmmem_region_dirty_enable(r, page_size);

		ck_assert_msg(rc == 0, "dirty_enable(%llu): %d %s", (unsigned long long)page_size,
			      rc, vmmem_errormsg());
	}
	return r;
}

#define UNTRACKED UINT64_MAX

/* Memory from regions; drops the caller's references (the memory keeps them alive, so the
 * caller's pointers stay valid as borrowed pointers while the memory lives). */
static struct vmmem_memory *mem_of(struct vmmem_region *const *regs, size_t n)
{
	struct vmmem_memory *m = NULL;
	int rc = vmmem_memory_new(&m, regs, n);

	ck_assert_msg(rc == 0, "vmmem_memory_new: %d %s", rc, vmmem_errormsg());
	for (size_t i = 0; i < n; i++)
		vmmem_region_unref(regs[i]);
	return m;
}

/* Memory of one tracked 4K-page region [gpa, gpa + size); *r borrowed. */
static struct vmmem_memory *mem1(uint64_t gpa, uint64_t size, uint64_t page_size,
				 struct vmmem_region **r)
{
	*r = region_at(gpa, size, page_size);
	return mem_of(r, 1);
}

static uint64_t npages_of(const struct vmmem_region *r)
{
	uint64_t ps = vmmem_region_dirty_page_size(r);

	ck_assert_uint_ne(ps, 0);
	return (vmmem_region_size(r) + ps - 1) / ps;
}

/*
 * Get-and-clear the whole bitmap of @r and compare it with @pages (terminated by -1): exactly
 * those pages dirty, no other. Afterwards the bitmap must be all clean.
 */
static void expect_dirty_at(struct vmmem_region *r, const long *pages, const char *what,
			    int line)
{
	uint64_t np = npages_of(r), nw = (np + 63) / 64;
	uint64_t *got = calloc(nw + 1, sizeof(uint64_t));
	uint64_t *exp = calloc(nw + 1, sizeof(uint64_t));
	ssize_t n;

	ck_assert_ptr_nonnull(got);
	ck_assert_ptr_nonnull(exp);
	for (size_t i = 0; pages[i] >= 0; i++) {
		ck_assert_msg((uint64_t)pages[i] < np, "line %d: bad expected page %ld", line,
			      pages[i]);
		exp[pages[i] / 64] |= UINT64_C(1) << (pages[i] % 64);
	}
	got[nw] = 0xdeadbeef;
	n = vmmem_region_dirty_get_and_clear(r, 0, vmmem_region_size(r), got, nw + 1);
	ck_assert_msg(n == (ssize_t)np, "line %d (%s): get_and_clear returned %zd, expected %llu",
		      line, what, n, (unsigned long long)np);
	ck_assert_msg(got[nw] == 0, "line %d (%s): word past the range not zeroed", line, what);
	for (uint64_t p = 0; p < np; p++) {
		int g = (int)((got[p / 64] >> (p % 64)) & 1), e = (int)((exp[p / 64] >> (p % 64)) & 1);

		ck_assert_msg(g == e, "line %d (%s): region 0x%llx page %llu is %s, expected %s", line,
			      what, (unsigned long long)vmmem_region_gpa(r), (unsigned long long)p,
			      g ? "dirty" : "clean", e ? "dirty" : "clean");
	}
	ck_assert_msg(vmmem_region_dirty_count(r) == 0, "line %d (%s): bits left after get_and_clear",
		      line, what);
	free(got);
	free(exp);
}

#define EXPECT_DIRTY(r, what, ...) expect_dirty_at((r), (const long[]){ __VA_ARGS__, -1 }, (what), __LINE__)
#define EXPECT_CLEAN(r, what) expect_dirty_at((r), (const long[]){ -1 }, (what), __LINE__)

static uint8_t pattern_buf[0x20000];

static const uint8_t *pattern(void)
{
	if (pattern_buf[1] == 0)
		for (size_t i = 0; i < sizeof(pattern_buf); i++)
			pattern_buf[i] = (uint8_t)(i * 7 + 1);
	return pattern_buf;
}

/* A pipe holding @n pattern bytes; *wfd closed if @close_w. */
static void pipe_with(int fds[2], size_t n, bool close_w)
{
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], pattern(), n), (ssize_t)n);
	if (close_w) {
		close(fds[1]);
		fds[1] = -1;
	}
}

/* A memfd holding @n pattern bytes. */
static int file_with(size_t n)
{
	int fd = tu_memfd(n);

	ck_assert_int_eq(pwrite(fd, pattern(), n, 0), (ssize_t)n);
	return fd;
}

/* ---------------------------------------------------------------------------------------- */
/* enable / disable / page size                                                             */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_dirty_enable_page_sizes)
{
	struct vmmem_region *r = tu_anon_region(0, 0x10000, 0);
	static const uint64_t good[] = { 4096, 8192, 2 * MiB, 64 * KiB, 1 * GiB };
	static const uint64_t bad[] = { 1, 3, 1000, 2048, 4095, 4097, 6000, 12288, 3 * MiB };

	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 0);
	ck_assert_int_eq(vmmem_region_dirty_enable(r, 0), 0);
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 4096);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(vmmem_region_dirty_disable(r), 0);
		ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 0);
		ck_assert_int_eq(vmmem_region_dirty_enable(r, good[i]), 0);
		ck_assert_uint_eq(vmmem_region_dirty_page_size(r), good[i]);
		ck_assert_int_eq(vmmem_region_dirty_count(r), 0);
	}
	/* bad sizes: refused, tracking left as it was (here: 1 GiB pages, then off) */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(vmmem_region_dirty_enable(r, bad[i]) == -EINVAL, "page size %llu",
			      (unsigned long long)bad[i]);
		ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 1 * GiB);
	}
	ck_assert_int_eq(vmmem_region_dirty_disable(r), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(vmmem_region_dirty_enable(r, bad[i]), -EINVAL);
		ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 0);
	}
	/* disabling twice is fine */
	ck_assert_int_eq(vmmem_region_dirty_disable(r), 0);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_dirty_reenable_keeps_or_resets_bits)
{
	struct vmmem_region *r = region_at(0, 0x10000, 4096);

	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0x3000, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x3000), 1);
	/* same size (0 means 4096): bits kept */
	ck_assert_int_eq(vmmem_region_dirty_enable(r, 0), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x3000), 1);
	ck_assert_int_eq(vmmem_region_dirty_enable(r, 4096), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x3000), 1);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 1);
	/* a different size: a fresh, clean bitmap */
	ck_assert_int_eq(vmmem_region_dirty_enable(r, 8192), 0);
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 8192);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x3000), 0);
	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0x5000, 1), 0);
	EXPECT_DIRTY(r, "8K page of 0x5000", 2);
	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0x5000, 1), 0);
	/* back to 4096: clean again (the old 4K bit of page 3 is gone too) */
	ck_assert_int_eq(vmmem_region_dirty_enable(r, 4096), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x3000), 0);
	EXPECT_CLEAN(r, "after switching back to 4K");
	/* disable then enable with the same size: bits were dropped */
	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0x7000, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_disable(r), 0);
	ck_assert_int_eq(vmmem_region_dirty_enable(r, 4096), 0);
	EXPECT_CLEAN(r, "disable drops bits");
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_dirty_disabled_not_tracked)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, 0x10000, 4096, &r);
	uint64_t words[4] = { 0 };
	uint64_t kvm[1] = { 1 };
	uint8_t b = 1;

	ck_assert_int_eq(vmmem_region_dirty_disable(r), 0);
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0), VMMEM_E_NOT_TRACKED);
	/* Untracked and out of range: untracked is what is reported. */
	ck_assert_int_eq(vmmem_region_dirty_test(r, UINT64_MAX), VMMEM_E_NOT_TRACKED);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, 0x10000, words, 4),
			 VMMEM_E_NOT_TRACKED);
	ck_assert_int_eq(vmmem_region_dirty_clear(r, 0, 0x1000), VMMEM_E_NOT_TRACKED);
	ck_assert_int_eq(vmmem_region_dirty_count(r), VMMEM_E_NOT_TRACKED);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm, 1), VMMEM_E_NOT_TRACKED);
	/* mark is a no-op when off; writes are not recorded either */
	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0x1000, 0x3000), 0);
	ck_assert_int_eq(vmmem_memory_write(m, 0x2000, &b, 1), 1);
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0x4000, 0x10), 0);
	ck_assert_int_eq(vmmem_region_dirty_enable(r, 4096), 0);
	EXPECT_CLEAN(r, "marks while off are not kept");
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_null_arguments)
{
	struct vmmem_region *r = region_at(0, 0x10000, 4096);
	uint64_t words[1];
	uint64_t kvm[1] = { 0 };
	struct vmmem_memory *out = NULL;
	uint8_t buf[8];

	ck_assert_int_eq(vmmem_region_dirty_enable(NULL, 0), -EINVAL);
	ck_assert_int_eq(vmmem_region_dirty_disable(NULL), -EINVAL);
	ck_assert_uint_eq(vmmem_region_dirty_page_size(NULL), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(NULL, 0), -EINVAL);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(NULL, 0, 0x1000, words, 1), -EINVAL);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, 0x1000, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_region_dirty_clear(NULL, 0, 0x1000), -EINVAL);
	ck_assert_int_eq(vmmem_region_dirty_mark(NULL, 0, 0x1000), -EINVAL);
	ck_assert_int_eq(vmmem_region_dirty_count(NULL), -EINVAL);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(NULL, kvm, 1), -EINVAL);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_mark_dirty(NULL, 0, 1), -EINVAL);
	ck_assert_int_eq(vmmem_slice_mark_dirty(NULL, 0, 1), -EINVAL);
	ck_assert_int_eq(vmmem_vhost_log_new(NULL, buf, 8, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(vmmem_vhost_log_ref(NULL));
	ck_assert_ptr_null(vmmem_vhost_log_unref(NULL));
	ck_assert_int_eq(vmmem_memory_set_vhost_log(NULL, NULL, &out), -EINVAL);
	ck_assert_ptr_null(vmmem_memory_vhost_log(NULL));
	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(NULL, buf, 8, false), -EINVAL);
	/* nothing was marked by the failed calls */
	EXPECT_CLEAN(r, "after NULL calls");
	vmmem_region_unref(r);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Write paths through a memory                                                             */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_dirty_memory_write_marks_touched_pages)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, 0x10000, 4096, &r);
	const uint8_t *p = pattern();
	size_t done = 99;

	EXPECT_CLEAN(r, "fresh");
	ck_assert_int_eq(vmmem_memory_write(m, 0x1000, p, 1), 1);
	EXPECT_DIRTY(r, "write 1 @0x1000", 1);
	ck_assert_int_eq(vmmem_memory_write(m, 0x1fff, p, 1), 1);
	EXPECT_DIRTY(r, "write 1 @0x1fff", 1);
	ck_assert_int_eq(vmmem_memory_write(m, 0x2fff, p, 0x1002), 0x1002);
	EXPECT_DIRTY(r, "write 0x1002 @0x2fff", 2, 3, 4);
	ck_assert_int_eq(vmmem_memory_write(m, 0xfff8, p, 8), 8);
	EXPECT_DIRTY(r, "write 8 @0xfff8", 15);
	ck_assert_int_eq(vmmem_memory_write(m, 0x5000, p, 0), 0);
	EXPECT_CLEAN(r, "write 0 bytes");
	ck_assert_int_eq(vmmem_memory_write(m, 0x10000, p, 4), VMMEM_E_UNMAPPED);
	EXPECT_CLEAN(r, "unmapped write");
	/* short write at the end of memory: only the bytes written */
	ck_assert_int_eq(vmmem_memory_write(m, 0xff00, p, 0x200), 0x100);
	EXPECT_DIRTY(r, "short write @0xff00", 15);

	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x6000, p, 0x2000, &done), 0);
	ck_assert_uint_eq(done, 0x2000);
	EXPECT_DIRTY(r, "write_exact 0x2000 @0x6000", 6, 7);
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x9800, p, 0x1000, NULL), 0);
	EXPECT_DIRTY(r, "write_exact 0x1000 @0x9800", 9, 10);
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0xef00, p, 0x1200, &done), VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x1100);
	EXPECT_DIRTY(r, "partial write_exact", 14, 15);
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x20000, p, 8, &done), VMMEM_E_UNMAPPED);
	EXPECT_CLEAN(r, "unmapped write_exact");
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_write_across_two_regions)
{
	struct vmmem_region *regs[3] = { region_at(0, 0x10000, 4096),
					 region_at(0x10000, 0x10000, 4096),
					 region_at(0x30000, 0x10000, 4096) };
	struct vmmem_region *r0 = regs[0], *r1 = regs[1], *r2 = regs[2];
	struct vmmem_memory *m = mem_of(regs, 3);
	const uint8_t *p = pattern();
	size_t done = 0;

	ck_assert_int_eq(vmmem_memory_write(m, 0xff80, p, 0x100), 0x100);
	EXPECT_DIRTY(r0, "write across: first region", 15);
	EXPECT_DIRTY(r1, "write across: second region", 0);
	EXPECT_CLEAN(r2, "write across: third region");
	ck_assert_int_eq(vmmem_memory_write(m, 0x8000, p, 0x10000), 0x10000);
	EXPECT_DIRTY(r0, "64K across", 8, 9, 10, 11, 12, 13, 14, 15);
	EXPECT_DIRTY(r1, "64K across", 0, 1, 2, 3, 4, 5, 6, 7);
	/* a hole after r1 ends the write: r2 untouched */
	ck_assert_int_eq(vmmem_memory_write(m, 0x1ff00, p, 0x200), 0x100);
	EXPECT_DIRTY(r1, "short write before hole", 15);
	EXPECT_CLEAN(r2, "after hole");
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0xfffc, p, 8, &done), 0);
	EXPECT_DIRTY(r0, "write_exact across", 15);
	EXPECT_DIRTY(r1, "write_exact across", 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0xfffc, p, 8), 0);
	EXPECT_DIRTY(r0, "write_obj 8 across", 15);
	EXPECT_DIRTY(r1, "write_obj 8 across", 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0xffd0, p, 100), 0);
	EXPECT_DIRTY(r0, "write_obj 100 across", 15);
	EXPECT_DIRTY(r1, "write_obj 100 across", 0);
	EXPECT_CLEAN(r2, "end");
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_read_only_region_not_marked)
{
	struct vmmem_region *regs[2] = { region_at(0, 0x10000, 4096), NULL };
	struct vmmem_region *r0 = regs[0], *r1;
	struct vmmem_memory *m;
	const uint8_t *p = pattern();

	regs[1] = tu_anon_region(0x10000, 0x10000, VMMEM_REGION_READ_ONLY);
	r1 = regs[1];
	ck_assert_int_eq(vmmem_region_dirty_enable(r1, 0), 0);
	m = mem_of(regs, 2);
	ck_assert_int_eq(vmmem_memory_write(m, 0xff00, p, 0x200), 0x100);
	EXPECT_DIRTY(r0, "write stopped by read-only region", 15);
	EXPECT_CLEAN(r1, "read-only region");
	ck_assert_int_eq(vmmem_memory_write(m, 0x10000, p, 4), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0x10000, 1, VMMEM_ORDER_RELAXED),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x10000, p, 8), VMMEM_E_READ_ONLY);
	EXPECT_CLEAN(r1, "refused writes");
	EXPECT_CLEAN(r0, "refused writes");
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_write_obj_sizes)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, 0x10000, 4096, &r);
	const uint8_t *p = pattern();
	uint8_t back[100];

	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x1000, p, 1), 0);
	EXPECT_DIRTY(r, "write_obj 1", 1);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x2008, p, 8), 0);
	EXPECT_DIRTY(r, "write_obj 8", 2);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x3010, p, 100), 0);
	EXPECT_DIRTY(r, "write_obj 100", 3);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x4ffc, p, 8), 0);
	EXPECT_DIRTY(r, "write_obj 8 straddling", 4, 5);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x6fd0, p, 100), 0);
	EXPECT_DIRTY(r, "write_obj 100 straddling", 6, 7);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x8fff, p, 2), 0);
	EXPECT_DIRTY(r, "write_obj 2 straddling", 8, 9);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0xaffd, p, 4), 0);
	EXPECT_DIRTY(r, "write_obj 4 straddling (unaligned)", 10, 11);
	/* the data went where it should */
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x6fd0, back, 100), 0);
	ck_assert_mem_eq(back, p, 100);
	/* partial write_obj at the end: the part inside is written and marked */
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0xfffc, p, 8), VMMEM_E_PARTIAL);
	EXPECT_DIRTY(r, "partial write_obj", 15);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x10000, p, 8), VMMEM_E_UNMAPPED);
	EXPECT_CLEAN(r, "unmapped write_obj");
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_atomic_stores)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, 0x10000, 4096, &r);
	uint64_t v = 0;

	ck_assert_int_eq(vmmem_memory_store_u8(m, 0x1000, 0xab, VMMEM_ORDER_RELAXED), 0);
	EXPECT_DIRTY(r, "store_u8", 1);
	ck_assert_int_eq(vmmem_memory_store_u16(m, 0x2ffe, 0xabcd, VMMEM_ORDER_RELEASE), 0);
	EXPECT_DIRTY(r, "store_u16", 2);
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0x3ffc, 0x12345678, VMMEM_ORDER_SEQ_CST), 0);
	EXPECT_DIRTY(r, "store_u32", 3);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 0xfff8, UINT64_C(0x1122334455667788),
						VMMEM_ORDER_SEQ_CST), 0);
	EXPECT_DIRTY(r, "store_u64", 15);
	ck_assert_int_eq(vmmem_memory_load_u64(m, 0xfff8, VMMEM_ORDER_ACQUIRE, &v), 0);
	ck_assert_uint_eq(v, UINT64_C(0x1122334455667788));
	/* refused stores mark nothing */
	ck_assert_int_eq(vmmem_memory_store_u64(m, 0x4004, 1, VMMEM_ORDER_RELAXED),
			 VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0x5000, 1, VMMEM_ORDER_ACQUIRE), -EINVAL);
	ck_assert_int_eq(vmmem_memory_store_u16(m, 0x10000, 1, VMMEM_ORDER_RELAXED),
			 VMMEM_E_UNMAPPED);
	EXPECT_CLEAN(r, "refused stores");
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_read_from_fd_pipe)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, 0x10000, 4096, &r);
	uint8_t back[0x300];
	size_t done = 0;
	int fds[2];

	/* read_from_fd: 0x200 bytes available, 0x3000 asked: pages 1, 2 only */
	pipe_with(fds, 0x200, false);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x1f00, fds[0], 0x3000, -1), 0x200);
	EXPECT_DIRTY(r, "short pipe read", 1, 2);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x1f00, back, 0x200), 0);
	ck_assert_mem_eq(back, pattern(), 0x200);
	/* read_exact_from_fd with everything there */
	ck_assert_int_eq(write(fds[1], pattern(), 0x1800), 0x1800);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x4800, fds[0], 0x1800, -1, &done), 0);
	ck_assert_uint_eq(done, 0x1800);
	EXPECT_DIRTY(r, "read_exact from pipe", 4, 5);
	/* short read_exact: 0x300 bytes then end of file: pages 8, 9 only (not 10) */
	ck_assert_int_eq(write(fds[1], pattern(), 0x300), 0x300);
	close(fds[1]);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x8f00, fds[0], 0x2000, -1, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x300);
	EXPECT_DIRTY(r, "short read_exact from pipe", 8, 9);
	/* end of file: 0 bytes, nothing marked */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0xc000, fds[0], 0x100, -1), 0);
	EXPECT_CLEAN(r, "EOF");
	close(fds[0]);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_read_from_fd_file)
{
	struct vmmem_region *regs[2] = { region_at(0, 0x10000, 4096),
					 region_at(0x10000, 0x10000, 4096) };
	struct vmmem_region *r0 = regs[0], *r1 = regs[1];
	struct vmmem_memory *m = mem_of(regs, 2);
	int fd = file_with(0x1800);
	size_t done = 0;
	int fds[2];

	/* preadv at offset 0: the file has 0x1800 bytes, 0x4000 asked */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0xa800, fd, 0x4000, 0), 0x1800);
	EXPECT_DIRTY(r0, "short file read", 10, 11);
	/* read_exact at file offset 0x800: 0x1000 left */
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x3000, fd, 0x2000, 0x800, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x1000);
	EXPECT_DIRTY(r0, "short read_exact from file", 3);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0xc000, fd, 0x1800, 0, &done), 0);
	EXPECT_DIRTY(r0, "read_exact from file", 12, 13);
	/* file position reads (offset -1) */
	ck_assert_int_eq(lseek(fd, 0x1000, SEEK_SET), 0x1000);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x5000, fd, 0x1000, -1), 0x800);
	EXPECT_DIRTY(r0, "read at file position", 5);
	/* across two regions */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0xff80, fd, 0x100, 0), 0x100);
	EXPECT_DIRTY(r0, "file read across regions", 15);
	EXPECT_DIRTY(r1, "file read across regions", 0);
	pipe_with(fds, 0x100, true);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0xfff0, fds[0], 0x100, -1), 0x100);
	EXPECT_DIRTY(r0, "pipe read across regions", 15);
	EXPECT_DIRTY(r1, "pipe read across regions", 0);
	close(fds[0]);
	close(fd);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_slice_write_paths)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, 0x10000, 4096, &r);
	const uint8_t *p = pattern();
	struct vmmem_slice s, src, dst, buf_s;
	struct vmmem_array a, one;
	uint8_t hostbuf[0x200];
	uint64_t v8 = 7;

	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x4000, 0x4000, VMMEM_ACCESS_RW, &s), 0);
	EXPECT_CLEAN(r, "get_slice alone");

	ck_assert_int_eq(vmmem_slice_write(&s, 0x10, p, 4), 4);
	EXPECT_DIRTY(r, "slice_write", 4);
	ck_assert_int_eq(vmmem_slice_write(&s, 0xffe, p, 4), 4);
	EXPECT_DIRTY(r, "slice_write straddling", 4, 5);
	ck_assert_int_eq(vmmem_slice_write(&s, 0x3ff0, p, 0x100), 0x10);
	EXPECT_DIRTY(r, "short slice_write", 7);
	ck_assert_int_eq(vmmem_slice_write(&s, 0x4000, p, 1), VMMEM_E_OUT_OF_BOUNDS);
	EXPECT_CLEAN(r, "slice_write out of bounds");

	ck_assert_int_eq(vmmem_slice_write_obj(&s, 0x1ffc, p, 8), 0);
	EXPECT_DIRTY(r, "slice_write_obj straddling", 5, 6);
	ck_assert_int_eq(vmmem_slice_write_obj(&s, 0x3ffc, p, 8), VMMEM_E_PARTIAL);
	EXPECT_DIRTY(r, "partial slice_write_obj", 7);

	ck_assert_int_eq(vmmem_slice_copy_from(&s, p, 0x1001), 0x1001);
	EXPECT_DIRTY(r, "slice_copy_from", 4, 5);

	/* copy_to_slice: only the destination is marked */
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x8000, 0x2000, VMMEM_ACCESS_READ, &src), 0);
	ck_assert_int_eq(vmmem_slice_subslice(&s, 0xf00, 0x200, &dst), 0);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&src, &dst), 0x200);
	EXPECT_DIRTY(r, "copy_to_slice dst", 4, 5);
	ck_assert_int_eq(vmmem_slice_from_buffer(&buf_s, hostbuf, sizeof(hostbuf), 0), 0);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&src, &buf_s), 0x200);
	EXPECT_CLEAN(r, "copy_to_slice into a buffer");
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 1, 0x100, &a), 0);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&buf_s, &a.slice), 0x100);
	EXPECT_DIRTY(r, "copy_to_slice from a buffer", 4);

	/* atomic stores through the slice */
	ck_assert_int_eq(vmmem_slice_store_u8(&s, 0, 1, VMMEM_ORDER_RELAXED), 0);
	EXPECT_DIRTY(r, "slice_store_u8", 4);
	ck_assert_int_eq(vmmem_slice_store_u16(&s, 0x1000, 1, VMMEM_ORDER_RELEASE), 0);
	EXPECT_DIRTY(r, "slice_store_u16", 5);
	ck_assert_int_eq(vmmem_slice_store_u32(&s, 0x2000, 1, VMMEM_ORDER_SEQ_CST), 0);
	EXPECT_DIRTY(r, "slice_store_u32", 6);
	ck_assert_int_eq(vmmem_slice_store_u64(&s, 0x3ff8, 1, VMMEM_ORDER_SEQ_CST), 0);
	EXPECT_DIRTY(r, "slice_store_u64", 7);
	ck_assert_int_eq(vmmem_slice_store_u64(&s, 0x3ffc, 1, VMMEM_ORDER_SEQ_CST),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_store_u64(&s, 0x4, 1, VMMEM_ORDER_SEQ_CST), VMMEM_E_MISALIGNED);
	EXPECT_CLEAN(r, "refused slice stores");

	/* arrays: 0x200 u64 at slice offset 0x800 = region 0x4800..0x57ff */
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0x800, 8, 0x200, &a), 0);
	EXPECT_CLEAN(r, "get_array alone");
	ck_assert_int_eq(vmmem_array_store(&a, 0, &v8), 0);
	EXPECT_DIRTY(r, "array_store 0", 4);
	ck_assert_int_eq(vmmem_array_store(&a, 0x100, &v8), 0);
	EXPECT_DIRTY(r, "array_store 0x100", 5);
	ck_assert_int_eq(vmmem_array_ref_at(&a, 0x1ff, &one), 0);
	ck_assert_int_eq(vmmem_array_store(&one, 0, &v8), 0);
	EXPECT_DIRTY(r, "ref_at store", 5);
	ck_assert_int_eq(vmmem_array_copy_from(&a, pattern_buf, 0x200), 0x200);
	EXPECT_DIRTY(r, "array_copy_from all", 4, 5);
	ck_assert_int_eq(vmmem_array_copy_from(&a, pattern_buf, 1), 1);
	EXPECT_DIRTY(r, "array_copy_from 1", 4);
	ck_assert_int_eq(vmmem_array_store(&a, 0x200, &v8), VMMEM_E_OUT_OF_BOUNDS);
	EXPECT_CLEAN(r, "array_store out of bounds");

	/* a slice of the region (no memory) marks the region bitmap too */
	ck_assert_int_eq(vmmem_region_get_slice(r, 0x9000, 0x10, VMMEM_ACCESS_WRITE, &s), 0);
	ck_assert_int_eq(vmmem_slice_write(&s, 0, p, 0x10), 0x10);
	EXPECT_DIRTY(r, "region slice write", 9);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_mark_dirty_pointer_writes)
{
	struct vmmem_region *regs[3] = { region_at(0, 0x10000, 4096),
					 region_at(0x10000, 0x10000, 4096),
					 region_at(0x30000, 0x10000, 4096) };
	struct vmmem_region *r0 = regs[0], *r1 = regs[1], *r2 = regs[2];
	struct vmmem_memory *m = mem_of(regs, 3);
	struct vmmem_slice s, b;
	uint8_t hostbuf[16];
	void *host = NULL;
	uint64_t contiguous = 0;

	/* writes through translated pointers are the caller's to mark */
	ck_assert_int_eq(vmmem_memory_translate(m, 0x3000, VMMEM_ACCESS_WRITE, &host, &contiguous),
			 0);
	memset(host, 0x5a, 0x10);
	EXPECT_CLEAN(r0, "pointer write without mark");
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0x3000, 0x10), 0);
	EXPECT_DIRTY(r0, "mark_dirty 0x3000", 3);
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0x5fff, 2), 0);
	EXPECT_DIRTY(r0, "mark_dirty straddling", 5, 6);
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0xf000, 0x2000), 0);
	EXPECT_DIRTY(r0, "mark_dirty across regions", 15);
	EXPECT_DIRTY(r1, "mark_dirty across regions", 0);
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0x7000, 0), 0);
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0x20000, 0), 0);
	/* a hole anywhere in the range: nothing marked */
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0x1f000, 0x2000), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0x2f000, 0x2000), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0x20000, 1), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, UINT64_MAX, 2), -EOVERFLOW);
	EXPECT_CLEAN(r0, "refused marks");
	EXPECT_CLEAN(r1, "refused marks");
	EXPECT_CLEAN(r2, "refused marks");

	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x34000, 0x4000, VMMEM_ACCESS_RW, &s), 0);
	memset(s.ptr, 1, 0x20);
	EXPECT_CLEAN(r2, "slice ptr write without mark");
	ck_assert_int_eq(vmmem_slice_mark_dirty(&s, 0xfff, 2), 0);
	EXPECT_DIRTY(r2, "slice_mark_dirty straddling", 4, 5);
	ck_assert_int_eq(vmmem_slice_mark_dirty(&s, 0, 0x4000), 0);
	EXPECT_DIRTY(r2, "slice_mark_dirty whole", 4, 5, 6, 7);
	ck_assert_int_eq(vmmem_slice_mark_dirty(&s, 0x4000, 0), 0);
	ck_assert_int_eq(vmmem_slice_mark_dirty(&s, 0x3fff, 2), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_slice_mark_dirty(&s, SIZE_MAX, 2), VMMEM_E_OUT_OF_BOUNDS);
	EXPECT_CLEAN(r2, "refused slice marks");
	ck_assert_int_eq(vmmem_slice_from_buffer(&b, hostbuf, sizeof(hostbuf), 0), 0);
	ck_assert_int_eq(vmmem_slice_mark_dirty(&b, 0, 16), 0);
	EXPECT_CLEAN(r0, "buffer slice mark");
	EXPECT_CLEAN(r1, "buffer slice mark");
	EXPECT_CLEAN(r2, "buffer slice mark");

	/* region-level mark */
	ck_assert_int_eq(vmmem_region_dirty_mark(r1, 0x2fff, 0x1002), 0);
	EXPECT_DIRTY(r1, "region_dirty_mark", 2, 3, 4);
	ck_assert_int_eq(vmmem_region_dirty_mark(r1, 0xffff, 2), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_dirty_mark(r1, 0x10000, 0), 0);
	ck_assert_int_eq(vmmem_region_dirty_mark(r1, UINT64_MAX, 2), VMMEM_E_OUT_OF_BOUNDS);
	EXPECT_CLEAN(r1, "refused region marks");
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_reads_never_mark)
{
	struct vmmem_region *regs[2] = { region_at(0, 0x10000, 4096),
					 region_at(0x10000, 0x10000, 4096) };
	struct vmmem_region *r0 = regs[0], *r1 = regs[1];
	struct vmmem_memory *m = mem_of(regs, 2);
	uint8_t buf[0x3000];
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	struct vmmem_slice s, sl[4], bs;
	struct vmmem_array a;
	struct iovec iov[4];
	size_t n = 0, done = 0;
	void *host;
	int fd = tu_memfd(0);

	ck_assert_int_eq(vmmem_memory_write(m, 0, pattern(), 0x20000), 0x20000);
	EXPECT_DIRTY(r0, "setup", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	EXPECT_DIRTY(r1, "setup", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

	ck_assert_int_eq(vmmem_memory_read(m, 0xf000, buf, 0x3000), 0x3000);
	ck_assert_int_eq(vmmem_memory_read_exact(m, 0x1000, buf, 0x100, &done), 0);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x2000, buf, 1), 0);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x3000, buf, 8), 0);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0xffd0, buf, 100), 0);
	ck_assert_int_eq(vmmem_memory_load_u8(m, 0x4000, VMMEM_ORDER_RELAXED, &u8), 0);
	ck_assert_int_eq(vmmem_memory_load_u16(m, 0x5000, VMMEM_ORDER_ACQUIRE, &u16), 0);
	ck_assert_int_eq(vmmem_memory_load_u32(m, 0x6000, VMMEM_ORDER_SEQ_CST, &u32), 0);
	ck_assert_int_eq(vmmem_memory_load_u64(m, 0x7000, VMMEM_ORDER_SEQ_CST, &u64), 0);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0x8000, fd, 0x2000, -1), 0x2000);
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0xf800, fd, 0x1000, 0, &done), 0);
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0xf000, 0x2000, VMMEM_ACCESS_WRITE, sl, 4, &n),
			 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0xf000, 0x2000, VMMEM_ACCESS_RW, iov, 4, &n), 0);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x9000, VMMEM_ACCESS_RW, &host, NULL), 0);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0xa000, 0x2000, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_int_eq(vmmem_slice_read(&s, 0, buf, 0x2000), 0x2000);
	ck_assert_int_eq(vmmem_slice_read_obj(&s, 0xffc, buf, 8), 0);
	ck_assert_int_eq(vmmem_slice_copy_to(&s, buf, 0x100), 0x100);
	ck_assert_int_eq(vmmem_slice_load_u8(&s, 0, VMMEM_ORDER_RELAXED, &u8), 0);
	ck_assert_int_eq(vmmem_slice_load_u16(&s, 2, VMMEM_ORDER_RELAXED, &u16), 0);
	ck_assert_int_eq(vmmem_slice_load_u32(&s, 4, VMMEM_ORDER_RELAXED, &u32), 0);
	ck_assert_int_eq(vmmem_slice_load_u64(&s, 8, VMMEM_ORDER_RELAXED, &u64), 0);
	ck_assert_int_eq(vmmem_slice_from_buffer(&bs, buf, 0x100, 0), 0);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&s, &bs), 0x100);
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0x10, 4, 0x100, &a), 0);
	ck_assert_int_eq(vmmem_array_load(&a, 3, &u32), 0);
	ck_assert_int_eq(vmmem_array_copy_to(&a, buf, 0x100), 0x100);
	EXPECT_CLEAN(r0, "reads");
	EXPECT_CLEAN(r1, "reads");
	close(fd);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_untracked_region_unaffected)
{
	struct vmmem_region *regs[2] = { region_at(0, 0x10000, 4096),
					 region_at(0x10000, 0x10000, UNTRACKED) };
	struct vmmem_region *r0 = regs[0], *r1 = regs[1];
	struct vmmem_memory *m = mem_of(regs, 2);
	const uint8_t *p = pattern();

	ck_assert_int_eq(vmmem_memory_write(m, 0x10000, p, 0x10000), 0x10000);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x12000, p, 8), 0);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 0x13000, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_memory_mark_dirty(m, 0x10000, 0x10000), 0);
	EXPECT_CLEAN(r0, "writes to the untracked region");
	ck_assert_int_eq(vmmem_region_dirty_count(r1), VMMEM_E_NOT_TRACKED);
	ck_assert_int_eq(vmmem_region_dirty_test(r1, 0), VMMEM_E_NOT_TRACKED);
	ck_assert_int_eq(vmmem_memory_write(m, 0xf000, p, 0x2000), 0x2000);
	EXPECT_DIRTY(r0, "write across into the untracked region", 15);
	ck_assert_int_eq(vmmem_region_dirty_count(r1), VMMEM_E_NOT_TRACKED);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_dirty_region_shared_by_two_memories)
{
	struct vmmem_region *r = region_at(0x10000, 0x10000, 4096);
	struct vmmem_region *other = tu_anon_region(0, 0x1000, 0);
	struct vmmem_memory *m1 = NULL, *m2 = NULL;

	ck_assert_int_eq(vmmem_memory_new(&m1, &r, 1), 0);
	ck_assert_int_eq(vmmem_memory_insert_region(m1, other, &m2), 0);
	ck_assert_int_eq(vmmem_memory_store_u8(m1, 0x11000, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_memory_store_u8(m2, 0x13000, 1, VMMEM_ORDER_RELAXED), 0);
	EXPECT_DIRTY(r, "writes via both memories", 1, 3);
	vmmem_memory_unref(m1);
	vmmem_memory_unref(m2);
	vmmem_region_unref(other);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_dirty_big_page_granularity)
{
	struct vmmem_region *r8 = NULL, *r2m = NULL, *rodd = NULL;
	struct vmmem_memory *m8 = mem1(0, 0x10000, 8192, &r8);
	struct vmmem_memory *m2m = mem1(0, 4 * MiB, 2 * MiB, &r2m);
	struct vmmem_memory *modd = mem1(0, 0x3000, 8192, &rodd);
	const uint8_t *p = pattern();

	ck_assert_uint_eq(npages_of(r8), 8);
	ck_assert_int_eq(vmmem_memory_write(m8, 0x3000, p, 1), 1);
	EXPECT_DIRTY(r8, "8K: 1 byte @0x3000", 1);
	ck_assert_int_eq(vmmem_memory_write_obj(m8, 0x1fff, p, 2), 0);
	EXPECT_DIRTY(r8, "8K: 2 bytes @0x1fff", 0, 1);
	ck_assert_int_eq(vmmem_memory_store_u32(m8, 0xfffc, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r8, 0xe000), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r8, 0xdfff), 0);
	EXPECT_DIRTY(r8, "8K: store at the end", 7);

	ck_assert_uint_eq(npages_of(r2m), 2);
	ck_assert_int_eq(vmmem_memory_write(m2m, 0x200001, p, 1), 1);
	ck_assert_int_eq(vmmem_region_dirty_count(r2m), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r2m, 0x200000), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r2m, 0x3fffff), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r2m, 0x1fffff), 0);
	EXPECT_DIRTY(r2m, "2M: 1 byte", 1);
	ck_assert_int_eq(vmmem_memory_write(m2m, 0x1fffff, p, 2), 2);
	EXPECT_DIRTY(r2m, "2M: straddling", 0, 1);
	ck_assert_int_eq(vmmem_memory_store_u8(m2m, 0x10, 1, VMMEM_ORDER_RELAXED), 0);
	EXPECT_DIRTY(r2m, "2M: store", 0);

	/* a region that is not a whole number of tracking pages */
	ck_assert_uint_eq(npages_of(rodd), 2);
	ck_assert_int_eq(vmmem_memory_write(modd, 0x2fff, p, 1), 1);
	EXPECT_DIRTY(rodd, "last partial page", 1);
	vmmem_memory_unref(m8);
	vmmem_memory_unref(m2m);
	vmmem_memory_unref(modd);
}
END_TEST

/* vm-memory §3.5 vectors (bitmap and volatile_memory tests) */
START_TEST(test_dirty_vm_memory_vectors)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, 0x10000, 4096, &r);
	const uint8_t *p = pattern();
	uint64_t v = UINT64_C(0x0102030405060708);
	struct vmmem_slice s, s2, head, tail;
	struct vmmem_array a, one;
	struct vmmem_region *regs2[2];
	struct vmmem_memory *m2;

	/* 64 KiB slice, 4 KiB pages: write_obj(u64) @0x1000 → [0x1000, 0x1008) dirty */
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0, 0x10000, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_int_eq(vmmem_slice_write_obj(&s, 0x1000, &v, 8), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x1000), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x1007), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0xfff), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x2000), 0);
	/* split_at(0x1000): first half clean, second dirty at 0 */
	ck_assert_int_eq(vmmem_slice_split_at(&s, 0x1000, &head, &tail), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(head.region, head.region_offset), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(tail.region, tail.region_offset), 1);
	EXPECT_DIRTY(r, "slice write_obj u64 @0x1000", 1);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x1000, &v, 8), 0);
	EXPECT_DIRTY(r, "memory write_obj u64 @0x1000", 1);

	/* copy_to_volatile_slice(slice2 64 KiB): slice2 fully dirty, source clean */
	regs2[0] = region_at(0, 0x10000, 4096);
	regs2[1] = region_at(0x10000, 0x10000, 4096);
	m2 = mem_of(regs2, 2);
	ck_assert_int_eq(vmmem_memory_get_slice(m2, 0, 0x10000, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_int_eq(vmmem_memory_get_slice(m2, 0x10000, 0x10000, VMMEM_ACCESS_RW, &s2), 0);
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&s, &s2), 0x10000);
	EXPECT_CLEAN(regs2[0], "copy source");
	EXPECT_DIRTY(regs2[1], "copy destination", 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
		     14, 15);
	/* fresh bitmap: copy_from(0x1000 × u8) / copy_from(0x400 × u32) → [0, 0x1000) dirty */
	ck_assert_int_eq(vmmem_slice_copy_from(&s, p, 0x1000), 0x1000);
	EXPECT_DIRTY(regs2[0], "copy_from 0x1000 u8", 0);
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 4, 0x400, &a), 0);
	ck_assert_int_eq(vmmem_array_copy_from(&a, p, 0x400), 0x400);
	EXPECT_DIRTY(regs2[0], "copy_from 0x400 u32", 0);
	/* VolatileArrayRef<u64> of 0x1001 elements: ref_at(0x1000).store / store(0x1000) →
	 * 0x8000..0x8008 dirty */
	ck_assert_int_eq(vmmem_slice_get_array(&s, 0, 8, 0x1001, &a), 0);
	ck_assert_int_eq(vmmem_array_ref_at(&a, 0x1000, &one), 0);
	ck_assert_int_eq(vmmem_array_store(&one, 0, &v), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(regs2[0], 0x8000), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(regs2[0], 0x7fff), 0);
	EXPECT_DIRTY(regs2[0], "ref_at(0x1000).store", 8);
	ck_assert_int_eq(vmmem_array_store(&a, 0x1000, &v), 0);
	EXPECT_DIRTY(regs2[0], "store(0x1000)", 8);
	vmmem_memory_unref(m2);

	/* GuestMemoryMmap [(0, 0x10000)]: write / write_slice / write_obj / store at 0x1000,
	 * 0x2000, 0x3000, 0x4000: dirty at those ranges, clean before */
	for (int i = 0; i < 4; i++) {
		uint64_t gpa = 0x1000 * (uint64_t)(i + 1);

		ck_assert_int_eq(vmmem_region_dirty_test(r, gpa), 0);
		ck_assert_int_eq(vmmem_memory_get_slice(m, gpa, 8, VMMEM_ACCESS_READ, &s), 0);
		ck_assert_int_eq(vmmem_region_dirty_test(s.region, s.region_offset), 0);
		switch (i) {
		case 0:
			ck_assert_int_eq(vmmem_memory_write(m, gpa, &v, 8), 8);
			break;
		case 1:
			ck_assert_int_eq(vmmem_memory_write_exact(m, gpa, &v, 8, NULL), 0);
			break;
		case 2:
			ck_assert_int_eq(vmmem_memory_write_obj(m, gpa, &v, 8), 0);
			break;
		default:
			ck_assert_int_eq(vmmem_memory_store_u64(m, gpa, v, VMMEM_ORDER_RELAXED), 0);
			break;
		}
		ck_assert_int_eq(vmmem_region_dirty_test(r, gpa), 1);
		ck_assert_int_eq(vmmem_region_dirty_test(r, gpa + 7), 1);
		ck_assert_int_eq(vmmem_region_dirty_test(r, gpa - 1), i == 0 ? 0 : 1);
		ck_assert_int_eq(vmmem_region_dirty_test(s.region, s.region_offset), 1);
		ck_assert_int_eq(vmmem_region_dirty_test(r, 0), 0);
		ck_assert_int_eq(vmmem_region_dirty_count(r), i + 1);
	}
	EXPECT_DIRTY(r, "four writes", 1, 2, 3, 4);
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* get_and_clear / clear / count / test                                                     */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_dirty_get_and_clear_word_layout)
{
	struct vmmem_region *r = region_at(0, 1 * MiB, 4096);
	static const uint64_t marked[] = { 0, 1, 63, 64, 65, 127, 128, 200, 255 };
	uint64_t w[6];

	for (size_t i = 0; i < sizeof(marked) / sizeof(marked[0]); i++)
		ck_assert_int_eq(vmmem_region_dirty_mark(r, marked[i] * PG + 5, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 9);
	for (size_t i = 0; i < sizeof(marked) / sizeof(marked[0]); i++)
		ck_assert_int_eq(vmmem_region_dirty_test(r, marked[i] * PG), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 2 * PG), 0);
	memset(w, 0xff, sizeof(w));
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, 1 * MiB, w, 6), 256);
	ck_assert_uint_eq(w[0], (UINT64_C(1) << 0) | (UINT64_C(1) << 1) | (UINT64_C(1) << 63));
	ck_assert_uint_eq(w[1], (UINT64_C(1) << 0) | (UINT64_C(1) << 1) | (UINT64_C(1) << 63));
	ck_assert_uint_eq(w[2], UINT64_C(1) << 0);
	ck_assert_uint_eq(w[3], (UINT64_C(1) << 8) | (UINT64_C(1) << 63));
	ck_assert_uint_eq(w[4], 0); /* words past the range are zeroed */
	ck_assert_uint_eq(w[5], 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 0);
	/* a second call finds nothing */
	memset(w, 0xff, sizeof(w));
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, 1 * MiB, w, 4), 256);
	ck_assert_uint_eq(w[0] | w[1] | w[2] | w[3], 0);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_dirty_get_and_clear_unaligned_word_offset)
{
	struct vmmem_region *r = region_at(0, 1 * MiB, 4096);
	static const uint64_t marked[] = { 2, 3, 4, 66, 67, 132, 133, 134 };
	uint64_t w[5];

	for (size_t i = 0; i < sizeof(marked) / sizeof(marked[0]); i++)
		ck_assert_int_eq(vmmem_region_dirty_mark(r, marked[i] * PG, PG), 0);
	/* pages 3 .. 132 (130 pages); output bit 0 = page 3 */
	memset(w, 0xff, sizeof(w));
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 3 * PG, 130 * PG, w, 2), -ENOBUFS);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 8); /* nothing taken */
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 3 * PG, 130 * PG, w, 5), 130);
	ck_assert_uint_eq(w[0], (UINT64_C(1) << 0) | (UINT64_C(1) << 1) | (UINT64_C(1) << 63));
	ck_assert_uint_eq(w[1], UINT64_C(1) << 0);         /* page 67 = bit 64 */
	ck_assert_uint_eq(w[2], UINT64_C(1) << 1);         /* page 132 = bit 129 */
	ck_assert_uint_eq(w[3], 0);
	ck_assert_uint_eq(w[4], 0);
	/* cleared exactly in the range: 2, 133, 134 remain */
	ck_assert_int_eq(vmmem_region_dirty_count(r), 3);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 2 * PG), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 133 * PG), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 134 * PG), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 3 * PG), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 132 * PG), 0);

	/* a length that is not a page multiple covers the partial page */
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 133 * PG, 1, w, 1), 1);
	ck_assert_uint_eq(w[0], 1);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 133 * PG, PG + 1, w, 1), 2);
	ck_assert_uint_eq(w[0], 2);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 1);
	/* exactly 64 pages starting mid-word, and 65 (needs 2 words) */
	for (uint64_t pg = 10; pg < 80; pg++)
		ck_assert_int_eq(vmmem_region_dirty_mark(r, pg * PG, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 10 * PG, 64 * PG, w, 1), 64);
	ck_assert_uint_eq(w[0], UINT64_MAX);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 5 * PG, 65 * PG, w, 1), -ENOBUFS);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 5 * PG, 76 * PG, w, 2), 76);
	ck_assert_uint_eq(w[0], 0);
	ck_assert_uint_eq(w[1], UINT64_C(0x3f) << 5); /* pages 74..79 = bits 69..74 */
	ck_assert_int_eq(vmmem_region_dirty_count(r), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 2 * PG), 1);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_dirty_get_and_clear_errors)
{
	struct vmmem_region *r = region_at(0, 0x10000, 4096);
	struct vmmem_region *r8 = region_at(0, 0x10000, 8192);
	uint64_t w[2] = { 0x55, 0x55 };

	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0, 0x10000), 0);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0x800, 0x1000, w, 2),
			 VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 1, 0, w, 2), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r8, 0x1000, 0x2000, w, 2),
			 VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0xf000, 0x1001, w, 2),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0x11000, 0x1000, w, 2),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, UINT64_MAX - 0xfff, 0x2000, w, 2),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, UINT64_MAX, w, 2),
			 VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, 0x10000, w, 0), -ENOBUFS);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, 0x10000, NULL, 0), -ENOBUFS);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, 0x10000, NULL, 1), -EINVAL);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 16); /* errors took nothing */
	/* len 0 → 0 pages, nothing taken */
	w[0] = 0x55;
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0x1000, 0, w, 1), 0);
	ck_assert_uint_eq(w[0], 0);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0x10000, 0, w, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 16);
	vmmem_region_unref(r);
	vmmem_region_unref(r8);
}
END_TEST

/* words may be NULL when nwords is 0 (the header refuses NULL only with nwords > 0) */
START_TEST(test_dirty_get_and_clear_len0_null_words)
{
	struct vmmem_region *r = region_at(0, 0x10000, 4096);

	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0, 0x10000), 0);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0x1000, 0, NULL, 0), 0);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0x10000, 0, NULL, 0), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 16);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_dirty_clear_count_test)
{
	struct vmmem_region *r = region_at(0, 0x10000, 4096);
	struct vmmem_region *rodd = region_at(0, 0x2800, 4096);

	ck_assert_int_eq(vmmem_region_dirty_count(r), 0);
	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0, 0x10000), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 16);
	/* clear touches pages 1 and 2 ([0x1800, 0x2800)) */
	ck_assert_int_eq(vmmem_region_dirty_clear(r, 0x1800, 0x1000), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 14);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x0fff), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x1000), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x2fff), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x3000), 1);
	ck_assert_int_eq(vmmem_region_dirty_clear(r, 0x5000, 0), 0);
	ck_assert_int_eq(vmmem_region_dirty_clear(r, 0xf000, 0x1001), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_dirty_clear(r, UINT64_MAX, 2), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 14);
	ck_assert_int_eq(vmmem_region_dirty_clear(r, 0xffff, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 13);
	EXPECT_DIRTY(r, "after clears", 0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0, 0x10000), 0);
	ck_assert_int_eq(vmmem_region_dirty_clear(r, 0, 0x10000), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 0);

	/* test: offset inside, at the last byte, and past the end */
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0xffff), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0x10000), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_dirty_test(r, UINT64_MAX), VMMEM_E_OUT_OF_BOUNDS);
	/* a region of 2.5 pages: 3 pages */
	ck_assert_int_eq(vmmem_region_dirty_mark(rodd, 0x27ff, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(rodd, 0x2000), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(rodd, 0x2800), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_region_dirty_mark(rodd, 0x2800, 1), VMMEM_E_OUT_OF_BOUNDS);
	EXPECT_DIRTY(rodd, "2.5 pages", 2);
	vmmem_region_unref(r);
	vmmem_region_unref(rodd);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Concurrency: get-and-clear never loses a bit                                             */
/* ---------------------------------------------------------------------------------------- */

#define CONC_PAGES 16384u

struct conc_writer {
	const struct vmmem_memory *m;
	uint64_t seed;
	size_t nwrites;
	bool distinct;        /* each page at most once (a permutation of own pages) */
	unsigned int parity;  /* distinct mode: pages with this parity */
	uint8_t *written;     /* private: CONC_PAGES entries */
	int errors;
};

struct conc_scanner {
	struct vmmem_region *r;
	uint64_t *acc; /* CONC_PAGES / 64 words */
	int stop;      /* atomic */
	int errors;
	unsigned long rounds;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void *conc_writer_main(void *arg)
{
	struct conc_writer *w = arg;
	uint32_t *perm = NULL;
	size_t nperm = 0;

	if (w->distinct) {
		perm = malloc(CONC_PAGES / 2 * sizeof(*perm));
		if (!perm) {
			w->errors++;
			return NULL;
		}
		for (uint32_t p = w->parity; p < CONC_PAGES; p += 2)
			perm[nperm++] = p;
		for (size_t i = nperm - 1; i > 0; i--) {
			size_t j = (size_t)(xorshift(&w->seed) % (i + 1));
			uint32_t t = perm[i];

			perm[i] = perm[j];
			perm[j] = t;
		}
		if (w->nwrites > nperm)
			w->nwrites = nperm;
	}
	for (size_t i = 0; i < w->nwrites; i++) {
		uint64_t page = perm ? perm[i] : xorshift(&w->seed) % CONC_PAGES;
		/* writers never share guest bytes (only pages and bitmap words) */
		uint64_t off = ((xorshift(&w->seed) % (PG / 16)) * 2 + w->parity) * 8;
		uint64_t val = i;

		if (vmmem_memory_write_obj(w->m, page * PG + off, &val, 8) != 0)
			w->errors++;
		w->written[page] = 1;
	}
	free(perm);
	return NULL;
}

static void *conc_scanner_main(void *arg)
{
	struct conc_scanner *s = arg;
	uint64_t w[CONC_PAGES / 64];

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		ssize_t n = vmmem_region_dirty_get_and_clear(s->r, 0, CONC_PAGES * PG, w,
							     CONC_PAGES / 64);

		if (n != CONC_PAGES) {
			s->errors++;
			break;
		}
		for (size_t i = 0; i < CONC_PAGES / 64; i++)
			s->acc[i] |= w[i];
		s->rounds++;
	}
	return NULL;
}

static void run_concurrent_get_and_clear(bool distinct, size_t per_writer)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, CONC_PAGES * PG, 4096, &r);
	struct conc_writer w[2];
	struct conc_scanner sc = { .r = r };
	pthread_t tw[2], ts;
	uint64_t last[CONC_PAGES / 64];
	size_t missing = 0, extra = 0, first_bad = SIZE_MAX;

	sc.acc = calloc(CONC_PAGES / 64, sizeof(uint64_t));
	ck_assert_ptr_nonnull(sc.acc);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct conc_writer){ .m = m, .seed = UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(i + 1),
					     .nwrites = per_writer, .distinct = distinct,
					     .parity = (unsigned int)i,
					     .written = calloc(CONC_PAGES, 1) };
		ck_assert_ptr_nonnull(w[i].written);
	}
	ck_assert_int_eq(pthread_create(&ts, NULL, conc_scanner_main, &sc), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&tw[i], NULL, conc_writer_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(tw[i], NULL), 0);
	__atomic_store_n(&sc.stop, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(pthread_join(ts, NULL), 0);
	ck_assert_int_eq(sc.errors, 0);
	ck_assert_int_eq(w[0].errors, 0);
	ck_assert_int_eq(w[1].errors, 0);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, CONC_PAGES * PG, last,
							  CONC_PAGES / 64), CONC_PAGES);
	for (size_t i = 0; i < CONC_PAGES / 64; i++)
		sc.acc[i] |= last[i];
	for (size_t p = 0; p < CONC_PAGES; p++) {
		bool want = w[0].written[p] || w[1].written[p];
		bool got = (sc.acc[p / 64] >> (p % 64)) & 1;

		if (want && !got)
			missing++;
		if (got && !want)
			extra++;
		if (want != got && first_bad == SIZE_MAX)
			first_bad = p;
	}
	ck_assert_msg(missing == 0 && extra == 0,
		      "%zu written pages never reported, %zu reported pages never written (first: "
		      "page %zu), %lu scans",
		      missing, extra, first_bad, sc.rounds);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 0);
	if (getenv("VMMEM_TEST_VERBOSE"))
		fprintf(stderr, "get_and_clear race: %zu + %zu writes, %lu scans\n", w[0].nwrites,
			w[1].nwrites, sc.rounds);
	free(w[0].written);
	free(w[1].written);
	free(sc.acc);
	vmmem_memory_unref(m);
}

static size_t conc_writes(void)
{
	if (under_valgrind())
		return 5000;
	if (under_sanitizer())
		return 50000;
	return 100000;
}

START_TEST(test_dirty_concurrent_get_and_clear_loses_nothing)
{
	run_concurrent_get_and_clear(false, conc_writes());
}
END_TEST

/* Each page written exactly once: any bit a get-and-clear loses is missing at the end. */
START_TEST(test_dirty_concurrent_get_and_clear_distinct_pages)
{
	unsigned int rounds = under_valgrind() ? 1 : under_sanitizer() ? 2 : 4;

	for (unsigned int i = 0; i < rounds; i++)
		run_concurrent_get_and_clear(true, CONC_PAGES / 2);
}
END_TEST

/*
 * Every single write is reported by some get-and-clear. Each page has a report counter
 * (bumped by the scanner for each dirty bit it takes) and a write counter (kept by the one
 * writer owning the page); a writer writes a page again only after all its earlier writes
 * were reported, so no two writes share one bit. A lost bit leaves reports < writes for
 * good; a spurious one makes reports > writes.
 */
struct rep_shared {
	struct vmmem_region *r;
	const struct vmmem_memory *m;
	uint32_t *reported; /* CONC_PAGES; atomic */
	int stop;           /* atomic */
	int errors;         /* scanner's */
};

struct rep_writer {
	struct rep_shared *sh;
	unsigned int parity;
	uint64_t seed;
	size_t attempts;
	uint32_t *writes; /* CONC_PAGES, private */
	size_t done;
	int errors;
};

static void rep_take(struct rep_shared *sh, const uint64_t *w)
{
	for (size_t i = 0; i < CONC_PAGES / 64; i++)
		for (uint64_t bits = w[i]; bits; bits &= bits - 1)
			__atomic_add_fetch(&sh->reported[i * 64 + (uint64_t)__builtin_ctzll(bits)], 1,
					   __ATOMIC_RELEASE);
}

static void *rep_scanner_main(void *arg)
{
	struct rep_shared *sh = arg;
	uint64_t w[CONC_PAGES / 64];

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
		if (vmmem_region_dirty_get_and_clear(sh->r, 0, CONC_PAGES * PG, w, CONC_PAGES / 64) !=
		    CONC_PAGES) {
			sh->errors++;
			break;
		}
		rep_take(sh, w);
	}
	return NULL;
}

static void *rep_writer_main(void *arg)
{
	struct rep_writer *wr = arg;

	for (size_t i = 0; i < wr->attempts; i++) {
		uint64_t page = (xorshift(&wr->seed) % (CONC_PAGES / 2)) * 2 + wr->parity;
		uint64_t val = i;

		if (__atomic_load_n(&wr->sh->reported[page], __ATOMIC_ACQUIRE) != wr->writes[page])
			continue; /* an earlier write of this page is not reported yet */
		wr->writes[page]++;
		if (vmmem_memory_write_obj(wr->sh->m, page * PG + wr->parity * 8, &val, 8) != 0)
			wr->errors++;
		wr->done++;
	}
	return NULL;
}

START_TEST(test_dirty_concurrent_get_and_clear_reports_every_write)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, CONC_PAGES * PG, 4096, &r);
	struct rep_shared sh = { .r = r, .m = m };
	struct rep_writer wr[2];
	pthread_t tw[2], ts;
	uint64_t last[CONC_PAGES / 64];
	size_t lost = 0, spurious = 0, first = SIZE_MAX;

	sh.reported = calloc(CONC_PAGES, sizeof(uint32_t));
	ck_assert_ptr_nonnull(sh.reported);
	for (unsigned int i = 0; i < 2; i++) {
		wr[i] = (struct rep_writer){ .sh = &sh, .parity = i, .seed = UINT64_C(0x853c49e6748fea9b) + i,
					     .attempts = conc_writes() * 2,
					     .writes = calloc(CONC_PAGES, sizeof(uint32_t)) };
		ck_assert_ptr_nonnull(wr[i].writes);
	}
	ck_assert_int_eq(pthread_create(&ts, NULL, rep_scanner_main, &sh), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&tw[i], NULL, rep_writer_main, &wr[i]), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(tw[i], NULL), 0);
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(pthread_join(ts, NULL), 0);
	ck_assert_int_eq(sh.errors, 0);
	ck_assert_int_eq(wr[0].errors + wr[1].errors, 0);
	ck_assert_int_eq(vmmem_region_dirty_get_and_clear(r, 0, CONC_PAGES * PG, last,
							  CONC_PAGES / 64), CONC_PAGES);
	rep_take(&sh, last);
	for (size_t p = 0; p < CONC_PAGES; p++) {
		uint32_t writes = wr[p % 2].writes[p], reports = sh.reported[p];

		if (reports < writes)
			lost += writes - reports;
		if (reports > writes)
			spurious += reports - writes;
		if (reports != writes && first == SIZE_MAX)
			first = p;
	}
	ck_assert_msg(lost == 0 && spurious == 0,
		      "%zu writes never reported, %zu reports without a write (first page %zu) in "
		      "%zu writes",
		      lost, spurious, first, wr[0].done + wr[1].done);
	if (getenv("VMMEM_TEST_VERBOSE"))
		fprintf(stderr, "report-every-write: %zu + %zu writes\n", wr[0].done, wr[1].done);
	free(wr[0].writes);
	free(wr[1].writes);
	free(sh.reported);
	vmmem_memory_unref(m);
}
END_TEST

struct mark_thread {
	struct vmmem_region *r;
	uint64_t first, npages;
};

static void *mark_main(void *arg)
{
	struct mark_thread *t = arg;

	for (uint64_t p = t->first; p < t->first + t->npages; p++)
		vmmem_region_dirty_mark(t->r, p * PG, 1);
	return NULL;
}

/* Concurrent marks of neighbouring bits in the same words: every bit lands. */
START_TEST(test_dirty_concurrent_marks_same_words)
{
	struct vmmem_region *r = region_at(0, CONC_PAGES * PG, 4096);
	struct mark_thread t[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		t[i] = (struct mark_thread){ .r = r, .first = (uint64_t)i * (CONC_PAGES / 4),
					     .npages = CONC_PAGES / 4 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, mark_main, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r), CONC_PAGES);
	vmmem_region_unref(r);
}
END_TEST

struct toggle_writer {
	const struct vmmem_memory *m;
	struct vmmem_region *r;
	int stop; /* atomic */
	int errors;
};

static void *toggle_writer_main(void *arg)
{
	struct toggle_writer *t = arg;
	uint64_t i = 0, w[4];

	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		uint64_t v = i;

		if (vmmem_memory_write_obj(t->m, (i % 256) * PG + 8, &v, 8) != 0)
			t->errors++;
		/* readers of the bitmap race with enable/disable too: any documented result */
		ssize_t n = vmmem_region_dirty_get_and_clear(t->r, 0, 256 * PG, w, 4);

		if (n != 256 && n != VMMEM_E_NOT_TRACKED &&
		    n != 128 && n != 1)
			t->errors++;
		i++;
	}
	return NULL;
}

/* Switching tracking on and off (and its page size) while another thread writes and
 * scans: no crash, no use of a freed bitmap; afterwards tracking works normally. */
START_TEST(test_dirty_enable_disable_race_with_writes)
{
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m = mem1(0, 256 * PG, UNTRACKED, &r);
	struct toggle_writer t = { .m = m, .r = r };
	static const uint64_t sizes[] = { 4096, 8192, 1 * MiB };
	unsigned int rounds = under_valgrind() ? 200 : 5000;
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, toggle_writer_main, &t), 0);
	for (unsigned int i = 0; i < rounds; i++) {
		ck_assert_int_eq(vmmem_region_dirty_enable(r, sizes[i % 3]), 0);
		if (i % 2)
			ck_assert_int_eq(vmmem_region_dirty_disable(r), 0);
	}
	__atomic_store_n(&t.stop, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(t.errors, 0);
	ck_assert_int_eq(vmmem_region_dirty_enable(r, 4096), 0);
	ck_assert_int_eq(vmmem_region_dirty_clear(r, 0, 256 * PG), 0);
	ck_assert_int_eq(vmmem_memory_store_u8(m, 7 * PG, 1, VMMEM_ORDER_RELAXED), 0);
	EXPECT_DIRTY(r, "after the race", 7);
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* KVM bitmap merge                                                                         */
/* ---------------------------------------------------------------------------------------- */

/* A KVM_GET_DIRTY_LOG word as KVM writes it: little-endian on every host. */
static uint64_t kvm_word(uint64_t bits)
{
	return htole64(bits);
}

/* KVM counts in host pages (KP: 4 KiB here on x86-64, 16 or 64 KiB in the arm64 runs). */
#define KP ((uint64_t)tu_page_size())

START_TEST(test_dirty_merge_kvm_host_pages)
{
	struct vmmem_region *r = region_at(0, 256 * KP, KP);
	uint64_t kvm[4] = { kvm_word(UINT64_C(0x8000000000000001)), 0, kvm_word(0x10), 0 };

	ck_assert_int_eq(vmmem_region_dirty_mark(r, 5 * KP, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm, 4), 3);
	EXPECT_DIRTY(r, "KVM merge, same page size", 0, 5, 63, 132);
	/* merge ORs: bits already set stay set and are still counted */
	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm, 1), 2);
	EXPECT_DIRTY(r, "KVM merge OR", 0, 63);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, NULL, 0), 0);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm + 1, 1), 0);
	EXPECT_CLEAN(r, "empty merges");
	kvm[3] = UINT64_MAX;
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm + 3, 1), 64);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 64);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 0), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 63 * KP), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 64 * KP), 0);
	vmmem_region_unref(r);
}
END_TEST

/* The word layout is KVM's, not the host's: byte 0 holds pages 0-7, bit 0 first. */
START_TEST(test_dirty_merge_kvm_byte_layout)
{
	struct vmmem_region *r = region_at(0, 128 * KP, KP);
	uint64_t kvm[2];
	uint8_t *bytes = (uint8_t *)kvm;

	memset(kvm, 0, sizeof(kvm));
	bytes[0] = 0x02;  /* page 1 */
	bytes[1] = 0x80;  /* page 15 */
	bytes[7] = 0x01;  /* page 56 */
	bytes[9] = 0x04;  /* page 74 */
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm, 2), 4);
	EXPECT_DIRTY(r, "KVM bytes", 1, 15, 56, 74);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_dirty_merge_kvm_big_pages)
{
	struct vmmem_region *r2 = region_at(0, 256 * KP, 2 * KP);
	struct vmmem_region *rbig = region_at(0, 1024 * KP, 512 * KP);
	uint64_t kvm[4] = { kvm_word(0xb), 0, 0, kvm_word(UINT64_C(1) << 63) };
	uint64_t big[10] = { 0 };

	/* KVM pages 0, 1 -> 2-page unit 0; 3 -> unit 1; 255 -> unit 127 */
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r2, kvm, 4), 4);
	EXPECT_DIRTY(r2, "KVM merge into 2-page units", 0, 1, 127);
	/* KVM page 600 -> 512-page unit 1 (2 MiB units on a 4 KiB host) */
	big[600 / 64] = kvm_word(UINT64_C(1) << (600 % 64));
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(rbig, big, 10), 1);
	EXPECT_DIRTY(rbig, "KVM merge into 512-page units", 1);
	vmmem_region_unref(r2);
	vmmem_region_unref(rbig);
}
END_TEST

/* 4 KiB tracking (the default) on a host with bigger pages: one KVM bit dirties every
 * 4 KiB page its host page covers. On a 4 KiB host it is one for one. */
START_TEST(test_dirty_merge_kvm_into_4k)
{
	struct vmmem_region *r = region_at(0, 64 * KP, 4096);
	uint64_t kvm[1] = { kvm_word(UINT64_C(1) << 3) };
	const uint64_t per = KP / 4096;

	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm, 1), 1);
	ck_assert_int_eq(vmmem_region_dirty_count(r), (ssize_t)per);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 3 * KP), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 4 * KP - 1), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 4 * KP), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(r, 3 * KP - 1), 0);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_dirty_merge_kvm_out_of_bounds)
{
	/* 65 KVM pages (the last one partial) */
	struct vmmem_region *r = region_at(0, 64 * KP + KP / 2, KP);
	uint64_t kvm[3] = { 0, kvm_word(1), 0 };

	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm, 3), 1);
	EXPECT_DIRTY(r, "last partial KVM page", 64);
	kvm[1] = kvm_word(2);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm, 2), VMMEM_E_OUT_OF_BOUNDS);
	kvm[1] = 0;
	kvm[2] = kvm_word(1);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm, 3), VMMEM_E_OUT_OF_BOUNDS);
	kvm[2] = kvm_word(UINT64_C(1) << 63);
	ck_assert_int_eq(vmmem_region_dirty_merge_kvm(r, kvm, 3), VMMEM_E_OUT_OF_BOUNDS);
	vmmem_region_unref(r);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* vhost-user log                                                                           */
/* ---------------------------------------------------------------------------------------- */

struct release_info {
	int calls;
	void *opaque;
	void *base;
	uint64_t size;
};

static void release_cb(void *opaque, void *base, uint64_t size)
{
	struct release_info *ri = opaque;

	ri->calls++;
	ri->opaque = opaque;
	ri->base = base;
	ri->size = size;
}

/* An 8-byte aligned, zeroed log buffer of @size bytes (allocated in whole words). */
static uint8_t *log_buf(uint64_t size)
{
	uint64_t *w = calloc((size + 7) / 8, sizeof(uint64_t));

	ck_assert_ptr_nonnull(w);
	return (uint8_t *)w;
}

static struct vmmem_vhost_log *log_new(uint8_t *buf, uint64_t size, struct release_info *ri)
{
	struct vmmem_vhost_log *log = NULL;
	int rc = vmmem_vhost_log_new(&log, buf, size, ri ? release_cb : NULL, ri);

	ck_assert_msg(rc == 0, "vhost_log_new: %d %s", rc, vmmem_errormsg());
	ck_assert_ptr_nonnull(log);
	return log;
}

/* Set the expected bits of guest range [gpa, gpa + len) in a local log image. */
static void exp_mark(uint8_t *exp, uint64_t gpa, uint64_t len)
{
	for (uint64_t p = gpa / PG; p <= (gpa + len - 1) / PG; p++)
		exp[p / 8] |= (uint8_t)(1u << (p % 8));
}

static void check_log_at(const uint8_t *log, const uint8_t *exp, uint64_t size, const char *what,
			 int line)
{
	if (memcmp(log, exp, size) != 0) {
		for (uint64_t i = 0; i < size; i++)
			if (log[i] != exp[i])
				ck_abort_msg("line %d (%s): log byte 0x%llx (GPA 0x%llx) is 0x%02x, "
					     "expected 0x%02x",
					     line, what, (unsigned long long)i,
					     (unsigned long long)(i * 8 * PG), log[i], exp[i]);
	}
}

#define CHECK_LOG(log, exp, size, what) check_log_at((log), (exp), (size), (what), __LINE__)

START_TEST(test_dirty_vhost_log_new_arguments)
{
	uint64_t words[4] = { 0 };
	uint8_t *base = (uint8_t *)words;
	struct vmmem_vhost_log *log = (struct vmmem_vhost_log *)&words[3];

	ck_assert_int_eq(vmmem_vhost_log_new(&log, NULL, 8, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(log);
	log = (struct vmmem_vhost_log *)&words[3];
	ck_assert_int_eq(vmmem_vhost_log_new(&log, base, 0, NULL, NULL), -EINVAL);
	ck_assert_ptr_null(log);
	for (int off = 1; off < 8; off++) {
		log = (struct vmmem_vhost_log *)&words[3];
		ck_assert_int_eq(vmmem_vhost_log_new(&log, base + off, 8, NULL, NULL),
				 VMMEM_E_MISALIGNED);
		ck_assert_ptr_null(log);
	}
	ck_assert_int_eq(vmmem_vhost_log_new(&log, base, 1, NULL, NULL), 0);
	ck_assert_ptr_nonnull(log);
	ck_assert_ptr_eq(vmmem_vhost_log_ref(log), log);
	ck_assert_ptr_null(vmmem_vhost_log_unref(log));
	ck_assert_ptr_null(vmmem_vhost_log_unref(log));
}
END_TEST

START_TEST(test_dirty_vhost_log_release_once)
{
	uint8_t *buf = log_buf(64);
	struct release_info ri = { 0 };
	struct vmmem_vhost_log *log = log_new(buf, 64, &ri);
	struct vmmem_region *r = tu_anon_region(0, 0x10000, 0);
	struct vmmem_memory *m = mem_of(&r, 1), *ml = NULL;

	ck_assert_ptr_eq(vmmem_vhost_log_ref(log), log);
	ck_assert_ptr_eq(vmmem_vhost_log_ref(log), log);
	vmmem_vhost_log_unref(log);
	vmmem_vhost_log_unref(log);
	ck_assert_int_eq(ri.calls, 0);
	/* a memory holds its own reference */
	ck_assert_int_eq(vmmem_memory_set_vhost_log(m, log, &ml), 0);
	vmmem_vhost_log_unref(log);
	ck_assert_int_eq(ri.calls, 0);
	ck_assert_ptr_eq(vmmem_memory_vhost_log(ml), log);
	ck_assert_int_eq(vmmem_memory_store_u8(ml, 0x1000, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_uint_eq(buf[0], 2);
	vmmem_memory_unref(ml);
	ck_assert_int_eq(ri.calls, 1);
	ck_assert_ptr_eq(ri.opaque, &ri);
	ck_assert_ptr_eq(ri.base, buf);
	ck_assert_uint_eq(ri.size, 64);
	vmmem_memory_unref(m);
	ck_assert_int_eq(ri.calls, 1);
	free(buf);
}
END_TEST

START_TEST(test_dirty_vhost_set_log_copy_on_write)
{
	struct vmmem_region *r = tu_anon_region(0, 0x10000, 0);
	struct vmmem_memory *m = mem_of(&r, 1), *ml = NULL, *mn = NULL;
	uint8_t *buf = log_buf(8), *small = log_buf(8);
	uint8_t exp[8] = { 0 };
	struct vmmem_vhost_log *log = log_new(buf, 2, NULL), *tiny = log_new(small, 1, NULL);
	const uint8_t *p = pattern();

	/* 64 KiB need 16 bits: one byte is too small */
	ml = (struct vmmem_memory *)&exp;
	ck_assert_int_eq(vmmem_memory_set_vhost_log(m, tiny, &ml), -ENOBUFS);
	ck_assert_ptr_null(ml);
	ck_assert_int_eq(vmmem_memory_set_vhost_log(m, log, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_set_vhost_log(m, log, &ml), 0);
	ck_assert_ptr_nonnull(ml);
	ck_assert_ptr_ne(ml, m);
	ck_assert_ptr_eq(vmmem_memory_vhost_log(ml), log);
	ck_assert_ptr_null(vmmem_memory_vhost_log(m));
	ck_assert_ptr_eq(vmmem_memory_region_at(ml, 0), r); /* regions are shared */
	ck_assert_uint_eq(vmmem_memory_region_count(ml), 1);
	/* the original memory is unchanged: its writes set no log bit */
	ck_assert_int_eq(vmmem_memory_write(m, 0x3000, p, 0x10), 0x10);
	CHECK_LOG(buf, exp, 2, "write through the original memory");
	ck_assert_int_eq(vmmem_memory_write(ml, 0xfff0, p, 0x10), 0x10);
	exp_mark(exp, 0xfff0, 0x10);
	CHECK_LOG(buf, exp, 2, "write through the logged memory");
	ck_assert_uint_eq(buf[1], 0x80);
	/* NULL detaches */
	ck_assert_int_eq(vmmem_memory_set_vhost_log(ml, NULL, &mn), 0);
	ck_assert_ptr_null(vmmem_memory_vhost_log(mn));
	ck_assert_ptr_eq(vmmem_memory_vhost_log(ml), log);
	ck_assert_int_eq(vmmem_memory_write(mn, 0x0, p, 0x10), 0x10);
	CHECK_LOG(buf, exp, 2, "write through the detached memory");
	vmmem_memory_unref(mn);
	vmmem_memory_unref(ml);
	vmmem_memory_unref(m);
	vmmem_vhost_log_unref(log);
	vmmem_vhost_log_unref(tiny);
	free(buf);
	free(small);
}
END_TEST

/* Memory over [0, 64K), [64K, 128K) and [1G, 1G + 64K); @r_out gets the three regions. */
static struct vmmem_memory *three_regions(struct vmmem_region **r_out, uint64_t page_size)
{
	struct vmmem_region *regs[3] = { region_at(0, 0x10000, page_size),
					 region_at(0x10000, 0x10000, page_size),
					 region_at(1 * GiB, 0x10000, page_size) };

	memcpy(r_out, regs, sizeof(regs));
	return mem_of(regs, 3);
}

/* Exact log bits for every write path. */
static void run_vhost_log_write_paths(uint64_t page_size)
{
	struct vmmem_region *r[3];
	struct vmmem_memory *m = three_regions(r, page_size), *ml = NULL;
	const uint64_t G = 1 * GiB, need = (G + 0xffff) / PG / 8 + 1; /* 0x8002 bytes */
	uint8_t *buf = log_buf(need), *exp = calloc(need, 1), *small = log_buf(need);
	struct vmmem_vhost_log *log = log_new(buf, need, NULL), *tiny = log_new(small, need - 1, NULL);
	const uint8_t *p = pattern();
	uint8_t back[0x200];
	uint64_t v = 42, u64;
	uint32_t u32;
	struct vmmem_slice s, sl[4], rs;
	struct vmmem_array a;
	size_t n = 0, done = 0;
	int fds[2], fd;

	ck_assert_ptr_nonnull(exp);
	ck_assert_int_eq(vmmem_memory_set_vhost_log(m, tiny, &ml), -ENOBUFS);
	ck_assert_int_eq(vmmem_memory_set_vhost_log(m, log, &ml), 0);

	ck_assert_int_eq(vmmem_memory_write(ml, 0x10, p, 1), 1);
	exp_mark(exp, 0x10, 1);
	CHECK_LOG(buf, exp, need, "write 1 @0x10");
	ck_assert_int_eq(vmmem_memory_write(ml, 0x3fff, p, 0x2002), 0x2002);
	exp_mark(exp, 0x3fff, 0x2002);
	CHECK_LOG(buf, exp, need, "write @0x3fff");
	ck_assert_int_eq(vmmem_memory_write(ml, 0xff00, p, 0x200), 0x200);
	exp_mark(exp, 0xff00, 0x200);
	CHECK_LOG(buf, exp, need, "write across regions");
	ck_assert_int_eq(vmmem_memory_write(ml, 0x1ff00, p, 0x200), 0x100);
	exp_mark(exp, 0x1ff00, 0x100);
	CHECK_LOG(buf, exp, need, "short write before a hole");
	ck_assert_int_eq(vmmem_memory_write_exact(ml, G + 0x1000, p, 0x1000, &done), 0);
	exp_mark(exp, G + 0x1000, 0x1000);
	CHECK_LOG(buf, exp, need, "write_exact @1G+0x1000");
	ck_assert_int_eq(vmmem_memory_write_obj(ml, 0x7ffc, &v, 8), 0);
	exp_mark(exp, 0x7ffc, 8);
	CHECK_LOG(buf, exp, need, "write_obj 8 across pages");
	ck_assert_int_eq(vmmem_memory_write_obj(ml, G + 0x2fd0, p, 100), 0);
	exp_mark(exp, G + 0x2fd0, 100);
	CHECK_LOG(buf, exp, need, "write_obj 100 across pages");
	ck_assert_int_eq(vmmem_memory_write_obj(ml, 0x9008, &v, 1), 0);
	exp_mark(exp, 0x9008, 1);
	CHECK_LOG(buf, exp, need, "write_obj 1");
	ck_assert_int_eq(vmmem_memory_store_u8(ml, 0xa000, 1, VMMEM_ORDER_RELAXED), 0);
	exp_mark(exp, 0xa000, 1);
	ck_assert_int_eq(vmmem_memory_store_u16(ml, 0xb000, 1, VMMEM_ORDER_RELEASE), 0);
	exp_mark(exp, 0xb000, 2);
	ck_assert_int_eq(vmmem_memory_store_u32(ml, 0x1c000, 1, VMMEM_ORDER_SEQ_CST), 0);
	exp_mark(exp, 0x1c000, 4);
	ck_assert_int_eq(vmmem_memory_store_u64(ml, G + 0xfff8, 1, VMMEM_ORDER_SEQ_CST), 0);
	exp_mark(exp, G + 0xfff8, 8);
	CHECK_LOG(buf, exp, need, "stores");

	/* fd reads: exactly the bytes read */
	pipe_with(fds, 0x1800, true);
	ck_assert_int_eq(vmmem_memory_read_from_fd(ml, 0x1c800, fds[0], 0x3000, -1), 0x1800);
	exp_mark(exp, 0x1c800, 0x1800);
	CHECK_LOG(buf, exp, need, "read_from_fd pipe");
	close(fds[0]);
	fd = file_with(0x1000);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(ml, G + 0x5800, fd, 0x1000, 0, &done), 0);
	exp_mark(exp, G + 0x5800, 0x1000);
	CHECK_LOG(buf, exp, need, "read_exact_from_fd file");
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(ml, G + 0x9f00, fd, 0x3000, 0x800, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x800);
	exp_mark(exp, G + 0x9f00, 0x800);
	CHECK_LOG(buf, exp, need, "short read_exact_from_fd");
	close(fd);

	/* slices from the memory carry it: their writes are logged */
	ck_assert_int_eq(vmmem_memory_get_slice(ml, G + 0x8000, 0x1000, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_ptr_eq(s.memory, ml);
	ck_assert_int_eq(vmmem_slice_write(&s, 0x10, p, 4), 4);
	exp_mark(exp, G + 0x8010, 4);
	CHECK_LOG(buf, exp, need, "memory slice write");
	ck_assert_int_eq(vmmem_memory_get_slices(ml, 0xe800, 0x2000, VMMEM_ACCESS_WRITE, sl, 4, &n),
			 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_eq(sl[1].memory, ml);
	ck_assert_int_eq(vmmem_slice_write_obj(&sl[1], 0x400, &v, 8), 0);
	exp_mark(exp, 0x10400, 8);
	CHECK_LOG(buf, exp, need, "get_slices slice write_obj");
	ck_assert_int_eq(vmmem_slice_store_u32(&sl[0], 0, 1, VMMEM_ORDER_RELAXED), 0);
	exp_mark(exp, 0xe800, 4);
	CHECK_LOG(buf, exp, need, "get_slices slice store");
	ck_assert_int_eq(vmmem_slice_copy_from(&sl[0], p, 0x1800), 0x1800);
	exp_mark(exp, 0xe800, 0x1800);
	CHECK_LOG(buf, exp, need, "slice copy_from");
	ck_assert_int_eq(vmmem_slice_get_array(&sl[1], 0x300, 8, 0x10, &a), 0);
	ck_assert_int_eq(vmmem_array_store(&a, 3, &v), 0);
	exp_mark(exp, 0x10318, 8);
	CHECK_LOG(buf, exp, need, "array store");
	ck_assert_int_eq(vmmem_slice_copy_to_slice(&sl[0], &s), 0x1000);
	exp_mark(exp, G + 0x8000, 0x1000);
	CHECK_LOG(buf, exp, need, "copy_to_slice");
	memset(s.ptr + 0x20, 1, 4);
	ck_assert_int_eq(vmmem_slice_mark_dirty(&s, 0x20, 4), 0);
	CHECK_LOG(buf, exp, need, "slice_mark_dirty (already set)");
	ck_assert_int_eq(vmmem_memory_get_slice(ml, G + 0xb000, 0x2000, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_int_eq(vmmem_slice_mark_dirty(&s, 0x1000, 1), 0);
	exp_mark(exp, G + 0xc000, 1);
	CHECK_LOG(buf, exp, need, "slice_mark_dirty");
	ck_assert_int_eq(vmmem_memory_mark_dirty(ml, G + 0xd000, 0x1001), 0);
	exp_mark(exp, G + 0xd000, 0x1001);
	CHECK_LOG(buf, exp, need, "memory_mark_dirty");

	/* a region's own slice has no memory: no log bit (the region bitmap, if any, is set) */
	ck_assert_int_eq(vmmem_region_get_slice(r[2], 0x3000, 0x100, VMMEM_ACCESS_RW, &rs), 0);
	ck_assert_ptr_null(rs.memory);
	ck_assert_int_eq(vmmem_slice_write(&rs, 0, p, 0x100), 0x100);
	ck_assert_int_eq(vmmem_slice_store_u64(&rs, 8, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_slice_mark_dirty(&rs, 0, 0x100), 0);
	CHECK_LOG(buf, exp, need, "region slice writes");
	if (page_size != UNTRACKED)
		ck_assert_int_eq(vmmem_region_dirty_test(r[2], 0x3000), 1);

	/* reads set nothing; writes through the log-less original set nothing */
	ck_assert_int_eq(vmmem_memory_read(ml, 0x2000, back, 0x200), 0x200);
	ck_assert_int_eq(vmmem_memory_load_u64(ml, G + 0x4000, VMMEM_ORDER_RELAXED, &u64), 0);
	ck_assert_int_eq(vmmem_slice_load_u32(&s, 0, VMMEM_ORDER_RELAXED, &u32), 0);
	ck_assert_int_eq(vmmem_memory_write(m, 0x2000, p, 0x200), 0x200);
	ck_assert_int_eq(vmmem_memory_get_slice(m, 0x6000, 0x10, VMMEM_ACCESS_RW, &s), 0);
	ck_assert_int_eq(vmmem_slice_write(&s, 0, p, 0x10), 0x10);
	CHECK_LOG(buf, exp, need, "reads and log-less writes");
	/* refused writes set nothing */
	ck_assert_int_eq(vmmem_memory_store_u64(ml, G + 0x4004, 1, VMMEM_ORDER_RELAXED),
			 VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_memory_write(ml, 0x20000, p, 1), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_mark_dirty(ml, 0x1f000, 0x2000), VMMEM_E_UNMAPPED);
	CHECK_LOG(buf, exp, need, "refused writes");
	/* spot check the layout: GPA 1G + 0xfff8 is page 0x4000f: byte 0x8001, bit 7 */
	ck_assert_uint_eq(buf[0x8001] & 0x80, 0x80);
	ck_assert_uint_eq(buf[0] & 1, 1);

	vmmem_memory_unref(ml);
	vmmem_memory_unref(m);
	vmmem_vhost_log_unref(log);
	vmmem_vhost_log_unref(tiny);
	free(buf);
	free(small);
	free(exp);
}

START_TEST(test_dirty_vhost_log_write_paths)
{
	run_vhost_log_write_paths(UNTRACKED);
}
END_TEST

START_TEST(test_dirty_vhost_log_write_paths_tracked)
{
	run_vhost_log_write_paths(4096);
}
END_TEST

/* Writes to a log whose size is not a multiple of 8 stay inside its size bytes. */
START_TEST(test_dirty_vhost_log_odd_size_stays_in_buffer)
{
	struct vmmem_region *r = tu_anon_region(0, 0x50000, 0); /* 80 pages: 10 bytes */
	struct vmmem_memory *m = mem_of(&r, 1), *ml = NULL;
	uint8_t *buf = malloc(10); /* exactly the size given: malloc is 8-byte aligned */
	uint8_t exp[10] = { 0 };
	struct vmmem_vhost_log *log;

	ck_assert_ptr_nonnull(buf);
	memset(buf, 0, 10);
	log = log_new(buf, 10, NULL);
	ck_assert_int_eq(vmmem_memory_set_vhost_log(m, log, &ml), 0);
	ck_assert_int_eq(vmmem_memory_store_u8(ml, 0x4f000, 1, VMMEM_ORDER_RELAXED), 0);
	exp_mark(exp, 0x4f000, 1);
	ck_assert_int_eq(vmmem_memory_mark_dirty(ml, 0x40000, 0x10000), 0);
	exp_mark(exp, 0x40000, 0x10000);
	CHECK_LOG(buf, exp, 10, "last bytes of a 10-byte log");
	vmmem_memory_unref(ml);
	vmmem_memory_unref(m);
	vmmem_vhost_log_unref(log);
	free(buf);
}
END_TEST

START_TEST(test_dirty_export_vhost)
{
	struct vmmem_region *regs[4] = { region_at(0, 0x10000, 4096),
					 region_at(0x10000, 0x10000, UNTRACKED),
					 region_at(1 * GiB, 0x10000, 8192),
					 region_at(2 * GiB, 4 * MiB, 2 * MiB) };
	struct vmmem_region *r0 = regs[0], *r1 = regs[1], *r8 = regs[2], *r2m = regs[3];
	struct vmmem_memory *m = mem_of(regs, 4);
	const uint64_t need = (2 * GiB + 4 * MiB - 1) / PG / 8 + 1;
	uint8_t *log = log_buf(need), *exp = calloc(need, 1);
	const uint64_t G = 1 * GiB;

	ck_assert_ptr_nonnull(exp);
	ck_assert_int_eq(vmmem_region_dirty_mark(r0, 0x1000, 1), 0);
	ck_assert_int_eq(vmmem_region_dirty_mark(r0, 0x3fff, 1), 0);
	ck_assert_int_eq(vmmem_memory_write(m, 0x10000, pattern(), 0x100), 0x100); /* untracked */
	ck_assert_int_eq(vmmem_region_dirty_mark(r8, 0x4000, 1), 0); /* 8K page 2 */
	/* a bit already in the log stays */
	log[9] = 0x10;
	exp[9] = 0x10;
	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(m, log, need - 1, false), -ENOBUFS);
	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(m, log, need, false), 4);
	exp_mark(exp, 0x1000, 1);
	exp_mark(exp, 0x3000, 1);
	exp_mark(exp, G + 0x4000, 0x2000); /* one 8K page = 2 log bits */
	CHECK_LOG(log, exp, need, "export without clear");
	ck_assert_int_eq(vmmem_region_dirty_count(r0), 2);
	ck_assert_int_eq(vmmem_region_dirty_count(r8), 1);
	ck_assert_int_eq(vmmem_region_dirty_count(r1), VMMEM_E_NOT_TRACKED);

	memset(log, 0, need);
	memset(exp, 0, need);
	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(m, log, need, true), 4);
	exp_mark(exp, 0x1000, 1);
	exp_mark(exp, 0x3000, 1);
	exp_mark(exp, G + 0x4000, 0x2000);
	CHECK_LOG(log, exp, need, "export with clear");
	ck_assert_int_eq(vmmem_region_dirty_count(r0), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(r8), 0);
	/* nothing left */
	memset(log, 0, need);
	memset(exp, 0, need);
	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(m, log, need, true), 0);
	CHECK_LOG(log, exp, need, "export of clean bitmaps");
	/* a 2M page = 512 log bits */
	ck_assert_int_eq(vmmem_region_dirty_mark(r2m, 0x200000, 1), 0);
	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(m, log, need, true), 512);
	exp_mark(exp, 2 * GiB + 0x200000, 0x200000);
	CHECK_LOG(log, exp, need, "export of a 2M page");

	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(m, NULL, need, false), -EINVAL);
	ck_assert_int_eq(vmmem_memory_dirty_export_vhost(m, log, 0, false), -EINVAL);
	vmmem_memory_unref(m);
	free(log);
	free(exp);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Config keys                                                                              */
/* ---------------------------------------------------------------------------------------- */

static struct vmmem_ctx *ctx_for_test(void)
{
	struct vmmem_ctx *ctx = NULL;

	ck_assert_msg(getenv("VMMEM_PROVIDER_PATH") != NULL,
		      "VMMEM_PROVIDER_PATH is not set (run through ctest)");
	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	return ctx;
}

START_TEST(test_dirty_config_keys)
{
	struct vmmem_ctx *ctx = ctx_for_test();
	struct vmmem_region *r = NULL;
	struct vmmem_memory *m;
	int rc;

	rc = vmmem_region_create(&r, ctx, "anon:gpa=0,size=1M,dirty-log=on");
	ck_assert_msg(rc == 0, "%d %s", rc, vmmem_errormsg());
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 4096);
	ck_assert_int_eq(vmmem_region_dirty_count(r), 0);
	m = mem_of(&r, 1);
	ck_assert_int_eq(vmmem_memory_store_u32(m, 0x5000, 1, VMMEM_ORDER_RELAXED), 0);
	EXPECT_DIRTY(r, "config-tracked region", 5);
	vmmem_memory_unref(m);

	rc = vmmem_region_create(&r, ctx, "anon:gpa=0,size=1M,dirty-log=on,dirty-page-size=64K");
	ck_assert_msg(rc == 0, "%d %s", rc, vmmem_errormsg());
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 64 * KiB);
	ck_assert_int_eq(vmmem_region_dirty_mark(r, 0x1ffff, 2), 0);
	EXPECT_DIRTY(r, "64K pages", 1, 2);
	vmmem_region_unref(r);

	rc = vmmem_region_create(&r, ctx, "anon:gpa=0,size=1M,dirty-log=off");
	ck_assert_msg(rc == 0, "%d %s", rc, vmmem_errormsg());
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 0);
	vmmem_region_unref(r);
	rc = vmmem_region_create(&r, ctx, "anon:gpa=0,size=1M");
	ck_assert_msg(rc == 0, "%d %s", rc, vmmem_errormsg());
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 0);
	vmmem_region_unref(r);

	r = (struct vmmem_region *)ctx;
	ck_assert_int_eq(vmmem_region_create(&r, ctx, "anon:gpa=0,size=1M,dirty-page-size=64K"),
			 VMMEM_E_CONFIG_CONFLICT);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(vmmem_region_create(&r, ctx,
					     "anon:gpa=0,size=1M,dirty-log=off,dirty-page-size=64K"),
			 VMMEM_E_CONFIG_CONFLICT);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(vmmem_region_create(&r, ctx,
					     "anon:gpa=0,size=1M,dirty-log=on,dirty-page-size=3000"),
			 VMMEM_E_CONFIG_VALUE);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(vmmem_region_create(&r, ctx,
					     "anon:gpa=0,size=1M,dirty-log=on,dirty-page-size=2K"),
			 VMMEM_E_CONFIG_VALUE);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(vmmem_region_create(&r, ctx, "anon:gpa=0,size=1M,dirty-log=maybe"),
			 VMMEM_E_CONFIG_VALUE);
	ck_assert_ptr_null(r);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_dirty_vhost_log_size_and_mark)
{
	uint64_t storage[4] = { 0 }; /* 32 bytes: GPA pages 0..255 */
	uint8_t *buf = (uint8_t *)storage, want[32] = { 0 };
	struct vmmem_vhost_log *log = NULL;

	ck_assert_int_eq(vmmem_vhost_log_new(&log, buf, sizeof(storage), NULL, NULL), 0);
	ck_assert_uint_eq(vmmem_vhost_log_size(log), 32);
	ck_assert_uint_eq(vmmem_vhost_log_size(NULL), 0);
	/* Pages 3..9 (GPA 0x3000 + 0x6800 bytes ends inside page 9), unmapped or not. */
	ck_assert_int_eq(vmmem_vhost_log_mark(log, 0x3000, 0x6800), 0);
	for (unsigned int p = 3; p <= 9; p++)
		want[p / 8] |= (uint8_t)(1u << (p % 8));
	/* The last page the log covers. */
	ck_assert_int_eq(vmmem_vhost_log_mark(log, 255 * 4096 + 4095, 1), 0);
	want[31] |= 0x80;
	ck_assert_int_eq(memcmp(buf, want, sizeof(want)), 0);
	/* Zero length at any address; past the log or past 2^64: -ERANGE, nothing set. */
	ck_assert_int_eq(vmmem_vhost_log_mark(log, UINT64_MAX, 0), 0);
	ck_assert_int_eq(vmmem_vhost_log_mark(log, 256 * 4096, 1), -ERANGE);
	ck_assert_int_eq(vmmem_vhost_log_mark(log, 255 * 4096, 4097), -ERANGE);
	ck_assert_int_eq(vmmem_vhost_log_mark(log, UINT64_MAX, 2), -ERANGE);
	ck_assert_int_eq(vmmem_vhost_log_mark(NULL, 0, 1), -EINVAL);
	ck_assert_int_eq(memcmp(buf, want, sizeof(want)), 0);
	vmmem_vhost_log_unref(log);
}
END_TEST


static Suite *dirty_suite(void)
{
	Suite *s = suite_create("dirty");
	TCase *tc;

	tc = tcase_create("enable");
	tcase_add_test(tc, test_dirty_enable_page_sizes);
	tcase_add_test(tc, test_dirty_reenable_keeps_or_resets_bits);
	tcase_add_test(tc, test_dirty_disabled_not_tracked);
	tcase_add_test(tc, test_dirty_null_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("write_paths");
	tcase_add_test(tc, test_dirty_memory_write_marks_touched_pages);
	tcase_add_test(tc, test_dirty_write_across_two_regions);
	tcase_add_test(tc, test_dirty_read_only_region_not_marked);
	tcase_add_test(tc, test_dirty_write_obj_sizes);
	tcase_add_test(tc, test_dirty_atomic_stores);
	tcase_add_test(tc, test_dirty_read_from_fd_pipe);
	tcase_add_test(tc, test_dirty_read_from_fd_file);
	tcase_add_test(tc, test_dirty_slice_write_paths);
	tcase_add_test(tc, test_dirty_mark_dirty_pointer_writes);
	tcase_add_test(tc, test_dirty_reads_never_mark);
	tcase_add_test(tc, test_dirty_untracked_region_unaffected);
	tcase_add_test(tc, test_dirty_region_shared_by_two_memories);
	tcase_add_test(tc, test_dirty_big_page_granularity);
	tcase_add_test(tc, test_dirty_vm_memory_vectors);
	suite_add_tcase(s, tc);

	tc = tcase_create("get_and_clear");
	tcase_add_test(tc, test_dirty_get_and_clear_word_layout);
	tcase_add_test(tc, test_dirty_get_and_clear_unaligned_word_offset);
	tcase_add_test(tc, test_dirty_get_and_clear_errors);
	tcase_add_test(tc, test_dirty_get_and_clear_len0_null_words);
	tcase_add_test(tc, test_dirty_clear_count_test);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_dirty_concurrent_get_and_clear_loses_nothing);
	tcase_add_test(tc, test_dirty_concurrent_get_and_clear_distinct_pages);
	tcase_add_test(tc, test_dirty_concurrent_get_and_clear_reports_every_write);
	tcase_add_test(tc, test_dirty_concurrent_marks_same_words);
	tcase_add_test(tc, test_dirty_enable_disable_race_with_writes);
	suite_add_tcase(s, tc);

	tc = tcase_create("vhost_log_direct");
	tcase_add_test(tc, test_dirty_vhost_log_size_and_mark);
	suite_add_tcase(s, tc);

	tc = tcase_create("kvm");
	tcase_add_test(tc, test_dirty_merge_kvm_host_pages);
	tcase_add_test(tc, test_dirty_merge_kvm_byte_layout);
	tcase_add_test(tc, test_dirty_merge_kvm_big_pages);
	tcase_add_test(tc, test_dirty_merge_kvm_into_4k);
	tcase_add_test(tc, test_dirty_merge_kvm_out_of_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("vhost");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dirty_vhost_log_new_arguments);
	tcase_add_test(tc, test_dirty_vhost_log_release_once);
	tcase_add_test(tc, test_dirty_vhost_set_log_copy_on_write);
	tcase_add_test(tc, test_dirty_vhost_log_write_paths);
	tcase_add_test(tc, test_dirty_vhost_log_write_paths_tracked);
	tcase_add_test(tc, test_dirty_vhost_log_odd_size_stays_in_buffer);
	tcase_add_test(tc, test_dirty_export_vhost);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_dirty_config_keys);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tu_run_suite(dirty_suite());
}
