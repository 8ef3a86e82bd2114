/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vmmem-vmm: command line (README.md). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define DEFAULT_MEMORY "memfd:gpa=0,size=512M"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmmem-vmm --payload FILE [--memory CONFIG] [--cpus N]\n"
		"                 [--dirty-report FILE] [--kvm-device PATH]\n"
		"  --payload FILE       flat binary loaded at GPA 0x100000, entered in 64-bit mode\n"
		"  --memory CONFIG      guest memory as a libvmmem config string (default '%s');\n"
		"                       dirty-log=on regions get KVM dirty logging\n"
		"  --cpus N             vCPUs, 1 to %d (default 1)\n"
		"  --dirty-report FILE  one line per dirty-log round (guest out to port 0x%x)\n"
		"  --kvm-device PATH    the KVM device (default /dev/kvm)\n"
		"Exit status: 0 when vCPU 0 halts, 1 on an error (one line on stderr), 2 on a "
		"usage error.\n",
		DEFAULT_MEMORY, VMM_MAX_CPUS, VMM_PORT_DIRTY);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "payload", required_argument, NULL, 'p' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "dirty-report", required_argument, NULL, 'd' },
		{ "kvm-device", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *payload = NULL, *memory = DEFAULT_MEMORY, *kvm = "/dev/kvm", *report = NULL;
	struct vmm vm = { .kvm_fd = -1, .vm_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER,
			  .done_cond = PTHREAD_COND_INITIALIZER };
	unsigned long cpus = 1;
	int opt, status;

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
				vmm_fail("--cpus %s: give a number from 1 to %d", optarg,
					 VMM_MAX_CPUS);
				return 2;
			}
			break;
		case 'd':
			report = optarg;
			break;
		case 'k':
			kvm = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !payload) {
		if (!payload)
			vmm_fail("--payload FILE is required");
		usage(stderr);
		return 2;
	}
	if (report) {
		vm.dirty_report = fopen(report, "we");
		if (!vm.dirty_report)
			return vmm_fail("--dirty-report %s: %m", report);
	}
	status = vmm_open(&vm, kvm, memory);
	if (!status)
		status = vmm_build_tables(&vm);
	if (!status)
		status = vmm_load_payload(&vm, payload);
	if (!status)
		status = vmm_create_vcpus(&vm, (unsigned int)cpus);
	if (!status)
		status = vmm_run(&vm);
	vmm_close(&vm);
	return status;
}
