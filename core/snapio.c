/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Helpers shared by snapshot saving, merging and restoring (see snapio.h). */
#define _GNU_SOURCE
#include "snapio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <vmmem/config.h>

#include "config.h"
#include "crc32c.h"
#include "create.h"
#include "error.h"
#include "region.h"

#define PROGRESS_STEP (64ull << 20)

void
vmm_progress_init(struct vmm_progress *p, vmmem_progress_fn fn, void *arg, uint64_t total)
{
	*p = (struct vmm_progress){ .fn = fn, .arg = arg, .total = total, .next = PROGRESS_STEP };
}

int
vmm_progress_add(struct vmm_progress *p, uint64_t n)
{
	p->done += n;
	if (!p->fn || (p->done < p->next && p->done < p->total))
		return 0;
	p->next = p->done + PROGRESS_STEP;
	if (p->fn(p->arg, p->done, p->total) != 0)
		return vmm_err(-ECANCELED, "snapshot: cancelled by the progress callback at %llu of "
					   "%llu bytes",
			       (unsigned long long)p->done, (unsigned long long)p->total);
	return 0;
}

void
vmm_extents_init(struct vmm_extents *it, const struct vmm_extent_map *map, uint64_t base,
		 uint64_t len)
{
	size_t lo = 0, hi = map->n;

	/* The first extent ending after base. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (map->v[mid].end <= base)
			lo = mid + 1;
		else
			hi = mid;
	}
	*it = (struct vmm_extents){ .map = map, .next = lo, .base = base, .len = len };
}

int
vmm_extents_next(struct vmm_extents *it, uint64_t max, uint64_t *off, uint64_t *n, bool *data)
{
	uint64_t at = it->base + it->pos, end = it->base + it->len;
	const struct vmm_extent *e;

	if (it->pos >= it->len)
		return 0;
	while (it->next < it->map->n && it->map->v[it->next].end <= at)
		it->next++;
	e = it->next < it->map->n ? &it->map->v[it->next] : NULL;
	*off = it->pos;
	if (!e || e->start >= end) { /* a hole to the end */
		*n = it->len - it->pos;
		*data = false;
	} else if (e->start > at) { /* a hole up to the next extent */
		*n = e->start - at;
		*data = false;
	} else {
		*n = (e->end < end ? e->end : end) - at;
		if (*n > max)
			*n = max;
		*data = true;
	}
	it->pos += *n;
	return 1;
}

bool
vmm_is_zero(const uint8_t *p, uint64_t n)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;
	uint64_t words = n / 8;

	/* Blocks of 32 words, OR-reduced (vectorised) with an exit per block. */
	for (uint64_t i = 0; i + 32 <= words; i += 32) {
		for (int k = 0; k < 32; k++)
			acc |= w[i + (uint64_t)k];
		if (acc)
			return false;
	}
	for (uint64_t i = words & ~31ull; i < words; i++)
		acc |= w[i];
	for (uint64_t i = words * 8; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

int
vmm_write_sparse(int fd, const uint8_t *buf, uint64_t n, uint64_t off, uint32_t page_size,
		 uint32_t *crc, uint64_t *written)
{
	uint64_t run = 0; /* start of the current run */
	bool run_zero = false;
	int rc = 0;

	for (uint64_t p = 0;; p = n - p < page_size ? n : p + page_size) {
		bool end = p >= n;
		bool zero = !end && vmm_is_zero(buf + p, n - p < page_size ? n - p : page_size);

		if (p > run && (end || zero != run_zero)) {
			uint64_t len = (p < n ? p : n) - run;

			if (run_zero) {
				*crc = vmm_crc32c_zeros(*crc, len);
			} else {
				*crc = vmm_crc32c(*crc, buf + run, len);
				rc = vmm_snap_pwrite(fd, buf + run, len, off + run);
				if (rc)
					return rc;
				*written += len;
			}
			run = p;
		}
		if (end)
			return 0;
		if (p == run)
			run_zero = zero;
	}
}

/* Is the file (dev, ino) mapped anywhere in this process? /proc/self/maps lists the
 * device as hex major:minor and the inode in decimal. */
static bool mapped_here(dev_t dev, ino_t ino)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned int maj, min;
		unsigned long long inode;

		if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &inode) == 3 && inode &&
		    inode == (unsigned long long)ino && maj == major(dev) && min == minor(dev))
			found = true;
	}
	fclose(f);
	return found;
}

static bool same_file(const struct stat *st, int other)
{
	struct stat o;

	return other >= 0 && fstat(other, &o) == 0 && o.st_dev == st->st_dev &&
	       o.st_ino == st->st_ino;
}

int
vmm_snap_check_output(int fd, int avoid1, int avoid2)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && (fl & O_APPEND))
		return vmm_err(-EINVAL, "snapshot: fd %d is in append mode, where pwrite ignores "
					"offsets",
			       fd);
	if (fstat(fd, &st) < 0)
		return vmm_err(-EBADF, "snapshot: fd %d is not open", fd);
	if (same_file(&st, avoid1) || same_file(&st, avoid2))
		return vmm_err(-EINVAL, "merge: the output is one of the inputs");
	if (mapped_here(st.st_dev, st.st_ino))
		return vmm_err(-EBUSY, "snapshot: the output file is mapped by this process (a "
				       "memory restored from it by map?): rewriting it would take "
				       "that memory's pages away; write elsewhere");
	return 0;
}

int
vmm_snap_resize(int fd, uint64_t size)
{
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)
		return vmm_err(-errno, "snapshot: cannot size the file to %llu bytes: %m",
			       (unsigned long long)size);
	return 0;
}

