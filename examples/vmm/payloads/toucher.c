/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* For the cost of lazy-restore faults raised through KVM: write one word in each of 4096
 * pages (16 MiB above 4 MiB), print "ready", then forever print "pass N" and read one word
 * of every page again. After a lazy restore without prefetch, each page first read is a
 * fault the VMM's userfaultfd handler serves; later passes touch resident pages only. */
#include "guest.h"

#define FIRST_PAGE 0x400ull
#define PAGES 4096ull

void guest_main(uint64_t mem_bytes, uint64_t ncpus, uint64_t index)
{
	uint64_t sum = 0;

	(void)ncpus;
	if (index != 0 || mem_bytes < ((FIRST_PAGE + PAGES) << 12))
		return;
	for (uint64_t p = FIRST_PAGE; p < FIRST_PAGE + PAGES; p++)
		*(volatile uint64_t *)(p << 12) = p;
	puts_("ready\n");
	for (uint64_t pass = 1;; pass++) {
		puts_("pass ");
		put_u64(pass);
		puts_("\n");
		for (uint64_t p = FIRST_PAGE; p < FIRST_PAGE + PAGES; p++)
			sum += *(volatile uint64_t *)(p << 12);
	}
}
