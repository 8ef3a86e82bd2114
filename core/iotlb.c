/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The IOTLB (vmmem/iommu.h). A change builds a new sorted table from the current one
 * (O(entries), under the writer mutex) and publishes it with read-copy-update, so lookups
 * run on an immutable array with a binary search and a per-thread hint, and never wait.
 * Entries are byte-granular with inclusive ends; updates replace what they overlap by
 * splitting entries (vm-memory's semantics, not DPDK's whole-entry drop); the limit is
 * enforced after every change by the table's policy.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "iotlb.h"

static uint64_t next_gen = 1; /* atomic */

/* Buckets for up to @cap entries: a power of two near twice the count, at most 2^21. */
static unsigned int bucket_bits(size_t cap)
{
	unsigned int k = 1;

	while (k < 21 && ((size_t)1 << k) < 2 * cap)
		k++;
	return k;
}

/* Two empty cells that cover the whole IOVA space: every lookup takes the entries. */
static void no_cells(struct vmm_iotlb_table *t)
{
	t->cshift = 63;
	t->cmask = ((uint64_t)1 << 63) - 1;
	memset(t->cell, 0, 2 * sizeof(t->cell[0]));
}

struct vmm_iotlb_table *vmm_iotlb_table_new(size_t cap)
{
	size_t nb = ((size_t)1 << bucket_bits(cap)) + 2;
	size_t ncells = nb - 2 <= VMM_IOTLB_CELL_BUCKETS ? nb : 2;
	const size_t align = _Alignof(struct vmm_iotlb_cell);
	size_t cells_at = (sizeof(struct vmm_iotlb_table) + cap * sizeof(struct vmm_iotlb_entry) +
			   nb * sizeof(uint32_t) + align - 1) & ~(align - 1);
	struct vmm_iotlb_table *t = malloc(cells_at + ncells * sizeof(struct vmm_iotlb_cell));

	if (!t) {
		vmm_err(-ENOMEM, "iotlb: out of memory for a table of %zu entries", cap);
		return NULL;
	}
	t->gen = __atomic_fetch_add(&next_gen, 1, __ATOMIC_RELAXED);
	t->count = 0;
	t->base = t->span = 0;
	t->shift = 0;
	t->bucket = (uint32_t *)&t->e[cap];
	t->ncells = ncells;
	t->cell = (struct vmm_iotlb_cell *)((char *)t + cells_at);
	no_cells(t);
	return t;
}

/* Fill the cells of an indexed table of @nb buckets (see struct vmm_iotlb_cell), in
 * offsets from base, or leave it without cells. */
static void table_cells(struct vmm_iotlb_table *t, uint64_t nb)
{
	const uint64_t mask = ((uint64_t)1 << t->shift) - 1; /* shift <= 63 */
	const struct vmm_iotlb_cell empty = { .last = { 0, (uint32_t)mask },
					      .b_first = (uint32_t)mask };

	/* The allocation follows the capacity, the index the count: a table with room for
	 * more than 2^17 entries has 2 cells even if its count needs fewer buckets. */
	if (nb > t->ncells || nb > VMM_IOTLB_CELL_BUCKETS || mask > UINT32_MAX)
		return; /* no_cells() holds since vmm_iotlb_table_new() */
	t->cshift = t->shift;
	t->cmask = mask;
	for (uint64_t b = 0; b < nb; b++)
		t->cell[b] = empty;
	/* Entry by entry: the bucket it starts in gets it as piece B, the one it ends in as
	 * piece A, the buckets between get it whole. One entry holds a given byte, so each
	 * piece is set by one entry at most; an entry inside one bucket, touching neither of
	 * its ends, is in no cell. */
	for (size_t i = 0; i < t->count; i++) {
		const struct vmm_iotlb_entry *e = &t->e[i];
		const uint64_t first = e->iova - t->base, last = e->last - t->base;
		const uint64_t bf = first >> t->shift, bl = last >> t->shift;
		const uint64_t delta = e->gpa - e->iova;
		const uint8_t perm = (uint8_t)VMM_IOTLB_PERM(e);
		const struct vmm_iotlb_cell whole = { .delta = { delta, delta },
						      .last = { (uint32_t)mask, (uint32_t)mask },
						      .b_first = 0, .perm = { perm, perm } };
		struct vmm_iotlb_cell *c;

		if ((last & mask) == mask) { /* reaches its last bucket's end: B there */
			c = &t->cell[bl];
			c->b_first = (uint32_t)(bf == bl ? first & mask : 0);
			c->delta[1] = delta;
			c->perm[1] = perm;
		}
		if ((first & mask) == 0 || bf != bl) { /* holds its last bucket's start: A */
			c = &t->cell[bl];
			c->last[0] = (uint32_t)(last & mask);
			c->delta[0] = delta;
			c->perm[0] = perm;
		}
		if (bf == bl)
			continue;
		c = &t->cell[bf]; /* holds its first bucket's end: B */
		c->b_first = (uint32_t)(first & mask);
		c->delta[1] = delta;
		c->perm[1] = perm;
		for (uint64_t b = bf + 1; b < bl; b++)
			t->cell[b] = whole;
	}
}

