/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Snapshot files: layout and little-endian encoding of the header and table, and the checks
 * vmmem_snapshot_open() makes before anything trusts a field. Offsets of every field are in
 * docs/SNAPSHOT.md; the encoders and decoders below are the only code that knows them.
 */
#define _GNU_SOURCE
#include "snapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "error.h"
#include "util.h"

/* Header field offsets. */
enum {
	H_MAGIC = 0,
	H_VERSION = 8,
	H_HEADER_SIZE = 12,
	H_PAGE_SIZE = 16,
	H_FLAGS = 20,
	H_REGION_COUNT = 24,
	H_ENTRY_SIZE = 28,
	H_TABLE_OFFSET = 32,
	H_TABLE_SIZE = 40,
	H_FILE_SIZE = 48,
	H_ID = 56,
	H_PARENT_ID = 72,
	H_GUEST_BYTES = 88,
	H_DATA_BYTES = 96,
	H_CREATED_NS = 104,
	H_TABLE_CRC = 112,
	H_HEADER_CRC = 124,
};

/* Region entry field offsets. */
enum {
	E_GPA = 0,
	E_SIZE = 8,
	E_DATA_OFFSET = 16,
	E_DATA_SIZE = 24,
	E_RANGES_OFFSET = 32,
	E_RANGE_COUNT = 40,
	E_SPEC_OFFSET = 48,
	E_SPEC_LEN = 56,
	E_FLAGS = 60,
	E_PAGE_SIZE = 64,
	E_CRC = 72,
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int
vmm_snap_pread(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t got = pread(fd, p, n, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return vmm_err(-errno, "snapshot: read at offset %llu failed: %m",
				       (unsigned long long)off);
		if (got == 0)
			return vmm_err(VMMEM_E_SNAPSHOT_TRUNCATED,
				       "snapshot: file ends at offset %llu, %zu bytes short of the data",
				       (unsigned long long)off, n);
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

int
vmm_snap_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t put = pwrite(fd, p, n, (off_t)off);

		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return vmm_err(put < 0 ? -errno : -EIO,
				       "snapshot: write at offset %llu failed: %m",
				       (unsigned long long)off);
		p += put;
		n -= (size_t)put;
		off += (uint64_t)put;
	}
	return 0;
}

int
vmm_snap_check_regular(int fd, const char *what)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return vmm_err(-EBADF, "snapshot: %s: fd %d is not open", what, fd);
	if (!S_ISREG(st.st_mode))
		return vmm_err(-EINVAL, "snapshot: %s: fd %d is not a regular file", what, fd);
	return 0;
}

int
vmm_snap_own_fd(int fd)
{
	char path[64];
	int own;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	own = open(path, O_RDONLY | O_CLOEXEC);
	if (own < 0)
		own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return own;
}

