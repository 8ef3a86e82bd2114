/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* libFuzzer target for provider option declaration and resolution, through the public path
 * only: vmmem_ctx_register_provider() of in-process providers, then vmmem_region_create()
 * with a region spec built from the input. Built by tests/fuzz/run_fuzz.sh with every
 * core/ source compiled in under the sanitizers.
 *
 * The input is not used as the spec text directly: most random bytes would die in the
 * config parser, which fuzz_config already covers. It is read as a list of choices
 * (provider, option table, keys, values, separators, the provider's behaviour) that
 * assemble a spec mixing declared, common and unknown keys, good and bad values of every
 * type, duplicates, huge numbers, escapes and raw bytes.
 *
 * The oracle is a model written from the headers (vmmem/provider.h, vmmem/config.h),
 * independent of core/ctx.c: a table is registered iff every option is valid; the spec,
 * parsed with vmmem_config_parse(), either fails with one of the codes the model expects
 * (and the provider's create is never called) or reaches create exactly once, with
 * gpa/length and one value per declared option equal to the model's (is_set, defaults,
 * bool 0/1, sizes, numbers, strings). Whatever create does (map, fail, return a positive
 * code, return a bad mapping) the result must follow: nothing stays mapped on failure, and
 * a region made has the spec's readonly and dirty-log settings. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vmmem.h>
#include <vmmem/provider.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "fuzz_options: invariant failed: %s (line %d)\n", #cond, \
				__LINE__);                                                    \
			if (cur_spec)                                                         \
				fprintf(stderr, "fuzz_options: spec '%s', last error '%s'\n",   \
					cur_spec, vmmem_errormsg());                          \
			abort();                                                              \
		}                                                                             \
	} while (0)

static const char *cur_spec; /* for the failure message */

#define MAX_OPTIONS 9          /* the fixed table's size; a fuzzed table has at most 6 */
#define MAX_MAP (1024 * 1024)  /* create maps at most this much, else fails with -ENOMEM */
#define MAX_ITEMS 24           /* key=value items per spec */

/* ---- reading the input ---- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t un(struct input *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

/* ---- building the spec ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void put_n(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = 2 * (b->len + n + 1) + 256;
		b->p = realloc(b->p, b->cap);
		CHECK(b->p);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void put(struct buf *b, const char *s)
{
	put_n(b, s, strlen(s));
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	CHECK(n >= 0 && (size_t)n < sizeof(tmp));
	put_n(b, tmp, (size_t)n);
}

/* A value, with ',' and ';' doubled unless raw (then they end the value or the region). */
static void put_value(struct buf *b, const char *s, size_t n, bool raw)
{
	for (size_t i = 0; i < n; i++) {
		put_n(b, &s[i], 1);
		if (!raw && (s[i] == ',' || s[i] == ';'))
			put_n(b, &s[i], 1);
	}
}

/* Values worth trying for every type: each boolean spelling, near-misses, size and number
 * syntax, the 2^64 boundary (with and without suffix), and characters with a meaning in
 * the grammar. */
static const char *const interesting_values[] = {
	"on", "off", "yes", "no", "true", "false", "On", "OFF", "1", "0", "", "0x", "0x0",
	"0X1f", "0xg", "-1", "+1", " 1", "1 ", "01", "4096", "4K", "4k", "2M", "1g", "1T", "1P",
	"0x1000", "0x10K", "1KB", "1K1", "K", "18446744073709551615", "18446744073709551616",
	"0xffffffffffffffff", "0x10000000000000000", "16777215T", "16777216T",
	"17592186044415M", "4294967295", "4294967296", "a,b", ";", "=", "hello", "x=y", "\t",
	"on,off",
};
#define N_VALUES (sizeof(interesting_values) / sizeof(interesting_values[0]))

/* Keys: the fixed table's, the common ones, ones nobody declares, and invalid ones. */
static const char *const keys[] = {
	"flag", "flagd", "bytes", "bytesd", "count", "countd", "label", "labeld", "reserve",
	"gpa", "size", "prealloc", "prealloc-threads", "dump", "merge", "readonly", "dirty-log",
	"dirty-page-size", "hugetlb", "hugetlbsize", "seal", "share", "path", "x", "gpa_",
	"Size", "", "k=v",
	"a123456789b123456789c123456789d123456789e123456789f123456789g1234", /* 65 chars */
	"a123456789b123456789c123456789d123456789e123456789f123456789g123",  /* 64 chars */
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))
#define FIRST_COMMON_KEY 9
#define N_COMMON_KEYS 9

