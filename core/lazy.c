/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Lazy restore with userfaultfd. The regions are created empty (no prealloc) and registered
 * for missing-page faults. Two threads serve them:
 *  - the fault thread reads each faulting page from the file and installs it atomically
 *    (UFFDIO_COPY; UFFDIO_ZEROPAGE for a zero page where the memory type allows), so the
 *    faulting thread — or the kernel, for a syscall or KVM touching guest memory — resumes
 *    with the right bytes;
 *  - the prefetch thread walks the file in order, installs every page not yet there
 *    (EEXIST means a fault got it first: the bytes are the same file bytes) and checksums
 *    what it read, so the restore ends with every page resident and every region verified.
 * Then the ranges are unregistered and vmmem_restore_wait() reports the outcome. A page the
 * fault thread cannot read is poisoned where the kernel can (UFFDIO_POISON: touching it
 * raises SIGBUS) rather than handed out as zeros, and the restore reports the error.
 */
#define _GNU_SOURCE
#include "lazy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <vmmem/memory.h>

#include "crc32c.h"
#include "error.h"
#include "region.h"
#include "snapfile.h"
#include "snapio.h"

/* Linux 6.6 additions, missing from older uapi headers. */
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFDIO_POISON
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, 0x08, struct uffdio_poison)
#endif

#define MAX_LAZY_PAGE (32ull << 20)
/* Base pages installed per fault: an aligned 64 KiB window around the faulting page, like
 * the kernel's fault-around. One userfaultfd round trip costs tens of microseconds on a
 * virtualised host (two thread switches), so neighbours the guest is about to touch are
 * brought in by the same trip. Huge pages are installed one at a time. */
#define FAULT_AROUND_PAGES 16
/* After serving a fault the fault thread keeps polling for this long before it sleeps:
 * faults come in bursts, and a sleeping handler adds a wake-up to each round trip. */
#define FAULT_SPIN_NS 100000

struct lazy_region {
	uint8_t *host;
	uint64_t size;     /* region bytes */
	uint64_t map_len;  /* registered bytes: size rounded up to the page */
	uint64_t page;     /* install granularity: the backing page size */
	uint64_t file_off; /* the region's data in the file */
	uint32_t crc;      /* expected data checksum */
	bool zeropage;     /* UFFDIO_ZEROPAGE works here (not hugetlb) */
	uint64_t next_seq; /* fault thread only: where the last fault's pages ended */
};

struct vmmem_restore {
	int fd;       /* the snapshot file, our own description */
	struct vmm_extent_map extents; /* a copy of the snapshot's: it may be closed first */
	int uffd;
	int stop_fd;  /* eventfd: tells the fault thread to exit */
	bool poison;  /* UFFDIO_POISON is available */
	struct vmmem_region **regions;
	struct lazy_region *lr;
	size_t n;
	uint8_t *fault_buf; /* the fault thread's page buffer */
	uint64_t total;
	uint64_t done;   /* atomic: bytes installed */
	uint64_t faults; /* atomic: faults served */
	vmmem_progress_fn progress;
	void *progress_arg;
	pthread_t fault_thread, prefetch_thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool prefetch_started; /* under lock */
	bool fault_stopped;    /* under lock: the fault thread is joined or being joined */
	bool complete;         /* under lock */
	int rc;                /* under lock: first failure */
	char msg[512];         /* under lock: its message */
};

static void fail(struct vmmem_restore *r, int rc)
{
	pthread_mutex_lock(&r->lock);
	if (r->rc == 0) {
		r->rc = rc;
		snprintf(r->msg, sizeof(r->msg), "%s", vmmem_errormsg());
	}
	pthread_mutex_unlock(&r->lock);
}

/* Install @len bytes of @src at @dst, or zero pages when @src is NULL (only where
 * lr->zeropage). Pages already present are skipped (and their waiters woken). Returns 0 or
 * a negative errno. */
