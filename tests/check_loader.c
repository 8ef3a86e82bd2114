/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The plugin loader against an attacker: symlinked plugins, unsafe ancestors, a FIFO named
 * like a plugin, files and directories of another user, a plugin that keeps its
 * registration handle, and a real process swapping directories while plugins load.
 * Everything runs on real files in a scratch directory under /tmp; the other-user cases
 * need root (chown) and are skipped without it (CI runs as root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define NOBODY 65534

static const char *plugin_dir; /* the purpose-built test plugins */
static char scratch[64]; /* a fresh directory per test */

static void setup(void)
{
	snprintf(scratch, sizeof(scratch), "/tmp/vmmem-loader-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(scratch));
	ck_assert_int_eq(chmod(scratch, 0755), 0);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		fprintf(stderr, "check_loader: could not remove %s\n", scratch);
}

/* scratch/rel as a path. */
static const char *at(const char *rel)
{
	static char buf[4][PATH_MAX];
	static unsigned int n;
	char *p = buf[n++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", scratch, rel);
	return p;
}

static void make_dir(const char *rel, mode_t mode)
{
	ck_assert_int_eq(mkdir(at(rel), mode), 0);
	ck_assert_int_eq(chmod(at(rel), mode), 0);
}

/* Copy test plugin @name into scratch/@rel (a file path), mode 0755. */
static void copy_plugin(const char *name, const char *rel)
{
	char src[PATH_MAX], buf[65536];
	int in, out;
	ssize_t n;

	snprintf(src, sizeof(src), "%s/libvmmem-%s.so", plugin_dir, name);
	in = open(src, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(in, 0);
	out = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(fchmod(out, 0755), 0);
	close(in);
	close(out);
}

static struct vmmem_ctx *ctx_at(const char *path)
{
	struct vmmem_ctx *ctx = NULL;

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	ck_assert_int_eq(vmmem_ctx_set_search_path(ctx, path), 0);
	return ctx;
}

/* Loading @name from scratch/@rel fails with @want and a message containing @needle. */
static void expect_refused(const char *rel, const char *name, int want, const char *needle)
{
	struct vmmem_ctx *ctx = ctx_at(at(rel));
	int rc = vmmem_ctx_load_provider(ctx, name);

	ck_assert_msg(rc == want, "loading %s from %s gave %d (%s), expected %d", name, at(rel),
		      rc, vmmem_errormsg(), want);
	ck_assert_msg(strstr(vmmem_errormsg(), needle), "message '%s' lacks '%s'",
		      vmmem_errormsg(), needle);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
	vmmem_ctx_unref(ctx);
}

static void expect_loads(const char *rel, const char *name)
{
	struct vmmem_ctx *ctx = ctx_at(at(rel));
	int rc = vmmem_ctx_load_provider(ctx, name);

	ck_assert_msg(rc == 0, "loading %s from %s: %d (%s)", name, at(rel), rc,
		      vmmem_errormsg());
	vmmem_ctx_unref(ctx);
}

/* ---- symlinks ---- */

/* A symlink in a safe directory, pointing at a plugin in a world-writable one: the link's
 * directory passed the old check; the target's did not count. Symlinks are refused. */
START_TEST(test_symlink_into_unsafe_dir_refused)
{
	make_dir("open", 0777);
	copy_plugin("good", "open/libvmmem-good.so");
	make_dir("safe", 0755);
	ck_assert_int_eq(symlink(at("open/libvmmem-good.so"), at("safe/libvmmem-good.so")), 0);
	expect_refused("safe", "good", VMMEM_E_PROVIDER_UNSAFE, "symbolic link");
}
END_TEST

/* Even a symlink to a safe file is refused (the decision in docs/DECISIONS.md). */
START_TEST(test_symlink_to_safe_file_refused)
{
	make_dir("real", 0755);
	copy_plugin("good", "real/libvmmem-good.so");
	make_dir("links", 0755);
	ck_assert_int_eq(symlink("../real/libvmmem-good.so", at("links/libvmmem-good.so")), 0);
	expect_refused("links", "good", VMMEM_E_PROVIDER_UNSAFE, "symbolic link");
	expect_loads("real", "good");
}
END_TEST

/* ---- ancestors ---- */

START_TEST(test_unsafe_ancestor_refused)
{
	make_dir("open", 0777); /* world-writable, not sticky: plugins/ could be swapped */
	make_dir("open/plugins", 0755);
	copy_plugin("good", "open/plugins/libvmmem-good.so");
	expect_refused("open/plugins", "good", VMMEM_E_PROVIDER_UNSAFE, "ancestor 1 of");
	expect_refused("open/plugins", "good", VMMEM_E_PROVIDER_UNSAFE,
		       "writable by group or others");
	/* Sticky and ours (like /tmp): others cannot rename what is in it. */
	ck_assert_int_eq(chmod(at("open"), 01777), 0);
	expect_loads("open/plugins", "good");
	/* Deeper: an unsafe grandparent is found too. */
	ck_assert_int_eq(chmod(at("open"), 0777), 0);
	make_dir("open/plugins/deeper", 0755);
	copy_plugin("good", "open/plugins/deeper/libvmmem-good.so");
	expect_refused("open/plugins/deeper", "good", VMMEM_E_PROVIDER_UNSAFE, "ancestor 2 of");
}
END_TEST

/* ---- FIFOs ---- */

static void on_alarm(int sig)
{
	(void)sig;
	_exit(3); /* the loader hung */
}

START_TEST(test_fifo_refused_without_blocking)
{
	struct vmmem_ctx *ctx;
	size_t failed = 0;

	make_dir("fifo", 0755);
	ck_assert_int_eq(mkfifo(at("fifo/libvmmem-pipe.so"), 0644), 0);
	signal(SIGALRM, on_alarm);
	alarm(20);
	expect_refused("fifo", "pipe", VMMEM_E_PROVIDER_UNSAFE, "not a regular file");
	ctx = ctx_at(at("fifo"));
	ck_assert_int_eq(vmmem_ctx_load_all(ctx, &failed), 0);
	ck_assert_uint_eq(failed, 1);
	vmmem_ctx_unref(ctx);
	alarm(0);
}
END_TEST

/* ---- owners and modes, and what the messages say ---- */

START_TEST(test_messages_name_the_problem)
{
	make_dir("mine", 0755);
	copy_plugin("good", "mine/libvmmem-good.so");
	ck_assert_int_eq(chmod(at("mine/libvmmem-good.so"), 0775), 0);
	expect_refused("mine", "good", VMMEM_E_PROVIDER_UNSAFE, "writable by group or others");
	ck_assert_int_eq(chmod(at("mine/libvmmem-good.so"), 0755), 0);
	expect_loads("mine", "good");
	if (geteuid() != 0)
		return; /* the rest needs chown */
	ck_assert_int_eq(chown(at("mine/libvmmem-good.so"), NOBODY, NOBODY), 0);
	expect_refused("mine", "good", VMMEM_E_PROVIDER_UNSAFE, "owned by uid 65534, neither");
	ck_assert_int_eq(chmod(at("mine/libvmmem-good.so"), 0777), 0);
	expect_refused("mine", "good", VMMEM_E_PROVIDER_UNSAFE,
		       "owned by uid 65534 and writable by group or others");
	ck_assert_int_eq(chown(at("mine/libvmmem-good.so"), 0, 0), 0);
	ck_assert_int_eq(chmod(at("mine/libvmmem-good.so"), 0755), 0);
	ck_assert_int_eq(chown(at("mine"), NOBODY, NOBODY), 0);
	expect_refused("mine", "good", VMMEM_E_PROVIDER_UNSAFE, "directory");
}
END_TEST

/* Load "good" from scratch/@rel as uid 65534, in a forked child: its wait status. */
static int load_as_nobody(const char *rel)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct vmmem_ctx *ctx = NULL;
		int rc;

		if (setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
			_exit(10);
		if (vmmem_ctx_new(&ctx) || vmmem_ctx_set_search_path(ctx, at(rel)))
			_exit(11);
		rc = vmmem_ctx_load_provider(ctx, "good");
		vmmem_ctx_unref(ctx);
		_exit(rc == 0 ? 0 : 12);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* The owner rule seen from another uid: root's plugin in root's directory is fine for
 * anyone; a plugin uid 65534 owns is accepted by uid 65534 and refused to root. */
START_TEST(test_other_uid_sees_owner_rule)
{
	int status;

	if (geteuid() != 0)
		return;
	make_dir("theirs", 0755);
	copy_plugin("good", "theirs/libvmmem-good.so");
	status = load_as_nobody("theirs");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "root's, as nobody: 0x%x",
		      (unsigned int)status);
	ck_assert_int_eq(chown(at("theirs/libvmmem-good.so"), NOBODY, NOBODY), 0);
	status = load_as_nobody("theirs");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "nobody's own: 0x%x",
		      (unsigned int)status);
	expect_refused("theirs", "good", VMMEM_E_PROVIDER_UNSAFE, "owned by uid 65534");
}
END_TEST

/* ---- a kept registration handle ---- */

START_TEST(test_stale_handle_refused)
{
	struct vmmem_ctx *ctx = ctx_at(plugin_dir);
	struct vmmem_region *r = (struct vmmem_region *)1;
	int rc = vmmem_region_create(&r, ctx, "stale:gpa=0,size=64K");

	ck_assert_msg(rc == -EINVAL, "create through a kept handle gave %d (%s)", rc,
		      vmmem_errormsg());
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "handle"));
	ck_assert_ptr_null(r);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 1); /* stale_again never got in */
	vmmem_ctx_unref(ctx);
}
END_TEST

