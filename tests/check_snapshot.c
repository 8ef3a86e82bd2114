/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Check suite for vmmem/snapshot.h: save (full, diff, sparse), open and its checks on
 * hostile files, verify, merge, apply, and restore by copy, map and userfaultfd, with real
 * files, real processes (fork) and concurrent threads. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB UINT64_C(1024)
#define MiB (KiB * 1024)
#define PG UINT64_C(4096) /* the dirty-tracking page (4 KiB whatever the host) */
#define HP ((uint64_t)tu_page_size()) /* the host page: the snapshot's data and hole unit */

static bool under_valgrind(void)
{
	const char *v = getenv("VMMEM_TEST_UNDER_VALGRIND");

	return v && *v && strcmp(v, "0") != 0;
}

/* An independent, bitwise CRC32C to re-seal patched headers and tables. */
static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return ~c;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static struct vmmem_ctx *new_ctx(void)
{
	struct vmmem_ctx *ctx;

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	return ctx;
}

static struct vmmem_memory *from_config(struct vmmem_ctx *ctx, const char *text)
{
	struct vmmem_config *cfg;
	struct vmmem_memory *m;
	int rc;

	ck_assert_int_eq(vmmem_config_parse(&cfg, text), 0);
	rc = vmmem_memory_new_from_config(&m, ctx, cfg);
	ck_assert_msg(rc == 0, "%s: %s", text, vmmem_errormsg());
	vmmem_config_free(cfg);
	return m;
}

/* A scratch file, unlinked at once: the fd is all the test needs. */
static int scratch_file(void)
{
	char path[] = "/tmp/vmmem-snap-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	return fd;
}

/* Fill page p of every region with a seed-dependent pattern on every page whose number is
 * not a multiple of @zero_every (those stay zero: holes). */
static void fill(const struct vmmem_memory *m, uint32_t seed, unsigned zero_every)
{
	uint8_t page[PG];

	for (size_t i = 0; i < vmmem_memory_region_count(m); i++) {
		struct vmmem_region *r = vmmem_memory_region_at(m, i);
		uint64_t gpa = vmmem_region_gpa(r);

		for (uint64_t off = 0; off < vmmem_region_size(r); off += PG) {
			uint64_t n = (gpa + off) / PG;

			if (zero_every && n % zero_every == 0)
				memset(page, 0, PG);
			else
				for (size_t k = 0; k < PG; k += 8) {
					uint64_t v = (n * 0x9E3779B97F4A7C15ull) ^ seed ^ k;

					memcpy(page + k, &v, 8);
				}
			ck_assert_int_eq(vmmem_memory_write_exact(m, gpa + off, page, PG, NULL), 0);
		}
	}
}

/* Are the two memories byte-identical, region by region? */
static void assert_same(const struct vmmem_memory *a, const struct vmmem_memory *b)
{
	ck_assert_uint_eq(vmmem_memory_region_count(a), vmmem_memory_region_count(b));
	for (size_t i = 0; i < vmmem_memory_region_count(a); i++) {
		struct vmmem_region *ra = vmmem_memory_region_at(a, i);
		struct vmmem_region *rb = vmmem_memory_region_at(b, i);

		ck_assert_uint_eq(vmmem_region_gpa(ra), vmmem_region_gpa(rb));
		ck_assert_uint_eq(vmmem_region_size(ra), vmmem_region_size(rb));
		ck_assert_msg(memcmp(vmmem_region_host(ra), vmmem_region_host(rb),
				     vmmem_region_size(ra)) == 0,
			      "region %zu differs", i);
	}
}

static int save(const struct vmmem_memory *m, int fd, uint32_t flags, const uint8_t *parent,
		uint8_t *id_out)
{
	struct vmmem_snapshot_save_opts so = { .size = sizeof(so), .flags = flags };
	int rc;

	if (parent)
		memcpy(so.parent_id, parent, VMMEM_SNAPSHOT_ID_SIZE);
	rc = vmmem_memory_snapshot_save(m, fd, &so);
	if (rc == 0 && id_out)
		memcpy(id_out, so.id, VMMEM_SNAPSHOT_ID_SIZE);
	return rc;
}

static struct vmmem_snapshot *open_snap(int fd)
{
	struct vmmem_snapshot *s;
	int rc = vmmem_snapshot_open(&s, fd);

	ck_assert_msg(rc == 0, "open: %s: %s", vmmem_strerror(rc), vmmem_errormsg());
	return s;
}

/* Restore @s with @mode; a lazy restore is waited for. */
static struct vmmem_memory *restore(struct vmmem_ctx *ctx, struct vmmem_snapshot *s,
				    uint32_t mode)
{
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = mode };
	struct vmmem_restore *lazy = NULL;
	struct vmmem_memory *m;
	int rc = vmmem_snapshot_restore(s, ctx, &ro, &m, &lazy);

	ck_assert_msg(rc == 0, "restore mode %u: %s: %s", mode, vmmem_strerror(rc),
		      vmmem_errormsg());
	if (mode == VMMEM_RESTORE_LAZY) {
		ck_assert_ptr_nonnull(lazy);
		ck_assert_int_eq(vmmem_restore_wait(lazy, -1), 0);
		ck_assert_int_eq(vmmem_restore_free(lazy), 0);
	} else {
		ck_assert_ptr_null(lazy);
	}
	return m;
}

static bool lazy_available(void)
{
	/* Valgrind 3.19 does not implement the userfaultfd system call ("unhandled syscall"):
	 * the lazy tests run natively, under ASan and under TSan. CI runs as root, so
	 * userfaultfd is there. qemu-user 7.2 does not emulate userfaultfd (ENOSYS). */
	if (tu_under_qemu_user()) {
		tu_skip_emulated("lazy restore (userfaultfd)");
		return false;
	}
	return !under_valgrind();
}

/* Release what a test made (any may be NULL or -1). */
static void finish(struct vmmem_snapshot *s, int fd, struct vmmem_memory *m,
		   struct vmmem_ctx *ctx)
{
	vmmem_snapshot_close(s);
	if (fd >= 0)
		close(fd);
	vmmem_memory_unref(m);
	vmmem_ctx_unref(ctx);
}

#define CONFIG_TWO "anon:gpa=0,size=2M,dirty-log=on;memfd:gpa=4M,size=1M,dirty-log=on"

/* ---- save, open, restore --------------------------------------------------------------- */

START_TEST(test_snapshot_roundtrip_all_modes)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, CONFIG_TWO);
	int fd = scratch_file();
	uint32_t modes[] = { VMMEM_RESTORE_COPY, VMMEM_RESTORE_MAP, VMMEM_RESTORE_LAZY };
	struct vmmem_snapshot_info info = { .size = sizeof(info) };
	struct vmmem_snapshot_region ri = { .size = sizeof(ri) };
	struct vmmem_snapshot *s;
	uint8_t id[VMMEM_SNAPSHOT_ID_SIZE];

	fill(m, 1, 3);
	ck_assert_int_eq(save(m, fd, 0, NULL, id), 0);
	s = open_snap(fd);
	ck_assert_int_eq(vmmem_snapshot_info(s, &info), 0);
	ck_assert_uint_eq(info.version, 1);
	ck_assert_uint_eq(info.flags, 0);
	ck_assert_uint_eq(info.page_size, tu_page_size());
	ck_assert_uint_eq(info.region_count, 2);
	ck_assert_uint_eq(info.guest_bytes, 3 * MiB);
	ck_assert_mem_eq(info.id, id, VMMEM_SNAPSHOT_ID_SIZE);
	ck_assert_int_eq(vmmem_snapshot_region(s, 1, &ri), 0);
	ck_assert_uint_eq(ri.gpa, 4 * MiB);
	ck_assert_uint_eq(ri.length, MiB);
	ck_assert_uint_eq(ri.data_offset % tu_page_size(), 0);
	ck_assert_str_eq(ri.spec, "memfd:gpa=4M,size=1M,dirty-log=on");
	ck_assert_int_eq(vmmem_snapshot_verify(s, NULL, NULL), 0);
	for (size_t i = 0; i < 3; i++) {
		if (modes[i] == VMMEM_RESTORE_LAZY && !lazy_available())
			continue;
		struct vmmem_memory *r = restore(ctx, s, modes[i]);

		assert_same(m, r);
		/* Restored regions carry their config: tracking is on again. */
		ck_assert_uint_eq(vmmem_region_dirty_page_size(vmmem_memory_region_at(r, 0)), PG);
		vmmem_memory_unref(r);
	}
	finish(s, fd, m, ctx);
}
END_TEST

