/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Whole-range operations built straight on the walk (no copying): range checks, discard,
 * and the messages of a walk that stopped. */
#include "walk.h"

#include "error.h"
#include "guard.h"

int
vmm_err_stop(int why, uint64_t gpa)
{
	if (why == VMMEM_E_READ_ONLY)
		return vmm_err(VMMEM_E_READ_ONLY, "guest address 0x%llx is in a read-only region",
			       (unsigned long long)gpa);
	if (why == -EFAULT)
		return vmm_err_gone(gpa);
	return vmm_err_unmapped(gpa);
}

int
vmm_err_wraps(uint64_t gpa, uint64_t len)
{
	return vmm_err(-EOVERFLOW, "guest range 0x%llx + 0x%llx passes 2^64",
		       (unsigned long long)gpa, (unsigned long long)len);
}

/* vmmem_memory_check_range -- walk the regions covering [gpa, gpa + len) */
bool
vmmem_memory_check_range(const struct vmmem_memory *m, uint64_t gpa, uint64_t len)
{
	struct vmm_walk w;

	if (!m)
		return false;
	if (vmm_range_wraps(gpa, len))
		return false;
	/* Adjacent regions continue the range; the first gap ends it. */
	vmm_walk_init(&w, m, gpa, len, false);
	while (w.left) {
		uint8_t *host;
		uint64_t n;

		if (vmm_walk_next(&w, &host, &n, NULL))
			return false;
	}
	return true;
}

/* vmmem_memory_discard -- check the whole range first, then discard region by region */
int
vmmem_memory_discard(const struct vmmem_memory *m, uint64_t gpa, uint64_t len)
{
	struct vmm_walk w;

	VMM_CHECK_ARG(m);
	if (len == 0)
		return 0;
	if (vmm_range_wraps(gpa, len))
		return vmm_err(-EOVERFLOW, "discard: guest range 0x%llx + 0x%llx passes 2^64",
			       (unsigned long long)gpa, (unsigned long long)len);
	if (!vmmem_memory_check_range(m, gpa, len))
		return vmm_err(VMMEM_E_UNMAPPED, "discard: guest range 0x%llx + 0x%llx has a hole",
			       (unsigned long long)gpa, (unsigned long long)len);
	vmm_walk_init(&w, m, gpa, len, false);
	while (w.left) {
		const struct vmm_slot *s;
		uint64_t piece_gpa = w.gpa, n;
		uint8_t *host;
		int rc;

		if (vmm_walk_next(&w, &host, &n, &s)) /* cannot happen: the range was checked */
			return vmm_err_unmapped(w.gpa);
		rc = vmmem_region_discard(vmm_slot_region(s), piece_gpa - s->gpa, n);
		if (rc)
			return rc;
	}
	return 0;
}
