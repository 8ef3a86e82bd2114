/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The queue thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "logging.h"
#include "worker.h"

#define WAKE_TAG UINT32_MAX  /* epoll data of the wake eventfd (ring indices are small) */
#define POLL_INTERVAL_MS 2   /* for rings without a kick fd */
#define BATCHES_PER_TURN 8   /* then let the other rings and the control thread in */

struct worker {
	pthread_t thread;
	int epfd, wake_fd;
	bool stop;                 /* atomic */
	struct vring *vqs;
	unsigned int nvqs;
	struct guest_mem *gm;
	struct blk_dev *blk;
};

/* Consume a pending eventfd count without ever blocking (the fd is shared with the
 * front-end, so we do not change its flags). */
static void drain_eventfd(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t count;

	if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
		if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
			vub_log("cannot read a kick eventfd: %s", strerror(errno));
}

/* What a ring needs after its turn. */
#define WANTS_POLL 1u /* no kick fd: look again after the poll interval */
#define WANTS_MORE 2u /* it still had work when its turn ended: look again at once */

/* Process one ring for up to BATCHES_PER_TURN batches, so that a driver that keeps adding
 * requests can neither starve the other rings nor hold the ring lock for ever. */
static unsigned int service(struct worker *w, struct vring *vq)
{
	unsigned int wants = 0, batches = 0;

	pthread_mutex_lock(&vq->lock);
	if (vq->kick_fd >= 0)
		drain_eventfd(vq->kick_fd);
	while (vring_ready(vq)) {
		/* One guard per batch: a memory change waits at most one batch. */
		const struct vmmem_memory *m = gm_acquire(w->gm);
		unsigned int n;

		if (!m)
			break;
		n = vring_process(vq, m, blk_handle_chain, w->blk);
		gm_release(w->gm, m);
		if (n == 0)
			break;
		if (++batches == BATCHES_PER_TURN) {
			wants |= WANTS_MORE;
			break;
		}
	}
	if (vq->polling && vring_ready(vq))
		wants |= WANTS_POLL;
	pthread_mutex_unlock(&vq->lock);
	return wants;
}

/* A kick fd that hangs up (a pipe whose writer closed) would wake us forever: stop
 * watching it and poll the ring instead. */
static void drop_hung_kick(struct worker *w, struct vring *vq)
{
	pthread_mutex_lock(&vq->lock);
	if (vq->kick_fd >= 0) {
		vub_log("queue %u: the kick fd hung up; polling the ring instead", vq->index);
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, vq->kick_fd, NULL);
		vq->polling = true;
	}
	pthread_mutex_unlock(&vq->lock);
	worker_wake(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int wants = 0;

	for (;;) {
		struct epoll_event ev[8];
		int timeout = -1, n;
		bool all = false;

		/* Checked before sleeping too: the wake-up of worker_stop() may have been
		 * drained with an earlier one after the check below, and would not come again. */
		if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
			break;
		if (wants & WANTS_MORE)
			timeout = 0;
		else if (wants & WANTS_POLL)
			timeout = POLL_INTERVAL_MS;
		n = epoll_wait(w->epfd, ev, 8, timeout);

		if (n < 0 && errno != EINTR) {
			vub_log("queue thread: epoll_wait: %s", strerror(errno));
			break;
		}
		if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
			break;
		if (n <= 0 || wants)
			all = true; /* timeout, or rings left with work: look at every ring */
		for (int i = 0; i < n; i++) {
			uint32_t tag = ev[i].data.u32;

			if (tag == WAKE_TAG) {
				drain_eventfd(w->wake_fd);
				all = true;
			} else if (tag < w->nvqs && (ev[i].events & (EPOLLHUP | EPOLLERR))) {
				drop_hung_kick(w, &w->vqs[tag]);
			} else if (tag < w->nvqs && !all) {
				wants |= service(w, &w->vqs[tag]);
			}
		}
		if (all) {
			wants = 0;
			for (unsigned int i = 0; i < w->nvqs; i++)
				wants |= service(w, &w->vqs[i]);
		}
	}
	return NULL;
}

int worker_start(struct worker **out, struct vring *vqs, unsigned int nvqs,
		 struct guest_mem *gm, struct blk_dev *blk)
{
	struct worker *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = WAKE_TAG };
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (!w) {
		vub_log("out of memory for the queue thread");
		return -1;
	}
	w->vqs = vqs;
	w->nvqs = nvqs;
	w->gm = gm;
	w->blk = blk;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epfd < 0 || w->wake_fd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev)) {
		vub_log("queue thread setup: %s", strerror(errno));
		goto fail;
	}
	/* Signals are for the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		vub_log("cannot start the queue thread: %s", strerror(rc));
		goto fail;
	}
	*out = w;
	return 0;
fail:
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	free(w);
	return -1;
}

void worker_wake(struct worker *w)
{
	vring_signal_fd(w->wake_fd, "queue thread wake-up");
}

void worker_stop(struct worker *w)
{
	if (!w)
		return;
	__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
	worker_wake(w);
	pthread_join(w->thread, NULL);
	close(w->epfd);
	close(w->wake_fd);
	free(w);
}

void worker_set_kick(struct worker *w, struct vring *vq, int fd)
{
	if (vq->kick_fd >= 0) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, vq->kick_fd, NULL);
		close(vq->kick_fd);
		vq->kick_fd = -1;
	}
	if (fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = vq->index };

		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			vub_log("queue %u: cannot watch the kick fd (%s); polling the ring instead",
				vq->index, strerror(errno));
			vq->polling = true;
		}
		vq->kick_fd = fd;
	}
}
