/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
#include "cli.h"

#include <stdint.h>

#include <vmmem.h>

/* Length of the well-formed UTF-8 sequence at @s (1-4), or 0 if it is not one (RFC 3629:
 * no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t utf8_length(const unsigned char *s)
{
	size_t n;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

void cli_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = utf8_length(p);

		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p);
		} else if (*p < 0x20) {
			fprintf(f, "\\u%04x", (unsigned int)*p);
		} else if (n == 0) {
			/* Not UTF-8 (a path may hold any bytes): the replacement character keeps
			 * the output valid JSON; the text output shows the bytes as they are. */
			fputs("\\ufffd", f);
			n = 1;
		} else {
			fwrite(p, 1, n, f);
		}
		p += n;
	}
	fputc('"', f);
}

int cli_version(void)
{
	printf("vmmem %s\n", vmmem_version_string());
	return CLI_OK;
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
