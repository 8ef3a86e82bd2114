/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The vhost-user protocol (QEMU docs/interop/vhost-user.rst), back-end side: one front-end
 * connection at a time. Messages are received with their SCM_RIGHTS fds, checked (payload
 * size and fd count per request type), dispatched, and answered (own replies and
 * REPLY_ACK). Bad input from the front-end is refused with one log line; the connection is
 * only dropped when the byte stream itself cannot be trusted any more.
 */
#ifndef VUB_VHOST_USER_H
#define VUB_VHOST_USER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "blk.h"

#define VUB_MAX_QUEUES 8u
#define VUB_DEFAULT_MEM_SLOTS 509u /* as libvhost-user */
#define VUB_MAX_MEM_SLOTS 512u     /* QEMU's VHOST_USER_MAX_RAM_SLOTS */
/*
 * Regions are mapped whole, and a sparse sealed memfd costs the front-end nothing: without a
 * cap it could fill most of the 128 TiB user address space (x86-64, 4-level paging; less
 * under AddressSanitizer) and make every later mapping of the backend fail. 1 TiB is more
 * than the guests this example serves use, and leaves over 99% of it free; larger guests
 * raise it with --max-mem-size.
 */
#define VUB_DEFAULT_MEM_SIZE (UINT64_C(1) << 40)

struct vu_options {
	unsigned int max_mem_slots; /* GET_MAX_MEM_SLOTS, and the table limit */
	uint64_t max_mem_size;      /* total bytes of regions at once; 0: VUB_DEFAULT_MEM_SIZE
				     * (zero-initialised options stay capped) */
	unsigned int num_queues;    /* GET_QUEUE_NUM */
	bool allow_unsealed;        /* accept memory fds without F_SEAL_SHRINK */
};

/* Why vu_serve() returned. */
enum vu_end {
	VU_END_DISCONNECT, /* the front-end went away, or was dropped: accept the next one */
	VU_END_SIGNAL,     /* SIGINT/SIGTERM: exit */
	VU_END_FATAL,      /* the backend itself failed (out of memory, threads) */
};

/*
 * Serve the connected front-end on sock until it disconnects or a signal arrives. The
 * caller keeps SIGINT/SIGTERM blocked; waits unblock them with wait_mask (ppoll), and the
 * handler sets *quit. Closes sock.
 */
enum vu_end vu_serve(int sock, const struct vu_options *opt, struct blk_dev *blk,
		     const sigset_t *wait_mask, volatile sig_atomic_t *quit);

#endif /* VUB_VHOST_USER_H */
