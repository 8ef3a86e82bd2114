/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Provider objects: reference counting of plugins and providers, the calls into a provider
 * on a region's behalf, and the public accessors of a provider. */
#define _GNU_SOURCE
#include "provider.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <vmmem/ctx.h>

#include "error.h"
#include "util.h"

/* The dynamic linker serialises dlopen and dlclose with a lock of its own that
 * ThreadSanitizer cannot see, so plugins loaded by one context and unloaded by another
 * looked like racing on the linker's memory. Taking our own lock around both costs nothing
 * (they never run in parallel anyway) and makes that order visible. */
static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;

void *
vmm_plugin_dlopen(const char *path, char *err, size_t err_size)
{
	void *dl;

	pthread_mutex_lock(&dl_lock);
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl)
		snprintf(err, err_size, "%s", dlerror());
	pthread_mutex_unlock(&dl_lock);
	return dl;
}

void
vmm_plugin_dlclose(void *dl)
{
	pthread_mutex_lock(&dl_lock);
	dlclose(dl);
	pthread_mutex_unlock(&dl_lock);
}

void
vmm_plugin_unref(struct vmm_plugin *pl)
{
	if (!pl || !vmm_ref_dec_is_last(&pl->refs))
		return;
	if (pl->dl)
		vmm_plugin_dlclose(pl->dl);
	free(pl->path);
	free(pl);
}

struct vmmem_provider *
vmm_provider_ref(struct vmmem_provider *p)
{
	vmm_ref_inc(&p->refs);
	return p;
}

void
vmm_provider_unref(struct vmmem_provider *p)
{
	if (!p || !vmm_ref_dec_is_last(&p->refs))
		return;
	vmm_plugin_unref(p->plugin);
	free(p);
}

void
vmm_provider_release_mapping(struct vmmem_provider *p, struct vmmem_mapping *m)
{
	p->ops.destroy(p->desc.provider_data, m);
	vmm_provider_unref(p);
}

int
vmm_provider_discard(struct vmmem_provider *p, struct vmmem_mapping *m, uint64_t offset,
		     uint64_t len)
{
	int rc = p->ops.discard(p->desc.provider_data, m, offset, len);

	return rc > 0 ? -EIO : rc;
}

const char *
vmmem_provider_name(const struct vmmem_provider *p)
{
	return p ? p->desc.name : NULL;
}

const char *
vmmem_provider_description(const struct vmmem_provider *p)
{
	return p ? p->desc.description : NULL;
}

uint32_t
vmmem_provider_version(const struct vmmem_provider *p)
{
	return p ? p->desc.version : 0;
}

const char *
vmmem_provider_path(const struct vmmem_provider *p)
{
	return p ? p->plugin->path : NULL;
}

size_t
vmmem_provider_option_count(const struct vmmem_provider *p)
{
	return p ? p->n_options : 0;
}

int
vmmem_provider_option(const struct vmmem_provider *p, size_t index, const char **key,
		      uint32_t *type, const char **default_value, const char **help)
{
	const struct vmmem_option_desc *o;

	VMM_CHECK_ARG(p);
	if (index >= p->n_options)
		return vmm_err(-ERANGE, "provider %s has %zu options, not %zu", p->desc.name,
			       p->n_options, index + 1);
	o = &p->desc.options[index];
	if (key)
		*key = o->key;
	if (type)
		*type = o->type;
	if (default_value)
		*default_value = o->default_value;
	if (help)
		*help = o->help ? o->help : "";
	return 0;
}

