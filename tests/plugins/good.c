/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* good: a minimal working provider. Anonymous private memory, every byte set to the UINT
 * option "fill" (default 0x5a; more than 0xff is refused with VMMEM_E_CONFIG_VALUE), and a
 * discard op (MADV_DONTNEED). */
#define _GNU_SOURCE
#include <string.h>

#include "plugin_util.h"

static const struct vmmem_option_desc good_options[] = {
	{ "fill", VMMEM_OPTION_UINT, 0, "0x5a", "byte every byte of a new region is set to" },
	{ 0 },
};

static const struct vmmem_core_api *good_core;
static int good_data; /* its address is the provider_data every op must get back */

static int good_create(void *data, const struct vmmem_provider_params *p,
		       struct vmmem_mapping *out)
{
	uint64_t fill = p->options[0].num;
	void *addr;

	if (data != &good_data || p->n_options != 1)
		return good_core->set_error(-EINVAL, "good: bad provider_data or option count");
	if (fill > 0xff)
		return good_core->set_error(VMMEM_E_CONFIG_VALUE,
					    "good: fill=%llu does not fit in a byte",
					    (unsigned long long)fill);
	addr = mmap(NULL, p->length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (addr == MAP_FAILED)
		return good_core->set_error(-errno, "good: mmap: %m");
	memset(addr, (int)fill, p->length);
	out->addr = addr;
	out->length = p->length;
	out->page_size = good_core->host_page_size();
	return 0;
}

static void good_destroy(void *data, struct vmmem_mapping *m)
{
	(void)data;
	munmap(m->addr, m->length);
}

static int good_discard(void *data, struct vmmem_mapping *m, uint64_t offset, uint64_t length)
{
	if (data != &good_data)
		return good_core->set_error(-EINVAL, "good: bad provider_data");
	if (madvise((char *)m->addr + offset, length, MADV_DONTNEED) < 0)
		return good_core->set_error(-errno, "good: madvise(MADV_DONTNEED): %m");
	return 0;
}

static const struct vmmem_provider_ops good_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = good_create,
	.destroy = good_destroy,
	.discard = good_discard,
};

static const struct vmmem_provider_desc good_desc = {
	.size = sizeof(struct vmmem_provider_desc),
	.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
	.abi_minor = VMMEM_PROVIDER_ABI_MINOR,
	.version = 0x010203,
	.name = "good",
	.description = "test provider: anonymous memory filled with one byte",
	.options = good_options,
	.ops = &good_ops,
	.provider_data = &good_data,
};

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	good_core = core;
	return core->register_provider(h, &good_desc);
}
