/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* libFuzzer target for the config-string parser (vmmem/config.h), built by
 * tests/fuzz/run_fuzz.sh together with core/config.c and core/error.c only: the parser is
 * pure, so no library, provider or I/O is involved.
 *
 * Each input is NUL-terminated and parsed. On failure: *out is NULL, the code is one the
 * header documents, and a message exists. On success: every accessor agrees with the
 * documented invariants (regions >= 1, size > 0, gpa + size <= 2^64 - 1, no two regions
 * overlap, names in [a-z0-9_-]+, gpa and size present once, no key repeated, gpa/size equal
 * vmmem_parse_size of their text, dirty-page-size only with dirty-log=on), and writing the config back out with ",," / ";;" escapes
 * parses to the same regions and options. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmmem/config.h>
#include <vmmem/error.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_config: invariant failed: %s (line %d)\n", #cond, \
				__LINE__);                                                   \
			abort();                                                             \
		}                                                                            \
	} while (0)

struct span {
	uint64_t gpa, size;
};

static int compare_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return (x->gpa > y->gpa) - (x->gpa < y->gpa);
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* Append text to a growing buffer, doubling ',' and ';' when escape is set. */
struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *text, bool escape)
{
	for (; *text; text++) {
		int n = escape && (*text == ',' || *text == ';') ? 2 : 1;

		if (b->len + (size_t)n + 1 > b->cap) {
			b->cap = b->cap ? 2 * b->cap : 256;
			b->p = realloc(b->p, b->cap);
			CHECK(b->p);
		}
		while (n--)
			b->p[b->len++] = *text;
		b->p[b->len] = '\0';
	}
}

/* Walk a parsed config, check its invariants, and return it written back out. */
static char *check_config(const struct vmmem_config *cfg)
{
	size_t n = vmmem_config_region_count(cfg);
	struct span *spans;
	struct buf out = { 0 };

	CHECK(n >= 1);
	spans = calloc(n, sizeof(*spans));
	CHECK(spans);
	for (size_t i = 0; i < n; i++) {
		const char *provider = NULL;
		uint64_t gpa = 0, size = 0;
		size_t nopt = vmmem_config_option_count(cfg, i);
		int seen_gpa = 0, seen_size = 0, dirty_on = 0, dirty_page = 0;

		CHECK(vmmem_config_region(cfg, i, &provider, &gpa, &size) == 0);
		CHECK(provider && valid_name(provider));
		CHECK(size > 0);
		CHECK(size <= UINT64_MAX - gpa);
		spans[i] = (struct span){ gpa, size };
		CHECK(nopt >= 2);
		put(&out, i ? ";" : "", false);
		put(&out, provider, false);
		put(&out, ":", false);
		for (size_t j = 0; j < nopt; j++) {
			const char *key = NULL, *value = NULL;
			uint64_t v;

			CHECK(vmmem_config_option(cfg, i, j, &key, &value) == 0);
			CHECK(key && value && valid_name(key));
			CHECK(value[0] != '\0');
			for (size_t k = 0; k < j; k++) {
				const char *other;

				CHECK(vmmem_config_option(cfg, i, k, &other, NULL) == 0);
				CHECK(strcmp(other, key) != 0);
			}
			if (!strcmp(key, "gpa")) {
				seen_gpa++;
				CHECK(vmmem_parse_size(value, &v) == 0 && v == gpa);
			} else if (!strcmp(key, "size")) {
				seen_size++;
				CHECK(vmmem_parse_size(value, &v) == 0 && v == size);
			} else if (!strcmp(key, "dirty-log")) {
				dirty_on = !strcmp(value, "on") || !strcmp(value, "yes") ||
					   !strcmp(value, "true");
				CHECK(dirty_on || !strcmp(value, "off") || !strcmp(value, "no") ||
				      !strcmp(value, "false"));
			} else if (!strcmp(key, "dirty-page-size")) {
				dirty_page = 1;
				CHECK(vmmem_parse_size(value, &v) == 0 && v >= 4096 &&
				      (v & (v - 1)) == 0);
			}
			put(&out, j ? "," : "", false);
			put(&out, key, false);
			put(&out, "=", false);
			put(&out, value, true);
		}
		CHECK(seen_gpa == 1 && seen_size == 1);
		CHECK(!dirty_page || dirty_on); /* dirty-page-size needs dirty-log=on */
		CHECK(vmmem_config_option(cfg, i, nopt, NULL, NULL) == -ERANGE);
	}
	CHECK(vmmem_config_region(cfg, n, NULL, NULL, NULL) == -ERANGE);
	CHECK(vmmem_config_option_count(cfg, n) == 0);
	qsort(spans, n, sizeof(*spans), compare_span);
	for (size_t i = 1; i < n; i++)
		CHECK(spans[i - 1].gpa + spans[i - 1].size <= spans[i].gpa);
	free(spans);
	return out.p;
}

static bool same_config(const struct vmmem_config *a, const struct vmmem_config *b)
{
	size_t n = vmmem_config_region_count(a);

	if (vmmem_config_region_count(b) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *pa, *pb;
		uint64_t ga, gb, sa, sb;
		size_t nopt = vmmem_config_option_count(a, i);

		CHECK(vmmem_config_region(a, i, &pa, &ga, &sa) == 0);
		CHECK(vmmem_config_region(b, i, &pb, &gb, &sb) == 0);
		if (strcmp(pa, pb) || ga != gb || sa != sb || vmmem_config_option_count(b, i) != nopt)
			return false;
		for (size_t j = 0; j < nopt; j++) {
			const char *ka, *kb, *va, *vb;

			CHECK(vmmem_config_option(a, i, j, &ka, &va) == 0);
			CHECK(vmmem_config_option(b, i, j, &kb, &vb) == 0);
			if (strcmp(ka, kb) || strcmp(va, vb))
				return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct vmmem_config *cfg = (struct vmmem_config *)(uintptr_t)1, *again;
	uint64_t v = 42;
	char *written;
	int rc;

	CHECK(text);
	memcpy(text, data, size);
	text[size] = '\0';

	/* The size parser on its own: written only on success. */
	rc = vmmem_parse_size(text, &v);
	CHECK(rc == 0 || (rc == VMMEM_E_CONFIG_VALUE && v == 42));

	rc = vmmem_config_parse(&cfg, text);
	if (rc != 0) {
		CHECK(cfg == NULL);
		CHECK(rc == VMMEM_E_CONFIG_SYNTAX || rc == VMMEM_E_CONFIG_KEY ||
		      rc == VMMEM_E_CONFIG_VALUE || rc == -EOVERFLOW || rc == VMMEM_E_OVERLAP ||
		      rc == VMMEM_E_CONFIG_CONFLICT || rc == -ENOMEM);
		CHECK(vmmem_errormsg()[0] != '\0');
		if (rc != -ENOMEM)
			CHECK(strstr(vmmem_errormsg(), "position") != NULL);
		free(text);
		return 0;
	}
	CHECK(cfg != NULL);
	written = check_config(cfg);
	/* Written back out, the config parses to the same thing. */
	rc = vmmem_config_parse(&again, written);
	if (rc != 0)
		fprintf(stderr, "fuzz_config: '%s' written back as '%s' fails: %s\n", text, written,
			vmmem_errormsg());
	CHECK(rc == 0);
	CHECK(same_config(cfg, again));
	vmmem_config_free(again);
	free(written);
	vmmem_config_free(cfg);
	free(text);
	return 0;
}
