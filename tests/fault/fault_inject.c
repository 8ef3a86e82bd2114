/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Fault injection over libvmmem's create, import, hotplug and dirty-log paths.
 *
 * This program defines malloc, calloc, realloc, strdup, strndup, mmap, mremap, memfd_create,
 * ftruncate, fallocate, madvise, dlopen, fcntl, open and mkostemp itself. The executable comes
 * first in symbol lookup, so libvmmem.so, the provider plugins it dlopens and the C library's
 * own callers (asprintf, fopen, opendir, dlopen's loader) reach these definitions. Each one
 * forwards to the next definition (dlsym RTLD_NEXT: the C library's, or the sanitizer's
 * interceptor) unless it is the call chosen to fail; then it sets errno and returns the
 * function's failure value.
 *
 * Calls are counted only while one of a scenario's library calls runs on the calling thread
 * ("armed"), so the harness's own work never counts. For each scenario:
 *   - a run with nothing failing counts the N calls it makes;
 *   - for k = 1..N, a run in which call k fails, then in the same process a run with nothing
 *     failing, which must succeed (the failure broke no global state).
 * Every run is a fork of the same untouched parent, so runs are identical up to call k, and a
 * crash or a hang is one finding instead of the end of the sweep. After each run the child
 * checks:
 *   - the library call that met the fault returned < 0 with a fresh, non-empty
 *     vmmem_errormsg(), left its out-pointer NULL, and left what it worked on unchanged;
 *   - a call that succeeded although its fault fired ("absorbed") still delivered all it
 *     promises (mapping flags, residency, seals, registered providers, ...);
 *   - nothing is left behind: no new fd, nothing mapped through mmap() still mapped, no new
 *     file-backed mapping (memfd, hugetlbfs file, plugin), no file in the hugetlbfs
 *     directory; with AddressSanitizer no leaked heap block (LeakSanitizer), without it no
 *     change in the total of mapped bytes.
 * A run that hangs (RUN_TIMEOUT_S) or crashes is reported with its fault point.
 *
 * Usage: fault_inject [-v] [scenario...]    (no scenario: all of them; exit 77 if all skipped)
 *   -v: every fault point with its outcome and where it was injected (file:line with ASan).
 * FAULT_INJECT_SELFTEST=leak makes the harness itself forget one region reference after an
 * injected fault, to show that the checks catch such a leak.
 */
#undef _FORTIFY_SOURCE /* its inline open() wrapper would clash with the definition below */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

#include <vmmem.h>

#if defined(__SANITIZE_ADDRESS__)
#define FAULT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAULT_ASAN 1
#endif
#endif
#ifndef FAULT_ASAN
#define FAULT_ASAN 0
#endif

/* LeakSanitizer's on-demand check and the sanitizers' symbolizer; present only in
 * AddressSanitizer builds. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
extern void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out, size_t size)
	__attribute__((weak));

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define HUGE_PAGE (2 * MiB)
#define RUN_TIMEOUT_S 20 /* a run taking longer is a hang */
#define EXIT_HANG 3
#define MAX_CALLS 16384

/* ======================================================================================
 * The interposed functions
 * ====================================================================================== */

enum fn {
	FN_MALLOC, FN_CALLOC, FN_REALLOC, FN_STRDUP, FN_STRNDUP, FN_MMAP, FN_MREMAP,
	FN_MEMFD_CREATE, FN_FTRUNCATE, FN_FALLOCATE, FN_MADVISE, FN_DLOPEN, FN_FCNTL, FN_OPEN,
	FN_MKOSTEMP, FN_COUNT
};

static const char *const fn_name[FN_COUNT] = {
	"malloc", "calloc", "realloc", "strdup", "strndup", "mmap", "mremap", "memfd_create",
	"ftruncate", "fallocate", "madvise", "dlopen", "fcntl", "open", "mkostemp",
};

/* The allocator's entry points run before AddressSanitizer has set up its shadow memory,
 * so they and what they call are not instrumented. */
#define NO_ASAN __attribute__((no_sanitize_address))

/* Fault state. Each run is a process of its own, so these start from zero every time. */
static __thread int armed;        /* this thread is inside a scenario's library call */
static unsigned long n_calls;     /* interposed calls made while armed */
static unsigned long fail_at;     /* the call to fail (1-based); 0: none */
static int fired_fn = -1;         /* the function that was failed, -1 if none yet */
static unsigned int fired_step;   /* the step (library call) it was failed in */
static const char *fired_step_name;
static unsigned int step_no;      /* library calls made so far in this run */
static const char *step_name = "(setup)";
static unsigned char call_fn[MAX_CALLS]; /* the function of each call, for the table */
static void *fired_pcs[24];               /* the stack of the failed call */
static int fired_depth;

struct unwind {
	void **pcs;
	int n, max;
};

/* libgcc's unwinder, not backtrace(): that one dlopens libgcc_s on first use. */
static _Unwind_Reason_Code unwind_step(struct _Unwind_Context *c, void *arg)
{
	struct unwind *u = arg;

	if (u->n >= u->max)
		return _URC_END_OF_STACK;
	u->pcs[u->n++] = (void *)_Unwind_GetIP(c);
	return _URC_NO_REASON;
}

/* Count an armed call; true if it is the one to fail. */
NO_ASAN static bool inject(enum fn f)
{
	if (!armed)
		return false;
	if (n_calls < MAX_CALLS)
		call_fn[n_calls] = (unsigned char)f;
	if (++n_calls != fail_at)
		return false;
	fired_fn = (int)f;
	fired_step = step_no;
	fired_step_name = step_name;
	{
		struct unwind u = { fired_pcs, 0, (int)(sizeof(fired_pcs) / sizeof(fired_pcs[0])) };

		armed = 0;
		_Unwind_Backtrace(unwind_step, &u);
		fired_depth = u.n;
		armed = 1;
	}
	return true;
}

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);
static int (*real_munmap)(void *, size_t);
static int (*real_memfd_create)(const char *, unsigned int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_madvise)(void *, size_t, int);
static void *(*real_dlopen)(const char *, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_open)(const char *, int, ...);
static int (*real_mkostemp)(char *, int);

/* Until the constructor below has looked up the real allocator, allocations (from the
 * sanitizer's start-up, the C library's, or dlsym's own) come from a static arena that is
 * never given back: free() ignores it. */

static _Alignas(16) unsigned char boot_arena[256 * 1024];
static size_t boot_used;
static bool resolved, ready;

NO_ASAN static void *boot_alloc(size_t n)
{
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (need < n || need > sizeof(boot_arena) - boot_used)
		abort();
	p = boot_arena + boot_used;
	boot_used += need;
	return p;
}

NO_ASAN static bool is_boot(const void *p)
{
	return (const unsigned char *)p >= boot_arena &&
	       (const unsigned char *)p < boot_arena + sizeof(boot_arena);
}

#define LOOKUP(name) (*(void **)&real_##name = dlsym(RTLD_NEXT, #name))

NO_ASAN static void resolve(void)
{
	if (resolved)
		return;
	resolved = true;
	LOOKUP(free);
	LOOKUP(realloc);
	LOOKUP(calloc);
	LOOKUP(malloc);
	LOOKUP(mmap);
	LOOKUP(mremap);
	LOOKUP(munmap);
	LOOKUP(memfd_create);
	LOOKUP(ftruncate);
	LOOKUP(fallocate);
	LOOKUP(madvise);
	LOOKUP(dlopen);
	LOOKUP(fcntl);
	LOOKUP(open);
	LOOKUP(mkostemp);
}

/* The executable's constructors run after those of every library, sanitizers included. */
__attribute__((constructor)) static void init_interposer(void)
{
	resolve();
	ready = true;
}

/* An uncounted allocation, for the string functions. */
NO_ASAN static void *raw_alloc(size_t n)
{
	return ready ? real_malloc(n) : boot_alloc(n);
}

NO_ASAN static void *fail_null(int err)
{
	errno = err;
	return NULL;
}

NO_ASAN static int fail_int(int err)
{
	errno = err;
	return -1;
}

NO_ASAN void *malloc(size_t n)
{
	if (inject(FN_MALLOC))
		return fail_null(ENOMEM);
	return raw_alloc(n);
}

