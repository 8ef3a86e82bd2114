/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vCPUs: created straight into 64-bit long mode (flat segments, the identity map of
 * machine.c, interrupts off, the boot protocol's registers), one thread each, and the exits
 * the payload protocol defines (serial out, hlt, the dirty-log and device ports). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "vmm.h"

#define CR0_PE 0x1ull
#define CR0_MP 0x2ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_WP 0x10000ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define CR4_OSFXSR 0x200ull
#define CR4_OSXMMEXCPT 0x400ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull

#define KICK_SIGNAL SIGUSR2

/* The CPUID KVM supports, given to every vCPU (long mode must be in it for EFER.LME). */
static int set_cpuid(struct vmm *vm, struct vmm_vcpu *c)
{
	int n = 128;

	for (;;) {
		struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
		int rc;

		if (!cpuid)
			return vmm_fail("out of memory");
		cpuid->nent = (uint32_t)n;
		rc = ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid);
		if (rc < 0 && errno == E2BIG) {
			free(cpuid);
			n *= 2;
			continue;
		}
		if (rc < 0) {
			free(cpuid);
			return vmm_fail("KVM_GET_SUPPORTED_CPUID: %m");
		}
		/* Leaf 1 EBX[31:24] and leaf 0xb EDX: this vCPU's APIC ID. */
		for (uint32_t i = 0; i < cpuid->nent; i++) {
			struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

			if (e->function == 1)
				e->ebx = (e->ebx & 0x00ffffffu) | (c->index << 24);
			else if (e->function == 0xb)
				e->edx = c->index;
		}
		rc = ioctl(c->fd, KVM_SET_CPUID2, cpuid);
		free(cpuid);
		if (rc < 0)
			return vmm_fail("vCPU %u: KVM_SET_CPUID2: %m", c->index);
		return 0;
	}
}

static int set_long_mode(struct vmm *vm, struct vmm_vcpu *c)
{
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 0x08,
				    .type = 11, .present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1,
				    .g = 1 };
	struct kvm_segment data = { .base = 0, .limit = 0xffffffff, .selector = 0x10,
				    .type = 3, .present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0,
				    .g = 1 };
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0)
		return vmm_fail("vCPU %u: KVM_GET_SREGS: %m", c->index);
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = VMM_GDT_GPA;
	sregs.gdt.limit = 3 * 8 - 1;
	sregs.cr3 = VMM_PML4_GPA;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(c->fd, KVM_SET_SREGS, &sregs) < 0)
		return vmm_fail("vCPU %u: KVM refused the long-mode registers: %m", c->index);
	memset(&regs, 0, sizeof(regs));
	regs.rip = VMM_PAYLOAD_GPA;
	regs.rsp = VMM_STACK_TOP - c->index * VMM_STACK_SIZE;
	regs.rflags = 0x2; /* interrupts off */
	regs.rdi = vm->mem_bytes;
	regs.rsi = vm->n_cpus;
	regs.rdx = c->index;
	if (ioctl(c->fd, KVM_SET_REGS, &regs) < 0)
		return vmm_fail("vCPU %u: KVM_SET_REGS: %m", c->index);
	return 0;
}

/* @boot: set the boot protocol's registers; otherwise the caller loads a saved state. */
int vmm_create_vcpus(struct vmm *vm, unsigned int n, bool boot)
{
	vm->vcpus = calloc(n, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return vmm_fail("out of memory");
	vm->n_cpus = n;
	for (unsigned int i = 0; i < n; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < n; i++) {
		struct vmm_vcpu *c = &vm->vcpus[i];
		void *run;

		c->vm = vm;
		c->index = i;
		c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (c->fd < 0)
			return vmm_fail("KVM_CREATE_VCPU %u: %m", i);
		run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (run == MAP_FAILED)
			return vmm_fail("vCPU %u: mapping kvm_run: %m", i);
		c->run = run;
		if (set_cpuid(vm, c) || (boot && set_long_mode(vm, c)))
			return 1;
	}
	return 0;
}

/* The VM ends: the first caller decides the exit status and wakes the main thread. */
static void finish(struct vmm *vm, int status)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->done) {
		uint64_t one = 1;

		vm->done = true;
		vm->exit_status = status;
		pthread_cond_broadcast(&vm->pause_cond);
		if (write(vm->done_fd, &one, sizeof(one)) != sizeof(one))
			abort(); /* an eventfd write of 1 cannot fail */
	}
	pthread_mutex_unlock(&vm->lock);
}