START_TEST(test_snapshot_zero_pages_are_holes)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0,size=8M");
	int fd = scratch_file();
	struct vmmem_snapshot_region ri = { .size = sizeof(ri) };
	struct vmmem_snapshot *s;
	struct stat st;
	off_t hole;

	/* One host page in 64 written: the file must hold about 1/64 of 8 MiB of blocks. */
	for (uint64_t off = 0; off < 8 * MiB; off += 64 * HP)
		ck_assert_int_eq(vmmem_memory_store_u64(m, off + 8, off | 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(save(m, fd, 0, NULL, NULL), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_ge(st.st_size, 8 * MiB);
	ck_assert_msg((uint64_t)st.st_blocks * 512 < 8 * MiB / 8, "%lld bytes allocated",
		      (long long)st.st_blocks * 512);
	s = open_snap(fd);
	ck_assert_int_eq(vmmem_snapshot_region(s, 0, &ri), 0);
	hole = lseek(fd, (off_t)ri.data_offset, SEEK_HOLE);
	ck_assert_int_eq(hole, (off_t)(ri.data_offset + HP)); /* page 0 is data, page 1 a hole */
	ck_assert_int_eq(lseek(fd, (off_t)(ri.data_offset + HP), SEEK_DATA),
			 (off_t)(ri.data_offset + 64 * HP));
	struct vmmem_memory *r = restore(ctx, s, VMMEM_RESTORE_COPY);

	assert_same(m, r);
	vmmem_memory_unref(r);
	finish(s, fd, m, ctx);
}
END_TEST

START_TEST(test_snapshot_other_process_restores)
{
	struct vmmem_ctx *ctx = new_ctx();
	int fd = scratch_file();
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child builds and fills a memory, saves it and exits. */
		struct vmmem_ctx *cctx;
		struct vmmem_config *cfg;
		struct vmmem_memory *m;
		struct vmmem_snapshot_save_opts so = { .size = sizeof(so) };

		if (vmmem_ctx_new(&cctx) || vmmem_config_parse(&cfg, CONFIG_TWO) ||
		    vmmem_memory_new_from_config(&m, cctx, cfg))
			_exit(2);
		fill(m, 77, 5);
		_exit(vmmem_memory_snapshot_save(m, fd, &so) == 0 ? 0 : 3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

	struct vmmem_memory *expect = from_config(ctx, CONFIG_TWO);
	struct vmmem_snapshot *s = open_snap(fd);

	fill(expect, 77, 5);
	for (uint32_t mode = VMMEM_RESTORE_COPY; mode <= VMMEM_RESTORE_LAZY; mode++) {
		if (mode == VMMEM_RESTORE_LAZY && !lazy_available())
			continue;
		struct vmmem_memory *r = restore(ctx, s, mode);

		assert_same(expect, r);
		vmmem_memory_unref(r);
	}
	vmmem_snapshot_close(s);
	vmmem_memory_unref(expect);
	close(fd);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_snapshot_map_writes_stay_private)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0,size=1M");
	int fd = scratch_file();
	struct vmmem_snapshot *s;
	struct vmmem_memory *a, *b;
	uint64_t v = 0;

	fill(m, 5, 0);
	ck_assert_int_eq(save(m, fd, 0, NULL, NULL), 0);
	s = open_snap(fd);
	a = restore(ctx, s, VMMEM_RESTORE_MAP);
	ck_assert_int_eq(vmmem_memory_store_u64(a, 64, 0xabcdef, VMMEM_ORDER_RELAXED), 0);
	b = restore(ctx, s, VMMEM_RESTORE_MAP);
	assert_same(m, b); /* a's write reached neither the file nor another restore */
	ck_assert_int_eq(vmmem_snapshot_verify(s, NULL, NULL), 0);
	ck_assert_int_eq(vmmem_memory_load_u64(a, 64, VMMEM_ORDER_RELAXED, &v), 0);
	ck_assert_uint_eq(v, 0xabcdef);
	vmmem_memory_unref(a);
	vmmem_memory_unref(b);
	finish(s, fd, m, ctx);
}
END_TEST

START_TEST(test_snapshot_read_only_and_caller_regions)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_region *regs[2] = { tu_anon_region(1 * MiB, 64 * KiB, VMMEM_REGION_READ_ONLY),
					 tu_anon_region(0, 64 * KiB, 0) };
	struct vmmem_snapshot_save_opts so = { .size = sizeof(so) };
	struct vmmem_snapshot_region ri = { .size = sizeof(ri) };
	struct vmmem_snapshot *s;
	struct vmmem_memory *r;
	int fd = scratch_file();

	memset(vmmem_region_host(regs[0]), 0x5a, 64 * KiB);
	ck_assert_int_eq(vmmem_regions_snapshot_save(regs, 2, fd, &so), 0);
	s = open_snap(fd);
	/* Saved in GPA order; a caller's region is described as anonymous memory. */
	ck_assert_int_eq(vmmem_snapshot_region(s, 1, &ri), 0);
	ck_assert_uint_eq(ri.gpa, 1 * MiB);
	ck_assert_uint_eq(ri.flags, VMMEM_REGION_READ_ONLY);
	ck_assert_str_eq(ri.spec, "anon:gpa=0x100000,size=0x10000,readonly=on");
	for (uint32_t mode = VMMEM_RESTORE_COPY; mode <= VMMEM_RESTORE_MAP; mode++) {
		uint8_t b = 0;

		r = restore(ctx, s, mode);
		ck_assert(vmmem_region_flags(vmmem_memory_region_at(r, 1)) & VMMEM_REGION_READ_ONLY);
		ck_assert_int_eq(vmmem_memory_read_obj(r, 1 * MiB + 100, &b, 1), 0);
		ck_assert_uint_eq(b, 0x5a);
		ck_assert_int_eq(vmmem_memory_store_u8(r, 1 * MiB, 1, VMMEM_ORDER_RELAXED),
				 VMMEM_E_READ_ONLY);
		vmmem_memory_unref(r);
	}
	vmmem_snapshot_close(s);
	close(fd);
	vmmem_region_unref(regs[0]);
	vmmem_region_unref(regs[1]);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_snapshot_restore_with_config_override)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, CONFIG_TWO), *r;
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_COPY };
	struct vmmem_snapshot *s;
	int fd = scratch_file();

	fill(m, 9, 4);
	ck_assert_int_eq(save(m, fd, 0, NULL, NULL), 0);
	s = open_snap(fd);
	/* Same places, other providers: both regions become memfd. */
	ro.config = "memfd:gpa=4M,size=1M;memfd:gpa=0,size=2M";
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), 0);
	assert_same(m, r);
	ck_assert_int_ge(vmmem_region_fd(vmmem_memory_region_at(r, 0)), 0);
	vmmem_memory_unref(r);
	/* A config that does not match the file's regions. */
	ro.config = "memfd:gpa=0,size=2M";
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), VMMEM_E_CONFIG_CONFLICT);
	ck_assert_ptr_null(r);
	ro.config = "memfd:gpa=0,size=1M;memfd:gpa=4M,size=1M";
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), VMMEM_E_CONFIG_CONFLICT);
	ck_assert(strstr(vmmem_errormsg(), "gpa 0x0") != NULL);
	ro.config = "nosuchprovider:gpa=0,size=2M;memfd:gpa=4M,size=1M";
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL),
			 VMMEM_E_PROVIDER_NOT_FOUND);
	ck_assert_ptr_null(r);
	finish(s, fd, m, ctx);
}
END_TEST


/* The format's byte layout, pinned (docs/SNAPSHOT.md): little-endian at fixed offsets
 * whatever the host's byte order, so a file written on x86 reads on s390x and back. */
