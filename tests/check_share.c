/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmmem/share.h: describing regions for another process (vmmem_region_to_vhost) and
 * importing received fds (vmmem_region_import) with their size and seal checks, in one
 * process and between two real processes (fork + exec of share-peer, fds over SCM_RIGHTS).
 * The huge-page cases are in check_hugetlb.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "share_proto.h"
#include "share_session.h"
#include "testutil.h"

#define SENTINEL ((struct vmmem_region *)(uintptr_t)0x5a5a5a5a5a5a5000u)
#define KiB (UINT64_C(1) << 10)
/* Discards come in host pages (4, 16 or 64 KiB; docs/PORTABILITY.md). */
#define PG ((uint64_t)tu_page_size())
#define MiB (UINT64_C(1) << 20)
#define SEAL_ALL (F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)

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

static struct vmmem_memory *memory_of(struct vmmem_region *const *r, size_t n)
{
	struct vmmem_memory *m = NULL;
	int rc = vmmem_memory_new(&m, r, n);

	ck_assert_msg(rc == 0, "vmmem_memory_new: %s", vmmem_errormsg());
	return m;
}

/* A memfd of size bytes, with seals added (0: none; -1: created without
 * MFD_ALLOW_SEALING, so it can never be sealed). */
static int memfd_with_seals(uint64_t size, int seals)
{
	int fd = memfd_create("vmmem-check-share",
			      MFD_CLOEXEC | (seals >= 0 ? MFD_ALLOW_SEALING : 0u));

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	if (seals > 0)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* Fill the file [off, off + len) with the pattern, addressed by file offset. */
static void pwrite_pattern(int fd, uint64_t off, uint64_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	sp_gen(buf, off, len, seed);
	ck_assert_int_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	free(buf);
}

/* Check the file [off, off + len) holds the pattern of addresses pat_base.. (or zeroes). */
static void pread_expect(int fd, uint64_t off, uint64_t len, uint64_t pat_base, uint32_t seed,
			 int zero)
{
	uint8_t *buf = malloc(len);
	uint64_t bad;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	bad = sp_mismatch(buf, pat_base, len, seed, zero);
	ck_assert_msg(bad == len, "file byte at 0x%llx is 0x%02x, expected 0x%02x",
		      (unsigned long long)(off + bad), buf[bad == len ? 0 : bad],
		      zero ? 0 : sp_byte(pat_base + bad, seed));
	free(buf);
}

/* Write the pattern (by guest address) over guest [gpa, gpa + len). */
static void fill(const struct vmmem_memory *m, uint64_t gpa, uint64_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len);
	int rc;

	ck_assert_ptr_nonnull(buf);
	sp_gen(buf, gpa, len, seed);
	rc = vmmem_memory_write_exact(m, gpa, buf, len, NULL);
	free(buf);
	ck_assert_msg(rc == 0, "write_exact(0x%llx, 0x%llx): %d %s", (unsigned long long)gpa,
		      (unsigned long long)len, rc, vmmem_errormsg());
}

/* Check guest [gpa, gpa + len) holds pattern seed by address base + (gpa - start) ... i.e.
 * the pattern of address pat_base + i at guest gpa + i; or zeroes. */
static void expect_at(const struct vmmem_memory *m, uint64_t gpa, uint64_t len, uint64_t pat_base,
		      uint32_t seed, int zero, const char *what)
{
	uint8_t *buf = malloc(len);
	uint64_t bad;
	int rc;

	ck_assert_ptr_nonnull(buf);
	rc = vmmem_memory_read_exact(m, gpa, buf, len, NULL);
	ck_assert_msg(rc == 0, "%s: read_exact(0x%llx, 0x%llx): %d %s", what,
		      (unsigned long long)gpa, (unsigned long long)len, rc, vmmem_errormsg());
	bad = sp_mismatch(buf, pat_base, len, seed, zero);
	ck_assert_msg(bad == len, "%s: byte at GPA 0x%llx is 0x%02x, expected 0x%02x", what,
		      (unsigned long long)(gpa + bad), buf[bad == len ? 0 : bad],
		      zero ? 0 : sp_byte(pat_base + bad, seed));
	free(buf);
}

static void expect(const struct vmmem_memory *m, uint64_t gpa, uint64_t len, uint32_t seed,
		   const char *what)
{
	expect_at(m, gpa, len, gpa, seed, 0, what);
}

static void expect_zero(const struct vmmem_memory *m, uint64_t gpa, uint64_t len,
			const char *what)
{
	expect_at(m, gpa, len, gpa, 0, 1, what);
}

static struct vmmem_vhost_region desc_of(uint64_t gpa, uint64_t size, uint64_t offset)
{
	return (struct vmmem_vhost_region){
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = 0x7f0000000000u,
		.mmap_offset = offset,
	};
}

/* vmmem_region_import must fail with want and leave *out NULL. */
static void expect_import_error(const struct vmmem_vhost_region *d, int fd, uint32_t flags,
				int want, const char *what)
{
	struct vmmem_region *r = SENTINEL;
	int rc = vmmem_region_import(&r, d, fd, flags);

	ck_assert_msg(rc == want, "%s: import gave %d (%s: %s), expected %d (%s)", what, rc,
		      vmmem_strerror(rc), vmmem_errormsg(), want, vmmem_strerror(want));
	ck_assert_msg(r == NULL, "%s: *out not NULL after failure", what);
	ck_assert_str_ne(vmmem_errormsg(), "");
}

static struct vmmem_region *import_ok(const struct vmmem_vhost_region *d, int fd,
				      uint32_t flags)
{
	struct vmmem_region *r = SENTINEL;
	int rc = vmmem_region_import(&r, d, fd, flags);

	ck_assert_msg(rc == 0, "import of fd %d (gpa 0x%llx size 0x%llx offset 0x%llx flags 0x%x): "
			       "%s: %s",
		      fd, (unsigned long long)d->guest_phys_addr,
		      (unsigned long long)d->memory_size, (unsigned long long)d->mmap_offset, flags,
		      vmmem_strerror(rc), vmmem_errormsg());
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_ne(r, SENTINEL);
	return r;
}

