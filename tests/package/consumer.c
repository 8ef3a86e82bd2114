/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * A program built against an installed libvmmem only (tools/package-test.sh): a memfd guest
 * memory from a config string, a write and read back across its two regions, the version.
 * Prints "consumer ok" and exits 0 on success.
 */
#include <stdio.h>
#include <string.h>

#include <vmmem.h>

static int fail(const char *what, int rc)
{
	fprintf(stderr, "consumer: %s: %s: %s\n", what, vmmem_strerror(rc), vmmem_errormsg());
	return 1;
}

int main(void)
{
	static const char text[] = "memfd:gpa=0,size=2M;anon:gpa=2M,size=2M";
	struct vmmem_region *regions[2] = { NULL, NULL };
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *mem = NULL;
	struct vmmem_ctx *ctx = NULL;
	char out[32] = "crossing the region boundary", in[32] = { 0 };
	int rc;

	if (vmmem_version() != VMMEM_VERSION)
		fprintf(stderr, "consumer: note: built with headers %d.%d.%d, running %s\n",
			VMMEM_VERSION_MAJOR, VMMEM_VERSION_MINOR, VMMEM_VERSION_PATCH,
			vmmem_version_string());
	if ((rc = vmmem_ctx_new(&ctx)) || (rc = vmmem_config_parse(&cfg, text)))
		return fail("setup", rc);
	for (size_t i = 0; i < 2; i++)
		if ((rc = vmmem_region_create_from_config(&regions[i], ctx, cfg, i)))
			return fail("create", rc);
	if ((rc = vmmem_memory_new(&mem, regions, 2)))
		return fail("memory", rc);
	if ((rc = vmmem_memory_write_exact(mem, (2 << 20) - 10, out, sizeof(out), NULL)) ||
	    (rc = vmmem_memory_read_exact(mem, (2 << 20) - 10, in, sizeof(in), NULL)))
		return fail("access", rc);
	if (memcmp(in, out, sizeof(out)) != 0) {
		fprintf(stderr, "consumer: read back other bytes\n");
		return 1;
	}
	printf("consumer ok: libvmmem %s, providers %s and %s\n", vmmem_version_string(),
	       vmmem_provider_name(vmmem_region_provider(regions[0])),
	       vmmem_provider_name(vmmem_region_provider(regions[1])));
	vmmem_memory_unref(mem);
	vmmem_region_unref(regions[0]);
	vmmem_region_unref(regions[1]);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
	return 0;
}