NO_ASAN void *calloc(size_t n, size_t size)
{
	if (!ready) {
		if (size && n > SIZE_MAX / size)
			return fail_null(ENOMEM);
		return boot_alloc(n * size); /* the arena is zero and never reused */
	}
	if (inject(FN_CALLOC))
		return fail_null(ENOMEM);
	return real_calloc(n, size);
}

NO_ASAN void *realloc(void *p, size_t n)
{
	if (is_boot(p) || (!ready && !p)) { /* size unknown: copy what the arena can hold */
		size_t room = p ? (size_t)(boot_arena + sizeof(boot_arena) - (unsigned char *)p) : 0;
		void *q = raw_alloc(n);

		if (q && p)
			memcpy(q, p, n < room ? n : room);
		return q;
	}
	if (inject(FN_REALLOC))
		return fail_null(ENOMEM);
	return real_realloc(p, n);
}

NO_ASAN void free(void *p)
{
	if (!p || is_boot(p))
		return;
	real_free(p);
}

/* Built on the real malloc rather than forwarded, so a call counts once (the C library's
 * strdup would come back through malloc above). */
NO_ASAN char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (inject(FN_STRDUP))
		return fail_null(ENOMEM);
	p = raw_alloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

NO_ASAN char *strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p;

	if (inject(FN_STRNDUP))
		return fail_null(ENOMEM);
	p = raw_alloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* --- mappings made through mmap() in this run that are still mapped --- */

struct span {
	uintptr_t start, end;
};

static struct span spans[1024];
static size_t n_spans;
static bool spans_overflow;
static pthread_mutex_t span_lock = PTHREAD_MUTEX_INITIALIZER;

static uintptr_t page_up(uintptr_t v)
{
	static uintptr_t page;

	if (!page)
		page = (uintptr_t)sysconf(_SC_PAGESIZE);
	return (v + page - 1) & ~(page - 1);
}

static void span_push(uintptr_t start, uintptr_t end)
{
	if (n_spans == sizeof(spans) / sizeof(spans[0]))
		spans_overflow = true;
	else
		spans[n_spans++] = (struct span){ start, end };
}

/* Forget [start, end) (it was unmapped or mapped over). Lock held. */
static void span_cut(uintptr_t start, uintptr_t end)
{
	for (size_t i = 0; i < n_spans;) {
		struct span *x = &spans[i];

		if (x->end <= start || x->start >= end) {
			i++;
		} else if (x->start < start && x->end > end) {
			uintptr_t tail = x->end;

			x->end = start;
			span_push(end, tail);
			i++;
		} else if (x->start < start) {
			x->end = start;
			i++;
		} else if (x->end > end) {
			x->start = end;
			i++;
		} else {
			spans[i] = spans[--n_spans];
		}
	}
}

static void track_map(void *p, size_t len)
{
	pthread_mutex_lock(&span_lock);
	span_cut((uintptr_t)p, page_up((uintptr_t)p + len));
	span_push((uintptr_t)p, page_up((uintptr_t)p + len));
	pthread_mutex_unlock(&span_lock);
}

static void track_unmap(void *p, size_t len)
{
	pthread_mutex_lock(&span_lock);
	span_cut((uintptr_t)p, page_up((uintptr_t)p + len));
	pthread_mutex_unlock(&span_lock);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p;

	resolve();
	if (inject(FN_MMAP)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	p = real_mmap(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED)
		track_map(p, len);
	return p;
}

void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL, *p;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	resolve();
	if (inject(FN_MREMAP)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	p = real_mremap(old, old_len, new_len, flags, new_addr);
	if (p != MAP_FAILED) {
		track_unmap(old, old_len);
		track_map(p, new_len);
	}
	return p;
}

int munmap(void *addr, size_t len)
{
	int rc;

	resolve();
	rc = real_munmap(addr, len);
	if (rc == 0)
		track_unmap(addr, len);
	return rc;
}

int memfd_create(const char *name, unsigned int flags)
{
	resolve();
	if (inject(FN_MEMFD_CREATE))
		return fail_int(EMFILE);
	return real_memfd_create(name, flags);
}

int ftruncate(int fd, off_t length)
{
	resolve();
	if (inject(FN_FTRUNCATE))
		return fail_int(ENOSPC);
	return real_ftruncate(fd, length);
}

int fallocate(int fd, int mode, off_t offset, off_t len)
{
	resolve();
	if (inject(FN_FALLOCATE))
		return fail_int(ENOSPC);
	return real_fallocate(fd, mode, offset, len);
}

int madvise(void *addr, size_t len, int advice)
{
	resolve();
	if (inject(FN_MADVISE))
		return fail_int(ENOMEM);
	return real_madvise(addr, len, advice);
}

void *dlopen(const char *file, int mode)
{
	resolve();
	if (inject(FN_DLOPEN)) {
		/* Fail the way a real dlopen does, so dlerror() has a message to give. */
		int was = armed;
		void *h;

		armed = 0;
		h = real_dlopen("/nonexistent/fault-inject/libvmmem-none.so", mode);
		armed = was;
		if (h)
			abort();
		return NULL;
	}
	return real_dlopen(file, mode);
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	/* Every command takes at most one argument, an int or a pointer (as glibc reads it). */
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	resolve();
	if (inject(FN_FCNTL))
		return fail_int(cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC ? EMFILE
				: cmd == F_ADD_SEALS			 ? EPERM
									 : EINVAL);
	return real_fcntl(fd, cmd, arg);
}

int open(const char *path, int flags, ...)
{
	unsigned int mode = 0;
	va_list ap;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = va_arg(ap, unsigned int);
		va_end(ap);
	}
	resolve();
	if (inject(FN_OPEN))
		return fail_int(EMFILE);
	return real_open(path, flags, mode);
}

int mkostemp(char *tmpl, int flags)
{
	resolve();
	if (inject(FN_MKOSTEMP))
		return fail_int(EMFILE);
	return real_mkostemp(tmpl, flags);
}

/* ======================================================================================
 * Checks
 * ====================================================================================== */

static bool verbose;
static bool selftest_leak;     /* FAULT_INJECT_SELFTEST=leak */
static bool selftest_done;
static const char *scenario_name = "?";
static bool recovering;         /* in the clean run that follows a run with a fault */
static unsigned long recovery_of; /* ... of this fault point */
static const char *recovery_fn;
static int problems;
static bool stopped;            /* a library call failed and the scenario stopped there */
static bool absorbed;           /* a call met its fault and still reported success */
static char sentinel[512];      /* the message a failing call must replace */
static char provider_dir[PATH_MAX];
static size_t plugin_files;     /* libvmmem-*.so files in provider_dir */
static char huge_dir[PATH_MAX]; /* a private directory on hugetlbfs, "" if none */
static bool have_thp, have_ksm;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s ", scenario_name);
	if (recovering)
		printf("[clean run after fault #%lu %s]: ", recovery_of, recovery_fn);
	else if (fired_fn >= 0)
		printf("[fault #%lu %s in %s]: ", fail_at, fn_name[fired_fn], fired_step_name);
	else if (fail_at)
		printf("[fault #%lu not reached yet]: ", fail_at);
	else
		printf("[no fault]: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	problems++;
}

/* Before a library call: set a known message (a failure must replace it), then arm. */
static void arm(const char *name)
{
	vmmem_region_dirty_enable(NULL, 0);
	step_name = name;
	step_no++;
	armed = 1;
}

static long disarm(long rc)
{
	armed = 0;
	return rc;
}

/* One library call of a scenario, made armed; its result as a long. */
#define LIB(name, call) (arm(name), disarm((long)(call)))

/* After a library call: false to go on, true if it failed (then checked against the
 * rules and the scenario stops). @out_clear: its out-pointer, if any, is NULL. */
