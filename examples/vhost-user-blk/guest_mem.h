/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The guest memory of one front-end connection, as libvmmem objects.
 *
 * The control thread owns the region table (libvmmem keeps each imported region's
 * front-end user address, QVA, and translates QVAs to guest-physical addresses with
 * vmmem_memory_translate_peer()) and changes it on
 * SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG / SET_LOG_BASE. Each change is published as a
 * new memory through a struct vmmem_atomic; the queue thread reads guest memory only through
 * guards taken with gm_acquire()/gm_release(), so it keeps running while regions come and go.
 * A change that gives something back to the front-end (a region, a table, a log) returns
 * only once no guard from before it is held, so the reply can promise it is out of use.
 */
#ifndef VUB_GUEST_MEM_H
#define VUB_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include <vmmem.h>

struct guest_mem;

/* max_slots: most regions at once; max_size: most bytes in all of them together;
 * allow_unsealed: accept fds without F_SEAL_SHRINK. */
int gm_new(struct guest_mem **out, unsigned int max_slots, uint64_t max_size,
	   bool allow_unsealed);
/* Free everything. No guard may be held (the queue thread has stopped). */
void gm_free(struct guest_mem *gm);

/* Every function below returns 0, or -1 after logging one line saying why; on failure the
 * published memory is the one from before the call (unless the wait for the queue thread
 * failed, which it cannot on a thread holding no guard). They run on the control thread
 * only. */

/* Replace the whole table (SET_MEM_TABLE); waits until the old one is out of use. The fds
 * stay the caller's. */
int gm_set_table(struct guest_mem *gm, const struct vmmem_vhost_region *descs, const int *fds,
		 unsigned int count);
/* Add one region (ADD_MEM_REG). The fd stays the caller's. */
int gm_add_region(struct guest_mem *gm, const struct vmmem_vhost_region *desc, int fd);
/* Remove the region with exactly this GPA and size (REM_MEM_REG), the last one too (the
 * memory is then empty); waits until it is out of use. */
int gm_remove_region(struct guest_mem *gm, const struct vmmem_vhost_region *desc);
/* Translate the front-end address range [qva, qva + len) to a guest-physical address; the
 * whole range must lie in one region (vmmem_memory_translate_peer on the current memory). */
int gm_qva_to_gpa(const struct guest_mem *gm, uint64_t qva, uint64_t len, uint64_t *gpa);
/* Number of regions in the table. */
unsigned int gm_region_count(const struct guest_mem *gm);

/* Take over a vhost-user dirty log (SET_LOG_BASE); attached to the memory while logging is
 * on. Refused if it does not cover the memory. Waits until the previous log is no longer
 * written. The caller's reference moves to gm, also on failure (then it is dropped). */
int gm_set_log(struct guest_mem *gm, struct vmmem_vhost_log *vlog);
/* Logging on or off (VHOST_F_LOG_ALL negotiated or not); waits until every write is logged
 * (or none is). */
int gm_set_logging(struct guest_mem *gm, bool on);

/* The device IOTLB (vhost-user IOTLB messages). Entries hold at most this many mappings;
 * the oldest go first (QEMU answers each miss with one page). */
#define GM_IOTLB_ENTRIES 4096u
/* The memory seen through the IOTLB; translation is off (IOVA = GPA) until the driver
 * negotiates VIRTIO_F_IOMMU_PLATFORM. Every ring and buffer access goes through it. */
struct vmmem_iommu *gm_iommu(const struct guest_mem *gm);
/* Translation on or off (SET_FEATURES); the IOTLB starts empty; waits for the batches. */
int gm_set_iommu(struct guest_mem *gm, bool on);
/* IOTLB UPDATE: [iova, iova + size) maps to the front-end user addresses [qva, ...), which
 * must lie in one region; perm is the message's (1 read, 2 write, 3 both). */
int gm_iotlb_update(struct guest_mem *gm, uint64_t iova, uint64_t size, uint64_t qva,
		    unsigned int perm);
/* IOTLB INVALIDATE; returns once no batch still uses the removed translations. */
int gm_iotlb_invalidate(struct guest_mem *gm, uint64_t iova, uint64_t size);

/* Queue thread: a guard on the current memory, or NULL when it has no region (none yet, or
 * the last one was removed). Pair with gm_release() on the same thread. */
const struct vmmem_memory *gm_acquire(struct guest_mem *gm);
void gm_release(struct guest_mem *gm, const struct vmmem_memory *m);

#endif /* VUB_GUEST_MEM_H */
