/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmmem snapshot: save, restore, inspect, verify and merge snapshot files.
 *
 *   save [--config CFG] [--fill PCT] [--seed N] FILE
 *        build memory from CFG (the tool's default without it), fill PCT % of its pages
 *        with a seeded pattern (the rest stay zero: holes), save a full snapshot
 *   save --diff-of PARENT [--dirty PCT] [--seed N] FILE
 *        restore PARENT, rewrite PCT % of its pages, save only those as a diff of PARENT
 *   restore [--mode copy|map|lazy] [--threads N] [--config CFG] [--json] FILE
 *        restore into new memory and time it: until the memory is usable, the first
 *        access, and every page resident; prints a checksum of the memory
 *   info [--json] FILE      the header and region table (save, verify and merge take
 *                           --json too: one JSON object instead of the text)
 *   verify [--json] FILE    check every checksum
 *   merge [--json] PARENT DIFF OUT   write the full snapshot PARENT + DIFF
 *
 * The memory checksum (FNV-1a over 64-bit words, region by region) is the same number for
 * `save` and for every restore mode of that file, so scripts can compare them.
 */
#define _GNU_SOURCE
#include "snapshot_cmd.h"

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmmem.h>

struct opts {
	const char *config;
	const char *diff_of;
	const char *mode;
	double fill;
	double dirty;
	uint64_t seed;
	unsigned int threads;
	bool json;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "vmmem snapshot: %s: %s: %s\n", what, vmmem_strerror(rc), vmmem_errormsg());
	return cli_status(rc);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmmem snapshot: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsee 'vmmem snapshot --help'\n");
	return CLI_USAGE;
}

const char snapshot_usage_text[] =
	"usage: vmmem snapshot save [--config CFG] [--fill PCT] [--seed N] [--json] FILE\n"
	"       vmmem snapshot save --diff-of PARENT [--dirty PCT] [--seed N] [--json] FILE\n"
	"       vmmem snapshot restore [--mode copy|map|lazy] [--threads N] [--config CFG]\n"
	"                              [--json] FILE\n"
	"       vmmem snapshot info [--json] FILE\n"
	"       vmmem snapshot verify [--json] FILE\n"
	"       vmmem snapshot merge [--json] PARENT DIFF OUT\n"
	"\n"
	"save fills PCT % of the host pages (default 50) with a pattern from the seed\n"
	"and leaves the rest zero (holes in the file); a diff rewrites PCT % (default 1)\n"
	"of the parent's pages. restore times itself and prints a checksum of the memory,\n"
	"which save prints too. Every subcommand takes --help and --version.\n"
	"Exit status: 0 ok, 1 runtime error, 2 usage error (an invalid --config too).\n";

/* ---- progress bar ------------------------------------------------------------------------ */

/* The labels passed as the progress callback's argument. */
static char label_save[] = "save", label_restore[] = "restore", label_verify[] = "verify",
	    label_merge[] = "merge";

static int progress_bar(void *arg, uint64_t done, uint64_t total)
{
	const char *what = arg;
	int width = 40, fill = total ? (int)(width * (double)done / (double)total) : width;

	fprintf(stderr, "\r%-8s [%.*s%*s] %3d%% %8.1f MiB", what, fill,
		"########################################", width - fill, "",
		total ? (int)(100.0 * (double)done / (double)total) : 100, done / 1048576.0);
	if (done >= total)
		fputc('\n', stderr);
	return 0;
}

/* The callback for long operations: a bar on a terminal, nothing otherwise. */
static vmmem_progress_fn bar_if_tty(void)
{
	return isatty(STDERR_FILENO) ? progress_bar : NULL;
}

/* ---- memory contents --------------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* Does page @n get data, for a fraction @pct % of the pages? */
static bool chosen(uint64_t n, uint64_t seed, double pct)
{
	return (double)(mix(n ^ (seed << 40)) % 10000) < pct * 100.0;
}

/* Write the pattern of @seed into the chosen host pages (4, 16 or 64 KiB); the others keep
 * what they hold. Whole host pages, so the zero ones stay holes in a snapshot whatever the
 * page size. */