static bool failed(long rc, bool out_clear)
{
	bool here = fired_fn >= 0 && fired_step == step_no;
	const char *msg = vmmem_errormsg();

	if (rc >= 0) {
		if (here)
			absorbed = true; /* success must still be real: the scenario checks it */
		return false;
	}
	stopped = true;
	if (!here) {
		problem("%s failed (%ld, %s: %s) although no fault was injected into it%s", step_name,
			rc, vmmem_strerror((int)rc), msg,
			fired_fn >= 0 ? " (the fault went into an earlier call, which succeeded)" : "");
		return true;
	}
	if (!*msg || !strcmp(msg, sentinel))
		problem("%s returned %ld but set no error message", step_name, rc);
	if (!out_clear)
		problem("%s failed but its out-pointer is not NULL (half-built object)", step_name);
	if (verbose)
		printf("  #%lu %-12s in %-40s -> %ld %s\n", fail_at, fn_name[fired_fn], step_name,
		       rc, msg);
	return true;
}

#define POISON ((void *)(uintptr_t)0x7e57ed00)

/* A library call that makes *obj: on failure obj is cleared (after the check) and the
 * scenario goes to its teardown. */
#define MAKE(obj, name, call)                                                              \
	do {                                                                               \
		long rc_;                                                                  \
		(obj) = POISON;                                                            \
		rc_ = LIB(name, call);                                                     \
		if (failed(rc_, (obj) == NULL)) {                                          \
			(obj) = NULL;                                                      \
			goto done;                                                         \
		}                                                                          \
	} while (0)

/* A library call without an out-pointer. */
#define DO(name, call)                                                                     \
	do {                                                                               \
		if (failed(LIB(name, call), true))                                         \
			goto done;                                                         \
	} while (0)

/* Setup the scenario does without faults (what it is not about). */
#define SETUP(what, call)                                                                  \
	do {                                                                               \
		long rc_ = (long)(call);                                                   \
		if (rc_ < 0) {                                                             \
			problem("setup %s failed: %s (%s)", what, vmmem_strerror((int)rc_),    \
				vmmem_errormsg());                                         \
			goto done;                                                         \
		}                                                                          \
	} while (0)

/* Teardown of a region the scenario holds; the self-test forgets one after a fault. */
static void drop_region(struct vmmem_region *r)
{
	if (r && selftest_leak && fired_fn >= 0 && !selftest_done) {
		selftest_done = true;
		return;
	}
	vmmem_region_unref(r);
}

/* Where the failed call was made: the frames between the interposed function and the
 * scenario, innermost first. @symbolize: with file and line (the sanitizer's symbolizer
 * reads debug info, so only once the run's checks are done). */
static void fault_site(char *buf, size_t size, bool symbolize)
{
	size_t len = 0;
	int shown = 0;
	Dl_info self, info;

	buf[0] = '\0';
	if (!dladdr((void *)fault_site, &self))
		return;
	for (int i = 0; i < fired_depth && shown < 6 && len < size; i++) {
		void *pc = (char *)fired_pcs[i] - 1; /* the call, not the return address */
		char frame[256];

		if (!dladdr(pc, &info))
			continue;
		if (info.dli_fbase == self.dli_fbase) {
			if (shown)
				break; /* back in the scenario */
			continue;  /* the interposer itself */
		}
		if (symbolize && __sanitizer_symbolize_pc)
			__sanitizer_symbolize_pc(pc, "%f %s:%l", frame, sizeof(frame));
		else
			snprintf(frame, sizeof(frame), "%s+%#lx", strrchr(info.dli_fname, '/') ?
				 strrchr(info.dli_fname, '/') + 1 : info.dli_fname,
				 (unsigned long)((char *)pc - (char *)info.dli_fbase));
		len += (size_t)snprintf(buf + len, size - len, "%s%s", shown ? " <- " : "", frame);
		shown++;
	}
}

/* --- what the process holds --- */

struct mapping {
	uintptr_t start, end;
	char name[160];
};

struct snapshot {
	int nfd;
	int fd[512];
	size_t nmaps;
	struct mapping maps[4096];
	unsigned long long total; /* bytes of every mapping but the heap and the stack */
};

static struct snapshot before_run, after_run;

static void take_snapshot(struct snapshot *s)
{
	DIR *d = opendir("/proc/self/fd");
	FILE *f;
	struct dirent *e;
	char line[512];

	s->nfd = 0;
	if (d) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) &&
			    s->nfd < (int)(sizeof(s->fd) / sizeof(s->fd[0])))
				s->fd[s->nfd++] = atoi(e->d_name);
		closedir(d);
	}
	s->nmaps = 0;
	s->total = 0;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		int name_at = 0;
		char *name;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name_at) < 2)
			continue;
		name = name_at ? line + name_at : line + strlen(line);
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, "[heap]") && strcmp(name, "[stack]"))
			s->total += end - start;
		if (s->nmaps < sizeof(s->maps) / sizeof(s->maps[0])) {
			struct mapping *m = &s->maps[s->nmaps++];

			m->start = start;
			m->end = end;
			snprintf(m->name, sizeof(m->name), "%s", name);
		}
	}
	fclose(f);
}

static bool has_mapping(const struct snapshot *s, const struct mapping *m)
{
	for (size_t i = 0; i < s->nmaps; i++)
		if (s->maps[i].start == m->start && s->maps[i].end == m->end &&
		    !strcmp(s->maps[i].name, m->name))
			return true;
	return false;
}

static void begin_run(unsigned long k)
{
	fail_at = k;
	n_calls = 0;
	fired_fn = -1;
	fired_step_name = NULL;
	step_no = 0;
	step_name = "(setup)";
	stopped = false;
	absorbed = false;
	pthread_mutex_lock(&span_lock);
	n_spans = 0;
	spans_overflow = false;
	pthread_mutex_unlock(&span_lock);
	take_snapshot(&before_run);
}

/* After a run's teardown: nothing it made may be left. */
static void check_nothing_left(void)
{
	char path[64], target[PATH_MAX];

	take_snapshot(&after_run);
	for (int i = 0; i < after_run.nfd; i++) {
		bool old = false;

		for (int j = 0; j < before_run.nfd && !old; j++)
			old = before_run.fd[j] == after_run.fd[i];
		if (old)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", after_run.fd[i]);
		ssize_t n = readlink(path, target, sizeof(target) - 1);

		target[n > 0 ? n : 0] = '\0';
		problem("fd %d (%s) left open", after_run.fd[i], target);
	}
	pthread_mutex_lock(&span_lock);
	for (size_t i = 0; i < n_spans; i++)
		problem("mapping %#lx-%#lx (%lu KiB) made with mmap() left mapped",
			(unsigned long)spans[i].start, (unsigned long)spans[i].end,
			(unsigned long)((spans[i].end - spans[i].start) >> 10));
	if (spans_overflow)
		problem("harness: too many mappings to track");
	pthread_mutex_unlock(&span_lock);
	/* File-backed mappings (memfd, hugetlbfs files, plugins) are never the allocator's. */
	for (size_t i = 0; i < after_run.nmaps; i++)
		if (after_run.maps[i].name[0] == '/' && !has_mapping(&before_run, &after_run.maps[i]))
			problem("mapping %#lx-%#lx %s left mapped", (unsigned long)after_run.maps[i].start,
				(unsigned long)after_run.maps[i].end, after_run.maps[i].name);
	/* Without ASan nothing else maps memory behind our back: every byte must be given back.
	 * (ASan's allocator maps and keeps memory as it goes; its leak check stands in.) */
	if (!FAULT_ASAN && after_run.total != before_run.total)
		problem("%lld bytes more mapped than before the run",
			(long long)(after_run.total - before_run.total));
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check())
		problem("LeakSanitizer found leaks (report above)");
}

/* --- what a successful call must have delivered --- */

/* perms and VmFlags of the /proc/self/smaps entry holding @addr. */
static bool find_vma(const void *addr, char perms[5], char *flags, size_t size)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	uintptr_t a = (uintptr_t)addr;
	bool in = false, found = false;
	char line[512];

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		char p[5];

		if (sscanf(line, "%lx-%lx %4s", &start, &end, p) == 3) {
			in = a >= start && a < end;
			if (in)
				memcpy(perms, p, 5);
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			size_t n = strcspn(line + 8, "\n");

			n = n < size ? n : size - 1;
			memcpy(flags, line + 8, n);
			flags[n] = '\0';
			found = true;
		}
	}
	fclose(f);
	return found;
}

