/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Dirty tracking: region bitmaps and the vhost-user log, and the inline marking every
 * data-path write calls after copying. */
#ifndef VMM_DIRTY_H
#define VMM_DIRTY_H

#include <vmmem/dirty.h>

#include "memory.h"
#include "region.h"
#include "util.h"

/* One region bitmap. Bitmaps are never freed while their region lives (a writer may have
 * loaded the pointer just before tracking was switched off), only at region destruction. */
struct vmm_dirty {
	struct vmm_dirty *next; /* all bitmaps ever made for the region */
	uint32_t page_shift;
	uint64_t npages;
	uint64_t nwords;
	uint64_t words[]; /* atomic; bit p % 64 of words[p / 64] = page p */
};

struct vmmem_vhost_log {
	unsigned long refs; /* atomic */
	uint64_t *words;    /* the caller's buffer */
	uint64_t size;      /* bytes */
	void (*release)(void *opaque, void *base, uint64_t size);
	void *opaque;
};

/* The bits of word @w that lie in bit range [first, last]. */
static inline uint64_t vmm_word_mask(uint64_t w, uint64_t first, uint64_t last)
{
	uint64_t lo = w == first / 64 ? first % 64 : 0;
	uint64_t hi = w == last / 64 ? last % 64 : 63;

	return (~UINT64_C(0) >> (63 - hi)) & (~UINT64_C(0) << lo);
}

/* Set bits [first, last] of an atomic word array. The plain load first avoids a locked
 * operation (and a dirtied cache line) when the bits are already set. */
static inline void vmm_bits_set(uint64_t *words, uint64_t first, uint64_t last)
{
	for (uint64_t w = first / 64; w <= last / 64; w++) {
		uint64_t mask = vmm_word_mask(w, first, last);

		if ((__atomic_load_n(&words[w], __ATOMIC_RELAXED) & mask) != mask)
			__atomic_fetch_or(&words[w], mask, __ATOMIC_RELEASE);
	}
}

/* Mark region bytes [off, off + len) dirty; len > 0, range inside the region. */
static inline void vmm_dirty_mark(struct vmm_dirty *d, uint64_t off, uint64_t len)
{
	uint64_t last = (off + len - 1) >> d->page_shift;

	if (last >= d->npages) /* defensive: never write past the bitmap */
		last = d->npages - 1;
	vmm_bits_set(d->words, off >> d->page_shift, last);
}

/*
 * Mark guest bytes [gpa, gpa + len) in the vhost-user log: one bit per 4 KiB of GPA,
 * LSB-first bytes. On a little-endian host those bytes read as LSB-first u64 words, so whole
 * words are set atomically; the log was checked to cover the memory when it was attached.
 */
static inline void vmm_vlog_mark(const struct vmmem_vhost_log *log, uint64_t gpa, uint64_t len)
{
	uint64_t first = gpa / VMMEM_VHOST_LOG_PAGE, last = (gpa + len - 1) / VMMEM_VHOST_LOG_PAGE;

	uint8_t *bytes = (uint8_t *)log->words;
	uint64_t word_bits = (log->size / 8) * 64; /* bits in whole u64 words */

	if (last >= log->size * 8) /* defensive: the log was checked to cover the memory */
		last = log->size * 8 - 1;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (first < word_bits) {
		vmm_bits_set(log->words, first, last < word_bits ? last : word_bits - 1);
		first = word_bits;
	}
#else
	(void)word_bits;
#endif
	/* Bits in a tail shorter than a word (or every bit on big-endian hosts): bytewise. */
	for (uint64_t p = first; p <= last; p++)
		__atomic_fetch_or(&bytes[p / 8], (uint8_t)(1u << (p % 8)), __ATOMIC_RELEASE);
}

/* Number of regions with tracking on, process-wide. While it is 0 an untracked write costs
 * one load of this (L1-hot) word instead of a load from its region. */
extern unsigned long vmm_tracked_regions;

/* The marking itself, out of line: only tracked writes get here. */
void vmm_mark_written_slow(const struct vmmem_memory *m, const struct vmmem_region *r,
			   uint64_t off, uint64_t gpa, uint64_t len);

/* Record a write of [gpa, gpa + len) into region @r (at region offset @off), made through
 * memory @m (may be NULL). Called by every write path after its copy. */
static inline void vmm_mark_written(const struct vmmem_memory *m, const struct vmmem_region *r,
				    uint64_t off, uint64_t gpa, uint64_t len)
{
	if (unlikely(__atomic_load_n(&vmm_tracked_regions, __ATOMIC_RELAXED) != 0 ||
		     (m && m->vlog != NULL)))
		vmm_mark_written_slow(m, r, off, gpa, len);
}

/* Record a write of [gpa, gpa + len) of @m, a range known to be mapped (len may be 0). */
void vmm_mark_range(const struct vmmem_memory *m, uint64_t gpa, uint64_t len);

/* Free every bitmap of a region (at its destruction). */
void vmm_dirty_free_all(struct vmmem_region *r);

/* Does @log cover guest addresses up to @last_addr? */
static inline bool vmm_vlog_covers(const struct vmmem_vhost_log *log, uint64_t last_addr)
{
	return last_addr / VMMEM_VHOST_LOG_PAGE < log->size * 8;
}

#endif /* VMM_DIRTY_H */
