/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmmem-vhost-user-blk: a vhost-user block device back-end whose every access to guest
 * memory goes through libvmmem's public API.
 *
 * It listens on a Unix socket, serves one front-end (e.g. QEMU's vhost-user-blk-pci) at a
 * time, and accepts the next one when it goes away. SIGINT and SIGTERM end it cleanly
 * (exit status 0, the socket removed).
 *
 *   vmmem-vhost-user-blk --socket-path PATH --blk-file IMAGE [--read-only]
 *                        [--max-mem-slots N] [--max-mem-size SIZE] [--num-queues N]
 *                        [--allow-unsealed] [--verbose] [--check-log]
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "blk.h"
#include "logcheck.h"
#include "logging.h"
#include "vhost_user.h"

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

/* Exit status of a wrong command line (vmmem-vhost-user-blk(1)); runtime errors exit 1. */
#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fputs("usage: vmmem-vhost-user-blk --socket-path PATH --blk-file IMAGE [options]\n"
	      "  --socket-path PATH   listen on this Unix socket (a stale socket is replaced)\n"
	      "  --blk-file IMAGE     raw image file or block device to serve\n"
	      "  --read-only          refuse writes, offer VIRTIO_BLK_F_RO\n"
	      "  --max-mem-slots N    memory regions accepted at once (default 509, max 512)\n"
	      "  --max-mem-size SIZE  bytes of guest memory accepted at once, in all regions\n"
	      "                       together; K, M, G or T multiply by 1024^1..4 (default 1T)\n"
	      "  --num-queues N       virtqueues offered (default 1, max 8)\n"
	      "  --allow-unsealed     accept memory and log fds not sealed against shrinking\n"
	      "                       (e.g. QEMU memory-backend-file)\n"
	      "  --verbose            trace every message\n"
	      "  --check-log          after each guest write made while a dirty log is attached,\n"
	      "                       check that the log marks its pages; print the counts at\n"
	      "                       each SET_LOG_BASE, disconnect and exit\n"
	      "  --help, --version\n"
	      "Exit status: 0 after a clean disconnect, 1 runtime error, 2 usage error.\n",
	      f);
}

static int parse_uint(const char *arg, const char *what, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max) {
		fprintf(stderr, "vmmem-vhost-user-blk: %s must be a number from %u to %u, not '%s'\n",
			what, min, max, arg);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

/* A byte count, at least 1, with an optional binary K/M/G/T suffix. */
static int parse_size(const char *arg, const char *what, uint64_t *out)
{
	static const char units[] = "KMGT";
	unsigned long long v = 0;
	unsigned int shift = 0;
	const char *unit;
	char *end = NULL;

	errno = 0;
	if (isdigit((unsigned char)arg[0])) /* strtoull would take a sign and spaces */
		v = strtoull(arg, &end, 10);
	if (end && *end && end[1] == '\0') {
		unit = strchr(units, toupper((unsigned char)*end));
		if (unit) {
			shift = 10u * (unsigned int)(unit - units + 1);
			end++;
		}
	}
	if (!end || *end || errno || v == 0 || v > (UINT64_MAX >> shift)) {
		fprintf(stderr, "vmmem-vhost-user-blk: %s must be a byte count from 1 to 2^64 - 1, "
			"with an optional K, M, G or T suffix, not '%s'\n",
			what, arg);
		return -1;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

/* Listen on path, replacing a stale socket but never another kind of file. */
static int listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		vub_log("socket path %s is too long (at most %zu bytes)", path,
			sizeof(addr.sun_path) - 1);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			vub_log("%s exists and is not a socket; not replacing it", path);
			return -1;
		}
		if (unlink(path) < 0) {
			vub_log("cannot remove the stale socket %s: %s", path, strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0) {
		vub_log("cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Wait for a front-end; -1 on a signal or error. */
static int accept_one(int lfd, const sigset_t *wait_mask)
{
	for (;;) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int fd;

		if (quit)
			return -1;
		if (ppoll(&p, 1, NULL, wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			vub_log("poll on the listening socket: %s", strerror(errno));
			return -1;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
			vub_log("accept: %s", strerror(errno));
			return -1;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "blk-file", required_argument, NULL, 'b' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "max-mem-slots", required_argument, NULL, 'm' },
		{ "max-mem-size", required_argument, NULL, 'M' },
		{ "num-queues", required_argument, NULL, 'q' },
		{ "allow-unsealed", no_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "check-log", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct vu_options opt = { .max_mem_slots = VUB_DEFAULT_MEM_SLOTS,
				  .max_mem_size = VUB_DEFAULT_MEM_SIZE,
				  .num_queues = 1 };
	const char *socket_path = NULL, *blk_file = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, wait_mask;
	struct blk_dev blk;
	bool read_only = false;
	int lfd, c, status = EXIT_SUCCESS;

	while ((c = getopt_long(argc, argv, "hV", long_opts, NULL)) != -1) {
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'b': blk_file = optarg; break;
		case 'r': read_only = true; break;
		case 'u': opt.allow_unsealed = true; break;
		case 'v': vub_verbose = true; break;
		case 'c': logcheck_enabled = true; break;
		case 'm':
			if (parse_uint(optarg, "--max-mem-slots", 1, VUB_MAX_MEM_SLOTS,
				       &opt.max_mem_slots))
				return EXIT_USAGE;
			break;
		case 'M':
			if (parse_size(optarg, "--max-mem-size", &opt.max_mem_size))
				return EXIT_USAGE;
			break;
		case 'q':
			if (parse_uint(optarg, "--num-queues", 1, VUB_MAX_QUEUES, &opt.num_queues))
				return EXIT_USAGE;
			break;
		case 'h': usage(stdout); return EXIT_SUCCESS;
		case 'V': printf("vmmem-vhost-user-blk %s\n", vmmem_version_string()); return EXIT_SUCCESS;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (!socket_path || !blk_file || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}

	/* SIGINT/SIGTERM stay blocked except while waiting (ppoll), so a signal can never
	 * slip in between a check of 'quit' and the wait. No SA_RESTART: waits end. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (blk_open(&blk, blk_file, read_only))
		return EXIT_FAILURE;
	lfd = listen_on(socket_path);
	if (lfd < 0) {
		blk_close(&blk);
		return EXIT_FAILURE;
	}
	vub_log("serving %s (%" PRIu64 " sectors%s) on %s", blk_file, blk.capacity,
		read_only ? ", read-only" : "", socket_path);
	while (!quit) {
		int fd = accept_one(lfd, &wait_mask);
		enum vu_end end;

		if (fd < 0) {
			if (!quit)
				status = EXIT_FAILURE;
			break;
		}
		vub_log("front-end connected");
		end = vu_serve(fd, &opt, &blk, &wait_mask, &quit);
		if (end == VU_END_FATAL) {
			status = EXIT_FAILURE;
			break;
		}
	}
	if (quit)
		vub_log("signal received; exiting");
	logcheck_report();
	close(lfd);
	unlink(socket_path);
	blk_close(&blk);
	return status;
}