static bool has_flag(const char *flags, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *p = flags; (p = strstr(p, flag)); p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

enum want {
	W_RESIDENT = 1 << 0, /* prealloc=on: every page present */
	W_DONTDUMP = 1 << 1, /* VmFlags dd */
	W_THP = 1 << 2,      /* VmFlags hg */
	W_MERGE = 1 << 3,    /* VmFlags mg */
	W_SHARED = 1 << 4,   /* a MAP_SHARED mapping */
	W_READONLY = 1 << 5, /* VMMEM_REGION_READ_ONLY */
	W_FD = 1 << 6,       /* an open fd */
	W_SEALED = 1 << 7,   /* F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL */
	W_HUGE = 1 << 8,     /* 2 MiB hugetlb pages */
	W_THP_OPT = 1 << 9,  /* needs THP: left out of the config without it */
	W_KSM_OPT = 1 << 10, /* needs KSM: likewise */
	W_PROT_RO = 1 << 11, /* mapped without PROT_WRITE */
};

/* One region of a config string and what the region made from it must be. */
struct rx {
	const char *text;
	uint64_t gpa, size;
	unsigned int want;
	uint64_t dirty_page; /* dirty-tracking page size, 0 for off */
};

static unsigned char core_vec[(16 * MiB) / 4096];

static bool rx_enabled(const struct rx *x)
{
	return !((x->want & W_THP_OPT) && !have_thp) && !((x->want & W_KSM_OPT) && !have_ksm);
}

static void check_region(const struct vmmem_region *r, const struct rx *x)
{
	const char *what = x->text;
	uint8_t *host = vmmem_region_host(r);
	char perms[5] = "", flags[256] = "";
	uintptr_t base = (uintptr_t)host & ~(uintptr_t)4095;
	size_t len = (size_t)x->size + ((uintptr_t)host - base), pages = (len + 4095) / 4096;
	int fd = vmmem_region_fd(r);

	if (vmmem_region_gpa(r) != x->gpa || vmmem_region_size(r) != x->size) {
		problem("%s: region is at %#llx + %#llx", what,
			(unsigned long long)vmmem_region_gpa(r),
			(unsigned long long)vmmem_region_size(r));
		return;
	}
	if (pages > sizeof(core_vec) || mincore((void *)base, len, core_vec) < 0) {
		problem("%s: host range %p + %#llx is not mapped", what, (void *)host,
			(unsigned long long)x->size);
		return;
	}
	if (x->want & W_RESIDENT)
		for (size_t i = 0; i < pages; i++)
			if (!(core_vec[i] & 1)) {
				problem("%s: page %zu is not resident after prealloc", what, i);
				break;
			}
	if (!find_vma(host, perms, flags, sizeof(flags))) {
		problem("%s: no smaps entry for %p", what, (void *)host);
		return;
	}
	if ((x->want & W_DONTDUMP) && !has_flag(flags, "dd"))
		problem("%s: mapping is not MADV_DONTDUMP (VmFlags:%s)", what, flags);
	if ((x->want & W_THP) && have_thp && !has_flag(flags, "hg"))
		problem("%s: mapping is not MADV_HUGEPAGE", what);
	if ((x->want & W_MERGE) && have_ksm && !has_flag(flags, "mg"))
		problem("%s: mapping is not MADV_MERGEABLE", what);
	if (!!(x->want & W_SHARED) != (perms[3] == 's'))
		problem("%s: mapping is %s", what, perms);
	if (!!(x->want & W_READONLY) != !!(vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY))
		problem("%s: read-only flag is wrong", what);
	if (!!(x->want & W_PROT_RO) != (perms[1] != 'w'))
		problem("%s: mapping is %s", what, perms);
	if ((x->want & W_FD) && (fd < 0 || fcntl(fd, F_GETFD) < 0))
		problem("%s: region has no open fd (%d)", what, fd);
	if (x->want & W_SEALED) {
		int seals = fd >= 0 ? fcntl(fd, F_GET_SEALS) : -1;
		int all = F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;

		if (seals < 0 || (seals & all) != all)
			problem("%s: fd seals are %#x", what, seals);
	}
	if ((x->want & W_HUGE) && (vmmem_region_page_size(r) != HUGE_PAGE || !has_flag(flags, "ht")))
		problem("%s: not on 2 MiB huge pages (page size %#llx)", what,
			(unsigned long long)vmmem_region_page_size(r));
	if (vmmem_region_dirty_page_size(r) != x->dirty_page)
		problem("%s: dirty page size %llu, want %llu", what,
			(unsigned long long)vmmem_region_dirty_page_size(r),
			(unsigned long long)x->dirty_page);
}

/* The memory holds exactly these regions, each as it should be, and takes writes. */
static void check_memory(const struct vmmem_memory *m, const struct rx *rx, size_t n)
{
	size_t want = 0;

	for (size_t i = 0; i < n; i++) {
		struct vmmem_region *r = NULL;
		uint64_t v = 0x0123456789abcdefu ^ i, back = 0;
		int rc;

		if (!rx_enabled(&rx[i]))
			continue;
		want++;
		if (vmmem_memory_find_region(m, rx[i].gpa, &r) < 0 || !r) {
			problem("%s: no region at %#llx in the memory", rx[i].text,
				(unsigned long long)rx[i].gpa);
			continue;
		}
		check_region(r, &rx[i]);
		rc = vmmem_memory_write_obj(m, rx[i].gpa + rx[i].size - 8, &v, sizeof(v));
		if (rx[i].want & W_READONLY) {
			if (rc != VMMEM_E_READ_ONLY)
				problem("%s: write to read-only region gave %d", rx[i].text, rc);
		} else if (rc < 0 ||
			   vmmem_memory_read_obj(m, rx[i].gpa + rx[i].size - 8, &back, 8) < 0 ||
			   back != v) {
			problem("%s: write/read round trip failed (%d)", rx[i].text, rc);
		}
	}
	if (vmmem_memory_region_count(m) != want)
		problem("memory has %zu regions, want %zu", vmmem_memory_region_count(m), want);
}

/* A config string of the enabled regions of @rx. */
static void config_text(char *buf, size_t size, const struct rx *rx, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (rx_enabled(&rx[i]))
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ";" : "",
						rx[i].text);
}

/* Files in the hugetlbfs test directory (kept files included): their names in @names (if
 * not NULL), or removed. */
static size_t huge_dir_files(char *names, size_t size)
{
	DIR *d = opendir(huge_dir);
	struct dirent *e;
	size_t n = 0, len = 0;
	char path[PATH_MAX + 256];

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/%s", huge_dir, e->d_name);
		if (!names)
			unlink(path);
		else if (len < size)
			len += (size_t)snprintf(names + len, size - len, " %s", e->d_name);
	}
	closedir(d);
	return n;
}

/* ======================================================================================
 * Scenarios (public API only)
 * ====================================================================================== */

/* Build a memory from a multi-region config, then one more region from a spec. */
static void create_scenario(const struct rx *rx, size_t n, const struct rx *single,
			    bool hugetlb_dir)
{
	struct vmmem_ctx *ctx = NULL;
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *m = NULL;
	struct vmmem_region *r = NULL;
	char text[2048], names[512] = "", *data;

	config_text(text, sizeof(text), rx, n);
	MAKE(ctx, "vmmem_ctx_new", vmmem_ctx_new(&ctx));
	MAKE(cfg, "vmmem_config_parse", vmmem_config_parse(&cfg, text));
	MAKE(m, "vmmem_memory_new_from_config", vmmem_memory_new_from_config(&m, ctx, cfg));
	check_memory(m, rx, n);
	MAKE(r, "vmmem_region_create", vmmem_region_create(&r, ctx, single->text));
	check_region(r, single);
	/* Discard gives pages back (MADV_DONTNEED / MADV_REMOVE / fallocate punch hole). */
	data = vmmem_region_host(r);
	memset(data, 0x5a, 4096);
	DO("vmmem_region_discard", vmmem_region_discard(r, 0, vmmem_region_page_size(r)));
	if (data[0] || data[4095])
		problem("%s: discarded page still holds data", single->text);
	DO("vmmem_memory_discard",
	   vmmem_memory_discard(m, rx[0].gpa,
				vmmem_region_page_size(vmmem_memory_region_at(m, 0))));
done:
	/* A failed create must not leave a file it made behind; a kept file of a live
	 * region is the caller's to remove. */
	if (hugetlb_dir && !r && huge_dir_files(names, sizeof(names)))
		problem("file left behind in the hugetlbfs directory %s:%s", huge_dir, names);
	drop_region(r);
	vmmem_memory_unref(m);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
	if (hugetlb_dir)
		huge_dir_files(NULL, 0);
}

