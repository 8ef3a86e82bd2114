/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/iommu.h
 * @brief IOVA-addressed guest memory behind a virtual IOMMU: an IOTLB of translations with
 *        permissions, and an IOMMU view offering the access family of vmmem/access.h,
 *        vmmem/io.h and vmmem/slice.h by I/O virtual address (vm-memory 0.18's Iotlb and
 *        IommuMemory; the vhost-user device IOTLB).
 *
 * A `struct vmmem_iotlb` maps IOVA ranges to guest-physical ranges with a permission
 * (::VMMEM_ACCESS_READ, ::VMMEM_ACCESS_WRITE, ::VMMEM_ACCESS_RW, or 0 for none: the same
 * values as the `perm` byte of a vhost-user IOTLB message). It is byte-granular, holds at
 * most a fixed number of entries, and publishes every change as a new immutable table with
 * read-copy-update, in the same epoch domain as vmmem/atomic.h: lookups never take a lock
 * and never wait, and a table is freed only after the last reader that could see it.
 *
 * A `struct vmmem_iommu` joins a swappable memory (vmmem/atomic.h: regions hot-plugged
 * under it keep the IOTLB) to an IOTLB. Every access names the IOVA range and the access it
 * needs (reads need READ, writes need WRITE); the range is translated entry by entry first,
 * and only a fully translated and permitted range is touched (as vm-memory: a translation
 * failure moves no byte). The guest-physical transfer behind it then has the partial
 * semantics of the plain memory calls (a hole in guest-physical memory ends a read early).
 * Writes mark the dirty bitmaps and the vhost-user log by **guest-physical** address, as
 * QEMU, DPDK and kernel vhost log (docs/DECISIONS.md).
 *
 * An IOMMU starts enabled. Disabled with vmmem_iommu_set_enabled() (the driver negotiated no
 * VIRTIO_F_ACCESS_PLATFORM), it passes every call straight through with IOVA = GPA and no
 * permission check.
 *
 * Misses and refusals: a range with an unmapped byte fails with ::VMMEM_E_IOTLB_MISS, one
 * whose entry lacks the permission with ::VMMEM_E_IOTLB_DENIED; the message names the first
 * failing IOVA range. With a miss handler set, it is called first (only then: a hit calls
 * no function pointer) and may resolve the miss (vmmem_iotlb_update() from inside it, or
 * from another thread before it returns) and return 0, after which the lookup is retried;
 * or report the miss to someone who answers later (a vhost-user IOTLB miss on the backend
 * channel) and return -EAGAIN, after which the access fails with the miss error and the
 * caller retries when vmmem_iotlb_generation() has changed.
 *
 * Read sections: every access is safe on its own (it enters the read section itself). A
 * data-path thread that makes many accesses brackets them with vmmem_iommu_acquire() and
 * vmmem_iommu_release(), which makes each access cheaper and is required for the calls that
 * return pointers into guest memory (slices, iovecs, translate). A miss handler called from
 * inside a caller's section runs inside it: it must not wait for a thread that calls
 * vmmem_atomic_synchronize(). Called from outside a section, the access leaves its own
 * section before calling the handler, which may then block.
 *
 * A translation stays usable by a reader that got it inside a section until that section
 * ends, even if the entry is invalidated meanwhile; vmmem_atomic_synchronize() after
 * vmmem_iotlb_invalidate() waits those readers out (before acknowledging an invalidation
 * to a front-end).
 */
#ifndef VMMEM_IOMMU_H
#define VMMEM_IOMMU_H

#include <sys/types.h>
#include <sys/uio.h>

#include <vmmem/common.h>
#include <vmmem/atomic.h>
#include <vmmem/memory.h>
#include <vmmem/slice.h>

VMMEM_BEGIN_DECLS

/** Opaque IOTLB: IOVA ranges mapped to guest-physical ranges with permissions. */
struct vmmem_iotlb;

/** Opaque IOMMU view: a swappable memory seen through an IOTLB. */
struct vmmem_iommu;

