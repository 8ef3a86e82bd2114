/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* smalldesc: a description table smaller than ABI 1.0's -> VMMEM_E_PROVIDER_ABI. */
#include <stddef.h>

#include "plugin_util.h"

static const struct vmmem_provider_ops smalldesc_ops = TP_OPS_INIT;

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc desc = TP_DESC_INIT("smalldesc", &smalldesc_ops);

	desc.size = (uint32_t)offsetof(struct vmmem_provider_desc, provider_data);
	return core->register_provider(h, &desc);
}
