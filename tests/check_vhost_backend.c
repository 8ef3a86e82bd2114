/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * examples/vhost-user-blk as a real process, driven by this suite acting as the vhost-user
 * front-end (the part QEMU plays): the suite makes guest memory with libvmmem (memfd
 * regions shared through vmmem_region_to_vhost), lays out a split virtqueue in it, submits
 * virtio-blk requests and checks the bytes in guest memory and in the image file; then it
 * sends malformed input of every kind the backend must survive and checks the answer
 * (a refusing REPLY_ACK, an IOERR status, a stopped queue, or a clean disconnect) and that
 * the backend is still alive. Each test starts its own backend (fork + exec of
 * $VMMEM_TEST_BINARY_DIR/../examples/vhost-user-blk/vmmem-vhost-user-blk) and ends it with
 * SIGTERM, expecting exit status 0. Every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---- protocol (from QEMU docs/interop/vhost-user.rst) ---- */

enum {
	GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, SET_MEM_TABLE = 5, SET_LOG_BASE = 6,
	SET_VRING_NUM = 8, SET_VRING_ADDR = 9, SET_VRING_BASE = 10, GET_VRING_BASE = 11,
	SET_VRING_KICK = 12, SET_VRING_CALL = 13, SET_VRING_ERR = 14,
	GET_PROTOCOL_FEATURES = 15, SET_PROTOCOL_FEATURES = 16, GET_QUEUE_NUM = 17,
	SET_VRING_ENABLE = 18, GET_CONFIG = 24, SET_CONFIG = 25, GET_MAX_MEM_SLOTS = 36,
	ADD_MEM_REG = 37, REM_MEM_REG = 38, SET_BACKEND_REQ_FD = 21, IOTLB_MSG = 22,
};

#define F_VERSION 0x1u
#define F_REPLY (1u << 2)
#define F_NEED_REPLY (1u << 3)
#define BIT(n) (UINT64_C(1) << (n))

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VHOST_F_LOG_ALL 26
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_IOMMU_PLATFORM 33

#define PROTO_MQ 0
#define PROTO_LOG_SHMFD 1
#define PROTO_REPLY_ACK 3
#define PROTO_BACKEND_REQ 5
#define PROTO_CONFIG 9
#define PROTO_CONFIGURE_MEM_SLOTS 15

#define DESC_F_NEXT 1u
#define DESC_F_WRITE 2u
#define DESC_F_INDIRECT 4u

#define T_IN 0u
#define T_OUT 1u
#define T_FLUSH 4u
#define T_GET_ID 8u
#define S_OK 0u
#define S_IOERR 1u
#define S_UNSUPP 2u

struct vu_hdr {
	uint32_t request, flags, size;
};

struct vu_state {
	uint32_t index, num;
};

struct vu_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};

/* ---- the guest this suite plays ---- */

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define MEM0_GPA 0
#define MEM1_GPA MiB              /* adjacent to region 0 */
#define MEM_SIZE MiB
#define IMG_SECTORS 2048u         /* 1 MiB image */
#define QSZ 16u

/* Layout inside region 0 (guest-physical addresses). */
#define DESC_GPA 0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA 0x3000u
#define HDR_GPA 0x4000u
#define STATUS_GPA 0x5000u
#define INDIRECT_GPA 0x6000u
#define DATA_GPA 0x10000u
#define DATA1_GPA (MEM1_GPA + 0x10000u) /* a buffer in region 1 */
#define OUTSIDE_GPA (UINT64_C(64) << 20) /* in no region */

#define TIMEOUT_MS 20000 /* generous: this suite may run under valgrind */

/* The queue being driven: its index and where its rings live. */
static struct {
	uint32_t index;
	uint64_t desc, avail, used;
} q;

static struct {
	char dir[64], sock[128], img[128];
	char errlog[128]; /* the backend's stderr goes here when set (start_backend) */
	pid_t pid;
	int conn;
	struct vmmem_ctx *ctx;
	struct vmmem_region *region[2];
	struct vmmem_memory *mem; /* both regions: the guest's own view */
	int kick, call, err;
	uint16_t avail_idx, used_seen;
} fe;

static uint8_t img_byte(uint64_t off)
{
	return (uint8_t)((off * 131) ^ (off >> 9) ^ 0x5a);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- backend process ---- */

static bool backend_alive(void)
{
	int status;

	return fe.pid > 0 && waitpid(fe.pid, &status, WNOHANG) == 0;
}

static void backend_path(char *buf, size_t size)
{
	const char *dir = getenv("VMMEM_TEST_BINARY_DIR");

	ck_assert_msg(dir, "VMMEM_TEST_BINARY_DIR is not set (run through ctest)");
	ck_assert_int_lt(snprintf(buf, size, "%s/../examples/vhost-user-blk/vmmem-vhost-user-blk",
				  dir), (int)size);
	ck_assert_msg(access(buf, X_OK) == 0, "backend not built: %s", buf);
}

static int connect_socket(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(fe.sock), sizeof(addr.sun_path));
	memcpy(addr.sun_path, fe.sock, strlen(fe.sock) + 1);
	for (int waited = 0; waited < TIMEOUT_MS; waited += 10) {
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		ck_assert_msg(backend_alive(), "the backend exited before accepting");
		sleep_ms(10);
	}
	close(fd);
	ck_abort_msg("could not connect to %s", fe.sock);
	return -1;
}

/* Start the backend with extra options (NULL-terminated) and connect to it. */
static void start_backend(const char *const *extra)
{
	char path[PATH_MAX];
	const char *argv[16];
	int argc = 0;

	backend_path(path, sizeof(path));
	argv[argc++] = path;
	argv[argc++] = "--socket-path";
	argv[argc++] = fe.sock;
	argv[argc++] = "--blk-file";
	argv[argc++] = fe.img;
	for (; extra && *extra && argc < 15; extra++)
		argv[argc++] = *extra;
	argv[argc] = NULL;
	fflush(NULL);
	fe.pid = fork();
	ck_assert_int_ge(fe.pid, 0);
	if (fe.pid == 0) {
		/* Never outlive the suite, even if a failed assertion skips the teardown. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fe.errlog[0]) {
			int fd = open(fe.errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

			if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
				_exit(126);
		}
		execv(path, (char *const *)argv);
		_exit(127);
	}
	fe.conn = connect_socket();
}

/* SIGTERM, then reap within the timeout; returns the wait status (or -1 if it was killed). */
static int stop_backend(void)
{
	int status = -1;

	if (fe.pid <= 0)
		return 0;
	kill(fe.pid, SIGTERM);
	for (int waited = 0; waited < TIMEOUT_MS; waited += 10) {
		pid_t w = waitpid(fe.pid, &status, WNOHANG);

		if (w == fe.pid) {
			fe.pid = 0;
			return status;
		}
		sleep_ms(10);
	}
	kill(fe.pid, SIGKILL);
	waitpid(fe.pid, &status, 0);
	fe.pid = 0;
	return -1;
}

/* ---- messages ---- */

static void send_msg_flags(uint32_t req, uint32_t flags, const void *payload, uint32_t size,
			   const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct vu_hdr hdr = { req, flags, size };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)(uintptr_t)payload, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	ssize_t n;

	ck_assert_uint_le(nfds, 16);
	memset(&control, 0, sizeof(control));
	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	n = sendmsg(fe.conn, &mh, MSG_NOSIGNAL);
	ck_assert_msg(n == (ssize_t)(sizeof(hdr) + size), "sendmsg: %zd (%s)", n, strerror(errno));
}

static void send_msg(uint32_t req, const void *payload, uint32_t size, const int *fds,
		     unsigned int nfds)
{
	send_msg_flags(req, F_VERSION, payload, size, fds, nfds);
}

/* Read exactly len bytes within the timeout; returns bytes read (short on EOF/timeout). */
static size_t read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	for (int waited = 0; got < len && waited < timeout_ms; waited += 100) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, (uint8_t *)buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Receive the reply to req; returns its payload size. */
static uint32_t recv_reply(uint32_t req, void *payload, uint32_t max)
{
	struct vu_hdr hdr;

	ck_assert_msg(read_full(fe.conn, &hdr, sizeof(hdr), TIMEOUT_MS) == sizeof(hdr),
		      "no reply to request %u (backend %s)", req,
		      backend_alive() ? "alive" : "gone");
	ck_assert_uint_eq(hdr.request, req);
	ck_assert_uint_eq(hdr.flags, F_VERSION | F_REPLY);
	ck_assert_uint_le(hdr.size, max);
	ck_assert_uint_eq(read_full(fe.conn, payload, hdr.size, TIMEOUT_MS), hdr.size);
	return hdr.size;
}

static uint64_t get_u64(uint32_t req)
{
	uint64_t v = 0;

	send_msg(req, NULL, 0, NULL, 0);
	ck_assert_uint_eq(recv_reply(req, &v, sizeof(v)), sizeof(v));
	return v;
}

/* Send with NEED_REPLY; returns the REPLY_ACK status (0 = accepted). */
static uint64_t ack_fds(uint32_t req, const void *payload, uint32_t size, const int *fds,
			unsigned int nfds)
{
	uint64_t status = UINT64_MAX;

	send_msg_flags(req, F_VERSION | F_NEED_REPLY, payload, size, fds, nfds);
	ck_assert_uint_eq(recv_reply(req, &status, sizeof(status)), sizeof(status));
	return status;
}

static uint64_t ack(uint32_t req, const void *payload, uint32_t size)
{
	return ack_fds(req, payload, size, NULL, 0);
}

static void expect_ok(uint32_t req, const void *payload, uint32_t size)
{
	ck_assert_msg(ack(req, payload, size) == 0, "request %u refused", req);
}

/* The backend is alive and still answers. */
static void expect_responsive(void)
{
	ck_assert_msg(backend_alive(), "the backend died");
	ck_assert_uint_ne(get_u64(GET_FEATURES), 0);
}

/* The backend closed this connection (EOF within the timeout). */
static void expect_disconnect(void)
{
	char c;

	ck_assert_msg(read_full(fe.conn, &c, 1, TIMEOUT_MS) == 0,
		      "the backend kept the connection open");
	close(fe.conn);
	fe.conn = -1;
}

/* ---- guest memory ---- */

static struct vmmem_region *create_region(const char *spec)
{
	struct vmmem_region *r = NULL;
	int rc = vmmem_region_create(&r, fe.ctx, spec);

	ck_assert_msg(rc == 0, "%s: %s", spec, vmmem_errormsg());
	return r;
}

static struct vmmem_vhost_region vhost_desc(struct vmmem_region *r, int *fd)
{
	struct vmmem_vhost_region d;

	ck_assert_int_eq(vmmem_region_to_vhost(r, &d, fd), 0);
	return d;
}

static uint64_t qva_of(uint64_t gpa)
{
	int i = gpa >= MEM1_GPA ? 1 : 0;

	return (uint64_t)(uintptr_t)vmmem_region_host(fe.region[i]) +
	       (gpa - vmmem_region_gpa(fe.region[i]));
}

static void guest_write(uint64_t gpa, const void *buf, size_t len)
{
	ck_assert_int_eq(vmmem_memory_write_exact(fe.mem, gpa, buf, len, NULL), 0);
}

static void guest_read(uint64_t gpa, void *buf, size_t len)
{
	ck_assert_int_eq(vmmem_memory_read_exact(fe.mem, gpa, buf, len, NULL), 0);
}

static void guest_fill(uint64_t gpa, uint8_t byte, size_t len)
{
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	memset(buf, byte, len);
	guest_write(gpa, buf, len);
	free(buf);
}

/* ---- fixture ---- */

/* The temporary directory belongs to an unchecked fixture: it runs in the parent process
 * (in CK_FORK mode), so the directory is removed even when a failed assertion ends a test
 * before its teardown; the backend dies with the test process (PDEATHSIG). */
static char tmpdir[64];

static void remove_tmpdir(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/disk.img", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/vhost.sock", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/backend.err", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmmem-vub-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void setup(void)
{
	uint8_t *buf = malloc(IMG_SECTORS * 512u);
	struct vmmem_region *both[2];
	int fd;

	memset(&fe, 0, sizeof(fe));
	fe.conn = fe.kick = fe.call = fe.err = -1;
	q.index = 0;
	q.desc = DESC_GPA;
	q.avail = AVAIL_GPA;
	q.used = USED_GPA;
	snprintf(fe.dir, sizeof(fe.dir), "%s", tmpdir);
	snprintf(fe.sock, sizeof(fe.sock), "%s/vhost.sock", fe.dir);
	snprintf(fe.img, sizeof(fe.img), "%s/disk.img", fe.dir);
	ck_assert_ptr_nonnull(buf);
	for (uint64_t i = 0; i < IMG_SECTORS * 512u; i++)
		buf[i] = img_byte(i);
	fd = open(fe.img, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, IMG_SECTORS * 512u), (ssize_t)(IMG_SECTORS * 512u));
	close(fd);
	free(buf);

	ck_assert_int_eq(vmmem_ctx_new(&fe.ctx), 0);
	fe.region[0] = create_region("memfd:gpa=0,size=1M");
	fe.region[1] = create_region("memfd:gpa=1M,size=1M");
	both[0] = fe.region[0];
	both[1] = fe.region[1];
	ck_assert_int_eq(vmmem_memory_new(&fe.mem, both, 2), 0);
	fe.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fe.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fe.err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert(fe.kick >= 0 && fe.call >= 0 && fe.err >= 0);
}

static void teardown(void)
{
	int status;

	if (fe.conn >= 0)
		close(fe.conn);
	fe.conn = -1;
	status = stop_backend();
	/* A clean exit also means no leak report under AddressSanitizer. */
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "backend ended with wait status 0x%x", (unsigned int)status);
	ck_assert_msg(access(fe.sock, F_OK) != 0, "the backend left its socket behind");
	close(fe.kick);
	close(fe.call);
	close(fe.err);
	fe.mem = vmmem_memory_unref(fe.mem);
	fe.region[0] = vmmem_region_unref(fe.region[0]);
	fe.region[1] = vmmem_region_unref(fe.region[1]);
	fe.ctx = vmmem_ctx_unref(fe.ctx);
	unlink(fe.img);
}