/* Build the bucket index of a finished table (entries sorted, count final). */
void vmm_iotlb_table_index(struct vmm_iotlb_table *t)
{
	unsigned int k = bucket_bits(t->count);
	uint64_t nb;
	size_t i = 0;

	if (t->count == 0)
		return;
	t->base = t->e[0].iova;
	t->span = t->e[t->count - 1].last - t->base;
	/* The smallest shift that fits the span in 2^k buckets. */
	t->shift = 0;
	while (t->shift < 63 && (t->span >> t->shift) >= ((uint64_t)1 << k))
		t->shift++;
	nb = (t->span >> t->shift) + 1;
	for (uint64_t b = 0; b <= nb; b++) { /* bucket[nb]: the sentinel past the last */
		uint64_t start = b < nb ? t->base + (b << t->shift) : UINT64_MAX;

		while (i < t->count - 1 && t->e[i].last < start)
			i++;
		t->bucket[b] = (uint32_t)i;
	}
	table_cells(t, nb);
}

void vmm_iotlb_table_free(void *t)
{
	free(t);
}

/* A thread sees its own changes at once: its hint may describe what it just replaced. */
static void drop_own_hint(const struct vmmem_iotlb *tlb)
{
	if (vmm_section_hint.owner == tlb)
		vmm_section_hint.owner = NULL;
}

/* ---- lookups (the data path) --------------------------------------------------------- */

static int walk_fail(struct vmmem_iova_fault *fault, int error, uint64_t iova, uint64_t last,
		     unsigned int access)
{
	if (fault)
		*fault = (struct vmmem_iova_fault){
			.iova = iova, .len = last - iova + 1, .access = access, .error = error,
		};
	return error;
}

int vmm_iotlb_walk(const struct vmm_iotlb_table *t, uint64_t iova, uint64_t len,
		   unsigned int access, struct vmmem_iotlb_range *out, size_t max, size_t *count,
		   struct vmmem_iova_fault *fault)
{
	const uint64_t last = iova + (len - 1);
	struct vmmem_iotlb_range cur = { 0 };
	size_t i = vmm_iotlb_first_reaching(t, iova), n = 0;
	uint64_t pos = iova;

	*count = 0;
	for (;;) {
		const struct vmm_iotlb_entry *e = i < t->count ? &t->e[i] : NULL;
		uint64_t end, gpa;

		if (!e || e->iova > pos) /* a gap, up to the next entry or the range's end */
			return walk_fail(fault, VMMEM_E_IOTLB_MISS, pos,
					 e && e->iova - 1 < last ? e->iova - 1 : last, access);
		end = e->last < last ? e->last : last;
		if ((VMM_IOTLB_PERM(e) & access) != access)
			return walk_fail(fault, VMMEM_E_IOTLB_DENIED, pos, end, access);
		gpa = e->gpa + (pos - e->iova);
		if (n && cur.gpa + cur.len == gpa && cur.gpa + cur.len != 0) {
			cur.len += end - pos + 1; /* continues the piece in GPA space too */
		} else {
			if (n && n <= max)
				out[n - 1] = cur;
			cur = (struct vmmem_iotlb_range){ .iova = pos, .gpa = gpa, .len = end - pos + 1 };
			n++;
		}
		if (end == last)
			break;
		pos = end + 1;
		i++;
	}
	if (n <= max)
		out[n - 1] = cur;
	*count = n;
	return 0;
}

