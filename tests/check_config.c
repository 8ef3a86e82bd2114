/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Unit tests for vmmem/config.h: the config-string grammar, value syntax, every error code
 * with the byte position it names, overlap and overflow checks, accessors, and
 * vmmem_parse_size(). The parser does no I/O, so nothing here needs a provider. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A non-NULL value stored in *out before a call, to see that failures reset it to NULL. */
#define CONFIG_SENTINEL ((struct vmmem_config *)(uintptr_t)0x5a5a5a5a5a5a5000u)

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

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

/* Parse text that must be valid; returns the config. */
static struct vmmem_config *parse_ok(const char *text)
{
	struct vmmem_config *cfg = CONFIG_SENTINEL;
	int rc = vmmem_config_parse(&cfg, text);

	ck_assert_msg(rc == 0, "'%s': expected success, got %d (%s): %s", text, rc,
		      vmmem_strerror(rc), vmmem_errormsg());
	ck_assert_ptr_nonnull(cfg);
	ck_assert_ptr_ne(cfg, CONFIG_SENTINEL);
	return cfg;
}

/* Parse text that must fail with code; *out must come back NULL and the message must name
 * byte position pos (unless pos < 0) and contain word (unless NULL). */
static void parse_fails(const char *text, int code, long pos, const char *word)
{
	struct vmmem_config *cfg = CONFIG_SENTINEL;
	int rc = vmmem_config_parse(&cfg, text);
	const char *msg = vmmem_errormsg();

	ck_assert_msg(rc == code, "'%s': expected %d (%s), got %d (%s): %s", text, code,
		      vmmem_strerror(code), rc, vmmem_strerror(rc), msg);
	ck_assert_msg(cfg == NULL, "'%s': *out not NULL after failure", text);
	ck_assert_msg(msg[0] != '\0', "'%s': no error message", text);
	if (pos >= 0)
		ck_assert_msg(names_position(msg, (size_t)pos),
			      "'%s': message does not name position %ld: '%s'", text, pos, msg);
	if (word)
		ck_assert_msg(strstr(msg, word), "'%s': message does not contain '%s': '%s'", text,
			      word, msg);
}

static void assert_region(const struct vmmem_config *cfg, size_t index, const char *provider,
			  uint64_t gpa, uint64_t size)
{
	const char *p = NULL;
	uint64_t g = 1, s = 1;

	ck_assert_int_eq(vmmem_config_region(cfg, index, &p, &g, &s), 0);
	ck_assert_str_eq(p, provider);
	ck_assert_uint_eq(g, gpa);
	ck_assert_uint_eq(s, size);
}

static void assert_option(const struct vmmem_config *cfg, size_t index, size_t opt,
			  const char *key, const char *value)
{
	const char *k = NULL, *v = NULL;

	ck_assert_int_eq(vmmem_config_option(cfg, index, opt, &k, &v), 0);
	ck_assert_str_eq(k, key);
	ck_assert_str_eq(v, value);
}

/* The value of option key of region index, as written. */
static const char *option_value(const struct vmmem_config *cfg, size_t index, const char *key)
{
	for (size_t i = 0; i < vmmem_config_option_count(cfg, index); i++) {
		const char *k, *v;

		ck_assert_int_eq(vmmem_config_option(cfg, index, i, &k, &v), 0);
		if (!strcmp(k, key))
			return v;
	}
	ck_abort_msg("region %zu has no option '%s'", index, key);
	return NULL;
}

/* ---- the grammar ---- */

START_TEST(test_config_example)
{
	struct vmmem_config *cfg =
		parse_ok("memfd:gpa=0,size=1G,hugetlb=on,hugetlbsize=2M;anon:gpa=4G,size=3G,prealloc=on");

	ck_assert_uint_eq(vmmem_config_region_count(cfg), 2);
	assert_region(cfg, 0, "memfd", 0, GiB);
	assert_region(cfg, 1, "anon", 4 * GiB, 3 * GiB);
	ck_assert_uint_eq(vmmem_config_option_count(cfg, 0), 4);
	assert_option(cfg, 0, 0, "gpa", "0");
	assert_option(cfg, 0, 1, "size", "1G");
	assert_option(cfg, 0, 2, "hugetlb", "on");
	assert_option(cfg, 0, 3, "hugetlbsize", "2M");
	ck_assert_uint_eq(vmmem_config_option_count(cfg, 1), 3);
	assert_option(cfg, 1, 0, "gpa", "4G");
	assert_option(cfg, 1, 1, "size", "3G");
	assert_option(cfg, 1, 2, "prealloc", "on");
	vmmem_config_free(cfg);
}
END_TEST

