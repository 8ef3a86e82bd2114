/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Config-string parser. Pure: no I/O, no globals; fuzzed by tests/fuzz_config.c. */
#define _GNU_SOURCE
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The keys every region takes, whatever its provider. */
enum common_key {
	KEY_GPA, KEY_SIZE, KEY_PREALLOC, KEY_THREADS, KEY_DUMP, KEY_MERGE, KEY_RO,
	KEY_DIRTY, KEY_DIRTY_PAGE, KEY_LOCK, KEY_NODES, KEY_POLICY, KEY_ALIGN, KEY_GUARD,
};
static const char *const common_keys[] = {
	[KEY_GPA] = "gpa",     [KEY_SIZE] = "size", [KEY_PREALLOC] = "prealloc",
	[KEY_THREADS] = "prealloc-threads", [KEY_DUMP] = "dump", [KEY_MERGE] = "merge",
	[KEY_RO] = "readonly", [KEY_DIRTY] = "dirty-log", [KEY_DIRTY_PAGE] = "dirty-page-size",
	[KEY_LOCK] = "lock", [KEY_NODES] = "host-nodes", [KEY_POLICY] = "policy",
	[KEY_ALIGN] = "align", [KEY_GUARD] = "guard",
};
#define N_COMMON (sizeof(common_keys) / sizeof(common_keys[0]))

bool
vmm_config_is_common_key(const char *key)
{
	for (size_t k = 0; k < N_COMMON; k++)
		if (!strcmp(key, common_keys[k]))
			return true;
	return false;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
vmm_parse_bool(const char *t, bool *out)
{
	if (!strcmp(t, "on") || !strcmp(t, "yes") || !strcmp(t, "true")) {
		*out = true;
		return 0;
	}
	if (!strcmp(t, "off") || !strcmp(t, "no") || !strcmp(t, "false")) {
		*out = false;
		return 0;
	}
	return VMMEM_E_CONFIG_VALUE;
}

/* Digits (decimal, or hex after 0x) up to the first non-digit; *end points past them. */
static int parse_digits(const char *t, uint64_t *out, const char **end)
{
	unsigned int base = 10;
	uint64_t v = 0;
	const char *p = t;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	const char *digits = p;
	for (;; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned int)(*p - 'A' + 10);
		else
			break;
		if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v))
			return VMMEM_E_CONFIG_VALUE;
	}
	if (p == digits)
		return VMMEM_E_CONFIG_VALUE;
	*out = v;
	*end = p;
	return 0;
}

int
vmm_parse_uint(const char *t, uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (parse_digits(t, &v, &end) || *end)
		return VMMEM_E_CONFIG_VALUE;
	*out = v;
	return 0;
}

int
vmm_parse_size_value(const char *t, uint64_t *out)
{
	const char *end;
	unsigned int shift = 0;
	uint64_t v;

	if (parse_digits(t, &v, &end))
		return VMMEM_E_CONFIG_VALUE;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	default:
		return VMMEM_E_CONFIG_VALUE;
	}
	if (shift && end[1])
		return VMMEM_E_CONFIG_VALUE;
	if (shift && v > (UINT64_MAX >> shift))
		return VMMEM_E_CONFIG_VALUE;
	*out = v << shift;
	return 0;
}

int
vmmem_parse_size(const char *text, uint64_t *out)
{
	VMM_CHECK_ARG(text);
	VMM_CHECK_ARG(out);
	if (vmm_parse_size_value(text, out))
		return vmm_err(VMMEM_E_CONFIG_VALUE, "'%s' is not a size", text);
	return 0;
}

/* Parser state over the whole text. */
struct parser {
	const char *text;
	size_t i;
	struct vmmem_config *cfg;
};

static int syntax_error(const struct parser *p, const char *expected)
{
	char c = p->text[p->i];

	if (!c)
		return vmm_err(VMMEM_E_CONFIG_SYNTAX, "config position %zu: expected %s, found the end",
			       p->i, expected);
	return vmm_err(VMMEM_E_CONFIG_SYNTAX, "config position %zu: expected %s, found '%c'", p->i,
		       expected, c);
}

static void skip_space(struct parser *p)
{
	while (is_space(p->text[p->i]))
		p->i++;
}

/* A [a-z0-9_-]+ name, copied. */
static int parse_name(struct parser *p, const char *what, char **out)
{
	size_t start = p->i;

	while (is_name_char(p->text[p->i]))
		p->i++;
	if (p->i == start)
		return syntax_error(p, what);
	*out = strndup(p->text + start, p->i - start);
	return *out ? 0 : vmm_err(-ENOMEM, "config: out of memory");
}