static int install(struct vmmem_restore *r, const struct lazy_region *lr, uint8_t *dst,
		   const uint8_t *src, uint64_t len)
{
	while (len) {
		long ret;
		int64_t moved;

		if (!src) {
			struct uffdio_zeropage z = { .range = { (uintptr_t)dst, len } };

			ret = ioctl(r->uffd, UFFDIO_ZEROPAGE, &z);
			moved = z.zeropage;
		} else {
			struct uffdio_copy c = { .dst = (uintptr_t)dst,
						 .src = (uintptr_t)src,
						 .len = len };

			ret = ioctl(r->uffd, UFFDIO_COPY, &c);
			moved = c.copy;
		}
		if (moved > 0) {
			__atomic_fetch_add(&r->done, (uint64_t)moved, __ATOMIC_RELAXED);
			dst += moved;
			if (src)
				src += moved;
			len -= (uint64_t)moved;
			continue;
		}
		if (ret == 0)
			continue;
		if (errno == EAGAIN) /* the mapping is changing: retry */
			continue;
		if (errno != EEXIST)
			return -errno;
		/* The first page is there already: wake whoever waits on it, go past it. */
		struct uffdio_range w = { (uintptr_t)dst, lr->page };

		ioctl(r->uffd, UFFDIO_WAKE, &w);
		dst += lr->page;
		if (src)
			src += lr->page;
		len -= lr->page;
	}
	return 0;
}

static struct lazy_region *region_of(struct vmmem_restore *r, uintptr_t addr)
{
	for (size_t i = 0; i < r->n; i++)
		if (addr >= (uintptr_t)r->lr[i].host && addr - (uintptr_t)r->lr[i].host < r->lr[i].map_len)
			return &r->lr[i];
	return NULL;
}

/* The pages a fault installs, clipped to the registered range: where faults run
 * sequentially (this one starts where the last one ended), the aligned fault-around
 * window; else the one page, so scattered faults do not pay for 15 neighbours. */
static uint64_t fault_window(struct lazy_region *lr, uint64_t off, uint64_t *start)
{
	uint64_t page_off = off & ~(lr->page - 1), win = lr->page, len;

	if (lr->zeropage && page_off == lr->next_seq)
		win = FAULT_AROUND_PAGES * lr->page;
	*start = off & ~(win - 1);
	len = lr->map_len - *start < win ? lr->map_len - *start : win;
	lr->next_seq = *start + len;
	return len;
}

