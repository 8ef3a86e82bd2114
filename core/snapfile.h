/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The snapshot file format (docs/SNAPSHOT.md): its on-disk layout, encoding (always
 * little-endian, whatever the host), and the checks an opened file passes. Reading and
 * writing page data is snapshot.c's and lazy.c's.
 */
#ifndef VMM_SNAPFILE_H
#define VMM_SNAPFILE_H

#include <stdbool.h>
#include <stdint.h>

#include <vmmem/snapshot.h>

#define VMM_SNAP_MAGIC "VMMEMSNP"
#define VMM_SNAP_VERSION 1u
#define VMM_SNAP_HEADER_SIZE 128u
#define VMM_SNAP_ENTRY_SIZE 80u
#define VMM_SNAP_RANGE_SIZE 24u
#define VMM_SNAP_FLAG_DIFF 0x1u
#define VMM_SNAP_REGION_READ_ONLY 0x1u

/* Limits a file must stay within; larger values are refused as over-large. */
#define VMM_SNAP_MAX_REGIONS 65536u
#define VMM_SNAP_MAX_SPEC 4096u
#define VMM_SNAP_MAX_TABLE (256u << 20)
#define VMM_SNAP_MAX_REGION_SIZE (1ull << 57) /* beyond any CPU's physical address width */

/* A run of region bytes stored in the file: region offset, length, file offset. A full
 * snapshot's region is one range covering it. */
struct vmm_snap_range {
	uint64_t offset;
	uint64_t length;
	uint64_t file_offset;
};

struct vmm_snap_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t data_offset; /* first byte of the region's data area */
	uint64_t data_size;   /* bytes of the data area (page multiple) */
	uint64_t page_size;   /* the backing page size when saved (informational) */
	uint32_t flags;       /* VMM_SNAP_REGION_* */
	uint32_t crc;         /* CRC32C of the ranges' bytes, in order */
	char *spec;           /* NUL-terminated config string */
	struct vmm_snap_range *ranges;
	uint64_t n_ranges;
	uint64_t stored;      /* sum of the ranges' lengths */
};

/* Where a file holds data: sorted, disjoint [start, end) file offsets; the rest are holes.
 * Built once when a snapshot is opened (SEEK_DATA/SEEK_HOLE scan from the first data page to
 * the end), so readers find holes without a system call: on tmpfs each SEEK_HOLE scans the
 * data run it starts in, and one per chunk would make reading a file quadratic. */
struct vmm_extent {
	uint64_t start;
	uint64_t end;
};

struct vmm_extent_map {
	struct vmm_extent *v;
	size_t n;
};

/* Scan [from, to) of @fd into @map (a file system without SEEK_DATA: one extent). */
int vmm_extent_map_build(int fd, uint64_t from, uint64_t to, struct vmm_extent_map *map);

struct vmmem_snapshot {
	int fd;
	struct vmm_extent_map extents;
	uint32_t version;
	uint32_t flags;
	uint32_t page_size;
	uint64_t file_size;
	uint64_t created_ns;
	uint8_t id[VMMEM_SNAPSHOT_ID_SIZE];
	uint8_t parent_id[VMMEM_SNAPSHOT_ID_SIZE];
	uint64_t guest_bytes;
	uint64_t data_bytes;
	struct vmm_snap_region *regions;
	size_t n_regions;
};

/* The layout of a file to write: fills each region's data_offset and its ranges' file
 * offsets (page-aligned, in order), the snapshot's file_size and the table bytes. The
 * caller fills gpa, size, spec, flags, page_size, ranges (offset, length), and the header
 * fields; crc is filled in later by vmm_snap_encode_table(). */
int vmm_snap_layout(struct vmmem_snapshot *s, uint64_t *table_size);

/* Encode the table (entries, range tables, specs) into @buf of @table_size bytes. */
void vmm_snap_encode_table(const struct vmmem_snapshot *s, uint8_t *buf, uint64_t table_size);

/* Encode the header for a table of @table_size bytes whose CRC is @table_crc. */
void vmm_snap_encode_header(const struct vmmem_snapshot *s, uint64_t table_size,
			    uint32_t table_crc, uint8_t hdr[VMM_SNAP_HEADER_SIZE]);

/* Free what a snapshot owns (regions, ranges, specs), not the fd or @s. */
void vmm_snap_free_regions(struct vmmem_snapshot *s);

/* pread exactly @n bytes at @off; short reads are retried, end of file is
 * VMMEM_E_SNAPSHOT_TRUNCATED. */
int vmm_snap_pread(int fd, void *buf, size_t n, uint64_t off);
/* pwrite exactly @n bytes at @off. */
int vmm_snap_pwrite(int fd, const void *buf, size_t n, uint64_t off);

/* A file description of our own for @fd (reopened through /proc/self/fd/N, so seeking for
 * holes never moves the caller's offset), or a duplicate where /proc is missing. */
int vmm_snap_own_fd(int fd);

/* Is @fd a regular file? 0, -EBADF or -EINVAL with a message naming @what. */
int vmm_snap_check_regular(int fd, const char *what);

static inline uint64_t vmm_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

#endif /* VMM_SNAPFILE_H */
