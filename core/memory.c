/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Guest memory: building the sorted region set and its index, lookup, copy-on-write edits. */
#define _GNU_SOURCE /* qsort_r */
#include "memory.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <vmmem/share.h>

#include "error.h"
#include "vlog.h"

/* More buckets than this would cost more memory than the regions themselves are worth. */
#define MAX_BUCKETS (UINT64_C(1) << 22)
/* Indices are 32-bit. */
#define MAX_REGIONS (UINT64_C(1) << 31)

int
vmm_err_unmapped(uint64_t gpa)
{
	return vmm_err(VMMEM_E_UNMAPPED, "guest address 0x%llx is not in any region",
		       (unsigned long long)gpa);
}

static int compare_region_gpa(const void *a, const void *b)
{
	const struct vmmem_region *ra = *(struct vmmem_region *const *)a;
	const struct vmmem_region *rb = *(struct vmmem_region *const *)b;

	return (ra->gpa > rb->gpa) - (ra->gpa < rb->gpa);
}

/* Sort @regions in place by gpa and refuse any overlap between neighbours. */
static int sort_and_check(struct vmmem_region **regions, size_t count)
{
	qsort(regions, count, sizeof(*regions), compare_region_gpa);
	for (size_t i = 1; i < count; i++) {
		const struct vmmem_region *a = regions[i - 1], *b = regions[i];

		if (vmm_region_last(a) >= b->gpa)
			return vmm_err(VMMEM_E_OVERLAP,
				       "regions [0x%llx, 0x%llx] and [0x%llx, 0x%llx] overlap",
				       (unsigned long long)a->gpa,
				       (unsigned long long)vmm_region_last(a),
				       (unsigned long long)b->gpa,
				       (unsigned long long)vmm_region_last(b));
	}
	return 0;
}

/* Sender-address order of the imported regions among @sorted: indices into it, the count
 * in *n. Returns whether two sender ranges overlap. */
static int compare_peer(const void *a, const void *b, void *arg)
{
	struct vmmem_region *const *sorted = arg;
	uint64_t pa = sorted[*(const uint32_t *)a]->peer_addr;
	uint64_t pb = sorted[*(const uint32_t *)b]->peer_addr;

	return (pa > pb) - (pa < pb);
}

static bool peer_order(struct vmmem_region *const *sorted, size_t count, uint32_t *order,
		       uint32_t *n)
{
	bool overlap = false;

	*n = 0;
	for (size_t i = 0; i < count; i++)
		if (sorted[i]->has_peer)
			order[(*n)++] = (uint32_t)i;
	qsort_r(order, *n, sizeof(*order), compare_peer, (void *)sorted);
	for (uint32_t k = 1; k < *n; k++) {
		const struct vmmem_region *a = sorted[order[k - 1]], *b = sorted[order[k]];

		/* Does a's sender range [peer, peer + size) reach b's? (Aliases: one piece of
		 * a peer's memory imported at two GPAs. A range that wraps reaches anything.) */
		if (vmm_range_wraps(a->peer_addr, a->size) || a->peer_addr + (a->size - 1) >= b->peer_addr)
			overlap = true;
	}
	return overlap;
}

/* Indexes at least this big go into a transparent-huge-page mapping: random lookups over
 * thousands of regions then cost one TLB entry instead of hundreds. */
#define HUGE_INDEX (UINT64_C(512) << 10)
#define HUGE_PAGE (UINT64_C(2) << 20)

/* Memory for a memory object of @bytes: malloc, or a 2 MiB-aligned THP mapping for big
 * indexes (*map_len set to its length). */
static void *index_alloc(uint64_t bytes, uint64_t *map_len)
{
	uint64_t len = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	uint8_t *p, *aligned;

	*map_len = 0;
	if (bytes < HUGE_INDEX)
		return malloc(bytes);
	p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return malloc(bytes);
	aligned = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	if (aligned > p)
		munmap(p, (size_t)(aligned - p));
	munmap(aligned + len, (size_t)(p + HUGE_PAGE - aligned));
	madvise(aligned, len, MADV_HUGEPAGE); /* best effort: THP may be off */
	*map_len = len;
	return aligned;
}

static void index_free(struct vmmem_memory *m)
{
	if (m->map_len)
		munmap(m, m->map_len);
	else
		free(m);
}