static const struct rx anon_rx[] = {
	{ "anon:gpa=0,size=2M,prealloc=on", 0, 2 * MiB, W_RESIDENT, 0 },
	{ "anon:gpa=4M,size=1M,share=on,dump=off", 4 * MiB, MiB, W_SHARED | W_DONTDUMP, 0 },
	{ "anon:gpa=6M,size=2M,thp=on", 6 * MiB, 2 * MiB, W_THP | W_THP_OPT, 0 },
	{ "anon:gpa=8M,size=1M,merge=on,dirty-log=on,readonly=on", 8 * MiB, MiB,
	  W_MERGE | W_KSM_OPT | W_READONLY, 4096 },
};
static const struct rx anon_single = { "anon:gpa=16M,size=64K,reserve=off,dirty-log=on,"
				       "dirty-page-size=16K",
				       16 * MiB, 64 * KiB, 0, 16 * KiB };

static void scen_create_anon(void)
{
	create_scenario(anon_rx, sizeof(anon_rx) / sizeof(anon_rx[0]), &anon_single, false);
}

static const struct rx memfd_rx[] = {
	{ "memfd:gpa=0,size=2M,prealloc=on", 0, 2 * MiB, W_RESIDENT | W_SHARED | W_FD | W_SEALED,
	  0 },
	{ "memfd:gpa=4M,size=1M,share=off,seal=off,dump=off", 4 * MiB, MiB, W_FD | W_DONTDUMP, 0 },
	{ "memfd:gpa=8M,size=1M,reserve=off,dirty-log=on,dirty-page-size=8K", 8 * MiB, MiB,
	  W_SHARED | W_FD | W_SEALED, 8192 },
};
static const struct rx memfd_single = { "memfd:gpa=16M,size=64K,dirty-log=on", 16 * MiB, 64 * KiB,
					W_SHARED | W_FD | W_SEALED, 4096 };

static void scen_create_memfd(void)
{
	create_scenario(memfd_rx, sizeof(memfd_rx) / sizeof(memfd_rx[0]), &memfd_single, false);
}

static void scen_create_hugetlb(void)
{
	char r1[PATH_MAX + 128], single_text[PATH_MAX + 128];
	const struct rx rx[] = {
		{ "hugetlbfs:gpa=0,size=2M,prealloc=on", 0, HUGE_PAGE,
		  W_RESIDENT | W_SHARED | W_FD | W_HUGE, 0 },
		{ r1, 4 * MiB, HUGE_PAGE, W_FD | W_HUGE | W_DONTDUMP, 4096 },
		{ "memfd:gpa=8M,size=2M,hugetlb=on,hugetlbsize=2M,dirty-log=on", 8 * MiB, HUGE_PAGE,
		  W_SHARED | W_FD | W_SEALED | W_HUGE, 4096 },
	};
	const struct rx single = { single_text, 16 * MiB, HUGE_PAGE, W_SHARED | W_FD | W_HUGE, 0 };

	snprintf(r1, sizeof(r1),
		 "hugetlbfs:gpa=4M,size=2M,mem-path=%s,share=off,dump=off,dirty-log=on", huge_dir);
	snprintf(single_text, sizeof(single_text),
		 "hugetlbfs:gpa=16M,size=2M,mem-path=%s,keep=on,discard-data=on", huge_dir);
	create_scenario(rx, sizeof(rx) / sizeof(rx[0]), &single, true);
}

/* Plugin loading: by name, on demand, and all of a directory. */
static void scen_load_providers(void)
{
	struct vmmem_ctx *ctx = NULL;
	const struct vmmem_provider *p = NULL;
	size_t nfailed = 0, count;
	char path[PATH_MAX];
	long rc;

	MAKE(ctx, "vmmem_ctx_new", vmmem_ctx_new(&ctx));
	DO("vmmem_ctx_search_path", vmmem_ctx_search_path(ctx, path, sizeof(path)));
	rc = LIB("vmmem_ctx_load_provider", vmmem_ctx_load_provider(ctx, "memfd"));
	if (failed(rc, true)) {
		if (vmmem_ctx_provider_count(ctx) != 0)
			problem("failed load registered %zu providers", vmmem_ctx_provider_count(ctx));
		goto done;
	}
	if (vmmem_ctx_provider_count(ctx) != 1 || !vmmem_provider_path(vmmem_ctx_provider_at(ctx, 0)))
		problem("memfd is not registered from its plugin");
	MAKE(p, "vmmem_ctx_find_provider", vmmem_ctx_find_provider(ctx, "anon", &p));
	if (strcmp(vmmem_provider_name(p), "anon"))
		problem("find_provider(anon) gave %s", vmmem_provider_name(p));
	DO("vmmem_ctx_set_search_path", vmmem_ctx_set_search_path(ctx, provider_dir));
	rc = LIB("vmmem_ctx_load_all", vmmem_ctx_load_all(ctx, &nfailed));
	count = vmmem_ctx_provider_count(ctx);
	if (rc == 0 && nfailed) {
		/* load_all reports failed plugins through its count and the message. */
		bool here = fired_fn >= 0 && fired_step == step_no;

		stopped = true;
		if (!here)
			problem("load_all: %zu plugins failed without an injected fault: %s", nfailed,
				vmmem_errormsg());
		else if (!*vmmem_errormsg() || !strcmp(vmmem_errormsg(), sentinel))
			problem("load_all: %zu plugins failed but no message was set", nfailed);
		/* A directory that cannot be read counts once, however many plugins it holds. */
		if (strstr(vmmem_errormsg(), "cannot read provider directory")
			    ? count + nfailed > plugin_files
			    : count + nfailed != plugin_files)
			problem("load_all: %zu registered + %zu failed, but %zu plugin files", count,
				nfailed, plugin_files);
		if (verbose && here)
			printf("  #%lu %-12s in %-40s -> failed=%zu %s\n", fail_at,
			       fn_name[fired_fn], step_name, nfailed, vmmem_errormsg());
		goto done;
	}
	if (failed(rc, true))
		goto done;
	if (count != plugin_files)
		problem("load_all reported no failure but registered %zu of %zu plugins", count,
			plugin_files);
done:
	vmmem_ctx_unref(ctx);
}

