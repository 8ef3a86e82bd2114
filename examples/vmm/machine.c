/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The VM: /dev/kvm, guest memory built by libvmmem from a config string and registered
 * region by region as KVM memslots, the guest's initial image (payload, GDT, identity page
 * tables) written through libvmmem's access API, and dirty-log rounds that merge KVM's
 * bitmap into libvmmem's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)
#define KVM_PAGE 4096ull
/* One PD page per GiB from VMM_PML4_GPA + 2 pages, all below vCPU 7's stack. */
#define MAX_IDENTITY_GIB 64ull

int vmm_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("vmmem-vmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

double vmm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void vmm_timing(struct vmm *vm, const char *what)
{
	if (vm->timing)
		fprintf(stderr, "vmmem-vmm: timing: %s at %.3f ms\n", what,
			vmm_now_ms() - vm->start_ms);
}

static int lib_fail(const char *what, int rc)
{
	return vmm_fail("%s: %s: %s", what, vmmem_strerror(rc), vmmem_errormsg());
}

/* Can region @r be a KVM memslot? KVM wants page-aligned guest and host addresses and
 * sizes, and at most KVM_CAP_NR_MEMSLOTS slots. */
static int check_slot(const struct vmmem_region *r, size_t index, long max_slots)
{
	uint64_t gpa = vmmem_region_gpa(r), size = vmmem_region_size(r);

	if (max_slots > 0 && index >= (size_t)max_slots)
		return vmm_fail("region %zu: KVM offers only %ld memory slots", index, max_slots);
	if (gpa % KVM_PAGE || size % KVM_PAGE || (uintptr_t)vmmem_region_host(r) % KVM_PAGE)
		return vmm_fail("region %zu at 0x%llx (0x%llx bytes) cannot be a KVM memslot: "
				"its address and size must be multiples of 4 KiB",
				index, (unsigned long long)gpa, (unsigned long long)size);
	return 0;
}

int vmm_register_slots(struct vmm *vm)
{
	size_t n = vmmem_memory_region_count(vm->mem);
	long max_slots = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	bool readonly_ok = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;

	vm->slots = calloc(n, sizeof(*vm->slots));
	if (!vm->slots)
		return vmm_fail("out of memory");
	for (size_t i = 0; i < n; i++) {
		struct vmmem_region *r = vmmem_memory_region_at(vm->mem, i);
		struct vmm_slot *s = &vm->slots[i];
		struct kvm_userspace_memory_region kr;
		bool ro = vmmem_region_flags(r) & VMMEM_REGION_READ_ONLY;

		if (check_slot(r, i, max_slots))
			return 1;
		*s = (struct vmm_slot){ .region = r, .id = (uint32_t)i, .gpa = vmmem_region_gpa(r),
					.size = vmmem_region_size(r),
					.dirty_log = vmmem_region_dirty_page_size(r) != 0 };
		if (ro && !readonly_ok)
			return vmm_fail("region %zu is readonly=on, but this KVM has no read-only "
					"memory slots (KVM_CAP_READONLY_MEM)", i);
		kr = (struct kvm_userspace_memory_region){
			.slot = s->id,
			.flags = (s->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0) |
				 (ro ? KVM_MEM_READONLY : 0),
			.guest_phys_addr = s->gpa,
			.memory_size = s->size,
			.userspace_addr = (uintptr_t)vmmem_region_host(r),
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0)
			return vmm_fail("KVM refused region %zu (0x%llx bytes at 0x%llx) as a memslot: "
					"%m", i, (unsigned long long)s->size,
					(unsigned long long)s->gpa);
		vm->n_slots++;
		vm->mem_bytes += s->size;
		if (s->gpa + s->size > vm->mem_end)
			vm->mem_end = s->gpa + s->size;
	}
	return 0;
}

int vmm_open(struct vmm *vm, const char *kvm_path)
{
	int rc, api;

	vm->kvm_fd = open(kvm_path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return vmm_fail("cannot open %s: %m (KVM needs the kvm module and access to its "
				"device, usually root or the kvm group)", kvm_path);
	api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION)
		return vmm_fail("%s is not a usable KVM device (API version %d, need %d)", kvm_path,
				api, KVM_API_VERSION);
	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0)
		return vmm_fail("KVM_CREATE_VM: %m");
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0)
		return vmm_fail("KVM_GET_VCPU_MMAP_SIZE: %m");
	/* Intel VMX wants a TSS area even when the guest never runs in real mode; other
	 * implementations ignore it. */
	(void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	rc = vmmem_ctx_new(&vm->ctx);
	if (rc)
		return lib_fail("context", rc);
	return 0;
}

