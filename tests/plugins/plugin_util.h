/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Shared bits of the purpose-built test plugins (tests/plugins/): a trivially working
 * create/destroy pair over anonymous memory, so that each broken plugin is broken in
 * exactly one way. */
#ifndef VMMEM_TEST_PLUGIN_UTIL_H
#define VMMEM_TEST_PLUGIN_UTIL_H

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vmmem/provider.h>

/* Every plugin's entry point (most define it; noentry deliberately does not). */
VMMEM_PROVIDER_EXPORT vmmem_provider_init_fn vmmem_provider_init;

static inline int tp_anon_create(void *data, const struct vmmem_provider_params *p,
				 struct vmmem_mapping *out)
{
	void *addr = mmap(NULL, p->length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);

	(void)data;
	if (addr == MAP_FAILED)
		return -errno;
	out->addr = addr;
	out->length = p->length;
	out->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	return 0;
}

static inline void tp_anon_destroy(void *data, struct vmmem_mapping *m)
{
	(void)data;
	munmap(m->addr, m->length);
}

/* A complete ABI 1.0 ops table and description; plugins change one thing. */
#define TP_OPS_INIT                                                                          \
	{ .size = sizeof(struct vmmem_provider_ops), .create = tp_anon_create,                \
	  .destroy = tp_anon_destroy }
#define TP_DESC_INIT(name_, ops_)                                                            \
	{ .size = sizeof(struct vmmem_provider_desc), .abi_major = VMMEM_PROVIDER_ABI_MAJOR,  \
	  .abi_minor = VMMEM_PROVIDER_ABI_MINOR, .version = 0x010000, .name = (name_),       \
	  .description = "test plugin " name_, .ops = (ops_) }

#endif /* VMMEM_TEST_PLUGIN_UTIL_H */
