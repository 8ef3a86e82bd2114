/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* One-line diagnostics on stderr, shared by every part of the backend. */
#ifndef VUB_LOGGING_H
#define VUB_LOGGING_H

#include <stdbool.h>

/* Set by --verbose: vub_debug() lines are printed too. */
extern bool vub_verbose;

/* Print "vmmem-vhost-user-blk: <message>\n" on stderr. Every refusal of front-end input
 * goes through here, so each problem costs exactly one line. */
void vub_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Like vub_log(), only with --verbose (protocol trace). */
void vub_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* VUB_LOGGING_H */
