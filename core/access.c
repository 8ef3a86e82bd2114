/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Reads, writes, objects, atomics and translation by guest-physical address. */
#include <limits.h>

#include <vmmem/access.h>

#include "copy.h"
#include "dirty.h"
#include "error.h"
#include "guard.h"
#include "memory.h"
#include "walk.h"

/*
 * Copy between @buf and guest [gpa, gpa + len) until done or a hole / read-only region.
 * Returns bytes copied; *why is 0 or the code of what stopped it (at gpa + returned count).
 */
static size_t transfer(const struct vmmem_memory *m, uint64_t gpa, uint8_t *buf, size_t len,
		       bool to_guest, int *why)
{
	struct vmm_walk w;
	size_t done = 0;

	*why = 0;
	vmm_walk_init(&w, m, gpa, len, to_guest);
	while (w.left) {
		const struct vmm_slot *s;
		uint64_t piece_gpa = w.gpa, n;
		uint8_t *host;

		*why = vmm_walk_next(&w, &host, &n, &s);
		if (*why)
			break;
		if (unlikely(vmm_slot_guarded(s))) {
			size_t c = to_guest ? vmm_guarded_copy(host, buf + done, n, host)
					    : vmm_guarded_copy(buf + done, host, n, host);

			if (to_guest && c)
				vmm_mark_written(m, vmm_slot_region(s), piece_gpa - s->gpa,
						 piece_gpa, c);
			done += c;
			if (c < n) {
				*why = -EFAULT; /* stopped at gpa + done */
				break;
			}
			continue;
		}
		if (to_guest) {
			vmm_copy(host, buf + done, n);
			vmm_mark_written(m, vmm_slot_region(s), piece_gpa - s->gpa, piece_gpa, n);
		} else {
			vmm_copy(buf + done, host, n);
		}
		done += n;
	}
	return done;
}

/* Shared argument checks of the byte-transfer calls; 1 means "nothing to do". */
static int check_transfer(const struct vmmem_memory *m, uint64_t gpa, const void *buf,
			  size_t len)
{
	VMM_CHECK_ARG(m);
	if (len == 0)
		return 1;
	VMM_CHECK_ARG(buf);
	VMM_CHECK_ARG(len <= SSIZE_MAX);
	if (vmm_range_wraps(gpa, len))
		return vmm_err_wraps(gpa, len);
	return 0;
}

/*
 * The common transfer: 1 <= len <= SSIZE_MAX bytes inside one plain region (not guarded,
 * and writable when writing). One lookup, the copy and the dirty mark, without the walk;
 * false (nothing done) sends the caller to the general path, which checks and reports.
 */
static inline bool transfer_one_region(const struct vmmem_memory *m, uint64_t gpa, uint8_t *buf,
				       size_t len, bool to_guest)
{
	const struct vmm_slot *s;
	uint8_t *host;

	if (unlikely(!m || !buf || len - 1 >= SSIZE_MAX))
		return false;
	s = vmm_lookup(m, gpa);
	/* len - 1 <= last - gpa also keeps gpa + len from passing 2^64 */
	if (unlikely(!s || len - 1 > s->last - gpa ||
		     (s->region_ro & (to_guest ? VMM_SLOT_RO | VMM_SLOT_GUARDED : VMM_SLOT_GUARDED))))
		return false;
	host = s->host + (gpa - s->gpa);
	if (to_guest) {
		vmm_copy(host, buf, len);
		vmm_mark_written(m, vmm_slot_region(s), gpa - s->gpa, gpa, len);
	} else {
		vmm_copy(buf, host, len);
	}
	return true;
}

static ssize_t transfer_some(const struct vmmem_memory *m, uint64_t gpa, void *buf, size_t len,
			     bool to_guest)
{
	int rc, why;
	size_t done;

	if (likely(transfer_one_region(m, gpa, buf, len, to_guest)))
		return (ssize_t)len;
	rc = check_transfer(m, gpa, buf, len);
	if (rc)
		return rc < 0 ? rc : 0;
	done = transfer(m, gpa, buf, len, to_guest, &why);
	if (done == 0)
		return vmm_err_stop(why, gpa);
	return (ssize_t)done;
}

static int transfer_exact(const struct vmmem_memory *m, uint64_t gpa, void *buf, size_t len,
			  bool to_guest, size_t *done_out)
{
	int rc, why;
	size_t done = 0;

	if (likely(transfer_one_region(m, gpa, buf, len, to_guest))) {
		if (done_out)
			*done_out = len;
		return 0;
	}
	rc = check_transfer(m, gpa, buf, len);
	if (rc == 0) {
		done = transfer(m, gpa, buf, len, to_guest, &why);
		if (done == 0)
			rc = vmm_err_stop(why, gpa);
		else if (done < len)
			rc = vmm_err(VMMEM_E_PARTIAL,
				     "%s of 0x%zx bytes at 0x%llx stopped after 0x%zx bytes: %s",
				     to_guest ? "write" : "read", len, (unsigned long long)gpa,
				     done, vmmem_strerror(why));
	}
	if (done_out)
		*done_out = done;
	return rc < 0 ? rc : 0;
}