/* Smallest bucket shift giving at most about two buckets per region. */
static uint32_t choose_shift(uint64_t span, size_t count)
{
	uint64_t target = 2;
	uint32_t shift = 0;

	while (target < 2 * (uint64_t)count && target < MAX_BUCKETS)
		target <<= 1;
	/* (span >> 63) <= 1 < target, so this stops by 63: never an undefined shift. */
	while ((span >> shift) >= target)
		shift++;
	return shift;
}

/* Build a memory over @count sorted, non-overlapping regions (0 for an empty memory),
 * taking a reference on each and on @vlog (which must cover them; may be NULL). */
static int memory_build(struct vmmem_memory **out, struct vmmem_region *const *sorted,
			size_t count, struct vmmem_vhost_log *vlog)
{
	uint64_t base = count ? sorted[0]->gpa : 0;
	uint64_t last_addr = count ? vmm_region_last(sorted[count - 1]) : 0;
	uint32_t shift = choose_shift(last_addr - base, count);
	uint64_t nbuckets = ((last_addr - base) >> shift) + 1;
	struct vmmem_memory *m;
	size_t j = 0;

	if (vlog && !vmm_vlog_covers(vlog, last_addr))
		return vmm_err(-ENOBUFS,
			       "memory: the vhost log (%llu bytes) does not cover GPA 0x%llx",
			       (unsigned long long)vlog->size, (unsigned long long)last_addr);
	uint64_t map_len;
	uint32_t npeer = 0;

	m = index_alloc(sizeof(*m) + (count + 1) * sizeof(struct vmm_slot) +
			(nbuckets + 1 + count) * sizeof(uint32_t), &map_len);
	if (!m)
		return vmm_err(-ENOMEM, "memory: out of memory for %zu regions", count);
	m->map_len = map_len;
	m->bucket = (uint32_t *)&m->slots[count + 1];
	m->peer = m->bucket + nbuckets + 1;
	m->peer_overlap = peer_order(sorted, count, m->peer, &npeer);
	m->npeer = npeer;
	m->refs = 1;
	m->vlog = vmmem_vhost_log_ref(vlog);
	m->count = (uint32_t)count;
	m->shift = shift;
	m->base = base;
	m->nbuckets = nbuckets;
	m->last_addr = last_addr;
	m->slots[count] = (struct vmm_slot){ .gpa = UINT64_MAX, .last = UINT64_MAX };
	for (size_t i = 0; i < count; i++) {
		struct vmmem_region *r = vmmem_region_ref(sorted[i]);

		m->slots[i] = (struct vmm_slot){
			.gpa = r->gpa,
			.last = vmm_region_last(r),
			.host = r->host,
			.region_ro = (uintptr_t)r |
				     ((r->flags & VMMEM_REGION_READ_ONLY) ? VMM_SLOT_RO : 0) |
				     (r->guarded ? VMM_SLOT_GUARDED : 0),
		};
	}
	for (uint64_t b = 0; b < nbuckets && count; b++) {
		uint64_t start = base + (b << shift);

		while (m->slots[j].last < start)
			j++;
		m->bucket[b] = (uint32_t)j;
	}
	if (!count)
		m->bucket[0] = 0; /* never read: an empty memory's lookup stops first */
	m->bucket[nbuckets] = count ? (uint32_t)(count - 1) : 0;
	*out = m;
	return 0;
}

int
vmmem_memory_new_empty(struct vmmem_memory **out)
{
	VMM_CHECK_ARG(out);
	*out = NULL;
	return memory_build(out, NULL, 0, NULL);
}

/* vmmem_memory_new -- sort, validate and index a set of regions */
int
vmmem_memory_new(struct vmmem_memory **out, struct vmmem_region *const *regions, size_t count)
{
	struct vmmem_region **sorted;
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(regions || count == 0);
	if (count == 0)
		return vmm_err(VMMEM_E_NO_REGIONS, "memory: no regions given");
	if (count > MAX_REGIONS)
		return vmm_err(-EINVAL, "memory: %zu regions is more than the limit of %llu", count,
			       (unsigned long long)MAX_REGIONS);
	for (size_t i = 0; i < count; i++)
		if (!regions[i])
			return vmm_err(-EINVAL, "memory: region %zu of %zu is NULL", i, count);
	sorted = malloc(count * sizeof(*sorted));
	if (!sorted)
		return vmm_err(-ENOMEM, "memory: out of memory for %zu regions", count);
	memcpy(sorted, regions, count * sizeof(*sorted));
	rc = sort_and_check(sorted, count);
	if (rc == 0)
		rc = memory_build(out, sorted, count, NULL);
	free(sorted);
	return rc;
}

