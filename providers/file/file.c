/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* file: memory in a file on any filesystem (QEMU's memory-backend-file): tmpfs, ext4,
 * hugetlbfs, a block device or a DAX character device. The file must hold offset + size
 * bytes; a writable regular file is grown to that, anything else too short is refused, so
 * a short file is an error at creation, not a SIGBUS at first touch. A plain file cannot be
 * sealed, so such regions are marked truncatable and the core guards their accesses; and it
 * must belong to us or root and not be writable by everyone. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "provider_util.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#define F_SEAL_SHRINK 0x0002
#endif

enum { OPT_MEM_PATH, OPT_SHARE, OPT_OFFSET, OPT_DISCARD_DATA, OPT_RESERVE };

static const struct vmmem_option_desc file_options[] = {
	[OPT_MEM_PATH] = { "mem-path", VMMEM_OPTION_STRING, 0, NULL,
			   "required: the file (created if missing, unless readonly=on), or a "
			   "directory to create an unlinked file in" },
	[OPT_SHARE] = { "share", VMMEM_OPTION_BOOL, 0, "off",
			"on: MAP_SHARED, writes reach the file and its other mappers" },
	[OPT_OFFSET] = { "offset", VMMEM_OPTION_SIZE, 0, "0",
			 "where in the file the region starts (a multiple of the page size)" },
	[OPT_DISCARD_DATA] = { "discard-data", VMMEM_OPTION_BOOL, 0, "off",
			       "on: punch the region's range out of the file when it is destroyed" },
	[OPT_RESERVE] = { "reserve", VMMEM_OPTION_BOOL, 0, "on",
			  "off: MAP_NORESERVE (private mappings: no swap reservation)" },
	{ 0 },
};

struct file_priv {
	int discard_data;
	uint64_t old_size; /* the file's size before create grew it (== size if not grown) */
	char created[];    /* the path of a named file create made, "" otherwise */
};

/* A device's size from sysfs (/sys/dev/char/MAJ:MIN/size, what device-DAX offers), or 0. */
static uint64_t sysfs_size(dev_t rdev, const char *attr)
{
	char path[96];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/%s", major(rdev), minor(rdev), attr);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* Guest memory in a file another user controls could be read, rewritten or shrunk under
 * the guest: a regular file must belong to us or root and not be writable by others (the
 * rule the plugin loader applies to code). Devices are left to their permissions. */
static int check_owner(const struct vmmem_core_api *core, const struct stat *st,
		       const char *path)
{
	if (!S_ISREG(st->st_mode))
		return 0;
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return core->set_error(-EPERM, "file: %s belongs to uid %u, not to this process "
				       "(uid %u) or root: refused", path, (unsigned int)st->st_uid,
				       (unsigned int)geteuid());
	if (st->st_mode & S_IWOTH)
		return core->set_error(-EPERM, "file: %s is writable by every user: refused "
				       "(chmod o-w)", path);
	return 0;
}

/* The bytes the backing holds now, and its page size; refuses what cannot back memory. */
static int backing_size(const struct vmmem_core_api *core, int fd, const char *path,
			uint64_t *size, uint64_t *page_size, int *regular)
{
	struct statfs sfs;
	struct stat st;
	off_t end;

	if (fstat(fd, &st) < 0)
		return core->set_error(-errno, "file: fstat of %s: %m", path);
	if (check_owner(core, &st, path))
		return -EPERM;
	*regular = S_ISREG(st.st_mode);
	*page_size = core->host_page_size();
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		if (fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == HUGETLBFS_MAGIC)
			*page_size = (uint64_t)sfs.f_bsize;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		end = lseek(fd, 0, SEEK_END);
		if (end < 0)
			return core->set_error(-errno, "file: size of block device %s: %m", path);
		*size = (uint64_t)end;
		return 0;
	}
	if (S_ISCHR(st.st_mode)) { /* device-DAX: size and mapping alignment in sysfs */
		uint64_t align = sysfs_size(st.st_rdev, "align");

		*size = sysfs_size(st.st_rdev, "size");
		if (!*size)
			return core->set_error(-ENOTSUP, "file: %s is a character device without a "
					       "size in /sys/dev/char (only DAX devices can back memory)",
					       path);
		if (align > *page_size && !(align & (align - 1)))
			*page_size = align;
		return 0;
	}
	return core->set_error(-EINVAL, "file: %s is not a file or device that can be mapped",
			       path);
}

/* Can another process shrink the file under us (no F_SEAL_SHRINK)? Devices cannot shrink. */
static int truncatable(int fd, int regular)
{
	int seals;

	if (!regular)
		return 0;
	seals = fcntl(fd, F_GET_SEALS);
	return seals < 0 || !(seals & F_SEAL_SHRINK);
}

static int file_create(void *data, const struct vmmem_provider_params *p,
		       struct vmmem_mapping *out)
{
	const struct vmmem_core_api *core = data;
	const struct vmmem_option_value *o = p->options;
	const char *path = o[OPT_MEM_PATH].str;
	int share = (int)o[OPT_SHARE].num, read_only = pu_read_only(p), regular = 0, anonymous;
	char created[PATH_MAX];
	int fd, rc;
	uint64_t offset = o[OPT_OFFSET].num, have = 0, need, page_size = 0, scaled;
	struct file_priv *priv;
	const char *unit;
	void *addr;

	if (!path || !path[0])
		return core->set_error(VMMEM_E_CONFIG_KEY, "file: mem-path= is required");
	if (o[OPT_DISCARD_DATA].num && read_only)
		return core->set_error(VMMEM_E_CONFIG_CONFLICT,
				       "file: discard-data=on cannot punch a file opened with "
				       "readonly=on");
	if (__builtin_add_overflow(offset, p->length, &need) || need > (uint64_t)INT64_MAX)
		return core->set_error(-EOVERFLOW, "file: offset %llu + size %llu is past the "
				       "largest file offset",
				       (unsigned long long)offset, (unsigned long long)p->length);
	/* A directory gets an unlinked new file (zero-filled, even for readonly=on); a file
	 * is created (mode 0600) if missing and writable, else opened as it is. */
	fd = pu_open_path(core, "file", path, read_only, 0, created, sizeof(created), &anonymous);
	if (fd < 0)
		return fd;
	rc = backing_size(core, fd, path, &have, &page_size, &regular);
	if (rc)
		goto fail;
	unit = pu_size_unit(page_size, &scaled);
	if (offset % page_size || p->length % page_size) {
		rc = core->set_error(VMMEM_E_CONFIG_VALUE,
				     "file: offset %llu and size %llu must be multiples of %s's "
				     "%llu %s page size",
				     (unsigned long long)offset, (unsigned long long)p->length, path,
				     (unsigned long long)scaled, unit);
		goto fail;
	}
	if (have < need) {
		/* Grow only what we may write and what can grow: a short read-only file or
		 * device would SIGBUS past its end. */
		if ((read_only && !anonymous) || !regular) {
			rc = core->set_error(VMMEM_E_CONFIG_VALUE,
					     "file: %s holds %llu bytes, the region needs %llu "
					     "(offset %llu + size %llu)%s",
					     path, (unsigned long long)have, (unsigned long long)need,
					     (unsigned long long)offset, (unsigned long long)p->length,
					     read_only ? "; a read-only file is not grown" : "");
			goto fail;
		}
		if (ftruncate(fd, (off_t)need) < 0) {
			rc = core->set_error(-errno, "file: growing %s to %llu bytes: %m", path,
					     (unsigned long long)need);
			goto fail;
		}
	}
	addr = pu_mmap(core, p, page_size, read_only ? PROT_READ : PROT_READ | PROT_WRITE,
		       pu_map_flags(share, (int)o[OPT_RESERVE].num), fd, offset);
	if (addr == MAP_FAILED) {
		rc = core->set_error(-errno, "file: mapping %llu bytes of %s at offset %llu: %m",
				     (unsigned long long)p->length, path, (unsigned long long)offset);
		goto fail;
	}
	priv = core->alloc(sizeof(*priv) + strlen(created) + 1);
	if (!priv) {
		munmap(addr, p->length);
		rc = core->set_error(-ENOMEM, "file: out of memory");
		goto fail;
	}
	priv->discard_data = (int)o[OPT_DISCARD_DATA].num;
	priv->old_size = have < need ? have : need;
	strcpy(priv->created, created);
	out->addr = addr;
	out->length = p->length;
	out->page_size = page_size;
	out->fd = fd;
	out->fd_offset = offset;
	out->priv = priv;
	out->flags = (share ? VMMEM_MAPPING_SHARED : 0) |
		     (page_size > core->host_page_size() && regular ? VMMEM_MAPPING_HUGETLB : 0) |
		     (truncatable(fd, regular) ? VMMEM_MAPPING_TRUNCATABLE : 0);
	return 0;
fail:
	/* Leave the file as it was: shrink back what we grew, remove what we made. */
	if (regular && have < need && !read_only)
		(void)!ftruncate(fd, (off_t)have);
	close(fd);
	if (created[0])
		unlink(created);
	return rc;
}

static void file_destroy(void *data, struct vmmem_mapping *m)
{
	const struct vmmem_core_api *core = data;
	struct file_priv *priv = m->priv;

	/* discard-data: the file's range is not wanted after the guest (QEMU's use: do not
	 * write a dead guest's memory back to disk). */
	if (priv->discard_data)
		pu_discard_data(m);
	munmap(m->addr, m->length);
	/* The region never existed (the core failed after create): undo what create did to
	 * the file, as a failed create would have. */
	if ((m->flags & VMMEM_MAPPING_ABANDONED) && priv->old_size < m->fd_offset + m->length)
		(void)!ftruncate(m->fd, (off_t)priv->old_size);
	close(m->fd);
	if ((m->flags & VMMEM_MAPPING_ABANDONED) && priv->created[0])
		unlink(priv->created);
	core->free(priv);
}

static int file_discard(void *data, struct vmmem_mapping *m, uint64_t offset, uint64_t length)
{
	const struct vmmem_core_api *core = data;

	/* MADV_DONTNEED on a private file mapping brings the file's bytes back, not zeroes,
	 * and punching the file would change what it holds for everyone else. */
	if (!(m->flags & VMMEM_MAPPING_SHARED))
		return core->set_error(-EOPNOTSUPP, "file: discard of a share=off mapping would "
				       "read back the file's data, not zeroes");
	return pu_discard(data, m, offset, length);
}

static const struct vmmem_provider_ops file_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = file_create,
	.destroy = file_destroy,
	.discard = file_discard,
};

static const struct vmmem_provider_desc file_desc = {
	.size = sizeof(struct vmmem_provider_desc),
	.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
	.abi_minor = VMMEM_PROVIDER_ABI_MINOR,
	.version = 0x010000,
	.name = "file",
	.description = "a file on any filesystem or a DAX device (QEMU memory-backend-file)",
	.options = file_options,
	.ops = &file_ops,
};

VMMEM_PROVIDER_EXPORT int vmmem_provider_init(const struct vmmem_core_api *api,
					      struct vmmem_provider_handle *handle);

int vmmem_provider_init(const struct vmmem_core_api *api, struct vmmem_provider_handle *handle)
{
	return pu_register(api, handle, &file_desc);
}
