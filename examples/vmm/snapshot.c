/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Snapshot and restore of the running guest. A snapshot directory holds:
 *   memory.snap  guest memory in libvmmem's snapshot format (full, or a diff against the
 *                snapshot named in vm.state), written by vmmem_memory_snapshot_save;
 *   vcpus.state  every vCPU's state as KVM reports it (below), with a checksum;
 *   vm.state     text: format version, vCPU count, dirty round, memory id, parent.
 * vm.state is written last (after an fsync of the others), so a directory without it is no
 * snapshot. Restore checks all three before any vCPU runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm.h"

#define STATE_MAGIC "VMMVCPU1"
#define MAX_MSRS 512

/* One vCPU's state, as KVM's structures (the same host kernel ABI on both sides: the header
 * records each structure's size and restore refuses a mismatch). */
struct vcpu_state {
	uint32_t index;
	uint32_t stopped;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	uint32_t nmsrs;
	uint32_t pad;
	struct kvm_msr_entry msrs[MAX_MSRS];
};

struct state_header {
	char magic[8];
	uint32_t n_cpus;
	uint32_t state_size; /* sizeof(struct vcpu_state) */
	uint64_t checksum;   /* FNV-1a 64 of the states */
};

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* The MSRs KVM says to save, kept only if this vCPU reads them. */
static int get_msrs(struct vmm *vm, struct vmm_vcpu *c, struct vcpu_state *st)
{
	struct {
		struct kvm_msr_list l;
		uint32_t idx[MAX_MSRS];
	} list = { .l.nmsrs = MAX_MSRS };
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e;
	} one;

	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &list) < 0)
		return vmm_fail("KVM_GET_MSR_INDEX_LIST: %m");
	st->nmsrs = 0;
	for (uint32_t i = 0; i < list.l.nmsrs && i < MAX_MSRS; i++) {
		memset(&one, 0, sizeof(one));
		one.m.nmsrs = 1;
		one.e.index = list.idx[i];
		if (ioctl(c->fd, KVM_GET_MSRS, &one) == 1)
			st->msrs[st->nmsrs++] = one.e;
	}
	return 0;
}

static int get_state(struct vmm *vm, struct vmm_vcpu *c, struct vcpu_state *st)
{
	memset(st, 0, sizeof(*st));
	st->index = c->index;
	st->stopped = c->stopped || !c->started;
	if (ioctl(c->fd, KVM_GET_REGS, &st->regs) < 0 ||
	    ioctl(c->fd, KVM_GET_SREGS, &st->sregs) < 0 ||
	    ioctl(c->fd, KVM_GET_XSAVE, &st->xsave) < 0 ||
	    ioctl(c->fd, KVM_GET_VCPU_EVENTS, &st->events) < 0 ||
	    ioctl(c->fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0)
		return vmm_fail("vCPU %u: reading its state: %m", c->index);
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0 &&
	    ioctl(c->fd, KVM_GET_XCRS, &st->xcrs) < 0)
		return vmm_fail("vCPU %u: KVM_GET_XCRS: %m", c->index);
	return get_msrs(vm, c, st);
}

static int set_state(struct vmm *vm, struct vmm_vcpu *c, const struct vcpu_state *st)
{
	struct {
		struct kvm_msrs m;
		struct kvm_msr_entry e[MAX_MSRS];
	} *msrs;
	int n;

	/* QEMU's order: special registers (modes, control registers) before MSRs and the
	 * general registers; events last. */
	if (ioctl(c->fd, KVM_SET_SREGS, &st->sregs) < 0)
		return vmm_fail("vCPU %u: KVM refused its saved special registers: %m", c->index);
	msrs = calloc(1, sizeof(*msrs));
	if (!msrs)
		return vmm_fail("out of memory");
	msrs->m.nmsrs = st->nmsrs;
	memcpy(msrs->e, st->msrs, st->nmsrs * sizeof(st->msrs[0]));
	n = ioctl(c->fd, KVM_SET_MSRS, msrs);
	/* KVM stops at the first MSR it refuses (some paravirtual ones cannot be written
	 * from outside on every KVM): set the rest one by one, and accept a refusal only
	 * where the vCPU already holds the saved value. */
	for (uint32_t i = n < 0 ? 0 : (uint32_t)n; i < st->nmsrs; i++) {
		struct {
			struct kvm_msrs m;
			struct kvm_msr_entry e;
		} one = { .m.nmsrs = 1, .e = st->msrs[i] };

		if (ioctl(c->fd, KVM_SET_MSRS, &one) == 1)
			continue;
		one.e.data = ~st->msrs[i].data;
		if (ioctl(c->fd, KVM_GET_MSRS, &one) != 1 || one.e.data != st->msrs[i].data) {
			free(msrs);
			return vmm_fail("vCPU %u: KVM refused saved MSR 0x%x = 0x%llx", c->index,
					st->msrs[i].index, (unsigned long long)st->msrs[i].data);
		}
	}
	free(msrs);
	if (ioctl(c->fd, KVM_SET_REGS, &st->regs) < 0 ||
	    ioctl(c->fd, KVM_SET_XSAVE, &st->xsave) < 0 ||
	    (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0 &&
	     ioctl(c->fd, KVM_SET_XCRS, &st->xcrs) < 0) ||
	    ioctl(c->fd, KVM_SET_VCPU_EVENTS, &st->events) < 0 ||
	    ioctl(c->fd, KVM_SET_DEBUGREGS, &st->debugregs) < 0)
		return vmm_fail("vCPU %u: KVM refused its saved state: %m", c->index);
	c->stopped = st->stopped;
	return 0;
}

