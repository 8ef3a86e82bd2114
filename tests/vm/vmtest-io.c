/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/*
 * vmtest-io: the VM tests' guest-side benchmark helper, linked statically and put into the
 * test initramfs by prepare-guest.sh. One process does all requests of a phase (a dd per
 * random request would time fork+exec under TCG, not the disk).
 *
 *   vmtest-io MODE DEV OFFSET SPAN COUNT [BS [SEED]]
 *     MODE   seqread | seqwrite | randread | randwrite
 *     OFFSET, SPAN  bytes: requests stay inside [OFFSET, OFFSET + SPAN)
 *     COUNT  number of requests (queue depth 1, O_DIRECT)
 *     BS     request size in bytes (default 4096)
 *
 * Prints one line:
 *   VMTEST-BENCH mode=M bs=B count=N ns=T iops=I kibps=K
 * and exits 0, or prints "VMTEST-FAIL vmtest-io: ..." and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long long parse(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || end == s) {
        printf("VMTEST-FAIL vmtest-io: bad %s '%s'\n", what, s);
        exit(1);
    }
    return v;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 8) {
        fprintf(stderr, "usage: vmtest-io MODE DEV OFFSET SPAN COUNT [BS [SEED]]\n");
        return 2;
    }
    const char *mode = argv[1];
    int wr = !strcmp(mode, "seqwrite") || !strcmp(mode, "randwrite");
    int rnd = !strcmp(mode, "randread") || !strcmp(mode, "randwrite");
    if (!wr && !rnd && strcmp(mode, "seqread")) {
        printf("VMTEST-FAIL vmtest-io: unknown mode %s\n", mode);
        return 1;
    }
    unsigned long long off = parse(argv[3], "offset"), span = parse(argv[4], "span");
    unsigned long long count = parse(argv[5], "count");
    unsigned long long bs = argc > 6 ? parse(argv[6], "bs") : 4096;
    uint64_t seed = argc > 7 ? parse(argv[7], "seed") : 0x9e3779b97f4a7c15ull;
    if (!bs || bs % 512 || span < bs || off % 512) {
        printf("VMTEST-FAIL vmtest-io: bad geometry\n");
        return 1;
    }
    unsigned long long slots = span / bs;

    int fd = open(argv[2], (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (fd < 0) {
        printf("VMTEST-FAIL vmtest-io: open %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    void *buf;
    if (posix_memalign(&buf, 4096, bs)) {
        printf("VMTEST-FAIL vmtest-io: no memory\n");
        return 1;
    }
    memset(buf, 0xa5, bs);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long long i = 0; i < count; i++) {
        unsigned long long slot = rnd ? xorshift(&seed) % slots : i % slots;
        off_t pos = (off_t)(off + slot * bs);
        ssize_t n;
        if (wr) {
            ((uint64_t *)buf)[0] = i; /* every write differs */
            n = pwrite(fd, buf, bs, pos);
        } else {
            n = pread(fd, buf, bs, pos);
        }
        if (n != (ssize_t)bs) {
            printf("VMTEST-FAIL vmtest-io: %s request %llu at %lld: %s\n", mode, i,
                   (long long)pos, n < 0 ? strerror(errno) : "short transfer");
            return 1;
        }
    }
    if (wr && fdatasync(fd)) {
        printf("VMTEST-FAIL vmtest-io: fdatasync: %s\n", strerror(errno));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    if (ns <= 0)
        ns = 1;
    double secs = ns / 1e9;
    printf("VMTEST-BENCH mode=%s bs=%llu count=%llu ns=%lld iops=%.0f kibps=%.0f\n", mode, bs,
           count, ns, count / secs, count * (bs / 1024.0) / secs);
    close(fd);
    free(buf);
    return 0;
}
