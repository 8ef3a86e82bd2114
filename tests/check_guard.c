/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Memory a peer can take away: a region imported from an unsealed memfd (accepted with
 * VMMEM_IMPORT_ALLOW_UNSEALED) that a real second process truncates. Reads, writes,
 * objects, atomics, views and arrays over the lost pages must return an error (-EFAULT,
 * "no longer backed") instead of killing the process with SIGBUS; what still exists keeps
 * working, with partial-transfer counts that stop exactly at the lost pages. A SIGBUS that
 * is not a guarded access still reaches the application's handler, or the default action.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define KiB (UINT64_C(1) << 10)
/* In host pages (4, 16 or 64 KiB), so the file ends on a page boundary whatever the page
 * size: what is left of a page the file still covers reads as zeros, it does not fault. */
#define P ((uint64_t)tu_page_size())
#define SIZE (16 * P)
#define KEEP (4 * P) /* what the peer leaves of the file */
#define MAX_SIZE (16 * 64 * KiB)

static uint8_t buf[MAX_SIZE]; /* transfer buffer (one test per process) */

/* A memfd (unsealed) and the guarded memory imported from it, at GPA 0. */
struct shared {
	int fd;
	struct vmmem_region *r;
	struct vmmem_memory *m;
};

static struct shared share_unsealed(void)
{
	struct shared s = { .fd = memfd_create("guard", MFD_CLOEXEC) };
	struct vmmem_vhost_region d = { .memory_size = SIZE };

	ck_assert_uint_le(SIZE, sizeof(buf));
	ck_assert_int_ge(s.fd, 0);
	memset(buf, 0x5a, SIZE);
	ck_assert_int_eq(pwrite(s.fd, buf, SIZE, 0), (ssize_t)SIZE);
	ck_assert_int_eq(vmmem_region_import(&s.r, &d, s.fd, VMMEM_IMPORT_ALLOW_UNSEALED), 0);
	ck_assert_int_eq(vmmem_memory_new(&s.m, &s.r, 1), 0);
	return s;
}

static void unshare(struct shared *s)
{
	vmmem_memory_unref(s->m);
	vmmem_region_unref(s->r);
	close(s->fd);
}

