/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Library context, provider registry and plugin loader (internal view). */
#ifndef VMM_CTX_H
#define VMM_CTX_H

#include <pthread.h>

#include <vmmem/ctx.h>
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

struct vmmem_ctx {
	unsigned long refs; /* atomic */
	pthread_mutex_t lock; /* guards everything below */
	char *search_path;    /* set by vmmem_ctx_set_search_path, or NULL */
	struct vmmem_provider **providers;
	size_t n_providers;
};

struct vmmem_provider *vmm_provider_ref(struct vmmem_provider *p);
void vmm_provider_unref(struct vmmem_provider *p);

/* Undo a provider's mapping and drop the reference the region held on the provider. */
void vmm_provider_release_mapping(struct vmmem_provider *p, struct vmmem_mapping *m);
int vmm_provider_discard(struct vmmem_provider *p, struct vmmem_mapping *m, uint64_t offset,
			 uint64_t len);

/* The core's prealloc service (core/prealloc.c). */
int vmm_prealloc(void *addr, uint64_t length, uint64_t page_size, uint32_t threads);
/* QEMU's thread-count rule: min(requested, cpus, 16, pages, max(1, length / 64 MiB)). */
uint32_t vmm_prealloc_threads(uint64_t length, uint64_t page_size, uint32_t requested,
			      long cpus);

#endif /* VMM_CTX_H */
