/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Writing snapshots: vmmem_*_snapshot_save (full or diff) and vmmem_snapshot_merge.
 *
 * Order of a save: fetch and clear each tracked region's dirty bits (the diff's pages, or
 * for a full save the start of the next diff), lay the file out, size it (all holes), copy
 * the page data through a bounce buffer (the guest may write meanwhile: the checksum is of
 * the bytes written, not of memory that moved on), write the table, and write the header
 * last, so a file cut short by a crash has no valid header. On failure the cleared bits are
 * set again: the next diff still has every page.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <vmmem/dirty.h>
#include <vmmem/snapshot.h>

#include "crc32c.h"
#include "error.h"
#include "guard.h"
#include "memory.h"
#include "region.h"
#include "snapfile.h"
#include "snapio.h"

/* One region being saved, with the dirty bits its save cleared. */
struct save_region {
	struct vmmem_region *r;
	uint64_t *cleared; /* NULL if tracking is off */
	uint64_t dirty_page;
};

static uint32_t file_page_size(void)
{
	uint64_t ps = vmm_host_page_size();

	return ps < 4096 ? 4096 : (uint32_t)ps;
}

static int new_id(uint8_t id[VMMEM_SNAPSHOT_ID_SIZE])
{
	size_t got = 0;

	while (got < VMMEM_SNAPSHOT_ID_SIZE) {
		ssize_t n = getrandom(id + got, VMMEM_SNAPSHOT_ID_SIZE - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vmm_err(-errno, "snapshot: getrandom failed: %m");
		got += (size_t)n;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The config string a region is saved with: its own, or for a region the caller mapped, an
 * anonymous region of the same place (restore by map does not need it). */
static char *spec_of(const struct vmmem_region *r)
{
	char *s;

	if (r->spec)
		return strdup(r->spec);
	if (asprintf(&s, "anon:gpa=0x%llx,size=0x%llx%s", (unsigned long long)r->gpa,
		     (unsigned long long)r->size,
		     (r->flags & VMMEM_REGION_READ_ONLY) ? ",readonly=on" : "") < 0)
		return NULL;
	return s;
}

/* Runs of set bits as byte ranges of the region. */
static int ranges_from_bits(struct vmm_snap_region *t, const uint64_t *bits, uint64_t dp)
{
	uint64_t npages = (t->size + dp - 1) / dp, n = 0, cap = 0;

	for (uint64_t i = 0; i < npages;) {
		if (!(bits[i / 64] >> (i % 64) & 1)) {
			if (bits[i / 64] >> (i % 64) == 0)
				i = (i / 64 + 1) * 64; /* rest of the word is clean */
			else
				i++;
			continue;
		}
		uint64_t j = i;

		while (j < npages && (bits[j / 64] >> (j % 64) & 1))
			j++;
		if (n == cap) {
			struct vmm_snap_range *g;

			cap = cap ? 2 * cap : 16;
			g = realloc(t->ranges, cap * sizeof(*g));
			if (!g)
				return vmm_err(-ENOMEM, "snapshot: out of memory");
			t->ranges = g;
		}
		uint64_t end = j * dp < t->size ? j * dp : t->size;

		t->ranges[n++] = (struct vmm_snap_range){ .offset = i * dp, .length = end - i * dp };
		i = j;
	}
	t->n_ranges = n;
	return 0;
}

/* Set again the bits a failed save cleared. */
static void restore_bits(struct save_region *sr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t npages;

		if (!sr[i].cleared)
			continue;
		npages = (sr[i].r->size + sr[i].dirty_page - 1) / sr[i].dirty_page;
		for (uint64_t p = 0; p < npages; p++)
			if (sr[i].cleared[p / 64] >> (p % 64) & 1)
				vmmem_region_dirty_mark(sr[i].r, p * sr[i].dirty_page, 1);
	}
}

static int collect(struct vmmem_snapshot *s, struct save_region *sr, bool diff)
{
	for (size_t i = 0; i < s->n_regions; i++)
		if (diff && !vmmem_region_dirty_page_size(sr[i].r))
			return vmm_err(VMMEM_E_NOT_TRACKED,
				       "snapshot: region %zu (gpa 0x%llx) has no dirty tracking: a "
				       "diff needs it on every region",
				       i, (unsigned long long)sr[i].r->gpa);
	for (size_t i = 0; i < s->n_regions; i++) {
		struct vmm_snap_region *t = &s->regions[i];
		const struct vmmem_region *r = sr[i].r;
		uint64_t dp = vmmem_region_dirty_page_size(r); /* read once: it may change */

		if (diff && !dp)
			return vmm_err(VMMEM_E_NOT_TRACKED,
				       "snapshot: region %zu (gpa 0x%llx): tracking was turned off "
				       "during the save",
				       i, (unsigned long long)r->gpa);
		t->gpa = r->gpa;
		t->size = r->size;
		t->page_size = r->page_size;
		t->flags = (r->flags & VMMEM_REGION_READ_ONLY) ? VMM_SNAP_REGION_READ_ONLY : 0;
		t->spec = spec_of(r);
		if (!t->spec)
			return vmm_err(-ENOMEM, "snapshot: out of memory");
		if (strlen(t->spec) > VMM_SNAP_MAX_SPEC)
			return vmm_err(-E2BIG, "snapshot: region %zu's config string has %zu bytes, "
					       "over the format's limit %u",
				       i, strlen(t->spec), VMM_SNAP_MAX_SPEC);
		if (dp) {
			uint64_t nwords = ((r->size + dp - 1) / dp + 63) / 64;
			ssize_t got;

			sr[i].cleared = calloc(nwords, 8);
			if (!sr[i].cleared)
				return vmm_err(-ENOMEM, "snapshot: out of memory for a dirty bitmap");
			sr[i].dirty_page = dp;
			got = vmmem_region_dirty_get_and_clear(sr[i].r, 0, r->size, sr[i].cleared,
							       nwords);
			if (got < 0) /* tracking was turned off meanwhile */
				return (int)got;
			if ((uint64_t)got != (r->size + dp - 1) / dp) {
				/* Re-enabled with another page size: the bits are not in our unit. */
				vmmem_region_dirty_mark(sr[i].r, 0, r->size);
				free(sr[i].cleared);
				sr[i].cleared = NULL;
				return vmm_err(-EAGAIN, "snapshot: region %zu's dirty page size changed "
							"during the save; every page is marked dirty",
					       i);
			}
		}
		if (diff) {
			int rc = ranges_from_bits(t, sr[i].cleared, dp);

			if (rc)
				return rc;
		} else {
			t->ranges = malloc(sizeof(*t->ranges));
			if (!t->ranges)
				return vmm_err(-ENOMEM, "snapshot: out of memory");
			t->ranges[0] = (struct vmm_snap_range){ .offset = 0, .length = r->size };
			t->n_ranges = 1;
		}
	}
	return 0;
}

/* Copy guest memory the guest may be writing into the bounce buffer: whole words with
 * relaxed atomic loads (plain loads on every CPU, but a defined race in C11 and to TSan,
 * and never torn within a word), the unaligned ends by the copy rule. */
static size_t copy_live(const struct vmmem_region *r, uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t head = (size_t)(-(uintptr_t)src & 7), words;

	if (r->guarded) /* a peer may take the pages away: copy under the SIGBUS guard */
		return vmm_region_copy(r, dst, src, n, src);
	if (head > n)
		head = n;
	vmm_copy_small(dst, src, head);
	words = (n - head) / 8;
	for (size_t i = 0; i < words; i++) {
		uint64_t w = __atomic_load_n((const vmm_u64a *)(src + head) + i, __ATOMIC_RELAXED);

		memcpy(dst + head + 8 * i, &w, 8);
	}
	vmm_copy_small(dst + head + 8 * words, src + head + 8 * words, n - head - 8 * words);
	return n;
}

/*
 * Widen every data extent of @map to whole pages of @page_size counted from @base, and
 * merge what then touches: a file system may report extents finer than the snapshot's page
 * (4 KiB tmpfs extents under a 16 KiB page), and the snapshot stores whole pages.
 */
static void round_extents(struct vmm_extent_map *map, uint64_t base, uint64_t end,
			  uint32_t page_size)
{
	size_t n = 0;

	for (size_t i = 0; i < map->n; i++) {
		uint64_t s = map->v[i].start - base, e = map->v[i].end - base;

		s -= s % page_size;
		e += (page_size - e % page_size) % page_size;
		s += base;
		e = e > end - base ? end : base + e;
		if (n && s <= map->v[n - 1].end) {
			if (e > map->v[n - 1].end)
				map->v[n - 1].end = e;
		} else {
			map->v[n++] = (struct vmm_extent){ s, e };
		}
	}
	map->n = n;
}

/*
 * Copy one range of guest memory into the file through @bounce. A shared fd-backed region's
 * memory is its file (a private mapping's copied pages need not be in it), so its range is
 * read only where the file holds data, by the same extent map a snapshot's readers use
 * (built with one SEEK_DATA/SEEK_HOLE scan: one per chunk would be quadratic on tmpfs);
 * holes are zeroes in the checksum and nothing is written. A memfd guest of which a small
 * part was touched then does not fault in every zero page.
 */
static int save_range(int fd, const struct vmmem_region *r, const struct vmm_snap_range *g,
		      uint32_t page_size, uint8_t *bounce, uint32_t *crc, uint64_t *written,
		      struct vmm_progress *p)
{
	const uint64_t base = r->fd_offset + g->offset;
	struct vmm_extent all = { base, base + g->length };
	struct vmm_extent_map map = { &all, 1 };
	struct vmm_extents it;
	uint64_t off, n;
	bool data;
	int rc = 0;

	if (r->fd >= 0 && r->shareable)
		rc = vmm_extent_map_build(r->fd, base, base + g->length, &map);
	if (rc == 0 && map.v != &all)
		round_extents(&map, base, base + g->length, page_size);
	vmm_extents_init(&it, &map, base, g->length);
	while (rc == 0 && vmm_extents_next(&it, VMM_SNAP_CHUNK, &off, &n, &data) > 0) {
		if (data) {
			size_t got = copy_live(r, bounce, r->host + g->offset + off, n);

			if (got < n) {
				rc = vmm_err_gone(r->gpa + g->offset + off + got);
				break;
			}
			rc = vmm_write_sparse(fd, bounce, n, g->file_offset + off, page_size, crc,
					      written);
		} else {
			*crc = vmm_crc32c_zeros(*crc, n);
		}
		if (rc == 0)
			rc = vmm_progress_add(p, n);
	}
	if (map.v != &all)
		free(map.v);
	return rc;
}

/* Write table and header of a laid-out snapshot whose region checksums are filled in. */
static int write_metadata(int fd, const struct vmmem_snapshot *s, uint64_t table_size)
{
	uint8_t hdr[VMM_SNAP_HEADER_SIZE];
	uint8_t *tab = malloc(table_size ? table_size : 1);
	int rc;

	if (!tab)
		return vmm_err(-ENOMEM, "snapshot: out of memory");
	vmm_snap_encode_table(s, tab, table_size);
	rc = vmm_snap_pwrite(fd, tab, table_size, VMM_SNAP_HEADER_SIZE);
	if (rc == 0) {
		vmm_snap_encode_header(s, table_size, vmm_crc32c(0, tab, table_size), hdr);
		rc = vmm_snap_pwrite(fd, hdr, sizeof(hdr), 0);
	}
	free(tab);
	return rc;
}

static int save_sorted(struct vmmem_region *const *regions, size_t n, int fd,
		       struct vmmem_snapshot_save_opts *opts)
{
	bool diff = opts->flags & VMMEM_SNAPSHOT_DIFF;
	struct vmmem_snapshot s = { .fd = fd, .n_regions = n, .page_size = file_page_size() };
	struct save_region *sr = calloc(n, sizeof(*sr));
	uint8_t *bounce = aligned_alloc(4096, VMM_SNAP_CHUNK);
	struct vmm_progress prog;
	uint64_t table_size, written = 0;
	int rc;

	s.regions = calloc(n, sizeof(*s.regions));
	if (!sr || !bounce || !s.regions) {
		rc = vmm_err(-ENOMEM, "snapshot: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		sr[i].r = regions[i];
	s.flags = diff ? VMM_SNAP_FLAG_DIFF : 0;
	if (diff)
		memcpy(s.parent_id, opts->parent_id, VMMEM_SNAPSHOT_ID_SIZE);
	s.created_ns = now_ns();
	rc = new_id(s.id);
	if (rc == 0)
		rc = collect(&s, sr, diff);
	if (rc == 0)
		rc = vmm_snap_layout(&s, &table_size);
	if (rc == 0)
		rc = vmm_snap_resize(fd, s.file_size);
	if (rc)
		goto out;
	vmm_progress_init(&prog, opts->progress, opts->progress_arg, s.data_bytes);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct vmm_snap_region *t = &s.regions[i];

		t->crc = 0;
		for (uint64_t k = 0; k < t->n_ranges && rc == 0; k++)
			rc = save_range(fd, sr[i].r, &t->ranges[k], s.page_size, bounce, &t->crc,
					&written, &prog);
	}
	if (rc == 0 && s.data_bytes == 0 && opts->progress)
		rc = vmm_progress_add(&prog, 0);
	if (rc == 0)
		rc = write_metadata(fd, &s, table_size);
	if (rc == 0) {
		memcpy(opts->id, s.id, VMMEM_SNAPSHOT_ID_SIZE);
		opts->data_bytes = written;
	}
out:
	if (rc && sr)
		restore_bits(sr, n);
	if (sr)
		for (size_t i = 0; i < n; i++)
			free(sr[i].cleared);
	free(sr);
	free(bounce);
	vmm_snap_free_regions(&s);
	return rc;
}

static int check_save_args(int fd, const struct vmmem_snapshot_save_opts *opts)
{
	VMM_CHECK_ARG(opts);
	if (opts->size < sizeof(*opts))
		return vmm_err(-EINVAL, "snapshot: options size %u is smaller than %zu", opts->size,
			       sizeof(*opts));
	if (opts->flags & ~VMMEM_SNAPSHOT_DIFF)
		return vmm_err(-EINVAL, "snapshot: unknown flags 0x%x", opts->flags);
	int rc = vmm_snap_check_regular(fd, "save");

	return rc ? rc : vmm_snap_check_output(fd, -1, -1);
}

static int by_gpa(const void *a, const void *b)
{
	const struct vmmem_region *x = *(struct vmmem_region *const *)a;
	const struct vmmem_region *y = *(struct vmmem_region *const *)b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int
vmmem_regions_snapshot_save(struct vmmem_region *const *regions, size_t n, int fd,
			    struct vmmem_snapshot_save_opts *opts)
{
	struct vmmem_region **sorted;
	int rc;

	rc = check_save_args(fd, opts);
	if (rc)
		return rc;
	if (n == 0)
		return vmm_err(VMMEM_E_NO_REGIONS, "snapshot: no regions to save");
	VMM_CHECK_ARG(regions);
	if (n > VMM_SNAP_MAX_REGIONS)
		return vmm_err(-E2BIG, "snapshot: %zu regions, over the limit %u", n,
			       VMM_SNAP_MAX_REGIONS);
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return vmm_err(-ENOMEM, "snapshot: out of memory");
	memcpy(sorted, regions, n * sizeof(*sorted));
	for (size_t i = 0; i < n; i++)
		if (!sorted[i]) {
			free(sorted);
			return vmm_err(-EINVAL, "snapshot: region %zu is NULL", i);
		}
	qsort(sorted, n, sizeof(*sorted), by_gpa);
	for (size_t i = 1; i < n; i++)
		if (sorted[i]->gpa <= vmm_region_last(sorted[i - 1])) {
			rc = vmm_err(VMMEM_E_OVERLAP,
				     "snapshot: regions at gpa 0x%llx and 0x%llx overlap",
				     (unsigned long long)sorted[i - 1]->gpa,
				     (unsigned long long)sorted[i]->gpa);
			free(sorted);
			return rc;
		}
	rc = save_sorted(sorted, n, fd, opts);
	free(sorted);
	return rc;
}

int
vmmem_memory_snapshot_save(const struct vmmem_memory *m, int fd,
			   struct vmmem_snapshot_save_opts *opts)
{
	struct vmmem_region **regions;
	int rc;

	VMM_CHECK_ARG(m);
	rc = check_save_args(fd, opts);
	if (rc)
		return rc;
	if (m->count == 0)
		return vmm_err(VMMEM_E_NO_REGIONS, "snapshot: the memory has no regions");
	if (m->count > VMM_SNAP_MAX_REGIONS)
		return vmm_err(-E2BIG, "snapshot: %u regions, over the limit %u", m->count,
			       VMM_SNAP_MAX_REGIONS);
	regions = malloc(m->count * sizeof(*regions));
	if (!regions)
		return vmm_err(-ENOMEM, "snapshot: out of memory");
	for (uint32_t i = 0; i < m->count; i++)
		regions[i] = vmm_slot_region(&m->slots[i]);
	rc = save_sorted(regions, m->count, fd, opts);
	free(regions);
	return rc;
}

/* ---- merge ---------------------------------------------------------------------------- */

static int check_merge_inputs(const struct vmmem_snapshot *parent,
			      const struct vmmem_snapshot *diff)
{
	if (parent->flags & VMM_SNAP_FLAG_DIFF)
		return vmm_err(VMMEM_E_SNAPSHOT_PARENT,
			       "merge: the parent is itself a diff; merge it onto its own parent "
			       "first");
	if (!(diff->flags & VMM_SNAP_FLAG_DIFF))
		return vmm_err(VMMEM_E_SNAPSHOT_PARENT, "merge: the second snapshot is not a diff");
	if (memcmp(diff->parent_id, parent->id, VMMEM_SNAPSHOT_ID_SIZE) != 0)
		return vmm_err(VMMEM_E_SNAPSHOT_PARENT,
			       "merge: the diff was taken after another snapshot, not this parent "
			       "(parent ids differ)");
	if (diff->n_regions != parent->n_regions)
		return vmm_err(VMMEM_E_SNAPSHOT_PARENT,
			       "merge: the diff has %zu regions, the parent %zu", diff->n_regions,
			       parent->n_regions);
	for (size_t i = 0; i < diff->n_regions; i++)
		if (diff->regions[i].gpa != parent->regions[i].gpa ||
		    diff->regions[i].size != parent->regions[i].size)
			return vmm_err(VMMEM_E_SNAPSHOT_PARENT,
				       "merge: region %zu differs: gpa 0x%llx size %llu in the "
				       "parent, gpa 0x%llx size %llu in the diff",
				       i, (unsigned long long)parent->regions[i].gpa,
				       (unsigned long long)parent->regions[i].size,
				       (unsigned long long)diff->regions[i].gpa,
				       (unsigned long long)diff->regions[i].size);
	return 0;
}

/* Merge state of one region: the parent's data read in windows, the diff's ranges laid
 * over each window in order. */
struct merge_region {
	const struct vmmem_snapshot *parent, *diff;
	size_t index;
	uint32_t parent_crc, diff_crc;
	uint64_t next_range; /* first diff range not wholly before the window */
};

/* Lay the diff's bytes over the window [w, w + n) of the region in @buf. */
static int overlay(struct merge_region *mr, uint8_t *buf, uint64_t w, uint64_t n)
{
	const struct vmm_snap_region *d = &mr->diff->regions[mr->index];

	for (uint64_t k = mr->next_range; k < d->n_ranges; k++) {
		const struct vmm_snap_range *g = &d->ranges[k];
		uint64_t lo = g->offset > w ? g->offset : w;
		uint64_t hi = g->offset + g->length < w + n ? g->offset + g->length : w + n;
		int rc;

		if (g->offset >= w + n)
			break;
		if (lo < hi) {
			rc = vmm_snap_pread(mr->diff->fd, buf + (lo - w), hi - lo,
					    g->file_offset + (lo - g->offset));
			if (rc)
				return rc;
			mr->diff_crc = vmm_crc32c(mr->diff_crc, buf + (lo - w), hi - lo);
		}
		if (g->offset + g->length <= w + n)
			mr->next_range = k + 1;
	}
	return 0;
}

/* Does a diff range start before @end at or after the window's first range? */
static bool diff_touches(const struct merge_region *mr, uint64_t end)
{
	const struct vmm_snap_region *d = &mr->diff->regions[mr->index];

	return mr->next_range < d->n_ranges && d->ranges[mr->next_range].offset < end;
}

static int merge_region(struct merge_region *mr, int out_fd, const struct vmm_snap_region *o,
			uint32_t page_size, uint8_t *buf, uint64_t *written, struct vmm_progress *p)
{
	const struct vmm_snap_region *pr = &mr->parent->regions[mr->index];
	const struct vmm_snap_range *g = &pr->ranges[0];
	struct vmm_extents it;
	uint64_t off, n;
	bool data;
	uint32_t out_crc = 0;
	int rc;

	vmm_extents_init(&it, &mr->parent->extents, g->file_offset, g->length);
	while ((rc = vmm_extents_next(&it, VMM_SNAP_CHUNK, &off, &n, &data)) > 0) {
		/* A hole of the parent no diff range touches stays a hole, however long. */
		if (!data && !diff_touches(mr, off + n)) {
			mr->parent_crc = vmm_crc32c_zeros(mr->parent_crc, n);
			out_crc = vmm_crc32c_zeros(out_crc, n);
		} else {
			for (uint64_t w = off; w < off + n;) {
				uint64_t len = off + n - w < VMM_SNAP_CHUNK ? off + n - w
									    : VMM_SNAP_CHUNK;

				if (data) {
					rc = vmm_snap_pread(mr->parent->fd, buf, len,
							    g->file_offset + w);
					if (rc)
						return rc;
					mr->parent_crc = vmm_crc32c(mr->parent_crc, buf, len);
				} else {
					memset(buf, 0, len);
					mr->parent_crc = vmm_crc32c_zeros(mr->parent_crc, len);
				}
				rc = overlay(mr, buf, w, len);
				if (rc == 0)
					rc = vmm_write_sparse(out_fd, buf, len,
							      o->ranges[0].file_offset + w,
							      page_size, &out_crc, written);
				if (rc)
					return rc;
				w += len;
			}
		}
		rc = vmm_progress_add(p, n);
		if (rc)
			return rc;
	}
	if (mr->parent_crc != pr->crc)
		return vmm_snap_checksum_error(mr->parent, mr->index, mr->parent_crc);
	if (mr->diff_crc != mr->diff->regions[mr->index].crc)
		return vmm_snap_checksum_error(mr->diff, mr->index, mr->diff_crc);
	((struct vmm_snap_region *)o)->crc = out_crc;
	return 0;
}

int
vmmem_snapshot_merge(const struct vmmem_snapshot *parent, const struct vmmem_snapshot *diff,
		     int out_fd, vmmem_progress_fn progress, void *progress_arg)
{
	struct vmmem_snapshot s = { .fd = out_fd };
	struct vmm_progress prog;
	uint64_t table_size, written = 0;
	uint8_t *buf = NULL;
	int rc;

	VMM_CHECK_ARG(parent);
	VMM_CHECK_ARG(diff);
	rc = vmm_snap_check_regular(out_fd, "merge output");
	if (rc == 0)
		rc = vmm_snap_check_output(out_fd, parent->fd, diff->fd);
	if (rc == 0)
		rc = check_merge_inputs(parent, diff);
	if (rc)
		return rc;
	s.page_size = parent->page_size;
	s.n_regions = parent->n_regions;
	s.created_ns = diff->created_ns;
	memcpy(s.id, diff->id, VMMEM_SNAPSHOT_ID_SIZE);
	s.regions = calloc(s.n_regions, sizeof(*s.regions));
	buf = aligned_alloc(4096, VMM_SNAP_CHUNK);
	if (!s.regions || !buf) {
		rc = vmm_err(-ENOMEM, "merge: out of memory");
		goto out;
	}
	for (size_t i = 0; i < s.n_regions && rc == 0; i++) {
		struct vmm_snap_region *o = &s.regions[i];
		const struct vmm_snap_region *d = &diff->regions[i];

		*o = (struct vmm_snap_region){ .gpa = d->gpa, .size = d->size,
					       .page_size = d->page_size, .flags = d->flags };
		o->spec = strdup(d->spec);
		o->ranges = malloc(sizeof(*o->ranges));
		if (!o->spec || !o->ranges)
			rc = vmm_err(-ENOMEM, "merge: out of memory");
		else
			o->ranges[0] = (struct vmm_snap_range){ .offset = 0, .length = d->size };
		o->n_ranges = 1;
	}
	if (rc == 0)
		rc = vmm_snap_layout(&s, &table_size);
	if (rc == 0)
		rc = vmm_snap_resize(out_fd, s.file_size);
	vmm_progress_init(&prog, progress, progress_arg, s.guest_bytes);
	for (size_t i = 0; i < s.n_regions && rc == 0; i++) {
		struct merge_region mr = { .parent = parent, .diff = diff, .index = i };

		rc = merge_region(&mr, out_fd, &s.regions[i], s.page_size, buf, &written, &prog);
	}
	if (rc == 0)
		rc = write_metadata(out_fd, &s, table_size);
out:
	free(buf);
	vmm_snap_free_regions(&s);
	return rc;
}
