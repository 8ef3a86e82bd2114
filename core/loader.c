/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The plugin loader: the search path, the checks that keep another user's code out of this
 * process, dlopen of libvmmem-<name>.so files, and find-with-load-on-demand. */
#define _GNU_SOURCE
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

#if !defined(VMMEM_PROVIDER_DIR) || !defined(VMMEM_PROVIDER_RELDIR) || \
	!defined(VMMEM_BUILD_LIBDIR) || !defined(VMMEM_PROVIDER_BUILD_DIR)
#error "the provider directories must be defined (core/CMakeLists.txt)"
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

/* The plugins installed with this very libvmmem.so: the directory it was loaded from (as
 * the dynamic linker found it) plus the build-time path from the library directory to the
 * provider directory. From the build tree: the build's provider directory. If the library
 * cannot tell where it is: the configure-time install directory. Found once. */
static char default_dir[PATH_MAX];
static pthread_once_t default_dir_once = PTHREAD_ONCE_INIT;

static void find_default_dir(void)
{
	char lib[PATH_MAX], build[PATH_MAX];
	Dl_info info;
	char *slash;

	snprintf(default_dir, sizeof(default_dir), "%s", VMMEM_PROVIDER_DIR);
	if (!dladdr((void *)find_default_dir, &info) || !info.dli_fname ||
	    !realpath(info.dli_fname, lib) || !(slash = strrchr(lib, '/')))
		return;
	*slash = '\0';
	if (realpath(VMMEM_BUILD_LIBDIR, build) && !strcmp(lib, build))
		snprintf(default_dir, sizeof(default_dir), "%s", VMMEM_PROVIDER_BUILD_DIR);
	else if (VMMEM_PROVIDER_RELDIR[0] == '/')
		snprintf(default_dir, sizeof(default_dir), "%s", VMMEM_PROVIDER_RELDIR);
	else if (snprintf(default_dir, sizeof(default_dir), "%s/%s", lib, VMMEM_PROVIDER_RELDIR) >=
		 (int)sizeof(default_dir))
		snprintf(default_dir, sizeof(default_dir), "%s", VMMEM_PROVIDER_DIR);
}

/* The effective search path, malloc'd. Called with the lock held. */
static char *search_path_locked(const struct vmmem_ctx *ctx)
{
	const char *env;
	char *s = NULL;

	if (ctx->search_path)
		return strdup(ctx->search_path);
	pthread_once(&default_dir_once, find_default_dir);
	env = secure_getenv("VMMEM_PROVIDER_PATH");
	if (env && *env) {
		if (asprintf(&s, "%s:%s", env, default_dir) < 0)
			s = NULL;
		return s;
	}
	return strdup(default_dir);
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

/*
 * What may hold code this process runs. A plugin file and the directory it is in: owned by
 * root or by us, writable by nobody else. Every ancestor of that directory up to /: owned by
 * root or by us, and not writable by others unless sticky (like /tmp, where others cannot
 * rename or remove what is ours). The checks run on open descriptors, and the file loaded is
 * the one checked (through /proc/self/fd), so nothing can be swapped in between.
 */
static int unsafe(const struct stat *st, bool sticky_ok, const char *what, const char *name)
{
	bool foreign = st->st_uid != 0 && st->st_uid != geteuid();
	bool writable = (st->st_mode & (S_IWGRP | S_IWOTH)) != 0;

	if (writable && sticky_ok && (st->st_mode & S_ISVTX))
		writable = false;
	if (!foreign && !writable)
		return 0;
	if (foreign && writable)
		return vmm_err(VMMEM_E_PROVIDER_UNSAFE,
			       "provider %s %s is owned by uid %u and writable by group or others: "
			       "refused", what, name, (unsigned int)st->st_uid);
	if (foreign)
		return vmm_err(VMMEM_E_PROVIDER_UNSAFE,
			       "provider %s %s is owned by uid %u, neither root nor this process's "
			       "uid %u: refused", what, name, (unsigned int)st->st_uid,
			       (unsigned int)geteuid());
	return vmm_err(VMMEM_E_PROVIDER_UNSAFE,
		       "provider %s %s is writable by group or others (mode %04o): refused", what,
		       name, (unsigned int)(st->st_mode & 07777));
}

/* Check directory @fd (named @dir in messages) and each of its ancestors up to /. */
static int check_dir_chain(int fd, const char *dir)
{
	struct stat st, up;
	int cur = fd, rc;

	if (fstat(fd, &st) < 0)
		return vmm_err(-errno, "provider directory %s: %m", dir);
	rc = unsafe(&st, false, "directory", dir);
	for (unsigned int depth = 1; rc == 0; depth++) {
		int parent = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (parent < 0) {
			rc = vmm_err(-errno, "provider directory %s: opening its ancestor %u: %m", dir,
				     depth);
			break;
		}
		if (cur != fd)
			close(cur);
		cur = parent;
		if (fstat(cur, &up) < 0) {
			rc = vmm_err(-errno, "provider directory %s: ancestor %u: %m", dir, depth);
			break;
		}
		if (up.st_dev == st.st_dev && up.st_ino == st.st_ino)
			break; /* ".." of / is / */
		st = up;
		char what[48];

		snprintf(what, sizeof(what), "directory (ancestor %u of)", depth);
		rc = unsafe(&st, true, what, dir);
	}
	if (cur != fd)
		close(cur);
	return rc;
}

/* Load plugin @name (a file name) from directory @dirfd (named @dir). Context lock held.
 * Returns 0, a negative error, or -ENOENT without a message when there is no such file. */
static int load_file_locked(struct vmmem_ctx *ctx, int dirfd, const char *dir, const char *name)
{
	char path[PATH_MAX], why[256];
	struct vmm_plugin *plugin;
	vmmem_provider_init_fn *init;
	struct stat st;
	void *dl;
	int fd, rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return vmm_err(-ENAMETOOLONG, "provider plugin path %s/%s is too long", dir, name);
	/* O_PATH: nothing is read yet, so a FIFO cannot block us; O_NOFOLLOW: see DECISIONS.md. */
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return vmm_err(-errno, "provider plugin %s: %m", path);
	}
	rc = fstat(fd, &st) < 0 ? vmm_err(-errno, "provider plugin %s: %m", path) : 0;
	if (rc == 0 && S_ISLNK(st.st_mode)) /* O_PATH | O_NOFOLLOW opens the link itself */
		rc = vmm_err(VMMEM_E_PROVIDER_UNSAFE,
			     "provider plugin %s is a symbolic link: refused (install the file "
			     "itself)", path);
	else if (rc == 0 && !S_ISREG(st.st_mode))
		rc = vmm_err(VMMEM_E_PROVIDER_UNSAFE,
			     "provider plugin %s is not a regular file: refused", path);
	if (rc == 0)
		rc = unsafe(&st, false, "plugin", path);
	if (rc == 0)
		rc = check_dir_chain(dirfd, dir);
	if (rc) {
		close(fd);
		return rc;
	}
	dl = vmm_plugin_dlopen_fd(fd, why, sizeof(why));
	close(fd);
	if (!dl)
		return vmm_err(VMMEM_E_PROVIDER_LOAD, "cannot load provider plugin %s: %s", path,
			       why);
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

/* A search-path directory, opened for reading; -ENOENT (no message) if it is not there. */
static int open_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ENOTDIR)
		return -ENOENT; /* a missing directory on the path is normal */
	return vmm_err(-errno, "cannot read provider directory %s: %m", dir);
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
	char file[VMM_PROVIDER_NAME_MAX + sizeof(PLUGIN_PREFIX PLUGIN_SUFFIX)];
	int dirfd = open_dir(dir), rc;

	if (dirfd == -ENOENT)
		return 0;
	if (dirfd < 0)
		return dirfd;
	snprintf(file, sizeof(file), PLUGIN_PREFIX "%s" PLUGIN_SUFFIX, l->name);
	rc = load_file_locked(ctx, dirfd, dir, file);
	close(dirfd);
	if (rc == -ENOENT)
		return 0;
	l->tried = true;
	return rc ?: 1; /* the first file found decides */
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

