/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* smallops: an ops table smaller than ABI 1.0's (it ends before destroy, the last mandatory
 * op; discard is optional) -> VMMEM_E_PROVIDER_ABI. */
#include <stddef.h>

#include "plugin_util.h"

static const struct vmmem_provider_ops smallops_ops = {
	.size = (uint32_t)offsetof(struct vmmem_provider_ops, destroy),
	.create = tp_anon_create,
	.destroy = tp_anon_destroy,
};
static const struct vmmem_provider_desc smallops_desc = TP_DESC_INIT("smallops", &smallops_ops);

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	return core->register_provider(h, &smallops_desc);
}
