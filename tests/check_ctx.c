/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Unit tests for vmmem/ctx.h: contexts, the provider search path, the plugin loader (with
 * the purpose-built broken plugins of tests/plugins/), in-process providers registered with
 * vmmem_ctx_register_provider(), provider accessors, regions and memories made from config
 * strings, plugin lifetime, and concurrent use of one context. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmmem/provider.h>

#include "testutil.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)

/* Non-NULL values stored in out parameters before a call, to see failures reset them. */
#define REGION_SENTINEL ((struct vmmem_region *)(uintptr_t)0x5a5a5a5a5a5a5000u)
#define MEMORY_SENTINEL ((struct vmmem_memory *)(uintptr_t)0x5a5a5a5a5a5a6000u)
#define PROVIDER_SENTINEL ((const struct vmmem_provider *)(uintptr_t)0x5a5a5a5a5a5a7000u)

/* From the environment ctest sets (main() skips the suite without them). */
static const char *provider_dir; /* the real providers: anon, memfd, hugetlbfs */
static const char *plugin_dir;   /* the test plugins */
static char both_dirs[2 * PATH_MAX + 2]; /* "provider_dir:plugin_dir" */

/* ---- helpers ---- */

static struct vmmem_ctx *ctx_with_path(const char *path)
{
	struct vmmem_ctx *ctx = NULL;

	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	ck_assert_ptr_nonnull(ctx);
	if (path)
		ck_assert_int_eq(vmmem_ctx_set_search_path(ctx, path), 0);
	return ctx;
}

static void plugin_file(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/libvmmem-%s.so", dir, name);

	ck_assert(n > 0 && (size_t)n < size);
}

/* Is a file named path mapped into this process (per /proc/self/maps)? */
static bool path_mapped(const char *path)
{
	char real[PATH_MAX], line[PATH_MAX + 256];
	const char *want = realpath(path, real) ? real : path;
	FILE *f = fopen("/proc/self/maps", "re");
	bool found = false;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n'), *name = strchr(line, '/');

		if (nl)
			*nl = '\0';
		if (name && !strcmp(name, want))
			found = true;
	}
	fclose(f);
	return found;
}

static bool plugin_mapped(const char *dir, const char *name)
{
	char path[PATH_MAX];

	plugin_file(path, sizeof(path), dir, name);
	return path_mapped(path);
}

/* Number of lines of /proc/self/maps containing needle. */
static size_t maps_lines_containing(const char *needle)
{
	char line[PATH_MAX + 256];
	FILE *f = fopen("/proc/self/maps", "re");
	size_t n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* VmSize of this process, in KiB. */
static long vm_size_kib(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	long kib = -1;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
			break;
	fclose(f);
	ck_assert_int_gt(kib, 0);
	return kib;
}

/* The lowest free descriptor number (to detect leaked descriptors). */
static int lowest_free_fd(void)
{
	int fd = dup(0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(close(fd), 0);
	return fd;
}

/* Make the thread's error message something no test looks for. */
static void reset_errormsg(void)
{
	uint64_t v;

	ck_assert_int_eq(vmmem_parse_size("reset", &v), VMMEM_E_CONFIG_VALUE);
}

/* Does msg name byte position pos, as "position N" or "positions M and N"? */
static bool names_position(const char *msg, size_t pos)
{
	for (const char *p = strstr(msg, "position"); p; p = strstr(p + 1, "position")) {
		const char *q = p + strlen("position");
		char *end;

		if (*q == 's')
			q++;
		for (int n = 0; n < 2; n++) {
			while (*q == ' ')
				q++;
			if (*q < '0' || *q > '9')
				break;
			if (strtoull(q, &end, 10) == pos)
				return true;
			q = end;
			if (strncmp(q, " and", 4) != 0)
				break;
			q += 4;
		}
	}
	return false;
}

static void assert_filled(const struct vmmem_region *r, uint8_t byte)
{
	const uint8_t *p = vmmem_region_host(r);
	uint64_t size = vmmem_region_size(r);

	ck_assert_ptr_nonnull(p);
	for (uint64_t i = 0; i < size; i++)
		if (p[i] != byte)
			ck_abort_msg("byte %llu is 0x%02x, expected 0x%02x", (unsigned long long)i,
				     p[i], byte);
}

static struct vmmem_region *create_ok(struct vmmem_ctx *ctx, const char *spec)
{
	struct vmmem_region *r = REGION_SENTINEL;
	int rc = vmmem_region_create(&r, ctx, spec);

	ck_assert_msg(rc == 0, "'%s': %d (%s): %s", spec, rc, vmmem_strerror(rc), vmmem_errormsg());
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_ne(r, REGION_SENTINEL);
	return r;
}

static bool provider_registered(struct vmmem_ctx *ctx, const char *name)
{
	for (size_t i = 0; i < vmmem_ctx_provider_count(ctx); i++)
		if (!strcmp(vmmem_provider_name(vmmem_ctx_provider_at(ctx, i)), name))
			return true;
	return false;
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	ck_assert_int_ge(in, 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(fchmod(out, mode), 0);
	ck_assert_int_eq(close(out), 0);
	ck_assert_int_eq(close(in), 0);
}

/* ---- in-process providers (registered with vmmem_ctx_register_provider) ---- */

enum { IP_FLAG, IP_COUNT, IP_BIG, IP_LABEL, IP_NAME2, IP_N };

static const struct vmmem_option_desc inproc_options[] = {
	[IP_FLAG] = { "flag", VMMEM_OPTION_BOOL, 0, "on", "a bool, default on" },
	[IP_COUNT] = { "count", VMMEM_OPTION_UINT, 0, "7", "a uint, default 7" },
	[IP_BIG] = { "big", VMMEM_OPTION_SIZE, 0, "2M", "a size, default 2M" },
	[IP_LABEL] = { "label", VMMEM_OPTION_STRING, 0, NULL, "a string without default" },
	[IP_NAME2] = { "name2", VMMEM_OPTION_STRING, 0, "dflt", "a string, default dflt" },
	{ 0 },
};

/* What the in-process provider saw (single-threaded tests only). */
static struct {
	unsigned int creates, destroys, discards;
	struct vmmem_provider_params params;
	struct vmmem_option_value values[IP_N];
	char strs[IP_N][64];
	bool str_null[IP_N];
	/* checks made in inproc_valid_init on the core's table */
	bool core_ok, alloc_zeroed;
	int set_error_rc;
} rec;

static const struct vmmem_core_api *inproc_core;
static int inproc_data; /* its address is the provider_data every op must get back */

static int inproc_create(void *data, const struct vmmem_provider_params *p,
			 struct vmmem_mapping *out)
{
	const char *label;
	void *addr;

	rec.creates++;
	if (data != &inproc_data)
		return inproc_core->set_error(-EINVAL, "inproc: wrong provider_data");
	rec.params = *p;
	for (uint32_t i = 0; i < p->n_options && i < IP_N; i++) {
		rec.values[i] = p->options[i];
		rec.str_null[i] = p->options[i].str == NULL;
		snprintf(rec.strs[i], sizeof(rec.strs[i]), "%s",
			 p->options[i].str ? p->options[i].str : "");
		rec.values[i].str = NULL; /* valid during create only */
	}
	label = p->n_options > IP_LABEL ? p->options[IP_LABEL].str : NULL;
	if (label && !strcmp(label, "fail"))
		return inproc_core->set_error(-EPERM, "inproc: asked to fail");
	addr = mmap(NULL, p->length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (addr == MAP_FAILED)
		return inproc_core->set_error(-errno, "inproc: mmap: %m");
	out->addr = addr;
	out->length = p->length;
	out->page_size = inproc_core->host_page_size();
	if (label && !strcmp(label, "badlen"))
		out->length = p->length / 2; /* not what was asked for */
	return 0;
}

static void inproc_destroy(void *data, struct vmmem_mapping *m)
{
	(void)data;
	rec.destroys++;
	munmap(m->addr, m->length);
}

static int inproc_discard(void *data, struct vmmem_mapping *m, uint64_t offset, uint64_t length)
{
	(void)data;
	rec.discards++;
	if (madvise((char *)m->addr + offset, length, MADV_DONTNEED) < 0)
		return -errno;
	return 0;
}

static const struct vmmem_provider_ops inproc_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = inproc_create,
	.destroy = inproc_destroy,
	.discard = inproc_discard,
};

static const struct vmmem_provider_ops inproc_ops_nodiscard = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = inproc_create,
	.destroy = inproc_destroy,
};

static const struct vmmem_provider_ops inproc_ops_small = {
	.size = (uint32_t)offsetof(struct vmmem_provider_ops, destroy), /* ends before destroy */
	.create = inproc_create,
	.destroy = inproc_destroy,
};

static const struct vmmem_provider_ops inproc_ops_nocreate = {
	.size = sizeof(struct vmmem_provider_ops),
	.destroy = inproc_destroy,
};

static const struct vmmem_provider_ops inproc_ops_nodestroy = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = inproc_create,
};

/* A complete, valid description named name with the given ops. */
static struct vmmem_provider_desc inproc_desc(const char *name,
					      const struct vmmem_provider_ops *ops)
{
	return (struct vmmem_provider_desc){
		.size = sizeof(struct vmmem_provider_desc),
		.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
		.abi_minor = VMMEM_PROVIDER_ABI_MINOR,
		.version = 0x020304,
		.name = name,
		.description = "in-process test provider",
		.options = inproc_options,
		.ops = ops,
		.provider_data = &inproc_data,
	};
}

static int inproc_valid_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("inproc", &inproc_ops);
	unsigned char *mem;

	inproc_core = core;
	rec.core_ok = core->size >= sizeof(struct vmmem_core_api) &&
		      core->abi_major == VMMEM_PROVIDER_ABI_MAJOR && core->register_provider &&
		      core->set_error && core->alloc && core->free && core->prealloc &&
		      core->host_page_size &&
		      core->host_page_size() == (uint64_t)sysconf(_SC_PAGESIZE);
	mem = core->alloc(64);
	rec.alloc_zeroed = mem != NULL;
	for (size_t i = 0; mem && i < 64; i++)
		rec.alloc_zeroed = rec.alloc_zeroed && mem[i] == 0;
	core->free(mem);
	rec.set_error_rc = core->set_error(-ENOSPC, "inproc: set_error %s %d", "works", 42);
	return core->register_provider(h, &d);
}

static int inproc_nodiscard_init(const struct vmmem_core_api *core,
				 struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("nodiscard", &inproc_ops_nodiscard);

	inproc_core = core;
	return core->register_provider(h, &d);
}

/* Registered under the name of a real plugin: shadows it. */
static int inproc_anon_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("anon", &inproc_ops);

	inproc_core = core;
	return core->register_provider(h, &d);
}

