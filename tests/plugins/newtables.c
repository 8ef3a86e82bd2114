/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* newtables: a provider built against a "newer minor" ABI (VMMEM_PROVIDER_ABI_MINOR + 1)
 * whose description and ops tables have fields appended after ABI 1.0's, with the sizes
 * set accordingly. Must load and work; the core ignores the fields it does not know. */
#include <stddef.h>

#include "plugin_util.h"

/* ABI 1.0's tables followed by what a later minor might append. */
struct newtables_ops {
	struct vmmem_provider_ops base;
	int (*future_op)(void *provider_data, uint64_t arg);
	uint64_t future_flags;
};

struct newtables_desc {
	struct vmmem_provider_desc base;
	const char *future_text;
	uint64_t future_flags[4];
};

static int newtables_future_op(void *data, uint64_t arg)
{
	(void)data;
	(void)arg;
	return -EIO; /* never called by a 1.0 core */
}

static const struct newtables_ops newtables_ops = {
	.base = {
		.size = sizeof(struct newtables_ops),
		.create = tp_anon_create,
		.destroy = tp_anon_destroy,
	},
	.future_op = newtables_future_op,
	.future_flags = UINT64_MAX,
};

static const struct newtables_desc newtables_desc = {
	.base = {
		.size = sizeof(struct newtables_desc),
		.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
		.abi_minor = VMMEM_PROVIDER_ABI_MINOR + 1,
		.version = 0x010100,
		.name = "newtables",
		.description = "test plugin newtables",
		.ops = &newtables_ops.base,
	},
	.future_text = "from a future minor",
	.future_flags = { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX },
};

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	return core->register_provider(h, &newtables_desc.base);
}
