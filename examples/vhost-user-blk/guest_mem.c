/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Guest memory of one connection: the region table (with QVAs), the published memory and
 * the dirty log.
 *
 * The memory lives in a vmmem_atomic from the start of the connection, empty until the
 * first region arrives (CONFIGURE_MEM_SLOTS front-ends build the table region by region)
 * and empty again when the last one is removed. Whatever the front-end may reclaim once we
 * reply (a removed region, a replaced table, the previous log) is replaced first and then
 * waited out with vmmem_atomic_synchronize(): the queue thread holds a guard only for one
 * batch, so the wait is short, and after it no batch still uses the old objects.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "guest_mem.h"
#include "logging.h"

struct gm_slot {
	struct vmmem_region *region; /* our reference */
	uint64_t gpa, size; /* the front-end address stays with the region (libvmmem) */
};

struct guest_mem {
	struct vmmem_atomic *atomic;  /* the published memory; the queue thread takes guards */
	struct gm_slot *slots;        /* max_slots entries, count used, in arrival order */
	unsigned int count, max_slots;
	uint64_t size, max_size;      /* bytes in the count slots, and the cap on that */
	uint32_t import_flags;
	struct vmmem_vhost_log *vlog; /* last SET_LOG_BASE, or NULL */
	bool logging;                 /* VHOST_F_LOG_ALL negotiated */
	struct vmmem_iotlb *tlb;      /* the device IOTLB (VHOST_USER_IOTLB_MSG) */
	struct vmmem_iommu *io;       /* the memory through it; off until IOMMU_PLATFORM */
};

int gm_new(struct guest_mem **out, unsigned int max_slots, uint64_t max_size,
	   bool allow_unsealed)
{
	struct guest_mem *gm = calloc(1, sizeof(*gm));
	struct vmmem_memory *empty = NULL;

	*out = NULL;
	if (!gm)
		goto nomem;
	gm->slots = calloc(max_slots, sizeof(*gm->slots));
	if (!gm->slots || vmmem_memory_new_empty(&empty) ||
	    vmmem_atomic_new(&gm->atomic, empty) ||
	    vmmem_iotlb_new(&gm->tlb, GM_IOTLB_ENTRIES, VMMEM_IOTLB_EVICT_OLDEST) ||
	    vmmem_iommu_new(&gm->io, gm->atomic, gm->tlb) || vmmem_iommu_set_enabled(gm->io, 0))
		goto nomem;
	vmmem_memory_unref(empty); /* the atomic has its own reference */
	gm->max_slots = max_slots;
	gm->max_size = max_size;
	gm->import_flags = allow_unsealed ? VMMEM_IMPORT_ALLOW_UNSEALED : 0;
	*out = gm;
	return 0;
nomem:
	vub_log("out of memory for the guest memory");
	vmmem_memory_unref(empty);
	if (gm) {
		vmmem_iommu_unref(gm->io);
		vmmem_iotlb_unref(gm->tlb);
		vmmem_atomic_unref(gm->atomic);
		free(gm->slots);
	}
	free(gm);
	return -1;
}

static void drop_slots(struct gm_slot *slots, unsigned int count)
{
	for (unsigned int i = 0; i < count; i++)
		slots[i].region = vmmem_region_unref(slots[i].region);
}

void gm_free(struct guest_mem *gm)
{
	if (!gm)
		return;
	/* The memories hold their own references on regions and log. */
	vmmem_iommu_unref(gm->io);
	vmmem_iotlb_unref(gm->tlb);
	vmmem_atomic_unref(gm->atomic);
	drop_slots(gm->slots, gm->count);
	vmmem_vhost_log_unref(gm->vlog);
	free(gm->slots);
	free(gm);
}

unsigned int gm_region_count(const struct guest_mem *gm)
{
	return gm->count;
}

static bool want_log(const struct guest_mem *gm)
{
	return gm->logging && gm->vlog;
}

/* Wait until no guard taken before the call is held, i.e. no batch of the queue thread
 * still uses a memory, region or log replaced before it. It only fails for a caller holding
 * a guard, which the control thread never does. */
static int wait_readers(struct guest_mem *gm)
{
	if (vmmem_atomic_synchronize(gm->atomic) == 0)
		return 0;
	vub_log("cannot wait for the queue thread to leave the old memory: %s",
		vmmem_errormsg());
	return -1;
}

static void log_region(const char *what, const struct vmmem_vhost_region *d)
{
	vub_log("%s region GPA 0x%" PRIx64 " size 0x%" PRIx64 " QVA 0x%" PRIx64
		" offset 0x%" PRIx64 ": %s",
		what, d->guest_phys_addr, d->memory_size, d->userspace_addr, d->mmap_offset,
		vmmem_errormsg());
}

