/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/ctx.h
 * @brief The library context: provider plugins, and guest memory built from config strings.
 *
 * A context owns a registry of providers (vmmem/provider.h). Providers come from plugin
 * files `libvmmem-<name>.so`, loaded on demand by name from the search path, or are
 * registered by the program itself with vmmem_ctx_register_provider(). The search path is
 * the context's own (vmmem_ctx_set_search_path) if set, otherwise the directories of the
 * environment variable `VMMEM_PROVIDER_PATH` (colon-separated, read with secure_getenv, so
 * ignored in set-uid programs) followed by the provider directory installed with the
 * libvmmem.so that is running: the directory it was loaded from plus the install layout's
 * path to the plugins (`${libdir}/vmmem`), so a relocated or --prefix install finds its own
 * plugins; a library run from its build tree uses the build's plugins.
 *
 * A plugin file, and the directory holding it, must not be writable by anyone but its owner,
 * and the owner must be root or the calling user; every ancestor directory up to / must be
 * owned by root or the calling user and not writable by others unless sticky (as /tmp).
 * Plugin files must be regular files, not symbolic links. Otherwise the plugin is refused
 * (::VMMEM_E_PROVIDER_UNSAFE, with a message naming what is wrong). The checks are made on
 * open descriptors and the file loaded is the file checked. Plugins are opened with
 * RTLD_NOW | RTLD_LOCAL and closed only when the context and every region made through
 * them are gone.
 *
 * Thread safety: a context is MT-Safe (its registry is behind a lock); loading is
 * serialised.
 */
#ifndef VMMEM_CTX_H
#define VMMEM_CTX_H

#include <vmmem/common.h>
#include <vmmem/config.h>
#include <vmmem/memory.h>
#include <vmmem/region.h>

VMMEM_BEGIN_DECLS

/** Opaque library context. */
struct vmmem_ctx;
/* Provider-ABI types (vmmem/provider.h), only named here. */
struct vmmem_core_api;
struct vmmem_provider_handle;
/** A registered provider (opaque, owned by the context). */
struct vmmem_provider;