static int inproc_two_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc a = inproc_desc("twoa", &inproc_ops);
	struct vmmem_provider_desc b = inproc_desc("twob", &inproc_ops);
	int rc;

	inproc_core = core;
	rc = core->register_provider(h, &a);
	return rc ? rc : core->register_provider(h, &b);
}

/* A provider built against a newer minor ABI: larger tables with fields this core does not
 * know, which must be ignored. */
struct newer_ops {
	struct vmmem_provider_ops base;
	int (*future_op)(void *data, uint64_t arg);
	uint64_t future_flags;
};

struct newer_desc {
	struct vmmem_provider_desc base;
	const char *future_text;
	uint64_t future_flags[4];
};

static int future_op_never_called(void *data, uint64_t arg)
{
	(void)data;
	(void)arg;
	abort();
}

static const struct newer_ops inproc_newer_ops = {
	.base = { .size = sizeof(struct newer_ops), .create = inproc_create,
		  .destroy = inproc_destroy, .discard = inproc_discard },
	.future_op = future_op_never_called,
	.future_flags = UINT64_MAX,
};

static int inproc_newer_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct newer_desc d = {
		.base = inproc_desc("newer", &inproc_newer_ops.base),
		.future_text = "from the future",
		.future_flags = { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX },
	};

	d.base.size = sizeof(struct newer_desc);
	d.base.abi_minor = VMMEM_PROVIDER_ABI_MINOR + 1;
	inproc_core = core;
	return core->register_provider(h, &d.base);
}

/* Entry points that must fail with VMMEM_E_PROVIDER_ABI. */
static int inproc_smallops_init(const struct vmmem_core_api *core,
				struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("smallops", &inproc_ops_small);

	return core->register_provider(h, &d);
}

static int inproc_smalldesc_init(const struct vmmem_core_api *core,
				 struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("smalldesc", &inproc_ops);

	d.size = (uint32_t)offsetof(struct vmmem_provider_desc, ops);
	return core->register_provider(h, &d);
}

static int inproc_nextmajor_init(const struct vmmem_core_api *core,
				 struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("nextmajor", &inproc_ops);

	d.abi_major = VMMEM_PROVIDER_ABI_MAJOR + 1;
	return core->register_provider(h, &d);
}

static int inproc_major0_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("majorzero", &inproc_ops);

	d.abi_major = 0;
	return core->register_provider(h, &d);
}

/* Entry points that must fail with VMMEM_E_PROVIDER_INVALID. */
static int register_named(const struct vmmem_core_api *core, struct vmmem_provider_handle *h,
			  const char *name)
{
	struct vmmem_provider_desc d = inproc_desc(name, &inproc_ops);

	return core->register_provider(h, &d);
}

static int inproc_nocreate_init(const struct vmmem_core_api *core,
				struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("nocreate", &inproc_ops_nocreate);

	return core->register_provider(h, &d);
}

static int inproc_nodestroy_init(const struct vmmem_core_api *core,
				 struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("nodestroy", &inproc_ops_nodestroy);

	return core->register_provider(h, &d);
}

static int inproc_noops_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = inproc_desc("noops", NULL);

	return core->register_provider(h, &d);
}

static int inproc_nulldesc_init(const struct vmmem_core_api *core,
				struct vmmem_provider_handle *h)
{
	return core->register_provider(h, NULL);
}

static int inproc_nullname_init(const struct vmmem_core_api *core,
				struct vmmem_provider_handle *h)
{
	return register_named(core, h, NULL);
}

static int inproc_emptyname_init(const struct vmmem_core_api *core,
				 struct vmmem_provider_handle *h)
{
	return register_named(core, h, "");
}

static int inproc_uppername_init(const struct vmmem_core_api *core,
				 struct vmmem_provider_handle *h)
{
	return register_named(core, h, "Upper");
}

static int inproc_slashname_init(const struct vmmem_core_api *core,
				 struct vmmem_provider_handle *h)
{
	return register_named(core, h, "a/b");
}

static int register_with_options(const struct vmmem_core_api *core,
				 struct vmmem_provider_handle *h,
				 const struct vmmem_option_desc *options)
{
	struct vmmem_provider_desc d = inproc_desc("badoptions", &inproc_ops);

	d.options = options;
	return core->register_provider(h, &d);
}

#define OPTION_TABLE_INIT(name_, ...)                                                          \
	static int name_(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)  \
	{                                                                                      \
		static const struct vmmem_option_desc options[] = { __VA_ARGS__, { 0 } };      \
		return register_with_options(core, h, options);                                \
	}

OPTION_TABLE_INIT(inproc_opt_gpa_init, { "gpa", VMMEM_OPTION_SIZE, 0, NULL, "reserved" })
OPTION_TABLE_INIT(inproc_opt_prealloc_init, { "prealloc", VMMEM_OPTION_BOOL, 0, NULL, "reserved" })
OPTION_TABLE_INIT(inproc_opt_threads_init,
		  { "prealloc-threads", VMMEM_OPTION_UINT, 0, NULL, "reserved" })
OPTION_TABLE_INIT(inproc_opt_dump_init, { "dump", VMMEM_OPTION_BOOL, 0, NULL, "reserved" })
OPTION_TABLE_INIT(inproc_opt_merge_init, { "merge", VMMEM_OPTION_BOOL, 0, NULL, "reserved" })
OPTION_TABLE_INIT(inproc_opt_readonly_init,
		  { "readonly", VMMEM_OPTION_BOOL, 0, NULL, "reserved" })
OPTION_TABLE_INIT(inproc_opt_dirtylog_init,
		  { "dirty-log", VMMEM_OPTION_BOOL, 0, NULL, "reserved" })
OPTION_TABLE_INIT(inproc_opt_dirtypage_init,
		  { "dirty-page-size", VMMEM_OPTION_SIZE, 0, NULL, "reserved" })
OPTION_TABLE_INIT(inproc_opt_size_init, { "size", VMMEM_OPTION_SIZE, 0, NULL, "reserved" })
OPTION_TABLE_INIT(inproc_opt_badkey_init, { "Bad", VMMEM_OPTION_BOOL, 0, NULL, "bad key" })
OPTION_TABLE_INIT(inproc_opt_emptykey_init, { "", VMMEM_OPTION_BOOL, 0, NULL, "empty key" })
OPTION_TABLE_INIT(inproc_opt_type0_init, { "x", 0, 0, NULL, "type 0" })
OPTION_TABLE_INIT(inproc_opt_type5_init, { "x", 5, 0, NULL, "type 5" })
OPTION_TABLE_INIT(inproc_opt_badbool_init, { "x", VMMEM_OPTION_BOOL, 0, "maybe", "bad default" })
OPTION_TABLE_INIT(inproc_opt_baduint_init, { "x", VMMEM_OPTION_UINT, 0, "1K", "bad default" })
OPTION_TABLE_INIT(inproc_opt_badsize_init, { "x", VMMEM_OPTION_SIZE, 0, "1.5G", "bad default" })
OPTION_TABLE_INIT(inproc_opt_twice_init, { "x", VMMEM_OPTION_BOOL, 0, NULL, "first" },
		  { "y", VMMEM_OPTION_BOOL, 0, NULL, "other" },
		  { "x", VMMEM_OPTION_UINT, 0, NULL, "again" })

static int inproc_registers_nothing_init(const struct vmmem_core_api *core,
					 struct vmmem_provider_handle *h)
{
	(void)core;
	(void)h;
	return 0;
}

/* All-or-nothing: a later failure undoes the earlier registrations of the same call. */
static int inproc_second_bad_init(const struct vmmem_core_api *core,
				  struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc a = inproc_desc("firstok", &inproc_ops);
	struct vmmem_provider_desc b = inproc_desc("secondbad", &inproc_ops_nocreate);

	if (core->register_provider(h, &a) != 0)
		return -EBADE;
	return core->register_provider(h, &b);
}

static int inproc_ignores_error_init(const struct vmmem_core_api *core,
				     struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc a = inproc_desc("firstok", &inproc_ops);
	struct vmmem_provider_desc b = inproc_desc("secondbad", &inproc_ops_nocreate);

	(void)core->register_provider(h, &a);
	(void)core->register_provider(h, &b);
	return 0; /* the failed registration still fails the whole call */
}

static int inproc_fails_after_register_init(const struct vmmem_core_api *core,
					    struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc a = inproc_desc("firstok", &inproc_ops);

	if (core->register_provider(h, &a) != 0)
		return -EBADE;
	return -ENOSPC;
}

static int inproc_same_twice_init(const struct vmmem_core_api *core,
				  struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc a = inproc_desc("twice", &inproc_ops);

	if (core->register_provider(h, &a) != 0)
		return -EBADE;
	return core->register_provider(h, &a);
}

typedef int inproc_init_fn(const struct vmmem_core_api *core, struct vmmem_provider_handle *h);

struct bad_entry {
	const char *what;
	inproc_init_fn *init;
	int code;
};

