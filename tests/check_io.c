/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Check suite for vmmem/io.h: scatter-gather lists and transfers with real file descriptors. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Memory from already created regions; drops the caller's region references. */
static struct vmmem_memory *mem_from_regions(struct vmmem_region **regs, size_t n)
{
	struct vmmem_memory *m = NULL;
	int rc = vmmem_memory_new(&m, regs, n);

	ck_assert_msg(rc == 0, "vmmem_memory_new: %d %s", rc, vmmem_errormsg());
	for (size_t i = 0; i < n; i++)
		vmmem_region_unref(regs[i]);
	return m;
}

/* Host address of gpa, found without the functions under test. */
static uint8_t *host_of(const struct vmmem_memory *m, uint64_t gpa)
{
	struct vmmem_region *r = NULL;
	uint64_t off = 0;
	int rc = vmmem_memory_to_region(m, gpa, &r, &off);

	ck_assert_msg(rc == 0, "to_region(0x%llx): %d", (unsigned long long)gpa, rc);
	return (uint8_t *)vmmem_region_host(r) + off;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13u + (i >> 8) * 3u + (i >> 16));
}

/* A memfd holding n pattern bytes (seed); the pattern is also returned in *data (malloc). */
static int pattern_file(size_t n, uint8_t seed, uint8_t **data)
{
	uint8_t *d = malloc(n ? n : 1);
	int fd = tu_memfd(n);

	ck_assert_ptr_nonnull(d);
	fill_pattern(d, n, seed);
	ck_assert_int_eq(pwrite(fd, d, n, 0), (ssize_t)n);
	*data = d;
	return fd;
}

static off_t fd_pos(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

static void make_pipe(int p[2], int flags)
{
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | flags), 0);
}

static void close_pair(int p[2])
{
	ck_assert_int_eq(close(p[0]), 0);
	ck_assert_int_eq(close(p[1]), 0);
}

static int bytes_queued(int fd)
{
	int n = -1;

	ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* Read exactly n bytes from fd (blocking), failing the test on a short read. */
static void read_all(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);

		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
}

/* The three-region layout of vm-memory's get_slices tests. */
static struct vmmem_memory *three_regions(void)
{
	static const uint64_t ranges[] = { 0, 0x400, 0x800, 0x400, 0xc00, 0x400 };

	return tu_anon_memory(ranges, 3);
}

/* [(0,0x1000) rw, (0x1000,0x1000) read-only, (0x2000,0x1000) rw]. */
static struct vmmem_memory *rw_ro_rw(void)
{
	struct vmmem_region *regs[3];

	regs[0] = tu_anon_region(0, 0x1000, 0);
	regs[1] = tu_anon_region(0x1000, 0x1000, VMMEM_REGION_READ_ONLY);
	regs[2] = tu_anon_region(0x2000, 0x1000, 0);
	return mem_from_regions(regs, 3);
}

/* Feeds a pipe or stream socket in small chunks, writing the next chunk only once the
 * previous one has been consumed, so that every read(2) on the other side is short. */
struct feeder {
	int fd;
	const uint8_t *data;
	size_t len;
	size_t chunk;
	bool shutdown_after; /* shutdown(SHUT_WR) the socket when done */
	bool kick;           /* interrupt @kick_thread with SIGUSR1 before each chunk */
	pthread_t kick_thread;
	int err;             /* first failure (errno or -1 for a timeout), 0 if none */
	pthread_t thread;
};

static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	const struct timespec tick = { 0, 100000L };

	for (size_t off = 0; off < f->len && !f->err;) {
		size_t n = f->len - off < f->chunk ? f->len - off : f->chunk;
		int waited;
		ssize_t w;

		for (waited = 0; waited < 50000; waited++) { /* bounded: ~5 s per chunk */
			int q = -1;

			if (ioctl(f->fd, FIONREAD, &q) != 0) {
				f->err = errno;
				break;
			}
			if (q == 0)
				break;
			nanosleep(&tick, NULL);
		}
		if (waited == 50000)
			f->err = -1;
		if (f->err)
			break;
		if (f->kick) {
			/* the reader is (most likely) blocked on the empty pipe: EINTR */
			pthread_kill(f->kick_thread, SIGUSR1);
			nanosleep(&tick, NULL);
		}
		w = write(f->fd, f->data + off, n);
		if (w != (ssize_t)n) {
			f->err = w < 0 ? errno : -2;
			break;
		}
		off += n;
	}
	if (f->shutdown_after)
		shutdown(f->fd, SHUT_WR);
	return NULL;
}

/* kick: the thread to interrupt before each chunk, or NULL. */
static void feeder_start(struct feeder *f, int fd, const uint8_t *data, size_t len,
			 size_t chunk, bool shutdown_after, const pthread_t *kick)
{
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->data = data;
	f->len = len;
	f->chunk = chunk;
	f->shutdown_after = shutdown_after;
	if (kick) {
		f->kick = true;
		f->kick_thread = *kick;
	}
	ck_assert_int_eq(pthread_create(&f->thread, NULL, feeder_main, f), 0);
}

static void feeder_join(struct feeder *f)
{
	ck_assert_int_eq(pthread_join(f->thread, NULL), 0);
	ck_assert_msg(f->err == 0, "feeder failed: %d", f->err);
}

/* Drains a pipe in small reads until end of file. */
struct drainer {
	int fd;
	uint8_t *buf;
	size_t cap;
	size_t chunk;
	size_t got;
	bool kick; /* interrupt @kick_thread with SIGUSR1 after each read */
	pthread_t kick_thread;
	int err;
	pthread_t thread;
};

static void *drainer_main(void *arg)
{
	struct drainer *d = arg;
	uint8_t scratch[256];

	for (;;) {
		size_t room = d->cap - d->got;
		size_t n = room < d->chunk ? room : d->chunk;
		ssize_t r;

		if (n == 0) { /* more than expected: keep draining so the writer never blocks */
			r = read(d->fd, scratch, sizeof(scratch));
			if (r > 0) {
				d->err = -3;
				continue;
			}
		} else {
			r = read(d->fd, d->buf + d->got, n);
			if (r > 0) {
				d->got += (size_t)r;
				if (d->kick)
					pthread_kill(d->kick_thread, SIGUSR1);
				continue;
			}
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			d->err = errno;
		break;
	}
	return NULL;
}

/* kick: the thread to interrupt after each read, or NULL. */
static void drainer_start(struct drainer *d, int fd, uint8_t *buf, size_t cap, size_t chunk,
			  const pthread_t *kick)
{
	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->buf = buf;
	d->cap = cap;
	d->chunk = chunk;
	if (kick) {
		d->kick = true;
		d->kick_thread = *kick;
	}
	ck_assert_int_eq(pthread_create(&d->thread, NULL, drainer_main, d), 0);
}

static void drainer_join(struct drainer *d)
{
	ck_assert_int_eq(pthread_join(d->thread, NULL), 0);
	ck_assert_msg(d->err == 0, "drainer failed: %d", d->err);
}

/* SIGUSR1 with a handler that does nothing and no SA_RESTART: a blocked read(2)/write(2)
 * returns EINTR, or a short count if some bytes were already moved. */
static void sig_noop(int sig)
{
	(void)sig;
}

static void install_sigusr1(struct sigaction *old)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_noop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, old), 0);
}