/** What an update does when the IOTLB is full. */
enum vmmem_iotlb_policy {
	/** Drop the entries inserted longest ago (kernel vhost's RETIRE) until it fits. */
	VMMEM_IOTLB_EVICT_OLDEST = 0,
	/** Refuse the update with -ENOSPC; nothing changes. */
	VMMEM_IOTLB_REFUSE = 1,
};

/** Largest entry limit vmmem_iotlb_new() accepts. */
#define VMMEM_IOTLB_MAX_ENTRIES (1u << 20)

/** One translated piece of an IOVA range. */
struct vmmem_iotlb_range {
	uint64_t iova; /**< first IOVA of the piece */
	uint64_t gpa;  /**< guest-physical address it maps to */
	uint64_t len;  /**< bytes */
};

/** The first IOVA range a lookup could not translate. */
struct vmmem_iova_fault {
	uint64_t iova;       /**< first failing IOVA */
	uint64_t len;        /**< bytes, clipped to the request (a gap, or one entry) */
	unsigned int access; /**< the access that was asked for */
	int error;           /**< ::VMMEM_E_IOTLB_MISS or ::VMMEM_E_IOTLB_DENIED */
};

/**
 * @brief Create an empty IOTLB.
 * @param[out] out        the IOTLB with one reference; NULL on failure.
 * @param max_entries     entry limit, 1 ..= ::VMMEM_IOTLB_MAX_ENTRIES.
 * @param policy          ::VMMEM_IOTLB_EVICT_OLDEST or ::VMMEM_IOTLB_REFUSE.
 * @return 0, or
 * @retval -EINVAL  @p out is NULL, @p max_entries is 0 or too large, or @p policy is unknown
 * @retval -ENOMEM  out of memory
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iotlb_new(struct vmmem_iotlb **out, size_t max_entries,
				 unsigned int policy);

/**
 * @brief Take one more reference. @return @p tlb.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT struct vmmem_iotlb *vmmem_iotlb_ref(struct vmmem_iotlb *tlb);

/**
 * @brief Drop one reference; the last frees the IOTLB once no reader can see its table.
 * @return NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT struct vmmem_iotlb *vmmem_iotlb_unref(struct vmmem_iotlb *tlb);

/**
 * @brief Map IOVAs [iova, iova + size) to guest-physical [gpa, gpa + size) with @p perm.
 *
 * What the range overlaps is replaced (entries are split, never dropped whole); the new
 * entry merges with a neighbour that continues it in both address spaces with the same
 * permission. If the IOTLB then holds more than its limit, the policy decides.
 * @param perm  0 (mapped, no access), ::VMMEM_ACCESS_READ, ::VMMEM_ACCESS_WRITE or
 *              ::VMMEM_ACCESS_RW.
 * @return 0, or
 * @retval -EINVAL               @p tlb is NULL or @p perm is not one of the above
 * @retval VMMEM_E_ZERO_SIZE     @p size is 0
 * @retval -EOVERFLOW            iova + size or gpa + size passes 2^64 (the last byte may be
 *                               2^64 - 1; the whole space needs two updates, as vhost does)
 * @retval -ENOSPC               full with ::VMMEM_IOTLB_REFUSE (nothing changed)
 * @retval -ENOMEM               out of memory (nothing changed)
 * @par Thread safety
 * MT-Safe; updates of one IOTLB are serialised, readers never wait for them.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iotlb_update(struct vmmem_iotlb *tlb, uint64_t iova, uint64_t size,
				    uint64_t gpa, unsigned int perm);

/**
 * @brief Remove every translation of IOVAs [iova, iova + size); entries that reach beyond
 *        it keep their other parts. If splitting an entry in two would pass the limit, the
 *        oldest entry is dropped as well, whatever the policy (a cache may forget; it may
 *        not keep a revoked translation for want of room).
 * @return the number of entries removed or trimmed (0: nothing was mapped there, which is
 *         not an error: a vIOMMU invalidates ranges a device never asked for), or
 * @retval -EINVAL               @p tlb is NULL
 * @retval VMMEM_E_ZERO_SIZE     @p size is 0
 * @retval -EOVERFLOW            iova + size passes 2^64
 * @retval -ENOMEM               out of memory (nothing changed)
 * @par Thread safety
 * MT-Safe. Readers inside a section may finish with the old translation: see the file
 * comment.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iotlb_invalidate(struct vmmem_iotlb *tlb, uint64_t iova, uint64_t size);

/**
 * @brief Remove every entry.
 * @return the number of entries removed, or -EINVAL (@p tlb NULL) or -ENOMEM.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iotlb_invalidate_all(struct vmmem_iotlb *tlb);

/**
 * @brief Number of entries now. @return the count, or -EINVAL (@p tlb NULL), or -ENOMEM
 *        (this thread's first read section found no reader record).
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT ssize_t vmmem_iotlb_count(const struct vmmem_iotlb *tlb);

/**
 * @brief A number that changes with every change of the table (never 0), for callers that
 *        cache translations (ring addresses) and must redo them after an update or
 *        invalidation. @return the generation, or 0 if @p tlb is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT uint64_t vmmem_iotlb_generation(const struct vmmem_iotlb *tlb);

/**
 * @brief Translate IOVAs [iova, iova + len) for @p access (vm-memory's Iotlb::lookup).
 *
 * Succeeds only if every byte is mapped by an entry allowing @p access (0 checks mapping
 * only). Pieces are split where entries end, except where the next entry continues the
 * previous one in guest-physical memory too.
 * @param out      array of @p max pieces (may be NULL if @p max is 0).
 * @param[out] count  on success the number of pieces the range needs (0 for @p len 0);
 *                    at most @p max of them are written.
 * @param[out] fault  on ::VMMEM_E_IOTLB_MISS / ::VMMEM_E_IOTLB_DENIED the first failing
 *                    range (ascending IOVA); may be NULL.
 * @return 0, or
 * @retval -EINVAL              @p tlb or @p count is NULL, @p out NULL with @p max > 0, or
 *                              @p access is not 0 or an ACCESS value
 * @retval -EOVERFLOW           iova + len passes 2^64
 * @retval VMMEM_E_IOTLB_MISS   a byte is not mapped (message and @p fault name the gap)
 * @retval VMMEM_E_IOTLB_DENIED an entry does not allow @p access (names the entry's part)
 * @retval -ENOMEM              this thread's first read section found no reader record
 * @par Thread safety
 * MT-Safe, lock-free.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iotlb_lookup(const struct vmmem_iotlb *tlb, uint64_t iova, uint64_t len,
				    unsigned int access, struct vmmem_iotlb_range *out, size_t max,
				    size_t *count, struct vmmem_iova_fault *fault);

/**
 * @brief A caller-owned cache of the IOTLB entry a translation last went through, for
 *        vmmem_iotlb_translate_cached() (one per queue or thread, like kernel vhost's
 *        per-virtqueue metadata cache).
 *
 * Zero it before first use; it needs no freeing. An entry is valid while the IOTLB's
 * generation is the one it was filled at: any update or invalidation empties every cache
 * at its next use. Translations from it, like every translation, are to be used inside a
 * guard (so that vmmem_atomic_synchronize() after an invalidation waits for them). The
 * layout is part of the ABI (fields may only be appended, with the cache then growing).
 * @since 1.1
 */
