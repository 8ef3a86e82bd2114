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
 * read_obj_u64_r1) and find_region_r32768 (lookup cost at tens of thousands of regions).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT, MAP_NORESERVE */
#endif

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vmmem.h>

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

/* Region counts run by bench_rmem; above this, regions are slices of one mapping. */
#define MAX_MMAP_PER_REGION 512

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
	char n_read[64], n_raw[64], n_write[64], n_find[64], n_host[64];
	bool only_find = r > MAX_MMAP_PER_REGION;
	struct range *ranges = layout(r, PAGE);
	struct guest g = guest_new(ranges, r, r > MAX_MMAP_PER_REGION);
	const struct vmmem_memory *mem = g.mem;
	uint64_t *gpas;
	double ns;

	snprintf(n_read, sizeof(n_read), "read_obj_u64_r%zu", r);
	snprintf(n_raw, sizeof(n_raw), "raw_read_u64_r%zu", r);
	snprintf(n_write, sizeof(n_write), "write_obj_u64_r%zu", r);
	snprintf(n_find, sizeof(n_find), "find_region_r%zu", r);
	snprintf(n_host, sizeof(n_host), "get_host_address_r%zu", r);

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

/* read_cross_8k: two adjacent (no hole) 64 MiB regions; every read starts before the boundary
 * and ends after it, at an 8-byte-aligned GPA (cache-hot: measures the crossing overhead). */
static void bench_cross(const struct cfg *cfg, size_t arg)
{
	const char *name = "read_cross_8k";
	const size_t half = 64 * MIB, len = 8 * KIB;
	const struct range ranges[2] = { { 0, half }, { (uint64_t)half, half } };
	struct guest g;
	struct rng rng = rng_new(0xc055);
	uint64_t *gp;
	uint8_t *buf;
	double ns;

	(void)arg;
	if (!wants(cfg, name))
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
	free(buf);
	free(gp);
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
 * prints). A group runs only if one of its cases is wanted.
 *
 * Room for the cases a later issue adds (mirroring the anchor's bench_atomic/bench_dirty,
 * run between read_cross_8k and the memcpy group):
 *   { bench_atomic, 0, { "atomic_memory_guard", "atomic_memory_guard_4t" } },
 *   { bench_dirty,  0, { "write_4k_dirty", "bitmap_scan_1g", "bitmap_scan_dirty_at_1g" } },
 * compare.sh picks new cases up from --list by itself.
 */
#define MAX_GROUP_CASES 12

struct group {
	void (*run)(const struct cfg *cfg, size_t arg);
	size_t arg;
	const char *cases[MAX_GROUP_CASES]; /* NULL-terminated */
};

static const struct group GROUPS[] = {
	{ bench_rmem, 1,
	  { "read_obj_u64_r1", "raw_read_u64_r1", "write_obj_u64_r1", "find_region_r1",
	    "read_slice_4k", "write_slice_4k", "read_slice_64k", "write_slice_64k",
	    "read_slice_1m", "write_slice_1m", NULL } },
	{ bench_rmem, 8, { "read_obj_u64_r8", "write_obj_u64_r8", "find_region_r8", NULL } },
	{ bench_rmem, 64,
	  { "read_obj_u64_r64", "write_obj_u64_r64", "find_region_r64", "get_host_address_r64",
	    NULL } },
	{ bench_rmem, 512,
	  { "read_obj_u64_r512", "write_obj_u64_r512", "find_region_r512", NULL } },
	{ bench_rmem, 32768, { "find_region_r32768", NULL } },
	{ bench_cross, 0, { "read_cross_8k", NULL } },
	/* later: bench_atomic, bench_dirty (see above) */
	{ bench_memcpy, 0, { "memcpy_4k", "memcpy_64k", "memcpy_1m", NULL } },
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

static int available_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set);
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

int main(int argc, char **argv)
{
	struct cfg cfg = {
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

	for (size_t g = 0; g < N_GROUPS; g++)
		if (group_wanted(&cfg, &GROUPS[g]))
			GROUPS[g].run(&cfg, GROUPS[g].arg);
	free(cfg.filters);
	return 0;
}
