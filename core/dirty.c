/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Dirty tracking: switching region bitmaps on and off, reading and clearing them, marking
 * by range, KVM bitmap merging and export into a vhost-user log. */
#include "dirty.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "barrier.h"
#include "error.h"
#include "walk.h"

void
vmm_mark_written_slow(const struct vmmem_memory *m, const struct vmmem_region *r, uint64_t off,
		      uint64_t gpa, uint64_t len)
{
	struct vmm_dirty *d = __atomic_load_n(&r->dirty, __ATOMIC_ACQUIRE);

	if (d)
		vmm_dirty_mark(d, off, len);
	if (m && m->vlog)
		vmm_vlog_mark(m->vlog, gpa, len);
}

static struct vmm_dirty *dirty_alloc(const struct vmmem_region *r, uint32_t shift)
{
	uint64_t npages = ((r->size - 1) >> shift) + 1;
	uint64_t nwords = (npages + 63) / 64;
	struct vmm_dirty *d = calloc(1, sizeof(*d) + nwords * sizeof(uint64_t));

	if (d) {
		d->page_shift = shift;
		d->npages = npages;
		d->nwords = nwords;
	}
	return d;
}

int
vmmem_region_dirty_enable(struct vmmem_region *r, uint64_t page_size)
{
	struct vmm_dirty *d;
	uint32_t shift;

	VMM_CHECK_ARG(r);
	if (page_size == 0)
		page_size = 4096;
	if (page_size < 4096 || (page_size & (page_size - 1)))
		return vmm_err(-EINVAL, "dirty page size %llu is not a power of two >= 4096",
			       (unsigned long long)page_size);
	shift = (uint32_t)__builtin_ctzll(page_size);
	vmm_region_bitmap_lock();
	d = r->dirty;
	if (d && d->page_shift == shift) {
		vmm_region_bitmap_unlock();
		return 0;
	}
	/* Reuse a bitmap of this granularity from an earlier enable, cleared. */
	for (d = r->dirty_all; d && d->page_shift != shift; d = d->next)
		;
	if (d) {
		for (uint64_t w = 0; w < d->nwords; w++)
			__atomic_store_n(&d->words[w], 0, __ATOMIC_RELAXED);
	} else {
		d = dirty_alloc(r, shift);
		if (!d) {
			vmm_region_bitmap_unlock();
			return vmm_err(-ENOMEM, "dirty: out of memory for the bitmap");
		}
		d->next = r->dirty_all;
		r->dirty_all = d;
	}
	vmm_region_publish_bitmap(r, d);
	vmm_region_bitmap_unlock();
	/* A writer tests the tracked count with a relaxed load after its data store: this
	 * barrier makes every such store that raced with the enable visible to the caller's
	 * next full pass, or the writer sees the count and marks its page. Without membarrier
	 * the caller must quiesce writers first (docs/MEMORY-ORDERING.md). */
	vmm_membarrier();
	return 0;
}

int
vmmem_region_dirty_disable(struct vmmem_region *r)
{
	VMM_CHECK_ARG(r);
	vmm_region_bitmap_lock();
	vmm_region_publish_bitmap(r, NULL);
	vmm_region_bitmap_unlock();
	return 0;
}

static struct vmm_dirty *tracked(const struct vmmem_region *r)
{
	return __atomic_load_n(&r->dirty, __ATOMIC_ACQUIRE);
}

static int err_not_tracked(const struct vmmem_region *r)
{
	return vmm_err(VMMEM_E_NOT_TRACKED, "region at 0x%llx has no dirty tracking",
		       (unsigned long long)r->gpa);
}

/* [off, off + len) inside the region? (len may be 0) */
static int check_span(const struct vmmem_region *r, uint64_t off, uint64_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(off, len, &end) || end > r->size)
		return vmm_err(VMMEM_E_OUT_OF_BOUNDS,
			       "range 0x%llx + 0x%llx is outside the region's 0x%llx bytes",
			       (unsigned long long)off, (unsigned long long)len,
			       (unsigned long long)r->size);
	return 0;
}

uint64_t
vmmem_region_dirty_page_size(const struct vmmem_region *r)
{
	struct vmm_dirty *d = r ? tracked(r) : NULL;

	return d ? UINT64_C(1) << d->page_shift : 0;
}

