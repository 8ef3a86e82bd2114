/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The plugin loader: the search path, the checks that keep another user's code out of this
 * process, dlopen of libvmmem-<name>.so files, and find-with-load-on-demand. */
#define _GNU_SOURCE
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

#ifndef VMMEM_PROVIDER_DIR
#error "VMMEM_PROVIDER_DIR (the install directory of provider plugins) must be defined"
#endif

#define PLUGIN_PREFIX "libvmmem-"
#define PLUGIN_SUFFIX ".so"

/* ---- the search path ---- */

int
vmmem_ctx_set_search_path(struct vmmem_ctx *ctx, const char *path)
{
	char *copy = NULL;

	VMM_CHECK_ARG(ctx);
	if (path && !(copy = strdup(path)))
		return vmm_err(-ENOMEM, "context: out of memory");
	pthread_mutex_lock(&ctx->lock);
	free(ctx->search_path);
	ctx->search_path = copy;
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

/* The effective search path, malloc'd. Called with the lock held. */
static char *search_path_locked(const struct vmmem_ctx *ctx)
{
	const char *env;
	char *s = NULL;

	if (ctx->search_path)
		return strdup(ctx->search_path);
	env = secure_getenv("VMMEM_PROVIDER_PATH");
	if (env && *env) {
		if (asprintf(&s, "%s:%s", env, VMMEM_PROVIDER_DIR) < 0)
			s = NULL;
		return s;
	}
	return strdup(VMMEM_PROVIDER_DIR);
}

int
vmmem_ctx_search_path(struct vmmem_ctx *ctx, char *buf, size_t size)
{
	char *s;
	int n;

	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(buf || size == 0);
	pthread_mutex_lock(&ctx->lock);
	s = search_path_locked(ctx);
	pthread_mutex_unlock(&ctx->lock);
	if (!s)
		return vmm_err(-ENOMEM, "context: out of memory");
	n = snprintf(buf, size, "%s", s);
	free(s);
	return n;
}

/* ---- loading ---- */

/* Refuse files and directories that someone other than their owner (root or us) may
 * write: loading code from them would run another user's code in this process. */
static int check_owner(const char *path, const char *what)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return vmm_err(-errno, "provider %s %s: %m", what, path);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) || (st.st_uid != 0 && st.st_uid != geteuid()))
		return vmm_err(VMMEM_E_PROVIDER_UNSAFE,
			       "provider %s %s is writable by others or owned by uid %u: refused",
			       what, path, (unsigned int)st.st_uid);
	return 0;
}

static int check_plugin_path(const char *path)
{
	char dir[PATH_MAX];
	int rc = check_owner(path, "plugin");

	if (rc)
		return rc;
	snprintf(dir, sizeof(dir), "%s", path);
	return check_owner(dirname(dir), "directory");
}

/* Load one plugin file. Called with the lock held. */
static int load_file_locked(struct vmmem_ctx *ctx, const char *path)
{
	struct vmm_plugin *plugin;
	vmmem_provider_init_fn *init;
	char why[256];
	void *dl;
	int rc = check_plugin_path(path);

	if (rc)
		return rc;
	dl = vmm_plugin_dlopen(path, why, sizeof(why));
	if (!dl)
		return vmm_err(VMMEM_E_PROVIDER_LOAD, "cannot load provider plugin: %s", why);
	*(void **)&init = dlsym(dl, VMMEM_PROVIDER_ENTRY_NAME);
	if (!init) {
		vmm_plugin_dlclose(dl);
		return vmm_err(VMMEM_E_PROVIDER_SYMBOL, "%s has no %s symbol: not a libvmmem provider",
			       path, VMMEM_PROVIDER_ENTRY_NAME);
	}
	plugin = calloc(1, sizeof(*plugin));
	if (plugin)
		plugin->path = strdup(path);
	if (!plugin || !plugin->path) {
		free(plugin);
		vmm_plugin_dlclose(dl);
		return vmm_err(-ENOMEM, "context: out of memory");
	}
	plugin->refs = 1;
	plugin->dl = dl;
	return vmm_registry_run_init(ctx, plugin, init);
}

/* Call @fn for each directory of the search path until it returns non-zero. */
static int for_each_dir(struct vmmem_ctx *ctx, int (*fn)(struct vmmem_ctx *, const char *, void *),
			void *arg)
{
	char *path = search_path_locked(ctx), *save = NULL;
	int rc = 0;

	if (!path)
		return vmm_err(-ENOMEM, "context: out of memory");
	for (char *dir = strtok_r(path, ":", &save); dir && !rc; dir = strtok_r(NULL, ":", &save))
		rc = fn(ctx, dir, arg);
	free(path);
	return rc;
}

