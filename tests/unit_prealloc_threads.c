/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Unit test of the core's internal preallocation (core/prealloc.c, compiled into this
 * executable): QEMU's thread-count rule vmm_prealloc_threads() =
 * min(requested (0 means 1), cpus, 16, pages, max(1, length / 64 MiB)), and vmm_prealloc()
 * populating every page whatever the split. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prealloc.h"
#include "tu_run.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

struct threads_vector {
	uint64_t length;
	uint64_t page_size;
	uint32_t requested;
	long cpus;
	uint32_t expected;
};

static const struct threads_vector vectors[] = {
	/* The brief's vectors. */
	{ 4 * GiB, 4 * KiB, 8, 2, 2 },        /* cpus cap */
	{ 4 * GiB, 4 * KiB, 32, 64, 16 },     /* 16 cap */
	{ 100 * MiB, 4 * KiB, 8, 8, 1 },      /* < 128 MiB: one thread per 64 MiB */
	{ 128 * MiB, 4 * KiB, 8, 8, 2 },
	{ 8 * KiB, 4 * KiB, 8, 8, 1 },
	{ 4 * GiB, 4 * KiB, 0, 8, 1 },        /* 0 requested means 1 */
	{ 4 * MiB, 2 * MiB, 8, 8, 1 },        /* 2 huge pages, but only 4 MiB */
	/* More of each cap. */
	{ 4 * GiB, 4 * KiB, 1, 64, 1 },
	{ 4 * GiB, 4 * KiB, 3, 8, 3 },        /* requested cap */
	{ 4 * GiB, 4 * KiB, 8, 1, 1 },
	{ 1 * GiB, 4 * KiB, 16, 64, 16 },     /* exactly 16 x 64 MiB */
	{ 1 * GiB, 4 * KiB, 17, 64, 16 },
	{ 1 * GiB, 2 * MiB, 16, 64, 16 },
	{ 64 * MiB, 4 * KiB, 8, 8, 1 },
	{ 128 * MiB - 4 * KiB, 4 * KiB, 8, 8, 1 },
	{ 192 * MiB, 4 * KiB, 8, 8, 3 },      /* length cap */
	{ 960 * MiB, 4 * KiB, 64, 64, 15 },
	{ 3 * GiB, 1 * GiB, 8, 8, 3 },        /* pages cap: 3 x 1 GiB */
	{ 1 * GiB, 1 * GiB, 8, 8, 1 },
	{ 256 * MiB, 128 * MiB, 8, 8, 2 },    /* pages cap under the length cap (4) */
	{ 4 * KiB, 4 * KiB, 8, 8, 1 },        /* one page */
	{ UINT64_C(1) << 50, 4 * KiB, UINT32_MAX, 1000, 16 },
	{ UINT64_C(1) << 50, 4 * KiB, UINT32_MAX, 5, 5 },
};

START_TEST(test_prealloc_threads_rule)
{
	const struct threads_vector *v = &vectors[_i];
	uint32_t n = vmm_prealloc_threads(v->length, v->page_size, v->requested, v->cpus);

	ck_assert_msg(n == v->expected,
		      "vmm_prealloc_threads(0x%llx, 0x%llx, %u, %ld) = %u, expected %u",
		      (unsigned long long)v->length, (unsigned long long)v->page_size, v->requested,
		      v->cpus, n, v->expected);
}
END_TEST