static const struct bad_entry bad_entries[] = {
	{ "ops smaller than 1.0", inproc_smallops_init, VMMEM_E_PROVIDER_ABI },
	{ "desc smaller than 1.0", inproc_smalldesc_init, VMMEM_E_PROVIDER_ABI },
	{ "next ABI major", inproc_nextmajor_init, VMMEM_E_PROVIDER_ABI },
	{ "ABI major 0", inproc_major0_init, VMMEM_E_PROVIDER_ABI },
	{ "no create", inproc_nocreate_init, VMMEM_E_PROVIDER_INVALID },
	{ "no destroy", inproc_nodestroy_init, VMMEM_E_PROVIDER_INVALID },
	{ "no ops", inproc_noops_init, VMMEM_E_PROVIDER_INVALID },
	{ "NULL desc", inproc_nulldesc_init, VMMEM_E_PROVIDER_INVALID },
	{ "NULL name", inproc_nullname_init, VMMEM_E_PROVIDER_INVALID },
	{ "empty name", inproc_emptyname_init, VMMEM_E_PROVIDER_INVALID },
	{ "upper-case name", inproc_uppername_init, VMMEM_E_PROVIDER_INVALID },
	{ "name with '/'", inproc_slashname_init, VMMEM_E_PROVIDER_INVALID },
	{ "option gpa", inproc_opt_gpa_init, VMMEM_E_PROVIDER_INVALID },
	{ "option prealloc", inproc_opt_prealloc_init, VMMEM_E_PROVIDER_INVALID },
	{ "option prealloc-threads", inproc_opt_threads_init, VMMEM_E_PROVIDER_INVALID },
	{ "option dump", inproc_opt_dump_init, VMMEM_E_PROVIDER_INVALID },
	{ "option merge", inproc_opt_merge_init, VMMEM_E_PROVIDER_INVALID },
	{ "option readonly", inproc_opt_readonly_init, VMMEM_E_PROVIDER_INVALID },
	{ "option dirty-log", inproc_opt_dirtylog_init, VMMEM_E_PROVIDER_INVALID },
	{ "option dirty-page-size", inproc_opt_dirtypage_init, VMMEM_E_PROVIDER_INVALID },
	{ "option size", inproc_opt_size_init, VMMEM_E_PROVIDER_INVALID },
	{ "option key 'Bad'", inproc_opt_badkey_init, VMMEM_E_PROVIDER_INVALID },
	{ "option key ''", inproc_opt_emptykey_init, VMMEM_E_PROVIDER_INVALID },
	{ "option type 0", inproc_opt_type0_init, VMMEM_E_PROVIDER_INVALID },
	{ "option type 5", inproc_opt_type5_init, VMMEM_E_PROVIDER_INVALID },
	{ "bool default 'maybe'", inproc_opt_badbool_init, VMMEM_E_PROVIDER_INVALID },
	{ "uint default '1K'", inproc_opt_baduint_init, VMMEM_E_PROVIDER_INVALID },
	{ "size default '1.5G'", inproc_opt_badsize_init, VMMEM_E_PROVIDER_INVALID },
	{ "option declared twice", inproc_opt_twice_init, VMMEM_E_PROVIDER_INVALID },
	{ "registers nothing", inproc_registers_nothing_init, VMMEM_E_PROVIDER_INVALID },
	{ "second of two invalid", inproc_second_bad_init, VMMEM_E_PROVIDER_INVALID },
	{ "ignores a registration error", inproc_ignores_error_init, VMMEM_E_PROVIDER_INVALID },
	{ "fails after registering", inproc_fails_after_register_init, -ENOSPC },
	{ "same name twice", inproc_same_twice_init, VMMEM_E_PROVIDER_EXISTS },
};

/* ---- contexts ---- */

START_TEST(test_ctx_new_ref_unref)
{
	struct vmmem_ctx *ctx = NULL;

	ck_assert_int_eq(vmmem_ctx_new(NULL), -EINVAL);
	ck_assert_int_eq(vmmem_ctx_new(&ctx), 0);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
	ck_assert_ptr_null(vmmem_ctx_provider_at(ctx, 0));
	ck_assert_ptr_eq(vmmem_ctx_ref(ctx), ctx);
	ck_assert_ptr_eq(vmmem_ctx_ref(ctx), ctx);
	ck_assert_ptr_null(vmmem_ctx_unref(ctx));
	ck_assert_ptr_null(vmmem_ctx_unref(ctx));
	/* Still usable with the last reference. */
	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_valid_init), 0);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 1);
	ck_assert_ptr_null(vmmem_ctx_unref(ctx));

	ck_assert_ptr_null(vmmem_ctx_ref(NULL));
	ck_assert_ptr_null(vmmem_ctx_unref(NULL));
	ck_assert_uint_eq(vmmem_ctx_provider_count(NULL), 0);
	ck_assert_ptr_null(vmmem_ctx_provider_at(NULL, 0));
}
END_TEST

/* ---- the search path ---- */

/* Path of a fresh context, which follows the environment. */
static char *default_search_path(void)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL);
	char *buf = malloc(4 * PATH_MAX);
	int n;

	ck_assert_ptr_nonnull(buf);
	n = vmmem_ctx_search_path(ctx, buf, 4 * PATH_MAX);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, 4 * PATH_MAX);
	ck_assert_uint_eq(strlen(buf), (size_t)n);
	vmmem_ctx_unref(ctx);
	return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

START_TEST(test_ctx_search_path_default)
{
	char *path = default_search_path();
	size_t env_len = strlen(provider_dir);

	/* $VMMEM_PROVIDER_PATH, then the library's own provider directory: for a library
	 * loaded from the build tree, the build's providers/ (what ctest also puts in the
	 * environment); installed, ${libdir}/vmmem next to it (tests/consumer). */
	ck_assert_msg(!strncmp(path, provider_dir, env_len) && path[env_len] == ':',
		      "'%s' does not start with '%s:'", path, provider_dir);
	ck_assert_str_eq(path + env_len + 1, provider_dir);
	ck_assert(ends_with(path, "/providers"));
	free(path);
}
END_TEST

START_TEST(test_ctx_search_path_follows_env)
{
	char *saved = strdup(getenv("VMMEM_PROVIDER_PATH"));
	char *with_env, *without_env, *empty_env;
	const char *install;

	ck_assert_ptr_nonnull(saved);
	with_env = default_search_path();
	install = strrchr(with_env, ':') + 1;

	ck_assert_int_eq(unsetenv("VMMEM_PROVIDER_PATH"), 0);
	without_env = default_search_path();
	ck_assert_str_eq(without_env, install);

	ck_assert_int_eq(setenv("VMMEM_PROVIDER_PATH", "", 1), 0);
	empty_env = default_search_path();
	ck_assert_str_eq(empty_env, install);
	free(empty_env);

	ck_assert_int_eq(setenv("VMMEM_PROVIDER_PATH", "/x/y:/z", 1), 0);
	empty_env = default_search_path();
	ck_assert_int_eq(strncmp(empty_env, "/x/y:/z:", strlen("/x/y:/z:")), 0);
	ck_assert_str_eq(empty_env + strlen("/x/y:/z:"), install);

	/* An existing context follows the environment too (no explicit path set): "good" is
	 * only in the test plugin directory. */
	{
		struct vmmem_ctx *ctx = ctx_with_path(NULL);
		const struct vmmem_provider *p = PROVIDER_SENTINEL;

		ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "good", &p),
				 VMMEM_E_PROVIDER_NOT_FOUND);
		ck_assert_ptr_null(p);
		ck_assert_int_eq(setenv("VMMEM_PROVIDER_PATH", plugin_dir, 1), 0);
		ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "good", &p), 0);
		ck_assert_ptr_nonnull(p);
		vmmem_ctx_unref(ctx);
	}
	ck_assert_int_eq(setenv("VMMEM_PROVIDER_PATH", saved, 1), 0);
	free(empty_env);
	free(without_env);
	free(with_env);
	free(saved);
}
END_TEST

START_TEST(test_ctx_search_path_explicit)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL);
	char *dflt = default_search_path();
	char buf[4 * PATH_MAX];

	ck_assert_int_eq(vmmem_ctx_set_search_path(ctx, "/a:/bb"), 0);
	ck_assert_int_eq(vmmem_ctx_search_path(ctx, buf, sizeof(buf)), 6);
	ck_assert_str_eq(buf, "/a:/bb");
	ck_assert_int_eq(vmmem_ctx_set_search_path(ctx, "/only"), 0);
	ck_assert_int_eq(vmmem_ctx_search_path(ctx, buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "/only");
	/* NULL goes back to the environment and install directory. */
	ck_assert_int_eq(vmmem_ctx_set_search_path(ctx, NULL), 0);
	ck_assert_int_eq(vmmem_ctx_search_path(ctx, buf, sizeof(buf)), (int)strlen(dflt));
	ck_assert_str_eq(buf, dflt);
	free(dflt);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_ctx_search_path_truncation)
{
	struct vmmem_ctx *ctx = ctx_with_path("/abc:/defgh");
	char buf[16];

	memset(buf, 'X', sizeof(buf));
	ck_assert_int_eq(vmmem_ctx_search_path(ctx, buf, 5), 11);
	ck_assert_str_eq(buf, "/abc");
	ck_assert_int_eq(buf[5], 'X');
	memset(buf, 'X', sizeof(buf));
	ck_assert_int_eq(vmmem_ctx_search_path(ctx, buf, 1), 11);
	ck_assert_int_eq(buf[0], '\0');
	ck_assert_int_eq(buf[1], 'X');
	memset(buf, 'X', sizeof(buf));
	ck_assert_int_eq(vmmem_ctx_search_path(ctx, buf, 0), 11);
	ck_assert_int_eq(buf[0], 'X');
	ck_assert_int_eq(vmmem_ctx_search_path(ctx, NULL, 0), 11);
	ck_assert_int_eq(vmmem_ctx_search_path(ctx, buf, 11), 11);
	ck_assert_str_eq(buf, "/abc:/defg");
	ck_assert_int_eq(vmmem_ctx_search_path(ctx, buf, 12), 11);
	ck_assert_str_eq(buf, "/abc:/defgh");
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_ctx_search_path_null)
{
	char buf[8];

	ck_assert_int_eq(vmmem_ctx_set_search_path(NULL, "/x"), -EINVAL);
	ck_assert_int_eq(vmmem_ctx_set_search_path(NULL, NULL), -EINVAL);
	ck_assert_int_eq(vmmem_ctx_search_path(NULL, buf, sizeof(buf)), -EINVAL);
}
END_TEST

/* An explicit path replaces the environment's directories. */
START_TEST(test_ctx_search_path_overrides_env)
{
	struct vmmem_ctx *ctx = ctx_with_path(plugin_dir);
	const struct vmmem_provider *p = PROVIDER_SENTINEL;

	reset_errormsg();
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", &p), VMMEM_E_PROVIDER_NOT_FOUND);
	ck_assert_ptr_null(p);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "anon"));
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "good", &p), 0);
	ck_assert_str_eq(vmmem_provider_name(p), "good");
	ck_assert_int_eq(vmmem_ctx_set_search_path(ctx, NULL), 0);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", &p), 0);
	ck_assert_str_eq(vmmem_provider_name(p), "anon");
	/* Changing the path does not unload anything. */
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 2);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "good", &p), 0);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* ---- loading plugins ---- */

struct broken_plugin {
	const char *name;
	int code;
};

static const struct broken_plugin broken_plugins[] = {
	{ "noentry", VMMEM_E_PROVIDER_SYMBOL },
	{ "badabi", VMMEM_E_PROVIDER_ABI },
	{ "smalldesc", VMMEM_E_PROVIDER_ABI },
	{ "smallops", VMMEM_E_PROVIDER_ABI },
	{ "nocreate", VMMEM_E_PROVIDER_INVALID },
	{ "dupname", VMMEM_E_PROVIDER_EXISTS },
	{ "initfail", -EIO },
	{ "none", VMMEM_E_PROVIDER_INVALID },
	{ "badopt", VMMEM_E_PROVIDER_INVALID },
	{ "mismatch", VMMEM_E_PROVIDER_NOT_FOUND },
	{ "undefsym", VMMEM_E_PROVIDER_LOAD },
};

