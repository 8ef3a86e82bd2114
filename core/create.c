/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Regions and memories from config strings: each config region is resolved against its
 * provider's options, mapped by the provider, checked, finished with the common keys the
 * core handles (dump, merge, prealloc, lock, dirty-log) and wrapped in a region. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/mempolicy.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vmmem/dirty.h>
#include <vmmem/memory.h>

#include "config.h"
#include "create.h"
#include "error.h"
#include "guard.h"
#include "loader.h"
#include "options.h"
#include "placement.h"
#include "prealloc.h"
#include "provider.h"
#include "region.h"

/* A mapping a provider returned must be usable as a region. */
static int check_mapping(const struct vmmem_provider *p, const struct vmmem_mapping *m,
			 uint64_t length)
{
	uint64_t host_page = vmm_host_page_size();

	if (!m->addr || m->length != length || !m->page_size ||
	    (m->page_size & (m->page_size - 1)) || m->page_size < host_page ||
	    ((uintptr_t)m->addr & (m->page_size - 1)))
		return vmm_err(VMMEM_E_PROVIDER_INVALID,
			       "provider %s returned a bad mapping (addr %p, length 0x%llx of 0x%llx, "
			       "page size 0x%llx)",
			       p->desc.name, m->addr, (unsigned long long)m->length,
			       (unsigned long long)length, (unsigned long long)m->page_size);
	return 0;
}

/* lock=on|on-fault: mlock2 after prealloc (QEMU's order), so a prealloc's threads do the
 * populating and lock=on only pins what is there. The caller unmaps on failure, which also
 * drops a partial lock. */
static int lock_mapping(const struct vmm_cfg_region *cr, const struct vmmem_mapping *m)
{
	struct rlimit lim = { 0, 0 };
	int err;

	if (cr->lock == VMM_LOCK_OFF)
		return 0;
	if (mlock2(m->addr, (size_t)m->length, cr->lock == VMM_LOCK_ON_FAULT ? MLOCK_ONFAULT : 0) == 0)
		return 0;
	err = errno;
	/* Without mlock2 (before Linux 4.4, or valgrind), lock=on is plain mlock; on-fault has
	 * no equivalent and fails with ENOSYS below. */
	if (err == ENOSYS && cr->lock == VMM_LOCK_ON) {
		if (mlock(m->addr, (size_t)m->length) == 0)
			return 0;
		err = errno;
	}
	/* glibc turns a missing mlock2 with flags into EINVAL. */
	if (cr->lock == VMM_LOCK_ON_FAULT && (err == ENOSYS || err == EINVAL))
		return vmm_err(-ENOSYS, "config position %zu: lock=on-fault needs mlock2 with "
			       "MLOCK_ONFAULT (Linux 4.4), which this system lacks", cr->pos);
	getrlimit(RLIMIT_MEMLOCK, &lim);
	if (err == ENOMEM || err == EPERM || err == EAGAIN)
		return vmm_err(-err, "config position %zu: lock=%s: mlock2 of %llu bytes failed: %s "
			       "(RLIMIT_MEMLOCK is %llu bytes; raise it with ulimit -l or "
			       "LimitMEMLOCK=, or give the process CAP_IPC_LOCK)",
			       cr->pos, cr->lock == VMM_LOCK_ON ? "on" : "on-fault",
			       (unsigned long long)m->length, strerror(err),
			       (unsigned long long)lim.rlim_cur);
	return vmm_err(-err, "config position %zu: lock=%s: mlock2: %s", cr->pos,
		       cr->lock == VMM_LOCK_ON ? "on" : "on-fault", strerror(err));
}

/* The first line of a sysfs file, without its newline; false if it cannot be read. */
static bool read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	bool ok = f && fgets(buf, (int)size, f);

	if (f)
		fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok;
}

/* The next item of a sysfs list ("0-1,3"): its range in *lo..*hi, and where the item after
 * it starts; NULL when @t holds no item. */
static const char *list_item(const char *t, unsigned long *lo, unsigned long *hi)
{
	char *end;

	if (*t < '0' || *t > '9')
		return NULL;
	*lo = *hi = strtoul(t, &end, 10);
	if (*end == '-')
		*hi = strtoul(end + 1, &end, 10);
	return *end == ',' ? end + 1 : end;
}

