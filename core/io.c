/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Scatter-gather lists over guest ranges, and transfers between guest memory and fds. */
#define _GNU_SOURCE
#include <limits.h>
#include <unistd.h>

#include <vmmem/dirty.h>
#include <vmmem/io.h>

#include "dirty.h"
#include "error.h"
#include "memory.h"
#include "walk.h"

/* One readv/writev takes at most this many pieces (Linux's IOV_MAX). */
#define IOV_BATCH 1024

/* Pieces of [gpa, gpa + len) into @slices or @iov (one of them), at most @max written. */
static int collect(const struct vmmem_memory *m, uint64_t gpa, uint64_t len, unsigned int access,
		   struct vmmem_slice *slices, struct iovec *iov, size_t max, size_t *count)
{
	struct vmm_walk w;
	size_t n = 0;

	VMM_CHECK_ARG(count);
	*count = 0;
	VMM_CHECK_ARG(m);
	VMM_CHECK_ARG(vmm_access_ok(access));
	VMM_CHECK_ARG(slices || iov || max == 0);
	if (vmm_range_wraps(gpa, len))
		return vmm_err_wraps(gpa, len);
	vmm_walk_init(&w, m, gpa, len, access & VMMEM_ACCESS_WRITE);
	while (w.left) {
		const struct vmm_slot *s;
		uint8_t *host;
		uint64_t plen;
		int why = vmm_walk_next(&w, &host, &plen, &s);

		if (why) {
			*count = n < max ? n : max;
			return vmm_err_stop(why, w.gpa);
		}
		if (n < max && slices) {
			const struct vmmem_region *r = vmm_slot_region(s);

			slices[n] = (struct vmmem_slice){
				.ptr = host,
				.len = plen,
				.region = r,
				.memory = m,
				.region_offset = (uint64_t)(host - r->host),
				.flags = vmm_slot_read_only(s) ? VMMEM_SLICE_READ_ONLY : 0,
			};
		} else if (n < max) {
			iov[n] = (struct iovec){ .iov_base = host, .iov_len = plen };
		}
		n++;
	}
	*count = n;
	if (n > max)
		return vmm_err(-ENOBUFS, "guest range 0x%llx + 0x%llx needs %zu pieces, room for %zu",
			       (unsigned long long)gpa, (unsigned long long)len, n, max);
	return 0;
}

int
vmmem_memory_get_slices(const struct vmmem_memory *m, uint64_t gpa, uint64_t len,
			unsigned int access, struct vmmem_slice *out, size_t max, size_t *count)
{
	return collect(m, gpa, len, access, out, NULL, max, count);
}

int
vmmem_memory_get_iovecs(const struct vmmem_memory *m, uint64_t gpa, uint64_t len,
			unsigned int access, struct iovec *iov, size_t max, size_t *count)
{
	return collect(m, gpa, len, access, NULL, iov, max, count);
}

int
vmmem_memory_dma_get(const struct vmmem_memory *m, uint64_t gpa, uint64_t len,
		     unsigned int access, struct iovec *iov, size_t max, size_t *count,
		     struct vmmem_dma *dma)
{
	int rc;

	VMM_CHECK_ARG(dma);
	*dma = (struct vmmem_dma){ 0 };
	if (len == 0)
		return vmm_err(-EINVAL, "dma_get: a range of 0 bytes");
	rc = collect(m, gpa, len, access, NULL, iov, max, count);
	if (rc)
		return rc;
	*dma = (struct vmmem_dma){ .memory = vmmem_memory_ref((struct vmmem_memory *)m),
				   .gpa = gpa, .len = len, .access = access };
	return 0;
}

int
vmmem_dma_put(struct vmmem_dma *dma)
{
	int rc = 0;

	VMM_CHECK_ARG(dma);
	if (!dma->memory)
		return vmm_err(-EINVAL, "dma_put: no mapping held (already put?)");
	if (dma->access & VMMEM_ACCESS_WRITE)
		rc = vmmem_memory_mark_dirty(dma->memory, dma->gpa, dma->len);
	vmmem_memory_unref(dma->memory);
	*dma = (struct vmmem_dma){ 0 };
	return rc;
}

/* Argument checks shared by the fd calls; 1 means "nothing to do". */
static int check_fd_io(const struct vmmem_memory *m, uint64_t gpa, size_t len, off_t offset)
{
	VMM_CHECK_ARG(m);
	VMM_CHECK_ARG(offset >= -1);
	VMM_CHECK_ARG(len <= SSIZE_MAX);
	if (len == 0)
		return 1;
	if (vmm_range_wraps(gpa, len))
		return vmm_err_wraps(gpa, len);
	if (offset >= 0 && (uint64_t)len > (uint64_t)(INT64_MAX - offset))
		return vmm_err(-EOVERFLOW, "file range %lld + 0x%zx passes 2^63 - 1",
			       (long long)offset, len);
	return 0;
}

/* Up to IOV_BATCH pieces of the mapped (and, for @write, writable) prefix of the range.
 * Fails only when the very first byte cannot be used. */
static int gather(const struct vmmem_memory *m, uint64_t gpa, uint64_t len, bool write,
		  struct iovec *iov, int *niov)
{
	struct vmm_walk w;
	int n = 0;

	vmm_walk_init(&w, m, gpa, len, write);
	while (w.left && n < IOV_BATCH) {
		uint8_t *host;
		uint64_t plen;
		int why = vmm_walk_next(&w, &host, &plen, NULL);

		if (why) {
			if (n == 0)
				return vmm_err_stop(why, w.gpa);
			break;
		}
		iov[n++] = (struct iovec){ .iov_base = host, .iov_len = plen };
	}
	*niov = n;
	return 0;
}

