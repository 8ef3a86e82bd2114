/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The plugin loader (internal view): the provider search path, the safety checks on plugin
 * files, loading by name or all at once, and finding a provider with load on demand. */
#ifndef VMM_LOADER_H
#define VMM_LOADER_H

#include "registry.h"

/* Make sure provider @name is registered in @ctx, loading libvmmem-<name>.so from the first
 * search-path directory that has it. Context lock held. */
int vmm_loader_load_locked(struct vmmem_ctx *ctx, const char *name);

/* Find provider @name (loading on demand) and take a reference; NULL with *rc set on
 * failure. Takes the context lock. */
struct vmmem_provider *vmm_loader_get_provider(struct vmmem_ctx *ctx, const char *name, int *rc);

#endif /* VMM_LOADER_H */
