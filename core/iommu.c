/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The IOMMU view (vmmem/iommu.h): accesses by IOVA, translated through the IOTLB, then
 * made by the plain memory calls on the guest-physical pieces, so region lookup, guards,
 * read-only checks and dirty marking (by GPA) are the ones every other access uses.
 *
 * Every call runs inside a read section of the process-wide epoch domain, which keeps the
 * memory and the IOTLB table it looked at alive; it enters one itself when the caller has
 * none (and then leaves it around the miss handler, which may block). A hit costs the
 * section check, the per-thread hint compare and the plain access; only a miss or refusal
 * calls the handler.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

#include <vmmem/access.h>
#include <vmmem/io.h>
#include <vmmem/iommu.h>

#include "atomic.h"
#include "copy.h"
#include "error.h"
#include "iotlb.h"
#include "memory.h"
#include "util.h"

/* A handler that keeps answering "resolved" without resolving gets this many calls. */
#define MISS_RETRIES 8
/* Pieces translated per batch of a long transfer (the whole range is checked first). */
#define BATCH 16

struct vmmem_iommu {
	struct vmmem_atomic *mem; /* with a reference */
	struct vmmem_iotlb *tlb;  /* with a reference */
	int enabled;              /* atomic */
	vmmem_iommu_miss_fn miss; /* atomic */
	void *miss_opaque;        /* atomic */
	unsigned long refs;       /* atomic */
};

int vmmem_iommu_new(struct vmmem_iommu **out, struct vmmem_atomic *mem, struct vmmem_iotlb *tlb)
{
	struct vmmem_iommu *io;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(mem);
	VMM_CHECK_ARG(tlb);
	io = calloc(1, sizeof(*io));
	if (!io)
		return vmm_err(-ENOMEM, "iommu: out of memory");
	io->mem = vmmem_atomic_ref(mem);
	io->tlb = vmmem_iotlb_ref(tlb);
	io->enabled = 1;
	io->refs = 1;
	*out = io;
	return 0;
}

struct vmmem_iommu *vmmem_iommu_ref(struct vmmem_iommu *io)
{
	if (io)
		vmm_ref_inc(&io->refs);
	return io;
}

struct vmmem_iommu *vmmem_iommu_unref(struct vmmem_iommu *io)
{
	if (!io || !vmm_ref_dec_is_last(&io->refs))
		return NULL;
	vmmem_iotlb_unref(io->tlb);
	vmmem_atomic_unref(io->mem);
	free(io);
	return NULL;
}

int vmmem_iommu_set_enabled(struct vmmem_iommu *io, int enabled)
{
	VMM_CHECK_ARG(io);
	__atomic_store_n(&io->enabled, enabled ? 1 : 0, __ATOMIC_RELAXED);
	return 0;
}

int vmmem_iommu_enabled(const struct vmmem_iommu *io)
{
	VMM_CHECK_ARG(io);
	return __atomic_load_n(&io->enabled, __ATOMIC_RELAXED);
}

int vmmem_iommu_set_miss_handler(struct vmmem_iommu *io, vmmem_iommu_miss_fn fn, void *opaque)
{
	VMM_CHECK_ARG(io);
	__atomic_store_n(&io->miss_opaque, opaque, __ATOMIC_RELAXED);
	__atomic_store_n(&io->miss, fn, __ATOMIC_RELEASE);
	return 0;
}

struct vmmem_iotlb *vmmem_iommu_iotlb(const struct vmmem_iommu *io)
{
	return io ? io->tlb : NULL;
}

struct vmmem_atomic *vmmem_iommu_memory(const struct vmmem_iommu *io)
{
	return io ? io->mem : NULL;
}

const struct vmmem_memory *vmmem_iommu_acquire(struct vmmem_iommu *io)
{
	struct vmm_section_pin *pin = &vmm_section_pin;
	const struct vmmem_memory *m = io ? vmmem_atomic_acquire(io->mem) : NULL;

	if (!m)
		return NULL;
	if (pin->owner == io->mem) /* nested: the outer guard's memory stays the one in use */
		return pin->memory;
	if (!pin->owner)
		*pin = (struct vmm_section_pin){ .owner = io->mem, .memory = m };
	return m;
}

void vmmem_iommu_release(struct vmmem_iommu *io, const struct vmmem_memory *m)
{
	if (io)
		vmmem_atomic_release(io->mem, m);
}

/* The memory accesses use: the one vmmem_iommu_acquire() returned for this section, else
 * the one published now (inside a section either way). */