/* The nodes of a sysfs node list, below 64; all of them if it cannot be read (the kernel
 * then decides). */
static uint64_t online_mask(const char *list)
{
	unsigned long lo, hi;
	uint64_t mask = 0;

	if (list[0] < '0' || list[0] > '9')
		return UINT64_MAX;
	for (const char *t = list; (t = list_item(t, &lo, &hi));)
		for (unsigned long i = lo; i <= hi && i < 64; i++)
			mask |= UINT64_C(1) << i;
	return mask;
}

/* host-nodes= / policy=: mbind before anything populates the mapping (QEMU's order), with
 * MPOL_MF_STRICT|MOVE so pages a provider already placed elsewhere move or fail. */
static int bind_mapping(const struct vmm_cfg_region *cr, const struct vmmem_mapping *m)
{
	static const int mode[] = { [VMM_POLICY_DEFAULT] = MPOL_DEFAULT,
				    [VMM_POLICY_PREFERRED] = MPOL_PREFERRED,
				    [VMM_POLICY_BIND] = MPOL_BIND,
				    [VMM_POLICY_INTERLEAVE] = MPOL_INTERLEAVE };
	unsigned long mask[2] = { (unsigned long)cr->host_nodes, 0 };
	char online[128];
	int err;

	if (cr->policy == VMM_POLICY_DEFAULT)
		return 0;
	if (!read_line("/sys/devices/system/node/online", online, sizeof(online)))
		snprintf(online, sizeof(online), "?");
	/* The kernel quietly drops missing nodes from some policies: refuse them here. */
	if (cr->host_nodes & ~online_mask(online))
		return vmm_err(-EINVAL, "config position %zu: host-nodes= names a NUMA node this "
			       "machine does not have (nodes online: %s)", cr->pos, online);
	/* maxnode counts one past the last bit the kernel reads. */
	if (syscall(SYS_mbind, m->addr, (unsigned long)m->length, mode[cr->policy], mask,
		    (unsigned long)65, MPOL_MF_STRICT | MPOL_MF_MOVE) == 0)
		return 0;
	err = errno; /* the nodes are online (checked above): something else refused */
	return vmm_err(-err, "config position %zu: mbind of %llu bytes to host-nodes=: %s "
		       "(nodes online: %s)", cr->pos, (unsigned long long)m->length,
		       strerror(err), online);
}

/* The CPUs of the NUMA nodes in @nodes (sysfs cpulist files), for placing prealloc
 * threads; false if none is known (memory-only nodes, no sysfs): then they run anywhere. */
static bool node_cpus(uint64_t nodes, cpu_set_t *set)
{
	CPU_ZERO(set);
	for (unsigned int n = 0; n < 64; n++) {
		char path[64], list[1024];
		unsigned long lo, hi;

		if (!(nodes & (UINT64_C(1) << n)))
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/cpulist", n);
		if (!read_line(path, list, sizeof(list)))
			continue;
		for (const char *t = list; (t = list_item(t, &lo, &hi));)
			for (unsigned long c = lo; c <= hi && c < CPU_SETSIZE; c++)
				CPU_SET(c, set);
	}
	return CPU_COUNT(set) > 0;
}

/* prealloc=on: populate with the requested threads, placed on the CPUs of the policy's
 * nodes when there is a policy (QEMU's prealloc-context), so first touch allocates there
 * and the threads do not pull pages across nodes. */
static int prealloc_mapping(const struct vmm_cfg_region *cr, const struct vmmem_mapping *m)
{
	struct vmm_prealloc_opts o = { .threads = cr->prealloc_threads,
				       .read_only = cr->readonly };
	cpu_set_t cpus;

	if (cr->policy != VMM_POLICY_DEFAULT && node_cpus(cr->host_nodes, &cpus))
		o.cpus = &cpus;
	return vmm_prealloc_ex(m->addr, m->length, m->page_size, &o);
}

/* Apply the common keys the core handles (dump, merge, NUMA policy, prealloc, lock) to a
 * fresh mapping. */