static const char *const common_keys[N_COMMON_KEYS] = {
	"gpa", "size", "prealloc", "prealloc-threads", "dump", "merge", "readonly", "dirty-log",
	"dirty-page-size",
};

/* A number in one of the spellings the grammar allows (or not quite). */
static void put_number(struct buf *b, struct input *in)
{
	uint8_t style = u8(in);
	uint64_t v;

	switch (style % 8) {
	case 0: /* a few pages: what create can actually map */
		putf(b, "%uK", 4u * (1u + u8(in) % 64u));
		break;
	case 1:
		putf(b, "%llu", (unsigned long long)un(in, 2));
		break;
	case 2:
		putf(b, "0x%llx", (unsigned long long)un(in, 4));
		break;
	case 3:
		v = un(in, 8);
		putf(b, style & 0x80 ? "0X%llX" : "%llu", (unsigned long long)v);
		break;
	case 4:
		putf(b, "%llu%c", (unsigned long long)un(in, 3), "KMGTkmgt"[u8(in) % 8]);
		break;
	case 5:
		putf(b, "%lluT", (unsigned long long)(16777200u + u8(in) % 32u));
		break;
	default:
		put(b, interesting_values[u8(in) % N_VALUES]);
		break;
	}
}

static void put_any_value(struct buf *b, struct input *in)
{
	uint8_t sel = u8(in);
	const char *s;
	size_t n;

	switch (sel % 4) {
	case 0:
	case 1:
		s = interesting_values[u8(in) % N_VALUES];
		put_value(b, s, strlen(s), sel & 0x80);
		break;
	case 2:
		put_number(b, in);
		break;
	default: /* raw bytes of the input */
		n = u8(in) % 12u;
		if (n > in->n)
			n = in->n;
		put_value(b, (const char *)in->p, strnlen((const char *)in->p, n), sel & 0x80);
		in->p += n;
		in->n -= n;
		break;
	}
}

/* ---- the model (from the headers, not from core/) ---- */

static bool model_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_' ||
		      s[n] == '-'))
			return false;
	return n >= 1 && n <= 64;
}

static bool model_common(const char *key)
{
	for (size_t i = 0; i < N_COMMON_KEYS; i++)
		if (!strcmp(key, common_keys[i]))
			return true;
	return false;
}