static void restore_sigusr1(const struct sigaction *old)
{
	ck_assert_int_eq(sigaction(SIGUSR1, old, NULL), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* get_slices / get_iovecs                                                                  */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_io_get_slices_vector)
{
	struct vmmem_memory *m = three_regions();
	struct vmmem_region *r1 = vmmem_memory_region_at(m, 0);
	struct vmmem_region *r2 = vmmem_memory_region_at(m, 1);
	struct vmmem_region *r3 = vmmem_memory_region_at(m, 2);
	struct vmmem_slice out[4];
	size_t count;

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x100, 0x200, VMMEM_ACCESS_RW, out, 4, &count),
			 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(out[0].len, 0x200);
	ck_assert_ptr_eq(out[0].ptr, host_of(m, 0x100));
	ck_assert_ptr_eq(out[0].region, r1);
	ck_assert_uint_eq(out[0].region_offset, 0x100);
	ck_assert_uint_eq(out[0].flags, 0);

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x800, 0x400, VMMEM_ACCESS_READ, out, 4,
						 &count), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(out[0].len, 0x400);
	ck_assert_ptr_eq(out[0].ptr, host_of(m, 0x800));
	ck_assert_ptr_eq(out[0].region, r2);

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x900, 0, VMMEM_ACCESS_RW, out, 4, &count), 0);
	ck_assert_uint_eq(count, 0);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x900, 0, VMMEM_ACCESS_RW, NULL, 0, &count), 0);
	ck_assert_uint_eq(count, 0);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x600, 0, VMMEM_ACCESS_RW, out, 4, &count), 0);
	ck_assert_uint_eq(count, 0);

	/* a hole after 0x400 bytes: the usable prefix is reported */
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0, 0x500, VMMEM_ACCESS_RW, out, 4, &count),
			 VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(out[0].len, 0x400);
	ck_assert_ptr_eq(out[0].ptr, host_of(m, 0));

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x600, 0x100, VMMEM_ACCESS_RW, out, 4, &count),
			 VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(count, 0);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x1000, 0x100, VMMEM_ACCESS_RW, out, 4,
						 &count), VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(count, 0);

	/* crossing two adjacent regions */
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0xa00, 0x400, VMMEM_ACCESS_RW, out, 4, &count),
			 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_uint_eq(out[0].len, 0x200);
	ck_assert_ptr_eq(out[0].ptr, host_of(m, 0xa00));
	ck_assert_ptr_eq(out[0].region, r2);
	ck_assert_uint_eq(out[0].region_offset, 0x200);
	ck_assert_uint_eq(out[1].len, 0x200);
	ck_assert_ptr_eq(out[1].ptr, host_of(m, 0xc00));
	ck_assert_ptr_eq(out[1].region, r3);
	ck_assert_uint_eq(out[1].region_offset, 0);

	/* exactly to the end of the memory */
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x800, 0x800, VMMEM_ACCESS_RW, out, 4, &count),
			 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_uint_eq(out[0].len, 0x400);
	ck_assert_uint_eq(out[1].len, 0x400);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x800, 0x801, VMMEM_ACCESS_RW, out, 4, &count),
			 VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(count, 2);

	/* too small an array: the needed count is reported */
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0xa00, 0x400, VMMEM_ACCESS_RW, out, 1, &count),
			 -ENOBUFS);
	ck_assert_uint_eq(count, 2);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0xa00, 0x400, VMMEM_ACCESS_RW, NULL, 0, &count),
			 -ENOBUFS);
	ck_assert_uint_eq(count, 2);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x100, 0x10, VMMEM_ACCESS_RW, NULL, 0, &count),
			 -ENOBUFS);
	ck_assert_uint_eq(count, 1);

	/* 2^64 overflow */
	ck_assert_int_eq(vmmem_memory_get_slices(m, UINT64_MAX, 2, VMMEM_ACCESS_RW, out, 4, &count),
			 -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x100, UINT64_MAX, VMMEM_ACCESS_RW, out, 4,
						 &count), -EOVERFLOW);

	/* bad arguments */
	ck_assert_int_eq(vmmem_memory_get_slices(NULL, 0, 1, VMMEM_ACCESS_RW, out, 4, &count),
			 -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0, 1, VMMEM_ACCESS_RW, out, 4, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0, 1, 0, out, 4, &count), -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0, 1, 4, out, 4, &count), -EINVAL);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_get_iovecs_vector)
{
	struct vmmem_memory *m = three_regions();
	struct iovec iov[4];
	size_t count;
	void *h = NULL;

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x100, 0x200, VMMEM_ACCESS_RW, iov, 4, &count),
			 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(iov[0].iov_len, 0x200);
	ck_assert_int_eq(vmmem_memory_translate(m, 0x100, VMMEM_ACCESS_RW, &h, NULL), 0);
	ck_assert_ptr_eq(iov[0].iov_base, h);

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x800, 0x400, VMMEM_ACCESS_READ, iov, 4,
						 &count), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(iov[0].iov_len, 0x400);

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x900, 0, VMMEM_ACCESS_RW, iov, 4, &count), 0);
	ck_assert_uint_eq(count, 0);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x900, 0, VMMEM_ACCESS_RW, NULL, 0, &count), 0);
	ck_assert_uint_eq(count, 0);

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0, 0x500, VMMEM_ACCESS_RW, iov, 4, &count),
			 VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(iov[0].iov_len, 0x400);
	ck_assert_int_eq(vmmem_memory_translate(m, 0, VMMEM_ACCESS_READ, &h, NULL), 0);
	ck_assert_ptr_eq(iov[0].iov_base, h);

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x600, 0x100, VMMEM_ACCESS_RW, iov, 4, &count),
			 VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(count, 0);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x1000, 0x100, VMMEM_ACCESS_RW, iov, 4,
						 &count), VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(count, 0);

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0xa00, 0x400, VMMEM_ACCESS_RW, iov, 4, &count),
			 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_uint_eq(iov[0].iov_len, 0x200);
	ck_assert_uint_eq(iov[1].iov_len, 0x200);
	ck_assert_int_eq(vmmem_memory_translate(m, 0xa00, VMMEM_ACCESS_RW, &h, NULL), 0);
	ck_assert_ptr_eq(iov[0].iov_base, h);
	ck_assert_int_eq(vmmem_memory_translate(m, 0xc00, VMMEM_ACCESS_RW, &h, NULL), 0);
	ck_assert_ptr_eq(iov[1].iov_base, h);

	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0xa00, 0x400, VMMEM_ACCESS_RW, iov, 1, &count),
			 -ENOBUFS);
	ck_assert_uint_eq(count, 2);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0xa00, 0x400, VMMEM_ACCESS_RW, NULL, 0, &count),
			 -ENOBUFS);
	ck_assert_uint_eq(count, 2);

	ck_assert_int_eq(vmmem_memory_get_iovecs(m, UINT64_MAX - 1, 3, VMMEM_ACCESS_RW, iov, 4,
						 &count), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_get_iovecs(NULL, 0, 1, VMMEM_ACCESS_RW, iov, 4, &count),
			 -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0, 1, VMMEM_ACCESS_RW, iov, 4, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0, 1, 0, iov, 4, &count), -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0, 1, 4, iov, 4, &count), -EINVAL);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_get_slices_null_array_with_room)
{
	/* out/iov NULL with max > 0 is a bad argument, not "no room" */
	struct vmmem_memory *m = three_regions();
	size_t count = 99;

	ck_assert_int_eq(vmmem_memory_get_slices(m, 0, 1, VMMEM_ACCESS_RW, NULL, 1, &count),
			 -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x900, 0, VMMEM_ACCESS_RW, NULL, 4, &count),
			 -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0, 1, VMMEM_ACCESS_RW, NULL, 1, &count),
			 -EINVAL);
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x900, 0, VMMEM_ACCESS_RW, NULL, 4, &count),
			 -EINVAL);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_get_slices_read_only_piece)
{
	struct vmmem_memory *m = rw_ro_rw();
	struct vmmem_slice out[4];
	struct iovec iov[4];
	size_t count;

	/* reading is fine; the read-only piece is flagged */
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x800, 0x2000, VMMEM_ACCESS_READ, out, 4,
						 &count), 0);
	ck_assert_uint_eq(count, 3);
	ck_assert_uint_eq(out[0].len, 0x800);
	ck_assert_uint_eq(out[0].flags, 0);
	ck_assert_uint_eq(out[1].len, 0x1000);
	ck_assert_uint_eq(out[1].flags & VMMEM_SLICE_READ_ONLY, VMMEM_SLICE_READ_ONLY);
	ck_assert_uint_eq(out[2].len, 0x800);
	ck_assert_uint_eq(out[2].flags, 0);

	/* writing stops at the read-only piece with the writable prefix */
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x800, 0x2000, VMMEM_ACCESS_WRITE, out, 4,
						 &count), VMMEM_E_READ_ONLY);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(out[0].len, 0x800);
	ck_assert_ptr_eq(out[0].ptr, host_of(m, 0x800));
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x800, 0x1000, VMMEM_ACCESS_RW, out, 4,
						 &count), VMMEM_E_READ_ONLY);
	ck_assert_uint_eq(count, 1);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_slices(m, 0x1000, 0x10, VMMEM_ACCESS_WRITE, out, 4,
						 &count), VMMEM_E_READ_ONLY);
	ck_assert_uint_eq(count, 0);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x800, 0x2000, VMMEM_ACCESS_WRITE, iov, 4,
						 &count), VMMEM_E_READ_ONLY);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(iov[0].iov_len, 0x800);
	ck_assert_ptr_eq(iov[0].iov_base, host_of(m, 0x800));
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x1800, 0x10, VMMEM_ACCESS_RW, iov, 4,
						 &count), VMMEM_E_READ_ONLY);
	ck_assert_uint_eq(count, 0);
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x1800, 0x1000, VMMEM_ACCESS_READ, iov, 4,
						 &count), 0);
	ck_assert_uint_eq(count, 2);
	/* write access on the writable part alone is fine */
	count = 99;
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, 0x2000, 0x1000, VMMEM_ACCESS_WRITE, iov, 4,
						 &count), 0);
	ck_assert_uint_eq(count, 1);
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* read_from_fd / read_exact_from_fd                                                        */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_io_read_from_file_position_and_offset)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t *data;
	int fd = pattern_file(0x2000, 1, &data);
	size_t done = 77;

	ck_assert_int_eq(fd_pos(fd), 0);
	/* offset -1: the file position is used and advanced */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x800, fd, 0x1000, -1), 0x1000);
	ck_assert_mem_eq(host_of(m, 0x800), data, 0x800);
	ck_assert_mem_eq(host_of(m, 0x1000), data + 0x800, 0x800);
	ck_assert_uint_eq(host_of(m, 0x7ff)[0], 0);
	ck_assert_uint_eq(host_of(m, 0x1800)[0], 0);
	ck_assert_int_eq(fd_pos(fd), 0x1000);

	/* explicit offsets: pread semantics, the position does not move */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0, fd, 0x100, 0x1800), 0x100);
	ck_assert_mem_eq(host_of(m, 0), data + 0x1800, 0x100);
	ck_assert_int_eq(fd_pos(fd), 0x1000);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x1f00, fd, 0x100, 0x10, &done), 0);
	ck_assert_uint_eq(done, 0x100);
	ck_assert_mem_eq(host_of(m, 0x1f00), data + 0x10, 0x100);
	ck_assert_int_eq(fd_pos(fd), 0x1000);

	/* read_exact with -1 continues at the position */
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0xf80, fd, 0x100, -1, &done), 0);
	ck_assert_uint_eq(done, 0x100);
	ck_assert_mem_eq(host_of(m, 0xf80), data + 0x1000, 0x80);
	ck_assert_mem_eq(host_of(m, 0x1000), data + 0x1080, 0x80);
	ck_assert_int_eq(fd_pos(fd), 0x1100);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0, fd, 0x10, -1, NULL), 0);
	ck_assert_mem_eq(host_of(m, 0), data + 0x1100, 0x10);
	ck_assert_int_eq(fd_pos(fd), 0x1110);

	free(data);
	ck_assert_int_eq(close(fd), 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_read_from_fd_two_small_regions)
{
	/* vm-memory: [(0,64),(0x40,64)], read_volatile_from(0x30, file, 0x20) == 0x20 */
	static const uint64_t ranges[] = { 0, 64, 0x40, 64 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t *data;
	int fd = pattern_file(0x80, 7, &data);

	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x30, fd, 0x20, -1), 0x20);
	ck_assert_mem_eq(host_of(m, 0x30), data, 0x10);
	ck_assert_mem_eq(host_of(m, 0x40), data + 0x10, 0x10);
	ck_assert(all_bytes(host_of(m, 0), 0x30, 0));
	ck_assert(all_bytes(host_of(m, 0x50), 0x30, 0));
	ck_assert_int_eq(fd_pos(fd), 0x20);
	free(data);
	ck_assert_int_eq(close(fd), 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_dev_zero_vector)
{
	static const uint64_t ranges[] = { 0x1000, 0x400 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	uint32_t v = ~0U, out = 0xeeeeeeee;
	uint8_t sink[8];
	int zfd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	int p[2];
	size_t done = 77;

	ck_assert_int_ge(zfd, 0);
	make_pipe(p, 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x100c, &v, sizeof(v)), 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x1010, &v, sizeof(v)), 0);
	ck_assert_int_eq(vmmem_memory_write_obj(m, 0x1014, &v, sizeof(v)), 0);

	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x1010, zfd, 4, -1, &done), 0);
	ck_assert_uint_eq(done, 4);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 0x1010, &out, sizeof(out)), 0);
	ck_assert_uint_eq(out, 0);
	/* the neighbours kept their bytes */
	ck_assert(all_bytes(host_of(m, 0x100c), 4, 0xff));
	ck_assert(all_bytes(host_of(m, 0x1014), 4, 0xff));

	done = 77;
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0x1010, p[1], 4, -1, &done), 0);
	ck_assert_uint_eq(done, 4);
	ck_assert_int_eq(bytes_queued(p[0]), 4);
	memset(sink, 0xee, sizeof(sink));
	read_all(p[0], sink, 4);
	ck_assert_mem_eq(sink, "\0\0\0\0", 4);

	/* /dev/zero over the whole region */
	memset(host_of(m, 0x1000), 0xff, 0x400);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x1000, zfd, 0x400, -1), 0x400);
	ck_assert(all_bytes(host_of(m, 0x1000), 0x400, 0));

	close_pair(p);
	ck_assert_int_eq(close(zfd), 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_short_read_pipe_leaves_no_gap)
{
	/* [(0,0x20),(0x20,0x20)]: a pipe that holds only 8 bytes; read_from_fd(0x10, 0x30)
	 * returns 8 with the bytes at 0x10..0x18 (vm-memory HEAD would go on at 0x20). */
	static const uint64_t ranges[] = { 0, 0x20, 0x20, 0x20 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t data[0x30];
	int p[2];
	struct feeder f;
	size_t done = 77;

	fill_pattern(data, sizeof(data), 0x41);
	make_pipe(p, 0);
	ck_assert_int_eq(write(p[1], data, 8), 8);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x10, p[0], 0x30, -1), 8);
	ck_assert_mem_eq(host_of(m, 0x10), data, 8);
	ck_assert(all_bytes(host_of(m, 0x18), 8, 0));
	ck_assert(all_bytes(host_of(m, 0x20), 0x20, 0));
	ck_assert(all_bytes(host_of(m, 0), 0x10, 0));

	/* resume exactly at 0x18, fed in 5-byte pieces (each read is short) */
	feeder_start(&f, p[1], data + 8, 0x28, 5, false, NULL);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x18, p[0], 0x28, -1, &done), 0);
	feeder_join(&f);
	ck_assert_uint_eq(done, 0x28);
	ck_assert_mem_eq(host_of(m, 0x10), data, 0x10);
	ck_assert_mem_eq(host_of(m, 0x20), data + 0x10, 0x20);
	ck_assert(all_bytes(host_of(m, 0), 0x10, 0));
	ck_assert_int_eq(bytes_queued(p[0]), 0);

	close_pair(p);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_read_exact_resumes_at_exact_address)
{
	/* one read_exact over [0x10, 0x40) fed 7 bytes at a time: the bytes land contiguously */
	static const uint64_t ranges[] = { 0, 0x20, 0x20, 0x20 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t data[0x30];
	int p[2];
	struct feeder f;
	size_t done = 77;

	fill_pattern(data, sizeof(data), 0x11);
	make_pipe(p, 0);
	feeder_start(&f, p[1], data, sizeof(data), 7, false, NULL);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x10, p[0], 0x30, -1, &done), 0);
	feeder_join(&f);
	ck_assert_uint_eq(done, 0x30);
	ck_assert_mem_eq(host_of(m, 0x10), data, 0x10);
	ck_assert_mem_eq(host_of(m, 0x20), data + 0x10, 0x20);
	ck_assert(all_bytes(host_of(m, 0), 0x10, 0));
	close_pair(p);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_read_exact_socketpair_three_regions)
{
	static const uint64_t ranges[] = { 0x100, 0x10, 0x110, 0x10, 0x120, 0x10 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 3);
	uint8_t data[0x2d];
	int sv[2];
	struct feeder f;
	size_t done = 77;

	fill_pattern(data, sizeof(data), 0x99);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	feeder_start(&f, sv[1], data, sizeof(data), 3, false, NULL);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x103, sv[0], sizeof(data), -1, &done),
			 0);
	feeder_join(&f);
	ck_assert_uint_eq(done, sizeof(data));
	ck_assert_mem_eq(host_of(m, 0x103), data, 0xd);
	ck_assert_mem_eq(host_of(m, 0x110), data + 0xd, 0x10);
	ck_assert_mem_eq(host_of(m, 0x120), data + 0x1d, 0x10);
	ck_assert(all_bytes(host_of(m, 0x100), 3, 0));
	close_pair(sv);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_socketpair_short_read_then_eof)
{
	static const uint64_t ranges[] = { 0, 0x20, 0x20, 0x20 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t data[12];
	int sv[2];
	size_t done = 77;

	fill_pattern(data, sizeof(data), 0x5);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], data, 8), 8);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x10, sv[0], 0x30, -1), 8);
	ck_assert_mem_eq(host_of(m, 0x10), data, 8);
	ck_assert(all_bytes(host_of(m, 0x18), 8, 0));
	ck_assert(all_bytes(host_of(m, 0x20), 0x20, 0));

	ck_assert_int_eq(write(sv[1], data + 8, 4), 4);
	ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x18, sv[0], 0x28, -1, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 4);
	ck_assert_mem_eq(host_of(m, 0x10), data, 12);
	ck_assert(all_bytes(host_of(m, 0x1c), 4, 0));
	ck_assert(all_bytes(host_of(m, 0x20), 0x20, 0));
	/* end of file: plain read gives 0, exact gives PARTIAL with nothing done */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x10, sv[0], 0x30, -1), 0);
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x10, sv[0], 0x30, -1, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0);
	close_pair(sv);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_read_regular_file_eof)
{
	static const uint64_t ranges[] = { 0, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	uint8_t *data;
	int fd = pattern_file(0x10, 0x21, &data);
	size_t done = 77;

	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0, fd, 0x40, 0, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x10);
	ck_assert_mem_eq(host_of(m, 0), data, 0x10);
	ck_assert(all_bytes(host_of(m, 0x10), 0x30, 0));
	ck_assert_int_eq(fd_pos(fd), 0);

	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x100, fd, 0x40, 0x10), 0);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x100, fd, 0x40, 0x1000), 0);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x100, fd, 0x40, 0x8), 0x8);
	ck_assert_mem_eq(host_of(m, 0x100), data + 8, 8);
	ck_assert(all_bytes(host_of(m, 0x108), 0x38, 0));
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x200, fd, 4, 0x10, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0);
	ck_assert(all_bytes(host_of(m, 0x200), 4, 0));

	/* with the file position */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x300, fd, 0x40, -1), 0x10);
	ck_assert_mem_eq(host_of(m, 0x300), data, 0x10);
	ck_assert_int_eq(fd_pos(fd), 0x10);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x300, fd, 0x40, -1), 0);
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x300, fd, 0x40, -1, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0);
	free(data);
	ck_assert_int_eq(close(fd), 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_read_into_hole)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x2000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t *data;
	int fd = pattern_file(0x40, 0x33, &data);
	size_t done = 77;

	/* the hole ends the range: short count, the file position moves by what was read */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0xff0, fd, 0x20, -1), 0x10);
	ck_assert_mem_eq(host_of(m, 0xff0), data, 0x10);
	ck_assert(all_bytes(host_of(m, 0x2000), 0x20, 0));
	ck_assert_int_eq(fd_pos(fd), 0x10);

	memset(host_of(m, 0xff0), 0, 0x10);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0xff0, fd, 0x20, 0x20, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x10);
	ck_assert_mem_eq(host_of(m, 0xff0), data + 0x20, 0x10);
	ck_assert(all_bytes(host_of(m, 0x2000), 0x20, 0));
	ck_assert_int_eq(fd_pos(fd), 0x10);

	/* starting in the hole */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x1000, fd, 0x10, -1), VMMEM_E_UNMAPPED);
	ck_assert_int_eq(fd_pos(fd), 0x10);
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x1800, fd, 0x10, 0, &done),
			 VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x3000, fd, 0x10, 0), VMMEM_E_UNMAPPED);
	free(data);
	ck_assert_int_eq(close(fd), 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_read_into_read_only_region)
{
	struct vmmem_memory *m = rw_ro_rw();
	uint8_t *data;
	int fd = pattern_file(0x100, 0x77, &data);
	size_t done = 77;

	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x1000, fd, 0x10, 0), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x1800, fd, 0x10, -1), VMMEM_E_READ_ONLY);
	ck_assert_int_eq(fd_pos(fd), 0);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x1000, fd, 0x10, 0, &done),
			 VMMEM_E_READ_ONLY);
	ck_assert_uint_eq(done, 0);
	ck_assert(all_bytes(host_of(m, 0x1000), 0x1000, 0));

	/* a read-only region later in the range ends it like a hole */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0xff0, fd, 0x20, -1), 0x10);
	ck_assert_mem_eq(host_of(m, 0xff0), data, 0x10);
	ck_assert_int_eq(fd_pos(fd), 0x10);
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0xfe0, fd, 0x40, 0x40, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x20);
	ck_assert_mem_eq(host_of(m, 0xfe0), data + 0x40, 0x20);
	ck_assert(all_bytes(host_of(m, 0x1000), 0x1000, 0));
	free(data);
	ck_assert_int_eq(close(fd), 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_read_nonblocking_empty_and_error_after_progress)
{
	static const uint64_t ranges[] = { 0, 0x20, 0x20, 0x20 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t data[8];
	int p[2];
	size_t done = 77;

	fill_pattern(data, sizeof(data), 0x61);
	make_pipe(p, O_NONBLOCK);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x10, p[0], 0x30, -1), -EAGAIN);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x10, p[0], 0x30, -1, &done), -EAGAIN);
	ck_assert_uint_eq(done, 0);
	/* 8 bytes, then EAGAIN: the system error is returned with the progress in done */
	ck_assert_int_eq(write(p[1], data, 8), 8);
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0x1c, p[0], 0x10, -1, &done), -EAGAIN);
	ck_assert_uint_eq(done, 8);
	ck_assert_mem_eq(host_of(m, 0x1c), data, 4);
	ck_assert_mem_eq(host_of(m, 0x20), data + 4, 4);
	ck_assert(all_bytes(host_of(m, 0x24), 0x1c, 0));
	close_pair(p);
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* write_to_fd / write_all_to_fd                                                            */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_io_write_to_file_position_and_offset)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	int fd = tu_memfd(0);
	uint8_t back[0x1000];
	uint8_t *g;
	size_t done = 77;
	struct stat st;

	fill_pattern(host_of(m, 0), 0x1000, 3);
	fill_pattern(host_of(m, 0x1000), 0x1000, 4);

	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0x800, fd, 0x1000, -1), 0x1000);
	ck_assert_int_eq(fd_pos(fd), 0x1000);
	ck_assert_int_eq(pread(fd, back, 0x1000, 0), 0x1000);
	ck_assert_mem_eq(back, host_of(m, 0x800), 0x800);
	ck_assert_mem_eq(back + 0x800, host_of(m, 0x1000), 0x800);

	/* explicit offset: pwrite semantics */
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, fd, 0x20, 0x3000), 0x20);
	ck_assert_int_eq(fd_pos(fd), 0x1000);
	ck_assert_int_eq(pread(fd, back, 0x20, 0x3000), 0x20);
	ck_assert_mem_eq(back, host_of(m, 0), 0x20);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0x3020);

	done = 77;
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0x1fe0, fd, 0x20, -1, &done), 0);
	ck_assert_uint_eq(done, 0x20);
	ck_assert_int_eq(fd_pos(fd), 0x1020);
	g = host_of(m, 0x1fe0);
	ck_assert_int_eq(pread(fd, back, 0x20, 0x1000), 0x20);
	ck_assert_mem_eq(back, g, 0x20);
	done = 77;
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0xff0, fd, 0x20, 0x10, &done), 0);
	ck_assert_uint_eq(done, 0x20);
	ck_assert_int_eq(fd_pos(fd), 0x1020);
	ck_assert_int_eq(pread(fd, back, 0x20, 0x10), 0x20);
	ck_assert_mem_eq(back, host_of(m, 0xff0), 0x10);
	ck_assert_mem_eq(back + 0x10, host_of(m, 0x1000), 0x10);
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0, fd, 4, 0, NULL), 0);
	ck_assert_int_eq(close(fd), 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_write_from_hole_and_read_only)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x2000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	struct vmmem_memory *ro = rw_ro_rw();
	int fd = tu_memfd(0);
	uint8_t back[0x40];
	size_t done = 77;
	struct stat st;

	fill_pattern(host_of(m, 0), 0x1000, 0x13);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0xff0, fd, 0x20, -1), 0x10);
	ck_assert_int_eq(fd_pos(fd), 0x10);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0x10);
	ck_assert_int_eq(pread(fd, back, 0x10, 0), 0x10);
	ck_assert_mem_eq(back, host_of(m, 0xff0), 0x10);

	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0xfe0, fd, 0x40, 0x100, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, 0x20);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0x120);
	ck_assert_int_eq(pread(fd, back, 0x20, 0x100), 0x20);
	ck_assert_mem_eq(back, host_of(m, 0xfe0), 0x20);

	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0x1000, fd, 0x10, -1), VMMEM_E_UNMAPPED);
	done = 77;
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0x1800, fd, 0x10, 0, &done),
			 VMMEM_E_UNMAPPED);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(fd_pos(fd), 0x10);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0x120);

	/* writing guest memory out only reads it: read-only regions are fine */
	fill_pattern(host_of(ro, 0), 0x1000, 0x21);
	fill_pattern(host_of(ro, 0x1000), 0x1000, 0x22);
	fill_pattern(host_of(ro, 0x2000), 0x1000, 0x23);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	done = 77;
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(ro, 0xff0, fd, 0x1020, 0, &done), 0);
	ck_assert_uint_eq(done, 0x1020);
	ck_assert_int_eq(pread(fd, back, 0x10, 0), 0x10);
	ck_assert_mem_eq(back, host_of(ro, 0xff0), 0x10);
	ck_assert_int_eq(pread(fd, back, 0x10, 0x1010), 0x10);
	ck_assert_mem_eq(back, host_of(ro, 0x2000), 0x10);
	ck_assert_int_eq(vmmem_memory_write_to_fd(ro, 0x1000, fd, 0x40, 0), 0x40);
	ck_assert_int_eq(pread(fd, back, 0x40, 0), 0x40);
	ck_assert_mem_eq(back, host_of(ro, 0x1000), 0x40);
	ck_assert_int_eq(close(fd), 0);
	vmmem_memory_unref(ro);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_write_to_pipe_loops_over_short_writes)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000, 0x2000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 3);
	const size_t n = 0x2e00;
	uint8_t *got = malloc(n);
	int p[2];
	struct drainer d;
	size_t done = 77;

	ck_assert_ptr_nonnull(got);
	fill_pattern(host_of(m, 0), 0x1000, 0x31);
	fill_pattern(host_of(m, 0x1000), 0x1000, 0x32);
	fill_pattern(host_of(m, 0x2000), 0x1000, 0x33);

	/* a one-page pipe drained 100 bytes at a time: writev is short many times */
	make_pipe(p, 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, (int)tu_page_size()), 0);
	memset(got, 0, n);
	drainer_start(&d, p[0], got, n, 100, NULL);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0x100, p[1], n, -1), (ssize_t)n);
	ck_assert_int_eq(close(p[1]), 0);
	drainer_join(&d);
	ck_assert_uint_eq(d.got, n);
	ck_assert_mem_eq(got, host_of(m, 0x100), 0xf00);
	ck_assert_mem_eq(got + 0xf00, host_of(m, 0x1000), 0x1000);
	ck_assert_mem_eq(got + 0x1f00, host_of(m, 0x2000), 0xf00);
	ck_assert_int_eq(close(p[0]), 0);

	/* and write_all */
	make_pipe(p, 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, (int)tu_page_size()), 0);
	memset(got, 0, n);
	drainer_start(&d, p[0], got, n, 77, NULL);
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0x200, p[1], n, -1, &done), 0);
	ck_assert_uint_eq(done, n);
	ck_assert_int_eq(close(p[1]), 0);
	drainer_join(&d);
	ck_assert_uint_eq(d.got, n);
	ck_assert_mem_eq(got, host_of(m, 0x200), 0xe00);
	ck_assert_mem_eq(got + 0xe00, host_of(m, 0x1000), 0x1000);
	ck_assert_mem_eq(got + 0x1e00, host_of(m, 0x2000), 0x1000);
	ck_assert_int_eq(close(p[0]), 0);
	free(got);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_write_to_full_nonblocking_pipe)
{
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t filler[512];
	size_t filled = 0;
	size_t done = 77;
	int p[2];

	memset(filler, 0xcc, sizeof(filler));
	fill_pattern(host_of(m, 0), 0x1000, 0x51);
	make_pipe(p, O_NONBLOCK);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, (int)tu_page_size()), 0);
	for (int i = 0; i < 100000; i++) {
		ssize_t w = write(p[1], filler, sizeof(filler));

		if (w < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
		filled += (size_t)w;
	}
	ck_assert_uint_gt(filled, 0);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, p[1], 0x10, -1), -EAGAIN);
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0, p[1], 0x10, -1, &done), -EAGAIN);
	ck_assert_uint_eq(done, 0);
	/* nothing of the guest got in */
	ck_assert_int_eq(bytes_queued(p[0]), (int)filled);
	close_pair(p);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_write_partial_then_eagain_returns_count)
{
	/* Non-blocking one-page pipe holding 4000 bytes: a writev of 0x1040 bytes (more than
	 * PIPE_BUF, so not atomic) is accepted in part, then the pipe is full: the call
	 * returns the count written so far. */
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 2);
	uint8_t filler[4000];
	uint8_t *got = malloc(8192);
	ssize_t r;
	int q;
	int p[2];

	ck_assert_ptr_nonnull(got);
	memset(filler, 0xcc, sizeof(filler));
	fill_pattern(host_of(m, 0), 0x1000, 0x61);
	fill_pattern(host_of(m, 0x1000), 0x1000, 0x62);
	make_pipe(p, O_NONBLOCK);
	ck_assert_int_eq(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
	ck_assert_int_eq(write(p[1], filler, sizeof(filler)), (ssize_t)sizeof(filler));
	r = vmmem_memory_write_to_fd(m, 0xff0, p[1], 0x1040, -1);
	ck_assert_int_gt(r, 0);
	ck_assert_int_lt(r, 0x1040);
	q = bytes_queued(p[0]);
	ck_assert_int_eq(q, (int)sizeof(filler) + (int)r);
	read_all(p[0], got, (size_t)q);
	ck_assert(all_bytes(got, sizeof(filler), 0xcc));
	{
		size_t first = (size_t)r < 0x10 ? (size_t)r : 0x10;

		ck_assert_mem_eq(got + sizeof(filler), host_of(m, 0xff0), first);
		if ((size_t)r > 0x10)
			ck_assert_mem_eq(got + sizeof(filler) + 0x10, host_of(m, 0x1000),
					 (size_t)r - 0x10);
	}
	close_pair(p);
	free(got);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_signals_eintr_retried_and_short_writes_looped)
{
	/* Signals interrupt the blocked transfers: readv gives EINTR (retried), writev gives
	 * short counts or EINTR (looped / retried). The results are still complete. */
	static const uint64_t ranges[] = { 0, 0x1000, 0x1000, 0x1000, 0x2000, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 3);
	const size_t n = 0x2e00;
	uint8_t *got = malloc(n);
	uint8_t data[0x40];
	const pthread_t self = pthread_self();
	struct sigaction old;
	struct drainer d;
	struct feeder f;
	size_t done = 77;
	int p[2];

	ck_assert_ptr_nonnull(got);
	install_sigusr1(&old);
	fill_pattern(host_of(m, 0), 0x1000, 0x71);
	fill_pattern(host_of(m, 0x1000), 0x1000, 0x72);
	fill_pattern(host_of(m, 0x2000), 0x1000, 0x73);

	make_pipe(p, 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, (int)tu_page_size()), 0);
	memset(got, 0, n);
	drainer_start(&d, p[0], got, n, 64, &self);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0x100, p[1], n, -1), (ssize_t)n);
	ck_assert_int_eq(close(p[1]), 0);
	drainer_join(&d);
	ck_assert_uint_eq(d.got, n);
	ck_assert_mem_eq(got, host_of(m, 0x100), 0xf00);
	ck_assert_mem_eq(got + 0xf00, host_of(m, 0x1000), 0x1000);
	ck_assert_mem_eq(got + 0x1f00, host_of(m, 0x2000), 0xf00);
	ck_assert_int_eq(close(p[0]), 0);

	make_pipe(p, 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, (int)tu_page_size()), 0);
	memset(got, 0, n);
	drainer_start(&d, p[0], got, n, 200, &self);
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0x180, p[1], n, -1, &done), 0);
	ck_assert_uint_eq(done, n);
	ck_assert_int_eq(close(p[1]), 0);
	drainer_join(&d);
	ck_assert_uint_eq(d.got, n);
	ck_assert_mem_eq(got, host_of(m, 0x180), 0xe80);
	ck_assert_mem_eq(got + 0xe80, host_of(m, 0x1000), 0x1000);
	ck_assert_mem_eq(got + 0x1e80, host_of(m, 0x2000), 0xf80);
	ck_assert_int_eq(close(p[0]), 0);

	/* reads: each chunk comes after a signal that interrupts the blocked readv */
	fill_pattern(data, sizeof(data), 0x17);
	memset(host_of(m, 0xfe0), 0, 0x20);
	memset(host_of(m, 0x1000), 0, 0x20);
	make_pipe(p, 0);
	feeder_start(&f, p[1], data, sizeof(data), 9, false, &self);
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0xfe0, p[0], sizeof(data), -1, &done),
			 0);
	feeder_join(&f);
	ck_assert_uint_eq(done, sizeof(data));
	ck_assert_mem_eq(host_of(m, 0xfe0), data, 0x20);
	ck_assert_mem_eq(host_of(m, 0x1000), data + 0x20, 0x20);

	/* a single read_from_fd that is interrupted before any data comes */
	memset(host_of(m, 0x10), 0, 0x10);
	feeder_start(&f, p[1], data, 5, 5, false, &self);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0x10, p[0], 0x10, -1), 5);
	feeder_join(&f);
	ck_assert_mem_eq(host_of(m, 0x10), data, 5);
	ck_assert(all_bytes(host_of(m, 0x15), 0xb, 0));
	close_pair(p);

	restore_sigusr1(&old);
	free(got);
	vmmem_memory_unref(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Arguments, zero length, many regions                                                     */
/* ---------------------------------------------------------------------------------------- */

START_TEST(test_io_bad_fd_offset_and_arguments)
{
	static const uint64_t ranges[] = { 0, 0x1000 };
	struct vmmem_memory *m = tu_anon_memory(ranges, 1);
	int p[2];
	int closed, rdonly;
	size_t done = 77;
	size_t big = (size_t)SSIZE_MAX + 1;

	make_pipe(p, 0);
	rdonly = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(rdonly, 0);
	/* a descriptor number that is not open (nothing else opens one in this test) */
	closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(closed, 0);
	ck_assert_int_eq(close(closed), 0);

	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0, -1, 0x10, -1), -EBADF);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0, closed, 0x10, 0), -EBADF);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0, -1, 0x10, -1, &done), -EBADF);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, -1, 0x10, -1), -EBADF);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, closed, 0x10, 0), -EBADF);
	done = 77;
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0, -1, 0x10, -1, &done), -EBADF);
	ck_assert_uint_eq(done, 0);
	/* wrong direction */
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, rdonly, 0x10, -1), -EBADF);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0, p[1], 0x10, -1), -EBADF);
	/* explicit offset on a pipe */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0, p[0], 0x10, 0), -ESPIPE);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, p[1], 0x10, 0), -ESPIPE);

	/* offsets below -1 */
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0, p[0], 0x10, -2), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0, p[0], 0x10, -2, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, p[1], 0x10, -2), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0, p[1], 0x10, -2, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0, p[0], 0x10, (off_t)INT64_MIN), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, p[1], 0x10, (off_t)INT64_MIN), -EINVAL);

	/* NULL memory, too long, 2^64 overflow */
	ck_assert_int_eq(vmmem_memory_read_from_fd(NULL, 0, p[0], 0x10, -1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(NULL, 0, p[0], 0x10, -1, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_to_fd(NULL, 0, p[1], 0x10, -1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(NULL, 0, p[1], 0x10, -1, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, 0, p[0], big, -1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, 0, p[0], big, -1, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, 0, p[1], big, -1), -EINVAL);
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, 0, p[1], big, -1, &done), -EINVAL);
	ck_assert_int_eq(vmmem_memory_read_from_fd(m, UINT64_MAX, p[0], 2, -1), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, UINT64_MAX - 1, p[0], 8, -1, &done),
			 -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, UINT64_MAX, p[1], 2, -1), -EOVERFLOW);
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, UINT64_MAX - 3, p[1], 8, -1, &done),
			 -EOVERFLOW);
	/* nothing moved through the pipe */
	ck_assert_int_eq(bytes_queued(p[0]), 0);
	close_pair(p);
	ck_assert_int_eq(close(rdonly), 0);
	vmmem_memory_unref(m);
}
END_TEST