ssize_t
vmmem_memory_read(const struct vmmem_memory *m, uint64_t gpa, void *buf, size_t len)
{
	return transfer_some(m, gpa, buf, len, false);
}

ssize_t
vmmem_memory_write(const struct vmmem_memory *m, uint64_t gpa, const void *buf, size_t len)
{
	/* transfer() only reads from buf when writing to the guest. */
	return transfer_some(m, gpa, (void *)(uintptr_t)buf, len, true);
}

int
vmmem_memory_read_exact(const struct vmmem_memory *m, uint64_t gpa, void *buf, size_t len,
			size_t *done)
{
	return transfer_exact(m, gpa, buf, len, false, done);
}

int
vmmem_memory_write_exact(const struct vmmem_memory *m, uint64_t gpa, const void *buf,
			 size_t len, size_t *done)
{
	return transfer_exact(m, gpa, (void *)(uintptr_t)buf, len, true, done);
}

/* The paths of read_obj/write_obj that are not "small object inside one region": kept out of
 * line and reached by tail calls, so the fast path needs no stack frame. */
static VMM_COLD int read_obj_slow(const struct vmmem_memory *m, uint64_t gpa, void *obj,
				  size_t size)
{
	return transfer_exact(m, gpa, obj, size, false, NULL);
}

static __attribute__((noinline)) int write_obj_slow(const struct vmmem_memory *m, uint64_t gpa,
						    const void *obj, size_t size)
{
	return transfer_exact(m, gpa, (void *)(uintptr_t)obj, size, true, NULL);
}

static __attribute__((noinline)) int write_obj_mark(const struct vmmem_memory *m,
						    const struct vmm_slot *s, uint64_t gpa,
						    size_t size)
{
	vmm_mark_written_slow(m, vmm_slot_region(s), gpa - s->gpa, gpa, size);
	return 0;
}

/* vmmem_memory_read_obj -- an object of up to 8 bytes inside one region inline, the rest via
 * read_exact */
int
vmmem_memory_read_obj(const struct vmmem_memory *m, uint64_t gpa, void *obj, size_t size)
{
	/* size 0 wraps: general path */
	if (likely(size - 1 < 8) && likely(transfer_one_region(m, gpa, obj, size, false)))
		return 0;
	return read_obj_slow(m, gpa, obj, size);
}

int
vmmem_memory_write_obj(const struct vmmem_memory *m, uint64_t gpa, const void *obj, size_t size)
{
	/* transfer_one_region() as read_obj uses it, but with the dirty mark a tail call, so
	 * that the unmarked write saves no register (44 instructions instead of 46). */
	if (likely(m && obj && size - 1 < 8)) {
		const struct vmm_slot *s = vmm_lookup(m, gpa);

		/* One test covers read-only and guarded regions: both take the slow path. */
		if (likely(s && size - 1 <= s->last - gpa &&
			   !(s->region_ro & (VMM_SLOT_RO | VMM_SLOT_GUARDED)))) {
			vmm_copy(s->host + (gpa - s->gpa), obj, size);
			if (unlikely(__atomic_load_n(&vmm_tracked_regions, __ATOMIC_RELAXED) != 0 ||
				     m->vlog != NULL))
				return write_obj_mark(m, s, gpa, size);
			return 0;
		}
	}
	return write_obj_slow(m, gpa, obj, size);
}

/* Host address of a naturally aligned @size-byte value at @gpa, or an error. Bounds are
 * checked before alignment, as vm-memory does. */
static int atomic_target(const struct vmmem_memory *m, uint64_t gpa, unsigned int size,
			 bool store, uint8_t **host, const struct vmm_slot **slot, bool *guarded)
{
	const struct vmm_slot *s = vmm_lookup(m, gpa);
	uint8_t *p;

	if (unlikely(!s))
		return vmm_err_unmapped(gpa);
	if (unlikely(store && vmm_slot_read_only(s)))
		return vmm_err_stop(VMMEM_E_READ_ONLY, gpa);
	if (unlikely(size - 1 > s->last - gpa))
		return vmm_err(VMMEM_E_CROSSES_REGION,
			       "%u-byte access at 0x%llx runs past its region's end 0x%llx", size,
			       (unsigned long long)gpa, (unsigned long long)s->last);
	p = s->host + (gpa - s->gpa);
	if (unlikely((uintptr_t)p & (size - 1)))
		return vmm_err(VMMEM_E_MISALIGNED,
			       "%u-byte atomic access at 0x%llx (host %p) is not aligned", size,
			       (unsigned long long)gpa, (void *)p);
	*host = p;
	*slot = s;
	*guarded = vmm_slot_guarded(s);
	return 0;
}