/**
 * @brief Create a context with no provider loaded yet.
 * @param[out] out the context with one reference; NULL on failure.
 * @return 0, -EINVAL (@p out NULL) or -ENOMEM.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_ctx_new(struct vmmem_ctx **out);

/**
 * @brief Take one more reference.
 * @return @p ctx (NULL stays NULL).
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_ctx *vmmem_ctx_ref(struct vmmem_ctx *ctx);

/**
 * @brief Drop one reference. Plugins stay loaded while regions made through them live.
 * @return NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_ctx *vmmem_ctx_unref(struct vmmem_ctx *ctx);

/**
 * @brief Replace the plugin search path of this context.
 * @param path colon-separated directories, or NULL to go back to the environment and
 *             install directory.
 * @return 0, -EINVAL (@p ctx NULL) or -ENOMEM.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_ctx_set_search_path(struct vmmem_ctx *ctx, const char *path);

/**
 * @brief The search path in effect, colon-separated.
 * @param[out] buf receives the path, NUL-terminated (truncated to @p size).
 * @return the full length of the path (like snprintf), or -EINVAL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_ctx_search_path(struct vmmem_ctx *ctx, char *buf, size_t size);

/**
 * @brief Register the providers of an entry point linked into this program (no plugin
 *        file): @p init (a vmmem_provider_init_fn of vmmem/provider.h) is called like a
 *        plugin's vmmem_provider_init.
 * @return 0, or
 * @retval -EINVAL                    @p ctx or @p init is NULL
 * @retval VMMEM_E_PROVIDER_ABI       a description or ops table has another ABI major or is
 *                                    smaller than ABI 1.0's
 * @retval VMMEM_E_PROVIDER_INVALID   missing create/destroy, bad name or option table, or
 *                                    @p init registered nothing
 * @retval VMMEM_E_PROVIDER_EXISTS    a provider of that name is already registered
 * @retval <0                         the error @p init returned
 * Nothing is registered on failure.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_ctx_register_provider(struct vmmem_ctx *ctx,
					     int (*init)(const struct vmmem_core_api *core,
							 struct vmmem_provider_handle *handle));

/**
 * @brief Make sure provider @p name is registered, loading `libvmmem-<name>.so` from the
 *        search path if needed.
 * @return 0, or
 * @retval -EINVAL                    NULL argument or a name with characters outside [a-z0-9_-]
 * @retval VMMEM_E_PROVIDER_NOT_FOUND no such plugin on the search path, or it did not
 *                                    register @p name
 * @retval VMMEM_E_PROVIDER_UNSAFE    the file or its directory is writable by others
 * @retval VMMEM_E_PROVIDER_LOAD      dlopen failed (message has dlerror())
 * @retval VMMEM_E_PROVIDER_SYMBOL    no vmmem_provider_init symbol
 * @retval ...                        the errors of vmmem_ctx_register_provider()
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_ctx_load_provider(struct vmmem_ctx *ctx, const char *name);

/**
 * @brief Load every `libvmmem-*.so` on the search path (the first of each name wins).
 * @param[out] failed number of plugin files that could not be loaded, plus directories on
 *             the path that exist but could not be read (may be NULL); the message of the
 *             last failure is in vmmem_errormsg().
 * @return 0, or -EINVAL (@p ctx NULL), or -ENOMEM.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_ctx_load_all(struct vmmem_ctx *ctx, size_t *failed);

/**
 * @brief Number of registered providers.
 * @return the count, 0 if @p ctx is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT size_t vmmem_ctx_provider_count(struct vmmem_ctx *ctx);

/**
 * @brief The @p index-th registered provider, in registration order.
 * @return a pointer valid while @p ctx lives, or NULL if out of range.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT const struct vmmem_provider *vmmem_ctx_provider_at(struct vmmem_ctx *ctx,
								size_t index);

/**
 * @brief Find provider @p name, loading it on demand (vmmem_ctx_load_provider()).
 * @param[out] out the provider, valid while @p ctx lives; NULL on failure.
 * @return 0 or the errors of vmmem_ctx_load_provider().
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_ctx_find_provider(struct vmmem_ctx *ctx, const char *name,
					 const struct vmmem_provider **out);

/**
 * @brief A provider's name. @return the name, or NULL if @p p is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT const char *vmmem_provider_name(const struct vmmem_provider *p);

/**
 * @brief A provider's one-line description. @return the text, or NULL if @p p is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT const char *vmmem_provider_description(const struct vmmem_provider *p);

/**
 * @brief A provider's own version, (major << 16) | (minor << 8) | patch.
 * @return the version, or 0 if @p p is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT uint32_t vmmem_provider_version(const struct vmmem_provider *p);

/**
 * @brief The plugin file a provider came from.
 * @return the path, or NULL for providers registered in-process or if @p p is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT const char *vmmem_provider_path(const struct vmmem_provider *p);

/**
 * @brief Number of provider-specific options (the common keys of vmmem/config.h excluded).
 * @return the count, 0 if @p p is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT size_t vmmem_provider_option_count(const struct vmmem_provider *p);

/**
 * @brief Option @p index of a provider.
 * @param[out] key, type, default_value, help  each may be NULL. type is an enum
 *             vmmem_option_type (vmmem/provider.h): 1 bool, 2 size, 3 uint, 4 string.
 *             default_value may be set to NULL (no default).
 * @return 0, -EINVAL (@p p NULL) or -ERANGE (@p index out of range).
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_provider_option(const struct vmmem_provider *p, size_t index,
				       const char **key, uint32_t *type,
				       const char **default_value, const char **help);

/**
 * @brief Create one region through a provider, from one region of config-string syntax,
 *        e.g. "memfd:gpa=0,size=64M,seal=on" (vmmem/config.h).
 *
 * The provider maps the memory; then the core applies dump/merge, preallocates if asked
 * (an error, not a SIGBUS, when memory runs out) and caches the mapping in the region.
 * @param[out] out the region with one reference; NULL on failure (nothing stays mapped).
 * @return 0, or
 * @retval -EINVAL                 NULL argument, or @p spec holds more than one region
 * @retval VMMEM_E_CONFIG_*        as vmmem_config_parse(), plus ::VMMEM_E_CONFIG_KEY for a key
 *                                 the provider does not know and ::VMMEM_E_CONFIG_CONFLICT for
 *                                 prealloc=on with reserve=off
 * @retval VMMEM_E_PROVIDER_*      as vmmem_ctx_find_provider()
 * @retval -ENOMEM, -EFAULT, ...   the provider or preallocation failed (message says which)
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_create(struct vmmem_region **out, struct vmmem_ctx *ctx,
				     const char *spec);

/**
 * @brief Create region @p index of a parsed config (as vmmem_region_create() would), e.g.
 *        to hot-add regions one at a time.
 * @param[out] out the region with one reference; NULL on failure.
 * @return 0, -ERANGE if @p index is out of range, or the errors of vmmem_region_create().
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_region_create_from_config(struct vmmem_region **out, struct vmmem_ctx *ctx,
						 const struct vmmem_config *cfg, size_t index);

/**
 * @brief Build a guest memory from a parsed config: one region per config region.
 * @param[out] out the memory with one reference; NULL on failure (no region survives).
 * @return 0 or the errors of vmmem_region_create() and vmmem_memory_new().
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_memory_new_from_config(struct vmmem_memory **out, struct vmmem_ctx *ctx,
					      const struct vmmem_config *cfg);

VMMEM_END_DECLS

#endif /* VMMEM_CTX_H */