START_TEST(test_config_single_region_minimal)
{
	struct vmmem_config *cfg = parse_ok("anon:gpa=0,size=1");

	ck_assert_uint_eq(vmmem_config_region_count(cfg), 1);
	assert_region(cfg, 0, "anon", 0, 1);
	ck_assert_uint_eq(vmmem_config_option_count(cfg, 0), 2);
	vmmem_config_free(cfg);

	/* Keys in any order; the core's keys and the provider's mix freely. */
	cfg = parse_ok("anon:share=on,size=4K,thp=off,gpa=0x100000");
	assert_region(cfg, 0, "anon", MiB, 4 * KiB);
	assert_option(cfg, 0, 0, "share", "on");
	assert_option(cfg, 0, 1, "size", "4K");
	assert_option(cfg, 0, 2, "thp", "off");
	assert_option(cfg, 0, 3, "gpa", "0x100000");
	vmmem_config_free(cfg);
}
END_TEST

START_TEST(test_config_provider_and_key_charset)
{
	struct vmmem_config *cfg = parse_ok("my_prov-2:gpa=0,size=1,opt_a-1=x");

	assert_region(cfg, 0, "my_prov-2", 0, 1);
	assert_option(cfg, 0, 2, "opt_a-1", "x");
	vmmem_config_free(cfg);
	cfg = parse_ok("0:gpa=0,size=1;-:gpa=1,size=1;_:gpa=2,size=1");
	ck_assert_uint_eq(vmmem_config_region_count(cfg), 3);
	assert_region(cfg, 0, "0", 0, 1);
	assert_region(cfg, 1, "-", 1, 1);
	assert_region(cfg, 2, "_", 2, 1);
	vmmem_config_free(cfg);
}
END_TEST

START_TEST(test_config_whitespace)
{
	static const char *const texts[] = {
		"  anon:gpa=0,size=1M  ",
		"\tanon:gpa=0,size=1M\n",
		"\r\n anon:gpa=0,size=1M \t\r\n",
		"anon:gpa=0,size=1M;",
		"anon:gpa=0,size=1M ;",
		"anon:gpa=0,size=1M; ",
		" anon:gpa=0,size=1M \t;\n ",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct vmmem_config *cfg = parse_ok(texts[i]);

		ck_assert_uint_eq(vmmem_config_region_count(cfg), 1);
		assert_region(cfg, 0, "anon", 0, MiB);
		/* Layout whitespace is not part of the value. */
		assert_option(cfg, 0, 1, "size", "1M");
		vmmem_config_free(cfg);
	}
}
END_TEST

START_TEST(test_config_whitespace_around_separator)
{
	struct vmmem_config *cfg =
		parse_ok(" anon:gpa=0,size=1M ; memfd:gpa=1M,size=1M\t;\tanon:gpa=2M,size=4K ; ");

	ck_assert_uint_eq(vmmem_config_region_count(cfg), 3);
	assert_region(cfg, 0, "anon", 0, MiB);
	assert_region(cfg, 1, "memfd", MiB, MiB);
	assert_region(cfg, 2, "anon", 2 * MiB, 4 * KiB);
	assert_option(cfg, 0, 1, "size", "1M");
	assert_option(cfg, 1, 1, "size", "1M");
	assert_option(cfg, 2, 1, "size", "4K");
	vmmem_config_free(cfg);
}
END_TEST

START_TEST(test_config_escapes)
{
	struct vmmem_config *cfg = parse_ok("memfd:gpa=0,size=1M,label=a,,b;;c");

	ck_assert_uint_eq(vmmem_config_region_count(cfg), 1);
	ck_assert_uint_eq(vmmem_config_option_count(cfg, 0), 3);
	assert_option(cfg, 0, 2, "label", "a,b;c");
	vmmem_config_free(cfg);

	/* ",,," is an escaped ',' then the separator. */
	cfg = parse_ok("anon:gpa=0,size=1M,x=a,,,y=1");
	ck_assert_uint_eq(vmmem_config_option_count(cfg, 0), 4);
	assert_option(cfg, 0, 2, "x", "a,");
	assert_option(cfg, 0, 3, "y", "1");
	vmmem_config_free(cfg);

	/* ";;;" is an escaped ';' then the region separator. */
	cfg = parse_ok("anon:gpa=0,size=1M,x=a;;;anon:gpa=1M,size=1M");
	ck_assert_uint_eq(vmmem_config_region_count(cfg), 2);
	assert_option(cfg, 0, 2, "x", "a;");
	assert_region(cfg, 1, "anon", MiB, MiB);
	vmmem_config_free(cfg);

	/* Escapes at the start and end of a value, and back to back. */
	cfg = parse_ok("anon:x=,,,,,y=;;;;,z=,,;;,gpa=0,size=1");
	assert_option(cfg, 0, 0, "x", ",,");
	assert_option(cfg, 0, 1, "y", ";;");
	assert_option(cfg, 0, 2, "z", ",;");
	vmmem_config_free(cfg);

	/* Anything else is value text: '=', ':' and spaces inside. */
	cfg = parse_ok("anon:gpa=0,size=1,path=/a b/c=d:e");
	assert_option(cfg, 0, 2, "path", "/a b/c=d:e");
	vmmem_config_free(cfg);

	/* Whitespace is layout only around ';' and at the ends: elsewhere it is value text. */
	cfg = parse_ok("anon:gpa=0,size=1,a= x ,b=y\t,c=z ;anon:gpa=1,size=1,d= w ");
	assert_option(cfg, 0, 2, "a", " x ");
	assert_option(cfg, 0, 3, "b", "y\t");
	assert_option(cfg, 0, 4, "c", "z");
	assert_option(cfg, 1, 2, "d", " w");
	vmmem_config_free(cfg);
}
END_TEST