struct vmmem_iotlb_cache {
	const struct vmmem_iotlb *iotlb; /**< IOTLB of the entry; NULL: empty */
	const uint64_t *generation;      /**< that IOTLB's generation word */
	uint64_t seen;                   /**< its value when the entry was filled */
	uint64_t iova;                   /**< first IOVA of the entry */
	uint64_t last;                   /**< last IOVA of the entry */
	uint64_t gpa;                    /**< GPA of @c iova */
	uint32_t perm;                   /**< the entry's permission */
	uint32_t reserved;               /**< zero */
};

/**
 * @brief Translate [iova, iova + len) through one IOTLB entry and store that entry in @p c
 *        (the miss path; use vmmem_iotlb_translate_cached()).
 * @param[out] gpa  the guest-physical address of @p iova.
 * @return 0, or
 * @retval -EINVAL               @p c, @p tlb or @p gpa is NULL, @p len is 0, bad @p access
 * @retval -EOVERFLOW            iova + len passes 2^64
 * @retval VMMEM_E_IOTLB_MISS    a byte is not mapped
 * @retval VMMEM_E_IOTLB_DENIED  the entry does not allow @p access
 * @retval VMMEM_E_CROSSES_REGION the range spans two entries (translate it piece by piece
 *                               with vmmem_iotlb_lookup())
 * @retval -ENOMEM               this thread's first read section found no reader record
 * @par Thread safety
 * MT-Safe for distinct caches; a cache is one thread's (or guarded by its owner's lock).
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iotlb_cache_fill(struct vmmem_iotlb_cache *c,
					const struct vmmem_iotlb *tlb, uint64_t iova,
					uint64_t len, unsigned int access, uint64_t *gpa);

/**
 * @brief Translate an IOVA range with a caller-side cache: a range inside the cached entry
 *        is translated inline (an acquire load of the generation and a few compares, no
 *        call into the library); otherwise vmmem_iotlb_cache_fill().
 *
 * The fastest form for a device walking its rings and buffers: translate, then access the
 * guest-physical address with the plain calls on the memory of the caller's guard.
 * @return as vmmem_iotlb_cache_fill().
 * @par Thread safety
 * As vmmem_iotlb_cache_fill().
 * @since 1.1
 */
