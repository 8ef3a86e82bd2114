/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* mismatch: libvmmem-mismatch.so registers "othername", so loading "mismatch" by name
 * -> VMMEM_E_PROVIDER_NOT_FOUND. */
#include "plugin_util.h"

static const struct vmmem_provider_ops mismatch_ops = TP_OPS_INIT;
static const struct vmmem_provider_desc mismatch_desc = TP_DESC_INIT("othername", &mismatch_ops);

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	return core->register_provider(h, &mismatch_desc);
}