START_TEST(test_io_zero_length_anywhere)
{
	struct vmmem_memory *m = rw_ro_rw();
	const uint64_t addrs[] = { 0, 0x800, 0x1000, 0x5000, UINT64_MAX };
	int p[2];
	uint8_t *data;
	int fd = pattern_file(0x10, 1, &data);

	make_pipe(p, 0);
	ck_assert_int_eq(write(p[1], "abc", 3), 3);
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint64_t a = addrs[i];
		size_t done = 77;

		ck_assert_int_eq(vmmem_memory_read_from_fd(m, a, p[0], 0, -1), 0);
		ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, a, p[0], 0, -1, &done), 0);
		ck_assert_uint_eq(done, 0);
		ck_assert_int_eq(vmmem_memory_read_from_fd(m, a, fd, 0, 0), 0);
		ck_assert_int_eq(vmmem_memory_write_to_fd(m, a, p[1], 0, -1), 0);
		done = 77;
		ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, a, p[1], 0, -1, &done), 0);
		ck_assert_uint_eq(done, 0);
		ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, a, fd, 0, 0, NULL), 0);
	}
	/* nothing consumed or produced */
	ck_assert_int_eq(bytes_queued(p[0]), 3);
	ck_assert_int_eq(fd_pos(fd), 0);
	ck_assert(all_bytes(host_of(m, 0), 0x10, 0));
	free(data);
	ck_assert_int_eq(close(fd), 0);
	close_pair(p);
	vmmem_memory_unref(m);
}
END_TEST

