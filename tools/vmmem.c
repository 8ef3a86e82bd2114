/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmmem: inspect providers and build guest memory from a config string.
 *
 *   vmmem providers [--verbose] every provider found and its version; with --verbose its
 *                              options and the keys every region takes (type, default)
 *   vmmem map [CONFIG]         build the memory (a built-in default without CONFIG), print
 *                              the region table and check every region with a write/read
 *                              round trip
 *   vmmem snapshot SUBCOMMAND  save, restore, info, verify, merge (tools/snapshot_cmd.c)
 *
 * Plugins are searched on VMMEM_PROVIDER_PATH, then the directory installed with the
 * libvmmem.so the tool runs with (from a build tree: the build's providers, so
 * `build/default/tools/vmmem` works without installing).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmmem.h>

#include "snapshot_cmd.h"

#define DEFAULT_CONFIG                                                                       \
	"anon:gpa=0,size=256M,prealloc=on;"                                                  \
	"memfd:gpa=256M,size=256M,prealloc=on,seal=on"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmem [--provider-path DIRS] providers [--verbose]\n"
		"       vmmem [--provider-path DIRS] map [CONFIG]\n"
		"       vmmem [--provider-path DIRS] snapshot save|restore|info|verify|merge ...\n"
		"                                (vmmem snapshot --help)\n"
		"       vmmem --version | --help\n"
		"\n"
		"CONFIG describes a guest memory, e.g.\n"
		"  'memfd:gpa=0,size=1G,hugetlb=on,hugetlbsize=2M;anon:gpa=4G,size=3G,prealloc=on'\n"
		"Without CONFIG, map uses:\n  '%s'\n",
		DEFAULT_CONFIG);
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "vmmem: %s: %s: %s\n", what, vmmem_strerror(rc), vmmem_errormsg());
	return 1;
}

/* --provider-path replaces the search path; without it the library's own applies
 * (VMMEM_PROVIDER_PATH, then the plugins installed with libvmmem.so, or the build tree's). */
static int set_search_path(struct vmmem_ctx *ctx, const char *explicit_path)
{
	return explicit_path ? vmmem_ctx_set_search_path(ctx, explicit_path) : 0;
}

static const char *type_name(uint32_t type)
{
	switch (type) {
	case 1:
		return "bool";
	case 2:
		return "size";
	case 3:
		return "uint";
	case 4:
		return "string";
	default:
		return "?";
	}
}

/* providers: each provider found; with @verbose also its options and the keys every
 * region takes, each with type and default. */
