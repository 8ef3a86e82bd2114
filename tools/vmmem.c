/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmmem: inspect providers and build guest memory from a config string (vmmem(1)).
 *
 *   vmmem providers [--verbose] [--json]   every provider found and its version; with
 *                                          --verbose (always in JSON) its options and the
 *                                          keys every region takes (type, default)
 *   vmmem map [--json] [CONFIG]            build the memory (a built-in default without
 *                                          CONFIG), print the region table and check every
 *                                          region with a write/read round trip
 *   vmmem snapshot SUBCOMMAND ...          save, restore, info, verify, merge
 *                                          (tools/snapshot_cmd.c)
 *   vmmem help [COMMAND]                   usage of the tool or of one command
 *
 * Every command takes --help and --version. Exit status: 0 ok, 1 runtime error, 2 usage
 * error (tools/cli.h). Plugins are searched on VMMEM_PROVIDER_PATH, then the directory
 * installed with the libvmmem.so the tool runs with (from a build tree: the build's
 * providers, so `build/default/tools/vmmem` works without installing).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
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

#include "cli.h"
#include "snapshot_cmd.h"

#define DEFAULT_CONFIG                                                                       \
	"anon:gpa=0,size=256M,prealloc=on;"                                                  \
	"memfd:gpa=256M,size=256M,prealloc=on,seal=on"

static const char usage_providers[] =
	"usage: vmmem [--provider-path DIRS] providers [--verbose] [--json]\n"
	"\n"
	"Lists the provider plugins on the search path with version, description and file;\n"
	"--verbose adds each provider's options and the keys every region takes (type,\n"
	"default). --json prints one JSON object with all of it.\n";

static const char usage_map[] =
	"usage: vmmem [--provider-path DIRS] map [--json] [CONFIG]\n"
	"\n"
	"Builds the guest memory CONFIG describes, prints its regions and checks each with\n"
	"a write/read round trip. CONFIG is a list of regions, e.g.\n"
	"  'memfd:gpa=0,size=1G,hugetlb=on,hugetlbsize=2M;anon:gpa=4G,size=3G,prealloc=on'\n"
	"(vmmem-config(5)). Without CONFIG:\n  '" DEFAULT_CONFIG "'\n";

static const char usage_help[] =
	"usage: vmmem help [COMMAND]\n"
	"\n"
	"Prints the usage of COMMAND (providers, map, snapshot, help), or of the tool.\n";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmem [--provider-path DIRS] providers [--verbose] [--json]\n"
		"       vmmem [--provider-path DIRS] map [--json] [CONFIG]\n"
		"       vmmem [--provider-path DIRS] snapshot save|restore|info|verify|merge ...\n"
		"       vmmem help [COMMAND]\n"
		"       vmmem --version | --help\n"
		"\n"
		"Every command takes --help and --version. Without CONFIG, map uses:\n  '%s'\n"
		"Exit status: 0 ok, 1 runtime error, 2 usage error. See vmmem(1).\n",
		DEFAULT_CONFIG);
}

/* A usage error: one line naming it, the pointer to --help, status 2. */
__attribute__((format(printf, 2, 3))) static int usage_error(const char *cmd, const char *fmt,
							      ...)
{
	va_list ap;

	fprintf(stderr, "vmmem%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsee 'vmmem %s%s--help'\n", cmd ? cmd : "", cmd ? " " : "");
	return CLI_USAGE;
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "vmmem: %s: %s: %s\n", what, vmmem_strerror(rc), vmmem_errormsg());
	return cli_status(rc);
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

/* The keys the core handles for every provider (docs/CONFIG.md has the reference; tool_test
 * checks that every key of core/config.c is here). */
