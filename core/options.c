/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Provider option values: typed parsing and resolution against a provider's declarations. */
#include "options.h"

#include <stdbool.h>
#include <string.h>

#include "error.h"

int
vmm_option_parse(uint32_t type, const char *text, struct vmmem_option_value *v)
{
	bool b;

	switch (type) {
	case VMMEM_OPTION_BOOL:
		if (vmm_parse_bool(text, &b))
			return VMMEM_E_CONFIG_VALUE;
		v->num = b;
		return 0;
	case VMMEM_OPTION_SIZE:
		return vmm_parse_size_value(text, &v->num);
	case VMMEM_OPTION_UINT:
		return vmm_parse_uint(text, &v->num);
	case VMMEM_OPTION_STRING:
		v->str = text;
		return 0;
	default:
		return VMMEM_E_CONFIG_VALUE;
	}
}

static long option_index(const struct vmmem_provider *p, const char *key)
{
	for (size_t i = 0; i < p->n_options; i++)
		if (!strcmp(p->desc.options[i].key, key))
			return (long)i;
	return -1;
}

int
vmm_options_resolve(const struct vmmem_provider *p, const struct vmm_cfg_region *cr,
			   struct vmmem_option_value *values)
{
	for (size_t i = 0; i < p->n_options; i++) {
		const struct vmmem_option_desc *o = &p->desc.options[i];

		if (o->default_value)
			vmm_option_parse(o->type, o->default_value, &values[i]); /* checked at registration */
	}
	for (size_t j = 0; j < cr->n_options; j++) {
		const struct vmm_cfg_option *co = &cr->options[j];
		long i;

		if (co->common)
			continue;
		i = option_index(p, co->key);
		if (i < 0)
			return vmm_err(VMMEM_E_CONFIG_KEY,
				       "config position %zu: unknown key '%s' for provider '%s'",
				       co->pos, co->key, p->desc.name);
		values[i] = (struct vmmem_option_value){ .is_set = 1 };
		if (vmm_option_parse(p->desc.options[i].type, co->value, &values[i]))
			return vmm_err(VMMEM_E_CONFIG_VALUE,
				       "config position %zu: %s=%s is not a valid %s", co->pos, co->key,
				       co->value,
				       p->desc.options[i].type == VMMEM_OPTION_BOOL ? "on/off value"
				       : p->desc.options[i].type == VMMEM_OPTION_SIZE ? "size"
										  : "number");
	}
	/* QEMU's rule: preallocating memory that was not reserved is a contradiction. */
	long reserve = option_index(p, "reserve");
	if (cr->prealloc && reserve >= 0 && p->desc.options[reserve].type == VMMEM_OPTION_BOOL &&
	    values[reserve].num == 0)
		return vmm_err(VMMEM_E_CONFIG_CONFLICT,
			       "config position %zu: prealloc=on conflicts with reserve=off", cr->pos);
	return 0;
}

