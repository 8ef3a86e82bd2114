/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vmmem-vmm: command line (README.md). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "vmm.h"

#define DEFAULT_MEMORY "memfd:gpa=0,size=512M"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmem-vmm --payload FILE [--memory CONFIG] [--cpus N] [options]\n"
		"       vmmem-vmm --restore DIR [--restore-mode copy|map|lazy] [--memory CONFIG]\n"
		"                 [options]\n"
		"  --payload FILE        flat binary loaded at GPA 0x100000, entered in 64-bit mode\n"
		"  --memory CONFIG       guest memory as a libvmmem config string (default '%s');\n"
		"                        dirty-log=on regions get KVM dirty logging; with --restore:\n"
		"                        other providers for the snapshot's layout\n"
		"  --cpus N              vCPUs, 1 to %d (default 1)\n"
		"  --dirty-report FILE   one line per dirty-log round (guest out to port 0x%x)\n"
		"  --snapshot-dir DIR    on SIGUSR1: pause, save the guest in DIR, exit 0\n"
		"  --snapshot-resume     ... and go on running instead of exiting\n"
		"  --snapshot-diff       ... only memory changed since the parent snapshot\n"
		"  --restore DIR         resume the guest saved in DIR (a new process, no boot)\n"
		"  --restore-mode MODE   copy (default), map (private file mapping) or lazy\n"
		"                        (userfaultfd, pages on demand)\n"
		"  --restore-verify on|off  check memory checksums before running (default on;\n"
		"                        copy checks as it reads either way)\n"
		"  --restore-prefetch on|off  lazy: fill the rest in the background (default on);\n"
		"                        off: only pages the guest or KVM touch (to measure faults)\n"
		"  --timing              milestones on stderr, in ms from process start\n"
		"  --kvm-device PATH     the KVM device (default /dev/kvm)\n"
		"Exit status: 0 when vCPU 0 halts or after a snapshot, 1 on an error (one line on\n"
		"stderr), 2 on a usage error.\n",
		DEFAULT_MEMORY, VMM_MAX_CPUS, VMM_PORT_DIRTY);
}

/* "vmmem-vmm: OPTION VALUE: give CHOICES", exit status 2. */
static int usage_error(const char *option, const char *value, const char *choices)
{
	fprintf(stderr, "vmmem-vmm: %s %s: give %s\n", option, value, choices);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "payload", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "dirty-report", required_argument, NULL, 'd' },
		{ "kvm-device", required_argument, NULL, 'k' },
		{ "snapshot-dir", required_argument, NULL, 's' },
		{ "snapshot-resume", no_argument, NULL, 'R' },
		{ "snapshot-diff", no_argument, NULL, 'D' },
		{ "restore", required_argument, NULL, 'r' },
		{ "restore-mode", required_argument, NULL, 'M' },
		{ "restore-verify", required_argument, NULL, 'V' },
		{ "restore-prefetch", required_argument, NULL, 'P' },
		{ "timing", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *payload = NULL, *memory = NULL, *kvm = "/dev/kvm", *report = NULL;
	const char *restore = NULL, *mode = "copy";
	struct vmm vm = { .kvm_fd = -1, .vm_fd = -1, .done_fd = -1,
			  .lock = PTHREAD_MUTEX_INITIALIZER,
			  .pause_cond = PTHREAD_COND_INITIALIZER };
	unsigned long cpus = 0;
	unsigned int n_cpus;
	bool verify = true;
	int opt, status;

	vm.start_ms = vmm_now_ms();
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'p':
			payload = optarg;
			break;
		case 'm':
			memory = optarg;
			break;
		case 'c':
			cpus = strtoul(optarg, &end, 10);
			if (*end || !*optarg || cpus < 1 || cpus > VMM_MAX_CPUS) {
				fprintf(stderr, "vmmem-vmm: --cpus %s: give a number from 1 to %d\n",
					optarg, VMM_MAX_CPUS);
				return 2;
			}
			break;
		case 'd':
			report = optarg;
			break;
		case 'k':
			kvm = optarg;
			break;
		case 's':
			vm.snapshot_dir = optarg;
			break;
		case 'R':
			vm.snapshot_resume = true;
			break;
		case 'D':
			vm.snapshot_diff = true;
			break;
		case 'r':
			restore = optarg;
			break;
		case 'M':
			mode = optarg;
			if (strcmp(mode, "copy") && strcmp(mode, "map") && strcmp(mode, "lazy"))
				return usage_error("--restore-mode", mode, "copy, map or lazy");
			break;
		case 'V':
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return usage_error("--restore-verify", optarg, "on or off");
			verify = !strcmp(optarg, "on");
			break;
		case 'P':
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return usage_error("--restore-prefetch", optarg, "on or off");
			vm.no_prefetch = !strcmp(optarg, "off");
			break;
		case 't':
			vm.timing = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (!payload && !restore) || (payload && restore)) {
		if (!payload && !restore)
			fprintf(stderr, "vmmem-vmm: --payload FILE is required (or --restore DIR)\n");
		else if (payload && restore)
			fprintf(stderr, "vmmem-vmm: --payload boots a guest, --restore resumes one: "
					"give one of them\n");
		usage(stderr);
		return 2;
	}
	if (report) {
		vm.dirty_report = fopen(report, "we");
		if (!vm.dirty_report)
			return vmm_fail("--dirty-report %s: %m", report);
	}
	vm.done_fd = eventfd(0, EFD_CLOEXEC);
	if (vm.done_fd < 0)
		return vmm_fail("eventfd: %m");
	status = vmm_open(&vm, kvm);
	if (restore) {
		/* A new process resumes the guest: memory, then vCPUs from their saved state;
		 * nothing boots. */
		if (!status)
			status = vmm_restore_memory(&vm, restore, mode, memory, verify, &n_cpus);
		if (!status && cpus && cpus != n_cpus)
			status = vmm_fail("--cpus %lu: the snapshot in %s has %u vCPUs", cpus,
					  restore, n_cpus);
		if (!status)
			status = vmm_create_vcpus(&vm, n_cpus, false);
		if (!status)
			status = vmm_restore_vcpus(&vm, restore);
	} else {
		n_cpus = cpus ? (unsigned int)cpus : 1;
		if (!status)
			status = vmm_memory_from_config(&vm, memory ? memory : DEFAULT_MEMORY);
		if (!status)
			status = vmm_build_tables(&vm);
		if (!status)
			status = vmm_load_payload(&vm, payload);
		if (!status)
			status = vmm_create_vcpus(&vm, n_cpus, true);
	}
	if (!status)
		status = vmm_run(&vm);
	vmm_close(&vm);
	return status;
}