START_TEST(test_ctx_load_broken_plugin)
{
	const struct broken_plugin *b = &broken_plugins[_i];
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	const struct vmmem_provider *p;
	size_t before;
	int rc;

	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "anon"), 0); /* dupname needs it */
	before = vmmem_ctx_provider_count(ctx);
	ck_assert_uint_eq(before, 1);
	for (int attempt = 0; attempt < 2; attempt++) {
		reset_errormsg();
		rc = vmmem_ctx_load_provider(ctx, b->name);
		ck_assert_msg(rc == b->code, "%s: expected %d (%s), got %d (%s): %s", b->name,
			      b->code, vmmem_strerror(b->code), rc, vmmem_strerror(rc),
			      vmmem_errormsg());
		ck_assert_msg(strstr(vmmem_errormsg(), b->name),
			      "%s: message does not name the plugin: '%s'", b->name,
			      vmmem_errormsg());
		/* The registry is unchanged and the plugin is unloaded again. */
		ck_assert_msg(vmmem_ctx_provider_count(ctx) == before,
			      "%s: %zu providers after the failure, %zu before", b->name,
			      vmmem_ctx_provider_count(ctx), before);
		ck_assert_str_eq(vmmem_provider_name(vmmem_ctx_provider_at(ctx, 0)), "anon");
		ck_assert_msg(!plugin_mapped(plugin_dir, b->name), "%s is still mapped", b->name);
	}
	/* find_provider fails the same way. */
	p = PROVIDER_SENTINEL;
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, b->name, &p), b->code);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), before);
	vmmem_ctx_unref(ctx);
	ck_assert(!plugin_mapped(provider_dir, "anon"));
}
END_TEST

/* Loading after a failure of another plugin still works. */
START_TEST(test_ctx_load_good_plugin)
{
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	const struct vmmem_provider *p = NULL, *q = NULL;
	char expected[PATH_MAX];

	ck_assert(!plugin_mapped(plugin_dir, "good"));
	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "badabi"), VMMEM_E_PROVIDER_ABI);
	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "good"), 0);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 1);
	ck_assert(plugin_mapped(plugin_dir, "good"));
	/* Loading again is a no-op. */
	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "good"), 0);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 1);

	p = vmmem_ctx_provider_at(ctx, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "good", &q), 0);
	ck_assert_ptr_eq(p, q);
	ck_assert_ptr_null(vmmem_ctx_provider_at(ctx, 1));
	ck_assert_ptr_null(vmmem_ctx_provider_at(ctx, SIZE_MAX));

	ck_assert_str_eq(vmmem_provider_name(p), "good");
	ck_assert_str_eq(vmmem_provider_description(p),
			 "test provider: anonymous memory filled with one byte");
	ck_assert_uint_eq(vmmem_provider_version(p), 0x010203);
	plugin_file(expected, sizeof(expected), plugin_dir, "good");
	ck_assert_str_eq(vmmem_provider_path(p), expected);
	ck_assert_uint_eq(vmmem_provider_option_count(p), 1);
	{
		const char *key = NULL, *dflt = NULL, *help = NULL;
		uint32_t type = 0;

		ck_assert_int_eq(vmmem_provider_option(p, 0, &key, &type, &dflt, &help), 0);
		ck_assert_str_eq(key, "fill");
		ck_assert_uint_eq(type, VMMEM_OPTION_UINT);
		ck_assert_str_eq(dflt, "0x5a");
		ck_assert_str_eq(help, "byte every byte of a new region is set to");
		ck_assert_int_eq(vmmem_provider_option(p, 0, NULL, NULL, NULL, NULL), 0);
		key = "unchanged";
		ck_assert_int_eq(vmmem_provider_option(p, 1, &key, &type, &dflt, &help), -ERANGE);
		ck_assert_int_eq(vmmem_provider_option(p, SIZE_MAX, &key, NULL, NULL, NULL),
				 -ERANGE);
		ck_assert_str_eq(key, "unchanged");
	}
	vmmem_ctx_unref(ctx);
	ck_assert(!plugin_mapped(plugin_dir, "good"));
}
END_TEST

START_TEST(test_ctx_provider_accessors_null)
{
	const char *key = "unchanged";
	uint32_t type = 99;

	ck_assert_ptr_null(vmmem_provider_name(NULL));
	ck_assert_ptr_null(vmmem_provider_description(NULL));
	ck_assert_uint_eq(vmmem_provider_version(NULL), 0);
	ck_assert_ptr_null(vmmem_provider_path(NULL));
	ck_assert_uint_eq(vmmem_provider_option_count(NULL), 0);
	ck_assert_int_eq(vmmem_provider_option(NULL, 0, &key, &type, NULL, NULL), -EINVAL);
	ck_assert_str_eq(key, "unchanged");
	ck_assert_uint_eq(type, 99);
}
END_TEST

/* The real providers' options as the header describes them (types of vmmem/provider.h). */
START_TEST(test_ctx_real_provider_options)
{
	struct vmmem_ctx *ctx = ctx_with_path(provider_dir);
	const struct vmmem_provider *p = NULL;
	bool reserve = false;

	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", &p), 0);
	ck_assert_ptr_nonnull(vmmem_provider_path(p));
	for (size_t i = 0; i < vmmem_provider_option_count(p); i++) {
		const char *key, *dflt, *help;
		uint32_t type;

		ck_assert_int_eq(vmmem_provider_option(p, i, &key, &type, &dflt, &help), 0);
		ck_assert_ptr_nonnull(key);
		ck_assert_ptr_nonnull(help);
		ck_assert(type >= VMMEM_OPTION_BOOL && type <= VMMEM_OPTION_STRING);
		/* The common keys are not the provider's. */
		ck_assert_str_ne(key, "gpa");
		ck_assert_str_ne(key, "size");
		ck_assert_str_ne(key, "prealloc");
		if (!strcmp(key, "reserve")) {
			reserve = true;
			ck_assert_uint_eq(type, VMMEM_OPTION_BOOL);
		}
	}
	ck_assert(reserve);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* A plugin file or directory writable by others is refused before it is opened. */
START_TEST(test_ctx_load_unsafe)
{
	static const struct {
		mode_t dir_mode, file_mode;
		bool names_dir;
	} cases[] = {
		{ 0777, 0755, true },  { 0775, 0755, true },  { 0757, 0755, true },
		{ 01777, 0755, true }, { 0755, 0666, false }, { 0755, 0664, false },
		{ 0755, 0646, false }, { 0700, 0622, false },
	};
	char dir[] = "/tmp/vmmem-unsafe-XXXXXX", src[PATH_MAX], dst[PATH_MAX];
	struct vmmem_ctx *ctx;
	const struct vmmem_provider *p;
	size_t failed;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	plugin_file(src, sizeof(src), plugin_dir, "good");
	plugin_file(dst, sizeof(dst), dir, "good");
	copy_file(src, dst, 0755);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(chmod(dir, cases[i].dir_mode), 0);
		ck_assert_int_eq(chmod(dst, cases[i].file_mode), 0);
		ctx = ctx_with_path(dir);
		reset_errormsg();
		ck_assert_msg(vmmem_ctx_load_provider(ctx, "good") == VMMEM_E_PROVIDER_UNSAFE,
			      "dir %o file %o: %s", (unsigned int)cases[i].dir_mode,
			      (unsigned int)cases[i].file_mode, vmmem_errormsg());
		ck_assert_msg(strstr(vmmem_errormsg(), cases[i].names_dir ? dir : dst),
			      "message does not name %s: '%s'", cases[i].names_dir ? dir : dst,
			      vmmem_errormsg());
		ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
		ck_assert(!path_mapped(dst));
		p = PROVIDER_SENTINEL;
		ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "good", &p), VMMEM_E_PROVIDER_UNSAFE);
		ck_assert_ptr_null(p);
		ck_assert_int_eq(vmmem_ctx_load_all(ctx, &failed), 0);
		ck_assert_uint_eq(failed, 1);
		ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
		vmmem_ctx_unref(ctx);
	}
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(chmod(dst, 0755), 0);
	/* Owned by someone else (neither root nor us): refused too. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(dst, 65534, 65534), 0);
		ctx = ctx_with_path(dir);
		ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "good"), VMMEM_E_PROVIDER_UNSAFE);
		vmmem_ctx_unref(ctx);
		ck_assert_int_eq(chown(dst, 0, 0), 0);
		ck_assert_int_eq(chown(dir, 65534, 65534), 0);
		ctx = ctx_with_path(dir);
		ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "good"), VMMEM_E_PROVIDER_UNSAFE);
		vmmem_ctx_unref(ctx);
		ck_assert_int_eq(chown(dir, 0, 0), 0);
	}
	/* The same file, safe: loads. */
	ctx = ctx_with_path(dir);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "good", &p), 0);
	ck_assert_str_eq(vmmem_provider_path(p), dst);
	ck_assert(path_mapped(dst));
	vmmem_ctx_unref(ctx);
	ck_assert(!path_mapped(dst));
	ck_assert_int_eq(unlink(dst), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* The first directory holding libvmmem-<name>.so decides. */
START_TEST(test_ctx_first_directory_wins)
{
	char dir[] = "/tmp/vmmem-order-XXXXXX", src[PATH_MAX], dst[PATH_MAX], path[3 * PATH_MAX];
	struct vmmem_ctx *ctx;
	const struct vmmem_provider *p;
	size_t failed = 99;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	plugin_file(src, sizeof(src), provider_dir, "anon");
	plugin_file(dst, sizeof(dst), dir, "anon");
	copy_file(src, dst, 0755);

	snprintf(path, sizeof(path), "/nonexistent-dir:%s:%s", dir, provider_dir);
	ctx = ctx_with_path(path);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", &p), 0);
	ck_assert_str_eq(vmmem_provider_path(p), dst);
	vmmem_ctx_unref(ctx);

	snprintf(path, sizeof(path), "%s:%s", provider_dir, dir);
	ctx = ctx_with_path(path);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", &p), 0);
	ck_assert_str_eq(vmmem_provider_path(p), src);
	vmmem_ctx_unref(ctx);

	snprintf(path, sizeof(path), "%s:%s", dir, provider_dir);
	ctx = ctx_with_path(path);
	ck_assert_int_eq(vmmem_ctx_load_all(ctx, &failed), 0);
	ck_assert_uint_eq(failed, 0);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 4);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", &p), 0);
	ck_assert_str_eq(vmmem_provider_path(p), dst);
	vmmem_ctx_unref(ctx);

	ck_assert(!path_mapped(dst));
	ck_assert_int_eq(unlink(dst), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_ctx_load_all_providers)
{
	struct vmmem_ctx *ctx = ctx_with_path(provider_dir);
	static const char *const names[] = { "anon", "memfd", "hugetlbfs", "file" };
	size_t failed = 99;

	ck_assert_int_eq(vmmem_ctx_load_all(ctx, &failed), 0);
	ck_assert_uint_eq(failed, 0);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 4);
	for (size_t i = 0; i < 4; i++) {
		const struct vmmem_provider *p = NULL;
		char expected[PATH_MAX];

		ck_assert_msg(provider_registered(ctx, names[i]), "%s not loaded", names[i]);
		ck_assert_int_eq(vmmem_ctx_find_provider(ctx, names[i], &p), 0);
		plugin_file(expected, sizeof(expected), provider_dir, names[i]);
		ck_assert_str_eq(vmmem_provider_path(p), expected);
		ck_assert_str_ne(vmmem_provider_description(p), "");
	}
	/* Again: nothing new, nothing failed (the first of each name wins). */
	failed = 99;
	ck_assert_int_eq(vmmem_ctx_load_all(ctx, &failed), 0);
	ck_assert_uint_eq(failed, 0);
	ck_assert_int_eq(vmmem_ctx_load_all(ctx, NULL), 0);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 4);
	vmmem_ctx_unref(ctx);

	ck_assert_int_eq(vmmem_ctx_load_all(NULL, &failed), -EINVAL);
	/* Missing directories on the path are skipped. */
	ctx = ctx_with_path("/nonexistent-a:/nonexistent-b");
	failed = 99;
	ck_assert_int_eq(vmmem_ctx_load_all(ctx, &failed), 0);
	ck_assert_uint_eq(failed, 0);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_ctx_load_all_test_plugins)
{
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	size_t failed = 99;

	reset_errormsg();
	ck_assert_int_eq(vmmem_ctx_load_all(ctx, &failed), 0);
	/* Every broken plugin but mismatch (which loads fine as "othername") failed. */
	ck_assert_uint_eq(failed, sizeof(broken_plugins) / sizeof(broken_plugins[0]) - 1);
	/* The last failure's message replaced ours. */
	ck_assert_str_ne(vmmem_errormsg(), "'reset' is not a size");
	ck_assert_str_ne(vmmem_errormsg(), "");
	/* The ABI-evolution plugins (check_provider_abi.c) load too: oldops, newtables; and
	 * stale and mapper, whose misuses show only when they create. */
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 10);
	ck_assert(provider_registered(ctx, "file"));
	ck_assert(provider_registered(ctx, "mapper"));
	ck_assert(provider_registered(ctx, "anon"));
	ck_assert(provider_registered(ctx, "memfd"));
	ck_assert(provider_registered(ctx, "hugetlbfs"));
	ck_assert(provider_registered(ctx, "good"));
	ck_assert(provider_registered(ctx, "othername"));
	ck_assert(provider_registered(ctx, "oldops"));
	ck_assert(provider_registered(ctx, "newtables"));
	for (size_t i = 0; i < sizeof(broken_plugins) / sizeof(broken_plugins[0]); i++)
		if (strcmp(broken_plugins[i].name, "mismatch"))
			ck_assert_msg(!plugin_mapped(plugin_dir, broken_plugins[i].name),
				      "%s still mapped", broken_plugins[i].name);
	ck_assert(plugin_mapped(plugin_dir, "good"));
	vmmem_ctx_unref(ctx);
	ck_assert(!plugin_mapped(plugin_dir, "good"));
	ck_assert(!plugin_mapped(plugin_dir, "mismatch"));
}
END_TEST

