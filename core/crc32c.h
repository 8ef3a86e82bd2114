/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final xor
 * 0xFFFFFFFF: the checksum of iSCSI, ext4 and btrfs), for the snapshot format. The
 * checksum of "123456789" is 0xE3069283.
 *
 * A checksum here is always the finished value: vmm_crc32c(0, data, n) is the CRC of
 * data, and vmm_crc32c(crc_of_a, b, nb) is the CRC of a followed by b.
 */
#ifndef VMM_CRC32C_H
#define VMM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of (the bytes @crc is the CRC of) followed by @data[0..n). */
uint32_t vmm_crc32c(uint32_t crc, const void *data, size_t n);

/* The CRC of (the bytes @crc is the CRC of) followed by @n zero bytes, in O(log n): holes
 * of a sparse file are checksummed without reading them. */
uint32_t vmm_crc32c_zeros(uint32_t crc, uint64_t n);

/* The CRC of A followed by B, from crc(A), crc(B) and B's length: chunks checksummed by
 * different threads are joined in order. */
uint32_t vmm_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

#endif /* VMM_CRC32C_H */
