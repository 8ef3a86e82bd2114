/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vhost-user back-end: message transport, checks and dispatch. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "guest_mem.h"
#include "logcheck.h"
#include "logging.h"
#include "vhost_user.h"
#include "worker.h"

/* ---- protocol constants ---- */

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
};

#define VU_VERSION 0x1u
#define VU_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)

#define VU_MAX_PAYLOAD 4096u       /* larger messages end the connection */
#define VU_MAX_FDS 8u              /* VHOST_MEMORY_BASELINE_NREGIONS */
#define VU_TABLE_REGIONS 8u        /* regions in a SET_MEM_TABLE */
#define VU_CONFIG_HDR 12u          /* offset, size, flags */
#define VU_MAX_CONFIG 256u         /* VHOST_USER_MAX_CONFIG_SIZE */
#define VU_PAYLOAD_TIMEOUT_MS 10000 /* the rest of a started message must come by then */
#define VU_SEND_TIMEOUT_MS 10000    /* a front-end must take our reply by then */

#define VU_VRING_INDEX_MASK 0xffull
#define VU_VRING_NOFD (1ull << 8)
#define VU_VRING_F_LOG 1u

/* Feature bits. */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VHOST_F_LOG_ALL 26
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_IOMMU_PLATFORM 33

#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_LOG_SHMFD 1
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_BACKEND_REQ 5
#define VU_PROTOCOL_F_CONFIG 9
#define VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15

#define BIT(n) (1ull << (n))

/* ---- messages ---- */

struct vu_header {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_qva;
	uint64_t used_qva;
	uint64_t avail_qva;
	uint64_t log_gpa;
};