static int cmd_providers(struct vmmem_ctx *ctx, bool verbose)
{
	char path[PATH_MAX * 2];
	size_t failed = 0, n;

	vmmem_ctx_search_path(ctx, path, sizeof(path));
	vmmem_ctx_load_all(ctx, &failed);
	n = vmmem_ctx_provider_count(ctx);
	printf("search path: %s\n", path);
	printf("%zu provider%s found%s\n", n, n == 1 ? "" : "s",
	       failed ? " (some plugins failed to load, see below)" : "");
	for (size_t i = 0; i < n; i++) {
		const struct vmmem_provider *p = vmmem_ctx_provider_at(ctx, i);
		uint32_t v = vmmem_provider_version(p);

		printf("\n%s %u.%u.%u - %s\n  file: %s\n", vmmem_provider_name(p), v >> 16,
		       (v >> 8) & 0xff, v & 0xff, vmmem_provider_description(p),
		       vmmem_provider_path(p) ? vmmem_provider_path(p) : "(built in)");
		for (size_t j = 0; verbose && j < vmmem_provider_option_count(p); j++) {
			const char *key, *def, *help;
			uint32_t type;

			vmmem_provider_option(p, j, &key, &type, &def, &help);
			printf("  %-14s %-6s %-8s %s\n", key, type_name(type), def ? def : "-", help);
		}
	}
	/* The keys the core handles for every provider (vmmem/config.h has the reference). */
	static const char *const common[][4] = {
		{ "gpa", "size", "required", "guest-physical address of the first byte" },
		{ "size", "size", "required", "bytes" },
		{ "prealloc", "bool", "off", "populate every page at creation" },
		{ "prealloc-threads", "uint", "1", "threads for prealloc (QEMU's caps apply)" },
		{ "dump", "bool", "on", "off: MADV_DONTDUMP (QEMU dump=)" },
		{ "merge", "bool", "off", "on: MADV_MERGEABLE, KSM (QEMU merge=)" },
		{ "readonly", "bool", "off", "refuse guest writes through libvmmem" },
		{ "host-nodes", "nodes", "-", "NUMA nodes, e.g. 0-1,,3 (QEMU host-nodes=)" },
		{ "policy", "enum", "default", "preferred | bind | interleave (QEMU policy=)" },
		{ "lock", "enum", "off", "on | on-fault: mlock2 the pages (QEMU -overcommit mem-lock=)" },
		{ "dirty-log", "bool", "off", "track written pages" },
		{ "dirty-page-size", "size", "4K", "bytes per dirty bit (needs dirty-log=on)" },
		{ "align", "size", "page", "base alignment of the host mapping (QEMU align=)" },
		{ "guard", "bool", "on", "PROT_NONE page below and above the host mapping" },
	};

	if (verbose)
		printf("\nkeys every region takes:\n");
	for (size_t k = 0; verbose && k < sizeof(common) / sizeof(common[0]); k++)
		printf("  %-16s %-6s %-8s %s\n", common[k][0], common[k][1], common[k][2],
		       common[k][3]);
	if (failed)
		fprintf(stderr, "vmmem: %zu plugin%s failed to load; last: %s\n", failed,
			failed == 1 ? "" : "s", vmmem_errormsg());
	return failed ? 1 : 0;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void human(uint64_t v, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int i = 0;

	while (i < 4 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	snprintf(buf, size, "%llu %s", (unsigned long long)v, units[i]);
}

/* Write a pattern at the first, middle and last 8 bytes of the region and read it back. */
static int round_trip(const struct vmmem_memory *m, const struct vmmem_region *r)
{
	uint64_t size = vmmem_region_size(r), gpa = vmmem_region_gpa(r);
	uint64_t offsets[3] = { 0, size / 2 & ~UINT64_C(7), size >= 8 ? size - 8 : 0 };

	if (vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY)
		return vmmem_memory_read_obj(m, gpa, &size, 1) == 0 ? 1 : -1;
	for (int i = 0; i < 3; i++) {
		uint64_t out = 0x766d6d656d000000ULL ^ (gpa + offsets[i]), in = 0;
		size_t len = size < 8 ? size : 8;

		if (vmmem_memory_write_exact(m, gpa + offsets[i], &out, len, NULL) < 0 ||
		    vmmem_memory_read_exact(m, gpa + offsets[i], &in, len, NULL) < 0 ||
		    memcmp(&in, &out, len) != 0)
			return -1;
	}
	return 0;
}

static void describe_flags(const struct vmmem_region *r, char *buf, size_t size)
{
	struct vmmem_vhost_region d;
	int fd = vmmem_region_fd(r);
	int seals = fd >= 0 ? fcntl(fd, F_GET_SEALS) : -1;

	snprintf(buf, size, "%s%s%s",
		 vmmem_region_to_vhost(r, &d, NULL) == 0 ? "shared" : "private",
		 seals > 0 && (seals & F_SEAL_SHRINK) ? ",sealed" : "",
		 (vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY) ? ",ro" : "");
}

static int cmd_map(struct vmmem_ctx *ctx, const char *text)
{
	struct vmmem_config *cfg = NULL;
	struct vmmem_region **regions;
	struct vmmem_memory *mem = NULL;
	double *ms;
	size_t n;
	int rc, bad = 0;

	rc = vmmem_config_parse(&cfg, text);
	if (rc)
		return fail("config", rc);
	n = vmmem_config_region_count(cfg);
	regions = calloc(n, sizeof(*regions));
	ms = calloc(n, sizeof(*ms));
	if (!regions || !ms) {
		fprintf(stderr, "vmmem: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		double t0 = now_ms();

		rc = vmmem_region_create_from_config(&regions[i], ctx, cfg, i);
		ms[i] = now_ms() - t0;
	}
	if (rc == 0)
		rc = vmmem_memory_new(&mem, regions, n);
	for (size_t i = 0; i < n; i++)
		vmmem_region_unref(regions[i]);
	free(regions);
	if (rc) {
		free(ms);
		vmmem_config_free(cfg);
		return fail("map", rc);
	}
	printf("config: %s\n", text);
	printf("%-39s %-9s %-10s %-8s %-3s %-20s %10s  %s\n", "GPA range", "size", "provider",
	       "page", "fd", "flags", "create", "check");
	for (size_t i = 0; i < vmmem_memory_region_count(mem); i++) {
		struct vmmem_region *r = vmmem_memory_region_at(mem, i);
		const struct vmmem_provider *p = vmmem_region_provider(r);
		char size[32], page[32], flags[64], fd[16];
		const char *provider_name = p ? vmmem_provider_name(p) : "-";
		double t = 0;
		int check = round_trip(mem, r);

		/* The table is in GPA order; find this region's creation time by its config. */
		for (size_t j = 0; j < n; j++) {
			uint64_t gpa;

			vmmem_config_region(cfg, j, NULL, &gpa, NULL);
			if (gpa == vmmem_region_gpa(r))
				t = ms[j];
		}
		human(vmmem_region_size(r), size, sizeof(size));
		human(vmmem_region_page_size(r), page, sizeof(page));
		describe_flags(r, flags, sizeof(flags));
		if (vmmem_region_fd(r) >= 0)
			snprintf(fd, sizeof(fd), "%d", vmmem_region_fd(r));
		else
			snprintf(fd, sizeof(fd), "-");
		printf("[0x%016llx-0x%016llx] %-9s %-10s %-8s %-3s %-20s %7.2f ms  %s\n",
		       (unsigned long long)vmmem_region_gpa(r), (unsigned long long)vmmem_region_last(r),
		       size, provider_name, page, fd, flags, t,
		       check == 0 ? "ok" : check > 0 ? "ok (read-only: read)" : "FAILED");
		bad |= check < 0;
	}
	printf("%s\n", bad ? "round-trip check FAILED" : "all regions passed the write/read round trip");
	free(ms);
	vmmem_memory_unref(mem);
	vmmem_config_free(cfg);
	return bad;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "provider-path", required_argument, NULL, 'p' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *provider_path = NULL;
	struct vmmem_ctx *ctx = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "+p:Vh", long_options, NULL)) != -1) {
		switch (c) {
		case 'p':
			provider_path = optarg;
			break;
		case 'V':
			printf("vmmem %s\n", vmmem_version_string());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	rc = vmmem_ctx_new(&ctx);
	if (rc)
		return fail("context", rc);
	rc = set_search_path(ctx, provider_path);
	if (rc) {
		vmmem_ctx_unref(ctx);
		return fail("search path", rc);
	}
	if (!strcmp(argv[optind], "providers") && optind + 1 == argc)
		rc = cmd_providers(ctx, false);
	else if (!strcmp(argv[optind], "providers") && optind + 2 == argc &&
		 (!strcmp(argv[optind + 1], "--verbose") || !strcmp(argv[optind + 1], "-v")))
		rc = cmd_providers(ctx, true);
	else if (!strcmp(argv[optind], "snapshot"))
		rc = cmd_snapshot(ctx, argc - optind, argv + optind, DEFAULT_CONFIG);
	else if (!strcmp(argv[optind], "map") && optind + 2 >= argc)
		rc = cmd_map(ctx, optind + 1 < argc ? argv[optind + 1] : DEFAULT_CONFIG);
	else {
		usage(stderr);
		rc = 2;
	}
	vmmem_ctx_unref(ctx);
	return rc;
}
