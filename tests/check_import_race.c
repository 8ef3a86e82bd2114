/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Hostile peers against vmmem_region_import, made deterministic.
 *
 * The import TOCTOU: a peer shrinks a memfd and then seals it between two checks of the
 * import. Racing for that window by chance wins a few times in a million; here this test
 * executable defines fcntl() itself (libvmmem.so resolves it here first, see
 * ENABLE_EXPORTS in tests/CMakeLists.txt), and the moment the library asks for the seals, it
 * lets a real second process shrink and seal the file first. If the library measured the
 * size before reading the seals, it would accept a sealed, empty file and every access
 * would SIGBUS; with the seals read first, the import must fail.
 *
 * Also here, with real files: how F_GET_SEALS failures are reported (a file that cannot be
 * sealed, an O_PATH descriptor), and non-regular files.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define MiB (UINT64_C(1) << 20)

/* ---- fcntl, interposed ---- */

static int (*real_fcntl)(int, int, ...);
static int hook_fd = -1;   /* the fd whose F_GET_SEALS triggers the peer */
static int peer_sock = -1; /* our end of the socketpair with the peer */
static int hook_fired;

int fcntl(int fd, int cmd, ...);
int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long); /* every fcntl argument fits a long; unused ones are ignored */
	va_end(ap);
	if (!real_fcntl)
		*(void **)&real_fcntl = dlsym(RTLD_NEXT, "fcntl");
	if (cmd == F_GET_SEALS && fd == hook_fd && !hook_fired) {
		char go = 'g', done = 0;

		hook_fired = 1;
		/* The peer shrinks and seals the file now, before we read its seals. */
		if (write(peer_sock, &go, 1) != 1 || read(peer_sock, &done, 1) != 1 || done != 'd')
			abort();
	}
	return real_fcntl(fd, cmd, arg);
}

/* The peer: it holds the same memfd (inherited), and on 'g' shrinks it to 0 and seals it. */
static pid_t start_peer(int fd, int *sock)
{
	int sv[2];
	pid_t pid;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;

		close(sv[0]);
		if (read(sv[1], &c, 1) != 1 || c != 'g')
			_exit(2);
		if (ftruncate(fd, 0) < 0 ||
		    real_fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
			_exit(3);
		c = 'd';
		_exit(write(sv[1], &c, 1) == 1 ? 0 : 4);
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}

static struct vmmem_vhost_region desc_of(uint64_t size)
{
	return (struct vmmem_vhost_region){ .memory_size = size, .mmap_offset = 0 };
}

START_TEST(test_shrink_and_seal_between_checks)
{
	int fd = memfd_create("race", MFD_CLOEXEC | MFD_ALLOW_SEALING), status;
	struct vmmem_vhost_region d = desc_of(MiB);
	struct vmmem_region *r = (struct vmmem_region *)1;
	pid_t pid;
	int rc;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)MiB), 0);
	if (!real_fcntl)
		*(void **)&real_fcntl = dlsym(RTLD_NEXT, "fcntl");
	pid = start_peer(fd, &peer_sock);
	hook_fd = fd;
	rc = vmmem_region_import(&r, &d, fd, 0);
	hook_fd = -1;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "peer failed: 0x%x",
		      (unsigned int)status);
	ck_assert_msg(hook_fired, "the import never asked for the seals");
	/* The file is sealed and empty now: accepting it would mean SIGBUS on every access. */
	ck_assert_msg(rc == VMMEM_E_FILE_TOO_SHORT,
		      "import of a file shrunk and sealed between the checks gave %d (%s), "
		      "expected VMMEM_E_FILE_TOO_SHORT", rc, vmmem_errormsg());
	ck_assert_ptr_null(r);
	close(peer_sock);
	close(fd);
}
END_TEST

/* F_GET_SEALS failures say what failed, not just "not sealed". */
START_TEST(test_seal_query_failures_named)
{
	struct vmmem_vhost_region d = desc_of(4096);
	struct vmmem_region *r = NULL;
	char path[] = "/tmp/vmmem-import-XXXXXX";
	int file = mkstemp(path), opath;

	ck_assert_int_ge(file, 0);
	ck_assert_int_eq(ftruncate(file, 4096), 0);
	/* A regular file on tmpfs/ext4 cannot carry seals: EINVAL. */
	ck_assert_int_eq(vmmem_region_import(&r, &d, file, 0), VMMEM_E_NOT_SEALED);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "F_GET_SEALS failed"));
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "not a memfd"));
	/* An O_PATH descriptor: EBADF for fcntl, named as such. */
	opath = open(path, O_PATH | O_CLOEXEC);
	ck_assert_int_ge(opath, 0);
	ck_assert_int_eq(vmmem_region_import(&r, &d, opath, 0), -EBADF);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "O_PATH"));
	ck_assert_ptr_null(r);
	/* With unsealed files allowed, an O_PATH fd still fails (fstat works, mmap does not). */
	ck_assert_int_lt(vmmem_region_import(&r, &d, opath, VMMEM_IMPORT_ALLOW_UNSEALED), 0);
	ck_assert_ptr_null(r);
	close(opath);
	close(file);
	unlink(path);
}
END_TEST

/* A pipe is refused before anything maps it, with or without seals required. */
START_TEST(test_non_regular_refused)
{
	struct vmmem_vhost_region d = desc_of(4096);
	struct vmmem_region *r = NULL;
	int p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_lt(vmmem_region_import(&r, &d, p[0], 0), 0);
	ck_assert_int_eq(vmmem_region_import(&r, &d, p[0], VMMEM_IMPORT_ALLOW_UNSEALED), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "not a regular file"));
	ck_assert_ptr_null(r);
	close(p[0]);
	close(p[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("import_race");
	TCase *tc = tcase_create("peer");

	tcase_add_test(tc, test_shrink_and_seal_between_checks);
	tcase_add_test(tc, test_seal_query_failures_named);
	tcase_add_test(tc, test_non_regular_refused);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
