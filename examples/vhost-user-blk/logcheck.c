/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* --check-log: after each guest write, are its pages marked in the shared vhost log? */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>

#include "logcheck.h"
#include "logging.h"

#define MISSING_LINES 10 /* pages reported one by one; then only counted */

bool logcheck_enabled;

/* libvmmem has no getter for a log's buffer, so the control thread tells us which buffer
 * belongs to which log. The lock only guards these three fields: the buffer itself stays
 * mapped while the memory the queue thread holds a guard on references the log. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct vmmem_vhost_log *cur_log; /* our reference, or NULL */
static const uint8_t *cur_base;
static uint64_t cur_size;

static uint64_t writes_checked, pages_missing, pages_raced; /* atomic */

void logcheck_set_log(struct vmmem_vhost_log *vlog, const uint8_t *base)
{
	struct vmmem_vhost_log *old;

	if (!logcheck_enabled)
		return;
	pthread_mutex_lock(&lock);
	old = cur_log;
	cur_log = vmmem_vhost_log_ref(vlog);
	cur_base = vlog ? base : NULL;
	cur_size = vmmem_vhost_log_size(vlog);
	pthread_mutex_unlock(&lock);
	vmmem_vhost_log_unref(old);
}

/* The shared log buffer of m's log, if it is the one logcheck_set_log() was told about. */
static const uint8_t *log_bytes(const struct vmmem_memory *m, uint64_t *size)
{
	struct vmmem_vhost_log *vlog = vmmem_memory_vhost_log(m);
	const uint8_t *base = NULL;

	if (!vlog)
		return NULL; /* logging is off: nothing to check */
	/* Both logs are alive (ours is referenced, m's is held by the guard), so equal
	 * pointers are the same log. Another one is a log switch in progress: skip. */
	pthread_mutex_lock(&lock);
	if (vlog == cur_log) {
		base = cur_base;
		*size = cur_size;
	}
	pthread_mutex_unlock(&lock);
	return base;
}

/* Bit @page of the log: the front-end's bytes, shared with it, read as the atomics they are. */
static bool log_bit(const uint8_t *base, uint64_t size, uint64_t page)
{
	return page / 8 < size &&
	       ((__atomic_load_n(&base[page / 8], __ATOMIC_ACQUIRE) >> (page % 8)) & 1);
}

void logcheck_arm(const struct vmmem_memory *m, uint64_t gpa, uint64_t len)
{
	uint64_t size = 0, first, last;
	const uint8_t *base;

	if (!logcheck_enabled || len == 0 || !(base = log_bytes(m, &size)))
		return;
	first = gpa / VMMEM_VHOST_LOG_PAGE;
	last = (gpa + (len - 1)) / VMMEM_VHOST_LOG_PAGE;
	for (uint64_t page = first; page <= last; page++) {
		uint64_t canary = page ^ 1; /* same byte, so same 64-bit word */

		if (canary / 8 < size)
			__atomic_fetch_or((uint8_t *)&base[canary / 8], (uint8_t)(1u << (canary % 8)),
					  __ATOMIC_SEQ_CST);
	}
}

void logcheck_write(const struct vmmem_memory *m, uint64_t gpa, uint64_t len)
{
	uint64_t size = 0, first, last;
	const uint8_t *base;

	if (!logcheck_enabled || len == 0 || !(base = log_bytes(m, &size)))
		return;
	first = gpa / VMMEM_VHOST_LOG_PAGE;
	last = (gpa + (len - 1)) / VMMEM_VHOST_LOG_PAGE; /* the write succeeded: no wrap */
	for (uint64_t page = first; page <= last; page++) {
		if (log_bit(base, size, page))
			continue;
		if (!log_bit(base, size, page ^ 1)) {
			/* The canary went too: the front-end collected the word in between. */
			__atomic_fetch_add(&pages_raced, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (__atomic_fetch_add(&pages_missing, 1, __ATOMIC_RELAXED) < MISSING_LINES)
			vub_log("log check: page 0x%" PRIx64 " (written at GPA 0x%" PRIx64
				", 0x%" PRIx64 " bytes) is not marked in the dirty log",
				page * VMMEM_VHOST_LOG_PAGE, gpa, len);
	}
	__atomic_fetch_add(&writes_checked, 1, __ATOMIC_RELAXED);
}

void logcheck_report(void)
{
	if (!logcheck_enabled)
		return;
	vub_log("log check: %" PRIu64 " writes checked, %" PRIu64 " pages missing, %" PRIu64
		" collected by the front-end in between",
		__atomic_load_n(&writes_checked, __ATOMIC_RELAXED),
		__atomic_load_n(&pages_missing, __ATOMIC_RELAXED),
		__atomic_load_n(&pages_raced, __ATOMIC_RELAXED));
}
