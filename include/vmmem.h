/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/**
 * @file vmmem.h
 * @brief libvmmem: guest physical memory for virtual machine monitors.
 *
 * Include this one header to use the library. Each concept has its own header:
 * - vmmem/error.h    error codes, vmmem_strerror(), vmmem_errormsg()
 * - vmmem/address.h  overflow-checked guest address arithmetic (inline)
 * - vmmem/endian.h   explicit-endian types (inline)
 * - vmmem/region.h   one guest-physical range backed by a host mapping
 * - vmmem/memory.h   an immutable set of regions and lookup
 * - vmmem/access.h   reads, writes, objects, atomics, translation by GPA
 * - vmmem/slice.h    bounded views and typed arrays
 * - vmmem/io.h       scatter-gather lists and file-descriptor transfers
 * - vmmem/config.h   config strings describing a whole guest memory
 * - vmmem/ctx.h      provider plugins and memory built from config strings
 * - vmmem/share.h    vhost-user region descriptors and import of received fds
 * - vmmem/dirty.h    dirty-page tracking and the vhost-user dirty log
 * - vmmem/atomic.h   swappable memory for hotplug (read-copy-update)
 * - vmmem/snapshot.h snapshot files, restore by copy, map or userfaultfd (1.1)
 *
 * vmmem/provider.h, the ABI for writing providers, is not included here.
 */
#ifndef VMMEM_H
#define VMMEM_H

#include <vmmem/common.h>
#include <vmmem/error.h>
#include <vmmem/address.h>
#include <vmmem/endian.h>
#include <vmmem/region.h>
#include <vmmem/memory.h>
#include <vmmem/access.h>
#include <vmmem/slice.h>
#include <vmmem/io.h>
#include <vmmem/config.h>
#include <vmmem/ctx.h>
#include <vmmem/share.h>
#include <vmmem/dirty.h>
#include <vmmem/atomic.h>
#include <vmmem/snapshot.h>
#include <vmmem/iommu.h>

#endif /* VMMEM_H */
