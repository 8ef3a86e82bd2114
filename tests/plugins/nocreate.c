/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* nocreate: the mandatory create op is NULL -> VMMEM_E_PROVIDER_INVALID. */
#include "plugin_util.h"

static const struct vmmem_provider_ops nocreate_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = NULL,
	.destroy = tp_anon_destroy,
};
static const struct vmmem_provider_desc nocreate_desc = TP_DESC_INIT("nocreate", &nocreate_ops);

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	return core->register_provider(h, &nocreate_desc);
}