static const char *const common_keys[][4] = {
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
#define N_COMMON_KEYS (sizeof(common_keys) / sizeof(common_keys[0]))

/* "key": value pairs of one option or key, as JSON. */
static void json_option(const char *key, const char *type, const char *def, const char *help)
{
	printf("{\"key\":");
	cli_json_string(stdout, key);
	printf(",\"type\":");
	cli_json_string(stdout, type);
	printf(",\"default\":");
	if (def && strcmp(def, "-") != 0) /* the text listing's "-": no default */
		cli_json_string(stdout, def);
	else
		printf("null");
	printf(",\"help\":");
	cli_json_string(stdout, help ? help : "");
	putchar('}');
}

static void providers_json(struct vmmem_ctx *ctx, const char *path, size_t failed)
{
	size_t n = vmmem_ctx_provider_count(ctx);

	printf("{\"search_path\":");
	cli_json_string(stdout, path);
	printf(",\"providers\":[");
	for (size_t i = 0; i < n; i++) {
		const struct vmmem_provider *p = vmmem_ctx_provider_at(ctx, i);
		uint32_t v = vmmem_provider_version(p);

		printf("%s{\"name\":", i ? "," : "");
		cli_json_string(stdout, vmmem_provider_name(p));
		printf(",\"version\":\"%u.%u.%u\",\"description\":", v >> 16, (v >> 8) & 0xff,
		       v & 0xff);
		cli_json_string(stdout, vmmem_provider_description(p));
		printf(",\"file\":");
		if (vmmem_provider_path(p))
			cli_json_string(stdout, vmmem_provider_path(p));
		else
			printf("null");
		printf(",\"options\":[");
		for (size_t j = 0; j < vmmem_provider_option_count(p); j++) {
			const char *key, *def, *help;
			uint32_t type;

			vmmem_provider_option(p, j, &key, &type, &def, &help);
			if (j)
				putchar(',');
			json_option(key, type_name(type), def, help);
		}
		printf("]}");
	}
	printf("],\"common_keys\":[");
	for (size_t k = 0; k < N_COMMON_KEYS; k++) {
		if (k)
			putchar(',');
		json_option(common_keys[k][0], common_keys[k][1], common_keys[k][2],
			    common_keys[k][3]);
	}
	printf("],\"failed\":%zu}\n", failed);
}

static void providers_text(struct vmmem_ctx *ctx, const char *path, size_t failed,
			   bool verbose)
{
	size_t n = vmmem_ctx_provider_count(ctx);

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
	if (!verbose)
		return;
	printf("\nkeys every region takes:\n");
	for (size_t k = 0; k < N_COMMON_KEYS; k++)
		printf("  %-16s %-6s %-8s %s\n", common_keys[k][0], common_keys[k][1],
		       common_keys[k][2], common_keys[k][3]);
}

/* providers: each provider found; with @verbose also its options and the keys every
 * region takes, each with type and default; with @json all of it as one JSON object. */
static int cmd_providers(struct vmmem_ctx *ctx, bool verbose, bool json)
{
	char path[PATH_MAX * 2];
	size_t failed = 0;

	vmmem_ctx_search_path(ctx, path, sizeof(path));
	vmmem_ctx_load_all(ctx, &failed);
	if (json)
		providers_json(ctx, path, failed);
	else
		providers_text(ctx, path, failed, verbose);
	if (failed)
		fprintf(stderr, "vmmem: %zu plugin%s failed to load; last: %s\n", failed,
			failed == 1 ? "" : "s", vmmem_errormsg());
	return failed ? CLI_FAILURE : CLI_OK;
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

/* What the region table says about a region besides its numbers. */
struct region_kind {
	bool shared; /* importable by another process (vhost-user) */
	bool sealed; /* its memfd cannot shrink */
	bool read_only;
};

static struct region_kind region_kind(const struct vmmem_region *r)
{
	struct vmmem_vhost_region d;
	int fd = vmmem_region_fd(r);
	int seals = fd >= 0 ? fcntl(fd, F_GET_SEALS) : -1;

	return (struct region_kind){
		.shared = vmmem_region_to_vhost(r, &d, NULL) == 0,
		.sealed = seals > 0 && (seals & F_SEAL_SHRINK),
		.read_only = (vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY) != 0,
	};
}

/* The creation time of the region at @gpa: the table is in GPA order, the times in config
 * order. */
static double create_ms(const struct vmmem_config *cfg, const double *ms, size_t n, uint64_t gpa)
{
	for (size_t j = 0; j < n; j++) {
		uint64_t g;

		vmmem_config_region(cfg, j, NULL, &g, NULL);
		if (g == gpa)
			return ms[j];
	}
	return 0;
}

static void map_table_row(const struct vmmem_region *r, double t, int check)
{
	const struct vmmem_provider *p = vmmem_region_provider(r);
	struct region_kind k = region_kind(r);
	char size[32], page[32], flags[64], fd[16];

	human(vmmem_region_size(r), size, sizeof(size));
	human(vmmem_region_page_size(r), page, sizeof(page));
	snprintf(flags, sizeof(flags), "%s%s%s", k.shared ? "shared" : "private",
		 k.sealed ? ",sealed" : "", k.read_only ? ",ro" : "");
	if (vmmem_region_fd(r) >= 0)
		snprintf(fd, sizeof(fd), "%d", vmmem_region_fd(r));
	else
		snprintf(fd, sizeof(fd), "-");
	printf("[0x%016llx-0x%016llx] %-9s %-10s %-8s %-3s %-20s %7.2f ms  %s\n",
	       (unsigned long long)vmmem_region_gpa(r), (unsigned long long)vmmem_region_last(r),
	       size, p ? vmmem_provider_name(p) : "-", page, fd, flags, t,
	       check == 0 ? "ok" : check > 0 ? "ok (read-only: read)" : "FAILED");
}

static void map_json_row(const struct vmmem_region *r, double t, int check, bool first)
{
	const struct vmmem_provider *p = vmmem_region_provider(r);
	struct region_kind k = region_kind(r);

	printf("%s{\"gpa\":%llu,\"last\":%llu,\"size\":%llu,\"page_size\":%llu,"
	       "\"provider\":",
	       first ? "" : ",", (unsigned long long)vmmem_region_gpa(r),
	       (unsigned long long)vmmem_region_last(r), (unsigned long long)vmmem_region_size(r),
	       (unsigned long long)vmmem_region_page_size(r));
	cli_json_string(stdout, p ? vmmem_provider_name(p) : "");
	printf(",\"fd\":%d,\"shared\":%s,\"sealed\":%s,\"read_only\":%s,\"create_ms\":%.3f,"
	       "\"check\":\"%s\"}",
	       vmmem_region_fd(r), k.shared ? "true" : "false", k.sealed ? "true" : "false",
	       k.read_only ? "true" : "false", t,
	       check == 0 ? "ok" : check > 0 ? "read-only" : "failed");
}

static int cmd_map(struct vmmem_ctx *ctx, const char *text, bool json)
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
		free(regions);
		free(ms);
		vmmem_config_free(cfg);
		fprintf(stderr, "vmmem: out of memory\n");
		return CLI_FAILURE;
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
	if (json) {
		printf("{\"config\":");
		cli_json_string(stdout, text);
		printf(",\"regions\":[");
	} else {
		printf("config: %s\n", text);
		printf("%-39s %-9s %-10s %-8s %-3s %-20s %10s  %s\n", "GPA range", "size",
		       "provider", "page", "fd", "flags", "create", "check");
	}
	for (size_t i = 0; i < vmmem_memory_region_count(mem); i++) {
		struct vmmem_region *r = vmmem_memory_region_at(mem, i);
		double t = create_ms(cfg, ms, n, vmmem_region_gpa(r));
		int check = round_trip(mem, r);

		if (json)
			map_json_row(r, t, check, i == 0);
		else
			map_table_row(r, t, check);
		bad |= check < 0;
	}
	if (json)
		printf("],\"ok\":%s}\n", bad ? "false" : "true");
	else
		printf("%s\n", bad ? "round-trip check FAILED"
				   : "all regions passed the write/read round trip");
	free(ms);
	vmmem_memory_unref(mem);
	vmmem_config_free(cfg);
	return bad ? CLI_FAILURE : CLI_OK;
}

/* ---- commands ------------------------------------------------------------------------ */

/* The options of the commands (each takes --help and --version). */
enum { OPT_HELP = 'h', OPT_VERSION = 'V', OPT_JSON = 'j', OPT_VERBOSE = 'v' };

/* Parse a command's options; *status is set and false returned when the command must not
 * run (--help, --version, a bad option). */
static bool command_options(const char *cmd, const char *usage_text, int argc, char **argv,
			    bool allow_verbose, bool *json, bool *verbose, int *status)
{
	static const struct option all[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, allow_verbose ? "+hVjv" : "+hVj", all, NULL)) != -1) {
		switch (c) {
		case OPT_HELP:
			fputs(usage_text, stdout);
			*status = CLI_OK;
			return false;
		case OPT_VERSION:
			*status = cli_version();
			return false;
		case OPT_JSON:
			*json = true;
			break;
		case OPT_VERBOSE:
			if (allow_verbose) {
				*verbose = true;
				break;
			}
			/* fall through */
		default:
			*status = usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
			return false;
		}
	}
	return true;
}