int
vmm_extent_map_build(int fd, uint64_t from, uint64_t to, struct vmm_extent_map *map)
{
	size_t cap = 0;

	map->v = NULL;
	map->n = 0;
	while (from < to) {
		off_t d = lseek(fd, (off_t)from, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			break; /* a hole to the end */
		if (d < 0) { /* no SEEK_DATA here: all data */
			d = (off_t)from;
			h = (off_t)to;
		} else {
			h = lseek(fd, d, SEEK_HOLE);
			if (h < 0)
				h = (off_t)to;
		}
		if ((uint64_t)d >= to)
			break;
		if ((uint64_t)h > to)
			h = (off_t)to;
		if (h <= d) /* the file changed under us: take the rest as data */
			h = (off_t)to;
		if (map->n == cap) {
			struct vmm_extent *v;

			cap = cap ? 2 * cap : 16;
			v = realloc(map->v, cap * sizeof(*v));
			if (!v) {
				free(map->v);
				map->v = NULL;
				map->n = 0;
				return vmm_err(-ENOMEM, "snapshot: out of memory for the extent map");
			}
			map->v = v;
		}
		map->v[map->n++] = (struct vmm_extent){ (uint64_t)d, (uint64_t)h };
		from = (uint64_t)h;
	}
	return 0;
}

void
vmm_snap_free_regions(struct vmmem_snapshot *s)
{
	for (size_t i = 0; s->regions && i < s->n_regions; i++) {
		free(s->regions[i].spec);
		free(s->regions[i].ranges);
	}
	free(s->regions);
	s->regions = NULL;
	s->n_regions = 0;
}

int
vmm_snap_layout(struct vmmem_snapshot *s, uint64_t *table_size)
{
	uint64_t ranges = 0, specs = 0, cursor;

	for (size_t i = 0; i < s->n_regions; i++) {
		if (s->flags & VMM_SNAP_FLAG_DIFF)
			ranges += s->regions[i].n_ranges;
		specs += strlen(s->regions[i].spec);
	}
	*table_size = s->n_regions * VMM_SNAP_ENTRY_SIZE + ranges * VMM_SNAP_RANGE_SIZE + specs;
	if (*table_size > VMM_SNAP_MAX_TABLE)
		return vmm_err(-E2BIG, "snapshot: the table would take %llu bytes, over the limit %u",
			       (unsigned long long)*table_size, VMM_SNAP_MAX_TABLE);
	cursor = vmm_align_up(VMM_SNAP_HEADER_SIZE + *table_size, s->page_size);
	s->guest_bytes = s->data_bytes = 0;
	for (size_t i = 0; i < s->n_regions; i++) {
		struct vmm_snap_region *r = &s->regions[i];

		r->data_offset = cursor;
		r->stored = 0;
		for (uint64_t k = 0; k < r->n_ranges; k++) {
			r->ranges[k].file_offset = cursor;
			cursor = vmm_align_up(cursor + r->ranges[k].length, s->page_size);
			r->stored += r->ranges[k].length;
		}
		r->data_size = cursor - r->data_offset;
		s->guest_bytes += r->size;
		s->data_bytes += r->stored;
	}
	s->file_size = cursor;
	return 0;
}

void
vmm_snap_encode_table(const struct vmmem_snapshot *s, uint8_t *buf, uint64_t table_size)
{
	uint64_t rpos = s->n_regions * VMM_SNAP_ENTRY_SIZE, spos = rpos;
	bool diff = s->flags & VMM_SNAP_FLAG_DIFF;

	memset(buf, 0, table_size);
	if (diff)
		for (size_t i = 0; i < s->n_regions; i++)
			spos += s->regions[i].n_ranges * VMM_SNAP_RANGE_SIZE;
	for (size_t i = 0; i < s->n_regions; i++) {
		const struct vmm_snap_region *r = &s->regions[i];
		uint8_t *e = buf + i * VMM_SNAP_ENTRY_SIZE;
		size_t len = strlen(r->spec);

		put64(e + E_GPA, r->gpa);
		put64(e + E_SIZE, r->size);
		put64(e + E_DATA_OFFSET, r->data_offset);
		put64(e + E_DATA_SIZE, r->data_size);
		put64(e + E_SPEC_OFFSET, VMM_SNAP_HEADER_SIZE + spos);
		put32(e + E_SPEC_LEN, (uint32_t)len);
		put32(e + E_FLAGS, r->flags);
		put64(e + E_PAGE_SIZE, r->page_size);
		put32(e + E_CRC, r->crc);
		memcpy(buf + spos, r->spec, len);
		spos += len;
		if (!diff)
			continue;
		put64(e + E_RANGES_OFFSET, VMM_SNAP_HEADER_SIZE + rpos);
		put64(e + E_RANGE_COUNT, r->n_ranges);
		for (uint64_t k = 0; k < r->n_ranges; k++, rpos += VMM_SNAP_RANGE_SIZE) {
			put64(buf + rpos, r->ranges[k].offset);
			put64(buf + rpos + 8, r->ranges[k].length);
			put64(buf + rpos + 16, r->ranges[k].file_offset);
		}
	}
}

void
vmm_snap_encode_header(const struct vmmem_snapshot *s, uint64_t table_size, uint32_t table_crc,
		       uint8_t hdr[VMM_SNAP_HEADER_SIZE])
{
	memset(hdr, 0, VMM_SNAP_HEADER_SIZE);
	memcpy(hdr + H_MAGIC, VMM_SNAP_MAGIC, 8);
	put32(hdr + H_VERSION, VMM_SNAP_VERSION);
	put32(hdr + H_HEADER_SIZE, VMM_SNAP_HEADER_SIZE);
	put32(hdr + H_PAGE_SIZE, s->page_size);
	put32(hdr + H_FLAGS, s->flags);
	put32(hdr + H_REGION_COUNT, (uint32_t)s->n_regions);
	put32(hdr + H_ENTRY_SIZE, VMM_SNAP_ENTRY_SIZE);
	put64(hdr + H_TABLE_OFFSET, VMM_SNAP_HEADER_SIZE);
	put64(hdr + H_TABLE_SIZE, table_size);
	put64(hdr + H_FILE_SIZE, s->file_size);
	memcpy(hdr + H_ID, s->id, VMMEM_SNAPSHOT_ID_SIZE);
	memcpy(hdr + H_PARENT_ID, s->parent_id, VMMEM_SNAPSHOT_ID_SIZE);
	put64(hdr + H_GUEST_BYTES, s->guest_bytes);
	put64(hdr + H_DATA_BYTES, s->data_bytes);
	put64(hdr + H_CREATED_NS, s->created_ns);
	put32(hdr + H_TABLE_CRC, table_crc);
	put32(hdr + H_HEADER_CRC, vmm_crc32c(0, hdr, H_HEADER_CRC));
}

/* A format error naming the field; every refusal of open() goes through here or
 * truncated(). */
#define bad(...) vmm_err(VMMEM_E_SNAPSHOT_FORMAT, "snapshot: " __VA_ARGS__)

static int decode_header(struct vmmem_snapshot *s, const uint8_t *h, uint64_t actual,
			 uint64_t *table_offset, uint64_t *table_size, uint32_t *table_crc,
			 uint32_t *entry_size)
{
	uint32_t v = get32(h + H_VERSION), hsize = get32(h + H_HEADER_SIZE), crc;

	if (v != VMM_SNAP_VERSION)
		return vmm_err(VMMEM_E_SNAPSHOT_VERSION,
			       "snapshot: format version %u (at offset %d); this library reads "
			       "version %u",
			       v, H_VERSION, VMM_SNAP_VERSION);
	if (hsize != VMM_SNAP_HEADER_SIZE)
		return bad("header size %u (at offset %d) is not %u", hsize, H_HEADER_SIZE,
			   VMM_SNAP_HEADER_SIZE);
	crc = vmm_crc32c(0, h, H_HEADER_CRC);
	if (crc != get32(h + H_HEADER_CRC))
		return vmm_err(VMMEM_E_SNAPSHOT_CHECKSUM,
			       "snapshot: header checksum 0x%08x (at offset %d) does not match its "
			       "bytes 0-%d (0x%08x): the header is corrupt",
			       get32(h + H_HEADER_CRC), H_HEADER_CRC, H_HEADER_CRC - 1, crc);
	s->version = v;
	s->page_size = get32(h + H_PAGE_SIZE);
	if (s->page_size < 4096 || s->page_size > (1u << 30) ||
	    (s->page_size & (s->page_size - 1)))
		return vmm_err(VMMEM_E_SNAPSHOT_PAGE_SIZE,
			       "snapshot: page size %u (at offset %d) is not a power of two from "
			       "4 KiB to 1 GiB",
			       s->page_size, H_PAGE_SIZE);
	s->flags = get32(h + H_FLAGS);
	if (s->flags & ~VMM_SNAP_FLAG_DIFF)
		return bad("unknown flags 0x%x (at offset %d)", s->flags, H_FLAGS);
	s->n_regions = get32(h + H_REGION_COUNT);
	if (s->n_regions == 0 || s->n_regions > VMM_SNAP_MAX_REGIONS)
		return bad("region count %zu (at offset %d) is not in 1..%u", s->n_regions,
			   H_REGION_COUNT, VMM_SNAP_MAX_REGIONS);
	*entry_size = get32(h + H_ENTRY_SIZE);
	if (*entry_size < VMM_SNAP_ENTRY_SIZE || *entry_size > 4096)
		return bad("table entry size %u (at offset %d) is not in %u..4096", *entry_size,
			   H_ENTRY_SIZE, VMM_SNAP_ENTRY_SIZE);
	*table_offset = get64(h + H_TABLE_OFFSET);
	*table_size = get64(h + H_TABLE_SIZE);
	*table_crc = get32(h + H_TABLE_CRC);
	if (*table_offset < VMM_SNAP_HEADER_SIZE || *table_offset > VMM_SNAP_MAX_TABLE)
		return bad("table offset %llu (at offset %d) is not after the header",
			   (unsigned long long)*table_offset, H_TABLE_OFFSET);
	if (*table_size > VMM_SNAP_MAX_TABLE ||
	    *table_size < (uint64_t)s->n_regions * *entry_size)
		return bad("table size %llu (at offset %d) is over-large or too small for %zu "
			   "entries",
			   (unsigned long long)*table_size, H_TABLE_SIZE, s->n_regions);
	s->file_size = get64(h + H_FILE_SIZE);
	if (actual < s->file_size)
		return vmm_err(VMMEM_E_SNAPSHOT_TRUNCATED,
			       "snapshot: the file has %llu bytes, its header (offset %d) says "
			       "%llu: it is truncated",
			       (unsigned long long)actual, H_FILE_SIZE,
			       (unsigned long long)s->file_size);
	if (actual > s->file_size)
		return bad("the file has %llu bytes, more than the %llu its header (offset %d) "
			   "says",
			   (unsigned long long)actual, (unsigned long long)s->file_size,
			   H_FILE_SIZE);
	if (*table_offset + *table_size > s->file_size)
		return vmm_err(VMMEM_E_SNAPSHOT_TRUNCATED,
			       "snapshot: the table (bytes %llu-%llu) runs past the end of the "
			       "file (%llu bytes)",
			       (unsigned long long)*table_offset,
			       (unsigned long long)(*table_offset + *table_size),
			       (unsigned long long)s->file_size);
	memcpy(s->id, h + H_ID, VMMEM_SNAPSHOT_ID_SIZE);
	memcpy(s->parent_id, h + H_PARENT_ID, VMMEM_SNAPSHOT_ID_SIZE);
	s->guest_bytes = get64(h + H_GUEST_BYTES);
	s->data_bytes = get64(h + H_DATA_BYTES);
	s->created_ns = get64(h + H_CREATED_NS);
	return 0;
}

/* Is [off, off + len) inside [lo, hi)? Overflow-safe. */
static bool inside(uint64_t off, uint64_t len, uint64_t lo, uint64_t hi)
{
	return off >= lo && off <= hi && len <= hi - off;
}

static int decode_ranges(struct vmmem_snapshot *s, struct vmm_snap_region *r, size_t i,
			 const uint8_t *tab, uint64_t toff, uint64_t tsize, const uint8_t *e)
{
	uint64_t roff = get64(e + E_RANGES_OFFSET), n = get64(e + E_RANGE_COUNT);
	uint64_t prev_end = 0, data_end = r->data_offset + r->data_size;

	if (!(s->flags & VMM_SNAP_FLAG_DIFF)) {
		/* A full snapshot stores the whole region as one range at its data offset. */
		if (n != 0)
			return bad("region %zu: a full snapshot has no range table (count %llu)", i,
				   (unsigned long long)n);
		if (r->data_size < r->size)
			return bad("region %zu: data area of %llu bytes is smaller than the region "
				   "(%llu bytes)",
				   i, (unsigned long long)r->data_size, (unsigned long long)r->size);
		r->ranges = malloc(sizeof(*r->ranges));
		if (!r->ranges)
			return vmm_err(-ENOMEM, "snapshot: out of memory");
		r->ranges[0] = (struct vmm_snap_range){ 0, r->size, r->data_offset };
		r->n_ranges = 1;
		r->stored = r->size;
		return 0;
	}
	if (n > r->size / 4096 + 1 || !inside(roff, n * VMM_SNAP_RANGE_SIZE, toff, toff + tsize))
		return bad("region %zu: range table (offset %llu, %llu ranges) is over-large or "
			   "outside the table",
			   i, (unsigned long long)roff, (unsigned long long)n);
	r->ranges = calloc(n ? n : 1, sizeof(*r->ranges));
	if (!r->ranges)
		return vmm_err(-ENOMEM, "snapshot: out of memory");
	r->n_ranges = n;
	for (uint64_t k = 0; k < n; k++) {
		const uint8_t *p = tab + (roff - toff) + k * VMM_SNAP_RANGE_SIZE;
		struct vmm_snap_range *g = &r->ranges[k];

		g->offset = get64(p);
		g->length = get64(p + 8);
		g->file_offset = get64(p + 16);
		if (g->length == 0 || !inside(g->offset, g->length, prev_end, r->size) ||
		    (k > 0 && g->offset < prev_end))
			return bad("region %zu: dirty range %llu (offset %llu, %llu bytes) is empty, "
				   "out of order or outside the region",
				   i, (unsigned long long)k, (unsigned long long)g->offset,
				   (unsigned long long)g->length);
		if (g->file_offset % s->page_size ||
		    !inside(g->file_offset, g->length, r->data_offset, data_end))
			return bad("region %zu: dirty range %llu has file offset %llu outside its "
				   "data area or not page-aligned",
				   i, (unsigned long long)k, (unsigned long long)g->file_offset);
		prev_end = g->offset + g->length;
		r->stored += g->length;
	}
	return 0;
}

static int decode_table(struct vmmem_snapshot *s, const uint8_t *tab, uint64_t toff,
			uint64_t tsize, uint32_t esize)
{
	uint64_t data_start = toff + tsize, guest = 0, stored = 0;
	int rc;

	s->regions = calloc(s->n_regions, sizeof(*s->regions));
	if (!s->regions)
		return vmm_err(-ENOMEM, "snapshot: out of memory");
	for (size_t i = 0; i < s->n_regions; i++) {
		const uint8_t *e = tab + i * esize;
		struct vmm_snap_region *r = &s->regions[i];
		uint64_t soff = get64(e + E_SPEC_OFFSET);
		uint32_t slen = get32(e + E_SPEC_LEN);

		r->gpa = get64(e + E_GPA);
		r->size = get64(e + E_SIZE);
		r->data_offset = get64(e + E_DATA_OFFSET);
		r->data_size = get64(e + E_DATA_SIZE);
		r->flags = get32(e + E_FLAGS);
		r->page_size = get64(e + E_PAGE_SIZE);
		r->crc = get32(e + E_CRC);
		if (r->size == 0 || r->size > VMM_SNAP_MAX_REGION_SIZE ||
		    vmm_range_wraps(r->gpa, r->size))
			return bad("region %zu: size %llu at gpa 0x%llx is zero, over-large or "
				   "passes 2^64",
				   i, (unsigned long long)r->size, (unsigned long long)r->gpa);
		if (i > 0 && r->gpa <= s->regions[i - 1].gpa + s->regions[i - 1].size - 1)
			return bad("region %zu (gpa 0x%llx) is out of order or overlaps region %zu", i,
				   (unsigned long long)r->gpa, i - 1);
		if (r->flags & ~VMM_SNAP_REGION_READ_ONLY)
			return bad("region %zu: unknown flags 0x%x", i, r->flags);
		if (r->data_offset % s->page_size || r->data_size % s->page_size ||
		    !inside(r->data_offset, r->data_size, data_start, s->file_size))
			return vmm_err(r->data_offset % s->page_size || r->data_size % s->page_size ||
					       r->data_offset < data_start
				       ? VMMEM_E_SNAPSHOT_FORMAT
				       : VMMEM_E_SNAPSHOT_TRUNCATED,
				       "snapshot: region %zu: data area (offset %llu, %llu bytes) is "
				       "not page-aligned, overlaps the table or runs past the end of "
				       "the file (%llu bytes)",
				       i, (unsigned long long)r->data_offset,
				       (unsigned long long)r->data_size,
				       (unsigned long long)s->file_size);
		if (slen == 0 || slen > VMM_SNAP_MAX_SPEC || !inside(soff, slen, toff, toff + tsize))
			return bad("region %zu: config string (offset %llu, %u bytes) is empty, "
				   "over-large or outside the table",
				   i, (unsigned long long)soff, slen);
		if (memchr(tab + (soff - toff), 0, slen))
			return bad("region %zu: config string holds a NUL byte", i);
		r->spec = malloc(slen + 1); /* the table holds no NUL after it: not strndup */
		if (!r->spec)
			return vmm_err(-ENOMEM, "snapshot: out of memory");
		memcpy(r->spec, tab + (soff - toff), slen);
		r->spec[slen] = '\0';
		rc = decode_ranges(s, r, i, tab, toff, tsize, e);
		if (rc)
			return rc;
		guest += r->size;
		stored += r->stored;
	}
	if (guest != s->guest_bytes || stored != s->data_bytes)
		return bad("header totals (%llu guest bytes, %llu data bytes) do not match the "
			   "table (%llu, %llu)",
			   (unsigned long long)s->guest_bytes, (unsigned long long)s->data_bytes,
			   (unsigned long long)guest, (unsigned long long)stored);
	return 0;
}

static int open_fd(struct vmmem_snapshot *s)
{
	uint8_t h[VMM_SNAP_HEADER_SIZE];
	uint64_t toff = 0, tsize = 0;
	uint32_t tcrc = 0, esize = 0, crc;
	uint8_t *tab;
	struct stat st;
	int rc;

	if (fstat(s->fd, &st) < 0)
		return vmm_err(-errno, "snapshot: fstat failed: %m");
	if (st.st_size < 8)
		return bad("the file has %lld bytes: not a libvmmem snapshot", (long long)st.st_size);
	rc = vmm_snap_pread(s->fd, h, st.st_size < VMM_SNAP_HEADER_SIZE ? 8 : sizeof(h), 0);
	if (rc)
		return rc;
	if (memcmp(h, VMM_SNAP_MAGIC, 8) != 0)
		return bad("no \"%s\" magic at offset 0: not a libvmmem snapshot", VMM_SNAP_MAGIC);
	if (st.st_size < VMM_SNAP_HEADER_SIZE)
		return vmm_err(VMMEM_E_SNAPSHOT_TRUNCATED,
			       "snapshot: the file has %lld bytes, less than its %u-byte header",
			       (long long)st.st_size, VMM_SNAP_HEADER_SIZE);
	rc = decode_header(s, h, (uint64_t)st.st_size, &toff, &tsize, &tcrc, &esize);
	if (rc)
		return rc;
	tab = malloc(tsize ? tsize : 1);
	if (!tab)
		return vmm_err(-ENOMEM, "snapshot: out of memory for a %llu-byte table",
			       (unsigned long long)tsize);
	rc = vmm_snap_pread(s->fd, tab, tsize, toff);
	if (rc == 0 && (crc = vmm_crc32c(0, tab, tsize)) != tcrc)
		rc = vmm_err(VMMEM_E_SNAPSHOT_CHECKSUM,
			     "snapshot: table checksum 0x%08x (header offset %d) does not match its "
			     "bytes %llu-%llu (0x%08x): the table is corrupt",
			     tcrc, H_TABLE_CRC, (unsigned long long)toff,
			     (unsigned long long)(toff + tsize - 1), crc);
	if (rc == 0)
		rc = decode_table(s, tab, toff, tsize, esize);
	free(tab);
	if (rc == 0)
		rc = vmm_extent_map_build(s->fd, toff + tsize, s->file_size, &s->extents);
	return rc;
}

int
vmmem_snapshot_open(struct vmmem_snapshot **out, int fd)
{
	struct vmmem_snapshot *s;
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	rc = vmm_snap_check_regular(fd, "open");
	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return vmm_err(-ENOMEM, "snapshot: out of memory");
	s->fd = vmm_snap_own_fd(fd);
	if (s->fd < 0) {
		rc = vmm_err(-errno, "snapshot: cannot duplicate fd %d: %m", fd);
		free(s);
		return rc;
	}
	rc = open_fd(s);
	if (rc) {
		vmmem_snapshot_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void
vmmem_snapshot_close(struct vmmem_snapshot *s)
{
	if (!s)
		return;
	vmm_snap_free_regions(s);
	free(s->extents.v);
	close(s->fd);
	free(s);
}

int
vmmem_snapshot_info(const struct vmmem_snapshot *s, struct vmmem_snapshot_info *info)
{
	VMM_CHECK_ARG(s);
	VMM_CHECK_ARG(info);
	if (info->size < sizeof(*info))
		return vmm_err(-EINVAL, "snapshot: info size %u is smaller than %zu", info->size,
			       sizeof(*info));
	*info = (struct vmmem_snapshot_info){
		.size = sizeof(*info),
		.version = s->version,
		.flags = s->flags,
		.page_size = s->page_size,
		.region_count = s->n_regions,
		.guest_bytes = s->guest_bytes,
		.data_bytes = s->data_bytes,
		.file_size = s->file_size,
		.created_ns = s->created_ns,
	};
	memcpy(info->id, s->id, VMMEM_SNAPSHOT_ID_SIZE);
	memcpy(info->parent_id, s->parent_id, VMMEM_SNAPSHOT_ID_SIZE);
	return 0;
}

int
vmmem_snapshot_region(const struct vmmem_snapshot *s, size_t index,
		      struct vmmem_snapshot_region *out)
{
	VMM_CHECK_ARG(s);
	VMM_CHECK_ARG(out);
	if (out->size < sizeof(*out))
		return vmm_err(-EINVAL, "snapshot: region info size %u is smaller than %zu",
			       out->size, sizeof(*out));
	if (index >= s->n_regions)
		return vmm_err(-ERANGE, "snapshot: region %zu of %zu", index, s->n_regions);
	const struct vmm_snap_region *r = &s->regions[index];
	*out = (struct vmmem_snapshot_region){
		.size = sizeof(*out),
		.flags = (r->flags & VMM_SNAP_REGION_READ_ONLY) ? VMMEM_REGION_READ_ONLY : 0,
		.gpa = r->gpa,
		.length = r->size,
		.data_offset = r->data_offset,
		.data_bytes = r->stored,
		.range_count = (s->flags & VMM_SNAP_FLAG_DIFF) ? r->n_ranges : 0,
		.data_crc = r->crc,
		.spec = r->spec,
	};
	return 0;
}