/* Serve one missing-page fault from the file. */
static void serve_fault(struct vmmem_restore *r, uintptr_t addr)
{
	struct lazy_region *lr = region_of(r, addr);
	uint64_t off, win, len;
	int rc;

	if (!lr)
		return; /* not ours: cannot happen, the fd only covers our ranges */
	win = fault_window(lr, addr - (uintptr_t)lr->host, &off);
	len = lr->size - off < win ? lr->size - off : win;
	if (len < win)
		memset(r->fault_buf + len, 0, win - len);
	rc = vmm_snap_pread(r->fd, r->fault_buf, len, lr->file_off + off);
	__atomic_fetch_add(&r->faults, 1, __ATOMIC_RELAXED);
	if (rc == 0) {
		bool zero = lr->zeropage && vmm_is_zero(r->fault_buf, win);

		rc = install(r, lr, lr->host + off, zero ? NULL : r->fault_buf, win);
		if (rc)
			rc = vmm_err(rc, "lazy restore: cannot install the pages at offset %llu: %s",
				     (unsigned long long)off, strerror(-rc));
	}
	if (rc == 0)
		return;
	fail(r, rc);
	/* Never hand out bytes that are not the snapshot's: poison the page if we can. */
	off = (addr - (uintptr_t)lr->host) & ~(lr->page - 1);
	struct uffdio_poison p = { .range = { (uintptr_t)lr->host + off, lr->page } };

	if (!r->poison || ioctl(r->uffd, UFFDIO_POISON, &p) != 0) {
		memset(r->fault_buf, 0, lr->page);
		install(r, lr, lr->host + off, r->fault_buf, lr->page);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *fault_main(void *arg)
{
	struct vmmem_restore *r = arg;
	struct pollfd pfd[2] = { { .fd = r->uffd, .events = POLLIN },
				 { .fd = r->stop_fd, .events = POLLIN } };
	struct uffd_msg msg[16];
	uint64_t spin_until = 0;

	for (;;) {
		ssize_t got = read(r->uffd, msg, sizeof(msg)); /* non-blocking */

		if (got <= 0) {
			if (mono_ns() < spin_until)
				continue;
			if (poll(pfd, 2, -1) < 0 && errno != EINTR)
				break;
			if (pfd[1].revents)
				break;
			continue;
		}
		for (ssize_t i = 0; i < got / (ssize_t)sizeof(msg[0]); i++)
			if (msg[i].event == UFFD_EVENT_PAGEFAULT)
				serve_fault(r, (uintptr_t)msg[i].arg.pagefault.address);
		spin_until = mono_ns() + FAULT_SPIN_NS;
	}
	return NULL;
}

/* Bytes the prefetch thread handles at a time for a region: whole backing pages. */
static uint64_t prefetch_window(const struct lazy_region *lr)
{
	return lr->page > VMM_SNAP_CHUNK ? lr->page : VMM_SNAP_CHUNK;
}

/* Prefetch one region window by window: read the window's data extents (holes are zero),
 * checksum them, install the window's pages. */
static int prefetch_region(struct vmmem_restore *r, size_t i, uint8_t *buf,
			   struct vmm_progress *p)
{
	struct lazy_region *lr = &r->lr[i];
	uint64_t win = prefetch_window(lr);
	uint32_t crc = 0;
	int rc = 0;

	for (uint64_t w = 0; w < lr->size; w += win) {
		uint64_t len = lr->size - w < win ? lr->size - w : win;
		uint64_t inst = lr->map_len - w < win ? lr->map_len - w : win;
		struct vmm_extents it;
		uint64_t off, n;
		bool data, any_data = false;

		vmm_extents_init(&it, &r->extents, lr->file_off + w, len);
		while ((rc = vmm_extents_next(&it, len, &off, &n, &data)) > 0) {
			if (data) {
				rc = vmm_snap_pread(r->fd, buf + off, n, lr->file_off + w + off);
				if (rc)
					return rc;
				crc = vmm_crc32c(crc, buf + off, n);
				any_data = true;
			} else {
				memset(buf + off, 0, n);
				crc = vmm_crc32c_zeros(crc, n);
			}
		}
		memset(buf + len, 0, inst - len);
		rc = install(r, lr, lr->host + w, any_data || !lr->zeropage ? buf : NULL, inst);
		if (rc)
			return vmm_err(rc, "lazy restore: cannot install region %zu's pages at "
					   "offset %llu: %s",
				       i, (unsigned long long)w, strerror(-rc));
		rc = vmm_progress_add(p, len);
		if (rc == -ECANCELED)
			rc = 0; /* a lazy restore cannot stop half way */
		if (rc)
			return rc;
	}
	if (crc != lr->crc)
		return vmm_err(VMMEM_E_SNAPSHOT_CHECKSUM,
			       "lazy restore: region %zu: its data has checksum 0x%08x, the table "
			       "says 0x%08x: the data is corrupt and the memory must not be used",
			       i, crc, lr->crc);
	return 0;
}

/* Stop and join the fault thread, once (from the prefetch thread or from free). */
static void stop_fault_thread(struct vmmem_restore *r)
{
	pthread_mutex_lock(&r->lock);
	bool join = !r->fault_stopped;

	r->fault_stopped = true;
	pthread_mutex_unlock(&r->lock);
	if (!join)
		return;
	eventfd_write(r->stop_fd, 1);
	pthread_join(r->fault_thread, NULL);
}

static void *prefetch_main(void *arg)
{
	struct vmmem_restore *r = arg;
	struct vmm_progress prog;
	uint64_t bufsz = VMM_SNAP_CHUNK;
	uint8_t *buf;
	int rc = 0;

	for (size_t i = 0; i < r->n; i++)
		if (prefetch_window(&r->lr[i]) > bufsz)
			bufsz = prefetch_window(&r->lr[i]);
	buf = aligned_alloc(4096, bufsz);
	if (!buf)
		rc = vmm_err(-ENOMEM, "lazy restore: out of memory");
	vmm_progress_init(&prog, r->progress, r->progress_arg, r->total);
	for (size_t i = 0; i < r->n && rc == 0; i++)
		rc = prefetch_region(r, i, buf, &prog);
	free(buf);
	if (rc) {
		/* Pages may be missing: the fault thread keeps serving (and poisoning what it
		 * cannot read) until vmmem_restore_free(). */
		fail(r, rc);
	} else {
		/* Every page is in. Stop the fault thread first (a fault it has read is
		 * served, as EEXIST + wake), then unregister, which wakes any thread still
		 * queued on a page: it finds the page present. */
		stop_fault_thread(r);
		for (size_t i = 0; i < r->n; i++) {
			struct uffdio_range range = { (uintptr_t)r->lr[i].host, r->lr[i].map_len };

			ioctl(r->uffd, UFFDIO_UNREGISTER, &range);
		}
	}
	pthread_mutex_lock(&r->lock);
	r->complete = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Start the prefetch thread once. Lock held. */
static int start_prefetch(struct vmmem_restore *r)
{
	int err;

	if (r->prefetch_started)
		return 0;
	err = pthread_create(&r->prefetch_thread, NULL, prefetch_main, r);
	if (err)
		return vmm_err(-err, "lazy restore: cannot start the prefetch thread: %s",
			       strerror(err));
	r->prefetch_started = true;
	return 0;
}

static int open_uffd(bool *poison)
{
	struct uffdio_api api = { .api = UFFD_API };
	uint64_t want = UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MISSING_HUGETLBFS;
	int probe, fd;

	for (int pass = 0; pass < 2; pass++) {
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (fd < 0 && (errno == EPERM || errno == ENOSYS)) {
			int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

			if (dev >= 0) {
				fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
				close(dev);
			}
		}
		if (fd < 0)
			return vmm_err(-EOPNOTSUPP,
				       "lazy restore: userfaultfd is not available (%m): it needs "
				       "root, CAP_SYS_PTRACE, access to /dev/userfaultfd or "
				       "vm.unprivileged_userfaultfd=1");
		if (pass == 0) {
			/* A probe learns the kernel's features; the real fd asks for ours. */
			probe = ioctl(fd, UFFDIO_API, &api);
			close(fd);
			if (probe < 0)
				return vmm_err(-EOPNOTSUPP, "lazy restore: UFFDIO_API failed: %m");
			*poison = api.features & UFFD_FEATURE_POISON;
			want &= api.features;
			if (*poison)
				want |= UFFD_FEATURE_POISON;
			api = (struct uffdio_api){ .api = UFFD_API, .features = want };
		} else if (ioctl(fd, UFFDIO_API, &api) < 0) {
			close(fd);
			return vmm_err(-EOPNOTSUPP, "lazy restore: UFFDIO_API failed: %m");
		}
	}
	return fd;
}

static void destroy(struct vmmem_restore *r)
{
	if (r->uffd >= 0)
		close(r->uffd);
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	if (r->fd >= 0)
		close(r->fd);
	vmm_snap_unref_regions(r->regions, r->regions ? r->n : 0);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->lr);
	free(r->fault_buf);
	free(r->extents.v);
	free(r);
}

/* Describe and register each region with the userfaultfd. */
static int register_regions(struct vmmem_restore *r, const struct vmmem_snapshot *s)
{
	uint64_t maxpage = FAULT_AROUND_PAGES * vmm_host_page_size();

	for (size_t i = 0; i < r->n; i++) {
		struct vmmem_region *reg = r->regions[i];
		struct lazy_region *lr = &r->lr[i];
		bool hugetlb = reg->page_size > vmm_host_page_size();

		if (!vmm_snap_region_fresh(reg))
			return vmm_err(-EBUSY,
				       "lazy restore: region %zu's backing file already holds data "
				       "(a reopened file?); lazy restore fills empty memory only: "
				       "restore by copy",
				       i);
		if (reg->page_size > MAX_LAZY_PAGE || reg->page_size & (reg->page_size - 1))
			return vmm_err(-EOPNOTSUPP,
				       "lazy restore: region %zu has %llu-byte pages; lazy restore "
				       "takes pages up to 32 MiB (restore by copy or map)",
				       i, (unsigned long long)reg->page_size);
		*lr = (struct lazy_region){
			.host = reg->host,
			.size = reg->size,
			.map_len = vmm_align_up(reg->size, reg->page_size),
			.page = reg->page_size,
			.file_off = s->regions[i].data_offset,
			.crc = s->regions[i].crc,
			.zeropage = !hugetlb,
		};
		if (lr->page > maxpage)
			maxpage = lr->page;
		struct uffdio_register reg_arg = {
			.range = { (uintptr_t)lr->host, lr->map_len },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		if (ioctl(r->uffd, UFFDIO_REGISTER, &reg_arg) < 0)
			return vmm_err(-EOPNOTSUPP,
				       "lazy restore: userfaultfd cannot take region %zu (%s "
				       "memory): %m",
				       i, vmmem_provider_name(reg->provider));
		if (!(reg_arg.ioctls & (1ull << _UFFDIO_COPY)))
			return vmm_err(-EOPNOTSUPP,
				       "lazy restore: region %zu's memory does not support "
				       "UFFDIO_COPY", i);
		r->total += lr->map_len;
	}
	r->fault_buf = aligned_alloc(4096, maxpage);
	if (!r->fault_buf)
		return vmm_err(-ENOMEM, "lazy restore: out of memory");
	return 0;
}

int
vmm_lazy_restore(const struct vmmem_snapshot *s, struct vmmem_ctx *ctx,
		 const struct vmmem_restore_opts *opts, struct vmmem_memory **out,
		 struct vmmem_restore **lazy)
{
	struct vmmem_restore *r = calloc(1, sizeof(*r));
	int rc, err;

	if (!r)
		return vmm_err(-ENOMEM, "lazy restore: out of memory");
	r->fd = r->uffd = r->stop_fd = -1;
	r->n = s->n_regions;
	r->progress = opts->progress;
	r->progress_arg = opts->progress_arg;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->lr = calloc(r->n, sizeof(*r->lr));
	r->extents.n = s->extents.n;
	r->extents.v = malloc((s->extents.n ? s->extents.n : 1) * sizeof(*r->extents.v));
	r->fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
	r->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!r->lr || !r->extents.v || r->fd < 0 || r->stop_fd < 0) {
		rc = vmm_err(r->lr && r->extents.v ? -errno : -ENOMEM,
			     "lazy restore: out of resources: %m");
		goto fail;
	}
	memcpy(r->extents.v, s->extents.v, s->extents.n * sizeof(*r->extents.v));
	rc = open_uffd(&r->poison);
	if (rc < 0)
		goto fail;
	r->uffd = rc;
	rc = vmm_snap_create_regions(s, ctx, opts->config, true, &r->regions);
	if (rc == 0)
		rc = register_regions(r, s);
	if (rc == 0)
		rc = vmmem_memory_new(out, r->regions, r->n);
	if (rc)
		goto fail;
	err = pthread_create(&r->fault_thread, NULL, fault_main, r);
	if (err) {
		rc = vmm_err(-err, "lazy restore: cannot start the fault thread: %s", strerror(err));
		goto fail_memory;
	}
	if (!(opts->flags & VMMEM_RESTORE_NO_PREFETCH)) {
		pthread_mutex_lock(&r->lock);
		rc = start_prefetch(r);
		pthread_mutex_unlock(&r->lock);
		if (rc) {
			stop_fault_thread(r);
			goto fail_memory;
		}
	}
	*lazy = r;
	return 0;
fail_memory:
	*out = vmmem_memory_unref(*out);
fail:
	destroy(r); /* closing the userfaultfd unregisters whatever was registered */
	return rc;
}

int
vmmem_restore_wait(struct vmmem_restore *r, int timeout_ms)
{
	struct timespec deadline;
	int rc = 0;

	VMM_CHECK_ARG(r);
	clock_gettime(CLOCK_REALTIME, &deadline);
	if (timeout_ms > 0) {
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&r->lock);
	if (timeout_ms < 0)
		rc = start_prefetch(r); /* waiting for the end brings it */
	while (rc == 0 && !r->complete) {
		if (timeout_ms < 0)
			pthread_cond_wait(&r->cond, &r->lock);
		else if (timeout_ms == 0 ||
			 pthread_cond_timedwait(&r->cond, &r->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (rc == 0 && !r->complete)
		rc = vmm_err(-ETIMEDOUT, "lazy restore: not complete yet (%llu of %llu bytes)",
			     (unsigned long long)__atomic_load_n(&r->done, __ATOMIC_RELAXED),
			     (unsigned long long)r->total);
	else if (rc == 0 && r->rc)
		rc = vmm_err(r->rc, "%s", r->msg);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int
vmmem_restore_progress(const struct vmmem_restore *r, uint64_t *done, uint64_t *total,
		       uint64_t *faults)
{
	VMM_CHECK_ARG(r);
	if (done)
		*done = __atomic_load_n(&r->done, __ATOMIC_RELAXED);
	if (total)
		*total = r->total;
	if (faults)
		*faults = __atomic_load_n(&r->faults, __ATOMIC_RELAXED);
	return 0;
}

int
vmmem_restore_free(struct vmmem_restore *r)
{
	int rc;

	if (!r)
		return 0;
	rc = vmmem_restore_wait(r, -1);
	if (r->prefetch_started)
		pthread_join(r->prefetch_thread, NULL);
	stop_fault_thread(r); /* after a failure, or if the prefetch could not start */
	destroy(r);
	return rc;
}
