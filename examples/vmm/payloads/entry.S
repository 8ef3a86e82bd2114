/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The payload's first byte: the VMM starts every vCPU here in 64-bit mode with
 * RDI = memory bytes, RSI = vCPU count, RDX = vCPU index (the SysV argument registers, so
 * guest_main gets them as its parameters) and RSP = its own stack top. */
	.section .text.entry, "ax"
	.globl _start
_start:
	call guest_main
1:	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
