/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>

#include "logging.h"

bool vub_verbose;

/* Build the whole line first so lines from the two threads never interleave. */
static void emit(const char *fmt, va_list ap)
{
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return;
	fprintf(stderr, "vmmem-vhost-user-blk: %s\n", line);
}

void vub_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}

void vub_debug(const char *fmt, ...)
{
	va_list ap;

	if (!vub_verbose)
		return;
	va_start(ap, fmt);
	emit(fmt, ap);
	va_end(ap);
}
