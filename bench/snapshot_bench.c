/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmmem-snapshot-bench: snapshot save and restore, each next to its limit, in one run.
 *
 * Save: a memfd-backed guest memory is saved (full: every page data; sparse: 25 % of the
 * pages data, the rest zero; diff: 1 % of the pages dirtied since a full save) to a file
 * on DIR, and the same bytes are copied by `cp --sparse=always /proc/PID/fd/N DIR/...`
 * (the memfd is the memory's backing file, so cp reads exactly what the save reads). Rounds
 * alternate ours and cp (ABBA); the table has the median of each and the ratio
 * cp time / save time (>= 1: the save is at least as fast as the plain copy).
 *
 * Restore: the full file restored by copy, map and lazy: time until the memory is usable,
 * until a first byte has been read, and until every page is resident (each page touched;
 * lazy: its prefetch finished). Lazy fault cost: a restore without prefetch, 4096 distinct
 * pages touched one by one (scattered: 64 KiB apart, each a fault; sequential), time per
 * page.
 *
 *   vmmem-snapshot-bench [--size MiB] [--rounds N] [--dir DIR]
 *   (defaults: 1024 MiB for save, the same size for restore, 3 rounds, /dev/shm)
 * Run with VMMEM_PROVIDER_PATH=build/<preset>/providers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vmmem.h>

#define MiB (1024.0 * 1024.0)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "vmmem-snapshot-bench: %s: %s: %s\n", what, vmmem_strerror(rc),
		vmmem_errormsg());
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Every page (pct = 100), or a spread pct % of them, gets non-zero bytes. */
static void fill(const struct vmmem_memory *m, int pct, uint64_t seed)
{
	struct vmmem_region *r = vmmem_memory_region_at(m, 0);
	uint64_t *w = vmmem_region_host(r), pages = vmmem_region_size(r) / 4096;

	for (uint64_t p = 0; p < pages; p++) {
		if ((p * 7919 + seed) % 100 >= (uint64_t)pct)
			continue;
		for (int k = 0; k < 512; k += 64) /* a few words per line are enough */
			w[p * 512 + (uint64_t)k] = p ^ seed ^ (uint64_t)k ^ 1;
		vmmem_memory_mark_dirty(m, p * 4096, 4096);
	}
}

static struct vmmem_memory *make_memory(struct vmmem_ctx *ctx, uint64_t mib)
{
	char text[128];
	struct vmmem_config *cfg;
	struct vmmem_memory *m;
	int rc;

	snprintf(text, sizeof(text), "memfd:gpa=0,size=%" PRIu64 "M,prealloc=on,dirty-log=on",
		 mib);
	rc = vmmem_config_parse(&cfg, text);
	if (rc == 0)
		rc = vmmem_memory_new_from_config(&m, ctx, cfg);
	if (rc)
		die("memory", rc);
	vmmem_config_free(cfg);
	return m;
}

static int open_out(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	unlink(path);
	return fd;
}

static double time_save(const struct vmmem_memory *m, const char *dir, uint32_t flags,
			const uint8_t *parent, uint8_t *id_out)
{
	struct vmmem_snapshot_save_opts so = { .size = sizeof(so), .flags = flags };
	int fd = open_out(dir, "bench.snap");
	double t;
	int rc;

	if (parent)
		memcpy(so.parent_id, parent, VMMEM_SNAPSHOT_ID_SIZE);
	t = now_s();
	rc = vmmem_memory_snapshot_save(m, fd, &so);
	t = now_s() - t;
	if (rc)
		die("save", rc);
	if (id_out)
		memcpy(id_out, so.id, VMMEM_SNAPSHOT_ID_SIZE);
	close(fd);
	return t;
}