/* A real second process shrinks the file to @len (it holds the same memfd). */
static void peer_truncates(int fd, off_t len)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(ftruncate(fd, len) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void expect_gone(int rc, const char *what)
{
	ck_assert_msg(rc == -EFAULT, "%s after truncation gave %d (%s), expected -EFAULT", what,
		      rc, vmmem_errormsg());
	ck_assert_msg(strstr(vmmem_errormsg(), "no longer backed"), "%s: message '%s'", what,
		      vmmem_errormsg());
}

START_TEST(test_reads_and_writes)
{
	struct shared s = share_unsealed();
	size_t done = 0;
	uint64_t v = 0;

	peer_truncates(s.fd, KEEP);
	/* What is left still works; a transfer stops exactly where the file ends. */
	ck_assert_int_eq(vmmem_memory_read(s.m, 0, buf, SIZE), (ssize_t)KEEP);
	ck_assert_uint_eq(buf[KEEP - 1], 0x5a);
	ck_assert_int_eq(vmmem_memory_write(s.m, 0, buf, SIZE), (ssize_t)KEEP);
	ck_assert_int_eq(vmmem_memory_read_exact(s.m, 0, buf, SIZE, &done), VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, KEEP);
	ck_assert_int_eq(vmmem_memory_write_exact(s.m, P, buf, SIZE - P, &done),
			 VMMEM_E_PARTIAL);
	ck_assert_uint_eq(done, KEEP - P);
	/* Past it: errors, not SIGBUS. */
	expect_gone((int)vmmem_memory_read(s.m, 2 * KEEP, buf, 100), "read");
	expect_gone((int)vmmem_memory_write(s.m, 2 * KEEP, buf, 100), "write");
	expect_gone(vmmem_memory_read_obj(s.m, 2 * KEEP, &v, sizeof(v)), "read_obj");
	expect_gone(vmmem_memory_write_obj(s.m, 2 * KEEP + 8, &v, 4), "write_obj");
	ck_assert_int_eq(vmmem_memory_read_obj(s.m, KEEP - 8, &v, sizeof(v)), 0);
	unshare(&s);
}
END_TEST

START_TEST(test_atomics)
{
	struct shared s = share_unsealed();
	uint64_t v64 = 0;
	uint32_t v32 = 0;
	uint8_t v8 = 0;

	peer_truncates(s.fd, KEEP);
	expect_gone(vmmem_memory_load_u64(s.m, 2 * KEEP, VMMEM_ORDER_ACQUIRE, &v64), "load_u64");
	expect_gone(vmmem_memory_load_u32(s.m, 2 * KEEP, VMMEM_ORDER_RELAXED, &v32), "load_u32");
	expect_gone(vmmem_memory_store_u8(s.m, 2 * KEEP + 1, 7, VMMEM_ORDER_SEQ_CST), "store_u8");
	expect_gone(vmmem_memory_store_u64(s.m, 3 * KEEP, 7, VMMEM_ORDER_RELEASE), "store_u64");
	ck_assert_int_eq(vmmem_memory_store_u32(s.m, KEEP - 4, 0x01020304, VMMEM_ORDER_RELEASE),
			 0);
	ck_assert_int_eq(vmmem_memory_load_u32(s.m, KEEP - 4, VMMEM_ORDER_ACQUIRE, &v32), 0);
	ck_assert_uint_eq(v32, 0x01020304);
	ck_assert_int_eq(vmmem_memory_load_u8(s.m, 0, VMMEM_ORDER_RELAXED, &v8), 0);
	ck_assert_uint_eq(v8, 0x5a);
	unshare(&s);
}
END_TEST

START_TEST(test_views_and_arrays)
{
	struct shared s = share_unsealed();
	struct vmmem_slice whole, lost, kept;
	struct vmmem_array arr;
	uint32_t e = 0;

	ck_assert_int_eq(vmmem_memory_get_slice(s.m, 0, SIZE, VMMEM_ACCESS_RW, &whole), 0);
	ck_assert_int_eq(vmmem_memory_get_slice(s.m, 2 * KEEP, P, VMMEM_ACCESS_RW, &lost), 0);
	ck_assert_int_eq(vmmem_memory_get_slice(s.m, 0, P, VMMEM_ACCESS_RW, &kept), 0);
	peer_truncates(s.fd, KEEP);
	expect_gone((int)vmmem_slice_read(&lost, 0, buf, (size_t)P), "slice_read");
	expect_gone((int)vmmem_slice_write(&lost, 8, buf, 8), "slice_write");
	expect_gone((int)vmmem_slice_copy_to(&lost, buf, (size_t)P), "slice_copy_to");
	expect_gone((int)vmmem_slice_copy_from(&lost, buf, (size_t)P), "slice_copy_from");
	expect_gone((int)vmmem_slice_copy_to_slice(&lost, &kept), "copy_to_slice from lost");
	expect_gone((int)vmmem_slice_copy_to_slice(&kept, &lost), "copy_to_slice into lost");
	ck_assert_int_eq(vmmem_slice_read(&kept, 0, buf, (size_t)P), (ssize_t)P);
	ck_assert_int_eq(vmmem_slice_get_array(&lost, 0, 4, 16, &arr), 0);
	expect_gone(vmmem_array_load(&arr, 3, &e), "array_load");
	expect_gone(vmmem_array_store(&arr, 3, &e), "array_store");
	expect_gone((int)vmmem_array_copy_to(&arr, buf, 16), "array_copy_to");
	expect_gone((int)vmmem_array_copy_from(&arr, buf, 16), "array_copy_from");
	ck_assert_int_eq(vmmem_slice_get_array(&kept, 0, 4, 16, &arr), 0);
	ck_assert_int_eq(vmmem_array_load(&arr, 3, &e), 0);
	ck_assert_uint_eq(e, 0x5a5a5a5a);
	(void)whole;
	unshare(&s);
}
END_TEST

/* The peer truncates and grows the file again and again while this process reads and
 * writes the whole region: every call either works or fails cleanly. */
START_TEST(test_truncation_during_access)
{
	struct shared s = share_unsealed();
	unsigned long ok = 0, gone = 0;
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (;;) {
			if (ftruncate(s.fd, KEEP) < 0 || ftruncate(s.fd, SIZE) < 0)
				_exit(1);
		}
	}
	for (int i = 0; i < 20000; i++) {
		ssize_t n = i % 2 ? vmmem_memory_read(s.m, 0, buf, SIZE)
				  : vmmem_memory_write(s.m, 0, buf, SIZE);
		uint64_t v;
		int rc = vmmem_memory_load_u64(s.m, SIZE - 8, VMMEM_ORDER_RELAXED, &v);

		ck_assert_msg(n == (ssize_t)SIZE || (n >= (ssize_t)KEEP && n < (ssize_t)SIZE),
			      "transfer gave %zd (%s)", n, vmmem_errormsg());
		ck_assert_msg(rc == 0 || rc == -EFAULT, "load gave %d", rc);
		if (n == (ssize_t)SIZE && rc == 0)
			ok++;
		else
			gone++;
	}
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	printf("check_guard: during truncation: %lu whole, %lu cut short\n", ok, gone);
	unshare(&s);
}
END_TEST

