/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

bool tu_under_qemu_user(void)
{
	const char *v = getenv("VMMEM_TEST_UNDER_QEMU_USER");

	return v && *v && strcmp(v, "0") != 0;
}

void tu_skip_emulated(const char *what)
{
	fprintf(stderr, "skipped under qemu-user (runs natively): %s\n", what);
}

size_t tu_page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t round_pages(size_t size)
{
	size_t pg = tu_page_size();

	return (size + pg - 1) / pg * pg;
}

void *tu_map_anon(size_t size)
{
	void *p = mmap(NULL, round_pages(size), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ck_assert_msg(p != MAP_FAILED, "mmap of %zu bytes failed", size);
	return p;
}

void tu_unmap(void *p, size_t size)
{
	ck_assert_int_eq(munmap(p, round_pages(size)), 0);
}

int tu_memfd(size_t size)
{
	int fd = memfd_create("vmmem-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return fd;
}

struct vmmem_region *tu_anon_region(uint64_t gpa, uint64_t size, uint32_t extra_flags)
{
	struct vmmem_region *r = NULL;
	void *p = tu_map_anon((size_t)size);
	int rc = vmmem_region_new(&r, gpa, size, p, VMMEM_REGION_OWN_MAPPING | extra_flags);

	ck_assert_msg(rc == 0, "vmmem_region_new(0x%llx, 0x%llx): %s", (unsigned long long)gpa,
		      (unsigned long long)size, vmmem_errormsg());
	return r;
}

struct vmmem_memory *tu_anon_memory(const uint64_t *ranges, size_t n)
{
	struct vmmem_region **regs = calloc(n, sizeof(*regs));
	struct vmmem_memory *m = NULL;
	int rc;

	ck_assert_ptr_nonnull(regs);
	for (size_t i = 0; i < n; i++)
		regs[i] = tu_anon_region(ranges[2 * i], ranges[2 * i + 1], 0);
	rc = vmmem_memory_new(&m, regs, n);
	ck_assert_msg(rc == 0, "vmmem_memory_new: %s", vmmem_errormsg());
	for (size_t i = 0; i < n; i++)
		vmmem_region_unref(regs[i]);
	free(regs);
	return m;
}