static int run_providers(struct vmmem_ctx *ctx, int argc, char **argv)
{
	bool json = false, verbose = false;
	int status;

	if (!command_options("providers", usage_providers, argc, argv, true, &json, &verbose,
			     &status))
		return status;
	if (optind < argc)
		return usage_error("providers", "unexpected argument '%s'", argv[optind]);
	return cmd_providers(ctx, verbose, json);
}

static int run_map(struct vmmem_ctx *ctx, int argc, char **argv)
{
	bool json = false, verbose = false;
	int status;

	if (!command_options("map", usage_map, argc, argv, false, &json, &verbose, &status))
		return status;
	if (argc - optind > 1)
		return usage_error("map", "one CONFIG at most, got '%s' too", argv[optind + 1]);
	return cmd_map(ctx, optind < argc ? argv[optind] : DEFAULT_CONFIG, json);
}

static int run_snapshot(struct vmmem_ctx *ctx, int argc, char **argv)
{
	return cmd_snapshot(ctx, argc, argv, DEFAULT_CONFIG);
}

static int run_help(struct vmmem_ctx *ctx, int argc, char **argv);

static const struct command {
	const char *name;
	int (*run)(struct vmmem_ctx *ctx, int argc, char **argv);
	bool needs_ctx;
	const char *usage; /* COMMAND --help, vmmem help COMMAND */
} commands[] = {
	{ "providers", run_providers, true, usage_providers },
	{ "map", run_map, true, usage_map },
	{ "snapshot", run_snapshot, true, snapshot_usage_text },
	{ "help", run_help, false, usage_help },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int run_help(struct vmmem_ctx *ctx, int argc, char **argv)
{
	const struct command *cmd;
	bool json = false, verbose = false;
	int status;

	(void)ctx;
	if (!command_options("help", usage_help, argc, argv, false, &json, &verbose, &status))
		return status;
	if (json)
		return usage_error("help", "%s", "help has no JSON output");
	if (argc - optind > 1)
		return usage_error("help", "one COMMAND at most, got '%s' too", argv[optind + 1]);
	if (optind == argc) {
		usage(stdout);
		return CLI_OK;
	}
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error("help", "unknown command '%s'", argv[optind]);
	fputs(cmd->usage, stdout);
	return CLI_OK;
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
	const struct command *cmd;
	struct vmmem_ctx *ctx = NULL;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+p:Vh", long_options, NULL)) != -1) {
		switch (c) {
		case 'p':
			provider_path = optarg;
			break;
		case 'V':
			return cli_version();
		case 'h':
			usage(stdout);
			return CLI_OK;
		default:
			return usage_error(NULL, "unknown option or missing value: '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd)
		return usage_error(NULL, "unknown command '%s'", argv[optind]);
	if (cmd->needs_ctx) {
		rc = vmmem_ctx_new(&ctx);
		if (rc)
			return fail("context", rc);
		rc = set_search_path(ctx, provider_path);
		if (rc) {
			vmmem_ctx_unref(ctx);
			return fail("search path", rc);
		}
	}
	rc = cmd->run(ctx, argc - optind, argv + optind);
	vmmem_ctx_unref(ctx);
	return rc;
}
