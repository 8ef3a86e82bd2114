/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * Helpers shared by the out-of-tree consumer programs of the install tests. They use only
 * the installed <vmmem.h> and libc.
 *
 * The provider directory comes from the installed package: VMMEM_CONSUMER_PROVIDER_DIR is
 * defined from vmmemConfig.cmake's VMMEM_PROVIDER_DIR or from `pkg-config
 * --variable=providerdir vmmem`, and is put on VMMEM_PROVIDER_PATH before the first context
 * is created (the library's compiled-in directory is the build's install prefix, not the
 * temporary one the test installs into).
 */
#ifndef VMMEM_CONSUMER_COMMON_H
#define VMMEM_CONSUMER_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmmem.h>

#ifndef VMMEM_CONSUMER_PROVIDER_DIR
#error "VMMEM_CONSUMER_PROVIDER_DIR must be defined from the installed package"
#endif

/* Put the installed provider directory on the search path. 0 or -1. */
static inline int consumer_use_installed_providers(const char *prog)
{
	/* VMMEM_CONSUMER_NO_PROVIDER_PATH: rely on the library finding its own plugins. */
	if (getenv("VMMEM_CONSUMER_NO_PROVIDER_PATH"))
		return unsetenv("VMMEM_PROVIDER_PATH");
	if (setenv("VMMEM_PROVIDER_PATH", VMMEM_CONSUMER_PROVIDER_DIR, 1) < 0) {
		perror(prog);
		return -1;
	}
	return 0;
}

/* 1 if @p path is inside directory @p dir (both resolved), else 0. */
static inline int consumer_path_in(const char *path, const char *dir)
{
	char rp[PATH_MAX], rd[PATH_MAX];
	size_t n;

	if (!realpath(path, rp) || !realpath(dir, rd))
		return 0;
	n = strlen(rd);
	return strncmp(rp, rd, n) == 0 && rp[n] == '/';
}

/*
 * If VMMEM_CONSUMER_EXPECT_LIBDIR is set, check that the libvmmem.so this process runs is
 * the one in that directory. 0 or -1.
 */
static inline int consumer_check_library(const char *prog)
{
	const char *want = getenv("VMMEM_CONSUMER_EXPECT_LIBDIR");
	Dl_info info;

	if (!want || !*want)
		return 0;
	if (!dladdr((void *)vmmem_version_string, &info) || !info.dli_fname) {
		fprintf(stderr, "%s: dladdr(vmmem_version_string) failed\n", prog);
		return -1;
	}
	if (!consumer_path_in(info.dli_fname, want)) {
		fprintf(stderr, "%s: libvmmem loaded from %s, not from %s\n", prog,
			info.dli_fname, want);
		return -1;
	}
	printf("%s: libvmmem %s from %s\n", prog, vmmem_version_string(), info.dli_fname);
	return 0;
}

static inline void consumer_fail(const char *prog, const char *what, int rc)
{
	fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, vmmem_strerror(rc), vmmem_errormsg());
}

/* Byte @p i of the test pattern number @p seed. */
static inline uint8_t consumer_pattern(unsigned seed, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed << 32 | seed);

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17) ^ seed);
}

static inline void consumer_fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = consumer_pattern(seed, i);
}

/* 0 if @p buf holds pattern @p seed byte for byte, else -1 (and says where it differs). */
static inline int consumer_verify(const char *prog, const uint8_t *buf, size_t len,
				  unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != consumer_pattern(seed, i)) {
			fprintf(stderr, "%s: pattern %u differs at byte %zu: %#x != %#x\n", prog,
				seed, i, buf[i], consumer_pattern(seed, i));
			return -1;
		}
	}
	return 0;
}

#endif /* VMMEM_CONSUMER_COMMON_H */
