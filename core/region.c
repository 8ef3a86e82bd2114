/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Regions: creation from a caller's host mapping, reference counting, accessors. */
#define _GNU_SOURCE
#include "region.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bitmap.h"
#include "error.h"
#include "provider.h"
#include "util.h"

/* Filled on first use by whichever thread gets there; every thread computes the same value,
 * and relaxed atomics make the concurrent first fills race-free (a plain static was a data
 * race that TSan reported). */
uint64_t
vmm_host_page_size(void)
{
	static uint64_t page_size;
	uint64_t v = __atomic_load_n(&page_size, __ATOMIC_RELAXED);

	if (unlikely(!v)) {
		v = (uint64_t)sysconf(_SC_PAGESIZE);
		__atomic_store_n(&page_size, v, __ATOMIC_RELAXED);
	}
	return v;
}

/* Everything but the fd: checks shared by both constructors. */
static int check_mapping(uint64_t gpa, uint64_t size, const void *host, uint32_t flags)
{
	uintptr_t host_end;

	if (!host)
		return vmm_err(-EINVAL, "region: host address is NULL");
	if (flags & ~VMMEM_REGION_FLAGS_ALL)
		return vmm_err(-EINVAL, "region: unknown flags 0x%x",
			       flags & ~VMMEM_REGION_FLAGS_ALL);
	if (size == 0)
		return vmm_err(VMMEM_E_ZERO_SIZE, "region at GPA 0x%llx has size 0",
			       (unsigned long long)gpa);
	/* The exclusive end must fit in 64 bits (so no region holds byte 2^64 - 1). */
	if (size > UINT64_MAX - gpa)
		return vmm_err(-EOVERFLOW,
			       "region at GPA 0x%llx of size 0x%llx ends past 2^64 - 1",
			       (unsigned long long)gpa, (unsigned long long)size);
	if (size > UINTPTR_MAX || __builtin_add_overflow((uintptr_t)host, (uintptr_t)size,
							 &host_end))
		return vmm_err(-EOVERFLOW, "region: host range %p + 0x%llx wraps", host,
			       (unsigned long long)size);
	if ((uintptr_t)host % vmm_host_page_size() != 0)
		return vmm_err(VMMEM_E_MISALIGNED, "region: host address %p is not page-aligned",
			       host);
	return 0;
}

/* ---- the region's dirty bitmap slot ---- */

/* Switching tracking on and off is a rare control-path call: one lock for all regions. */
static pthread_mutex_t bitmap_lock = PTHREAD_MUTEX_INITIALIZER;

unsigned long vmm_tracked_regions;

void
vmm_region_bitmap_lock(void)
{
	pthread_mutex_lock(&bitmap_lock);
}

void
vmm_region_bitmap_unlock(void)
{
	pthread_mutex_unlock(&bitmap_lock);
}

void
vmm_region_publish_bitmap(struct vmmem_region *r, struct vmm_dirty *d)
{
	if (!r->dirty && d)
		__atomic_add_fetch(&vmm_tracked_regions, 1, __ATOMIC_SEQ_CST);
	else if (r->dirty && !d)
		__atomic_sub_fetch(&vmm_tracked_regions, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&r->dirty, d, __ATOMIC_RELEASE);
}

/* Unpublish and free every bitmap ever made for a region (at its destruction). */
static void free_bitmaps(struct vmmem_region *r)
{
	struct vmm_dirty *d = r->dirty_all;

	if (r->dirty) {
		vmm_region_bitmap_lock();
		vmm_region_publish_bitmap(r, NULL);
		vmm_region_bitmap_unlock();
	}
	while (d) {
		struct vmm_dirty *next = d->next;

		free(d);
		d = next;
	}
	r->dirty_all = NULL;
}

/* ---- regions ---- */

int
vmm_region_alloc(struct vmmem_region **out, const struct vmmem_region *tmpl)
{
	struct vmmem_region *r = malloc(sizeof(*r));

	if (!r)
		return vmm_err(-ENOMEM, "region: out of memory");
	*r = *tmpl;
	r->refs = 1;
	*out = r;
	return 0;
}

