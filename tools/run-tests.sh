#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# The whole test suite: build and test the default preset (warnings are errors), the
# AddressSanitizer+UBSan preset, the ThreadSanitizer preset, every Check suite again
# under valgrind memcheck, the coverage gate, the Debian packages (tools/package-test.sh),
# then the cross builds: arm64 (with 4, 16 and
# 64 KiB pages) and big-endian s390x, their suites run under qemu-user
# (docs/PORTABILITY.md). VMMEM_SKIP_CROSS=1 leaves the cross stages out on a machine
# without the cross toolchains; CI never sets it.
# Exits non-zero on the first warning, failure or leak.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

run() { echo "+ $*"; "$@"; }

# stage NAME: start a stage, printing how long the previous one took (CI time per part).
stage_name=
stage_start=$SECONDS
stage() {
  [ -z "$stage_name" ] || echo "--- $stage_name: $((SECONDS - stage_start)) s"
  stage_name=$1
  stage_start=$SECONDS
  echo "=== $1 ==="
}
trap '[ -z "$stage_name" ] || echo "--- $stage_name: $((SECONDS - stage_start)) s (total $SECONDS s)"' EXIT

stage "default preset"
run cmake --preset default
run cmake --build --preset default -j"$jobs"
run ctest --preset default -j"$jobs"

stage "release preset (-O3, warnings are errors): the benchmark builds"
run cmake --preset release
run cmake --build --preset release -j"$jobs" --target vmmem-bench

stage "asan preset (AddressSanitizer + UndefinedBehaviorSanitizer)"
run cmake --preset asan
run cmake --build --preset asan -j"$jobs"
run ctest --preset asan -j"$jobs"

stage "tsan preset (ThreadSanitizer)"
run cmake --preset tsan
run cmake --build --preset tsan -j"$jobs"
run ctest --preset tsan -j"$jobs"

stage "valgrind memcheck (default build)"
run ctest --preset memcheck -j"$jobs"

stage "coverage gate (gcov, gcovr)"
run tools/coverage.sh

stage "release: Debian packages from the source tarball, lintian, a consumer of dpkg -x'd packages"
run tools/package-test.sh

# Cross builds under qemu-user (docs/PORTABILITY.md).
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
stage "cross: arm64 build, suites with 4, 16 and 64 KiB pages"
run cmake --preset cross-arm64
run cmake --build --preset cross-arm64 -j"$jobs"
for preset in cross-arm64 cross-arm64-16k cross-arm64-64k; do
  run ctest --preset "$preset" -j"$jobs"
done
stage "cross: s390x (big-endian) build and suite"
run cmake --preset cross-s390x
run cmake --build --preset cross-s390x -j"$jobs"
run ctest --preset cross-s390x -j"$jobs"
