/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Library context: provider registry, plugin loader, and regions made by providers. */
#define _GNU_SOURCE
#include "ctx.h"

#include <dirent.h>
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dirty.h"
#include "error.h"
#include "region.h"
#include "util.h"

#ifndef VMMEM_PROVIDER_DIR
#error "VMMEM_PROVIDER_DIR (the install directory of provider plugins) must be defined"
#endif

#define PLUGIN_PREFIX "libvmmem-"
#define PLUGIN_SUFFIX ".so"
#define MAX_NAME 64

/* Minimum provider table sizes (ABI 1.0): the description through provider_data, the ops
 * through destroy (discard is optional). Smaller tables are refused. */
#define DESC_1_0_SIZE (offsetof(struct vmmem_provider_desc, provider_data) + sizeof(void *))
#define OPS_1_0_SIZE (offsetof(struct vmmem_provider_ops, destroy) + sizeof(void *))

/* ---- plugins and providers: reference counting ---- */

static void plugin_unref(struct vmm_plugin *pl)
{
	if (!pl || !vmm_ref_dec_is_last(&pl->refs))
		return;
	if (pl->dl)
		dlclose(pl->dl);
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
	plugin_unref(p->plugin);
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

/* Stand-in for a provider without a discard op (filled in at registration). */
static int discard_unsupported(void *data, struct vmmem_mapping *m, uint64_t offset,
			       uint64_t len)
{
	(void)data;
	(void)m;
	(void)offset;
	(void)len;
	return vmm_err(-EOPNOTSUPP, "discard: this region's provider cannot discard memory");
}

/* ---- the services given to providers ---- */

static int core_set_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int core_set_error(int code, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return vmm_err(code < 0 ? code : -EIO, "%s", buf);
}

static void *core_alloc(size_t size)
{
	return calloc(1, size);
}

static int core_register_provider(struct vmmem_provider_handle *h,
				  const struct vmmem_provider_desc *desc);

static const struct vmmem_core_api core_api = {
	.size = sizeof(struct vmmem_core_api),
	.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
	.abi_minor = VMMEM_PROVIDER_ABI_MINOR,
	.register_provider = core_register_provider,
	.set_error = core_set_error,
	.alloc = core_alloc,
	.free = free,
	.prealloc = vmm_prealloc,
	.host_page_size = vmm_host_page_size,
};

/* ---- registration ---- */

struct vmmem_provider_handle {
	struct vmmem_ctx *ctx;     /* its lock is held by the loader */
	struct vmm_plugin *plugin;
	struct vmmem_provider **pending; /* registered by this init call, not yet committed */
	size_t n_pending;
	int error; /* first registration error */
};

static bool valid_name(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') ||
		      s[n] == '_' || s[n] == '-'))
			return false;
	return n > 0 && n <= MAX_NAME;
}

static const struct vmmem_provider *find_locked(const struct vmmem_ctx *ctx, const char *name)
{
	for (size_t i = 0; i < ctx->n_providers; i++)
		if (!strcmp(ctx->providers[i]->desc.name, name))
			return ctx->providers[i];
	return NULL;
}

/* Parse a value of option type @type; 0 or VMMEM_E_CONFIG_VALUE (no message). */
static int parse_typed(uint32_t type, const char *text, struct vmmem_option_value *v)
{
	bool b;

	switch (type) {
	case VMMEM_OPTION_BOOL:
		if (vmm_parse_bool(text, &b))
			return VMMEM_E_CONFIG_VALUE;
		v->num = b;
		return 0;
	case VMMEM_OPTION_SIZE:
		return vmm_parse_size_value(text, &v->num);
	case VMMEM_OPTION_UINT:
		return vmm_parse_uint(text, &v->num);
	case VMMEM_OPTION_STRING:
		v->str = text;
		return 0;
	default:
		return VMMEM_E_CONFIG_VALUE;
	}
}