struct vu_log_desc {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

/* struct vhost_iotlb_msg: the payload of IOTLB_MSG, both directions (host order). */
struct vu_iotlb_msg {
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm; /* 1 read, 2 write, 3 both */
	uint8_t type; /* VU_IOTLB_* */
	uint8_t padding[6];
};

#define VU_IOTLB_MISS 1
#define VU_IOTLB_UPDATE 2
#define VU_IOTLB_INVALIDATE 3
#define VU_IOTLB_ACCESS_FAIL 4
#define VU_BACKEND_IOTLB_MSG 1 /* back-end -> front-end request on the backend channel */

struct vu_config_hdr {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
};

_Static_assert(sizeof(struct vu_header) == 12, "vhost-user header is 12 bytes");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vring address payload is 40 bytes");
_Static_assert(sizeof(struct vu_iotlb_msg) == 32, "IOTLB message payload is 32 bytes");
_Static_assert(sizeof(struct vmmem_vhost_region) == 32, "region descriptor is 32 bytes");

struct vu_msg {
	struct vu_header hdr;
	union {
		uint64_t align;
		uint8_t bytes[VU_MAX_PAYLOAD];
	} payload;
	int fds[VU_MAX_FDS];
	unsigned int nfds;
	bool fds_lost; /* more fds came than fit: the kernel dropped some */
};

/* What a handler did. */
enum vu_result {
	VU_OK,         /* done; acked with 0 if the front-end asked for a reply */
	VU_FAILED,     /* refused (logged); acked with 1 if asked */
	VU_REPLIED,    /* the handler sent the request's own reply */
	VU_DROP,       /* end the connection */
};

/* Expected payload size and fd count of a request; -1: checked by the handler. */
struct vu_rule {
	const char *name;
	int32_t size;
	int8_t fds;
};

static const struct vu_rule *rule_of(uint32_t request)
{
	static const struct vu_rule rules[] = {
		[VU_GET_FEATURES] = { "GET_FEATURES", 0, 0 },
		[VU_SET_FEATURES] = { "SET_FEATURES", 8, 0 },
		[VU_SET_OWNER] = { "SET_OWNER", 0, 0 },
		[VU_RESET_OWNER] = { "RESET_OWNER", 0, 0 },
		[VU_SET_MEM_TABLE] = { "SET_MEM_TABLE", -1, -1 },
		[VU_SET_LOG_BASE] = { "SET_LOG_BASE", 16, 1 },
		[VU_SET_LOG_FD] = { "SET_LOG_FD", -1, 1 },
		[VU_SET_VRING_NUM] = { "SET_VRING_NUM", 8, 0 },
		[VU_SET_VRING_ADDR] = { "SET_VRING_ADDR", 40, 0 },
		[VU_SET_VRING_BASE] = { "SET_VRING_BASE", 8, 0 },
		[VU_GET_VRING_BASE] = { "GET_VRING_BASE", 8, 0 },
		[VU_SET_VRING_KICK] = { "SET_VRING_KICK", 8, -1 },
		[VU_SET_VRING_CALL] = { "SET_VRING_CALL", 8, -1 },
		[VU_SET_VRING_ERR] = { "SET_VRING_ERR", 8, -1 },
		[VU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", 0, 0 },
		[VU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", 8, 0 },
		[VU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", 0, 0 },
		[VU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", 8, 0 },
		[VU_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD", -1, 1 },
		[VU_IOTLB_MSG] = { "IOTLB_MSG", 32, 0 },
		[VU_GET_CONFIG] = { "GET_CONFIG", -1, 0 },
		[VU_SET_CONFIG] = { "SET_CONFIG", -1, 0 },
		[VU_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS", 0, 0 },
		[VU_ADD_MEM_REG] = { "ADD_MEM_REG", 40, 1 },
		[VU_REM_MEM_REG] = { "REM_MEM_REG", 40, -1 },
	};

	if (request >= sizeof(rules) / sizeof(rules[0]) || !rules[request].name)
		return NULL;
	return &rules[request];
}

/* ---- the connection ---- */

/*
 * The backend channel (SET_BACKEND_REQ_FD): the queue thread sends IOTLB misses on it from
 * the miss handler, the control thread replaces it. A miss is sent without NEED_REPLY and
 * never waited for: QEMU answers with an UPDATE on the main socket, whose handler wakes the
 * queue thread to retry. Waiting here, inside the batch's guard, could deadlock with an
 * INVALIDATE that waits for the batch.
 */
struct backend_chan {
	pthread_mutex_t lock;
	int fd;              /* -1 until SET_BACKEND_REQ_FD */
	uint64_t last_iova;  /* the last miss sent, and the IOTLB generation it was sent in: */
	uint64_t last_gen;   /* the same miss again before any change is not resent */
	unsigned int last_access;
	struct vmmem_iotlb *tlb;
	unsigned long sent;
};

struct vu_dev {
	int sock;
	const struct vu_options *opt;
	struct blk_dev *blk;
	const sigset_t *wait_mask;
	volatile sig_atomic_t *quit;
	struct guest_mem *gm;
	struct worker *worker;
	struct vring vqs[VUB_MAX_QUEUES];
	unsigned int nvqs;
	uint64_t features;          /* acked by SET_FEATURES */
	uint64_t protocol_features; /* acked by SET_PROTOCOL_FEATURES */
	int log_call_fd;            /* SET_LOG_FD: never read or written (so it cannot stall us,
				     * and is not checked like the ring fds); kept until replaced */
	struct backend_chan chan;
	unsigned long iotlb_updates, iotlb_invalidates;
};

static uint64_t offered_features(const struct vu_dev *d)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
		     BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
		     BIT(VIRTIO_BLK_F_FLUSH) | BIT(VHOST_USER_F_PROTOCOL_FEATURES) |
		     BIT(VHOST_F_LOG_ALL) | BIT(VIRTIO_F_IOMMU_PLATFORM);

	if (d->blk->read_only)
		f |= BIT(VIRTIO_BLK_F_RO);
	if (d->nvqs > 1)
		f |= BIT(VIRTIO_BLK_F_MQ);
	return f;
}

static uint64_t offered_protocol_features(void)
{
	return BIT(VU_PROTOCOL_F_MQ) | BIT(VU_PROTOCOL_F_LOG_SHMFD) |
	       BIT(VU_PROTOCOL_F_REPLY_ACK) | BIT(VU_PROTOCOL_F_BACKEND_REQ) |
	       BIT(VU_PROTOCOL_F_CONFIG) | BIT(VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
}

static const char *request_name(uint32_t request)
{
	const struct vu_rule *r = rule_of(request);

	return r ? r->name : "unknown";
}

/* ---- transport ---- */

/* Wait until sock is readable (or writable). timeout_ms -1: forever. 1 ready, 0 timeout or
 * error, -1 signal. */
static int wait_socket(struct vu_dev *d, short events, int timeout_ms)
{
	struct timespec ts = { .tv_sec = timeout_ms / 1000,
			       .tv_nsec = (timeout_ms % 1000) * 1000000L };

	for (;;) {
		struct pollfd p = { .fd = d->sock, .events = events };
		int n;

		if (*d->quit)
			return -1;
		n = ppoll(&p, 1, timeout_ms < 0 ? NULL : &ts, d->wait_mask);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR) {
			vub_log("poll on the vhost-user socket: %s", strerror(errno));
			return 0;
		}
	}
}

static int wait_readable(struct vu_dev *d, int timeout_ms)
{
	return wait_socket(d, POLLIN, timeout_ms);
}

/* Keep the fds of one received chunk. */
static void take_fds(struct vu_msg *msg, struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (msg->nfds < VU_MAX_FDS) {
				msg->fds[msg->nfds++] = fd;
			} else {
				close(fd);
				msg->fds_lost = true;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		msg->fds_lost = true;
}

enum recv_status { RECV_OK, RECV_EOF, RECV_DROP, RECV_SIGNAL };

/* Receive exactly len bytes (and any fds sent with them). The first wait of a message is
 * unbounded; once a message has started, the rest must follow within the timeout. */
static enum recv_status recv_bytes(struct vu_dev *d, struct vu_msg *msg, void *buf, size_t len,
				   bool message_started)
{
	size_t got = 0;

	while (got < len) {
		union {
			char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
			struct cmsghdr align;
		} control;
		struct iovec iov = { .iov_base = (uint8_t *)buf + got, .iov_len = len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf) };
		bool started = message_started || got > 0;
		int w = wait_readable(d, started ? VU_PAYLOAD_TIMEOUT_MS : -1);
		ssize_t n;

		if (w < 0)
			return RECV_SIGNAL;
		if (w == 0) {
			vub_log("front-end sent only part of a message (%zu of %zu bytes) within %d ms; "
				"disconnecting",
				got, len, VU_PAYLOAD_TIMEOUT_MS);
			return RECV_DROP;
		}
		n = recvmsg(d->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vub_log("receiving from the front-end: %s; disconnecting", strerror(errno));
			return RECV_DROP;
		}
		take_fds(msg, &mh);
		if (n == 0) {
			if (!started)
				return RECV_EOF;
			vub_log("front-end closed the connection in the middle of a message (%zu of %zu "
				"bytes)",
				got, len);
			return RECV_DROP;
		}
		got += (size_t)n;
	}
	return RECV_OK;
}

static void close_msg_fds(struct vu_msg *msg)
{
	for (unsigned int i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
}

/* Take fd number i out of the message (the handler now owns it). */
static int steal_fd(struct vu_msg *msg, unsigned int i)
{
	int fd = msg->fds[i];

	msg->fds[i] = -1;
	return fd;
}

static int send_all(struct vu_dev *d, const struct vu_header *hdr, const void *payload)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)(uintptr_t)hdr, .iov_len = sizeof(*hdr) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = hdr->size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = hdr->size ? 2 : 1 };
	size_t left = sizeof(*hdr) + hdr->size;

	while (left) {
		/* Never block in sendmsg: signals are only taken while waiting in ppoll. */
		ssize_t n = sendmsg(d->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			int w;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				vub_log("sending a reply: %s", strerror(errno));
				return -1;
			}
			w = wait_socket(d, POLLOUT, VU_SEND_TIMEOUT_MS);
			if (w == 0)
				vub_log("the front-end does not take its replies; disconnecting");
			if (w <= 0)
				return -1;
			continue;
		}
		left -= (size_t)n;
		/* Advance the iovecs past what went out. */
		while (n > 0 && mh.msg_iovlen) {
			size_t step = mh.msg_iov->iov_len;

			if ((size_t)n < step)
				step = (size_t)n;
			mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + step;
			mh.msg_iov->iov_len -= step;
			n -= (ssize_t)step;
			if (mh.msg_iov->iov_len == 0) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
	return 0;
}

static int reply(struct vu_dev *d, const struct vu_msg *req, const void *payload, uint32_t size)
{
	struct vu_header hdr = { .request = req->hdr.request,
				 .flags = VU_VERSION | VU_FLAG_REPLY,
				 .size = size };

	return send_all(d, &hdr, payload);
}

static int reply_u64(struct vu_dev *d, const struct vu_msg *req, uint64_t v)
{
	return reply(d, req, &v, sizeof(v));
}

/* ---- payload access ---- */

static uint64_t payload_u64(const struct vu_msg *msg)
{
	uint64_t v;

	memcpy(&v, msg->payload.bytes, sizeof(v));
	return v;
}

static void payload_state(const struct vu_msg *msg, struct vu_vring_state *s)
{
	memcpy(s, msg->payload.bytes, sizeof(*s));
}

/* The ring a message names, or NULL (logged). */
static struct vring *ring_of(struct vu_dev *d, const struct vu_msg *msg, uint64_t index)
{
	if (index >= d->nvqs) {
		vub_log("%s: queue index %" PRIu64 " out of range (%u queues)",
			request_name(msg->hdr.request), index, d->nvqs);
		return NULL;
	}
	return &d->vqs[index];
}

/* ---- handlers ---- */

static enum vu_result h_get_features(struct vu_dev *d, struct vu_msg *msg)
{
	return reply_u64(d, msg, offered_features(d)) ? VU_DROP : VU_REPLIED;
}

static enum vu_result h_set_features(struct vu_dev *d, struct vu_msg *msg)
{
	uint64_t f = payload_u64(msg), extra = f & ~offered_features(d);

	if (extra) {
		vub_log("SET_FEATURES: 0x%" PRIx64 " has bits never offered (0x%" PRIx64 ")", f,
			extra);
		return VU_FAILED;
	}
	/* QEMU refuses IOMMU_PLATFORM without both; a front-end that did not check gets no
	 * IOMMU rather than one whose misses nobody answers. */
	if ((f & BIT(VIRTIO_F_IOMMU_PLATFORM)) &&
	    (~d->protocol_features & (BIT(VU_PROTOCOL_F_BACKEND_REQ) | BIT(VU_PROTOCOL_F_REPLY_ACK)))) {
		vub_log("SET_FEATURES: VIRTIO_F_IOMMU_PLATFORM needs the BACKEND_REQ and REPLY_ACK "
			"protocol features");
		return VU_FAILED;
	}
	/* Returns once every batch logs its writes (or none does). */
	if (gm_set_logging(d->gm, (f & BIT(VHOST_F_LOG_ALL)) != 0) ||
	    gm_set_iommu(d->gm, (f & BIT(VIRTIO_F_IOMMU_PLATFORM)) != 0))
		return VU_FAILED;
	d->features = f;
	for (unsigned int i = 0; i < d->nvqs; i++) {
		pthread_mutex_lock(&d->vqs[i].lock);
		d->vqs[i].indirect = (f & BIT(VIRTIO_RING_F_INDIRECT_DESC)) != 0;
		pthread_mutex_unlock(&d->vqs[i].lock);
	}
	return VU_OK;
}

static enum vu_result h_reset_owner(struct vu_dev *d, struct vu_msg *msg)
{
	(void)msg;
	/* Deprecated; the spec recommends disabling every ring. */
	for (unsigned int i = 0; i < d->nvqs; i++) {
		pthread_mutex_lock(&d->vqs[i].lock);
		worker_set_kick(d->worker, &d->vqs[i], -1);
		vring_reset(&d->vqs[i]);
		pthread_mutex_unlock(&d->vqs[i].lock);
	}
	return VU_OK;
}

static enum vu_result h_set_mem_table(struct vu_dev *d, struct vu_msg *msg)
{
	struct vmmem_vhost_region regions[VU_TABLE_REGIONS];
	uint32_t count;

	if (msg->hdr.size < 8) {
		vub_log("SET_MEM_TABLE: payload of %" PRIu32 " bytes has no region count",
			msg->hdr.size);
		return VU_FAILED;
	}
	memcpy(&count, msg->payload.bytes, sizeof(count));
	if (count == 0 || count > VU_TABLE_REGIONS) {
		vub_log("SET_MEM_TABLE: %" PRIu32 " regions (1 to %u allowed)", count,
			VU_TABLE_REGIONS);
		return VU_FAILED;
	}
	if (msg->hdr.size != 8 + count * sizeof(regions[0])) {
		vub_log("SET_MEM_TABLE: %" PRIu32 " regions need a %zu-byte payload, got %" PRIu32,
			count, 8 + count * sizeof(regions[0]), msg->hdr.size);
		return VU_FAILED;
	}
	if (msg->nfds != count) {
		vub_log("SET_MEM_TABLE: %" PRIu32 " regions came with %u fds", count, msg->nfds);
		return VU_FAILED;
	}
	memcpy(regions, msg->payload.bytes + 8, count * sizeof(regions[0]));
	/* Returns once no batch uses the old table. */
	if (gm_set_table(d->gm, regions, msg->fds, count))
		return VU_FAILED;
	vub_debug("memory table of %" PRIu32 " regions installed", count);
	worker_wake(d->worker);
	return VU_OK;
}

struct log_mapping {
	void *map;
	size_t len;
};

static void unmap_log(void *opaque, void *base, uint64_t size)
{
	struct log_mapping *lm = opaque;

	(void)base;
	(void)size;
	munmap(lm->map, lm->len);
	free(lm);
}

/* Map a SET_LOG_BASE fd and wrap it as a libvmmem vhost log; *base is the log's first byte
 * in our mapping. */
static struct vmmem_vhost_log *map_log(struct vu_dev *d, int fd, const struct vu_log_desc *ld,
				       const uint8_t **base)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), start, in_page;
	struct vmmem_vhost_log *vlog = NULL;
	struct log_mapping *lm;
	struct stat st;
	uint8_t *bytes;
	int seals, rc;

	if (ld->mmap_size == 0 || ld->mmap_size > (uint64_t)INT64_MAX ||
	    ld->mmap_offset > (uint64_t)INT64_MAX - ld->mmap_size || ld->mmap_offset % 8) {
		vub_log("SET_LOG_BASE: log of 0x%" PRIx64 " bytes at offset 0x%" PRIx64
			" (size must be non-zero, offset 8-byte aligned, no overflow)",
			ld->mmap_size, ld->mmap_offset);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < ld->mmap_offset + ld->mmap_size) {
		vub_log("SET_LOG_BASE: the log fd is shorter than offset 0x%" PRIx64
			" + size 0x%" PRIx64,
			ld->mmap_offset, ld->mmap_size);
		return NULL;
	}
	/* A peer that could shrink the file could make our log writes fault (SIGBUS). */
	seals = fcntl(fd, F_GET_SEALS);
	if (!d->opt->allow_unsealed && (seals < 0 || !(seals & F_SEAL_SHRINK))) {
		vub_log("SET_LOG_BASE: the log fd is not sealed against shrinking (F_SEAL_SHRINK); "
			"--allow-unsealed accepts it");
		return NULL;
	}
	lm = calloc(1, sizeof(*lm));
	if (!lm) {
		vub_log("SET_LOG_BASE: out of memory");
		return NULL;
	}
	start = ld->mmap_offset & ~(page - 1);
	in_page = ld->mmap_offset - start;
	lm->len = (size_t)(ld->mmap_size + in_page);
	lm->map = mmap(NULL, lm->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)start);
	if (lm->map == MAP_FAILED) {
		vub_log("SET_LOG_BASE: mmap of 0x%zx bytes: %s", lm->len, strerror(errno));
		free(lm);
		return NULL;
	}
	bytes = (uint8_t *)lm->map + in_page;
	rc = vmmem_vhost_log_new(&vlog, bytes, ld->mmap_size, unmap_log, lm);
	if (rc) {
		vub_log("SET_LOG_BASE: %s", vmmem_errormsg());
		munmap(lm->map, lm->len);
		free(lm);
		return NULL;
	}
	*base = bytes;
	return vlog;
}

static enum vu_result h_set_log_base(struct vu_dev *d, struct vu_msg *msg)
{
	struct vu_log_desc ld;
	struct vmmem_vhost_log *vlog;
	const uint8_t *base = NULL;
	uint64_t status = 1;

	memcpy(&ld, msg->payload.bytes, sizeof(ld));
	vlog = map_log(d, msg->fds[0], &ld, &base);
	/* gm_set_log() returns once no batch still writes to the old log: QEMU reads and frees
	 * it right after our reply. */
	if (vlog && gm_set_log(d->gm, vlog) == 0) {
		status = 0;
		vub_debug("dirty log of 0x%" PRIx64 " bytes installed", ld.mmap_size);
		/* gm holds vlog now; the check takes its own reference. Every write to the old
		 * log is counted by now. */
		logcheck_set_log(vlog, base);
		logcheck_report();
	}
	/* QEMU always waits for this reply, success or not. */
	return reply_u64(d, msg, status) ? VU_DROP : VU_REPLIED;
}

static enum vu_result h_set_log_fd(struct vu_dev *d, struct vu_msg *msg)
{
	if (d->log_call_fd >= 0)
		close(d->log_call_fd);
	d->log_call_fd = steal_fd(msg, 0);
	return VU_OK;
}

static enum vu_result h_set_vring_num(struct vu_dev *d, struct vu_msg *msg)
{
	struct vu_vring_state s;
	struct vring *vq;
	enum vu_result res = VU_OK;

	payload_state(msg, &s);
	vq = ring_of(d, msg, s.index);
	if (!vq)
		return VU_FAILED;
	if (s.num == 0 || s.num > VRING_MAX_SIZE || (s.num & (s.num - 1))) {
		vub_log("SET_VRING_NUM: queue %" PRIu32 " size %" PRIu32
			" (must be a power of two, at most %u)",
			s.index, s.num, VRING_MAX_SIZE);
		return VU_FAILED;
	}
	pthread_mutex_lock(&vq->lock);
	if (vq->started) {
		vub_log("SET_VRING_NUM: queue %" PRIu32 " is running", s.index);
		res = VU_FAILED;
	} else {
		vq->num = (uint16_t)s.num;
		vq->addr_set = false; /* the ring sizes changed: addresses must be checked again */
		vq->broken = false;
	}
	pthread_mutex_unlock(&vq->lock);
	return res;
}

/* Translate and check one ring part. Under the IOMMU the address is an IOVA, kept as is:
 * every access translates it through the IOTLB (a miss asks the front-end). */
static int ring_part(struct vu_dev *d, uint32_t index, const char *what, uint64_t qva,
		     uint64_t bytes, uint64_t align, uint64_t *gpa)
{
	if (d->features & BIT(VIRTIO_F_IOMMU_PLATFORM)) {
		*gpa = qva;
		if (qva > UINT64_MAX - (bytes - 1)) {
			vub_log("SET_VRING_ADDR: queue %" PRIu32 " %s ring at IOVA 0x%" PRIx64
				" + 0x%" PRIx64 " bytes wraps past 2^64",
				index, what, qva, bytes);
			return -1;
		}
	} else if (gm_qva_to_gpa(d->gm, qva, bytes, gpa)) {
		vub_log("SET_VRING_ADDR: queue %" PRIu32 " %s ring at user address 0x%" PRIx64
			" (0x%" PRIx64 " bytes) is not inside one guest memory region",
			index, what, qva, bytes);
		return -1;
	}
	if (*gpa % align) {
		vub_log("SET_VRING_ADDR: queue %" PRIu32 " %s ring at GPA 0x%" PRIx64
			" is not %" PRIu64 "-byte aligned",
			index, what, *gpa, align);
		return -1;
	}
	return 0;
}

static enum vu_result h_set_vring_addr(struct vu_dev *d, struct vu_msg *msg)
{
	struct vu_vring_addr a;
	uint64_t desc, avail, used;
	struct vring *vq;
	uint16_t num;

	memcpy(&a, msg->payload.bytes, sizeof(a));
	vq = ring_of(d, msg, a.index);
	if (!vq)
		return VU_FAILED;
	pthread_mutex_lock(&vq->lock);
	num = vq->num;
	pthread_mutex_unlock(&vq->lock);
	if (num == 0) {
		vub_log("SET_VRING_ADDR: queue %" PRIu32 " has no size yet (SET_VRING_NUM first)",
			a.index);
		return VU_FAILED;
	}
	if (ring_part(d, a.index, "descriptor", a.desc_qva, VRING_DESC_BYTES(num), 16, &desc) ||
	    ring_part(d, a.index, "available", a.avail_qva, VRING_AVAIL_BYTES(num), 2, &avail) ||
	    ring_part(d, a.index, "used", a.used_qva, VRING_USED_BYTES(num), 4, &used))
		return VU_FAILED;
	/* Used-ring writes are logged at log_gpa + offset: that must not wrap. */
	if ((a.flags & VU_VRING_F_LOG) &&
	    a.log_gpa > UINT64_MAX - (VRING_USED_BYTES(num) - 1)) {
		vub_log("SET_VRING_ADDR: queue %" PRIu32 " log address 0x%" PRIx64
			" + 0x%" PRIx64 " bytes wraps past 2^64",
			a.index, a.log_gpa, VRING_USED_BYTES(num));
		return VU_FAILED;
	}
	if ((a.flags & VU_VRING_F_LOG) && a.log_gpa != used)
		vub_debug("SET_VRING_ADDR: queue %" PRIu32 " used-ring writes are logged at 0x%" PRIx64
			  " as well as at the ring's GPA 0x%" PRIx64,
			  a.index, a.log_gpa, used);
	pthread_mutex_lock(&vq->lock);
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->log_gpa = a.log_gpa;
	vq->log_used = (a.flags & VU_VRING_F_LOG) != 0;
	vq->log_gpa_failed = false;
	vq->addr_set = true;
	vq->used_idx_synced = false;
	vq->broken = false;
	pthread_mutex_unlock(&vq->lock);
	vub_debug("queue %" PRIu32 ": %u entries, desc 0x%" PRIx64 " avail 0x%" PRIx64
		  " used 0x%" PRIx64,
		  a.index, num, desc, avail, used);
	worker_wake(d->worker);
	return VU_OK;
}

static enum vu_result h_set_vring_base(struct vu_dev *d, struct vu_msg *msg)
{
	struct vu_vring_state s;
	struct vring *vq;
	enum vu_result res = VU_OK;

	payload_state(msg, &s);
	vq = ring_of(d, msg, s.index);
	if (!vq)
		return VU_FAILED;
	if (s.num > UINT16_MAX) {
		vub_log("SET_VRING_BASE: queue %" PRIu32 " base %" PRIu32 " is not a 16-bit index",
			s.index, s.num);
		return VU_FAILED;
	}
	pthread_mutex_lock(&vq->lock);
	if (vq->started) {
		vub_log("SET_VRING_BASE: queue %" PRIu32 " is running", s.index);
		res = VU_FAILED;
	} else {
		vq->last_avail_idx = (uint16_t)s.num;
		vq->used_idx_synced = false;
		vq->broken = false;
	}
	pthread_mutex_unlock(&vq->lock);
	return res;
}

static enum vu_result h_get_vring_base(struct vu_dev *d, struct vu_msg *msg)
{
	struct vu_vring_state s;
	struct vring *vq;

	payload_state(msg, &s);
	vq = ring_of(d, msg, s.index);
	if (vq) {
		/* Taking the lock waits for a running batch: nothing is in flight after it. */
		pthread_mutex_lock(&vq->lock);
		vq->started = false;
		worker_set_kick(d->worker, vq, -1);
		if (vq->call_fd >= 0)
			close(vq->call_fd);
		vq->call_fd = -1;
		s.num = vq->last_avail_idx;
		pthread_mutex_unlock(&vq->lock);
		vub_debug("queue %" PRIu32 " stopped at %" PRIu32, s.index, s.num);
	} else {
		s.num = 0;
	}
	return reply(d, msg, &s, sizeof(s)) ? VU_DROP : VU_REPLIED;
}

/*
 * A kick, call or err fd is taken only if it is an eventfd, and is made non-blocking: the
 * queue thread reads and writes these with a ring lock held and must never wait on them.
 * - Only eventfds: the protocol passes eventfds and QEMU sends nothing else. O_NONBLOCK
 *   alone would not do: a regular file (say on a FUSE mount the front-end serves) ignores
 *   it, and the timer that bounds the queue thread's writes (worker.c) cannot end such a
 *   wait either.
 * - O_NONBLOCK: even an eventfd blocks a read at count 0 (the front-end may take the count
 *   first) and a write at its largest count. The flag belongs to the open file
 *   description, which the front-end shares, and an eventfd cannot be reopened for one of
 *   our own: the front-end sees the change. QEMU creates its eventfds non-blocking, so for
 *   it nothing changes. A front-end may clear the flag again; worker.c does not rely on it
 *   (RWF_NOWAIT reads, writes bounded by a timer).
 */
static int take_peer_eventfd(const char *what, uint64_t index, int fd)
{
	char path[32], target[64];
	ssize_t n;
	int flags;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		vub_log("%s: queue %" PRIu64 ": cannot tell whether the fd is an eventfd (%s: %s)",
			what, index, path, strerror(errno));
		return -1;
	}
	target[n] = '\0';
	if (strcmp(target, "anon_inode:[eventfd]") != 0) {
		vub_log("%s: queue %" PRIu64 ": the fd is %s, not an eventfd; refused", what, index,
			target);
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) {
		vub_log("%s: queue %" PRIu64 ": cannot make the eventfd non-blocking: %s", what,
			index, strerror(errno));
		return -1;
	}
	return 0;
}

/* SET_VRING_KICK / CALL / ERR: u64 index with the no-fd flag, fd in ancillary data. */
static enum vu_result h_set_vring_fd(struct vu_dev *d, struct vu_msg *msg)
{
	uint64_t v = payload_u64(msg);
	bool nofd = (v & VU_VRING_NOFD) != 0;
	uint32_t request = msg->hdr.request;
	struct vring *vq;
	int fd;

