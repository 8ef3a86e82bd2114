/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Each vCPU reports what the boot protocol gave it (RDI, RSI, RDX, its stack top); being
 * compiled as 64-bit code it runs only in long mode. vCPU 0 waits for the others, then
 * halts, which ends the VM with status 0. */
#include "guest.h"

static volatile uint32_t print_lock, checked_in;

void guest_main(uint64_t mem_bytes, uint64_t ncpus, uint64_t index)
{
	uint64_t rsp;

	__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
	lock(&print_lock);
	puts_("hello from vcpu ");
	put_u64(index);
	puts_(" of ");
	put_u64(ncpus);
	puts_(": memory ");
	put_u64(mem_bytes);
	puts_(" bytes, stack top ");
	put_u64((rsp + 0xffff) & ~0xffffull); /* a few frames below the top of its 64 KiB */
	puts_("\n");
	unlock(&print_lock);
	__atomic_add_fetch(&checked_in, 1, __ATOMIC_SEQ_CST);
	if (index != 0)
		return; /* halts this vCPU only */
	while (__atomic_load_n(&checked_in, __ATOMIC_SEQ_CST) != ncpus)
		__asm__ volatile("pause");
	puts_("all vcpus checked in\n");
}
