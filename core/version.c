/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Run-time library version. */
#include <vmmem/common.h>

#define STR2(x) #x
#define STR(x) STR2(x)

unsigned int
vmmem_version(void)
{
	return VMMEM_VERSION;
}

const char *
vmmem_version_string(void)
{
	return STR(VMMEM_VERSION_MAJOR) "." STR(VMMEM_VERSION_MINOR) "." STR(VMMEM_VERSION_PATCH);
}
