/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* hugetlbfs: memory in a file on a hugetlbfs mount (QEMU's memory-backend-file with a
 * hugetlbfs mem-path). Huge pages are reserved when the mapping is made, so a shortage is
 * an error at creation, not a SIGBUS later (unless reserve=off). */
#define _GNU_SOURCE
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "provider_util.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

enum { OPT_MEM_PATH, OPT_PAGESIZE, OPT_SHARE, OPT_RESERVE, OPT_KEEP, OPT_DISCARD_DATA };

static const struct vmmem_option_desc hugetlbfs_options[] = {
	[OPT_MEM_PATH] = { "mem-path", VMMEM_OPTION_STRING, 0, NULL,
			   "hugetlbfs directory (a file is created in it) or file; default: the "
			   "mount with the wanted page size" },
	[OPT_PAGESIZE] = { "pagesize", VMMEM_OPTION_SIZE, 0, NULL,
			   "huge page size to use (e.g. 2M, 1G); default: the system's" },
	[OPT_SHARE] = { "share", VMMEM_OPTION_BOOL, 0, "on",
			"off: MAP_PRIVATE (copy-on-write; other processes do not see writes)" },
	[OPT_RESERVE] = { "reserve", VMMEM_OPTION_BOOL, 0, "on",
			  "off: MAP_NORESERVE, huge pages are not reserved (SIGBUS if they run out)" },
	[OPT_KEEP] = { "keep", VMMEM_OPTION_BOOL, 0, "off",
		       "on: keep the file created in a mem-path directory (default: unlinked)" },
	[OPT_DISCARD_DATA] = { "discard-data", VMMEM_OPTION_BOOL, 0, "off",
			       "on: free the file's pages when the region is destroyed" },
	{ 0 },
};

struct hugetlbfs_priv {
	int discard_data;
	char created[]; /* the file create made, "" if it opened an existing one */
};

/* The system's default huge page size (/proc/meminfo Hugepagesize), or 0. */
static uint64_t default_huge_page_size(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb = 0;
	char line[128];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* A hugetlbfs mount whose page size is @want (0: the default huge page size). */
static int find_mount(const struct vmmem_core_api *core, uint64_t want, char *dir, size_t size)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *e;
	int found = 0;

	if (!want)
		want = default_huge_page_size();
	if (!f)
		return core->set_error(-errno, "hugetlbfs: reading the mount table: %m");
	while (!found && (e = getmntent(f))) {
		struct statfs sfs;

		if (strcmp(e->mnt_type, "hugetlbfs") || statfs(e->mnt_dir, &sfs) < 0)
			continue;
		if ((uint64_t)sfs.f_bsize == want && access(e->mnt_dir, W_OK) == 0) {
			snprintf(dir, size, "%s", e->mnt_dir);
			found = 1;
		}
	}
	endmntent(f);
	if (!found) {
		uint64_t scaled;
		const char *unit = pu_size_unit(want, &scaled);

		return core->set_error(-ENOENT,
				       "hugetlbfs: no writable hugetlbfs mount with %llu %s pages "
				       "(mount one, e.g. mount -t hugetlbfs -o pagesize=%llu%c none DIR, "
				       "or give mem-path=)",
				       (unsigned long long)scaled, unit, (unsigned long long)scaled,
				       unit[0]);
	}
	return 0;
}

static int hugetlbfs_create(void *data, const struct vmmem_provider_params *p,
			    struct vmmem_mapping *out)
{
	const struct vmmem_option_value *o = p->options;
	uint64_t want = o[OPT_PAGESIZE].is_set ? o[OPT_PAGESIZE].num : 0, page_size, scaled;
	int share = (int)o[OPT_SHARE].num, anonymous;
	struct hugetlbfs_priv *priv;
	char dir[PATH_MAX], created[PATH_MAX];
	const char *path = o[OPT_MEM_PATH].str, *unit;
	struct statfs sfs;
	struct stat st;
	void *addr;
	const struct vmmem_core_api *core = data;
	int fd, rc;

