/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/error.h
 * @brief Error codes, their descriptions and the per-thread detail message.
 *
 * Every fallible libvmmem function returns 0 (or a non-negative count) on success and a
 * negative number on failure: either a negative errno value (-EINVAL for a bad argument,
 * -EOVERFLOW for address arithmetic past 2^64, -ENOMEM, or whatever a system call reported)
 * or one of the library-specific codes below, which lie outside the errno range.
 * After a failure, vmmem_errormsg() tells the detail (which address, which region).
 */
#ifndef VMMEM_ERROR_H
#define VMMEM_ERROR_H

#include <vmmem/common.h>

VMMEM_BEGIN_DECLS

/** Library-specific error codes (all negative, below any errno value). */
enum vmmem_error {
	/** A guest address is not inside any region (vm-memory's InvalidGuestAddress). */
	VMMEM_E_UNMAPPED = -10001,
	/** A transfer that had to be complete stopped short (vm-memory's PartialBuffer). */
	VMMEM_E_PARTIAL = -10002,
	/** A guest memory needs at least one region (vm-memory's NoMemoryRegion). */
	VMMEM_E_NO_REGIONS = -10003,
	/** Two regions overlap in guest-physical space (vm-memory's MemoryRegionOverlap). */
	VMMEM_E_OVERLAP = -10004,
	/** A region of size zero was asked for. */
	VMMEM_E_ZERO_SIZE = -10005,
	/** A range that must lie in one region runs past that region's end
	 *  (vm-memory's InvalidBackendAddress). */
	VMMEM_E_CROSSES_REGION = -10006,
	/** An address or pointer does not have the alignment the operation needs. */
	VMMEM_E_MISALIGNED = -10007,
	/** A write was aimed at a read-only region or view. */
	VMMEM_E_READ_ONLY = -10008,
	/** An offset or length lies outside a view (vm-memory's OutOfBounds). */
	VMMEM_E_OUT_OF_BOUNDS = -10009,
	/** No region with exactly the given start and size exists (remove_region). */
	VMMEM_E_NO_SUCH_REGION = -10010,
	/** A config string is malformed (the message gives the position). */
	VMMEM_E_CONFIG_SYNTAX = -10011,
	/** A config key is unknown, repeated, or a required one is missing. */
	VMMEM_E_CONFIG_KEY = -10012,
	/** A config value is malformed or out of range. */
	VMMEM_E_CONFIG_VALUE = -10013,
	/** Two config options contradict each other (e.g. prealloc=on with reserve=off). */
	VMMEM_E_CONFIG_CONFLICT = -10014,
	/** No provider of that name is registered or found on the search path. */
	VMMEM_E_PROVIDER_NOT_FOUND = -10015,
	/** A plugin file could not be loaded (dlopen failed; the message has dlerror()). */
	VMMEM_E_PROVIDER_LOAD = -10016,
	/** A plugin has no entry symbol (vmmem_provider_init). */
	VMMEM_E_PROVIDER_SYMBOL = -10017,
	/** A provider was built for another provider-ABI major, or its tables are too small. */
	VMMEM_E_PROVIDER_ABI = -10018,
	/** A provider's description is invalid (missing mandatory op, bad name or options). */
	VMMEM_E_PROVIDER_INVALID = -10019,
	/** A provider of that name is already registered. */
	VMMEM_E_PROVIDER_EXISTS = -10020,
	/** A plugin file or its directory is writable by someone other than its owner or root. */
	VMMEM_E_PROVIDER_UNSAFE = -10021,
	/** An imported file is not sealed against shrinking (F_SEAL_SHRINK). */
	VMMEM_E_NOT_SEALED = -10022,
	/** An imported file is shorter than offset + size. */
	VMMEM_E_FILE_TOO_SHORT = -10023,
	/** A region has no file descriptor or is not a shared mapping, so it cannot be shared. */
	VMMEM_E_NOT_SHAREABLE = -10024,
	/** Dirty tracking is not enabled for the region. */
	VMMEM_E_NOT_TRACKED = -10025,
	/** Not a libvmmem snapshot file, or a header or table field is invalid or over-large
	 *  (@since 1.1). */
	VMMEM_E_SNAPSHOT_FORMAT = -10026,
	/** A snapshot file format version this library does not read (@since 1.1). */
	VMMEM_E_SNAPSHOT_VERSION = -10027,
	/** A snapshot file is shorter than its header or table says (@since 1.1). */
	VMMEM_E_SNAPSHOT_TRUNCATED = -10028,
	/** A snapshot's header, table or region data does not match its checksum
	 *  (@since 1.1). */
	VMMEM_E_SNAPSHOT_CHECKSUM = -10029,
	/** A diff snapshot used where a full one is needed or the reverse, or a diff applied to
	 *  a snapshot that is not its parent (@since 1.1). */
	VMMEM_E_SNAPSHOT_PARENT = -10030,
	/** A snapshot's page size is invalid, or unusable on this host (@since 1.1). */
	VMMEM_E_SNAPSHOT_PAGE_SIZE = -10031,
	/** An IOVA range is not (wholly) mapped by the IOTLB (@since 1.1). */
	VMMEM_E_IOTLB_MISS = -10032,
	/** An IOTLB entry does not allow the access asked for (@since 1.1). */
	VMMEM_E_IOTLB_DENIED = -10033,
};

/**
 * @brief Describe an error code.
 * @param err a value returned by a libvmmem function: a library code, a negative errno,
 *            or 0.
 * @return a static, never NULL, human-readable string. Unknown codes give
 *         "unknown error"; positive values are treated like their negation.
 * @par Errors
 * None.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT const char *vmmem_strerror(int err);

/**
 * @brief Detail of the last failure in the calling thread.
 *
 * Each failing libvmmem call stores a sentence naming what went wrong (the address, the
 * region, the limit). Successful calls leave it as it was, so read it right after a
 * failure.
 * @return a thread-local string, never NULL; "" if nothing failed in this thread yet.
 *         It stays valid until the next libvmmem call in this thread.
 * @par Errors
 * None.
 * @par Thread safety
 * MT-Safe (the message is per thread).
 * @since 1.0
 */
VMMEM_EXPORT const char *vmmem_errormsg(void);

VMMEM_END_DECLS

#endif /* VMMEM_ERROR_H */
