/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Provider option values: typed parsing, and resolving a config region's options against
 * what its provider declared. */
#ifndef VMM_OPTIONS_H
#define VMM_OPTIONS_H

#include <vmmem/provider.h>

#include "config.h"
#include "provider.h"

/* Parse @text as a value of option type @type into @v; 0 or VMMEM_E_CONFIG_VALUE (no
 * message: callers say which option and where). */
int vmm_option_parse(uint32_t type, const char *text, struct vmmem_option_value *v);

/* The provider's option values for config region @cr, one per declared option: the
 * defaults, then the config's values. Unknown keys, bad values and conflicts fail with a
 * message naming the config position. */
int vmm_options_resolve(const struct vmmem_provider *p, const struct vmm_cfg_region *cr,
			struct vmmem_option_value *values);

#endif /* VMM_OPTIONS_H */
