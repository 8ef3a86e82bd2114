/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * share-peer: the other process of the two-process sharing tests (a stand-in for a
 * vhost-user backend). Usage: share-peer SOCKET-PATH
 *
 * Connects to SOCKET-PATH, receives one struct sp_request with its fds (SCM_RIGHTS),
 * imports every region with vmmem_region_import(), builds a memory, verifies the test's
 * pattern, optionally discards a range and writes its own pattern, and answers with one
 * struct sp_reply (share_proto.h). Exit status: 0 when a reply was sent (whatever it
 * says), 2 for bad usage, 3 when the socket failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <vmmem.h>

#include "share_proto.h"

static void set_message(struct sp_reply *rep, const char *msg)
{
	snprintf(rep->message, sizeof(rep->message), "%s", msg);
}

/* Receive the request and its fds; returns the number of fds or -1. */
static int receive(int sock, struct sp_request *req, int *fds, struct sp_reply *rep)
{
	union {
		char buf[CMSG_SPACE(SP_MAX_REGIONS * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = req, .iov_len = sizeof(*req) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	int nfds = 0;
	ssize_t n;

	memset(&control, 0, sizeof(control));
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(rep->message, sizeof(rep->message), "recvmsg: %s", strerror(errno));
		return -1;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k && nfds < SP_MAX_REGIONS; i++)
			memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if ((size_t)n != sizeof(*req) || req->magic != SP_MAGIC_REQUEST ||
	    req->count > SP_MAX_REGIONS || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (uint32_t)nfds != req->count) {
		snprintf(rep->message, sizeof(rep->message),
			 "bad request: %zd bytes, magic 0x%x, count %u, %d fds, flags 0x%x", n,
			 req->magic, req->count, nfds, (unsigned int)msg.msg_flags);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return -1;
	}
	return nfds;
}

/* Do what the request says; the reply tells how far it got. */
static void serve(const struct sp_request *req, int *fds, struct sp_reply *rep)
{
	struct vmmem_region *regions[SP_MAX_REGIONS] = { NULL };
	struct vmmem_memory *m = NULL;
	uint8_t *buf = NULL;
	uint32_t i;
	int rc;

	rep->stage = SP_STAGE_IMPORT;
	for (i = 0; i < req->count; i++) {
		regions[i] = (struct vmmem_region *)(uintptr_t)0x1000; /* must become NULL */
		rc = vmmem_region_import(&regions[i], &req->regions[i], fds[i], req->import_flags);
		if (rc) {
			rep->status = rc;
			rep->index = i;
			rep->out_null = regions[i] == NULL;
			regions[i] = NULL;
			set_message(rep, vmmem_errormsg());
			goto out;
		}
		rep->page_size[i] = vmmem_region_page_size(regions[i]);
		if (vmmem_region_fd(regions[i]) != fds[i])
			rep->fd_differs |= UINT64_C(1) << i;
		/* The region keeps its own duplicate: ours can go right away. */
		close(fds[i]);
		fds[i] = -1;
	}
	rep->stage = SP_STAGE_MEMORY;
	rc = vmmem_memory_new(&m, regions, req->count);
	if (rc) {
		rep->status = rc;
		set_message(rep, vmmem_errormsg());
		goto out;
	}
	rep->count = (uint32_t)vmmem_memory_region_count(m);

	rep->stage = SP_STAGE_VERIFY;
	if (req->check_len) {
		uint64_t bad;

		buf = malloc(req->check_len);
		if (!buf) {
			rep->status = -ENOMEM;
			set_message(rep, "out of memory");
			goto out;
		}
		rc = vmmem_memory_read_exact(m, req->check_gpa, buf, req->check_len, NULL);
		if (rc) {
			rep->status = rc;
			set_message(rep, vmmem_errormsg());
			goto out;
		}
		bad = sp_mismatch(buf, req->check_gpa, req->check_len, req->check_seed, 0);
		if (bad != req->check_len) {
			rep->status = SP_MISMATCH;
			rep->detail = req->check_gpa + bad;
			snprintf(rep->message, sizeof(rep->message),
				 "byte at GPA 0x%llx is 0x%02x, expected 0x%02x",
				 (unsigned long long)rep->detail, buf[bad],
				 sp_byte(rep->detail, req->check_seed));
			goto out;
		}
		free(buf);
		buf = NULL;
	}

	rep->stage = SP_STAGE_DISCARD;
	if (req->discard_len) {
		rc = vmmem_memory_discard(m, req->discard_gpa, req->discard_len);
		if (rc) {
			rep->status = rc;
			set_message(rep, vmmem_errormsg());
			goto out;
		}
	}

	rep->stage = SP_STAGE_WRITE;
	if (req->write_len) {
		buf = malloc(req->write_len);
		if (!buf) {
			rep->status = -ENOMEM;
			set_message(rep, "out of memory");
			goto out;
		}
		sp_gen(buf, req->write_gpa, req->write_len, req->write_seed);
		rc = vmmem_memory_write_exact(m, req->write_gpa, buf, req->write_len, NULL);
		if (rc) {
			rep->status = rc;
			set_message(rep, vmmem_errormsg());
			goto out;
		}
	}
	rep->stage = SP_STAGE_DONE;
out:
	free(buf);
	vmmem_memory_unref(m);
	for (i = 0; i < SP_MAX_REGIONS; i++)
		vmmem_region_unref(regions[i]);
	for (i = 0; i < req->count; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 60 };
	struct sp_request req;
	struct sp_reply rep;
	int fds[SP_MAX_REGIONS], sock;
	ssize_t n;

	if (argc != 2 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: share-peer SOCKET-PATH\n");
		return 2;
	}
	memcpy(addr.sun_path, argv[1], strlen(argv[1]) + 1);
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "share-peer: connecting to %s: %s\n", argv[1], strerror(errno));
		if (sock >= 0)
			close(sock);
		return 3;
	}
	/* Never wait forever for a test that died. */
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	memset(&req, 0, sizeof(req));
	memset(&rep, 0, sizeof(rep));
	rep.magic = SP_MAGIC_REPLY;
	rep.stage = SP_STAGE_RECV;
	if (receive(sock, &req, fds, &rep) < 0)
		rep.status = -EPROTO;
	else
		serve(&req, fds, &rep);
	do
		n = send(sock, &rep, sizeof(rep), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	close(sock);
	if (n != (ssize_t)sizeof(rep)) {
		fprintf(stderr, "share-peer: sending the reply: %s\n",
			n < 0 ? strerror(errno) : "short send");
		return 3;
	}
	return 0;
}
