/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * virtio-blk requests (virtio 1.x, section 5.2) against a raw image file, with every guest
 * buffer reached through libvmmem: reads from the image land in guest memory through
 * vmmem_memory_read_exact_from_fd() (pread at the request's offset), writes leave it through
 * vmmem_memory_write_all_to_fd(), so the dirty log sees every byte the device writes.
 */
#ifndef VUB_BLK_H
#define VUB_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vring.h"

#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u

#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u

#define VIRTIO_BLK_ID_BYTES 20u
#define VIRTIO_BLK_SECTOR 512u
/* struct virtio_blk_config as far as this device fills it (through num_queues). */
#define VIRTIO_BLK_CONFIG_USED 36u
/* Segments per request the driver may use (VIRTIO_BLK_F_SEG_MAX): a 128-entry ring minus
 * header and status, as QEMU's own virtio-blk advertises. */
#define VUB_SEG_MAX 126u

struct blk_dev {
	int fd;
	bool read_only;
	uint64_t capacity;                 /* in 512-byte sectors */
	char id[VIRTIO_BLK_ID_BYTES];      /* GET_ID answer, NUL-padded */
};

/* Open the image (a regular file or a block device). Returns 0, or -1 after a log line. */
int blk_open(struct blk_dev *b, const char *path, bool read_only);
void blk_close(struct blk_dev *b);

/* Fill size bytes of the virtio_blk_config starting at byte offset (GET_CONFIG); bytes
 * beyond the fields this device uses read as zero. */
void blk_read_config(const struct blk_dev *b, uint16_t num_queues, uint32_t offset,
		     uint8_t *out, uint32_t size);

/* vring_handler_fn for virtio-blk (opaque is the struct blk_dev). */
int64_t blk_handle_chain(void *opaque, const struct vmmem_memory *m, struct vmmem_iommu *io,
			 const struct vring_chain *chain);

#endif /* VUB_BLK_H */
