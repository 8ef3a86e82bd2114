/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* oldops: a provider built against an "older" ABI whose ops table ended after destroy
 * (discard is optional and was appended later). Must load and work; the core answers
 * discard with its default -EOPNOTSUPP and never reads past ops.size. */
#include <stddef.h>

#include "plugin_util.h"

/* The whole table is here so that a core reading past .size would find a poisoned
 * discard pointer rather than zeroes; only the first .size bytes are "the" table. */
static int oldops_discard_poison(void *data, struct vmmem_mapping *m, uint64_t offset,
				 uint64_t length)
{
	(void)data;
	(void)m;
	(void)offset;
	(void)length;
	return -EIO; /* the core read past ops.size */
}

static const struct vmmem_provider_ops oldops_ops = {
	.size = (uint32_t)offsetof(struct vmmem_provider_ops, discard),
	.create = tp_anon_create,
	.destroy = tp_anon_destroy,
	.discard = oldops_discard_poison,
};
static const struct vmmem_provider_desc oldops_desc = TP_DESC_INIT("oldops", &oldops_ops);

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	return core->register_provider(h, &oldops_desc);
}