START_TEST(test_ctx_find_provider_on_demand)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL); /* the environment's path */
	const struct vmmem_provider *p = NULL, *q = NULL;
	char expected[PATH_MAX];

	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "memfd", &p), 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(vmmem_provider_name(p), "memfd");
	plugin_file(expected, sizeof(expected), provider_dir, "memfd");
	ck_assert_str_eq(vmmem_provider_path(p), expected);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 1);
	ck_assert_ptr_eq(vmmem_ctx_provider_at(ctx, 0), p);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "memfd", &q), 0);
	ck_assert_ptr_eq(p, q);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 1);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", &q), 0);
	ck_assert_ptr_ne(p, q);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 2);
	ck_assert_ptr_eq(vmmem_ctx_provider_at(ctx, 1), q);

	q = PROVIDER_SENTINEL;
	reset_errormsg();
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "nosuchprovider", &q),
			 VMMEM_E_PROVIDER_NOT_FOUND);
	ck_assert_ptr_null(q);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "nosuchprovider"));
	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "nosuchprovider"), VMMEM_E_PROVIDER_NOT_FOUND);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 2);

	q = PROVIDER_SENTINEL;
	ck_assert_int_eq(vmmem_ctx_find_provider(NULL, "anon", &q), -EINVAL);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", NULL), -EINVAL);
	ck_assert_int_eq(vmmem_ctx_load_provider(NULL, "anon"), -EINVAL);
	vmmem_ctx_unref(ctx);
}
END_TEST

static const char *const invalid_names[] = { "", "a/b", "../x", "Anon", "an on", "anon.so",
					     "anon\n", "/anon", "ano:n", "a\xc3\xa9" };

START_TEST(test_ctx_invalid_names)
{
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	const struct vmmem_provider *p = PROVIDER_SENTINEL;
	const char *name = invalid_names[_i];

	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, name), -EINVAL);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, name, &p), -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
	if (_i == 0) {
		ck_assert_int_eq(vmmem_ctx_load_provider(ctx, NULL), -EINVAL);
		p = PROVIDER_SENTINEL;
		ck_assert_int_eq(vmmem_ctx_find_provider(ctx, NULL, &p), -EINVAL);
		ck_assert_ptr_null(p);
	}
	vmmem_ctx_unref(ctx);
}
END_TEST

/* ---- in-process providers ---- */

START_TEST(test_ctx_register_valid)
{
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	const struct vmmem_provider *p = NULL;
	static const struct {
		const char *key;
		uint32_t type;
		const char *dflt;
	} want[IP_N] = {
		{ "flag", VMMEM_OPTION_BOOL, "on" },   { "count", VMMEM_OPTION_UINT, "7" },
		{ "big", VMMEM_OPTION_SIZE, "2M" },    { "label", VMMEM_OPTION_STRING, NULL },
		{ "name2", VMMEM_OPTION_STRING, "dflt" },
	};

	memset(&rec, 0, sizeof(rec));
	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_valid_init), 0);
	ck_assert(rec.core_ok);
	ck_assert(rec.alloc_zeroed);
	ck_assert_int_eq(rec.set_error_rc, -ENOSPC);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 1);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "inproc", &p), 0);
	ck_assert_ptr_eq(vmmem_ctx_provider_at(ctx, 0), p);
	ck_assert_str_eq(vmmem_provider_name(p), "inproc");
	ck_assert_str_eq(vmmem_provider_description(p), "in-process test provider");
	ck_assert_uint_eq(vmmem_provider_version(p), 0x020304);
	ck_assert_ptr_null(vmmem_provider_path(p));
	ck_assert_uint_eq(vmmem_provider_option_count(p), IP_N);
	for (size_t i = 0; i < IP_N; i++) {
		const char *key, *dflt = "unset", *help;
		uint32_t type;

		ck_assert_int_eq(vmmem_provider_option(p, i, &key, &type, &dflt, &help), 0);
		ck_assert_str_eq(key, want[i].key);
		ck_assert_uint_eq(type, want[i].type);
		if (want[i].dflt)
			ck_assert_str_eq(dflt, want[i].dflt);
		else
			ck_assert_ptr_null(dflt);
		ck_assert_str_eq(help, inproc_options[i].help);
	}
	ck_assert_int_eq(vmmem_provider_option(p, IP_N, NULL, NULL, NULL, NULL), -ERANGE);
	/* Registering the same entry point again: the name is taken. */
	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_valid_init),
			 VMMEM_E_PROVIDER_EXISTS);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "inproc"));
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 1);
	/* Two providers from one entry point, in registration order. */
	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_two_init), 0);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 3);
	ck_assert_str_eq(vmmem_provider_name(vmmem_ctx_provider_at(ctx, 1)), "twoa");
	ck_assert_str_eq(vmmem_provider_name(vmmem_ctx_provider_at(ctx, 2)), "twob");
	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_two_init),
			 VMMEM_E_PROVIDER_EXISTS);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 3);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_ctx_register_null)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL);

	ck_assert_int_eq(vmmem_ctx_register_provider(NULL, inproc_valid_init), -EINVAL);
	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, NULL), -EINVAL);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_ctx_register_invalid)
{
	const struct bad_entry *b = &bad_entries[_i];
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	int rc;

	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_nodiscard_init), 0);
	reset_errormsg();
	rc = vmmem_ctx_register_provider(ctx, b->init);
	ck_assert_msg(rc == b->code, "%s: expected %d (%s), got %d (%s): %s", b->what, b->code,
		      vmmem_strerror(b->code), rc, vmmem_strerror(rc), vmmem_errormsg());
	/* Nothing is registered on failure. */
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 1);
	ck_assert_str_eq(vmmem_provider_name(vmmem_ctx_provider_at(ctx, 0)), "nodiscard");
	ck_assert_ptr_null(vmmem_ctx_provider_at(ctx, 1));
	if (b->code != -ENOSPC)
		ck_assert_str_ne(vmmem_errormsg(), "'reset' is not a size");
	vmmem_ctx_unref(ctx);
}
END_TEST

/* A provider built for a newer minor ABI (larger tables) is accepted and works. */
START_TEST(test_ctx_register_newer_minor)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL);
	struct vmmem_region *r;
	size_t pg = tu_page_size();
	uint8_t *host;

	memset(&rec, 0, sizeof(rec));
	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_newer_init), 0);
	r = create_ok(ctx, "newer:gpa=0x10000,size=256K,count=3"); /* 2 pages of 64 KiB too */
	ck_assert_uint_eq(rec.creates, 1);
	ck_assert_uint_eq(rec.params.length, 256 * KiB);
	ck_assert_uint_eq(rec.values[IP_COUNT].num, 3);
	host = vmmem_region_host(r);
	memset(host, 0x77, 2 * pg);
	ck_assert_int_eq(vmmem_region_discard(r, 0, pg), 0);
	ck_assert_uint_eq(rec.discards, 1);
	ck_assert_uint_eq(host[0], 0);
	ck_assert_uint_eq(host[pg], 0x77);
	vmmem_region_unref(r);
	ck_assert_uint_eq(rec.destroys, 1);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* Defaults and given values reach create, in declaration order; common keys do not. */