#define DEFINE_MEMORY_ATOMIC(bits)                                                        \
	int vmmem_memory_load_u##bits(const struct vmmem_memory *m, uint64_t gpa, int order, \
				      uint##bits##_t *out)                                \
	{                                                                                 \
		const struct vmm_slot *s = NULL;                                          \
		bool guarded = false;                                                     \
		uint8_t *p = NULL;                                                        \
		int rc;                                                                   \
                                                                                          \
		VMM_CHECK_ARG(m);                                                         \
		VMM_CHECK_ARG(out);                                                       \
		VMM_CHECK_ARG(vmm_load_order_ok(order));                                  \
		rc = atomic_target(m, gpa, bits / 8, false, &p, &s, &guarded);            \
		if (rc)                                                                   \
			return rc;                                                        \
		if (unlikely(guarded)) {                                                  \
			uint64_t v = 0;                                                   \
			if (!vmm_guarded_atomic(p, bits / 8, false, &v, order))           \
				return vmm_err_gone(gpa);                                 \
			*out = (uint##bits##_t)v;                                         \
			return 0;                                                         \
		}                                                                         \
		*out = vmm_atomic_load##bits(p, order);                                   \
		return 0;                                                                 \
	}                                                                                 \
	int vmmem_memory_store_u##bits(const struct vmmem_memory *m, uint64_t gpa,        \
				       uint##bits##_t val, int order)                     \
	{                                                                                 \
		const struct vmm_slot *s = NULL;                                          \
		bool guarded = false;                                                     \
		uint8_t *p = NULL;                                                        \
		int rc;                                                                   \
                                                                                          \
		VMM_CHECK_ARG(m);                                                         \
		VMM_CHECK_ARG(vmm_store_order_ok(order));                                 \
		rc = atomic_target(m, gpa, bits / 8, true, &p, &s, &guarded);             \
		if (rc)                                                                   \
			return rc;                                                        \
		if (unlikely(guarded)) {                                                  \
			uint64_t v = val;                                                 \
			if (!vmm_guarded_atomic(p, bits / 8, true, &v, order))            \
				return vmm_err_gone(gpa);                                 \
		} else {                                                                  \
			vmm_atomic_store##bits(p, val, order);                            \
		}                                                                         \
		vmm_mark_written(m, vmm_slot_region(s), gpa - s->gpa, gpa, bits / 8);     \
		return 0;                                                                 \
	}

DEFINE_MEMORY_ATOMIC(8)
DEFINE_MEMORY_ATOMIC(16)
DEFINE_MEMORY_ATOMIC(32)
DEFINE_MEMORY_ATOMIC(64)

/* The body of vmmem_memory_translate() and of the cache's fill (@c may be NULL); the
 * callers have checked their arguments. */
static int translate_into(const struct vmmem_memory *m, uint64_t gpa, unsigned int access,
			  void **host, uint64_t *contiguous, struct vmmem_translate_cache *c)
{
	const struct vmm_slot *s = vmm_lookup(m, gpa);

	if (unlikely(!s))
		return vmm_err_unmapped(gpa);
	if (unlikely((access & VMMEM_ACCESS_WRITE) && vmm_slot_read_only(s)))
		return vmm_err_stop(VMMEM_E_READ_ONLY, gpa);
	if (c) {
		c->memory = m;
		c->gpa = s->gpa;
		c->last = s->last;
		c->host = s->host;
		c->read_only = vmm_slot_read_only(s) ? 1u : 0u;
		c->reserved = 0;
	}
	*host = s->host + (gpa - s->gpa);
	if (contiguous)
		*contiguous = s->last - gpa + 1;
	return 0;
}

int
vmmem_memory_translate(const struct vmmem_memory *m, uint64_t gpa, unsigned int access,
		       void **host, uint64_t *contiguous)
{
	VMM_CHECK_ARG(host);
	*host = NULL;
	VMM_CHECK_ARG(m);
	VMM_CHECK_ARG(vmm_access_ok(access));
	return translate_into(m, gpa, access, host, contiguous, NULL);
}

/* vmmem_translate_cache_fill -- the miss path of vmmem_memory_translate_cached() */
int
vmmem_translate_cache_fill(struct vmmem_translate_cache *c, const struct vmmem_memory *m,
			   uint64_t gpa, unsigned int access, void **host, uint64_t *contiguous)
{
	VMM_CHECK_ARG(host);
	*host = NULL;
	VMM_CHECK_ARG(c);
	VMM_CHECK_ARG(m);
	VMM_CHECK_ARG(vmm_access_ok(access));
	return translate_into(m, gpa, access, host, contiguous, c);
}