static inline const struct vmmem_memory *mem_of(const struct vmmem_iommu *io)
{
	const struct vmm_section_pin *pin = &vmm_section_pin;

	return pin->owner == io->mem ? pin->memory : vmm_atomic_current(io->mem);
}

/* ---- translation with the miss handler ----------------------------------------------- */

/* A call's read section: entered here unless the caller already is in one. */
struct section {
	bool owned;
};

static inline int section_enter(struct section *s)
{
	s->owned = !vmm_rcu_held();
	return s->owned ? vmm_rcu_enter() : 0;
}

static inline void section_exit(const struct section *s)
{
	if (s->owned)
		vmm_rcu_exit();
}

/*
 * The table that translates all of [iova, iova + len) for @access (len >= 1, no wrap),
 * after asking the miss handler as often as it resolves something. NULL with *rc set on
 * failure (message set).
 */
static VMM_COLD const struct vmm_iotlb_table *
resolve(struct vmmem_iommu *io, const struct section *s, uint64_t iova, uint64_t len,
	unsigned int access, int *rc)
{
	for (unsigned int tries = 0;; tries++) {
		const struct vmm_iotlb_table *t = vmm_iotlb_table(io->tlb);
		vmmem_iommu_miss_fn fn = __atomic_load_n(&io->miss, __ATOMIC_ACQUIRE);
		struct vmmem_iova_fault fault;
		size_t n;
		int h;

		*rc = vmm_iotlb_walk(t, iova, len, access, NULL, 0, &n, &fault);
		if (*rc == 0)
			return t;
		if (!fn) {
			vmm_iotlb_fault_err(&fault);
			return NULL;
		}
		if (tries == MISS_RETRIES) {
			*rc = vmm_err(-ELOOP, "iommu: the miss handler returned 0 %u times but iova "
				      "0x%" PRIx64 " (%" PRIu64 " bytes) still fails (%s)",
				      MISS_RETRIES, fault.iova, fault.len, vmmem_strerror(fault.error));
			return NULL;
		}
		/* Outside our own section the handler may block (it may wait for a front-end
		 * whose answer needs a writer that synchronizes). */
		if (s->owned)
			vmm_rcu_exit();
		h = fn(__atomic_load_n(&io->miss_opaque, __ATOMIC_RELAXED), &fault);
		if (s->owned && vmm_rcu_enter()) { /* cannot fail: this thread has its record */
			*rc = -ENOMEM;
			return NULL;
		}
		if (h == 0)
			continue;
		if (h == -EAGAIN) {
			*rc = vmm_iotlb_fault_err(&fault);
			return NULL;
		}
		*rc = vmm_err(h < 0 ? h : -EIO, "iommu: the miss handler failed for iova 0x%" PRIx64
			      " (%" PRIu64 " bytes): %s", fault.iova, fault.len,
			      vmmem_strerror(h < 0 ? h : -EIO));
		return NULL;
	}
}

/* The GPA of [iova, iova + len) if one IOTLB entry holds it (the fast path), else 0 in
 * *pieces and the table to walk. Returns 0 or an error. Inside a section. */
static inline int translate_one(struct vmmem_iommu *io, const struct section *s, uint64_t iova,
				uint64_t len, unsigned int access, uint64_t *gpa,
				const struct vmm_iotlb_table **table)
{
	const struct vmm_iotlb_table *t = vmm_iotlb_table(io->tlb);
	int rc;

	if (likely(vmm_iotlb_one(io->tlb, t, iova, len, access, gpa))) {
		*table = NULL;
		return 0;
	}
	t = resolve(io, s, iova, len, access, &rc);
	if (!t)
		return rc;
	*table = t;
	if (vmm_iotlb_one(io->tlb, t, iova, len, access, gpa))
		*table = NULL;
	return 0;
}

static inline bool enabled(const struct vmmem_iommu *io)
{
	return __atomic_load_n(&io->enabled, __ATOMIC_RELAXED) != 0;
}

/* ---- copies -------------------------------------------------------------------------- */

/* Copy [iova, iova + len) through table @t (which translates all of it) piece by piece,
 * with the plain calls' partial semantics. */