	if (o[OPT_PAGESIZE].is_set && (want == 0 || (want & (want - 1))))
		return core->set_error(VMMEM_E_CONFIG_VALUE,
				       "hugetlbfs: pagesize=%llu is not a power of two",
				       (unsigned long long)want);
	if (!path) {
		rc = find_mount(core, want, dir, sizeof(dir));
		if (rc)
			return rc;
		path = dir;
	}
	fd = pu_open_path(core, "hugetlbfs", path, 0, (int)o[OPT_KEEP].num, created,
			  sizeof(created), &anonymous);
	if (fd < 0)
		return fd;
	if (fstatfs(fd, &sfs) < 0 || (unsigned long)sfs.f_type != HUGETLBFS_MAGIC) {
		rc = core->set_error(-EINVAL, "hugetlbfs: %s is not on a hugetlbfs mount", path);
		goto fail;
	}
	page_size = (uint64_t)sfs.f_bsize;
	unit = pu_size_unit(page_size, &scaled);
	if (want && want != page_size) {
		rc = core->set_error(VMMEM_E_CONFIG_VALUE,
				     "hugetlbfs: %s has %llu %s pages, pagesize= asked for %llu bytes",
				     path, (unsigned long long)scaled, unit, (unsigned long long)want);
		goto fail;
	}
	if (p->length % page_size) {
		rc = core->set_error(VMMEM_E_CONFIG_VALUE,
				     "hugetlbfs: size %llu is not a multiple of the %llu %s page size",
				     (unsigned long long)p->length, (unsigned long long)scaled, unit);
		goto fail;
	}
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size < p->length &&
	    ftruncate(fd, (off_t)p->length) < 0) {
		rc = core->set_error(-errno, "hugetlbfs: growing %s to %llu bytes: %m", path,
				     (unsigned long long)p->length);
		goto fail;
	}
	addr = pu_mmap(core, p, page_size, PROT_READ | PROT_WRITE,
		       pu_map_flags(share, (int)o[OPT_RESERVE].num), fd, 0);
	if (addr == MAP_FAILED) {
		rc = core->set_error(-errno,
				     "hugetlbfs: mapping %llu bytes of %llu %s pages from %s: %m%s",
				     (unsigned long long)p->length, (unsigned long long)scaled, unit,
				     path, errno == ENOMEM ? " (not enough free huge pages)" : "");
		goto fail;
	}
	priv = core->alloc(sizeof(*priv) + strlen(created) + 1);
	if (!priv) {
		munmap(addr, p->length);
		rc = core->set_error(-ENOMEM, "hugetlbfs: out of memory");
		goto fail;
	}
	priv->discard_data = (int)o[OPT_DISCARD_DATA].num;
	strcpy(priv->created, created);
	out->addr = addr;
	out->length = p->length;
	out->page_size = page_size;
	out->fd = fd;
	out->fd_offset = 0;
	out->priv = priv;
	out->flags = (share ? VMMEM_MAPPING_SHARED : 0) | VMMEM_MAPPING_HUGETLB;
	return 0;
fail:
	close(fd);
	if (created[0]) /* leave nothing behind that this call made */
		unlink(created);
	return rc;
}

static void hugetlbfs_destroy(void *data, struct vmmem_mapping *m)
{
	const struct vmmem_core_api *core = data;
	struct hugetlbfs_priv *priv = m->priv;

	/* discard-data: give the pages back rather than leave them in a kept file. */
	if (priv->discard_data)
		pu_discard_data(m);
	munmap(m->addr, m->length);
	close(m->fd);
	/* The region never existed: a file made for it goes too, keep=on or not. */
	if ((m->flags & VMMEM_MAPPING_ABANDONED) && priv->created[0])
		unlink(priv->created);
	core->free(priv);
}

static int hugetlbfs_discard(void *data, struct vmmem_mapping *m, uint64_t offset,
			     uint64_t length)
{
	return pu_discard(data, m, offset, length);
}

static const struct vmmem_provider_ops hugetlbfs_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = hugetlbfs_create,
	.destroy = hugetlbfs_destroy,
	.discard = hugetlbfs_discard,
};

static const struct vmmem_provider_desc hugetlbfs_desc = {
	.size = sizeof(struct vmmem_provider_desc),
	.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
	.abi_minor = VMMEM_PROVIDER_ABI_MINOR,
	.version = 0x010000,
	.name = "hugetlbfs",
	.description = "files on a hugetlbfs mount (QEMU memory-backend-file on hugetlbfs)",
	.options = hugetlbfs_options,
	.ops = &hugetlbfs_ops,
};

VMMEM_PROVIDER_EXPORT int vmmem_provider_init(const struct vmmem_core_api *api,
					      struct vmmem_provider_handle *handle);

int vmmem_provider_init(const struct vmmem_core_api *api, struct vmmem_provider_handle *handle)
{
	return pu_register(api, handle, &hugetlbfs_desc);
}