static int check_options(const struct vmmem_provider_desc *d, size_t *count)
{
	size_t n = 0;

	for (const struct vmmem_option_desc *o = d->options; o && o->key; o++, n++) {
		struct vmmem_option_value v = { 0 };

		if (!valid_name(o->key) || vmm_config_is_common_key(o->key))
			return vmm_err(VMMEM_E_PROVIDER_INVALID,
				       "provider %s: option %zu has an invalid or reserved key '%s'",
				       d->name, n, o->key);
		if (o->type < VMMEM_OPTION_BOOL || o->type > VMMEM_OPTION_STRING)
			return vmm_err(VMMEM_E_PROVIDER_INVALID,
				       "provider %s: option %s has unknown type %u", d->name, o->key,
				       o->type);
		if (o->default_value && parse_typed(o->type, o->default_value, &v))
			return vmm_err(VMMEM_E_PROVIDER_INVALID,
				       "provider %s: option %s has a bad default '%s'", d->name,
				       o->key, o->default_value);
		for (const struct vmmem_option_desc *q = d->options; q != o; q++)
			if (!strcmp(q->key, o->key))
				return vmm_err(VMMEM_E_PROVIDER_INVALID,
					       "provider %s: option %s declared twice", d->name,
					       o->key);
	}
	*count = n;
	return 0;
}

/* Validate a provider description once; copy it clamped to the tables this core knows. */
static int validate_desc(const struct vmmem_provider_desc *d, struct vmmem_provider *p)
{
	const struct vmmem_provider_ops *ops;

	if (!d)
		return vmm_err(VMMEM_E_PROVIDER_INVALID, "provider description is NULL");
	if (d->size < DESC_1_0_SIZE)
		return vmm_err(VMMEM_E_PROVIDER_ABI,
			       "provider description is %u bytes, smaller than ABI 1.0's %zu",
			       d->size, DESC_1_0_SIZE);
	if (d->abi_major != VMMEM_PROVIDER_ABI_MAJOR)
		return vmm_err(VMMEM_E_PROVIDER_ABI,
			       "provider '%s' was built for provider ABI %u, this libvmmem has %u",
			       valid_name(d->name) ? d->name : "?", d->abi_major,
			       VMMEM_PROVIDER_ABI_MAJOR);
	if (!valid_name(d->name))
		return vmm_err(VMMEM_E_PROVIDER_INVALID,
			       "provider name must be 1-%d characters of [a-z0-9_-]", MAX_NAME);
	ops = d->ops;
	if (!ops)
		return vmm_err(VMMEM_E_PROVIDER_INVALID, "provider %s has no ops table", d->name);
	if (ops->size < OPS_1_0_SIZE)
		return vmm_err(VMMEM_E_PROVIDER_ABI,
			       "provider %s: ops table is %u bytes, smaller than ABI 1.0's %zu",
			       d->name, ops->size, OPS_1_0_SIZE);
	if (!ops->create || !ops->destroy)
		return vmm_err(VMMEM_E_PROVIDER_INVALID, "provider %s: mandatory op %s is missing",
			       d->name, !ops->create ? "create" : "destroy");
	if (check_options(d, &p->n_options))
		return VMMEM_E_PROVIDER_INVALID;
	/* Copy what this core knows; a newer provider's extra fields are ignored. */
	memcpy(&p->desc, d, d->size < sizeof(p->desc) ? d->size : sizeof(p->desc));
	memcpy(&p->ops, ops, ops->size < sizeof(p->ops) ? ops->size : sizeof(p->ops));
	if (!p->ops.discard)
		p->ops.discard = discard_unsupported;
	if (!p->desc.description)
		p->desc.description = "";
	return 0;
}

