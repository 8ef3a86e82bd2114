/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Swappable memory (vm-memory's GuestMemoryAtomic) with epoch-based read-copy-update.
 *
 * Readers: each thread owns a record in a global registry. Taking the outermost guard stores
 * the current global epoch in the thread's record, then loads the memory pointer; releasing
 * the last guard stores 0 ("quiescent"). Nothing else: no lock, no shared write.
 *
 * Writers (serialised per object) swap the pointer, bump the global epoch to E and retire
 * the old memory with E. A retired memory may be freed once every record is quiescent or
 * holds an epoch >= E: such readers started after the swap and cannot hold the old memory.
 * Reclaiming runs in writers and in any reader that releases its last guard while retired
 * memories are pending (with a trylock, so a reader never waits for a writer).
 *
 * Ordering: a reader's epoch store must be visible before its pointer load. Where the
 * kernel has membarrier(PRIVATE_EXPEDITED), the reader only needs a compiler barrier and the
 * writer pays with one membarrier (a full barrier on every CPU running this process) between
 * retiring and scanning. Otherwise (old kernels, valgrind, ThreadSanitizer) it is the
 * store-buffering (Dekker) pattern, which C11 guarantees only when all four accesses are
 * sequentially consistent: the reader's epoch store and pointer load, and the writer's
 * pointer exchange and its loads of the reader records (the registry head included, so a
 * record pushed by a new reader is either seen or pushed after the swap, and then its
 * pointer load sees the new memory). An acquire load on the writer's side is not enough
 * on CPUs with RCpc acquire loads (AArch64 LDAPR); x86 would hide the difference.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sched.h>
#include <time.h>

#include <vmmem/atomic.h>

#include "atomic.h"
#include "barrier.h"
#include "error.h"
#include "memory.h"
#include "util.h"

/* A retired object: released once no reader can hold it. */
struct vmm_retired {
	void *obj;
	void (*release)(void *obj); /* control path only: the memory's unref, a table's free */
	uint64_t epoch;
	struct vmm_retired *next;
	void *block; /* what to free() once reclaimed: the node, or the atomic holding it */
};

struct vmmem_atomic {
	struct vmmem_memory *current; /* atomic; holds one reference (first: vmm_atomic_current) */
	unsigned long refs;           /* atomic */
	pthread_mutex_t writer;       /* serialises writers */
	struct vmm_retired last;          /* retires current at the last unref: no allocation */
};
_Static_assert(offsetof(struct vmmem_atomic, current) == 0, "vmm_atomic_current reads member 0");

static struct vmm_reader *registry;   /* atomic head */
static uint64_t epoch = 1;            /* atomic; 0 is "quiescent" */
bool vmm_rcu_membarrier;              /* set once, before any atomic exists */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t reader_key;

/* Retired memories of every atomic, reclaimed by whoever gets the lock. */
static pthread_mutex_t retired_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vmm_retired *retired_list;
static unsigned long n_retired; /* atomic: lets readers skip reclaiming cheaply */

__thread struct vmm_reader *vmm_reader_self __attribute__((tls_model("initial-exec")));
__thread struct vmm_section_hint vmm_section_hint __attribute__((tls_model("initial-exec")));
__thread struct vmm_section_pin vmm_section_pin __attribute__((tls_model("initial-exec")));

/* Thread exit: a dead thread holds no guard; hand its record to the next thread. A key
 * destructor that runs after this one and takes a guard registers afresh (vmm_reader_self is NULL):
 * it must not keep using a record another thread may claim from now on. */
static void reader_thread_exit(void *arg)
{
	struct vmm_reader *r = arg;

	vmm_reader_self = NULL;
	vmm_section_hint.owner = NULL;
	vmm_section_pin.owner = NULL;
	r->nest = 0;
	__atomic_store_n(&r->active, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&r->in_use, 0, __ATOMIC_RELEASE);
}

static void global_init(void)
{
	pthread_key_create(&reader_key, reader_thread_exit);
	vmm_rcu_membarrier = vmm_membarrier_available();
}

/* Records for threads whose first guard finds malloc failing: taken once each, then on the
 * registry and recycled like the others. */
#define N_SPARE_READERS 16
static struct vmm_reader spare_readers[N_SPARE_READERS];
static unsigned int n_spares_taken; /* atomic */

static struct vmm_reader *spare_reader(void)
{
	unsigned int i = __atomic_fetch_add(&n_spares_taken, 1, __ATOMIC_RELAXED);

	return i < N_SPARE_READERS ? &spare_readers[i] : NULL;
}

/* The calling thread's record: a free one recycled, or a new one pushed on the registry. */
static VMM_COLD struct vmm_reader *reader_register(void)
{
	struct vmm_reader *r;

	pthread_once(&init_once, global_init); /* a section entered before any atomic exists */
	for (r = __atomic_load_n(&registry, __ATOMIC_ACQUIRE); r; r = r->next) {
		int expected = 0;

		if (__atomic_compare_exchange_n(&r->in_use, &expected, 1, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			break;
	}
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			r = spare_reader();
		if (!r) {
			vmm_err(-ENOMEM, "atomic memory: no reader record for this thread: out of memory");
			return NULL;
		}
		r->in_use = 1;
		r->next = __atomic_load_n(&registry, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(&registry, &r->next, r, true, __ATOMIC_SEQ_CST,
						    __ATOMIC_RELAXED))
			;
	}
	r->nest = 0;
	/* Without the key (ENOMEM) the record is simply never recycled at thread exit. */
	(void)pthread_setspecific(reader_key, r);
	vmm_reader_self = r;
	return r;
}

/* Smallest epoch of a reader inside a guard, or UINT64_MAX if none. */
static uint64_t oldest_reader(void)
{
	uint64_t min = UINT64_MAX;

	/* Sequentially consistent: the writer's half of the pattern in the top comment. */
	for (struct vmm_reader *r = __atomic_load_n(&registry, __ATOMIC_SEQ_CST); r; r = r->next) {
		uint64_t e = __atomic_load_n(&r->active, __ATOMIC_SEQ_CST);

		if (e && e < min)
			min = e;
	}
	return min;
}

/* Free what no reader can still hold. Called with retired_lock held. */
static void reclaim_locked(void)
{
	uint64_t oldest = oldest_reader();
	struct vmm_retired **p = &retired_list;

	while (*p) {
		struct vmm_retired *t = *p;

		if (t->epoch <= oldest) {
			*p = t->next;
			__atomic_sub_fetch(&n_retired, 1, __ATOMIC_RELAXED);
			t->release(t->obj);
			free(t->block);
		} else {
			p = &t->next;
		}
	}
}

/* A list node for a later retire, allocated before anything changes so that a writer
 * never has to wait for readers (possibly its own caller's guard) when memory runs out. */
static struct vmm_retired *retired_node(void)
{
	struct vmm_retired *t = malloc(sizeof(*t));

	if (!t)
		vmm_err(-ENOMEM, "atomic memory: out of memory");
	else
		t->block = t;
	return t;
}

static void release_memory(void *m)
{
	vmmem_memory_unref(m);
}

/* Take @old out of circulation until readers are done with it, then @release it; @t is the
 * node that carries it on the retired list. */
static void retire_obj(void *old, void (*release)(void *), struct vmm_retired *t)
{
	uint64_t e = __atomic_add_fetch(&epoch, 1, __ATOMIC_SEQ_CST);

	/* Make every reader's epoch store visible before scanning (see the top comment). */
	vmm_membarrier();
	pthread_mutex_lock(&retired_lock);
	t->obj = old;
	t->release = release;
	t->epoch = e;
	t->next = retired_list;
	retired_list = t;
	__atomic_add_fetch(&n_retired, 1, __ATOMIC_RELAXED);
	reclaim_locked();
	pthread_mutex_unlock(&retired_lock);
}

/* Take the atomic's reference on @old out of circulation until readers are done with it. */
static void retire(struct vmmem_memory *old, struct vmm_retired *t)
{
	retire_obj(old, release_memory, t);
}

void vmm_rcu_init(void)
{
	pthread_once(&init_once, global_init);
}

struct vmm_retired *vmm_retired_node(void)
{
	return retired_node();
}

void vmm_rcu_retire(void *obj, struct vmm_retired *t, void (*release)(void *))
{
	retire_obj(obj, release, t);
}

void vmm_rcu_publish(void **slot, void *obj, struct vmm_retired *t, void (*release)(void *))
{
	void *old = __atomic_exchange_n(slot, obj, __ATOMIC_SEQ_CST);

	retire_obj(old, release, t);
}

int
vmmem_atomic_new(struct vmmem_atomic **out, struct vmmem_memory *m)
{
	struct vmmem_atomic *a;

	VMM_CHECK_ARG(out);
	*out = NULL;
	VMM_CHECK_ARG(m);
	pthread_once(&init_once, global_init);
	a = calloc(1, sizeof(*a));
	if (!a)
		return vmm_err(-ENOMEM, "atomic memory: out of memory");
	a->current = vmmem_memory_ref(m);
	a->refs = 1;
	pthread_mutex_init(&a->writer, NULL);
	*out = a;
	return 0;
}

struct vmmem_atomic *
vmmem_atomic_ref(struct vmmem_atomic *a)
{
	if (a)
		vmm_ref_inc(&a->refs);
	return a;
}

struct vmmem_atomic *
vmmem_atomic_unref(struct vmmem_atomic *a)
{
	if (!a || !vmm_ref_dec_is_last(&a->refs))
		return NULL;
	/* Guards still held on this object keep the memory alive through the retired list;
	 * the atomic's own node carries it, and the atomic is freed with the node. */
	pthread_mutex_destroy(&a->writer);
	a->last.block = a;
	retire(a->current, &a->last);
	return NULL;
}

/* Entering a read section -- the read side: one thread-local store and two loads.
 *
 * Whether this is the outermost guard is read from the record's own epoch (0: none held),
 * and the outermost guard stores the epoch it loaded, never a value computed from what it
 * read: the loads of the record only steer predicted branches. A counter incremented here
 * and decremented in release would chain every acquire/release pair through two
 * store-to-load forwards, a few cycles each on most CPUs. */
static inline bool reader_enter(void)
{
	struct vmm_reader *r = vmm_reader_self;

	if (unlikely(!r)) {
		r = reader_register();
		if (!r)
			return false;
	}
	if (likely(__atomic_load_n(&r->active, __ATOMIC_RELAXED) == 0)) {
		uint64_t e = __atomic_load_n(&epoch, __ATOMIC_ACQUIRE); /* >= 1 */

		if (likely(vmm_rcu_membarrier)) {
			/* Relaxed, not release: on AArch64 an STLR here followed by the LDAR of
			 * the published pointer is an ordered pair, the very store-load barrier
			 * membarrier saves readers. A writer that reads this epoch instead of the
			 * release store of 0 before it is covered by C11/C17's release sequence
			 * (same-thread stores) and by per-location coherence
			 * (docs/MEMORY-ORDERING.md, F6). */
			__atomic_store_n(&r->active, e, __ATOMIC_RELAXED);
			__atomic_signal_fence(__ATOMIC_SEQ_CST); /* writers' membarrier pairs */
		} else {
			__atomic_store_n(&r->active, e, __ATOMIC_SEQ_CST);
		}
	} else {
		r->nest++;
	}
	return true;
}

/* Leaving one: the last guard stores 0 and may reclaim. Ignored outside a section. */
static inline void reader_exit(void)
{
	struct vmm_reader *r = vmm_reader_self;

	if (unlikely(!r || __atomic_load_n(&r->active, __ATOMIC_RELAXED) == 0))
		return;
	if (unlikely(r->nest)) {
		r->nest--;
	} else {
		vmm_section_hint.owner = NULL; /* valid for the section only */
		vmm_section_pin.owner = NULL;
		__atomic_store_n(&r->active, 0, __ATOMIC_RELEASE);
		/* This may have been the last guard on a retired object: free it now, unless
		 * someone else is already reclaiming. */
		if (unlikely(__atomic_load_n(&n_retired, __ATOMIC_RELAXED)) &&
		    pthread_mutex_trylock(&retired_lock) == 0) {
			reclaim_locked();
			pthread_mutex_unlock(&retired_lock);
		}
	}
}

int vmm_rcu_enter(void)
{
	return reader_enter() ? 0 : -ENOMEM;
}

void vmm_rcu_exit(void)
{
	reader_exit();
}

const struct vmmem_memory *
vmmem_atomic_acquire(struct vmmem_atomic *a)
{
	if (unlikely(!a) || unlikely(!reader_enter()))
		return NULL;
	return vmm_atomic_current(a);
}

void
vmmem_atomic_release(struct vmmem_atomic *a, const struct vmmem_memory *m)
{
	if (unlikely(!a || !m))
		return;
	reader_exit();
}

struct vmmem_memory *
vmmem_atomic_get(struct vmmem_atomic *a)
{
	const struct vmmem_memory *m = vmmem_atomic_acquire(a);
	struct vmmem_memory *ref;

	if (!m)
		return NULL;
	ref = vmmem_memory_ref((struct vmmem_memory *)m);
	vmmem_atomic_release(a, m);
	return ref;
}

/* Swap in @m (whose reference the atomic takes over) and retire the old memory with node
 * @t. Called with the writer lock held. */
static void publish_locked(struct vmmem_atomic *a, struct vmmem_memory *m, struct vmm_retired *t)
{
	struct vmmem_memory *old = __atomic_exchange_n(&a->current, m, __ATOMIC_SEQ_CST);

	retire(old, t);
}

int
vmmem_atomic_replace(struct vmmem_atomic *a, struct vmmem_memory *m)
{
	struct vmm_retired *t;

	VMM_CHECK_ARG(a);
	VMM_CHECK_ARG(m);
	t = retired_node();
	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&a->writer);
	publish_locked(a, vmmem_memory_ref(m), t);
	pthread_mutex_unlock(&a->writer);
	return 0;
}

int
vmmem_atomic_insert_region(struct vmmem_atomic *a, struct vmmem_region *r)
{
	struct vmmem_memory *m = NULL;
	int rc;

	struct vmm_retired *t;

	VMM_CHECK_ARG(a);
	VMM_CHECK_ARG(r);
	t = retired_node();
	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&a->writer);
	rc = vmmem_memory_insert_region(a->current, r, &m);
	if (rc == 0)
		publish_locked(a, m, t);
	pthread_mutex_unlock(&a->writer);
	if (rc)
		free(t);
	return rc;
}