START_TEST(test_ctx_inproc_options_passed)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL);
	struct vmmem_region *r;

	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_valid_init), 0);
	memset(&rec, 0, sizeof(rec));
	r = create_ok(ctx, "inproc:gpa=1M,size=128K,dump=off");
	ck_assert_uint_eq(rec.creates, 1);
	ck_assert_uint_ge(rec.params.size, sizeof(struct vmmem_provider_params));
	ck_assert_uint_eq(rec.params.gpa, MiB);
	ck_assert_uint_eq(rec.params.length, 128 * KiB);
	ck_assert_uint_eq(rec.params.n_options, IP_N);
	ck_assert_uint_eq(rec.values[IP_FLAG].is_set, 0);
	ck_assert_uint_eq(rec.values[IP_FLAG].num, 1);
	ck_assert_uint_eq(rec.values[IP_COUNT].is_set, 0);
	ck_assert_uint_eq(rec.values[IP_COUNT].num, 7);
	ck_assert_uint_eq(rec.values[IP_BIG].is_set, 0);
	ck_assert_uint_eq(rec.values[IP_BIG].num, 2 * MiB);
	ck_assert_uint_eq(rec.values[IP_LABEL].is_set, 0);
	ck_assert(rec.str_null[IP_LABEL]);
	ck_assert_uint_eq(rec.values[IP_NAME2].is_set, 0);
	ck_assert(!rec.str_null[IP_NAME2]);
	ck_assert_str_eq(rec.strs[IP_NAME2], "dflt");
	ck_assert_uint_eq(vmmem_region_gpa(r), MiB);
	ck_assert_uint_eq(vmmem_region_size(r), 128 * KiB);
	vmmem_region_unref(r);
	ck_assert_uint_eq(rec.destroys, 1);

	memset(&rec, 0, sizeof(rec));
	r = create_ok(ctx, "inproc:gpa=0,size=64K,flag=no,count=0x10,big=1G,label=a,,b;;c,name2=x");
	ck_assert_uint_eq(rec.values[IP_FLAG].is_set, 1);
	ck_assert_uint_eq(rec.values[IP_FLAG].num, 0);
	ck_assert_uint_eq(rec.values[IP_COUNT].is_set, 1);
	ck_assert_uint_eq(rec.values[IP_COUNT].num, 16);
	ck_assert_uint_eq(rec.values[IP_BIG].is_set, 1);
	ck_assert_uint_eq(rec.values[IP_BIG].num, UINT64_C(1) << 30);
	ck_assert_uint_eq(rec.values[IP_LABEL].is_set, 1);
	ck_assert_str_eq(rec.strs[IP_LABEL], "a,b;c");
	ck_assert_uint_eq(rec.values[IP_NAME2].is_set, 1);
	ck_assert_str_eq(rec.strs[IP_NAME2], "x");
	vmmem_region_unref(r);

	/* Option values are checked against their type. */
	memset(&rec, 0, sizeof(rec));
	{
		static const char *const bad[] = {
			"inproc:gpa=0,size=64K,flag=2", "inproc:gpa=0,size=64K,count=1K",
			"inproc:gpa=0,size=64K,big=1.5G", "inproc:gpa=0,size=64K,count=-1",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			r = REGION_SENTINEL;
			ck_assert_int_eq(vmmem_region_create(&r, ctx, bad[i]), VMMEM_E_CONFIG_VALUE);
			ck_assert_ptr_null(r);
			ck_assert_msg(names_position(vmmem_errormsg(), 22), "'%s': '%s'", bad[i],
				      vmmem_errormsg());
		}
	}
	ck_assert_uint_eq(rec.creates, 0);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_ctx_inproc_no_discard)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL);
	struct vmmem_region *r;

	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_nodiscard_init), 0);
	r = create_ok(ctx, "nodiscard:gpa=0,size=64K");
	ck_assert_int_eq(vmmem_region_discard(r, 0, tu_page_size()), -EOPNOTSUPP);
	vmmem_region_unref(r);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* A failing create: its error and message come back, nothing is left. */
START_TEST(test_ctx_inproc_create_fails)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL);
	struct vmmem_region *r = REGION_SENTINEL;

	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_valid_init), 0);
	memset(&rec, 0, sizeof(rec));
	ck_assert_int_eq(vmmem_region_create(&r, ctx, "inproc:gpa=0,size=64K,label=fail"), -EPERM);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(vmmem_errormsg(), "asked to fail"));
	ck_assert_uint_eq(rec.creates, 1);
	ck_assert_uint_eq(rec.destroys, 0);

	/* A mapping of the wrong length is refused and destroyed. */
	r = REGION_SENTINEL;
	ck_assert_int_lt(vmmem_region_create(&r, ctx, "inproc:gpa=0,size=64K,label=badlen"), 0);
	ck_assert_ptr_null(r);
	ck_assert_uint_eq(rec.creates, 2);
	ck_assert_uint_eq(rec.destroys, 1);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* A provider registered in-process takes the name; the plugin of that name is not loaded. */
START_TEST(test_ctx_inproc_shadows_plugin)
{
	struct vmmem_ctx *ctx = ctx_with_path(provider_dir);
	const struct vmmem_provider *p = NULL;
	size_t failed = 99;
	struct vmmem_region *r;

	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_anon_init), 0);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", &p), 0);
	ck_assert_ptr_null(vmmem_provider_path(p));
	ck_assert_int_eq(vmmem_ctx_load_all(ctx, &failed), 0);
	ck_assert_uint_eq(failed, 0);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 4);
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "anon", &p), 0);
	ck_assert_ptr_null(vmmem_provider_path(p));
	memset(&rec, 0, sizeof(rec));
	r = create_ok(ctx, "anon:gpa=0,size=64K");
	ck_assert_uint_eq(rec.creates, 1);
	ck_assert_ptr_eq(vmmem_region_provider(r), p);
	vmmem_region_unref(r);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* An in-process provider outlives the context while its regions live. */
START_TEST(test_ctx_inproc_outlives_ctx)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL);
	struct vmmem_region *r;
	uint8_t *host;

	ck_assert_int_eq(vmmem_ctx_register_provider(ctx, inproc_valid_init), 0);
	memset(&rec, 0, sizeof(rec));
	r = create_ok(ctx, "inproc:gpa=0,size=64K");
	ck_assert_ptr_null(vmmem_ctx_unref(ctx));
	ck_assert_str_eq(vmmem_provider_name(vmmem_region_provider(r)), "inproc");
	host = vmmem_region_host(r);
	host[0] = 1;
	ck_assert_int_eq(vmmem_region_discard(r, 0, tu_page_size()), 0);
	ck_assert_uint_eq(host[0], 0);
	ck_assert_uint_eq(rec.discards, 1);
	ck_assert_uint_eq(rec.destroys, 0);
	vmmem_region_unref(r);
	ck_assert_uint_eq(rec.destroys, 1);
}
END_TEST

/* ---- regions from config strings ---- */

START_TEST(test_ctx_region_create_good)
{
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	const struct vmmem_provider *p = NULL;
	struct vmmem_region *r;

	r = create_ok(ctx, "good:gpa=0x100000,size=64K");
	ck_assert_int_eq(vmmem_ctx_find_provider(ctx, "good", &p), 0);
	ck_assert_ptr_eq(vmmem_region_provider(r), p);
	ck_assert_uint_eq(vmmem_region_gpa(r), MiB);
	ck_assert_uint_eq(vmmem_region_size(r), 64 * KiB);
	ck_assert_uint_eq(vmmem_region_page_size(r), tu_page_size());
	ck_assert_int_eq(vmmem_region_fd(r), -1);
	ck_assert_uint_eq(vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY, 0);
	assert_filled(r, 0x5a); /* the option's default */
	vmmem_region_unref(r);

	r = create_ok(ctx, "good:gpa=0,size=64K,fill=0x11");
	assert_filled(r, 0x11);
	vmmem_region_unref(r);
	r = create_ok(ctx, "good:gpa=0,size=64K,fill=0");
	assert_filled(r, 0);
	vmmem_region_unref(r);
	r = create_ok(ctx, "  good:gpa=0,size=12K,fill=255,readonly=on,dump=off ; ");
	assert_filled(r, 0xff);
	ck_assert_uint_eq(vmmem_region_size(r), 12 * KiB);
	ck_assert_uint_eq(vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY, VMMEM_REGION_READ_ONLY);
	vmmem_region_unref(r);
	/* prealloc=on with the provider that has no reserve option is fine. */
	r = create_ok(ctx, "good:gpa=0,size=64K,prealloc=on,prealloc-threads=4");
	assert_filled(r, 0x5a);
	vmmem_region_unref(r);
	/* Dirty tracking from the config: the default 4 KiB granularity, or the one given. */
	r = create_ok(ctx, "good:gpa=0,size=64K");
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 0);
	vmmem_region_unref(r);
	r = create_ok(ctx, "good:gpa=0,size=64K,dirty-log=on");
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 4096);
	vmmem_region_unref(r);
	r = create_ok(ctx, "memfd:gpa=0,size=64K,dirty-log=on,dirty-page-size=16K");
	ck_assert_uint_eq(vmmem_region_dirty_page_size(r), 16 * KiB);
	vmmem_region_unref(r);
	/* reserve=off alone is fine. */
	r = create_ok(ctx, "anon:gpa=0,size=64K,reserve=off");
	vmmem_region_unref(r);
	vmmem_ctx_unref(ctx);
}
END_TEST

struct region_error {
	const char *spec;
	int code;
	long pos;         /* position the message must name, or -1 */
	const char *word; /* the message must contain it, or NULL */
};