static ssize_t copy_pieces(const struct vmmem_memory *m, const struct vmm_iotlb_table *t,
			   uint64_t iova, void *buf, size_t len, bool write)
{
	const unsigned int access = write ? VMMEM_ACCESS_WRITE : VMMEM_ACCESS_READ;
	struct vmmem_iotlb_range p[BATCH];
	size_t done = 0;

	while (done < len) {
		size_t n;

		if (vmm_iotlb_walk(t, iova + done, len - done, access, p, BATCH, &n, NULL))
			return vmm_err(-EIO, "iommu: table changed under a section"); /* cannot */
		for (size_t i = 0; i < n && i < BATCH; i++) {
			uint8_t *b = (uint8_t *)buf + done;
			ssize_t r = write ? vmmem_memory_write(m, p[i].gpa, b, p[i].len)
					  : vmmem_memory_read(m, p[i].gpa, b, p[i].len);

			if (r < 0)
				return done ? (ssize_t)done : r;
			done += (size_t)r;
			if ((uint64_t)r < p[i].len)
				return (ssize_t)done;
		}
	}
	return (ssize_t)done;
}

static ssize_t transfer(struct vmmem_iommu *io, uint64_t iova, void *buf, size_t len, bool write)
{
	const unsigned int access = write ? VMMEM_ACCESS_WRITE : VMMEM_ACCESS_READ;
	const struct vmm_iotlb_table *t = NULL;
	const struct vmmem_memory *m;
	struct section s;
	uint64_t gpa = 0; /* set when translate_one leaves t NULL */
	ssize_t r;
	int rc;

	VMM_CHECK_ARG(io);
	VMM_CHECK_ARG(buf || len == 0);
	if (len > SSIZE_MAX)
		return vmm_err(-EINVAL, "iommu: length %zu is larger than SSIZE_MAX", len);
	if (vmm_range_wraps(iova, len))
		return vmm_err(-EOVERFLOW, "iommu: iova 0x%" PRIx64 " + %zu passes 2^64", iova, len);
	if (len == 0)
		return 0;
	rc = section_enter(&s);
	if (rc)
		return rc;
	if (!enabled(io)) {
		m = mem_of(io);
		r = write ? vmmem_memory_write(m, iova, buf, len) : vmmem_memory_read(m, iova, buf, len);
	} else if ((rc = translate_one(io, &s, iova, len, access, &gpa, &t)) != 0) {
		r = rc;
	} else {
		m = mem_of(io);
		if (!t)
			r = write ? vmmem_memory_write(m, gpa, buf, len)
				  : vmmem_memory_read(m, gpa, buf, len);
		else
			r = copy_pieces(m, t, iova, buf, len, write);
	}
	section_exit(&s);
	return r;
}

ssize_t vmmem_iommu_read(struct vmmem_iommu *io, uint64_t iova, void *buf, size_t len)
{
	return transfer(io, iova, buf, len, false);
}

ssize_t vmmem_iommu_write(struct vmmem_iommu *io, uint64_t iova, const void *buf, size_t len)
{
	return transfer(io, iova, (void *)buf, len, true);
}

static int exact(ssize_t r, size_t len, size_t *done, uint64_t iova)
{
	if (done)
		*done = r > 0 ? (size_t)r : 0;
	if (r < 0)
		return (int)r;
	if ((size_t)r < len)
		return vmm_err(VMMEM_E_PARTIAL, "iommu: only %zd of %zu bytes at iova 0x%" PRIx64
			       " are backed by guest memory", r, len, iova);
	return 0;
}

int vmmem_iommu_read_exact(struct vmmem_iommu *io, uint64_t iova, void *buf, size_t len,
			   size_t *done)
{
	return exact(transfer(io, iova, buf, len, false), len, done, iova);
}

int vmmem_iommu_write_exact(struct vmmem_iommu *io, uint64_t iova, const void *buf, size_t len,
			    size_t *done)
{
	return exact(transfer(io, iova, (void *)buf, len, true), len, done, iova);
}

/*
 * Read an object at the GPA a hint hit translated to (the hint's IOVAs [first, last] read
 * from GPA value...): the region lookup and the copy inline (what vmmem_memory_read_obj
 * does), anything unusual (guarded region, crossing) through it. Also records in the hint
 * where the part of its IOVAs that this region holds lives in the host, so that the next
 * read there goes straight to host memory. Valid for the section, as the hint is: the
 * memory used (pinned, or the one published) stays mapped until it ends.
 */
