/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* stale: keeps the registration handle its entry point was given and calls
 * register_provider with it again from create, after the entry point returned (the handle
 * then points into a dead stack frame). The core must refuse it without touching it: create
 * returns what register_provider returned (an error), or -EPERM if it was accepted. */
#include "plugin_util.h"

static const struct vmmem_core_api *stale_core;
static struct vmmem_provider_handle *kept_handle;

static const struct vmmem_provider_desc stale_again_desc;

static int stale_create(void *data, const struct vmmem_provider_params *p,
			struct vmmem_mapping *out)
{
	int rc = stale_core->register_provider(kept_handle, &stale_again_desc);

	if (rc == 0)
		return stale_core->set_error(-EPERM, "stale: a kept handle was accepted");
	(void)data;
	(void)p;
	(void)out;
	return rc;
}

static const struct vmmem_provider_ops stale_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = stale_create,
	.destroy = tp_anon_destroy,
};
static const struct vmmem_provider_desc stale_desc = TP_DESC_INIT("stale", &stale_ops);
static const struct vmmem_provider_ops stale_again_ops = TP_OPS_INIT;
static const struct vmmem_provider_desc stale_again_desc =
	TP_DESC_INIT("stale_again", &stale_again_ops);

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	stale_core = core;
	kept_handle = h;
	return core->register_provider(h, &stale_desc);
}
