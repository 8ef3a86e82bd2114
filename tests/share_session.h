/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The test side of the two-process sharing tests: run the peer program
 * ($VMMEM_TEST_BINARY_DIR/peer/share-peer) on a fresh Unix socket, send it one request with
 * its fds (SCM_RIGHTS), collect its reply and reap it. Every wait is bounded; the peer is
 * killed and reaped if it does not finish. sp_run() never aborts the test half-way (no
 * ck_assert inside), so the socket, the directory and the child are always cleaned up; the
 * caller asserts on the result.
 */
#ifndef VMMEM_TEST_SHARE_SESSION_H
#define VMMEM_TEST_SHARE_SESSION_H

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "share_proto.h"

/* Bounds on every wait (generous: the test itself may run under valgrind). */
#define SP_CONNECT_TIMEOUT_MS 30000
#define SP_REPLY_TIMEOUT_MS 60000
#define SP_EXIT_TIMEOUT_MS 30000

struct sp_result {
	bool ok;               /* a full reply came and the peer was reaped */
	char why[512];         /* what went wrong otherwise */
	struct sp_reply reply; /* the peer's answer */
	bool exited;           /* the peer exited (not killed by a signal) */
	int exit_code;         /* its exit status if exited */
	int signal;            /* the signal that ended it, if any */
};

static inline void sp_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Reap pid within timeout_ms, else SIGKILL and reap. Returns true if it ended by itself. */
static inline bool sp_reap(pid_t pid, int timeout_ms, struct sp_result *res)
{
	int status = 0;
	pid_t w = 0;

	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		do
			w = waitpid(pid, &status, WNOHANG);
		while (w < 0 && errno == EINTR);
		if (w != 0)
			break;
		sp_sleep_ms(10);
	}
	if (w == 0) {
		kill(pid, SIGKILL);
		do
			w = waitpid(pid, &status, 0);
		while (w < 0 && errno == EINTR);
		res->signal = SIGKILL;
		return false;
	}
	if (w == pid && WIFEXITED(status)) {
		res->exited = true;
		res->exit_code = WEXITSTATUS(status);
	} else if (w == pid && WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
	}
	return w == pid;
}

/* Wait until fd is readable; meanwhile notice if the child died. 1 ready, 0 timeout or
 * child gone, -1 error. */
static inline int sp_wait_readable(int fd, pid_t pid, int timeout_ms, bool *child_gone)
{
	for (int waited = 0; waited < timeout_ms; waited += 100) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, 100);
		siginfo_t info;

		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
		/* WNOWAIT: leave the child to sp_reap(). */
		memset(&info, 0, sizeof(info));
		if (child_gone && waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    info.si_pid == pid) {
			/* Exited: one last look, then give up. */
			p.revents = 0;
			if (poll(&p, 1, 0) > 0)
				return 1;
			*child_gone = true;
			return 0;
		}
	}
	return 0;
}

/* Path of the peer program. */
static inline bool sp_peer_path(char *buf, size_t size)
{
	const char *dir = getenv("VMMEM_TEST_BINARY_DIR");

	if (!dir || snprintf(buf, size, "%s/peer/share-peer", dir) >= (int)size)
		return false;
	return access(buf, X_OK) == 0;
}

/*
 * Run the peer with request req (req->count fds in fds, sent with it). Fills res; returns
 * res->ok. The fds stay the caller's.
 */
