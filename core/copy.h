/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The primitive accesses to guest bytes: the copy rule and atomic loads/stores. */
#ifndef VMM_COPY_H
#define VMM_COPY_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <vmmem/common.h>

#include "util.h"

/*
 * Copy rule (vm-memory's copy_slice_impl): up to 8 bytes move in single accesses of 8, 4, 2
 * and then 1 bytes, each width used only when both pointers are aligned to it. A naturally
 * aligned 2/4/8-byte value is therefore never torn. The accesses are relaxed atomics: one
 * plain mov each on x86, never split or merged by the compiler, and well-defined (and
 * visible to ThreadSanitizer) when the guest or another thread touches the same bytes.
 */
#define VMM_MOVE(type, d, s)                                                              \
	__atomic_store_n((type *)(d), __atomic_load_n((const type *)(s), __ATOMIC_RELAXED), \
			 __ATOMIC_RELAXED)

static inline void vmm_copy_small(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	while (n) {
		uintptr_t a = (uintptr_t)d | (uintptr_t)s;
		size_t w;

		if (n >= 8 && !(a & 7)) {
			VMM_MOVE(vmm_u64a, d, s);
			w = 8;
		} else if (n >= 4 && !(a & 3)) {
			VMM_MOVE(vmm_u32a, d, s);
			w = 4;
		} else if (n >= 2 && !(a & 1)) {
			VMM_MOVE(vmm_u16a, d, s);
			w = 2;
		} else {
			VMM_MOVE(uint8_t, d, s);
			w = 1;
		}
		d += w;
		s += w;
		n -= w;
	}
}

/* Larger copies may tear, as in vm-memory; memcpy is what reaches memory bandwidth. The
 * aligned 8-byte object (a u64, a descriptor address) skips the rule's loop. */
static inline void vmm_copy(void *dst, const void *src, size_t n)
{
	if (likely(n == 8 && !(((uintptr_t)dst | (uintptr_t)src) & 7)))
		VMM_MOVE(vmm_u64a, dst, src);
	else if (n <= 8)
		vmm_copy_small(dst, src, n);
	else
		memcpy(dst, src, n);
}

/* Unaligned single-access types for array elements (one mov on x86, whatever the address). */
typedef uint16_t __attribute__((may_alias, aligned(1))) vmm_u16u;
typedef uint32_t __attribute__((may_alias, aligned(1))) vmm_u32u;
typedef uint64_t __attribute__((may_alias, aligned(1))) vmm_u64u;

/* One array element: a single access for 1/2/4/8 bytes at any alignment (vm-memory's
 * VolatileRef), the copy rule otherwise. */
static inline void vmm_copy_element(void *dst, const void *src, size_t size)
{
	switch (size) {
	case 1:
		*(volatile uint8_t *)dst = *(const volatile uint8_t *)src;
		break;
	case 2:
		*(volatile vmm_u16u *)dst = *(const volatile vmm_u16u *)src;
		break;
	case 4:
		*(volatile vmm_u32u *)dst = *(const volatile vmm_u32u *)src;
		break;
	case 8:
		*(volatile vmm_u64u *)dst = *(const volatile vmm_u64u *)src;
		break;
	default:
		vmm_copy(dst, src, size);
		break;
	}
}

/* Orders a load may use; stores are checked by vmm_store_order_ok(). */
static inline bool vmm_load_order_ok(int order)
{
	return order == VMMEM_ORDER_RELAXED || order == VMMEM_ORDER_ACQUIRE ||
	       order == VMMEM_ORDER_SEQ_CST;
}

static inline bool vmm_store_order_ok(int order)
{
	return order == VMMEM_ORDER_RELAXED || order == VMMEM_ORDER_RELEASE ||
	       order == VMMEM_ORDER_SEQ_CST;
}

/*
 * Atomic load/store of a naturally aligned 1/2/4/8-byte value at @p. The order is validated
 * by the caller; the switch gives the compiler constant orders (a variable order would be
 * treated as seq_cst).
 */
#define VMM_DEFINE_ATOMIC(bits)                                                           \
	static inline uint##bits##_t vmm_atomic_load##bits(const void *p, int order)      \
	{                                                                                 \
		const uint##bits##_t *q = (const uint##bits##_t *)p;                      \
		switch (order) {                                                          \
		case VMMEM_ORDER_RELAXED:                                                 \
			return __atomic_load_n(q, __ATOMIC_RELAXED);                      \
		case VMMEM_ORDER_ACQUIRE:                                                 \
			return __atomic_load_n(q, __ATOMIC_ACQUIRE);                      \
		default:                                                                  \
			return __atomic_load_n(q, __ATOMIC_SEQ_CST);                      \
		}                                                                         \
	}                                                                                 \
	static inline void vmm_atomic_store##bits(void *p, uint##bits##_t v, int order)   \
	{                                                                                 \
		uint##bits##_t *q = (uint##bits##_t *)p;                                  \
		switch (order) {                                                          \
		case VMMEM_ORDER_RELAXED:                                                 \
			__atomic_store_n(q, v, __ATOMIC_RELAXED);                         \
			break;                                                            \
		case VMMEM_ORDER_RELEASE:                                                 \
			__atomic_store_n(q, v, __ATOMIC_RELEASE);                         \
			break;                                                            \
		default:                                                                  \
			__atomic_store_n(q, v, __ATOMIC_SEQ_CST);                         \
			break;                                                            \
		}                                                                         \
	}

VMM_DEFINE_ATOMIC(8)
VMM_DEFINE_ATOMIC(16)
VMM_DEFINE_ATOMIC(32)
VMM_DEFINE_ATOMIC(64)

#endif /* VMM_COPY_H */