static int fd_closed(int fd)
{
	errno = 0;
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* ---- vmmem_region_to_vhost ---- */

START_TEST(test_share_to_vhost_fields)
{
	struct vmmem_region *r = create("memfd:gpa=1G,size=4M"), *r2 = NULL;
	struct vmmem_vhost_region d, d2;
	size_t pg = tu_page_size();
	int fd = -42, mfd;
	void *p;

	memset(&d, 0xa5, sizeof(d));
	ck_assert_int_eq(vmmem_region_to_vhost(r, &d, &fd), 0);
	ck_assert_uint_eq(d.guest_phys_addr, vmmem_region_gpa(r));
	ck_assert_uint_eq(d.guest_phys_addr, 1u << 30);
	ck_assert_uint_eq(d.memory_size, vmmem_region_size(r));
	ck_assert_uint_eq(d.memory_size, 4 * MiB);
	ck_assert_uint_eq(d.userspace_addr, (uint64_t)(uintptr_t)vmmem_region_host(r));
	ck_assert_uint_eq(d.mmap_offset, vmmem_region_fd_offset(r));
	ck_assert_int_eq(fd, vmmem_region_fd(r));
	ck_assert_int_ge(fd, 0);
	/* fd may be NULL. */
	memset(&d2, 0, sizeof(d2));
	ck_assert_int_eq(vmmem_region_to_vhost(r, &d2, NULL), 0);
	ck_assert_mem_eq(&d, &d2, sizeof(d));

	/* A caller's mapping of a file at an offset. */
	mfd = tu_memfd(4 * pg);
	p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, (off_t)(2 * pg));
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(vmmem_region_new_fd(&r2, 0x10000, 2 * pg, p, VMMEM_REGION_OWN_MAPPING, mfd,
					     2 * pg),
			 0);
	ck_assert_int_eq(close(mfd), 0);
	ck_assert_int_eq(vmmem_region_to_vhost(r2, &d, &fd), 0);
	ck_assert_uint_eq(d.guest_phys_addr, 0x10000);
	ck_assert_uint_eq(d.memory_size, 2 * pg);
	ck_assert_uint_eq(d.userspace_addr, (uint64_t)(uintptr_t)p);
	ck_assert_uint_eq(d.mmap_offset, 2 * pg);
	ck_assert_int_eq(fd, vmmem_region_fd(r2));
	ck_assert(!fd_closed(fd));
	vmmem_region_unref(r2);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_share_to_vhost_null_args)
{
	struct vmmem_region *r = create("memfd:gpa=0,size=1M");
	struct vmmem_vhost_region d;
	int fd;

	ck_assert_int_eq(vmmem_region_to_vhost(NULL, &d, &fd), -EINVAL);
	ck_assert_int_eq(vmmem_region_to_vhost(NULL, &d, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_region_to_vhost(r, NULL, &fd), -EINVAL);
	ck_assert_int_eq(vmmem_region_to_vhost(r, NULL, NULL), -EINVAL);
	vmmem_region_unref(r);
}
END_TEST

START_TEST(test_share_to_vhost_not_shareable)
{
	static const char *const specs[] = {
		"anon:gpa=0,size=1M",
		"anon:gpa=0,size=1M,share=on",
		"memfd:gpa=0,size=1M,share=off",
		"memfd:gpa=0,size=1M,share=off,seal=off",
	};
	struct vmmem_vhost_region d;
	struct vmmem_region *r;

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		int rc;

		r = create(specs[i]);
		rc = vmmem_region_to_vhost(r, &d, NULL);
		ck_assert_msg(rc == VMMEM_E_NOT_SHAREABLE, "'%s': to_vhost gave %d", specs[i], rc);
		ck_assert_str_ne(vmmem_errormsg(), "");
		vmmem_region_unref(r);
	}
	/* A caller's anonymous mapping: no fd. */
	r = tu_anon_region(0, 64 * KiB, 0);
	ck_assert_int_eq(vmmem_region_to_vhost(r, &d, NULL), VMMEM_E_NOT_SHAREABLE);
	vmmem_region_unref(r);
}
END_TEST

/* ---- vmmem_region_import ---- */

