/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/common.h
 * @brief Export macros, library version and the types shared by every libvmmem header.
 */
#ifndef VMMEM_COMMON_H
#define VMMEM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <vmmem/version.h>

#ifdef __cplusplus
/** Opens a block of C declarations (extern "C" in C++). */
#define VMMEM_BEGIN_DECLS extern "C" {
/** Closes a block opened by VMMEM_BEGIN_DECLS. */
#define VMMEM_END_DECLS }
#else
/** Opens a block of C declarations (extern "C" in C++). */
#define VMMEM_BEGIN_DECLS
/** Closes a block opened by VMMEM_BEGIN_DECLS. */
#define VMMEM_END_DECLS
#endif

/** Marks a declaration as part of the exported ABI (the build hides everything else). */
#define VMMEM_EXPORT __attribute__((visibility("default")))

VMMEM_BEGIN_DECLS

/**
 * @brief Kind of access a caller intends to make through a translated address or a view.
 *
 * Writes are refused on regions created with ::VMMEM_REGION_READ_ONLY.
 */
enum vmmem_access {
	VMMEM_ACCESS_READ = 1,  /**< the caller will only read */
	VMMEM_ACCESS_WRITE = 2, /**< the caller will write (read-only regions refuse it) */
	VMMEM_ACCESS_RW = 3,    /**< both */
};

/**
 * @brief Memory order of an atomic guest access; same meaning as C11's memory_order_*.
 *
 * Loads accept RELAXED, ACQUIRE and SEQ_CST; stores accept RELAXED, RELEASE and SEQ_CST.
 * Any other value is refused with -EINVAL (C11 gives such combinations undefined behaviour).
 */
enum vmmem_order {
	VMMEM_ORDER_RELAXED = 0, /**< no ordering, only atomicity */
	VMMEM_ORDER_ACQUIRE = 2, /**< later accesses stay after the load (loads only) */
	VMMEM_ORDER_RELEASE = 3, /**< earlier accesses stay before the store (stores only) */
	VMMEM_ORDER_SEQ_CST = 5, /**< sequentially consistent */
};

/**
 * @brief Library version as (major << 16) | (minor << 8) | patch, as built.
 * @return the version of the loaded libvmmem.so, which may differ from ::VMMEM_VERSION in
 *         the headers a program was compiled with.
 * @par Errors
 * None.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT unsigned int vmmem_version(void);

/**
 * @brief Library version as a string, e.g. "1.0.0".
 * @return a static string; never NULL.
 * @par Errors
 * None.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT const char *vmmem_version_string(void);

VMMEM_END_DECLS

#endif /* VMMEM_COMMON_H */