static int finish_mapping(const struct vmm_cfg_region *cr, const struct vmmem_mapping *m)
{
	int rc;

	if (!cr->dump && madvise(m->addr, m->length, MADV_DONTDUMP) < 0)
		return vmm_err(-errno, "config position %zu: dump=off: madvise(MADV_DONTDUMP): %m",
			       cr->pos);
	if (cr->merge && madvise(m->addr, m->length, MADV_MERGEABLE) < 0)
		return vmm_err(-errno,
			       "config position %zu: merge=on: madvise(MADV_MERGEABLE): %m "
			       "(is KSM available?)",
			       cr->pos);
	rc = bind_mapping(cr, m);
	if (rc == 0 && cr->prealloc)
		rc = prealloc_mapping(cr, m);
	return rc ? rc : lock_mapping(cr, m);
}

/* After create: a mapping map placed must be the one returned; one the provider made
 * itself must still meet align=. */
static int check_placement(const struct vmmem_provider *p, const struct vmm_place_call *call,
			   const struct vmm_cfg_region *cr, const struct vmmem_mapping *m)
{
	if (call->placed && m->addr != call->placed)
		return vmm_err(VMMEM_E_PROVIDER_INVALID,
			       "provider %s returned %p, not the mapping core_api map placed at %p",
			       p->desc.name, m->addr, call->placed);
	if (cr->align && ((uintptr_t)m->addr & (cr->align - 1)))
		return vmm_err(VMMEM_E_CONFIG_VALUE,
			       "config position %zu: align=0x%llx: provider %s mapped at %p by "
			       "itself (without core_api map), which is not aligned",
			       cr->pos, (unsigned long long)cr->align, p->desc.name, m->addr);
	return 0;
}

/* The region's config string, kept for snapshots ("provider:key=value,..."), with ',' and
 * ';' in values doubled as the grammar wants. */
static char *region_spec(const struct vmm_cfg_region *cr)
{
	size_t len = strlen(cr->provider) + 2, k = 0;
	char *s;

	for (size_t i = 0; i < cr->n_options; i++)
		len += strlen(cr->options[i].key) + 2 * strlen(cr->options[i].value) + 2;
	s = malloc(len);
	if (!s)
		return NULL;
	k += (size_t)sprintf(s, "%s:", cr->provider);
	for (size_t i = 0; i < cr->n_options; i++) {
		k += (size_t)sprintf(s + k, "%s%s=", i ? "," : "", cr->options[i].key);
		for (const char *v = cr->options[i].value; *v; v++) {
			if (*v == ',' || *v == ';')
				s[k++] = *v;
			s[k++] = *v;
		}
	}
	s[k] = '\0';
	return s;
}

int
vmm_create_region(struct vmmem_ctx *ctx, const struct vmm_cfg_region *cr,
		  struct vmmem_region **out)
{
	struct vmmem_option_value *values = NULL;
	struct vmmem_mapping m = { .size = sizeof(m), .fd = -1 };
	struct vmm_place_call call = { .align = cr->align, .guard = cr->guard };
	struct vmmem_provider *p;
	int rc;