int
vmmem_region_dirty_test(const struct vmmem_region *r, uint64_t offset)
{
	int bit;

	VMM_CHECK_ARG(r);
	/* Called once per page by scanners: the test falls straight through (no taken
	 * branch), the errors are out of line. */
	bit = vmm_region_dirty_bit(r, offset);
	if (likely(bit >= 0))
		return bit;
	/* Inside the region, -1 can only mean untracked; past it, untracked is reported first. */
	return offset < r->size || !tracked(r) ? err_not_tracked(r) : check_span(r, offset, 1);
}

/*
 * Get-and-clear of @npages bits starting at bitmap word @w0 (the common case: a range that
 * starts on a 64-page boundary). Every bit is still cleared by the same atomic operation
 * that reads it, and clean words are never written. Eight plain loads at a time give a mask
 * of the non-zero words without a branch per word; only those get the locked exchange (a
 * clean/dirty branch per word mispredicts half the time at a 1% dirty rate).
 */
static void get_and_clear_words(struct vmm_dirty *d, uint64_t w0, uint64_t npages,
				uint64_t *out, size_t nout)
{
	uint64_t *src = &d->words[w0], full = npages / 64, rem = npages % 64, k = 0;

	for (; k + 8 <= full; k += 8) {
		unsigned int nonzero = 0;

		for (unsigned int j = 0; j < 8; j++) {
			uint64_t v = __atomic_load_n(&src[k + j], __ATOMIC_RELAXED);

			out[k + j] = 0;
			nonzero |= (unsigned int)(v != 0) << j;
		}
		for (; nonzero; nonzero &= nonzero - 1) {
			unsigned int j = (unsigned int)__builtin_ctz(nonzero);

			out[k + j] = __atomic_exchange_n(&src[k + j], 0, __ATOMIC_ACQ_REL);
		}
	}
	for (; k < full; k++)
		out[k] = __atomic_load_n(&src[k], __ATOMIC_RELAXED)
				 ? __atomic_exchange_n(&src[k], 0, __ATOMIC_ACQ_REL)
				 : 0;
	if (rem) {
		uint64_t mask = (UINT64_C(1) << rem) - 1;

		out[k] = __atomic_load_n(&src[k], __ATOMIC_RELAXED) & mask
				 ? __atomic_fetch_and(&src[k], ~mask, __ATOMIC_ACQ_REL) & mask
				 : 0;
		k++;
	}
	if (nout > k)
		memset(out + k, 0, (nout - k) * sizeof(*out));
}

ssize_t
vmmem_region_dirty_get_and_clear(struct vmmem_region *r, uint64_t offset, uint64_t len,
				 uint64_t *words, size_t nwords)
{
	struct vmm_dirty *d;
	uint64_t first, npages;
	int rc;

	VMM_CHECK_ARG(r);
	VMM_CHECK_ARG(words || nwords == 0);
	d = tracked(r);
	if (!d)
		return err_not_tracked(r);
	if (offset & ((UINT64_C(1) << d->page_shift) - 1))
		return vmm_err(VMMEM_E_MISALIGNED, "dirty: offset 0x%llx is not page-aligned",
			       (unsigned long long)offset);
	rc = check_span(r, offset, len);
	if (rc)
		return rc;
	first = offset >> d->page_shift;
	npages = len ? ((offset + len - 1) >> d->page_shift) - first + 1 : 0;
	if (nwords < (npages + 63) / 64)
		return vmm_err(-ENOBUFS, "dirty: %llu pages need %llu words, room for %zu",
			       (unsigned long long)npages, (unsigned long long)(npages + 63) / 64,
			       nwords);
	if (first % 64 == 0) {
		get_and_clear_words(d, first / 64, npages, words, nwords);
		return (ssize_t)npages;
	}
	if (nwords)
		memset(words, 0, nwords * sizeof(*words));
	/* Unaligned start: walk the output bits one source word at a time. A whole word is taken with one
	 * exchange (after a plain zero test, QEMU's recipe); partial words with fetch_and. */
	for (uint64_t i = 0; i < npages;) {
		uint64_t p = first + i, w = p / 64, bit = p % 64;
		uint64_t take = 64 - bit < npages - i ? 64 - bit : npages - i;
		uint64_t mask = (take == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << take) - 1)) << bit;
		uint64_t got;

		if (!(__atomic_load_n(&d->words[w], __ATOMIC_RELAXED) & mask)) {
			i += take;
			continue;
		}
		if (mask == ~UINT64_C(0))
			got = __atomic_exchange_n(&d->words[w], 0, __ATOMIC_ACQ_REL);
		else
			got = __atomic_fetch_and(&d->words[w], ~mask, __ATOMIC_ACQ_REL) & mask;
		got >>= bit;
		/* Place the `take` bits at output position i. */
		words[i / 64] |= got << (i % 64);
		if (i % 64 && take > 64 - i % 64)
			words[i / 64 + 1] |= got >> (64 - i % 64);
		i += take;
	}
	return (ssize_t)npages;
}