/* The count never leaves [1, 16] and never exceeds any cap, over a grid of inputs. */
START_TEST(test_prealloc_threads_bounds)
{
	static const uint64_t lengths[] = { 4 * KiB, 2 * MiB, 64 * MiB, 65 * MiB, 128 * MiB,
					    1 * GiB, 17 * GiB, UINT64_C(1) << 46 };
	static const uint64_t pages[] = { 4 * KiB, 64 * KiB, 2 * MiB, 1 * GiB };
	static const uint32_t requested[] = { 0, 1, 2, 7, 16, 17, 1000 };
	static const long cpus[] = { 1, 2, 3, 16, 256 };

	for (size_t a = 0; a < sizeof(lengths) / sizeof(lengths[0]); a++)
		for (size_t b = 0; b < sizeof(pages) / sizeof(pages[0]); b++) {
			uint64_t npages = lengths[a] / pages[b];
			uint64_t by_len = lengths[a] / (64 * MiB);

			if (npages == 0)
				continue;
			for (size_t c = 0; c < sizeof(requested) / sizeof(requested[0]); c++)
				for (size_t d = 0; d < sizeof(cpus) / sizeof(cpus[0]); d++) {
					uint64_t want = requested[c] ? requested[c] : 1;
					uint32_t n = vmm_prealloc_threads(lengths[a], pages[b],
									  requested[c], cpus[d]);

					if ((uint64_t)cpus[d] < want)
						want = (uint64_t)cpus[d];
					if (want > 16)
						want = 16;
					if (want > npages)
						want = npages;
					if (want > (by_len ? by_len : 1))
						want = by_len ? by_len : 1;
					ck_assert_msg(n == want,
						      "(0x%llx, 0x%llx, %u, %ld) = %u, expected %llu",
						      (unsigned long long)lengths[a],
						      (unsigned long long)pages[b], requested[c],
						      cpus[d], n, (unsigned long long)want);
				}
		}
}
END_TEST

/* Pages of [p, p + len) resident in memory. */
static size_t resident_pages(void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg, count = 0;
	unsigned char *vec = malloc(n);

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore(p, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

static void *map_fresh(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	/* No transparent huge pages, so residency is counted page by page. */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* Two threads over an odd number of pages: the uneven split still covers every page. */
START_TEST(test_prealloc_populates_every_page)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = 130 * MiB + pg; /* 2 x 64 MiB allows 2 threads; odd page count */
	uint8_t *p = map_fresh(len);

	ck_assert_uint_eq(vmm_prealloc_threads(len, pg, 2, 2), 2);
	ck_assert_uint_eq(resident_pages(p, len), 0);
	ck_assert_int_eq(vmm_prealloc(p, len, pg, 2), 0);
	ck_assert_uint_eq(resident_pages(p, len), len / pg);
	ck_assert_int_eq(munmap(p, len), 0);
}
END_TEST

/* Preallocation keeps what the memory already holds. */
START_TEST(test_prealloc_keeps_contents)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = 64 * pg;
	uint8_t *p = map_fresh(len);

	for (size_t i = 0; i < len; i += 3 * pg)
		memset(p + i, (int)(0x11 + i / pg), pg);
	ck_assert_int_eq(vmm_prealloc(p, len, pg, 4), 0);
	ck_assert_uint_eq(resident_pages(p, len), 64);
	for (size_t i = 0; i < len; i += pg) {
		uint8_t want = (i / pg) % 3 == 0 ? (uint8_t)(0x11 + i / pg) : 0;

		ck_assert_uint_eq(p[i], want);
		ck_assert_uint_eq(p[i + pg - 1], want);
	}
	ck_assert_int_eq(munmap(p, len), 0);
}
END_TEST

START_TEST(test_prealloc_bad_arguments)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *p = map_fresh(4 * pg);

	ck_assert_int_eq(vmm_prealloc(NULL, pg, pg, 1), -EINVAL);
	ck_assert_int_eq(vmm_prealloc(p, pg + 1, pg, 1), -EINVAL); /* not whole pages */
	ck_assert_int_eq(vmm_prealloc(p, 3 * pg, 3 * pg / 2, 1), -EINVAL); /* not a power of 2 */
	ck_assert_int_eq(vmm_prealloc(p, pg, 0, 1), -EINVAL);
	ck_assert_uint_eq(resident_pages(p, 4 * pg), 0);
	ck_assert_int_eq(munmap(p, 4 * pg), 0);
}
END_TEST

