/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* libFuzzer target for the example vhost-user-blk backend (examples/vhost-user-blk/), built
 * by tests/fuzz/run_fuzz.sh from its sources (all but main.c and logging.c) and every
 * core/ source, under the sanitizers. No change to the backend is needed: both entry points
 * are its own interfaces.
 *
 * The first input byte picks one of two targets:
 *
 * - messages (even): the input becomes a stream of front-end messages, each one written
 *   with sendmsg() to one end of a socketpair with its own SCM_RIGHTS fds (real memfds,
 *   sealed or not, filled from the input, so SET_MEM_TABLE / ADD_MEM_REG / SET_LOG_BASE
 *   really map; eventfds; pipes whose writer is gone). Then the write side is shut and
 *   vu_serve() serves the other end until it reads EOF, with its queue thread running, so
 *   rings made ready by the messages are walked too. The backend's replies are read back
 *   and must be well-formed.
 *
 * - rings (odd): a split virtqueue is laid over a small guest memory built with libvmmem
 *   (64 KiB at GPA 0 holding the input's bytes, a hole, 16 KiB at GPA 0x20000, optionally
 *   read-only), with queue size, ring addresses, indices, features, a vhost dirty log and
 *   dirty tracking from the input, and vring_process() runs with the virtio-blk handler on
 *   a memfd image, deterministically on this thread.
 *
 * After each input: no fd is left open or closed behind its owner's back (/proc/self/fd
 * before and after), and LeakSanitizer finds every allocation freed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blk.h"
#include "logcheck.h"
#include "logging.h"
#include "vhost_user.h"
#include "vring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_vhost: invariant failed: %s (line %d)\n", #cond,  \
				__LINE__);                                                   \
			abort();                                                             \
		}                                                                            \
	} while (0)

#define MAX_MESSAGES 64
#define MAX_FDS_TOTAL 48
#define MAX_PAYLOAD 8192  /* a little above the backend's 4096-byte limit */
#define IMAGE_SECTORS 16

/* ---- logging.c, replaced: every line is still formatted (the sanitizers see the
 * arguments), but printed only with VMMEM_FUZZ_VERBOSE set: the backend logs each refusal,
 * and fuzzing is all refusals. ---- */

bool vub_verbose;
static int verbose = -1;

static void emit(const char *fmt, va_list ap)
{
	char line[1024];

	if (vsnprintf(line, sizeof(line), fmt, ap) < 0)
		return;
	if (verbose < 0)
		verbose = getenv("VMMEM_FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "vmmem-vhost-user-blk: %s\n", line);
}

void vub_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}

void vub_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}

/* ---- input ---- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t un(struct input *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

/* Up to n bytes of the input. */
static const uint8_t *take(struct input *in, size_t *n)
{
	const uint8_t *p = in->p;

	if (*n > in->n)
		*n = in->n;
	in->p += *n;
	in->n -= *n;
	return p;
}

/* ---- fds ---- */

/* The open fds, as a bitmap of fd numbers. Compared per input, not against a baseline
 * from the start: the sanitizers open fds of their own (the symbolizer's pipes) between
 * inputs. */
#define MAX_FD 4096
struct fd_set_bits {
	uint64_t bits[MAX_FD / 64];
};

static void open_fds(struct fd_set_bits *set)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	CHECK(d);
	memset(set, 0, sizeof(*set));
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d))
			continue;
		CHECK(fd < MAX_FD);
		set->bits[fd / 64] |= UINT64_C(1) << (fd % 64);
	}
	closedir(d);
}

/* Every fd open before is still open (none closed twice), and none more is. */
static void check_fds(const struct fd_set_bits *before)
{
	struct fd_set_bits after;
	bool same = true;

	open_fds(&after);
	for (int fd = 0; fd < MAX_FD; fd++) {
		bool was = before->bits[fd / 64] >> (fd % 64) & 1;
		bool is = after.bits[fd / 64] >> (fd % 64) & 1;
		char path[64], target[256] = "?";
		ssize_t n;

		if (was == is)
			continue;
		same = false;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 1] = '\0';
		fprintf(stderr, "fuzz_vhost: fd %d (%s) %s during the input\n", fd, target,
			is ? "was left open" : "was closed by someone else");
	}
	CHECK(same);
}

