/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* virtio-blk request handling over libvmmem guest memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk.h"
#include "logcheck.h"
#include "logging.h"

/* struct virtio_blk_outhdr, little-endian, 16 bytes. */
struct virtio_blk_outhdr {
	struct vmmem_le32 type;
	struct vmmem_le32 reserved;
	struct vmmem_le64 sector;
};
_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio-blk header is 16 bytes");

int blk_open(struct blk_dev *b, const char *path, bool read_only)
{
	char copy[4096];
	struct stat st;
	uint64_t bytes;

	memset(b, 0, sizeof(*b));
	b->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0) {
		vub_log("cannot open image %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(b->fd, &st) < 0) {
		vub_log("cannot stat image %s: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0) {
			vub_log("cannot size block device %s: %s", path, strerror(errno));
			goto fail;
		}
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		vub_log("image %s is neither a regular file nor a block device", path);
		goto fail;
	}
	if (bytes % VIRTIO_BLK_SECTOR)
		vub_log("image %s: the last %" PRIu64 " bytes are not a whole sector and are not "
			"visible to the guest",
			path, bytes % VIRTIO_BLK_SECTOR);
	b->capacity = bytes / VIRTIO_BLK_SECTOR;
	b->read_only = read_only;
	/* The serial is the image's file name (as much as fits, NUL-padded). */
	snprintf(copy, sizeof(copy), "%s", path);
	{
		const char *name = basename(copy);
		size_t n = strlen(name);

		memcpy(b->id, name, n < sizeof(b->id) ? n : sizeof(b->id));
	}
	return 0;
fail:
	close(b->fd);
	b->fd = -1;
	return -1;
}

