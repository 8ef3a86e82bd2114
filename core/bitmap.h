/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Atomic bit arrays: the per-region dirty bitmap and the word helpers the vhost-user log
 * shares. Header only; a leaf of the core's include graph. */
#ifndef VMM_BITMAP_H
#define VMM_BITMAP_H

#include <stdint.h>

/* The bits of word @w that lie in bit range [first, last]. */
static inline uint64_t vmm_word_mask(uint64_t w, uint64_t first, uint64_t last)
{
	uint64_t lo = w == first / 64 ? first % 64 : 0;
	uint64_t hi = w == last / 64 ? last % 64 : 63;

	return (~UINT64_C(0) >> (63 - hi)) & (~UINT64_C(0) << lo);
}

/* Set bits [first, last] of an atomic word array, after the data write they record. Always
 * a release read-modify-write, even when the bits look set already: skipping it on a
 * relaxed load that sees them set lets a harvester's get-and-clear run between that load
 * and the data store becoming visible, and the write is then lost to every later round
 * (docs/MEMORY-ORDERING.md, "Dirty bitmaps"). */
static inline void vmm_bits_set(uint64_t *words, uint64_t first, uint64_t last)
{
	for (uint64_t w = first / 64; w <= last / 64; w++)
		__atomic_fetch_or(&words[w], vmm_word_mask(w, first, last), __ATOMIC_RELEASE);
}

/* One region bitmap. Bitmaps are never freed while their region lives (a writer may have
 * loaded the pointer just before tracking was switched off), only at region destruction. */
struct vmm_dirty {
	struct vmm_dirty *next; /* all bitmaps ever made for the region */
	uint32_t page_shift;
	uint64_t npages;
	uint64_t nwords;
	uint64_t words[]; /* atomic; bit p % 64 of words[p / 64] = page p */
};

/* Mark region bytes [off, off + len) dirty; len > 0, range inside the region. */
static inline void vmm_dirty_mark(struct vmm_dirty *d, uint64_t off, uint64_t len)
{
	uint64_t last = (off + len - 1) >> d->page_shift;

	if (last >= d->npages) /* defensive: never write past the bitmap */
		last = d->npages - 1;
	vmm_bits_set(d->words, off >> d->page_shift, last);
}

#endif /* VMM_BITMAP_H */