struct vmmem_memory *
vmmem_memory_ref(struct vmmem_memory *m)
{
	if (m)
		vmm_ref_inc(&m->refs);
	return m;
}

struct vmmem_memory *
vmmem_memory_unref(struct vmmem_memory *m)
{
	if (!m || !vmm_ref_dec_is_last(&m->refs))
		return NULL;
	for (uint32_t i = 0; i < m->count; i++)
		vmmem_region_unref(vmm_slot_region(&m->slots[i]));
	vmmem_vhost_log_unref(m->vlog);
	index_free(m);
	return NULL;
}

size_t
vmmem_memory_region_count(const struct vmmem_memory *m)
{
	return m ? m->count : 0;
}

struct vmmem_region *
vmmem_memory_region_at(const struct vmmem_memory *m, size_t index)
{
	if (!m || index >= m->count)
		return NULL;
	return vmm_slot_region(&m->slots[index]);
}

uint64_t
vmmem_memory_last_addr(const struct vmmem_memory *m)
{
	return m ? m->last_addr : 0;
}

int
vmmem_memory_find_region(const struct vmmem_memory *m, uint64_t gpa, struct vmmem_region **out)
{
	const struct vmm_slot *s;

	if (unlikely(!m || !out)) {
		if (out)
			*out = NULL;
		return vmm_err(-EINVAL, "%s: invalid argument: %s", __func__, !m ? "m" : "out");
	}
	s = vmm_lookup(m, gpa);
	if (unlikely(!s)) {
		*out = NULL;
		return vmm_err_unmapped(gpa);
	}
	*out = vmm_slot_region(s);
	return 0;
}

int
vmmem_memory_to_region(const struct vmmem_memory *m, uint64_t gpa, struct vmmem_region **region,
		       uint64_t *offset)
{
	const struct vmm_slot *s;

	VMM_CHECK_ARG(m);
	s = vmm_lookup(m, gpa);
	if (!s)
		return vmm_err_unmapped(gpa);
	if (region)
		*region = vmm_slot_region(s);
	if (offset)
		*offset = gpa - s->gpa;
	return 0;
}

bool
vmmem_memory_address_in_range(const struct vmmem_memory *m, uint64_t gpa)
{
	return m && vmm_lookup(m, gpa) != NULL;
}

int
vmmem_memory_check_address(const struct vmmem_memory *m, uint64_t gpa)
{
	VMM_CHECK_ARG(m);
	return vmm_lookup(m, gpa) ? 0 : vmm_err_unmapped(gpa);
}

int
vmmem_memory_checked_offset(const struct vmmem_memory *m, uint64_t base, uint64_t offset,
			    uint64_t *out)
{
	uint64_t gpa;

	VMM_CHECK_ARG(m);
	VMM_CHECK_ARG(out);
	if (__builtin_add_overflow(base, offset, &gpa))
		return vmm_err(-EOVERFLOW, "0x%llx + 0x%llx passes 2^64 - 1",
			       (unsigned long long)base, (unsigned long long)offset);
	if (!vmm_lookup(m, gpa))
		return vmm_err_unmapped(gpa);
	*out = gpa;
	return 0;
}

/* The memory's regions as a fresh array, for copy-on-write edits. */
static struct vmmem_region **region_array(const struct vmmem_memory *m, size_t extra)
{
	struct vmmem_region **a = malloc((m->count + extra + 1) * sizeof(*a)); /* never 0 */

	if (!a)
		return NULL;
	for (uint32_t i = 0; i < m->count; i++)
		a[i] = vmm_slot_region(&m->slots[i]);
	return a;
}

