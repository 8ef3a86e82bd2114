/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The little protocol between vmm_a and vmm_b (install_two_consumers) over a SOCK_SEQPACKET
 * socketpair:
 *   A -> B  struct vmm_msg{VMM_MSG_REGION, desc} + SCM_RIGHTS fd, once per region
 *   A -> B  struct vmm_msg{VMM_MSG_DONE, count}
 *   B -> A  VMM_MSG_B_WROTE   B wrote pattern 2 at VMM_SPAN_GPA
 *   A -> B  VMM_MSG_A_WROTE   A checked it and wrote pattern 3 there
 *   B -> A  VMM_MSG_OK        B checked pattern 3 (else VMM_MSG_FAIL)
 * Every receive is bounded by SO_RCVTIMEO, and both programs by alarm().
 */
#ifndef VMMEM_VMM_PROTO_H
#define VMMEM_VMM_PROTO_H

#include "consumer_common.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { VMM_MSG_REGION = 1, VMM_MSG_DONE, VMM_MSG_B_WROTE, VMM_MSG_A_WROTE, VMM_MSG_OK,
       VMM_MSG_FAIL };

struct vmm_msg {
	uint32_t type;
	uint32_t count;
	struct vmmem_vhost_region desc;
};

#define VMM_CONFIG "memfd:gpa=0,size=4M;memfd:gpa=4M,size=4M"
#define VMM_MIB (1024u * 1024u)
#define VMM_SPAN (256u * 1024u)
/* Crosses the boundary between the two regions. */
#define VMM_SPAN_GPA (4 * VMM_MIB - VMM_SPAN / 2)
#define VMM_TIMEOUT_S 20

static inline int vmm_set_timeout(int sock)
{
	struct timeval tv = { .tv_sec = VMM_TIMEOUT_S };

	return setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Send @p m, with @p fd attached if fd >= 0. 0 or -errno. */
static inline int vmm_send(int sock, const struct vmm_msg *m, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memset(&u, 0, sizeof(u));
	if (fd >= 0) {
		struct cmsghdr *c;

		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
		return -errno ? -errno : -EIO;
	return 0;
}

/* Receive one message; *fd gets the attached descriptor or -1. 0 or -errno. */
static inline int vmm_recv(int sock, struct vmm_msg *m, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(*m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return -EPROTO;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	}
	return 0;
}

/* Receive a message that must be of @p type and carry no fd. 0 or -1. */
static inline int vmm_expect(const char *prog, int sock, uint32_t type)
{
	struct vmm_msg m;
	int fd, rc = vmm_recv(sock, &m, &fd);

	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		fprintf(stderr, "%s: waiting for message %u: %s\n", prog, type, strerror(-rc));
		return -1;
	}
	if (m.type != type) {
		fprintf(stderr, "%s: got message %u, expected %u\n", prog, m.type, type);
		return -1;
	}
	return 0;
}

static inline int vmm_tell(const char *prog, int sock, uint32_t type)
{
	struct vmm_msg m = { .type = type };
	int rc = vmm_send(sock, &m, -1);

	if (rc < 0)
		fprintf(stderr, "%s: sending message %u: %s\n", prog, type, strerror(-rc));
	return rc < 0 ? -1 : 0;
}

#endif /* VMMEM_VMM_PROTO_H */
