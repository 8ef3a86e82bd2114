/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * CRC32C: the SSE4.2 crc32 instruction on x86-64 and the ARMv8 CRC32C instructions on
 * AArch64 where the CPU has them (checked once at run time, the library being built for the
 * baseline ISA), else a slicing-by-8 table walk. Length
 * extension and combination work in GF(2)[x] modulo the CRC polynomial: appending n zero
 * bytes multiplies the register by x^(8n), and x^(8n) is built from the squares
 * x^(2^k) in O(log n) multiplications.
 */
#include "crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && !defined(VMM_CRC32C_NO_HW)
#define HW_CRC32C 1
#elif defined(__aarch64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && !defined(VMM_CRC32C_NO_HW)
#define HW_CRC32C 1
#include <arm_acle.h>
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#define POLY 0x82F63B78u /* reflected: bit 31 is x^0 */

static uint32_t table[8][256];
static uint32_t x2n[64]; /* x^(2^k) mod P */
#ifdef HW_CRC32C
static bool have_hw;
#endif
static uint32_t shift_stream, shift_2stream; /* x^(8*STREAM), x^(16*STREAM) */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Bytes per stream of the three-way interleaved hardware loop. */
#define STREAM 4096u

/* a * b mod P, both in the reflected representation. */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	while (m) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = (b & 1) ? (b >> 1) ^ POLY : b >> 1;
	}
	return p;
}

static void init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
	x2n[0] = 1u << 30; /* x^1 */
	for (int k = 1; k < 64; k++)
		x2n[k] = multmodp(x2n[k - 1], x2n[k - 1]);
	shift_stream = 1u << 31;
	for (uint32_t k = 3, v = STREAM; v; v >>= 1, k++)
		if (v & 1)
			shift_stream = multmodp(x2n[k], shift_stream);
	shift_2stream = multmodp(shift_stream, shift_stream);
#if defined(HW_CRC32C) && defined(__x86_64__)
	__builtin_cpu_init();
	have_hw = __builtin_cpu_supports("sse4.2");
#elif defined(HW_CRC32C) && defined(__aarch64__)
	have_hw = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
#endif
}

static uint32_t raw_table(uint32_t c, const uint8_t *p, size_t n)
{
	while (n && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
		n--;
	}
	while (n >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		w ^= c;
		c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
		    table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^
		    table[2][(w >> 40) & 0xff] ^ table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(HW_CRC32C) && defined(__x86_64__)
#define HW_TARGET __attribute__((target("sse4.2")))
#define HW_CRC8(c, b) __builtin_ia32_crc32qi((uint32_t)(c), (b))
#define HW_CRC64(c, w) __builtin_ia32_crc32di((c), (w))
#elif defined(HW_CRC32C) && defined(__aarch64__)
#define HW_TARGET __attribute__((target("+crc")))
#define HW_CRC8(c, b) __crc32cb((uint32_t)(c), (b))
#define HW_CRC64(c, w) __crc32cd((uint32_t)(c), (w))
#endif

#ifdef HW_CRC32C
/* Three independent streams hide the instruction's latency (3 cycles on x86-64 and on most
 * AArch64 cores); they are joined with the shift-by-x^(8*len) of the streams that follow.
 * Both instruction sets take the 8-byte word in little-endian order (AArch64 hosts running
 * big-endian are not supported by this path: it is compiled for little-endian only). */
HW_TARGET static uint32_t raw_hw(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c0 = c;

	while (n && ((uintptr_t)p & 7)) {
		c0 = HW_CRC8(c0, *p++);
		n--;
	}
	while (n >= 3 * STREAM) {
		uint64_t c1 = 0, c2 = 0;
		const uint64_t *w = (const uint64_t *)p;

		for (size_t i = 0; i < STREAM / 8; i++) {
			c0 = HW_CRC64(c0, w[i]);
			c1 = HW_CRC64(c1, w[i + STREAM / 8]);
			c2 = HW_CRC64(c2, w[i + 2 * STREAM / 8]);
		}
		c0 = multmodp(shift_2stream, (uint32_t)c0) ^
		     multmodp(shift_stream, (uint32_t)c1) ^ c2;
		p += 3 * STREAM;
		n -= 3 * STREAM;
	}
	while (n >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c0 = HW_CRC64(c0, w);
		p += 8;
		n -= 8;
	}
	while (n--)
		c0 = HW_CRC8(c0, *p++);
	return (uint32_t)c0;
}
#endif

uint32_t
vmm_crc32c(uint32_t crc, const void *data, size_t n)
{
	uint32_t c = ~crc;

	pthread_once(&init_once, init);
#ifdef HW_CRC32C
	if (have_hw)
		return ~raw_hw(c, data, n);
#endif
	return ~raw_table(c, data, n);
}

/* x^(8n) mod P */
static uint32_t x8n(uint64_t n)
{
	uint32_t p = 1u << 31;

	for (int k = 3; n; n >>= 1, k++)
		if (n & 1)
			p = multmodp(x2n[k & 63], p);
	return p;
}

uint32_t
vmm_crc32c_zeros(uint32_t crc, uint64_t n)
{
	pthread_once(&init_once, init);
	return ~multmodp(x8n(n), ~crc);
}

uint32_t
vmm_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	pthread_once(&init_once, init);
	return multmodp(x8n(len_b), crc_a) ^ crc_b;
}