static inline int vmmem_iotlb_translate_cached(struct vmmem_iotlb_cache *c,
					       const struct vmmem_iotlb *tlb, uint64_t iova,
					       uint64_t len, unsigned int access, uint64_t *gpa)
{
	/* iova below c->iova wraps to a huge offset: one compare covers both ends; len 0
	 * goes to the fill, which refuses it. The generation load is sequentially consistent
	 * (a plain load on x86): where readers fence instead of relying on membarrier it must
	 * not pass the reader's epoch store (an AArch64 LDAPR could). */
	if (c && gpa && len && c->iotlb == tlb && tlb &&
	    __atomic_load_n(c->generation, __ATOMIC_SEQ_CST) == c->seen &&
	    iova - c->iova <= c->last - c->iova && len - 1 <= c->last - iova &&
	    (c->perm & access) == access && access - 1 < 3) {
		*gpa = c->gpa + (iova - c->iova);
		return 0;
	}
	return vmmem_iotlb_cache_fill(c, tlb, iova, len, access, gpa);
}

/**
 * @brief Called on a miss or refusal: resolve it and return 0 to retry the lookup, or
 *        return -EAGAIN when the answer comes later (the access then fails with the miss
 *        error), or another negative errno to fail the access with it.
 * @param opaque  the pointer given to vmmem_iommu_set_miss_handler()
 * @param fault   the first failing range and the access asked for
 *
 * A handler that returns 0 without resolving is called again, at most 8 times per access;
 * then the access fails with -ELOOP.
 */
typedef int (*vmmem_iommu_miss_fn)(void *opaque, const struct vmmem_iova_fault *fault);

/**
 * @brief Create an IOMMU view of @p mem through @p tlb (it takes a reference on each).
 * It starts enabled, without a miss handler.
 * @return 0, or -EINVAL (NULL argument) or -ENOMEM.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_new(struct vmmem_iommu **out, struct vmmem_atomic *mem,
				 struct vmmem_iotlb *tlb);

/**
 * @brief Take one more reference. @return @p io.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT struct vmmem_iommu *vmmem_iommu_ref(struct vmmem_iommu *io);

/**
 * @brief Drop one reference; the last releases the memory and the IOTLB. @return NULL.
 * @par Thread safety
 * MT-Safe; no access on @p io may run or start after the last reference is dropped.
 * @since 1.1
 */
VMMEM_EXPORT struct vmmem_iommu *vmmem_iommu_unref(struct vmmem_iommu *io);

/**
 * @brief Turn translation on or off (off: IOVA = GPA, no permission check; the guest
 *        driver negotiated no VIRTIO_F_ACCESS_PLATFORM).
 * @return 0, or -EINVAL (@p io NULL).
 * @par Thread safety
 * MT-Safe; accesses already running finish in the mode they started in.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_set_enabled(struct vmmem_iommu *io, int enabled);

/** @brief 1 if translation is on, 0 if off, -EINVAL if @p io is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1 */
VMMEM_EXPORT int vmmem_iommu_enabled(const struct vmmem_iommu *io);

