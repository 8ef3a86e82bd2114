/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* For restore timing: touch one word in each page of the first 16 MiB above 4 MiB (the
 * "small part touched" of a large guest), print "ready", then print a dot about every
 * thousand guest instructions, so the first output after a restore comes right away. */
#include "guest.h"

#define FIRST_PAGE 0x400ull
#define PAGES 4096ull

void guest_main(uint64_t mem_bytes, uint64_t ncpus, uint64_t index)
{
	(void)ncpus;
	if (index != 0 || mem_bytes < ((FIRST_PAGE + PAGES) << 12))
		return;
	for (uint64_t p = FIRST_PAGE; p < FIRST_PAGE + PAGES; p++)
		*(volatile uint64_t *)(p << 12) = p;
	puts_("ready\n");
	for (;;) {
		for (volatile unsigned int i = 0; i < 200; i++)
			;
		outb(PORT_SERIAL, '.');
	}
}
