/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* initfail: registers a valid provider, then fails with -EIO: nothing may stay registered. */
#include "plugin_util.h"

static const struct vmmem_provider_ops initfail_ops = TP_OPS_INIT;
static const struct vmmem_provider_desc initfail_desc = TP_DESC_INIT("initfail", &initfail_ops);

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	int rc = core->register_provider(h, &initfail_desc);

	return rc ? rc : -EIO;
}