/* Does [qva, qva + size) overlap the front-end range libvmmem keeps for slot @a? QVA
 * translation must be unique: a front-end describing two regions at one address is
 * refused. */
static bool qva_overlap(const struct gm_slot *a, uint64_t qva, uint64_t size)
{
	uint64_t aq = 0;

	if (vmmem_region_peer_addr(a->region, &aq))
		return false;
	return qva <= aq + (a->size - 1) && aq <= qva + (size - 1);
}

/* Import one described fd as a slot (front-end range checked against slots[0..n)). */
static int import_slot(struct guest_mem *gm, const struct vmmem_vhost_region *d, int fd,
		       const struct gm_slot *others, unsigned int n, struct gm_slot *out)
{
	struct vmmem_region *r = NULL;
	int rc;

	if (d->memory_size == 0 || d->userspace_addr > UINT64_MAX - (d->memory_size - 1)) {
		vub_log("refusing region GPA 0x%" PRIx64 " size 0x%" PRIx64 " QVA 0x%" PRIx64
			": empty, or its user address range wraps",
			d->guest_phys_addr, d->memory_size, d->userspace_addr);
		return -1;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (qva_overlap(&others[i], d->userspace_addr, d->memory_size)) {
			vub_log("refusing region GPA 0x%" PRIx64 " QVA 0x%" PRIx64 " size 0x%" PRIx64
				": its user addresses overlap the region at GPA 0x%" PRIx64,
				d->guest_phys_addr, d->userspace_addr, d->memory_size,
				others[i].gpa);
			return -1;
		}
	}
	rc = vmmem_region_import(&r, d, fd, gm->import_flags);
	if (rc) {
		log_region("refusing", d);
		return -1;
	}
	*out = (struct gm_slot){ .region = r, .gpa = d->guest_phys_addr, .size = d->memory_size };
	return 0;
}

/* Would size more bytes on top of have go over the cap? Checked before anything is mapped:
 * the mapping itself is what a front-end could exhaust the address space with. */
static bool over_size_cap(const struct guest_mem *gm, uint64_t have, uint64_t size)
{
	return size > gm->max_size || have > gm->max_size - size;
}

/* A memory over the slots, with the log attached if logging is on. */
static int build_memory(const struct guest_mem *gm, const struct gm_slot *slots,
			unsigned int count, struct vmmem_memory **out)
{
	struct vmmem_region **regions = calloc(count, sizeof(*regions));
	struct vmmem_memory *m = NULL, *logged = NULL;
	int rc;

	*out = NULL;
	if (!regions) {
		vub_log("out of memory building the guest memory");
		return -1;
	}
	for (unsigned int i = 0; i < count; i++)
		regions[i] = slots[i].region;
	rc = vmmem_memory_new(&m, regions, count);
	free(regions);
	if (rc) {
		vub_log("refusing the memory table: %s", vmmem_errormsg());
		return -1;
	}
	if (want_log(gm)) {
		rc = vmmem_memory_set_vhost_log(m, gm->vlog, &logged);
		vmmem_memory_unref(m);
		if (rc) {
			vub_log("refusing the memory table: %s", vmmem_errormsg());
			return -1;
		}
		m = logged;
	}
	*out = m;
	return 0;
}

/* Publish a memory (its reference is dropped) as the current one. */
static int publish(struct guest_mem *gm, struct vmmem_memory *m)
{
	int rc = vmmem_atomic_replace(gm->atomic, m);

	vmmem_memory_unref(m);
	if (rc) {
		vub_log("cannot publish the guest memory: %s", vmmem_errormsg());
		return -1;
	}
	return 0;
}

int gm_set_table(struct guest_mem *gm, const struct vmmem_vhost_region *descs, const int *fds,
		 unsigned int count)
{
	struct gm_slot *fresh;
	struct vmmem_memory *m;
	unsigned int n = 0;
	uint64_t total = 0;

	if (count == 0 || count > gm->max_slots) {
		vub_log("refusing a memory table of %u regions (1 to %u allowed)", count,
			gm->max_slots);
		return -1;
	}
	/* The new table replaces the old one: it counts alone. */
	for (unsigned int i = 0; i < count; i++) {
		if (over_size_cap(gm, total, descs[i].memory_size)) {
			vub_log("refusing a memory table of %u regions: more than the %" PRIu64
				"-byte cap on guest memory (--max-mem-size)",
				count, gm->max_size);
			return -1;
		}
		total += descs[i].memory_size;
	}
	fresh = calloc(gm->max_slots, sizeof(*fresh));
	if (!fresh) {
		vub_log("out of memory for the memory table");
		return -1;
	}
	for (; n < count; n++)
		if (import_slot(gm, &descs[n], fds[n], fresh, n, &fresh[n]))
			goto fail;
	/* GPA overlaps are refused here by vmmem_memory_new(). */
	if (build_memory(gm, fresh, count, &m) || publish(gm, m))
		goto fail;
	drop_slots(gm->slots, gm->count);
	free(gm->slots);
	gm->slots = fresh;
	gm->count = count;
	gm->size = total;
	return wait_readers(gm); /* the old table's regions are the front-end's again */
fail:
	drop_slots(fresh, n);
	free(fresh);
	return -1;
}