/**
 * @brief Set (or with NULL clear) the miss handler.
 * @return 0, or -EINVAL (@p io NULL).
 * @par Thread safety
 * MT-Safe, but set it before accesses start: an access running meanwhile may call the old
 * handler with the new @p opaque or the other way round only if you change both at once
 * while it runs (so don't).
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_set_miss_handler(struct vmmem_iommu *io, vmmem_iommu_miss_fn fn,
					      void *opaque);

/** @brief The IOTLB (no new reference), NULL if @p io is NULL. @par Thread safety
 *  MT-Safe.
 * @since 1.1 */
VMMEM_EXPORT struct vmmem_iotlb *vmmem_iommu_iotlb(const struct vmmem_iommu *io);

/** @brief The swappable memory (no new reference), NULL if @p io is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1 */
VMMEM_EXPORT struct vmmem_atomic *vmmem_iommu_memory(const struct vmmem_iommu *io);

/**
 * @brief Enter a read section for a burst of accesses (a guard, as vmmem_atomic_acquire()).
 *
 * Until this thread's outermost guard ends, its accesses through any IOMMU view of the same
 * swappable memory use the memory returned here, even if a writer publishes another
 * meanwhile: a burst sees one memory from start to end. One swappable memory per thread is
 * pinned so, the first acquired; accesses through views of other swappable memories, and
 * accesses made without this call, use the memory published at the time of each access.
 * @return the guest-physical memory now published (valid until the release; a nested
 *         acquire returns the outer one's), or NULL if @p io is NULL or no reader record
 *         can be had (see vmmem_atomic_acquire()).
 * @par Thread safety
 * MT-Safe, lock-free. Release on the same thread.
 * @since 1.1
 */
VMMEM_EXPORT const struct vmmem_memory *vmmem_iommu_acquire(struct vmmem_iommu *io);

/** @brief Leave the section vmmem_iommu_acquire() entered (@p m: what it returned).
 * @par Thread safety
 * MT-Safe, on the acquiring thread.
 * @since 1.1 */
VMMEM_EXPORT void vmmem_iommu_release(struct vmmem_iommu *io, const struct vmmem_memory *m);