START_TEST(test_snapshot_byte_layout)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0x10000,size=64K,dirty-log=on");
	uint8_t h[128], e[80], id[16];
	char spec[64] = { 0 };
	int fd = scratch_file();

	ck_assert_int_eq(vmmem_memory_store_u64(m, 0x10000, 0x1122334455667788ull,
						VMMEM_ORDER_RELAXED),
			 0);
	ck_assert_int_eq(save(m, fd, 0, NULL, id), 0);
	ck_assert_int_eq(pread(fd, h, sizeof(h), 0), 128);
	ck_assert_mem_eq(h, "VMMEMSNP", 8);
	ck_assert_uint_eq(get_le32(h + 8), 1);            /* version */
	ck_assert_uint_eq(get_le32(h + 12), 128);         /* header size */
	ck_assert_uint_eq(get_le32(h + 16), tu_page_size());
	ck_assert_uint_eq(get_le32(h + 20), 0);           /* flags: full */
	ck_assert_uint_eq(get_le32(h + 24), 1);           /* regions */
	ck_assert_uint_eq(get_le32(h + 28), 80);          /* entry size */
	ck_assert_uint_eq(get_le64(h + 32), 128);         /* table offset */
	ck_assert_uint_eq(get_le64(h + 40), 80 + 38);     /* entry + config string */
	ck_assert_mem_eq(h + 56, id, 16);
	ck_assert_uint_eq(get_le64(h + 88), 64 * KiB);    /* guest bytes */
	ck_assert_uint_eq(get_le64(h + 96), 64 * KiB);    /* data bytes */
	ck_assert_uint_eq(get_le32(h + 124), crc32c_ref(h, 124));
	ck_assert_int_eq(pread(fd, e, sizeof(e), 128), 80);
	ck_assert_uint_eq(get_le64(e + 0), 0x10000);      /* gpa */
	ck_assert_uint_eq(get_le64(e + 8), 64 * KiB);     /* size */
	uint64_t data = get_le64(e + 16);

	ck_assert_uint_eq(data, tu_page_size());          /* first page after the table */
	ck_assert_uint_eq(get_le64(e + 24), 64 * KiB);    /* data size */
	ck_assert_uint_eq(get_le64(e + 40), 0);           /* no ranges in a full snapshot */
	ck_assert_uint_eq(get_le64(e + 48), 128 + 80);    /* config string offset */
	ck_assert_uint_eq(get_le32(e + 56), 38);
	ck_assert_int_eq(pread(fd, spec, 38, 128 + 80), 38);
	ck_assert_str_eq(spec, "anon:gpa=0x10000,size=64K,dirty-log=on");
	/* The guest's bytes are stored as they are in memory, and the region checksum is the
	 * CRC32C of the region's bytes. */
	uint8_t page[4096];

	ck_assert_int_eq(pread(fd, page, sizeof(page), (off_t)data), (ssize_t)sizeof(page));
	uint64_t v;

	memcpy(&v, page, 8);
	ck_assert_uint_eq(v, 0x1122334455667788ull);
	uint8_t *all = calloc(1, 64 * KiB);

	memcpy(all, page, sizeof(page));
	ck_assert_uint_eq(get_le32(e + 72), crc32c_ref(all, 64 * KiB));
	free(all);
	finish(NULL, fd, m, ctx);
}
END_TEST

/* ---- diffs, merge, apply ----------------------------------------------------------------- */

/* full -> diff1 -> diff2 merged equals a full snapshot taken at the end. */
START_TEST(test_snapshot_diff_chain_merge_equals_full)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, CONFIG_TWO);
	int f0 = scratch_file(), d1 = scratch_file(), d2 = scratch_file();
	int m1 = scratch_file(), m2 = scratch_file(), fend = scratch_file();
	uint8_t id0[16], id1[16], id2[16];
	struct vmmem_snapshot_info info = { .size = sizeof(info) };
	struct vmmem_snapshot *s0, *s1, *s2, *sm1, *sm2, *send;
	struct vmmem_memory *r;

	fill(m, 1, 3);
	ck_assert_int_eq(save(m, f0, 0, NULL, id0), 0);
	/* Round 1: three pages, one of them zeroed (a zero page in a diff is data). */
	ck_assert_int_eq(vmmem_memory_store_u64(m, 5 * PG, 111, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 4 * MiB + 9 * PG, 222, VMMEM_ORDER_RELAXED), 0);
	uint8_t zero[PG] = { 0 };

	ck_assert_int_eq(vmmem_memory_write_exact(m, 7 * PG, zero, PG, NULL), 0);
	ck_assert_int_eq(save(m, d1, VMMEM_SNAPSHOT_DIFF, id0, id1), 0);
	s1 = open_snap(d1);
	ck_assert_int_eq(vmmem_snapshot_info(s1, &info), 0);
	ck_assert_uint_eq(info.flags, VMMEM_SNAPSHOT_DIFF);
	ck_assert_uint_eq(info.data_bytes, 3 * PG);
	ck_assert_mem_eq(info.parent_id, id0, 16);
	/* Round 2: nothing but one byte in the last page of region 0. */
	ck_assert_int_eq(vmmem_memory_store_u8(m, 2 * MiB - 1, 0xee, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(save(m, d2, VMMEM_SNAPSHOT_DIFF, id1, id2), 0);
	ck_assert_int_eq(save(m, fend, 0, NULL, NULL), 0);

	s0 = open_snap(f0);
	s2 = open_snap(d2);
	ck_assert_int_eq(vmmem_snapshot_info(s2, &info), 0);
	ck_assert_uint_eq(info.data_bytes, PG);
	/* Merging out of order is refused. */
	ck_assert_int_eq(vmmem_snapshot_merge(s0, s2, m1, NULL, NULL), VMMEM_E_SNAPSHOT_PARENT);
	ck_assert_int_eq(vmmem_snapshot_merge(s1, s2, m1, NULL, NULL), VMMEM_E_SNAPSHOT_PARENT);
	ck_assert_int_eq(vmmem_snapshot_merge(s0, s0, m1, NULL, NULL), VMMEM_E_SNAPSHOT_PARENT);
	ck_assert_int_eq(vmmem_snapshot_merge(s0, s1, m1, NULL, NULL), 0);
	sm1 = open_snap(m1);
	ck_assert_int_eq(vmmem_snapshot_merge(sm1, s2, m2, NULL, NULL), 0);
	sm2 = open_snap(m2);
	send = open_snap(fend);
	ck_assert_int_eq(vmmem_snapshot_info(sm2, &info), 0);
	ck_assert_mem_eq(info.id, id2, 16);
	ck_assert_uint_eq(info.flags, 0);
	/* Same data checksums as the full one taken at the end, and the same bytes. */
	for (size_t i = 0; i < 2; i++) {
		struct vmmem_snapshot_region a = { .size = sizeof(a) }, b = { .size = sizeof(b) };

		ck_assert_int_eq(vmmem_snapshot_region(sm2, i, &a), 0);
		ck_assert_int_eq(vmmem_snapshot_region(send, i, &b), 0);
		ck_assert_uint_eq(a.data_crc, b.data_crc);
	}
	r = restore(ctx, sm2, VMMEM_RESTORE_COPY);
	assert_same(m, r);
	vmmem_memory_unref(r);
	/* The other way: restore the full one, apply the diffs in order. */
	r = restore(ctx, s0, VMMEM_RESTORE_MAP);
	ck_assert_int_eq(vmmem_snapshot_apply(s1, r), 0);
	ck_assert_int_eq(vmmem_snapshot_apply(s2, r), 0);
	assert_same(m, r);
	ck_assert_int_eq(vmmem_snapshot_apply(s0, r), VMMEM_E_SNAPSHOT_PARENT);
	vmmem_memory_unref(r);
	ck_assert_int_eq(vmmem_snapshot_restore(s1, ctx,
						&(struct vmmem_restore_opts){
							.size = sizeof(struct vmmem_restore_opts),
							.mode = VMMEM_RESTORE_COPY },
						&r, NULL),
			 VMMEM_E_SNAPSHOT_PARENT);
	vmmem_snapshot_close(s0);
	vmmem_snapshot_close(s1);
	vmmem_snapshot_close(s2);
	vmmem_snapshot_close(sm1);
	vmmem_snapshot_close(sm2);
	vmmem_snapshot_close(send);
	for (int fd = f0; fd <= fend; fd++)
		close(fd);
	vmmem_memory_unref(m);
	vmmem_ctx_unref(ctx);
}
END_TEST

struct writer {
	const struct vmmem_memory *m;
	uint64_t size;
	bool stop;
	uint64_t writes;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t x = 88172645463325252ull;

	while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		vmmem_memory_store_u64(w->m, (x % (w->size / 8)) * 8, x, VMMEM_ORDER_RELAXED);
		__atomic_fetch_add(&w->writes, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Writes racing with diff saves are all in some diff: the chain applied onto the first
 * full snapshot reproduces memory exactly. */
START_TEST(test_snapshot_diff_catches_racing_writes)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0,size=4M,dirty-log=on");
	struct writer w = { .m = m, .size = 4 * MiB };
	int full = scratch_file(), diffs[6];
	uint8_t id[16];
	pthread_t tid;
	struct vmmem_snapshot *s;
	struct vmmem_memory *r;

	fill(m, 3, 2);
	ck_assert_int_eq(save(m, full, 0, NULL, id), 0);
	ck_assert_int_eq(pthread_create(&tid, NULL, writer_main, &w), 0);
	for (int i = 0; i < 5; i++) {
		uint64_t before = __atomic_load_n(&w.writes, __ATOMIC_RELAXED);

		/* Let the writer get going, so each diff races with writes. */
		while (__atomic_load_n(&w.writes, __ATOMIC_RELAXED) < before + 1000)
			sched_yield();
		diffs[i] = scratch_file();
		ck_assert_int_eq(save(m, diffs[i], VMMEM_SNAPSHOT_DIFF, id, id), 0);
	}
	__atomic_store_n(&w.stop, true, __ATOMIC_RELAXED);
	pthread_join(tid, NULL);
	diffs[5] = scratch_file();
	ck_assert_int_eq(save(m, diffs[5], VMMEM_SNAPSHOT_DIFF, id, id), 0);
	ck_assert_uint_gt(w.writes, 0);

	s = open_snap(full);
	r = restore(ctx, s, VMMEM_RESTORE_COPY);
	vmmem_snapshot_close(s);
	for (int i = 0; i < 6; i++) {
		s = open_snap(diffs[i]);
		ck_assert_int_eq(vmmem_snapshot_apply(s, r), 0);
		vmmem_snapshot_close(s);
		close(diffs[i]);
	}
	assert_same(m, r);
	vmmem_memory_unref(r);
	close(full);
	vmmem_memory_unref(m);
	vmmem_ctx_unref(ctx);
}
END_TEST

static int cancel_at_once(void *arg, uint64_t done, uint64_t total)
{
	(void)done;
	(void)total;
	++*(int *)arg;
	return 1;
}

static int count_calls(void *arg, uint64_t done, uint64_t total)
{
	ck_assert_uint_le(done, total);
	++*(int *)arg;
	return 0;
}

/* A cancelled or failed diff save loses no dirty page: the next diff has them all. */
START_TEST(test_snapshot_cancelled_save_keeps_dirty_bits)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0,size=2M,dirty-log=on");
	struct vmmem_snapshot_save_opts so = { .size = sizeof(so) };
	struct vmmem_snapshot_info info = { .size = sizeof(info) };
	struct vmmem_snapshot *s;
	int fd = scratch_file(), calls = 0;

	ck_assert_int_eq(vmmem_memory_snapshot_save(m, fd, &so), 0);
	for (int p = 0; p < 8; p++)
		ck_assert_int_eq(vmmem_memory_store_u8(m, (uint64_t)p * 3 * PG, 1, VMMEM_ORDER_RELAXED),
				 0);
	so.flags = VMMEM_SNAPSHOT_DIFF;
	so.progress = cancel_at_once;
	so.progress_arg = &calls;
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, fd, &so), -ECANCELED);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(vmmem_region_dirty_count(vmmem_memory_region_at(m, 0)), 8);
	/* A closed... not a regular file: refused before any bit is touched. */
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, -1, &so), -EBADF);
	so.progress = count_calls;
	calls = 0;
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, fd, &so), 0);
	ck_assert_int_eq(calls, 1);
	ck_assert_uint_eq(so.data_bytes, 8 * PG);
	s = open_snap(fd);
	ck_assert_int_eq(vmmem_snapshot_info(s, &info), 0);
	ck_assert_uint_eq(info.data_bytes, 8 * PG);
	vmmem_snapshot_close(s);
	ck_assert_int_eq(vmmem_region_dirty_count(vmmem_memory_region_at(m, 0)), 0);
	close(fd);
	vmmem_memory_unref(m);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* ---- lazy restore ------------------------------------------------------------------------ */