/* An I/O exit; returns 0 to go on, or the exit status that ends the VM. */
static int handle_io(struct vmm_vcpu *c)
{
	struct vmm *vm = c->vm;
	struct kvm_run *run = c->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	size_t bytes = (size_t)run->io.size * run->io.count;
	int status = 0;

	if (run->io.direction == KVM_EXIT_IO_IN) {
		memset(data, 0xff, bytes); /* nothing answers: an open bus */
		return 0;
	}
	pthread_mutex_lock(&vm->lock);
	switch (run->io.port) {
	case VMM_PORT_SERIAL:
		if (!vm->seen_output) {
			vm->seen_output = true;
			vmm_timing(vm, "first guest output");
		}
		fwrite(data, 1, bytes, stdout);
		if (memchr(data, '\n', bytes))
			fflush(stdout);
		break;
	case VMM_PORT_DIRTY:
		status = vmm_dirty_round(vm);
		break;
	case VMM_PORT_DEVICE:
		/* A device's DMA write: through libvmmem, so only libvmmem's log sees it. */
		if (run->io.size == 4) {
			uint32_t page;
			uint64_t stamp = 0xd1d1d1d1d1d1d1d1ull;
			int rc;

			memcpy(&page, data, sizeof(page));
			rc = vmmem_memory_write_obj(vm->mem, (uint64_t)page * 4096, &stamp,
						    sizeof(stamp));
			if (rc)
				status = vmm_fail("device write to page 0x%x: %s: %s", page,
						  vmmem_strerror(rc), vmmem_errormsg());
		}
		break;
	default:
		break; /* writes to ports nobody decodes vanish, as on real hardware */
	}
	pthread_mutex_unlock(&vm->lock);
	return status;
}

/* One vCPU's loop until it halts or the VM ends. Returns an exit status (0: halted). */
static int vcpu_loop(struct vmm_vcpu *c)
{
	struct vmm *vm = c->vm;
	struct kvm_run *run = c->run;

	for (;;) {
		int status;

		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				bool done;

				/* Under the lock: stop and pause requests set immediate_exit under
				 * it after done / pause, so a reset here can never undo one. A
				 * KVM_RUN that returned this way has completed any pending I/O, so
				 * a paused vCPU's state is whole. */
				pthread_mutex_lock(&vm->lock);
				while (vm->pause && !vm->done) {
					if (!c->paused) {
						c->paused = true;
						vm->paused++;
						pthread_cond_broadcast(&vm->pause_cond);
					}
					pthread_cond_wait(&vm->pause_cond, &vm->lock);
				}
				c->paused = false;
				done = vm->done;
				if (!done)
					__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELAXED);
				pthread_mutex_unlock(&vm->lock);
				if (done)
					return 0;
				continue;
			}
			return vmm_fail("vCPU %u: KVM_RUN: %m", c->index);
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			status = handle_io(c);
			if (status)
				return status;
			break;
		case KVM_EXIT_HLT:
			return 0;
		case KVM_EXIT_MMIO:
			return vmm_fail("vCPU %u %s guest-physical 0x%llx, which no region backs",
					c->index, run->mmio.is_write ? "wrote" : "read",
					(unsigned long long)run->mmio.phys_addr);
		case KVM_EXIT_SHUTDOWN:
			return vmm_fail("vCPU %u: the guest shut down (triple fault)", c->index);
		case KVM_EXIT_FAIL_ENTRY:
			return vmm_fail("vCPU %u: KVM could not enter the guest (reason 0x%llx)",
					c->index,
					(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		case KVM_EXIT_INTERNAL_ERROR:
			return vmm_fail("vCPU %u: KVM internal error %u", c->index,
					run->internal.suberror);
		default:
			return vmm_fail("vCPU %u: unexpected exit %u", c->index, run->exit_reason);
		}
	}
}

/* vCPU 0's halt ends the VM with status 0; another vCPU's halt stops only it; any
 * error ends the VM with it. */
