/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Error codes: descriptions and the per-thread detail message. */
#define _GNU_SOURCE
#include "error.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char last_message[512];

int
vmm_err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	return code;
}

const char *
vmmem_errormsg(void)
{
	return last_message;
}

static const char *library_error_text(int err)
{
	switch (err) {
	case VMMEM_E_UNMAPPED:
		return "guest address is not backed by any region";
	case VMMEM_E_PARTIAL:
		return "transfer stopped short of the requested length";
	case VMMEM_E_NO_REGIONS:
		return "guest memory needs at least one region";
	case VMMEM_E_OVERLAP:
		return "guest memory regions overlap";
	case VMMEM_E_ZERO_SIZE:
		return "region size is zero";
	case VMMEM_E_CROSSES_REGION:
		return "range runs past the end of its region";
	case VMMEM_E_MISALIGNED:
		return "address is not suitably aligned";
	case VMMEM_E_READ_ONLY:
		return "write to read-only guest memory";
	case VMMEM_E_OUT_OF_BOUNDS:
		return "offset or length is outside the view";
	case VMMEM_E_NO_SUCH_REGION:
		return "no region with that start and size";
	case VMMEM_E_CONFIG_SYNTAX:
		return "malformed config string";
	case VMMEM_E_CONFIG_KEY:
		return "unknown, repeated or missing config key";
	case VMMEM_E_CONFIG_VALUE:
		return "invalid config value";
	case VMMEM_E_CONFIG_CONFLICT:
		return "conflicting config options";
	case VMMEM_E_PROVIDER_NOT_FOUND:
		return "provider not found";
	case VMMEM_E_PROVIDER_LOAD:
		return "provider plugin could not be loaded";
	case VMMEM_E_PROVIDER_SYMBOL:
		return "provider plugin has no entry symbol";
	case VMMEM_E_PROVIDER_ABI:
		return "provider built for an incompatible ABI";
	case VMMEM_E_PROVIDER_INVALID:
		return "invalid provider description";
	case VMMEM_E_PROVIDER_EXISTS:
		return "provider name already registered";
	case VMMEM_E_PROVIDER_UNSAFE:
		return "provider plugin file or directory is writable by others";
	case VMMEM_E_NOT_SEALED:
		return "shared file is not sealed against shrinking";
	case VMMEM_E_FILE_TOO_SHORT:
		return "shared file is shorter than the region";
	case VMMEM_E_NOT_SHAREABLE:
		return "region cannot be shared with another process";
	case VMMEM_E_SNAPSHOT_FORMAT:
		return "not a valid snapshot file";
	case VMMEM_E_SNAPSHOT_VERSION:
		return "unsupported snapshot format version";
	case VMMEM_E_SNAPSHOT_TRUNCATED:
		return "snapshot file is truncated";
	case VMMEM_E_SNAPSHOT_CHECKSUM:
		return "snapshot checksum mismatch";
	case VMMEM_E_SNAPSHOT_PARENT:
		return "snapshot is not the expected full snapshot or diff parent";
	case VMMEM_E_SNAPSHOT_PAGE_SIZE:
		return "snapshot page size invalid or unusable on this host";
	case VMMEM_E_IOTLB_MISS:
		return "I/O virtual address not mapped by the IOTLB";
	case VMMEM_E_IOTLB_DENIED:
		return "IOTLB entry does not allow this access";
	case VMMEM_E_NOT_TRACKED:
		return "dirty tracking is not enabled for the region";
	default:
		return NULL;
	}
}

/* vmmem_strerror -- static text for library codes and errno values alike */
const char *
vmmem_strerror(int err)
{
	const char *text;

	if (err == 0)
		return "success";
	if (err == INT_MIN)
		return "unknown error";
	if (err > 0)
		err = -err;
	text = library_error_text(err);
	if (text)
		return text;
	/* strerrordesc_np returns static text (unlike strerror) or NULL when unknown. */
	text = strerrordesc_np(-err);
	return text ? text : "unknown error";
}