struct reader {
	const struct vmmem_memory *expect, *got;
	uint32_t seed;
	int bad;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	uint64_t x = 0x12345 + rd->seed;

	/* 4 x 50 reads over 256 fault-around windows of 64 KiB: many stay untouched. */
	for (int i = 0; i < 50; i++) {
		uint64_t a, b;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t gpa = ((x >> 20) % (16 * MiB / 8)) * 8;

		if (vmmem_memory_load_u64(rd->expect, gpa, VMMEM_ORDER_RELAXED, &a) ||
		    vmmem_memory_load_u64(rd->got, gpa, VMMEM_ORDER_RELAXED, &b) || a != b)
			rd->bad++;
	}
	return NULL;
}

/* A shared fd-backed guest is read only where its file holds data (holes are zeroes in the
 * checksum, nothing written); a private mapping of a memfd is read whole, since its copied
 * pages need not be in the file. Data at the start, on both sides of a 1 MiB chunk boundary, in
 * a page after a long hole, and in the last page all come back; the data written is what
 * was touched. */
START_TEST(test_snapshot_file_holes_skipped)
{
	static const char *const configs[] = {
		"memfd:gpa=0,size=24M", "memfd:gpa=0,size=24M,share=off",
		"file:gpa=0,size=24M,mem-path=/dev/shm,share=on",
	};
	static const uint64_t pages[] = { 0, MiB - 4096, MiB, 13 * MiB + 8192, 24 * MiB - 4096 };

	for (size_t c = 0; c < sizeof(configs) / sizeof(configs[0]); c++) {
		struct vmmem_ctx *ctx = new_ctx();
		struct vmmem_memory *m = from_config(ctx, configs[c]), *r;
		struct vmmem_snapshot_save_opts so = { .size = sizeof(so) };
		struct vmmem_snapshot *sn;
		int fd = scratch_file();

		for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
			uint64_t v = 0x1234567800000000ull + i;

			ck_assert_int_eq(vmmem_memory_write_obj(m, pages[i] + 4088, &v, 8), 0);
			ck_assert_int_eq(vmmem_memory_write_obj(m, pages[i], &v, 8), 0);
		}
		ck_assert_int_eq(vmmem_memory_snapshot_save(m, fd, &so), 0);
		/* One file page (the host's, at least 4 KiB) per page written. */
		ck_assert_uint_eq(so.data_bytes, sizeof(pages) / sizeof(pages[0]) *
						  (tu_page_size() < 4096 ? 4096 : tu_page_size()));
		sn = open_snap(fd);
		ck_assert_int_eq(vmmem_snapshot_verify(sn, NULL, NULL), 0);
		r = restore(ctx, sn, VMMEM_RESTORE_COPY);
		assert_same(m, r);
		vmmem_memory_unref(r);
		finish(sn, fd, m, ctx);
	}
}
END_TEST

START_TEST(test_snapshot_lazy_concurrent_readers)
{
	if (!lazy_available())
		return;
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "memfd:gpa=0,size=8M;anon:gpa=8M,size=8M"), *r;
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_LAZY,
					 .flags = VMMEM_RESTORE_NO_PREFETCH };
	struct vmmem_restore *lazy;
	struct vmmem_snapshot *s;
	struct reader rd[4];
	pthread_t tid[4];
	uint64_t done, total, faults;
	int fd = scratch_file(), rc;

	fill(m, 11, 7);
	ck_assert_int_eq(save(m, fd, 0, NULL, NULL), 0);
	s = open_snap(fd);
	rc = vmmem_snapshot_restore(s, ctx, &ro, &r, &lazy);
	ck_assert_msg(rc == 0, "%s", vmmem_errormsg());
	/* Nothing prefetched: every first touch is a fault the handler serves. */
	ck_assert_int_eq(vmmem_restore_wait(lazy, 0), -ETIMEDOUT);
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){ .expect = m, .got = r, .seed = (uint32_t)i };
		ck_assert_int_eq(pthread_create(&tid[i], NULL, reader_main, &rd[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(tid[i], NULL);
		ck_assert_int_eq(rd[i].bad, 0);
	}
	ck_assert_int_eq(vmmem_restore_progress(lazy, &done, &total, &faults), 0);
	ck_assert_uint_gt(faults, 0);
	ck_assert_uint_eq(total, 16 * MiB);
	ck_assert_uint_lt(done, total);
	/* Waiting brings in the rest. */
	ck_assert_int_eq(vmmem_restore_wait(lazy, -1), 0);
	ck_assert_int_eq(vmmem_restore_progress(lazy, &done, NULL, NULL), 0);
	ck_assert_uint_eq(done, 16 * MiB);
	ck_assert_int_eq(vmmem_restore_free(lazy), 0);
	assert_same(m, r);
	/* The kernel's own accesses are served too: write() from guest memory. */
	vmmem_memory_unref(r);
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, &lazy), 0);
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], (uint8_t *)vmmem_region_host(vmmem_memory_region_at(r, 0)) + PG, 64), 64);
	uint8_t got[64];

	ck_assert_int_eq(read(p[0], got, 64), 64);
	ck_assert_mem_eq(got, (uint8_t *)vmmem_region_host(vmmem_memory_region_at(m, 0)) + PG, 64);
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(vmmem_restore_free(lazy), 0); /* free prefetches what is left */
	assert_same(m, r);
	vmmem_memory_unref(r);
	finish(s, fd, m, ctx);
}
END_TEST