int
vmmem_memory_insert_region(const struct vmmem_memory *m, struct vmmem_region *r,
			   struct vmmem_memory **out)
{
	struct vmmem_region **a;
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(m);
	VMM_CHECK_ARG(r);
	if ((uint64_t)m->count + 1 > MAX_REGIONS)
		return vmm_err(-EINVAL, "memory: region limit reached");
	a = region_array(m, 1);
	if (!a)
		return vmm_err(-ENOMEM, "memory: out of memory");
	a[m->count] = r;
	rc = sort_and_check(a, m->count + 1);
	if (rc == 0)
		rc = memory_build(out, a, m->count + 1, m->vlog);
	free(a);
	return rc;
}

int
vmmem_memory_remove_region(const struct vmmem_memory *m, uint64_t gpa, uint64_t size,
			   struct vmmem_memory **out, struct vmmem_region **removed)
{
	struct vmmem_region **a, *victim;
	long i;
	int rc;

	if (removed)
		*removed = NULL;
	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(m);
	i = vmm_lookup_index(m, gpa);
	if (i < 0 || m->slots[i].gpa != gpa || m->slots[i].last - gpa + 1 != size)
		return vmm_err(VMMEM_E_NO_SUCH_REGION,
			       "memory: no region starts at 0x%llx with size 0x%llx",
			       (unsigned long long)gpa, (unsigned long long)size);
	a = region_array(m, 0);
	if (!a)
		return vmm_err(-ENOMEM, "memory: out of memory");
	victim = a[i];
	memmove(&a[i], &a[i + 1], (m->count - (size_t)i - 1) * sizeof(*a));
	rc = memory_build(out, a, m->count - 1, m->vlog);
	free(a);
	if (rc == 0 && removed)
		*removed = vmmem_region_ref(victim);
	return rc;
}

int
vmmem_memory_set_vhost_log(const struct vmmem_memory *m, struct vmmem_vhost_log *log,
			   struct vmmem_memory **out)
{
	struct vmmem_region **a;
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(m);
	a = region_array(m, 0);
	if (!a)
		return vmm_err(-ENOMEM, "memory: out of memory");
	rc = memory_build(out, a, m->count, log);
	free(a);
	return rc;
}

struct vmmem_vhost_log *
vmmem_memory_vhost_log(const struct vmmem_memory *m)
{
	return m ? m->vlog : NULL;
}

int
vmmem_memory_translate_peer(const struct vmmem_memory *m, uint64_t addr, uint64_t len,
			    uint64_t *gpa)
{
	uint32_t lo = 0, n;

	VMM_CHECK_ARG(m);
	VMM_CHECK_ARG(gpa);
	if (len == 0)
		return vmm_err(-EINVAL, "translate_peer: a range of 0 bytes");
	if (vmm_range_wraps(addr, len))
		return vmm_err(-EOVERFLOW, "translate_peer: 0x%llx + 0x%llx passes 2^64",
			       (unsigned long long)addr, (unsigned long long)len);
	if (unlikely(m->peer_overlap)) {
		/* Aliases: the first region in sender order that holds the whole range. */
		for (uint32_t k = 0; k < m->npeer; k++) {
			const struct vmmem_region *r = vmm_slot_region(&m->slots[m->peer[k]]);
			uint64_t off = addr - r->peer_addr;

			if (addr >= r->peer_addr && off < r->size && len - 1 <= r->size - 1 - off) {
				*gpa = r->gpa + off;
				return 0;
			}
		}
	}
	/* The last region whose sender address is at or below addr. */
	n = m->npeer;
	while (n > 1) {
		uint32_t half = n / 2;
		const struct vmmem_region *r = vmm_slot_region(&m->slots[m->peer[lo + half]]);

		if (r->peer_addr <= addr)
			lo += half;
		n -= half;
	}
	if (m->npeer) {
		const struct vmmem_region *r = vmm_slot_region(&m->slots[m->peer[lo]]);
		uint64_t off = addr - r->peer_addr;

		if (addr >= r->peer_addr && off < r->size) {
			if (len - 1 > r->size - 1 - off)
				return vmm_err(VMMEM_E_CROSSES_REGION,
					       "sender address 0x%llx + 0x%llx runs past its region "
					       "(GPA 0x%llx, 0x%llx bytes)",
					       (unsigned long long)addr, (unsigned long long)len,
					       (unsigned long long)r->gpa, (unsigned long long)r->size);
			*gpa = r->gpa + off;
			return 0;
		}
	}
	return vmm_err(VMMEM_E_UNMAPPED, "sender address 0x%llx is in no imported region",
		       (unsigned long long)addr);
}
