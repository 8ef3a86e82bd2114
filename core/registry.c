/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The library context and its provider registry: provider tables are validated once and
 * copied clamped to what this core knows; an entry point's registrations are committed all
 * or nothing. */
#define _GNU_SOURCE
#include "registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "options.h"
#include "placement.h"
#include "prealloc.h"
#include "region.h"
#include "util.h"

/* Minimum provider table sizes (ABI 1.0): the description through provider_data, the ops
 * through destroy (discard is optional). Smaller tables are refused. */
#define DESC_1_0_SIZE (offsetof(struct vmmem_provider_desc, provider_data) + sizeof(void *))
#define OPS_1_0_SIZE (offsetof(struct vmmem_provider_ops, destroy) + sizeof(void *))

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
	.map = vmm_core_map,
};

/* ---- registration ---- */

struct vmmem_provider_handle {
	struct vmmem_ctx *ctx;     /* its lock is held by the loader */
	struct vmm_plugin *plugin;
	struct vmmem_provider **pending; /* registered by this init call, not yet committed */
	size_t n_pending;
	int error; /* first registration error */
};

bool
vmm_provider_name_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') ||
		      s[n] == '_' || s[n] == '-'))
			return false;
	return n > 0 && n <= VMM_PROVIDER_NAME_MAX;
}

const struct vmmem_provider *
vmm_registry_find_locked(const struct vmmem_ctx *ctx, const char *name)
{
	for (size_t i = 0; i < ctx->n_providers; i++)
		if (!strcmp(ctx->providers[i]->desc.name, name))
			return ctx->providers[i];
	return NULL;
}

static int check_options(const struct vmmem_provider_desc *d, size_t *count)
{
	size_t n = 0;

	for (const struct vmmem_option_desc *o = d->options; o && o->key; o++, n++) {
		struct vmmem_option_value v = { 0 };

		if (!vmm_provider_name_valid(o->key) || vmm_config_is_common_key(o->key))
			return vmm_err(VMMEM_E_PROVIDER_INVALID,
				       "provider %s: option %zu has an invalid or reserved key '%s'",
				       d->name, n, o->key);
		if (o->type < VMMEM_OPTION_BOOL || o->type > VMMEM_OPTION_STRING)
			return vmm_err(VMMEM_E_PROVIDER_INVALID,
				       "provider %s: option %s has unknown type %u", d->name, o->key,
				       o->type);
		if (o->default_value && vmm_option_parse(o->type, o->default_value, &v))
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
			       vmm_provider_name_valid(d->name) ? d->name : "?", d->abi_major,
			       VMMEM_PROVIDER_ABI_MAJOR);
	if (!vmm_provider_name_valid(d->name))
		return vmm_err(VMMEM_E_PROVIDER_INVALID,
			       "provider name must be 1-%d characters of [a-z0-9_-]", VMM_PROVIDER_NAME_MAX);
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

/* The handle of the entry point running on this thread, if any. A handle lives on the
 * stack of vmm_registry_run_init only while the entry point runs: a plugin that kept it and
 * calls register_provider later (from create, from another thread) must be refused without
 * touching it. */
static __thread struct vmmem_provider_handle *running_init;

static int core_register_provider(struct vmmem_provider_handle *h,
				  const struct vmmem_provider_desc *desc)
{
	struct vmmem_provider *p, **pending;
	int rc;

	if (!h)
		return vmm_err(-EINVAL, "register_provider: handle is NULL");
	if (h != running_init)
		return vmm_err(-EINVAL, "register_provider: called with a handle that is not the one "
				       "given to the entry point now running on this thread (a handle "
				       "is valid only during vmmem_provider_init)");
	if (h->error)
		return h->error;
	p = calloc(1, sizeof(*p));
	if (!p)
		return h->error = vmm_err(-ENOMEM, "register_provider: out of memory");
	rc = validate_desc(desc, p);
	if (rc == 0) {
		bool dup = vmm_registry_find_locked(h->ctx, p->desc.name) != NULL;

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

int
vmm_registry_run_init(struct vmmem_ctx *ctx, struct vmm_plugin *plugin,
		      vmmem_provider_init_fn *init)
{
	struct vmmem_provider_handle h = { .ctx = ctx, .plugin = plugin };
	const char *who = plugin->path ? plugin->path : "in-process provider";
	struct vmmem_provider **all;
	int rc;

	vmm_err(0, "%s", ""); /* so a failing init without a message is recognisable */
	struct vmmem_provider_handle *outer = running_init; /* an init may load another */

	running_init = &h;
	rc = init(&core_api, &h);
	running_init = outer;
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
	vmm_plugin_unref(plugin);
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
	rc = vmm_registry_run_init(ctx, plugin, init);
	pthread_mutex_unlock(&ctx->lock);
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