/* DMA get/put: iovecs, a memory reference while the device uses them, dirty on put. */
START_TEST(test_io_dma_get_put)
{
	struct vmmem_region *regs[2] = { tu_anon_region(0, 0x2000, 0),
					 tu_anon_region(0x2000, 0x2000, VMMEM_REGION_READ_ONLY) };
	struct vmmem_region *tracked = vmmem_region_ref(regs[0]);
	struct vmmem_memory *m;
	struct vmmem_dma dma = { .memory = (struct vmmem_memory *)1 };
	struct iovec iov[4];
	size_t count = 0;

	ck_assert_int_eq(vmmem_region_dirty_enable(tracked, 4096), 0);
	m = mem_from_regions(regs, 2);
	/* Device writes: the range is dirty only after the put, and all of it. */
	ck_assert_int_eq(vmmem_memory_dma_get(m, 0x800, 0x1000, VMMEM_ACCESS_WRITE, iov, 4, &count,
					      &dma), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_ptr_eq(iov[0].iov_base, host_of(m, 0x800));
	ck_assert_uint_eq(iov[0].iov_len, 0x1000);
	ck_assert_ptr_eq(dma.memory, m);
	memset(iov[0].iov_base, 0x77, iov[0].iov_len); /* the "device" */
	ck_assert_int_eq(vmmem_region_dirty_count(tracked), 0);
	/* The mapping pins the memory: the caller's own reference may go. */
	vmmem_memory_unref(m);
	ck_assert_int_eq(vmmem_dma_put(&dma), 0);
	ck_assert_int_eq(vmmem_region_dirty_test(tracked, 0), 1);
	ck_assert_int_eq(vmmem_region_dirty_test(tracked, 0x1000), 1);
	ck_assert_ptr_null(dma.memory);
	ck_assert_int_eq(vmmem_dma_put(&dma), -EINVAL); /* a second put */
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "already put"));
	/* Reads mark nothing; a crossing gives two iovecs. */
	m = mem_from_regions((struct vmmem_region *[]){ vmmem_region_ref(tracked),
							tu_anon_region(0x2000, 0x2000, 0) }, 2);
	ck_assert_int_eq(vmmem_region_dirty_clear(tracked, 0, 0x2000), 0);
	ck_assert_int_eq(vmmem_memory_dma_get(m, 0x1800, 0x1000, VMMEM_ACCESS_READ, iov, 4, &count,
					      &dma), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(vmmem_dma_put(&dma), 0);
	ck_assert_int_eq(vmmem_region_dirty_count(tracked), 0);
	/* Failures leave nothing held. */
	ck_assert_int_eq(vmmem_memory_dma_get(m, 0x3800, 0x1000, VMMEM_ACCESS_READ, iov, 4, &count,
					      &dma), VMMEM_E_UNMAPPED);
	ck_assert_ptr_null(dma.memory);
	ck_assert_int_eq(vmmem_memory_dma_get(m, 0x1800, 0x1000, VMMEM_ACCESS_READ, iov, 1, &count,
					      &dma), -ENOBUFS);
	ck_assert_ptr_null(dma.memory);
	ck_assert_int_eq(vmmem_memory_dma_get(m, 0, 0, VMMEM_ACCESS_READ, iov, 4, &count, &dma),
			 -EINVAL);
	ck_assert_int_eq(vmmem_memory_dma_get(m, 0, 8, VMMEM_ACCESS_READ, iov, 4, &count, NULL),
			 -EINVAL);
	ck_assert_int_eq(vmmem_memory_dma_get(NULL, 0, 8, VMMEM_ACCESS_READ, iov, 4, &count, &dma),
			 -EINVAL);
	ck_assert_int_eq(vmmem_dma_put(NULL), -EINVAL);
	vmmem_memory_unref(m);
	vmmem_region_unref(tracked);
}
END_TEST

