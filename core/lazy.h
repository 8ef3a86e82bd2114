/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Lazy restore: regions filled on demand by a userfaultfd handler thread while a second
 * thread prefetches the rest (public side: vmmem/snapshot.h). */
#ifndef VMM_LAZY_H
#define VMM_LAZY_H

#include <vmmem/snapshot.h>

/* vmmem_snapshot_restore() for VMMEM_RESTORE_LAZY (arguments already checked). */
int vmm_lazy_restore(const struct vmmem_snapshot *s, struct vmmem_ctx *ctx,
		     const struct vmmem_restore_opts *opts, struct vmmem_memory **out,
		     struct vmmem_restore **lazy);

#endif /* VMM_LAZY_H */
