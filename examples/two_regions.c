/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * two_regions: the smallest complete libvmmem program.
 *
 * Builds a guest memory of two adjacent regions (one anonymous, one memfd-backed), then
 * does what a device model does: writes a buffer and a little-endian header across the
 * region boundary, reads them back, translates addresses, gathers an iovec list for the
 * crossing range, and shows how holes and overflow are reported. Exits non-zero if any
 * result is not what it should be.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vmmem.h>

#define REGION_SIZE (2u << 20) /* 2 MiB each */
#define BOUNDARY ((uint64_t)REGION_SIZE)

static int failures;

static void check(int ok, const char *what)
{
	printf("  [%s] %s\n", ok ? " ok " : "FAIL", what);
	if (!ok)
		failures++;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "two_regions: %s: %s (%s)\n", what, vmmem_strerror(rc), vmmem_errormsg());
	exit(2);
}

int main(void)
{
	struct vmmem_region *regions[2] = { NULL, NULL };
	struct vmmem_memory *mem = NULL;
	struct vmmem_le32 hdr_out = vmmem_le32_from_cpu(0xfeedc0de), hdr_in;
	char msg[64] = "hello from the host, across the region boundary";
	char back[sizeof(msg)];
	struct iovec iov[4];
	size_t n_iov = 0, done = 0;
	void *host = NULL;
	uint64_t contiguous = 0;
	void *a, *b;
	int fd, rc;

	printf("libvmmem %s: two-region guest memory example\n", vmmem_version_string());

	/* Region 0: anonymous memory at GPA 0. Region 1: a memfd at GPA 2 MiB (shareable). */
	a = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (a == MAP_FAILED || fd < 0 || ftruncate(fd, REGION_SIZE) < 0) {
		perror("two_regions: mmap/memfd");
		return 2;
	}
	b = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (b == MAP_FAILED) {
		perror("two_regions: mmap memfd");
		return 2;
	}
	rc = vmmem_region_new(&regions[0], 0, REGION_SIZE, a, VMMEM_REGION_OWN_MAPPING);
	if (rc < 0)
		die("region 0", rc);
	rc = vmmem_region_new_fd(&regions[1], BOUNDARY, REGION_SIZE, b, VMMEM_REGION_OWN_MAPPING,
				 fd, 0);
	if (rc < 0)
		die("region 1", rc);
	close(fd); /* the region keeps its own duplicate */

	/* Given in reverse order on purpose: the memory sorts them. */
	struct vmmem_region *given[2] = { regions[1], regions[0] };
	rc = vmmem_memory_new(&mem, given, 2);
	if (rc < 0)
		die("memory", rc);
	vmmem_region_unref(regions[0]);
	vmmem_region_unref(regions[1]);

	printf("guest memory: %zu regions, last address 0x%llx\n", vmmem_memory_region_count(mem),
	       (unsigned long long)vmmem_memory_last_addr(mem));
	for (size_t i = 0; i < vmmem_memory_region_count(mem); i++) {
		struct vmmem_region *r = vmmem_memory_region_at(mem, i);

		printf("  region %zu: [0x%08llx, 0x%08llx] host %p fd %d\n", i,
		       (unsigned long long)vmmem_region_gpa(r),
		       (unsigned long long)vmmem_region_last(r), vmmem_region_host(r),
		       vmmem_region_fd(r));
	}

	printf("accesses across the boundary at 0x%llx:\n", (unsigned long long)BOUNDARY);
	uint64_t at = BOUNDARY - 20;
	check(vmmem_memory_write_exact(mem, at, msg, sizeof(msg), &done) == 0 && done == sizeof(msg),
	      "write 64 bytes starting 20 bytes before the boundary");
	check(vmmem_memory_read_exact(mem, at, back, sizeof(back), NULL) == 0 &&
		      memcmp(msg, back, sizeof(msg)) == 0,
	      "read them back identical");
	check(memcmp(b, msg + 20, sizeof(msg) - 20) == 0,
	      "the part past the boundary sits at the start of the memfd mapping");
	check(vmmem_memory_write_obj(mem, BOUNDARY - 2, &hdr_out, sizeof(hdr_out)) == 0,
	      "write a little-endian u32 that straddles the boundary");
	check(vmmem_memory_read_obj(mem, BOUNDARY - 2, &hdr_in, sizeof(hdr_in)) == 0 &&
		      vmmem_le32_to_cpu(hdr_in) == 0xfeedc0de,
	      "read it back as 0xfeedc0de");
	check(vmmem_memory_get_iovecs(mem, at, sizeof(msg), VMMEM_ACCESS_READ, iov, 4, &n_iov) == 0 &&
		      n_iov == 2 && iov[0].iov_len == 20 && iov[1].iov_base == b,
	      "the crossing range is two iovecs: 20 bytes + 44 bytes");
	check(vmmem_memory_translate(mem, BOUNDARY + 0x10, VMMEM_ACCESS_RW, &host, &contiguous) == 0 &&
		      host == (char *)b + 0x10 && contiguous == REGION_SIZE - 0x10,
	      "translate GPA 2 MiB + 0x10 to the memfd mapping, contiguous to its end");
	check(vmmem_memory_store_u32(mem, 0x1000, 7, VMMEM_ORDER_RELEASE) == 0,
	      "atomic store-release of a u32");

	printf("what the library refuses:\n");
	rc = vmmem_memory_read_obj(mem, 2 * BOUNDARY - 4, back, 8);
	printf("  read 8 bytes 4 before the end -> %s (%s)\n", vmmem_strerror(rc), vmmem_errormsg());
	check(rc == VMMEM_E_PARTIAL, "a read running into the hole past the end is partial");
	rc = vmmem_memory_read_obj(mem, UINT64_MAX - 3, back, 8);
	printf("  read 8 bytes at 2^64 - 4 -> %s (%s)\n", vmmem_strerror(rc), vmmem_errormsg());
	check(rc == -EOVERFLOW, "a range past 2^64 is an overflow error");
	rc = vmmem_memory_store_u32(mem, BOUNDARY - 2, 1, VMMEM_ORDER_SEQ_CST);
	printf("  atomic u32 store straddling the boundary -> %s\n", vmmem_strerror(rc));
	check(rc == VMMEM_E_CROSSES_REGION, "atomics are never split across regions");

	vmmem_memory_unref(mem);
	printf("%s\n", failures ? "FAILED" : "all checks passed");
	return failures ? 1 : 0;
}