START_TEST(test_config_many_regions)
{
	char text[8192];
	size_t len = 0;
	struct vmmem_config *cfg;

	for (unsigned int i = 0; i < 100; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%sanon:gpa=%uM,size=1M",
					i ? ";" : "", 99 - i);
	ck_assert_uint_lt(len, sizeof(text));
	cfg = parse_ok(text);
	ck_assert_uint_eq(vmmem_config_region_count(cfg), 100);
	/* Regions stay in the order written. */
	assert_region(cfg, 0, "anon", 99 * MiB, MiB);
	assert_region(cfg, 57, "anon", 42 * MiB, MiB);
	assert_region(cfg, 99, "anon", 0, MiB);
	vmmem_config_free(cfg);
}
END_TEST

/* ---- values ---- */

struct size_vector {
	const char *text;
	uint64_t value;
};

static const struct size_vector good_sizes[] = {
	{ "0", 0 },
	{ "1", 1 },
	{ "4096", 4096 },
	{ "010", 10 }, /* decimal, not octal */
	{ "0x1000", 0x1000 },
	{ "0xAbC", 0xabc },
	{ "0x0", 0 },
	{ "1k", KiB },
	{ "1K", KiB },
	{ "2m", 2 * MiB },
	{ "2M", 2 * MiB },
	{ "1g", GiB },
	{ "3G", 3 * GiB },
	{ "1t", TiB },
	{ "5T", 5 * TiB },
	{ "0x10K", 16 * KiB },
	{ "18446744073709551615", UINT64_MAX },
	{ "0xffffffffffffffff", UINT64_MAX },
	{ "16777215T", UINT64_C(16777215) << 40 },
	{ "17179869183G", UINT64_C(17179869183) << 30 },
	{ "17592186044415M", UINT64_C(17592186044415) << 20 },
	{ "18014398509481983K", UINT64_C(18014398509481983) << 10 },
};

static const char *const bad_sizes[] = {
	"",
	"1.5G",
	"-1",
	"+1",
	"1KB",
	"1kk",
	"1P",
	"1e3",
	"K",
	"0x",
	"0xg",
	"x",
	" 1",
	"1 ",
	"1 K",
	"18446744073709551616",   /* 2^64 */
	"99999999999999999999999", /* far past 2^64 */
	"0x10000000000000000",    /* 2^64 */
	"16777216T",              /* 2^64 */
	"17179869184G",           /* 2^64 */
	"17592186044416M",        /* 2^64 */
	"18014398509481984K",     /* 2^64 */
};

START_TEST(test_config_parse_size_valid)
{
	const struct size_vector *v = &good_sizes[_i];
	uint64_t out = 12345;

	ck_assert_msg(vmmem_parse_size(v->text, &out) == 0, "'%s': %s", v->text, vmmem_errormsg());
	ck_assert_msg(out == v->value, "'%s': expected %llu, got %llu", v->text,
		      (unsigned long long)v->value, (unsigned long long)out);
}
END_TEST

START_TEST(test_config_parse_size_invalid)
{
	uint64_t out = 12345;
	int rc = vmmem_parse_size(bad_sizes[_i], &out);

	ck_assert_msg(rc == VMMEM_E_CONFIG_VALUE, "'%s': expected VMMEM_E_CONFIG_VALUE, got %d",
		      bad_sizes[_i], rc);
	/* Written only on success. */
	ck_assert_uint_eq(out, 12345);
	ck_assert_str_ne(vmmem_errormsg(), "");
}
END_TEST

START_TEST(test_config_parse_size_null)
{
	uint64_t out = 7;

	ck_assert_int_eq(vmmem_parse_size(NULL, &out), -EINVAL);
	ck_assert_uint_eq(out, 7);
	ck_assert_int_eq(vmmem_parse_size("1", NULL), -EINVAL);
}
END_TEST