/* A value up to an unescaped ',' or ';' or the end; ",," and ";;" stand for one. */
static int parse_value(struct parser *p, char **out)
{
	const char *t = p->text;
	size_t start = p->i, n = 0;
	char *v;

	/* First pass: find the end and the unescaped length. */
	for (size_t j = start; t[j]; j++, n++) {
		if ((t[j] == ',' || t[j] == ';')) {
			if (t[j + 1] != t[j])
				break;
			j++;
		}
	}
	v = malloc(n + 1);
	if (!v)
		return vmm_err(-ENOMEM, "config: out of memory");
	n = 0;
	while (t[p->i]) {
		char c = t[p->i];

		if (c == ',' || c == ';') {
			if (t[p->i + 1] != c)
				break;
			p->i++;
		}
		v[n++] = c;
		p->i++;
	}
	/* Whitespace before a ';' or the end is layout, not value; before a ',' it is kept. */
	if (t[p->i] != ',')
		while (n && is_space(v[n - 1]))
			n--;
	v[n] = '\0';
	*out = v;
	return 0;
}

static int add_option(struct vmm_cfg_region *r, char *key, char *value, size_t pos)
{
	struct vmm_cfg_option *o = realloc(r->options, (r->n_options + 1) * sizeof(*o));

	if (!o) {
		free(key);
		free(value);
		return vmm_err(-ENOMEM, "config: out of memory");
	}
	r->options = o;
	r->options[r->n_options++] = (struct vmm_cfg_option){ .key = key, .value = value, .pos = pos };
	return 0;
}

static int value_error(const struct vmm_cfg_option *o, const char *expected)
{
	return vmm_err(VMMEM_E_CONFIG_VALUE, "config position %zu: %s=%s: expected %s", o->pos,
		       o->key, o->value, expected);
}

/* "0-1,3": nodes below 64 as a bit mask; ranges ascending, nothing empty. */
static int parse_nodes(const char *t, uint64_t *mask)
{
	*mask = 0;
	for (;;) {
		uint64_t lo = 0, hi;
		int n = 0;

		if (*t < '0' || *t > '9')
			return -1;
		while (*t >= '0' && *t <= '9' && n++ < 3)
			lo = lo * 10 + (uint64_t)(*t++ - '0');
		hi = lo;
		if (*t == '-') {
			t++;
			if (*t < '0' || *t > '9')
				return -1;
			hi = 0;
			n = 0;
			while (*t >= '0' && *t <= '9' && n++ < 3)
				hi = hi * 10 + (uint64_t)(*t++ - '0');
		}
		if (lo > hi || hi > 63)
			return -1;
		for (uint64_t i = lo; i <= hi; i++)
			*mask |= UINT64_C(1) << i;
		if (!*t)
			return 0;
		if (*t++ != ',')
			return -1;
	}
}