/* A range with an unmapped hole fails with an error instead of crashing. */
START_TEST(test_prealloc_unmapped_fails)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *p = map_fresh(4 * pg);
	int rc;

	ck_assert_int_eq(munmap(p + 2 * pg, pg), 0);
	rc = vmm_prealloc(p, 4 * pg, pg, 1);
	ck_assert_msg(rc == -ENOMEM || rc == -EFAULT, "got %d", rc);
	ck_assert_int_eq(munmap(p, 4 * pg), 0);
}
END_TEST

/* With a CPU set (the NUMA policy's nodes), every worker runs there: pinned to one CPU at
 * a time, each of the machine's first two CPUs in turn, the workers report only it. */
START_TEST(test_prealloc_placed_on_cpus)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = 256 * pg;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	for (int cpu = 0; cpu < 2 && cpu < ncpu && cpu < 64; cpu++) {
		uint8_t *p = map_fresh(len);
		cpu_set_t set;
		struct vmm_prealloc_opts o = { .threads = 2, .cpus = &set };

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		ck_assert_int_eq(vmm_prealloc_ex(p, len, pg, &o), 0);
		ck_assert_uint_eq(resident_pages(p, len), len / pg);
		ck_assert_msg(o.cpus_used == UINT64_C(1) << cpu, "pinned to CPU %d, ran on 0x%llx",
			      cpu, (unsigned long long)o.cpus_used);
		ck_assert_int_eq(munmap(p, len), 0);
	}
}
END_TEST

/* A read-only mapping is populated for reading (MADV_POPULATE_READ), not written. */
START_TEST(test_prealloc_read_only)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = 16 * pg;
	uint8_t *p = map_fresh(len);
	struct vmm_prealloc_opts o = { .threads = 1, .read_only = true };

	ck_assert_int_eq(mprotect(p, len, PROT_READ), 0);
	ck_assert_int_eq(vmm_prealloc_ex(p, len, pg, &o), 0);
	ck_assert_uint_eq(resident_pages(p, len), len / pg);
	ck_assert_uint_eq(p[0], 0);
	ck_assert_int_eq(munmap(p, len), 0);
}
END_TEST

/* A mapping MADV_POPULATE_* refuses with EINVAL (as kernels before 5.14 refuse the advice
 * itself) is populated by touching each page: the first page of [vvar] (VM_PFNMAP, read
 * only), read one byte at a time. */
START_TEST(test_prealloc_touch_fallback)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct vmm_prealloc_opts o = { .threads = 1, .read_only = true };
	unsigned long lo = 0, hi;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	/* Valgrind does not know [vvar] is readable (it reports every read of it). */
	if (getenv("VMMEM_TEST_UNDER_VALGRIND")) {
		fclose(f);
		return;
	}
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[vvar]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			break;
	fclose(f);
	if (!lo) {
		fprintf(stderr, "test_prealloc_touch_fallback: no [vvar] mapping here\n");
		return;
	}
	ck_assert_int_eq(vmm_prealloc_ex((void *)lo, pg, pg, &o), 0);
}
END_TEST

static Suite *prealloc_threads_suite(void)
{
	Suite *s = suite_create("prealloc_threads");
	TCase *rule = tcase_create("rule");
	TCase *populate = tcase_create("populate");

	tcase_add_loop_test(rule, test_prealloc_threads_rule, 0,
			    (int)(sizeof(vectors) / sizeof(vectors[0])));
	tcase_add_test(rule, test_prealloc_threads_bounds);
	suite_add_tcase(s, rule);
	tcase_set_timeout(populate, 120);
	tcase_add_test(populate, test_prealloc_populates_every_page);
	tcase_add_test(populate, test_prealloc_keeps_contents);
	tcase_add_test(populate, test_prealloc_bad_arguments);
	tcase_add_test(populate, test_prealloc_unmapped_fails);
	tcase_add_test(populate, test_prealloc_placed_on_cpus);
	tcase_add_test(populate, test_prealloc_read_only);
	tcase_add_test(populate, test_prealloc_touch_fallback);
	suite_add_tcase(s, populate);
	return s;
}

int main(void)
{
	return tu_run_suite(prealloc_threads_suite());
}
