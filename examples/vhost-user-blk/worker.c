/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The queue thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "logging.h"
#include "worker.h"

#ifndef sigev_notify_thread_id /* glibc before 2.41 */
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define WAKE_TAG UINT32_MAX  /* epoll data of the wake eventfd (ring indices are small) */
#define POLL_INTERVAL_MS 2   /* for rings without a kick fd */
#define BATCHES_PER_TURN 8   /* then let the other rings and the control thread in */
#define PEER_IO_BOUND_MS 10  /* longest a call, err or kick fd may hold up the thread */
#define PEER_IO_SIGNAL (SIGRTMIN + 1) /* the timer's; only ever sent to the queue thread */

struct worker {
	pthread_t thread;
	int epfd, wake_fd;
	bool stop;                 /* atomic */
	struct vring *vqs;
	unsigned int nvqs;
	struct guest_mem *gm;
	struct blk_dev *blk;
	timer_t timer;             /* bounds peer fd I/O (bound_peer_io) */
	bool have_timer;
};

/*
 * The front-end's eventfds are non-blocking when we get them (vhost_user.c), but it shares
 * their open file description and can clear O_NONBLOCK again, and there is no per-call
 * non-blocking write for an eventfd (RWF_NOWAIT is refused). So while the queue thread
 * does I/O on them, an interval timer sends it a signal whose handler does nothing, and is
 * installed without SA_RESTART: a wait the front-end caused ends with EINTR within
 * PEER_IO_BOUND_MS, and the ring lock is let go. The timer never runs during other I/O,
 * so no image read or write is interrupted.
 */
static void on_peer_io_signal(int sig)
{
	(void)sig;
}

static void bound_peer_io(struct worker *w, bool on)
{
	static const struct itimerspec off, every = {
		.it_interval = { .tv_nsec = PEER_IO_BOUND_MS * 1000000L },
		.it_value = { .tv_nsec = PEER_IO_BOUND_MS * 1000000L },
	};

	if (w->have_timer)
		timer_settime(w->timer, 0, on ? &every : &off, NULL);
}

/* Per thread: the signal must reach the queue thread, not the one that started it. */
static void make_peer_io_timer(struct worker *w)
{
	struct sigevent ev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = PEER_IO_SIGNAL };
	sigset_t set;

	ev.sigev_notify_thread_id = gettid();
	sigemptyset(&set);
	sigaddset(&set, PEER_IO_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (timer_create(CLOCK_MONOTONIC, &ev, &w->timer) == 0)
		w->have_timer = true;
	else
		vub_log("queue thread: no timer (%s): a front-end that clears O_NONBLOCK on its "
			"eventfds can stall the queues",
			strerror(errno));
}

/* Consume our own wake-up eventfd (non-blocking, never shared). */
static void drain_wake(int fd)
{
	uint64_t count;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		vub_log("cannot read the queue thread wake-up eventfd: %s", strerror(errno));
}

/* Consume a pending kick. RWF_NOWAIT never waits, whatever flags the front-end set on the
 * shared file; on kernels whose eventfds lack it, a bounded read() does the same. */
static void drain_kick(struct worker *w, int fd)
{
	uint64_t count;
	struct iovec iov = { .iov_base = &count, .iov_len = sizeof(count) };
	ssize_t n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);

	if (n < 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
		bound_peer_io(w, true);
		n = read(fd, &count, sizeof(count));
		bound_peer_io(w, false);
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
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
		drain_kick(w, vq->kick_fd);
	while (vring_ready(vq)) {
		/* One guard per batch: a memory change waits at most one batch. */
		const struct vmmem_memory *m = gm_acquire(w->gm);
		unsigned int n;

		if (!m)
			break;
		n = vring_process(vq, m, gm_iommu(w->gm), blk_handle_chain, w->blk);
		gm_release(w->gm, m);
		if (vq->call_pending || vq->err_pending) {
			bound_peer_io(w, true);
			vring_notify(vq);
			bound_peer_io(w, false);
		}
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

/* A kick fd in error (an eventfd reports EPOLLERR once its count overflowed) would wake
 * us forever: stop watching it and poll the ring instead. */
static void drop_hung_kick(struct worker *w, struct vring *vq)
{
	pthread_mutex_lock(&vq->lock);
	if (vq->kick_fd >= 0) {
		vub_log("queue %u: the kick fd reports an error; polling the ring instead",
			vq->index);
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

	make_peer_io_timer(w);
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
				drain_wake(w->wake_fd);
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
	if (w->have_timer)
		timer_delete(w->timer);
	return NULL;
}

int worker_start(struct worker **out, struct vring *vqs, unsigned int nvqs,
		 struct guest_mem *gm, struct blk_dev *blk)
{
	struct worker *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = WAKE_TAG };
	struct sigaction sa = { .sa_handler = on_peer_io_signal }; /* no SA_RESTART */
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
	sigaction(PEER_IO_SIGNAL, &sa, NULL);
	/* Signals are for the main thread (the queue thread takes its timer's alone). */
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