/* Sizes in config strings follow vmmem_parse_size. */
START_TEST(test_config_sizes_in_config)
{
	const struct size_vector *v = &good_sizes[_i];
	char text[128];
	struct vmmem_config *cfg;

	if (v->value == 0)
		return; /* size must be > 0; gpa=0 is covered everywhere */
	snprintf(text, sizeof(text), "anon:gpa=0,size=%s", v->text);
	cfg = parse_ok(text);
	assert_region(cfg, 0, "anon", 0, v->value);
	vmmem_config_free(cfg);
	/* As a gpa too (with a size that keeps the end below 2^64). */
	snprintf(text, sizeof(text), "anon:size=1,gpa=%s", v->text);
	if (v->value == UINT64_MAX)
		parse_fails(text, -EOVERFLOW, 0, NULL);
	else {
		cfg = parse_ok(text);
		assert_region(cfg, 0, "anon", v->value, 1);
		vmmem_config_free(cfg);
	}
}
END_TEST

START_TEST(test_config_bad_sizes_in_config)
{
	char text[128];

	size_t len = strlen(bad_sizes[_i]);

	/* "anon:gpa=0,size=" puts size's key at byte 11. At the end of the text, trailing
	 * whitespace is layout ("1 " would be size=1), so that case is only tested for gpa. */
	snprintf(text, sizeof(text), "anon:gpa=0,size=%s", bad_sizes[_i]);
	if (len == 0 || bad_sizes[_i][len - 1] != ' ')
		parse_fails(text, VMMEM_E_CONFIG_VALUE, 11, "size");
	snprintf(text, sizeof(text), "anon:gpa=%s,size=1", bad_sizes[_i]);
	parse_fails(text, VMMEM_E_CONFIG_VALUE, 5, "gpa");
}
END_TEST

START_TEST(test_config_booleans)
{
	static const char *const keys[] = { "prealloc", "dump", "merge", "readonly", "dirty-log" };
	static const char *const good[] = { "on", "off", "yes", "no", "true", "false" };
	static const char *const bad[] = { "maybe", "1", "0", "onn", "of", "y", "t" };
	char text[128];

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			struct vmmem_config *cfg;

			snprintf(text, sizeof(text), "anon:gpa=0,size=1,%s=%s", keys[k], good[i]);
			cfg = parse_ok(text);
			ck_assert_str_eq(option_value(cfg, 0, keys[k]), good[i]);
			vmmem_config_free(cfg);
		}
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), "anon:gpa=0,size=1,%s=%s", keys[k], bad[i]);
			parse_fails(text, VMMEM_E_CONFIG_VALUE, 18, keys[k]);
		}
	}
}
END_TEST

START_TEST(test_config_prealloc_threads)
{
	static const char *const good[] = { "1", "2", "16", "64", "0x10" };
	static const char *const bad[] = { "0", "-1", "1K", "x", "1.0", "0x" };
	char text[128];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct vmmem_config *cfg;

		snprintf(text, sizeof(text), "anon:gpa=0,size=1,prealloc=on,prealloc-threads=%s",
			 good[i]);
		cfg = parse_ok(text);
		ck_assert_str_eq(option_value(cfg, 0, "prealloc-threads"), good[i]);
		vmmem_config_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "anon:gpa=0,size=1,prealloc-threads=%s", bad[i]);
		parse_fails(text, VMMEM_E_CONFIG_VALUE, 18, "prealloc-threads");
	}
}
END_TEST

START_TEST(test_config_dirty_keys)
{
	static const char *const good[] = { "4K", "4096", "0x1000", "8K", "2M", "1G", "4k" };
	static const char *const bad[] = { "0", "2K", "2048", "6K", "3000", "4097", "x", "4KB" };
	char text[128];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct vmmem_config *cfg;

		snprintf(text, sizeof(text), "anon:gpa=0,size=4M,dirty-log=on,dirty-page-size=%s",
			 good[i]);
		cfg = parse_ok(text);
		ck_assert_str_eq(option_value(cfg, 0, "dirty-page-size"), good[i]);
		vmmem_config_free(cfg);
		/* In either order. */
		snprintf(text, sizeof(text), "anon:dirty-page-size=%s,gpa=0,size=4M,dirty-log=yes",
			 good[i]);
		cfg = parse_ok(text);
		vmmem_config_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* "anon:gpa=0,size=4M,dirty-log=on," puts dirty-page-size at byte 32. */
		snprintf(text, sizeof(text), "anon:gpa=0,size=4M,dirty-log=on,dirty-page-size=%s",
			 bad[i]);
		parse_fails(text, VMMEM_E_CONFIG_VALUE, 32, "dirty-page-size");
	}
	/* dirty-page-size needs dirty-log=on. */
	parse_fails("anon:gpa=0,size=4M,dirty-page-size=4K", VMMEM_E_CONFIG_CONFLICT, 0,
		    "dirty-log");
	parse_fails("anon:gpa=0,size=4M,dirty-log=off,dirty-page-size=4K", VMMEM_E_CONFIG_CONFLICT,
		    0, "dirty-log");
	parse_fails("anon:gpa=0,size=4M;anon:gpa=4M,size=4M,dirty-log=no,dirty-page-size=8K",
		    VMMEM_E_CONFIG_CONFLICT, 19, "dirty-log");
	parse_fails("anon:gpa=0,size=4M,dirty-log=on,dirty-log=on", VMMEM_E_CONFIG_KEY, 32,
		    "dirty-log");
}
END_TEST