static inline int read_obj_hinted(struct vmmem_iommu *io, uint64_t gpa, void *obj, size_t size)
{
	struct vmm_section_hint *h = &vmm_section_hint;
	const struct vmmem_memory *m = mem_of(io);
	const struct vmm_slot *s = vmm_lookup(m, gpa);

	if (likely(s && size - 1 <= s->last - gpa && !vmm_slot_guarded(s))) {
		uint64_t g_end = h->value + (h->last - h->first); /* no wrap: an entry's GPAs */
		uint64_t g_lo = h->value > s->gpa ? h->value : s->gpa;
		uint64_t g_hi = g_end < s->last ? g_end : s->last;

		h->view = io;
		h->host_first = h->first + (g_lo - h->value);
		h->host_span = g_hi - g_lo;
		h->host = s->host + (g_lo - s->gpa);
		vmm_copy(obj, s->host + (gpa - s->gpa), size);
		return 0;
	}
	return vmmem_memory_read_obj(m, gpa, obj, size);
}

/*
 * Objects whose translation is not the hint's: the indexed lookup inside the caller's
 * section (the common case with many entries), else the general path (no section of the
 * caller's, a miss or refusal, a piece boundary inside the object, bad arguments: the
 * checks and messages of transfer()).
 */
static __attribute__((noinline)) int object_slow(struct vmmem_iommu *io, uint64_t iova,
						 void *obj, size_t size, bool write)
{
	const unsigned int access = write ? VMMEM_ACCESS_WRITE : VMMEM_ACCESS_READ;
	const struct vmm_iotlb_table *t = NULL;
	struct section s;
	uint64_t gpa = 0; /* set when translate_one leaves t NULL */
	int rc;

	if (!io || !obj || size == 0 || size > SSIZE_MAX || vmm_range_wraps(iova, size) ||
	    !enabled(io))
		return exact(transfer(io, iova, obj, size, write), size, NULL, iova);
	if (likely(size <= 8 && vmm_rcu_held()) &&
	    vmm_iotlb_find(io->tlb, vmm_iotlb_table(io->tlb), iova, size, access, &gpa))
		return write ? vmmem_memory_write_obj(mem_of(io), gpa, obj, size)
			     : read_obj_hinted(io, gpa, obj, size);
	rc = section_enter(&s);
	if (rc)
		return rc;
	rc = translate_one(io, &s, iova, size, access, &gpa, &t);
	if (rc == 0) {
		const struct vmmem_memory *m = mem_of(io);

		if (t)
			rc = exact(copy_pieces(m, t, iova, obj, size, write), size, NULL, iova);
		else
			rc = write ? vmmem_memory_write_obj(m, gpa, obj, size)
				   : vmmem_memory_read_obj(m, gpa, obj, size);
	}
	section_exit(&s);
	return rc;
}

/* What the cells of the table did not translate: the entries through the bucket index,
 * else the general way (a miss, a refusal, an object across a piece boundary). */
static __attribute__((noinline)) int read_obj_by_entry(struct vmmem_iommu *io,
						       const struct vmm_iotlb_table *t,
						       uint64_t iova, void *obj, size_t size)
{
	const struct vmm_iotlb_entry *e = vmm_iotlb_entry_at(t, iova);

	if (likely(e && size - 1 <= e->last - iova && (VMM_IOTLB_PERM(e) & VMMEM_ACCESS_READ)))
		return vmmem_memory_read_obj(mem_of(io), e->gpa + (iova - e->iova), obj, size);
	return object_slow(io, iova, obj, size, false);
}

/*
 * A small object outside the hint's host window, while the hint is this IOTLB's: the hint
 * exists only inside the section that found it, so the caller is in a read section and the
 * table can be used at once (no section check, no argument checks again). The table's cell
 * for the IOVA, then the one-region memory's lookup and the copy; everything else (another
 * entry of the bucket, several regions) in calls made last, so that this path needs no
 * stack frame. The hint and its window are left as they are (with reads spread over many
 * entries, refreshing them on every call costs more than it saves).
 */
static __attribute__((noinline)) int read_obj_in_section(struct vmmem_iommu *io, uint64_t iova,
							 void *obj, size_t size,
							 const struct vmmem_iotlb *tlb)
{
	const struct vmm_iotlb_table *t = vmm_iotlb_table(tlb);
	const struct vmmem_memory *m;
	const struct vmm_slot *s;
	uint64_t gpa;

	if (unlikely(!vmm_iotlb_cell_find(t, iova, size, VMMEM_ACCESS_READ, &gpa)))
		return read_obj_by_entry(io, t, iova, obj, size);
	m = mem_of(io);
	s = m->slots;
	if (likely(m->count == 1) && likely(gpa - s->gpa <= s->last - s->gpa) &&
	    likely(size - 1 <= s->last - gpa) && likely(!vmm_slot_guarded(s))) {
		vmm_copy(obj, s->host + (gpa - s->gpa), size);
		return 0;
	}
	return vmmem_memory_read_obj(m, gpa, obj, size);
}