/* A peer's fd made into regions: vmmem_region_import and vmmem_region_new_fd. */
static void scen_import(void)
{
	struct vmmem_ctx *ctx = NULL;
	struct vmmem_region *e1 = NULL, *e2 = NULL, *i1 = NULL, *i2 = NULL, *i3 = NULL, *i4 = NULL;
	struct vmmem_memory *m = NULL;
	struct vmmem_vhost_region d1, d2, d1b;
	void *own = MAP_FAILED;
	uint8_t *src;
	int fd1 = -1, fd2 = -1;

	SETUP("ctx", vmmem_ctx_new(&ctx));
	SETUP("sealed memfd", vmmem_region_create(&e1, ctx, "memfd:gpa=0,size=2M"));
	SETUP("unsealed memfd", vmmem_region_create(&e2, ctx, "memfd:gpa=4M,size=1M,seal=off"));
	SETUP("to_vhost", vmmem_region_to_vhost(e1, &d1, &fd1));
	SETUP("to_vhost", vmmem_region_to_vhost(e2, &d2, &fd2));
	src = vmmem_region_host(e1);
	for (size_t i = 0; i < 2 * MiB; i += 4096)
		src[i] = (uint8_t)(i >> 12);
	src[0x101010] = 0xa5;

	MAKE(i1, "vmmem_region_import", vmmem_region_import(&i1, &d1, fd1, 0));
	check_region(i1, &(struct rx){ "import", 0, 2 * MiB,
				       W_SHARED | W_FD | W_SEALED | W_DONTDUMP, 0 });
	if (((uint8_t *)vmmem_region_host(i1))[5 * 4096] != 5)
		problem("import does not show the peer's data");
	if (vmmem_region_fd(i1) == fd1)
		problem("import kept the caller's fd instead of its own");

	/* Read-only, at an offset that is not page-aligned. */
	d1b = (struct vmmem_vhost_region){ .guest_phys_addr = 16 * MiB, .memory_size = 64 * KiB,
					   .userspace_addr = d1.userspace_addr + 0x101010,
					   .mmap_offset = 0x101010 };
	MAKE(i2, "vmmem_region_import(read-only, offset)",
	     vmmem_region_import(&i2, &d1b, fd1, VMMEM_IMPORT_READ_ONLY));
	check_region(i2, &(struct rx){ "import read-only", 16 * MiB, 64 * KiB,
				       W_SHARED | W_FD | W_SEALED | W_READONLY | W_PROT_RO |
					       W_DONTDUMP,
				       0 });
	if (*(uint8_t *)vmmem_region_host(i2) != 0xa5)
		problem("read-only import at offset 0x101010 shows the wrong byte");

	MAKE(i3, "vmmem_region_import(unsealed)",
	     vmmem_region_import(&i3, &d2, fd2, VMMEM_IMPORT_ALLOW_UNSEALED));
	check_region(i3, &(struct rx){ "import unsealed", 4 * MiB, MiB,
				       W_SHARED | W_FD | W_DONTDUMP, 0 });

	/* A caller's own mapping of the fd, described with vmmem_region_new_fd. */
	own = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0);
	if (own == MAP_FAILED) {
		problem("setup mmap: %s", strerror(errno));
		goto done;
	}
	MAKE(i4, "vmmem_region_new_fd",
	     vmmem_region_new_fd(&i4, 32 * MiB, 64 * KiB, own, 0, fd1, 0));
	check_region(i4, &(struct rx){ "new_fd", 32 * MiB, 64 * KiB, W_SHARED | W_FD, 0 });

	MAKE(m, "vmmem_memory_new", vmmem_memory_new(&m, (struct vmmem_region *[]){ i1, i2, i3, i4 },
						     4));
	if (vmmem_memory_region_count(m) != 4)
		problem("memory of 4 imports has %zu regions", vmmem_memory_region_count(m));
	/* Punching a hole through the import frees the peer's page too. */
	DO("vmmem_region_discard(import)", vmmem_region_discard(i1, 5 * 4096, 4096));
	if (src[5 * 4096])
		problem("discard through the import left the peer's page");
done:
	vmmem_memory_unref(m);
	drop_region(i4);
	if (own != MAP_FAILED)
		munmap(own, 64 * KiB);
	drop_region(i3);
	drop_region(i2);
	drop_region(i1);
	drop_region(e2);
	drop_region(e1);
	vmmem_ctx_unref(ctx);
}

/* Hotplug through the swappable memory, with a reader guard held across a writer, and
 * copy-on-write insert/remove on plain memories. */
static void scen_hotplug(void)
{
	struct vmmem_ctx *ctx = NULL;
	struct vmmem_memory *m0 = NULL, *m1 = NULL, *m2 = NULL, *cur = NULL;
	struct vmmem_region *r1 = NULL, *removed = NULL, *rm = NULL, *found = NULL;
	struct vmmem_atomic *a = NULL;
	const struct vmmem_memory *g = NULL;
	struct vmmem_config *cfg = NULL;
	long rc;

	SETUP("ctx", vmmem_ctx_new(&ctx));
	SETUP("config", vmmem_config_parse(&cfg, "anon:gpa=0,size=1M"));
	SETUP("memory", vmmem_memory_new_from_config(&m0, ctx, cfg));
	SETUP("region", vmmem_region_create(&r1, ctx, "memfd:gpa=4M,size=1M"));

	MAKE(a, "vmmem_atomic_new", vmmem_atomic_new(&a, m0));
	/* A reader's guard; its thread's first one registers the thread. */
	arm("vmmem_atomic_acquire");
	g = vmmem_atomic_acquire(a);
	disarm(0);
	if (!g) {
		problem("vmmem_atomic_acquire returned NULL for a valid atomic (documented: never "
			"NULL)");
		stopped = true;
		goto done;
	}
	rc = LIB("vmmem_atomic_insert_region(guard held)", vmmem_atomic_insert_region(a, r1));
	if (failed(rc, true)) {
		cur = vmmem_atomic_get(a);
		if (vmmem_memory_region_count(cur) != 1)
			problem("failed insert changed the published memory (%zu regions)",
				vmmem_memory_region_count(cur));
		goto done;
	}
	if (vmmem_memory_region_count(g) != 1)
		problem("the reader's snapshot changed under its guard");
	vmmem_atomic_release(a, g);
	g = NULL;
	cur = vmmem_atomic_get(a);
	if (vmmem_memory_region_count(cur) != 2)
		problem("memory after insert has %zu regions", vmmem_memory_region_count(cur));
	cur = vmmem_memory_unref(cur);

	removed = POISON;
	rc = LIB("vmmem_atomic_remove_region", vmmem_atomic_remove_region(a, 4 * MiB, MiB, &removed));
	if (failed(rc, removed == NULL)) {
		removed = NULL;
		cur = vmmem_atomic_get(a);
		if (vmmem_memory_region_count(cur) != 2)
			problem("failed remove changed the published memory");
		goto done;
	}
	if (removed != r1)
		problem("remove_region gave back %p, not the region", (void *)removed);
	cur = vmmem_atomic_get(a);
	if (vmmem_memory_region_count(cur) != 1)
		problem("memory after remove has %zu regions", vmmem_memory_region_count(cur));
	cur = vmmem_memory_unref(cur);

	MAKE(m1, "vmmem_memory_insert_region", vmmem_memory_insert_region(m0, r1, &m1));
	if (vmmem_memory_region_count(m1) != 2 || vmmem_memory_region_count(m0) != 1)
		problem("insert: %zu and %zu regions", vmmem_memory_region_count(m1),
			vmmem_memory_region_count(m0));
	m2 = POISON;
	rm = POISON;
	rc = LIB("vmmem_memory_remove_region", vmmem_memory_remove_region(m1, 0, MiB, &m2, &rm));
	if (failed(rc, m2 == NULL && rm == NULL)) {
		m2 = NULL;
		rm = NULL;
		goto done;
	}
	if (vmmem_memory_region_count(m2) != 1 || vmmem_memory_region_count(m1) != 2 || !rm)
		problem("remove: %zu and %zu regions", vmmem_memory_region_count(m2),
			vmmem_memory_region_count(m1));
	DO("vmmem_atomic_replace", vmmem_atomic_replace(a, m2));
	DO("vmmem_atomic_synchronize", vmmem_atomic_synchronize(a));
	cur = vmmem_atomic_get(a);
	if (vmmem_memory_find_region(cur, 4 * MiB, &found) < 0 || found != r1)
		problem("replaced memory lacks the hot-added region");
done:
	if (g)
		vmmem_atomic_release(a, g);
	vmmem_memory_unref(cur);
	vmmem_atomic_unref(a);
	drop_region(rm);
	drop_region(removed);
	vmmem_memory_unref(m2);
	vmmem_memory_unref(m1);
	vmmem_memory_unref(m0);
	drop_region(r1);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
}

static int log_releases;

static void log_release(void *opaque, void *base, uint64_t size)
{
	(void)opaque;
	log_releases++;
	munmap(base, size);
}