int
vmmem_atomic_remove_region(struct vmmem_atomic *a, uint64_t gpa, uint64_t size,
			   struct vmmem_region **removed)
{
	struct vmmem_memory *m = NULL;
	int rc;

	if (removed)
		*removed = NULL;
	struct vmm_retired *t;

	VMM_CHECK_ARG(a);
	t = retired_node();
	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&a->writer);
	rc = vmmem_memory_remove_region(a->current, gpa, size, &m, removed);
	if (rc == 0)
		publish_locked(a, m, t);
	pthread_mutex_unlock(&a->writer);
	if (rc)
		free(t);
	return rc;
}

int
vmmem_atomic_synchronize(struct vmmem_atomic *a)
{
	struct timespec pause = { .tv_sec = 0, .tv_nsec = 20000 };
	uint64_t e;

	VMM_CHECK_ARG(a);
	if (vmm_reader_self && __atomic_load_n(&vmm_reader_self->active, __ATOMIC_RELAXED))
		return vmm_err(-EDEADLK,
			       "vmmem_atomic_synchronize called while this thread holds a guard");
	e = __atomic_add_fetch(&epoch, 1, __ATOMIC_SEQ_CST);
	vmm_membarrier();
	/* Readers that started before hold an epoch below e; wait them out. */
	for (unsigned int spins = 0; oldest_reader() < e; spins++) {
		if (spins < 64)
			sched_yield();
		else
			nanosleep(&pause, NULL);
	}
	if (pthread_mutex_trylock(&retired_lock) == 0) {
		reclaim_locked();
		pthread_mutex_unlock(&retired_lock);
	}
	return 0;
}

int
vmmem_atomic_set_vhost_log(struct vmmem_atomic *a, struct vmmem_vhost_log *log)
{
	struct vmmem_memory *m = NULL;
	int rc;

	struct vmm_retired *t;

	VMM_CHECK_ARG(a);
	t = retired_node();
	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&a->writer);
	rc = vmmem_memory_set_vhost_log(a->current, log, &m);
	if (rc == 0)
		publish_locked(a, m, t);
	pthread_mutex_unlock(&a->writer);
	if (rc)
		free(t);
	return rc;
}
