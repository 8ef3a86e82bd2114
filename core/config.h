/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* struct vmmem_config: the parsed form of a config string (see include/vmmem/config.h). */
#ifndef VMM_CONFIG_H
#define VMM_CONFIG_H

#include <stdbool.h>

#include <vmmem/config.h>

struct vmm_cfg_option {
	char *key;
	char *value; /* unescaped */
	size_t pos;  /* byte offset of the key in the text */
	bool common; /* one of the core's keys (gpa, size, prealloc, ...) */
};

/* policy=: the NUMA memory policy applied with mbind to host-nodes= (QEMU's names). */
enum vmm_policy { VMM_POLICY_DEFAULT, VMM_POLICY_PREFERRED, VMM_POLICY_BIND,
		  VMM_POLICY_INTERLEAVE };

/* lock=: keep the region's pages in RAM (mlock2), all at once or as they are touched. */
enum vmm_lock { VMM_LOCK_OFF, VMM_LOCK_ON, VMM_LOCK_ON_FAULT };

struct vmm_cfg_region {
	char *provider;
	size_t pos; /* byte offset of the provider name */
	struct vmm_cfg_option *options;
	size_t n_options;
	/* The common keys, parsed. */
	uint64_t gpa;
	uint64_t size;
	bool prealloc;
	uint32_t prealloc_threads;
	bool dump;
	bool merge;
	bool readonly;
	bool dirty_log;
	uint64_t dirty_page_size; /* 0: the default (4 KiB) */
	enum vmm_lock lock;
	uint64_t host_nodes;  /* host-nodes=: bit n = NUMA node n (nodes below 64) */
	enum vmm_policy policy;
	uint64_t align; /* align=: base alignment of the host mapping, 0: the page size */
	bool guard;     /* guard=: PROT_NONE pages around the host mapping (default on) */
};

/* The largest align= (1 TiB): keeps the core's address-space reservation far from 2^64. */
#define VMM_ALIGN_MAX (UINT64_C(1) << 40)

struct vmmem_config {
	struct vmm_cfg_region *regions;
	size_t n_regions;
};

/* Is @key one of the keys every region takes (handled by the core; providers may not
 * declare them)? */
bool vmm_config_is_common_key(const char *key);

/* Value parsers shared with the provider option resolution in ctx.c. Each returns 0 or
 * VMMEM_E_CONFIG_VALUE without setting a message. */
int vmm_parse_bool(const char *text, bool *out);
int vmm_parse_uint(const char *text, uint64_t *out);
int vmm_parse_size_value(const char *text, uint64_t *out);

#endif /* VMM_CONFIG_H */