	if (v & ~(VU_VRING_INDEX_MASK | VU_VRING_NOFD)) {
		vub_log("%s: payload 0x%" PRIx64 " has unknown bits", request_name(request), v);
		return VU_FAILED;
	}
	if (msg->nfds != (nofd ? 0u : 1u)) {
		vub_log("%s: %u fds with the no-fd flag %s", request_name(request), msg->nfds,
			nofd ? "set" : "clear");
		return VU_FAILED;
	}
	vq = ring_of(d, msg, v & VU_VRING_INDEX_MASK);
	if (!vq)
		return VU_FAILED;
	/* Checked before the lock: the ring keeps its old fd on a refusal. */
	if (!nofd && take_peer_eventfd(request_name(request), v & VU_VRING_INDEX_MASK,
				       msg->fds[0]))
		return VU_FAILED;
	fd = nofd ? -1 : steal_fd(msg, 0);
	pthread_mutex_lock(&vq->lock);
	if (request == VU_SET_VRING_KICK) {
		vq->polling = nofd;
		worker_set_kick(d->worker, vq, fd);
		/* Starting the ring; without protocol features it is enabled at once. */
		vq->started = true;
		if (!(d->features & BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
			vq->enabled = true;
	} else {
		int *slot = request == VU_SET_VRING_CALL ? &vq->call_fd : &vq->err_fd;

		if (*slot >= 0)
			close(*slot);
		*slot = fd;
	}
	pthread_mutex_unlock(&vq->lock);
	worker_wake(d->worker);
	return VU_OK;
}

static enum vu_result h_get_protocol_features(struct vu_dev *d, struct vu_msg *msg)
{
	return reply_u64(d, msg, offered_protocol_features()) ? VU_DROP : VU_REPLIED;
}

static enum vu_result h_set_protocol_features(struct vu_dev *d, struct vu_msg *msg)
{
	uint64_t f = payload_u64(msg), extra = f & ~offered_protocol_features();

	if (extra) {
		vub_log("SET_PROTOCOL_FEATURES: 0x%" PRIx64 " has bits never offered (0x%" PRIx64
			")",
			f, extra);
		return VU_FAILED;
	}
	d->protocol_features = f;
	return VU_OK;
}

/* ---- the device IOTLB ---- */

static enum vu_result h_set_backend_req_fd(struct vu_dev *d, struct vu_msg *msg)
{
	int fd = steal_fd(msg, 0);

	pthread_mutex_lock(&d->chan.lock);
	if (d->chan.fd >= 0)
		close(d->chan.fd);
	d->chan.fd = fd;
	d->chan.last_gen = 0;
	pthread_mutex_unlock(&d->chan.lock);
	return VU_OK;
}

/* The miss handler (queue thread, inside its batch's guard): report the miss to the
 * front-end and let the access fail; the batch stops and is redone after the update. */
static int send_iotlb_miss(void *opaque, const struct vmmem_iova_fault *f)
{
	struct backend_chan *c = opaque;
	struct vu_header hdr = { .request = VU_BACKEND_IOTLB_MSG, .flags = VU_VERSION,
				 .size = sizeof(struct vu_iotlb_msg) };
	struct vu_iotlb_msg m = { .iova = f->iova, .perm = (uint8_t)f->access,
				  .type = VU_IOTLB_MISS };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { &m, sizeof(m) } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	uint64_t gen = vmmem_iotlb_generation(c->tlb);
	int rc = -EAGAIN;

	/* A refusal is the guest's mapping, not a missing one: the access fails. */
	if (f->error == VMMEM_E_IOTLB_DENIED)
		return -EACCES;
	pthread_mutex_lock(&c->lock);
	if (c->fd < 0) {
		rc = -ENOTCONN;
	} else if (c->last_gen != gen || c->last_iova != f->iova || c->last_access != f->access) {
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == (ssize_t)(sizeof(hdr) + sizeof(m))) {
			c->last_gen = gen;
			c->last_iova = f->iova;
			c->last_access = f->access;
			c->sent++;
			vub_debug("-> IOTLB miss iova 0x%" PRIx64 " perm %u", f->iova, f->access);
		} else {
			vub_log("cannot send an IOTLB miss for iova 0x%" PRIx64 ": %s", f->iova,
				n < 0 ? strerror(errno) : "short write");
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static enum vu_result h_iotlb_msg(struct vu_dev *d, struct vu_msg *msg)
{
	struct vu_iotlb_msg m;

	memcpy(&m, msg->payload.bytes, sizeof(m));
	if (!(d->features & BIT(VIRTIO_F_IOMMU_PLATFORM))) {
		vub_log("IOTLB_MSG without VIRTIO_F_IOMMU_PLATFORM negotiated");
		return VU_FAILED;
	}
	switch (m.type) {
	case VU_IOTLB_UPDATE:
		if (m.perm < 1 || m.perm > 3) {
			vub_log("IOTLB update iova 0x%" PRIx64 ": permission %u", m.iova, m.perm);
			return VU_FAILED;
		}
		if (gm_iotlb_update(d->gm, m.iova, m.size, m.uaddr, m.perm))
			return VU_FAILED;
		d->iotlb_updates++;
		vub_debug("IOTLB update iova 0x%" PRIx64 " size 0x%" PRIx64 " perm %u", m.iova,
			  m.size, m.perm);
		worker_wake(d->worker); /* batches waiting for it */
		return VU_OK;
	case VU_IOTLB_INVALIDATE:
		if (gm_iotlb_invalidate(d->gm, m.iova, m.size))
			return VU_FAILED;
		d->iotlb_invalidates++;
		vub_debug("IOTLB invalidate iova 0x%" PRIx64 " size 0x%" PRIx64, m.iova, m.size);
		return VU_OK;
	default:
		vub_log("IOTLB_MSG of type %u from the front-end (only updates and invalidations "
			"go this way)",
			m.type);
		return VU_FAILED;
	}
}

static enum vu_result h_get_queue_num(struct vu_dev *d, struct vu_msg *msg)
{
	return reply_u64(d, msg, d->nvqs) ? VU_DROP : VU_REPLIED;
}

static enum vu_result h_set_vring_enable(struct vu_dev *d, struct vu_msg *msg)
{
	struct vu_vring_state s;
	struct vring *vq;

	payload_state(msg, &s);
	vq = ring_of(d, msg, s.index);
	if (!vq)
		return VU_FAILED;
	if (s.num > 1) {
		vub_log("SET_VRING_ENABLE: queue %" PRIu32 " value %" PRIu32 " is not 0 or 1",
			s.index, s.num);
		return VU_FAILED;
	}
	pthread_mutex_lock(&vq->lock);
	vq->enabled = s.num == 1;
	pthread_mutex_unlock(&vq->lock);
	worker_wake(d->worker);
	return VU_OK;
}

static enum vu_result h_get_config(struct vu_dev *d, struct vu_msg *msg)
{
	uint8_t out[VU_CONFIG_HDR + VU_MAX_CONFIG];
	struct vu_config_hdr ch;

	if (msg->hdr.size < VU_CONFIG_HDR) {
		vub_log("GET_CONFIG: payload of %" PRIu32 " bytes has no config header",
			msg->hdr.size);
		return reply(d, msg, NULL, 0) ? VU_DROP : VU_REPLIED; /* empty reply = error */
	}
	memcpy(&ch, msg->payload.bytes, sizeof(ch));
	if (ch.size > VU_MAX_CONFIG || msg->hdr.size != VU_CONFIG_HDR + ch.size) {
		vub_log("GET_CONFIG: %" PRIu32 " bytes asked with a %" PRIu32
			"-byte payload (at most %u, payload = 12 + size)",
			ch.size, msg->hdr.size, VU_MAX_CONFIG);
		return reply(d, msg, NULL, 0) ? VU_DROP : VU_REPLIED;
	}
	memcpy(out, &ch, sizeof(ch));
	blk_read_config(d->blk, (uint16_t)d->nvqs, ch.offset, out + VU_CONFIG_HDR, ch.size);
	return reply(d, msg, out, VU_CONFIG_HDR + ch.size) ? VU_DROP : VU_REPLIED;
}

static enum vu_result h_set_config(struct vu_dev *d, struct vu_msg *msg)
{
	(void)d;
	/* No writable field is offered (no VIRTIO_BLK_F_CONFIG_WCE): accept and ignore. */
	vub_debug("SET_CONFIG of %" PRIu32 " bytes ignored", msg->hdr.size);
	return VU_OK;
}

static enum vu_result h_get_max_mem_slots(struct vu_dev *d, struct vu_msg *msg)
{
	return reply_u64(d, msg, d->opt->max_mem_slots) ? VU_DROP : VU_REPLIED;
}

static void payload_mem_reg(const struct vu_msg *msg, struct vmmem_vhost_region *r)
{
	memcpy(r, msg->payload.bytes + 8, sizeof(*r)); /* after u64 padding */
}

static enum vu_result h_add_mem_reg(struct vu_dev *d, struct vu_msg *msg)
{
	struct vmmem_vhost_region r;

	payload_mem_reg(msg, &r);
	if (gm_add_region(d->gm, &r, msg->fds[0]))
		return VU_FAILED;
	vub_debug("region GPA 0x%" PRIx64 " size 0x%" PRIx64 " added (%u regions)",
		  r.guest_phys_addr, r.memory_size, gm_region_count(d->gm));
	worker_wake(d->worker);
	return VU_OK;
}

static enum vu_result h_rem_mem_reg(struct vu_dev *d, struct vu_msg *msg)
{
	struct vmmem_vhost_region r;

	/* Some front-ends send the region's fd along; it is closed unused after dispatch. */
	if (msg->nfds > 1) {
		vub_log("REM_MEM_REG: %u fds (0 or 1 allowed)", msg->nfds);
		return VU_FAILED;
	}
	payload_mem_reg(msg, &r);
	/* Returns once no batch touches the region any more: the reply promises that. */
	if (gm_remove_region(d->gm, &r))
		return VU_FAILED;
	vub_debug("region GPA 0x%" PRIx64 " size 0x%" PRIx64 " removed (%u regions)",
		  r.guest_phys_addr, r.memory_size, gm_region_count(d->gm));
	return VU_OK;
}

/* ---- dispatch ---- */

/* A refusal of a request that has its own reply still owes that reply: the front-end
 * waits for it. Each gets the answer that means "nothing" or "failed". */
static enum vu_result refuse(struct vu_dev *d, struct vu_msg *msg)
{
	struct vu_vring_state none = { 0, 0 };
	int rc;

	switch (msg->hdr.request) {
	case VU_GET_VRING_BASE:
		rc = reply(d, msg, &none, sizeof(none));
		break;
	case VU_GET_CONFIG:
		rc = reply(d, msg, NULL, 0); /* an empty config is the error answer */
		break;
	case VU_SET_LOG_BASE:
		rc = reply_u64(d, msg, 1);
		break;
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_QUEUE_NUM:
	case VU_GET_MAX_MEM_SLOTS:
		rc = reply_u64(d, msg, 0);
		break;
	default:
		return VU_FAILED;
	}
	return rc ? VU_DROP : VU_REPLIED;
}

static enum vu_result dispatch(struct vu_dev *d, struct vu_msg *msg)
{
	const struct vu_rule *rule = rule_of(msg->hdr.request);

	if (!rule) {
		vub_log("unknown request %" PRIu32 " (%" PRIu32 " bytes, %u fds) ignored",
			msg->hdr.request, msg->hdr.size, msg->nfds);
		return VU_FAILED;
	}
	if ((msg->hdr.flags & VU_VERSION_MASK) != VU_VERSION) {
		vub_log("%s: protocol version %" PRIu32 " (only 1 is known)", rule->name,
			msg->hdr.flags & VU_VERSION_MASK);
		return refuse(d, msg);
	}
	if (msg->fds_lost) {
		vub_log("%s: more than %u fds came with it", rule->name, VU_MAX_FDS);
		return refuse(d, msg);
	}
	/* Requests without a payload ignore one; the others must match exactly. */
	if (rule->size > 0 && msg->hdr.size != (uint32_t)rule->size) {
		vub_log("%s: payload of %" PRIu32 " bytes, expected %" PRId32, rule->name,
			msg->hdr.size, rule->size);
		return refuse(d, msg);
	}
	if (rule->fds >= 0 && msg->nfds != (unsigned int)rule->fds) {
		vub_log("%s: came with %u fds, expected %d", rule->name, msg->nfds, rule->fds);
		return refuse(d, msg);
	}
	switch (msg->hdr.request) {
	case VU_GET_FEATURES: return h_get_features(d, msg);
	case VU_SET_FEATURES: return h_set_features(d, msg);
	case VU_SET_OWNER: return VU_OK;
	case VU_RESET_OWNER: return h_reset_owner(d, msg);
	case VU_SET_MEM_TABLE: return h_set_mem_table(d, msg);
	case VU_SET_LOG_BASE: return h_set_log_base(d, msg);
	case VU_SET_LOG_FD: return h_set_log_fd(d, msg);
	case VU_SET_VRING_NUM: return h_set_vring_num(d, msg);
	case VU_SET_VRING_ADDR: return h_set_vring_addr(d, msg);
	case VU_SET_VRING_BASE: return h_set_vring_base(d, msg);
	case VU_GET_VRING_BASE: return h_get_vring_base(d, msg);
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR: return h_set_vring_fd(d, msg);
	case VU_GET_PROTOCOL_FEATURES: return h_get_protocol_features(d, msg);
	case VU_SET_PROTOCOL_FEATURES: return h_set_protocol_features(d, msg);
	case VU_GET_QUEUE_NUM: return h_get_queue_num(d, msg);
	case VU_SET_VRING_ENABLE: return h_set_vring_enable(d, msg);
	case VU_SET_BACKEND_REQ_FD: return h_set_backend_req_fd(d, msg);
	case VU_IOTLB_MSG: return h_iotlb_msg(d, msg);
	case VU_GET_CONFIG: return h_get_config(d, msg);
	case VU_SET_CONFIG: return h_set_config(d, msg);
	case VU_GET_MAX_MEM_SLOTS: return h_get_max_mem_slots(d, msg);
	case VU_ADD_MEM_REG: return h_add_mem_reg(d, msg);
	case VU_REM_MEM_REG: return h_rem_mem_reg(d, msg);
	default: return VU_FAILED; /* unreachable: rule_of() knows these only */
	}
}

/* Receive and handle one message. Returns true to go on, false with *end set. */
static bool handle_one(struct vu_dev *d, struct vu_msg *msg, enum vu_end *end)
{
	enum recv_status st;
	enum vu_result res;

	memset(&msg->hdr, 0, sizeof(msg->hdr));
	msg->nfds = 0;
	msg->fds_lost = false;
	st = recv_bytes(d, msg, &msg->hdr, sizeof(msg->hdr), false);
	if (st == RECV_OK && msg->hdr.size > VU_MAX_PAYLOAD) {
		vub_log("%s: payload of %" PRIu32 " bytes exceeds the %u-byte limit; disconnecting",
			request_name(msg->hdr.request), msg->hdr.size, VU_MAX_PAYLOAD);
		st = RECV_DROP;
	}
	if (st == RECV_OK && msg->hdr.size)
		st = recv_bytes(d, msg, msg->payload.bytes, msg->hdr.size, true);
	if (st != RECV_OK) {
		close_msg_fds(msg);
		if (st == RECV_EOF)
			vub_log("front-end disconnected");
		*end = st == RECV_SIGNAL ? VU_END_SIGNAL : VU_END_DISCONNECT;
		return false;
	}
	vub_debug("<- %s (%" PRIu32 "), flags 0x%" PRIx32 ", %" PRIu32 " bytes, %u fds",
		  request_name(msg->hdr.request), msg->hdr.request, msg->hdr.flags, msg->hdr.size,
		  msg->nfds);
	res = dispatch(d, msg);
	close_msg_fds(msg); /* whatever the handler did not take */
	if ((res == VU_OK || res == VU_FAILED) && (msg->hdr.flags & VU_FLAG_NEED_REPLY) &&
	    reply_u64(d, msg, res == VU_OK ? 0 : 1))
		res = VU_DROP;
	if (res == VU_DROP) {
		*end = VU_END_DISCONNECT;
		return false;
	}
	return true;
}

enum vu_end vu_serve(int sock, const struct vu_options *opt, struct blk_dev *blk,
		     const sigset_t *wait_mask, volatile sig_atomic_t *quit)
{
	struct vu_dev *d = calloc(1, sizeof(*d));
	struct vu_msg *msg = calloc(1, sizeof(*msg));
	enum vu_end end = VU_END_FATAL;
	unsigned int ready = 0;

	if (!d || !msg) {
		vub_log("out of memory for a connection");
		goto out;
	}
	d->sock = sock;
	d->opt = opt;
	d->blk = blk;
	d->wait_mask = wait_mask;
	d->quit = quit;
	d->nvqs = opt->num_queues;
	d->log_call_fd = -1;
	d->chan.fd = -1;
	pthread_mutex_init(&d->chan.lock, NULL);
	for (; ready < d->nvqs; ready++)
		if (vring_init(&d->vqs[ready], ready))
			goto out;
	if (gm_new(&d->gm, opt->max_mem_slots,
		   opt->max_mem_size ? opt->max_mem_size : VUB_DEFAULT_MEM_SIZE,
		   opt->allow_unsealed) ||
	    worker_start(&d->worker, d->vqs, d->nvqs, d->gm, blk))
		goto out;
	d->chan.tlb = vmmem_iommu_iotlb(gm_iommu(d->gm));
	vmmem_iommu_set_miss_handler(gm_iommu(d->gm), send_iotlb_miss, &d->chan);
	while (handle_one(d, msg, &end))
		;
out:
	/* Stop the queue thread first: it holds guards on the memory and uses the rings. */
	if (d) {
		worker_stop(d->worker);
		for (unsigned int i = 0; i < ready; i++)
			vring_destroy(&d->vqs[i]);
		gm_free(d->gm);
		if (d->log_call_fd >= 0)
			close(d->log_call_fd);
		if (d->chan.sent || d->iotlb_updates || d->iotlb_invalidates)
			vub_log("IOTLB: %lu misses sent, %lu updates, %lu invalidations", d->chan.sent,
				d->iotlb_updates, d->iotlb_invalidates);
		if (d->chan.fd >= 0)
			close(d->chan.fd);
		pthread_mutex_destroy(&d->chan.lock);
	}
	logcheck_set_log(NULL, NULL);
	if (end == VU_END_DISCONNECT)
		logcheck_report(); /* on a signal, main reports on the way out */
	free(msg);
	free(d);
	close(sock);
	return end;
}