/* The hit path of a small object: a hint exists only inside the section that found it, so
 * a hit needs no separate section check. Nothing here needs a stack frame. */
int vmmem_iommu_read_obj(struct vmmem_iommu *io, uint64_t iova, void *obj, size_t size)
{
	const struct vmm_section_hint *h = &vmm_section_hint;

	if (likely(io && obj && size - 1 < 8) && likely(enabled(io)) &&
	    likely(h->owner == io->tlb)) {
		/* Translated before in this section, in a region already found: host memory
		 * straight away (the hint was made for reading, by this view). */
		if (likely(h->view == io) && iova - h->host_first <= h->host_span &&
		    size - 1 <= h->host_span - (iova - h->host_first)) {
			vmm_copy(obj, h->host + (iova - h->host_first), size);
			return 0;
		}
		return read_obj_in_section(io, iova, obj, size, io->tlb);
	}
	return object_slow(io, iova, obj, size, false);
}

int vmmem_iommu_write_obj(struct vmmem_iommu *io, uint64_t iova, const void *obj, size_t size)
{
	uint64_t gpa;

	if (likely(io && obj && size - 1 < 8) && likely(enabled(io)) &&
	    likely(vmm_iotlb_hint_hit(io->tlb, iova, size, VMMEM_ACCESS_WRITE, &gpa)))
		return vmmem_memory_write_obj(mem_of(io), gpa, obj, size);
	return object_slow(io, iova, (void *)obj, size, true);
}

/* ---- single values ------------------------------------------------------------------- */

/* The GPA of a @size-byte value at @iova for @access, in one piece. Inside a section. */
static int value_gpa(struct vmmem_iommu *io, const struct section *s, uint64_t iova,
		     unsigned int size, unsigned int access, uint64_t *gpa)
{
	const struct vmm_iotlb_table *t = NULL;
	int rc;

	if (vmm_range_wraps(iova, size))
		return vmm_err(-EOVERFLOW, "iommu: iova 0x%" PRIx64 " + %u passes 2^64", iova, size);
	if (!enabled(io)) {
		*gpa = iova;
		return 0;
	}
	rc = translate_one(io, s, iova, size, access, gpa, &t);
	if (rc == 0 && t) {
		/* Several entries: fine if they continue each other in guest memory. */
		struct vmmem_iotlb_range p;
		size_t n = 0;

		if (vmm_iotlb_walk(t, iova, size, access, &p, 1, &n, NULL) == 0 && n == 1)
			*gpa = p.gpa;
		else
			rc = vmm_err(VMMEM_E_CROSSES_REGION, "iommu: the %u-byte value at iova 0x%" PRIx64
				     " straddles two IOTLB entries that are not contiguous in guest "
				     "memory", size, iova);
	}
	return rc;
}

#define IOMMU_LOAD(bits)                                                                      \
	int vmmem_iommu_load_u##bits(struct vmmem_iommu *io, uint64_t iova, int order,         \
				     uint##bits##_t *out)                                      \
	{                                                                                     \
		struct section s;                                                             \
		uint64_t gpa;                                                                 \
		int rc;                                                                       \
                                                                                              \
		VMM_CHECK_ARG(io);                                                            \
		VMM_CHECK_ARG(out);                                                           \
		rc = section_enter(&s);                                                       \
		if (rc)                                                                       \
			return rc;                                                            \
		rc = value_gpa(io, &s, iova, bits / 8, VMMEM_ACCESS_READ, &gpa);              \
		if (!rc)                                                                      \
			rc = vmmem_memory_load_u##bits(mem_of(io), gpa, order, \
						       out);                                  \
		section_exit(&s);                                                             \
		return rc;                                                                    \
	}

#define IOMMU_STORE(bits)                                                                     \
	int vmmem_iommu_store_u##bits(struct vmmem_iommu *io, uint64_t iova,                   \
				      uint##bits##_t val, int order)                           \
	{                                                                                     \
		struct section s;                                                             \
		uint64_t gpa;                                                                 \
		int rc;                                                                       \
                                                                                              \
		VMM_CHECK_ARG(io);                                                            \
		rc = section_enter(&s);                                                       \
		if (rc)                                                                       \
			return rc;                                                            \
		rc = value_gpa(io, &s, iova, bits / 8, VMMEM_ACCESS_WRITE, &gpa);             \
		if (!rc)                                                                      \
			rc = vmmem_memory_store_u##bits(mem_of(io), gpa, val, \
							order);                               \
		section_exit(&s);                                                             \
		return rc;                                                                    \
	}