/* Provider keys are not checked by the parser (any value but an empty one). */
START_TEST(test_config_provider_keys_unchecked)
{
	struct vmmem_config *cfg =
		parse_ok("anon:gpa=0,size=1,colour=red,hugetlbsize=banana,share=maybe");

	ck_assert_uint_eq(vmmem_config_option_count(cfg, 0), 5);
	assert_option(cfg, 0, 2, "colour", "red");
	assert_option(cfg, 0, 3, "hugetlbsize", "banana");
	assert_option(cfg, 0, 4, "share", "maybe");
	vmmem_config_free(cfg);
}
END_TEST

/* ---- errors ---- */

struct error_vector {
	const char *text;
	int code;
	long pos; /* byte position the message must name */
	const char *word; /* the message must contain it, or NULL */
};

static const struct error_vector syntax_errors[] = {
	{ "", VMMEM_E_CONFIG_SYNTAX, 0, NULL },
	{ "   ", VMMEM_E_CONFIG_SYNTAX, 3, NULL },
	{ ";", VMMEM_E_CONFIG_SYNTAX, 0, NULL },
	{ "anon", VMMEM_E_CONFIG_SYNTAX, 4, NULL },
	{ "anon:", VMMEM_E_CONFIG_SYNTAX, 5, NULL },
	{ "anon:gpa", VMMEM_E_CONFIG_SYNTAX, 8, NULL },
	{ "anon:gpa=0,", VMMEM_E_CONFIG_SYNTAX, 11, NULL },
	{ ":gpa=0", VMMEM_E_CONFIG_SYNTAX, 0, NULL },
	{ "ANON:gpa=0,size=1", VMMEM_E_CONFIG_SYNTAX, 0, NULL },
	{ "anon :gpa=0,size=1", VMMEM_E_CONFIG_SYNTAX, 4, NULL },
	{ "anon: gpa=0,size=1", VMMEM_E_CONFIG_SYNTAX, 5, NULL },
	{ "anon:gpa =0,size=1", VMMEM_E_CONFIG_SYNTAX, 8, NULL },
	{ "anon:Gpa=0,size=1", VMMEM_E_CONFIG_SYNTAX, 5, NULL },
	{ "anon:gpa=0,size=1,=x", VMMEM_E_CONFIG_SYNTAX, 18, NULL },
	{ "anon:gpa=0,size=1,", VMMEM_E_CONFIG_SYNTAX, 18, NULL },
	{ "anon:gpa=0,size=1; ;", VMMEM_E_CONFIG_SYNTAX, 19, NULL },
	{ "anon:gpa=0,size=1;:gpa=2,size=1", VMMEM_E_CONFIG_SYNTAX, 18, NULL },
	{ ";anon:gpa=0,size=1", VMMEM_E_CONFIG_SYNTAX, 0, NULL },
	{ "an/on:gpa=0,size=1", VMMEM_E_CONFIG_SYNTAX, 2, NULL },
	{ "anon:g.pa=0,size=1", VMMEM_E_CONFIG_SYNTAX, 6, NULL },
	{ "anon:gpa=0,size=1;memfd", VMMEM_E_CONFIG_SYNTAX, 23, NULL },
	{ "anon=gpa=0", VMMEM_E_CONFIG_SYNTAX, 4, NULL },
};

static const struct error_vector key_errors[] = {
	{ "anon:size=1", VMMEM_E_CONFIG_KEY, 0, "gpa" },
	{ "anon:gpa=0", VMMEM_E_CONFIG_KEY, 0, "size" },
	{ "anon:prealloc=on", VMMEM_E_CONFIG_KEY, 0, NULL },
	{ "anon:gpa=0,size=1;memfd:gpa=1", VMMEM_E_CONFIG_KEY, 18, "size" },
	{ "anon:gpa=0,size=1,gpa=2", VMMEM_E_CONFIG_KEY, 18, "gpa" },
	{ "anon:gpa=0,size=1,size=1", VMMEM_E_CONFIG_KEY, 18, "size" },
	{ "anon:gpa=0,size=1,share=on,share=off", VMMEM_E_CONFIG_KEY, 27, "share" },
	{ "anon:gpa=0,size=1,prealloc=on,prealloc=on", VMMEM_E_CONFIG_KEY, 30, "prealloc" },
};