/* cp --sparse=always of the memory's memfd to DIR, as a whole process. */
static double time_cp(const struct vmmem_memory *m, const char *dir)
{
	char src[64], dst[4096];
	double t;
	pid_t pid;
	int status;

	snprintf(src, sizeof(src), "/proc/%d/fd/%d", (int)getpid(),
		 vmmem_region_fd(vmmem_memory_region_at(m, 0)));
	snprintf(dst, sizeof(dst), "%s/bench.cp", dir);
	t = now_s();
	pid = fork();
	if (pid == 0) {
		execlp("cp", "cp", "--sparse=always", src, dst, (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	t = now_s() - t;
	unlink(dst);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "vmmem-snapshot-bench: cp failed\n");
		exit(1);
	}
	return t;
}

static void save_case(struct vmmem_ctx *ctx, const char *name, uint64_t mib, int pct,
		      bool diff, int rounds, const char *dir)
{
	struct vmmem_memory *m = make_memory(ctx, mib);
	double ours[16], cp[16];
	uint8_t id[VMMEM_SNAPSHOT_ID_SIZE];

	fill(m, diff ? 100 : pct, 1);
	for (int i = 0; i < rounds; i++) {
		bool ours_first = i % 2 == 0; /* ABBA */

		if (!ours_first)
			cp[i] = time_cp(m, dir);
		if (diff) {
			time_save(m, dir, 0, NULL, id);
			fill(m, pct, (uint64_t)i + 2); /* dirty pct % again */
			ours[i] = time_save(m, dir, VMMEM_SNAPSHOT_DIFF, id, NULL);
		} else {
			ours[i] = time_save(m, dir, 0, NULL, NULL);
		}
		if (ours_first)
			cp[i] = time_cp(m, dir);
	}
	double o = median(ours, rounds), c = median(cp, rounds);

	printf("%-22s %10.1f ms %8.2f GiB/s   cp --sparse=always %9.1f ms %8.2f GiB/s   "
	       "ratio %.2fx%s\n",
	       name, o * 1e3, (double)mib / 1024 / o, c * 1e3, (double)mib / 1024 / c, c / o,
	       diff ? "  (GiB/s of guest memory)" : "");
	vmmem_memory_unref(m);
}

static uint64_t touch_all(const struct vmmem_memory *m)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < vmmem_memory_region_count(m); i++) {
		struct vmmem_region *r = vmmem_memory_region_at(m, i);
		const volatile uint8_t *p = vmmem_region_host(r);

		for (uint64_t off = 0; off < vmmem_region_size(r); off += 4096)
			sum += p[off];
	}
	return sum;
}

/* Restores create the memory without prealloc (the saved config has it, for the save's
 * sake): populating pages is the restore's work. */
static char restore_config[128];

static void restore_case(struct vmmem_ctx *ctx, struct vmmem_snapshot *s, uint32_t mode,
			 const char *name, uint64_t mib)
{
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = mode,
					 .config = restore_config };
	struct vmmem_restore *lazy = NULL;
	struct vmmem_memory *m;
	double t0 = now_s(), usable, first, all;
	int rc = vmmem_snapshot_restore(s, ctx, &ro, &m, &lazy);

	if (rc)
		die(name, rc);
	usable = now_s() - t0;
	(void)*(volatile uint8_t *)vmmem_region_host(vmmem_memory_region_at(m, 0));
	first = now_s() - t0;
	if (lazy && getenv("WAIT_FIRST"))
		vmmem_restore_wait(lazy, -1);
	touch_all(m);
	if (lazy && (rc = vmmem_restore_free(lazy)) != 0)
		die("lazy restore", rc);
	all = now_s() - t0;
	printf("restore_%-14s %5" PRIu64 " MiB  usable %9.3f ms  first access %9.3f ms  "
	       "all resident %9.1f ms\n",
	       name, mib, usable * 1e3, first * 1e3, all * 1e3);
	vmmem_memory_unref(m);
}

/* Touch 4096 pages @stride pages apart after a lazy restore without prefetch. Stride 37
 * puts every touch away from the last fault: one userfaultfd round trip each.
 * Stride 1 is a sequential scan: one round trip per 16 pages. */