int vmm_memory_from_config(struct vmm *vm, const char *memory_config)
{
	struct vmmem_config *cfg = NULL;
	int rc = vmmem_config_parse(&cfg, memory_config);

	if (rc)
		return lib_fail("--memory", rc);
	rc = vmmem_memory_new_from_config(&vm->mem, vm->ctx, cfg);
	vmmem_config_free(cfg);
	if (rc)
		return lib_fail("--memory", rc);
	return vmm_register_slots(vm);
}

int vmm_load_payload(struct vmm *vm, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t done = 0;
	int rc;

	if (fd < 0)
		return vmm_fail("payload %s: %m", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return vmm_fail("payload %s: not a non-empty regular file", path);
	}
	if (!vmmem_memory_check_range(vm->mem, VMM_PAYLOAD_GPA, (uint64_t)st.st_size)) {
		close(fd);
		return vmm_fail("payload %s (%lld bytes) does not fit in guest memory at 0x%llx",
				path, (long long)st.st_size, VMM_PAYLOAD_GPA);
	}
	/* Straight from the file into guest memory, through libvmmem (dirty-logged). */
	rc = vmmem_memory_read_exact_from_fd(vm->mem, VMM_PAYLOAD_GPA, fd, (size_t)st.st_size, 0,
					     &done);
	close(fd);
	if (rc)
		return lib_fail("loading the payload", rc);
	return 0;
}

/* Flat 64-bit code and data descriptors. */
static const uint64_t gdt[3] = { 0, 0x00af9a000000ffffull, 0x00cf92000000ffffull };

int vmm_build_tables(struct vmm *vm)
{
	uint64_t gib = (vm->mem_end + GiB - 1) / GiB, pml4e, *pd;
	int rc;

	if (!vmmem_memory_check_range(vm->mem, 0, VMM_STACK_TOP))
		return vmm_fail("guest memory must cover 0 to 1 MiB (GDT, page tables, stacks)");
	if (gib > MAX_IDENTITY_GIB)
		return vmm_fail("guest memory ends at 0x%llx: the identity map covers %llu GiB",
				(unsigned long long)vm->mem_end, MAX_IDENTITY_GIB);
	rc = vmmem_memory_write_obj(vm->mem, VMM_GDT_GPA, gdt, sizeof(gdt));
	/* PML4[0] -> PDPT; PDPT[k] -> PD k; PD k maps GiB k with 2 MiB pages (present,
	 * writable, PS). Present | writable = 3. */
	pml4e = (VMM_PML4_GPA + KVM_PAGE) | 3;
	if (!rc)
		rc = vmmem_memory_write_obj(vm->mem, VMM_PML4_GPA, &pml4e, sizeof(pml4e));
	pd = calloc(512, sizeof(*pd));
	if (!pd)
		return vmm_fail("out of memory");
	for (uint64_t k = 0; k < gib && !rc; k++) {
		uint64_t pdpte = (VMM_PML4_GPA + (2 + k) * KVM_PAGE) | 3;

		for (uint64_t j = 0; j < 512; j++)
			pd[j] = (k * GiB + j * 2 * MiB) | 0x83;
		rc = vmmem_memory_write_obj(vm->mem, VMM_PML4_GPA + KVM_PAGE + k * 8, &pdpte,
					    sizeof(pdpte));
		if (!rc)
			rc = vmmem_memory_write_obj(vm->mem, VMM_PML4_GPA + (2 + k) * KVM_PAGE, pd,
						    512 * sizeof(*pd));
	}
	free(pd);
	if (rc)
		return lib_fail("writing the page tables", rc);
	return 0;
}