/* Dirty bitmaps and the vhost-user log. */
static void scen_dirty_log(void)
{
	struct vmmem_ctx *ctx = NULL;
	struct vmmem_config *cfg = NULL;
	struct vmmem_memory *m = NULL, *m2 = NULL, *cur = NULL;
	struct vmmem_region *r0, *r1;
	struct vmmem_vhost_log *log = NULL;
	struct vmmem_atomic *a = NULL;
	uint8_t *buf = MAP_FAILED;
	uint64_t v = 42;
	bool log_made = false;

	log_releases = 0;
	SETUP("ctx", vmmem_ctx_new(&ctx));
	SETUP("config", vmmem_config_parse(&cfg, "anon:gpa=0,size=1M;memfd:gpa=2M,size=1M"));
	SETUP("memory", vmmem_memory_new_from_config(&m, ctx, cfg));
	r0 = vmmem_memory_region_at(m, 0);
	r1 = vmmem_memory_region_at(m, 1);

	DO("vmmem_region_dirty_enable(4K)", vmmem_region_dirty_enable(r0, 0));
	DO("vmmem_region_dirty_enable(64K)", vmmem_region_dirty_enable(r0, 64 * KiB));
	DO("vmmem_region_dirty_enable(4K again)", vmmem_region_dirty_enable(r0, 4096));
	DO("vmmem_region_dirty_enable(8K)", vmmem_region_dirty_enable(r1, 8192));
	if (vmmem_region_dirty_page_size(r0) != 4096 || vmmem_region_dirty_page_size(r1) != 8192)
		problem("dirty page sizes %llu/%llu",
			(unsigned long long)vmmem_region_dirty_page_size(r0),
			(unsigned long long)vmmem_region_dirty_page_size(r1));

	buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		problem("setup mmap: %s", strerror(errno));
		goto done;
	}
	MAKE(log, "vmmem_vhost_log_new", vmmem_vhost_log_new(&log, buf, 4096, log_release, NULL));
	log_made = true;
	MAKE(m2, "vmmem_memory_set_vhost_log", vmmem_memory_set_vhost_log(m, log, &m2));
	if (vmmem_memory_vhost_log(m2) != log || vmmem_memory_vhost_log(m))
		problem("set_vhost_log: log not on the new memory only");
	if (vmmem_memory_write_obj(m2, 2 * MiB + 5 * 4096, &v, sizeof(v)) < 0)
		problem("write through the logged memory failed");
	else if (!(buf[(2 * MiB / 4096 + 5) / 8] & (1u << ((2 * MiB / 4096 + 5) % 8))) ||
		 vmmem_region_dirty_test(r1, 5 * 4096) != 1)
		problem("write was not logged in the vhost log and the region bitmap");

	MAKE(a, "vmmem_atomic_new", vmmem_atomic_new(&a, m));
	DO("vmmem_atomic_set_vhost_log", vmmem_atomic_set_vhost_log(a, log));
	cur = vmmem_atomic_get(a);
	if (vmmem_memory_vhost_log(cur) != log)
		problem("atomic_set_vhost_log: published memory has no log");
done:
	vmmem_memory_unref(cur);
	vmmem_atomic_unref(a);
	vmmem_memory_unref(m2);
	vmmem_vhost_log_unref(log);
	vmmem_memory_unref(m);
	vmmem_config_free(cfg);
	vmmem_ctx_unref(ctx);
	/* The log's buffer goes back through its release callback, once; a log that was never
	 * made leaves the buffer with us. */
	if (log_made && log_releases != 1)
		problem("vhost log released %d times, want once", log_releases);
	if (!log_made && log_releases)
		problem("a log that failed to be made called its release callback");
	if (!log_made && buf != MAP_FAILED)
		munmap(buf, 4096);
}

/* ======================================================================================
 * The sweep
 * ====================================================================================== */

static const char *need_nothing(void)
{
	return NULL;
}

static const char *need_hugetlb(void)
{
	static char why[256];
	unsigned long long total = 0, free_pages = 0, size_kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");
	struct mntent *e;

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "HugePages_Total: %llu", &total);
			sscanf(line, "HugePages_Free: %llu", &free_pages);
			sscanf(line, "Hugepagesize: %llu kB", &size_kb);
		}
		fclose(f);
	}
	if (size_kb != 2048 || free_pages < 8) {
		snprintf(why, sizeof(why), "needs 8 free 2 MiB huge pages (%llu of %llu free, %llu kB)",
			 free_pages, total, size_kb);
		return why;
	}
	if (huge_dir[0])
		return NULL;
	f = setmntent("/proc/self/mounts", "re");
	while (f && (e = getmntent(f))) {
		struct statfs sfs;

		if (strcmp(e->mnt_type, "hugetlbfs") || statfs(e->mnt_dir, &sfs) < 0 ||
		    (uint64_t)sfs.f_bsize != HUGE_PAGE || access(e->mnt_dir, W_OK))
			continue;
		snprintf(huge_dir, sizeof(huge_dir), "%s/fault-inject-%d", e->mnt_dir, (int)getpid());
		if (mkdir(huge_dir, 0700) == 0)
			break;
		huge_dir[0] = '\0';
	}
	if (f)
		endmntent(f);
	if (!huge_dir[0])
		return "needs a writable hugetlbfs mount with 2 MiB pages";
	return NULL;
}

struct scenario {
	const char *name;
	void (*run)(void);
	const char *(*unavailable)(void);
};

static const struct scenario scenarios[] = {
	{ "create_anon", scen_create_anon, need_nothing },
	{ "create_memfd", scen_create_memfd, need_nothing },
	{ "create_hugetlb", scen_create_hugetlb, need_hugetlb },
	{ "load_providers", scen_load_providers, need_nothing },
	{ "import", scen_import, need_nothing },
	{ "hotplug", scen_hotplug, need_nothing },
	{ "dirty_log", scen_dirty_log, need_nothing },
};

/* What a run's process tells the parent. */
struct report {
	unsigned long calls;
	int problems;
	int fired_fn;
	bool stopped, absorbed;
	char step[96];
	char where[1024];
};

static void on_alarm(int sig)
{
	char where[1024], line[1400];
	int n;

	(void)sig;
	/* The process is stuck and about to exit: no async-signal-safety to preserve. Should
	 * the symbolizer block too, the second alarm ends the process. */
	signal(SIGALRM, SIG_DFL);
	alarm(5);
	fault_site(where, sizeof(where), true);
	n = snprintf(line, sizeof(line),
		     "FAIL %s [fault #%lu %s in %s]: hang: the run did not finish in %d s\n"
		     "    fault injected at: %s\n",
		     scenario_name, fail_at, fired_fn >= 0 ? fn_name[fired_fn] : "-", step_name,
		     RUN_TIMEOUT_S, where);
	if (n > 0 && write(1, line, (size_t)n) < 0)
		_exit(EXIT_HANG);
	_exit(EXIT_HANG);
}

/* Child side: the run with call k failing (k = 0: none), then a clean run. */
static void child(const struct scenario *s, unsigned long k, int out)
{
	struct report rep = { 0 };

	signal(SIGALRM, on_alarm);
	alarm(RUN_TIMEOUT_S);
	begin_run(k);
	s->run();
	check_nothing_left();
	rep.calls = n_calls;
	rep.fired_fn = fired_fn;
	rep.stopped = stopped;
	rep.absorbed = absorbed;
	snprintf(rep.step, sizeof(rep.step), "%s", fired_step_name ? fired_step_name : "");
	if (k && fired_fn < 0)
		problem("injection point %lu was not reached (%lu calls): the call sequence is not "
			"deterministic",
			k, n_calls);
	if (!k && stopped)
		problem("the run without faults did not complete");
	if (absorbed && verbose)
		printf("  #%lu %-12s in %-40s -> reported success\n", k,
		       fn_name[fired_fn], fired_step_name);
	if (k && fired_fn >= 0 && (problems || absorbed || verbose)) {
		/* Symbolizing is slow: only for runs that have something to show. */
		fault_site(rep.where, sizeof(rep.where), true);
		if (verbose || problems)
			printf("    fault #%lu injected at: %s\n", k, rep.where);
	}
	if (k) {
		/* The failure must not have broken anything for the next caller. */
		recovering = true;
		recovery_of = k;
		recovery_fn = fired_fn >= 0 ? fn_name[fired_fn] : "-";
		begin_run(0);
		s->run();
		check_nothing_left();
		if (stopped)
			problem("the run did not complete");
	}
	rep.problems = problems;
	if (write(out, &rep, sizeof(rep)) < 0 ||
	    (!k && write(out, call_fn, n_calls < MAX_CALLS ? rep.calls : MAX_CALLS) < 0))
		_exit(2);
	fflush(stdout);
#ifdef VMMEM_FAULT_COVERAGE
	/* Coverage build (tools/coverage.sh): exit() runs the gcov dump of the executable, of
	 * libvmmem.so and of each plugin (every one has its own copy of libgcov); _exit()
	 * would throw away what the runs with faults covered. */
	armed = 0; /* the dump's fopen, malloc and fcntl are not the run's */
	exit(0);
#endif
	_exit(0);
}

