/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* mapper: maps through the core's map service (provider ABI 1.1), used well or, by its
 * UINT option "misuse", badly: 1 calls map twice, 2 passes a page size that is not a power
 * of two, 3 passes a copy of its params instead of the pointer create got, 4 returns a
 * mapping of its own instead of the one map placed, 5 returns a positive value (after
 * unmapping). tests/check_placement.c. */
#define _GNU_SOURCE
#include <string.h>

#include "plugin_util.h"

static const struct vmmem_option_desc mapper_options[] = {
	{ "misuse", VMMEM_OPTION_UINT, 0, "0", "0: use map well; 1-4: misuse it one way" },
	{ 0 },
};

static int mapper_create(void *data, const struct vmmem_provider_params *p,
			 struct vmmem_mapping *out)
{
	const struct vmmem_core_api *core = data;
	uint64_t misuse = p->options[0].num, ps = core->host_page_size();
	struct vmmem_provider_params copy = *p;
	const int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;
	void *addr = MAP_FAILED;

	if (core->size < offsetof(struct vmmem_core_api, map) + sizeof(core->map))
		return core->set_error(-ENOSYS, "mapper: this core has no map service");
	if (misuse == 2)
		addr = core->map(p, 3 * ps, prot, flags, -1, 0);
	else if (misuse == 3)
		addr = core->map(&copy, ps, prot, flags, -1, 0);
	else
		addr = core->map(p, ps, prot, flags, -1, 0);
	if (addr != MAP_FAILED && misuse == 1) {
		void *again = core->map(p, ps, prot, flags, -1, 0);
		int err = errno;

		munmap(addr, p->length);
		if (again != MAP_FAILED)
			munmap(again, p->length);
		errno = err;
		addr = MAP_FAILED;
	}
	if (addr != MAP_FAILED && misuse == 4) {
		void *own = mmap(NULL, p->length, prot, flags, -1, 0);

		munmap(addr, p->length);
		addr = own;
	}
	if (addr == MAP_FAILED)
		return core->set_error(-errno, "mapper: map: %m");
	if (misuse == 5) {
		munmap(addr, p->length);
		return 1;
	}
	out->addr = addr;
	out->length = p->length;
	out->page_size = ps;
	return 0;
}

static void mapper_destroy(void *data, struct vmmem_mapping *m)
{
	(void)data;
	munmap(m->addr, m->length);
}

static const struct vmmem_provider_ops mapper_ops = {
	.size = sizeof(struct vmmem_provider_ops),
	.create = mapper_create,
	.destroy = mapper_destroy,
};

static const struct vmmem_provider_desc mapper_desc = {
	.size = sizeof(struct vmmem_provider_desc),
	.abi_major = VMMEM_PROVIDER_ABI_MAJOR,
	.abi_minor = VMMEM_PROVIDER_ABI_MINOR,
	.version = 0x010000,
	.name = "mapper",
	.description = "test provider: maps through the core's map service",
	.options = mapper_options,
	.ops = &mapper_ops,
};

int vmmem_provider_init(const struct vmmem_core_api *core, struct vmmem_provider_handle *h)
{
	struct vmmem_provider_desc d = mapper_desc;

	d.provider_data = (void *)(uintptr_t)core;
	return core->register_provider(h, &d);
}