/* ---- SIGBUSes that are not guarded accesses ---- */

/* Touch a page of our own mapping of a truncated file: a SIGBUS libvmmem has nothing to do
 * with. */
static void own_sigbus(void)
{
	int fd = memfd_create("own", MFD_CLOEXEC);
	volatile uint8_t *p;

	if (fd < 0 || ftruncate(fd, 8192) < 0)
		_exit(20);
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || ftruncate(fd, 0) < 0)
		_exit(21);
	p[100] = 1;
}

/* With no handler of its own, the application still dies of SIGBUS. */
START_TEST(test_foreign_sigbus_default)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct shared s = share_unsealed(); /* installs libvmmem's handler */

		(void)s;
		signal(SIGBUS, SIG_DFL); /* in case Check changed it */
		s = share_unsealed();
		own_sigbus();
		_exit(22); /* not reached */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
		      "child status 0x%x, expected death by SIGBUS", (unsigned int)status);
}
END_TEST

static sigjmp_buf app_jump;

static void app_handler(int sig)
{
	(void)sig;
	siglongjmp(app_jump, 1);
}

/* An application handler installed before libvmmem's gets the SIGBUSes that are not
 * guarded accesses, and guarded accesses still turn into errors. */
START_TEST(test_foreign_sigbus_chained)
{
	pid_t pid;
	int status;

	/* valgrind 3.19 loses track when the chained handler siglongjmps out of ours ("jump to
	 * the invalid address"); natively, under ASan and under TSan this runs. */
	if (getenv("VMMEM_TEST_UNDER_VALGRIND"))
		return;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = app_handler, .sa_flags = SA_NODEFER };
		struct shared s;
		uint8_t b;

		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, NULL) < 0)
			_exit(30);
		s = share_unsealed();
		peer_truncates(s.fd, 0);
		if (vmmem_memory_read(s.m, 0, &b, 1) != -EFAULT)
			_exit(31);
		if (sigsetjmp(app_jump, 0) == 0) {
			own_sigbus();
			_exit(32); /* the fault did not happen */
		}
		/* The application's handler ran; libvmmem still guards after it. */
		if (vmmem_memory_read(s.m, 8 * KiB, &b, 1) != -EFAULT)
			_exit(33);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x",
		      (unsigned int)status);
}
END_TEST

/* Sealed memfds are not guarded: the fast path stays (and truncation is impossible). */
START_TEST(test_sealed_not_guarded)
{
	int fd = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct vmmem_vhost_region d = { .memory_size = SIZE };
	struct vmmem_region *r = NULL;
	uint8_t b = 0;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, SIZE), 0);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	ck_assert_int_eq(vmmem_region_import(&r, &d, fd, 0), 0);
	ck_assert_int_eq(ftruncate(fd, KEEP), -1);
	ck_assert_int_eq(errno, EPERM);
	{
		struct vmmem_memory *m = NULL;

		ck_assert_int_eq(vmmem_memory_new(&m, &r, 1), 0);
		ck_assert_int_eq(vmmem_memory_read(m, SIZE - 1, &b, 1), 1);
		vmmem_memory_unref(m);
	}
	vmmem_region_unref(r);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;

#if defined(__s390x__)
	/* qemu-s390x 7.2 hands the SIGBUS handler a corrupted si_addr (the two 32-bit halves
	 * of the address swapped), so no fault looks like a guarded access. A real s390x
	 * kernel reports the faulting page, which the guard accepts (guard.c). */
	if (tu_under_qemu_user()) {
		tu_skip_emulated("check_guard on s390x (qemu-user's SIGBUS si_addr)");
		return 77;
	}
#endif
	s = suite_create("guard");
	tc = tcase_create("truncated");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_reads_and_writes);
	tcase_add_test(tc, test_atomics);
	tcase_add_test(tc, test_views_and_arrays);
	tcase_add_test(tc, test_truncation_during_access);
	tcase_add_test(tc, test_foreign_sigbus_default);
	tcase_add_test(tc, test_foreign_sigbus_chained);
	tcase_add_test(tc, test_sealed_not_guarded);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