START_TEST(test_snapshot_lazy_hugetlb)
{
	if (!lazy_available())
		return;
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_config *cfg;
	struct vmmem_memory *m, *r;
	struct vmmem_snapshot *s;
	int fd, rc;

	ck_assert_int_eq(vmmem_config_parse(&cfg, "memfd:gpa=0,size=8M,hugetlb=on"), 0);
	rc = vmmem_memory_new_from_config(&m, ctx, cfg);
	vmmem_config_free(cfg);
	if (rc != 0) {
		/* No huge pages here: .ci/run reserves them, so CI never takes this path. */
		vmmem_ctx_unref(ctx);
		return;
	}
	fd = scratch_file();
	fill(m, 21, 3);
	ck_assert_int_eq(save(m, fd, 0, NULL, NULL), 0);
	s = open_snap(fd);
	r = restore(ctx, s, VMMEM_RESTORE_LAZY);
	ck_assert_uint_eq(vmmem_region_page_size(vmmem_memory_region_at(r, 0)), 2 * MiB);
	assert_same(m, r);
	vmmem_memory_unref(r);
	finish(s, fd, m, ctx);
}
END_TEST

/* ---- hostile files ----------------------------------------------------------------------- */

/* A valid one-region snapshot of 256 KiB in @fd, returned as a byte copy of its first
 * @n bytes of metadata (header + table) for patching. */
static int good_file(struct vmmem_ctx *ctx)
{
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0,size=256K");
	int fd = scratch_file();

	fill(m, 4, 0);
	ck_assert_int_eq(save(m, fd, 0, NULL, NULL), 0);
	vmmem_memory_unref(m);
	return fd;
}

static void patch(int fd, off_t off, const void *bytes, size_t n)
{
	ck_assert_int_eq(pwrite(fd, bytes, n, off), (ssize_t)n);
}

/* Re-seal the header checksum after a patch, so the check under test is the one hit. */
static void reseal_header(int fd)
{
	uint8_t h[128];

	ck_assert_int_eq(pread(fd, h, 128, 0), 128);
	put_le32(h + 124, crc32c_ref(h, 124));
	patch(fd, 0, h, 128);
}

static void reseal_table(int fd)
{
	uint8_t h[128], *t;
	uint64_t toff, tsize;

	ck_assert_int_eq(pread(fd, h, 128, 0), 128);
	toff = get_le64(h + 32);
	tsize = get_le64(h + 40);
	t = malloc(tsize);
	ck_assert_int_eq(pread(fd, t, tsize, (off_t)toff), (ssize_t)tsize);
	put_le32(h + 112, crc32c_ref(t, tsize));
	put_le32(h + 124, crc32c_ref(h, 124));
	patch(fd, 0, h, 128);
	free(t);
}

static int open_rc(int fd)
{
	struct vmmem_snapshot *s = (void *)1;
	int rc = vmmem_snapshot_open(&s, fd);

	if (rc == 0)
		vmmem_snapshot_close(s);
	else
		ck_assert_ptr_null(s);
	return rc;
}

#define EXPECT_OPEN(fd, code, text)                                                          \
	do {                                                                                  \
		ck_assert_int_eq(open_rc(fd), code);                                          \
		ck_assert_msg(strstr(vmmem_errormsg(), text) != NULL, "message: %s",          \
			      vmmem_errormsg());                                              \
	} while (0)

START_TEST(test_snapshot_hostile_files)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct stat st;
	int fd;
	uint8_t b;

	/* Not a snapshot at all. */
	fd = scratch_file();
	patch(fd, 0, "hello, world, this is not a snapshot", 36);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_FORMAT, "magic");
	close(fd);
	fd = scratch_file();
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_FORMAT, "0 bytes");
	close(fd);

	/* Truncated: inside the header, inside the data. */
	fd = good_file(ctx);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(ftruncate(fd, st.st_size - 1), 0);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_TRUNCATED, "truncated");
	ck_assert_int_eq(ftruncate(fd, 100), 0);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_TRUNCATED, "header");
	close(fd);
	/* Trailing bytes. */
	fd = good_file(ctx);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(ftruncate(fd, st.st_size + 4096), 0);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_FORMAT, "more than");
	close(fd);

	/* Corrupt header byte, corrupt table byte. */
	fd = good_file(ctx);
	/* Inside the id, which is random: flip the byte (setting it to a fixed value left it
	 * unchanged once in 256 runs, and the test failed). */
	ck_assert_int_eq(pread(fd, &b, 1, 60), 1);
	b ^= 0xff;
	patch(fd, 60, &b, 1);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_CHECKSUM, "header checksum");
	b = 0x77;
	close(fd);
	fd = good_file(ctx);
	patch(fd, 128 + 3, &b, 1); /* inside region 0's gpa */
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_CHECKSUM, "table checksum");
	close(fd);

	/* Wrong version, wrong page size (checksums resealed). */
	fd = good_file(ctx);
	uint8_t v[4];

	put_le32(v, 2);
	patch(fd, 8, v, 4);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_VERSION, "version 2");
	close(fd);
	fd = good_file(ctx);
	put_le32(v, 3000);
	patch(fd, 16, v, 4);
	reseal_header(fd);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_PAGE_SIZE, "page size 3000");
	put_le32(v, 1u << 31);
	patch(fd, 16, v, 4);
	reseal_header(fd);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_PAGE_SIZE, "power of two");
	close(fd);

	/* Over-large: region count, table size, a region's size, a data area past the end. */
	fd = good_file(ctx);
	put_le32(v, 1u << 30);
	patch(fd, 24, v, 4);
	reseal_header(fd);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_FORMAT, "region count");
	close(fd);
	fd = good_file(ctx);
	uint8_t q[8];

	put_le64(q, 1ull << 40);
	patch(fd, 40, q, 8);
	reseal_header(fd);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_FORMAT, "over-large");
	close(fd);
	fd = good_file(ctx);
	put_le64(q, 1ull << 60);
	patch(fd, 128 + 8, q, 8); /* region 0's size */
	reseal_table(fd);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_FORMAT, "over-large");
	close(fd);
	fd = good_file(ctx);
	put_le64(q, 1ull << 40);
	patch(fd, 128 + 24, q, 8); /* region 0's data size */
	reseal_table(fd);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_TRUNCATED, "past the end");
	close(fd);
	fd = good_file(ctx);
	put_le64(q, 4096 + 1);
	patch(fd, 128 + 16, q, 8); /* region 0's data offset, misaligned */
	reseal_table(fd);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_FORMAT, "not page-aligned");
	close(fd);
	fd = good_file(ctx);
	put_le32(v, 1u << 20);
	patch(fd, 128 + 56, v, 4); /* spec length */
	reseal_table(fd);
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_FORMAT, "config string");
	close(fd);

	vmmem_ctx_unref(ctx);
}
END_TEST

/* Corrupt page data: open succeeds (it reads no data), everything that reads data fails,
 * and nothing half-restored is returned. */
