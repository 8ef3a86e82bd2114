/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* undefsym: needs a symbol nobody defines, so dlopen(RTLD_NOW) fails
 * -> VMMEM_E_PROVIDER_LOAD. (Linked without -Wl,--no-undefined.) */
#include "plugin_util.h"

/* Defined nowhere. */
int vmmem_test_symbol_defined_nowhere(void);

static const struct vmmem_provider_ops undefsym_ops = TP_OPS_INIT;
static const struct vmmem_provider_desc undefsym_desc = TP_DESC_INIT("undefsym", &undefsym_ops);

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	if (vmmem_test_symbol_defined_nowhere() != 0)
		return -EIO;
	return core->register_provider(h, &undefsym_desc);
}