void blk_close(struct blk_dev *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

static void put_le(uint8_t *cfg, size_t off, uint64_t v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		cfg[off + i] = (uint8_t)(v >> (8 * i));
}

void blk_read_config(const struct blk_dev *b, uint16_t num_queues, uint32_t offset,
		     uint8_t *out, uint32_t size)
{
	uint8_t cfg[VIRTIO_BLK_CONFIG_USED] = { 0 };

	put_le(cfg, 0, b->capacity, 8);          /* capacity */
	put_le(cfg, 12, VUB_SEG_MAX, 4);          /* seg_max */
	put_le(cfg, 20, VIRTIO_BLK_SECTOR, 4);    /* blk_size */
	put_le(cfg, 34, num_queues, 2);           /* num_queues */
	memset(out, 0, size);
	if (offset < sizeof(cfg)) {
		uint32_t n = (uint32_t)sizeof(cfg) - offset;

		memcpy(out, cfg + offset, n < size ? n : size);
	}
}

/* ---- walking the readable or the writable part of a chain ---- */

/* Called for each piece: guest range [gpa, gpa + len) at byte data_off of the part. */
typedef int (*piece_fn)(void *ctx, uint64_t gpa, size_t len, uint64_t data_off);

/* Visit bytes [skip, skip + len) of the chain's readable (or writable) buffers. */
static int for_each_piece(const struct vring_chain *c, bool writable, uint64_t skip,
			  uint64_t len, piece_fn fn, void *ctx)
{
	uint64_t data_off = 0;

	for (unsigned int i = 0; i < c->nsegs && len; i++) {
		const struct vring_seg *s = &c->segs[i];
		uint64_t take, start;

		if (s->writable != writable)
			continue;
		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		start = skip;
		take = s->len - start;
		if (take > len)
			take = len;
		if (fn(ctx, s->gpa + start, (size_t)take, data_off))
			return -1;
		data_off += take;
		len -= take;
		skip = 0;
	}
	return 0;
}

struct xfer {
	const struct vmmem_memory *m;
	struct vmmem_iommu *io; /* every guest access: translates IOVAs or passes GPAs */
	bool log_checked;       /* --check-log applies (GPAs: the IOMMU is off) */
	int fd;
	uint64_t file_off; /* image offset of data byte 0 */
	uint8_t *buf;      /* host buffer for header / id copies */
};

static int piece_read_header(void *ctx, uint64_t gpa, size_t len, uint64_t data_off)
{
	struct xfer *x = ctx;

	return vmmem_iommu_read_exact(x->io, gpa, x->buf + data_off, len, NULL);
}

static int piece_write_id(void *ctx, uint64_t gpa, size_t len, uint64_t data_off)
{
	struct xfer *x = ctx;
	int rc;

	if (x->log_checked)
		logcheck_arm(x->m, gpa, len);
	rc = vmmem_iommu_write_exact(x->io, gpa, x->buf + data_off, len, NULL);
	if (rc == 0 && x->log_checked)
		logcheck_write(x->m, gpa, len);
	return rc;
}

/* IN: image -> guest (pread into the guest buffer, marked dirty by libvmmem). */
static int piece_disk_to_guest(void *ctx, uint64_t gpa, size_t len, uint64_t data_off)
{
	struct xfer *x = ctx;
	size_t done = 0;
	int rc;

	if (x->log_checked)
		logcheck_arm(x->m, gpa, len);
	rc = vmmem_iommu_read_exact_from_fd(x->io, gpa, x->fd, len, (off_t)(x->file_off + data_off),
					    &done);
	if (x->log_checked)
		logcheck_write(x->m, gpa, done); /* what was written, also when it stopped short */
	if (rc)
		vub_log("read of %zu bytes at image offset 0x%" PRIx64 " into GPA 0x%" PRIx64
			" failed after %zu: %s",
			len, x->file_off + data_off, gpa, done, vmmem_errormsg());
	return rc;
}

/* OUT: guest -> image (pwrite from the guest buffer). */
static int piece_guest_to_disk(void *ctx, uint64_t gpa, size_t len, uint64_t data_off)
{
	struct xfer *x = ctx;
	size_t done = 0;
	int rc = vmmem_iommu_write_all_to_fd(x->io, gpa, x->fd, len,
					     (off_t)(x->file_off + data_off), &done);

	if (rc)
		vub_log("write of %zu bytes from GPA 0x%" PRIx64 " at image offset 0x%" PRIx64
			" failed after %zu: %s",
			len, gpa, x->file_off + data_off, done, vmmem_errormsg());
	return rc;
}

/* Is [sector, sector + bytes / 512) inside the image, bytes a whole number of sectors? */
static bool sectors_ok(const struct blk_dev *b, uint64_t sector, uint64_t bytes)
{
	uint64_t count = bytes / VIRTIO_BLK_SECTOR;

	return bytes % VIRTIO_BLK_SECTOR == 0 && sector <= b->capacity &&
	       count <= b->capacity - sector;
}

static uint8_t do_request(struct blk_dev *b, const struct vmmem_memory *m,
			  struct vmmem_iommu *io, const struct vring_chain *c, uint64_t readable,
			  uint64_t wdata, uint64_t *written)
{
	struct virtio_blk_outhdr hdr;
	struct xfer x = { .m = m, .io = io, .log_checked = vmmem_iommu_enabled(io) == 0,
			  .fd = b->fd, .buf = (uint8_t *)&hdr };
	uint32_t type;
	uint64_t sector;

	if (readable < sizeof(hdr)) {
		vub_log("request %u: %" PRIu64 " readable bytes, too few for the 16-byte header",
			c->head, readable);
		return VIRTIO_BLK_S_IOERR;
	}
	if (for_each_piece(c, false, 0, sizeof(hdr), piece_read_header, &x)) {
		vub_log("request %u: header unreadable: %s", c->head, vmmem_errormsg());
		return VIRTIO_BLK_S_IOERR;
	}
	type = vmmem_le32_to_cpu(hdr.type);
	sector = vmmem_le64_to_cpu(hdr.sector);
	switch (type) {
	case VIRTIO_BLK_T_IN:
		if (!sectors_ok(b, sector, wdata)) {
			vub_log("request %u: read of %" PRIu64 " bytes at sector %" PRIu64
				" is not whole sectors inside the %" PRIu64 "-sector image",
				c->head, wdata, sector, b->capacity);
			return VIRTIO_BLK_S_IOERR;
		}
		x.file_off = sector * VIRTIO_BLK_SECTOR;
		if (for_each_piece(c, true, 0, wdata, piece_disk_to_guest, &x))
			return VIRTIO_BLK_S_IOERR;
		*written = wdata;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT: {
		uint64_t bytes = readable - sizeof(hdr);

		if (b->read_only) {
			vub_log("request %u: write to a read-only image", c->head);
			return VIRTIO_BLK_S_IOERR;
		}
		if (!sectors_ok(b, sector, bytes)) {
			vub_log("request %u: write of %" PRIu64 " bytes at sector %" PRIu64
				" is not whole sectors inside the %" PRIu64 "-sector image",
				c->head, bytes, sector, b->capacity);
			return VIRTIO_BLK_S_IOERR;
		}
		/* The data follows the header in the readable part. */
		x.file_off = sector * VIRTIO_BLK_SECTOR;
		if (for_each_piece(c, false, sizeof(hdr), bytes, piece_guest_to_disk, &x))
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (fdatasync(b->fd) < 0) {
			vub_log("request %u: flush failed: %s", c->head, strerror(errno));
			return VIRTIO_BLK_S_IOERR;
		}
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t n = wdata < VIRTIO_BLK_ID_BYTES ? wdata : VIRTIO_BLK_ID_BYTES;

		x.buf = (uint8_t *)b->id;
		if (for_each_piece(c, true, 0, n, piece_write_id, &x)) {
			vub_log("request %u: id buffer unwritable: %s", c->head, vmmem_errormsg());
			return VIRTIO_BLK_S_IOERR;
		}
		*written = n;
		return VIRTIO_BLK_S_OK;
	}
	default:
		vub_debug("request %u: unsupported type %" PRIu32, c->head, type);
		return VIRTIO_BLK_S_UNSUPP;
	}
}

int64_t blk_handle_chain(void *opaque, const struct vmmem_memory *m, struct vmmem_iommu *io,
			 const struct vring_chain *c)
{
	struct blk_dev *b = opaque;
	const struct vring_seg *last;
	uint64_t readable = 0, writable = 0, written = 0, status_gpa;
	bool seen_writable = false, layout_ok = true;
	uint8_t status;
	int rc;

	/* The status byte is the last byte of the last (device-writable) buffer. Without one
	 * the request cannot be failed, only handed back unused. */
	last = c->nsegs ? &c->segs[c->nsegs - 1] : NULL;
	if (!last || !last->writable || last->len == 0 ||
	    last->gpa > UINT64_MAX - (last->len - 1)) {
		vub_log("request %u: no status byte (the last buffer is not device-writable); "
			"returned unused",
			c->head);
		return -1;
	}
	status_gpa = last->gpa + (last->len - 1);
	/* Under the IOMMU every buffer is translated before any I/O: a miss (sent to the
	 * front-end by the miss handler) hands the chain back untouched, to be redone. */
	rc = vmmem_iommu_check_range(io, status_gpa, 1, VMMEM_ACCESS_WRITE);
	if (rc == VMMEM_E_IOTLB_MISS)
		return VRING_RETRY;
	if (rc) {
		vub_log("request %u: status byte at address 0x%" PRIx64 " cannot be written (%s); "
			"returned unused",
			c->head, status_gpa, vmmem_errormsg());
		return -1;
	}
	/* Readable buffers first, then writable ones; all inside guest memory. */
	for (unsigned int i = 0; i < c->nsegs; i++) {
		const struct vring_seg *s = &c->segs[i];

		rc = vmmem_iommu_check_range(io, s->gpa, s->len,
					     s->writable ? VMMEM_ACCESS_WRITE : VMMEM_ACCESS_READ);
		if (rc == VMMEM_E_IOTLB_MISS)
			return VRING_RETRY;
		if (rc) {
			vub_log("request %u: buffer at 0x%" PRIx64 " length 0x%" PRIx32
				" is outside guest memory: %s",
				c->head, s->gpa, s->len, vmmem_errormsg());
			layout_ok = false;
			break;
		}
		if (s->writable) {
			seen_writable = true;
			writable += s->len;
		} else if (seen_writable) {
			vub_log("request %u: a device-readable buffer follows a writable one",
				c->head);
			layout_ok = false;
			break;
		} else {
			readable += s->len;
		}
	}
	status = layout_ok ? do_request(b, m, io, c, readable, writable - 1, &written)
			   : (uint8_t)VIRTIO_BLK_S_IOERR;
	if (!vmmem_iommu_enabled(io))
		logcheck_arm(m, status_gpa, 1);
	if (vmmem_iommu_write_obj(io, status_gpa, &status, 1)) {
		vub_log("request %u: status byte unwritable: %s", c->head, vmmem_errormsg());
		return -1;
	}
	if (!vmmem_iommu_enabled(io))
		logcheck_write(m, status_gpa, 1);
	return (int64_t)(written + 1);
}
