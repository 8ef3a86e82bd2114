/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
#include "cli.h"

#include <vmmem.h>

void cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned int)(unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int cli_status(int rc)
{
	switch (rc) {
	case VMMEM_E_CONFIG_SYNTAX:
	case VMMEM_E_CONFIG_KEY:
	case VMMEM_E_CONFIG_VALUE:
	case VMMEM_E_CONFIG_CONFLICT:
	case VMMEM_E_OVERLAP:
	case VMMEM_E_ZERO_SIZE:
	case VMMEM_E_NO_REGIONS:
		return CLI_USAGE;
	default:
		return CLI_FAILURE;
	}
}