IOMMU_LOAD(8)
IOMMU_LOAD(16)
IOMMU_LOAD(32)
IOMMU_LOAD(64)
IOMMU_STORE(8)
IOMMU_STORE(16)
IOMMU_STORE(32)
IOMMU_STORE(64)

/* ---- translation, range checks, views ------------------------------------------------ */

static int check_access(unsigned int access)
{
	if (access < VMMEM_ACCESS_READ || access > VMMEM_ACCESS_RW)
		return vmm_err(-EINVAL, "iommu: access %u is not READ, WRITE or RW", access);
	return 0;
}

static int need_section(const char *what)
{
	if (!vmm_rcu_held())
		return vmm_err(-EINVAL, "%s returns pointers into guest memory: call it between "
			       "vmmem_iommu_acquire and vmmem_iommu_release", what);
	return 0;
}

int vmmem_iommu_translate(struct vmmem_iommu *io, uint64_t iova, unsigned int access,
			  uint64_t *gpa, void **host, uint64_t *contiguous)
{
	const struct vmm_iotlb_table *t = NULL;
	struct section s = { .owned = false };
	uint64_t g = iova, run = UINT64_MAX - iova + 1, cont;
	void *h;
	int rc;

	if (host)
		*host = NULL;
	VMM_CHECK_ARG(io);
	rc = check_access(access);
	if (!rc)
		rc = need_section(__func__);
	if (rc)
		return rc;
	if (enabled(io)) {
		struct vmmem_iotlb_range p;
		size_t n;

		t = resolve(io, &s, iova, 1, access, &rc);
		if (!t)
			return rc;
		/* The IOTLB run: as far as entries continue in GPA space with @access (up to
		 * 2^64 - 2, which keeps the length in 64 bits). */
		const uint64_t rest = UINT64_MAX - iova + (iova != 0);
		struct vmmem_iova_fault f;

		if (vmm_iotlb_walk(t, iova, rest, access, &p, 1, &n, &f)) /* stopped at f */
			vmm_iotlb_walk(t, iova, f.iova - iova, access, &p, 1, &n, NULL);
		g = p.gpa;
		run = p.len;
	}
	rc = vmmem_memory_translate(mem_of(io), g, access, &h, &cont);
	if (rc)
		return rc;
	if (gpa)
		*gpa = g;
	if (host)
		*host = h;
	if (contiguous)
		*contiguous = run != 0 && run < cont ? run : cont;
	return 0;
}

/* What for_each_piece() does with each piece (a switch, not a function pointer). */
enum piece_op { PIECE_CHECK, PIECE_VIEWS, PIECE_FD };

static int check_piece(const struct vmmem_memory *m, const struct vmmem_iotlb_range *p, void *arg);
static int view_piece(const struct vmmem_memory *m, const struct vmmem_iotlb_range *p, void *arg);
static int fd_piece(const struct vmmem_memory *m, const struct vmmem_iotlb_range *p, void *arg);

static int do_piece(enum piece_op op, const struct vmmem_memory *m,
		    const struct vmmem_iotlb_range *p, void *arg)
{
	switch (op) {
	case PIECE_CHECK:
		return check_piece(m, p, arg);
	case PIECE_VIEWS:
		return view_piece(m, p, arg);
	default:
		return fd_piece(m, p, arg);
	}
}

/* Translate [iova, iova + len) (len >= 1) and do @op on every GPA piece. */
static int for_each_piece(struct vmmem_iommu *io, const struct section *s, uint64_t iova,
			  uint64_t len, unsigned int access, enum piece_op op, void *arg)
{
	const struct vmmem_memory *m;
	const struct vmm_iotlb_table *t = NULL;
	struct vmmem_iotlb_range p[BATCH];
	uint64_t done = 0;
	int rc;

	if (!enabled(io)) {
		struct vmmem_iotlb_range all = { .iova = iova, .gpa = iova, .len = len };

		return do_piece(op, mem_of(io), &all, arg);
	}
	t = resolve(io, s, iova, len, access, &rc);
	if (!t)
		return rc;
	m = mem_of(io);
	while (done < len) {
		size_t n;

		vmm_iotlb_walk(t, iova + done, len - done, access, p, BATCH, &n, NULL);
		for (size_t i = 0; i < n && i < BATCH; i++) {
			rc = do_piece(op, m, &p[i], arg);
			if (rc)
				return rc;
			done += p[i].len;
		}
	}
	return 0;
}