int gm_add_region(struct guest_mem *gm, const struct vmmem_vhost_region *desc, int fd)
{
	struct gm_slot slot;

	if (gm->count >= gm->max_slots) {
		vub_log("refusing region GPA 0x%" PRIx64 ": all %u memory slots are in use",
			desc->guest_phys_addr, gm->max_slots);
		return -1;
	}
	if (over_size_cap(gm, gm->size, desc->memory_size)) {
		vub_log("refusing region GPA 0x%" PRIx64 " size 0x%" PRIx64 ": with the 0x%" PRIx64
			" bytes already in use it passes the %" PRIu64
			"-byte cap on guest memory (--max-mem-size)",
			desc->guest_phys_addr, desc->memory_size, gm->size, gm->max_size);
		return -1;
	}
	if (import_slot(gm, desc, fd, gm->slots, gm->count, &slot))
		return -1;
	/* GPA overlaps, and a region the attached log does not cover, are refused here. */
	if (vmmem_atomic_insert_region(gm->atomic, slot.region)) {
		log_region("refusing", desc);
		vmmem_region_unref(slot.region);
		return -1;
	}
	gm->slots[gm->count++] = slot;
	gm->size += slot.size;
	return 0;
}

int gm_remove_region(struct guest_mem *gm, const struct vmmem_vhost_region *desc)
{
	unsigned int i;

	for (i = 0; i < gm->count; i++)
		if (gm->slots[i].gpa == desc->guest_phys_addr &&
		    gm->slots[i].size == desc->memory_size)
			break;
	if (i == gm->count) {
		vub_log("refusing to remove region GPA 0x%" PRIx64 " size 0x%" PRIx64
			": no such region",
			desc->guest_phys_addr, desc->memory_size);
		return -1;
	}
	{
		uint64_t known = 0;

		if (vmmem_region_peer_addr(gm->slots[i].region, &known) == 0 &&
		    known != desc->userspace_addr)
			vub_debug("removing region GPA 0x%" PRIx64 ": QVA 0x%" PRIx64
				  " given, 0x%" PRIx64 " known; GPA and size decide",
				  desc->guest_phys_addr, desc->userspace_addr, known);
	}
	/* Removing the last region publishes an empty memory. */
	if (vmmem_atomic_remove_region(gm->atomic, desc->guest_phys_addr, desc->memory_size,
				       NULL)) {
		log_region("cannot remove", desc);
		return -1;
	}
	vmmem_region_unref(gm->slots[i].region);
	gm->size -= gm->slots[i].size;
	gm->slots[i] = gm->slots[--gm->count];
	/* After the reply the front-end may unmap the region: no batch may still use it. */
	return wait_readers(gm);
}

int gm_qva_to_gpa(const struct guest_mem *gm, uint64_t qva, uint64_t len, uint64_t *gpa)
{
	/* The control thread publishes every memory, so the current one is its table. */
	struct vmmem_memory *m = vmmem_atomic_get(gm->atomic);
	int rc = vmmem_memory_translate_peer(m, qva, len, gpa);

	vmmem_memory_unref(m);
	return rc ? -1 : 0;
}

/* Attach (or detach) the log on the published memory to match gm's state. */
static int sync_log(struct guest_mem *gm)
{
	if (vmmem_atomic_set_vhost_log(gm->atomic, want_log(gm) ? gm->vlog : NULL)) {
		vub_log("cannot attach the dirty log: %s", vmmem_errormsg());
		return -1;
	}
	return 0;
}

/* Refuse a log too small for the current memory now, not only when logging starts (then
 * vmmem_atomic_set_vhost_log() would refuse it). An empty memory's last address is 0. */
