#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Build and run the config-parser fuzzer for a bounded time (the fuzz_config CTest test).
# usage: run_fuzz.sh <clang> <source-dir> <generated-include-dir> <work-dir> <seconds>
# Exit: 0 no finding, 77 clang/libFuzzer unusable here (skip), anything else a failure.
set -u
clang=$1 src=$2 gen=$3 work=$4 seconds=$5
mkdir -p "$work/corpus" "$work/artifacts" || exit 1

# Can this clang link libFuzzer with the sanitizers at all? If not, skip.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	>"$work/probe.c" || exit 1
if ! "$clang" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" \
	>"$work/probe.log" 2>&1; then
	echo "fuzz_config: $clang cannot build a libFuzzer target, skipped:"
	cat "$work/probe.log"
	exit 77
fi

# From here on a failure is real.
"$clang" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-std=gnu11 -Wall -Wextra -Werror \
	-I"$src/core" -I"$src/include" -I"$gen" \
	"$src/tests/fuzz_config.c" "$src/core/config.c" "$src/core/error.c" \
	-o "$work/fuzz_config" || exit 1

# New inputs go to the work corpus; the committed seeds are only read. libFuzzer's own
# default error exit code is 77, CTest's "skipped": make every finding exit 1.
exec "$work/fuzz_config" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-max_len=4096 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
	"$work/corpus" "$src/tests/fuzz/corpus/config"