int
vmmem_region_dirty_clear(struct vmmem_region *r, uint64_t offset, uint64_t len)
{
	struct vmm_dirty *d;
	uint64_t first, last;
	int rc;

	VMM_CHECK_ARG(r);
	d = tracked(r);
	if (!d)
		return err_not_tracked(r);
	rc = check_span(r, offset, len);
	if (rc || len == 0)
		return rc;
	first = offset >> d->page_shift;
	last = (offset + len - 1) >> d->page_shift;
	for (uint64_t w = first / 64; w <= last / 64; w++) {
		uint64_t mask = vmm_word_mask(w, first, last);

		/* Read-modify-writes with acquire: a caller that clears and then copies must
		 * not have its copy's loads run before the clear, or a mark landing between
		 * them would be wiped with its data unseen. */
		if (mask == ~UINT64_C(0))
			__atomic_exchange_n(&d->words[w], 0, __ATOMIC_ACQ_REL);
		else
			__atomic_fetch_and(&d->words[w], ~mask, __ATOMIC_ACQ_REL);
	}
	return 0;
}

int
vmmem_region_dirty_mark(struct vmmem_region *r, uint64_t offset, uint64_t len)
{
	struct vmm_dirty *d;
	int rc;

	VMM_CHECK_ARG(r);
	rc = check_span(r, offset, len);
	if (rc || len == 0)
		return rc;
	d = tracked(r);
	if (d)
		vmm_dirty_mark(d, offset, len);
	return 0;
}

ssize_t
vmmem_region_dirty_count(const struct vmmem_region *r)
{
	struct vmm_dirty *d;
	uint64_t n = 0;

	VMM_CHECK_ARG(r);
	d = tracked(r);
	if (!d)
		return err_not_tracked(r);
	for (uint64_t w = 0; w < d->nwords; w++)
		n += (uint64_t)__builtin_popcountll(__atomic_load_n(&d->words[w], __ATOMIC_RELAXED));
	return (ssize_t)n;
}

ssize_t
vmmem_region_dirty_merge_kvm(struct vmmem_region *r, const uint64_t *bitmap, size_t nwords)
{
	/* KVM counts in host pages (its gfn is gpa >> PAGE_SHIFT: 4 KiB on x86-64, 4, 16 or
	 * 64 KiB on arm64) and sets bits with set_bit_le: little-endian words on any host. */
	const uint64_t kp = vmm_host_page_size();
	const uint32_t kshift = (uint32_t)__builtin_ctzll(kp);
	uint64_t kvm_pages = ((r ? r->size : 1) + kp - 1) / kp, found = 0;
	struct vmm_dirty *d;

	VMM_CHECK_ARG(r);
	VMM_CHECK_ARG(bitmap || nwords == 0);
	d = tracked(r);
	if (!d)
		return err_not_tracked(r);
	for (size_t w = 0; w < nwords; w++) {
		uint64_t bits = le64toh(bitmap[w]);

		if (!bits)
			continue;
		if ((uint64_t)w * 64 + 63 - (uint64_t)__builtin_clzll(bits) >= kvm_pages)
			return vmm_err(VMMEM_E_OUT_OF_BOUNDS,
				       "KVM bitmap word %zu has bits past the region's %llu pages", w,
				       (unsigned long long)kvm_pages);
		found += (uint64_t)__builtin_popcountll(bits);
		if (d->page_shift == kshift) { /* same granularity: OR whole words */
			__atomic_fetch_or(&d->words[w], bits, __ATOMIC_RELEASE);
			continue;
		}
		for (; bits; bits &= bits - 1) {
			uint64_t page = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(bits);
			uint64_t off = page * kp;

			vmm_dirty_mark(d, off, off + kp <= r->size ? kp : r->size - off);
		}
	}
	return (ssize_t)found;
}