struct load_by_name {
	const char *name;
	bool tried;
};

static int try_dir_for_name(struct vmmem_ctx *ctx, const char *dir, void *arg)
{
	struct load_by_name *l = arg;
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/" PLUGIN_PREFIX "%s" PLUGIN_SUFFIX, dir, l->name) >=
	    (int)sizeof(path))
		return 0;
	if (access(path, F_OK) != 0)
		return 0;
	l->tried = true;
	return load_file_locked(ctx, path) ?: 1; /* the first file found decides */
}

int
vmm_loader_load_locked(struct vmmem_ctx *ctx, const char *name)
{
	struct load_by_name l = { .name = name };
	size_t before = ctx->n_providers;
	char *path;
	int rc;

	if (vmm_registry_find_locked(ctx, name))
		return 0;
	rc = for_each_dir(ctx, try_dir_for_name, &l);
	if (rc < 0)
		return rc;
	if (vmm_registry_find_locked(ctx, name))
		return 0;
	/* The file did not provide what its name promised: undo what it registered. */
	while (ctx->n_providers > before)
		vmm_provider_unref(ctx->providers[--ctx->n_providers]);
	path = search_path_locked(ctx);
	rc = vmm_err(VMMEM_E_PROVIDER_NOT_FOUND,
		     l.tried ? "plugin " PLUGIN_PREFIX "%s" PLUGIN_SUFFIX " did not register '%s'"
			     : "no plugin " PLUGIN_PREFIX "%s" PLUGIN_SUFFIX " in %s",
		     name, l.tried ? name : (path ? path : "?"));
	free(path);
	return rc;
}

int
vmmem_ctx_load_provider(struct vmmem_ctx *ctx, const char *name)
{
	int rc;

	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(vmm_provider_name_valid(name));
	pthread_mutex_lock(&ctx->lock);
	rc = vmm_loader_load_locked(ctx, name);
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

static int load_dir(struct vmmem_ctx *ctx, const char *dir, void *arg)
{
	size_t *failed = arg;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d) {
		/* A missing directory on the path is normal; one we cannot read is not. */
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		vmm_err(-errno, "cannot read provider directory %s: %m", dir);
		(*failed)++;
		return 0;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), pre = strlen(PLUGIN_PREFIX), suf = strlen(PLUGIN_SUFFIX);
		char name[VMM_PROVIDER_NAME_MAX + 1], path[PATH_MAX];

		if (len <= pre + suf || len - pre - suf > VMM_PROVIDER_NAME_MAX ||
		    strncmp(e->d_name, PLUGIN_PREFIX, pre) ||
		    strcmp(e->d_name + len - suf, PLUGIN_SUFFIX))
			continue;
		memcpy(name, e->d_name + pre, len - pre - suf);
		name[len - pre - suf] = '\0';
		if (!vmm_provider_name_valid(name) || vmm_registry_find_locked(ctx, name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (load_file_locked(ctx, path))
			(*failed)++;
	}
	closedir(d);
	return 0;
}

int
vmmem_ctx_load_all(struct vmmem_ctx *ctx, size_t *failed)
{
	size_t n = 0;
	int rc;

	VMM_CHECK_ARG(ctx);
	pthread_mutex_lock(&ctx->lock);
	rc = for_each_dir(ctx, load_dir, &n);
	pthread_mutex_unlock(&ctx->lock);
	if (failed)
		*failed = n;
	return rc;
}

struct vmmem_provider *
vmm_loader_get_provider(struct vmmem_ctx *ctx, const char *name, int *rc)
{
	struct vmmem_provider *p = NULL;

	pthread_mutex_lock(&ctx->lock);
	*rc = vmm_loader_load_locked(ctx, name);
	if (*rc == 0) {
		p = (struct vmmem_provider *)vmm_registry_find_locked(ctx, name);
		if (p)
			vmm_provider_ref(p);
		else
			*rc = vmm_err(VMMEM_E_PROVIDER_NOT_FOUND, "provider %s vanished", name);
	}
	pthread_mutex_unlock(&ctx->lock);
	return p;
}

int
vmmem_ctx_find_provider(struct vmmem_ctx *ctx, const char *name,
			const struct vmmem_provider **out)
{
	struct vmmem_provider *p;
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(vmm_provider_name_valid(name));
	p = vmm_loader_get_provider(ctx, name, &rc);
	if (!p)
		return rc;
	*out = p;
	vmm_provider_unref(p); /* the context keeps it alive */
	return 0;
}

