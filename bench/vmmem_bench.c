/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmmem-bench: micro-benchmarks of libvmmem, the C twin of vm-memory-bench (the speed anchor
 * in shared/anchors/vm-memory-bench). Same cases, same names, same method, same output, so
 * that the two can be run side by side (bench/compare.sh) and compared as ratios.
 *
 * Output (stdout): one line per case, `name<TAB>ns_per_op<TAB>extra`.
 * Machine/run metadata goes to stderr as `# ...` lines.
 *
 * usage: vmmem-bench [--min-time SECS] [--warmup SECS] [--reps N] [--list] [FILTER...]
 *   A case runs if no FILTER is given or its name contains one of the FILTERs.
 *   Each case: warm-up, then N repetitions of >= min-time each; the median ns/op is printed.
 *
 * Everything below mirrors the anchor line by line where it can: the xorshift64* generator
 * and its seeds, layout() and rand_gpas(), the measure() loop, the prefault through the
 * library's own write, the allocations (malloc/calloc, like Rust's Vec) and the black boxes.
 * Cases the anchor does not have: raw_read_u64_r1 (a plain load, the physical limit of
 * read_obj_u64_r1), find_region_r32768 (lookup cost at tens of thousands of regions) and
 * write_4k_untracked (write_4k_dirty with tracking off: the reference of its goal).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT, MAP_NORESERVE */
#endif

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <vmmem.h>

/* Internal: find_region_inline_rR compiles the library's own lookup into the benchmark,
 * to measure what the exported call costs on top of it (issue 22). */
#include "memory.h"
/* ... and bitmap_scan_dirty_at_inline_1g the library's per-page dirty test. */
#include "dirty.h"

#if defined(__SSE2__)
#include <emmintrin.h> /* the anchor's popcount, as rustc vectorises it (bitmap_scan_1g) */
#endif

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define GIB ((size_t)1 << 30)
#define PAGE ((size_t)4096)
/* Number of precomputed addresses per case (power of two; 64 Ki entries = 512 KiB). */
#define NADDR ((size_t)1 << 16)
#define AMASK (NADDR - 1)

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)

/* ------------------------------------------------------------------------------------------ */
/* Black boxes, built like rustc lowers std::hint::black_box(x): x is stored to a stack slot
 * and an empty asm receives the slot's address with a memory clobber, so the compiler must
 * materialise x in memory and assume the asm read (and may have changed) any memory. Passing
 * x itself in a register would be a little cheaper than what the anchor pays (measurably so
 * on find_region_r1: ~0.25 ns of ~1.5 ns), so the harness cost is mirrored, not just the idea. */

static inline void bb_u64(uint64_t x)
{
	__asm__ volatile("" : : "r"(&x) : "memory");
}

static inline void bb_ptr(const void *p)
{
	__asm__ volatile("" : : "r"(&p) : "memory");
}

/* black_box(x) used as a value: it comes back through memory the asm may have changed, so
 * the compiler no longer knows it (the anchor black-boxes the GPA before find_region). */
static inline uint64_t bb_opaque_u64(uint64_t x)
{
	__asm__ volatile("" : : "r"(&x) : "memory");
	return x;
}

