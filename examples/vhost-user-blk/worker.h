/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The queue thread: waits on the kick eventfds of all rings (epoll) and processes ready
 * rings. Each batch runs with the ring's lock held (the control thread changes ring state
 * under it) and a guard on the guest memory (gm_acquire/gm_release), so the control thread
 * can change the memory table at any time and wait, in guest_mem, until no batch still
 * uses an older memory. The front-end's kick, call and err eventfds are read and written
 * without a guard and never waited on for longer than a few milliseconds, whatever the
 * front-end does to them, so the ring lock is always let go soon.
 */
#ifndef VUB_WORKER_H
#define VUB_WORKER_H

#include "blk.h"
#include "guest_mem.h"
#include "vring.h"

struct worker;

/* Start the thread over rings vqs[0..nvqs). Returns 0, or -1 after a log line. */
int worker_start(struct worker **out, struct vring *vqs, unsigned int nvqs,
		 struct guest_mem *gm, struct blk_dev *blk);
/* Stop and join the thread, free it. NULL is ignored. */
void worker_stop(struct worker *w);
/* Have the thread look at every ring again (after a ring or the memory became ready). */
void worker_wake(struct worker *w);
/* Replace vq's kick fd (closing the old one); -1 for none. Call with vq->lock held. */
void worker_set_kick(struct worker *w, struct vring *vq, int fd);

#endif /* VUB_WORKER_H */
