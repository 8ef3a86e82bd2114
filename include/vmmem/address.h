/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/address.h
 * @brief Guest-physical address arithmetic that never wraps silently (inline).
 *
 * A guest-physical address (GPA) is a plain uint64_t. These helpers mirror vm-memory's
 * `Address` trait: checked operations report wrap-around past 0 or 2^64 with -EOVERFLOW
 * instead of panicking or wrapping; the explicitly wrapping ones never invoke undefined
 * behaviour. All are header-only, so they cost nothing at run time and are not symbols
 * of libvmmem.so.
 *
 * Thread safety of every function here: MT-Safe (pure functions).
 */
#ifndef VMMEM_ADDRESS_H
#define VMMEM_ADDRESS_H

#include <errno.h>
#include <vmmem/common.h>

VMMEM_BEGIN_DECLS

/**
 * @brief Is @p x a power of two? (0 is not.)
 * @since 1.0
 */
static inline bool vmmem_is_power_of_two(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/**
 * @brief @p addr + @p delta, refusing to wrap past 2^64.
 * @param[out] out the sum; written only on success.
 * @return 0, -EOVERFLOW if the sum does not fit in 64 bits, -EINVAL if @p out is NULL.
 * @since 1.0
 */
static inline int vmmem_addr_checked_add(uint64_t addr, uint64_t delta, uint64_t *out)
{
	uint64_t r;

	if (!out)
		return -EINVAL;
	if (__builtin_add_overflow(addr, delta, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

/**
 * @brief @p addr - @p delta, refusing to go below 0.
 * @param[out] out the difference; written only on success.
 * @return 0, -EOVERFLOW if @p delta > @p addr, -EINVAL if @p out is NULL.
 * @since 1.0
 */
static inline int vmmem_addr_checked_sub(uint64_t addr, uint64_t delta, uint64_t *out)
{
	if (!out)
		return -EINVAL;
	if (delta > addr)
		return -EOVERFLOW;
	*out = addr - delta;
	return 0;
}

/**
 * @brief Offset of @p addr from @p base (vm-memory's checked_offset_from).
 * @param[out] out @p addr - @p base; written only on success.
 * @return 0, -EOVERFLOW if @p addr < @p base, -EINVAL if @p out is NULL.
 * @since 1.0
 */
static inline int vmmem_addr_offset_from(uint64_t addr, uint64_t base, uint64_t *out)
{
	return vmmem_addr_checked_sub(addr, base, out);
}

/**
 * @brief @p addr + @p delta modulo 2^64, telling whether it wrapped (vm-memory's
 *        overflowing_add).
 * @param[out] out the wrapped sum (may be NULL).
 * @return true if the true sum is 2^64 or more.
 * @since 1.0
 */
static inline bool vmmem_addr_overflowing_add(uint64_t addr, uint64_t delta, uint64_t *out)
{
	uint64_t r;
	bool o = __builtin_add_overflow(addr, delta, &r);

	if (out)
		*out = r;
	return o;
}

/**
 * @brief @p addr - @p delta modulo 2^64, telling whether it wrapped (vm-memory's
 *        overflowing_sub).
 * @param[out] out the wrapped difference (may be NULL).
 * @return true if @p delta > @p addr.
 * @since 1.0
 */
static inline bool vmmem_addr_overflowing_sub(uint64_t addr, uint64_t delta, uint64_t *out)
{
	uint64_t r;
	bool o = __builtin_sub_overflow(addr, delta, &r);

	if (out)
		*out = r;
	return o;
}

/**
 * @brief Round @p addr up to a multiple of @p align.
 * @param align a power of two.
 * @param[out] out the aligned address; written only on success.
 * @return 0, -EINVAL if @p align is not a power of two or @p out is NULL, -EOVERFLOW if the
 *         result would pass 2^64 - 1.
 * @since 1.0
 */
static inline int vmmem_addr_align_up(uint64_t addr, uint64_t align, uint64_t *out)
{
	uint64_t r;

	if (!out || !vmmem_is_power_of_two(align))
		return -EINVAL;
	if (__builtin_add_overflow(addr, align - 1, &r))
		return -EOVERFLOW;
	*out = r & ~(align - 1);
	return 0;
}

/**
 * @brief Round @p addr down to a multiple of @p align.
 * @param align a power of two.
 * @param[out] out the aligned address; written only on success.
 * @return 0, or -EINVAL if @p align is not a power of two or @p out is NULL.
 * @since 1.0
 */
static inline int vmmem_addr_align_down(uint64_t addr, uint64_t align, uint64_t *out)
{
	if (!out || !vmmem_is_power_of_two(align))
		return -EINVAL;
	*out = addr & ~(align - 1);
	return 0;
}

/**
 * @brief Is @p addr a multiple of @p align?
 * @return false also when @p align is not a power of two.
 * @since 1.0
 */
static inline bool vmmem_addr_is_aligned(uint64_t addr, uint64_t align)
{
	return vmmem_is_power_of_two(align) && (addr & (align - 1)) == 0;
}

/**
 * @brief @p addr with only the bits of @p mask kept (vm-memory's mask()).
 * @since 1.0
 */
static inline uint64_t vmmem_addr_mask(uint64_t addr, uint64_t mask)
{
	return addr & mask;
}

VMMEM_END_DECLS

#endif /* VMMEM_ADDRESS_H */