int vmm_iotlb_fault_err(const struct vmmem_iova_fault *f)
{
	return vmm_err(f->error, "iova 0x%" PRIx64 "..0x%" PRIx64 " (%" PRIu64 " bytes) %s for %s access",
		       f->iova, f->iova + (f->len - 1), f->len,
		       f->error == VMMEM_E_IOTLB_MISS ? "is not mapped by the IOTLB"
						      : "is mapped without permission",
		       f->access == VMMEM_ACCESS_RW      ? "read-write"
		       : f->access == VMMEM_ACCESS_WRITE ? "write"
		       : f->access == VMMEM_ACCESS_READ  ? "read"
							 : "no");
}

/* ---- the object ---------------------------------------------------------------------- */

int vmmem_iotlb_new(struct vmmem_iotlb **out, size_t max_entries, unsigned int policy)
{
	struct vmmem_iotlb *tlb;

	VMM_CHECK_ARG(out);
	*out = NULL;
	if (max_entries == 0 || max_entries > VMMEM_IOTLB_MAX_ENTRIES)
		return vmm_err(-EINVAL, "iotlb: entry limit %zu is not in 1..%u", max_entries,
			       VMMEM_IOTLB_MAX_ENTRIES);
	if (policy != VMMEM_IOTLB_EVICT_OLDEST && policy != VMMEM_IOTLB_REFUSE)
		return vmm_err(-EINVAL, "iotlb: unknown policy %u", policy);
	vmm_rcu_init();
	tlb = calloc(1, sizeof(*tlb));
	if (!tlb)
		return vmm_err(-ENOMEM, "iotlb: out of memory");
	tlb->table = vmm_iotlb_table_new(0);
	tlb->last_node = vmm_retired_node();
	if (!tlb->table || !tlb->last_node) {
		free(tlb->table);
		free(tlb->last_node);
		free(tlb);
		return -ENOMEM;
	}
	tlb->refs = 1;
	tlb->generation = tlb->table->gen;
	tlb->max = max_entries;
	tlb->policy = policy;
	pthread_mutex_init(&tlb->writer, NULL);
	*out = tlb;
	return 0;
}

struct vmmem_iotlb *vmmem_iotlb_ref(struct vmmem_iotlb *tlb)
{
	if (tlb)
		vmm_ref_inc(&tlb->refs);
	return tlb;
}

/* The last reference: the table goes through the retired list (a reader may still be
 * looking at it), the object with it. */
static void iotlb_free(void *p)
{
	struct vmmem_iotlb *tlb = p;

	free(tlb->table);
	free(tlb);
}

struct vmmem_iotlb *vmmem_iotlb_unref(struct vmmem_iotlb *tlb)
{
	if (!tlb || !vmm_ref_dec_is_last(&tlb->refs))
		return NULL;
	pthread_mutex_destroy(&tlb->writer);
	vmm_rcu_retire(tlb, tlb->last_node, iotlb_free);
	return NULL;
}

/* Drop entries until the table fits the limit: the oldest first, never index @keep. */
static void evict_oldest(struct vmm_iotlb_table *t, size_t max, size_t keep)
{
	while (t->count > max) {
		size_t victim = SIZE_MAX;

		for (size_t i = 0; i < t->count; i++)
			if (i != keep && (victim == SIZE_MAX || t->e[i].meta >> 2 < t->e[victim].meta >> 2))
				victim = i;
		memmove(&t->e[victim], &t->e[victim + 1], (t->count - victim - 1) * sizeof(t->e[0]));
		t->count--;
		if (keep != SIZE_MAX && victim < keep)
			keep--;
	}
}

