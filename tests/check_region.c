/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Unit tests for vmmem/region.h: creation, accessors, fd ownership, reference counting. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* A non-NULL value stored in *out before a call, to see that failures reset it to NULL. */
#define REGION_SENTINEL ((struct vmmem_region *)(uintptr_t)0x5a5a5a5a5a5a5000u)

static uint64_t pg64(void)
{
	return (uint64_t)tu_page_size();
}

/* Is every page of [p, p + len) mapped? mincore() fails with ENOMEM on an unmapped page
 * (and, unlike msync(), is not reported by valgrind for probing unmapped memory). */
static int is_mapped(void *p, size_t len)
{
	size_t pg = tu_page_size();
	uintptr_t first = (uintptr_t)p & ~(uintptr_t)(pg - 1);

	for (uintptr_t a = first; a < (uintptr_t)p + len; a += pg) {
		unsigned char vec;

		if (mincore((void *)a, 1, &vec) != 0) { /* 1 byte: one page, one status byte */
			ck_assert_msg(errno == ENOMEM, "mincore: unexpected errno %d", errno);
			return 0;
		}
	}
	return 1;
}

/* Is fd closed? */
static int fd_closed(int fd)
{
	errno = 0;
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* The lowest free descriptor number (to detect leaked descriptors). */
static int lowest_free_fd(void)
{
	int fd = dup(0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(close(fd), 0);
	return fd;
}

/* A memfd without close-on-exec (so the region's duplicate must set it itself) and a shared
 * mapping of it. */
static int plain_memfd(size_t size)
{
	int fd = memfd_create("vmmem-region-test", 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void *map_fd(int fd, size_t size, off_t off)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	ck_assert_msg(p != MAP_FAILED, "mmap of fd %d failed: %s", fd, strerror(errno));
	return p;
}

/* Try vmmem_region_new and check it fails with want and leaves *out NULL. */
static void expect_new_fails(uint64_t gpa, uint64_t size, void *host, uint32_t flags, int want)
{
	struct vmmem_region *r = REGION_SENTINEL;
	int rc = vmmem_region_new(&r, gpa, size, host, flags);

	ck_assert_msg(rc == want,
		      "vmmem_region_new(gpa 0x%llx, size 0x%llx, host %p, flags 0x%x) = %d, want %d",
		      (unsigned long long)gpa, (unsigned long long)size, host, flags, rc, want);
	ck_assert_ptr_null(r);
	ck_assert_msg(vmmem_errormsg()[0] != '\0', "no error message after failure %d", rc);
}

static void expect_new_fd_fails(uint64_t gpa, uint64_t size, void *host, uint32_t flags, int fd,
				uint64_t off, int want)
{
	struct vmmem_region *r = REGION_SENTINEL;
	int before = lowest_free_fd();
	int rc = vmmem_region_new_fd(&r, gpa, size, host, flags, fd, off);

	ck_assert_msg(rc == want,
		      "vmmem_region_new_fd(gpa 0x%llx, size 0x%llx, host %p, flags 0x%x, fd %d, "
		      "off 0x%llx) = %d, want %d",
		      (unsigned long long)gpa, (unsigned long long)size, host, flags, fd,
		      (unsigned long long)off, rc, want);
	ck_assert_ptr_null(r);
	/* No descriptor leaked by the failed call. */
	ck_assert_int_eq(lowest_free_fd(), before);
}

/* ---- vmmem_region_new: good input ----------------------------------------------------- */

/* The cross presets run the suites with 4, 16 and 64 KiB pages (qemu-user's -p): make sure
 * the page size they ask for is the one the library and the tests see, so a run that
 * silently fell back to 4 KiB cannot pass for a 64 KiB one. */
START_TEST(test_region_host_page_size)
{
	const char *want = getenv("VMMEM_TEST_EXPECT_PAGE_SIZE");
	struct vmmem_region *r = tu_anon_region(0, 4 * tu_page_size(), 0);

	ck_assert_uint_eq(vmmem_region_page_size(r), tu_page_size());
	if (want && *want)
		ck_assert_uint_eq(tu_page_size(), strtoull(want, NULL, 10));
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_region_new_accessors)
{
	size_t len = 2 * tu_page_size();
	void *p = tu_map_anon(len);
	struct vmmem_region *r = REGION_SENTINEL;

	ck_assert_int_eq(vmmem_region_new(&r, 0x10000, len, p, 0), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_ne(r, REGION_SENTINEL);
	ck_assert_uint_eq(vmmem_region_gpa(r), 0x10000);
	ck_assert_uint_eq(vmmem_region_size(r), len);
	ck_assert_uint_eq(vmmem_region_last(r), 0x10000 + len - 1);
	ck_assert_ptr_eq(vmmem_region_host(r), p);
	ck_assert_uint_eq(vmmem_region_flags(r), 0);
	ck_assert_int_eq(vmmem_region_fd(r), -1);
	ck_assert_uint_eq(vmmem_region_fd_offset(r), 0);
	ck_assert(vmmem_region_contains(r, 0x10000));
	ck_assert(vmmem_region_contains(r, 0x10000 + len / 2));
	ck_assert(vmmem_region_contains(r, 0x10000 + len - 1));
	ck_assert(!vmmem_region_contains(r, 0x10000 + len));
	ck_assert(!vmmem_region_contains(r, 0xffff));
	ck_assert(!vmmem_region_contains(r, 0));
	ck_assert(!vmmem_region_contains(r, UINT64_MAX));
	ck_assert_ptr_null(vmmem_region_unref(r));
	ck_assert(is_mapped(p, len)); /* no OWN_MAPPING: the caller's mapping survives */
	tu_unmap(p, len);
}
END_TEST

START_TEST(test_region_new_odd_size)
{
	void *p = tu_map_anon(tu_page_size());
	struct vmmem_region *r = NULL;

	/* The size need not be a page multiple. */
	ck_assert_int_eq(vmmem_region_new(&r, 0x1000, 100, p, 0), 0);
	ck_assert_uint_eq(vmmem_region_size(r), 100);
	ck_assert_uint_eq(vmmem_region_last(r), 0x1000 + 99);
	ck_assert(vmmem_region_contains(r, 0x1063));
	ck_assert(!vmmem_region_contains(r, 0x1064));
	vmmem_region_unref(r);

	/* Size 1: first == last byte; gpa need not be page-aligned. */
	ck_assert_int_eq(vmmem_region_new(&r, 0x1235, 1, p, 0), 0);
	ck_assert_uint_eq(vmmem_region_gpa(r), 0x1235);
	ck_assert_uint_eq(vmmem_region_last(r), 0x1235);
	ck_assert(vmmem_region_contains(r, 0x1235));
	ck_assert(!vmmem_region_contains(r, 0x1234));
	ck_assert(!vmmem_region_contains(r, 0x1236));
	vmmem_region_unref(r);
	tu_unmap(p, tu_page_size());
}
END_TEST

START_TEST(test_region_new_flags)
{
	void *p = tu_map_anon(tu_page_size());
	struct vmmem_region *r = NULL;

	ck_assert_int_eq(vmmem_region_new(&r, 0, tu_page_size(), p, VMMEM_REGION_READ_ONLY), 0);
	ck_assert_uint_eq(vmmem_region_flags(r), VMMEM_REGION_READ_ONLY);
	vmmem_region_unref(r);
	ck_assert(is_mapped(p, tu_page_size()));

	ck_assert_int_eq(vmmem_region_new(&r, 0, tu_page_size(), p, VMMEM_REGION_FLAGS_ALL), 0);
	ck_assert_uint_eq(vmmem_region_flags(r), VMMEM_REGION_FLAGS_ALL);
	ck_assert_uint_eq(VMMEM_REGION_FLAGS_ALL, 0x3u);
	vmmem_region_unref(r); /* owns the mapping: gone now */
	ck_assert(!is_mapped(p, tu_page_size()));
}
END_TEST

START_TEST(test_region_new_highest)
{
	void *p = tu_map_anon(tu_page_size());
	struct vmmem_region *r = NULL;

	/* gpa + size == 2^64 - 1: the largest legal end; last byte is 2^64 - 2. */
	ck_assert_int_eq(vmmem_region_new(&r, UINT64_MAX - 0x1000, 0x1000, p, 0), 0);
	ck_assert_uint_eq(vmmem_region_gpa(r), UINT64_MAX - 0x1000);
	ck_assert_uint_eq(vmmem_region_last(r), UINT64_MAX - 1);
	ck_assert(vmmem_region_contains(r, UINT64_MAX - 1));
	ck_assert(vmmem_region_contains(r, UINT64_MAX - 0x1000));
	ck_assert(!vmmem_region_contains(r, UINT64_MAX));
	ck_assert(!vmmem_region_contains(r, UINT64_MAX - 0x1001));
	vmmem_region_unref(r);

	ck_assert_int_eq(vmmem_region_new(&r, UINT64_MAX - 1, 1, p, 0), 0);
	ck_assert_uint_eq(vmmem_region_last(r), UINT64_MAX - 1);
	ck_assert(!vmmem_region_contains(r, UINT64_MAX));
	vmmem_region_unref(r);

	/* A region starting at 0 with a huge size. */
	ck_assert_int_eq(vmmem_region_new(&r, 0, UINT64_C(1) << 40, p, 0), 0);
	ck_assert_uint_eq(vmmem_region_last(r), (UINT64_C(1) << 40) - 1);
	ck_assert(vmmem_region_contains(r, 0));
	vmmem_region_unref(r);
	tu_unmap(p, tu_page_size());
}
END_TEST

/* ---- vmmem_region_new: bad input ------------------------------------------------------ */

START_TEST(test_region_new_null_out)
{
	void *p = tu_map_anon(tu_page_size());

	ck_assert_int_eq(vmmem_region_new(NULL, 0, tu_page_size(), p, 0), -EINVAL);
	ck_assert_int_eq(vmmem_region_new(NULL, 0, tu_page_size(), p, VMMEM_REGION_OWN_MAPPING),
			 -EINVAL);
	ck_assert(is_mapped(p, tu_page_size()));
	tu_unmap(p, tu_page_size());
}
END_TEST

START_TEST(test_region_new_null_host)
{
	expect_new_fails(0, tu_page_size(), NULL, 0, -EINVAL);
	expect_new_fails(0x1000, 1, NULL, VMMEM_REGION_READ_ONLY, -EINVAL);
}
END_TEST

START_TEST(test_region_new_zero_size)
{
	void *p = tu_map_anon(tu_page_size());

	expect_new_fails(0, 0, p, 0, VMMEM_E_ZERO_SIZE);
	expect_new_fails(0x1000, 0, p, VMMEM_REGION_READ_ONLY, VMMEM_E_ZERO_SIZE);
	expect_new_fails(UINT64_MAX, 0, p, 0, VMMEM_E_ZERO_SIZE);
	tu_unmap(p, tu_page_size());
}
END_TEST

START_TEST(test_region_new_unknown_flags)
{
	void *p = tu_map_anon(tu_page_size());

	expect_new_fails(0, tu_page_size(), p, 0x4, -EINVAL);
	expect_new_fails(0, tu_page_size(), p, 0x8 | VMMEM_REGION_READ_ONLY, -EINVAL);
	expect_new_fails(0, tu_page_size(), p, 0x80000000u, -EINVAL);
	expect_new_fails(0, tu_page_size(), p, UINT32_MAX, -EINVAL);
	expect_new_fails(0, tu_page_size(), p, ~VMMEM_REGION_FLAGS_ALL, -EINVAL);
	/* A failed OWN_MAPPING call leaves the mapping to the caller. */
	expect_new_fails(0, tu_page_size(), p, VMMEM_REGION_OWN_MAPPING | 0x10, -EINVAL);
	ck_assert(is_mapped(p, tu_page_size()));
	tu_unmap(p, tu_page_size());
}
END_TEST

START_TEST(test_region_new_gpa_overflow)
{
	void *p = tu_map_anon(tu_page_size());

	/* End exactly 2^64: the region would contain byte 2^64 - 1. */
	expect_new_fails(UINT64_MAX - 0xfff, 0x1000, p, 0, -EOVERFLOW);
	expect_new_fails(0xfffffffffffff000u, 0x1000, p, 0, -EOVERFLOW);
	expect_new_fails(UINT64_MAX, 1, p, 0, -EOVERFLOW);
	expect_new_fails(1, UINT64_MAX, p, 0, -EOVERFLOW);
	expect_new_fails(0, UINT64_MAX, p, 0, -EOVERFLOW);
	/* Past 2^64. */
	expect_new_fails(UINT64_MAX - 0xfff, 0x2000, p, 0, -EOVERFLOW);
	expect_new_fails(UINT64_MAX, UINT64_MAX, p, 0, -EOVERFLOW);
	expect_new_fails(UINT64_C(1) << 63, UINT64_C(1) << 63, p, 0, -EOVERFLOW);
	/* OWN_MAPPING: the failed call does not unmap. */
	expect_new_fails(UINT64_MAX, 1, p, VMMEM_REGION_OWN_MAPPING, -EOVERFLOW);
	ck_assert(is_mapped(p, tu_page_size()));
	tu_unmap(p, tu_page_size());
}
END_TEST

START_TEST(test_region_new_host_wraps)
{
	/* host + size wraps the host address space (pointer is never dereferenced). */
	void *top = (void *)(uintptr_t)(UINTPTR_MAX & ~(uintptr_t)(tu_page_size() - 1));

	expect_new_fails(0, 2 * tu_page_size(), top, 0, -EOVERFLOW);
	expect_new_fails(0x1000, UINT64_C(1) << 40, top, 0, -EOVERFLOW);
}
END_TEST

START_TEST(test_region_new_misaligned_host)
{
	size_t pg = tu_page_size();
	char *p = tu_map_anon(2 * pg);

	expect_new_fails(0, pg, p + 1, 0, VMMEM_E_MISALIGNED);
	expect_new_fails(0, pg, p + 8, 0, VMMEM_E_MISALIGNED);
	expect_new_fails(0, pg, p + pg / 2, 0, VMMEM_E_MISALIGNED);
	expect_new_fails(0, 1, p + pg - 1, 0, VMMEM_E_MISALIGNED);
	expect_new_fails(0, pg, p + 1, VMMEM_REGION_OWN_MAPPING, VMMEM_E_MISALIGNED);
	ck_assert(is_mapped(p, 2 * pg));
	tu_unmap(p, 2 * pg);
}
END_TEST

/* ---- accessors on NULL ---------------------------------------------------------------- */

START_TEST(test_region_accessors_null)
{
	ck_assert_uint_eq(vmmem_region_gpa(NULL), 0);
	ck_assert_uint_eq(vmmem_region_size(NULL), 0);
	ck_assert_uint_eq(vmmem_region_last(NULL), 0);
	ck_assert_ptr_null(vmmem_region_host(NULL));
	ck_assert_uint_eq(vmmem_region_flags(NULL), 0);
	ck_assert_int_eq(vmmem_region_fd(NULL), -EINVAL);
	ck_assert_uint_eq(vmmem_region_fd_offset(NULL), 0);
	ck_assert(!vmmem_region_contains(NULL, 0));
	ck_assert(!vmmem_region_contains(NULL, UINT64_MAX));
	ck_assert_ptr_null(vmmem_region_ref(NULL));
	ck_assert_ptr_null(vmmem_region_unref(NULL));
}
END_TEST

/* ---- vmmem_region_new_fd -------------------------------------------------------------- */

START_TEST(test_region_new_fd_dups)
{
	size_t len = 2 * tu_page_size();
	int fd = plain_memfd(len);
	void *p = map_fd(fd, len, 0);
	struct vmmem_region *r = REGION_SENTINEL;
	struct stat st;
	int rfd, fl;

	ck_assert_int_eq(vmmem_region_new_fd(&r, 0x4000, len, p, 0, fd, 0), 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_ne(r, REGION_SENTINEL);
	rfd = vmmem_region_fd(r);
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_ne(rfd, fd);
	ck_assert_uint_eq(vmmem_region_fd_offset(r), 0);
	ck_assert_uint_eq(vmmem_region_gpa(r), 0x4000);
	ck_assert_uint_eq(vmmem_region_size(r), len);
	ck_assert_ptr_eq(vmmem_region_host(r), p);
	ck_assert_uint_eq(vmmem_region_flags(r), 0);

	/* Close-on-exec on the duplicate although the original has none. */
	fl = fcntl(rfd, F_GETFD);
	ck_assert_int_ge(fl, 0);
	ck_assert_int_eq(fl & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);

	/* The caller may close its descriptor; the region's still refers to the same file. */
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(fstat(rfd, &st), 0);
	ck_assert_int_eq((long long)st.st_size, (long long)len);
	ck_assert_int_eq(vmmem_region_fd(r), rfd);

	/* The last unref closes the duplicate; the mapping is the caller's. */
	ck_assert_ptr_null(vmmem_region_unref(r));
	ck_assert(fd_closed(rfd));
	ck_assert(is_mapped(p, len));
	ck_assert_int_eq(munmap(p, len), 0);
}
END_TEST

START_TEST(test_region_new_fd_same_file)
{
	/* The duplicate refers to the same open file: data written through it is visible in
	 * the mapping. */
	size_t len = tu_page_size();
	int fd = tu_memfd(len);
	char *p = map_fd(fd, len, 0);
	struct vmmem_region *r = NULL;
	static const char msg[] = "hello";
	int rfd;

	ck_assert_int_eq(vmmem_region_new_fd(&r, 0, len, p, VMMEM_REGION_READ_ONLY, fd, 0), 0);
	ck_assert_int_eq(close(fd), 0);
	rfd = vmmem_region_fd(r);
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_eq(pwrite(rfd, msg, sizeof(msg), 16), (ssize_t)sizeof(msg));
	ck_assert_mem_eq(p + 16, msg, sizeof(msg));
	ck_assert_uint_eq(vmmem_region_flags(r), VMMEM_REGION_READ_ONLY);
	vmmem_region_unref(r);
	ck_assert(fd_closed(rfd));
	ck_assert_int_eq(munmap(p, len), 0);
}
END_TEST

START_TEST(test_region_new_fd_offset)
{
	size_t pg = tu_page_size();
	int fd = tu_memfd(4 * pg);
	void *p = map_fd(fd, 2 * pg, (off_t)pg);
	struct vmmem_region *r = NULL;

	ck_assert_int_eq(vmmem_region_new_fd(&r, 0x100000, 2 * pg, p, 0, fd, pg), 0);
	ck_assert_uint_eq(vmmem_region_fd_offset(r), pg);
	ck_assert_uint_eq(vmmem_region_gpa(r), 0x100000);
	ck_assert_uint_eq(vmmem_region_last(r), 0x100000 + 2 * pg - 1);
	ck_assert_int_ge(vmmem_region_fd(r), 0);
	ck_assert_int_ne(vmmem_region_fd(r), fd);
	vmmem_region_unref(r);

	/* A large but legal offset: fd_offset + size stays below 2^63. */
	ck_assert_int_eq(vmmem_region_new_fd(&r, 0, pg, p, 0, fd,
					     (UINT64_C(1) << 63) - 2 * pg64()),
			 0);
	ck_assert_uint_eq(vmmem_region_fd_offset(r), (UINT64_C(1) << 63) - 2 * pg64());
	vmmem_region_unref(r);
	ck_assert_int_eq(munmap(p, 2 * pg), 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_region_new_fd_own_mapping)
{
	size_t len = 2 * tu_page_size();
	int fd = tu_memfd(len);
	void *p = map_fd(fd, len, 0);
	struct vmmem_region *r = NULL;
	int rfd;

	ck_assert_int_eq(vmmem_region_new_fd(&r, 0, len, p, VMMEM_REGION_OWN_MAPPING, fd, 0), 0);
	ck_assert_int_eq(close(fd), 0);
	rfd = vmmem_region_fd(r);
	ck_assert_int_ge(rfd, 0);
	ck_assert_ptr_eq(vmmem_region_ref(r), r);
	vmmem_region_unref(r);
	/* Still one reference: fd open, mapping present. */
	ck_assert(!fd_closed(rfd));
	ck_assert(is_mapped(p, len));
	vmmem_region_unref(r);
	ck_assert(fd_closed(rfd));
	ck_assert(!is_mapped(p, len));
}
END_TEST

START_TEST(test_region_new_fd_bad_fd)
{
	size_t pg = tu_page_size();
	void *p = tu_map_anon(pg);
	int closed = dup(0);

	ck_assert_int_ge(closed, 0);
	ck_assert_int_eq(close(closed), 0);
	expect_new_fd_fails(0, pg, p, 0, -1, 0, -EBADF);
	expect_new_fd_fails(0, pg, p, 0, -2, 0, -EBADF);
	expect_new_fd_fails(0, pg, p, 0, -EBADF, 0, -EBADF);
	expect_new_fd_fails(0, pg, p, 0, closed, 0, -EBADF);
	expect_new_fd_fails(0, pg, p, 0, 1 << 30, 0, -EBADF);
	expect_new_fd_fails(0, pg, p, VMMEM_REGION_OWN_MAPPING, -1, 0, -EBADF);
	ck_assert(is_mapped(p, pg));
	tu_unmap(p, pg);
}
END_TEST

START_TEST(test_region_new_fd_emfile)
{
	size_t pg = tu_page_size();
	int fd = tu_memfd(pg);
	void *p = map_fd(fd, pg, 0);
	struct vmmem_region *r = REGION_SENTINEL;
	struct rlimit old, lim;
	int rc, set;

	/* No descriptor left for the duplicate: the soft limit is the lowest free number. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)lowest_free_fd();
	set = setrlimit(RLIMIT_NOFILE, &lim);
	rc = vmmem_region_new_fd(&r, 0, pg, p, 0, fd, 0);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_eq(set, 0);
	ck_assert_int_eq(rc, -EMFILE);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(munmap(p, pg), 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_region_new_fd_misaligned_offset)
{
	size_t pg = tu_page_size();
	int fd = tu_memfd(2 * pg);
	void *p = map_fd(fd, pg, 0);

	expect_new_fd_fails(0, pg, p, 0, fd, 1, VMMEM_E_MISALIGNED);
	expect_new_fd_fails(0, pg, p, 0, fd, pg / 2, VMMEM_E_MISALIGNED);
	expect_new_fd_fails(0, pg, p, 0, fd, pg + 8, VMMEM_E_MISALIGNED);
	expect_new_fd_fails(0, pg, p, 0, fd, UINT64_MAX, VMMEM_E_MISALIGNED);
	/* Misaligned host with an fd. */
	expect_new_fd_fails(0, pg, (char *)p + 16, 0, fd, 0, VMMEM_E_MISALIGNED);
	ck_assert_int_eq(munmap(p, pg), 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_region_new_fd_offset_overflow)
{
	size_t pg = tu_page_size();
	int fd = tu_memfd(pg);
	void *p = map_fd(fd, pg, 0);
	uint64_t top = UINT64_MAX & ~(pg64() - 1);

	/* fd_offset + size passes 2^63 - 1 (the largest file offset). */
	expect_new_fd_fails(0, pg, p, 0, fd, (UINT64_C(1) << 63) - pg64(), -EOVERFLOW);
	expect_new_fd_fails(0, 2 * pg, p, 0, fd, (UINT64_C(1) << 63) - pg64(), -EOVERFLOW);
	expect_new_fd_fails(0, pg, p, 0, fd, UINT64_C(1) << 63, -EOVERFLOW);
	/* ... and past 2^64. */
	expect_new_fd_fails(0, 2 * pg, p, 0, fd, top, -EOVERFLOW);
	expect_new_fd_fails(0, pg, p, 0, fd, top, -EOVERFLOW);
	ck_assert_int_eq(munmap(p, pg), 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_region_new_fd_common_errors)
{
	size_t pg = tu_page_size();
	int fd = tu_memfd(pg);
	void *p = map_fd(fd, pg, 0);

	ck_assert_int_eq(vmmem_region_new_fd(NULL, 0, pg, p, 0, fd, 0), -EINVAL);
	expect_new_fd_fails(0, pg, NULL, 0, fd, 0, -EINVAL);
	expect_new_fd_fails(0, 0, p, 0, fd, 0, VMMEM_E_ZERO_SIZE);
	expect_new_fd_fails(0, pg, p, 0x4, fd, 0, -EINVAL);
	expect_new_fd_fails(0, pg, p, UINT32_MAX, fd, 0, -EINVAL);
	expect_new_fd_fails(UINT64_MAX - 0xfff, 0x1000, p, 0, fd, 0, -EOVERFLOW);
	expect_new_fd_fails(UINT64_MAX, 1, p, 0, fd, 0, -EOVERFLOW);
	expect_new_fd_fails(0, pg, (char *)p + 1, 0, fd, 0, VMMEM_E_MISALIGNED);
	/* Failed OWN_MAPPING calls leave the mapping alone. */
	expect_new_fd_fails(UINT64_MAX, 1, p, VMMEM_REGION_OWN_MAPPING, fd, 0, -EOVERFLOW);
	ck_assert(is_mapped(p, pg));
	/* The caller's fd is untouched by the failures. */
	ck_assert(!fd_closed(fd));
	ck_assert_int_eq(munmap(p, pg), 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

/* ---- reference counting --------------------------------------------------------------- */

START_TEST(test_region_ref_unref)
{
	size_t pg = tu_page_size();
	struct vmmem_region *r = tu_anon_region(0x2000, pg, 0);
	void *host = vmmem_region_host(r);

	ck_assert_ptr_eq(vmmem_region_ref(r), r);
	ck_assert_ptr_eq(vmmem_region_ref(r), r);
	ck_assert_ptr_null(vmmem_region_unref(r));
	ck_assert_ptr_null(vmmem_region_unref(r));
	/* One reference left: still fully usable. */
	ck_assert_uint_eq(vmmem_region_gpa(r), 0x2000);
	ck_assert_uint_eq(vmmem_region_size(r), pg);
	ck_assert(is_mapped(host, pg));
	memset(host, 0xab, pg);
	ck_assert_ptr_null(vmmem_region_unref(r));
	ck_assert(!is_mapped(host, pg));
}
END_TEST

START_TEST(test_region_own_mapping_unmaps)
{
	size_t pg = tu_page_size();
	char *p = tu_map_anon(4 * pg);
	struct vmmem_region *r = NULL;

	/* Region over the first 2 pages + 1 byte of a 4-page mapping: its pages (3) go, the
	 * caller's 4th page stays. */
	ck_assert_int_eq(vmmem_region_new(&r, 0, 2 * pg + 1, p, VMMEM_REGION_OWN_MAPPING), 0);
	ck_assert_uint_eq(vmmem_region_flags(r), VMMEM_REGION_OWN_MAPPING);
	ck_assert(is_mapped(p, 4 * pg));
	ck_assert_ptr_null(vmmem_region_unref(r));
	ck_assert(!is_mapped(p, pg));
	ck_assert(!is_mapped(p + pg, pg));
	ck_assert(!is_mapped(p + 2 * pg, pg));
	ck_assert(is_mapped(p + 3 * pg, pg));
	ck_assert_int_eq(munmap(p + 3 * pg, pg), 0);
}
END_TEST

START_TEST(test_region_without_own_mapping_survives)
{
	size_t pg = tu_page_size();
	char *p = tu_map_anon(2 * pg);
	struct vmmem_region *r = NULL;

	ck_assert_int_eq(vmmem_region_new(&r, 0, 2 * pg, p, 0), 0);
	vmmem_region_ref(r);
	vmmem_region_unref(r);
	vmmem_region_unref(r);
	ck_assert(is_mapped(p, 2 * pg));
	p[0] = 1;
	p[2 * pg - 1] = 2;
	tu_unmap(p, 2 * pg);
}
END_TEST

struct ref_thread {
	struct vmmem_region *r;
	int iterations;
};

static void *ref_thread_fn(void *arg)
{
	struct ref_thread *t = arg;

	for (int i = 0; i < t->iterations; i++) {
		struct vmmem_region *a = vmmem_region_ref(t->r);
		struct vmmem_region *b = vmmem_region_ref(t->r);

		if (a != t->r || b != t->r)
			return arg; /* failure */
		vmmem_region_unref(a);
		vmmem_region_unref(b);
	}
	return NULL;
}

START_TEST(test_region_ref_threads)
{
	size_t pg = tu_page_size();
	struct vmmem_region *r = tu_anon_region(0, pg, 0);
	void *host = vmmem_region_host(r);
	struct ref_thread t = { r, 20000 };
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, ref_thread_fn, &t), 0);
	for (int i = 0; i < 4; i++) {
		void *res = &t;

		ck_assert_int_eq(pthread_join(th[i], &res), 0);
		ck_assert_ptr_null(res);
	}
	/* Only the original reference remains: the mapping is still there... */
	ck_assert(is_mapped(host, pg));
	ck_assert_uint_eq(vmmem_region_size(r), pg);
	/* ...until it is dropped. */
	vmmem_region_unref(r);
	ck_assert(!is_mapped(host, pg));
}
END_TEST

/* ---- page size, provider, discard of caller-made regions ------------------------------ */

START_TEST(test_region_page_size)
{
	size_t pg = tu_page_size();
	int fd = tu_memfd(pg);
	void *p = map_fd(fd, pg, 0);
	struct vmmem_region *a = NULL, *b = NULL;

	ck_assert_int_eq(vmmem_region_new(&a, 0x1000, 100, p, 0), 0);
	ck_assert_int_eq(vmmem_region_new_fd(&b, 0x1000, pg, p, 0, fd, 0), 0);
	ck_assert_uint_eq(vmmem_region_page_size(a), pg);
	ck_assert_uint_eq(vmmem_region_page_size(b), pg);
	ck_assert_uint_eq(vmmem_region_page_size(NULL), 0);
	ck_assert_ptr_null(vmmem_region_provider(a));
	ck_assert_ptr_null(vmmem_region_provider(b));
	ck_assert_ptr_null(vmmem_region_provider(NULL));
	vmmem_region_unref(a);
	vmmem_region_unref(b);
	ck_assert_int_eq(munmap(p, pg), 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_region_discard_caller_mapping)
{
	size_t pg = tu_page_size();
	int fd = tu_memfd(2 * pg);
	unsigned char *p = map_fd(fd, 2 * pg, 0);
	unsigned char *q = tu_map_anon(2 * pg);
	struct vmmem_region *a = NULL, *b = NULL;

	memset(p, 0x11, 2 * pg);
	memset(q, 0x22, 2 * pg);
	ck_assert_int_eq(vmmem_region_new_fd(&a, 0, 2 * pg, p, 0, fd, 0), 0);
	ck_assert_int_eq(vmmem_region_new(&b, 0x100000, 2 * pg, q, 0), 0);
	ck_assert_int_eq(vmmem_region_discard(NULL, 0, pg), -EINVAL);
	/* libvmmem does not know how a caller's mapping was made. */
	ck_assert_int_eq(vmmem_region_discard(a, 0, pg), -EOPNOTSUPP);
	ck_assert_int_eq(vmmem_region_discard(b, pg, pg), -EOPNOTSUPP);
	ck_assert_int_eq(vmmem_region_discard(b, 0, 2 * pg), -EOPNOTSUPP);
	ck_assert_msg(vmmem_errormsg()[0] != '\0', "no message");
	/* len 0 is a success. */
	ck_assert_int_eq(vmmem_region_discard(a, 0, 0), 0);
	ck_assert_int_eq(vmmem_region_discard(b, pg, 0), 0);
	/* Nothing was touched. */
	ck_assert_uint_eq(p[0], 0x11);
	ck_assert_uint_eq(p[2 * pg - 1], 0x11);
	ck_assert_uint_eq(q[0], 0x22);
	ck_assert_uint_eq(q[2 * pg - 1], 0x22);
	vmmem_region_unref(a);
	vmmem_region_unref(b);
	tu_unmap(q, 2 * pg);
	ck_assert_int_eq(munmap(p, 2 * pg), 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

Suite *region_suite(void);
Suite *region_suite(void)
{
	Suite *s = suite_create("region");
	TCase *tc = tcase_create("new");

	tcase_add_test(tc, test_region_host_page_size);
	tcase_add_test(tc, test_region_new_accessors);
	tcase_add_test(tc, test_region_new_odd_size);
	tcase_add_test(tc, test_region_new_flags);
	tcase_add_test(tc, test_region_new_highest);
	tcase_add_test(tc, test_region_new_null_out);
	tcase_add_test(tc, test_region_new_null_host);
	tcase_add_test(tc, test_region_new_zero_size);
	tcase_add_test(tc, test_region_new_unknown_flags);
	tcase_add_test(tc, test_region_new_gpa_overflow);
	tcase_add_test(tc, test_region_new_host_wraps);
	tcase_add_test(tc, test_region_new_misaligned_host);
	tcase_add_test(tc, test_region_accessors_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("new_fd");
	tcase_add_test(tc, test_region_new_fd_dups);
	tcase_add_test(tc, test_region_new_fd_same_file);
	tcase_add_test(tc, test_region_new_fd_offset);
	tcase_add_test(tc, test_region_new_fd_own_mapping);
	tcase_add_test(tc, test_region_new_fd_bad_fd);
	tcase_add_test(tc, test_region_new_fd_emfile);
	tcase_add_test(tc, test_region_new_fd_misaligned_offset);
	tcase_add_test(tc, test_region_new_fd_offset_overflow);
	tcase_add_test(tc, test_region_new_fd_common_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("refcount");
	tcase_add_test(tc, test_region_ref_unref);
	tcase_add_test(tc, test_region_own_mapping_unmaps);
	tcase_add_test(tc, test_region_without_own_mapping_survives);
	tcase_add_test(tc, test_region_ref_threads);
	tcase_add_test(tc, test_region_page_size);
	tcase_add_test(tc, test_region_discard_caller_mapping);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(region_suite());
}
