/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * --check-log: a self-check of the vhost-user dirty log.
 *
 * While a log is attached to the guest memory, libvmmem sets the log bit of every 4 KiB
 * guest-physical page the backend writes through it. With the check on, each guest write
 * of the queue thread (IN data, GET_ID data, status byte, used element, used->idx) is
 * followed at once by a look at the log buffer the front-end shares: every page written
 * must have its bit set (bit gpa / 4096, byte bit / 8, LSB first). The counts are
 * process-wide and printed as one line, "log check: N writes checked, M pages missing", at
 * each SET_LOG_BASE, disconnect and exit; M is 0 unless libvmmem failed to mark a page.
 *
 * A front-end fetches and clears the log (QEMU does, at each migration bitmap sync) with an
 * atomic exchange of whole 64-bit words. So that such a sync between libvmmem's mark and
 * the look is not taken for a missing mark, logcheck_arm() first sets a canary: the bit of
 * the neighbouring page (page ^ 1, same word). After the write, a clear page bit with the
 * canary still set means libvmmem did not mark the page (missing); with the canary gone,
 * the word was collected by the front-end in between (counted as raced, not missing).
 * Marking the neighbour dirty only makes the front-end copy one more page: always safe.
 */
#ifndef VUB_LOGCHECK_H
#define VUB_LOGCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <vmmem.h>

/* Set by --check-log before any thread starts; everything below does nothing without it. */
extern bool logcheck_enabled;

/* Control thread: the buffer behind vlog, the bytes mapped from the SET_LOG_BASE fd (the
 * check takes its own reference on vlog); NULL forgets the previous log. */
void logcheck_set_log(struct vmmem_vhost_log *vlog, const uint8_t *base);

/* Queue thread, right before writing guest range [gpa, gpa + len) through m: set the
 * canaries of its pages (see above). */
void logcheck_arm(const struct vmmem_memory *m, uint64_t gpa, uint64_t len);

/* Queue thread, right after writing guest range [gpa, gpa + len) through m (with a guard
 * on m): if m has the log set by logcheck_set_log() attached, check and count. */
void logcheck_write(const struct vmmem_memory *m, uint64_t gpa, uint64_t len);

/* Print the counts line (stderr). */
void logcheck_report(void);

#endif /* VUB_LOGCHECK_H */