static int core_register_provider(struct vmmem_provider_handle *h,
				  const struct vmmem_provider_desc *desc)
{
	struct vmmem_provider *p, **pending;
	int rc;

	if (!h)
		return vmm_err(-EINVAL, "register_provider: handle is NULL");
	if (h->error)
		return h->error;
	p = calloc(1, sizeof(*p));
	if (!p)
		return h->error = vmm_err(-ENOMEM, "register_provider: out of memory");
	rc = validate_desc(desc, p);
	if (rc == 0) {
		bool dup = find_locked(h->ctx, p->desc.name) != NULL;

		for (size_t i = 0; i < h->n_pending && !dup; i++)
			dup = !strcmp(h->pending[i]->desc.name, p->desc.name);
		if (dup)
			rc = vmm_err(VMMEM_E_PROVIDER_EXISTS, "provider %s is already registered%s%s",
				     p->desc.name, h->plugin->path ? " (again by " : "",
				     h->plugin->path ? h->plugin->path : "");
	}
	if (rc == 0) {
		pending = realloc(h->pending, (h->n_pending + 1) * sizeof(*pending));
		if (!pending)
			rc = vmm_err(-ENOMEM, "register_provider: out of memory");
		else
			h->pending = pending;
	}
	if (rc) {
		free(p);
		return h->error = rc;
	}
	p->refs = 1;
	vmm_ref_inc(&h->plugin->refs);
	p->plugin = h->plugin;
	h->pending[h->n_pending++] = p;
	return 0;
}

/* Run an entry point; commit its providers to the context only if all went well. Takes
 * over the caller's plugin reference. Called with the context lock held. */
static int run_init(struct vmmem_ctx *ctx, struct vmm_plugin *plugin,
		    vmmem_provider_init_fn *init)
{
	struct vmmem_provider_handle h = { .ctx = ctx, .plugin = plugin };
	const char *who = plugin->path ? plugin->path : "in-process provider";
	struct vmmem_provider **all;
	int rc;

	vmm_err(0, "%s", ""); /* so a failing init without a message is recognisable */
	rc = init(&core_api, &h);
	if (rc > 0)
		rc = -EIO;
	if (rc == 0 && h.error)
		rc = h.error;
	if (rc == 0 && h.n_pending == 0)
		rc = vmm_err(VMMEM_E_PROVIDER_INVALID, "registered no provider");
	if (rc) {
		/* Name the plugin in front of whatever detail the failure left (copied out
		 * first: the message buffer is about to be rewritten). */
		char detail[400];

		snprintf(detail, sizeof(detail), "%s", vmmem_errormsg());
		if (*detail)
			rc = vmm_err(rc, "%s: %s", who, detail);
		else
			rc = vmm_err(rc, "%s: %s failed: %s", who, VMMEM_PROVIDER_ENTRY_NAME,
				     vmmem_strerror(rc));
	}
	if (rc == 0) {
		all = realloc(ctx->providers, (ctx->n_providers + h.n_pending) * sizeof(*all));
		if (!all) {
			rc = vmm_err(-ENOMEM, "context: out of memory");
		} else {
			ctx->providers = all;
			memcpy(&all[ctx->n_providers], h.pending, h.n_pending * sizeof(*all));
			ctx->n_providers += h.n_pending;
			h.n_pending = 0;
		}
	}
	for (size_t i = 0; i < h.n_pending; i++)
		vmm_provider_unref(h.pending[i]);
	free(h.pending);
	plugin_unref(plugin);
	return rc;
}

/* ---- the context ---- */

int
vmmem_ctx_new(struct vmmem_ctx **out)
{
	struct vmmem_ctx *ctx;

	VMM_CHECK_ARG(out);
	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return vmm_err(-ENOMEM, "context: out of memory");
	ctx->refs = 1;
	pthread_mutex_init(&ctx->lock, NULL);
	*out = ctx;
	return 0;
}

struct vmmem_ctx *
vmmem_ctx_ref(struct vmmem_ctx *ctx)
{
	if (ctx)
		vmm_ref_inc(&ctx->refs);
	return ctx;
}

struct vmmem_ctx *
vmmem_ctx_unref(struct vmmem_ctx *ctx)
{
	if (!ctx || !vmm_ref_dec_is_last(&ctx->refs))
		return NULL;
	for (size_t i = 0; i < ctx->n_providers; i++)
		vmm_provider_unref(ctx->providers[i]);
	free(ctx->providers);
	free(ctx->search_path);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
	return NULL;
}

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

