/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmmem-provider-bench: control-path costs of provider plugins.
 *
 *   create_<provider>_<size>   create + destroy a region through the plugin (no prefault)
 *   mmap_<kind>_<size>         the same mapping made directly (mmap, or memfd_create +
 *                              ftruncate + seals + mmap), the lower bound
 *   prefault_<provider>_<size>_t<N>  region creation with prealloc=on, N threads: GiB/s
 *
 * Output: one line per case, `name<TAB>ns_per_op<TAB>extra`, as vmmem-bench. Each case:
 * warm-up, then --reps repetitions (default 3), median. Prefault cases run once per rep
 * (each populates fresh memory). Huge-page cases run only when enough huge pages are free.
 *
 * usage: vmmem-provider-bench [--reps N] [--prefault-size BYTES] [FILTER...]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vmmem.h>

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

static int reps = 3;
static char **filters;
static int n_filters;

static bool wants(const char *name)
{
	if (!n_filters)
		return true;
	for (int i = 0; i < n_filters; i++)
		if (strstr(name, filters[i]))
			return true;
	return false;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), compare_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "vmmem-provider-bench: %s: %s (%s)\n", what, vmmem_strerror(rc),
		vmmem_errormsg());
	exit(1);
}

/* One create+destroy through a provider. */
static void create_once(struct vmmem_ctx *ctx, const char *spec)
{
	struct vmmem_region *r = NULL;
	int rc = vmmem_region_create(&r, ctx, spec);

	if (rc)
		die(spec, rc);
	vmmem_region_unref(r);
}

/* The same mapping made by hand: the cost floor of creation. */
static void mmap_once(bool memfd, uint64_t size)
{
	int fd = -1;
	void *p;

	if (memfd) {
		fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
			perror("memfd");
			exit(1);
		}
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 memfd ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	munmap(p, size);
	if (fd >= 0)
		close(fd);
}

/* Median ns per call of fn over batches of @batch calls. */
#define TIME_CASE(result, batch, call)                                                      \
	do {                                                                                \
		double samples_[64];                                                        \
		for (int w_ = 0; w_ < (batch); w_++)                                        \
			call;                                                               \
		for (int r_ = 0; r_ < reps; r_++) {                                         \
			double t0_ = now_ns();                                              \
			for (int b_ = 0; b_ < (batch); b_++)                                \
				call;                                                       \
			samples_[r_] = (now_ns() - t0_) / (batch);                          \
		}                                                                           \
		(result) = median(samples_, reps);                                          \
	} while (0)

static void creation_cases(struct vmmem_ctx *ctx)
{
	static const uint64_t sizes[] = { 2 * MIB, 1 * GIB };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t size = sizes[i];
		const char *label = size >= GIB ? "1g" : "2m";
		char name[64], spec[128];
		double ns;

		for (int memfd = 0; memfd < 2; memfd++) {
			const char *prov = memfd ? "memfd" : "anon";

			snprintf(name, sizeof(name), "create_%s_%s", prov, label);
			snprintf(spec, sizeof(spec), "%s:gpa=0,size=%llu", prov,
				 (unsigned long long)size);
			if (wants(name)) {
				TIME_CASE(ns, 200, create_once(ctx, spec));
				printf("%s\t%.1f\tsize=%llu\n", name, ns, (unsigned long long)size);
			}
			snprintf(name, sizeof(name), "mmap_%s_%s", prov, label);
			if (wants(name)) {
				TIME_CASE(ns, 200, mmap_once(memfd, size));
				printf("%s\t%.1f\tsize=%llu\n", name, ns, (unsigned long long)size);
			}
			fflush(stdout);
		}
	}
}

static uint64_t free_huge_pages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "re");
	unsigned long long n = 0;

	if (f) {
		if (fscanf(f, "%llu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}

static void prefault_case(struct vmmem_ctx *ctx, const char *name, const char *provider,
			  uint64_t size, int threads)
{
	double samples[64];
	char spec[256];

	if (!wants(name))
		return;
	snprintf(spec, sizeof(spec), "%s:gpa=0,size=%llu,prealloc=on,prealloc-threads=%d", provider,
		 (unsigned long long)size, threads);
	for (int r = 0; r <= reps; r++) { /* rep 0 warms up the kernel's paths */
		struct vmmem_region *reg = NULL;
		double t0 = now_ns();
		int rc = vmmem_region_create(&reg, ctx, spec);

		if (rc)
			die(spec, rc);
		if (r > 0)
			samples[r - 1] = now_ns() - t0;
		vmmem_region_unref(reg);
	}
	double ns = median(samples, reps);
	printf("%s\t%.0f\tGiB/s=%.3f size=%llu threads=%d\n", name, ns,
	       (double)size / (double)GIB / (ns / 1e9), (unsigned long long)size, threads);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	uint64_t prefault_size = 4 * GIB;
	struct vmmem_ctx *ctx = NULL;
	char name[96];
	int rc;

	filters = calloc((size_t)argc, sizeof(*filters));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--prefault-size") && i + 1 < argc)
			vmmem_parse_size(argv[++i], &prefault_size);
		else
			filters[n_filters++] = argv[i];
	}
	if (reps < 1 || reps > 63)
		reps = 3;
	rc = vmmem_ctx_new(&ctx);
	if (rc)
		die("context", rc);
	fprintf(stderr, "# vmmem-provider-bench: libvmmem %s; cpus %ld; reps %d (median)\n",
		vmmem_version_string(), sysconf(_SC_NPROCESSORS_ONLN), reps);
	creation_cases(ctx);
	for (int t = 1; t <= 2; t++) {
		snprintf(name, sizeof(name), "prefault_anon_4g_t%d", t);
		prefault_case(ctx, name, "anon", prefault_size, t);
		snprintf(name, sizeof(name), "prefault_memfd_4g_t%d", t);
		prefault_case(ctx, name, "memfd", prefault_size, t);
	}
	/* Huge pages: as many 2 MiB pages as are free, rounded to an even count so two
	 * threads get equal shares; at least 64 MiB per thread is QEMU's rule, so two threads
	 * need 128 MiB. */
	uint64_t pages = free_huge_pages() & ~UINT64_C(1);
	if (pages >= 2) {
		for (int t = 1; t <= 2; t++) {
			snprintf(name, sizeof(name), "prefault_hugetlbfs_2m_t%d", t);
			prefault_case(ctx, name, "hugetlbfs", pages * 2 * MIB, t);
		}
	} else {
		fprintf(stderr, "# prefault_hugetlbfs_2m: skipped, no free 2 MiB huge pages\n");
	}
	vmmem_ctx_unref(ctx);
	free(filters);
	return 0;
}
