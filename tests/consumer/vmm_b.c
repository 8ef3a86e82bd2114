/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmm_b: stand-in for a second hypervisor / vhost-user backend (install_two_consumers),
 * started by vmm_a with the number of its socket as argv[1]. Imports every region A sends
 * (vmmem_region_import), builds a memory of them, writes pattern 2 for A to check, then
 * checks pattern 3 that A wrote.
 */
#include "vmm_proto.h"

#define PROG "vmm_b"
#define MAX_REGIONS 8

static int import_regions(int sock, struct vmmem_memory **mem)
{
	struct vmmem_region *regions[MAX_REGIONS];
	size_t n = 0;
	int rc, ret = -1;

	for (;;) {
		struct vmm_msg m;
		int fd;

		rc = vmm_recv(sock, &m, &fd);
		if (rc < 0) {
			fprintf(stderr, PROG ": receiving regions: %s\n", strerror(-rc));
			goto out;
		}
		if (m.type == VMM_MSG_DONE) {
			if (m.count != n || n == 0) {
				fprintf(stderr, PROG ": got %zu regions, A sent %u\n", n, m.count);
				goto out;
			}
			break;
		}
		if (m.type != VMM_MSG_REGION || fd < 0 || n == MAX_REGIONS) {
			fprintf(stderr, PROG ": bad region message (type %u, fd %d)\n", m.type, fd);
			if (fd >= 0)
				close(fd);
			goto out;
		}
		rc = vmmem_region_import(&regions[n], &m.desc, fd, 0);
		close(fd);
		if (rc < 0) {
			consumer_fail(PROG, "vmmem_region_import", rc);
			goto out;
		}
		n++;
	}
	rc = vmmem_memory_new(mem, regions, n);
	if (rc < 0) {
		consumer_fail(PROG, "vmmem_memory_new", rc);
		goto out;
	}
	printf(PROG ": imported %zu regions\n", n);
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		vmmem_region_unref(regions[i]);
	return ret;
}

static int exchange(int sock, const struct vmmem_memory *mem)
{
	static uint8_t buf[VMM_SPAN];
	int rc;

	consumer_fill(buf, sizeof(buf), 2);
	rc = vmmem_memory_write_exact(mem, VMM_SPAN_GPA, buf, sizeof(buf), NULL);
	if (rc < 0) {
		consumer_fail(PROG, "vmmem_memory_write_exact", rc);
		return -1;
	}
	if (vmm_tell(PROG, sock, VMM_MSG_B_WROTE) < 0 ||
	    vmm_expect(PROG, sock, VMM_MSG_A_WROTE) < 0)
		return -1;
	rc = vmmem_memory_read_exact(mem, VMM_SPAN_GPA, buf, sizeof(buf), NULL);
	if (rc < 0) {
		consumer_fail(PROG, "vmmem_memory_read_exact", rc);
		return -1;
	}
	if (consumer_verify(PROG, buf, sizeof(buf), 3) < 0)
		return -1;
	printf(PROG ": read A's pattern: ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct vmmem_memory *mem = NULL;
	char *end = NULL;
	long sock;
	int ret = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: " PROG " SOCKET-FD\n");
		return 2;
	}
	alarm(3 * VMM_TIMEOUT_S);
	sock = strtol(argv[1], &end, 10);
	if (!*argv[1] || *end || sock < 0 || sock > INT_MAX || vmm_set_timeout((int)sock) < 0) {
		fprintf(stderr, PROG ": bad socket %s\n", argv[1]);
		return 2;
	}
	if (consumer_use_installed_providers(PROG) < 0 || consumer_check_library(PROG) < 0)
		goto out;
	if (import_regions((int)sock, &mem) == 0 && exchange((int)sock, mem) == 0)
		ret = 0;
	if (vmm_tell(PROG, (int)sock, ret == 0 ? VMM_MSG_OK : VMM_MSG_FAIL) < 0)
		ret = 1;
out:
	vmmem_memory_unref(mem);
	close((int)sock);
	return ret;
}
