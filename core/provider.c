/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Provider objects: reference counting of plugins and providers, the calls into a provider
 * on a region's behalf, and the public accessors of a provider. */
#define _GNU_SOURCE
#include "provider.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmmem/ctx.h>

#include "error.h"
#include "util.h"

/*
 * Plugin files are loaded from the descriptor the loader checked, as /proc/self/fd/N, so
 * the file run is the file checked. The dynamic linker finds an already loaded object by
 * that *name* before it compares files, so a name must never stand for two files: each
 * loaded file keeps its descriptor open while it is loaded (no other file can get that N),
 * and loading a file that is already loaded reuses its entry instead of a new name.
 *
 * One lock covers the table and every dlopen/dlclose. The linker serialises these anyway,
 * with a lock ThreadSanitizer cannot see; ours makes that order visible to it.
 */
struct dl_file {
	dev_t dev;
	ino_t ino;
	int fd;              /* open while loaded: its /proc/self/fd name is the object's */
	void *dl;
	unsigned long users; /* dl_lock */
	struct dl_file *next;
};

static pthread_mutex_t dl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dl_file *dl_files; /* dl_lock */

void *
vmm_plugin_dlopen_fd(int fd, char *err, size_t err_size)
{
	struct dl_file *f;
	struct stat st;
	char name[32];

	if (fstat(fd, &st) < 0) {
		snprintf(err, err_size, "fstat: %s", strerror(errno));
		return NULL;
	}
	pthread_mutex_lock(&dl_lock);
	for (f = dl_files; f; f = f->next)
		if (f->dev == st.st_dev && f->ino == st.st_ino)
			break;
	if (f) {
		f->users++;
	} else if ((f = calloc(1, sizeof(*f))) == NULL ||
		   (f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		snprintf(err, err_size, "%s", strerror(f ? errno : ENOMEM));
		free(f);
		f = NULL;
	} else {
		snprintf(name, sizeof(name), "/proc/self/fd/%d", f->fd);
		f->dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
		if (!f->dl) {
			snprintf(err, err_size, "%s", dlerror());
			close(f->fd);
			free(f);
			f = NULL;
		} else {
			*f = (struct dl_file){ .dev = st.st_dev, .ino = st.st_ino, .fd = f->fd,
					       .dl = f->dl, .users = 1, .next = dl_files };
			dl_files = f;
		}
	}
	pthread_mutex_unlock(&dl_lock);
	return f ? f->dl : NULL;
}

void
vmm_plugin_dlclose(void *dl)
{
	struct dl_file **p, *f;
	char name[32];

	pthread_mutex_lock(&dl_lock);
	for (p = &dl_files; *p && (*p)->dl != dl; p = &(*p)->next)
		;
	f = *p;
	if (f && --f->users == 0) {
		*p = f->next;
		dlclose(dl);
		/* A plugin the linker keeps (RTLD_NODELETE, unique symbols) keeps its name, so
		 * the descriptor behind the name stays open for good. */
		snprintf(name, sizeof(name), "/proc/self/fd/%d", f->fd);
		void *still = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);

		if (still)
			dlclose(still);
		else
			close(f->fd);
		free(f);
	}
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

	if (rc > 0) /* not a valid answer: say so rather than leave a stale message */
		return vmm_err(-EIO, "provider %s: discard returned %d, not 0 or a negative error",
			       p->desc.name, rc);
	return rc;
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

