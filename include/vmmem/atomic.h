/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem/atomic.h
 * @brief Swappable guest memory (vm-memory's GuestMemoryAtomic): readers use a consistent
 *        snapshot while a writer hot-adds or removes regions.
 *
 * A `struct vmmem_atomic` holds the current memory. Readers take a *guard* with
 * vmmem_atomic_acquire(), use the memory it returns for as long as they need a stable view,
 * and give it back with vmmem_atomic_release() on the same thread. Taking and releasing a
 * guard never blocks and never takes a lock: it touches only the calling thread's own
 * reader record (read-copy-update with epochs). Writers are serialised by a mutex and
 * publish a whole new memory; the regions the old and new memories have in common are
 * shared, not copied. The old memory is freed once no guard taken before the publication is
 * held any more: usually by the release of its last guard; if that release races with the
 * writer's scan, by the next guard release, writer or vmmem_atomic_synchronize() (of any
 * atomic) instead. Readers never wait for it either way.
 *
 * A reader that needs a memory beyond its guard takes a reference with vmmem_memory_ref()
 * while holding the guard.
 *
 * Guards nest: a thread may hold several (of one or several atomics) at once; the memory
 * each returns stays valid until its own release. A thread must release its guards before
 * it exits.
 */
#ifndef VMMEM_ATOMIC_H
#define VMMEM_ATOMIC_H

#include <vmmem/common.h>
#include <vmmem/dirty.h>
#include <vmmem/memory.h>

VMMEM_BEGIN_DECLS

/** Opaque swappable memory. */
struct vmmem_atomic;

/**
 * @brief Create a swappable memory holding @p m (it takes its own reference).
 * @param[out] out the new object with one reference; NULL on failure.
 * @return 0, -EINVAL (NULL argument) or -ENOMEM.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_atomic_new(struct vmmem_atomic **out, struct vmmem_memory *m);

/**
 * @brief Take one more reference. @return @p a.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_atomic *vmmem_atomic_ref(struct vmmem_atomic *a);

/**
 * @brief Drop one reference. The last one never waits: it gives up the object's reference on
 *        the current memory, which is freed at once if no guard holds it, or otherwise when
 *        the last guard taken on this object is released (guards stay valid). @return NULL.
 * @par Thread safety
 * MT-Safe. Guards taken before the last unref may be released after it (pass the same
 * pointer to vmmem_atomic_release; it is not dereferenced beyond a NULL check).
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_atomic *vmmem_atomic_unref(struct vmmem_atomic *a);

/**
 * @brief Take a guard: the current memory, stable until the matching release.
 * @return the memory, or NULL if @p a is NULL, or NULL (message in vmmem_errormsg()) when
 *         this thread's first guard needs a reader record and none can be had: malloc
 *         failed and the library's 16 spare records are taken. A thread that has taken a
 *         guard once always gets one afterwards.
 * @par Thread safety
 * MT-Safe, lock-free; never blocks.
 * @since 1.0
 */
VMMEM_EXPORT const struct vmmem_memory *vmmem_atomic_acquire(struct vmmem_atomic *a);

/**
 * @brief Give back a guard taken on this thread with vmmem_atomic_acquire().
 * @param m the memory the acquire returned (checked only for NULL).
 * @par Thread safety
 * MT-Safe, lock-free; never blocks. Must run on the thread that acquired.
 * @since 1.0
 */
VMMEM_EXPORT void vmmem_atomic_release(struct vmmem_atomic *a, const struct vmmem_memory *m);

/**
 * @brief The current memory with a new reference (for writers and long-lived users).
 * @return the memory (drop it with vmmem_memory_unref()), or NULL if @p a is NULL.
 * @par Thread safety
 * MT-Safe.
 * @since 1.0
 */
VMMEM_EXPORT struct vmmem_memory *vmmem_atomic_get(struct vmmem_atomic *a);

/**
 * @brief Publish @p m as the current memory (the object takes its own reference).
 * @return 0, or -EINVAL (NULL argument), or -ENOMEM (nothing changed).
 * @par Thread safety
 * MT-Safe; writers are serialised.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_atomic_replace(struct vmmem_atomic *a, struct vmmem_memory *m);

/**
 * @brief Publish the current memory plus region @p r (vmmem_memory_insert_region()).
 * @return 0, or the errors of vmmem_memory_insert_region() (e.g. ::VMMEM_E_OVERLAP), or
 *         -ENOBUFS if the memory's vhost log does not cover the new region, or -ENOMEM.
 *         On any error nothing was published.
 * @par Thread safety
 * MT-Safe; writers are serialised.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_atomic_insert_region(struct vmmem_atomic *a, struct vmmem_region *r);

/**
 * @brief Publish the current memory minus the region at @p gpa of @p size bytes (removing
 *        the last region publishes an empty memory). Readers holding older guards may still
 *        use the region until they release them: see vmmem_atomic_synchronize().
 * @param[out] removed the removed region with a reference (may be NULL).
 * @return 0, or the errors of vmmem_memory_remove_region(), or -ENOMEM. On any error
 *         nothing was published and @p removed is NULL.
 * @par Thread safety
 * MT-Safe; writers are serialised.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_atomic_remove_region(struct vmmem_atomic *a, uint64_t gpa, uint64_t size,
					    struct vmmem_region **removed);

/**
 * @brief Wait until every guard taken (on any thread, on any atomic) before this call has
 *        been released: afterwards no reader still uses a memory, region or vhost log that
 *        was replaced before the call. A vhost-user backend calls it after REM_MEM_REG or
 *        SET_LOG_BASE, before telling the front-end it is done with the old memory or log.
 * @return 0, or
 * @retval -EINVAL    @p a is NULL
 * @retval -EDEADLK   the calling thread holds a guard itself (it would wait for itself)
 * @par Thread safety
 * MT-Safe. It blocks (yielding the CPU) while older guards are held.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_atomic_synchronize(struct vmmem_atomic *a);

/**
 * @brief Publish the current memory with vhost log @p log attached (NULL detaches); the old
 *        log is released once no guard can still be writing to it.
 * @return 0, or the errors of vmmem_memory_set_vhost_log(), or -ENOMEM (nothing changed).
 * @par Thread safety
 * MT-Safe; writers are serialised.
 * @since 1.0
 */
VMMEM_EXPORT int vmmem_atomic_set_vhost_log(struct vmmem_atomic *a, struct vmmem_vhost_log *log);

VMMEM_END_DECLS

#endif /* VMMEM_ATOMIC_H */