static int write_all(int fd, const void *p, size_t n, const char *path)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return vmm_fail("writing %s: %m", path);
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int path_in(char *out, size_t size, const char *dir, const char *name)
{
	if (snprintf(out, size, "%s/%s", dir, name) >= (int)size)
		return vmm_fail("snapshot directory %s: path too long", dir);
	return 0;
}

static void hex(char *out, const uint8_t *id)
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", id[i]);
}

static int save_vcpus(struct vmm *vm, const char *dir)
{
	struct vcpu_state *st = calloc(vm->n_cpus, sizeof(*st));
	struct state_header h = { .n_cpus = vm->n_cpus, .state_size = sizeof(*st) };
	char path[PATH_MAX];
	int fd, rc = 0;

	if (!st)
		return vmm_fail("out of memory");
	for (unsigned int i = 0; i < vm->n_cpus && !rc; i++)
		rc = get_state(vm, &vm->vcpus[i], &st[i]);
	if (!rc)
		rc = path_in(path, sizeof(path), dir, "vcpus.state");
	if (rc) {
		free(st);
		return rc;
	}
	memcpy(h.magic, STATE_MAGIC, sizeof(h.magic));
	h.checksum = fnv1a(st, vm->n_cpus * sizeof(*st), 1469598103934665603ull);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = vmm_fail("creating %s: %m", path);
	if (!rc)
		rc = write_all(fd, &h, sizeof(h), path);
	if (!rc)
		rc = write_all(fd, st, vm->n_cpus * sizeof(*st), path);
	if (!rc && fsync(fd) < 0)
		rc = vmm_fail("fsync of %s: %m", path);
	if (fd >= 0)
		close(fd);
	free(st);
	return rc;
}

int vmm_snapshot_save(struct vmm *vm)
{
	struct vmmem_snapshot_save_opts so = { .size = sizeof(so) };
	char path[PATH_MAX], id[33], parent[33] = "-";
	const char *dir = vm->snapshot_dir;
	bool diff = vm->snapshot_diff;
	FILE *f;
	int fd, rc;

	vmm_timing(vm, "snapshot: vCPUs paused");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return vmm_fail("snapshot directory %s: %m", dir);
	if (path_in(path, sizeof(path), dir, "vm.state"))
		return 1;
	unlink(path); /* until the new one is complete, the directory is no snapshot */
	if (diff && !vm->have_parent)
		return vmm_fail("--snapshot-diff: this guest has no parent snapshot (restore one "
				"first, or save a full one with --snapshot-resume)");
	/* The guest's writes since the last sync are in KVM's log only. */
	if (vmm_dirty_sync(vm))
		return 1;
	if (diff) {
		so.flags = VMMEM_SNAPSHOT_DIFF;
		memcpy(so.parent_id, vm->parent_id, sizeof(so.parent_id));
		hex(parent, vm->parent_id);
	}
	if (path_in(path, sizeof(path), dir, "memory.snap"))
		return 1;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return vmm_fail("creating %s: %m", path);
	rc = vmmem_memory_snapshot_save(vm->mem, fd, &so);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc)
		return vmm_fail("saving guest memory to %s: %s: %s", path, vmmem_strerror(rc),
				vmmem_errormsg());
	vmm_timing(vm, "snapshot: memory saved");
	if (save_vcpus(vm, dir))
		return 1;
	hex(id, so.id);
	if (path_in(path, sizeof(path), dir, "vm.state"))
		return 1;
	f = fopen(path, "we");
	if (!f)
		return vmm_fail("creating %s: %m", path);
	fprintf(f, "vmmem-vmm snapshot 1\ncpus %u\ndirty_round %u\nmemory %s %s\nparent %s %s\n",
		vm->n_cpus, vm->dirty_round, diff ? "diff" : "full", id, parent,
		diff ? vm->parent_dir : "-");
	if (fflush(f) || fsync(fileno(f)) < 0) {
		fclose(f);
		return vmm_fail("writing %s: %m", path);
	}
	fclose(f);
	/* This snapshot is the parent of the next diff. */
	memcpy(vm->parent_id, so.id, sizeof(vm->parent_id));
	snprintf(vm->parent_dir, sizeof(vm->parent_dir), "%s", dir);
	vm->have_parent = true;
	vmm_timing(vm, "snapshot: done");
	fprintf(stderr, "vmmem-vmm: snapshot saved in %s (%s, %llu bytes of memory data)\n", dir,
		diff ? "diff" : "full", (unsigned long long)so.data_bytes);
	return 0;
}

