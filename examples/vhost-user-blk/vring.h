/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Split virtqueues (virtio 1.x, section 2.7) read and written through libvmmem only.
 *
 * Every guest access is bounds-checked by libvmmem against the memory the queue thread
 * holds a guard on; nothing here dereferences a guest pointer. A front-end that breaks the
 * ring's structure (descriptor loops, chains longer than the table, bad indirect tables,
 * avail->idx running away, rings outside guest memory) gets the queue marked broken: it is
 * not processed again until the front-end sets it up anew.
 */
#ifndef VUB_VRING_H
#define VUB_VRING_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <vmmem.h>

#define VRING_MAX_SIZE 1024u          /* largest queue size accepted (virtio's maximum) */
#define VRING_MAX_INDIRECT 1024u      /* largest indirect table, in descriptors */
#define VRING_MAX_CHAIN VRING_MAX_SIZE /* a chain never has more descriptors than its table */

#define VRING_DESC_F_NEXT 1u
#define VRING_DESC_F_WRITE 2u
#define VRING_DESC_F_INDIRECT 4u
#define VRING_AVAIL_F_NO_INTERRUPT 1u

/* Sizes in guest memory of a ring's three parts (no EVENT_IDX fields: not offered). */
#define VRING_DESC_BYTES(num) (UINT64_C(16) * (num))
#define VRING_AVAIL_BYTES(num) (UINT64_C(4) + UINT64_C(2) * (num))
#define VRING_USED_BYTES(num) (UINT64_C(4) + UINT64_C(8) * (num))

/* One guest buffer of a descriptor chain (already translated from the descriptor). */
struct vring_seg {
	uint64_t gpa;
	uint32_t len;
	bool writable; /* VRING_DESC_F_WRITE: the device writes it */
};

/* A descriptor chain, flattened (indirect tables resolved). */
struct vring_chain {
	uint16_t head;           /* head index, the id returned in the used ring */
	unsigned int nsegs;
	struct vring_seg *segs;  /* VRING_MAX_CHAIN entries */
};

/*
 * Handles one chain: returns the number of bytes it wrote into the chain's writable
 * buffers (the used length), or -1 to return the chain unused (used length 0) because it is
 * unusable (e.g. no reachable status byte), or VRING_RETRY when a buffer's I/O virtual
 * address is not in the IOTLB yet (a miss was sent to the front-end): the chain stays
 * available and is handled again after the next IOTLB update. Must not take long locks.
 *
 * Addresses in a chain (and the ring addresses) are what the driver wrote: guest-physical
 * addresses, or I/O virtual addresses when VIRTIO_F_IOMMU_PLATFORM is negotiated; every
 * access goes through io, which translates them or passes them through.
 */
#define VRING_RETRY (-2)
typedef int64_t (*vring_handler_fn)(void *opaque, const struct vmmem_memory *m,
				    struct vmmem_iommu *io, const struct vring_chain *chain);

struct vring {
	pthread_mutex_t lock; /* held by the queue thread for a whole batch */
	unsigned int index;

	/* Set by the control thread (under lock). */
	uint16_t num;              /* queue size, 0 until SET_VRING_NUM */
	bool addr_set;             /* SET_VRING_ADDR accepted */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint64_t log_gpa;          /* log_guest_addr: where used-ring writes are logged */
	bool log_used;             /* VHOST_VRING_F_LOG */
	bool log_gpa_failed;       /* a mark at log_gpa failed (logged once per SET_VRING_ADDR) */
	bool indirect;             /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool started;              /* kick fd received, not yet stopped by GET_VRING_BASE */
	bool enabled;              /* SET_VRING_ENABLE (or no protocol features) */
	bool polling;              /* no kick fd: the queue thread polls */
	int kick_fd, call_fd, err_fd; /* the front-end's eventfds, non-blocking (vhost_user.c) */

	/* Ring state (control thread sets it while stopped, queue thread while running). */
	uint16_t last_avail_idx;   /* next avail entry to take */
	uint16_t used_idx;         /* next used entry to fill */
	bool used_idx_synced;      /* used_idx read back from guest memory since (re)start */
	bool broken;               /* a structural error was found: not processed any more */
	bool call_pending;         /* vring_process() owes the driver an interrupt */
	bool iotlb_wait;           /* stopped on an IOTLB miss: retried after an update */
	bool err_pending;          /* ... and the front-end a ring error */

	struct vring_seg *segs;    /* chain scratch space, VRING_MAX_CHAIN entries */
};

/* Initialise a stopped ring (fds -1). Returns 0, or -1 when out of memory. */
int vring_init(struct vring *vq, unsigned int index);
/* Close its fds and free it. */
void vring_destroy(struct vring *vq);
/* Back to the state after vring_init() except the index (RESET_OWNER, disconnect); closes
 * the fds. Call with vq->lock held. */
void vring_reset(struct vring *vq);

/* May the queue thread process it? (call with lock held) */
bool vring_ready(const struct vring *vq);

/*
 * Process everything the driver made available (call with vq->lock held and a guard on
 * m, the memory io translates into): take each chain, let handler complete it, fill the used ring, publish used->idx (a
 * sequentially consistent store, so also a release) and mark the call eventfd pending
 * unless the driver suppressed interrupts. With a dirty log attached to m, used-ring writes
 * are also logged at log_gpa when VHOST_VRING_F_LOG names another address than the ring's.
 * Returns the number of chains completed; structural errors mark the queue broken (one log
 * line, the err eventfd pending).
 */
unsigned int vring_process(struct vring *vq, const struct vmmem_memory *m,
			   struct vmmem_iommu *io, vring_handler_fn handler, void *opaque);

/* Signal the call and err eventfds vring_process() left pending. Call with vq->lock held
 * but no guard on the memory: these are writes to the front-end's fds, which no change of
 * the memory table should have to wait for. */
void vring_notify(struct vring *vq);

/* Write 1 to an eventfd; failures other than a full (EAGAIN) or interrupted (EINTR) one
 * are logged. */
void vring_signal_fd(int fd, const char *what);

#endif /* VUB_VRING_H */