/* Template shared by the two public constructors. */
static struct vmmem_region caller_region(uint64_t gpa, uint64_t size, void *host, uint32_t flags)
{
	return (struct vmmem_region){
		.gpa = gpa,
		.size = size,
		.host = host,
		.flags = flags,
		.fd = -1,
		.page_size = vmm_host_page_size(),
		.discard = VMM_DISCARD_NONE,
		.unmap_addr = (flags & VMMEM_REGION_OWN_MAPPING) ? host : NULL,
		.unmap_len = size,
	};
}

/* vmmem_region_new -- describe a caller-owned mapping without a file */
int
vmmem_region_new(struct vmmem_region **out, uint64_t gpa, uint64_t size, void *host,
		 uint32_t flags)
{
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	struct vmmem_region tmpl = caller_region(gpa, size, host, flags);

	rc = check_mapping(gpa, size, host, flags);
	if (rc < 0)
		return rc;
	return vmm_region_alloc(out, &tmpl);
}

/* vmmem_region_new_fd -- describe a mapping of a file; keeps a duplicate of the fd */
int
vmmem_region_new_fd(struct vmmem_region **out, uint64_t gpa, uint64_t size, void *host,
		    uint32_t flags, int fd, uint64_t fd_offset)
{
	struct vmmem_region tmpl = caller_region(gpa, size, host, flags);
	int rc, dup_fd;

	VMM_CHECK_ARG(out);
	*out = NULL;
	rc = check_mapping(gpa, size, host, flags);
	if (rc < 0)
		return rc;
	if (fd < 0)
		return vmm_err(-EBADF, "region: file descriptor %d is negative", fd);
	if (fd_offset % vmm_host_page_size() != 0)
		return vmm_err(VMMEM_E_MISALIGNED, "region: file offset 0x%llx is not page-aligned",
			       (unsigned long long)fd_offset);
	if (fd_offset > (uint64_t)INT64_MAX || size > (uint64_t)INT64_MAX - fd_offset)
		return vmm_err(-EOVERFLOW, "region: file range 0x%llx + 0x%llx passes 2^63 - 1",
			       (unsigned long long)fd_offset, (unsigned long long)size);
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return vmm_err(-errno, "region: cannot duplicate fd %d: %m", fd);
	tmpl.fd = dup_fd;
	tmpl.fd_offset = fd_offset;
	tmpl.owns_fd = true;
	tmpl.shareable = true; /* the caller gave the fd so the mapping can be shared */
	rc = vmm_region_alloc(out, &tmpl);
	if (rc < 0)
		close(dup_fd);
	return rc;
}

struct vmmem_region *
vmmem_region_ref(struct vmmem_region *r)
{
	if (r)
		vmm_ref_inc(&r->refs);
	return r;
}

struct vmmem_region *
vmmem_region_unref(struct vmmem_region *r)
{
	if (!r || !vmm_ref_dec_is_last(&r->refs))
		return NULL;
	if (r->provider)
		vmm_provider_release_mapping(r->provider, &r->mapping);
	else if (r->unmap_addr)
		munmap(r->unmap_addr, r->unmap_len);
	vmm_guards_release(&r->guards); /* the mapping between them is gone now */
	if (r->owns_fd && r->fd >= 0)
		close(r->fd);
	free_bitmaps(r);
	free(r->spec);
	free(r);
	return NULL;
}

uint64_t
vmmem_region_gpa(const struct vmmem_region *r)
{
	return r ? r->gpa : 0;
}

uint64_t
vmmem_region_size(const struct vmmem_region *r)
{
	return r ? r->size : 0;
}

uint64_t
vmmem_region_last(const struct vmmem_region *r)
{
	return r ? vmm_region_last(r) : 0;
}

void *
vmmem_region_host(const struct vmmem_region *r)
{
	return r ? r->host : NULL;
}

