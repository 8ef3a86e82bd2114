/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* struct vmmem_region: one guest-physical range and the host mapping behind it. */
#ifndef VMM_REGION_H
#define VMM_REGION_H

#include <vmmem/region.h>

struct vmmem_region {
	uint64_t gpa;       /* first guest-physical byte */
	uint64_t size;      /* bytes, never 0; gpa + size < 2^64 */
	uint8_t *host;      /* host address of gpa */
	uint32_t flags;     /* VMMEM_REGION_* */
	int fd;             /* region's own duplicate, or -1 */
	uint64_t fd_offset; /* file offset of gpa, 0 without fd */
	unsigned long refs; /* atomic */
};

static inline uint64_t vmm_region_last(const struct vmmem_region *r)
{
	return r->gpa + r->size - 1;
}

#endif /* VMM_REGION_H */