static int fill_memory(const struct vmmem_memory *m, double pct, uint64_t seed,
		       uint64_t *written)
{
	const uint64_t hp = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t chunk[512];

	*written = 0;
	for (size_t i = 0; i < vmmem_memory_region_count(m); i++) {
		struct vmmem_region *r = vmmem_memory_region_at(m, i);
		uint64_t gpa = vmmem_region_gpa(r), size = vmmem_region_size(r);

		for (uint64_t off = 0; off < size; off += hp) {
			if (!chosen((gpa + off) / hp, seed, pct))
				continue;
			for (uint64_t c = off; c < off + hp && c < size; c += sizeof(chunk)) {
				uint64_t len = size - c;
				int rc;

				for (size_t k = 0; k < 512; k++)
					chunk[k] = mix((gpa + c) / 8 + k + seed) | 1;
				rc = vmmem_memory_write_exact(m, gpa + c, chunk,
							      len < sizeof(chunk) ? len : sizeof(chunk),
							      NULL);
				if (rc)
					return fail("fill", rc);
			}
			*written += 1;
		}
	}
	return 0;
}

/* FNV-1a over 64-bit words of every region, in GPA order (touches every page). */
static uint64_t checksum(const struct vmmem_memory *m)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < vmmem_memory_region_count(m); i++) {
		struct vmmem_region *r = vmmem_memory_region_at(m, i);
		const uint64_t *w = vmmem_region_host(r);
		uint64_t n = vmmem_region_size(r) / 8;

		for (uint64_t k = 0; k < n; k++)
			h = (h ^ w[k]) * 0x100000001b3ull;
	}
	return h;
}

static void print_id(FILE *f, const uint8_t *id)
{
	for (int i = 0; i < VMMEM_SNAPSHOT_ID_SIZE; i++)
		fprintf(f, "%02x", id[i]);
}