static const struct region_error region_errors[] = {
	{ "good:gpa=0,size=64K,colour=red", VMMEM_E_CONFIG_KEY, 20, "colour" },
	{ "good:gpa=0,size=64K,fill=abc", VMMEM_E_CONFIG_VALUE, 20, "fill" },
	{ "good:gpa=0,size=64K,fill=1K", VMMEM_E_CONFIG_VALUE, 20, "fill" },
	{ "good:gpa=0,size=64K,fill=", VMMEM_E_CONFIG_VALUE, 20, "fill" },
	{ "good:gpa=0,size=64K,fill=1,fill=2", VMMEM_E_CONFIG_KEY, 27, "fill" },
	{ "good:gpa=0", VMMEM_E_CONFIG_KEY, 0, "size" },
	{ "good:gpa=0,size=0", VMMEM_E_CONFIG_VALUE, 11, "size" },
	{ "Good:gpa=0,size=64K", VMMEM_E_CONFIG_SYNTAX, 0, NULL },
	{ "good:gpa=0,size=64K;good:gpa=1M,size=64K", -EINVAL, -1, NULL },
	{ "good:gpa=0,size=64K;", 0, -1, NULL }, /* one region and a trailing ';': fine */
	{ "nosuch:gpa=0,size=64K", VMMEM_E_PROVIDER_NOT_FOUND, -1, "nosuch" },
	{ "mismatch:gpa=0,size=64K", VMMEM_E_PROVIDER_NOT_FOUND, -1, "mismatch" },
	{ "badabi:gpa=0,size=64K", VMMEM_E_PROVIDER_ABI, -1, "badabi" },
	{ "undefsym:gpa=0,size=64K", VMMEM_E_PROVIDER_LOAD, -1, "undefsym" },
	{ "noentry:gpa=0,size=64K", VMMEM_E_PROVIDER_SYMBOL, -1, "noentry" },
	{ "anon:gpa=0,size=64K,share=maybe", VMMEM_E_CONFIG_VALUE, 20, "share" },
	{ "anon:gpa=0,size=64K,prealloc=on,reserve=off", VMMEM_E_CONFIG_CONFLICT, -1, "reserve" },
	{ "anon:reserve=off,gpa=0,size=64K,prealloc=yes", VMMEM_E_CONFIG_CONFLICT, -1, "reserve" },
	{ "memfd:gpa=0,size=64K,prealloc=on,reserve=off", VMMEM_E_CONFIG_CONFLICT, -1, "reserve" },
	{ "hugetlbfs:gpa=0,size=2M,prealloc=on,reserve=off", VMMEM_E_CONFIG_CONFLICT, -1,
	  "reserve" },
	{ "memfd:gpa=0,size=64K,hugetlbsize=big", VMMEM_E_CONFIG_VALUE, 21, "hugetlbsize" },
	{ "good:gpa=0,size=64K,dirty-page-size=4K", VMMEM_E_CONFIG_CONFLICT, 0, "dirty-log" },
	/* provider's own failure, with its message */
	{ "good:gpa=0,size=64K,fill=256", VMMEM_E_CONFIG_VALUE, -1, "fill=256" },
};

START_TEST(test_ctx_region_create_errors)
{
	const struct region_error *e = &region_errors[_i];
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	struct vmmem_region *r = REGION_SENTINEL;
	int rc;

	reset_errormsg();
	rc = vmmem_region_create(&r, ctx, e->spec);
	ck_assert_msg(rc == e->code, "'%s': expected %d (%s), got %d (%s): %s", e->spec, e->code,
		      vmmem_strerror(e->code), rc, vmmem_strerror(rc), vmmem_errormsg());
	if (rc == 0) {
		ck_assert_ptr_nonnull(r);
		vmmem_region_unref(r);
	} else {
		ck_assert_ptr_null(r);
		ck_assert_str_ne(vmmem_errormsg(), "'reset' is not a size");
	}
	if (e->pos >= 0)
		ck_assert_msg(names_position(vmmem_errormsg(), (size_t)e->pos),
			      "'%s': message does not name position %ld: '%s'", e->spec, e->pos,
			      vmmem_errormsg());
	if (e->word)
		ck_assert_msg(strstr(vmmem_errormsg(), e->word),
			      "'%s': message does not contain '%s': '%s'", e->spec, e->word,
			      vmmem_errormsg());
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_ctx_region_create_null)
{
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	struct vmmem_region *r = REGION_SENTINEL;

	ck_assert_int_eq(vmmem_region_create(NULL, ctx, "good:gpa=0,size=4K"), -EINVAL);
	ck_assert_int_eq(vmmem_region_create(&r, NULL, "good:gpa=0,size=4K"), -EINVAL);
	ck_assert_ptr_null(r);
	r = REGION_SENTINEL;
	ck_assert_int_eq(vmmem_region_create(&r, ctx, NULL), -EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 0);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* The plugin stays loaded while a region made through it lives, even without the context,
 * and is unloaded with the last such region. */
START_TEST(test_ctx_plugin_outlives_ctx)
{
	struct vmmem_ctx *ctx = ctx_with_path(plugin_dir);
	struct vmmem_region *r1, *r2;
	size_t pg = tu_page_size();
	uint8_t *host;

	ck_assert(!plugin_mapped(plugin_dir, "good"));
	r1 = create_ok(ctx, "good:gpa=0,size=256K,fill=0x33"); /* 3 pages of 64 KiB too */
	r2 = create_ok(ctx, "good:gpa=0,size=16K,fill=0x44");
	ck_assert(plugin_mapped(plugin_dir, "good"));
	ck_assert_ptr_null(vmmem_ctx_unref(ctx));
	ck_assert(plugin_mapped(plugin_dir, "good"));

	/* Both regions still work, the provider's discard op included. */
	assert_filled(r1, 0x33);
	assert_filled(r2, 0x44);
	ck_assert_str_eq(vmmem_provider_name(vmmem_region_provider(r1)), "good");
	host = vmmem_region_host(r1);
	ck_assert_int_eq(vmmem_region_discard(r1, pg, pg), 0);
	ck_assert_uint_eq(host[pg], 0);
	ck_assert_uint_eq(host[pg - 1], 0x33);
	ck_assert_uint_eq(host[2 * pg], 0x33);

	vmmem_region_unref(r1);
	ck_assert(plugin_mapped(plugin_dir, "good"));
	assert_filled(r2, 0x44);
	vmmem_region_unref(r2);
	ck_assert(!plugin_mapped(plugin_dir, "good"));
}
END_TEST

/* Same, with the regions held by a memory. */
START_TEST(test_ctx_plugin_outlives_ctx_in_memory)
{
	struct vmmem_ctx *ctx = ctx_with_path(plugin_dir);
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *m = NULL;
	uint8_t byte = 0;

	ck_assert_int_eq(vmmem_config_parse(&cfg, "good:gpa=0,size=64K;good:gpa=64K,size=64K,fill=7"),
			 0);
	ck_assert_int_eq(vmmem_memory_new_from_config(&m, ctx, cfg), 0);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
	ck_assert(plugin_mapped(plugin_dir, "good"));
	ck_assert_int_eq(vmmem_memory_read_obj(m, 64 * KiB - 1, &byte, 1), 0);
	ck_assert_uint_eq(byte, 0x5a);
	ck_assert_int_eq(vmmem_memory_read_obj(m, 64 * KiB, &byte, 1), 0);
	ck_assert_uint_eq(byte, 7);
	vmmem_memory_unref(m);
	ck_assert(!plugin_mapped(plugin_dir, "good"));
}
END_TEST

START_TEST(test_ctx_region_create_from_config)
{
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	struct vmmem_config *cfg = NULL;
	struct vmmem_region *r0, *r0b, *r1, *r = REGION_SENTINEL;

	ck_assert_int_eq(vmmem_config_parse(&cfg, "good:gpa=0,size=64K,fill=1;anon:gpa=1M,size=64K"),
			 0);
	ck_assert_int_eq(vmmem_region_create_from_config(&r0, ctx, cfg, 0), 0);
	ck_assert_int_eq(vmmem_region_create_from_config(&r0b, ctx, cfg, 0), 0);
	ck_assert_int_eq(vmmem_region_create_from_config(&r1, ctx, cfg, 1), 0);
	ck_assert_ptr_ne(r0, r0b);
	ck_assert_ptr_ne(vmmem_region_host(r0), vmmem_region_host(r0b));
	assert_filled(r0, 1);
	assert_filled(r0b, 1);
	ck_assert_uint_eq(vmmem_region_gpa(r1), MiB);
	ck_assert_str_eq(vmmem_provider_name(vmmem_region_provider(r1)), "anon");

	ck_assert_int_eq(vmmem_region_create_from_config(&r, ctx, cfg, 2), -ERANGE);
	ck_assert_ptr_null(r);
	r = REGION_SENTINEL;
	ck_assert_int_eq(vmmem_region_create_from_config(&r, ctx, cfg, SIZE_MAX), -ERANGE);
	ck_assert_ptr_null(r);
	r = REGION_SENTINEL;
	ck_assert_int_eq(vmmem_region_create_from_config(&r, ctx, NULL, 0), -EINVAL);
	ck_assert_ptr_null(r);
	r = REGION_SENTINEL;
	ck_assert_int_eq(vmmem_region_create_from_config(&r, NULL, cfg, 0), -EINVAL);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(vmmem_region_create_from_config(NULL, ctx, cfg, 0), -EINVAL);
	vmmem_region_unref(r0);
	vmmem_region_unref(r0b);
	vmmem_region_unref(r1);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
}
END_TEST

START_TEST(test_ctx_memory_from_config)
{
	struct vmmem_ctx *ctx = ctx_with_path(NULL);
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *m = MEMORY_SENTINEL;
	struct vmmem_region *r0, *r1;
	uint64_t v = 0x0123456789abcdefu, back = 0;
	int fd_before = lowest_free_fd();

	ck_assert_int_eq(vmmem_config_parse(&cfg, "memfd:gpa=1M,size=2M;anon:gpa=0,size=1M"), 0);
	ck_assert_int_eq(vmmem_memory_new_from_config(&m, ctx, cfg), 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_ne(m, MEMORY_SENTINEL);
	ck_assert_uint_eq(vmmem_memory_region_count(m), 2);
	/* Sorted by address in the memory. */
	r0 = vmmem_memory_region_at(m, 0);
	r1 = vmmem_memory_region_at(m, 1);
	ck_assert_uint_eq(vmmem_region_gpa(r0), 0);
	ck_assert_uint_eq(vmmem_region_size(r0), MiB);
	ck_assert_int_eq(vmmem_region_fd(r0), -1);
	ck_assert_str_eq(vmmem_provider_name(vmmem_region_provider(r0)), "anon");
	ck_assert_uint_eq(vmmem_region_gpa(r1), MiB);
	ck_assert_uint_eq(vmmem_region_size(r1), 2 * MiB);
	ck_assert_int_ge(vmmem_region_fd(r1), 0);
	ck_assert_str_eq(vmmem_provider_name(vmmem_region_provider(r1)), "memfd");
	ck_assert_uint_eq(vmmem_memory_last_addr(m), 3 * MiB - 1);
	/* Across the boundary. */
	ck_assert_int_eq(vmmem_memory_write_obj(m, MiB - 4, &v, sizeof(v)), 0);
	ck_assert_int_eq(vmmem_memory_read_obj(m, MiB - 4, &back, sizeof(back)), 0);
	ck_assert_uint_eq(back, v);
	vmmem_config_free(cfg);
	vmmem_memory_unref(m);
	vmmem_ctx_unref(ctx);
	ck_assert_int_eq(lowest_free_fd(), fd_before);

	ctx = ctx_with_path(NULL);
	m = MEMORY_SENTINEL;
	ck_assert_int_eq(vmmem_memory_new_from_config(&m, ctx, NULL), -EINVAL);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(vmmem_config_parse(&cfg, "anon:gpa=0,size=4K"), 0);
	m = MEMORY_SENTINEL;
	ck_assert_int_eq(vmmem_memory_new_from_config(&m, NULL, cfg), -EINVAL);
	ck_assert_ptr_null(m);
	ck_assert_int_eq(vmmem_memory_new_from_config(NULL, ctx, cfg), -EINVAL);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* A failure in a later region leaves nothing of the earlier ones mapped or open. */
static const char *const failing_memories[] = {
	"memfd:gpa=0,size=1M;good:gpa=4G,size=64K,fill=999",
	"memfd:gpa=0,size=1M;anon:gpa=1G,size=1G,reserve=off;good:gpa=4G,size=64K,fill=999",
	"memfd:gpa=0,size=1M;anon:gpa=1G,size=1G,reserve=off;nosuch:gpa=4G,size=64K",
	"memfd:gpa=0,size=1M;anon:gpa=1G,size=1G,reserve=off;good:gpa=4G,size=64K,colour=red",
};
static const int failing_memory_codes[] = { VMMEM_E_CONFIG_VALUE, VMMEM_E_CONFIG_VALUE,
					    VMMEM_E_PROVIDER_NOT_FOUND, VMMEM_E_CONFIG_KEY };

START_TEST(test_ctx_memory_from_config_fails_cleanly)
{
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *m = MEMORY_SENTINEL;
	int fd_before, rc;
	size_t memfd_maps;
	long vm_before;

	/* Load everything first, so the checks see only the regions' own resources. */
	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "memfd"), 0);
	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "anon"), 0);
	ck_assert_int_eq(vmmem_ctx_load_provider(ctx, "good"), 0);
	ck_assert_int_eq(vmmem_config_parse(&cfg, failing_memories[_i]), 0);
	fd_before = lowest_free_fd();
	memfd_maps = maps_lines_containing("vmmem-memfd");
	/* The probe sees a memfd region while it exists (else the check below proves nothing). */
	{
		struct vmmem_region *r = create_ok(ctx, "memfd:gpa=0,size=1M");

		ck_assert_uint_gt(maps_lines_containing("vmmem-memfd"), memfd_maps);
		vmmem_region_unref(r);
		ck_assert_uint_eq(maps_lines_containing("vmmem-memfd"), memfd_maps);
		ck_assert_int_eq(lowest_free_fd(), fd_before);
	}
	vm_before = vm_size_kib();
	rc = vmmem_memory_new_from_config(&m, ctx, cfg);
	ck_assert_msg(rc == failing_memory_codes[_i], "'%s': got %d (%s): %s", failing_memories[_i],
		      rc, vmmem_strerror(rc), vmmem_errormsg());
	ck_assert_ptr_null(m);
	ck_assert_int_eq(lowest_free_fd(), fd_before);
	ck_assert_uint_eq(maps_lines_containing("vmmem-memfd"), memfd_maps);
	ck_assert_int_lt(vm_size_kib(), vm_before + 512 * 1024); /* the 1 GiB region is gone */
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
}
END_TEST

