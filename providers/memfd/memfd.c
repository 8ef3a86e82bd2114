/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* memfd: memory in a memfd (QEMU's memory-backend-memfd), shareable with other processes
 * through its fd, sealed against resizing by default, optionally on hugetlb pages. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "provider_util.h"

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif

enum { OPT_SHARE, OPT_RESERVE, OPT_HUGETLB, OPT_HUGETLBSIZE, OPT_SEAL };

static const struct vmmem_option_desc memfd_options[] = {
	[OPT_SHARE] = { "share", VMMEM_OPTION_BOOL, 0, "on",
			"off: MAP_PRIVATE (copy-on-write; other processes do not see writes)" },
	[OPT_RESERVE] = { "reserve", VMMEM_OPTION_BOOL, 0, "on",
			  "off: MAP_NORESERVE, reserve nothing now (may fail at first touch)" },
	[OPT_HUGETLB] = { "hugetlb", VMMEM_OPTION_BOOL, 0, "off",
			  "on: MFD_HUGETLB, back the memory with huge pages" },
	[OPT_HUGETLBSIZE] = { "hugetlbsize", VMMEM_OPTION_SIZE, 0, NULL,
			      "huge page size (power of two, e.g. 2M or 1G); default: the system's" },
	[OPT_SEAL] = { "seal", VMMEM_OPTION_BOOL, 0, "on",
		       "on: seal F_SEAL_GROW|F_SEAL_SHRINK|F_SEAL_SEAL so no peer can resize it" },
	{ 0 },
};

static unsigned int log2_u64(uint64_t v)
{
	return 63u - (unsigned int)__builtin_clzll(v);
}

static int memfd_flags(const struct vmmem_core_api *core, const struct vmmem_provider_params *p,
		       unsigned int *flags)
{
	const struct vmmem_option_value *hsize = &p->options[OPT_HUGETLBSIZE];

	*flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	if (!p->options[OPT_HUGETLB].num) {
		if (hsize->is_set)
			return core->set_error(VMMEM_E_CONFIG_CONFLICT,
					       "memfd: hugetlbsize= needs hugetlb=on");
		return 0;
	}
	*flags |= MFD_HUGETLB;
	if (hsize->is_set) {
		if (hsize->num == 0 || (hsize->num & (hsize->num - 1)))
			return core->set_error(VMMEM_E_CONFIG_VALUE,
					       "memfd: hugetlbsize=%llu is not a power of two",
					       (unsigned long long)hsize->num);
		*flags |= log2_u64(hsize->num) << MFD_HUGE_SHIFT;
	}
	return 0;
}

static int memfd_create_mapping(void *data, const struct vmmem_provider_params *p,
				struct vmmem_mapping *out)
{
	const struct vmmem_core_api *core = data;
	int share = (int)p->options[OPT_SHARE].num, seal = (int)p->options[OPT_SEAL].num;
	int hugetlb = (int)p->options[OPT_HUGETLB].num;
	uint64_t page_size = core->host_page_size(), scaled;
	unsigned int flags;
	struct statfs sfs;
	void *addr;
	int fd, rc;

	rc = memfd_flags(core, p, &flags);
	if (rc)
		return rc;
	fd = memfd_create("vmmem-memfd", flags);
	if (fd < 0)
		return core->set_error(-errno, "memfd: memfd_create(%s): %m",
				       hugetlb ? "MFD_HUGETLB" : "");
	if (hugetlb && fstatfs(fd, &sfs) == 0)
		page_size = (uint64_t)sfs.f_bsize;
	if (p->length % page_size) {
		const char *unit = pu_size_unit(page_size, &scaled);

		rc = core->set_error(VMMEM_E_CONFIG_VALUE,
				     "memfd: size %llu is not a multiple of the %llu %s page size",
				     (unsigned long long)p->length, (unsigned long long)scaled, unit);
		goto fail;
	}
	if (ftruncate(fd, (off_t)p->length) < 0) {
		rc = core->set_error(-errno, "memfd: ftruncate to %llu bytes: %m",
				     (unsigned long long)p->length);
		goto fail;
	}
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		rc = core->set_error(-errno, "memfd: sealing: %m");
		goto fail;
	}
	addr = pu_mmap(core, p, page_size, PROT_READ | PROT_WRITE,
		       pu_map_flags(share, (int)p->options[OPT_RESERVE].num), fd, 0);
	if (addr == MAP_FAILED) {
		const char *unit = pu_size_unit(page_size, &scaled);

		rc = core->set_error(-errno, "memfd: mmap of %llu bytes: %m%s%llu %s%s",
				     (unsigned long long)p->length,
				     hugetlb ? " (not enough free " : "",
				     hugetlb ? (unsigned long long)scaled : 0ULL, hugetlb ? unit : "",
				     hugetlb ? " huge pages?)" : "");
		goto fail;
	}
	out->addr = addr;
	out->length = p->length;
	out->page_size = page_size;
	out->fd = fd;
	out->fd_offset = 0;
	out->flags = (share ? VMMEM_MAPPING_SHARED : 0) | (hugetlb ? VMMEM_MAPPING_HUGETLB : 0) |
		     (seal ? VMMEM_MAPPING_SEALED : 0);
	return 0;
fail:
	close(fd);
	return rc;
}

static void memfd_destroy(void *data, struct vmmem_mapping *m)
{
	(void)data;
	munmap(m->addr, m->length);
	close(m->fd);
}

static int memfd_discard(void *data, struct vmmem_mapping *m, uint64_t offset, uint64_t length)
{
	return pu_discard(data, m, offset, length);
}

static const struct vmmem_provider_ops memfd_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = memfd_create_mapping,
	.destroy = memfd_destroy,
	.discard = memfd_discard,
};

static const struct vmmem_provider_desc memfd_desc = {
	.size = sizeof(struct vmmem_provider_desc),
	.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
	.abi_minor = VMMEM_PROVIDER_ABI_MINOR,
	.version = 0x010000,
	.name = "memfd",
	.description = "memfd memory, shareable by fd and sealed (QEMU memory-backend-memfd)",
	.options = memfd_options,
	.ops = &memfd_ops,
};

VMMEM_PROVIDER_EXPORT int vmmem_provider_init(const struct vmmem_core_api *api,
					      struct vmmem_provider_handle *handle);

int vmmem_provider_init(const struct vmmem_core_api *api, struct vmmem_provider_handle *handle)
{
	return pu_register(api, handle, &memfd_desc);
}
