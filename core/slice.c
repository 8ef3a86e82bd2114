/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Bounded views of guest memory (VolatileSlice) and typed element arrays (VolatileRef,
 * VolatileArrayRef). Every offset is checked against the view's own length. */
#include <limits.h>
#include <stdlib.h>

#include <vmmem/access.h>
#include <vmmem/slice.h>

#include "copy.h"
#include "dirty.h"
#include "error.h"
#include "guard.h"
#include "memory.h"
#include "walk.h"

static void slice_set(struct vmmem_slice *out, uint8_t *ptr, size_t len,
		      const struct vmmem_region *region, const struct vmmem_memory *memory,
		      uint64_t region_offset, uint32_t flags)
{
	*out = (struct vmmem_slice){
		.ptr = ptr,
		.len = len,
		.region = region,
		.memory = memory,
		.region_offset = region_offset,
		.flags = flags,
	};
}

/* Record a write of [off, off + len) of @s (len > 0) for dirty tracking. */
static void slice_written(const struct vmmem_slice *s, size_t off, size_t len)
{
	if (s->region && len)
		vmm_mark_written(s->memory, s->region, s->region_offset + off,
				 s->region->gpa + s->region_offset + off, len);
}

/* Copy @n bytes between a buffer and view @s's bytes at @off (whichever of @dst/@src is the
 * view's side): a plain copy, or a guarded one for a region a peer can take away. 0, or the
 * error of a guest page that is gone. */
static int slice_copy(const struct vmmem_slice *s, size_t off, void *dst, const void *src,
		      size_t n)
{
	if (likely(vmm_region_copy(s->region, dst, src, n, s->ptr + off) == n))
		return 0;
	return vmm_err_gone(s->region->gpa + s->region_offset + off);
}

static int err_bounds(size_t off, size_t len, size_t limit)
{
	return vmm_err(VMMEM_E_OUT_OF_BOUNDS, "range 0x%zx + 0x%zx is outside a view of 0x%zx bytes",
		       off, len, limit);
}

static int err_read_only(void)
{
	return vmm_err(VMMEM_E_READ_ONLY, "view is read-only");
}

/* Is [off, off + len) inside a view of @limit bytes? -EOVERFLOW / OUT_OF_BOUNDS if not. */
static int check_span(size_t off, size_t len, size_t limit)
{
	size_t end;

	if (__builtin_add_overflow(off, len, &end))
		return vmm_err(-EOVERFLOW, "offset 0x%zx + length 0x%zx wraps", off, len);
	if (end > limit)
		return err_bounds(off, len, limit);
	return 0;
}

int
vmmem_slice_from_buffer(struct vmmem_slice *out, void *ptr, size_t len, uint32_t flags)
{
	uintptr_t end;

	VMM_CHECK_ARG(out);
	VMM_CHECK_ARG(ptr || len == 0);
	VMM_CHECK_ARG(!(flags & ~VMMEM_SLICE_READ_ONLY));
	VMM_CHECK_ARG(!__builtin_add_overflow((uintptr_t)ptr, len, &end));
	slice_set(out, ptr, len, NULL, NULL, 0, flags);
	return 0;
}

/* A view of @len bytes at @offset of region @r (of memory @m, or NULL), for @access. */
static int region_view(const struct vmmem_region *r, const struct vmmem_memory *m,
		       uint64_t offset, size_t len, unsigned int access, struct vmmem_slice *out)
{
	bool ro = r->flags & VMMEM_REGION_READ_ONLY;

	if (ro && (access & VMMEM_ACCESS_WRITE))
		return vmm_err(VMMEM_E_READ_ONLY, "write view of read-only region at 0x%llx",
			       (unsigned long long)r->gpa);
	slice_set(out, r->host + offset, len, r, m, offset, ro ? VMMEM_SLICE_READ_ONLY : 0);
	return 0;
}

int
vmmem_memory_get_slice(const struct vmmem_memory *m, uint64_t gpa, size_t len,
		       unsigned int access, struct vmmem_slice *out)
{
	const struct vmm_slot *s;

	VMM_CHECK_ARG(m);
	VMM_CHECK_ARG(out);
	VMM_CHECK_ARG(vmm_access_ok(access));
	if (vmm_range_wraps(gpa, len))
		return vmm_err_wraps(gpa, len);
	s = vmm_lookup(m, gpa);
	if (!s)
		return vmm_err_unmapped(gpa);
	if (len && len - 1 > s->last - gpa)
		return vmm_err(VMMEM_E_CROSSES_REGION,
			       "guest range 0x%llx + 0x%zx runs past its region's end 0x%llx",
			       (unsigned long long)gpa, len, (unsigned long long)s->last);
	return region_view(vmm_slot_region(s), m, gpa - s->gpa, len, access, out);
}

