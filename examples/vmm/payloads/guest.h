/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Freestanding helpers for vmmem-vmm test payloads (no libc, no SSE: built with
 * -mgeneral-regs-only). Every port write is a VM exit, so output stays short. */
#ifndef VMMEM_VMM_GUEST_H
#define VMMEM_VMM_GUEST_H

#include <stdint.h>

#define PORT_SERIAL 0x3f8
#define PORT_DIRTY 0x501
#define PORT_DEVICE 0x502

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void puts_(const char *s)
{
	while (*s)
		outb(PORT_SERIAL, (uint8_t)*s++);
}

static inline void put_u64(uint64_t v)
{
	char buf[21];
	int i = 20;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_(buf + i);
}

/* A spinlock in guest memory, so several vCPUs' lines do not interleave. */
static inline void lock(volatile uint32_t *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
}

static inline void unlock(volatile uint32_t *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

void guest_main(uint64_t mem_bytes, uint64_t ncpus, uint64_t index);

#endif