/* One readv/preadv into the pieces at @gpa, EINTR retried. */
static ssize_t read_once(const struct vmmem_memory *m, uint64_t gpa, int fd, size_t len,
			 off_t offset)
{
	struct iovec iov[IOV_BATCH];
	int niov, rc = gather(m, gpa, len, true, iov, &niov);
	ssize_t r;

	if (rc)
		return rc;
	do
		r = offset < 0 ? readv(fd, iov, niov) : preadv(fd, iov, niov, offset);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		int err = errno;
		uint64_t gathered = 0;

		/* A failed read may still have written part of the buffers (as vm-memory
		 * assumes): count every gathered byte as written. */
		for (int i = 0; i < niov; i++)
			gathered += iov[i].iov_len;
		vmm_mark_range(m, gpa, gathered);
		errno = err;
		return vmm_err(-errno, "reading fd %d into guest 0x%llx: %m", fd,
			       (unsigned long long)gpa);
	}
	if (r > 0)
		vmm_mark_range(m, gpa, (uint64_t)r);
	return r;
}

ssize_t
vmmem_memory_read_from_fd(const struct vmmem_memory *m, uint64_t gpa, int fd, size_t len,
			  off_t offset)
{
	int rc = check_fd_io(m, gpa, len, offset);

	if (rc)
		return rc < 0 ? rc : 0;
	return read_once(m, gpa, fd, len, offset);
}

int
vmmem_memory_read_exact_from_fd(const struct vmmem_memory *m, uint64_t gpa, int fd, size_t len,
				off_t offset, size_t *done_out)
{
	int rc = check_fd_io(m, gpa, len, offset);
	size_t done = 0;

	if (done_out)
		*done_out = 0;
	if (rc)
		return rc < 0 ? rc : 0;
	/* Each round resumes at the exact guest address and file offset where the last
	 * read stopped, so short reads leave no gap. */
	while (done < len) {
		ssize_t r = read_once(m, gpa + done, fd, len - done,
				      offset < 0 ? -1 : offset + (off_t)done);

		if (r == 0) {
			rc = vmm_err(VMMEM_E_PARTIAL, "fd %d: end of file after 0x%zx of 0x%zx bytes",
				     fd, done, len);
			break;
		}
		if (r < 0) {
			rc = (int)r;
			if (done > 0 && (rc == VMMEM_E_UNMAPPED || rc == VMMEM_E_READ_ONLY))
				rc = vmm_err(VMMEM_E_PARTIAL,
					     "read into guest 0x%llx stopped after 0x%zx bytes: %s",
					     (unsigned long long)gpa, done, vmmem_strerror(rc));
			break;
		}
		done += (size_t)r;
	}
	if (done_out)
		*done_out = done;
	return rc;
}

/*
 * Write the mapped prefix of the range to @fd, looping over short writes. Returns 0 when
 * all of it went out (*done < len then means a hole ended it), or the error that stopped
 * it; *done counts the bytes written either way.
 */
static int write_out(const struct vmmem_memory *m, uint64_t gpa, int fd, size_t len,
		     off_t offset, size_t *done)
{
	struct iovec iov[IOV_BATCH];

	*done = 0;
	while (*done < len) {
		struct iovec *v = iov;
		int nv, rc = gather(m, gpa + *done, len - *done, false, iov, &nv);

		if (rc)
			return *done ? 0 : rc; /* a hole after progress just ends the range */
		while (nv > 0) {
			ssize_t r = offset < 0 ? writev(fd, v, nv)
					       : pwritev(fd, v, nv, offset + (off_t)*done);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return vmm_err(-errno, "writing guest 0x%llx to fd %d: %m",
					       (unsigned long long)(gpa + *done), fd);
			if (r == 0)
				return vmm_err(-EIO, "fd %d accepted 0 bytes", fd);
			*done += (size_t)r;
			/* Drop the pieces written, trim a partly written one. */
			while (nv > 0 && (size_t)r >= v->iov_len) {
				r -= (ssize_t)v->iov_len;
				v++;
				nv--;
			}
			if (nv > 0) {
				v->iov_base = (uint8_t *)v->iov_base + r;
				v->iov_len -= (size_t)r;
			}
		}
	}
	return 0;
}

ssize_t
vmmem_memory_write_to_fd(const struct vmmem_memory *m, uint64_t gpa, int fd, size_t len,
			 off_t offset)
{
	int rc = check_fd_io(m, gpa, len, offset);
	size_t done;

	if (rc)
		return rc < 0 ? rc : 0;
	rc = write_out(m, gpa, fd, len, offset, &done);
	/* Like write(2): progress is reported, the error only when nothing went out. */
	return done ? (ssize_t)done : rc;
}

int
vmmem_memory_write_all_to_fd(const struct vmmem_memory *m, uint64_t gpa, int fd, size_t len,
			     off_t offset, size_t *done_out)
{
	int rc = check_fd_io(m, gpa, len, offset);
	size_t done = 0;

	if (rc == 0) {
		rc = write_out(m, gpa, fd, len, offset, &done);
		if (rc == 0 && done < len)
			rc = vmm_err(VMMEM_E_PARTIAL,
				     "guest range 0x%llx + 0x%zx has a hole after 0x%zx bytes",
				     (unsigned long long)gpa, len, done);
	}
	if (done_out)
		*done_out = done;
	return rc < 0 ? rc : 0;
}