/**
 * @brief Translate one IOVA to a guest-physical address and a host address.
 * Needs a read section (the host pointer is valid until it ends).
 * @param[out] gpa         the guest-physical address (may be NULL).
 * @param[out] host        the host address (may be NULL).
 * @param[out] contiguous  bytes from @p iova that are contiguous in IOVA, guest-physical and
 *                         host space alike, with @p access allowed (may be NULL).
 * @return 0, or
 * @retval -EINVAL                @p io NULL, bad @p access, or no read section
 * @retval VMMEM_E_IOTLB_MISS     @p iova is not mapped (after the miss handler)
 * @retval VMMEM_E_IOTLB_DENIED   its entry does not allow @p access
 * @retval -ELOOP                 the miss handler kept returning 0 without resolving
 * @retval -errno                 what the miss handler returned (other than 0 and -EAGAIN)
 * @retval VMMEM_E_UNMAPPED       the guest-physical address is in no region
 * @retval VMMEM_E_READ_ONLY      write access to a read-only region
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_translate(struct vmmem_iommu *io, uint64_t iova,
				       unsigned int access, uint64_t *gpa, void **host,
				       uint64_t *contiguous);

/**
 * @brief Check that IOVAs [iova, iova + len) translate for @p access and land in guest
 *        memory (vm-memory's check_range; regions' read-only flags are not checked).
 * @return 0, or the errors of vmmem_iotlb_lookup(), -ELOOP or ::VMMEM_E_UNMAPPED, or
 *         -EINVAL (@p io NULL, @p access not 0..3) or -EOVERFLOW.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_check_range(struct vmmem_iommu *io, uint64_t iova, uint64_t len,
					 unsigned int access);

/**
 * @brief Copy up to @p len bytes at IOVA @p iova into @p buf (needs READ).
 * @return bytes copied (short if guest-physical memory has a hole), or
 * @retval -EINVAL                @p io NULL, @p buf NULL with @p len > 0, @p len > SSIZE_MAX
 * @retval -EOVERFLOW             iova + len passes 2^64
 * @retval VMMEM_E_IOTLB_MISS     part of the range is not mapped (nothing copied)
 * @retval VMMEM_E_IOTLB_DENIED   part of the range is not readable (nothing copied)
 * @retval -ELOOP                 the miss handler kept returning 0 without resolving
 * @retval -errno                 what the miss handler returned (other than 0 and -EAGAIN)
 * @retval VMMEM_E_UNMAPPED       the first translated byte is in no region
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT ssize_t vmmem_iommu_read(struct vmmem_iommu *io, uint64_t iova, void *buf,
				      size_t len);

/**
 * @brief Copy up to @p len bytes from @p buf to IOVA @p iova (needs WRITE); marks the
 *        written guest-physical pages dirty.
 * @return bytes copied, or the errors of vmmem_iommu_read(), or ::VMMEM_E_READ_ONLY.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT ssize_t vmmem_iommu_write(struct vmmem_iommu *io, uint64_t iova, const void *buf,
				       size_t len);

/**
 * @brief Copy exactly @p len bytes (needs READ). @param[out] done bytes copied; may be NULL.
 * @return 0, ::VMMEM_E_PARTIAL (a guest-physical hole after *done bytes), or the errors of
 *         vmmem_iommu_read().
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_read_exact(struct vmmem_iommu *io, uint64_t iova, void *buf,
					size_t len, size_t *done);

/**
 * @brief Copy exactly @p len bytes into guest memory (needs WRITE).
 * @return 0, ::VMMEM_E_PARTIAL, or the errors of vmmem_iommu_write().
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_write_exact(struct vmmem_iommu *io, uint64_t iova,
					 const void *buf, size_t len, size_t *done);

/** @brief Read an object (vmmem_iommu_read_exact() without the count).
 *  @return 0 or its errors. @par Thread safety
 * MT-Safe.
 * @since 1.1 */
VMMEM_EXPORT int vmmem_iommu_read_obj(struct vmmem_iommu *io, uint64_t iova, void *obj,
				      size_t size);

/** @brief Write an object (vmmem_iommu_write_exact() without the count).
 *  @return 0 or its errors. @par Thread safety
 * MT-Safe.
 * @since 1.1 */
VMMEM_EXPORT int vmmem_iommu_write_obj(struct vmmem_iommu *io, uint64_t iova, const void *obj,
				       size_t size);

/**
 * @brief Atomic loads of naturally aligned values at an IOVA (needs READ); the value must
 *        translate to one piece.
 * @return 0, or the errors of vmmem_iommu_read(), ::VMMEM_E_CROSSES_REGION (the value
 *         straddles two IOTLB entries that are not contiguous in guest memory, or two
 *         regions) or ::VMMEM_E_MISALIGNED, or -EINVAL (bad @p order, @p out NULL).
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_load_u8(struct vmmem_iommu *io, uint64_t iova, int order,
				     uint8_t *out);
/** @copydoc vmmem_iommu_load_u8 */
VMMEM_EXPORT int vmmem_iommu_load_u16(struct vmmem_iommu *io, uint64_t iova, int order,
				      uint16_t *out);
/** @copydoc vmmem_iommu_load_u8 */
VMMEM_EXPORT int vmmem_iommu_load_u32(struct vmmem_iommu *io, uint64_t iova, int order,
				      uint32_t *out);
/** @copydoc vmmem_iommu_load_u8 */
VMMEM_EXPORT int vmmem_iommu_load_u64(struct vmmem_iommu *io, uint64_t iova, int order,
				      uint64_t *out);