/* ---- device setup, as QEMU does it ---- */

static const uint64_t want_protocol = BIT(PROTO_LOG_SHMFD) | BIT(PROTO_REPLY_ACK) |
				      BIT(PROTO_CONFIG) | BIT(PROTO_CONFIGURE_MEM_SLOTS);

static uint64_t negotiate(uint64_t extra_features)
{
	uint64_t features = get_u64(GET_FEATURES), acked;

	ck_assert(features & BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	send_msg(SET_OWNER, NULL, 0, NULL, 0);
	ck_assert_uint_eq(get_u64(GET_PROTOCOL_FEATURES) & want_protocol, want_protocol);
	send_msg(SET_PROTOCOL_FEATURES, &want_protocol, sizeof(want_protocol), NULL, 0);
	acked = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
		BIT(VHOST_USER_F_PROTOCOL_FEATURES) | extra_features;
	expect_ok(SET_FEATURES, &acked, sizeof(acked));
	return features;
}

/* SET_MEM_TABLE with the given regions (their own fds). */
static uint64_t set_mem_table(struct vmmem_region *const *regions, unsigned int n)
{
	uint8_t payload[8 + 8 * 32] = { 0 };
	int fds[8];

	memcpy(payload, &n, sizeof(n));
	for (unsigned int i = 0; i < n; i++) {
		struct vmmem_vhost_region d = vhost_desc(regions[i], &fds[i]);

		memcpy(payload + 8 + 32 * i, &d, sizeof(d));
	}
	return ack_fds(SET_MEM_TABLE, payload, 8 + 32 * n, fds, n);
}

static uint64_t mem_reg(uint32_t req, const struct vmmem_vhost_region *d, int fd)
{
	uint8_t payload[40] = { 0 };

	memcpy(payload + 8, d, sizeof(*d));
	return ack_fds(req, payload, sizeof(payload), &fd, fd >= 0 ? 1 : 0);
}

static uint64_t add_region(struct vmmem_region *r)
{
	int fd;
	struct vmmem_vhost_region d = vhost_desc(r, &fd);

	return mem_reg(ADD_MEM_REG, &d, fd);
}

static uint64_t rem_region(struct vmmem_region *r, bool with_fd)
{
	int fd;
	struct vmmem_vhost_region d = vhost_desc(r, &fd);

	return mem_reg(REM_MEM_REG, &d, with_fd ? fd : -1);
}

static uint64_t vring_fd(uint32_t req, int fd)
{
	uint64_t v = q.index;

	return ack_fds(req, &v, sizeof(v), &fd, 1);
}

/* SET_VRING_ADDR with log_guest_addr log_gpa (flags 1: VHOST_VRING_F_LOG). */
static uint64_t set_vring_addr_log(uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
				   uint32_t flags, uint64_t log_gpa)
{
	struct vu_addr a = { .index = q.index, .flags = flags, .desc = qva_of(desc_gpa),
			     .used = qva_of(used_gpa), .avail = qva_of(avail_gpa),
			     .log = log_gpa };

	return ack(SET_VRING_ADDR, &a, sizeof(a));
}

/* As QEMU does it: the log address is the used ring's GPA. */
static uint64_t set_vring_addr(uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
			       uint32_t flags)
{
	return set_vring_addr_log(desc_gpa, avail_gpa, used_gpa, flags, used_gpa);
}

/* Store a ring index as the driver does: little-endian, with release. */
static void ring_store16(uint64_t gpa, uint16_t v)
{
	ck_assert_int_eq(vmmem_memory_store_u16(fe.mem, gpa, vmmem_cpu_to_le16(v),
						VMMEM_ORDER_RELEASE),
			 0);
}

/* Queue q (rings in region 0) started and enabled at base. */
static void start_queue(uint16_t base)
{
	struct vu_state num = { q.index, QSZ }, st = { q.index, base }, en = { q.index, 1 };
	uint16_t idx = base;

	/* The driver's view: avail and used indices at base. */
	ring_store16(q.avail + 2, idx);
	ring_store16(q.used + 2, idx);
	fe.avail_idx = fe.used_seen = base;
	expect_ok(SET_VRING_NUM, &num, sizeof(num));
	expect_ok(SET_VRING_BASE, &st, sizeof(st));
	ck_assert_uint_eq(set_vring_addr(q.desc, q.avail, q.used, 0), 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_CALL, fe.call), 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_ERR, fe.err), 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_KICK, fe.kick), 0);
	expect_ok(SET_VRING_ENABLE, &en, sizeof(en));
}

/* A backend with region 0 (and 1) installed by SET_MEM_TABLE and queue 0 running. */
static void ready_device(const char *const *extra)
{
	start_backend(extra);
	negotiate(0);
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);
	start_queue(0);
}

/* ---- the driver side of the ring ---- */

static void put_desc_at(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
			uint16_t next)
{
	/* Virtio rings are little-endian whatever the host (the suites run on s390x too). */
	uint64_t le_addr = vmmem_cpu_to_le64(addr);
	uint32_t le_len = vmmem_cpu_to_le32(len);
	uint16_t le_flags = vmmem_cpu_to_le16(flags), le_next = vmmem_cpu_to_le16(next);
	uint8_t d[16];

	memcpy(d, &le_addr, 8);
	memcpy(d + 8, &le_len, 4);
	memcpy(d + 12, &le_flags, 2);
	memcpy(d + 14, &le_next, 2);
	guest_write(table + 16u * i, d, sizeof(d));
}

static void put_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	put_desc_at(q.desc, i, addr, len, flags, next);
}

/* Make head available and kick. */
static void submit(uint16_t head)
{
	uint64_t one = 1;
	uint16_t le_head = vmmem_cpu_to_le16(head);

	guest_write(q.avail + 4 + 2u * (fe.avail_idx % QSZ), &le_head, 2);
	fe.avail_idx++;
	ring_store16(q.avail + 2, fe.avail_idx);
	ck_assert_int_eq(write(fe.kick, &one, sizeof(one)), (ssize_t)sizeof(one));
}

static bool wait_fd(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, timeout_ms) != 1)
		return false;
	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

/* Wait for the next used element; false on timeout. */
static bool try_wait_used(uint32_t *id, uint32_t *len, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		uint16_t used_idx;

		ck_assert_int_eq(vmmem_memory_load_u16(fe.mem, q.used + 2, VMMEM_ORDER_ACQUIRE,
						       &used_idx), 0);
		used_idx = vmmem_le16_to_cpu_raw(used_idx);
		if (used_idx != fe.used_seen) {
			uint32_t elem[2];

			guest_read(q.used + 4 + 8u * (fe.used_seen % QSZ), elem, sizeof(elem));
			fe.used_seen++;
			*id = vmmem_le32_to_cpu_raw(elem[0]);
			*len = vmmem_le32_to_cpu_raw(elem[1]);
			return true;
		}
		wait_fd(fe.call, 50);
	}
	return false;
}

static uint32_t wait_used(uint16_t head)
{
	uint32_t id = 0, len = 0;

	ck_assert_msg(try_wait_used(&id, &len, TIMEOUT_MS),
		      "request %u never completed (backend %s)", head,
		      backend_alive() ? "alive" : "gone");
	ck_assert_uint_eq(id, head);
	return len;
}

static uint8_t status_byte(void)
{
	uint8_t s;

	guest_read(STATUS_GPA, &s, 1);
	return s;
}

static void put_header(uint32_t type, uint64_t sector)
{
	uint8_t h[16] = { 0 };

	type = vmmem_cpu_to_le32(type);
	sector = vmmem_cpu_to_le64(sector);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	guest_write(HDR_GPA, h, sizeof(h));
}

/*
 * One request as three descriptors (header, data, status) at descriptors 0..2; data_len 0
 * leaves the data descriptor out. Returns the status byte; *used_len gets the used length.
 */
static uint8_t blk_request(uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t data_len,
			   uint32_t *used_len)
{
	bool device_writes = type == T_IN || type == T_GET_ID;
	uint32_t len;

	put_header(type, sector);
	guest_fill(STATUS_GPA, 0xee, 1);
	if (data_len) {
		uint16_t data_flags = DESC_F_NEXT | (device_writes ? DESC_F_WRITE : 0);

		put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 1);
		put_desc(1, data_gpa, data_len, data_flags, 2);
	} else {
		put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 2);
	}
	put_desc(2, STATUS_GPA, 1, DESC_F_WRITE, 0);
	submit(0);
	len = wait_used(0);
	if (used_len)
		*used_len = len;
	return status_byte();
}

/* Guest [gpa, gpa + len) holds the image bytes from sector on. */
static void expect_image_in_guest(uint64_t gpa, uint64_t sector, size_t len)
{
	uint8_t *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	guest_read(gpa, buf, len);
	for (size_t i = 0; i < len; i++)
		ck_assert_msg(buf[i] == img_byte(sector * 512 + i),
			      "guest byte at 0x%llx is 0x%02x, image byte 0x%02x",
			      (unsigned long long)(gpa + i), buf[i], img_byte(sector * 512 + i));
	free(buf);
}

/* The image file at sector holds len bytes of value byte (or the seed pattern if byte < 0). */
static void expect_image_bytes(uint64_t sector, size_t len, int byte)
{
	uint8_t *buf = malloc(len);
	int fd = open(fe.img, O_RDONLY | O_CLOEXEC);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, (off_t)(sector * 512)), (ssize_t)len);
	close(fd);
	for (size_t i = 0; i < len; i++) {
		uint8_t want = byte >= 0 ? (uint8_t)byte : img_byte(sector * 512 + i);

		ck_assert_msg(buf[i] == want, "image byte at 0x%llx is 0x%02x, expected 0x%02x",
			      (unsigned long long)(sector * 512 + i), buf[i], want);
	}
	free(buf);
}

/* The queue was stopped as broken: the err eventfd fires, nothing is used. */
static void expect_queue_broken(void)
{
	uint32_t id, len;

	ck_assert_msg(wait_fd(fe.err, TIMEOUT_MS), "the err eventfd was not signalled");
	ck_assert_msg(!try_wait_used(&id, &len, 200), "a broken chain was completed");
	expect_responsive();
}

/* ---- the device IOTLB (VIRTIO_F_IOMMU_PLATFORM) ---- */

/* The IOVA the guest's vIOMMU gives guest-physical address gpa in these tests. */
#define IOVA_OFF UINT64_C(0x80000000)

struct iotlb_msg {
	uint64_t iova, size, uaddr;
	uint8_t perm, type, pad[6];
};

/* IOTLB_MSG with NEED_REPLY (QEMU sets it once REPLY_ACK is negotiated): the ack. */
static uint64_t iotlb_msg(uint8_t type, uint64_t iova, uint64_t size, uint64_t uaddr,
			  uint8_t perm)
{
	struct iotlb_msg m = { .iova = iova, .size = size, .uaddr = uaddr, .perm = perm,
			       .type = type };

	return ack(IOTLB_MSG, &m, sizeof(m));
}

/* The next IOTLB miss the backend sends on the backend channel. */
static struct iotlb_msg expect_miss(int chan)
{
	struct vu_hdr hdr;
	struct iotlb_msg m;