	p = vmm_loader_get_provider(ctx, cr->provider, &rc);
	if (!p)
		return rc;
	values = calloc(p->n_options ? p->n_options : 1, sizeof(*values));
	if (!values) {
		rc = vmm_err(-ENOMEM, "region: out of memory");
		goto out;
	}
	rc = vmm_options_resolve(p, cr, values);
	if (rc)
		goto out;
	call.params = (struct vmmem_provider_params){
		.size = sizeof(call.params),
		.gpa = cr->gpa,
		.length = cr->size,
		.options = values,
		.n_options = (uint32_t)p->n_options,
		.flags = cr->readonly ? VMMEM_PARAM_READ_ONLY : 0,
	};
	vmm_place_begin(&call);
	rc = p->ops.create(p->desc.provider_data, &call.params, &m);
	vmm_place_end();
	if (rc > 0) /* not a valid answer: say so rather than leave a stale message */
		rc = vmm_err(-EIO, "provider %s: create returned %d, not 0 or a negative error",
			     p->desc.name, rc);
	if (rc) {
		vmm_guards_release(&call.guards); /* the provider unmapped what lay between */
		goto out;
	}
	rc = check_mapping(p, &m, cr->size);
	if (rc == 0)
		rc = check_placement(p, &call, cr, &m);
	/* A file someone else may shrink: accesses catch the SIGBUS (guard.c). */
	if (rc == 0 && (m.flags & VMMEM_MAPPING_TRUNCATABLE))
		rc = vmm_guard_enable();
	if (rc == 0)
		rc = finish_mapping(cr, &m);
	if (rc == 0) {
		struct vmmem_region tmpl = {
			.gpa = cr->gpa,
			.size = cr->size,
			.host = m.addr,
			.flags = cr->readonly ? VMMEM_REGION_READ_ONLY : 0,
			.fd = m.fd,
			.fd_offset = m.fd >= 0 ? m.fd_offset : 0,
			.page_size = m.page_size,
			.shareable = m.fd >= 0 && (m.flags & VMMEM_MAPPING_SHARED),
			.guarded = (m.flags & VMMEM_MAPPING_TRUNCATABLE) != 0,
			.discard = VMM_DISCARD_PROVIDER,
			.provider = p,
			.mapping = m,
			.guards = call.guards,
		};

		rc = vmm_region_alloc(out, &tmpl);
		if (rc == 0) {
			p = NULL; /* the region holds the reference now, and the guards */
			(*out)->spec = region_spec(cr);
			if (!(*out)->spec) {
				rc = vmm_err(-ENOMEM, "region: out of memory");
				(*out)->mapping.flags |= VMMEM_MAPPING_ABANDONED;
				*out = vmmem_region_unref(*out);
			} else if (cr->dirty_log) {
				rc = vmmem_region_dirty_enable(*out, cr->dirty_page_size);
				if (rc) {
					(*out)->mapping.flags |= VMMEM_MAPPING_ABANDONED;
					*out = vmmem_region_unref(*out);
				}
			}
			goto out;
		}
	}
	m.flags |= VMMEM_MAPPING_ABANDONED;
	p->ops.destroy(p->desc.provider_data, &m);
	vmm_guards_release(&call.guards);
out:
	free(values);
	vmm_provider_unref(p);
	return rc;
}

int
vmmem_region_create(struct vmmem_region **out, struct vmmem_ctx *ctx, const char *spec)
{
	struct vmmem_config *cfg;
	int rc;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(spec);
	rc = vmmem_config_parse(&cfg, spec);
	if (rc)
		return rc;
	if (cfg->n_regions != 1)
		rc = vmm_err(-EINVAL, "region spec describes %zu regions, not one", cfg->n_regions);
	else
		rc = vmm_create_region(ctx, &cfg->regions[0], out);
	vmmem_config_free(cfg);
	return rc;
}

int
vmmem_region_create_from_config(struct vmmem_region **out, struct vmmem_ctx *ctx,
				const struct vmmem_config *cfg, size_t index)
{
	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(cfg);
	if (index >= cfg->n_regions)
		return vmm_err(-ERANGE, "config has %zu regions, not %zu", cfg->n_regions, index + 1);
	return vmm_create_region(ctx, &cfg->regions[index], out);
}

int
vmmem_memory_new_from_config(struct vmmem_memory **out, struct vmmem_ctx *ctx,
			     const struct vmmem_config *cfg)
{
	struct vmmem_region **regions;
	size_t made = 0;
	int rc = 0;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(ctx);
	VMM_CHECK_ARG(cfg);
	regions = calloc(cfg->n_regions, sizeof(*regions));
	if (!regions)
		return vmm_err(-ENOMEM, "memory: out of memory");
	for (; made < cfg->n_regions && rc == 0; made++)
		rc = vmm_create_region(ctx, &cfg->regions[made], &regions[made]);
	if (rc == 0)
		rc = vmmem_memory_new(out, regions, cfg->n_regions);
	for (size_t i = 0; i < made; i++)
		vmmem_region_unref(regions[i]);
	free(regions);
	return rc;
}