static bool read_all(int fd, void *buf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, (char *)buf + got, size - got);

		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* Parent side: one run in a fresh process. */
static bool run_forked(const struct scenario *s, unsigned long k, struct report *rep,
		       unsigned char *seq)
{
	int p[2], status;
	bool ok;
	pid_t pid;

	fflush(stdout);
	if (pipe(p) < 0)
		return false;
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		close(p[0]);
		child(s, k, p[1]);
	}
	close(p[1]);
	ok = read_all(p[0], rep, sizeof(*rep));
	if (ok && !k)
		ok = read_all(p[0], seq, rep->calls < MAX_CALLS ? rep->calls : MAX_CALLS);
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status))) {
		char what[64];

		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
			snprintf(what, sizeof(what), "hung (killed after %d s)", RUN_TIMEOUT_S);
		else if (WIFSIGNALED(status))
			snprintf(what, sizeof(what), "crashed (signal %d, %s)", WTERMSIG(status),
				 strsignal(WTERMSIG(status)));
		else if (WEXITSTATUS(status) == EXIT_HANG)
			snprintf(what, sizeof(what), "hung (killed after %d s)", RUN_TIMEOUT_S);
		else
			snprintf(what, sizeof(what), "exited with %d", WEXITSTATUS(status));
		printf("FAIL %s [fault #%lu %s]: the run %s; see the output above\n", s->name, k,
		       k && seq && k <= MAX_CALLS ? fn_name[seq[k - 1]] : "-", what);
		fflush(stdout);
		return false;
	}
	return ok && rep->problems == 0;
}

struct outcome {
	const char *name;
	const char *skipped;
	unsigned long points;
	unsigned long per_fn[FN_COUNT];
	unsigned long absorbed, failures;
	double seconds;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sweep(const struct scenario *s, struct outcome *o)
{
	static unsigned char seq[MAX_CALLS];
	struct report rep;
	double t0 = now();

	o->name = s->name;
	o->skipped = s->unavailable();
	if (o->skipped) {
		printf("SKIP %s: %s\n", s->name, o->skipped);
		return;
	}
	if (!run_forked(s, 0, &rep, seq)) {
		o->failures++;
		o->seconds = now() - t0;
		printf("FAIL %s: the run without faults failed; no sweep\n", s->name);
		return;
	}
	o->points = rep.calls;
	for (unsigned long i = 0; i < rep.calls && i < MAX_CALLS; i++)
		o->per_fn[seq[i]]++;
	if (rep.calls > MAX_CALLS)
		printf("note %s: only the first %d of %lu calls are swept\n", s->name, MAX_CALLS,
		       rep.calls);
	for (unsigned long k = 1; k <= rep.calls && k <= MAX_CALLS; k++) {
		struct report r;

		if (!run_forked(s, k, &r, seq))
			o->failures++;
		else if (r.absorbed) {
			o->absorbed++;
			if (verbose)
				printf("absorbed %s: fault #%lu (%s) in %s: the call succeeded and delivered "
			       "what it promises\n    fault injected at: %s\n",
			       s->name, k, fn_name[seq[k - 1]], r.step, r.where);
		}
	}
	o->seconds = now() - t0;
}

static void print_table(const struct outcome *o, size_t n)
{
	printf("\n%-15s %6s %8s %8s %7s  %s\n", "scenario", "points", "absorbed", "failures",
	       "time", "injection points per function");
	for (size_t i = 0; i < n; i++) {
		char per[512] = "";
		size_t len = 0;

		if (o[i].skipped) {
			printf("%-15s %6s %8s %8s %7s  skipped: %s\n", o[i].name, "-", "-", "-", "-",
			       o[i].skipped);
			continue;
		}
		for (int f = 0; f < FN_COUNT; f++)
			if (o[i].per_fn[f])
				len += (size_t)snprintf(per + len, sizeof(per) - len, "%s%s %lu",
							len ? ", " : "", fn_name[f], o[i].per_fn[f]);
		printf("%-15s %6lu %8lu %8lu %6.1fs  %s\n", o[i].name, o[i].points, o[i].absorbed,
		       o[i].failures, o[i].seconds, per);
	}
}

static bool count_plugins(void)
{
	const char *env = getenv("VMMEM_PROVIDER_PATH");
	DIR *d;
	struct dirent *e;

	if (!env || !*env) {
		fprintf(stderr, "fault_inject: VMMEM_PROVIDER_PATH must name the provider plugin "
				"directory (ctest sets it)\n");
		return false;
	}
	snprintf(provider_dir, sizeof(provider_dir), "%.*s", (int)strcspn(env, ":"), env);
	d = opendir(provider_dir);
	if (!d) {
		fprintf(stderr, "fault_inject: %s: %s\n", provider_dir, strerror(errno));
		return false;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (!strncmp(e->d_name, "libvmmem-", 9) && len > 12 &&
		    !strcmp(e->d_name + len - 3, ".so"))
			plugin_files++;
	}
	closedir(d);
	return plugin_files > 0;
}

/* Options that need kernel features are left out of the configs without them. */
static void probe_kernel(void)
{
	void *p = mmap(NULL, 2 * HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return;
	have_thp = madvise(p, 2 * HUGE_PAGE, MADV_HUGEPAGE) == 0;
	have_ksm = madvise(p, 2 * HUGE_PAGE, MADV_MERGEABLE) == 0;
	munmap(p, 2 * HUGE_PAGE);
}

int main(int argc, char **argv)
{
	const size_t n_scen = sizeof(scenarios) / sizeof(scenarios[0]);
	struct outcome out[sizeof(scenarios) / sizeof(scenarios[0])];
	size_t n_out = 0, ran = 0;
	unsigned long failures = 0;
	const char *self = getenv("FAULT_INJECT_SELFTEST");
	int first = 1;

	memset(out, 0, sizeof(out));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = true;
		first = 2;
	}
	selftest_leak = self && !strcmp(self, "leak");
	if (!count_plugins())
		return 2;
	probe_kernel();
	/* The message a failing call must replace (arm() sets it before each call). */
	vmmem_region_dirty_enable(NULL, 0);
	snprintf(sentinel, sizeof(sentinel), "%s", vmmem_errormsg());
	printf("fault_inject: %s build, plugins from %s, THP %s, KSM %s%s\n",
	       FAULT_ASAN ? "AddressSanitizer" : "plain", provider_dir, have_thp ? "on" : "off",
	       have_ksm ? "on" : "off", selftest_leak ? ", SELF-TEST: one region leaked per fault" : "");

	for (int a = first; a < argc; a++) {
		bool known = false;

		for (size_t i = 0; i < n_scen; i++)
			known |= !strcmp(argv[a], scenarios[i].name);
		if (!known) {
			fprintf(stderr, "fault_inject: unknown scenario %s; known:", argv[a]);
			for (size_t i = 0; i < n_scen; i++)
				fprintf(stderr, " %s", scenarios[i].name);
			fputc('\n', stderr);
			return 2;
		}
	}
	for (size_t i = 0; i < n_scen; i++) {
		bool wanted = first >= argc;

		for (int a = first; a < argc && !wanted; a++)
			wanted = !strcmp(argv[a], scenarios[i].name);
		if (!wanted)
			continue;
		scenario_name = scenarios[i].name;
		sweep(&scenarios[i], &out[n_out]);
		failures += out[n_out].failures;
		ran += !out[n_out].skipped;
		n_out++;
	}
	print_table(out, n_out);
	if (huge_dir[0]) {
		huge_dir_files(NULL, 0);
		rmdir(huge_dir);
	}
	if (failures)
		printf("\n%lu failing injection runs\n", failures);
	return failures ? 1 : ran ? 0 : 77;
}