static const struct error_vector value_errors[] = {
	{ "anon:gpa=0,size=0", VMMEM_E_CONFIG_VALUE, 11, "size" },
	{ "anon:gpa=0,size=0x0", VMMEM_E_CONFIG_VALUE, 11, "size" },
	{ "anon:gpa=0,size=1,prealloc-threads=0", VMMEM_E_CONFIG_VALUE, 18, "prealloc-threads" },
	{ "anon:gpa=0,size=1,prealloc=maybe", VMMEM_E_CONFIG_VALUE, 18, "prealloc" },
	{ "anon:gpa=0,size=", VMMEM_E_CONFIG_VALUE, 11, "size" },
	{ "anon:gpa=,size=1", VMMEM_E_CONFIG_VALUE, 5, "gpa" },
	{ "anon:gpa=0,size=1,share=", VMMEM_E_CONFIG_VALUE, 18, "share" },
	{ "anon:gpa=0,size=1,share=,thp=on", VMMEM_E_CONFIG_VALUE, 18, "share" },
	{ "anon:gpa=1.5G,size=1", VMMEM_E_CONFIG_VALUE, 5, "gpa" },
	{ "anon:gpa=0,size=-1", VMMEM_E_CONFIG_VALUE, 11, "size" },
	{ "anon:gpa=0,size=1KB", VMMEM_E_CONFIG_VALUE, 11, "size" },
	{ "anon:gpa=0,size=18446744073709551616", VMMEM_E_CONFIG_VALUE, 11, "size" },
	/* ",," is an escaped ',': gpa's value is "0,size=1". */
	{ "anon:gpa=0,,size=1", VMMEM_E_CONFIG_VALUE, 5, "gpa" },
	/* ";;" is an escaped ';': size's value is "1;". */
	{ "anon:gpa=0,size=1;;", VMMEM_E_CONFIG_VALUE, 11, "size" },
	/* A bad value in the second region names its position. */
	{ "anon:gpa=0,size=1;memfd:gpa=1,size=zero", VMMEM_E_CONFIG_VALUE, 30, "size" },
	{ "anon:gpa=0,size=1,readonly=1", VMMEM_E_CONFIG_VALUE, 18, "readonly" },
	/* value := any characters, so "1 x" is size's (malformed) value, not a syntax error. */
	{ "anon:gpa=0,size=1 x", VMMEM_E_CONFIG_VALUE, 11, "size" },
	/* Whitespace is layout only around ';' and at the ends: before ',' it is value text. */
	{ "anon:gpa=0 ,size=1", VMMEM_E_CONFIG_VALUE, 5, "gpa" },
	{ "anon:gpa= 0,size=1", VMMEM_E_CONFIG_VALUE, 5, "gpa" },
};

static const struct error_vector overflow_errors[] = {
	{ "anon:gpa=0xffffffffffff0000,size=64K", -EOVERFLOW, 0, NULL },
	{ "anon:gpa=1,size=0xffffffffffffffff", -EOVERFLOW, 0, NULL },
	{ "anon:gpa=16777215T,size=1T", -EOVERFLOW, 0, NULL },
	{ "anon:gpa=0xffffffffffffffff,size=1", -EOVERFLOW, 0, NULL },
	{ "anon:gpa=0,size=1;anon:gpa=0xffffffffffffffff,size=1", -EOVERFLOW, 18, NULL },
};

static const struct error_vector overlap_errors[] = {
	{ "anon:gpa=0,size=2M;memfd:gpa=1M,size=2M", VMMEM_E_OVERLAP, 0, NULL },
	{ "memfd:gpa=1M,size=2M;anon:gpa=0,size=2M", VMMEM_E_OVERLAP, 0, NULL },
	{ "anon:gpa=0,size=1M;anon:gpa=4M,size=1M;anon:gpa=512K,size=1K", VMMEM_E_OVERLAP, 0, NULL },
	{ "anon:gpa=0,size=1M;anon:gpa=0,size=1M", VMMEM_E_OVERLAP, 0, NULL },
	{ "anon:gpa=0,size=4M;anon:gpa=1M,size=1M", VMMEM_E_OVERLAP, 0, NULL },
	{ "anon:gpa=1M,size=1M;anon:gpa=0,size=4M", VMMEM_E_OVERLAP, 0, NULL },
	{ "anon:gpa=0,size=0x100001;anon:gpa=1M,size=1", VMMEM_E_OVERLAP, 0, NULL },
};

/* The second position each overlap message must also name. */
static const size_t overlap_second_pos[] = { 19, 21, 39, 19, 19, 20, 25 };

static void check_vector(const struct error_vector *v)
{
	parse_fails(v->text, v->code, v->pos, v->word);
}

START_TEST(test_config_syntax_errors)
{
	check_vector(&syntax_errors[_i]);
}
END_TEST

