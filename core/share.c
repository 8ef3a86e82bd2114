/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Sharing regions with other processes: vhost-user descriptors out, verified imports in. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <vmmem/share.h>

#include "error.h"
#include "guard.h"
#include "region.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

int
vmmem_region_to_vhost(const struct vmmem_region *r, struct vmmem_vhost_region *out, int *fd)
{
	VMM_CHECK_ARG(r);
	VMM_CHECK_ARG(out);
	if (r->fd < 0 || !r->shareable)
		return vmm_err(VMMEM_E_NOT_SHAREABLE,
			       "region at 0x%llx %s", (unsigned long long)r->gpa,
			       r->fd < 0 ? "has no file descriptor"
					 : "is a private mapping: a peer would not see its writes");
	*out = (struct vmmem_vhost_region){
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (uint64_t)(uintptr_t)r->host,
		.mmap_offset = r->fd_offset,
	};
	if (fd)
		*fd = r->fd;
	return 0;
}

/* Everything that can be checked before mapping: size, seals. The seals are read first:
 * once F_SEAL_SHRINK is on it stays on, so a size read after it is a lower bound for good.
 * (Size first let a peer shrink the file and then seal it between the two checks.) */
static int check_import(const struct vmmem_vhost_region *d, int fd, uint32_t flags,
			uint64_t *page_size, bool *hugetlb, bool *guarded)
{
	struct statfs sfs;
	struct stat st;
	int seals;

	if (d->memory_size == 0)
		return vmm_err(VMMEM_E_ZERO_SIZE, "import: region at 0x%llx has size 0",
			       (unsigned long long)d->guest_phys_addr);
	if (d->memory_size > UINT64_MAX - d->guest_phys_addr)
		return vmm_err(-EOVERFLOW, "import: region 0x%llx + 0x%llx ends past 2^64 - 1",
			       (unsigned long long)d->guest_phys_addr,
			       (unsigned long long)d->memory_size);
	if (d->mmap_offset > (uint64_t)INT64_MAX ||
	    d->memory_size > (uint64_t)INT64_MAX - d->mmap_offset)
		return vmm_err(-EOVERFLOW, "import: file range 0x%llx + 0x%llx passes 2^63 - 1",
			       (unsigned long long)d->mmap_offset,
			       (unsigned long long)d->memory_size);
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 && !(flags & VMMEM_IMPORT_ALLOW_UNSEALED)) {
		/* Say what failed: EINVAL is a file that cannot carry seals (not a memfd),
		 * EBADF an fd that is not open or was opened with O_PATH. */
		int err = errno;

		return vmm_err(err == EINVAL ? VMMEM_E_NOT_SEALED : -err,
			       "import: fd %d: F_GET_SEALS failed: %s%s", fd, strerror(err),
			       err == EINVAL ? " (not a memfd: it cannot be sealed against "
					       "shrinking; VMMEM_IMPORT_ALLOW_UNSEALED accepts it)"
			       : err == EBADF ? " (not open, or an O_PATH descriptor)" : "");
	}
	if (!(flags & VMMEM_IMPORT_ALLOW_UNSEALED) && !(seals & F_SEAL_SHRINK))
		return vmm_err(VMMEM_E_NOT_SEALED,
			       "import: fd %d is not sealed against shrinking (F_SEAL_SHRINK); a peer "
			       "could truncate it under us (VMMEM_IMPORT_ALLOW_UNSEALED accepts it)",
			       fd);
	if (fstat(fd, &st) < 0)
		return vmm_err(-errno, "import: fstat(%d): %m", fd);
	if (!S_ISREG(st.st_mode))
		return vmm_err(-EINVAL, "import: fd %d is not a regular file or memfd", fd);
	if ((uint64_t)st.st_size < d->mmap_offset + d->memory_size)
		return vmm_err(VMMEM_E_FILE_TOO_SHORT,
			       "import: fd %d is 0x%llx bytes, the region needs 0x%llx + 0x%llx", fd,
			       (unsigned long long)st.st_size, (unsigned long long)d->mmap_offset,
			       (unsigned long long)d->memory_size);
	*page_size = vmm_host_page_size();
	*hugetlb = fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == HUGETLBFS_MAGIC;
	if (*hugetlb)
		*page_size = (uint64_t)sfs.f_bsize;
	/* Memory the peer can still take away (truncate an unsealed file, punch out huge
	 * pages whose reservation then goes with them) is accessed under the SIGBUS guard. */
	*guarded = seals < 0 || !(seals & F_SEAL_SHRINK) || *hugetlb;
	return 0;
}