bool
vmm_snap_region_fresh(const struct vmmem_region *r)
{
	struct stat st;

	if (r->fd < 0)
		return true;
	return fstat(r->fd, &st) == 0 && st.st_blocks == 0;
}

void
vmm_snap_unref_regions(struct vmmem_region **regions, size_t n)
{
	if (!regions)
		return;
	for (size_t i = 0; i < n; i++)
		vmmem_region_unref(regions[i]);
	free(regions);
}

/* The config entry for table region @i: from the caller's config (by GPA) or the table's
 * own string, checked against the table. */
static int region_config(const struct vmmem_snapshot *s, size_t i, const struct vmmem_config *user,
			 struct vmmem_config **own, const struct vmm_cfg_region **out)
{
	const struct vmm_snap_region *t = &s->regions[i];
	const struct vmm_cfg_region *cr = NULL;
	int rc;

	if (user) {
		for (size_t k = 0; k < user->n_regions; k++)
			if (user->regions[k].gpa == t->gpa)
				cr = &user->regions[k];
		if (!cr || cr->size != t->size)
			return vmm_err(VMMEM_E_CONFIG_CONFLICT,
				       "restore: the config has no region of gpa 0x%llx and size %llu "
				       "(snapshot region %zu)",
				       (unsigned long long)t->gpa, (unsigned long long)t->size, i);
	} else {
		rc = vmmem_config_parse(own, t->spec);
		if (rc) {
			char why[256]; /* the parser's message, before ours replaces it */

			snprintf(why, sizeof(why), "%s", vmmem_errormsg());
			return vmm_err(VMMEM_E_SNAPSHOT_FORMAT,
				       "snapshot: region %zu: config string \"%s\" does not parse: %s", i,
				       t->spec, why);
		}
		cr = &(*own)->regions[0];
		if ((*own)->n_regions != 1 || cr->gpa != t->gpa || cr->size != t->size)
			return vmm_err(VMMEM_E_SNAPSHOT_FORMAT,
				       "snapshot: region %zu: config string \"%s\" does not describe "
				       "gpa 0x%llx, size %llu of the table",
				       i, t->spec, (unsigned long long)t->gpa,
				       (unsigned long long)t->size);
	}
	*out = cr;
	return 0;
}

int
vmm_snap_create_regions(const struct vmmem_snapshot *s, struct vmmem_ctx *ctx,
			const char *config, bool no_prealloc, struct vmmem_region ***out)
{
	struct vmmem_config *user = NULL;
	struct vmmem_region **regions;
	int rc = 0;

	*out = NULL;
	if (config) {
		rc = vmmem_config_parse(&user, config);
		if (rc)
			return rc;
		if (user->n_regions != s->n_regions) {
			rc = vmm_err(VMMEM_E_CONFIG_CONFLICT,
				     "restore: the config has %zu regions, the snapshot %zu",
				     user->n_regions, s->n_regions);
			vmmem_config_free(user);
			return rc;
		}
	}
	regions = calloc(s->n_regions, sizeof(*regions));
	if (!regions) {
		vmmem_config_free(user);
		return vmm_err(-ENOMEM, "restore: out of memory");
	}
	for (size_t i = 0; i < s->n_regions && rc == 0; i++) {
		struct vmmem_config *own = NULL;
		const struct vmm_cfg_region *cr = NULL;

		rc = region_config(s, i, user, &own, &cr);
		if (rc == 0 && cr) {
			struct vmm_cfg_region copy = *cr;

			if (no_prealloc)
				copy.prealloc = false;
			rc = vmm_create_region(ctx, &copy, &regions[i]);
		}
		vmmem_config_free(own);
	}
	vmmem_config_free(user);
	if (rc) {
		vmm_snap_unref_regions(regions, s->n_regions);
		return rc;
	}
	*out = regions;
	return 0;
}

int
vmm_snap_checksum_error(const struct vmmem_snapshot *s, size_t i, uint32_t crc)
{
	const struct vmm_snap_region *r = &s->regions[i];

	return vmm_err(VMMEM_E_SNAPSHOT_CHECKSUM,
		       "snapshot: region %zu (gpa 0x%llx, %llu bytes): its data (file bytes "
		       "%llu-%llu) has checksum 0x%08x, the table says 0x%08x: the data is corrupt",
		       i, (unsigned long long)r->gpa, (unsigned long long)r->size,
		       (unsigned long long)r->data_offset,
		       (unsigned long long)(r->data_offset + r->data_size - 1), crc, r->crc);
}

int
vmm_snap_verify_region(const struct vmmem_snapshot *s, size_t i, uint8_t *buf,
		       struct vmm_progress *p)
{
	const struct vmm_snap_region *r = &s->regions[i];
	uint32_t crc = 0;
	int rc;

	for (uint64_t k = 0; k < r->n_ranges; k++) {
		const struct vmm_snap_range *g = &r->ranges[k];
		struct vmm_extents it;
		uint64_t off, n;
		bool data;

		vmm_extents_init(&it, &s->extents, g->file_offset, g->length);
		while ((rc = vmm_extents_next(&it, VMM_SNAP_CHUNK, &off, &n, &data)) > 0) {
			if (data) {
				rc = vmm_snap_pread(s->fd, buf, n, g->file_offset + off);
				if (rc)
					return rc;
				crc = vmm_crc32c(crc, buf, n);
			} else {
				crc = vmm_crc32c_zeros(crc, n);
			}
			rc = vmm_progress_add(p, n);
			if (rc)
				return rc;
		}
	}
	return crc == r->crc ? 0 : vmm_snap_checksum_error(s, i, crc);
}