void
vmm_mark_range(const struct vmmem_memory *m, uint64_t gpa, uint64_t len)
{
	struct vmm_walk w;

	vmm_walk_init(&w, m, gpa, len, false);
	while (w.left) {
		const struct vmm_slot *s;
		uint64_t piece_gpa = w.gpa, n;
		uint8_t *host;

		if (vmm_walk_next(&w, &host, &n, &s))
			break;
		vmm_mark_written(m, vmm_slot_region(s), piece_gpa - s->gpa, piece_gpa, n);
	}
}

int
vmmem_memory_mark_dirty(const struct vmmem_memory *m, uint64_t gpa, uint64_t len)
{
	VMM_CHECK_ARG(m);
	if (len == 0)
		return 0;
	if (vmm_range_wraps(gpa, len))
		return vmm_err_wraps(gpa, len);
	if (!vmmem_memory_check_range(m, gpa, len))
		return vmm_err(VMMEM_E_UNMAPPED, "mark dirty: guest range 0x%llx + 0x%llx has a hole",
			       (unsigned long long)gpa, (unsigned long long)len);
	vmm_mark_range(m, gpa, len);
	return 0;
}

int
vmmem_slice_mark_dirty(const struct vmmem_slice *s, size_t off, size_t len)
{
	size_t end;

	VMM_CHECK_ARG(s);
	if (__builtin_add_overflow(off, len, &end) || end > s->len)
		return vmm_err(VMMEM_E_OUT_OF_BOUNDS, "range 0x%zx + 0x%zx is outside a view of 0x%zx",
			       off, len, s->len);
	if (len && s->region)
		vmm_mark_written(s->memory, s->region, s->region_offset + off,
				 s->region->gpa + s->region_offset + off, len);
	return 0;
}

/* Set log bits for region page @p (of 2^shift bytes) of a region starting at @gpa. */
static uint64_t export_page(uint8_t *log, uint64_t gpa, uint64_t region_size, uint32_t shift,
			    uint64_t p)
{
	uint64_t off = p << shift, end = off + (UINT64_C(1) << shift), n = 0;

	if (end > region_size)
		end = region_size;
	for (uint64_t lp = (gpa + off) / VMMEM_VHOST_LOG_PAGE;
	     lp <= (gpa + end - 1) / VMMEM_VHOST_LOG_PAGE; lp++, n++)
		__atomic_fetch_or(&log[lp / 8], (uint8_t)(1u << (lp % 8)), __ATOMIC_RELEASE);
	return n;
}

ssize_t
vmmem_memory_dirty_export_vhost(const struct vmmem_memory *m, uint8_t *log, uint64_t log_size,
				bool clear)
{
	uint64_t set = 0;

	VMM_CHECK_ARG(m);
	VMM_CHECK_ARG(log);
	VMM_CHECK_ARG(log_size > 0);
	if (m->last_addr / VMMEM_VHOST_LOG_PAGE / 8 >= log_size)
		return vmm_err(-ENOBUFS, "vhost log of %llu bytes does not reach GPA 0x%llx",
			       (unsigned long long)log_size, (unsigned long long)m->last_addr);
	for (uint32_t i = 0; i < m->count; i++) {
		struct vmmem_region *r = vmm_slot_region(&m->slots[i]);
		struct vmm_dirty *d = tracked(r);

		if (!d)
			continue;
		for (uint64_t w = 0; w < d->nwords; w++) {
			uint64_t bits = __atomic_load_n(&d->words[w], __ATOMIC_RELAXED);

			if (!bits)
				continue;
			if (clear)
				bits = __atomic_exchange_n(&d->words[w], 0, __ATOMIC_ACQ_REL);
			for (; bits; bits &= bits - 1)
				set += export_page(log, r->gpa, r->size, d->page_shift,
						   w * 64 + (uint64_t)__builtin_ctzll(bits));
		}
	}
	return (ssize_t)set;
}