static void *vcpu_thread(void *arg)
{
	struct vmm_vcpu *c = arg;
	struct vmm *vm = c->vm;
	int status = vcpu_loop(c);

	pthread_mutex_lock(&vm->lock);
	if (!vm->done)
		c->stopped = true; /* halted: a snapshot keeps it halted */
	vm->running--;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->lock);
	if (c->index == 0 || status)
		finish(vm, status);
	return NULL;
}

/* Ask every running vCPU out of KVM_RUN: immediate_exit for one about to enter it, the
 * signal for one inside it. Under the lock. */
static void kick_all(struct vmm *vm)
{
	for (unsigned int i = 0; i < vm->n_cpus; i++) {
		struct vmm_vcpu *c = &vm->vcpus[i];

		if (!c->started || c->stopped)
			continue;
		__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_RELAXED);
		pthread_kill(c->thread, KICK_SIGNAL);
	}
}

void vmm_pause(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause = true;
	kick_all(vm);
	while (!vm->done && vm->paused < vm->running)
		pthread_cond_wait(&vm->pause_cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

void vmm_resume(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause = false;
	vm->paused = 0;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->lock);
}

/* SIGUSR1: save a snapshot (vCPUs paused), then end the VM with status 0, or go on with
 * --snapshot-resume. */
static void on_snapshot_signal(struct vmm *vm)
{
	int rc;

	if (!vm->snapshot_dir) {
		fprintf(stderr, "vmmem-vmm: SIGUSR1 without --snapshot-dir: ignored\n");
		return;
	}
	vmm_pause(vm);
	pthread_mutex_lock(&vm->lock);
	rc = vm->done ? -1 : 0;
	pthread_mutex_unlock(&vm->lock);
	if (rc)
		return; /* the VM ended meanwhile */
	rc = vmm_snapshot_save(vm);
	if (rc || !vm->snapshot_resume)
		finish(vm, rc);
	else
		vmm_resume(vm);
}

static void kick_handler(int sig)
{
	(void)sig; /* only there to make KVM_RUN return with EINTR */
}

int vmm_run(struct vmm *vm)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigset_t usr1;
	int status, sfd;

	sigemptyset(&sa.sa_mask);
	if (sigaction(KICK_SIGNAL, &sa, NULL) < 0)
		return vmm_fail("sigaction: %m");
	/* SIGUSR1 (snapshot) is read from a signalfd by this thread; blocked in every thread,
	 * the vCPU threads inherit the mask. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	sfd = signalfd(-1, &usr1, SFD_CLOEXEC);
	if (sfd < 0)
		return vmm_fail("signalfd: %m");
	for (unsigned int i = 0; i < vm->n_cpus; i++) {
		struct vmm_vcpu *c = &vm->vcpus[i];

		if (c->stopped)
			continue; /* saved halted */
		pthread_mutex_lock(&vm->lock);
		vm->running++;
		pthread_mutex_unlock(&vm->lock);
		if (i == 0)
			vmm_timing(vm, "first KVM_RUN");
		if (pthread_create(&c->thread, NULL, vcpu_thread, c) != 0) {
			pthread_mutex_lock(&vm->lock);
			vm->running--;
			pthread_mutex_unlock(&vm->lock);
			finish(vm, vmm_fail("cannot start the thread of vCPU %u", i));
			break;
		}
		c->started = true;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = vm->done_fd, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si))
			on_snapshot_signal(vm);
	}
	close(sfd);
	pthread_mutex_lock(&vm->lock);
	status = vm->exit_status;
	kick_all(vm);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned int i = 0; i < vm->n_cpus; i++)
		if (vm->vcpus[i].started)
			pthread_join(vm->vcpus[i].thread, NULL);
	fflush(stdout);
	return status;
}

void vmm_destroy_vcpus(struct vmm *vm)
{
	for (unsigned int i = 0; vm->vcpus && i < vm->n_cpus; i++) {
		if (vm->vcpus[i].run)
			munmap(vm->vcpus[i].run, (size_t)vm->run_size);
		if (vm->vcpus[i].fd >= 0)
			close(vm->vcpus[i].fd);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
}
