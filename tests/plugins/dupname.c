/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* dupname: registers "anon"; loaded after the real anon -> VMMEM_E_PROVIDER_EXISTS. */
#include "plugin_util.h"

static const struct vmmem_provider_ops dupname_ops = TP_OPS_INIT;
static const struct vmmem_provider_desc dupname_desc = TP_DESC_INIT("anon", &dupname_ops);

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	return core->register_provider(h, &dupname_desc);
}
