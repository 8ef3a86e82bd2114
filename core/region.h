/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* struct vmmem_region: one guest-physical range and the host mapping behind it. */
#ifndef VMM_REGION_H
#define VMM_REGION_H

#include <stdbool.h>

#include <vmmem/provider.h>
#include <vmmem/region.h>

#include "placement.h"

/* How vmmem_region_discard gives memory back. */
enum vmm_discard_kind {
	VMM_DISCARD_NONE,      /* caller's mapping of unknown kind: -EOPNOTSUPP */
	VMM_DISCARD_PROVIDER,  /* the provider's discard op */
	VMM_DISCARD_SHARED_FD, /* MAP_SHARED of fd (imported): punch a hole in the file */
};

struct vmm_dirty;

struct vmmem_region {
	struct vmm_dirty *dirty; /* atomic: the bitmap writes mark, NULL when not tracked */
	uint64_t gpa;       /* first guest-physical byte */
	uint64_t size;      /* bytes, never 0; gpa + size < 2^64 */
	uint8_t *host;      /* host address of gpa */
	uint32_t flags;     /* VMMEM_REGION_* */
	int fd;             /* descriptor behind the mapping, or -1 */
	uint64_t fd_offset; /* file offset of gpa, 0 without fd */
	uint64_t page_size; /* backing page size */
	bool owns_fd;       /* close fd on the last unref (a duplicate we made) */
	bool shareable;     /* fd-backed MAP_SHARED: another process sees our writes */
	bool guarded;       /* a peer can take the backing away: accesses go through guard.c */
	enum vmm_discard_kind discard;
	void *unmap_addr;   /* munmap(unmap_addr, unmap_len) on the last unref, if set */
	uint64_t unmap_len;
	struct vmmem_provider *provider; /* with a reference, or NULL */
	struct vmmem_mapping mapping;    /* what the provider made, for destroy/discard */
	struct vmm_guards guards;        /* around mapping (core_api map), removed after destroy */
	struct vmm_dirty *dirty_all;     /* every bitmap made for the region (freed with it) */
	char *spec;         /* the config string it was created from (owned), or NULL */
	uint64_t peer_addr; /* the sender's address of gpa (vhost-user userspace_addr) */
	bool has_peer;      /* imported: peer_addr is set */
	unsigned long refs; /* atomic */
};

static inline uint64_t vmm_region_last(const struct vmmem_region *r)
{
	return r->gpa + r->size - 1;
}

/* A new region, a copy of @tmpl with one reference; the template's resources (mapping,
 * fd, provider reference) pass to the region only on success. */
int vmm_region_alloc(struct vmmem_region **out, const struct vmmem_region *tmpl);

/* Number of regions with tracking on, process-wide. While it is 0 an untracked write costs
 * one load of this (L1-hot) word instead of a load from its region. */
extern unsigned long vmm_tracked_regions;

/* The one lock under which regions' bitmaps are switched (vmm_region_publish_bitmap). */
void vmm_region_bitmap_lock(void);
void vmm_region_bitmap_unlock(void);
/* Make @d (NULL: none) the bitmap writes to @r mark, keeping vmm_tracked_regions right.
 * Bitmap lock held. */
void vmm_region_publish_bitmap(struct vmmem_region *r, struct vmm_dirty *d);

/* The host's base page size. */
uint64_t vmm_host_page_size(void);

#endif /* VMM_REGION_H */