/* Parse the common keys of a region, refuse repeats and missing gpa/size. */
static int check_region(struct vmm_cfg_region *r)
{
	bool seen[N_COMMON] = { false };
	uint64_t v;

	r->dump = true;
	r->guard = true;
	r->prealloc_threads = 1;
	for (size_t i = 0; i < r->n_options; i++) {
		struct vmm_cfg_option *o = &r->options[i];
		size_t k;

		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->options[j].key, o->key))
				return vmm_err(VMMEM_E_CONFIG_KEY,
					       "config position %zu: key '%s' repeated (first at %zu)",
					       o->pos, o->key, r->options[j].pos);
		if (!o->value[0])
			return value_error(o, "a value");
		for (k = 0; k < N_COMMON && strcmp(o->key, common_keys[k]); k++)
			;
		if (k == N_COMMON)
			continue; /* the provider's key: checked when the memory is built */
		o->common = true;
		seen[k] = true;
		switch ((enum common_key)k) {
		case KEY_GPA:
			if (vmm_parse_size_value(o->value, &r->gpa))
				return value_error(o, "an address (e.g. 0, 0x100000, 4G)");
			break;
		case KEY_SIZE:
			if (vmm_parse_size_value(o->value, &r->size) || r->size == 0)
				return value_error(o, "a non-zero size (e.g. 4096, 2M, 1G)");
			break;
		case KEY_DIRTY_PAGE:
			if (vmm_parse_size_value(o->value, &v) || v < 4096 || (v & (v - 1)))
				return value_error(o, "a power of two of at least 4096 (e.g. 4K, 2M)");
			r->dirty_page_size = v;
			break;
		case KEY_ALIGN: /* QEMU's align=: the base of the host mapping */
			if (vmm_parse_size_value(o->value, &v) || v < 4096 || (v & (v - 1)) ||
			    v > VMM_ALIGN_MAX)
				return value_error(o, "a power of two from 4K to 1T (e.g. 2M, 1G)");
			r->align = v;
			break;
		case KEY_LOCK: { /* QEMU's mem-lock vocabulary: on, off, on-fault */
			bool b;

			if (!strcmp(o->value, "on-fault"))
				r->lock = VMM_LOCK_ON_FAULT;
			else if (vmm_parse_bool(o->value, &b) == 0)
				r->lock = b ? VMM_LOCK_ON : VMM_LOCK_OFF;
			else
				return value_error(o, "on, off or on-fault");
			break;
		}
		case KEY_NODES: /* QEMU's list: 0-1,3 (',' doubled in a config string) */
			if (parse_nodes(o->value, &r->host_nodes))
				return value_error(o, "NUMA node numbers below 64, single or ranges "
						      "(e.g. 0, 0-1, 0-1,,3)");
			break;
		case KEY_POLICY:
			if (!strcmp(o->value, "default"))
				r->policy = VMM_POLICY_DEFAULT;
			else if (!strcmp(o->value, "preferred"))
				r->policy = VMM_POLICY_PREFERRED;
			else if (!strcmp(o->value, "bind"))
				r->policy = VMM_POLICY_BIND;
			else if (!strcmp(o->value, "interleave"))
				r->policy = VMM_POLICY_INTERLEAVE;
			else
				return value_error(o, "default, preferred, bind or interleave");
			break;
		case KEY_THREADS:
			if (vmm_parse_uint(o->value, &v) || v == 0 || v > UINT32_MAX)
				return value_error(o, "a thread count of at least 1");
			r->prealloc_threads = (uint32_t)v;
			break;
		case KEY_PREALLOC:
		case KEY_DUMP:
		case KEY_MERGE:
		case KEY_RO:
		case KEY_GUARD:
		case KEY_DIRTY: {
			bool b;

			if (vmm_parse_bool(o->value, &b))
				return value_error(o, "on or off");
			if (k == KEY_PREALLOC)
				r->prealloc = b;
			else if (k == KEY_DUMP)
				r->dump = b;
			else if (k == KEY_MERGE)
				r->merge = b;
			else if (k == KEY_DIRTY)
				r->dirty_log = b;
			else if (k == KEY_GUARD)
				r->guard = b;
			else
				r->readonly = b;
			break;
		}
		}
	}
	/* QEMU's rules: default takes no nodes, the others need some. */
	if (r->policy == VMM_POLICY_DEFAULT && r->host_nodes)
		return vmm_err(VMMEM_E_CONFIG_CONFLICT,
			       "config position %zu: host-nodes= needs a policy other than default "
			       "(preferred, bind or interleave)", r->pos);
	if (r->policy != VMM_POLICY_DEFAULT && !r->host_nodes)
		return vmm_err(VMMEM_E_CONFIG_CONFLICT,
			       "config position %zu: policy= other than default needs host-nodes=",
			       r->pos);
	if (seen[KEY_DIRTY_PAGE] && !r->dirty_log)
		return vmm_err(VMMEM_E_CONFIG_CONFLICT,
			       "config position %zu: dirty-page-size= needs dirty-log=on", r->pos);
	if (!seen[KEY_GPA] || !seen[KEY_SIZE])
		return vmm_err(VMMEM_E_CONFIG_KEY, "config position %zu: region '%s' needs %s", r->pos,
			       r->provider, !seen[KEY_GPA] ? "gpa=" : "size=");
	if (r->size > UINT64_MAX - r->gpa)
		return vmm_err(-EOVERFLOW,
			       "config position %zu: region at 0x%llx of size 0x%llx ends past 2^64 - 1",
			       r->pos, (unsigned long long)r->gpa, (unsigned long long)r->size);
	return 0;
}

static int parse_region(struct parser *p)
{
	struct vmmem_config *cfg = p->cfg;
	struct vmm_cfg_region *regions, *r;
	int rc;

	regions = realloc(cfg->regions, (cfg->n_regions + 1) * sizeof(*regions));
	if (!regions)
		return vmm_err(-ENOMEM, "config: out of memory");
	cfg->regions = regions;
	r = &regions[cfg->n_regions++];
	*r = (struct vmm_cfg_region){ .pos = p->i };
	rc = parse_name(p, "a provider name", &r->provider);
	if (rc)
		return rc;
	if (p->text[p->i] != ':')
		return syntax_error(p, "':' after the provider name");
	p->i++;
	for (;;) {
		size_t pos = p->i;
		char *key = NULL, *value = NULL;

		rc = parse_name(p, "a key", &key);
		if (rc)
			return rc;
		if (p->text[p->i] != '=') {
			free(key);
			return syntax_error(p, "'=' after the key");
		}
		p->i++;
		rc = parse_value(p, &value);
		if (rc) {
			free(key);
			return rc;
		}
		rc = add_option(r, key, value, pos);
		if (rc)
			return rc;
		if (p->text[p->i] != ',')
			break;
		p->i++;
	}
	return check_region(r);
}