static void lazy_fault_case(struct vmmem_ctx *ctx, struct vmmem_snapshot *s, uint64_t stride,
			    const char *name)
{
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_LAZY,
					 .flags = VMMEM_RESTORE_NO_PREFETCH,
					 .config = restore_config };
	struct vmmem_restore *lazy;
	struct vmmem_memory *m;
	uint64_t faults = 0, pages = 4096;
	double t;
	int rc = vmmem_snapshot_restore(s, ctx, &ro, &m, &lazy);

	if (rc)
		die("lazy restore", rc);
	const volatile uint8_t *p = vmmem_region_host(vmmem_memory_region_at(m, 0));

	t = now_s();
	for (uint64_t i = 0; i < pages; i++)
		(void)p[i * 4096 * stride % vmmem_region_size(vmmem_memory_region_at(m, 0))];
	t = now_s() - t;
	vmmem_restore_progress(lazy, NULL, NULL, &faults);
	printf("%-22s %9.2f us per page touched (%" PRIu64 " faults served for %" PRIu64
	       " pages; goal <= 10 us)\n",
	       name, t * 1e6 / (double)pages, faults, pages);
	vmmem_restore_free(lazy);
	vmmem_memory_unref(m);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "size", required_argument, NULL, 's' },
					      { "rounds", required_argument, NULL, 'r' },
					      { "dir", required_argument, NULL, 'd' },
					      { NULL, 0, NULL, 0 } };
	uint64_t mib = 1024;
	int rounds = 3, c;
	const char *dir = "/dev/shm";
	struct vmmem_ctx *ctx;
	struct vmmem_snapshot *s;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			mib = strtoull(optarg, NULL, 0);
		else if (c == 'r')
			rounds = atoi(optarg);
		else if (c == 'd')
			dir = optarg;
		else
			return 2;
	}
	if (rounds < 1 || rounds > 16 || mib == 0) {
		fprintf(stderr, "usage: %s [--size MiB] [--rounds 1..16] [--dir DIR]\n", argv[0]);
		return 2;
	}
	if ((c = vmmem_ctx_new(&ctx)) != 0)
		die("context", c);
	printf("# snapshot save: %" PRIu64 " MiB memfd guest, files on %s, median of %d rounds "
	       "(ABBA)\n",
	       mib, dir, rounds);
	save_case(ctx, "save_full", mib, 100, false, rounds, dir);
	save_case(ctx, "save_sparse_25pct", mib, 25, false, rounds, dir);
	save_case(ctx, "save_diff_1pct", mib, 1, true, rounds, dir);

	/* One full file (every page data) for the restores. */
	struct vmmem_memory *m = make_memory(ctx, mib);
	int fd = open_out(dir, "restore.snap");
	struct vmmem_snapshot_save_opts so = { .size = sizeof(so) };

	fill(m, 100, 7);
	if ((c = vmmem_memory_snapshot_save(m, fd, &so)) != 0)
		die("save", c);
	vmmem_memory_unref(m);
	if ((c = vmmem_snapshot_open(&s, fd)) != 0)
		die("open", c);
	snprintf(restore_config, sizeof(restore_config), "memfd:gpa=0,size=%" PRIu64 "M", mib);
	printf("# restore of a %" PRIu64 " MiB full snapshot (every page data) into %s\n", mib,
	       restore_config);
	restore_case(ctx, s, VMMEM_RESTORE_MAP, "map", mib);
	restore_case(ctx, s, VMMEM_RESTORE_LAZY, "lazy", mib);
	restore_case(ctx, s, VMMEM_RESTORE_COPY, "copy", mib);
	lazy_fault_case(ctx, s, 37, "lazy_fault_4k_scattered");
	lazy_fault_case(ctx, s, 1, "lazy_fault_4k_sequential");
	vmmem_snapshot_close(s);
	close(fd);
	vmmem_ctx_unref(ctx);
	return 0;
}
