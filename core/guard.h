/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Guarded access to memory a peer can take away. A region imported from a file the peer may
 * truncate (no F_SEAL_SHRINK, accepted with VMMEM_IMPORT_ALLOW_UNSEALED) or whose huge
 * pages it may punch out (hugetlb) is *guarded*: copies to and from it run under a
 * recovery point, and a SIGBUS inside the guest range turns into an error instead of
 * killing the process. Other SIGBUSes go to the handler the application had.
 */
#ifndef VMM_GUARD_H
#define VMM_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "copy.h"
#include "region.h"
#include "util.h"

/* Install the process's SIGBUS handler (once; chains to the one it replaces). 0 or an
 * error with a message. Called when a guarded region is made. */
int vmm_guard_enable(void);

/* Copy @n bytes from @src to @dst, one of which is guest memory starting at host address
 * @guest; a SIGBUS on the guest side stops the copy. Returns the bytes copied: @n, or the
 * offset of the page chunk that faulted. */
size_t vmm_guarded_copy(void *dst, const void *src, size_t n, const void *guest);

/* An atomic load or store of @size bytes at @p under the guard; false if it faulted. */
bool vmm_guarded_atomic(void *p, unsigned int size, bool store, uint64_t *val, int order);

/* Copy between a buffer and guest memory of region @r (NULL: not guest memory): a plain
 * copy unless the region is guarded. Returns the bytes copied. */
static inline size_t vmm_region_copy(const struct vmmem_region *r, void *dst, const void *src,
				     size_t n, const void *guest)
{
	if (likely(!r || !r->guarded)) {
		vmm_copy(dst, src, n);
		return n;
	}
	return vmm_guarded_copy(dst, src, n, guest);
}

/* The message and code of a guarded access that faulted at guest address @gpa. */
VMM_COLD int vmm_err_gone(uint64_t gpa);

#endif /* VMM_GUARD_H */
