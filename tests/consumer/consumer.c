/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * consumer: the smallest program built against an installed libvmmem (install test).
 * Creates a context, builds a guest memory from a config string with the installed
 * providers, checks each region came from a provider in the installed provider directory,
 * and writes and reads back a pattern across the region boundary.
 */
#include "consumer_common.h"

#define CONFIG "memfd:gpa=0,size=4M;anon:gpa=4M,size=4M"
#define MIB (1024u * 1024u)
#define SPAN (64u * 1024u)

int main(void)
{
	static uint8_t out[2 * SPAN], in[2 * SPAN];
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *mem = NULL;
	struct vmmem_ctx *ctx = NULL;
	int rc, ret = 1;

	if (consumer_use_installed_providers("consumer") < 0 ||
	    consumer_check_library("consumer") < 0)
		return 1;
	rc = vmmem_ctx_new(&ctx);
	if (rc < 0) {
		consumer_fail("consumer", "vmmem_ctx_new", rc);
		return 1;
	}
	rc = vmmem_config_parse(&cfg, CONFIG);
	if (rc < 0) {
		consumer_fail("consumer", "vmmem_config_parse", rc);
		goto out;
	}
	rc = vmmem_memory_new_from_config(&mem, ctx, cfg);
	if (rc < 0) {
		consumer_fail("consumer", "vmmem_memory_new_from_config", rc);
		goto out;
	}
	if (vmmem_memory_region_count(mem) != 2 || vmmem_memory_last_addr(mem) != 8 * MIB - 1) {
		fprintf(stderr, "consumer: expected 2 regions over 8 MiB\n");
		goto out;
	}
	for (size_t i = 0; i < 2; i++) {
		const struct vmmem_provider *p =
			vmmem_region_provider(vmmem_memory_region_at(mem, i));
		const char *path = p ? vmmem_provider_path(p) : NULL;

		if (!path || !consumer_path_in(path, VMMEM_CONSUMER_PROVIDER_DIR)) {
			fprintf(stderr, "consumer: region %zu provider %s is not in %s\n", i,
				path ? path : "(none)", VMMEM_CONSUMER_PROVIDER_DIR);
			goto out;
		}
		printf("consumer: region %zu from %s\n", i, path);
	}
	consumer_fill(out, sizeof(out), 1);
	rc = vmmem_memory_write_exact(mem, 4 * MIB - SPAN, out, sizeof(out), NULL);
	if (rc < 0) {
		consumer_fail("consumer", "vmmem_memory_write_exact", rc);
		goto out;
	}
	rc = vmmem_memory_read_exact(mem, 4 * MIB - SPAN, in, sizeof(in), NULL);
	if (rc < 0) {
		consumer_fail("consumer", "vmmem_memory_read_exact", rc);
		goto out;
	}
	if (consumer_verify("consumer", in, sizeof(in), 1) < 0)
		goto out;
	printf("consumer: ok\n");
	ret = 0;
out:
	vmmem_memory_unref(mem);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
	return ret;
}