/* ---- restore ---------------------------------------------------------------------------- */

struct vm_state {
	unsigned int cpus, dirty_round;
	char kind[8];
	char id[33], parent_id[33];
	char parent_dir[PATH_MAX];
};

static int parse_id(const char *text, uint8_t *id)
{
	for (int i = 0; i < 16; i++) {
		unsigned int b;

		if (sscanf(text + 2 * i, "%2x", &b) != 1)
			return -1;
		id[i] = (uint8_t)b;
	}
	return 0;
}

static int read_vm_state(const char *dir, struct vm_state *vs)
{
	char path[PATH_MAX];
	int version = 0, n;
	FILE *f;

	if (path_in(path, sizeof(path), dir, "vm.state"))
		return 1;
	f = fopen(path, "re");
	if (!f)
		return vmm_fail("%s is not a complete snapshot: %s: %m", dir, path);
	n = fscanf(f, "vmmem-vmm snapshot %d\ncpus %u\ndirty_round %u\nmemory %7s %32s\n"
		   "parent %32s %4095s", &version, &vs->cpus, &vs->dirty_round, vs->kind, vs->id,
		   vs->parent_id, vs->parent_dir);
	fclose(f);
	if (n != 7 || version != 1 || vs->cpus < 1 || vs->cpus > VMM_MAX_CPUS ||
	    (strcmp(vs->kind, "full") && strcmp(vs->kind, "diff")))
		return vmm_fail("%s: not a vmmem-vmm snapshot of a known version", path);
	return 0;
}

static int open_snapshot(const char *dir, struct vmmem_snapshot **s)
{
	char path[PATH_MAX];
	int fd, rc;

	if (path_in(path, sizeof(path), dir, "memory.snap"))
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_fail("%s: %m", path);
	rc = vmmem_snapshot_open(s, fd);
	close(fd);
	if (rc)
		return vmm_fail("%s: %s: %s", path, vmmem_strerror(rc), vmmem_errormsg());
	return 0;
}

static int restore_mode(const char *mode, uint32_t *out)
{
	if (!strcmp(mode, "copy"))
		*out = VMMEM_RESTORE_COPY;
	else if (!strcmp(mode, "map"))
		*out = VMMEM_RESTORE_MAP;
	else if (!strcmp(mode, "lazy"))
		*out = VMMEM_RESTORE_LAZY;
	else
		return vmm_fail("--restore-mode %s: give copy, map or lazy", mode);
	return 0;
}

/*
 * Guest memory from the snapshot in @dir: a full one restored as @mode says; a diff
 * restored from its full parent (named in vm.state), then the diff applied. With @verify,
 * every region's checksum is checked before anything runs (copy always checks). Sets
 * *cpus from vm.state.
 */