START_TEST(test_snapshot_corrupt_data)
{
	struct vmmem_ctx *ctx = new_ctx();
	int fd = good_file(ctx);
	struct vmmem_snapshot_region ri = { .size = sizeof(ri) };
	struct vmmem_restore_opts ro = { .size = sizeof(ro) };
	struct vmmem_restore *lazy;
	struct vmmem_memory *r;
	struct vmmem_snapshot *s = open_snap(fd);
	uint8_t b = 0xff;

	ck_assert_int_eq(vmmem_snapshot_region(s, 0, &ri), 0);
	patch(fd, (off_t)(ri.data_offset + 3 * PG + 17), &b, 1);
	ck_assert_int_eq(vmmem_snapshot_verify(s, NULL, NULL), VMMEM_E_SNAPSHOT_CHECKSUM);
	ck_assert(strstr(vmmem_errormsg(), "region 0") != NULL);
	ro.mode = VMMEM_RESTORE_COPY;
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), VMMEM_E_SNAPSHOT_CHECKSUM);
	ck_assert_ptr_null(r);
	ro.mode = VMMEM_RESTORE_MAP;
	ro.flags = VMMEM_RESTORE_VERIFY;
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), VMMEM_E_SNAPSHOT_CHECKSUM);
	ck_assert_ptr_null(r);
	if (lazy_available()) {
		ro.mode = VMMEM_RESTORE_LAZY;
		ro.flags = 0;
		ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, &lazy), 0);
		ck_assert_int_eq(vmmem_restore_wait(lazy, -1), VMMEM_E_SNAPSHOT_CHECKSUM);
		ck_assert(strstr(vmmem_errormsg(), "must not be used") != NULL);
		ck_assert_int_eq(vmmem_restore_free(lazy), VMMEM_E_SNAPSHOT_CHECKSUM);
		vmmem_memory_unref(r);
	}
	vmmem_snapshot_close(s);
	close(fd);
	vmmem_ctx_unref(ctx);
}
END_TEST


/* Field-by-field damage, each resealed so that the field check (not a checksum) is hit. */
struct damage {
	const char *what;
	bool in_table; /* offset relative to the table (then the table CRC is resealed) */
	unsigned off;
	unsigned width;
	uint64_t value;
	int code;
	const char *text;
};

/* A value that stands for one host page (the smallest page-aligned data area). */
#define ONE_HOST_PAGE UINT64_C(0xD0E5C0DE00000001)

static const struct damage damages[] = {
	{ "header size", false, 12, 4, 64, VMMEM_E_SNAPSHOT_FORMAT, "header size" },
	{ "unknown flags", false, 20, 4, 0x10, VMMEM_E_SNAPSHOT_FORMAT, "unknown flags" },
	{ "entry size", false, 28, 4, 8, VMMEM_E_SNAPSHOT_FORMAT, "entry size" },
	{ "table offset", false, 32, 8, 8, VMMEM_E_SNAPSHOT_FORMAT, "table offset" },
	{ "table past the end", false, 40, 8, 1 << 20, VMMEM_E_SNAPSHOT_TRUNCATED, "past the end" },
	{ "guest total", false, 88, 8, 12345, VMMEM_E_SNAPSHOT_FORMAT, "totals" },
	{ "region flags", true, 60, 4, 0x8, VMMEM_E_SNAPSHOT_FORMAT, "unknown flags" },
	{ "full with ranges", true, 40, 8, 1, VMMEM_E_SNAPSHOT_FORMAT, "no range table" },
	{ "data area too small", true, 24, 8, ONE_HOST_PAGE, VMMEM_E_SNAPSHOT_FORMAT,
	  "smaller than" },
	{ "data overlaps table", true, 16, 8, 0, VMMEM_E_SNAPSHOT_FORMAT, "overlaps the table" },
	{ "zero size", true, 8, 8, 0, VMMEM_E_SNAPSHOT_FORMAT, "zero" },
	{ "gpa wraps", true, 0, 8, UINT64_MAX - 4096, VMMEM_E_SNAPSHOT_FORMAT, "passes 2^64" },
	{ "empty config", true, 56, 4, 0, VMMEM_E_SNAPSHOT_FORMAT, "config string" },
};

START_TEST(test_snapshot_damaged_fields)
{
	struct vmmem_ctx *ctx = new_ctx();

	for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
		const struct damage *d = &damages[i];
		int fd = good_file(ctx);
		uint8_t v[8];

		put_le64(v, d->value == ONE_HOST_PAGE ? HP : d->value);
		patch(fd, (off_t)(d->in_table ? 128 + d->off : d->off), v, d->width);
		if (d->in_table)
			reseal_table(fd);
		else
			reseal_header(fd);
		ck_assert_msg(open_rc(fd) == d->code, "%s: %d (%s)", d->what, open_rc(fd),
			      vmmem_errormsg());
		ck_assert_msg(strstr(vmmem_errormsg(), d->text) != NULL, "%s: message '%s'",
			      d->what, vmmem_errormsg());
		close(fd);
	}
	vmmem_ctx_unref(ctx);
}
END_TEST

/* The table's config string is what copy restore runs: a string that does not parse or
 * that names another place is refused; a NUL inside is refused on open. */
START_TEST(test_snapshot_bad_config_strings)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_snapshot_region ri = { .size = sizeof(ri) };
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_COPY };
	struct vmmem_snapshot *s;
	struct vmmem_memory *m;
	const char *repl[] = { "anon;gpa=0,size=256K", "anon:gpa=4K,size=256K", NULL };
	int fd;

	for (int i = 0; repl[i]; i++) {
		fd = good_file(ctx);
		s = open_snap(fd);
		ck_assert_int_eq(vmmem_snapshot_region(s, 0, &ri), 0);
		uint64_t off = ri.data_offset; /* the spec is just before the data, in the table */
		vmmem_snapshot_close(s);
		/* The good file's spec is "anon:gpa=0,size=256K" (20 bytes): same length. */
		uint8_t h[128], *t;

		ck_assert_int_eq(pread(fd, h, 128, 0), 128);
		uint64_t tsize = get_le64(h + 40);

		t = malloc(tsize);
		ck_assert_int_eq(pread(fd, t, tsize, 128), (ssize_t)tsize);
		uint8_t *at = memmem(t, tsize, "anon:gpa=0,size=256K", 20);

		ck_assert_ptr_nonnull(at);
		memcpy(at, repl[i], 20);
		patch(fd, 128, t, tsize);
		free(t);
		reseal_table(fd);
		(void)off;
		s = open_snap(fd);
		ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &m, NULL),
				 VMMEM_E_SNAPSHOT_FORMAT);
		ck_assert_ptr_null(m);
		ck_assert(strstr(vmmem_errormsg(), "config string") != NULL);
		vmmem_snapshot_close(s);
		close(fd);
	}
	/* A NUL byte inside the string. */
	fd = good_file(ctx);
	s = open_snap(fd);
	ck_assert_int_eq(vmmem_snapshot_region(s, 0, &ri), 0);
	vmmem_snapshot_close(s);
	{
		uint8_t h[128], *t;

		ck_assert_int_eq(pread(fd, h, 128, 0), 128);
		uint64_t tsize = get_le64(h + 40);

		t = malloc(tsize);
		ck_assert_int_eq(pread(fd, t, tsize, 128), (ssize_t)tsize);
		uint8_t *at = memmem(t, tsize, "anon:", 5);

		ck_assert_ptr_nonnull(at);
		at[2] = 0;
		patch(fd, 128, t, tsize);
		free(t);
		reseal_table(fd);
	}
	EXPECT_OPEN(fd, VMMEM_E_SNAPSHOT_FORMAT, "NUL");
	close(fd);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* merge refuses inputs that do not fit together: a diff as parent, a diff of other
 * regions that names the parent. */