static int open_file(const char *path, int flags, struct vmmem_snapshot **s)
{
	int fd = open(path, flags | O_CLOEXEC, 0644), rc;

	if (fd < 0) {
		fprintf(stderr, "vmmem snapshot: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (s) {
		rc = vmmem_snapshot_open(s, fd);
		close(fd);
		if (rc) {
			fprintf(stderr, "vmmem snapshot: %s: %s: %s\n", path, vmmem_strerror(rc),
				vmmem_errormsg());
			return -1;
		}
		return 0;
	}
	return fd;
}

/* ---- save -------------------------------------------------------------------------------- */

/* What a save reports, text or JSON. */
struct saved {
	uint8_t id[VMMEM_SNAPSHOT_ID_SIZE];
	uint64_t data_bytes;
	double ms;
};

static int save_to(const struct vmmem_memory *m, const char *path, uint32_t flags,
		   const uint8_t *parent, struct saved *out)
{
	struct vmmem_snapshot_save_opts so = { .size = sizeof(so), .flags = flags,
					       .progress = bar_if_tty(), .progress_arg = label_save };
	int fd = open_file(path, O_RDWR | O_CREAT, NULL), rc;
	double t0;

	if (fd < 0)
		return CLI_FAILURE;
	if (parent)
		memcpy(so.parent_id, parent, VMMEM_SNAPSHOT_ID_SIZE);
	t0 = now_ms();
	rc = vmmem_memory_snapshot_save(m, fd, &so);
	out->ms = now_ms() - t0;
	close(fd);
	if (rc)
		return fail("save", rc);
	memcpy(out->id, so.id, sizeof(out->id));
	out->data_bytes = so.data_bytes;
	return 0;
}

static int cmd_save(struct vmmem_ctx *ctx, const struct opts *o, const char *path,
		    const char *default_config)
{
	struct vmmem_memory *m = NULL;
	struct vmmem_snapshot *parent = NULL;
	struct vmmem_snapshot_info info = { .size = sizeof(info) };
	struct saved saved;
	uint64_t pages;
	int rc;

	if (o->diff_of) {
		struct vmmem_restore_opts ro = { .size = sizeof(ro), .mode = VMMEM_RESTORE_MAP };

		if (open_file(o->diff_of, O_RDONLY, &parent) < 0)
			return CLI_FAILURE;
		vmmem_snapshot_info(parent, &info);
		rc = vmmem_snapshot_restore(parent, ctx, &ro, &m, NULL);
		if (rc) {
			vmmem_snapshot_close(parent);
			return fail("restore of the parent", rc);
		}
		/* Track every region (kept as configured where it already is). */
		for (size_t i = 0; i < vmmem_memory_region_count(m); i++) {
			struct vmmem_region *r = vmmem_memory_region_at(m, i);

			if (!vmmem_region_dirty_page_size(r))
				vmmem_region_dirty_enable(r, 0);
		}
	} else {
		struct vmmem_config *cfg;

		rc = vmmem_config_parse(&cfg, o->config ? o->config : default_config);
		if (rc)
			return fail("config", rc);
		rc = vmmem_memory_new_from_config(&m, ctx, cfg);
		vmmem_config_free(cfg);
		if (rc)
			return fail("memory", rc);
	}
	rc = fill_memory(m, o->diff_of ? o->dirty : o->fill, o->seed, &pages);
	if (rc == 0)
		rc = save_to(m, path, o->diff_of ? VMMEM_SNAPSHOT_DIFF : 0,
			     o->diff_of ? info.id : NULL, &saved);
	if (rc == 0 && o->json) {
		printf("{\"file\":");
		cli_json_string(stdout, path);
		printf(",\"kind\":\"%s\",\"data_bytes\":%" PRIu64 ",\"save_ms\":%.3f,\"id\":\"",
		       o->diff_of ? "diff" : "full", saved.data_bytes, saved.ms);
		print_id(stdout, saved.id);
		printf("\",\"pages_written\":%" PRIu64 ",\"checksum\":\"0x%016" PRIx64 "\"}\n",
		       pages, checksum(m));
	} else if (rc == 0) {
		printf("saved %s: %s, %.1f MiB of page data in %.1f ms, id ", path,
		       o->diff_of ? "diff" : "full", saved.data_bytes / 1048576.0, saved.ms);
		print_id(stdout, saved.id);
		printf("\nmemory checksum 0x%016" PRIx64 "\n", checksum(m));
	}
	vmmem_memory_unref(m);
	vmmem_snapshot_close(parent);
	return rc;
}

/* ---- restore ------------------------------------------------------------------------------ */

static int cmd_restore(struct vmmem_ctx *ctx, const struct opts *o, const char *path)
{
	struct vmmem_restore_opts ro = { .size = sizeof(ro), .threads = o->threads,
					 .config = o->config };
	struct vmmem_snapshot_info info = { .size = sizeof(info) };
	struct vmmem_restore *lazy = NULL;
	struct vmmem_memory *m;
	struct vmmem_snapshot *s;
	double t0 = now_ms(), t_open, t_usable, t_first, t_all;
	uint64_t sum, faults = 0;
	volatile uint8_t first;
	int rc;

	if (!o->mode || !strcmp(o->mode, "copy"))
		ro.mode = VMMEM_RESTORE_COPY;
	else if (!strcmp(o->mode, "map"))
		ro.mode = VMMEM_RESTORE_MAP;
	else if (!strcmp(o->mode, "lazy"))
		ro.mode = VMMEM_RESTORE_LAZY;
	else
		return usage_error("unknown restore mode '%s' (copy, map or lazy)", o->mode);
	if (ro.mode == VMMEM_RESTORE_COPY) {
		ro.progress = bar_if_tty();
		ro.progress_arg = label_restore;
	}
	if (open_file(path, O_RDONLY, &s) < 0)
		return CLI_FAILURE;
	vmmem_snapshot_info(s, &info);
	t_open = now_ms();
	rc = vmmem_snapshot_restore(s, ctx, &ro, &m, &lazy);
	t_usable = now_ms();
	if (rc) {
		vmmem_snapshot_close(s);
		return fail("restore", rc);
	}
	first = *(volatile uint8_t *)vmmem_region_host(vmmem_memory_region_at(m, 0));
	(void)first;
	t_first = now_ms();
	sum = checksum(m); /* touches every page */
	if (lazy) {
		rc = vmmem_restore_wait(lazy, -1);
		vmmem_restore_progress(lazy, NULL, NULL, &faults);
		vmmem_restore_free(lazy);
	}
	t_all = now_ms();
	if (rc == 0 && o->json) {
		printf("{\"file\":");
		cli_json_string(stdout, path); /* any bytes: escaped */
		printf(",\"mode\":\"%s\",\"guest_bytes\":%" PRIu64
		       ",\"regions\":%" PRIu64 ",\"open_ms\":%.3f,\"usable_ms\":%.3f,"
		       "\"first_access_ms\":%.3f,\"resident_ms\":%.3f,\"faults\":%" PRIu64
		       ",\"checksum\":\"0x%016" PRIx64 "\"}\n",
		       o->mode ? o->mode : "copy", info.guest_bytes, info.region_count,
		       t_open - t0, t_usable - t0, t_first - t0, t_all - t0, faults, sum);
	} else if (rc == 0) {
		printf("restored %s by %s: %.1f MiB in %" PRIu64 " region%s\n", path,
		       o->mode ? o->mode : "copy", info.guest_bytes / 1048576.0, info.region_count,
		       info.region_count == 1 ? "" : "s");
		printf("  open and check   %10.3f ms\n", t_open - t0);
		printf("  memory usable    %10.3f ms\n", t_usable - t0);
		printf("  first access     %10.3f ms\n", t_first - t0);
		printf("  all resident     %10.3f ms%s\n", t_all - t0,
		       lazy ? "  (every page touched or prefetched)" : "  (every page touched)");
		if (ro.mode == VMMEM_RESTORE_LAZY)
			printf("  faults served    %10" PRIu64 "\n", faults);
		printf("memory checksum 0x%016" PRIx64 "\n", sum);
	}
	vmmem_memory_unref(m);
	vmmem_snapshot_close(s);
	return rc ? fail("restore", rc) : 0;
}

/* ---- info, verify, merge ----------------------------------------------------------------- */

static int cmd_info(const struct opts *o, const char *path)
{
	struct vmmem_snapshot_info info = { .size = sizeof(info) };
	struct vmmem_snapshot *s;

	if (open_file(path, O_RDONLY, &s) < 0)
		return CLI_FAILURE;
	vmmem_snapshot_info(s, &info);
	if (o->json) {
		printf("{\"file\":");
		cli_json_string(stdout, path);
		printf(",\"version\":%u,\"kind\":\"%s\",\"page_size\":%u,\"file_size\":%" PRIu64
		       ",\"guest_bytes\":%" PRIu64 ",\"data_bytes\":%" PRIu64
		       ",\"created_ns\":%" PRIu64 ",\"id\":\"",
		       info.version, info.flags & VMMEM_SNAPSHOT_DIFF ? "diff" : "full",
		       info.page_size, info.file_size, info.guest_bytes, info.data_bytes,
		       info.created_ns);
		print_id(stdout, info.id);
		printf("\",\"parent_id\":\"");
		print_id(stdout, info.parent_id);
		printf("\",\"regions\":[");
	} else {
		printf("snapshot %s\n  format version %u, %s, page size %u\n  id     ", path,
		       info.version, info.flags & VMMEM_SNAPSHOT_DIFF ? "diff" : "full",
		       info.page_size);
		print_id(stdout, info.id);
		if (info.flags & VMMEM_SNAPSHOT_DIFF) {
			printf("\n  parent ");
			print_id(stdout, info.parent_id);
		}
		printf("\n  guest memory %.1f MiB, page data %.1f MiB, file %.1f MiB\n",
		       info.guest_bytes / 1048576.0, info.data_bytes / 1048576.0,
		       info.file_size / 1048576.0);
		printf("%-39s %12s %12s %8s %10s  %s\n", "GPA range", "size", "data", "ranges",
		       "crc32c", "config");
	}
	for (size_t i = 0; i < info.region_count; i++) {
		struct vmmem_snapshot_region r = { .size = sizeof(r) };

		vmmem_snapshot_region(s, i, &r);
		if (o->json) {
			printf("%s{\"gpa\":%" PRIu64 ",\"size\":%" PRIu64 ",\"data_offset\":%" PRIu64
			       ",\"data_bytes\":%" PRIu64 ",\"ranges\":%" PRIu64
			       ",\"crc32c\":\"0x%08x\",\"read_only\":%s,\"config\":",
			       i ? "," : "", r.gpa, r.length, r.data_offset, r.data_bytes,
			       r.range_count, r.data_crc,
			       r.flags & VMMEM_REGION_READ_ONLY ? "true" : "false");
			cli_json_string(stdout, r.spec);
			printf("}");
		} else {
			printf("[0x%016" PRIx64 "-0x%016" PRIx64 "] %12" PRIu64 " %12" PRIu64
			       " %8" PRIu64 " 0x%08x  %s\n",
			       r.gpa, r.gpa + r.length - 1, r.length, r.data_bytes, r.range_count,
			       r.data_crc, r.spec);
		}
	}
	if (o->json)
		printf("]}\n");
	vmmem_snapshot_close(s);
	return 0;
}

static int cmd_verify(const struct opts *o, const char *path)
{
	struct vmmem_snapshot *s;
	double t0 = now_ms();
	int rc;

	if (open_file(path, O_RDONLY, &s) < 0)
		return CLI_FAILURE;
	rc = vmmem_snapshot_verify(s, bar_if_tty(), label_verify);
	vmmem_snapshot_close(s);
	if (rc)
		return fail(path, rc);
	if (o->json) {
		printf("{\"file\":");
		cli_json_string(stdout, path);
		printf(",\"ok\":true,\"verify_ms\":%.3f}\n", now_ms() - t0);
	} else {
		printf("%s: every checksum matches (%.1f ms)\n", path, now_ms() - t0);
	}
	return 0;
}

static int cmd_merge(const struct opts *o, const char *parent_path, const char *diff_path,
		     const char *out_path)
{
	struct vmmem_snapshot *parent = NULL, *diff = NULL;
	bool existed = access(out_path, F_OK) == 0;
	int out, rc = 1;

	if (open_file(parent_path, O_RDONLY, &parent) < 0 ||
	    open_file(diff_path, O_RDONLY, &diff) < 0)
		goto done;
	out = open_file(out_path, O_RDWR | O_CREAT, NULL);
	if (out < 0)
		goto done;
	rc = vmmem_snapshot_merge(parent, diff, out, bar_if_tty(), label_merge);
	close(out);
	if (rc) {
		if (!existed)
			unlink(out_path); /* no half-written file left behind */
		rc = fail("merge", rc);
	} else if (o->json) {
		struct vmmem_snapshot *merged = NULL;
		struct vmmem_snapshot_info info = { .size = sizeof(info) };

		if (open_file(out_path, O_RDONLY, &merged) < 0) {
			rc = CLI_FAILURE;
			goto done;
		}
		vmmem_snapshot_info(merged, &info);
		vmmem_snapshot_close(merged);
		printf("{\"parent\":");
		cli_json_string(stdout, parent_path);
		printf(",\"diff\":");
		cli_json_string(stdout, diff_path);
		printf(",\"out\":");
		cli_json_string(stdout, out_path);
		printf(",\"data_bytes\":%" PRIu64 ",\"id\":\"", info.data_bytes);
		print_id(stdout, info.id);
		printf("\"}\n");
	} else {
		printf("merged %s + %s into %s\n", parent_path, diff_path, out_path);
	}
done:
	vmmem_snapshot_close(parent);
	vmmem_snapshot_close(diff);
	return rc;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static int parse_pct(const char *text, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	return errno || *end || end == text || *out < 0 || *out > 100 ? -1 : 0;
}

int cmd_snapshot(struct vmmem_ctx *ctx, int argc, char **argv, const char *default_config)
{
	static const struct option long_options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "diff-of", required_argument, NULL, 'd' },
		{ "dirty", required_argument, NULL, 'D' },
		{ "fill", required_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	/* Each subcommand's files and the options it takes (getopt's letters above). */
	static const struct {
		const char *name;
		int files;
		const char *takes;
	} subs[] = {
		{ "save", 1, "cdDfsj" }, { "restore", 1, "cmtj" }, { "info", 1, "j" },
		{ "verify", 1, "j" },    { "merge", 3, "j" },
	};
	struct opts o = { .fill = 50, .dirty = 1, .seed = 1 };
	char given[16] = "";
	const char *sub, *takes = NULL;
	char *end;
	int c, n, files = 0;

	if (argc < 2) {
		fputs(snapshot_usage_text, stderr);
		return CLI_USAGE;
	}
	sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		fputs(snapshot_usage_text, stdout);
		return CLI_OK;
	}
	if (!strcmp(sub, "--version") || !strcmp(sub, "-V")) {
		return cli_version();
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(sub, subs[i].name)) {
			takes = subs[i].takes;
			files = subs[i].files;
		}
	if (!takes)
		return usage_error("unknown subcommand '%s'", sub);
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hV", long_options, NULL)) != -1) {
		/* An option another subcommand takes is refused, not silently ignored. */
		if (c != 'h' && c != 'V' && c != '?' && c != ':' && !strchr(takes, c)) {
			const char *name = "?";

			for (size_t i = 0; long_options[i].name; i++)
				if (long_options[i].val == c)
					name = long_options[i].name;
			return usage_error("%s does not take --%s", sub, name);
		}
		if (c != '?' && c != ':' && !strchr(given, c) && strlen(given) + 1 < sizeof(given)) {
			size_t k = strlen(given);

			given[k] = (char)c;
			given[k + 1] = '\0';
		}
		switch (c) {
		case 'c':
			o.config = optarg;
			break;
		case 'd':
			o.diff_of = optarg;
			break;
		case 'D':
			if (parse_pct(optarg, &o.dirty))
				return usage_error("--dirty wants a percentage, not '%s'", optarg);
			break;
		case 'f':
			if (parse_pct(optarg, &o.fill))
				return usage_error("--fill wants a percentage, not '%s'", optarg);
			break;
		case 's':
			errno = 0;
			o.seed = strtoull(optarg, &end, 0);
			if (errno || *end || end == optarg)
				return usage_error("--seed wants a number, not '%s'", optarg);
			break;
		case 'm':
			o.mode = optarg;
			break;
		case 't':
			errno = 0;
			o.threads = (unsigned int)strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || o.threads > 64)
				return usage_error("--threads wants 0..64, not '%s'", optarg);
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			fputs(snapshot_usage_text, stdout);
			return CLI_OK;
		case 'V':
			return cli_version();
		default:
			return usage_error("unknown option or missing value: '%s'", argv[optind - 1]);
		}
	}
	n = argc - optind;
	if (n != files)
		return usage_error("%s takes %d file%s, got %d", sub, files, files == 1 ? "" : "s",
				   n);
	/* save: a full save builds memory (--config, --fill), a diff restores its parent
	 * (--diff-of, --dirty); the two do not mix. */
	if (o.diff_of && (strchr(given, 'c') || strchr(given, 'f')))
		return usage_error("%s", "save --diff-of takes no --config or --fill");
	if (!o.diff_of && strchr(given, 'D'))
		return usage_error("%s", "save --dirty needs --diff-of");
	if (!strcmp(sub, "save"))
		return cmd_save(ctx, &o, argv[optind], default_config);
	if (!strcmp(sub, "restore"))
		return cmd_restore(ctx, &o, argv[optind]);
	if (!strcmp(sub, "info"))
		return cmd_info(&o, argv[optind]);
	if (!strcmp(sub, "verify"))
		return cmd_verify(&o, argv[optind]);
	return cmd_merge(&o, argv[optind], argv[optind + 1], argv[optind + 2]);
}
