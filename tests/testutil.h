/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Helpers shared by the Check suites: real anonymous/memfd mappings and a runner main. */
#ifndef VMMEM_TESTUTIL_H
#define VMMEM_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmmem.h>

#include "tu_run.h"

/* True when the suites run under qemu-user (the cross test presets set
 * VMMEM_TEST_UNDER_QEMU_USER=1). qemu-user 7.2 emulates the system calls a process makes but
 * not every kernel behaviour behind them: madvise is accepted and ignored (no
 * MADV_POPULATE_WRITE, MADV_DONTNEED on shared mappings, MADV_DONTDUMP, MADV_HUGEPAGE,
 * MADV_MERGEABLE), userfaultfd is ENOSYS, hugetlbfs mappings fail, mincore reports nothing
 * resident, and mapping a terabyte takes minutes of page-table bookkeeping. A test of one of
 * those behaviours checks this and returns early with tu_skip_emulated(); the list is in
 * docs/PORTABILITY.md. */
bool tu_under_qemu_user(void);

/* Print why the current test is cut short under qemu-user (to stderr, once per reason). */
void tu_skip_emulated(const char *what);

/* Host page size (sysconf). */
size_t tu_page_size(void);

/* mmap an anonymous private read/write mapping of size bytes (rounded up to pages);
 * aborts the test on failure. Free with tu_unmap(). */
void *tu_map_anon(size_t size);
void tu_unmap(void *p, size_t size);

/* A memfd of size bytes (ftruncate'd), close-on-exec; aborts the test on failure. */
int tu_memfd(size_t size);

/* Region over a fresh anonymous mapping that the region owns (VMMEM_REGION_OWN_MAPPING),
 * with extra_flags ORed in; every byte is zero. Aborts the test on failure. */
struct vmmem_region *tu_anon_region(uint64_t gpa, uint64_t size, uint32_t extra_flags);

/* Memory built from n (gpa, size) pairs of tu_anon_region() regions; the memory holds the
 * only references. ranges = {gpa0, size0, gpa1, size1, ...}. Aborts the test on failure. */
struct vmmem_memory *tu_anon_memory(const uint64_t *ranges, size_t n);

#endif /* VMMEM_TESTUTIL_H */
