/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* noentry: a shared object without vmmem_provider_init -> VMMEM_E_PROVIDER_SYMBOL. */
#include <vmmem/provider.h>

VMMEM_PROVIDER_EXPORT int noentry_not_an_entry_point(void);

int noentry_not_an_entry_point(void)
{
	return 0;
}
