/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* badopt: declares an option with the reserved common key "size"
 * -> VMMEM_E_PROVIDER_INVALID. */
#include "plugin_util.h"

static const struct vmmem_option_desc badopt_options[] = {
	{ "size", VMMEM_OPTION_SIZE, 0, NULL, "clashes with the core's size key" },
	{ 0 },
};
static const struct vmmem_provider_ops badopt_ops = TP_OPS_INIT;

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc desc = TP_DESC_INIT("badopt", &badopt_ops);

	desc.options = badopt_options;
	return core->register_provider(h, &desc);
}