/* Copy @old minus [iova, last] into @t, placing @add (if not NULL) in order. Returns the
 * number of old entries removed or trimmed; *at is where @add went. */
static size_t cut_and_insert(const struct vmm_iotlb_table *old, struct vmm_iotlb_table *t,
			     uint64_t iova, uint64_t last, const struct vmm_iotlb_entry *add,
			     size_t *at)
{
	bool placed = add == NULL;
	size_t touched = 0;

#define PUSH(x) (t->e[t->count++] = (x))
	for (size_t i = 0; i < old->count; i++) {
		const struct vmm_iotlb_entry *e = &old->e[i];

		if (e->last < iova) {
			PUSH(*e);
			continue;
		}
		if (e->iova > last) {
			if (!placed) {
				*at = t->count;
				PUSH(*add);
				placed = true;
			}
			PUSH(*e);
			continue;
		}
		touched++;
		if (e->iova < iova)
			PUSH(((struct vmm_iotlb_entry){ e->iova, iova - 1, e->gpa, e->meta }));
		if (!placed) {
			*at = t->count;
			PUSH(*add);
			placed = true;
		}
		if (e->last > last)
			PUSH(((struct vmm_iotlb_entry){ last + 1, e->last,
							e->gpa + (last + 1 - e->iova), e->meta }));
	}
	if (!placed) {
		*at = t->count;
		PUSH(*add);
	}
#undef PUSH
	return touched;
}

/* Index @t and swap it in with node @node (writer lock held); the generation word that
 * caller-side caches check follows the new table. */
static void publish_table(struct vmmem_iotlb *tlb, struct vmm_iotlb_table *t,
			  struct vmm_retired *node)
{
	vmm_iotlb_table_index(t);
	vmm_rcu_publish((void **)&tlb->table, t, node, vmm_iotlb_table_free);
	__atomic_store_n(&tlb->generation, t->gen, __ATOMIC_RELEASE);
}

/* Does @b continue @a in both address spaces with the same permission? */
static bool continues(const struct vmm_iotlb_entry *a, const struct vmm_iotlb_entry *b)
{
	uint64_t a_gpa_last = a->gpa + (a->last - a->iova);

	return a->last != UINT64_MAX && a->last + 1 == b->iova && a_gpa_last != UINT64_MAX &&
	       a_gpa_last + 1 == b->gpa && VMM_IOTLB_PERM(a) == VMM_IOTLB_PERM(b);
}

/* Merge the entry at @k with the neighbours it continues; returns its new index. */
static size_t merge_at(struct vmm_iotlb_table *t, size_t k)
{
	if (k + 1 < t->count && continues(&t->e[k], &t->e[k + 1])) {
		t->e[k].last = t->e[k + 1].last;
		memmove(&t->e[k + 1], &t->e[k + 2], (t->count - k - 2) * sizeof(t->e[0]));
		t->count--;
	}
	if (k > 0 && continues(&t->e[k - 1], &t->e[k])) {
		t->e[k - 1].last = t->e[k].last;
		t->e[k - 1].meta = t->e[k].meta; /* the merged entry is as new as the update */
		memmove(&t->e[k], &t->e[k + 1], (t->count - k - 1) * sizeof(t->e[0]));
		t->count--;
		k--;
	}
	return k;
}

static int check_range(uint64_t start, uint64_t size, const char *what)
{
	if (size == 0)
		return vmm_err(VMMEM_E_ZERO_SIZE, "iotlb: %s of 0 bytes", what);
	if (vmm_range_wraps(start, size))
		return vmm_err(-EOVERFLOW, "iotlb: %s at 0x%" PRIx64 " + 0x%" PRIx64 " passes 2^64",
			       what, start, size);
	return 0;
}

