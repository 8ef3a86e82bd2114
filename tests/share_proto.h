/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * The wire protocol between the sharing tests (check_share.c, check_hugetlb.c) and their
 * peer process (share_peer.c, tests/peer/), plus the byte pattern both sides write.
 *
 * The test listens on a SOCK_SEQPACKET Unix socket and runs the peer (fork + exec) with
 * the socket's path. The peer connects and receives one sp_request holding N vhost-user
 * region descriptors, with the N fds in one SCM_RIGHTS message (as vhost-user's
 * SET_MEM_TABLE). It imports them (vmmem_region_import), builds a memory
 * (vmmem_memory_new), checks the pattern the test wrote, optionally discards a range and
 * writes its own pattern, and answers with one sp_reply. It exits 0 whenever it could
 * answer, whatever the import said.
 */
#ifndef VMMEM_TEST_SHARE_PROTO_H
#define VMMEM_TEST_SHARE_PROTO_H

#include <stdint.h>

#include <vmmem.h>

#define SP_MAGIC_REQUEST UINT32_C(0x766d7271) /* "vmrq" */
#define SP_MAGIC_REPLY UINT32_C(0x766d7270)   /* "vmrp" */
#define SP_MAX_REGIONS 8

struct sp_request {
	uint32_t magic;
	uint32_t count;        /* descriptors used, = fds attached */
	uint32_t import_flags; /* for every vmmem_region_import() */
	uint32_t check_seed;   /* pattern the test wrote over [check_gpa, +check_len) */
	uint64_t check_gpa, check_len;
	uint64_t discard_gpa, discard_len; /* vmmem_memory_discard() if discard_len */
	uint32_t write_seed;               /* pattern the peer writes over [write_gpa, +len) */
	uint32_t pad;
	uint64_t write_gpa, write_len;
	struct vmmem_vhost_region regions[SP_MAX_REGIONS];
};

/* How far the peer got. */
enum sp_stage {
	SP_STAGE_RECV = 1, /* receiving the request */
	SP_STAGE_IMPORT,   /* vmmem_region_import() of regions[index] */
	SP_STAGE_MEMORY,   /* vmmem_memory_new() */
	SP_STAGE_VERIFY,   /* reading back the test's pattern */
	SP_STAGE_DISCARD,  /* vmmem_memory_discard() */
	SP_STAGE_WRITE,    /* writing the peer's pattern */
	SP_STAGE_DONE,     /* everything worked */
};

/* status for a pattern mismatch (detail = GPA of the first wrong byte). */
#define SP_MISMATCH 1

struct sp_reply {
	uint32_t magic;
	int32_t status;   /* 0, SP_MISMATCH, or the failing call's return value */
	uint32_t stage;   /* enum sp_stage reached */
	uint32_t index;   /* region index, for SP_STAGE_IMPORT */
	uint64_t detail;  /* SP_MISMATCH: GPA of the first wrong byte */
	uint32_t out_null; /* a failed import left *out NULL */
	uint32_t count;    /* regions of the memory the peer built */
	uint64_t page_size[SP_MAX_REGIONS]; /* vmmem_region_page_size() of each import */
	uint64_t fd_differs;                /* bit i: region i's fd is not the received one */
	char message[256];                  /* vmmem_errormsg() or a description */
};

/* Byte of guest address gpa in pattern seed; never zero, so discarded bytes stand out. */
static inline uint8_t sp_byte(uint64_t gpa, uint32_t seed)
{
	uint64_t x = ((gpa & ~UINT64_C(7)) + seed * UINT64_C(0x100000001b3)) *
		     UINT64_C(0x9e3779b97f4a7c15);

	x ^= x >> 29;
	return (uint8_t)((x >> (8 * (gpa & 7))) | 1);
}

static inline void sp_gen(uint8_t *buf, uint64_t gpa, uint64_t len, uint32_t seed)
{
	for (uint64_t i = 0; i < len; i++)
		buf[i] = sp_byte(gpa + i, seed);
}

/* Index of the first byte of buf (guest [gpa, gpa + len)) that is not pattern seed (or not
 * zero if zero), or len if all match. */
static inline uint64_t sp_mismatch(const uint8_t *buf, uint64_t gpa, uint64_t len, uint32_t seed,
				   int zero)
{
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] != (zero ? 0 : sp_byte(gpa + i, seed)))
			return i;
	return len;
}

#endif /* VMMEM_TEST_SHARE_PROTO_H */