static int check_log_covers(struct guest_mem *gm, const struct vmmem_vhost_log *vlog)
{
	struct vmmem_memory *cur = vmmem_atomic_get(gm->atomic);
	uint64_t last_page = vmmem_memory_last_addr(cur) / VMMEM_VHOST_LOG_PAGE;
	uint64_t size = vmmem_vhost_log_size(vlog);

	vmmem_memory_unref(cur);
	if (last_page / 8 < size)
		return 0;
	vub_log("refusing the dirty log: 0x%" PRIx64 " bytes, the guest memory up to GPA "
		"0x%" PRIx64 " needs 0x%" PRIx64,
		size, last_page * VMMEM_VHOST_LOG_PAGE + (VMMEM_VHOST_LOG_PAGE - 1),
		last_page / 8 + 1);
	return -1;
}

int gm_set_log(struct guest_mem *gm, struct vmmem_vhost_log *vlog)
{
	struct vmmem_vhost_log *old = gm->vlog;

	if (check_log_covers(gm, vlog)) {
		vmmem_vhost_log_unref(vlog);
		return -1;
	}
	gm->vlog = vlog;
	if (sync_log(gm)) {
		gm->vlog = old;
		vmmem_vhost_log_unref(vlog);
		return -1;
	}
	vmmem_vhost_log_unref(old); /* the memories that still use it hold their own */
	/* After the reply the front-end reads and frees the old log: no batch may still be
	 * writing to it. */
	return wait_readers(gm);
}

int gm_set_logging(struct guest_mem *gm, bool on)
{
	if (gm->logging == on)
		return 0;
	gm->logging = on;
	if (on && !gm->vlog)
		vub_log("dirty logging enabled before SET_LOG_BASE: nothing is logged until a log "
			"arrives");
	if (sync_log(gm)) {
		gm->logging = !on;
		return -1;
	}
	/* From the reply on, every write is logged (or none is): no batch may still use the
	 * memory from before. */
	return wait_readers(gm);
}

const struct vmmem_memory *gm_acquire(struct guest_mem *gm)
{
	/* Through the IOMMU view: the batch's accesses then all use this memory. */
	const struct vmmem_memory *m = vmmem_iommu_acquire(gm->io);

	/* Without a region no ring can be reached: rather than failing them, the queue waits
	 * for memory (ADD_MEM_REG and SET_MEM_TABLE wake it). */
	if (vmmem_memory_region_count(m) == 0) {
		vmmem_iommu_release(gm->io, m);
		return NULL;
	}
	return m;
}

void gm_release(struct guest_mem *gm, const struct vmmem_memory *m)
{
	if (m)
		vmmem_iommu_release(gm->io, m);
}

/* ---- the device IOTLB ---- */

struct vmmem_iommu *gm_iommu(const struct guest_mem *gm)
{
	return gm->io;
}

int gm_set_iommu(struct guest_mem *gm, bool on)
{
	if (vmmem_iommu_enabled(gm->io) == (int)on)
		return 0;
	/* A fresh start either way: no entry of an earlier negotiation survives. */
	if (vmmem_iotlb_invalidate_all(gm->tlb) < 0 || vmmem_iommu_set_enabled(gm->io, on)) {
		vub_log("cannot switch the IOMMU %s: %s", on ? "on" : "off", vmmem_errormsg());
		return -1;
	}
	vub_log("IOMMU %s (VIRTIO_F_IOMMU_PLATFORM %s)", on ? "on" : "off",
		on ? "negotiated" : "not negotiated");
	return wait_readers(gm);
}

int gm_iotlb_update(struct guest_mem *gm, uint64_t iova, uint64_t size, uint64_t qva,
		    unsigned int perm)
{
	uint64_t gpa;

	/* The message carries the front-end's address: its memory table gives the GPA, which
	 * is what libvmmem's IOTLB maps to (and what the dirty log is indexed by). */
	if (size == 0 || gm_qva_to_gpa(gm, qva, size, &gpa)) {
		vub_log("IOTLB update iova 0x%" PRIx64 " size 0x%" PRIx64 " user address 0x%" PRIx64
			": not inside one memory region",
			iova, size, qva);
		return -1;
	}
	if (vmmem_iotlb_update(gm->tlb, iova, size, gpa, perm)) {
		vub_log("IOTLB update iova 0x%" PRIx64 " size 0x%" PRIx64 ": %s", iova, size,
			vmmem_errormsg());
		return -1;
	}
	return 0;
}

int gm_iotlb_invalidate(struct guest_mem *gm, uint64_t iova, uint64_t size)
{
	int n = vmmem_iotlb_invalidate(gm->tlb, iova, size);

	if (n < 0) {
		vub_log("IOTLB invalidate iova 0x%" PRIx64 " size 0x%" PRIx64 ": %s", iova, size,
			vmmem_errormsg());
		return -1;
	}
	/* A batch that translated before may still be using the old mapping: the reply
	 * promises it is no longer used. */
	return n ? wait_readers(gm) : 0;
}