static inline const void *bb_opaque_ptr(const void *p)
{
	__asm__ volatile("" : : "r"(&p) : "memory");
	return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Errors: every library call is checked like the anchor's unwrap(); the failure path is cold. */

__attribute__((noreturn, cold, noinline)) static void die_rc(const char *what, long rc)
{
	fprintf(stderr, "vmmem-bench: %s failed: %s (%ld): %s\n", what, vmmem_strerror((int)rc),
		rc, vmmem_errormsg());
	exit(1);
}

__attribute__((noreturn, cold, noinline)) static void die(const char *what)
{
	fprintf(stderr, "vmmem-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

#define CHECK(call, what)                                    \
	do {                                                 \
		long check_rc_ = (long)(call);               \
		if (__builtin_expect(check_rc_ != 0, 0))     \
			die_rc((what), check_rc_);           \
	} while (0)

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("malloc");
	return p;
}

static void *xcalloc(size_t n)
{
	void *p = calloc(n, 1);

	if (!p)
		die("calloc");
	return p;
}

/* ------------------------------------------------------------------------------------------ */
/* xorshift64* - tiny deterministic PRNG (only used to precompute addresses). */

struct rng {
	uint64_t s;
};

static struct rng rng_new(uint64_t seed)
{
	struct rng r = { (seed * UINT64_C(0x9e3779b97f4a7c15)) | 1 };

	return r;
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration and reporting. */

struct cfg {
	uint64_t min_time_ns;
	uint64_t warmup_ns;
	size_t reps;
	const char **filters;
	size_t nfilters;
	bool list;
};

static bool wants(const struct cfg *cfg, const char *name)
{
	if (cfg->nfilters == 0)
		return true;
	for (size_t k = 0; k < cfg->nfilters; k++)
		if (strstr(name, cfg->filters[k]))
			return true;
	return false;
}

static void report(const char *name, double ns, const char *extra)
{
	printf("%s\t%.3f\t%s\n", name, ns, extra);
	fflush(stdout);
}

/* "GB/s=..." for a copy of @bytes taking @ns. */
static void report_gbps(const char *name, double ns, size_t bytes)
{
	char extra[64];

	snprintf(extra, sizeof(extra), "GB/s=%.3f", (double)bytes / ns);
	report(name, ns, extra);
}

static void report_regions(const char *name, double ns, size_t r)
{
	char extra[64];

	snprintf(extra, sizeof(extra), "regions=%zu", r);
	report(name, ns, extra);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	if (n % 2 == 1)
		return v[n / 2];
	return (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* what Rust's Instant::now() reads */
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* CPUs this process may run on (Rust's available_parallelism()). */
static int available_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set);
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

/*
 * MEASURE(cfg, out_ns, I, op...): time `op` (a statement using the running op index I, a
 * size_t) exactly like the anchor's measure(). Warm-up >= cfg->warmup_ns, which also doubles
 * the batch until one batch takes >= 1 ms (keeping clock overhead out of the figure); then
 * cfg->reps repetitions of >= cfg->min_time_ns each; out_ns = the median ns/op.
 * A macro rather than a function taking a callback so that the op is always inlined into the
 * loop, as Rust's monomorphised closure is.
 */
#define MEASURE(cfg_, out_ns_, I, ...)                                                   \
	do {                                                                               \
		const struct cfg *m_cfg_ = (cfg_);                                         \
		size_t I = 0;                                                              \
		size_t m_batch_ = 1;                                                       \
		uint64_t m_t_ = now_ns();                                                  \
		for (;;) {                                                                 \
			uint64_t m_b0_ = now_ns();                                         \
			for (size_t m_k_ = 0; m_k_ < m_batch_; m_k_++) {                   \
				__VA_ARGS__;                                               \
				I++;                                                       \
			}                                                                  \
			uint64_t m_be_ = now_ns() - m_b0_;                                 \
			if (m_be_ < NS_PER_MS)                                             \
				m_batch_ *= 2;                                             \
			if (now_ns() - m_t_ >= m_cfg_->warmup_ns && m_be_ >= NS_PER_MS)    \
				break;                                                     \
		}                                                                          \
		double *m_res_ = xmalloc(m_cfg_->reps * sizeof(double));                   \
		for (size_t m_rep_ = 0; m_rep_ < m_cfg_->reps; m_rep_++) {                 \
			size_t m_n_ = 0;                                                   \
			uint64_t m_t0_ = now_ns();                                         \
			for (;;) {                                                         \
				for (size_t m_k_ = 0; m_k_ < m_batch_; m_k_++) {           \
					__VA_ARGS__;                                       \
					I++;                                               \
				}                                                          \
				m_n_ += m_batch_;                                          \
				uint64_t m_e_ = now_ns() - m_t0_;                          \
				if (m_e_ >= m_cfg_->min_time_ns) {                         \
					m_res_[m_rep_] = (double)m_e_ / (double)m_n_;      \
					break;                                             \
				}                                                          \
			}                                                                  \
		}                                                                          \
		(out_ns_) = median(m_res_, m_cfg_->reps);                                  \
		free(m_res_);                                                              \
		(void)I;                                                                   \
	} while (0)

/* ------------------------------------------------------------------------------------------ */
/* Guest memory set-up. */

struct range {
	uint64_t gpa;
	size_t size;
};

/* `r` equal regions totalling 1 GiB, starting at GPA 0, with `hole` bytes between regions. */
static struct range *layout(size_t r, size_t hole)
{
	struct range *v = xcalloc(r * sizeof(*v));
	size_t size = GIB / r;

	for (size_t k = 0; k < r; k++) {
		v[k].gpa = (uint64_t)(k * (size + hole));
		v[k].size = size;
	}
	return v;
}

/* vm-memory's MmapRegion::new(): private anonymous, MAP_NORESERVE, no madvise (so 4 KiB
 * pages when THP is in `madvise` mode). */
static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* A guest memory over `ranges`, plus what must be freed after it. */
struct guest {
	struct vmmem_memory *mem;
	void *slab;      /* the one shared mapping of a sliced guest (else NULL) */
	size_t slab_len;
};

/*
 * Build the memory. sliced == false: one mapping per region, owned by the region
 * (VMMEM_REGION_OWN_MAPPING), like GuestMemoryMmap::from_ranges. sliced == true: one mapping
 * for all regions, each region a consecutive slice of it (not owned; guest_free unmaps it).
 */
static struct guest guest_new(const struct range *ranges, size_t n, bool sliced)
{
	struct guest g = { NULL, NULL, 0 };
	struct vmmem_region **regs = xcalloc(n * sizeof(*regs));
	size_t off = 0;

	if (sliced) {
		for (size_t k = 0; k < n; k++)
			g.slab_len += ranges[k].size;
		g.slab = map_anon(g.slab_len);
	}
	for (size_t k = 0; k < n; k++) {
		if (sliced) {
			CHECK(vmmem_region_new(&regs[k], ranges[k].gpa, ranges[k].size,
					       (uint8_t *)g.slab + off, 0),
			      "vmmem_region_new");
			off += ranges[k].size;
		} else {
			void *host = map_anon(ranges[k].size);

			CHECK(vmmem_region_new(&regs[k], ranges[k].gpa, ranges[k].size, host,
					       VMMEM_REGION_OWN_MAPPING),
			      "vmmem_region_new");
		}
	}
	CHECK(vmmem_memory_new(&g.mem, regs, n), "vmmem_memory_new");
	for (size_t k = 0; k < n; k++)
		vmmem_region_unref(regs[k]); /* the memory holds its own references */
	free(regs);
	return g;
}

static void guest_free(struct guest *g)
{
	g->mem = vmmem_memory_unref(g->mem); /* owned mappings go with their regions */
	if (g->slab && munmap(g->slab, g->slab_len) != 0)
		die("munmap");
	g->slab = NULL;
}

/* Touch every page (through libvmmem's own write) so no case measures first-touch page faults
 * or the shared zero page. */
static void prefault(const struct vmmem_memory *m)
{
	uint8_t *chunk = xmalloc(MIB);
	size_t n = vmmem_memory_region_count(m);

	for (size_t k = 0; k < MIB; k++)
		chunk[k] = (uint8_t)(k * 7 + 1);
	for (size_t k = 0; k < n; k++) {
		const struct vmmem_region *r = vmmem_memory_region_at(m, k);
		uint64_t start = vmmem_region_gpa(r);
		uint64_t len = vmmem_region_size(r);

		for (uint64_t off = 0; off < len;) {
			size_t c = (size_t)(len - off < MIB ? len - off : MIB);

			CHECK(vmmem_memory_write_exact(m, start + off, chunk, c, NULL),
			      "prefault write");
			off += c;
		}
	}
	free(chunk);
}

/* NADDR random GPAs inside the regions of `ranges`, each aligned to `align`, such that an
 * access of `len` bytes stays inside its region. */
static uint64_t *rand_gpas(const struct range *ranges, size_t n, size_t align, size_t len,
			   uint64_t seed)
{
	uint64_t *v = xmalloc(NADDR * sizeof(*v));
	struct rng rng = rng_new(seed);

	for (size_t k = 0; k < NADDR; k++) {
		const struct range *rg = &ranges[rng_below(&rng, n)];
		uint64_t slots = (uint64_t)((rg->size - len) / align + 1);

		v[k] = rg->gpa + rng_below(&rng, slots) * align;
	}
	return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Case groups. Each group builds one guest memory (only if one of its cases is wanted) and
 * runs its wanted cases in order. */

/* Up to this many regions, each region has its own mapping (as the anchor's from_ranges);
 * above it (find_region_r32768) the regions are slices of one 1 GiB mapping and only the
 * lookup case runs. */
#define MAX_OWN_MAPPINGS 512

struct slice_case {
	const char *suffix;
	size_t len;
};

static const struct slice_case SLICE_CASES[] = {
	{ "4k", 4 * KIB },
	{ "64k", 64 * KIB },
	{ "1m", MIB },
};
#define N_SLICE_CASES (sizeof(SLICE_CASES) / sizeof(SLICE_CASES[0]))

/*
 * R equal regions totalling 1 GiB with 4 KiB holes: read_obj_u64_rR, write_obj_u64_rR,
 * find_region_rR; at R = 1 also raw_read_u64_r1 and the slice cases; at R = 64 also
 * get_host_address_r64. At R = 32768 only find_region (lookup scaling).
 */
static void bench_rmem(const struct cfg *cfg, size_t r)
{
	char n_read[64], n_raw[64], n_write[64], n_find[64], n_inline[64], n_host[64],
		n_cached[64];
	bool only_find = r > MAX_OWN_MAPPINGS;
	struct range *ranges = layout(r, PAGE);
	struct guest g = guest_new(ranges, r, r > MAX_OWN_MAPPINGS);
	const struct vmmem_memory *mem = g.mem;
	uint64_t *gpas;
	double ns;

	snprintf(n_read, sizeof(n_read), "read_obj_u64_r%zu", r);
	snprintf(n_raw, sizeof(n_raw), "raw_read_u64_r%zu", r);
	snprintf(n_write, sizeof(n_write), "write_obj_u64_r%zu", r);
	snprintf(n_find, sizeof(n_find), "find_region_r%zu", r);
	snprintf(n_inline, sizeof(n_inline), "find_region_inline_r%zu", r);
	snprintf(n_host, sizeof(n_host), "get_host_address_r%zu", r);
	snprintf(n_cached, sizeof(n_cached), "get_host_address_cached_r%zu", r);

	prefault(mem);
	gpas = rand_gpas(ranges, r, 8, 8, 0x5eed + (uint64_t)r);

	if (!only_find && wants(cfg, n_read)) {
		MEASURE(cfg, ns, i, {
			uint64_t v;

			CHECK(vmmem_memory_read_obj(mem, gpas[i & AMASK], &v, sizeof(v)),
			      "vmmem_memory_read_obj");
			bb_u64(v);
		});
		report_regions(n_read, ns, r);
	}
	if (r == 1 && wants(cfg, n_raw)) {
		/* The physical limit of read_obj_u64_r1: one plain load at the same addresses. */
		const uint8_t *host = vmmem_region_host(vmmem_memory_region_at(mem, 0));

		if (!host)
			die_rc("vmmem_region_host", -EINVAL);
		MEASURE(cfg, ns, i, {
			const volatile void *p = host + gpas[i & AMASK];
			uint64_t v = *(const volatile uint64_t *)p;

			bb_u64(v);
		});
		report_regions(n_raw, ns, r);
	}
	if (!only_find && wants(cfg, n_write)) {
		MEASURE(cfg, ns, i, {
			uint64_t v = (uint64_t)i;

			CHECK(vmmem_memory_write_obj(mem, gpas[i & AMASK], &v, sizeof(v)),
			      "vmmem_memory_write_obj");
		});
		report_regions(n_write, ns, r);
	}
	if (wants(cfg, n_find)) {
		MEASURE(cfg, ns, i, {
			struct vmmem_region *reg;
			int rc = vmmem_memory_find_region(mem, bb_opaque_u64(gpas[i & AMASK]),
							  &reg);

			bb_ptr(reg);
			bb_u64((uint64_t)rc);
		});
		report_regions(n_find, ns, r);
	}
	if (wants(cfg, n_inline)) {
		/* The same lookup (core/memory.h's vmm_lookup) inlined here, as rustc inlines
		 * vm-memory's find_region into the anchor: the floor without the library call. */
		MEASURE(cfg, ns, i, {
			const struct vmm_slot *s = vmm_lookup(mem, bb_opaque_u64(gpas[i & AMASK]));
			struct vmmem_region *reg = s ? vmm_slot_region(s) : NULL;

			bb_ptr(reg);
			bb_u64((uint64_t)(s == NULL));
		});
		report_regions(n_inline, ns, r);
	}
	if (r == 64 && wants(cfg, n_host)) {
		MEASURE(cfg, ns, i, {
			void *p;

			CHECK(vmmem_memory_translate(mem, bb_opaque_u64(gpas[i & AMASK]),
						     VMMEM_ACCESS_READ, &p, NULL),
			      "vmmem_memory_translate");
			bb_ptr(p);
		});
		report_regions(n_host, ns, r);
	}
	if ((r == 1 || r == 64) && wants(cfg, n_cached)) {
		/* The same translations through vmmem_memory_translate_cached() and one cache:
		 * at r1 every call hits (inline, no library call), at r64 nearly every call
		 * misses (the fill's cost on top of translate). */
		struct vmmem_translate_cache cache = { 0 };

		MEASURE(cfg, ns, i, {
			void *p;

			CHECK(vmmem_memory_translate_cached(&cache, mem,
							    bb_opaque_u64(gpas[i & AMASK]),
							    VMMEM_ACCESS_READ, &p, NULL),
			      "vmmem_memory_translate_cached");
			bb_ptr(p);
		});
		report_regions(n_cached, ns, r);
	}
	if (r == 1) {
		for (size_t c = 0; c < N_SLICE_CASES; c++) {
			size_t len = SLICE_CASES[c].len;
			uint64_t *gp = rand_gpas(ranges, r, PAGE, len, 0x51ce + (uint64_t)len);
			char name[64];

			snprintf(name, sizeof(name), "read_slice_%s", SLICE_CASES[c].suffix);
			if (wants(cfg, name)) {
				uint8_t *buf = xcalloc(len); /* vec![0u8; len] */

				MEASURE(cfg, ns, i, {
					CHECK(vmmem_memory_read_exact(mem, gp[i & AMASK], buf, len,
								      NULL),
					      "vmmem_memory_read_exact");
					bb_ptr(buf);
				});
				report_gbps(name, ns, len);
				free(buf);
			}
			snprintf(name, sizeof(name), "write_slice_%s", SLICE_CASES[c].suffix);
			if (wants(cfg, name)) {
				uint8_t *buf = xmalloc(len);

				for (size_t k = 0; k < len; k++)
					buf[k] = (uint8_t)(k * 13 + 5);
				MEASURE(cfg, ns, i, {
					CHECK(vmmem_memory_write_exact(mem, gp[i & AMASK],
								       bb_opaque_ptr(buf), len,
								       NULL),
					      "vmmem_memory_write_exact");
				});
				report_gbps(name, ns, len);
				free(buf);
			}
			free(gp);
		}
	}
	free(gpas);
	guest_free(&g);
	free(ranges);
}

/*
 * iommu_read_obj_u64_eN / iommu_read_slice_4k_eN (libvmmem only; vm-memory 0.10 has no
 * IOMMU): the guest of read_obj_u64_r1 (one 1 GiB region) seen through an IOTLB of N
 * entries that split it into N equal chunks in shuffled IOVA order, 4 KiB apart (so none
 * merge), read at
 * the IOVAs of the very GPAs read_obj_u64_r1 / read_slice_4k read. Each is timed inside one
 * read section (vmmem_iommu_acquire around the batch, as a queue worker takes one per burst).
 * Companions plain_read_obj_u64_eN / plain_read_slice_4k_eN time the untranslated calls on
 * the same memory and addresses in the same process, right after: the goal is their ratio.
 */
#define IOVA_BASE ((uint64_t)1 << 40)

static void bench_iommu(const struct cfg *cfg, size_t entries)
{
	char n_obj[64], n_obj_plain[64], n_slice[64], n_slice_plain[64], n_cached[64],
		n_cached_plain[64];
	struct range *ranges = layout(1, PAGE);
	struct guest g = guest_new(ranges, 1, false);
	const size_t chunk = GIB / entries, slen = 4096;
	uint64_t *gpas, *gslice, *iovas, *islice, *pos = xmalloc(entries * sizeof(*pos));
	struct vmmem_atomic *a = NULL;
	struct vmmem_iotlb *tlb = NULL;
	struct vmmem_iommu *io = NULL;
	struct rng rng = rng_new(0x10770 + entries);
	uint8_t *buf = xcalloc(slen);
	double ns;

	snprintf(n_obj, sizeof(n_obj), "iommu_read_obj_u64_e%zu", entries);
	snprintf(n_obj_plain, sizeof(n_obj_plain), "plain_read_obj_u64_e%zu", entries);
	snprintf(n_slice, sizeof(n_slice), "iommu_read_slice_4k_e%zu", entries);
	snprintf(n_slice_plain, sizeof(n_slice_plain), "plain_read_slice_4k_e%zu", entries);
	snprintf(n_cached, sizeof(n_cached), "iommu_cached_read_obj_u64_e%zu", entries);
	snprintf(n_cached_plain, sizeof(n_cached_plain), "plain_cached_read_obj_u64_e%zu", entries);
	prefault(g.mem);
	CHECK(vmmem_atomic_new(&a, g.mem), "vmmem_atomic_new");
	CHECK(vmmem_iotlb_new(&tlb, entries, VMMEM_IOTLB_REFUSE), "vmmem_iotlb_new");
	CHECK(vmmem_iommu_new(&io, a, tlb), "vmmem_iommu_new");
	/* GPA chunk k sits at IOVA slot pos[k], a random permutation (Fisher-Yates). */
	for (size_t k = 0; k < entries; k++)
		pos[k] = k;
	for (size_t k = entries; k > 1; k--) {
		size_t j = (size_t)rng_below(&rng, k), t = pos[k - 1];

		pos[k - 1] = pos[j];
		pos[j] = t;
	}
	for (size_t k = 0; k < entries; k++)
		CHECK(vmmem_iotlb_update(tlb, IOVA_BASE + pos[k] * (chunk + PAGE), chunk, k * chunk,
					 VMMEM_ACCESS_READ),
		      "vmmem_iotlb_update");
	if (vmmem_iotlb_count(tlb) != (ssize_t)entries)
		die_rc("vmmem_iotlb_count", -EINVAL);
	/* The addresses of read_obj_u64_r1 and read_slice_4k, and their IOVAs. */
	gpas = rand_gpas(ranges, 1, 8, 8, 0x5eed + 1);
	gslice = rand_gpas(ranges, 1, PAGE, slen, 0x51ce + (uint64_t)slen);
	iovas = xmalloc(NADDR * sizeof(*iovas));
	islice = xmalloc(NADDR * sizeof(*islice));
	for (size_t k = 0; k < NADDR; k++) {
		iovas[k] = IOVA_BASE + pos[gpas[k] / chunk] * (chunk + PAGE) + gpas[k] % chunk;
		islice[k] = IOVA_BASE + pos[gslice[k] / chunk] * (chunk + PAGE) + gslice[k] % chunk;
	}
	if (wants(cfg, n_obj) || wants(cfg, n_obj_plain)) {
		double plain;
		const struct vmmem_memory *m;

		MEASURE(cfg, plain, i, {
			uint64_t v;

			CHECK(vmmem_memory_read_obj(g.mem, gpas[i & AMASK], &v, sizeof(v)),
			      "vmmem_memory_read_obj");
			bb_u64(v);
		});
		m = vmmem_iommu_acquire(io);
		MEASURE(cfg, ns, i, {
			uint64_t v;

			CHECK(vmmem_iommu_read_obj(io, iovas[i & AMASK], &v, sizeof(v)),
			      "vmmem_iommu_read_obj");
			bb_u64(v);
		});
		vmmem_iommu_release(io, m);
		report(n_obj, ns, "iotlb");
		report(n_obj_plain, plain, "plain");
	}
	if (wants(cfg, n_cached) || wants(cfg, n_cached_plain)) {
		/* The fastest form a C caller has: a per-queue vmmem_iotlb_cache translated
		 * inline in the caller, then the plain object read on the guard's memory. */
		struct vmmem_iotlb_cache cache = { 0 };
		double plain;
		const struct vmmem_memory *m;

		MEASURE(cfg, plain, i, {
			uint64_t v;

			CHECK(vmmem_memory_read_obj(g.mem, gpas[i & AMASK], &v, sizeof(v)),
			      "vmmem_memory_read_obj");
			bb_u64(v);
		});
		m = vmmem_iommu_acquire(io);
		MEASURE(cfg, ns, i, {
			uint64_t v, gpa;

			CHECK(vmmem_iotlb_translate_cached(&cache, tlb, iovas[i & AMASK], sizeof(v),
							   VMMEM_ACCESS_READ, &gpa),
			      "vmmem_iotlb_translate_cached");
			CHECK(vmmem_memory_read_obj(m, gpa, &v, sizeof(v)), "vmmem_memory_read_obj");
			bb_u64(v);
		});
		vmmem_iommu_release(io, m);
		report(n_cached, ns, "iotlb-cache");
		report(n_cached_plain, plain, "plain");
	}
	if (wants(cfg, n_slice) || wants(cfg, n_slice_plain)) {
		const struct vmmem_memory *m = vmmem_iommu_acquire(io);

		MEASURE(cfg, ns, i, {
			CHECK(vmmem_iommu_read_exact(io, islice[i & AMASK], buf, slen, NULL),
			      "vmmem_iommu_read_exact");
			bb_ptr(buf);
		});
		vmmem_iommu_release(io, m);
		report_gbps(n_slice, ns, slen);
		MEASURE(cfg, ns, i, {
			CHECK(vmmem_memory_read_exact(g.mem, gslice[i & AMASK], buf, slen, NULL),
			      "vmmem_memory_read_exact");
			bb_ptr(buf);
		});
		report_gbps(n_slice_plain, ns, slen);
	}
	free(islice);
	free(iovas);
	free(gslice);
	free(gpas);
	free(buf);
	free(pos);
	vmmem_iommu_unref(io);
	vmmem_iotlb_unref(tlb);
	vmmem_atomic_unref(a);
	guest_free(&g);
	free(ranges);
}

/* read_cross_8k: two adjacent (no hole) 64 MiB regions; every read starts before the boundary
 * and ends after it, at an 8-byte-aligned GPA (cache-hot: measures the crossing overhead).
 * Its companion memcpy_cross_8k (libvmmem only, same process, right after) makes the two
 * memcpy calls the read comes down to, from the same host addresses into the same buffer:
 * the floor both libraries stand on, so the crossing's own cost is the difference. */
static void bench_cross(const struct cfg *cfg, size_t arg)
{
	const char *name = "read_cross_8k", *floor_name = "memcpy_cross_8k";
	const size_t half = 64 * MIB, len = 8 * KIB;
	const struct range ranges[2] = { { 0, half }, { (uint64_t)half, half } };
	struct vmmem_region *lo = NULL, *hi = NULL;
	struct guest g;
	struct rng rng = rng_new(0xc055);
	uint64_t *gp, off;
	uint8_t *buf, *lo_host, *hi_host;
	double ns;

	(void)arg;
	if (!wants(cfg, name) && !wants(cfg, floor_name))
		return;
	g = guest_new(ranges, 2, false);
	prefault(g.mem);
	gp = xmalloc(NADDR * sizeof(*gp));
	for (size_t k = 0; k < NADDR; k++)
		gp[k] = (uint64_t)half - 8 * (1 + rng_below(&rng, (uint64_t)(len / 8 - 1)));
	buf = xcalloc(len);
	MEASURE(cfg, ns, i, {
		CHECK(vmmem_memory_read_exact(g.mem, gp[i & AMASK], buf, len, NULL),
		      "vmmem_memory_read_exact");
		bb_ptr(buf);
	});
	report_gbps(name, ns, len);
	CHECK(vmmem_memory_to_region(g.mem, 0, &lo, &off), "vmmem_memory_to_region");
	CHECK(vmmem_memory_to_region(g.mem, half, &hi, &off), "vmmem_memory_to_region");
	lo_host = vmmem_region_host(lo);
	hi_host = vmmem_region_host(hi);
	MEASURE(cfg, ns, i, {
		size_t first = half - gp[i & AMASK]; /* bytes before the boundary */

		memcpy(buf, lo_host + gp[i & AMASK], first);
		bb_ptr(buf);
		memcpy(buf + first, hi_host, len - first);
		bb_ptr(buf);
	});
	report_gbps(floor_name, ns, len);
	free(buf);
	free(gp);
	guest_free(&g);
}

/* ------------------------------------------------------------------------------------------ */
/* Swappable memory (the anchor's bench_atomic): atomic_memory_guard, atomic_memory_guard_4t. */

/* Threads of atomic_memory_guard_4t (the anchor's T). */
#define GUARD_THREADS 4

struct guard_thread {
	struct vmmem_atomic *a; /* the thread's own reference (the anchor's atomic.clone()) */
	pthread_barrier_t *barrier;
	size_t iters;
	double ns; /* out: this thread's wall time / iters */
};

/* One guard taken and dropped: the anchor's `let g = atomic.memory(); black_box(&*g);
 * drop(g);`. acquire() fails only if the thread's first guard finds no memory for its
 * reader record; checked like an unwrap(), on the cold path. */
#define GUARD_OP(a_)                                                          \
	do {                                                                  \
		const struct vmmem_memory *g_ = vmmem_atomic_acquire(a_);     \
		if (__builtin_expect(g_ == NULL, 0))                          \
			die_rc("vmmem_atomic_acquire", -ENOMEM);              \
		bb_ptr(g_);                                                   \
		vmmem_atomic_release((a_), g_);                               \
	} while (0)

static void *guard_thread_main(void *arg)
{
	struct guard_thread *t = arg;
	uint64_t t0;

	pthread_barrier_wait(t->barrier);
	t0 = now_ns();
	for (size_t k = 0; k < t->iters; k++)
		GUARD_OP(t->a);
	t->ns = (double)(now_ns() - t0) / (double)t->iters;
	t->a = vmmem_atomic_unref(t->a); /* the clone is dropped after the clock is read */
	return NULL;
}

/*
 * An atomic memory over layout(8, PAGE) (8 regions, not prefaulted: no case touches guest
 * bytes). atomic_memory_guard: MEASURE of one guard taken and dropped. atomic_memory_guard_4t:
 * GUARD_THREADS new threads per rep, released together by a barrier, each running a fixed
 * count of ops sized from the single-thread figure (iters = max(1000, min_time / ns1)); a
 * rep's figure is the mean over threads of (thread wall time / iters); rep 0 is a warm-up;
 * the median over the other reps is printed. atomic_memory_guard_nested (libvmmem only):
 * the same guard taken and dropped inside an outer guard held across the loop, as a queue
 * worker holds one per burst. Only the outermost guard of a section publishes the reader's
 * epoch (with a full fence where membarrier is not available); a nested one only counts,
 * whatever the protocol.
 */
static void bench_atomic(const struct cfg *cfg, size_t arg)
{
	const char *n1 = "atomic_memory_guard", *n4 = "atomic_memory_guard_4t",
		   *nn = "atomic_memory_guard_nested";
	struct range *ranges = layout(8, PAGE);
	struct guest g = guest_new(ranges, 8, false);
	struct vmmem_atomic *atomic;
	double ns1 = 0.0;

	(void)arg;
	CHECK(vmmem_atomic_new(&atomic, g.mem), "vmmem_atomic_new");
	if (wants(cfg, n1)) {
		MEASURE(cfg, ns1, i, GUARD_OP(atomic));
		report(n1, ns1, "threads=1");
	}
	if (wants(cfg, nn)) {
		const struct vmmem_memory *outer = vmmem_atomic_acquire(atomic);
		double ns;

		if (!outer)
			die_rc("vmmem_atomic_acquire", -ENOMEM);
		MEASURE(cfg, ns, i, GUARD_OP(atomic));
		vmmem_atomic_release(atomic, outer);
		report(nn, ns, "threads=1 inside an outer guard");
	}
	if (wants(cfg, n4)) {
		pthread_t tid[GUARD_THREADS];
		struct guard_thread th[GUARD_THREADS];
		pthread_barrier_t barrier;
		double *res = xmalloc(cfg->reps * sizeof(double));
		size_t iters;
		double ns;
		char extra[128];

		if (ns1 == 0.0) {
			/* The anchor's quick single-thread figure: 50 ms, one rep, same warm-up. */
			struct cfg quick = *cfg;

			quick.min_time_ns = 50 * NS_PER_MS;
			quick.reps = 1;
			quick.filters = NULL;
			quick.nfilters = 0;
			MEASURE(&quick, ns1, i, GUARD_OP(atomic));
		}
		iters = (size_t)((double)cfg->min_time_ns / (ns1 > 0.1 ? ns1 : 0.1));
		if (iters < 1000)
			iters = 1000;
		for (size_t rep = 0; rep <= cfg->reps; rep++) {
			double sum = 0.0;

			if (pthread_barrier_init(&barrier, NULL, GUARD_THREADS) != 0)
				die("pthread_barrier_init");
			for (size_t k = 0; k < GUARD_THREADS; k++) {
				th[k] = (struct guard_thread){ vmmem_atomic_ref(atomic), &barrier,
							       iters, 0.0 };
				errno = pthread_create(&tid[k], NULL, guard_thread_main, &th[k]);
				if (errno)
					die("pthread_create");
			}
			for (size_t k = 0; k < GUARD_THREADS; k++) {
				errno = pthread_join(tid[k], NULL);
				if (errno)
					die("pthread_join");
				sum += th[k].ns;
			}
			pthread_barrier_destroy(&barrier);
			if (rep > 0) /* rep 0 is the warm-up */
				res[rep - 1] = sum / GUARD_THREADS;
		}
		ns = median(res, cfg->reps);
		snprintf(extra, sizeof(extra), "threads=%d cpus=%d total_Mops/s=%.2f",
			 GUARD_THREADS, available_cpus(), GUARD_THREADS * 1e3 / ns);
		report(n4, ns, extra);
		free(res);
	}
	vmmem_atomic_unref(atomic);
	guest_free(&g);
	free(ranges);
}

/* ------------------------------------------------------------------------------------------ */
/* Dirty tracking (the anchor's bench_dirty): write_4k_dirty, write_4k_untracked,
 * bitmap_scan_1g, bitmap_scan_dirty_at_1g. */

struct scan_ctx {
	const struct vmmem_memory *mem;
	struct vmmem_region *region;
	uint64_t size;  /* region bytes */
	size_t pages;   /* bits of its bitmap */
	size_t ndirty;  /* pages dirtied before each scan (1%) */
	struct rng rng; /* one generator for both scan cases, as the anchor's */
	uint64_t *words; /* get-and-clear output, ceil(pages / 64) words */
	size_t nwords;
};

/* Untimed: dirty ndirty random pages, one u8 write_obj each (the anchor's dirty_some). */
static void dirty_some(struct scan_ctx *c)
{
	for (size_t k = 0; k < c->ndirty; k++) {
		uint64_t p = rng_below(&c->rng, (uint64_t)c->pages);
		uint8_t one = 1;

		CHECK(vmmem_memory_write_obj(c->mem, p * PAGE, &one, sizeof(one)),
		      "vmmem_memory_write_obj");
	}
}

/*
 * The anchor's `words.iter().map(|w| w.count_ones() as usize).sum()` as rustc compiles it for
 * plain x86-64 (no popcnt feature): the SWAR bit count on SSE2 vectors, psadbw to add the
 * bytes, two vectors (4 words) per step. Same instructions, same cost (~1.9 µs for 4096
 * words here; GCC's own vectorisation of the scalar SWAR takes ~3 µs, and
 * __builtin_popcountll without -mpopcnt is a libgcc call per word).
 */
static inline uint64_t popcount_swar(uint64_t x)
{
	x -= (x >> 1) & UINT64_C(0x5555555555555555);
	x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
	return (x * UINT64_C(0x0101010101010101)) >> 56;
}

#if defined(__SSE2__)
/* Per 64-bit lane: the number of set bits of 16 bytes. */
static inline __m128i popcount_sse2(__m128i a)
{
	const __m128i m1 = _mm_set1_epi8(0x55), m2 = _mm_set1_epi8(0x33),
		      m4 = _mm_set1_epi8(0x0f);

	a = _mm_sub_epi8(a, _mm_and_si128(_mm_srli_epi16(a, 1), m1));
	a = _mm_add_epi8(_mm_and_si128(a, m2), _mm_and_si128(_mm_srli_epi16(a, 2), m2));
	a = _mm_and_si128(_mm_add_epi8(a, _mm_srli_epi16(a, 4)), m4);
	return _mm_sad_epu8(a, _mm_setzero_si128());
}
#endif

static size_t popcount_words(const uint64_t *w, size_t n)
{
	size_t k = 0, found = 0;

#if defined(__SSE2__)
	__m128i acc0 = _mm_setzero_si128(), acc1 = _mm_setzero_si128();

	for (; n - k >= 4; k += 4) {
		acc0 = _mm_add_epi64(acc0, popcount_sse2(_mm_loadu_si128((const void *)(w + k))));
		acc1 = _mm_add_epi64(acc1,
				     popcount_sse2(_mm_loadu_si128((const void *)(w + k + 2))));
	}
	acc0 = _mm_add_epi64(acc0, acc1);
	acc0 = _mm_add_epi64(acc0, _mm_unpackhi_epi64(acc0, acc0));
	found = (size_t)_mm_cvtsi128_si64(acc0);
#endif
	for (; k < n; k++)
		found += (size_t)popcount_swar(w[k]);
	return found;
}

/* bitmap_scan_1g: one get-and-clear of the whole region's bitmap, then a popcount of it (the
 * anchor's get_and_reset().iter().map(count_ones).sum()). The output buffer is the caller's
 * and reused (the C API's way); the anchor's get_and_reset() mallocs a Vec per scan. */
static size_t scan_get_and_clear(struct scan_ctx *c)
{
	ssize_t n = vmmem_region_dirty_get_and_clear(c->region, 0, c->size, c->words, c->nwords);

	if (__builtin_expect(n < 0, 0))
		die_rc("vmmem_region_dirty_get_and_clear", n);
	return popcount_words(c->words, c->nwords);
}

/* bitmap_scan_dirty_at_1g: test every page separately, then clear the bitmap (the anchor's
 * per-page dirty_at() and reset()). */
static size_t scan_dirty_at(struct scan_ctx *c)
{
	size_t found = 0;

	for (size_t p = 0; p < c->pages; p++) {
		int d = vmmem_region_dirty_test(c->region, (uint64_t)p * PAGE);

		if (__builtin_expect(d < 0, 0))
			die_rc("vmmem_region_dirty_test", d);
		found += (size_t)d;
	}
	CHECK(vmmem_region_dirty_clear(c->region, 0, c->size), "vmmem_region_dirty_clear");
	return found;
}

/* bitmap_scan_dirty_at_inline_1g (libvmmem only): the same scan with the body of
 * vmmem_region_dirty_test() compiled into the loop (vmm_region_dirty_bit, core/dirty.h), to
 * show what the exported call itself costs per page (issue 22). */
static size_t scan_dirty_at_inline(struct scan_ctx *c)
{
	size_t found = 0;

	for (size_t p = 0; p < c->pages; p++) {
		int d = vmm_region_dirty_bit(c->region, (uint64_t)p * PAGE);

		if (__builtin_expect(d < 0, 0))
			die_rc("vmm_region_dirty_bit", -EINVAL);
		found += (size_t)d;
	}
	CHECK(vmmem_region_dirty_clear(c->region, 0, c->size), "vmmem_region_dirty_clear");
	return found;
}

/*
 * Which reader protocol this process's guards run (issue 22: a guard 2.7x slower on one CPU
 * than another must be traced to a cause). libvmmem's readers are fence-free only when
 * membarrier(PRIVATE_EXPEDITED) registers (core/barrier.c); otherwise each outermost guard
 * stores its epoch with a full fence. The same query and registration, asked here; once
 * registered, repeating it is harmless.
 */
static const char *guard_mode(void)
{
	static char why[128];
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);

	if (cmds < 0) {
		snprintf(why, sizeof(why), "fenced (membarrier query failed: %s)", strerror(errno));
		return why;
	}
	if (!(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED))
		return "fenced (membarrier PRIVATE_EXPEDITED not offered by this kernel)";
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) != 0) {
		snprintf(why, sizeof(why), "fenced (membarrier registration refused: %s)",
			 strerror(errno));
		return why;
	}
	return "fence-free (membarrier PRIVATE_EXPEDITED registered)";
}

/* The anchor's scan_case: rep 0 is a warm-up of >= warmup, then reps of >= min_time each; an
 * iteration dirties 1% of the pages (untimed) and times one scan; a rep's figure is its
 * timed total / iterations; the median is printed. */
static void scan_case(const struct cfg *cfg, const char *name, struct scan_ctx *c,
		      size_t (*scan)(struct scan_ctx *c))
{
	double *res;
	size_t found = 0;
	double ns;
	char extra[160];

	if (!wants(cfg, name))
		return;
	res = xmalloc(cfg->reps * sizeof(double));
	for (size_t rep = 0; rep <= cfg->reps; rep++) {
		bool warm = rep == 0;
		uint64_t limit = warm ? cfg->warmup_ns : cfg->min_time_ns;
		uint64_t timed = 0;
		size_t n = 0;

		while (timed < limit || n == 0) {
			uint64_t t0;

			dirty_some(c);
			t0 = now_ns();
			found = (size_t)bb_opaque_u64(scan(c));
			timed += now_ns() - t0;
			n++;
		}
		if (!warm)
			res[rep - 1] = (double)timed / (double)n;
	}
	ns = median(res, cfg->reps);
	snprintf(extra, sizeof(extra), "pages=%zu dirtied=%zu found_last=%zu ns/page=%.3f",
		 c->pages, c->ndirty, found, ns / (double)c->pages);
	report(name, ns, extra);
	free(res);
}

/*
 * One 1 GiB region with dirty tracking at 4 KiB pages, switched on before the prefault (which
 * marks every page) and then cleared, as the anchor's GuestMemoryMmap<AtomicBitmap>.
 * write_4k_dirty: write_exact of 4 KiB at random 4 KiB-aligned GPAs (seed 0xd127).
 * write_4k_untracked (libvmmem only): the same writes, same addresses, with tracking switched
 * off (no region of the process tracked), the reference of write_4k_dirty's goal.
 * Then the scans, tracking on and the bitmap clear.
 */
static void bench_dirty(const struct cfg *cfg, size_t arg)
{
	const char *nw = "write_4k_dirty", *nu = "write_4k_untracked";
	const struct range ranges[1] = { { 0, GIB } };
	struct guest g = guest_new(ranges, 1, false);
	struct vmmem_region *region = vmmem_memory_region_at(g.mem, 0);
	struct scan_ctx c;

	(void)arg;
	CHECK(vmmem_region_dirty_enable(region, PAGE), "vmmem_region_dirty_enable");
	prefault(g.mem);
	c = (struct scan_ctx){ .mem = g.mem, .region = region, .size = vmmem_region_size(region) };
	c.pages = (size_t)(c.size / vmmem_region_dirty_page_size(region));
	CHECK(vmmem_region_dirty_clear(region, 0, c.size), "vmmem_region_dirty_clear");

	if (wants(cfg, nw) || wants(cfg, nu)) {
		uint64_t *gp = rand_gpas(ranges, 1, PAGE, 4 * KIB, 0xd127);
		uint8_t *buf = xmalloc(4 * KIB);
		double ns;

		for (size_t k = 0; k < 4 * KIB; k++)
			buf[k] = (uint8_t)(k * 3 + 1);
		if (wants(cfg, nw)) {
			MEASURE(cfg, ns, i, {
				CHECK(vmmem_memory_write_exact(g.mem, gp[i & AMASK],
							       bb_opaque_ptr(buf), 4 * KIB, NULL),
				      "vmmem_memory_write_exact");
			});
			report_gbps(nw, ns, 4 * KIB);
			CHECK(vmmem_region_dirty_clear(region, 0, c.size),
			      "vmmem_region_dirty_clear");
		}
		if (wants(cfg, nu)) {
			CHECK(vmmem_region_dirty_disable(region), "vmmem_region_dirty_disable");
			MEASURE(cfg, ns, i, {
				CHECK(vmmem_memory_write_exact(g.mem, gp[i & AMASK],
							       bb_opaque_ptr(buf), 4 * KIB, NULL),
				      "vmmem_memory_write_exact");
			});
			report_gbps(nu, ns, 4 * KIB);
			/* Back on, all clean (the earlier bitmap, cleared). */
			CHECK(vmmem_region_dirty_enable(region, PAGE), "vmmem_region_dirty_enable");
		}
		free(buf);
		free(gp);
	}

	c.ndirty = c.pages / 100;
	c.rng = rng_new(0x5ca7);
	c.nwords = (c.pages + 63) / 64;
	c.words = xcalloc(c.nwords * sizeof(*c.words));
	scan_case(cfg, "bitmap_scan_1g", &c, scan_get_and_clear);
	scan_case(cfg, "bitmap_scan_dirty_at_1g", &c, scan_dirty_at);
	scan_case(cfg, "bitmap_scan_dirty_at_inline_1g", &c, scan_dirty_at_inline);
	free(c.words);
	guest_free(&g);
}

/* memcpy_{4k,64k,1m}: plain memcpy at the same offsets as read_slice_* (same layout and
 * seeds), source = a 1 GiB malloc'd buffer (Rust's Vec): the physical limit of the slices. */
static void bench_memcpy(const struct cfg *cfg, size_t arg)
{
	static const char *const names[N_SLICE_CASES] = { "memcpy_4k", "memcpy_64k", "memcpy_1m" };
	struct range *ranges;
	uint8_t *src;
	bool any = false;

	(void)arg;
	for (size_t c = 0; c < N_SLICE_CASES; c++)
		any = any || wants(cfg, names[c]);
	if (!any)
		return;
	ranges = layout(1, PAGE);
	src = xmalloc(GIB);
	for (size_t k = 0; k < GIB; k++)
		src[k] = (uint8_t)(k * 7 + 1);
	for (size_t c = 0; c < N_SLICE_CASES; c++) {
		size_t len = SLICE_CASES[c].len;
		uint64_t *gp;
		uint8_t *dst;
		double ns;

		if (!wants(cfg, names[c]))
			continue;
		gp = rand_gpas(ranges, 1, PAGE, len, 0x51ce + (uint64_t)len);
		dst = xcalloc(len);
		MEASURE(cfg, ns, i, {
			memcpy(dst, src + gp[i & AMASK], len);
			bb_ptr(dst);
		});
		report_gbps(names[c], ns, len);
		free(dst);
		free(gp);
	}
	free(src);
	free(ranges);
}

/*
 * The case table: groups in run order, each with the cases it may report (also what --list
 * prints). A group runs only if one of its cases is wanted. The order is the anchor's;
 * compare.sh picks new cases up from --list by itself.
 */
#define MAX_GROUP_CASES 16

struct group {
	void (*run)(const struct cfg *cfg, size_t arg);
	size_t arg;
	const char *cases[MAX_GROUP_CASES]; /* NULL-terminated */
};

static const struct group GROUPS[] = {
	{ bench_rmem, 1,
	  { "read_obj_u64_r1", "raw_read_u64_r1", "write_obj_u64_r1", "find_region_r1",
	    "read_slice_4k", "write_slice_4k", "read_slice_64k", "write_slice_64k",
	    "read_slice_1m", "write_slice_1m", "find_region_inline_r1",
	    "get_host_address_cached_r1", NULL } },
	{ bench_rmem, 8, { "read_obj_u64_r8", "write_obj_u64_r8", "find_region_r8", NULL } },
	{ bench_rmem, 64,
	  { "read_obj_u64_r64", "write_obj_u64_r64", "find_region_r64", "get_host_address_r64",
	    "get_host_address_cached_r64", NULL } },
	{ bench_rmem, 512,
	  { "read_obj_u64_r512", "write_obj_u64_r512", "find_region_r512", "find_region_inline_r512",
	    NULL } },
	{ bench_rmem, 32768, { "find_region_r32768", NULL } },
	{ bench_cross, 0, { "read_cross_8k", "memcpy_cross_8k", NULL } },
	{ bench_atomic, 0, { "atomic_memory_guard", "atomic_memory_guard_4t",
			     "atomic_memory_guard_nested", NULL } },
	{ bench_dirty, 0,
	  { "write_4k_dirty", "write_4k_untracked", "bitmap_scan_1g", "bitmap_scan_dirty_at_1g",
	    "bitmap_scan_dirty_at_inline_1g", NULL } },
	{ bench_memcpy, 0, { "memcpy_4k", "memcpy_64k", "memcpy_1m", NULL } },
	{ bench_iommu, 1,
	  { "iommu_read_obj_u64_e1", "plain_read_obj_u64_e1", "iommu_read_slice_4k_e1",
	    "plain_read_slice_4k_e1", "iommu_cached_read_obj_u64_e1",
	    "plain_cached_read_obj_u64_e1", NULL } },
	{ bench_iommu, 64,
	  { "iommu_read_obj_u64_e64", "plain_read_obj_u64_e64", "iommu_read_slice_4k_e64",
	    "plain_read_slice_4k_e64", "iommu_cached_read_obj_u64_e64",
	    "plain_cached_read_obj_u64_e64", NULL } },
	{ bench_iommu, 4096,
	  { "iommu_read_obj_u64_e4096", "plain_read_obj_u64_e4096", "iommu_read_slice_4k_e4096",
	    "plain_read_slice_4k_e4096", "iommu_cached_read_obj_u64_e4096",
	    "plain_cached_read_obj_u64_e4096", NULL } },
};
#define N_GROUPS (sizeof(GROUPS) / sizeof(GROUPS[0]))

static bool group_wanted(const struct cfg *cfg, const struct group *gr)
{
	for (size_t k = 0; gr->cases[k]; k++)
		if (wants(cfg, gr->cases[k]))
			return true;
	return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Main. */

static const char USAGE[] =
	"usage: vmmem-bench [--min-time SECS] [--warmup SECS] [--reps N] [--list] [FILTER...]";

__attribute__((noreturn)) static void usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "vmmem-bench: %s%s%s\n%s\n", msg, arg ? ": " : "", arg ? arg : "", USAGE);
	exit(2);
}

static uint64_t parse_secs(const char *s)
{
	char *end;
	double v;

	if (!s)
		usage_error("expected seconds", NULL);
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0 && v <= 1e9)) /* also refuses NaN */
		usage_error("expected seconds", s);
	return (uint64_t)(v * 1e9 + 0.5);
}