int
vmmem_region_get_slice(const struct vmmem_region *r, uint64_t offset, size_t len,
		       unsigned int access, struct vmmem_slice *out)
{
	uint64_t end;

	VMM_CHECK_ARG(r);
	VMM_CHECK_ARG(out);
	VMM_CHECK_ARG(vmm_access_ok(access));
	if (__builtin_add_overflow(offset, (uint64_t)len, &end))
		return vmm_err(-EOVERFLOW, "region offset 0x%llx + 0x%zx wraps",
			       (unsigned long long)offset, len);
	if (end > r->size)
		return vmm_err(VMMEM_E_OUT_OF_BOUNDS,
			       "region offset 0x%llx + 0x%zx is past its size 0x%llx",
			       (unsigned long long)offset, len, (unsigned long long)r->size);
	return region_view(r, NULL, offset, len, access, out);
}

int
vmmem_slice_subslice(const struct vmmem_slice *s, size_t off, size_t len, struct vmmem_slice *out)
{
	int rc;

	VMM_CHECK_ARG(s);
	VMM_CHECK_ARG(out);
	rc = check_span(off, len, s->len);
	if (rc)
		return rc;
	/* out may alias s: read s completely before writing. */
	slice_set(out, s->ptr + off, len, s->region, s->memory, s->region_offset + off, s->flags);
	return 0;
}

int
vmmem_slice_offset(const struct vmmem_slice *s, size_t n, struct vmmem_slice *out)
{
	VMM_CHECK_ARG(s);
	VMM_CHECK_ARG(out);
	if (n > s->len)
		return err_bounds(n, 0, s->len);
	return vmmem_slice_subslice(s, n, s->len - n, out);
}

int
vmmem_slice_split_at(const struct vmmem_slice *s, size_t mid, struct vmmem_slice *head,
		     struct vmmem_slice *tail)
{
	struct vmmem_slice h, t;

	VMM_CHECK_ARG(s);
	if (mid > s->len)
		return err_bounds(mid, 0, s->len);
	slice_set(&h, s->ptr, mid, s->region, s->memory, s->region_offset, s->flags);
	slice_set(&t, s->ptr + mid, s->len - mid, s->region, s->memory, s->region_offset + mid,
		  s->flags);
	if (head)
		*head = h;
	if (tail)
		*tail = t;
	return 0;
}

ssize_t
vmmem_slice_copy_to(const struct vmmem_slice *s, void *buf, size_t len)
{
	size_t n;
	int rc;

	VMM_CHECK_ARG(s);
	VMM_CHECK_ARG(buf || len == 0);
	n = len < s->len ? len : s->len;
	VMM_CHECK_ARG(n <= SSIZE_MAX);
	rc = slice_copy(s, 0, buf, s->ptr, n);
	return rc ? rc : (ssize_t)n;
}

ssize_t
vmmem_slice_copy_from(const struct vmmem_slice *s, const void *buf, size_t len)
{
	size_t n;
	int rc;

	VMM_CHECK_ARG(s);
	VMM_CHECK_ARG(buf || len == 0);
	if (s->flags & VMMEM_SLICE_READ_ONLY)
		return err_read_only();
	n = len < s->len ? len : s->len;
	VMM_CHECK_ARG(n <= SSIZE_MAX);
	rc = slice_copy(s, 0, s->ptr, buf, n);
	if (rc)
		return rc;
	slice_written(s, 0, n);
	return (ssize_t)n;
}

ssize_t
vmmem_slice_copy_to_slice(const struct vmmem_slice *src, const struct vmmem_slice *dst)
{
	size_t n;

	VMM_CHECK_ARG(src);
	VMM_CHECK_ARG(dst);
	if (dst->flags & VMMEM_SLICE_READ_ONLY)
		return err_read_only();
	n = src->len < dst->len ? src->len : dst->len;
	VMM_CHECK_ARG(n <= SSIZE_MAX);
	/* The views may overlap (vm-memory uses memmove too). Guarded regions go through a
	 * bounce buffer: each side's copy then faults only on its own pages. */
	if (unlikely((src->region && src->region->guarded) ||
		     (dst->region && dst->region->guarded)) && n) {
		uint8_t *bounce = malloc(n);
		int rc;

		if (!bounce)
			return vmm_err(-ENOMEM, "copy between views: out of memory");
		rc = slice_copy(src, 0, bounce, src->ptr, n);
		if (rc == 0)
			rc = slice_copy(dst, 0, dst->ptr, bounce, n);
		free(bounce);
		if (rc)
			return rc;
	} else {
		memmove(dst->ptr, src->ptr, n);
	}
	slice_written(dst, 0, n);
	return (ssize_t)n;
}