/* ---- concurrency ---- */

struct worker {
	struct vmmem_ctx *ctx;
	unsigned int id;
	unsigned int failures;
	char first_failure[512];
	pthread_barrier_t *start;
};

static void worker_fail(struct worker *w, const char *what, int rc)
{
	if (w->failures++ == 0)
		snprintf(w->first_failure, sizeof(w->first_failure), "thread %u: %s: %d (%s): %s",
			 w->id, what, rc, vmmem_strerror(rc), vmmem_errormsg());
}

static void *worker_main(void *arg)
{
	static const char *const names[] = { "anon", "memfd", "good" };
	struct worker *w = arg;
	char spec[64], missing[32];

	snprintf(spec, sizeof(spec), "good:gpa=0,size=64K,fill=%u", w->id + 1);
	snprintf(missing, sizeof(missing), "nosuch-%u", w->id);
	pthread_barrier_wait(w->start);
	for (unsigned int i = 0; i < 25; i++) {
		const struct vmmem_provider *p = NULL;
		struct vmmem_region *r = NULL;
		size_t failed = 0;
		int rc;

		rc = vmmem_ctx_find_provider(w->ctx, names[(i + w->id) % 3], &p);
		if (rc || !p || strcmp(vmmem_provider_name(p), names[(i + w->id) % 3]))
			worker_fail(w, "find_provider", rc);
		rc = vmmem_region_create(&r, w->ctx, spec);
		if (rc)
			worker_fail(w, spec, rc);
		else {
			const uint8_t *host = vmmem_region_host(r);

			for (size_t j = 0; j < 64 * KiB; j += 4096)
				if (host[j] != w->id + 1)
					worker_fail(w, "fill byte", host[j]);
			vmmem_region_unref(r);
		}
		rc = vmmem_region_create(&r, w->ctx, i % 2 ? "memfd:gpa=0,size=64K"
							   : "anon:gpa=0,size=64K,prealloc=on");
		if (rc)
			worker_fail(w, "memfd/anon region", rc);
		else
			vmmem_region_unref(r);
		/* Failures, and their per-thread messages. */
		rc = vmmem_ctx_load_provider(w->ctx, missing);
		if (rc != VMMEM_E_PROVIDER_NOT_FOUND || !strstr(vmmem_errormsg(), missing))
			worker_fail(w, "missing provider", rc);
		rc = vmmem_ctx_load_provider(w->ctx, "badabi");
		if (rc != VMMEM_E_PROVIDER_ABI || !strstr(vmmem_errormsg(), "badabi"))
			worker_fail(w, "badabi", rc);
		if (w->id == 1 && i == 5) {
			rc = vmmem_ctx_load_all(w->ctx, &failed);
			if (rc || failed != sizeof(broken_plugins) / sizeof(broken_plugins[0]) - 1)
				worker_fail(w, "load_all", rc ? rc : (int)failed);
		}
	}
	return NULL;
}

START_TEST(test_ctx_concurrent_use)
{
	struct vmmem_ctx *ctx = ctx_with_path(both_dirs);
	pthread_barrier_t start;
	struct worker w[2];
	pthread_t t[2];

	ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
	for (unsigned int i = 0; i < 2; i++) {
		w[i] = (struct worker){ .ctx = ctx, .id = i, .start = &start };
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned int i = 0; i < 2; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_msg(w[i].failures == 0, "%u failures, first: %s", w[i].failures,
			      w[i].first_failure);
	}
	pthread_barrier_destroy(&start);
	/* anon, memfd, good; then load_all added hugetlbfs, file, othername, oldops, newtables,
	 * stale and mapper; no duplicates. */
	ck_assert_uint_eq(vmmem_ctx_provider_count(ctx), 10);
	for (size_t i = 0; i < 10; i++)
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(vmmem_provider_name(vmmem_ctx_provider_at(ctx, i)),
					 vmmem_provider_name(vmmem_ctx_provider_at(ctx, j)));
	vmmem_ctx_unref(ctx);
	ck_assert(!plugin_mapped(plugin_dir, "good"));
}
END_TEST

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *ctx_suite(void)
{
	Suite *s = suite_create("ctx");
	TCase *basic = tcase_create("context");
	TCase *path = tcase_create("search_path");
	TCase *load = tcase_create("loader");
	TCase *inproc = tcase_create("in_process");
	TCase *regions = tcase_create("regions");
	TCase *threads = tcase_create("threads");

	tcase_add_test(basic, test_ctx_new_ref_unref);
	suite_add_tcase(s, basic);

	tcase_add_test(path, test_ctx_search_path_default);
	tcase_add_test(path, test_ctx_search_path_follows_env);
	tcase_add_test(path, test_ctx_search_path_explicit);
	tcase_add_test(path, test_ctx_search_path_truncation);
	tcase_add_test(path, test_ctx_search_path_null);
	tcase_add_test(path, test_ctx_search_path_overrides_env);
	suite_add_tcase(s, path);

	tcase_add_loop_test(load, test_ctx_load_broken_plugin, 0, N_OF(broken_plugins));
	tcase_add_test(load, test_ctx_load_good_plugin);
	tcase_add_test(load, test_ctx_provider_accessors_null);
	tcase_add_test(load, test_ctx_real_provider_options);
	tcase_add_test(load, test_ctx_load_unsafe);
	tcase_add_test(load, test_ctx_first_directory_wins);
	tcase_add_test(load, test_ctx_load_all_providers);
	tcase_add_test(load, test_ctx_load_all_test_plugins);
	tcase_add_test(load, test_ctx_find_provider_on_demand);
	tcase_add_loop_test(load, test_ctx_invalid_names, 0, N_OF(invalid_names));
	suite_add_tcase(s, load);

	tcase_add_test(inproc, test_ctx_register_valid);
	tcase_add_test(inproc, test_ctx_register_null);
	tcase_add_loop_test(inproc, test_ctx_register_invalid, 0, N_OF(bad_entries));
	tcase_add_test(inproc, test_ctx_register_newer_minor);
	tcase_add_test(inproc, test_ctx_inproc_options_passed);
	tcase_add_test(inproc, test_ctx_inproc_no_discard);
	tcase_add_test(inproc, test_ctx_inproc_create_fails);
	tcase_add_test(inproc, test_ctx_inproc_shadows_plugin);
	tcase_add_test(inproc, test_ctx_inproc_outlives_ctx);
	suite_add_tcase(s, inproc);

	tcase_add_test(regions, test_ctx_region_create_good);
	tcase_add_loop_test(regions, test_ctx_region_create_errors, 0, N_OF(region_errors));
	tcase_add_test(regions, test_ctx_region_create_null);
	tcase_add_test(regions, test_ctx_plugin_outlives_ctx);
	tcase_add_test(regions, test_ctx_plugin_outlives_ctx_in_memory);
	tcase_add_test(regions, test_ctx_region_create_from_config);
	tcase_add_test(regions, test_ctx_memory_from_config);
	tcase_add_loop_test(regions, test_ctx_memory_from_config_fails_cleanly, 0,
			    N_OF(failing_memories));
	suite_add_tcase(s, regions);

	tcase_set_timeout(threads, 120);
	tcase_add_test(threads, test_ctx_concurrent_use);
	suite_add_tcase(s, threads);
	return s;
}

int main(void)
{
	provider_dir = getenv("VMMEM_PROVIDER_PATH");
	plugin_dir = getenv("VMMEM_TEST_PLUGIN_DIR");
	if (!provider_dir || !*provider_dir || strchr(provider_dir, ':') || !plugin_dir ||
	    !*plugin_dir) {
		fprintf(stderr, "check_ctx: run through ctest (VMMEM_PROVIDER_PATH and "
				"VMMEM_TEST_PLUGIN_DIR must name the build's plugin directories)\n");
		return 77;
	}
	snprintf(both_dirs, sizeof(both_dirs), "%s:%s", provider_dir, plugin_dir);
	return tu_run_suite(ctx_suite());
}