START_TEST(test_config_key_errors)
{
	check_vector(&key_errors[_i]);
}
END_TEST

START_TEST(test_config_value_errors)
{
	check_vector(&value_errors[_i]);
}
END_TEST

START_TEST(test_config_overflow)
{
	check_vector(&overflow_errors[_i]);
}
END_TEST

START_TEST(test_config_overlap)
{
	check_vector(&overlap_errors[_i]);
	ck_assert_msg(names_position(vmmem_errormsg(), overlap_second_pos[_i]),
		      "'%s': message does not name position %zu: '%s'", overlap_errors[_i].text,
		      overlap_second_pos[_i], vmmem_errormsg());
}
END_TEST

START_TEST(test_config_end_at_limit)
{
	/* gpa + size may reach 2^64 - 1 but not 2^64. */
	struct vmmem_config *cfg = parse_ok("anon:gpa=0xffffffffffff0000,size=0xffff");

	assert_region(cfg, 0, "anon", UINT64_C(0xffffffffffff0000), 0xffff);
	vmmem_config_free(cfg);
	cfg = parse_ok("anon:gpa=0,size=0xffffffffffffffff");
	assert_region(cfg, 0, "anon", 0, UINT64_MAX);
	vmmem_config_free(cfg);
	cfg = parse_ok("anon:gpa=0xfffffffffffffffe,size=1");
	assert_region(cfg, 0, "anon", UINT64_MAX - 1, 1);
	vmmem_config_free(cfg);
}
END_TEST

START_TEST(test_config_adjacent_regions)
{
	struct vmmem_config *cfg = parse_ok("anon:gpa=0,size=1M;anon:gpa=1M,size=1M");

	ck_assert_uint_eq(vmmem_config_region_count(cfg), 2);
	vmmem_config_free(cfg);
	cfg = parse_ok("anon:gpa=1M,size=1M;anon:gpa=0,size=1M");
	ck_assert_uint_eq(vmmem_config_region_count(cfg), 2);
	assert_region(cfg, 0, "anon", MiB, MiB);
	assert_region(cfg, 1, "anon", 0, MiB);
	vmmem_config_free(cfg);
	/* Adjacent at the top of the address space. */
	cfg = parse_ok("anon:gpa=0xfffffffffffff000,size=0xfff;anon:gpa=0xffffffffffffe000,size=4K");
	ck_assert_uint_eq(vmmem_config_region_count(cfg), 2);
	vmmem_config_free(cfg);
}
END_TEST

/* The message names the key (not just the position). */
START_TEST(test_config_message_names_key)
{
	parse_fails("anon:gpa=0,size=1,prealloc=maybe", VMMEM_E_CONFIG_VALUE, 18, "maybe");
	parse_fails("anon:gpa=0,size=1,colour=blue,colour=red", VMMEM_E_CONFIG_KEY, 30, "colour");
	parse_fails("anon:gpa=0,size=1,prealloc=on;anon:gpa=1M,size=0", VMMEM_E_CONFIG_VALUE, 42,
		    "size");
}
END_TEST

/* ---- arguments and accessors ---- */

START_TEST(test_config_parse_null)
{
	struct vmmem_config *cfg = CONFIG_SENTINEL;

	ck_assert_int_eq(vmmem_config_parse(NULL, "anon:gpa=0,size=1"), -EINVAL);
	ck_assert_int_eq(vmmem_config_parse(&cfg, NULL), -EINVAL);
	ck_assert_ptr_null(cfg);
	vmmem_config_free(NULL);
}
END_TEST