int
vmmem_ctx_register_provider(struct vmmem_ctx *ctx,
			    int (*init)(const struct vmmem_core_api *core,
					struct vmmem_provider_handle *handle))
{
	struct vmm_plugin *plugin;
	int rc;

	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(init);
	plugin = calloc(1, sizeof(*plugin));
	if (!plugin)
		return vmm_err(-ENOMEM, "context: out of memory");
	plugin->refs = 1;
	pthread_mutex_lock(&ctx->lock);
	rc = run_init(ctx, plugin, init);
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

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
	void *dl;
	int rc = check_plugin_path(path);

	if (rc)
		return rc;
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl)
		return vmm_err(VMMEM_E_PROVIDER_LOAD, "cannot load provider plugin: %s", dlerror());
	*(void **)&init = dlsym(dl, VMMEM_PROVIDER_ENTRY_NAME);
	if (!init) {
		dlclose(dl);
		return vmm_err(VMMEM_E_PROVIDER_SYMBOL, "%s has no %s symbol: not a libvmmem provider",
			       path, VMMEM_PROVIDER_ENTRY_NAME);
	}
	plugin = calloc(1, sizeof(*plugin));
	if (plugin)
		plugin->path = strdup(path);
	if (!plugin || !plugin->path) {
		free(plugin);
		dlclose(dl);
		return vmm_err(-ENOMEM, "context: out of memory");
	}
	plugin->refs = 1;
	plugin->dl = dl;
	return run_init(ctx, plugin, init);
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

static int load_provider_locked(struct vmmem_ctx *ctx, const char *name)
{
	struct load_by_name l = { .name = name };
	size_t before = ctx->n_providers;
	char *path;
	int rc;

	if (find_locked(ctx, name))
		return 0;
	rc = for_each_dir(ctx, try_dir_for_name, &l);
	if (rc < 0)
		return rc;
	if (find_locked(ctx, name))
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
	VMM_CHECK_ARG(valid_name(name));
	pthread_mutex_lock(&ctx->lock);
	rc = load_provider_locked(ctx, name);
	pthread_mutex_unlock(&ctx->lock);
	return rc;
}

static int load_dir(struct vmmem_ctx *ctx, const char *dir, void *arg)
{
	size_t *failed = arg;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return 0; /* a missing directory on the path is normal */
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), pre = strlen(PLUGIN_PREFIX), suf = strlen(PLUGIN_SUFFIX);
		char name[MAX_NAME + 1], path[PATH_MAX];

		if (len <= pre + suf || len - pre - suf > MAX_NAME ||
		    strncmp(e->d_name, PLUGIN_PREFIX, pre) ||
		    strcmp(e->d_name + len - suf, PLUGIN_SUFFIX))
			continue;
		memcpy(name, e->d_name + pre, len - pre - suf);
		name[len - pre - suf] = '\0';
		if (!valid_name(name) || find_locked(ctx, name))
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

size_t
vmmem_ctx_provider_count(struct vmmem_ctx *ctx)
{
	size_t n;

	if (!ctx)
		return 0;
	pthread_mutex_lock(&ctx->lock);
	n = ctx->n_providers;
	pthread_mutex_unlock(&ctx->lock);
	return n;
}

const struct vmmem_provider *
vmmem_ctx_provider_at(struct vmmem_ctx *ctx, size_t index)
{
	const struct vmmem_provider *p = NULL;

	if (!ctx)
		return NULL;
	pthread_mutex_lock(&ctx->lock);
	if (index < ctx->n_providers)
		p = ctx->providers[index];
	pthread_mutex_unlock(&ctx->lock);
	return p;
}

/* Find (loading on demand) and take a reference; NULL with *rc set on failure. */
static struct vmmem_provider *get_provider(struct vmmem_ctx *ctx, const char *name, int *rc)
{
	struct vmmem_provider *p = NULL;