START_TEST(test_snapshot_merge_mismatched_regions)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *a = from_config(ctx, "anon:gpa=0,size=1M,dirty-log=on");
	struct vmmem_memory *b = from_config(ctx, "anon:gpa=0,size=2M,dirty-log=on");
	struct vmmem_memory *c = from_config(ctx, CONFIG_TWO);
	int fa = scratch_file(), fb = scratch_file(), fc = scratch_file(), out = scratch_file();
	struct vmmem_snapshot *sa, *sb, *sc;
	uint8_t ida[16];

	ck_assert_int_eq(save(a, fa, 0, NULL, ida), 0);
	ck_assert_int_eq(save(b, fb, VMMEM_SNAPSHOT_DIFF, ida, NULL), 0);
	ck_assert_int_eq(save(c, fc, VMMEM_SNAPSHOT_DIFF, ida, NULL), 0);
	sa = open_snap(fa);
	sb = open_snap(fb);
	sc = open_snap(fc);
	ck_assert_int_eq(vmmem_snapshot_merge(sa, sb, out, NULL, NULL), VMMEM_E_SNAPSHOT_PARENT);
	ck_assert(strstr(vmmem_errormsg(), "region 0 differs") != NULL);
	ck_assert_int_eq(vmmem_snapshot_merge(sa, sc, out, NULL, NULL), VMMEM_E_SNAPSHOT_PARENT);
	ck_assert(strstr(vmmem_errormsg(), "2 regions") != NULL);
	ck_assert_int_eq(vmmem_snapshot_merge(sb, sb, out, NULL, NULL), VMMEM_E_SNAPSHOT_PARENT);
	ck_assert(strstr(vmmem_errormsg(), "itself a diff") != NULL);
	ck_assert_int_eq(vmmem_snapshot_merge(sa, sa, -1, NULL, NULL), -EBADF);
	/* A progress callback can stop a merge; the output is then no snapshot. */
	int calls = 0;

	ck_assert_int_eq(save(a, fb, VMMEM_SNAPSHOT_DIFF, ida, NULL), 0);
	vmmem_snapshot_close(sb);
	sb = open_snap(fb);
	ck_assert_int_eq(vmmem_snapshot_merge(sa, sb, out, cancel_at_once, &calls), -ECANCELED);
	ck_assert_int_eq(open_rc(out), VMMEM_E_SNAPSHOT_FORMAT);
	vmmem_snapshot_close(sa);
	vmmem_snapshot_close(sb);
	vmmem_snapshot_close(sc);
	close(fa);
	close(fb);
	close(fc);
	close(out);
	vmmem_memory_unref(a);
	vmmem_memory_unref(b);
	vmmem_memory_unref(c);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* A lazy restore whose file loses its data after open: the fault thread cannot read the
 * page, poisons it (a kernel access gets EFAULT, never zeros), and the restore reports
 * the error. */
START_TEST(test_snapshot_lazy_file_cut_after_open)
{
	if (!lazy_available())
		return;
	struct vmmem_ctx *ctx = new_ctx();
	int fd = good_file(ctx), p[2];
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_LAZY,
					 .flags = VMMEM_RESTORE_NO_PREFETCH };
	struct vmmem_snapshot_region ri = { .size = sizeof(ri) };
	struct vmmem_restore *lazy;
	struct vmmem_memory *m;
	struct vmmem_snapshot *s = open_snap(fd);
	int rc;

	ck_assert_int_eq(vmmem_snapshot_region(s, 0, &ri), 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)ri.data_offset), 0);
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &m, &lazy), 0);
	ck_assert_int_eq(pipe(p), 0);
	errno = 0;
	ck_assert_int_eq(write(p[1], (uint8_t *)vmmem_region_host(vmmem_memory_region_at(m, 0)) +
					     8 * PG, 64), -1);
	ck_assert_int_eq(errno, EFAULT);
	rc = vmmem_restore_wait(lazy, -1);
	ck_assert_int_eq(rc, VMMEM_E_SNAPSHOT_TRUNCATED);
	ck_assert_int_eq(vmmem_restore_free(lazy), VMMEM_E_SNAPSHOT_TRUNCATED);
	close(p[0]);
	close(p[1]);
	finish(s, fd, m, ctx);
}
END_TEST

/* Progress reports of a lazy restore come from its prefetch thread and end at the total. */
struct last_progress {
	uint64_t done, total;
	int calls;
};

static int record_progress(void *arg, uint64_t done, uint64_t total)
{
	struct last_progress *lp = arg;

	__atomic_store_n(&lp->done, done, __ATOMIC_RELAXED);
	__atomic_store_n(&lp->total, total, __ATOMIC_RELAXED);
	__atomic_fetch_add(&lp->calls, 1, __ATOMIC_RELAXED);
	return 1; /* ignored: a lazy restore cannot stop */
}

START_TEST(test_snapshot_lazy_progress)
{
	if (!lazy_available())
		return;
	struct vmmem_ctx *ctx = new_ctx();
	int fd = good_file(ctx);
	struct last_progress lp = { 0 };
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_LAZY,
					 .progress = record_progress, .progress_arg = &lp };
	struct vmmem_restore *lazy;
	struct vmmem_memory *m;
	struct vmmem_snapshot *s = open_snap(fd);

	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &m, &lazy), 0);
	ck_assert_int_eq(vmmem_restore_wait(lazy, 10000), 0);
	ck_assert_int_eq(vmmem_restore_free(lazy), 0);
	ck_assert_int_ge(lp.calls, 1);
	ck_assert_uint_eq(lp.done, 256 * KiB);
	ck_assert_uint_eq(lp.total, 256 * KiB);
	finish(s, fd, m, ctx);
}
END_TEST


/* Outputs a save or merge must not write: a file this process maps (a memory restored
 * from it by map), an input of the merge, an append-mode fd. */
START_TEST(test_snapshot_output_checks)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0,size=1M,dirty-log=on"), *r;
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_MAP };
	int fd = scratch_file(), diff = scratch_file(), out = scratch_file();
	struct vmmem_snapshot *s, *d;
	uint8_t id[16];
	char path[] = "/tmp/vmmem-snap-append-XXXXXX";

	fill(m, 2, 3);
	ck_assert_int_eq(save(m, fd, 0, NULL, id), 0);
	s = open_snap(fd);
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), 0);
	/* Rewriting the file would take r's pages away: refused, r intact. */
	ck_assert_int_eq(save(m, fd, 0, NULL, NULL), -EBUSY);
	assert_same(m, r);
	ck_assert_int_eq(vmmem_memory_store_u8(m, 0, 9, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(save(m, diff, VMMEM_SNAPSHOT_DIFF, id, NULL), 0);
	d = open_snap(diff);
	ck_assert_int_eq(vmmem_snapshot_merge(s, d, fd, NULL, NULL), -EINVAL); /* parent */
	ck_assert_int_eq(vmmem_snapshot_merge(s, d, diff, NULL, NULL), -EINVAL);
	ck_assert(strstr(vmmem_errormsg(), "one of the inputs") != NULL);
	ck_assert_int_eq(vmmem_snapshot_merge(s, d, out, NULL, NULL), 0);
	vmmem_memory_unref(r);
	/* Once the mapping is gone the file may be rewritten. */
	ck_assert_int_eq(save(m, fd, 0, NULL, NULL), 0);
	int app = mkstemp(path);

	ck_assert_int_ge(app, 0);
	close(app);
	app = open(path, O_RDWR | O_APPEND);
	unlink(path);
	ck_assert_int_eq(save(m, app, 0, NULL, NULL), -EINVAL);
	ck_assert(strstr(vmmem_errormsg(), "append") != NULL);
	close(app);
	vmmem_snapshot_close(d);
	close(diff);
	close(out);
	finish(s, fd, m, ctx);
}
END_TEST

/* A provider may reopen a file that already holds data (hugetlbfs mem-path=FILE): copy
 * restore writes the snapshot's holes as zeros, lazy restore refuses. */
START_TEST(test_snapshot_restore_into_used_file)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0,size=4M"), *r;
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_COPY };
	struct vmmem_restore *lazy;
	struct vmmem_snapshot *s;
	char path[] = "/dev/hugepages/vmmem-snap-used-XXXXXX", config[256];
	int fd = scratch_file(), hf = mkstemp(path);
	uint8_t *old;

	if (hf < 0) {
		/* No hugetlbfs mount: .ci/run mounts one, so CI never takes this path. */
		finish(NULL, fd, m, ctx);
		return;
	}
	old = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, hf, 0);
	if (old == MAP_FAILED) { /* no free huge pages */
		close(hf);
		unlink(path);
		finish(NULL, fd, m, ctx);
		return;
	}
	memset(old, 0xee, 4 * MiB); /* stale data where the snapshot has zeros */
	munmap(old, 4 * MiB);
	close(hf);
	fill(m, 6, 4);
	ck_assert_int_eq(save(m, fd, 0, NULL, NULL), 0);
	s = open_snap(fd);
	snprintf(config, sizeof(config), "hugetlbfs:gpa=0,size=4M,mem-path=%s", path);
	ro.config = config;
	ck_assert_msg(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL) == 0, "%s", vmmem_errormsg());
	assert_same(m, r);
	vmmem_memory_unref(r);
	ro.mode = VMMEM_RESTORE_LAZY;
	if (lazy_available()) {
		ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, &lazy), -EBUSY);
		ck_assert_ptr_null(r);
	}
	unlink(path);
	finish(s, fd, m, ctx);
}
END_TEST

