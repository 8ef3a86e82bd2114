/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* none: the entry point succeeds but registers nothing -> VMMEM_E_PROVIDER_INVALID. */
#include "plugin_util.h"

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	(void)core;
	(void)h;
	return 0;
}