/* An image of IMAGE_SECTORS sectors whose sector i is filled with byte i. */
static void open_image(struct blk_dev *b, bool read_only)
{
	uint8_t sector[VIRTIO_BLK_SECTOR];

	memset(b, 0, sizeof(*b));
	b->fd = memfd_create("fuzz_vhost_image", MFD_CLOEXEC);
	CHECK(b->fd >= 0);
	for (unsigned int i = 0; i < IMAGE_SECTORS; i++) {
		memset(sector, (int)i, sizeof(sector));
		CHECK(pwrite(b->fd, sector, sizeof(sector), (off_t)i * VIRTIO_BLK_SECTOR) ==
		      (ssize_t)sizeof(sector));
	}
	b->capacity = IMAGE_SECTORS;
	b->read_only = read_only;
	memcpy(b->id, "fuzz-image", 10);
}

/*
 * One fd for a message, from two input bytes: kind (low 2 bits of the first) and size in
 * pages (the rest) for memfds, and how many input bytes go at the start of the file.
 */
static int make_fd(struct input *in)
{
	uint8_t spec = u8(in);
	size_t fill = u8(in);
	const uint8_t *bytes;
	int fd, pipefd[2];

	switch (spec & 3) {
	case 0: /* memfd sealed against shrinking, as QEMU's memfd backend */
	case 1: /* memfd without seals (refused unless --allow-unsealed) */
		fd = memfd_create("fuzz_vhost", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		CHECK(fd >= 0);
		CHECK(ftruncate(fd, (off_t)(spec >> 2) * 4096) == 0);
		bytes = take(in, &fill);
		if (fill && (spec >> 2))
			CHECK(pwrite(fd, bytes, fill, 0) == (ssize_t)fill);
		if ((spec & 3) == 0)
			CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
		return fd;
	case 2:
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		CHECK(fd >= 0);
		return fd;
	default: /* a kick fd that hangs up at once */
		CHECK(pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) == 0);
		close(pipefd[1]);
		return pipefd[0];
	}
}

/* ---- target 1: messages through vu_serve() ---- */

struct vu_hdr {
	uint32_t request, flags, size;
};