static int model_bool(const char *t, uint64_t *out)
{
	if (!strcmp(t, "on") || !strcmp(t, "yes") || !strcmp(t, "true"))
		*out = 1;
	else if (!strcmp(t, "off") || !strcmp(t, "no") || !strcmp(t, "false"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* Decimal, or hex after 0x/0X, at least one digit, no overflow; *end past the digits. */
static int model_digits(const char *t, uint64_t *out, const char **end)
{
	bool hex = t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
	const char *p = hex ? t + 2 : t, *start = p;
	uint64_t v = 0;

	for (;; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (hex && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a') + 10;
		else if (hex && *p >= 'A' && *p <= 'F')
			d = (unsigned int)(*p - 'A') + 10;
		else
			break;
		if (v > (UINT64_MAX - d) / (hex ? 16 : 10))
			return -1;
		v = v * (hex ? 16 : 10) + d;
	}
	if (p == start)
		return -1;
	*out = v;
	*end = p;
	return 0;
}

static int model_uint(const char *t, uint64_t *out)
{
	const char *end;

	return model_digits(t, out, &end) || *end ? -1 : 0;
}

static int model_size(const char *t, uint64_t *out)
{
	const char *end, *suffixes = "KMGT";
	uint64_t v;
	unsigned int shift = 0;

	if (model_digits(t, &v, &end))
		return -1;
	if (*end) {
		const char *s = strchr(suffixes, *end >= 'a' ? *end - 'a' + 'A' : *end);

		if (!s || !*s || end[1])
			return -1;
		shift = 10u * (unsigned int)(s - suffixes + 1);
		if (v > UINT64_MAX >> shift)
			return -1;
	}
	*out = v << shift;
	return 0;
}

/* A value of an option type: 0 and the value, or -1. */
static int model_typed(uint32_t type, const char *text, struct vmmem_option_value *v)
{
	switch (type) {
	case VMMEM_OPTION_BOOL:
		return model_bool(text, &v->num);
	case VMMEM_OPTION_SIZE:
		return model_size(text, &v->num);
	case VMMEM_OPTION_UINT:
		return model_uint(text, &v->num);
	case VMMEM_OPTION_STRING:
		v->str = text;
		return 0;
	default:
		return -1;
	}
}

static bool model_table_valid(const struct vmmem_option_desc *opts)
{
	for (const struct vmmem_option_desc *o = opts; o && o->key; o++) {
		struct vmmem_option_value v = { 0 };

		if (!model_name(o->key) || model_common(o->key))
			return false;
		if (o->type < VMMEM_OPTION_BOOL || o->type > VMMEM_OPTION_STRING)
			return false;
		if (o->default_value && model_typed(o->type, o->default_value, &v))
			return false;
		for (const struct vmmem_option_desc *q = opts; q != o; q++)
			if (!strcmp(q->key, o->key))
				return false;
	}
	return true;
}

/* ---- the providers ---- */

static const struct vmmem_option_desc fixed_options[] = {
	{ "flag", VMMEM_OPTION_BOOL, 0, NULL, "bool without default" },
	{ "flagd", VMMEM_OPTION_BOOL, 0, "on", "bool, default on" },
	{ "bytes", VMMEM_OPTION_SIZE, 0, NULL, "size without default" },
	{ "bytesd", VMMEM_OPTION_SIZE, 0, "2M", "size, default 2M" },
	{ "count", VMMEM_OPTION_UINT, 0, NULL, "number without default" },
	{ "countd", VMMEM_OPTION_UINT, 0, "0x10", "number, default 16" },
	{ "label", VMMEM_OPTION_STRING, 0, NULL, "string without default" },
	{ "labeld", VMMEM_OPTION_STRING, 0, "a,b", "string, default 'a,b'" },
	{ "reserve", VMMEM_OPTION_BOOL, 0, "on", "QEMU's reserve: prealloc=on needs it on" },
	{ NULL, 0, 0, NULL, NULL },
};

/* What create should do this time. */
enum create_mode {
	CREATE_MAP,      /* map anonymous memory (-ENOMEM past MAX_MAP) */
	CREATE_MAP_FD,   /* map a memfd, shared */
	CREATE_ERROR,    /* fail through core->set_error(-EINVAL) */
	CREATE_POSITIVE, /* return 7, which the core must turn into an error */
	CREATE_BAD_LEN,  /* a mapping of the wrong length: refused, destroyed */
	CREATE_BAD_PAGE, /* a mapping with a page size that is no power of two */
	N_CREATE_MODES
};

struct fz_state {
	const char *name;
	const struct vmmem_option_desc *options; /* as registered */
	size_t n_options;
	/* Set before each vmmem_region_create(). */
	bool expect_create;
	uint64_t gpa, length;
	struct vmmem_option_value expect[MAX_OPTIONS];
	enum create_mode mode;
	/* Counted by the ops. */
	unsigned int creates, live;
	int created_rc;
	void *addr;
};

struct fz_mapping {
	uint64_t magic;
	size_t len;
};
#define MAPPING_MAGIC 0x6d617070696e6721ull

static const struct vmmem_core_api *core;
static struct fz_state fz_state = { .name = "fz" }, bare_state = { .name = "bare" };
static struct vmmem_option_desc fuzzed_options[7];
static bool register_bare_only, init_returns_error;

static int fz_create(void *data, const struct vmmem_provider_params *params,
		     struct vmmem_mapping *out)
{
	struct fz_state *s = data;
	uint64_t page = core->host_page_size(), len;
	struct fz_mapping *priv;
	void *addr;
	int fd = -1;

	s->creates++;
	CHECK(s->expect_create);
	CHECK(params && params->size == sizeof(*params));
	CHECK(params->reserved == 0 && params->reserved2 == 0);
	CHECK(params->gpa == s->gpa && params->length == s->length && params->length > 0);
	CHECK(params->n_options == s->n_options);
	CHECK(params->options || s->n_options == 0);
	for (size_t i = 0; i < s->n_options; i++) {
		const struct vmmem_option_value *got = &params->options[i], *want = &s->expect[i];

		CHECK(got->is_set == want->is_set);
		CHECK(got->reserved == 0);
		if (s->options[i].type == VMMEM_OPTION_STRING) {
			CHECK(!got->str == !want->str);
			CHECK(!got->str || !strcmp(got->str, want->str));
		} else {
			CHECK(got->num == want->num);
			CHECK(s->options[i].type != VMMEM_OPTION_BOOL || got->num <= 1);
		}
	}
	/* Documented: out is zeroed, its size set, fd -1. */
	CHECK(out->size == sizeof(*out) && out->fd == -1 && !out->addr && !out->flags &&
	      !out->length && !out->page_size && !out->fd_offset && !out->priv);

	switch (s->mode) {
	case CREATE_ERROR:
		return s->created_rc = core->set_error(-EINVAL, "fuzz: %s refuses", s->name);
	case CREATE_POSITIVE:
		return s->created_rc = 7;
	default:
		break;
	}
	if (params->length > MAX_MAP)
		return s->created_rc = core->set_error(-ENOMEM, "fuzz: %llu bytes is too much",
						       (unsigned long long)params->length);
	len = (params->length + page - 1) & ~(page - 1);
	if (s->mode == CREATE_MAP_FD) {
		fd = memfd_create("fuzz_options", MFD_CLOEXEC);
		CHECK(fd >= 0);
		CHECK(ftruncate(fd, (off_t)len) == 0);
		addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	CHECK(addr != MAP_FAILED);
	priv = core->alloc(sizeof(*priv));
	CHECK(priv);
	*priv = (struct fz_mapping){ .magic = MAPPING_MAGIC, .len = len };
	out->addr = addr;
	out->length = params->length;
	out->page_size = page;
	out->priv = priv;
	out->fd = fd;
	out->flags = fd >= 0 ? VMMEM_MAPPING_SHARED : 0;
	if (s->mode == CREATE_BAD_LEN)
		out->length = params->length + 1;
	if (s->mode == CREATE_BAD_PAGE)
		out->page_size = 3 * page;
	s->live++;
	s->addr = addr;
	return s->created_rc = 0;
}

static void fz_destroy(void *data, struct vmmem_mapping *m)
{
	struct fz_state *s = data;
	struct fz_mapping *priv = m->priv;

	CHECK(s->live == 1 && m->addr == s->addr && priv && priv->magic == MAPPING_MAGIC);
	priv->magic = 0;
	CHECK(munmap(m->addr, priv->len) == 0);
	if (m->fd >= 0)
		close(m->fd);
	core->free(priv);
	s->live--;
}

static const struct vmmem_provider_ops fz_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = fz_create,
	.destroy = fz_destroy,
};

static struct vmmem_provider_desc make_desc(struct fz_state *s)
{
	return (struct vmmem_provider_desc){
		.size = sizeof(struct vmmem_provider_desc),
		.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
		.abi_minor = VMMEM_PROVIDER_ABI_MINOR,
		.version = 0x010000,
		.name = s->name,
		.description = "fuzz provider",
		.options = s->options,
		.ops = &fz_ops,
		.provider_data = s,
	};
}

/* Registers "bare" (no options) and "fz" (fz_state.options) in one call: if fz's table is
 * refused, nothing may be registered. */
static int fz_init(const struct vmmem_core_api *c, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc bare = make_desc(&bare_state), fz = make_desc(&fz_state);
	int rc;

	CHECK(c && c->size >= sizeof(*c) && c->abi_major == VMMEM_PROVIDER_ABI_MAJOR);
	core = c;
	rc = c->register_provider(h, &bare);
	CHECK(rc == 0);
	if (register_bare_only)
		return 0;
	rc = c->register_provider(h, &fz);
	/* Half the time the error is not passed on: the core must still refuse. */
	return init_returns_error ? rc : 0;
}

/* ---- one input ---- */

/* The distinct error codes the model allows for one spec (any of them may come first). */
#define MAX_ERRORS 4

static size_t add_error(int *errs, size_t n, int code)
{
	for (size_t i = 0; i < n; i++)
		if (errs[i] == code)
			return n;
	CHECK(n < MAX_ERRORS);
	errs[n] = code;
	return n + 1;
}

/* Fill the expected values of state s from the region's options; collect the errors the
 * model expects into errs (MAX_ERRORS). Returns the number of errors. */
static size_t model_resolve(struct fz_state *s, const struct vmmem_config *cfg, bool prealloc,
			    int *errs)
{
	size_t nerr = 0, nopt = vmmem_config_option_count(cfg, 0);
	long reserve = -1;

	memset(s->expect, 0, sizeof(s->expect));
	for (size_t i = 0; i < s->n_options; i++) {
		const struct vmmem_option_desc *o = &s->options[i];

		if (o->default_value)
			CHECK(model_typed(o->type, o->default_value, &s->expect[i]) == 0);
		if (!strcmp(o->key, "reserve") && o->type == VMMEM_OPTION_BOOL)
			reserve = (long)i;
	}
	for (size_t j = 0; j < nopt; j++) {
		const char *key, *value;
		size_t i;

		CHECK(vmmem_config_option(cfg, 0, j, &key, &value) == 0);
		if (model_common(key))
			continue;
		for (i = 0; i < s->n_options && strcmp(s->options[i].key, key); i++)
			;
		if (i == s->n_options) {
			nerr = add_error(errs, nerr, VMMEM_E_CONFIG_KEY);
			continue;
		}
		s->expect[i] = (struct vmmem_option_value){ .is_set = 1 };
		if (model_typed(s->options[i].type, value, &s->expect[i]))
			nerr = add_error(errs, nerr, VMMEM_E_CONFIG_VALUE);
	}
	if (nerr == 0 && prealloc && reserve >= 0 && s->expect[reserve].num == 0)
		nerr = add_error(errs, nerr, VMMEM_E_CONFIG_CONFLICT);
	return nerr;
}

static bool common_bool(const struct vmmem_config *cfg, const char *key, bool dflt)
{
	size_t nopt = vmmem_config_option_count(cfg, 0);

	for (size_t j = 0; j < nopt; j++) {
		const char *k, *v;
		uint64_t b;

		CHECK(vmmem_config_option(cfg, 0, j, &k, &v) == 0);
		if (!strcmp(k, key)) {
			CHECK(model_bool(v, &b) == 0); /* the parser checked the common keys */
			return b;
		}
	}
	return dflt;
}

static uint64_t common_size(const struct vmmem_config *cfg, const char *key)
{
	size_t nopt = vmmem_config_option_count(cfg, 0);

	for (size_t j = 0; j < nopt; j++) {
		const char *k, *v;
		uint64_t n;

		CHECK(vmmem_config_option(cfg, 0, j, &k, &v) == 0);
		if (!strcmp(k, key)) {
			CHECK(model_size(v, &n) == 0);
			return n;
		}
	}
	return 0;
}

/* A region that was made: the spec's settings hold, and it works as guest memory. */
static void check_region(struct vmmem_region *r, struct fz_state *s,
			 const struct vmmem_config *cfg)
{
	bool readonly = common_bool(cfg, "readonly", false);
	bool dirty = common_bool(cfg, "dirty-log", false);
	uint64_t dps = common_size(cfg, "dirty-page-size"), gpa, size;
	struct vmmem_memory *m = NULL;
	uint8_t byte = 0x5a;
	int rc;

	CHECK(vmmem_config_region(cfg, 0, NULL, &gpa, &size) == 0);
	CHECK(vmmem_region_gpa(r) == gpa && vmmem_region_size(r) == size);
	CHECK(vmmem_region_host(r) == s->addr);
	CHECK(!!(vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY) == readonly);
	CHECK(vmmem_region_dirty_page_size(r) == (dirty ? (dps ? dps : 4096) : 0));
	CHECK((vmmem_region_fd(r) >= 0) == (s->mode == CREATE_MAP_FD));
	CHECK(!strcmp(vmmem_provider_name(vmmem_region_provider(r)), s->name));
	CHECK(vmmem_memory_new(&m, &r, 1) == 0);
	rc = vmmem_memory_write_obj(m, gpa + size - 1, &byte, 1);
	CHECK(rc == (readonly ? VMMEM_E_READ_ONLY : 0));
	if (!readonly)
		CHECK(((volatile uint8_t *)s->addr)[size - 1] == 0x5a);
	if (dirty && !readonly)
		CHECK(vmmem_region_dirty_test(r, size - 1) == 1);
	vmmem_memory_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct buf spec = { 0 };
	struct vmmem_ctx *ctx = NULL;
	struct vmmem_config *cfg = NULL;
	struct vmmem_region *r = (struct vmmem_region *)(uintptr_t)1;
	struct fz_state *s = NULL;
	int errs[MAX_ERRORS];
	size_t nerr = 0;
	const char *provider;
	uint64_t gpa, len;
	uint8_t hdr = u8(&in), mode = u8(&in);
	bool table_ok, registered_fz, prealloc;
	int rc, cfg_rc;

	/* The option table: the fixed one, or up to 6 options drawn from the input. */
	fz_state.options = fixed_options;
	if (hdr & 1) {
		size_t n = u8(&in) % 7u;

		memset(fuzzed_options, 0, sizeof(fuzzed_options));
		for (size_t i = 0; i < n; i++) {
			uint8_t d = u8(&in), key = u8(&in), type = u8(&in);

			fuzzed_options[i] = (struct vmmem_option_desc){
				.key = keys[key % N_KEYS],
				.type = type % 6u, /* 0 and 5 are no type */
				.default_value = d & 1 ? interesting_values[(d >> 1) % N_VALUES] : NULL,
				.help = d & 0x80 ? NULL : "fuzzed",
			};
		}
		fz_state.options = fuzzed_options;
	}
	fz_state.n_options = 0;
	while (fz_state.options[fz_state.n_options].key)
		fz_state.n_options++;
	table_ok = model_table_valid(fz_state.options);
	init_returns_error = hdr & 0x80;
	fz_state.live = bare_state.live = bare_state.creates = 0;
	fz_state.mode = bare_state.mode = (enum create_mode)(mode % N_CREATE_MODES);

	CHECK(vmmem_ctx_new(&ctx) == 0);
	/* No plugin is ever loaded: unknown provider names must end in "not found". */
	CHECK(vmmem_ctx_set_search_path(ctx, "/nonexistent/vmmem-fuzz") == 0);
	register_bare_only = false;
	rc = vmmem_ctx_register_provider(ctx, fz_init);
	if (table_ok) {
		CHECK(rc == 0 && vmmem_ctx_provider_count(ctx) == 2);
	} else {
		CHECK(rc == VMMEM_E_PROVIDER_INVALID && vmmem_ctx_provider_count(ctx) == 0);
		register_bare_only = true;
		CHECK(vmmem_ctx_register_provider(ctx, fz_init) == 0);
		CHECK(vmmem_ctx_provider_count(ctx) == 1);
	}
	registered_fz = table_ok;
	if (registered_fz) {
		const struct vmmem_provider *p = NULL;

		CHECK(vmmem_ctx_find_provider(ctx, "fz", &p) == 0);
		CHECK(vmmem_provider_option_count(p) == fz_state.n_options);
		for (size_t i = 0; i < fz_state.n_options; i++) {
			const char *key, *dflt, *help;
			uint32_t type;

			CHECK(vmmem_provider_option(p, i, &key, &type, &dflt, &help) == 0);
			CHECK(!strcmp(key, fz_state.options[i].key));
			CHECK(type == fz_state.options[i].type);
			CHECK(!dflt == !fz_state.options[i].default_value);
			CHECK(!dflt || !strcmp(dflt, fz_state.options[i].default_value));
			CHECK(help != NULL);
		}
		CHECK(vmmem_provider_option(p, fz_state.n_options, NULL, NULL, NULL, NULL) ==
		      -ERANGE);
	}

	/* The spec. */
	switch ((hdr >> 1) & 7) {
	case 0: case 1: case 2: case 3: put(&spec, "fz"); break;
	case 4: case 5: put(&spec, "bare"); break;
	case 6: put(&spec, "nosuch"); break;
	default: put(&spec, keys[u8(&in) % N_KEYS]); break;
	}
	put(&spec, ":");
	if (!(hdr & 0x10)) { /* mostly start with a valid gpa and size */
		putf(&spec, "gpa=0x%llx,size=", (unsigned long long)(un(&in, 2) << 12));
		put_number(&spec, &in);
	}
	for (size_t item = 0; item < MAX_ITEMS && in.n; item++) {
		uint8_t op = u8(&in);

		if (spec.p[spec.len - 1] != ':')
			put(&spec, op & 0x80 ? (op & 0x40 ? ";" : "") : ",");
		switch (op % 8) {
		case 0:
			put(&spec, "gpa=");
			put_number(&spec, &in);
			break;
		case 1:
			put(&spec, "size=");
			put_number(&spec, &in);
			break;
		case 2:
		case 3:
		case 4: /* a key of the table in use (the fixed one's when the table is empty) */
			if (fz_state.n_options && (op & 0x20))
				put(&spec, fz_state.options[u8(&in) % fz_state.n_options].key);
			else
				put(&spec, keys[u8(&in) % FIRST_COMMON_KEY]);
			put(&spec, "=");
			put_any_value(&spec, &in);
			break;
		case 5:
			put(&spec, common_keys[u8(&in) % N_COMMON_KEYS]);
			put(&spec, "=");
			put_any_value(&spec, &in);
			break;
		case 6:
			put(&spec, keys[u8(&in) % N_KEYS]);
			put(&spec, "=");
			put_any_value(&spec, &in);
			break;
		default: /* raw text */
			put_any_value(&spec, &in);
			break;
		}
	}
	cur_spec = spec.p;

	/* What the model expects. */
	cfg_rc = vmmem_config_parse(&cfg, spec.p);
	if (cfg_rc) {
		errs[nerr++] = cfg_rc;
	} else if (vmmem_config_region_count(cfg) != 1) {
		errs[nerr++] = -EINVAL;
	} else {
		CHECK(vmmem_config_region(cfg, 0, &provider, &gpa, &len) == 0);
		if (!strcmp(provider, "fz") && registered_fz)
			s = &fz_state;
		else if (!strcmp(provider, "bare"))
			s = &bare_state;
		else
			errs[nerr++] = VMMEM_E_PROVIDER_NOT_FOUND;
		if (s) {
			prealloc = common_bool(cfg, "prealloc", false);
			nerr = model_resolve(s, cfg, prealloc, errs);
			s->gpa = gpa;
			s->length = len;
		}
	}
	fz_state.expect_create = bare_state.expect_create = s && nerr == 0;
	fz_state.creates = bare_state.creates = 0;

	/* A known message, so that a failure that leaves the previous one is recognisable. */
	CHECK(vmmem_parse_size("stale", &gpa) == VMMEM_E_CONFIG_VALUE);
	rc = vmmem_region_create(&r, ctx, spec.p);
	if (getenv("VMMEM_FUZZ_VERBOSE")) /* to see what a seed or a crash input builds */
		fprintf(stderr, "fuzz_options: '%s' -> %d %s\n", spec.p, rc,
			rc ? vmmem_errormsg() : "");

	CHECK(fz_state.live + bare_state.live == (rc == 0));
	CHECK((rc == 0) == (r != NULL));
	if (nerr) {
		bool expected = false;

		for (size_t i = 0; i < nerr; i++)
			expected |= rc == errs[i];
		if (!expected)
			fprintf(stderr, "fuzz_options: got %d (%s), expected e.g. %d\n", rc,
				vmmem_errormsg(), errs[0]);
		CHECK(expected);
		CHECK(fz_state.creates + bare_state.creates == 0);
	} else {
		CHECK(s->creates == 1 && fz_state.creates + bare_state.creates == 1);
		/* Every failure says why (vmmem/error.h), a create op returning a positive
		 * value included (it used to leave the previous message in place:
		 * tests/fuzz/crashes/options/). */
		if (rc)
			CHECK(vmmem_errormsg()[0] != '\0' &&
			      !strstr(vmmem_errormsg(), "'stale' is not a size"));
		if (s->created_rc < 0) {
			CHECK(rc == s->created_rc);
		} else if (s->created_rc > 0) {
			CHECK(rc < 0);
		} else if (s->mode == CREATE_BAD_LEN || s->mode == CREATE_BAD_PAGE) {
			CHECK(rc == VMMEM_E_PROVIDER_INVALID);
		} else if (rc) {
			/* Only the steps after create may fail: prealloc (-EINVAL if the size is
			 * not whole pages), KSM, or memory. */
			CHECK(common_bool(cfg, "prealloc", false) || common_bool(cfg, "merge", false) ||
			      rc == -ENOMEM);
		} else {
			check_region(r, s, cfg);
		}
	}
	vmmem_region_unref(r);
	CHECK(fz_state.live == 0 && bare_state.live == 0);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
	cur_spec = NULL;
	free(spec.p);
	return 0;
}
