#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# The whole test suite: build and test the default preset (warnings are errors), the
# AddressSanitizer+UBSan preset, the ThreadSanitizer preset, every Check suite again
# under valgrind memcheck, the coverage gate, then the cross builds: arm64 (with 4, 16 and
# 64 KiB pages) and big-endian s390x, their suites run under qemu-user
# (docs/PORTABILITY.md). VMMEM_SKIP_CROSS=1 leaves the cross stages out on a machine
# without the cross toolchains; CI never sets it.
# Exits non-zero on the first warning, failure or leak.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

run() { echo "+ $*"; "$@"; }

echo "=== default preset ==="
run cmake --preset default
run cmake --build --preset default -j"$jobs"
run ctest --preset default -j"$jobs"

echo "=== release preset (-O3, warnings are errors): the benchmark builds ==="
run cmake --preset release
run cmake --build --preset release -j"$jobs" --target vmmem-bench

echo "=== asan preset (AddressSanitizer + UndefinedBehaviorSanitizer) ==="
run cmake --preset asan
run cmake --build --preset asan -j"$jobs"
run ctest --preset asan -j"$jobs"

echo "=== tsan preset (ThreadSanitizer) ==="
run cmake --preset tsan
run cmake --build --preset tsan -j"$jobs"
run ctest --preset tsan -j"$jobs"

echo "=== valgrind memcheck (default build) ==="
run ctest --preset memcheck -j"$jobs"

echo "=== coverage gate (gcov, gcovr) ==="
run tools/coverage.sh

echo "=== cross builds under qemu-user (arm64 4K/16K/64K pages, s390x big-endian) ==="
if [ "${VMMEM_SKIP_CROSS:-0}" = 1 ]; then
  echo "VMMEM_SKIP_CROSS=1: cross stages skipped"
  exit 0
fi
for arch in aarch64 s390x; do
  if [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$arch" ]; then
    echo "qemu-$arch is not registered with binfmt_misc: run tools/setup-debian.sh as root" >&2
    exit 1
  fi
done
for preset in cross-arm64 cross-s390x; do
  run cmake --preset "$preset"
  run cmake --build --preset "$preset" -j"$jobs"
done
for preset in cross-arm64 cross-arm64-16k cross-arm64-64k cross-s390x; do
  run ctest --preset "$preset" -j"$jobs"
done