	pthread_mutex_lock(&ctx->lock);
	*rc = load_provider_locked(ctx, name);
	if (*rc == 0) {
		p = (struct vmmem_provider *)find_locked(ctx, name);
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
	VMM_CHECK_ARG(valid_name(name));
	p = get_provider(ctx, name, &rc);
	if (!p)
		return rc;
	*out = p;
	vmm_provider_unref(p); /* the context keeps it alive */
	return 0;
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

/* ---- regions made by providers ---- */

static long option_index(const struct vmmem_provider *p, const char *key)
{
	for (size_t i = 0; i < p->n_options; i++)
		if (!strcmp(p->desc.options[i].key, key))
			return (long)i;
	return -1;
}

/* The provider's option values for a config region: defaults, then the config's. */
static int resolve_options(const struct vmmem_provider *p, const struct vmm_cfg_region *cr,
			   struct vmmem_option_value *values)
{
	for (size_t i = 0; i < p->n_options; i++) {
		const struct vmmem_option_desc *o = &p->desc.options[i];

		if (o->default_value)
			parse_typed(o->type, o->default_value, &values[i]); /* checked at registration */
	}
	for (size_t j = 0; j < cr->n_options; j++) {
		const struct vmm_cfg_option *co = &cr->options[j];
		long i;

		if (co->common)
			continue;
		i = option_index(p, co->key);
		if (i < 0)
			return vmm_err(VMMEM_E_CONFIG_KEY,
				       "config position %zu: unknown key '%s' for provider '%s'",
				       co->pos, co->key, p->desc.name);
		values[i] = (struct vmmem_option_value){ .is_set = 1 };
		if (parse_typed(p->desc.options[i].type, co->value, &values[i]))
			return vmm_err(VMMEM_E_CONFIG_VALUE,
				       "config position %zu: %s=%s is not a valid %s", co->pos, co->key,
				       co->value,
				       p->desc.options[i].type == VMMEM_OPTION_BOOL ? "on/off value"
				       : p->desc.options[i].type == VMMEM_OPTION_SIZE ? "size"
										  : "number");
	}
	/* QEMU's rule: preallocating memory that was not reserved is a contradiction. */
	long reserve = option_index(p, "reserve");
	if (cr->prealloc && reserve >= 0 && p->desc.options[reserve].type == VMMEM_OPTION_BOOL &&
	    values[reserve].num == 0)
		return vmm_err(VMMEM_E_CONFIG_CONFLICT,
			       "config position %zu: prealloc=on conflicts with reserve=off", cr->pos);
	return 0;
}

/* A mapping a provider returned must be usable as a region. */
static int check_mapping(const struct vmmem_provider *p, const struct vmmem_mapping *m,
			 uint64_t length)
{
	uint64_t host_page = vmm_host_page_size();

	if (!m->addr || m->length != length || !m->page_size ||
	    (m->page_size & (m->page_size - 1)) || m->page_size < host_page ||
	    ((uintptr_t)m->addr & (m->page_size - 1)))
		return vmm_err(VMMEM_E_PROVIDER_INVALID,
			       "provider %s returned a bad mapping (addr %p, length 0x%llx of 0x%llx, "
			       "page size 0x%llx)",
			       p->desc.name, m->addr, (unsigned long long)m->length,
			       (unsigned long long)length, (unsigned long long)m->page_size);
	return 0;
}

/* Apply the common keys the core handles (dump, merge, prealloc) to a fresh mapping. */
static int finish_mapping(const struct vmm_cfg_region *cr, const struct vmmem_mapping *m)
{
	if (!cr->dump && madvise(m->addr, m->length, MADV_DONTDUMP) < 0)
		return vmm_err(-errno, "config position %zu: dump=off: madvise(MADV_DONTDUMP): %m",
			       cr->pos);
	if (cr->merge && madvise(m->addr, m->length, MADV_MERGEABLE) < 0)
		return vmm_err(-errno,
			       "config position %zu: merge=on: madvise(MADV_MERGEABLE): %m "
			       "(is KSM available?)",
			       cr->pos);
	if (cr->prealloc)
		return vmm_prealloc(m->addr, m->length, m->page_size, cr->prealloc_threads);
	return 0;
}

static int create_region(struct vmmem_ctx *ctx, const struct vmm_cfg_region *cr,
			 struct vmmem_region **out)
{
	struct vmmem_option_value *values = NULL;
	struct vmmem_mapping m = { .size = sizeof(m), .fd = -1 };
	struct vmmem_provider *p;
	int rc;

	p = get_provider(ctx, cr->provider, &rc);
	if (!p)
		return rc;
	values = calloc(p->n_options ? p->n_options : 1, sizeof(*values));
	if (!values) {
		rc = vmm_err(-ENOMEM, "region: out of memory");
		goto out;
	}
	rc = resolve_options(p, cr, values);
	if (rc)
		goto out;
	struct vmmem_provider_params params = {
		.size = sizeof(params),
		.gpa = cr->gpa,
		.length = cr->size,
		.options = values,
		.n_options = (uint32_t)p->n_options,
	};
	rc = p->ops.create(p->desc.provider_data, &params, &m);
	if (rc > 0)
		rc = -EIO;
	if (rc)
		goto out;
	rc = check_mapping(p, &m, cr->size);
	if (rc == 0)
		rc = finish_mapping(cr, &m);
	if (rc == 0) {
		struct vmmem_region tmpl = {
			.gpa = cr->gpa,
			.size = cr->size,
			.host = m.addr,
			.flags = cr->readonly ? VMMEM_REGION_READ_ONLY : 0,
			.fd = m.fd,
			.fd_offset = m.fd >= 0 ? m.fd_offset : 0,
			.page_size = m.page_size,
			.shareable = m.fd >= 0 && (m.flags & VMMEM_MAPPING_SHARED),
			.discard = VMM_DISCARD_PROVIDER,
			.provider = p,
			.mapping = m,
		};

		rc = vmm_region_alloc(out, &tmpl);
		if (rc == 0) {
			p = NULL; /* the region holds the reference now */
			if (cr->dirty_log) {
				rc = vmmem_region_dirty_enable(*out, cr->dirty_page_size);
				if (rc)
					*out = vmmem_region_unref(*out);
			}
			goto out;
		}
	}
	p->ops.destroy(p->desc.provider_data, &m);
out:
	free(values);
	vmm_provider_unref(p);
	return rc;
}

int
vmmem_region_create(struct vmmem_region **out, struct vmmem_ctx *ctx, const char *spec)
{
	struct vmmem_config *cfg;
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(spec);
	rc = vmmem_config_parse(&cfg, spec);
	if (rc)
		return rc;
	if (cfg->n_regions != 1)
		rc = vmm_err(-EINVAL, "region spec describes %zu regions, not one", cfg->n_regions);
	else
		rc = create_region(ctx, &cfg->regions[0], out);
	vmmem_config_free(cfg);
	return rc;
}

int
vmmem_region_create_from_config(struct vmmem_region **out, struct vmmem_ctx *ctx,
				const struct vmmem_config *cfg, size_t index)
{
	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(cfg);
	if (index >= cfg->n_regions)
		return vmm_err(-ERANGE, "config has %zu regions, not %zu", cfg->n_regions, index + 1);
	return create_region(ctx, &cfg->regions[index], out);
}

int
vmmem_memory_new_from_config(struct vmmem_memory **out, struct vmmem_ctx *ctx,
			     const struct vmmem_config *cfg)
{
	struct vmmem_region **regions;
	size_t made = 0;
	int rc = 0;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(cfg);
	regions = calloc(cfg->n_regions, sizeof(*regions));
	if (!regions)
		return vmm_err(-ENOMEM, "memory: out of memory");
	for (; made < cfg->n_regions && rc == 0; made++)
		rc = create_region(ctx, &cfg->regions[made], &regions[made]);
	if (rc == 0)
		rc = vmmem_memory_new(out, regions, cfg->n_regions);
	for (size_t i = 0; i < made; i++)
		vmmem_region_unref(regions[i]);
	free(regions);
	return rc;
}