START_TEST(test_config_accessors)
{
	struct vmmem_config *cfg = parse_ok("anon:gpa=0,size=1M,share=on;memfd:gpa=1G,size=2M");
	const char *p = "unchanged", *k = "unchanged", *v = "unchanged";
	uint64_t gpa = 11, size = 22;

	ck_assert_uint_eq(vmmem_config_region_count(cfg), 2);
	ck_assert_uint_eq(vmmem_config_region_count(NULL), 0);

	/* Every out parameter may be NULL. */
	ck_assert_int_eq(vmmem_config_region(cfg, 1, NULL, NULL, NULL), 0);
	ck_assert_int_eq(vmmem_config_region(cfg, 1, NULL, &gpa, NULL), 0);
	ck_assert_uint_eq(gpa, GiB);
	ck_assert_int_eq(vmmem_config_region(cfg, 1, NULL, NULL, &size), 0);
	ck_assert_uint_eq(size, 2 * MiB);
	ck_assert_int_eq(vmmem_config_region(cfg, 1, &p, NULL, NULL), 0);
	ck_assert_str_eq(p, "memfd");

	/* Out of range and NULL. */
	p = "unchanged";
	gpa = 11;
	ck_assert_int_eq(vmmem_config_region(cfg, 2, &p, &gpa, &size), -ERANGE);
	ck_assert_int_eq(vmmem_config_region(cfg, SIZE_MAX, &p, &gpa, &size), -ERANGE);
	ck_assert_str_eq(p, "unchanged");
	ck_assert_uint_eq(gpa, 11);
	ck_assert_int_eq(vmmem_config_region(NULL, 0, &p, &gpa, &size), -EINVAL);

	ck_assert_uint_eq(vmmem_config_option_count(cfg, 0), 3);
	ck_assert_uint_eq(vmmem_config_option_count(cfg, 1), 2);
	ck_assert_uint_eq(vmmem_config_option_count(cfg, 2), 0);
	ck_assert_uint_eq(vmmem_config_option_count(NULL, 0), 0);

	ck_assert_int_eq(vmmem_config_option(cfg, 0, 2, NULL, NULL), 0);
	ck_assert_int_eq(vmmem_config_option(cfg, 0, 2, &k, NULL), 0);
	ck_assert_str_eq(k, "share");
	ck_assert_int_eq(vmmem_config_option(cfg, 0, 2, NULL, &v), 0);
	ck_assert_str_eq(v, "on");
	k = v = "unchanged";
	ck_assert_int_eq(vmmem_config_option(cfg, 0, 3, &k, &v), -ERANGE);
	ck_assert_int_eq(vmmem_config_option(cfg, 1, 2, &k, &v), -ERANGE);
	ck_assert_int_eq(vmmem_config_option(cfg, 2, 0, &k, &v), -ERANGE);
	ck_assert_int_eq(vmmem_config_option(cfg, SIZE_MAX, SIZE_MAX, &k, &v), -ERANGE);
	ck_assert_str_eq(k, "unchanged");
	ck_assert_str_eq(v, "unchanged");
	ck_assert_int_eq(vmmem_config_option(NULL, 0, 0, &k, &v), -EINVAL);
	vmmem_config_free(cfg);
}
END_TEST

/* A config is independent of the text it came from. */
START_TEST(test_config_copies_text)
{
	char text[] = "anon:gpa=0,size=1M,label=abc";
	struct vmmem_config *cfg = parse_ok(text);

	memset(text, 'z', sizeof(text) - 1);
	assert_region(cfg, 0, "anon", 0, MiB);
	assert_option(cfg, 0, 2, "label", "abc");
	vmmem_config_free(cfg);
}
END_TEST

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *grammar = tcase_create("grammar");
	TCase *values = tcase_create("values");
	TCase *errors = tcase_create("errors");
	TCase *api = tcase_create("api");

	tcase_add_test(grammar, test_config_example);
	tcase_add_test(grammar, test_config_single_region_minimal);
	tcase_add_test(grammar, test_config_provider_and_key_charset);
	tcase_add_test(grammar, test_config_whitespace);
	tcase_add_test(grammar, test_config_whitespace_around_separator);
	tcase_add_test(grammar, test_config_escapes);
	tcase_add_test(grammar, test_config_many_regions);
	suite_add_tcase(s, grammar);

	tcase_add_loop_test(values, test_config_parse_size_valid, 0, N_OF(good_sizes));
	tcase_add_loop_test(values, test_config_parse_size_invalid, 0, N_OF(bad_sizes));
	tcase_add_test(values, test_config_parse_size_null);
	tcase_add_loop_test(values, test_config_sizes_in_config, 0, N_OF(good_sizes));
	tcase_add_loop_test(values, test_config_bad_sizes_in_config, 0, N_OF(bad_sizes));
	tcase_add_test(values, test_config_booleans);
	tcase_add_test(values, test_config_prealloc_threads);
	tcase_add_test(values, test_config_dirty_keys);
	tcase_add_test(values, test_config_provider_keys_unchecked);
	suite_add_tcase(s, values);

	tcase_add_loop_test(errors, test_config_syntax_errors, 0, N_OF(syntax_errors));
	tcase_add_loop_test(errors, test_config_key_errors, 0, N_OF(key_errors));
	tcase_add_loop_test(errors, test_config_value_errors, 0, N_OF(value_errors));
	tcase_add_loop_test(errors, test_config_overflow, 0, N_OF(overflow_errors));
	tcase_add_loop_test(errors, test_config_overlap, 0, N_OF(overlap_errors));
	tcase_add_test(errors, test_config_end_at_limit);
	tcase_add_test(errors, test_config_adjacent_regions);
	tcase_add_test(errors, test_config_message_names_key);
	suite_add_tcase(s, errors);

	tcase_add_test(api, test_config_parse_null);
	tcase_add_test(api, test_config_accessors);
	tcase_add_test(api, test_config_copies_text);
	suite_add_tcase(s, api);
	return s;
}

int main(void)
{
	return tu_run_suite(config_suite());
}