/* Bytes available for a transfer of @len at @off (Bytes<usize> rules), or an error.
 * The caller has checked @s. */
static ssize_t slice_span(const struct vmmem_slice *s, size_t off, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	VMM_CHECK_ARG(buf);
	VMM_CHECK_ARG(len <= SSIZE_MAX);
	if (off >= s->len)
		return err_bounds(off, len, s->len);
	return (ssize_t)(len < s->len - off ? len : s->len - off);
}

ssize_t
vmmem_slice_read(const struct vmmem_slice *s, size_t off, void *buf, size_t len)
{
	ssize_t n;

	VMM_CHECK_ARG(s);
	n = slice_span(s, off, buf, len);

	if (n > 0) {
		int rc = slice_copy(s, (size_t)off, buf, s->ptr + off, (size_t)n);

		if (rc)
			return rc;
	}
	return n;
}

ssize_t
vmmem_slice_write(const struct vmmem_slice *s, size_t off, const void *buf, size_t len)
{
	ssize_t n;

	VMM_CHECK_ARG(s);
	n = slice_span(s, off, buf, len);

	if (n > 0) {
		if (s->flags & VMMEM_SLICE_READ_ONLY)
			return err_read_only();
		int rc = slice_copy(s, off, s->ptr + off, buf, (size_t)n);

		if (rc)
			return rc;
		slice_written(s, off, (size_t)n);
	}
	return n;
}

static int obj_result(ssize_t n, size_t size)
{
	if (n < 0)
		return (int)n;
	if ((size_t)n < size)
		return vmm_err(VMMEM_E_PARTIAL, "object of 0x%zx bytes: only 0x%zx inside the view",
			       size, (size_t)n);
	return 0;
}

int
vmmem_slice_read_obj(const struct vmmem_slice *s, size_t off, void *obj, size_t size)
{
	return obj_result(vmmem_slice_read(s, off, obj, size), size);
}

int
vmmem_slice_write_obj(const struct vmmem_slice *s, size_t off, const void *obj, size_t size)
{
	return obj_result(vmmem_slice_write(s, off, obj, size), size);
}

/* Host address of an aligned @size-byte atomic value at @off: bounds, then alignment. */
static int slice_atomic_target(const struct vmmem_slice *s, size_t off, size_t size, bool store,
			       uint8_t **p)
{
	int rc = check_span(off, size, s->len);

	if (rc)
		return rc;
	if ((uintptr_t)(s->ptr + off) & (size - 1))
		return vmm_err(VMMEM_E_MISALIGNED, "%zu-byte atomic access at %p is not aligned",
			       size, (void *)(s->ptr + off));
	if (store && (s->flags & VMMEM_SLICE_READ_ONLY))
		return err_read_only();
	*p = s->ptr + off;
	return 0;
}

#define DEFINE_SLICE_ATOMIC(bits)                                                         \
	int vmmem_slice_load_u##bits(const struct vmmem_slice *s, size_t off, int order,  \
				     uint##bits##_t *out)                                 \
	{                                                                                 \
		uint8_t *p = NULL;                                                        \
		int rc;                                                                   \
                                                                                          \
		VMM_CHECK_ARG(s);                                                         \
		VMM_CHECK_ARG(out);                                                       \
		VMM_CHECK_ARG(vmm_load_order_ok(order));                                  \
		rc = slice_atomic_target(s, off, bits / 8, false, &p);                    \
		if (rc)                                                                   \
			return rc;                                                        \
		*out = vmm_atomic_load##bits(p, order);                                   \
		return 0;                                                                 \
	}                                                                                 \
	int vmmem_slice_store_u##bits(const struct vmmem_slice *s, size_t off,            \
				      uint##bits##_t val, int order)                      \
	{                                                                                 \
		uint8_t *p = NULL;                                                        \
		int rc;                                                                   \
                                                                                          \
		VMM_CHECK_ARG(s);                                                         \
		VMM_CHECK_ARG(vmm_store_order_ok(order));                                 \
		rc = slice_atomic_target(s, off, bits / 8, true, &p);                     \
		if (rc)                                                                   \
			return rc;                                                        \
		vmm_atomic_store##bits(p, val, order);                                    \
		slice_written(s, off, bits / 8);                                          \
		return 0;                                                                 \
	}

DEFINE_SLICE_ATOMIC(8)
DEFINE_SLICE_ATOMIC(16)
DEFINE_SLICE_ATOMIC(32)
DEFINE_SLICE_ATOMIC(64)

