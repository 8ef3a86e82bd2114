/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Dirty-log rounds: round 1 writes pages A and asks the device to write page D1, round 2
 * writes pages B and asks for D2. Each round ends with an out to the dirty port; the VMM
 * reports the merged log (KVM's and libvmmem's) per round. The page lists are printed so
 * the test knows what must be in each report. */
#include "guest.h"

/* Page numbers, all above the payload and below 64 MiB. */
static const uint32_t round1[] = { 0x400, 0x401, 0x555, 0x1fff, 0x2abc };
static const uint32_t round2[] = { 0x402, 0x777, 0x2abd, 0x3000 };
#define DEVICE1 0x800
#define DEVICE2 0x801

static void touch(const uint32_t *pages, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		*(volatile uint64_t *)((uint64_t)pages[i] << 12) = 0x5a5a0000u + pages[i];
		puts_(" ");
		put_u64(pages[i]);
	}
}

void guest_main(uint64_t mem_bytes, uint64_t ncpus, uint64_t index)
{
	(void)ncpus;
	(void)index;
	if (mem_bytes < (64ull << 20)) {
		puts_("dirty payload needs 64 MiB\n");
		return;
	}
	puts_("round 1 guest:");
	touch(round1, sizeof(round1) / sizeof(round1[0]));
	puts_(" device: ");
	put_u64(DEVICE1);
	puts_("\n");
	outl(PORT_DEVICE, DEVICE1);
	outb(PORT_DIRTY, 1);
	puts_("round 2 guest:");
	touch(round2, sizeof(round2) / sizeof(round2[0]));
	puts_(" device: ");
	put_u64(DEVICE2);
	puts_("\n");
	outl(PORT_DEVICE, DEVICE2);
	outb(PORT_DIRTY, 2);
	/* The device wrote its stamp where the guest can see it. */
	if (*(volatile uint64_t *)((uint64_t)DEVICE2 << 12) == 0xd1d1d1d1d1d1d1d1ull)
		puts_("device write seen\n");
}
