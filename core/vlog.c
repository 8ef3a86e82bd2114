/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The vhost-user log object: a reference-counted view of the caller's log buffer. */
#include "vlog.h"

#include <stdlib.h>

#include "error.h"
#include "util.h"

int
vmmem_vhost_log_new(struct vmmem_vhost_log **out, void *base, uint64_t size,
		    void (*release)(void *opaque, void *base, uint64_t size), void *opaque)
{
	struct vmmem_vhost_log *log;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(base);
	VMM_CHECK_ARG(size > 0 && size <= (UINT64_MAX >> 3));
	if ((uintptr_t)base % 8)
		return vmm_err(VMMEM_E_MISALIGNED, "vhost log %p is not 8-byte aligned", base);
	log = malloc(sizeof(*log));
	if (!log)
		return vmm_err(-ENOMEM, "vhost log: out of memory");
	*log = (struct vmmem_vhost_log){ .refs = 1, .words = base, .size = size,
					 .release = release, .opaque = opaque };
	*out = log;
	return 0;
}

struct vmmem_vhost_log *
vmmem_vhost_log_ref(struct vmmem_vhost_log *log)
{
	if (log)
		vmm_ref_inc(&log->refs);
	return log;
}

struct vmmem_vhost_log *
vmmem_vhost_log_unref(struct vmmem_vhost_log *log)
{
	if (!log || !vmm_ref_dec_is_last(&log->refs))
		return NULL;
	if (log->release)
		log->release(log->opaque, log->words, log->size);
	free(log);
	return NULL;
}

uint64_t
vmmem_vhost_log_size(const struct vmmem_vhost_log *log)
{
	return log ? log->size : 0;
}

int
vmmem_vhost_log_mark(struct vmmem_vhost_log *log, uint64_t gpa, uint64_t len)
{
	VMM_CHECK_ARG(log);
	if (len == 0)
		return 0;
	if (vmm_range_wraps(gpa, len) || !vmm_vlog_covers(log, gpa + len - 1))
		return vmm_err(-ERANGE, "vhost log of %llu bytes cannot hold GPA range 0x%llx + 0x%llx",
			       (unsigned long long)log->size, (unsigned long long)gpa,
			       (unsigned long long)len);
	vmm_vlog_mark(log, gpa, len);
	return 0;
}