int vmmem_iotlb_update(struct vmmem_iotlb *tlb, uint64_t iova, uint64_t size, uint64_t gpa,
		       unsigned int perm)
{
	struct vmm_iotlb_table *t;
	const struct vmm_iotlb_table *old;
	struct vmm_iotlb_entry add;
	struct vmm_retired *node;
	size_t at = 0;
	int rc;

	VMM_CHECK_ARG(tlb);
	if (perm > VMMEM_ACCESS_RW)
		return vmm_err(-EINVAL, "iotlb: permission %u is not 0..3", perm);
	rc = check_range(iova, size, "update");
	if (!rc)
		rc = check_range(gpa, size, "update target");
	if (rc)
		return rc;
	node = vmm_retired_node();
	if (!node)
		return -ENOMEM;
	pthread_mutex_lock(&tlb->writer);
	old = tlb->table;
	t = vmm_iotlb_table_new(old->count + 2); /* one entry split in three at most */
	if (!t) {
		pthread_mutex_unlock(&tlb->writer);
		free(node);
		return -ENOMEM;
	}
	add = (struct vmm_iotlb_entry){ iova, iova + (size - 1), gpa, tlb->seq++ << 2 | perm };
	cut_and_insert(old, t, add.iova, add.last, &add, &at);
	at = merge_at(t, at);
	if (t->count > tlb->max) {
		if (tlb->policy == VMMEM_IOTLB_REFUSE) {
			size_t max = tlb->max;

			pthread_mutex_unlock(&tlb->writer);
			free(t);
			free(node);
			return vmm_err(-ENOSPC, "iotlb: full (%zu entries) and the policy refuses updates",
				       max);
		}
		evict_oldest(t, tlb->max, at);
	}
	publish_table(tlb, t, node);
	pthread_mutex_unlock(&tlb->writer);
	drop_own_hint(tlb);
	return 0;
}

int vmmem_iotlb_invalidate(struct vmmem_iotlb *tlb, uint64_t iova, uint64_t size)
{
	struct vmm_iotlb_table *t;
	struct vmm_retired *node;
	size_t touched, at;
	int rc;

	VMM_CHECK_ARG(tlb);
	rc = check_range(iova, size, "invalidation");
	if (rc)
		return rc;
	node = vmm_retired_node();
	if (!node)
		return -ENOMEM;
	pthread_mutex_lock(&tlb->writer);
	t = vmm_iotlb_table_new(tlb->table->count + 1); /* one entry split in two at most */
	if (!t) {
		pthread_mutex_unlock(&tlb->writer);
		free(node);
		return -ENOMEM;
	}
	touched = cut_and_insert(tlb->table, t, iova, iova + (size - 1), NULL, &at);
	if (touched == 0) { /* nothing there: keep the table (and its generation) */
		pthread_mutex_unlock(&tlb->writer);
		free(t);
		free(node);
		return 0;
	}
	/* Splitting an entry may pass the limit: a cache may always forget, so the oldest
	 * go, whatever the policy (refusing would keep a translation the IOMMU revoked). */
	evict_oldest(t, tlb->max, SIZE_MAX);
	publish_table(tlb, t, node);
	pthread_mutex_unlock(&tlb->writer);
	drop_own_hint(tlb);
	return (int)(touched > INT32_MAX ? INT32_MAX : touched);
}

int vmmem_iotlb_invalidate_all(struct vmmem_iotlb *tlb)
{
	struct vmm_iotlb_table *t;
	struct vmm_retired *node;
	size_t dropped;

	VMM_CHECK_ARG(tlb);
	node = vmm_retired_node();
	if (!node)
		return -ENOMEM;
	t = vmm_iotlb_table_new(0);
	if (!t) {
		free(node);
		return -ENOMEM;
	}
	pthread_mutex_lock(&tlb->writer);
	dropped = tlb->table->count;
	publish_table(tlb, t, node);
	pthread_mutex_unlock(&tlb->writer);
	drop_own_hint(tlb);
	return (int)(dropped > INT32_MAX ? INT32_MAX : dropped);
}

ssize_t vmmem_iotlb_count(const struct vmmem_iotlb *tlb)
{
	ssize_t n;

	VMM_CHECK_ARG(tlb);
	if (vmm_rcu_enter())
		return -ENOMEM;
	n = (ssize_t)vmm_iotlb_table(tlb)->count;
	vmm_rcu_exit();
	return n;
}