/**
 * @brief Atomic stores (needs WRITE); as the loads, plus ::VMMEM_E_READ_ONLY.
 * @return 0 or an error as vmmem_iommu_load_u8().
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_store_u8(struct vmmem_iommu *io, uint64_t iova, uint8_t val,
				      int order);
/** @copydoc vmmem_iommu_store_u8 */
VMMEM_EXPORT int vmmem_iommu_store_u16(struct vmmem_iommu *io, uint64_t iova, uint16_t val,
				       int order);
/** @copydoc vmmem_iommu_store_u8 */
VMMEM_EXPORT int vmmem_iommu_store_u32(struct vmmem_iommu *io, uint64_t iova, uint32_t val,
				       int order);
/** @copydoc vmmem_iommu_store_u8 */
VMMEM_EXPORT int vmmem_iommu_store_u64(struct vmmem_iommu *io, uint64_t iova, uint64_t val,
				       int order);

/**
 * @brief Views of IOVAs [iova, iova + len) for @p access, one per piece contiguous in host
 *        memory (vm-memory 0.18's get_slices). Needs a read section: the views are valid
 *        until it ends.
 * @param[out] count  as vmmem_memory_get_slices() (on -ENOBUFS the number needed).
 * @return 0, or the errors of vmmem_iotlb_lookup() and vmmem_memory_get_slices(), -ELOOP,
 *         or -EINVAL when called outside a read section.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_get_slices(struct vmmem_iommu *io, uint64_t iova, uint64_t len,
					unsigned int access, struct vmmem_slice *out, size_t max,
					size_t *count);

/**
 * @brief Like vmmem_iommu_get_slices(), as iovecs. Writes through them are not marked
 *        dirty: use vmmem_memory_mark_dirty() on the guest-physical pieces, or
 *        vmmem_iommu_read_from_fd(), which marks.
 * @return as vmmem_iommu_get_slices(). @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_get_iovecs(struct vmmem_iommu *io, uint64_t iova, uint64_t len,
					unsigned int access, struct iovec *iov, size_t max,
					size_t *count);

/**
 * @brief Read from @p fd into guest memory at IOVA @p iova (needs WRITE), like
 *        vmmem_memory_read_from_fd(), piece by piece (one readv/preadv per guest-physical
 *        piece); a short transfer ends it.
 * @return bytes read, or the errors of vmmem_memory_read_from_fd() and of the translation.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT ssize_t vmmem_iommu_read_from_fd(struct vmmem_iommu *io, uint64_t iova, int fd,
					      size_t len, off_t offset);

/**
 * @brief Write guest memory at IOVA @p iova to @p fd (needs READ), like
 *        vmmem_memory_write_to_fd().
 * @return bytes written, or the errors of vmmem_memory_write_to_fd() and of the translation.
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT ssize_t vmmem_iommu_write_to_fd(struct vmmem_iommu *io, uint64_t iova, int fd,
					     size_t len, off_t offset);

/**
 * @brief Read exactly @p len bytes from @p fd into guest memory at IOVA @p iova (needs
 *        WRITE), looping over short reads from where the previous one stopped.
 * @param[out] done bytes read, also on failure; may be NULL.
 * @return 0, ::VMMEM_E_PARTIAL (end of file, or a guest-physical hole or read-only region
 *         after *done bytes), or the errors of vmmem_iommu_read_from_fd(). Each round
 *         translates what is left, so a miss after some progress is returned with *done
 *         set (the first round's moves no byte).
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_read_exact_from_fd(struct vmmem_iommu *io, uint64_t iova, int fd,
						size_t len, off_t offset, size_t *done);

/**
 * @brief Write exactly @p len bytes of guest memory at IOVA @p iova (needs READ) to @p fd.
 * @param[out] done bytes written, also on failure; may be NULL.
 * @return 0, ::VMMEM_E_PARTIAL (a guest-physical hole after *done bytes), or the errors of
 *         vmmem_iommu_write_to_fd().
 * @par Thread safety
 * MT-Safe.
 * @since 1.1
 */
VMMEM_EXPORT int vmmem_iommu_write_all_to_fd(struct vmmem_iommu *io, uint64_t iova, int fd,
					     size_t len, off_t offset, size_t *done);

VMMEM_END_DECLS

#endif /* VMMEM_IOMMU_H */
