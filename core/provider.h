/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Provider objects (internal view): a plugin file's lifetime, a registered provider's
 * lifetime, and the calls the core makes into a provider on a region's behalf. */
#ifndef VMM_PROVIDER_H
#define VMM_PROVIDER_H

#include <stddef.h>

#include <vmmem/provider.h>

/* One plugin file (or one in-process entry point): the dlopen handle lives until the last
 * provider it registered is gone, and providers live until the context and every region
 * made through them are gone. */
struct vmm_plugin {
	unsigned long refs; /* atomic: one per provider, plus the loader while it runs */
	void *dl;           /* dlopen handle, NULL for in-process providers */
	char *path;         /* NULL for in-process providers */
};

struct vmmem_provider {
	unsigned long refs; /* atomic: the context's, plus one per region */
	struct vmm_plugin *plugin;
	struct vmmem_provider_desc desc; /* copied and clamped to what this core knows */
	struct vmmem_provider_ops ops;   /* likewise; absent optional ops filled with stubs */
	size_t n_options;
};

/* Load the plugin file open at @fd (RTLD_NOW | RTLD_LOCAL): the very file, never another
 * one found by name. A file already loaded is shared. On failure NULL, with the reason in
 * @err. The caller keeps @fd (a duplicate is kept while the file is loaded). */
void *vmm_plugin_dlopen_fd(int fd, char *err, size_t err_size);
/* Drop a handle from vmm_plugin_dlopen_fd; the last one unloads the file. */
void vmm_plugin_dlclose(void *dl);

/* Drop a reference to a plugin; the last one dlcloses it. NULL is ignored. */
void vmm_plugin_unref(struct vmm_plugin *pl);

struct vmmem_provider *vmm_provider_ref(struct vmmem_provider *p);
/* Drop a reference; the last one frees the provider and drops its plugin. NULL is ignored. */
void vmm_provider_unref(struct vmmem_provider *p);

/* Undo a provider's mapping and drop the reference the region held on the provider. */
void vmm_provider_release_mapping(struct vmmem_provider *p, struct vmmem_mapping *m);
/* The provider's discard op; a positive (bogus) return becomes -EIO. */
int vmm_provider_discard(struct vmmem_provider *p, struct vmmem_mapping *m, uint64_t offset,
			 uint64_t len);

#endif /* VMM_PROVIDER_H */