static size_t parse_count(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s || *s == '-')
		usage_error("expected N", s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > 1000000)
		usage_error("expected N", s);
	return (size_t)v;
}

/* Like Rust's Debug for Duration: 300ms, 1.5s, 50µs. */
static void fmt_dur(char *out, size_t n, uint64_t ns)
{
	if (ns >= NS_PER_S)
		snprintf(out, n, "%.9gs", (double)ns / 1e9);
	else if (ns >= NS_PER_MS)
		snprintf(out, n, "%.9gms", (double)ns / 1e6);
	else if (ns >= 1000)
		snprintf(out, n, "%.9g\xc2\xb5s", (double)ns / 1e3);
	else
		snprintf(out, n, "%lluns", (unsigned long long)ns);
}

static void read_line_file(const char *path, const char *prefix, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	char line[512];

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			const char *v = line + strlen(prefix);
			const char *colon = prefix[0] ? strchr(v, ':') : NULL;
			size_t len;

			if (colon)
				v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(out, n, "%s", v);
			len = strlen(out);
			while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
				out[--len] = '\0';
			break;
		}
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	static struct cfg cfg = {
		.min_time_ns = 300 * NS_PER_MS,
		.warmup_ns = 100 * NS_PER_MS,
		.reps = 3,
		.filters = NULL,
		.nfilters = 0,
		.list = false,
	};
	char cpu[256], thp[256], d_min[32], d_warm[32];

	cfg.filters = xcalloc((size_t)(argc > 0 ? argc : 1) * sizeof(*cfg.filters));
	for (int k = 1; k < argc; k++) {
		const char *a = argv[k];

		if (strcmp(a, "--min-time") == 0) {
			cfg.min_time_ns = parse_secs(k + 1 < argc ? argv[++k] : NULL);
		} else if (strcmp(a, "--warmup") == 0) {
			cfg.warmup_ns = parse_secs(k + 1 < argc ? argv[++k] : NULL);
		} else if (strcmp(a, "--reps") == 0) {
			cfg.reps = parse_count(k + 1 < argc ? argv[++k] : NULL);
		} else if (strcmp(a, "--list") == 0) {
			cfg.list = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			puts(USAGE);
			return 0;
		} else {
			cfg.filters[cfg.nfilters++] = a;
		}
	}
	if (cfg.reps < 1)
		usage_error("--reps must be at least 1", NULL);

	if (cfg.list) {
		for (size_t g = 0; g < N_GROUPS; g++)
			for (size_t k = 0; GROUPS[g].cases[k]; k++)
				if (wants(&cfg, GROUPS[g].cases[k]))
					puts(GROUPS[g].cases[k]);
		free(cfg.filters);
		return 0;
	}

	read_line_file("/sys/kernel/mm/transparent_hugepage/enabled", "", thp, sizeof(thp));
	read_line_file("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	fmt_dur(d_min, sizeof(d_min), cfg.min_time_ns);
	fmt_dur(d_warm, sizeof(d_warm), cfg.warmup_ns);
	fprintf(stderr, "# vmmem-bench: libvmmem %s (headers %d.%d.%d)\n", vmmem_version_string(),
		VMMEM_VERSION_MAJOR, VMMEM_VERSION_MINOR, VMMEM_VERSION_PATCH);
	fprintf(stderr, "# cpu: %s; cpus: %d; thp: %s\n", cpu, available_cpus(), thp);
	fprintf(stderr, "# min_time=%s warmup=%s reps=%zu (median reported)\n", d_min, d_warm,
		cfg.reps);
	fprintf(stderr, "# guards: %s\n", guard_mode());

	for (size_t g = 0; g < N_GROUPS; g++)
		if (group_wanted(&cfg, &GROUPS[g]))
			GROUPS[g].run(&cfg, GROUPS[g].arg);
	free(cfg.filters);
	return 0;
}