uint64_t vmmem_iotlb_generation(const struct vmmem_iotlb *tlb)
{
	return tlb ? __atomic_load_n(&tlb->generation, __ATOMIC_ACQUIRE) : 0;
}

int vmmem_iotlb_cache_fill(struct vmmem_iotlb_cache *c, const struct vmmem_iotlb *tlb,
			   uint64_t iova, uint64_t len, unsigned int access, uint64_t *gpa)
{
	const struct vmm_iotlb_table *t;
	const struct vmm_iotlb_entry *e;
	struct vmmem_iova_fault f;
	uint64_t seen;
	size_t i, n;
	bool held;
	int rc;

	VMM_CHECK_ARG(c);
	VMM_CHECK_ARG(tlb);
	VMM_CHECK_ARG(gpa);
	if (len == 0)
		return vmm_err(-EINVAL, "iotlb cache: a range of 0 bytes");
	if (access < VMMEM_ACCESS_READ || access > VMMEM_ACCESS_RW)
		return vmm_err(-EINVAL, "iotlb cache: access %u is not READ, WRITE or RW", access);
	if (vmm_range_wraps(iova, len))
		return vmm_err(-EOVERFLOW, "iotlb cache: 0x%" PRIx64 " + 0x%" PRIx64 " passes 2^64",
			       iova, len);
	held = vmm_rcu_held(); /* a device holds its batch's guard: no second enter */
	if (!held && (rc = vmm_rcu_enter()) != 0)
		return rc;
	/* The generation before the table: a change published in between leaves the cache
	 * with the older value, so its next use refills. */
	seen = __atomic_load_n(&tlb->generation, __ATOMIC_ACQUIRE);
	t = vmm_iotlb_table(tlb);
	i = vmm_iotlb_first_reaching(t, iova);
	e = i < t->count ? &t->e[i] : NULL;
	if (e && iova >= e->iova && len - 1 <= e->last - iova &&
	    (VMM_IOTLB_PERM(e) & access) == access) {
		*c = (struct vmmem_iotlb_cache){
			.iotlb = tlb, .generation = &tlb->generation, .seen = seen, .iova = e->iova,
			.last = e->last, .gpa = e->gpa, .perm = VMM_IOTLB_PERM(e),
		};
		*gpa = e->gpa + (iova - e->iova);
		rc = 0;
	} else if (vmm_iotlb_walk(t, iova, len, access, NULL, 0, &n, &f)) {
		rc = vmm_iotlb_fault_err(&f);
	} else {
		rc = vmm_err(VMMEM_E_CROSSES_REGION, "iotlb cache: iova 0x%" PRIx64 " + 0x%" PRIx64
			     " spans more than one IOTLB entry", iova, len);
	}
	if (!held)
		vmm_rcu_exit();
	return rc;
}

int vmmem_iotlb_lookup(const struct vmmem_iotlb *tlb, uint64_t iova, uint64_t len,
		       unsigned int access, struct vmmem_iotlb_range *out, size_t max,
		       size_t *count, struct vmmem_iova_fault *fault)
{
	int rc;

	VMM_CHECK_ARG(count);
	*count = 0;
	VMM_CHECK_ARG(tlb);
	VMM_CHECK_ARG(out || max == 0);
	if (access > VMMEM_ACCESS_RW)
		return vmm_err(-EINVAL, "iotlb lookup: access %u is not 0..3", access);
	if (vmm_range_wraps(iova, len))
		return vmm_err(-EOVERFLOW, "iotlb lookup: 0x%" PRIx64 " + 0x%" PRIx64 " passes 2^64",
			       iova, len);
	if (len == 0)
		return 0;
	rc = vmm_rcu_enter();
	if (rc)
		return rc;
	struct vmmem_iova_fault f;

	rc = vmm_iotlb_walk(vmm_iotlb_table(tlb), iova, len, access, out, max, count, &f);
	vmm_rcu_exit();
	if (rc) {
		if (fault)
			*fault = f;
		return vmm_iotlb_fault_err(&f);
	}
	return 0;
}
