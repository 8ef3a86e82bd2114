/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Guarded access: a SIGBUS handler that turns faults inside a guarded copy into errors. */
#define _GNU_SOURCE
#include "guard.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "error.h"

#if defined(__SANITIZE_THREAD__)
/*
 * ThreadSanitizer's memcpy interceptor treats a fault inside it as fatal instead of passing
 * the SIGBUS on, so under TSan the copy is a loop of volatile byte accesses in this
 * uninstrumented function: the fault then happens in our code and reaches our handler.
 * Only TSan builds pay for it.
 */
__attribute__((no_sanitize_thread, noinline)) static void
copy_bytes(uint8_t *dst, const uint8_t *src, size_t n)
{
	volatile uint8_t *d = dst;
	const volatile uint8_t *s = src;

	for (size_t i = 0; i < n; i++)
		d[i] = s[i];
}
#else
#define copy_bytes memcpy
#endif

struct guard {
	const uint8_t *lo, *hi; /* the guest bytes this copy may fault on */
	sigjmp_buf *jump;
};

/* The range a fault of an access to [p, p + n) may report: s390x reports only the page of
 * the faulting address in si_addr (the low 12 bits are cleared), so the first page counts
 * from its start. Other hosts report the exact byte, which is inside this range too. */
static struct guard guard_range(const void *p, size_t n)
{
	uintptr_t lo = (uintptr_t)p & ~((uintptr_t)vmm_host_page_size() - 1);

	return (struct guard){ .lo = (const uint8_t *)lo, .hi = (const uint8_t *)p + n };
}

/* The copy running on this thread under a guard, or NULL. Initial-exec TLS: the handler
 * must not allocate. */
static __thread struct guard *volatile running __attribute__((tls_model("initial-exec")));

static struct sigaction previous; /* what the application had, set once before ours runs */
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	struct guard *g = running;
	const uint8_t *addr = si->si_addr;

	if (g && addr >= g->lo && addr < g->hi) {
		running = NULL;
		siglongjmp(*g->jump, 1); /* SA_NODEFER: SIGBUS stays unblocked after the jump */
	}
	/* Not a guarded access: whatever the application had decides. */
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, uc);
	} else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
	} else {
		/* The default action: a fault re-runs and kills the process as it would have;
		 * a SIGBUS sent with kill() is sent again. */
		signal(SIGBUS, SIG_DFL);
		if (si->si_code <= 0)
			raise(sig);
	}
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous) < 0)
		install_error = -errno;
}

int
vmm_guard_enable(void)
{
	pthread_once(&install_once, install);
	if (install_error)
		return vmm_err(install_error, "guarded memory: cannot install the SIGBUS handler: %s",
			       strerror(-install_error));
	return 0;
}

size_t
vmm_guarded_copy(void *dst, const void *src, size_t n, const void *guest)
{
	const size_t pg = (size_t)vmm_host_page_size();
	volatile size_t done = 0;
	struct guard g = guard_range(guest, n);
	sigjmp_buf jump;

	g.jump = &jump;
	if (sigsetjmp(jump, 0) == 0) {
		running = &g;
		/* The copy must not be moved before the handler can see the guard. */
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		/* Page by page, so a fault reports how far the copy got. */
		while (done < n) {
			size_t at = done;
			size_t chunk = pg - ((uintptr_t)((const uint8_t *)guest + at) & (pg - 1));

			if (chunk > n - at)
				chunk = n - at;
			copy_bytes((uint8_t *)dst + at, (const uint8_t *)src + at, chunk);
			done = at + chunk;
		}
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* ... nor after the guard is gone */
	running = NULL;
	return done;
}

bool
vmm_guarded_atomic(void *p, unsigned int size, bool store, uint64_t *val, int order)
{
	struct guard g = guard_range(p, size);
	sigjmp_buf jump;
	volatile bool ok = false;

	g.jump = &jump;
	if (sigsetjmp(jump, 0) == 0) {
		running = &g;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		switch (size) {
		case 1:
			if (store)
				vmm_atomic_store8(p, (uint8_t)*val, order);
			else
				*val = vmm_atomic_load8(p, order);
			break;
		case 2:
			if (store)
				vmm_atomic_store16(p, (uint16_t)*val, order);
			else
				*val = vmm_atomic_load16(p, order);
			break;
		case 4:
			if (store)
				vmm_atomic_store32(p, (uint32_t)*val, order);
			else
				*val = vmm_atomic_load32(p, order);
			break;
		default:
			if (store)
				vmm_atomic_store64(p, *val, order);
			else
				*val = vmm_atomic_load64(p, order);
			break;
		}
		ok = true;
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	running = NULL;
	return ok;
}

int
vmm_err_gone(uint64_t gpa)
{
	return vmm_err(-EFAULT,
		       "guest address 0x%llx is no longer backed: the peer truncated or punched a "
		       "hole in the file behind its region",
		       (unsigned long long)gpa);
}
