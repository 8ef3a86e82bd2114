/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* anon: anonymous memory (QEMU's memory-backend-ram), private or shared. */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "provider_util.h"

enum { OPT_SHARE, OPT_RESERVE, OPT_THP };

static const struct vmmem_option_desc anon_options[] = {
	[OPT_SHARE] = { "share", VMMEM_OPTION_BOOL, 0, "off",
			"on: MAP_SHARED (survives fork, discard frees with MADV_REMOVE)" },
	[OPT_RESERVE] = { "reserve", VMMEM_OPTION_BOOL, 0, "on",
			  "off: MAP_NORESERVE, no swap reservation (may fail at first touch)" },
	[OPT_THP] = { "thp", VMMEM_OPTION_BOOL, 0, "off",
		      "on: MADV_HUGEPAGE, ask for transparent huge pages" },
	{ 0 },
};

static int anon_create(void *data, const struct vmmem_provider_params *p,
		       struct vmmem_mapping *out)
{
	int share = (int)p->options[OPT_SHARE].num;
	const struct vmmem_core_api *core = data;
	void *addr;

	addr = pu_mmap(core, p, core->host_page_size(), PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | pu_map_flags(share, (int)p->options[OPT_RESERVE].num), -1, 0);
	if (addr == MAP_FAILED)
		return core->set_error(-errno, "anon: mmap of %llu bytes: %m",
				       (unsigned long long)p->length);
	if (p->options[OPT_THP].num && madvise(addr, p->length, MADV_HUGEPAGE) < 0) {
		int rc = core->set_error(-errno, "anon: thp=on: madvise(MADV_HUGEPAGE): %m");

		munmap(addr, p->length);
		return rc;
	}
	out->addr = addr;
	out->length = p->length;
	out->page_size = core->host_page_size();
	out->flags = share ? VMMEM_MAPPING_SHARED : 0;
	return 0;
}

static void anon_destroy(void *data, struct vmmem_mapping *m)
{
	(void)data;
	munmap(m->addr, m->length);
}

static int anon_discard(void *data, struct vmmem_mapping *m, uint64_t offset, uint64_t length)
{
	return pu_discard(data, m, offset, length);
}

static const struct vmmem_provider_ops anon_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = anon_create,
	.destroy = anon_destroy,
	.discard = anon_discard,
};

static const struct vmmem_provider_desc anon_desc = {
	.size = sizeof(struct vmmem_provider_desc),
	.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
	.abi_minor = VMMEM_PROVIDER_ABI_MINOR,
	.version = 0x010000,
	.name = "anon",
	.description = "anonymous memory, private or shared (QEMU memory-backend-ram)",
	.options = anon_options,
	.ops = &anon_ops,
};

VMMEM_PROVIDER_EXPORT int vmmem_provider_init(const struct vmmem_core_api *api,
					      struct vmmem_provider_handle *handle);

int vmmem_provider_init(const struct vmmem_core_api *api, struct vmmem_provider_handle *handle)
{
	return pu_register(api, handle, &anon_desc);
}