static int compare_region_index(const void *a, const void *b, void *ctx)
{
	const struct vmm_cfg_region *r = ctx;
	uint64_t ga = r[*(const size_t *)a].gpa, gb = r[*(const size_t *)b].gpa;

	return (ga > gb) - (ga < gb);
}

/* Regions must not overlap (same rule as vmmem_memory_new, but naming positions). */
static int check_overlaps(const struct vmmem_config *cfg)
{
	size_t *order = malloc(cfg->n_regions * sizeof(*order));
	int rc = 0;

	if (!order)
		return vmm_err(-ENOMEM, "config: out of memory");
	for (size_t i = 0; i < cfg->n_regions; i++)
		order[i] = i;
	qsort_r(order, cfg->n_regions, sizeof(*order), compare_region_index, cfg->regions);
	for (size_t i = 1; i < cfg->n_regions && !rc; i++) {
		const struct vmm_cfg_region *a = &cfg->regions[order[i - 1]];
		const struct vmm_cfg_region *b = &cfg->regions[order[i]];

		if (a->gpa + a->size > b->gpa)
			rc = vmm_err(VMMEM_E_OVERLAP,
				     "config positions %zu and %zu: regions [0x%llx, +0x%llx) and "
				     "[0x%llx, +0x%llx) overlap",
				     a->pos, b->pos, (unsigned long long)a->gpa,
				     (unsigned long long)a->size, (unsigned long long)b->gpa,
				     (unsigned long long)b->size);
	}
	free(order);
	return rc;
}

void
vmmem_config_free(struct vmmem_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_regions; i++) {
		struct vmm_cfg_region *r = &cfg->regions[i];

		for (size_t j = 0; j < r->n_options; j++) {
			free(r->options[j].key);
			free(r->options[j].value);
		}
		free(r->options);
		free(r->provider);
	}
	free(cfg->regions);
	free(cfg);
}

/* vmmem_config_parse -- text to regions and options, all checks that need no provider */
int
vmmem_config_parse(struct vmmem_config **out, const char *text)
{
	struct parser p = { .text = text };
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(text);
	p.cfg = calloc(1, sizeof(*p.cfg));
	if (!p.cfg)
		return vmm_err(-ENOMEM, "config: out of memory");
	skip_space(&p);
	for (;;) {
		rc = parse_region(&p);
		if (rc)
			goto fail;
		skip_space(&p);
		if (!text[p.i])
			break;
		if (text[p.i] != ';') {
			rc = syntax_error(&p, "',' or ';'");
			goto fail;
		}
		p.i++;
		skip_space(&p);
		if (!text[p.i])
			break; /* a trailing ';' is fine */
	}
	rc = check_overlaps(p.cfg);
	if (rc)
		goto fail;
	*out = p.cfg;
	return 0;
fail:
	vmmem_config_free(p.cfg);
	return rc;
}

size_t
vmmem_config_region_count(const struct vmmem_config *cfg)
{
	return cfg ? cfg->n_regions : 0;
}

int
vmmem_config_region(const struct vmmem_config *cfg, size_t index, const char **provider,
		    uint64_t *gpa, uint64_t *size)
{
	const struct vmm_cfg_region *r;

	VMM_CHECK_ARG(cfg);
	if (index >= cfg->n_regions)
		return vmm_err(-ERANGE, "config has %zu regions, not %zu", cfg->n_regions, index + 1);
	r = &cfg->regions[index];
	if (provider)
		*provider = r->provider;
	if (gpa)
		*gpa = r->gpa;
	if (size)
		*size = r->size;
	return 0;
}

size_t
vmmem_config_option_count(const struct vmmem_config *cfg, size_t index)
{
	return cfg && index < cfg->n_regions ? cfg->regions[index].n_options : 0;
}

int
vmmem_config_option(const struct vmmem_config *cfg, size_t index, size_t opt, const char **key,
		    const char **value)
{
	const struct vmm_cfg_region *r;

	VMM_CHECK_ARG(cfg);
	if (index >= cfg->n_regions || opt >= cfg->regions[index].n_options)
		return vmm_err(-ERANGE, "config option %zu of region %zu does not exist", opt, index);
	r = &cfg->regions[index];
	if (key)
		*key = r->options[opt].key;
	if (value)
		*value = r->options[opt].value;
	return 0;
}