int vmm_restore_memory(struct vmm *vm, const char *dir, const char *mode, const char *config,
		       bool verify, unsigned int *cpus)
{
	struct vmmem_restore_opts ro = { .size = sizeof(ro) };
	struct vmmem_snapshot *s = NULL, *diff = NULL;
	struct vm_state vs = { 0 };
	const char *full_dir = dir;
	int rc = 0;

	if (restore_mode(mode, &ro.mode) || read_vm_state(dir, &vs))
		return 1;
	ro.config = config;
	if (vm->no_prefetch && ro.mode == VMMEM_RESTORE_LAZY)
		ro.flags |= VMMEM_RESTORE_NO_PREFETCH;
	if (!strcmp(vs.kind, "diff")) {
		struct vm_state ps = { 0 };

		if (open_snapshot(dir, &diff))
			return 1;
		full_dir = vs.parent_dir;
		rc = read_vm_state(full_dir, &ps);
		if (!rc && strcmp(ps.kind, "full"))
			rc = vmm_fail("%s: the parent of a diff must be a full snapshot (merge a "
				      "chain with vmmem snapshot merge)", full_dir);
		if (rc) {
			vmmem_snapshot_close(diff);
			return 1;
		}
	}
	if (open_snapshot(full_dir, &s)) {
		vmmem_snapshot_close(diff);
		return 1;
	}
	/* Copy checks every region as it reads it; map and lazy would find a bad page only
	 * when (or after) the guest touches it. */
	if (verify && ro.mode != VMMEM_RESTORE_COPY &&
	    (rc = vmmem_snapshot_verify(s, NULL, NULL)) != 0) {
		vmm_fail("%s: %s: %s", full_dir, vmmem_strerror(rc), vmmem_errormsg());
		goto out;
	}
	if (diff) /* a diff is applied by copying: lazy would fill pages the diff rewrites */
		ro.mode = ro.mode == VMMEM_RESTORE_LAZY ? VMMEM_RESTORE_COPY : ro.mode;
	rc = vmmem_snapshot_restore(s, vm->ctx, &ro, &vm->mem,
				    ro.mode == VMMEM_RESTORE_LAZY ? &vm->lazy : NULL);
	if (rc) {
		vmm_fail("restoring %s: %s: %s", full_dir, vmmem_strerror(rc), vmmem_errormsg());
		goto out;
	}
	if (diff) {
		if (verify && (rc = vmmem_snapshot_verify(diff, NULL, NULL)) == 0)
			rc = vmmem_snapshot_apply(diff, vm->mem);
		else if (!verify)
			rc = vmmem_snapshot_apply(diff, vm->mem);
		if (rc) {
			vmm_fail("applying the diff %s: %s: %s", dir, vmmem_strerror(rc),
				 vmmem_errormsg());
			goto out;
		}
	}
	vmm_timing(vm, "restore: memory ready to map");
	rc = vmm_register_slots(vm);
	if (rc == 0) {
		*cpus = vs.cpus;
		vm->dirty_round = vs.dirty_round;
		if (parse_id(vs.id, vm->parent_id) == 0) {
			snprintf(vm->parent_dir, sizeof(vm->parent_dir), "%s", dir);
			vm->have_parent = true;
		}
	}
out:
	vmmem_snapshot_close(diff);
	vmmem_snapshot_close(s);
	return rc ? 1 : 0;
}

/* Every vCPU's saved state into the vCPUs just created (vmm_create_vcpus without boot). */
int vmm_restore_vcpus(struct vmm *vm, const char *dir)
{
	struct state_header h;
	struct vcpu_state *st = NULL;
	char path[PATH_MAX];
	struct stat sb;
	size_t want = vm->n_cpus * sizeof(*st);
	int fd, rc = 0;

	if (path_in(path, sizeof(path), dir, "vcpus.state"))
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_fail("%s: %m", path);
	st = malloc(want);
	if (!st) {
		close(fd);
		return vmm_fail("out of memory");
	}
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size != sizeof(h) + want ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    pread(fd, st, want, sizeof(h)) != (ssize_t)want)
		rc = vmm_fail("%s: truncated or of another size (%u vCPUs expected)", path,
			      vm->n_cpus);
	else if (memcmp(h.magic, STATE_MAGIC, sizeof(h.magic)) || h.n_cpus != vm->n_cpus ||
		 h.state_size != sizeof(*st))
		rc = vmm_fail("%s: not vCPU state of this VMM build (%u vCPUs)", path,
			      vm->n_cpus);
	else if (fnv1a(st, want, 1469598103934665603ull) != h.checksum)
		rc = vmm_fail("%s: checksum mismatch: the vCPU state is corrupted", path);
	close(fd);
	for (unsigned int i = 0; i < vm->n_cpus && !rc; i++) {
		if (st[i].index != i || st[i].nmsrs > MAX_MSRS)
			rc = vmm_fail("%s: vCPU %u's record is inconsistent", path, i);
		else
			rc = set_state(vm, &vm->vcpus[i], &st[i]);
	}
	free(st);
	return rc;
}