int
vmmem_slice_get_array(const struct vmmem_slice *s, size_t off, size_t elem_size, size_t count,
		      struct vmmem_array *out)
{
	struct vmmem_slice view;
	size_t total;
	int rc;

	VMM_CHECK_ARG(s);
	VMM_CHECK_ARG(out);
	VMM_CHECK_ARG(elem_size > 0);
	if (__builtin_mul_overflow(elem_size, count, &total) || total > SSIZE_MAX)
		return vmm_err(-EOVERFLOW, "array of %zu elements of %zu bytes is too big", count,
			       elem_size);
	rc = vmmem_slice_subslice(s, off, total, &view);
	if (rc)
		return rc;
	*out = (struct vmmem_array){ .slice = view, .elem_size = elem_size, .count = count };
	return 0;
}

int
vmmem_slice_get_ref(const struct vmmem_slice *s, size_t off, size_t size, struct vmmem_array *out)
{
	return vmmem_slice_get_array(s, off, size, 1, out);
}

static int check_index(const struct vmmem_array *a, size_t index)
{
	if (index >= a->count)
		return vmm_err(VMMEM_E_OUT_OF_BOUNDS, "index %zu of an array of %zu elements", index,
			       a->count);
	return 0;
}

int
vmmem_array_load(const struct vmmem_array *a, size_t index, void *out)
{
	int rc;

	VMM_CHECK_ARG(a);
	VMM_CHECK_ARG(out);
	rc = check_index(a, index);
	if (rc)
		return rc;
	if (unlikely(a->slice.region && a->slice.region->guarded))
		return slice_copy(&a->slice, index * a->elem_size, out,
				  a->slice.ptr + index * a->elem_size, a->elem_size);
	vmm_copy_element(out, a->slice.ptr + index * a->elem_size, a->elem_size);
	return 0;
}

int
vmmem_array_store(const struct vmmem_array *a, size_t index, const void *in)
{
	int rc;

	VMM_CHECK_ARG(a);
	VMM_CHECK_ARG(in);
	rc = check_index(a, index);
	if (rc)
		return rc;
	if (a->slice.flags & VMMEM_SLICE_READ_ONLY)
		return err_read_only();
	if (unlikely(a->slice.region && a->slice.region->guarded)) {
		rc = slice_copy(&a->slice, index * a->elem_size,
				a->slice.ptr + index * a->elem_size, in, a->elem_size);
		if (rc)
			return rc;
	} else {
		vmm_copy_element(a->slice.ptr + index * a->elem_size, in, a->elem_size);
	}
	slice_written(&a->slice, index * a->elem_size, a->elem_size);
	return 0;
}

int
vmmem_array_ref_at(const struct vmmem_array *a, size_t index, struct vmmem_array *out)
{
	int rc;

	VMM_CHECK_ARG(a);
	VMM_CHECK_ARG(out);
	rc = check_index(a, index);
	if (rc)
		return rc;
	return vmmem_slice_get_array(&a->slice, index * a->elem_size, a->elem_size, 1, out);
}

/* Element-wise copy so 2/4/8-byte elements are never torn; bytes go in one block. */
static void copy_elements(uint8_t *dst, const uint8_t *src, size_t n, size_t elem_size)
{
	if (elem_size == 1) {
		vmm_copy(dst, src, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		vmm_copy_element(dst + i * elem_size, src + i * elem_size, elem_size);
}

ssize_t
vmmem_array_copy_to(const struct vmmem_array *a, void *buf, size_t n)
{
	VMM_CHECK_ARG(a);
	VMM_CHECK_ARG(buf || n == 0);
	n = n < a->count ? n : a->count;
	if (unlikely(a->slice.region && a->slice.region->guarded)) {
		int rc = slice_copy(&a->slice, 0, buf, a->slice.ptr, n * a->elem_size);

		return rc ? rc : (ssize_t)n;
	}
	copy_elements(buf, a->slice.ptr, n, a->elem_size);
	return (ssize_t)n;
}

ssize_t
vmmem_array_copy_from(const struct vmmem_array *a, const void *buf, size_t n)
{
	VMM_CHECK_ARG(a);
	VMM_CHECK_ARG(buf || n == 0);
	if (a->slice.flags & VMMEM_SLICE_READ_ONLY)
		return err_read_only();
	n = n < a->count ? n : a->count;
	if (unlikely(a->slice.region && a->slice.region->guarded)) {
		int rc = slice_copy(&a->slice, 0, a->slice.ptr, buf, n * a->elem_size);

		if (rc)
			return rc;
	} else {
		copy_elements(a->slice.ptr, buf, n, a->elem_size);
	}
	slice_written(&a->slice, 0, n * a->elem_size);
	return (ssize_t)n;
}
