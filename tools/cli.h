/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* What every `vmmem` command shares: exit statuses, JSON strings, the status of a failure. */
#ifndef VMMEM_TOOL_CLI_H
#define VMMEM_TOOL_CLI_H

#include <stdio.h>

/* Exit statuses (vmmem(1), EXIT STATUS). */
enum {
	CLI_OK = 0,      /* done */
	CLI_FAILURE = 1, /* a runtime error: creation, I/O, checksum, round trip */
	CLI_USAGE = 2,   /* the command line is wrong, including an invalid CONFIG */
};

/* `--version` of every command: "vmmem X.Y.Z" on stdout; returns CLI_OK. */
int cli_version(void);

/* @s as a JSON string literal (quotes and escapes) on @f. */
void cli_json_string(FILE *f, const char *s);

/* The exit status for library error @rc: CLI_USAGE for an invalid config string (syntax,
 * key, value, conflict, overlapping or empty regions: what the user typed), else
 * CLI_FAILURE. */
int cli_status(int rc);

#endif
