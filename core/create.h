/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Regions and memories built from config strings (the public side is vmmem/ctx.h). */
#ifndef VMM_CREATE_H
#define VMM_CREATE_H

#include <vmmem/ctx.h>

#include "config.h"

/* Create the region one parsed config entry describes, with @ctx's provider; it keeps the
 * entry's config string (struct vmmem_region::spec). 0 or an error with a message. */
int vmm_create_region(struct vmmem_ctx *ctx, const struct vmm_cfg_region *cr,
		      struct vmmem_region **out);

#endif /* VMM_CREATE_H */