uint32_t
vmmem_region_flags(const struct vmmem_region *r)
{
	return r ? r->flags : 0;
}

int
vmmem_region_fd(const struct vmmem_region *r)
{
	return r ? r->fd : -EINVAL;
}

uint64_t
vmmem_region_fd_offset(const struct vmmem_region *r)
{
	return r ? r->fd_offset : 0;
}

bool
vmmem_region_contains(const struct vmmem_region *r, uint64_t gpa)
{
	return r && gpa >= r->gpa && gpa - r->gpa < r->size;
}

uint64_t
vmmem_region_page_size(const struct vmmem_region *r)
{
	return r ? r->page_size : 0;
}

const struct vmmem_provider *
vmmem_region_provider(const struct vmmem_region *r)
{
	return r ? r->provider : NULL;
}

/* vmmem_region_discard -- check the range, then free it the way the backing needs */
int
vmmem_region_discard(struct vmmem_region *r, uint64_t offset, uint64_t len)
{
	uint64_t end;

	VMM_CHECK_ARG(r);
	if (len == 0)
		return 0;
	if (__builtin_add_overflow(offset, len, &end))
		return vmm_err(-EOVERFLOW, "discard: 0x%llx + 0x%llx wraps",
			       (unsigned long long)offset, (unsigned long long)len);
	if (end > r->size)
		return vmm_err(VMMEM_E_OUT_OF_BOUNDS,
			       "discard: [0x%llx, +0x%llx) is past the region's size 0x%llx",
			       (unsigned long long)offset, (unsigned long long)len,
			       (unsigned long long)r->size);
	if ((offset | len) & (r->page_size - 1))
		return vmm_err(VMMEM_E_MISALIGNED,
			       "discard: [0x%llx, +0x%llx) is not aligned to the page size 0x%llx",
			       (unsigned long long)offset, (unsigned long long)len,
			       (unsigned long long)r->page_size);
	if (r->flags & VMMEM_REGION_READ_ONLY)
		return vmm_err(VMMEM_E_READ_ONLY, "discard: region at 0x%llx is read-only",
			       (unsigned long long)r->gpa);
	switch (r->discard) {
	case VMM_DISCARD_PROVIDER:
		return vmm_provider_discard(r->provider, &r->mapping, offset, len);
	case VMM_DISCARD_SHARED_FD:
		if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)(r->fd_offset + offset), (off_t)len) < 0)
			return vmm_err(-errno, "discard: punching a hole in fd %d: %m", r->fd);
		return 0;
	case VMM_DISCARD_NONE:
	default:
		return vmm_err(-EOPNOTSUPP,
			       "discard: region at 0x%llx maps caller memory of unknown kind",
			       (unsigned long long)r->gpa);
	}
}

int64_t
vmmem_region_numa_pages(const struct vmmem_region *r, uint64_t *pages, size_t nodes,
			uint64_t *absent)
{
	enum { CHUNK = 512 };
	void *addr[CHUNK];
	int status[CHUNK];
	uint64_t present = 0, missing = 0;

	VMM_CHECK_ARG(r);
	VMM_CHECK_ARG(pages || nodes == 0);
	for (size_t i = 0; i < nodes; i++)
		pages[i] = 0;
	for (uint64_t off = 0; off < r->size;) {
		unsigned long n = 0;

		while (n < CHUNK && off < r->size) {
			addr[n++] = r->host + off;
			off += r->page_size;
		}
		/* nodes NULL: query mode, status gets the node or -ENOENT. */
		if (syscall(SYS_move_pages, 0, n, addr, NULL, status, 0) != 0)
			return vmm_err(-errno, "numa_pages: move_pages: %m");
		for (unsigned long i = 0; i < n; i++) {
			if (status[i] >= 0) {
				present++;
				if ((size_t)status[i] < nodes)
					pages[status[i]]++;
			} else {
				missing++;
			}
		}
	}
	if (absent)
		*absent = missing;
	return (int64_t)present;
}
