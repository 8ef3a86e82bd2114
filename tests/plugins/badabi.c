/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* badabi: built for the next provider-ABI major -> VMMEM_E_PROVIDER_ABI. */
#include "plugin_util.h"

static const struct vmmem_provider_ops badabi_ops = TP_OPS_INIT;

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc desc = TP_DESC_INIT("badabi", &badabi_ops);

	desc.abi_major = VMMEM_PROVIDER_ABI_MAJOR + 1;
	return core->register_provider(h, &desc);
}