/* Print [first, last] as one range of the report. */
static void report_range(FILE *f, uint64_t first, uint64_t last)
{
	fprintf(f, " 0x%llx-0x%llx", (unsigned long long)first, (unsigned long long)last);
}

/* KVM's dirty bitmap of every tracked slot, fetched and cleared in KVM, ORed into the
 * region's libvmmem bitmap (which already holds the VMM's and its devices' writes). */
int vmm_dirty_sync(struct vmm *vm)
{
	for (size_t i = 0; i < vm->n_slots; i++) {
		struct vmm_slot *s = &vm->slots[i];
		size_t nwords = (size_t)((s->size / KVM_PAGE + 63) / 64);
		struct kvm_dirty_log log = { .slot = s->id };
		uint64_t *bits;
		ssize_t n;

		if (!s->dirty_log)
			continue;
		bits = calloc(nwords ? nwords : 1, sizeof(*bits));
		if (!bits)
			return vmm_fail("out of memory");
		log.dirty_bitmap = bits;
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
			free(bits);
			return vmm_fail("KVM_GET_DIRTY_LOG of slot %u: %m", s->id);
		}
		n = vmmem_region_dirty_merge_kvm(s->region, bits, nwords);
		free(bits);
		if (n < 0)
			return lib_fail("merging KVM's dirty log", (int)n);
	}
	return 0;
}

/*
 * One dirty-log round (the guest's out to VMM_PORT_DIRTY): KVM's bitmaps merged into
 * libvmmem's (vmm_dirty_sync), then libvmmem's got and cleared: the union of both,
 * reported as guest-physical ranges on one line.
 */
int vmm_dirty_round(struct vmm *vm)
{
	FILE *f = vm->dirty_report;
	int status = vmm_dirty_sync(vm);

	vm->dirty_round++;
	if (f)
		fprintf(f, "round %u:", vm->dirty_round);
	for (size_t i = 0; i < vm->n_slots && !status; i++) {
		struct vmm_slot *s = &vm->slots[i];
		uint64_t tp, run_first = 0, run_last = 0, *bits;
		bool in_run = false;
		size_t tw;
		ssize_t n;

		if (!s->dirty_log)
			continue;
		tp = vmmem_region_dirty_page_size(s->region);
		tw = (size_t)((s->size / tp + 63) / 64);
		bits = calloc(tw ? tw : 1, sizeof(*bits));
		if (!bits)
			return vmm_fail("out of memory");
		n = vmmem_region_dirty_get_and_clear(s->region, 0, s->size, bits, tw);
		if (n < 0)
			status = lib_fail("reading the dirty log", (int)n);
		for (uint64_t p = 0; n > 0 && p < (uint64_t)n; p++) {
			uint64_t first = s->gpa + p * tp, last = first + tp - 1;

			if (!(bits[p / 64] >> (p % 64) & 1))
				continue;
			if (in_run && first == run_last + 1) {
				run_last = last;
				continue;
			}
			if (in_run && f)
				report_range(f, run_first, run_last);
			in_run = true;
			run_first = first;
			run_last = last;
		}
		if (in_run && f)
			report_range(f, run_first, run_last);
		free(bits);
	}
	if (f) {
		fputc('\n', f);
		fflush(f);
	}
	return status;
}

void vmm_close(struct vmm *vm)
{
	vmm_destroy_vcpus(vm);
	if (vm->lazy) /* the memory must be complete before it goes */
		vmmem_restore_free(vm->lazy);
	free(vm->slots);
	vmmem_memory_unref(vm->mem);
	vmmem_ctx_unref(vm->ctx);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->dirty_report)
		fclose(vm->dirty_report);
	if (vm->done_fd >= 0)
		close(vm->done_fd);
}