/* A provider-made sealed memfd, imported: the same bytes, both ways, and aliases. */
START_TEST(test_share_import_from_region)
{
	struct vmmem_region *er = create("memfd:gpa=1G,size=4M"), *ir, *alias;
	struct vmmem_memory *em = memory_of(&er, 1), *im;
	struct vmmem_vhost_region d, d2;
	const uint64_t g = 1u << 30;
	int fd;

	fill(em, g, 4 * MiB, 1);
	ck_assert_int_eq(vmmem_region_to_vhost(er, &d, &fd), 0);
	ir = import_ok(&d, fd, 0);
	ck_assert_uint_eq(vmmem_region_gpa(ir), g);
	ck_assert_uint_eq(vmmem_region_size(ir), 4 * MiB);
	ck_assert_uint_eq(vmmem_region_last(ir), g + 4 * MiB - 1);
	ck_assert_uint_eq(vmmem_region_page_size(ir), tu_page_size());
	ck_assert_ptr_null(vmmem_region_provider(ir));
	ck_assert_uint_eq(vmmem_region_flags(ir) & VMMEM_REGION_READ_ONLY, 0);
	ck_assert_uint_eq(vmmem_region_fd_offset(ir), 0);
	ck_assert_int_ge(vmmem_region_fd(ir), 0);
	ck_assert_int_ne(vmmem_region_fd(ir), fd);
	ck_assert_int_ne(fcntl(vmmem_region_fd(ir), F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_ptr_ne(vmmem_region_host(ir), vmmem_region_host(er));
	ck_assert_uint_eq((uintptr_t)vmmem_region_host(ir) % tu_page_size(), 0);
	im = memory_of(&ir, 1);
	expect(im, g, 4 * MiB, 1, "importer sees the exporter's bytes");
	fill(im, g + MiB, 64 * KiB, 2);
	expect(em, g + MiB, 64 * KiB, 2, "exporter sees the importer's write");
	fill(em, g + 3 * MiB, 4 * KiB, 3);
	expect(im, g + 3 * MiB, 4 * KiB, 3, "importer sees the exporter's write");

	/* The imported region is shareable again, with its own fd. */
	ck_assert_int_eq(vmmem_region_to_vhost(ir, &d2, &fd), 0);
	ck_assert_uint_eq(d2.guest_phys_addr, g);
	ck_assert_uint_eq(d2.memory_size, 4 * MiB);
	ck_assert_uint_eq(d2.userspace_addr, (uint64_t)(uintptr_t)vmmem_region_host(ir));
	ck_assert_uint_eq(d2.mmap_offset, 0);
	ck_assert_int_eq(fd, vmmem_region_fd(ir));

	/* The same file at another GPA: an alias of the same bytes. */
	d2.guest_phys_addr = 8u << 30;
	alias = import_ok(&d2, fd, 0);
	vmmem_memory_unref(im);
	{
		struct vmmem_region *both[2] = { ir, alias };

		im = memory_of(both, 2);
	}
	fill(im, (8u << 30) + 16 * KiB, 4 * KiB, 4);
	expect_at(im, g + 16 * KiB, 4 * KiB, (8u << 30) + 16 * KiB, 4, 0, "alias");
	vmmem_memory_unref(im);
	vmmem_region_unref(alias);
	vmmem_region_unref(ir);
	vmmem_memory_unref(em);
	vmmem_region_unref(er);
}
END_TEST

/* A memfd made here, sealed against shrinking only (that is all import needs). */
START_TEST(test_share_import_own_sealed_memfd)
{
	int fd = memfd_with_seals(MiB, F_SEAL_SHRINK);
	struct vmmem_vhost_region d = desc_of(0x200000, MiB, 0);
	struct vmmem_region *r;
	struct vmmem_memory *m;

	pwrite_pattern(fd, 0, MiB, 7);
	r = import_ok(&d, fd, 0);
	m = memory_of(&r, 1);
	expect_at(m, 0x200000, MiB, 0, 7, 0, "file content");
	fill(m, 0x200000 + 8 * KiB, 4 * KiB, 8);
	pread_expect(fd, 8 * KiB, 4 * KiB, 0x200000 + 8 * KiB, 8, 0);
	pread_expect(fd, 12 * KiB, 4 * KiB, 12 * KiB, 7, 0);
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

/* Only F_SEAL_SHRINK protects the importer: other seals alone do not count. */
START_TEST(test_share_import_seal_kinds)
{
	static const int not_enough[] = { F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_GROW | F_SEAL_SEAL };
	static const int enough[] = { F_SEAL_SHRINK, F_SEAL_SHRINK | F_SEAL_GROW, SEAL_ALL };
	struct vmmem_vhost_region d = desc_of(0, 64 * KiB, 0);

	for (size_t i = 0; i < sizeof(not_enough) / sizeof(not_enough[0]); i++) {
		int fd = memfd_with_seals(64 * KiB, not_enough[i]);
		struct vmmem_region *r;

		expect_import_error(&d, fd, 0, VMMEM_E_NOT_SEALED, "without F_SEAL_SHRINK");
		r = import_ok(&d, fd, VMMEM_IMPORT_ALLOW_UNSEALED);
		vmmem_region_unref(r);
		ck_assert_int_eq(close(fd), 0);
	}
	for (size_t i = 0; i < sizeof(enough) / sizeof(enough[0]); i++) {
		int fd = memfd_with_seals(64 * KiB, enough[i]);
		struct vmmem_region *r = import_ok(&d, fd, 0);

		vmmem_region_unref(r);
		ck_assert_int_eq(close(fd), 0);
	}
}
END_TEST

START_TEST(test_share_import_file_too_short)
{
	int fd = memfd_with_seals(MiB, SEAL_ALL), ufd = memfd_with_seals(MiB, 0);
	struct vmmem_vhost_region d;
	struct vmmem_region *r;

	d = desc_of(0, 2 * MiB, 0);
	expect_import_error(&d, fd, 0, VMMEM_E_FILE_TOO_SHORT, "size past the end");
	d = desc_of(0, MiB, 4 * KiB);
	expect_import_error(&d, fd, 0, VMMEM_E_FILE_TOO_SHORT, "offset + size past the end");
	d = desc_of(0, 4 * KiB, MiB);
	expect_import_error(&d, fd, 0, VMMEM_E_FILE_TOO_SHORT, "offset at the end");
	d = desc_of(0, 4 * KiB, 2 * MiB);
	expect_import_error(&d, fd, 0, VMMEM_E_FILE_TOO_SHORT, "offset past the end");
	d = desc_of(0, MiB + 1, 0);
	expect_import_error(&d, fd, 0, VMMEM_E_FILE_TOO_SHORT, "one byte too many");
	/* The seal check comes before the size check (a sealed file cannot shrink after it
	 * was measured); with unsealed files allowed, the size check still applies. */
	d = desc_of(0, 2 * MiB, 0);
	expect_import_error(&d, ufd, 0, VMMEM_E_NOT_SEALED, "unsealed and short");
	expect_import_error(&d, ufd, VMMEM_IMPORT_ALLOW_UNSEALED, VMMEM_E_FILE_TOO_SHORT,
			    "unsealed and short, unsealed allowed");
	expect_import_error(&d, ufd, VMMEM_IMPORT_ALLOW_UNSEALED, VMMEM_E_FILE_TOO_SHORT,
			    "unsealed (allowed) and short");
	/* Exactly as long as needed is fine. */
	d = desc_of(0, MiB, 0);
	r = import_ok(&d, fd, 0);
	vmmem_region_unref(r);
	d = desc_of(0, 4 * KiB, MiB - 4 * KiB);
	r = import_ok(&d, fd, 0);
	vmmem_region_unref(r);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(close(ufd), 0);
}
END_TEST

START_TEST(test_share_import_unsealed_memfd)
{
	/* One that may never be sealed, and one that could be but is not. */
	int fds[2] = { memfd_with_seals(256 * KiB, -1), memfd_with_seals(256 * KiB, 0) };
	struct vmmem_vhost_region d = desc_of(0x100000, 256 * KiB, 0);

	for (int i = 0; i < 2; i++) {
		struct vmmem_region *r;
		struct vmmem_memory *m;

		pwrite_pattern(fds[i], 0, 256 * KiB, 10 + (uint32_t)i);
		expect_import_error(&d, fds[i], 0, VMMEM_E_NOT_SEALED, "unsealed memfd");
		expect_import_error(&d, fds[i], VMMEM_IMPORT_READ_ONLY, VMMEM_E_NOT_SEALED,
				    "unsealed memfd, read-only");
		r = import_ok(&d, fds[i], VMMEM_IMPORT_ALLOW_UNSEALED);
		m = memory_of(&r, 1);
		expect_at(m, 0x100000, 256 * KiB, 0, 10 + (uint32_t)i, 0, "unsealed memfd content");
		vmmem_memory_unref(m);
		vmmem_region_unref(r);
		ck_assert_int_eq(close(fds[i]), 0);
	}
}
END_TEST

/* A regular file cannot be sealed at all: refused unless the peer is trusted. */
START_TEST(test_share_import_regular_file)
{
	char path[] = "/tmp/vmmem-check-share-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	struct vmmem_vhost_region d = desc_of(0, 128 * KiB, 64 * KiB);
	struct vmmem_region *r;
	struct vmmem_memory *m;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)(192 * KiB)), 0);
	pwrite_pattern(fd, 0, 192 * KiB, 12);
	expect_import_error(&d, fd, 0, VMMEM_E_NOT_SEALED, "regular file");
	r = import_ok(&d, fd, VMMEM_IMPORT_ALLOW_UNSEALED);
	ck_assert_uint_eq(vmmem_region_page_size(r), tu_page_size());
	m = memory_of(&r, 1);
	expect_at(m, 0, 128 * KiB, 64 * KiB, 12, 0, "regular file from offset 64K");
	fill(m, 4 * KiB, 4 * KiB, 13);
	/* Guest 4K is file offset 68K. */
	{
		uint8_t buf[4096];

		ck_assert_int_eq(pread(fd, buf, sizeof(buf), (off_t)(68 * KiB)), (ssize_t)sizeof(buf));
		ck_assert_uint_eq(sp_mismatch(buf, 4 * KiB, sizeof(buf), 13, 0), sizeof(buf));
	}
	/* Discard punches a hole in the file: the region's second page. */
	ck_assert_int_eq(vmmem_region_discard(r, PG, PG), 0);
	pread_expect(fd, 64 * KiB + PG, PG, 0, 0, 1);
	if (2 * PG < 128 * KiB)
		pread_expect(fd, 64 * KiB + 2 * PG, 128 * KiB - 2 * PG, 64 * KiB + 2 * PG, 12, 0);
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_share_import_read_only)
{
	int fd = memfd_with_seals(128 * KiB, SEAL_ALL), rofd;
	struct vmmem_vhost_region d = desc_of(0x10000000, 128 * KiB, 0);
	struct vmmem_region *r;
	struct vmmem_memory *m;
	uint8_t buf[64] = { 0 };
	size_t done = 77;
	char proc[64];
	void *host = NULL;

	pwrite_pattern(fd, 0, 128 * KiB, 14);
	r = import_ok(&d, fd, VMMEM_IMPORT_READ_ONLY);
	ck_assert_uint_eq(vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY, VMMEM_REGION_READ_ONLY);
	m = memory_of(&r, 1);
	expect_at(m, 0x10000000, 128 * KiB, 0, 14, 0, "read-only import reads");
	ck_assert_int_eq(vmmem_memory_write(m, 0x10000000, buf, sizeof(buf)), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_write_exact(m, 0x10000000 + 100, buf, sizeof(buf), &done),
			 VMMEM_E_READ_ONLY);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x10000000 + 8, buf, 8), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 0x10000000 + 8, 1, VMMEM_ORDER_RELAXED),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x10000000, VMMEM_ACCESS_WRITE, &host, NULL),
			 VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_region_discard(r, 0, PG), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_discard(m, 0x10000000, PG), VMMEM_E_READ_ONLY);
	pread_expect(fd, 0, 128 * KiB, 0, 14, 0);
	vmmem_memory_unref(m);
	vmmem_region_unref(r);

	/* A descriptor opened read-only: fine read-only, refused by mmap otherwise. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rofd = open(proc, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(rofd, 0);
	r = import_ok(&d, rofd, VMMEM_IMPORT_READ_ONLY);
	m = memory_of(&r, 1);
	expect_at(m, 0x10000000 + 4 * KiB, 4 * KiB, 4 * KiB, 14, 0, "O_RDONLY fd import");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	expect_import_error(&d, rofd, 0, -EACCES, "writable import of an O_RDONLY fd");
	ck_assert_int_eq(close(rofd), 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_share_import_mmap_offset)
{
	int fd = memfd_with_seals(64 * KiB, SEAL_ALL);
	struct vmmem_vhost_region d = desc_of(0x100000, 16 * KiB, 32 * KiB);
	struct vmmem_region *r;
	struct vmmem_memory *m;

	pwrite_pattern(fd, 0, 64 * KiB, 15);
	r = import_ok(&d, fd, 0);
	ck_assert_uint_eq(vmmem_region_fd_offset(r), 32 * KiB);
	m = memory_of(&r, 1);
	expect_at(m, 0x100000, 16 * KiB, 32 * KiB, 15, 0, "offset 32K");
	/* The last page of the file. */
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	d = desc_of(0, 4 * KiB, 60 * KiB);
	r = import_ok(&d, fd, 0);
	m = memory_of(&r, 1);
	expect_at(m, 0, 4 * KiB, 60 * KiB, 15, 0, "offset 60K");
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	/* Not page-aligned: mapped from the page below, the region starts at the right byte. */
	d = desc_of(0x100000, 1000, 32 * KiB + 100);
	r = import_ok(&d, fd, 0);
	m = memory_of(&r, 1);
	expect_at(m, 0x100000, 1000, 32 * KiB + 100, 15, 0, "offset 32K + 100");
	ck_assert_uint_eq(vmmem_region_fd_offset(r), 32 * KiB + 100);
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_share_import_overflow)
{
	int fd = memfd_with_seals(64 * KiB, SEAL_ALL);
	const uint64_t top = UINT64_MAX - 4095; /* 2^64 - 4096 */
	const uint64_t off_top = (UINT64_C(1) << 63) - 4096;
	struct vmmem_vhost_region d;
	struct vmmem_region *r;

	d = desc_of(top, 8 * KiB, 0);
	expect_import_error(&d, fd, 0, -EOVERFLOW, "gpa + size past 2^64");
	d = desc_of(top, 4 * KiB, 0);
	expect_import_error(&d, fd, 0, -EOVERFLOW, "gpa + size = 2^64");
	d = desc_of(UINT64_MAX, 1, 0);
	expect_import_error(&d, fd, 0, -EOVERFLOW, "gpa 2^64 - 1, size 1");
	d = desc_of(0, UINT64_MAX, 0);
	expect_import_error(&d, fd, 0, -EOVERFLOW, "size 2^64 - 1");
	d = desc_of(0, 8 * KiB, off_top);
	expect_import_error(&d, fd, 0, -EOVERFLOW, "offset + size past 2^63 - 1");
	d = desc_of(0, 4 * KiB, off_top);
	expect_import_error(&d, fd, 0, -EOVERFLOW, "offset + size = 2^63");
	d = desc_of(0, 4 * KiB, UINT64_MAX & ~UINT64_C(4095));
	expect_import_error(&d, fd, 0, -EOVERFLOW, "offset near 2^64");
	d = desc_of(0, 4 * KiB, UINT64_C(1) << 63);
	expect_import_error(&d, fd, 0, -EOVERFLOW, "offset 2^63");
	/* Just inside the limits: no overflow, the file is merely too short. */
	d = desc_of(0, 4 * KiB, off_top - 4096);
	expect_import_error(&d, fd, 0, VMMEM_E_FILE_TOO_SHORT, "offset + size = 2^63 - 4096");
	/* The highest GPA range that fits. */
	d = desc_of(top - 4096, 4 * KiB, 0);
	r = import_ok(&d, fd, 0);
	ck_assert_uint_eq(vmmem_region_last(r), UINT64_MAX - 4096);
	vmmem_region_unref(r);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_share_import_zero_size)
{
	int fd = memfd_with_seals(64 * KiB, SEAL_ALL);
	struct vmmem_vhost_region d = desc_of(0x1000, 0, 0);

	expect_import_error(&d, fd, 0, VMMEM_E_ZERO_SIZE, "size 0");
	expect_import_error(&d, fd, VMMEM_IMPORT_FLAGS_ALL, VMMEM_E_ZERO_SIZE, "size 0, all flags");
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_share_import_bad_fd)
{
	struct vmmem_vhost_region d = desc_of(0, 64 * KiB, 0);
	int fd = memfd_with_seals(64 * KiB, SEAL_ALL);

	/* Right after the close, before anything could reuse the number. */
	ck_assert_int_eq(close(fd), 0);
	expect_import_error(&d, fd, 0, -EBADF, "closed fd");
	expect_import_error(&d, fd, VMMEM_IMPORT_ALLOW_UNSEALED, -EBADF, "closed fd, unsealed ok");
	expect_import_error(&d, -1, 0, -EBADF, "fd -1");
	expect_import_error(&d, -100, VMMEM_IMPORT_ALLOW_UNSEALED, -EBADF, "fd -100");
}
END_TEST

