/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The vhost-user dirty log (internal view): a caller's shared bitmap, one bit per 4 KiB of
 * guest-physical address, that every write through a memory carrying it marks. */
#ifndef VMM_VLOG_H
#define VMM_VLOG_H

#include <stdbool.h>

#include <vmmem/dirty.h>

#include "bitmap.h"

struct vmmem_vhost_log {
	unsigned long refs; /* atomic */
	uint64_t *words;    /* the caller's buffer */
	uint64_t size;      /* bytes */
	void (*release)(void *opaque, void *base, uint64_t size);
	void *opaque;
};

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

/* Does @log cover guest addresses up to @last_addr? */
static inline bool vmm_vlog_covers(const struct vmmem_vhost_log *log, uint64_t last_addr)
{
	return last_addr / VMMEM_VHOST_LOG_PAGE < log->size * 8;
}

#endif /* VMM_VLOG_H */
