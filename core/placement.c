/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Placement of a provider's mapping (see placement.h): reserve, map inside with MAP_FIXED,
 * trim the alignment slack, keep one guard page each side. */
#define _GNU_SOURCE
#include "placement.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

void *
vmm_place_map(uint64_t length, uint64_t align, uint64_t page_size, bool guard, int prot,
	      int flags, int fd, uint64_t offset, struct vmm_guards *g)
{
	const uint64_t hp = (uint64_t)sysconf(_SC_PAGESIZE), gsize = guard ? hp : 0;
	uint64_t want = align > page_size ? align : page_size, total, span;
	uintptr_t res, base, res_end, lo, hi;
	void *addr;

	*g = (struct vmm_guards){ 0 };
	if (want < hp)
		want = hp;
	/* Nothing to place: the kernel's own choice is already page aligned. */
	if (want == hp && !guard)
		return mmap(NULL, (size_t)length, prot, flags, fd, (off_t)offset);
	/* The mapping covers whole host pages (mmap rounds a length up); the upper guard
	 * follows them. Slack of want - hp is enough: the reservation is host-page aligned. */
	if (__builtin_add_overflow(length, hp - 1, &span) ||
	    __builtin_add_overflow(span - span % hp, want - hp, &total) ||
	    __builtin_add_overflow(total, 2 * gsize, &total) || total > SIZE_MAX) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	addr = mmap(NULL, (size_t)total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (addr == MAP_FAILED)
		return MAP_FAILED;
	res = (uintptr_t)addr;
	res_end = res + (uintptr_t)total;
	base = (res + (uintptr_t)gsize + (uintptr_t)want - 1) & ~((uintptr_t)want - 1);
	addr = mmap((void *)base, (size_t)length, prot, flags | MAP_FIXED, fd, (off_t)offset);
	if (addr == MAP_FAILED) {
		int err = errno;

		munmap((void *)res, (size_t)total);
		errno = err;
		return MAP_FAILED;
	}
	/* Trim what is neither the mapping nor a guard page. */
	lo = base - (uintptr_t)gsize;
	hi = base + (uintptr_t)(span - span % hp);
	if (lo > res)
		munmap((void *)res, lo - res);
	if (hi + gsize < res_end)
		munmap((void *)(hi + gsize), res_end - hi - (uintptr_t)gsize);
	if (gsize)
		*g = (struct vmm_guards){ (uint8_t *)lo, (uint8_t *)hi, (size_t)gsize };
	return addr;
}

void
vmm_guards_release(struct vmm_guards *g)
{
	/* Each guard on its own: unmapping lo..hi + size in one call could take a mapping
	 * another thread has made since in the hole the provider's munmap left. */
	if (g->size) {
		munmap(g->lo, g->size);
		munmap(g->hi, g->size);
	}
	*g = (struct vmm_guards){ 0 };
}

/* The create call running on this thread (a provider's create calls map from it). */
static _Thread_local struct vmm_place_call *current_call;

void
vmm_place_begin(struct vmm_place_call *call)
{
	current_call = call;
}

void
vmm_place_end(void)
{
	current_call = NULL;
}

void *
vmm_core_map(const struct vmmem_provider_params *params, uint64_t page_size, int prot,
	     int flags, int fd, uint64_t offset)
{
	struct vmm_place_call *call = current_call;
	void *addr;

	/* Only the params of the create running on this thread: anything else (a copy, a
	 * call from another thread or after create returned) has no placement to follow. */
	if (!call || params != &call->params || !page_size || (page_size & (page_size - 1))) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (call->placed) {
		errno = EBUSY;
		return MAP_FAILED;
	}
	addr = vmm_place_map(params->length, call->align, page_size, call->guard, prot, flags,
			     fd, offset, &call->guards);
	if (addr != MAP_FAILED)
		call->placed = addr;
	return addr;
}