START_TEST(test_share_import_bad_args)
{
	int fd = memfd_with_seals(64 * KiB, SEAL_ALL);
	struct vmmem_vhost_region d = desc_of(0, 64 * KiB, 0);
	struct vmmem_region *r = SENTINEL;

	expect_import_error(&d, fd, 0x4, -EINVAL, "flag 0x4");
	expect_import_error(&d, fd, 0x80000000u, -EINVAL, "flag 0x80000000");
	expect_import_error(&d, fd, VMMEM_IMPORT_FLAGS_ALL | 0x100, -EINVAL, "known + unknown");
	expect_import_error(NULL, fd, 0, -EINVAL, "NULL descriptor");
	ck_assert_int_eq(vmmem_region_import(NULL, &d, fd, 0), -EINVAL);
	/* All known flags together are fine. */
	ck_assert_int_eq(vmmem_region_import(&r, &d, fd, VMMEM_IMPORT_FLAGS_ALL), 0);
	ck_assert_uint_eq(vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY, VMMEM_REGION_READ_ONLY);
	vmmem_region_unref(r);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

/* Sender addresses (vhost-user QVAs): kept by import, looked up through a memory. */
START_TEST(test_share_peer_addresses)
{
	/* Five regions, GPA order and sender-address order differ. */
	static const uint64_t gpa[] = { 0, 0x100000, 0x200000, 0x400000, 0x800000 };
	static const uint64_t qva[] = { 0x7f0000500000, 0x7f0000100000, 0x7f0000900000,
					0x7f0000000000, 0x7f0000300000 };
	struct vmmem_region *r[6];
	struct vmmem_memory *m = NULL, *m2 = NULL;
	int fd = memfd_with_seals(64 * KiB, SEAL_ALL);
	uint64_t out = 0;

	for (int i = 0; i < 5; i++) {
		struct vmmem_vhost_region d = desc_of(gpa[i], 64 * KiB, 0);

		d.userspace_addr = qva[i];
		r[i] = import_ok(&d, fd, 0);
		ck_assert_int_eq(vmmem_region_peer_addr(r[i], &out), 0);
		ck_assert_uint_eq(out, qva[i]);
	}
	r[5] = tu_anon_region(0x1000000, 64 * KiB, 0); /* not imported: no sender address */
	ck_assert_int_eq(vmmem_region_peer_addr(r[5], &out), -ENOENT);
	ck_assert_int_eq(vmmem_memory_new(&m, r, 6), 0);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(vmmem_memory_translate_peer(m, qva[i], 1, &out), 0);
		ck_assert_uint_eq(out, gpa[i]);
		ck_assert_int_eq(vmmem_memory_translate_peer(m, qva[i] + 0x1234, 0x100, &out), 0);
		ck_assert_uint_eq(out, gpa[i] + 0x1234);
		ck_assert_int_eq(vmmem_memory_translate_peer(m, qva[i] + 64 * KiB - 8, 8, &out), 0);
		ck_assert_int_eq(vmmem_memory_translate_peer(m, qva[i] + 64 * KiB - 8, 9, &out),
				 VMMEM_E_CROSSES_REGION);
		ck_assert_int_eq(vmmem_memory_translate_peer(m, qva[i] + 64 * KiB, 1, &out),
				 VMMEM_E_UNMAPPED);
		ck_assert_int_eq(vmmem_memory_translate_peer(m, qva[i] - 1, 1, &out),
				 VMMEM_E_UNMAPPED);
	}
	ck_assert_int_eq(vmmem_memory_translate_peer(m, 0, 1, &out), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_translate_peer(m, UINT64_MAX, 1, &out), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_translate_peer(m, UINT64_MAX, 2, &out), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_translate_peer(m, qva[0], 0, &out), -EINVAL);
	ck_assert_int_eq(vmmem_memory_translate_peer(NULL, qva[0], 1, &out), -EINVAL);
	ck_assert_int_eq(vmmem_memory_translate_peer(m, qva[0], 1, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_region_peer_addr(NULL, &out), -EINVAL);
	ck_assert_int_eq(vmmem_region_peer_addr(r[0], NULL), -EINVAL);
	/* Removing a region drops its sender range; an alias (an overlapping sender range)
	 * is allowed and answered by a scan. */
	ck_assert_int_eq(vmmem_memory_remove_region(m, gpa[1], 64 * KiB, &m2, NULL), 0);
	ck_assert_int_eq(vmmem_memory_translate_peer(m2, qva[1], 1, &out), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_memory_translate_peer(m2, qva[2], 1, &out), 0);
	{
		struct vmmem_vhost_region d = desc_of(0x2000000, 64 * KiB, 0);
		struct vmmem_region *o;
		struct vmmem_memory *m3 = NULL;

		d.userspace_addr = qva[3] + 32 * KiB; /* halfway into region 3's range */
		o = import_ok(&d, fd, 0);
		ck_assert_int_eq(vmmem_memory_insert_region(m2, o, &m3), 0);
		/* Region 3 comes first in sender order and holds it: its GPA. */
		ck_assert_int_eq(vmmem_memory_translate_peer(m3, qva[3] + 48 * KiB, 8, &out), 0);
		ck_assert_uint_eq(out, gpa[3] + 48 * KiB);
		/* Past region 3's end, only the alias holds it. */
		ck_assert_int_eq(vmmem_memory_translate_peer(m3, qva[3] + 64 * KiB, 8, &out), 0);
		ck_assert_uint_eq(out, 0x2000000 + 32 * KiB);
		ck_assert_int_eq(vmmem_memory_translate_peer(m3, qva[3] + 96 * KiB, 1, &out),
				 VMMEM_E_UNMAPPED);
		ck_assert_int_eq(vmmem_memory_translate_peer(m3, qva[2], 1, &out), 0);
		ck_assert_uint_eq(out, gpa[2]);
		vmmem_memory_unref(m3);
		m3 = NULL;
		vmmem_region_unref(o);
		d.userspace_addr = qva[3] + 64 * KiB; /* adjacent: fine */
		o = import_ok(&d, fd, 0);
		ck_assert_int_eq(vmmem_memory_insert_region(m2, o, &m3), 0);
		ck_assert_int_eq(vmmem_memory_translate_peer(m3, qva[3] + 64 * KiB, 1, &out), 0);
		ck_assert_uint_eq(out, 0x2000000);
		vmmem_memory_unref(m3);
		vmmem_region_unref(o);
	}
	vmmem_memory_unref(m2);
	vmmem_memory_unref(m);
	for (int i = 0; i < 6; i++)
		vmmem_region_unref(r[i]);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

/* The region keeps its own duplicate of the fd: the caller's can be closed. */
START_TEST(test_share_import_keeps_fd)
{
	int fd = memfd_with_seals(256 * KiB, SEAL_ALL), rfd;
	struct vmmem_vhost_region d = desc_of(0x40000, 256 * KiB, 0);
	struct vmmem_region *r;
	struct vmmem_memory *m;
	void *host;

	pwrite_pattern(fd, 0, 256 * KiB, 16);
	r = import_ok(&d, fd, 0);
	rfd = vmmem_region_fd(r);
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_ne(rfd, fd);
	ck_assert_int_eq(close(fd), 0);
	ck_assert(!fd_closed(rfd));
	ck_assert_int_ne(fcntl(rfd, F_GETFD) & FD_CLOEXEC, 0);
	/* Still the same file: sealed, right size. */
	ck_assert_int_eq(fcntl(rfd, F_GET_SEALS), SEAL_ALL);
	m = memory_of(&r, 1);
	expect_at(m, 0x40000, 256 * KiB, 0, 16, 0, "after closing the caller's fd");
	fill(m, 0x40000, 4 * KiB, 17);
	expect(m, 0x40000, 4 * KiB, 17, "write after closing the caller's fd");
	ck_assert_int_eq(vmmem_region_discard(r, PG, PG), 0);
	expect_zero(m, 0x40000 + PG, PG, "discard after closing the caller's fd");
	host = vmmem_region_host(r);
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
	/* The last unref closes the duplicate and unmaps. */
	ck_assert(fd_closed(rfd));
	{
		unsigned char vec;

		errno = 0;
		ck_assert_int_eq(mincore(host, 1, &vec), -1);
		ck_assert_int_eq(errno, ENOMEM);
	}
}
END_TEST

/* Discards on either side punch holes the other side sees. */
START_TEST(test_share_import_discard_visible)
{
	struct vmmem_region *er = create("memfd:gpa=0,size=4M"), *ir;
	struct vmmem_memory *em = memory_of(&er, 1), *im;
	struct vmmem_vhost_region d;
	int fd;

	fill(em, 0, 4 * MiB, 18);
	ck_assert_int_eq(vmmem_region_to_vhost(er, &d, &fd), 0);
	ir = import_ok(&d, fd, 0);
	im = memory_of(&ir, 1);

	/* Holes at pages 16-17, 32 and 48-51 (of 64 KiB pages too: 4 MiB holds 64 of them). */
	ck_assert_int_eq(vmmem_region_discard(ir, 16 * PG, 2 * PG), 0);
	/* A real hole in the file (looked at before any read faults pages back in). */
	ck_assert_int_eq(lseek(fd, (off_t)(16 * PG), SEEK_HOLE), (off_t)(16 * PG));
	ck_assert_int_eq(lseek(fd, (off_t)(16 * PG), SEEK_DATA), (off_t)(18 * PG));
	expect(em, 0, 16 * PG, 18, "exporter before the hole");
	expect_zero(em, 16 * PG, 2 * PG, "exporter sees the importer's discard");
	expect(em, 18 * PG, 4 * MiB - 18 * PG, 18, "exporter after the hole");

	ck_assert_int_eq(vmmem_memory_discard(im, 32 * PG, PG), 0);
	expect_zero(em, 32 * PG, PG, "exporter sees the importer's memory discard");
	expect(em, 33 * PG, PG, 18, "exporter after the second hole");

	ck_assert_int_eq(vmmem_region_discard(er, 48 * PG, 4 * PG), 0);
	expect_zero(im, 48 * PG, 4 * PG, "importer sees the exporter's discard");
	expect(im, 52 * PG, PG, 18, "importer after the exporter's hole");

	/* Checks on the imported region. */
	ck_assert_int_eq(vmmem_region_discard(ir, 100, PG), VMMEM_E_MISALIGNED);
	ck_assert_int_eq(vmmem_region_discard(ir, 4 * MiB - PG, 2 * PG), VMMEM_E_OUT_OF_BOUNDS);
	ck_assert_int_eq(vmmem_memory_discard(im, 4 * MiB - PG, 2 * PG), VMMEM_E_UNMAPPED);
	expect(em, 4 * MiB - PG, PG, 18, "after refused discards");
	vmmem_memory_unref(im);
	vmmem_region_unref(ir);
	vmmem_memory_unref(em);
	vmmem_region_unref(er);
}
END_TEST

/* Is the mapping holding p marked "dd" (MADV_DONTDUMP) in /proc/self/smaps? */
static int dontdump(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	int in = 0, dd = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			dd = strstr(line, " dd") != NULL;
			break;
		}
	}
	fclose(f);
	ck_assert_msg(dd >= 0, "no smaps entry for %p", p);
	return dd;
}