/* ---- bad arguments ----------------------------------------------------------------------- */

START_TEST(test_snapshot_bad_arguments)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0,size=64K"), *r;
	struct vmmem_snapshot_save_opts so = { .size = sizeof(so) };
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_COPY };
	struct vmmem_snapshot_info info = { .size = sizeof(info) };
	struct vmmem_snapshot_region ri = { .size = sizeof(ri) };
	struct vmmem_region *regs[2] = { tu_anon_region(0, 64 * KiB, 0),
					 tu_anon_region(32 * KiB, 64 * KiB, 0) };
	struct vmmem_snapshot *s;
	struct vmmem_restore *lazy;
	int fd = scratch_file(), p[2];

	ck_assert_int_eq(pipe(p), 0);
	/* save */
	ck_assert_int_eq(vmmem_memory_snapshot_save(NULL, fd, &so), -EINVAL);
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, fd, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, p[1], &so), -EINVAL);
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, -1, &so), -EBADF);
	so.size = 4;
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, fd, &so), -EINVAL);
	so.size = sizeof(so);
	so.flags = 0x80;
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, fd, &so), -EINVAL);
	so.flags = VMMEM_SNAPSHOT_DIFF; /* no tracking on the region */
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, fd, &so), VMMEM_E_NOT_TRACKED);
	so.flags = 0;
	ck_assert_int_eq(vmmem_regions_snapshot_save(regs, 0, fd, &so), VMMEM_E_NO_REGIONS);
	ck_assert_int_eq(vmmem_regions_snapshot_save(NULL, 1, fd, &so), -EINVAL);
	ck_assert_int_eq(vmmem_regions_snapshot_save(regs, 2, fd, &so), VMMEM_E_OVERLAP);
	struct vmmem_region *with_null[2] = { regs[0], NULL };

	ck_assert_int_eq(vmmem_regions_snapshot_save(with_null, 2, fd, &so), -EINVAL);
	struct vmmem_memory *empty;

	ck_assert_int_eq(vmmem_memory_new_empty(&empty), 0);
	ck_assert_int_eq(vmmem_memory_snapshot_save(empty, fd, &so), VMMEM_E_NO_REGIONS);
	vmmem_memory_unref(empty);
	ck_assert_int_eq(vmmem_memory_snapshot_save(m, fd, &so), 0);

	/* open and queries */
	ck_assert_int_eq(vmmem_snapshot_open(NULL, fd), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_open(&s, p[0]), -EINVAL);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(vmmem_snapshot_open(&s, -1), -EBADF);
	s = open_snap(fd);
	ck_assert_int_eq(vmmem_snapshot_info(NULL, &info), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_info(s, NULL), -EINVAL);
	info.size = 8;
	ck_assert_int_eq(vmmem_snapshot_info(s, &info), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_region(s, 1, &ri), -ERANGE);
	ck_assert_int_eq(vmmem_snapshot_region(NULL, 0, &ri), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_region(s, 0, NULL), -EINVAL);
	ri.size = 8;
	ck_assert_int_eq(vmmem_snapshot_region(s, 0, &ri), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_verify(NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_merge(NULL, s, fd, NULL, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_merge(s, NULL, fd, NULL, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_merge(s, s, p[1], NULL, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_apply(NULL, m), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_apply(s, NULL), -EINVAL);

	/* restore */
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, NULL, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_restore(NULL, ctx, &ro, &r, NULL), -EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, NULL, &r, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_snapshot_restore(s, NULL, &ro, &r, NULL), -EINVAL);
	ro.mode = 9;
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), -EINVAL);
	ro.mode = VMMEM_RESTORE_COPY;
	ro.flags = 0x100;
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), -EINVAL);
	ro.flags = 0;
	ro.size = 4;
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), -EINVAL);
	ro.size = sizeof(ro);
	ro.mode = VMMEM_RESTORE_LAZY;
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), -EINVAL);
	ro.mode = VMMEM_RESTORE_MAP; /* map needs no context */
	lazy = (void *)1;
	ck_assert_int_eq(vmmem_snapshot_restore(s, NULL, &ro, &r, &lazy), 0);
	ck_assert_ptr_null(lazy);
	vmmem_memory_unref(r);
	ro.progress = cancel_at_once;
	int calls = 0;

	ro.progress_arg = &calls;
	ro.mode = VMMEM_RESTORE_COPY;
	ck_assert_int_eq(vmmem_snapshot_restore(s, ctx, &ro, &r, NULL), -ECANCELED);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(vmmem_snapshot_verify(s, cancel_at_once, &calls), -ECANCELED);

	ck_assert_int_eq(vmmem_restore_wait(NULL, 0), -EINVAL);
	ck_assert_int_eq(vmmem_restore_progress(NULL, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_restore_free(NULL), 0);
	vmmem_snapshot_close(NULL);

	vmmem_snapshot_close(s);
	close(p[0]);
	close(p[1]);
	close(fd);
	vmmem_region_unref(regs[0]);
	vmmem_region_unref(regs[1]);
	vmmem_memory_unref(m);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* apply refuses ranges the memory cannot take, before changing anything. */
START_TEST(test_snapshot_apply_checks_target)
{
	struct vmmem_ctx *ctx = new_ctx();
	struct vmmem_memory *m = from_config(ctx, "anon:gpa=0,size=1M,dirty-log=on");
	struct vmmem_memory *small = from_config(ctx, "anon:gpa=0,size=64K");
	struct vmmem_memory *ro = from_config(ctx, "anon:gpa=0,size=1M,readonly=on");
	int full = scratch_file(), diff = scratch_file();
	uint8_t id[16];
	struct vmmem_snapshot *s;

	ck_assert_int_eq(save(m, full, 0, NULL, id), 0);
	ck_assert_int_eq(vmmem_memory_store_u64(m, 512 * KiB, 1, VMMEM_ORDER_RELAXED), 0);
	ck_assert_int_eq(save(m, diff, VMMEM_SNAPSHOT_DIFF, id, NULL), 0);
	s = open_snap(diff);
	ck_assert_int_eq(vmmem_snapshot_apply(s, small), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(vmmem_snapshot_apply(s, ro), VMMEM_E_READ_ONLY);
	vmmem_snapshot_close(s);
	close(full);
	close(diff);
	vmmem_memory_unref(m);
	vmmem_memory_unref(small);
	vmmem_memory_unref(ro);
	vmmem_ctx_unref(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("save-restore");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_snapshot_roundtrip_all_modes);
	tcase_add_test(tc, test_snapshot_zero_pages_are_holes);
	tcase_add_test(tc, test_snapshot_file_holes_skipped);
	tcase_add_test(tc, test_snapshot_other_process_restores);
	tcase_add_test(tc, test_snapshot_map_writes_stay_private);
	tcase_add_test(tc, test_snapshot_read_only_and_caller_regions);
	tcase_add_test(tc, test_snapshot_restore_with_config_override);
	tcase_add_test(tc, test_snapshot_byte_layout);
	suite_add_tcase(s, tc);
	tc = tcase_create("diff");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_snapshot_diff_chain_merge_equals_full);
	tcase_add_test(tc, test_snapshot_diff_catches_racing_writes);
	tcase_add_test(tc, test_snapshot_cancelled_save_keeps_dirty_bits);
	tcase_add_test(tc, test_snapshot_apply_checks_target);
	suite_add_tcase(s, tc);
	tc = tcase_create("lazy");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_snapshot_lazy_concurrent_readers);
	tcase_add_test(tc, test_snapshot_lazy_hugetlb);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_snapshot_hostile_files);
	tcase_add_test(tc, test_snapshot_corrupt_data);
	tcase_add_test(tc, test_snapshot_bad_arguments);
	tcase_add_test(tc, test_snapshot_damaged_fields);
	tcase_add_test(tc, test_snapshot_bad_config_strings);
	tcase_add_test(tc, test_snapshot_merge_mismatched_regions);
	tcase_add_test(tc, test_snapshot_lazy_file_cut_after_open);
	tcase_add_test(tc, test_snapshot_lazy_progress);
	tcase_add_test(tc, test_snapshot_output_checks);
	tcase_add_test(tc, test_snapshot_restore_into_used_file);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