static inline bool sp_run(const struct sp_request *req, const int *fds, struct sp_result *res)
{
	char peer[PATH_MAX], dir[] = "/tmp/vmmem-share-XXXXXX";
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int lsock = -1, conn = -1;
	bool have_dir = false, gone = false;
	pid_t pid = -1;
	ssize_t n;

	memset(res, 0, sizeof(*res));
	if (!sp_peer_path(peer, sizeof(peer))) {
		snprintf(res->why, sizeof(res->why),
			 "peer program not found: $VMMEM_TEST_BINARY_DIR/peer/share-peer (%s)",
			 getenv("VMMEM_TEST_BINARY_DIR") ? getenv("VMMEM_TEST_BINARY_DIR")
							 : "VMMEM_TEST_BINARY_DIR unset");
		return false;
	}
	if (req->count > SP_MAX_REGIONS) {
		snprintf(res->why, sizeof(res->why), "too many regions");
		return false;
	}
	if (!mkdtemp(dir)) {
		snprintf(res->why, sizeof(res->why), "mkdtemp: %s", strerror(errno));
		return false;
	}
	have_dir = true;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/sock", dir);
	lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(lsock, 1) < 0) {
		snprintf(res->why, sizeof(res->why), "listening on %s: %s", addr.sun_path,
			 strerror(errno));
		goto out;
	}

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(res->why, sizeof(res->why), "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		char *const argv[] = { peer, addr.sun_path, NULL };

		execv(peer, argv);
		_exit(127);
	}

	if (sp_wait_readable(lsock, pid, SP_CONNECT_TIMEOUT_MS, &gone) != 1) {
		snprintf(res->why, sizeof(res->why), "the peer did not connect%s",
			 gone ? " (it exited)" : " in time");
		goto out;
	}
	conn = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0) {
		snprintf(res->why, sizeof(res->why), "accept: %s", strerror(errno));
		goto out;
	}

	{
		union {
			char buf[CMSG_SPACE(SP_MAX_REGIONS * sizeof(int))];
			struct cmsghdr align;
		} control;
		struct iovec iov = { .iov_base = (void *)(uintptr_t)req, .iov_len = sizeof(*req) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

		memset(&control, 0, sizeof(control));
		if (req->count) {
			struct cmsghdr *c;

			msg.msg_control = control.buf;
			msg.msg_controllen = CMSG_SPACE(req->count * sizeof(int));
			c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(req->count * sizeof(int));
			memcpy(CMSG_DATA(c), fds, req->count * sizeof(int));
		}
		do
			n = sendmsg(conn, &msg, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)sizeof(*req)) {
			snprintf(res->why, sizeof(res->why), "sendmsg: %s",
				 n < 0 ? strerror(errno) : "short");
			goto out;
		}
	}

	if (sp_wait_readable(conn, pid, SP_REPLY_TIMEOUT_MS, &gone) != 1) {
		snprintf(res->why, sizeof(res->why), "no reply from the peer%s",
			 gone ? " (it exited)" : " in time");
		goto out;
	}
	do
		n = recv(conn, &res->reply, sizeof(res->reply), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(res->reply) || res->reply.magic != SP_MAGIC_REPLY) {
		snprintf(res->why, sizeof(res->why), "bad reply from the peer (%zd bytes%s%s)", n,
			 n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		goto out;
	}
	res->reply.message[sizeof(res->reply.message) - 1] = '\0';
	res->ok = true;
out:
	if (conn >= 0)
		close(conn);
	if (lsock >= 0)
		close(lsock);
	if (pid > 0 && !sp_reap(pid, SP_EXIT_TIMEOUT_MS, res) && res->ok) {
		res->ok = false;
		snprintf(res->why, sizeof(res->why), "the peer did not exit in time (killed)");
	}
	if (have_dir) {
		unlink(addr.sun_path);
		rmdir(dir);
	}
	return res->ok;
}

/* Describe a result for assertion messages. */
static inline const char *sp_describe(const struct sp_result *res, char *buf, size_t size)
{
	snprintf(buf, size, "%s%sstage %u status %d (%s) index %u: %s; exit %s %d",
		 res->ok ? "" : res->why, res->ok ? "" : "; ", res->reply.stage, res->reply.status,
		 res->reply.status < 0 ? vmmem_strerror(res->reply.status) : "-", res->reply.index,
		 res->reply.message, res->exited ? "code" : "signal",
		 res->exited ? res->exit_code : res->signal);
	return buf;
}

#endif /* VMMEM_TEST_SHARE_SESSION_H */