	ck_assert_msg(read_full(chan, &hdr, sizeof(hdr), TIMEOUT_MS) == sizeof(hdr),
		      "no IOTLB miss on the backend channel");
	ck_assert_uint_eq(hdr.request, 1); /* VHOST_USER_BACKEND_IOTLB_MSG */
	ck_assert_uint_eq(hdr.flags, F_VERSION);
	ck_assert_uint_eq(hdr.size, sizeof(m));
	ck_assert_uint_eq(read_full(chan, &m, sizeof(m), TIMEOUT_MS), sizeof(m));
	ck_assert_uint_eq(m.type, 1); /* MISS */
	return m;
}

/* Drop the misses sent so far (a batch retried after each update may ask again for a
 * page another update is about to map). */
static void drain_misses(int chan)
{
	uint8_t buf[256];

	for (;;) {
		struct pollfd p = { .fd = chan, .events = POLLIN };

		if (poll(&p, 1, 50) <= 0 || read(chan, buf, sizeof(buf)) <= 0)
			return;
	}
}

/* A request whose descriptors hold IOVAs (header, 512-byte data, status). */
static void submit_iova_request(uint32_t type, uint64_t sector)
{
	uint16_t data_flags = DESC_F_NEXT | (type == T_IN ? DESC_F_WRITE : 0);

	put_header(type, sector);
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc(0, HDR_GPA + IOVA_OFF, 16, DESC_F_NEXT, 1);
	put_desc(1, DATA_GPA + IOVA_OFF, 512, data_flags, 2);
	put_desc(2, STATUS_GPA + IOVA_OFF, 1, DESC_F_WRITE, 0);
	submit(0);
}

START_TEST(test_iommu_platform)
{
	uint64_t proto = want_protocol | BIT(PROTO_BACKEND_REQ), iommu = BIT(VIRTIO_F_IOMMU_PLATFORM);
	uint64_t acked = BIT(VIRTIO_F_VERSION_1) | BIT(VHOST_USER_F_PROTOCOL_FEATURES) | iommu;
	struct vu_state num = { 0, QSZ }, st = { 0, 0 }, en = { 0, 1 };
	struct vu_addr a = { .index = 0, .desc = DESC_GPA + IOVA_OFF,
			     .used = USED_GPA + IOVA_OFF, .avail = AVAIL_GPA + IOVA_OFF };
	struct iotlb_msg m;
	int sv[2];

	start_backend(NULL);
	ck_assert(get_u64(GET_FEATURES) & iommu);
	send_msg(SET_OWNER, NULL, 0, NULL, 0);
	ck_assert(get_u64(GET_PROTOCOL_FEATURES) & BIT(PROTO_BACKEND_REQ));
	/* IOMMU_PLATFORM without BACKEND_REQ (nobody could answer a miss): refused. */
	send_msg(SET_PROTOCOL_FEATURES, &want_protocol, sizeof(want_protocol), NULL, 0);
	ck_assert_uint_eq(ack(SET_FEATURES, &acked, sizeof(acked)), 1);
	/* Not negotiated yet: IOTLB messages are refused. */
	ck_assert_uint_eq(iotlb_msg(2, IOVA_OFF, 0x1000, qva_of(0), 3), 1);
	send_msg(SET_PROTOCOL_FEATURES, &proto, sizeof(proto), NULL, 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_uint_eq(ack_fds(SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1), 0);
	close(sv[1]);
	expect_ok(SET_FEATURES, &acked, sizeof(acked));
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);

	/* Bad IOTLB messages: refused, the connection goes on. */
	ck_assert_uint_eq(iotlb_msg(2, IOVA_OFF, 0x1000, qva_of(0), 0), 1);       /* no perm */
	ck_assert_uint_eq(iotlb_msg(2, IOVA_OFF, 0x1000, qva_of(0), 4), 1);       /* bad perm */
	ck_assert_uint_eq(iotlb_msg(2, IOVA_OFF, 0, qva_of(0), 3), 1);            /* size 0 */
	ck_assert_uint_eq(iotlb_msg(2, IOVA_OFF, 0x1000, 0x1000, 3), 1);          /* no region */
	ck_assert_uint_eq(iotlb_msg(2, IOVA_OFF, 3 * MiB, qva_of(0), 3), 1);      /* too long */
	ck_assert_uint_eq(iotlb_msg(2, UINT64_MAX, 2, qva_of(0), 3), 1);          /* wraps */
	ck_assert_uint_eq(iotlb_msg(1, IOVA_OFF, 0x1000, qva_of(0), 3), 1);       /* a MISS */
	ck_assert_uint_eq(iotlb_msg(9, IOVA_OFF, 0x1000, qva_of(0), 3), 1);       /* unknown */
	ck_assert_uint_eq(iotlb_msg(3, IOVA_OFF, 0x1000, 0, 0), 0); /* nothing mapped: fine */

	/* Ring addresses are IOVAs now; the first access misses. */
	ring_store16(q.avail + 2, 0);
	ring_store16(q.used + 2, 0);
	fe.avail_idx = fe.used_seen = 0;
	expect_ok(SET_VRING_NUM, &num, sizeof(num));
	expect_ok(SET_VRING_BASE, &st, sizeof(st));
	ck_assert_uint_eq(ack(SET_VRING_ADDR, &a, sizeof(a)), 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_CALL, fe.call), 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_ERR, fe.err), 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_KICK, fe.kick), 0);
	expect_ok(SET_VRING_ENABLE, &en, sizeof(en));
	submit_iova_request(T_IN, 7);
	m = expect_miss(sv[0]);
	ck_assert_uint_eq(m.iova, DESC_GPA + IOVA_OFF);
	ck_assert_uint_eq(m.perm, 1);
	/* Map the ring pages and the request's buffers, as a vIOMMU answers misses. */
	ck_assert_uint_eq(iotlb_msg(2, IOVA_OFF, 0x6000, qva_of(0), 3), 0);
	ck_assert_uint_eq(iotlb_msg(2, DATA_GPA + IOVA_OFF, 0x1000, qva_of(DATA_GPA), 3), 0);
	ck_assert_uint_eq(wait_used(0), 513);
	ck_assert_uint_eq(status_byte(), S_OK);
	expect_image_in_guest(DATA_GPA, 7, 512);

	/* The guest unmaps the data buffer: the next request misses on it, for write. */
	drain_misses(sv[0]);
	ck_assert_uint_eq(iotlb_msg(3, DATA_GPA + IOVA_OFF, 0x1000, 0, 0), 0);
	guest_fill(DATA_GPA, 0, 512);
	submit_iova_request(T_IN, 9);
	m = expect_miss(sv[0]);
	ck_assert_uint_eq(m.iova, DATA_GPA + IOVA_OFF);
	ck_assert_uint_eq(m.perm, 2);
	ck_assert_msg(!try_wait_used(&(uint32_t){ 0 }, &(uint32_t){ 0 }, 200),
		      "completed while its buffer was unmapped");
	ck_assert_uint_eq(iotlb_msg(2, DATA_GPA + IOVA_OFF, 0x1000, qva_of(DATA_GPA), 3), 0);
	ck_assert_uint_eq(wait_used(0), 513);
	ck_assert_uint_eq(status_byte(), S_OK);
	expect_image_in_guest(DATA_GPA, 9, 512);

	/* Mapped read-only, the device cannot write into it: the request fails, no miss. */
	ck_assert_uint_eq(iotlb_msg(2, DATA_GPA + IOVA_OFF, 0x1000, qva_of(DATA_GPA), 1), 0);
	submit_iova_request(T_IN, 11);
	ck_assert_uint_eq(wait_used(0), 1);
	ck_assert_uint_eq(status_byte(), S_IOERR);
	/* The other direction is allowed: a write request reads the buffer. */
	guest_fill(DATA_GPA, 0x5a, 512);
	submit_iova_request(T_OUT, 13);
	wait_used(0);
	ck_assert_uint_eq(status_byte(), S_OK);
	expect_image_bytes(13, 512, 0x5a);
	expect_responsive();
	close(sv[0]);
}
END_TEST

/* ---- tests: protocol ---- */

START_TEST(test_negotiation)
{
	uint8_t cfg[12 + 36] = { 0 };
	uint32_t want[3] = { 0, 36, 0 }, size;
	uint64_t features, capacity;

	start_backend(NULL);
	features = negotiate(0);
	ck_assert(features & BIT(VIRTIO_F_VERSION_1));
	ck_assert(features & BIT(VIRTIO_BLK_F_SEG_MAX));
	ck_assert(features & BIT(VIRTIO_BLK_F_BLK_SIZE));
	ck_assert(features & BIT(VIRTIO_BLK_F_FLUSH));
	ck_assert(features & BIT(VHOST_F_LOG_ALL));
	ck_assert(features & BIT(VIRTIO_RING_F_INDIRECT_DESC));
	ck_assert(!(features & BIT(VIRTIO_RING_F_EVENT_IDX)));
	ck_assert(!(features & BIT(VIRTIO_BLK_F_RO)));
	ck_assert_uint_eq(get_u64(GET_QUEUE_NUM), 1);
	ck_assert_uint_eq(get_u64(GET_MAX_MEM_SLOTS), 509);

	memcpy(cfg, want, sizeof(want));
	send_msg(GET_CONFIG, cfg, sizeof(cfg), NULL, 0);
	size = recv_reply(GET_CONFIG, cfg, sizeof(cfg));
	ck_assert_uint_eq(size, sizeof(cfg));
	memcpy(&capacity, cfg + 12, 8);
	ck_assert_uint_eq(vmmem_le64_to_cpu_raw(capacity), IMG_SECTORS); /* virtio config: LE */
	ck_assert_uint_eq(cfg[12 + 12] | cfg[12 + 13] << 8, 126);   /* seg_max */
	ck_assert_uint_eq(cfg[12 + 20] | cfg[12 + 21] << 8, 512);   /* blk_size */
	ck_assert_uint_eq(cfg[12 + 34], 1);                         /* num_queues */

	/* SET_CONFIG is accepted and ignored. */
	ck_assert_uint_eq(ack(SET_CONFIG, cfg, sizeof(cfg)), 0);
	expect_responsive();
}
END_TEST

