/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The library context and its provider registry (internal view): validated provider
 * tables, registration through the core's services table, lookup by name. */
#ifndef VMM_REGISTRY_H
#define VMM_REGISTRY_H

#include <pthread.h>
#include <stdbool.h>

#include <vmmem/ctx.h>
#include <vmmem/provider.h>

#include "provider.h"

/* Longest provider (and option key) name. */
#define VMM_PROVIDER_NAME_MAX 64

struct vmmem_ctx {
	unsigned long refs; /* atomic */
	pthread_mutex_t lock; /* guards everything below */
	char *search_path;    /* set by vmmem_ctx_set_search_path, or NULL */
	struct vmmem_provider **providers;
	size_t n_providers;
};

/* Is @s a valid provider or option name: 1 to VMM_PROVIDER_NAME_MAX of [a-z0-9_-]? */
bool vmm_provider_name_valid(const char *s);

/* The registered provider named @name, or NULL. Context lock held. */
const struct vmmem_provider *vmm_registry_find_locked(const struct vmmem_ctx *ctx,
						      const char *name);

/* Run a plugin's (or an in-process) entry point and commit what it registered to the
 * context only if all went well. Takes over the caller's reference on @plugin. Context
 * lock held. */
int vmm_registry_run_init(struct vmmem_ctx *ctx, struct vmm_plugin *plugin,
			  vmmem_provider_init_fn *init);

#endif /* VMM_REGISTRY_H */
