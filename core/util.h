/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Small internal helpers shared by the core modules. Never installed. */
#ifndef VMM_UTIL_H
#define VMM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Error paths are kept out of line so the hot paths stay small. */
#define VMM_COLD __attribute__((cold, noinline))

/* Integer types that may alias any object: guest bytes and caller buffers are reached
 * through them without breaking the strict-aliasing rule. */
typedef uint16_t __attribute__((may_alias)) vmm_u16a;
typedef uint32_t __attribute__((may_alias)) vmm_u32a;
typedef uint64_t __attribute__((may_alias)) vmm_u64a;

/* Does [gpa, gpa + len) pass 2^64? (len 0 never does.) */
static inline bool vmm_range_wraps(uint64_t gpa, uint64_t len)
{
	return len != 0 && len - 1 > UINT64_MAX - gpa;
}

/* Reference counts: plain integers changed with atomic builtins. Every decrement is
 * acq_rel: release so a thread's writes come before its unref, acquire so the thread that
 * drops the last reference sees all of them before destroying. */
static inline void vmm_ref_inc(unsigned long *refs)
{
	__atomic_fetch_add(refs, 1, __ATOMIC_RELAXED);
}

static inline int vmm_ref_dec_is_last(unsigned long *refs)
{
	return __atomic_sub_fetch(refs, 1, __ATOMIC_ACQ_REL) == 0;
}

#endif /* VMM_UTIL_H */