START_TEST(test_io_many_regions)
{
	/* 1100 adjacent one-page regions over one mapping: more pieces than IOV_MAX */
	const size_t nreg = 1100;
	const size_t pg = tu_page_size();
	const size_t total = nreg * pg;
	const uint64_t base = 0x100000;
	uint8_t *map = tu_map_anon(total);
	struct vmmem_region **regs = calloc(nreg, sizeof(*regs));
	struct vmmem_memory *m;
	struct iovec *iov = calloc(nreg + 1, sizeof(*iov));
	uint8_t *data;
	uint8_t *back = malloc(total);
	int fd = pattern_file(total, 0x45, &data);
	int out = tu_memfd(0);
	size_t done = 77, count = 0;
	ssize_t r;

	ck_assert_ptr_nonnull(regs);
	ck_assert_ptr_nonnull(iov);
	ck_assert_ptr_nonnull(back);
	for (size_t i = 0; i < nreg; i++)
		ck_assert_int_eq(vmmem_region_new(&regs[i], base + i * pg, pg, map + i * pg, 0), 0);
	m = mem_from_regions(regs, nreg);
	free(regs);

	ck_assert_int_eq(vmmem_memory_get_iovecs(m, base, total, VMMEM_ACCESS_RW, iov, nreg + 1,
						 &count), 0);
	ck_assert_uint_eq(count, nreg);
	for (size_t i = 0; i < nreg; i++) {
		ck_assert_ptr_eq(iov[i].iov_base, map + i * pg);
		ck_assert_uint_eq(iov[i].iov_len, pg);
	}
	ck_assert_int_eq(vmmem_memory_get_iovecs(m, base, total, VMMEM_ACCESS_RW, iov, 1024,
						 &count), -ENOBUFS);
	ck_assert_uint_eq(count, nreg);

	/* exact read over all 1100 pieces */
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, base, fd, total, 0, &done), 0);
	ck_assert_uint_eq(done, total);
	ck_assert_mem_eq(map, data, total);

	/* a plain read may stop early (IOV_MAX) but what it reports is really there */
	memset(map, 0, total);
	r = vmmem_memory_read_from_fd(m, base, fd, total, 0);
	ck_assert_int_gt(r, 0);
	ck_assert_int_le(r, (ssize_t)total);
	ck_assert_mem_eq(map, data, (size_t)r);
	ck_assert(all_bytes(map + r, total - (size_t)r, 0));

	/* unaligned start and end, with the file position */
	memset(map, 0, total);
	ck_assert_int_eq(lseek(fd, 0x80, SEEK_SET), 0x80);
	done = 77;
	ck_assert_int_eq(vmmem_memory_read_exact_from_fd(m, base + 0x80, fd, total - 0x100, -1,
							 &done), 0);
	ck_assert_uint_eq(done, total - 0x100);
	ck_assert_int_eq(fd_pos(fd), (off_t)(total - 0x80));
	ck_assert(all_bytes(map, 0x80, 0));
	ck_assert_mem_eq(map + 0x80, data + 0x80, total - 0x100);
	ck_assert(all_bytes(map + total - 0x80, 0x80, 0));

	/* write it all back out */
	memcpy(map, data, total);
	done = 77;
	ck_assert_int_eq(vmmem_memory_write_all_to_fd(m, base, out, total, 0, &done), 0);
	ck_assert_uint_eq(done, total);
	ck_assert_int_eq(pread(out, back, total, 0), (ssize_t)total);
	ck_assert_mem_eq(back, data, total);
	/* write_to_fd loops until the whole mapped range is written */
	ck_assert_int_eq(ftruncate(out, 0), 0);
	ck_assert_int_eq(vmmem_memory_write_to_fd(m, base, out, total, -1), (ssize_t)total);
	ck_assert_int_eq(fd_pos(out), (off_t)total);
	memset(back, 0, total);
	ck_assert_int_eq(pread(out, back, total, 0), (ssize_t)total);
	ck_assert_mem_eq(back, data, total);

	vmmem_memory_unref(m);
	tu_unmap(map, total);
	free(iov);
	free(back);
	free(data);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(close(out), 0);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc;

	tc = tcase_create("scatter_gather");
	tcase_add_test(tc, test_io_get_slices_vector);
	tcase_add_test(tc, test_io_get_iovecs_vector);
	tcase_add_test(tc, test_io_get_slices_null_array_with_room);
	tcase_add_test(tc, test_io_get_slices_read_only_piece);
	suite_add_tcase(s, tc);

	tc = tcase_create("read_fd");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_io_read_from_file_position_and_offset);
	tcase_add_test(tc, test_io_read_from_fd_two_small_regions);
	tcase_add_test(tc, test_io_dev_zero_vector);
	tcase_add_test(tc, test_io_short_read_pipe_leaves_no_gap);
	tcase_add_test(tc, test_io_read_exact_resumes_at_exact_address);
	tcase_add_test(tc, test_io_read_exact_socketpair_three_regions);
	tcase_add_test(tc, test_io_socketpair_short_read_then_eof);
	tcase_add_test(tc, test_io_read_regular_file_eof);
	tcase_add_test(tc, test_io_read_into_hole);
	tcase_add_test(tc, test_io_read_into_read_only_region);
	tcase_add_test(tc, test_io_read_nonblocking_empty_and_error_after_progress);
	suite_add_tcase(s, tc);

	tc = tcase_create("write_fd");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_io_write_to_file_position_and_offset);
	tcase_add_test(tc, test_io_write_from_hole_and_read_only);
	tcase_add_test(tc, test_io_write_to_pipe_loops_over_short_writes);
	tcase_add_test(tc, test_io_write_to_full_nonblocking_pipe);
	tcase_add_test(tc, test_io_write_partial_then_eagain_returns_count);
	tcase_add_test(tc, test_io_signals_eintr_retried_and_short_writes_looped);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_io_bad_fd_offset_and_arguments);
	tcase_add_test(tc, test_io_zero_length_anywhere);
	tcase_add_test(tc, test_io_many_regions);
	tcase_add_test(tc, test_io_dma_get_put);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return tu_run_suite(io_suite());
}
