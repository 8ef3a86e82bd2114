/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Small helpers compiled into each provider plugin (plugins share no code at run time). */
#ifndef VMMEM_PROVIDER_UTIL_H
#define VMMEM_PROVIDER_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmmem/provider.h>

/*
 * Register a provider whose ops find the core's table in their data argument: the
 * description is copied with provider_data set to @core. (A plugin-wide static written by
 * init would be rewritten each time another context loads the plugin, while other threads'
 * create calls read it: a data race.)
 */
static inline int pu_register(const struct vmmem_core_api *core, struct vmmem_provider_handle *h,
			      const struct vmmem_provider_desc *tmpl)
{
	struct vmmem_provider_desc desc = *tmpl;

	desc.provider_data = (void *)(uintptr_t)core; /* the ops only read through it */
	return core->register_provider(h, &desc);
}

/*
 * The region's mapping: placed by the core (align=, guard pages) when the core offers
 * core_api map (provider ABI 1.1), else a plain mmap as older cores expect.
 */
static inline void *pu_mmap(const struct vmmem_core_api *core,
			    const struct vmmem_provider_params *p, uint64_t page_size, int prot,
			    int flags, int fd, uint64_t offset)
{
	if (core->size >= offsetof(struct vmmem_core_api, map) + sizeof(core->map) && core->map)
		return core->map(p, page_size, prot, flags, fd, offset);
	return mmap(NULL, p->length, prot, flags, fd, (off_t)offset);
}

/* Did the core ask for a read-only region (readonly=on)? Older cores do not say. */
static inline int pu_read_only(const struct vmmem_provider_params *p)
{
	return p->size >= offsetof(struct vmmem_provider_params, flags) + sizeof(p->flags) &&
	       (p->flags & VMMEM_PARAM_READ_ONLY);
}

/* mmap flags for the share/reserve options. */
static inline int pu_map_flags(int share, int reserve)
{
	return (share ? MAP_SHARED : MAP_PRIVATE) | (reserve ? 0 : MAP_NORESERVE);
}

/*
 * Discard [offset, offset + length) of a mapping, the way its backing needs (QEMU's
 * ram_block_discard_range table): a shared file mapping gets a hole punched in the file
 * (frees the page cache pages every mapper sees); shared anonymous memory (shmem) gets
 * MADV_REMOVE; private memory gets MADV_DONTNEED, which drops our copy-on-write pages
 * without touching the file.
 */
static inline int pu_discard(const struct vmmem_core_api *core, const struct vmmem_mapping *m,
			     uint64_t offset, uint64_t length)
{
	void *addr = (char *)m->addr + offset;

	if (m->flags & VMMEM_MAPPING_SHARED) {
		if (m->fd >= 0) {
			if (fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)(m->fd_offset + offset), (off_t)length) < 0)
				return core->set_error(-errno, "discard: fallocate(PUNCH_HOLE): %m");
			return 0;
		}
		if (madvise(addr, length, MADV_REMOVE) < 0)
			return core->set_error(-errno, "discard: madvise(MADV_REMOVE): %m");
		return 0;
	}
	if (madvise(addr, length, MADV_DONTNEED) < 0)
		return core->set_error(-errno, "discard: madvise(MADV_DONTNEED): %m");
	return 0;
}

/* discard-data=on (QEMU's option): at destroy the file's range of the region is not wanted
 * any more, so its pages go back (best effort: the region is going away either way). */
static inline void pu_discard_data(const struct vmmem_mapping *m)
{
	(void)fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)m->fd_offset,
			(off_t)m->length);
}

/*
 * Open the backing file of a file-backed provider (@who names it in messages). A directory
 * @path gets a new file made in it, unlinked at once (*anonymous = 1) unless @keep, when
 * its name goes to @created. Any other @path is created if missing (not with @read_only),
 * its name then going to @created so that a failed create can remove it, or opened as it
 * is (O_RDONLY with @read_only). @created is "" when nothing was created under a name.
 * Returns the descriptor, or a negative error with the message set.
 */
static inline int pu_open_path(const struct vmmem_core_api *core, const char *who,
			       const char *path, int read_only, int keep, char *created,
			       size_t size, int *anonymous)
{
	char tmpl[PATH_MAX];
	struct stat st;
	int fd;

	created[0] = '\0';
	*anonymous = 0;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (snprintf(tmpl, sizeof(tmpl), "%s/vmmem-XXXXXX", path) >= (int)sizeof(tmpl))
			return core->set_error(-ENAMETOOLONG, "%s: mem-path %s is too long", who,
					       path);
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd < 0)
			return core->set_error(-errno, "%s: creating a file in %s: %m", who, path);
		if (keep)
			snprintf(created, size, "%s", tmpl);
		else
			unlink(tmpl);
		*anonymous = !keep;
		return fd;
	}
	if (!read_only) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			snprintf(created, size, "%s", path);
			return fd;
		}
		if (errno != EEXIST)
			return core->set_error(-errno, "%s: opening %s: %m", who, path);
	}
	fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		return core->set_error(-errno, "%s: opening %s%s: %m", who, path,
				       read_only ? " read-only" : "");
	return fd;
}

/* Size in bytes as "2 MiB" style text for messages. */
static inline const char *pu_size_unit(uint64_t v, uint64_t *scaled)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int i = 0;

	while (i < 4 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	*scaled = v;
	return units[i];
}

#endif /* VMMEM_PROVIDER_UTIL_H */