static int check_piece(const struct vmmem_memory *m, const struct vmmem_iotlb_range *p, void *arg)
{
	(void)arg;
	if (!vmmem_memory_check_range(m, p->gpa, p->len))
		return vmm_err(VMMEM_E_UNMAPPED, "iommu: iova 0x%" PRIx64 " (%" PRIu64 " bytes) maps to "
			       "gpa 0x%" PRIx64 ", which is not all guest memory", p->iova, p->len,
			       p->gpa);
	return 0;
}

int vmmem_iommu_check_range(struct vmmem_iommu *io, uint64_t iova, uint64_t len,
			    unsigned int access)
{
	struct section s;
	int rc;

	VMM_CHECK_ARG(io);
	if (access > VMMEM_ACCESS_RW)
		return vmm_err(-EINVAL, "iommu: access %u is not 0..3", access);
	if (vmm_range_wraps(iova, len))
		return vmm_err(-EOVERFLOW, "iommu: iova 0x%" PRIx64 " + 0x%" PRIx64 " passes 2^64",
			       iova, len);
	if (len == 0)
		return 0;
	rc = section_enter(&s);
	if (rc)
		return rc;
	rc = for_each_piece(io, &s, iova, len, access, PIECE_CHECK, NULL);
	section_exit(&s);
	return rc;
}

struct views {
	unsigned int access;
	bool iov;
	void *out;
	size_t max;
	size_t count;
	bool short_of_room;
};

static int view_piece(const struct vmmem_memory *m, const struct vmmem_iotlb_range *p, void *arg)
{
	struct views *v = arg;
	size_t room = v->count < v->max ? v->max - v->count : 0, got = 0;
	int rc;

	if (v->iov)
		rc = vmmem_memory_get_iovecs(m, p->gpa, p->len, v->access,
					     room ? (struct iovec *)v->out + v->count : NULL, room,
					     &got);
	else
		rc = vmmem_memory_get_slices(m, p->gpa, p->len, v->access,
					     room ? (struct vmmem_slice *)v->out + v->count : NULL,
					     room, &got);
	v->count += got;
	if (rc == -ENOBUFS) { /* count what is needed, then report it */
		v->short_of_room = true;
		return 0;
	}
	return rc;
}

static int views(struct vmmem_iommu *io, uint64_t iova, uint64_t len, unsigned int access,
		 void *out, size_t max, size_t *count, bool iov)
{
	struct views v = { .access = access, .iov = iov, .out = out, .max = max };
	struct section s = { .owned = false };
	int rc;

	VMM_CHECK_ARG(count);
	*count = 0;
	VMM_CHECK_ARG(io);
	VMM_CHECK_ARG(out || max == 0);
	rc = check_access(access);
	if (!rc)
		rc = need_section(iov ? "vmmem_iommu_get_iovecs" : "vmmem_iommu_get_slices");
	if (rc)
		return rc;
	if (vmm_range_wraps(iova, len))
		return vmm_err(-EOVERFLOW, "iommu: iova 0x%" PRIx64 " + 0x%" PRIx64 " passes 2^64",
			       iova, len);
	if (len == 0)
		return 0;
	rc = for_each_piece(io, &s, iova, len, access, PIECE_VIEWS, &v);
	if (!rc && v.short_of_room) {
		*count = v.count;
		return vmm_err(-ENOBUFS, "iommu: %zu views needed, room for %zu", v.count, max);
	}
	/* On a hole or a read-only piece, the usable prefix: never more than was written. */
	*count = v.count < max ? v.count : max;
	return rc;
}

int vmmem_iommu_get_slices(struct vmmem_iommu *io, uint64_t iova, uint64_t len,
			   unsigned int access, struct vmmem_slice *out, size_t max, size_t *count)
{
	return views(io, iova, len, access, out, max, count, false);
}

int vmmem_iommu_get_iovecs(struct vmmem_iommu *io, uint64_t iova, uint64_t len,
			   unsigned int access, struct iovec *iov, size_t max, size_t *count)
{
	return views(io, iova, len, access, iov, max, count, true);
}

/* ---- file descriptors ---------------------------------------------------------------- */