/* Send one message; false if the socket took nothing more (then stop). */
static bool send_message(int sock, const struct vu_hdr *h, const void *payload, size_t len,
			 const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov[2] = {
		{ .iov_base = (void *)(uintptr_t)h, .iov_len = sizeof(*h) },
		{ .iov_base = (void *)(uintptr_t)payload, .iov_len = len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (nfds) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n == (ssize_t)(sizeof(*h) + len);
}

/* The front-end side reads the replies while the backend runs, as a real one would: a
 * stream re-framed by a lying size can make the backend answer far more messages than were
 * sent, more than a socket buffer holds, and its sends must never wait for us. */
struct replies {
	int sock;
	uint8_t *buf;
	size_t len;
	bool overflow;
};

#define REPLY_BUF (1024 * 1024)
static uint8_t reply_buf[REPLY_BUF];

static void *drain_replies(void *arg)
{
	struct replies *r = arg;
	uint8_t scratch[4096];
	ssize_t n;

	for (;;) {
		size_t room = REPLY_BUF - r->len;

		n = recv(r->sock, room ? r->buf + r->len : scratch, room ? room : sizeof(scratch), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (room)
			r->len += (size_t)n;
		else
			r->overflow = true;
	}
	/* The backend closed its end: EOF, or a reset when it left messages unread (after
	 * dropping the connection). */
	CHECK(n == 0 || errno == ECONNRESET);
	return NULL;
}

/* Each reply is a header with the reply flag and version 1 and a payload of at most a
 * config space (12 + 256 bytes), nothing left over; with every message framed as sent,
 * there is at most one reply per message. */
static void check_replies(const struct replies *r, unsigned int sent, bool framed)
{
	size_t off = 0;
	unsigned int replies = 0;

	CHECK(!r->overflow);
	while (off < r->len) {
		struct vu_hdr h;

		CHECK(r->len - off >= sizeof(h));
		memcpy(&h, r->buf + off, sizeof(h));
		CHECK(h.flags == (0x1u | 0x4u));
		CHECK(h.size <= 12 + 256 && r->len - off - sizeof(h) >= h.size);
		off += sizeof(h) + h.size;
		replies++;
	}
	CHECK(!framed || replies <= sent);
}

static void fuzz_messages(struct input *in)
{
	uint8_t o1 = u8(in), o2 = u8(in);
	struct vu_options opt = {
		.num_queues = 1u + o1 % VUB_MAX_QUEUES,
		.max_mem_slots = 1u + (o1 >> 3) % 8u,
		.allow_unsealed = o2 & 1,
	};
	volatile sig_atomic_t quit = 0;
	static uint8_t payload[MAX_PAYLOAD];
	unsigned int sent = 0, fds_total = 0;
	struct replies replies = { .buf = NULL };
	bool framed = true;
	struct blk_dev blk;
	pthread_t reader;
	enum vu_end end;
	int sv[2];

	logcheck_enabled = o2 & 2;
	open_image(&blk, o2 & 4);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	while (in->n && sent < MAX_MESSAGES) {
		uint8_t ctl = u8(in);
		struct vu_hdr h = { .request = u8(in), .flags = 0x1u };
		size_t len = u8(in);
		int fds[15];
		unsigned int nfds = ctl & 0x0f;
		const uint8_t *bytes;
		bool ok;

		if (ctl & 0x10)
			h.flags |= 0x8u; /* NEED_REPLY */
		if (ctl & 0x20)
			h.flags = u8(in); /* any version and flag bits */
		if (ctl & 0x40)
			len |= (size_t)u8(in) << 8;
		if (len > MAX_PAYLOAD)
			len = MAX_PAYLOAD;
		bytes = take(in, &len);
		memcpy(payload, bytes, len);
		h.size = (uint32_t)len;
		if (ctl & 0x80) {
			h.size = (uint32_t)un(in, 4); /* a size that lies about the payload */
			framed &= h.size == len;
		}
		if (fds_total + nfds > MAX_FDS_TOTAL)
			nfds = 0;
		for (unsigned int i = 0; i < nfds; i++)
			fds[i] = make_fd(in);
		ok = send_message(sv[0], &h, payload, len, fds, nfds);
		for (unsigned int i = 0; i < nfds; i++)
			close(fds[i]); /* in flight, the kernel holds them */
		if (!ok)
			break;
		fds_total += nfds;
		sent++;
	}
	CHECK(shutdown(sv[0], SHUT_WR) == 0);
	replies.sock = sv[0];
	replies.buf = reply_buf;
	CHECK(pthread_create(&reader, NULL, drain_replies, &replies) == 0);
	end = vu_serve(sv[1], &opt, &blk, NULL, &quit); /* closes sv[1] */
	CHECK(end == VU_END_DISCONNECT);
	CHECK(pthread_join(reader, NULL) == 0);
	check_replies(&replies, sent, framed);
	close(sv[0]);
	blk_close(&blk);
	logcheck_enabled = false;
}

/* ---- target 2: vring_process() over guest memory from the input ---- */

#define MEM_A_SIZE 0x10000u
#define MEM_B_GPA 0x20000u
#define MEM_B_SIZE 0x4000u
#define LOG_BYTES 64u /* covers GPA [0, 2 MiB) */

static uint8_t *host_a, *host_b;
static uint64_t log_buf[LOG_BYTES / 8];

static int read_used_idx(const struct vmmem_memory *m, uint64_t gpa, uint16_t *idx)
{
	uint16_t raw;
	int rc = vmmem_memory_load_u16(m, gpa, VMMEM_ORDER_RELAXED, &raw);

	*idx = vmmem_le16_to_cpu_raw(raw);
	return rc;
}

static void fuzz_rings(struct input *in)
{
	uint8_t f = u8(in);
	uint16_t num = (uint16_t)(1u << (u8(in) % 11u));
	uint64_t desc = un(in, 4), avail = un(in, 4), used = un(in, 4), log_gpa = un(in, 4);
	uint16_t last_avail = (uint16_t)un(in, 2), start_avail;
	unsigned int rounds = 1u + u8(in) % 4u;
	/* IOMMU: bit 0 on (IOVA = GPA for region A only, so B's buffers miss and their chains
	 * wait), bit 1 region A read-only in the IOTLB. */
	uint8_t g = u8(in);
	struct vmmem_atomic *atomic = NULL;
	struct vmmem_iotlb *tlb = NULL;
	struct vmmem_iommu *io = NULL;
	struct vmmem_region *regions[2] = { NULL, NULL };
	struct vmmem_memory *m = NULL, *logged = NULL;
	struct vmmem_vhost_log *vlog = NULL;
	struct blk_dev blk;
	struct vring vq;
	size_t len = MEM_A_SIZE;
	const uint8_t *bytes;

	if (!host_a) {
		host_a = mmap(NULL, MEM_A_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		host_b = mmap(NULL, MEM_B_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(host_a != MAP_FAILED && host_b != MAP_FAILED);
	}
	bytes = take(in, &len);
	memcpy(host_a, bytes, len);
	memset(host_a + len, 0, MEM_A_SIZE - len);
	memset(host_b, 0xee, MEM_B_SIZE);
	memset(log_buf, 0, sizeof(log_buf));

	CHECK(vmmem_region_new(&regions[0], 0, MEM_A_SIZE, host_a, 0) == 0);
	CHECK(vmmem_region_new(&regions[1], MEM_B_GPA, MEM_B_SIZE, host_b,
			       f & 2 ? VMMEM_REGION_READ_ONLY : 0) == 0);
	if (f & 0x10)
		CHECK(vmmem_region_dirty_enable(regions[0], 0) == 0);
	CHECK(vmmem_memory_new(&m, regions, 2) == 0);
	logcheck_enabled = f & 0x40;
	if (f & 4) {
		CHECK(vmmem_vhost_log_new(&vlog, log_buf, LOG_BYTES, NULL, NULL) == 0);
		CHECK(vmmem_memory_set_vhost_log(m, vlog, &logged) == 0);
		vmmem_memory_unref(m);
		m = logged;
		logcheck_set_log(vlog, (const uint8_t *)log_buf);
	}
	open_image(&blk, f & 0x20);
	CHECK(vmmem_atomic_new(&atomic, m) == 0 && vmmem_iotlb_new(&tlb, 16, 0) == 0 &&
	      vmmem_iommu_new(&io, atomic, tlb) == 0 && vmmem_iommu_set_enabled(io, g & 1) == 0);
	CHECK(vmmem_iotlb_update(tlb, 0, MEM_A_SIZE, 0,
				 g & 2 ? VMMEM_ACCESS_READ : VMMEM_ACCESS_RW) == 0);

	CHECK(vring_init(&vq, 0) == 0);
	pthread_mutex_lock(&vq.lock);
	vq.num = num;
	vq.desc_gpa = desc;
	vq.avail_gpa = avail;
	vq.used_gpa = used;
	vq.log_gpa = log_gpa;
	vq.log_used = f & 8;
	vq.indirect = f & 1;
	vq.addr_set = vq.started = vq.enabled = true;
	vq.last_avail_idx = start_avail = last_avail;
	if (f & 0x80) {
		vq.call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vq.err_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		CHECK(vq.call_fd >= 0 && vq.err_fd >= 0);
	}
	for (unsigned int i = 0, total = 0; i < rounds; i++) {
		unsigned int done = vring_process(&vq, m, io, blk_handle_chain, &blk);
		uint16_t idx;

		/* At most one ring's worth per call, and the index moved by exactly that. */
		CHECK(done <= num);
		total += done;
		CHECK(vq.last_avail_idx == (uint16_t)(start_avail + total));
		if (done && !vq.broken) {
			/* used->idx was published (a failure would have broken the ring). */
			CHECK(read_used_idx(m, used + 2, &idx) == 0 && idx == vq.used_idx);
		}
		if (!done || vq.broken)
			break;
	}
	pthread_mutex_unlock(&vq.lock);
	vring_destroy(&vq);

	blk_close(&blk);
	vmmem_iommu_unref(io);
	vmmem_iotlb_unref(tlb);
	vmmem_atomic_unref(atomic);
	logcheck_set_log(NULL, NULL);
	logcheck_enabled = false;
	vmmem_vhost_log_unref(vlog);
	vmmem_memory_unref(m);
	vmmem_region_unref(regions[0]);
	vmmem_region_unref(regions[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	static struct fd_set_bits before;

	open_fds(&before);
	if (u8(&in) & 1)
		fuzz_rings(&in);
	else
		fuzz_messages(&in);
	check_fds(&before);
	return 0;
}