START_TEST(test_read_only)
{
	const char *const extra[] = { "--read-only", NULL };
	uint8_t st;

	ready_device(extra);
	ck_assert(get_u64(GET_FEATURES) & BIT(VIRTIO_BLK_F_RO));
	guest_fill(DATA_GPA, 0x77, 512);
	st = blk_request(T_OUT, 3, DATA_GPA, 512, NULL);
	ck_assert_uint_eq(st, S_IOERR);
	expect_image_bytes(3, 512, -1);
	ck_assert_uint_eq(blk_request(T_IN, 3, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 3, 512);
}
END_TEST

/* ---- tests: I/O ---- */

START_TEST(test_read_write)
{
	uint32_t used_len;
	char id[21] = { 0 };

	ready_device(NULL);

	/* IN: 8 sectors from sector 5. */
	guest_fill(DATA_GPA, 0, 4096);
	ck_assert_uint_eq(blk_request(T_IN, 5, DATA_GPA, 4096, &used_len), S_OK);
	ck_assert_uint_eq(used_len, 4096 + 1);
	expect_image_in_guest(DATA_GPA, 5, 4096);

	/* OUT: 4 sectors at sector 100. */
	guest_fill(DATA_GPA, 0xa5, 2048);
	ck_assert_uint_eq(blk_request(T_OUT, 100, DATA_GPA, 2048, &used_len), S_OK);
	ck_assert_uint_eq(used_len, 1);
	expect_image_bytes(100, 2048, 0xa5);
	expect_image_bytes(99, 512, -1);
	expect_image_bytes(104, 512, -1);

	/* Read it back through the guest. */
	guest_fill(DATA_GPA, 0, 2048);
	ck_assert_uint_eq(blk_request(T_IN, 100, DATA_GPA, 2048, NULL), S_OK);
	{
		uint8_t back[2048];

		guest_read(DATA_GPA, back, sizeof(back));
		for (size_t i = 0; i < sizeof(back); i++)
			ck_assert_uint_eq(back[i], 0xa5);
	}

	ck_assert_uint_eq(blk_request(T_FLUSH, 0, 0, 0, &used_len), S_OK);
	ck_assert_uint_eq(used_len, 1);

	ck_assert_uint_eq(blk_request(T_GET_ID, 0, DATA_GPA, 20, &used_len), S_OK);
	ck_assert_uint_eq(used_len, 20 + 1); /* "disk.img", NUL-padded to 20 bytes */
	guest_read(DATA_GPA, id, 20);
	ck_assert_str_eq(id, "disk.img");

	ck_assert_uint_eq(blk_request(99, 0, DATA_GPA, 512, &used_len), S_UNSUPP);
	ck_assert_uint_eq(used_len, 1);

	/* Past the end, partly past the end, and not whole sectors. */
	ck_assert_uint_eq(blk_request(T_IN, IMG_SECTORS, DATA_GPA, 512, NULL), S_IOERR);
	ck_assert_uint_eq(blk_request(T_IN, IMG_SECTORS - 1, DATA_GPA, 1024, NULL), S_IOERR);
	ck_assert_uint_eq(blk_request(T_OUT, UINT64_MAX, DATA_GPA, 512, NULL), S_IOERR);
	ck_assert_uint_eq(blk_request(T_IN, 0, DATA_GPA, 100, NULL), S_IOERR);
	ck_assert_uint_eq(blk_request(T_IN, IMG_SECTORS - 1, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, IMG_SECTORS - 1, 512);
}
END_TEST

START_TEST(test_scatter_gather)
{
	uint32_t len;

	ready_device(NULL);

	/* IN over three data buffers, the last sharing its descriptor with the status byte,
	 * and one buffer crossing from region 0 into region 1. */
	put_header(T_IN, 40);
	guest_fill(DATA_GPA, 0, 8192);
	guest_fill(MEM1_GPA - 1024, 0, 2048);
	put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 5);
	put_desc(5, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 9);
	put_desc(9, MEM1_GPA - 1024, 2048, DESC_F_NEXT | DESC_F_WRITE, 3);
	put_desc(3, DATA_GPA + 4096, 1024 + 1, DESC_F_WRITE, 0);
	submit(0);
	len = wait_used(0);
	ck_assert_uint_eq(len, 512 + 2048 + 1024 + 1);
	expect_image_in_guest(DATA_GPA, 40, 512);
	expect_image_in_guest(MEM1_GPA - 1024, 41, 2048);
	expect_image_in_guest(DATA_GPA + 4096, 45, 1024);
	{
		uint8_t st;

		guest_read(DATA_GPA + 4096 + 1024, &st, 1);
		ck_assert_uint_eq(st, S_OK);
	}

	/* OUT with the header and the data in one descriptor. */
	put_header(T_OUT, 200);
	guest_fill(HDR_GPA + 16, 0x3c, 1024);
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc(0, HDR_GPA, 16 + 1024, DESC_F_NEXT, 1);
	put_desc(1, STATUS_GPA, 1, DESC_F_WRITE, 0);
	submit(0);
	wait_used(0);
	ck_assert_uint_eq(status_byte(), S_OK);
	expect_image_bytes(200, 1024, 0x3c);

	/* IN through an indirect table (header, 2 data buffers, status). */
	put_header(T_IN, 300);
	guest_fill(DATA_GPA, 0, 1024);
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc_at(INDIRECT_GPA, 0, HDR_GPA, 16, DESC_F_NEXT, 1);
	put_desc_at(INDIRECT_GPA, 1, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
	put_desc_at(INDIRECT_GPA, 2, DATA1_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 3);
	put_desc_at(INDIRECT_GPA, 3, STATUS_GPA, 1, DESC_F_WRITE, 0);
	put_desc(7, INDIRECT_GPA, 4 * 16, DESC_F_INDIRECT, 0);
	submit(7);
	ck_assert_uint_eq(wait_used(7), 1024 + 1);
	ck_assert_uint_eq(status_byte(), S_OK);
	expect_image_in_guest(DATA_GPA, 300, 512);
	expect_image_in_guest(DATA1_GPA, 301, 512);

	/* Several requests made available at once, completed in order. */
	for (uint16_t i = 0; i < 4; i++) {
		put_desc_at(INDIRECT_GPA + 0x100 * i, 0, HDR_GPA, 16, DESC_F_NEXT, 1);
		put_desc_at(INDIRECT_GPA + 0x100 * i, 1, DATA_GPA + 512 * i, 512,
			    DESC_F_NEXT | DESC_F_WRITE, 2);
		put_desc_at(INDIRECT_GPA + 0x100 * i, 2, STATUS_GPA + 1 + i, 1, DESC_F_WRITE, 0);
		put_desc(i, INDIRECT_GPA + 0x100 * i, 3 * 16, DESC_F_INDIRECT, 0);
	}
	put_header(T_IN, 500); /* one shared header: all read sector 500 */
	guest_fill(DATA_GPA, 0, 2048);
	for (uint16_t i = 0; i < 4; i++)
		submit(i);
	for (uint16_t i = 0; i < 4; i++)
		ck_assert_uint_eq(wait_used(i), 512 + 1);
	for (uint16_t i = 0; i < 4; i++)
		expect_image_in_guest(DATA_GPA + 512 * i, 500, 512);
}
END_TEST

/* ---- tests: memory hot-add and hot-remove ---- */

START_TEST(test_add_remove_regions)
{
	struct vmmem_region *overlap;
	uint32_t id, len;

	start_backend(NULL);
	negotiate(0);
	/* QEMU with CONFIGURE_MEM_SLOTS: the table is built by ADD_MEM_REG from nothing. */
	ck_assert_uint_eq(add_region(fe.region[0]), 0);
	start_queue(0);
	ck_assert_uint_eq(blk_request(T_IN, 1, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 1, 512);

	/* Region 1 is not there yet: a buffer in it fails the request. */
	ck_assert_uint_eq(blk_request(T_IN, 2, DATA1_GPA, 512, NULL), S_IOERR);
	ck_assert_uint_eq(add_region(fe.region[1]), 0);
	guest_fill(DATA1_GPA, 0, 512);
	ck_assert_uint_eq(blk_request(T_IN, 2, DATA1_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA1_GPA, 2, 512);

	/* Adding it twice, or a region overlapping another, is refused. */
	ck_assert_uint_ne(add_region(fe.region[1]), 0);
	overlap = create_region("memfd:gpa=512K,size=1M");
	ck_assert_uint_ne(add_region(overlap), 0);
	vmmem_region_unref(overlap);

	/* Removed (with an fd attached, which the backend must just close): I/O to it fails,
	 * I/O elsewhere goes on; removing it again is refused. */
	ck_assert_uint_eq(rem_region(fe.region[1], true), 0);
	ck_assert_uint_eq(blk_request(T_IN, 2, DATA1_GPA, 512, NULL), S_IOERR);
	ck_assert_uint_eq(blk_request(T_IN, 3, DATA_GPA, 512, NULL), S_OK);
	ck_assert_uint_ne(rem_region(fe.region[1], false), 0);

	/* Requests keep flowing while region 1 comes and goes between them. */
	for (int round = 0; round < 16; round++) {
		uint64_t sector = 10 + (uint64_t)round;

		put_header(T_IN, sector);
		guest_fill(DATA_GPA + 0x1000, 0, 512);
		guest_fill(STATUS_GPA, 0xee, 1);
		put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 1);
		put_desc(1, DATA_GPA + 0x1000, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
		put_desc(2, STATUS_GPA, 1, DESC_F_WRITE, 0);
		submit(0);
		ck_assert_uint_eq(round % 2 ? rem_region(fe.region[1], false)
					    : add_region(fe.region[1]), 0);
		ck_assert_uint_eq(wait_used(0), 512 + 1);
		ck_assert_uint_eq(status_byte(), S_OK);
		expect_image_in_guest(DATA_GPA + 0x1000, sector, 512);
	}

	/* Removing the last region leaves the queue without memory: a request waits... */
	ck_assert_uint_eq(rem_region(fe.region[0], false), 0);
	put_header(T_IN, 7);
	guest_fill(DATA_GPA, 0, 512);
	put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 1);
	put_desc(1, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
	put_desc(2, STATUS_GPA, 1, DESC_F_WRITE, 0);
	submit(0);
	ck_assert(!try_wait_used(&id, &len, 300));
	/* ...and completes once memory is back. */
	ck_assert_uint_eq(add_region(fe.region[0]), 0);
	ck_assert_uint_eq(wait_used(0), 512 + 1);
	expect_image_in_guest(DATA_GPA, 7, 512);
}
END_TEST

/* REM_MEM_REG of the last region leaves the backend with an empty memory (acked like any
 * other removal); the table is then built again from nothing, by ADD_MEM_REG or by
 * SET_MEM_TABLE, and I/O goes on. */
START_TEST(test_remove_last_region)
{
	uint32_t id, len;

	start_backend(NULL);
	negotiate(0);
	ck_assert_uint_eq(add_region(fe.region[0]), 0);
	ck_assert_uint_eq(add_region(fe.region[1]), 0);
	start_queue(0);
	ck_assert_uint_eq(blk_request(T_IN, 1, DATA1_GPA, 512, NULL), S_OK);

	/* Both go, the last one with its fd attached; there is nothing left to remove. */
	ck_assert_uint_eq(rem_region(fe.region[1], false), 0);
	ck_assert_uint_eq(rem_region(fe.region[0], true), 0);
	ck_assert_uint_ne(rem_region(fe.region[0], false), 0);
	ck_assert_uint_ne(rem_region(fe.region[1], false), 0);
	/* No ring address can be translated without memory. */
	ck_assert_uint_ne(set_vring_addr(DESC_GPA, AVAIL_GPA, USED_GPA, 0), 0);
	expect_responsive();

	/* ADD_MEM_REG into the empty memory: the running queue serves requests again, and a
	 * buffer in the region not yet back fails alone. */
	ck_assert_uint_eq(add_region(fe.region[0]), 0);
	guest_fill(DATA_GPA, 0, 512);
	ck_assert_uint_eq(blk_request(T_IN, 2, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 2, 512);
	ck_assert_uint_eq(blk_request(T_IN, 3, DATA1_GPA, 512, NULL), S_IOERR);
	ck_assert_uint_eq(add_region(fe.region[1]), 0);
	guest_fill(DATA1_GPA, 0, 512);
	ck_assert_uint_eq(blk_request(T_IN, 3, DATA1_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA1_GPA, 3, 512);

	/* Empty again, with a request made available meanwhile: it waits for memory... */
	ck_assert_uint_eq(rem_region(fe.region[0], false), 0);
	ck_assert_uint_eq(rem_region(fe.region[1], false), 0);
	put_header(T_IN, 4);
	guest_fill(DATA_GPA, 0, 512);
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 1);
	put_desc(1, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
	put_desc(2, STATUS_GPA, 1, DESC_F_WRITE, 0);
	submit(0);
	ck_assert(!try_wait_used(&id, &len, 300));
	/* ...which a whole new table brings back. */
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);
	ck_assert_uint_eq(wait_used(0), 512 + 1);
	ck_assert_uint_eq(status_byte(), S_OK);
	expect_image_in_guest(DATA_GPA, 4, 512);
	ck_assert_uint_eq(blk_request(T_IN, 5, DATA1_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA1_GPA, 5, 512);
}
END_TEST

/* A full ring of reads in flight while region 1 is hot-added and removed again and again:
 * the control thread publishes new memories while the queue thread is using the old ones. */
START_TEST(test_hotplug_during_io)
{
	const uint16_t n = 12;

	ready_device(NULL);
	for (int round = 0; round < 8; round++) {
		for (uint16_t i = 0; i < n; i++) {
			uint64_t hdr = HDR_GPA + 16u * i, table = INDIRECT_GPA + 0x100u * i;
			uint64_t data = DATA_GPA + 4096u * i;
			uint8_t h[16] = { 0 };
			uint32_t type = vmmem_cpu_to_le32(T_IN);
			uint64_t sector = vmmem_cpu_to_le64(600 + 8u * i + (uint64_t)round);

			memcpy(h, &type, 4);
			memcpy(h + 8, &sector, 8);
			guest_write(hdr, h, sizeof(h));
			guest_fill(data, 0, 4096);
			put_desc_at(table, 0, hdr, 16, DESC_F_NEXT, 1);
			put_desc_at(table, 1, data, 4096, DESC_F_NEXT | DESC_F_WRITE, 2);
			put_desc_at(table, 2, STATUS_GPA + 1 + i, 1, DESC_F_WRITE, 0);
			put_desc(i, table, 3 * 16, DESC_F_INDIRECT, 0);
		}
		for (uint16_t i = 0; i < n; i++)
			submit(i);
		for (int k = 0; k < 6; k++)
			ck_assert_uint_eq(k % 2 ? add_region(fe.region[1])
						: rem_region(fe.region[1], false), 0);
		for (uint16_t i = 0; i < n; i++)
			ck_assert_uint_eq(wait_used(i), 4096 + 1);
		for (uint16_t i = 0; i < n; i++) {
			uint8_t st;

			guest_read(STATUS_GPA + 1 + i, &st, 1);
			ck_assert_uint_eq(st, S_OK);
			expect_image_in_guest(DATA_GPA + 4096u * i, 600 + 8u * i + (uint64_t)round,
					      4096);
		}
	}
	ck_assert_uint_eq(blk_request(T_IN, 5, DATA1_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA1_GPA, 5, 512);
}
END_TEST

START_TEST(test_too_many_slots)
{
	const char *const extra[] = { "--max-mem-slots", "2", NULL };
	struct vmmem_region *third;

	start_backend(extra);
	negotiate(0);
	ck_assert_uint_eq(get_u64(GET_MAX_MEM_SLOTS), 2);
	ck_assert_uint_eq(add_region(fe.region[0]), 0);
	ck_assert_uint_eq(add_region(fe.region[1]), 0);
	third = create_region("memfd:gpa=16M,size=64K");
	ck_assert_uint_ne(add_region(third), 0);
	vmmem_region_unref(third);
	start_queue(0);
	ck_assert_uint_eq(blk_request(T_IN, 9, DATA1_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA1_GPA, 9, 512);
}
END_TEST

/* ---- tests: caps on imported memory ---- */

#define TiB (UINT64_C(1) << 40)

/* A sealed memfd of size bytes that is never written: it costs the front-end nothing, only
 * the backend's address space once mapped. */
static int sparse_memfd(uint64_t size)
{
	int fd = memfd_create("sparse", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	return fd;
}

/* ADD_MEM_REG (or REM_MEM_REG, without an fd) of a sparse memfd region at gpa: its status.
 * The user addresses are far above the suite's own, so only the size limits can refuse. */
static uint64_t sparse_reg(uint32_t req, uint64_t gpa, uint64_t size)
{
	struct vmmem_vhost_region d = { .guest_phys_addr = gpa, .memory_size = size,
					.userspace_addr = (UINT64_C(1) << 62) + gpa };
	int fd = req == ADD_MEM_REG ? sparse_memfd(size) : -1;
	uint64_t status = mem_reg(req, &d, fd);

	if (fd >= 0)
		close(fd);
	return status;
}

/* Issue 17, item 5: 64 sparse sealed 1 TiB memfds were all mapped (64 TiB of address
 * space). The default cap is 1 TiB in total. */
START_TEST(test_memory_size_default_cap)
{
	unsigned int accepted = 0;

	if (tu_under_qemu_user()) {
		/* qemu-user keeps flags for every page of a mapping: mapping a terabyte there
		 * takes longer than the reply timeout, and the backend still chews on it when
		 * the next test starts. */
		tu_skip_emulated("1 TiB sparse regions (qemu-user page bookkeeping)");
		return;
	}
	start_backend(NULL);
	negotiate(0);
	for (uint64_t i = 1; i <= 64; i++)
		if (sparse_reg(ADD_MEM_REG, i * TiB, TiB) == 0)
			accepted++;
#if defined(__SANITIZE_THREAD__)
	/* ThreadSanitizer keeps the application to a few ranges of the address space: a 1 TiB
	 * mapping fits only in some runs (mmap fails with ENOMEM in the others). The cap still
	 * must never let a second one in; the rest needs the first one mapped. */
	ck_assert_msg(accepted <= 1, "%u sparse 1 TiB regions accepted (the default cap is 1 TiB)",
		      accepted);
	if (accepted == 0)
		return;
#endif
	ck_assert_msg(accepted == 1, "%u sparse 1 TiB regions accepted (the default cap is 1 TiB)",
		      accepted);
	/* Full: even a small region is refused until the big one goes. */
	ck_assert_uint_ne(add_region(fe.region[0]), 0);
	ck_assert_uint_eq(sparse_reg(REM_MEM_REG, TiB, TiB), 0);
	ck_assert_uint_eq(add_region(fe.region[0]), 0);
	ck_assert_uint_eq(add_region(fe.region[1]), 0);
	start_queue(0);
	ck_assert_uint_eq(blk_request(T_IN, 7, DATA1_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA1_GPA, 7, 512);
}
END_TEST

/* The backend refuses these arguments: it exits with status 2 (usage) without serving. */
static void expect_bad_arguments(const char *const *extra)
{
	char path[PATH_MAX];
	const char *argv[16];
	int argc = 0, status = -1;
	pid_t pid;

	backend_path(path, sizeof(path));
	argv[argc++] = path;
	argv[argc++] = "--socket-path";
	argv[argc++] = fe.sock;
	argv[argc++] = "--blk-file";
	argv[argc++] = fe.img;
	for (; *extra && argc < 15; extra++)
		argv[argc++] = *extra;
	argv[argc] = NULL;
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (null < 0 || dup2(null, STDERR_FILENO) < 0)
			_exit(126);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	for (int waited = 0; waited < TIMEOUT_MS; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		sleep_ms(10);
	}
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2,
		      "%s %s: wait status 0x%x, expected exit status 2", argv[5], argv[6],
		      (unsigned int)status);
}

START_TEST(test_memory_size_option)
{
	const char *const extra[] = { "--max-mem-size", "3M", NULL };
	struct vmmem_region *two_mib, *table[3];

	expect_bad_arguments((const char *const[]){ "--max-mem-size", "0", NULL });
	expect_bad_arguments((const char *const[]){ "--max-mem-size", "1X", NULL });
	expect_bad_arguments((const char *const[]){ "--max-mem-size", "-1", NULL });
	expect_bad_arguments((const char *const[]){ "--max-mem-size", "16777216T", NULL });
	expect_bad_arguments((const char *const[]){ "--max-mem-size", "18446744073709551616",
						    NULL });
	start_backend(extra);
	negotiate(0);
	two_mib = create_region("memfd:gpa=16M,size=2M");
	/* A whole table over the cap, and one at it. */
	table[0] = fe.region[0];
	table[1] = fe.region[1];
	table[2] = two_mib;
	ck_assert_uint_ne(set_mem_table(table, 3), 0);
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);
	/* Regions added one by one: 2 MiB more is over, 1 MiB reaches the cap exactly. */
	ck_assert_uint_ne(add_region(two_mib), 0);
	ck_assert_uint_eq(sparse_reg(ADD_MEM_REG, 32 * MiB, MiB), 0);
	ck_assert_uint_ne(sparse_reg(ADD_MEM_REG, 64 * MiB, 64 * KiB), 0);
	/* Removing gives the room back; a new table counts alone, not on top of the old. */
	ck_assert_uint_eq(sparse_reg(REM_MEM_REG, 32 * MiB, MiB), 0);
	ck_assert_uint_eq(sparse_reg(ADD_MEM_REG, 64 * MiB, 64 * KiB), 0);
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);
	ck_assert_uint_eq(sparse_reg(ADD_MEM_REG, 32 * MiB, MiB), 0);
	vmmem_region_unref(two_mib);
	start_queue(0);
	ck_assert_uint_eq(blk_request(T_IN, 8, DATA1_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA1_GPA, 8, 512);
}
END_TEST

/* ---- tests: dirty log ---- */

static bool log_bit(const uint8_t *log, uint64_t gpa)
{
	uint64_t page = gpa / 4096;

	return (log[page / 8] >> (page % 8)) & 1;
}

/* A log like QEMU's: a sealed memfd of size bytes, mapped here; *fd gets the memfd. */
static uint8_t *new_log(uint64_t size, int *fd)
{
	uint8_t *log;

	*fd = memfd_create("vhost-log", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(*fd, 0);
	ck_assert_int_eq(ftruncate(*fd, (off_t)size), 0);
	ck_assert_int_eq(fcntl(*fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL), 0);
	log = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	ck_assert(log != MAP_FAILED);
	return log;
}

/* SET_LOG_BASE, which always gets a reply (QEMU waits for it): its status. */
static uint64_t set_log_base(uint64_t size, int fd)
{
	uint64_t desc[2] = { size, 0 }, reply = UINT64_MAX;

	send_msg(SET_LOG_BASE, desc, sizeof(desc), &fd, 1);
	ck_assert_uint_eq(recv_reply(SET_LOG_BASE, &reply, sizeof(reply)), sizeof(reply));
	return reply;
}

static const uint64_t log_features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
				     BIT(VHOST_USER_F_PROTOCOL_FEATURES) | BIT(VHOST_F_LOG_ALL);

START_TEST(test_dirty_log)
{
	const uint64_t log_size = 4096; /* covers 128 MiB of GPA */
	uint64_t features = log_features;
	uint8_t *log;
	int log_fd;

	ready_device(NULL);
	log = new_log(log_size, &log_fd);
	ck_assert_uint_eq(set_log_base(log_size, log_fd), 0);
	expect_ok(SET_FEATURES, &features, sizeof(features));
	ck_assert_uint_eq(set_vring_addr(DESC_GPA, AVAIL_GPA, USED_GPA, 1), 0);

	/* IN writes guest pages 0x21000..0x23fff (data), the status and the used ring. */
	memset(log, 0, log_size);
	ck_assert_uint_eq(blk_request(T_IN, 16, 0x21000, 3 * 4096, NULL), S_OK);
	expect_image_in_guest(0x21000, 16, 3 * 4096);
	ck_assert(log_bit(log, 0x21000));
	ck_assert(log_bit(log, 0x22000));
	ck_assert(log_bit(log, 0x23000));
	ck_assert(log_bit(log, STATUS_GPA));
	ck_assert(log_bit(log, USED_GPA));
	ck_assert(!log_bit(log, 0x20000));
	ck_assert(!log_bit(log, 0x24000));
	ck_assert(!log_bit(log, HDR_GPA)); /* only read by the device */

	/* In region 1 too (guest-physical page numbers, not region offsets). */
	memset(log, 0, log_size);
	ck_assert_uint_eq(blk_request(T_IN, 16, MEM1_GPA + 0x7000, 512, NULL), S_OK);
	ck_assert(log_bit(log, MEM1_GPA + 0x7000));
	ck_assert(!log_bit(log, 0x7000)); /* where a region-offset bit would land */

	/* OUT only reads the data: its page stays clean. */
	memset(log, 0, log_size);
	guest_fill(0x30000, 0x42, 512);
	ck_assert_uint_eq(blk_request(T_OUT, 30, 0x30000, 512, NULL), S_OK);
	ck_assert(!log_bit(log, 0x30000));
	ck_assert(log_bit(log, STATUS_GPA));

	/* A log address other than the used ring's GPA (QEMU always names the ring's own):
	 * used-ring writes are logged there too, even outside guest memory. */
	ck_assert_uint_eq(set_vring_addr_log(DESC_GPA, AVAIL_GPA, USED_GPA, 1, 100 * MiB), 0);
	memset(log, 0, log_size);
	ck_assert_uint_eq(blk_request(T_IN, 16, 0x21000, 512, NULL), S_OK);
	ck_assert(log_bit(log, 100 * MiB));
	ck_assert(log_bit(log, USED_GPA));
	ck_assert(!log_bit(log, 100 * MiB + 4096));
	/* Past the end of the log: not logged there (one line), the queue goes on. */
	ck_assert_uint_eq(set_vring_addr_log(DESC_GPA, AVAIL_GPA, USED_GPA, 1, 200 * MiB), 0);
	ck_assert_uint_eq(blk_request(T_IN, 17, 0x21000, 512, NULL), S_OK);
	expect_image_in_guest(0x21000, 17, 512);
	/* One whose used-ring range would wrap past 2^64: refused. */
	ck_assert_uint_ne(set_vring_addr_log(DESC_GPA, AVAIL_GPA, USED_GPA, 1, UINT64_MAX - 64),
			  0);
	ck_assert_uint_eq(set_vring_addr(DESC_GPA, AVAIL_GPA, USED_GPA, 1), 0);

	/* Logging off: nothing is marked any more. */
	features &= ~BIT(VHOST_F_LOG_ALL);
	expect_ok(SET_FEATURES, &features, sizeof(features));
	memset(log, 0, log_size);
	ck_assert_uint_eq(blk_request(T_IN, 16, 0x21000, 4096, NULL), S_OK);
	for (uint64_t i = 0; i < log_size; i++)
		ck_assert_uint_eq(log[i], 0);

	munmap(log, log_size);
	close(log_fd);
}
END_TEST

START_TEST(test_bad_log)
{
	uint64_t desc[2] = { 4096, 0 }, reply = 0;
	int fd;

	ready_device(NULL);
	/* Unsealed: a front-end could truncate it under the backend. */
	fd = memfd_create("log", MFD_CLOEXEC);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	send_msg(SET_LOG_BASE, desc, sizeof(desc), &fd, 1);
	recv_reply(SET_LOG_BASE, &reply, sizeof(reply));
	ck_assert_uint_ne(reply, 0);
	close(fd);
	/* Sealed but shorter than the size claimed. */
	fd = memfd_create("log", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	desc[0] = 8192;
	send_msg(SET_LOG_BASE, desc, sizeof(desc), &fd, 1);
	recv_reply(SET_LOG_BASE, &reply, sizeof(reply));
	ck_assert_uint_ne(reply, 0);
	/* Too small for the memory (needs 2 MiB / 4 KiB / 8 = 64 bytes). */
	desc[0] = 8;
	send_msg(SET_LOG_BASE, desc, sizeof(desc), &fd, 1);
	recv_reply(SET_LOG_BASE, &reply, sizeof(reply));
	ck_assert_uint_ne(reply, 0);
	/* Without its fd. */
	desc[0] = 4096;
	send_msg(SET_LOG_BASE, desc, sizeof(desc), NULL, 0);
	recv_reply(SET_LOG_BASE, &reply, sizeof(reply));
	ck_assert_uint_ne(reply, 0);
	close(fd);
	ck_assert_uint_eq(blk_request(T_IN, 1, DATA_GPA, 512, NULL), S_OK);
}
END_TEST

/* --check-log: after each guest write made while a log is attached, the backend looks at
 * the log's bytes for the pages written. libvmmem marks them all, so none is missing. The
 * counts are printed at each SET_LOG_BASE and at exit. */
START_TEST(test_check_log)
{
	const char *const extra[] = { "--check-log", NULL };
	const uint64_t log_size = 4096;
	uint64_t features = log_features;
	unsigned long long first = ULLONG_MAX, writes = 0, missing = ULLONG_MAX;
	unsigned int lines = 0, requests = 0;
	char line[512];
	uint8_t *log[2];
	int log_fd[2], status;
	FILE *f;

	snprintf(fe.errlog, sizeof(fe.errlog), "%s/backend.err", fe.dir);
	ready_device(extra);
	/* No log yet: nothing to check. */
	ck_assert_uint_eq(blk_request(T_IN, 1, DATA_GPA, 512, NULL), S_OK);
	log[0] = new_log(log_size, &log_fd[0]);
	ck_assert_uint_eq(set_log_base(log_size, log_fd[0]), 0);
	expect_ok(SET_FEATURES, &features, sizeof(features));
	ck_assert_uint_eq(set_vring_addr(DESC_GPA, AVAIL_GPA, USED_GPA, 1), 0);
	/* Reads of one to three pages, most of them not page-aligned, in both regions. */
	for (unsigned int i = 0; i < 8; i++, requests++) {
		uint64_t gpa = (i % 2 ? DATA1_GPA : DATA_GPA) + 0x800u * i;

		ck_assert_uint_eq(blk_request(T_IN, 10 + i, gpa, 4096 + 512 * i, NULL), S_OK);
		expect_image_in_guest(gpa, 10 + i, 4096 + 512 * i);
	}
	ck_assert_uint_eq(blk_request(T_GET_ID, 0, DATA_GPA, 20, NULL), S_OK);
	requests++;
	/* A second log replaces the first; the reads go on into it. */
	log[1] = new_log(log_size, &log_fd[1]);
	ck_assert_uint_eq(set_log_base(log_size, log_fd[1]), 0);
	for (unsigned int i = 0; i < 4; i++, requests++)
		ck_assert_uint_eq(blk_request(T_IN, 30 + i, DATA1_GPA + 0x3000u * i, 8192, NULL),
				  S_OK);
	ck_assert(log_bit(log[1], DATA1_GPA + 0x9000));
	ck_assert(log_bit(log[1], USED_GPA));

	status = stop_backend();
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x",
		      (unsigned int)status);
	f = fopen(fe.errlog, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "log check: ");
		unsigned long long n, m;

		if (!p)
			continue;
		ck_assert_msg(sscanf(p, "log check: %llu writes checked, %llu pages missing", &n,
				     &m) == 2, "unexpected line: %s", line);
		if (lines++ == 0)
			first = n;
		writes = n;
		missing = m;
	}
	fclose(f);
	ck_assert_uint_eq(lines, 3); /* at both SET_LOG_BASEs, and at exit */
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_eq(missing, 0);
	/* Each request (alone in its batch) wrote one data buffer (or the id), its status
	 * byte, a used element and used->idx. */
	ck_assert_uint_eq(writes, 4 * requests);
	for (int i = 0; i < 2; i++) {
		munmap(log[i], log_size);
		close(log_fd[i]);
	}
}
END_TEST

/* ---- tests: hostile memory tables ---- */

START_TEST(test_bad_memory_tables)
{
	uint8_t payload[8 + 9 * 32] = { 0 };
	struct vmmem_region *unsealed, *overlap[2];
	struct vmmem_vhost_region d;
	uint32_t n;
	int fd, fds[2];

	start_backend(NULL);
	negotiate(0);

	/* Unsealed memfd (refused without --allow-unsealed). */
	unsealed = create_region("memfd:gpa=0,size=1M,seal=off");
	ck_assert_uint_ne(set_mem_table(&unsealed, 1), 0);
	ck_assert_uint_ne(add_region(unsealed), 0);
	vmmem_region_unref(unsealed);

	/* A file shorter than offset + size. */
	fd = memfd_create("short", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_eq(ftruncate(fd, 64 * KiB), 0);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
	d = (struct vmmem_vhost_region){ .guest_phys_addr = 0, .memory_size = MiB,
					 .userspace_addr = 0x7f0000000000, .mmap_offset = 0 };
	ck_assert_uint_ne(mem_reg(ADD_MEM_REG, &d, fd), 0);
	d.memory_size = 64 * KiB;
	d.mmap_offset = 4096;
	ck_assert_uint_ne(mem_reg(ADD_MEM_REG, &d, fd), 0);
	/* Size 0, and a GPA range that wraps. */
	d.mmap_offset = 0;
	d.memory_size = 0;
	ck_assert_uint_ne(mem_reg(ADD_MEM_REG, &d, fd), 0);
	d.memory_size = 64 * KiB;
	d.guest_phys_addr = UINT64_MAX - 4095;
	ck_assert_uint_ne(mem_reg(ADD_MEM_REG, &d, fd), 0);
	close(fd);

	/* Overlapping regions in one table. */
	overlap[0] = fe.region[0];
	overlap[1] = create_region("memfd:gpa=512K,size=1M");
	ck_assert_uint_ne(set_mem_table(overlap, 2), 0);
	vmmem_region_unref(overlap[1]);

	/* Nine regions (the table holds eight), and none. */
	n = 9;
	memcpy(payload, &n, 4);
	ck_assert_uint_ne(ack(SET_MEM_TABLE, payload, 8 + 9 * 32), 0);
	n = 0;
	memcpy(payload, &n, 4);
	ck_assert_uint_ne(ack(SET_MEM_TABLE, payload, 8), 0);

	/* Size field disagreeing with the region count. */
	d = vhost_desc(fe.region[0], &fds[0]);
	n = 2;
	memcpy(payload, &n, 4);
	memcpy(payload + 8, &d, sizeof(d));
	ck_assert_uint_ne(ack_fds(SET_MEM_TABLE, payload, 8 + 32, fds, 1), 0);

	/* Wrong fd counts: none, and two for one region. */
	n = 1;
	memcpy(payload, &n, 4);
	ck_assert_uint_ne(ack_fds(SET_MEM_TABLE, payload, 8 + 32, NULL, 0), 0);
	fds[1] = fds[0];
	ck_assert_uint_ne(ack_fds(SET_MEM_TABLE, payload, 8 + 32, fds, 2), 0);
	ck_assert_uint_ne(ack_fds(ADD_MEM_REG, payload, 40, NULL, 0), 0);

	/* Rings before any memory. */
	{
		struct vu_state num = { 0, QSZ };

		expect_ok(SET_VRING_NUM, &num, sizeof(num));
		ck_assert_uint_ne(set_vring_addr(DESC_GPA, AVAIL_GPA, USED_GPA, 0), 0);
	}

	/* After all that, a correct table works. */
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);
	start_queue(0);
	ck_assert_uint_eq(blk_request(T_IN, 4, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 4, 512);
}
END_TEST

START_TEST(test_allow_unsealed)
{
	const char *const extra[] = { "--allow-unsealed", NULL };
	struct vmmem_region *unsealed;

	start_backend(extra);
	negotiate(0);
	unsealed = create_region("memfd:gpa=4M,size=1M,seal=off");
	ck_assert_uint_eq(add_region(unsealed), 0);
	vmmem_region_unref(unsealed);
	expect_responsive();
}
END_TEST

/* ---- tests: hostile messages ---- */

START_TEST(test_bad_messages)
{
	struct vu_state st;
	uint64_t v;
	uint8_t cfg[12] = { 0 };

	ready_device(NULL);

	/* Unknown request: refused, connection kept. */
	ck_assert_uint_ne(ack(999, NULL, 0), 0);
	v = 7;
	ck_assert_uint_ne(ack(200, &v, sizeof(v)), 0);
	/* Payload sizes that do not match the request. */
	ck_assert_uint_ne(ack(SET_VRING_NUM, &v, 4), 0);
	ck_assert_uint_ne(ack(SET_FEATURES, &v, 4), 0);
	{
		uint8_t big[64] = { 0 };

		ck_assert_uint_ne(ack(SET_VRING_ADDR, big, 32), 0);
		ck_assert_uint_ne(ack(SET_VRING_ADDR, big, 48), 0);
	}
	/* Bad values. */
	st = (struct vu_state){ 0, 3 };
	ck_assert_uint_ne(ack(SET_VRING_NUM, &st, sizeof(st)), 0);
	st = (struct vu_state){ 0, 2048 };
	ck_assert_uint_ne(ack(SET_VRING_NUM, &st, sizeof(st)), 0);
	st = (struct vu_state){ 5, 16 };
	ck_assert_uint_ne(ack(SET_VRING_NUM, &st, sizeof(st)), 0);
	st = (struct vu_state){ 0, 16 };
	ck_assert_uint_ne(ack(SET_VRING_NUM, &st, sizeof(st)), 0); /* running */
	st = (struct vu_state){ 0, 2 };
	ck_assert_uint_ne(ack(SET_VRING_ENABLE, &st, sizeof(st)), 0);
	v = BIT(40);
	ck_assert_uint_ne(ack(SET_FEATURES, &v, sizeof(v)), 0);
	ck_assert_uint_ne(ack(SET_PROTOCOL_FEATURES, &v, sizeof(v)), 0);
	/* Kick without fd and without the no-fd flag; with an fd and the flag; bad index. */
	v = 0;
	ck_assert_uint_ne(ack(SET_VRING_KICK, &v, sizeof(v)), 0);
	v = 0x100;
	ck_assert_uint_ne(ack_fds(SET_VRING_CALL, &v, sizeof(v), &fe.call, 1), 0);
	v = 3;
	ck_assert_uint_ne(ack_fds(SET_VRING_CALL, &v, sizeof(v), &fe.call, 1), 0);
	/* An fd where none belongs. */
	st = (struct vu_state){ 0, 1 };
	ck_assert_uint_ne(ack_fds(SET_VRING_ENABLE, &st, sizeof(st), &fe.call, 1), 0);
	/* Ring addresses outside guest memory, or misaligned. */
	{
		struct vu_addr a = { .index = 0, .desc = 0x1000, .used = 0x2000, .avail = 0x3000 };

		ck_assert_uint_ne(ack(SET_VRING_ADDR, &a, sizeof(a)), 0);
		ck_assert_uint_ne(set_vring_addr(DESC_GPA + 8, AVAIL_GPA, USED_GPA, 0), 0);
		ck_assert_uint_ne(set_vring_addr(MEM_SIZE - 16, AVAIL_GPA, USED_GPA, 0), 0);
	}
	/* Requests with their own reply still answer when refused. */
	st = (struct vu_state){ 9, 0 };
	send_msg(GET_VRING_BASE, &st, sizeof(st), NULL, 0);
	ck_assert_uint_eq(recv_reply(GET_VRING_BASE, &st, sizeof(st)), sizeof(st));
	{
		uint32_t want[3] = { 0, 300, 0 };
		uint8_t out[16];

		memcpy(cfg, want, sizeof(want));
		send_msg(GET_CONFIG, cfg, sizeof(cfg), NULL, 0);
		ck_assert_uint_eq(recv_reply(GET_CONFIG, out, sizeof(out)), 0);
	}
	/* Wrong protocol version. */
	send_msg_flags(GET_FEATURES, 0x2, NULL, 0, NULL, 0);
	ck_assert_uint_eq(recv_reply(GET_FEATURES, &v, sizeof(v)), sizeof(v));

	/* The device still works. */
	ck_assert_uint_eq(blk_request(T_IN, 6, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 6, 512);
}
END_TEST

START_TEST(test_oversized_message_and_reconnect)
{
	struct vu_hdr hdr = { GET_FEATURES, F_VERSION, 1u << 20 };

	ready_device(NULL);
	/* A payload the backend will not buffer: it drops the connection... */
	ck_assert_int_eq(send(fe.conn, &hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
	expect_disconnect();
	ck_assert(backend_alive());
	/* ...and serves the next front-end from scratch. */
	fe.conn = connect_socket();
	negotiate(0);
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);
	start_queue(fe.avail_idx);
	ck_assert_uint_eq(blk_request(T_IN, 8, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 8, 512);
}
END_TEST

START_TEST(test_truncated_message)
{
	struct vu_hdr hdr = { SET_VRING_NUM, F_VERSION, 8 };
	uint32_t half = 0;

	start_backend(NULL);
	negotiate(0);
	/* Header and half the payload, then the front-end goes away. */
	ck_assert_int_eq(send(fe.conn, &hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
	ck_assert_int_eq(send(fe.conn, &half, sizeof(half), MSG_NOSIGNAL), (ssize_t)sizeof(half));
	close(fe.conn);
	fe.conn = connect_socket();
	expect_responsive();
	/* Disconnecting in the middle of a running queue is fine too. */
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);
	start_queue(0);
	close(fe.conn);
	fe.conn = connect_socket();
	expect_responsive();
}
END_TEST

/* ---- tests: hostile rings ---- */

START_TEST(test_buffer_outside_memory)
{
	uint32_t len;

	ready_device(NULL);
	/* Data outside guest memory: IOERR in the reachable status byte. */
	ck_assert_uint_eq(blk_request(T_IN, 0, OUTSIDE_GPA, 512, &len), S_IOERR);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(blk_request(T_OUT, 0, OUTSIDE_GPA, 512, NULL), S_IOERR);
	/* Data running off the end of guest memory (region 1 ends at 2 MiB). */
	ck_assert_uint_eq(blk_request(T_IN, 0, 2 * MiB - 256, 512, NULL), S_IOERR);
	/* Address + length wrapping past 2^64. */
	ck_assert_uint_eq(blk_request(T_IN, 0, UINT64_MAX - 100, 512, NULL), S_IOERR);

	/* Header too short, readable after writable. */
	put_header(T_IN, 0);
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc(0, HDR_GPA, 8, DESC_F_NEXT, 1);
	put_desc(1, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
	put_desc(2, STATUS_GPA, 1, DESC_F_WRITE, 0);
	submit(0);
	wait_used(0);
	ck_assert_uint_eq(status_byte(), S_IOERR);
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc(0, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 1);
	put_desc(1, HDR_GPA, 16, DESC_F_NEXT, 2);
	submit(0);
	wait_used(0);
	ck_assert_uint_eq(status_byte(), S_IOERR);

	/* No reachable status byte: the chain comes back unused, the status stays. */
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 1);
	put_desc(1, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
	put_desc(2, OUTSIDE_GPA, 1, DESC_F_WRITE, 0);
	submit(0);
	ck_assert_uint_eq(wait_used(0), 0);
	put_desc(2, STATUS_GPA, 1, 0, 0); /* status not device-writable */
	submit(0);
	ck_assert_uint_eq(wait_used(0), 0);
	ck_assert_uint_eq(status_byte(), 0xee);

	ck_assert_uint_eq(blk_request(T_IN, 1, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 1, 512);
}
END_TEST

START_TEST(test_descriptor_loop)
{
	struct vu_state st = { 0, 0 };

	ready_device(NULL);
	put_header(T_IN, 0);
	put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 1);
	put_desc(1, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
	put_desc(2, STATUS_GPA, 1, DESC_F_NEXT | DESC_F_WRITE, 0); /* back to 0 */
	submit(0);
	expect_queue_broken();

	/* The front-end can stop the ring, skip the bad chain and go on. */
	send_msg(GET_VRING_BASE, &st, sizeof(st), NULL, 0);
	ck_assert_uint_eq(recv_reply(GET_VRING_BASE, &st, sizeof(st)), sizeof(st));
	ck_assert_uint_eq(st.num, fe.avail_idx - 1); /* the broken chain was not taken */
	st = (struct vu_state){ 0, fe.avail_idx };
	expect_ok(SET_VRING_BASE, &st, sizeof(st));
	ring_store16(USED_GPA + 2, fe.avail_idx);
	fe.used_seen = fe.avail_idx;
	ck_assert_uint_eq(set_vring_addr(DESC_GPA, AVAIL_GPA, USED_GPA, 0), 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_CALL, fe.call), 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_KICK, fe.kick), 0);
	ck_assert_uint_eq(blk_request(T_IN, 2, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 2, 512);
}
END_TEST

START_TEST(test_chain_longer_than_ring)
{
	ready_device(NULL);
	/* Every descriptor of the table chained, the last one pointing back into the chain. */
	for (uint16_t i = 0; i < QSZ; i++)
		put_desc(i, DATA_GPA, 16, DESC_F_NEXT, (uint16_t)((i + 1) % QSZ));
	submit(3);
	expect_queue_broken();
}
END_TEST

START_TEST(test_next_out_of_table)
{
	ready_device(NULL);
	put_desc(0, HDR_GPA, 16, DESC_F_NEXT, QSZ + 4);
	submit(0);
	expect_queue_broken();
}
END_TEST

START_TEST(test_head_out_of_table)
{
	ready_device(NULL);
	submit(QSZ + 1);
	expect_queue_broken();
}
END_TEST

START_TEST(test_indirect_bad_size)
{
	ready_device(NULL);
	put_desc(0, INDIRECT_GPA, 20, DESC_F_INDIRECT, 0);
	submit(0);
	expect_queue_broken();
}
END_TEST

START_TEST(test_indirect_loop)
{
	ready_device(NULL);
	put_desc_at(INDIRECT_GPA, 0, HDR_GPA, 16, DESC_F_NEXT, 1);
	put_desc_at(INDIRECT_GPA, 1, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
	put_desc_at(INDIRECT_GPA, 2, STATUS_GPA, 1, DESC_F_NEXT | DESC_F_WRITE, 1);
	put_desc(0, INDIRECT_GPA, 3 * 16, DESC_F_INDIRECT, 0);
	submit(0);
	expect_queue_broken();
}
END_TEST

START_TEST(test_indirect_nested_and_outside)
{
	ready_device(NULL);
	/* An indirect descriptor inside an indirect table. */
	put_desc_at(INDIRECT_GPA, 0, INDIRECT_GPA + 0x100, 32, DESC_F_INDIRECT, 0);
	put_desc(0, INDIRECT_GPA, 16, DESC_F_INDIRECT, 0);
	submit(0);
	expect_queue_broken();
}
END_TEST

START_TEST(test_indirect_table_outside)
{
	ready_device(NULL);
	put_desc(0, OUTSIDE_GPA, 4 * 16, DESC_F_INDIRECT, 0);
	submit(0);
	expect_queue_broken();
}
END_TEST

START_TEST(test_avail_idx_jump)
{
	uint64_t one = 1;

	ready_device(NULL);
	fe.avail_idx = (uint16_t)(fe.avail_idx + QSZ + 5);
	ring_store16(AVAIL_GPA + 2, fe.avail_idx);
	ck_assert_int_eq(write(fe.kick, &one, sizeof(one)), (ssize_t)sizeof(one));
	expect_queue_broken();
}
END_TEST

START_TEST(test_reset_owner)
{
	uint16_t base;

	ready_device(NULL);
	ck_assert_uint_eq(blk_request(T_IN, 1, DATA_GPA, 512, NULL), S_OK);
	/* Deprecated, but must not break anything: every ring is reset, so a request made
	 * available now is not served... */
	expect_ok(4 /* RESET_OWNER */, NULL, 0);
	base = fe.avail_idx;
	put_header(T_FLUSH, 0);
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 2);
	put_desc(2, STATUS_GPA, 1, DESC_F_WRITE, 0);
	submit(0);
	{
		uint32_t id, len;

		ck_assert(!try_wait_used(&id, &len, 300));
	}
	/* ...until the front-end sets the ring up again and makes it available anew. */
	start_queue(base);
	submit(0);
	ck_assert_uint_eq(wait_used(0), 1);
	ck_assert_uint_eq(status_byte(), S_OK);
	ck_assert_uint_eq(blk_request(T_IN, 3, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 3, 512);
}
END_TEST

START_TEST(test_polling_without_kick_fd)
{
	struct vu_state st = { 0, 0 };
	uint64_t nofd = 0x100;
	uint8_t s;

	ready_device(NULL);
	send_msg(GET_VRING_BASE, &st, sizeof(st), NULL, 0);
	recv_reply(GET_VRING_BASE, &st, sizeof(st));
	st = (struct vu_state){ 0, fe.avail_idx };
	expect_ok(SET_VRING_BASE, &st, sizeof(st));
	ck_assert_uint_eq(vring_fd(SET_VRING_CALL, fe.call), 0);
	/* No kick fd: the backend polls the ring. */
	expect_ok(SET_VRING_KICK, &nofd, sizeof(nofd));
	put_header(T_IN, 12);
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 1);
	put_desc(1, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
	put_desc(2, STATUS_GPA, 1, DESC_F_WRITE, 0);
	guest_write(q.avail + 4 + 2u * (fe.avail_idx % QSZ), (uint16_t[]){ 0 }, 2);
	fe.avail_idx++;
	ring_store16(q.avail + 2, fe.avail_idx);
	ck_assert_uint_eq(wait_used(0), 512 + 1);
	guest_read(STATUS_GPA, &s, 1);
	ck_assert_uint_eq(s, S_OK);
	expect_image_in_guest(DATA_GPA, 12, 512);
}
END_TEST

START_TEST(test_two_queues)
{
	const char *const extra[] = { "--num-queues", "2", NULL };
	uint8_t cfg[12 + 36] = { 0 };
	uint32_t want[3] = { 0, 36, 0 };

	start_backend(extra);
	ck_assert(negotiate(0) & BIT(12)); /* VIRTIO_BLK_F_MQ */
	ck_assert_uint_eq(get_u64(GET_QUEUE_NUM), 2);
	memcpy(cfg, want, sizeof(want));
	send_msg(GET_CONFIG, cfg, sizeof(cfg), NULL, 0);
	recv_reply(GET_CONFIG, cfg, sizeof(cfg));
	ck_assert_uint_eq(cfg[12 + 34], 2);
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);
	start_queue(0);
	ck_assert_uint_eq(blk_request(T_IN, 20, DATA_GPA, 512, NULL), S_OK);
	/* Queue 1, rings elsewhere (in region 1), same eventfds. */
	q.index = 1;
	q.desc = MEM1_GPA + 0x1000;
	q.avail = MEM1_GPA + 0x2000;
	q.used = MEM1_GPA + 0x3000;
	start_queue(0);
	guest_fill(DATA_GPA, 0, 512);
	ck_assert_uint_eq(blk_request(T_IN, 21, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 21, 512);
}
END_TEST

START_TEST(test_sigterm)
{
	int status;

	ready_device(NULL);
	ck_assert_uint_eq(blk_request(T_IN, 1, DATA_GPA, 512, NULL), S_OK);
	/* A signal while a front-end is connected ends the backend cleanly. */
	status = stop_backend();
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x",
		      (unsigned int)status);
	ck_assert_int_ne(access(fe.sock, F_OK), 0);
}
END_TEST

/* ---- tests: peer fds that could stall the queue thread (issue 17, item 4) ---- */

/* A pipe whose buffer is full, its write end in blocking mode: a write to it would wait for
 * a reader that never comes. */
static void full_blocking_pipe(int fds[2])
{
	static const uint8_t chunk[4096];

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
	while (write(fds[1], chunk, sizeof(chunk)) > 0)
		;
	while (write(fds[1], chunk, 1) > 0) /* the last partial page too */
		;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) & ~O_NONBLOCK), 0);
}

/* A blocking eventfd at its largest count: a write of 1 to it would wait for a read. */
static int full_blocking_eventfd(void)
{
	uint64_t most = UINT64_MAX - 1;
	int fd = eventfd(0, EFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, &most, sizeof(most)), (ssize_t)sizeof(most));
	return fd;
}

/* What a hostile front-end can do to the file description it shares with the backend:
 * make it blocking again after the backend made it non-blocking. */
static void clear_nonblock(int fd)
{
	ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);
}

/* The backend answers within the timeout a request it can only handle with queue q's lock
 * (which the queue thread holds while it runs the ring). */
static void expect_reply_under_ring_lock(uint32_t req, const char *after)
{
	struct pollfd p = { .fd = fe.conn, .events = POLLIN };

	ck_assert_msg(poll(&p, 1, TIMEOUT_MS) == 1,
		      "after %s: no reply to request %u within %d ms: the queue thread is stuck "
		      "holding the ring lock (backend %s)",
		      after, req, TIMEOUT_MS, backend_alive() ? "alive" : "gone");
}

/* SET_VRING_ENABLE of the enabled queue q, which changes nothing but needs the ring lock:
 * it must be acknowledged. */
static void probe_ring_lock(const char *after)
{
	struct vu_state en = { q.index, 1 };
	uint64_t status = UINT64_MAX;

	send_msg_flags(SET_VRING_ENABLE, F_VERSION | F_NEED_REPLY, &en, sizeof(en), NULL, 0);
	expect_reply_under_ring_lock(SET_VRING_ENABLE, after);
	ck_assert_uint_eq(recv_reply(SET_VRING_ENABLE, &status, sizeof(status)), sizeof(status));
	ck_assert_uint_eq(status, 0);
}

/* GET_VRING_BASE (stops queue q): must be answered; returns the base. */
static uint16_t stop_queue(const char *after)
{
	struct vu_state st = { q.index, 0 };

	send_msg(GET_VRING_BASE, &st, sizeof(st), NULL, 0);
	expect_reply_under_ring_lock(GET_VRING_BASE, after);
	ck_assert_uint_eq(recv_reply(GET_VRING_BASE, &st, sizeof(st)), sizeof(st));
	return (uint16_t)st.num;
}

/* A request made available with a head outside the table behind it, in one kick: the ring
 * breaks (the err fd is signalled), then the good request is handed back. */
static void break_ring_after_one(void)
{
	uint16_t bad = QSZ + 1;
	uint64_t one = 1;

	put_header(T_IN, 3);
	guest_fill(STATUS_GPA, 0xee, 1);
	put_desc(0, HDR_GPA, 16, DESC_F_NEXT, 1);
	put_desc(1, DATA_GPA, 512, DESC_F_NEXT | DESC_F_WRITE, 2);
	put_desc(2, STATUS_GPA, 1, DESC_F_WRITE, 0);
	guest_write(q.avail + 4 + 2u * (fe.avail_idx % QSZ), (uint16_t[]){ 0 }, 2);
	bad = vmmem_cpu_to_le16(bad);
	guest_write(q.avail + 4 + 2u * ((fe.avail_idx + 1) % QSZ), &bad, 2);
	fe.avail_idx = (uint16_t)(fe.avail_idx + 2);
	ring_store16(q.avail + 2, fe.avail_idx);
	ck_assert_int_eq(write(fe.kick, &one, sizeof(one)), (ssize_t)sizeof(one));
	ck_assert_uint_eq(wait_used(0), 512 + 1);
	ck_assert_uint_eq(status_byte(), S_OK);
}

/* A second front-end gets served from scratch. */
static void expect_next_front_end_served(void)
{
	close(fe.conn);
	fe.conn = connect_socket();
	negotiate(0);
	ck_assert_uint_eq(set_mem_table(fe.region, 2), 0);
	start_queue(0);
	ck_assert_uint_eq(blk_request(T_IN, 11, DATA_GPA, 512, NULL), S_OK);
	expect_image_in_guest(DATA_GPA, 11, 512);
}

/* 4(a): the queue thread signals the call fd after each batch and the err fd when a ring
 * breaks, with the ring lock held. A full pipe, or a blocking eventfd at its largest count,
 * made that write block: GET_VRING_BASE then waited for the lock for ever. */
START_TEST(test_call_err_fds_cannot_stall)
{
	uint64_t pipe_call, pipe_err, efd_call, efd_err;
	int p[2], efd;

	ready_device(NULL);
	full_blocking_pipe(p);
	efd = full_blocking_eventfd();

	pipe_call = vring_fd(SET_VRING_CALL, p[1]);
	ck_assert_uint_eq(blk_request(T_IN, 1, DATA_GPA, 512, NULL), S_OK);
	start_queue(stop_queue("a full blocking pipe as call fd"));

	efd_call = vring_fd(SET_VRING_CALL, efd);
	ck_assert_uint_eq(blk_request(T_IN, 2, DATA_GPA, 512, NULL), S_OK);
	start_queue(stop_queue("a blocking eventfd at its largest count as call fd"));

	pipe_err = vring_fd(SET_VRING_ERR, p[1]);
	break_ring_after_one();
	start_queue(stop_queue("a full blocking pipe as err fd"));

	efd_err = vring_fd(SET_VRING_ERR, efd);
	break_ring_after_one();
	start_queue(stop_queue("a blocking eventfd at its largest count as err fd"));

	/* How: only eventfds are taken (the pipes were refused), made non-blocking. */
	ck_assert_uint_ne(pipe_call, 0);
	ck_assert_uint_ne(pipe_err, 0);
	ck_assert_uint_eq(efd_call, 0);
	ck_assert_uint_eq(efd_err, 0);
	ck_assert(fcntl(efd, F_GETFL) & O_NONBLOCK);

	/* The front-end shares that flag and can clear it again: the writes must still end. */
	ck_assert_uint_eq(vring_fd(SET_VRING_CALL, efd), 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_ERR, efd), 0);
	clear_nonblock(efd);
	ck_assert_uint_eq(blk_request(T_IN, 5, DATA_GPA, 512, NULL), S_OK);
	probe_ring_lock("a call fd made blocking again by the front-end");
	break_ring_after_one();
	start_queue(stop_queue("an err fd made blocking again by the front-end"));

	ck_assert_uint_eq(blk_request(T_IN, 4, DATA_GPA, 512, NULL), S_OK);
	expect_next_front_end_served();
	close(p[0]);
	close(p[1]);
	close(efd);
}
END_TEST

/* 4(b): the queue thread polled the kick fd, then read it in blocking mode, with the ring
 * lock held. A front-end that reads the kick fd too can take the byte in between (a pipe,
 * read through its own non-blocking open file description); a socket with SO_RCVLOWAT 8
 * polls readable with one byte queued but its 8-byte read waits for eight: the same stall,
 * deterministic. */
START_TEST(test_kick_fds_cannot_stall)
{
	uint64_t pipe_kick, sock_kick, count;
	char path[64], c = 'k';
	int p[2], sv[2], own, efd, lowat = 8;

	ready_device(NULL);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
	own = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(own, 0);
	pipe_kick = vring_fd(SET_VRING_KICK, p[0]);
	/* Kick, wait a little (longer each time, to sweep the backend's wake-up latency), take
	 * the byte back. Had the backend polled just before, its read now waits with the ring
	 * lock held, until a next kick that never comes. */
	for (unsigned int i = 0; i < 1000; i++) {
		struct timespec t0, t;

		ck_assert_int_eq(write(p[1], &c, 1), 1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec <
		       (long)(i % 100) * 2000);
		if (read(own, &c, 1) == 1)
			probe_ring_lock("a pipe as kick fd, its byte taken back by the front-end");
	}

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)), 0);
	sock_kick = vring_fd(SET_VRING_KICK, sv[0]);
	ck_assert_int_eq(send(sv[1], &c, 1, MSG_NOSIGNAL), 1);
	sleep_ms(100); /* time for the queue thread to wake up and read */
	probe_ring_lock("one byte on a SO_RCVLOWAT socket as kick fd");

	/* How: the pipe and the socket are not eventfds, so both were refused. */
	ck_assert_uint_ne(pipe_kick, 0);
	ck_assert_uint_ne(sock_kick, 0);

	/* The same steal on an eventfd, which is taken, with O_NONBLOCK cleared again by the
	 * front-end; it takes the count back without blocking itself (RWF_NOWAIT). */
	efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(efd, 0);
	ck_assert_uint_eq(vring_fd(SET_VRING_KICK, efd), 0);
	clear_nonblock(efd);
	for (unsigned int i = 0; i < 1000; i++) {
		struct iovec iov = { &count, sizeof(count) };
		struct timespec t0, t;

		count = 1;
		ck_assert_int_eq(write(efd, &count, sizeof(count)), (ssize_t)sizeof(count));
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do
			clock_gettime(CLOCK_MONOTONIC, &t);
		while ((t.tv_sec - t0.tv_sec) * 1000000000L + t.tv_nsec - t0.tv_nsec <
		       (long)(i % 100) * 2000);
		if (preadv2(efd, &iov, 1, -1, RWF_NOWAIT) == (ssize_t)sizeof(count))
			probe_ring_lock("an eventfd kick made blocking again, its count taken back");
	}
	ck_assert_uint_eq(vring_fd(SET_VRING_KICK, fe.kick), 0);

	ck_assert_uint_eq(blk_request(T_IN, 5, DATA_GPA, 512, NULL), S_OK);
	expect_next_front_end_served();
	close(own);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(efd);
}
END_TEST

/* SIGTERM ends the backend even when the front-end made the queue thread's call write
 * block (a blocking eventfd at its largest count, O_NONBLOCK cleared again after the
 * backend set it) and GET_VRING_BASE is waiting for the ring lock behind it. */
START_TEST(test_sigterm_with_stalling_call_fd)
{
	struct vu_state st = { 0, 0 };
	int efd = full_blocking_eventfd(), status;

	ready_device(NULL);
	ck_assert_uint_eq(vring_fd(SET_VRING_CALL, efd), 0);
	clear_nonblock(efd);
	ck_assert_uint_eq(blk_request(T_IN, 1, DATA_GPA, 512, NULL), S_OK);
	send_msg(GET_VRING_BASE, &st, sizeof(st), NULL, 0);
	status = stop_backend();
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "SIGTERM did not end the backend cleanly within %d ms (wait status 0x%x)",
		      TIMEOUT_MS, (unsigned int)status);
	close(efd);
}
END_TEST

static Suite *vhost_backend_suite(void)
{
	Suite *s = suite_create("vhost_backend");
	TCase *proto = tcase_create("protocol");
	TCase *io = tcase_create("io");
	TCase *memory = tcase_create("memory");
	TCase *hostile = tcase_create("hostile");
	TCase *stalls = tcase_create("stalls");

	TCase *all[] = { proto, io, memory, hostile, stalls };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		tcase_add_unchecked_fixture(all[i], make_tmpdir, remove_tmpdir);
		tcase_add_checked_fixture(all[i], setup, teardown);
		tcase_set_timeout(all[i], 120);
	}

	tcase_add_test(proto, test_negotiation);
	tcase_add_test(proto, test_sigterm);
	tcase_add_test(proto, test_oversized_message_and_reconnect);
	tcase_add_test(proto, test_truncated_message);
	tcase_add_test(proto, test_reset_owner);
	tcase_add_test(io, test_polling_without_kick_fd);
	tcase_add_test(io, test_two_queues);
	tcase_add_test(io, test_read_write);
	tcase_add_test(io, test_read_only);
	tcase_add_test(io, test_scatter_gather);
	tcase_add_test(io, test_iommu_platform);
	tcase_add_test(memory, test_add_remove_regions);
	tcase_add_test(memory, test_remove_last_region);
	tcase_add_test(memory, test_hotplug_during_io);
	tcase_add_test(memory, test_too_many_slots);
	tcase_add_test(memory, test_memory_size_default_cap);
	tcase_add_test(memory, test_memory_size_option);
	tcase_add_test(memory, test_dirty_log);
	tcase_add_test(memory, test_bad_log);
	tcase_add_test(memory, test_check_log);
	tcase_add_test(memory, test_bad_memory_tables);
	tcase_add_test(memory, test_allow_unsealed);
	tcase_add_test(hostile, test_bad_messages);
	tcase_add_test(hostile, test_buffer_outside_memory);
	tcase_add_test(hostile, test_descriptor_loop);
	tcase_add_test(hostile, test_chain_longer_than_ring);
	tcase_add_test(hostile, test_next_out_of_table);
	tcase_add_test(hostile, test_head_out_of_table);
	tcase_add_test(hostile, test_indirect_bad_size);
	tcase_add_test(hostile, test_indirect_loop);
	tcase_add_test(hostile, test_indirect_nested_and_outside);
	tcase_add_test(hostile, test_indirect_table_outside);
	tcase_add_test(hostile, test_avail_idx_jump);
	tcase_add_test(stalls, test_call_err_fds_cannot_stall);
	tcase_add_test(stalls, test_kick_fds_cannot_stall);
	tcase_add_test(stalls, test_sigterm_with_stalling_call_fd);
	suite_add_tcase(s, proto);
	suite_add_tcase(s, io);
	suite_add_tcase(s, memory);
	suite_add_tcase(s, hostile);
	suite_add_tcase(s, stalls);
	return s;
}

int main(void)
{
	const char *dir = getenv("VMMEM_TEST_BINARY_DIR");
	char path[PATH_MAX];

	/* Without the example (VMMEM_BUILD_EXAMPLES=OFF) there is nothing to test. */
	if (dir && snprintf(path, sizeof(path), "%s/../examples/vhost-user-blk/vmmem-vhost-user-blk",
			    dir) < (int)sizeof(path) && access(path, X_OK) != 0) {
		printf("SKIP: %s is not built\n", path);
		return 77;
	}
	return tu_run_suite(vhost_backend_suite());
}