struct fdio {
	int fd;
	off_t offset;
	bool to_guest;
	size_t done;
	ssize_t error; /* < 0: what failed before any progress */
	bool stop;
};

static int fd_piece(const struct vmmem_memory *m, const struct vmmem_iotlb_range *p, void *arg)
{
	struct fdio *f = arg;
	ssize_t r;

	if (f->stop)
		return 0;
	r = f->to_guest ? vmmem_memory_read_from_fd(m, p->gpa, f->fd, p->len, f->offset)
			: vmmem_memory_write_to_fd(m, p->gpa, f->fd, p->len, f->offset);
	if (r < 0) {
		if (!f->done)
			f->error = r;
		f->stop = true;
		return 0;
	}
	f->done += (size_t)r;
	if (f->offset >= 0)
		f->offset += r;
	if ((uint64_t)r < p->len)
		f->stop = true;
	return 0;
}

static ssize_t fd_transfer(struct vmmem_iommu *io, uint64_t iova, int fd, size_t len,
			   off_t offset, bool to_guest)
{
	struct fdio f = { .fd = fd, .offset = offset, .to_guest = to_guest };
	struct section s;
	int rc;

	VMM_CHECK_ARG(io);
	if (offset < -1)
		return vmm_err(-EINVAL, "iommu: file offset %jd", (intmax_t)offset);
	if (len > SSIZE_MAX)
		return vmm_err(-EINVAL, "iommu: length %zu is larger than SSIZE_MAX", len);
	if (vmm_range_wraps(iova, len))
		return vmm_err(-EOVERFLOW, "iommu: iova 0x%" PRIx64 " + %zu passes 2^64", iova, len);
	if (len == 0)
		return 0;
	rc = section_enter(&s);
	if (rc)
		return rc;
	rc = for_each_piece(io, &s, iova, len, to_guest ? VMMEM_ACCESS_WRITE : VMMEM_ACCESS_READ,
			    PIECE_FD, &f);
	section_exit(&s);
	if (rc)
		return rc;
	return f.error < 0 ? f.error : (ssize_t)f.done;
}

/* The exact variants: each round translates what is left and goes on from the exact IOVA
 * and file offset reached; a hole or read-only piece after some progress ends it as a
 * partial transfer, as the plain calls do. */
static int fd_exact(struct vmmem_iommu *io, uint64_t iova, int fd, size_t len, off_t offset,
		    size_t *done, bool to_guest)
{
	size_t got = 0;
	int rc = 0;

	if (done)
		*done = 0;
	while (got < len) {
		ssize_t r = fd_transfer(io, iova + got, fd, len - got,
					offset < 0 ? -1 : offset + (off_t)got, to_guest);

		if (r < 0) {
			rc = (int)r;
			if (got && (r == VMMEM_E_UNMAPPED || r == VMMEM_E_READ_ONLY))
				rc = vmm_err(VMMEM_E_PARTIAL, "iommu: %s stopped after %zu of %zu bytes "
					     "at iova 0x%" PRIx64 ": %s",
					     to_guest ? "read from fd" : "write to fd", got, len,
					     iova, vmmem_strerror((int)r));
			break;
		}
		if (r == 0) {
			rc = vmm_err(VMMEM_E_PARTIAL, "iommu: %s stopped after %zu of %zu bytes at iova "
				     "0x%" PRIx64, to_guest ? "read from fd" : "write to fd", got,
				     len, iova);
			break;
		}
		got += (size_t)r;
	}
	if (done)
		*done = got;
	return rc;
}

int vmmem_iommu_read_exact_from_fd(struct vmmem_iommu *io, uint64_t iova, int fd, size_t len,
				   off_t offset, size_t *done)
{
	return fd_exact(io, iova, fd, len, offset, done, true);
}

int vmmem_iommu_write_all_to_fd(struct vmmem_iommu *io, uint64_t iova, int fd, size_t len,
				off_t offset, size_t *done)
{
	return fd_exact(io, iova, fd, len, offset, done, false);
}

ssize_t vmmem_iommu_read_from_fd(struct vmmem_iommu *io, uint64_t iova, int fd, size_t len,
				 off_t offset)
{
	return fd_transfer(io, iova, fd, len, offset, true);
}

ssize_t vmmem_iommu_write_to_fd(struct vmmem_iommu *io, uint64_t iova, int fd, size_t len,
				off_t offset)
{
	return fd_transfer(io, iova, fd, len, offset, false);
}