/* vmmem_region_import -- verify a received fd, then map it shared */
int
vmmem_region_import(struct vmmem_region **out, const struct vmmem_vhost_region *desc, int fd,
		    uint32_t flags)
{
	uint64_t page_size = 0, map_offset, in_map, map_len;
	bool hugetlb = false, guarded = false;
	int rc, dup_fd;
	void *p;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(desc);
	VMM_CHECK_ARG(!(flags & ~VMMEM_IMPORT_FLAGS_ALL));
	if (fd < 0)
		return vmm_err(-EBADF, "import: file descriptor %d is negative", fd);
	rc = check_import(desc, fd, flags, &page_size, &hugetlb, &guarded);
	if (rc == 0 && guarded)
		rc = vmm_guard_enable();
	if (rc)
		return rc;
	/* mmap needs a page-aligned offset (huge-page aligned on hugetlbfs): map from the
	 * page below and point the region at the right byte (libvhost-user's recipe). */
	map_offset = desc->mmap_offset & ~(page_size - 1);
	in_map = desc->mmap_offset - map_offset;
	/* Whole pages: hugetlb mappings are made and unmapped in huge pages. */
	map_len = (desc->memory_size + in_map + page_size - 1) & ~(page_size - 1);
	/* Huge pages are reserved at mmap unless MAP_NORESERVE: a hugetlb file the peer never
	 * populated would otherwise SIGBUS at the first touch once the pool ran dry. The
	 * reservation is made here or the import fails (shmem needs none: it is accounted by
	 * the file). */
	p = mmap(NULL, map_len,
		 (flags & VMMEM_IMPORT_READ_ONLY) ? PROT_READ : PROT_READ | PROT_WRITE,
		 MAP_SHARED | (hugetlb ? 0 : MAP_NORESERVE), fd, (off_t)map_offset);
	if (p == MAP_FAILED) {
		if (hugetlb && errno == ENOMEM)
			return vmm_err(-ENOMEM,
				       "import: fd %d: cannot reserve 0x%llx bytes of %llu KiB huge "
				       "pages for the region (not enough free huge pages)",
				       fd, (unsigned long long)map_len,
				       (unsigned long long)(page_size >> 10));
		return vmm_err(-errno, "import: mmap of fd %d at 0x%llx for 0x%llx bytes: %m", fd,
			       (unsigned long long)map_offset, (unsigned long long)map_len);
	}
	/* Guest memory in a crash dump only costs space and leaks guest data. */
	if (madvise(p, map_len, MADV_DONTDUMP) < 0) {
		rc = vmm_err(-errno, "import: madvise(MADV_DONTDUMP) on the mapping of fd %d: %m",
			     fd);
		munmap(p, map_len);
		return rc;
	}
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		rc = vmm_err(-errno, "import: cannot duplicate fd %d: %m", fd);
		munmap(p, map_len);
		return rc;
	}
	struct vmmem_region tmpl = {
		.gpa = desc->guest_phys_addr,
		.size = desc->memory_size,
		.host = (uint8_t *)p + in_map,
		.flags = (flags & VMMEM_IMPORT_READ_ONLY) ? VMMEM_REGION_READ_ONLY : 0,
		.fd = dup_fd,
		.fd_offset = desc->mmap_offset,
		.page_size = page_size,
		.owns_fd = true,
		.shareable = true,
		.guarded = guarded,
		.discard = VMM_DISCARD_SHARED_FD,
		.unmap_addr = p,
		.unmap_len = map_len,
		.peer_addr = desc->userspace_addr,
		.has_peer = true,
	};
	rc = vmm_region_alloc(out, &tmpl);
	if (rc) {
		close(dup_fd);
		munmap(p, map_len);
	}
	return rc;
}

int
vmmem_region_peer_addr(const struct vmmem_region *r, uint64_t *addr)
{
	VMM_CHECK_ARG(r);
	VMM_CHECK_ARG(addr);
	if (!r->has_peer)
		return vmm_err(-ENOENT, "the region at GPA 0x%llx was not imported: it has no "
			       "sender address", (unsigned long long)r->gpa);
	*addr = r->peer_addr;
	return 0;
}
