/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vmmem-vmm: a micro-VMM on KVM whose guest memory, dirty log and guest setup all go
 * through libvmmem (README.md in this directory; docs/VMM.md for the design). */
#ifndef VMMEM_VMM_H
#define VMMEM_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <vmmem.h>

/* The payload boot protocol's fixed addresses (README.md). */
#define VMM_PAYLOAD_GPA 0x100000ull  /* the payload's first byte, where every vCPU starts */
#define VMM_STACK_TOP 0x100000ull    /* vCPU i's stack starts at VMM_STACK_TOP - i * 64 KiB */
#define VMM_STACK_SIZE 0x10000ull
#define VMM_GDT_GPA 0x800ull         /* null, code64, data */
#define VMM_PML4_GPA 0x1000ull       /* then one PDPT page, then one PD page per GiB */
#define VMM_MAX_CPUS 8               /* stacks and tables must fit below the payload */

/* The guest's I/O ports. */
#define VMM_PORT_SERIAL 0x3f8  /* out: a byte to the VMM's stdout */
#define VMM_PORT_DIRTY 0x501   /* out: a dirty-log round (merged KVM + libvmmem log) */
#define VMM_PORT_DEVICE 0x502  /* out (32-bit): "device" write of 8 bytes to page N */

/* One region of guest memory and the KVM memslot it became. */
struct vmm_slot {
	struct vmmem_region *region; /* the memory's reference */
	uint32_t id;                 /* KVM slot number */
	uint64_t gpa, size;
	bool dirty_log;              /* KVM_MEM_LOG_DIRTY_PAGES and libvmmem tracking */
};

struct vmm_vcpu {
	struct vmm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run; /* mmap of the vCPU fd */
	pthread_t thread;
	bool started;
	bool stopped; /* under vm->lock: halted for good (a vCPU other than 0), or never run */
	bool paused;  /* under vm->lock: waiting in a pause */
};

struct vmm {
	int kvm_fd, vm_fd;
	int run_size; /* KVM_GET_VCPU_MMAP_SIZE */
	struct vmmem_ctx *ctx;
	struct vmmem_memory *mem;
	struct vmm_slot *slots;
	size_t n_slots;
	uint64_t mem_bytes; /* sum of region sizes: RDI at entry */
	uint64_t mem_end;   /* one past the highest guest-physical byte */
	unsigned int n_cpus;
	struct vmm_vcpu *vcpus;
	FILE *dirty_report; /* --dirty-report, or NULL */
	unsigned int dirty_round;
	pthread_mutex_t lock; /* serial output, dirty rounds, pauses, the exit decision */
	bool done;            /* under lock: the VM has ended */
	int exit_status;      /* under lock: the process exit status once done */
	int done_fd;          /* eventfd written when done becomes true (the main loop polls) */
	bool pause;           /* under lock: vCPUs are asked to stop outside KVM_RUN */
	unsigned int paused, running; /* under lock: vCPUs paused, vCPU threads not ended */
	pthread_cond_t pause_cond;
	/* Snapshots (snapshot.c). */
	const char *snapshot_dir; /* --snapshot-dir: where SIGUSR1 saves, or NULL */
	bool snapshot_resume;     /* --snapshot-resume: go on running after a save */
	bool snapshot_diff;       /* --snapshot-diff: save only what changed since parent */
	char parent_dir[4096];    /* the snapshot this guest was restored from or last saved */
	uint8_t parent_id[16];    /* the memory snapshot id in parent_dir */
	bool have_parent;
	struct vmmem_restore *lazy; /* a lazy restore still filling memory, or NULL */
	bool no_prefetch;           /* --restore-prefetch off */
	double start_ms;            /* process start, for the timing lines */
	bool timing;                /* --timing: milestones on stderr */
	bool seen_output;           /* under lock: the guest has written to the serial port */
};

/* Print "vmmem-vmm: <message>" on stderr (one line) and return 1. */
int vmm_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds on CLOCK_MONOTONIC; with --timing, "vmmem-vmm: timing: WHAT at N ms" (from
 * process start) on stderr. */
double vmm_now_ms(void);
void vmm_timing(struct vmm *vm, const char *what);

/* machine.c: the VM, its memory as memslots, the guest's initial memory image. */
int vmm_open(struct vmm *vm, const char *kvm_path);
int vmm_memory_from_config(struct vmm *vm, const char *memory_config);
int vmm_register_slots(struct vmm *vm);
int vmm_load_payload(struct vmm *vm, const char *path);
int vmm_build_tables(struct vmm *vm);
int vmm_dirty_sync(struct vmm *vm);
int vmm_dirty_round(struct vmm *vm);
void vmm_close(struct vmm *vm);

/* vcpu.c: vCPUs in 64-bit mode, their threads and exits, pauses. */
int vmm_create_vcpus(struct vmm *vm, unsigned int n, bool boot);
int vmm_run(struct vmm *vm);
void vmm_pause(struct vmm *vm);
void vmm_destroy_vcpus(struct vmm *vm);
void vmm_resume(struct vmm *vm);

/* snapshot.c: the running guest saved (vCPUs paused) and restored in a new process. */
int vmm_snapshot_save(struct vmm *vm);
int vmm_restore_memory(struct vmm *vm, const char *dir, const char *mode, const char *config,
		       bool verify, unsigned int *cpus);
int vmm_restore_vcpus(struct vmm *vm, const char *dir);

#endif /* VMMEM_VMM_H */