/* Imported guest memory is kept out of core dumps (MADV_DONTDUMP). */
START_TEST(test_share_import_dontdump)
{
	int fd = memfd_with_seals(256 * KiB, SEAL_ALL);
	struct vmmem_vhost_region d = desc_of(0, 256 * KiB, 0);
	struct vmmem_region *r = import_ok(&d, fd, 0);
	const uint8_t *host = vmmem_region_host(r);

	if (tu_under_qemu_user()) {
		tu_skip_emulated("MADV_DONTDUMP on imported mappings");
		vmmem_region_unref(r);
		ck_assert_int_eq(close(fd), 0);
		return;
	}
	ck_assert_msg(dontdump(host), "imported mapping is not MADV_DONTDUMP");
	ck_assert_msg(dontdump(host + 256 * KiB - 1), "end of the imported mapping is not 'dd'");
	vmmem_region_unref(r);
	r = import_ok(&d, fd, VMMEM_IMPORT_READ_ONLY);
	ck_assert_msg(dontdump(vmmem_region_host(r)), "read-only import is not MADV_DONTDUMP");
	vmmem_region_unref(r);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

/* ---- two processes ---- */

static void assert_peer_exited(const struct sp_result *res)
{
	char why[1024];

	ck_assert_msg(res->ok, "peer session: %s", sp_describe(res, why, sizeof(why)));
	ck_assert_msg(res->exited && res->exit_code == 0, "peer did not exit cleanly: %s",
		      sp_describe(res, why, sizeof(why)));
}

/* Memory from a config of two memfd regions, shared with another process both ways. */
START_TEST(test_share_peer_memfd_config)
{
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *m = NULL;
	struct sp_request req = {
		.magic = SP_MAGIC_REQUEST,
		.count = 2,
		.import_flags = 0,
		.check_seed = 31,
		.check_gpa = 0,
		.check_len = 8 * MiB,
		.discard_gpa = 6 * MiB,
		.discard_len = 0, /* two host pages, set below */
		.write_seed = 32,
		.write_gpa = 4 * MiB - 64 * KiB,
		.write_len = 128 * KiB,
	};
	int fds[2];
	struct sp_result res;
	char why[1024];

	req.discard_len = 2 * PG;
	ck_assert_int_eq(vmmem_config_parse(&cfg, "memfd:gpa=0,size=4M;memfd:gpa=4M,size=4M"), 0);
	ck_assert_int_eq(vmmem_memory_new_from_config(&m, ctx, cfg), 0);
	ck_assert_uint_eq(vmmem_memory_region_count(m), 2);
	fill(m, 0, 8 * MiB, 31);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(vmmem_region_to_vhost(vmmem_memory_region_at(m, (size_t)i),
						       &req.regions[i], &fds[i]),
				 0);
	ck_assert_uint_eq(req.regions[1].guest_phys_addr, 4 * MiB);

	sp_run(&req, fds, &res);
	assert_peer_exited(&res);
	ck_assert_msg(res.reply.status == 0 && res.reply.stage == SP_STAGE_DONE, "peer: %s",
		      sp_describe(&res, why, sizeof(why)));
	ck_assert_uint_eq(res.reply.count, 2);
	ck_assert_uint_eq(res.reply.page_size[0], tu_page_size());
	ck_assert_uint_eq(res.reply.page_size[1], tu_page_size());
	ck_assert_uint_eq(res.reply.fd_differs, 3);

	/* Byte for byte: the peer's write across the boundary, its discard, our pattern. */
	expect(m, 0, 4 * MiB - 64 * KiB, 31, "before the peer's write");
	expect(m, 4 * MiB - 64 * KiB, 128 * KiB, 32, "the peer's write across the boundary");
	expect(m, 4 * MiB + 64 * KiB, 2 * MiB - 64 * KiB, 31, "between write and discard");
	expect_zero(m, 6 * MiB, 2 * PG, "the peer's discard");
	expect(m, 6 * MiB + 2 * PG, 2 * MiB - 2 * PG, 31, "after the peer's discard");
	vmmem_memory_unref(m);
	vmmem_config_free(cfg);
}
END_TEST

/* An unsealed memfd region made by the caller (vmmem_region_new_fd). */
static struct vmmem_region *unsealed_region(uint64_t gpa, uint64_t size)
{
	int fd = memfd_create("vmmem-check-share-unsealed", MFD_CLOEXEC);
	struct vmmem_region *r = NULL;
	void *p;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(vmmem_region_new_fd(&r, gpa, size, p, VMMEM_REGION_OWN_MAPPING, fd, 0), 0);
	ck_assert_int_eq(close(fd), 0);
	return r;
}

static void peer_unsealed(uint32_t flags)
{
	struct vmmem_region *r = unsealed_region(0x100000000u, 4 * MiB);
	struct vmmem_memory *m = memory_of(&r, 1);
	struct sp_request req = {
		.magic = SP_MAGIC_REQUEST,
		.count = 1,
		.import_flags = flags,
		.check_seed = 41,
		.check_gpa = 0x100000000u,
		.check_len = 4 * MiB,
		.write_seed = 42,
		.write_gpa = 0x100000000u + MiB,
		.write_len = 64 * KiB,
	};
	int fd;
	struct sp_result res;
	char why[1024];

	fill(m, 0x100000000u, 4 * MiB, 41);
	ck_assert_int_eq(vmmem_region_to_vhost(r, &req.regions[0], &fd), 0);
	ck_assert_int_eq(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK, 0);
	sp_run(&req, &fd, &res);
	assert_peer_exited(&res);
	if (flags & VMMEM_IMPORT_ALLOW_UNSEALED) {
		ck_assert_msg(res.reply.status == 0 && res.reply.stage == SP_STAGE_DONE, "peer: %s",
			      sp_describe(&res, why, sizeof(why)));
		expect(m, 0x100000000u, MiB, 41, "before the peer's write");
		expect(m, 0x100000000u + MiB, 64 * KiB, 42, "the peer's write");
		expect(m, 0x100000000u + MiB + 64 * KiB, 3 * MiB - 64 * KiB, 41,
		       "after the peer's write");
	} else {
		ck_assert_msg(res.reply.status == VMMEM_E_NOT_SEALED &&
				      res.reply.stage == SP_STAGE_IMPORT && res.reply.index == 0,
			      "peer: %s", sp_describe(&res, why, sizeof(why)));
		ck_assert_uint_eq(res.reply.out_null, 1);
		expect(m, 0x100000000u, 4 * MiB, 41, "untouched after the refused import");
	}
	vmmem_memory_unref(m);
	vmmem_region_unref(r);
}

START_TEST(test_share_peer_unsealed_refused)
{
	peer_unsealed(0);
}
END_TEST

START_TEST(test_share_peer_unsealed_allowed)
{
	peer_unsealed(VMMEM_IMPORT_ALLOW_UNSEALED);
}
END_TEST

/* A file shorter than its descriptor: the peer refuses it (no SIGBUS later). */
static void peer_short_file(int fd, uint32_t flags, uint64_t size, uint64_t offset)
{
	struct sp_request req = {
		.magic = SP_MAGIC_REQUEST,
		.count = 1,
		.import_flags = flags,
		.check_len = 4096,
		.write_len = 4096,
		.write_seed = 51,
	};
	struct sp_result res;
	char why[1024];

	req.regions[0] = desc_of(0, size, offset);
	sp_run(&req, &fd, &res);
	assert_peer_exited(&res);
	ck_assert_msg(res.reply.status == VMMEM_E_FILE_TOO_SHORT &&
			      res.reply.stage == SP_STAGE_IMPORT && res.reply.index == 0,
		      "peer: %s", sp_describe(&res, why, sizeof(why)));
	ck_assert_uint_eq(res.reply.out_null, 1);
}

START_TEST(test_share_peer_truncated)
{
	/* Described as 4 MiB, then truncated to 2 MiB before it is sent. */
	int fd = memfd_with_seals(4 * MiB, 0);

	pwrite_pattern(fd, 0, 4 * MiB, 50);
	ck_assert_int_eq(ftruncate(fd, (off_t)(2 * MiB)), 0);
	peer_short_file(fd, VMMEM_IMPORT_ALLOW_UNSEALED, 4 * MiB, 0);
	peer_short_file(fd, VMMEM_IMPORT_ALLOW_UNSEALED, MiB, 1536 * KiB);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

START_TEST(test_share_peer_sealed_too_short)
{
	int fd = memfd_with_seals(2 * MiB, SEAL_ALL);

	peer_short_file(fd, 0, 2 * MiB, 4 * KiB);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

/* Several regions at once, in another order than their GPAs, one at an fd offset. */
START_TEST(test_share_peer_many_regions)
{
	struct sp_request req = {
		.magic = SP_MAGIC_REQUEST,
		.count = 3,
		.check_seed = 61,
		.check_gpa = 0,
		.check_len = 3 * MiB,
		.write_seed = 62,
		.write_gpa = MiB - 100,
		.write_len = MiB + 200,
	};
	struct vmmem_region *r[3];
	struct vmmem_memory *m;
	int fds[3], fd = memfd_with_seals(4 * MiB, SEAL_ALL);
	void *p;
	struct sp_result res;
	char why[1024];

	/* [0, 1M) memfd provider; [1M, 2M) the second MiB of our own sealed memfd;
	 * [2M, 3M) another memfd provider region. Sent as 2M, 0, 1M. */
	r[0] = create("memfd:gpa=2M,size=1M");
	r[1] = create("memfd:gpa=0,size=1M");
	p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)MiB);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(vmmem_region_new_fd(&r[2], MiB, MiB, p, VMMEM_REGION_OWN_MAPPING, fd, MiB),
			 0);
	m = memory_of(r, 3);
	fill(m, 0, 3 * MiB, 61);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(vmmem_region_to_vhost(r[i], &req.regions[i], &fds[i]), 0);
	ck_assert_uint_eq(req.regions[2].mmap_offset, MiB);
	sp_run(&req, fds, &res);
	assert_peer_exited(&res);
	ck_assert_msg(res.reply.status == 0 && res.reply.stage == SP_STAGE_DONE, "peer: %s",
		      sp_describe(&res, why, sizeof(why)));
	ck_assert_uint_eq(res.reply.count, 3);
	expect(m, 0, MiB - 100, 61, "before the peer's write");
	expect(m, MiB - 100, MiB + 200, 62, "the peer's write over three regions");
	expect(m, 2 * MiB + 100, MiB - 100, 61, "after the peer's write");
	/* Our memfd holds the middle MiB at file offset 1M. */
	pread_expect(fd, MiB, MiB, MiB, 62, 0);
	pread_expect(fd, 0, MiB, 0, 0, 1);
	vmmem_memory_unref(m);
	for (int i = 0; i < 3; i++)
		vmmem_region_unref(r[i]);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

static Suite *share_suite(void)
{
	Suite *s = suite_create("share");
	TCase *tc;

	tc = tcase_create("vhost");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_share_to_vhost_fields);
	tcase_add_test(tc, test_share_to_vhost_null_args);
	tcase_add_test(tc, test_share_to_vhost_not_shareable);
	suite_add_tcase(s, tc);

	tc = tcase_create("import");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_share_import_from_region);
	tcase_add_test(tc, test_share_import_own_sealed_memfd);
	tcase_add_test(tc, test_share_import_seal_kinds);
	tcase_add_test(tc, test_share_import_file_too_short);
	tcase_add_test(tc, test_share_import_unsealed_memfd);
	tcase_add_test(tc, test_share_import_regular_file);
	tcase_add_test(tc, test_share_import_read_only);
	tcase_add_test(tc, test_share_import_mmap_offset);
	tcase_add_test(tc, test_share_import_overflow);
	tcase_add_test(tc, test_share_import_zero_size);
	tcase_add_test(tc, test_share_import_bad_fd);
	tcase_add_test(tc, test_share_import_bad_args);
	tcase_add_test(tc, test_share_peer_addresses);
	tcase_add_test(tc, test_share_import_keeps_fd);
	tcase_add_test(tc, test_share_import_discard_visible);
	tcase_add_test(tc, test_share_import_dontdump);
	suite_add_tcase(s, tc);

	tc = tcase_create("peer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_share_peer_memfd_config);
	tcase_add_test(tc, test_share_peer_unsealed_refused);
	tcase_add_test(tc, test_share_peer_unsealed_allowed);
	tcase_add_test(tc, test_share_peer_truncated);
	tcase_add_test(tc, test_share_peer_sealed_too_short);
	tcase_add_test(tc, test_share_peer_many_regions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run_suite(share_suite());
}
