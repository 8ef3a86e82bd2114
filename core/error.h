/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Internal error reporting: set the thread-local message and return the code. */
#ifndef VMM_ERROR_H
#define VMM_ERROR_H

#include <errno.h>

#include <vmmem/error.h>

#include "util.h"

/* Record a detail message for the calling thread and return @code (a negative value). */
VMM_COLD __attribute__((format(printf, 2, 3))) int vmm_err(int code, const char *fmt, ...);

/* Argument check at the top of an exported function (systemd's assert_return idea). */
#define VMM_CHECK_ARG(expr)                                                                  \
	do {                                                                                 \
		if (unlikely(!(expr)))                                                       \
			return vmm_err(-EINVAL, "%s: invalid argument: %s", __func__, #expr); \
	} while (0)

#endif /* VMM_ERROR_H */