/* What load_all counts: plugins (or unreadable directories) that failed, and the message
 * of the last failure, kept because a later plugin's successful load may clear it. */
struct load_all {
	size_t failed;
	char message[512];
};

static void load_failed(struct load_all *l)
{
	l->failed++;
	snprintf(l->message, sizeof(l->message), "%s", vmmem_errormsg());
}

static int load_dir(struct vmmem_ctx *ctx, const char *dir, void *arg)
{
	struct load_all *failed = arg;
	struct dirent *e;
	int dirfd = open_dir(dir), listfd;
	DIR *d;

	if (dirfd == -ENOENT)
		return 0;
	if (dirfd < 0) { /* one we cannot read is a failure, not the end of the search */
		load_failed(failed);
		return 0;
	}
	listfd = dup(dirfd);
	d = listfd >= 0 ? fdopendir(listfd) : NULL;
	if (!d) {
		vmm_err(-errno, "cannot read provider directory %s: %m", dir);
		if (listfd >= 0)
			close(listfd);
		close(dirfd);
		load_failed(failed);
		return 0;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), pre = strlen(PLUGIN_PREFIX), suf = strlen(PLUGIN_SUFFIX);
		char name[VMM_PROVIDER_NAME_MAX + 1];

		if (len <= pre + suf || len - pre - suf > VMM_PROVIDER_NAME_MAX ||
		    strncmp(e->d_name, PLUGIN_PREFIX, pre) ||
		    strcmp(e->d_name + len - suf, PLUGIN_SUFFIX))
			continue;
		memcpy(name, e->d_name + pre, len - pre - suf);
		name[len - pre - suf] = '\0';
		if (!vmm_provider_name_valid(name) || vmm_registry_find_locked(ctx, name))
			continue;
		if (load_file_locked(ctx, dirfd, dir, e->d_name) < 0)
			load_failed(failed);
	}
	closedir(d);
	close(dirfd);
	return 0;
}

int
vmmem_ctx_load_all(struct vmmem_ctx *ctx, size_t *failed)
{
	struct load_all l = { 0, "" };
	int rc;

	VMM_CHECK_ARG(ctx);
	pthread_mutex_lock(&ctx->lock);
	rc = for_each_dir(ctx, load_dir, &l);
	pthread_mutex_unlock(&ctx->lock);
	if (rc == 0 && l.failed)
		vmm_err(-EIO, "%s", l.message); /* the last failure's message, as documented */
	if (failed)
		*failed = l.failed;
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

