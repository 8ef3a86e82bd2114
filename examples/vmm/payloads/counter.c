/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* For snapshot and restore: fill 256 KiB with a pattern, print its checksum once, then
 * forever print a counter and the checksum computed again. A guest restored from a
 * snapshot goes on counting from where it stopped, with the same checksum, and never
 * prints its boot line again. */
#include "guest.h"

#define AREA ((volatile uint64_t *)0x400000) /* 4 MiB: above the payload */
#define WORDS (256 * 1024 / 8)

static uint64_t checksum(void)
{
	uint64_t h = 1469598103934665603ull;

	for (uint64_t i = 0; i < WORDS; i++)
		h = (h ^ AREA[i]) * 1099511628211ull;
	return h;
}

void guest_main(uint64_t mem_bytes, uint64_t ncpus, uint64_t index)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull, sum;

	(void)mem_bytes;
	(void)ncpus;
	if (index != 0)
		return;
	for (uint64_t i = 0; i < WORDS; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		AREA[i] = seed;
	}
	sum = checksum();
	puts_("boot: pattern checksum ");
	put_u64(sum);
	puts_("\n");
	for (uint64_t tick = 1;; tick++) {
		puts_("tick ");
		put_u64(tick);
		puts_(" checksum ");
		put_u64(checksum());
		puts_("\n");
	}
}
