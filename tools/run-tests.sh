#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# The whole test suite: build and test the default preset (warnings are errors), the
# AddressSanitizer+UBSan preset, the ThreadSanitizer preset, then every Check suite again
# under valgrind memcheck.
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