/* ---- a racing renamer ---- */

/*
 * The attacker swaps two directories, "plugins" (root's, with the real plugin) and "other"
 * (another user's, with its own libvmmem-good.so: the mismatch plugin, which registers
 * "othername"), with RENAME_EXCHANGE as fast as it can, while this process loads "good"
 * from .../plugins again and again. Their parent is sticky and ours, as /tmp is, so only a
 * privileged attacker can rename in it: the worst case. A load may find either directory;
 * it must load root's plugin or refuse, never run the other one (which shows as "did not
 * register 'good'"). Checking names and then loading by name again lost this race.
 */
/* How long the race runs: VMMEM_RACE_MS, default 3 s. */
static long race_ms(void)
{
	const char *v = getenv("VMMEM_RACE_MS");

	return v && *v ? atol(v) : 3000;
}

START_TEST(test_racing_renamer_never_wins)
{
	unsigned long loads = 0, refused = 0, iterations = 0;
	char bad[512] = "";
	struct timespec t0, t;
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return;
	make_dir("parent", 01777);
	make_dir("parent/plugins", 0755);
	copy_plugin("good", "parent/plugins/libvmmem-good.so");
	make_dir("parent/other", 0755);
	copy_plugin("mismatch", "parent/other/libvmmem-good.so");
	ck_assert_int_eq(chown(at("parent/other/libvmmem-good.so"), NOBODY, NOBODY), 0);
	ck_assert_int_eq(chown(at("parent/other"), NOBODY, NOBODY), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int dfd = open(at("parent"), O_PATH | O_DIRECTORY | O_CLOEXEC);

		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		for (;;)
			if (syscall(SYS_renameat2, dfd, "plugins", dfd, "other",
				    2 /* RENAME_EXCHANGE */) < 0)
				_exit(2);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct vmmem_ctx *ctx = ctx_at(at("parent/plugins"));
		int rc = vmmem_ctx_load_provider(ctx, "good");

		if (rc == 0)
			loads++;
		else if (rc == VMMEM_E_PROVIDER_NOT_FOUND && strstr(vmmem_errormsg(), "did not"))
			snprintf(bad, sizeof(bad), "the attacker's plugin was loaded: %s",
				 vmmem_errormsg());
		else if (rc == VMMEM_E_PROVIDER_UNSAFE || rc == VMMEM_E_PROVIDER_NOT_FOUND)
			refused++;
		else
			snprintf(bad, sizeof(bad), "unexpected %d: %s", rc, vmmem_errormsg());
		vmmem_ctx_unref(ctx);
		iterations++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!bad[0] &&
		 (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < race_ms());
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status), "the renamer stopped early: 0x%x", (unsigned int)status);
	ck_assert_msg(!bad[0], "after %lu tries: %s", iterations, bad);
	printf("check_loader: racing renamer: %lu loads, %lu refused, attacker 0 of %lu\n", loads,
	       refused, iterations);
	ck_assert_uint_gt(loads, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("attacks");

	plugin_dir = getenv("VMMEM_TEST_PLUGIN_DIR");
	if (!plugin_dir || !*plugin_dir) {
		printf("check_loader: VMMEM_TEST_PLUGIN_DIR is not set (run through ctest)\n");
		return 77;
	}
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_symlink_into_unsafe_dir_refused);
	tcase_add_test(tc, test_symlink_to_safe_file_refused);
	tcase_add_test(tc, test_unsafe_ancestor_refused);
	tcase_add_test(tc, test_fifo_refused_without_blocking);
	tcase_add_test(tc, test_messages_name_the_problem);
	tcase_add_test(tc, test_other_uid_sees_owner_rule);
	tcase_add_test(tc, test_stale_handle_refused);
	tcase_add_test(tc, test_racing_renamer_never_wins);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
