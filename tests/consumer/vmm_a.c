/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmm_a: stand-in for a hypervisor (install_two_consumers). Builds memfd guest memory from
 * a config string, forks and execs vmm_b (argv[1]) with its end of a socketpair, and passes
 * every region to it (vmmem_region_to_vhost + SCM_RIGHTS). Then B writes and A reads, A
 * writes and B reads, both checking byte for byte. Exits 0 only if both sides succeeded.
 */
#include "vmm_proto.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#define PROG "vmm_a"

static int share_regions(int sock, const struct vmmem_memory *mem)
{
	size_t n = vmmem_memory_region_count(mem);
	struct vmm_msg m;
	int rc;

	for (size_t i = 0; i < n; i++) {
		int fd = -1;

		memset(&m, 0, sizeof(m));
		m.type = VMM_MSG_REGION;
		rc = vmmem_region_to_vhost(vmmem_memory_region_at(mem, i), &m.desc, &fd);
		if (rc < 0) {
			consumer_fail(PROG, "vmmem_region_to_vhost", rc);
			return -1;
		}
		rc = vmm_send(sock, &m, fd);
		if (rc < 0) {
			fprintf(stderr, PROG ": sending region %zu: %s\n", i, strerror(-rc));
			return -1;
		}
	}
	memset(&m, 0, sizeof(m));
	m.type = VMM_MSG_DONE;
	m.count = (uint32_t)n;
	rc = vmm_send(sock, &m, -1);
	if (rc < 0) {
		fprintf(stderr, PROG ": sending done: %s\n", strerror(-rc));
		return -1;
	}
	return 0;
}

static int exchange(int sock, const struct vmmem_memory *mem)
{
	static uint8_t buf[VMM_SPAN];
	int rc;

	if (share_regions(sock, mem) < 0 || vmm_expect(PROG, sock, VMM_MSG_B_WROTE) < 0)
		return -1;
	rc = vmmem_memory_read_exact(mem, VMM_SPAN_GPA, buf, sizeof(buf), NULL);
	if (rc < 0) {
		consumer_fail(PROG, "vmmem_memory_read_exact", rc);
		return -1;
	}
	if (consumer_verify(PROG, buf, sizeof(buf), 2) < 0)
		return -1;
	printf(PROG ": read B's pattern: ok\n");
	consumer_fill(buf, sizeof(buf), 3);
	rc = vmmem_memory_write_exact(mem, VMM_SPAN_GPA, buf, sizeof(buf), NULL);
	if (rc < 0) {
		consumer_fail(PROG, "vmmem_memory_write_exact", rc);
		return -1;
	}
	if (vmm_tell(PROG, sock, VMM_MSG_A_WROTE) < 0 || vmm_expect(PROG, sock, VMM_MSG_OK) < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *mem = NULL;
	struct vmmem_ctx *ctx = NULL;
	int sv[2] = { -1, -1 }, status = 0, rc, ret = 1;
	pid_t pid = -1;

	if (argc != 2) {
		fprintf(stderr, "usage: " PROG " PATH-TO-VMM_B\n");
		return 2;
	}
	alarm(3 * VMM_TIMEOUT_S);
	if (consumer_use_installed_providers(PROG) < 0 || consumer_check_library(PROG) < 0)
		return 1;
	rc = vmmem_ctx_new(&ctx);
	if (rc < 0) {
		consumer_fail(PROG, "vmmem_ctx_new", rc);
		return 1;
	}
	rc = vmmem_config_parse(&cfg, VMM_CONFIG);
	if (rc < 0) {
		consumer_fail(PROG, "vmmem_config_parse", rc);
		goto out;
	}
	rc = vmmem_memory_new_from_config(&mem, ctx, cfg);
	if (rc < 0) {
		consumer_fail(PROG, "vmmem_memory_new_from_config", rc);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    vmm_set_timeout(sv[0]) < 0) {
		perror(PROG ": socketpair");
		goto out;
	}
	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	if (pid < 0) {
		perror(PROG ": fork");
		goto out;
	}
	if (pid == 0) {
		char arg[16];

		/* B inherits only its end of the socket, under the number given as argument. */
		if (fcntl(sv[1], F_SETFD, 0) < 0)
			_exit(127);
		snprintf(arg, sizeof(arg), "%d", sv[1]);
		execl(argv[1], argv[1], arg, (char *)NULL);
		perror(PROG ": exec vmm_b");
		_exit(127);
	}
	close(sv[1]);
	sv[1] = -1;
	if (exchange(sv[0], mem) < 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		goto out;
	}
	if (waitpid(pid, &status, 0) < 0) {
		perror(PROG ": waitpid");
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, PROG ": vmm_b failed (status %#x)\n", (unsigned)status);
		goto out;
	}
	printf(PROG ": ok\n");
	ret = 0;
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	vmmem_memory_unref(mem);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
	return ret;
}
