/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Split virtqueue processing over libvmmem guest memory. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logcheck.h"
#include "logging.h"
#include "vring.h"

/* A descriptor as the guest stores it (little-endian, 16 bytes). */
struct vring_desc_raw {
	struct vmmem_le64 addr;
	struct vmmem_le32 len;
	struct vmmem_le16 flags;
	struct vmmem_le16 next;
};
_Static_assert(sizeof(struct vring_desc_raw) == 16, "virtio descriptor is 16 bytes");

/* A used-ring element (little-endian, 8 bytes). */
struct vring_used_elem_raw {
	struct vmmem_le32 id;
	struct vmmem_le32 len;
};
_Static_assert(sizeof(struct vring_used_elem_raw) == 8, "used element is 8 bytes");

int vring_init(struct vring *vq, unsigned int index)
{
	memset(vq, 0, sizeof(*vq));
	vq->segs = calloc(VRING_MAX_CHAIN, sizeof(*vq->segs));
	if (!vq->segs)
		return -1;
	pthread_mutex_init(&vq->lock, NULL);
	vq->index = index;
	vq->kick_fd = vq->call_fd = vq->err_fd = -1;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vring_reset(struct vring *vq)
{
	close_fd(&vq->kick_fd);
	close_fd(&vq->call_fd);
	close_fd(&vq->err_fd);
	/* Field by field: the mutex is held by the caller and must not be touched. */
	vq->num = 0;
	vq->addr_set = false;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = vq->log_gpa = 0;
	vq->log_used = vq->log_gpa_failed = false;
	vq->started = vq->enabled = vq->polling = false;
	vq->last_avail_idx = vq->used_idx = 0;
	vq->used_idx_synced = false;
	vq->broken = false;
	vq->call_pending = vq->err_pending = false;
	vq->iotlb_wait = false;
}

void vring_destroy(struct vring *vq)
{
	close_fd(&vq->kick_fd);
	close_fd(&vq->call_fd);
	close_fd(&vq->err_fd);
	free(vq->segs);
	vq->segs = NULL;
	pthread_mutex_destroy(&vq->lock);
}

bool vring_ready(const struct vring *vq)
{
	return vq->started && vq->enabled && vq->addr_set && vq->num && !vq->broken;
}

void vring_signal_fd(int fd, const char *what)
{
	uint64_t one = 1;

	if (fd < 0)
		return;
	/* EAGAIN: the count is at its largest, the front-end has not read it. EINTR: a
	 * front-end that cleared O_NONBLOCK made the write wait, and the queue thread's timer
	 * ended it (worker.c). Either way only that front-end misses a notification. */
	if (write(fd, &one, sizeof(one)) != (ssize_t)sizeof(one) && errno != EAGAIN &&
	    errno != EINTR)
		vub_log("cannot signal the %s eventfd: %s", what, strerror(errno));
}

void vring_notify(struct vring *vq)
{
	if (vq->call_pending)
		vring_signal_fd(vq->call_fd, "call");
	if (vq->err_pending)
		vring_signal_fd(vq->err_fd, "error");
	vq->call_pending = vq->err_pending = false;
}

/* Mark the queue broken with one log line; the front-end is told through the err fd. */
static void break_ring(struct vring *vq, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void break_ring(struct vring *vq, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	vub_log("queue %u stopped: %s", vq->index, why);
	vq->broken = true;
	vq->err_pending = true;
}

static int read_desc(struct vmmem_iommu *io, uint64_t table, uint32_t i,
		     struct vring_desc_raw *d)
{
	return vmmem_iommu_read_obj(io, table + UINT64_C(16) * i, d, sizeof(*d));
}

/* The driver's addresses are I/O virtual ones (VIRTIO_F_IOMMU_PLATFORM). */
static bool iommu_on(const struct vmmem_iommu *io)
{
	return vmmem_iommu_enabled(io) == 1;
}

/* A miss was sent to the front-end: stop here, keep the rest available, retry after the
 * update (the queue thread is woken by it). */
static int wait_iotlb(struct vring *vq, int rc)
{
	if (rc != VMMEM_E_IOTLB_MISS)
		return 0;
	vq->iotlb_wait = true;
	return 1;
}

/*
 * Flatten the chain starting at head into chain->segs. Follows at most as many
 * descriptors as the table holds (so a loop or an over-long chain stops it), and at most one
 * indirect table, which must be the head's only descriptor.
 */
static int walk_chain(struct vring *vq, struct vmmem_iommu *io, uint16_t head,
		      struct vring_chain *chain)
{
	uint64_t table = vq->desc_gpa;
	uint32_t table_size = vq->num, i = head, seen = 0;
	bool in_indirect = false;

	chain->head = head;
	chain->nsegs = 0;
	chain->segs = vq->segs;
	for (;;) {
		struct vring_desc_raw d;
		uint16_t flags;

		if (i >= table_size) {
			break_ring(vq, "chain of head %u: next index %" PRIu32 " is outside a %s table "
				   "of %" PRIu32 " descriptors",
				   head, i, in_indirect ? "indirect" : "descriptor", table_size);
			return -1;
		}
		if (++seen > table_size) {
			break_ring(vq, "chain of head %u: more than %" PRIu32 " descriptors (a loop, "
				   "or longer than its table)",
				   head, table_size);
			return -1;
		}
		int rc = read_desc(io, table, i, &d);

		if (rc && wait_iotlb(vq, rc))
			return VRING_RETRY;
		if (rc) {
			break_ring(vq, "chain of head %u: descriptor %" PRIu32 " at GPA 0x%" PRIx64
				   " is not in guest memory: %s",
				   head, i, table + UINT64_C(16) * i, vmmem_errormsg());
			return -1;
		}
		flags = vmmem_le16_to_cpu(d.flags);
		if (flags & VRING_DESC_F_INDIRECT) {
			uint32_t len = vmmem_le32_to_cpu(d.len);

			if (!vq->indirect || in_indirect || seen != 1 ||
			    (flags & VRING_DESC_F_NEXT)) {
				break_ring(vq, "chain of head %u: indirect descriptor %s", head,
					   !vq->indirect ? "without VIRTIO_RING_F_INDIRECT_DESC"
					   : in_indirect ? "inside an indirect table"
							 : "not alone in its chain");
				return -1;
			}
			if (len == 0 || len % 16 || len / 16 > VRING_MAX_INDIRECT) {
				break_ring(vq, "chain of head %u: indirect table of %" PRIu32 " bytes "
					   "(must be a non-zero multiple of 16, at most %u entries)",
					   head, len, VRING_MAX_INDIRECT);
				return -1;
			}
			table = vmmem_le64_to_cpu(d.addr);
			table_size = len / 16;
			in_indirect = true;
			i = 0;
			seen = 0;
			continue;
		}
		if (chain->nsegs == VRING_MAX_CHAIN) { /* cannot happen: seen bounds it */
			break_ring(vq, "chain of head %u: too many descriptors", head);
			return -1;
		}
		chain->segs[chain->nsegs++] = (struct vring_seg){
			.gpa = vmmem_le64_to_cpu(d.addr),
			.len = vmmem_le32_to_cpu(d.len),
			.writable = (flags & VRING_DESC_F_WRITE) != 0,
		};
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		i = vmmem_le16_to_cpu(d.next);
	}
}

static int load_le16(struct vmmem_iommu *io, uint64_t gpa, int order, uint16_t *out)
{
	uint16_t raw;
	int rc = vmmem_iommu_load_u16(io, gpa, order, &raw);

	if (rc == 0)
		*out = vmmem_le16_to_cpu_raw(raw);
	return rc;
}

/*
 * Bytes [off, off + len) of the used ring were written. libvmmem logged them at their GPA;
 * vhost-user wants them logged at log_guest_addr + off (VHOST_VRING_F_LOG), which QEMU sets
 * to the same address, but a front-end may name another: mark that one too. The address
 * cannot wrap (SET_VRING_ADDR checks it); one past the log's end is reported once per
 * SET_VRING_ADDR, and the ring goes on (its GPA is still logged).
 */
static void wrote_used(struct vring *vq, const struct vmmem_memory *m, struct vmmem_iommu *io,
		       uint64_t off, uint64_t len)
{
	struct vmmem_vhost_log *log = vmmem_memory_vhost_log(m);

	/* Under the IOMMU the ring and log addresses are IOVAs: libvmmem logged the write at
	 * its guest-physical address, which is where QEMU looks (it translates the ring's IOVA
	 * before reading the log); marking the IOVA would dirty an unrelated page. */
	if (iommu_on(io))
		return;
	logcheck_write(m, vq->used_gpa + off, len);
	if (!log || !vq->log_used || vq->log_gpa == vq->used_gpa)
		return;
	if (vmmem_vhost_log_mark(log, vq->log_gpa + off, len) && !vq->log_gpa_failed) {
		vub_log("queue %u: used-ring writes cannot be logged at log address 0x%" PRIx64
			": %s",
			vq->index, vq->log_gpa, vmmem_errormsg());
		vq->log_gpa_failed = true;
	}
}

/* Publish used->idx and interrupt the driver unless it asked not to be. */
static int publish_used(struct vring *vq, const struct vmmem_memory *m, struct vmmem_iommu *io)
{
	uint16_t avail_flags;

	/* At least release: the used elements (and the data) are visible before the index.
	 * Sequentially consistent, paired with the seq-cst load of avail->flags below: the
	 * index store must be visible before we read the driver's flags, or a driver that just
	 * cleared NO_INTERRUPT could miss this completion (virtio's "mb" between the two). */
	if (!iommu_on(io))
		logcheck_arm(m, vq->used_gpa + 2, 2);
	if (vmmem_iommu_store_u16(io, vq->used_gpa + 2, vmmem_cpu_to_le16(vq->used_idx),
				  VMMEM_ORDER_SEQ_CST)) {
		break_ring(vq, "used->idx at GPA 0x%" PRIx64 " cannot be written: %s",
			   vq->used_gpa + 2, vmmem_errormsg());
		return -1;
	}
	wrote_used(vq, m, io, 2, 2);
	if (load_le16(io, vq->avail_gpa, VMMEM_ORDER_SEQ_CST, &avail_flags)) {
		break_ring(vq, "avail->flags at GPA 0x%" PRIx64 " cannot be read: %s",
			   vq->avail_gpa, vmmem_errormsg());
		return -1;
	}
	if (!(avail_flags & VRING_AVAIL_F_NO_INTERRUPT))
		vq->call_pending = true;
	return 0;
}

/* Under the IOMMU, all three ring parts must translate before a batch starts, so that a
 * miss never leaves a chain half handed back: a miss here waits for the update. */
static int rings_mapped(struct vring *vq, struct vmmem_iommu *io)
{
	static const char *const what[] = { "descriptor table", "available ring", "used ring" };
	const uint64_t addr[] = { vq->desc_gpa, vq->avail_gpa, vq->used_gpa };
	const uint64_t bytes[] = { VRING_DESC_BYTES(vq->num), VRING_AVAIL_BYTES(vq->num),
				   VRING_USED_BYTES(vq->num) };
	const unsigned int access[] = { VMMEM_ACCESS_READ, VMMEM_ACCESS_READ, VMMEM_ACCESS_RW };

	if (!iommu_on(io))
		return 0;
	for (int i = 0; i < 3; i++) {
		int rc = vmmem_iommu_check_range(io, addr[i], bytes[i], access[i]);

		if (rc && wait_iotlb(vq, rc))
			return 1;
		if (rc) {
			break_ring(vq, "%s at IOVA 0x%" PRIx64 " cannot be used: %s", what[i],
				   addr[i], vmmem_errormsg());
			return -1;
		}
	}
	return 0;
}

unsigned int vring_process(struct vring *vq, const struct vmmem_memory *m,
			   struct vmmem_iommu *io, vring_handler_fn handler, void *opaque)
{
	struct vring_chain chain;
	uint16_t avail_idx, pending;
	unsigned int done = 0;

	if (!vring_ready(vq))
		return 0;
	vq->iotlb_wait = false;
	if (rings_mapped(vq, io))
		return 0;
	if (!vq->used_idx_synced) {
		/* The front-end may have completed requests before handing the ring over. */
		if (load_le16(io, vq->used_gpa + 2, VMMEM_ORDER_ACQUIRE, &vq->used_idx)) {
			break_ring(vq, "used ring at GPA 0x%" PRIx64 " is not in guest memory: %s",
				   vq->used_gpa, vmmem_errormsg());
			return 0;
		}
		vq->used_idx_synced = true;
	}
	/* Acquire: the ring entries and descriptors are read after the index. */
	if (load_le16(io, vq->avail_gpa + 2, VMMEM_ORDER_ACQUIRE, &avail_idx)) {
		break_ring(vq, "avail ring at GPA 0x%" PRIx64 " is not in guest memory: %s",
			   vq->avail_gpa, vmmem_errormsg());
		return 0;
	}
	pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending == 0)
		return 0;
	if (pending > vq->num) {
		break_ring(vq, "avail->idx %u is %u entries ahead of the %u already taken, more "
			   "than the ring's %u",
			   avail_idx, pending, vq->last_avail_idx, vq->num);
		return 0;
	}
	for (; done < pending; done++) {
		uint64_t slot = vq->avail_gpa + 4 + UINT64_C(2) * (vq->last_avail_idx % vq->num);
		struct vring_used_elem_raw elem;
		uint16_t head;
		int64_t written;

		if (load_le16(io, slot, VMMEM_ORDER_RELAXED, &head)) {
			break_ring(vq, "avail ring entry at GPA 0x%" PRIx64 " cannot be read: %s",
				   slot, vmmem_errormsg());
			break;
		}
		if (head >= vq->num) {
			break_ring(vq, "avail ring entry %u names head %u, outside the ring of %u",
				   vq->last_avail_idx, head, vq->num);
			break;
		}
		if (walk_chain(vq, io, head, &chain))
			break; /* broken, or waiting for the IOTLB */
		written = handler(opaque, m, io, &chain);
		if (written == VRING_RETRY) {
			vq->iotlb_wait = true;
			break;
		}
		if (written < 0)
			written = 0;
		if (written > UINT32_MAX)
			written = UINT32_MAX;
		elem.id = vmmem_le32_from_cpu(head);
		elem.len = vmmem_le32_from_cpu((uint32_t)written);
		slot = vq->used_gpa + 4 + UINT64_C(8) * (vq->used_idx % vq->num);
		if (!iommu_on(io))
			logcheck_arm(m, slot, sizeof(elem));
		if (vmmem_iommu_write_obj(io, slot, &elem, sizeof(elem))) {
			break_ring(vq, "used ring entry at GPA 0x%" PRIx64 " cannot be written: %s",
				   slot, vmmem_errormsg());
			break;
		}
		wrote_used(vq, m, io, slot - vq->used_gpa, sizeof(elem));
		vq->last_avail_idx++;
		vq->used_idx++;
	}
	/* Chains completed before a breakage are still handed back. */
	if (done)
		publish_used(vq, m, io);
	return done;
}
