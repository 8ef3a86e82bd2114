#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Build one libFuzzer target and run it for a bounded time (the fuzz_<name> CTest tests).
# usage: run_fuzz.sh <name> <clang> <source-dir> <generated-include-dir> <work-dir> <seconds>
#                    [libFuzzer option...]
#   name     config (tests/fuzz_config.c), options or vhost (tests/fuzz/fuzz_<name>.c)
#   seconds  -max_total_time; 0 for no time limit (then bound it with e.g. -runs=N)
# Everything lives in <work-dir>/<name>/: the binary fuzz_<name>, the growing corpus in
# corpus/ (the committed seeds in tests/fuzz/corpus/<name>/ are only read), and crashing,
# leaking or slow inputs in artifacts/. VMMEM_FUZZ_BUILD_ONLY=1 builds without running.
# Exit: 0 no finding, 77 clang/libFuzzer unusable here (skip), anything else a failure.
set -u
if [ $# -lt 6 ]; then
	echo "usage: $0 <name> <clang> <source-dir> <generated-include-dir> <work-dir> <seconds> [libFuzzer option...]" >&2
	exit 2
fi
name=$1 clang=$2 src=$3 gen=$4 work=$5/$1 seconds=$6 defines=$5/vmmem-defines.rsp
shift 6
# The library sources are globbed, not listed, so files added or renamed under core/ (or the
# example) need no change here. The harness is built with -Werror; the library only with
# warnings, so a new clang-only warning there does not hide the fuzzer's findings.
# The compile definitions of the library target (e.g. the plugin directories, which the core
# needs defined; no target loads a plugin) come from <work-dir>/vmmem-defines.rsp, which CMake
# writes (tests/fuzz/CMakeLists.txt).
max_len=4096
case $name in
config)
	harness=$src/tests/fuzz_config.c
	sources="$src/core/config.c $src/core/error.c"
	libs=""
	;;
options)
	harness=$src/tests/fuzz/fuzz_options.c
	sources=$(ls "$src"/core/*.c) || exit 1
	libs="-pthread -ldl"
	;;
vhost)
	harness=$src/tests/fuzz/fuzz_vhost.c
	sources=$(ls "$src"/core/*.c "$src"/examples/vhost-user-blk/*.c | grep -v -e '/main\.c$' -e '/logging\.c$') || exit 1
	libs="-pthread -ldl"
	max_len=8192
	;;
*)
	echo "run_fuzz.sh: unknown fuzzer '$name' (config, options, vhost)" >&2
	exit 2
	;;
esac
if [ ! -f "$defines" ]; then
	echo "run_fuzz.sh: $defines is missing: <work-dir> must be the tests/fuzz directory of a configured build" >&2
	exit 2
fi
mkdir -p "$work/corpus" "$work/artifacts" "$work/obj" || exit 1

# Can this clang link libFuzzer with the sanitizers at all? If not, skip.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	>"$work/probe.c" || exit 1
if ! "$clang" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" \
	>"$work/probe.log" 2>&1; then
	echo "fuzz_$name: $clang cannot build a libFuzzer target, skipped:"
	cat "$work/probe.log"
	exit 77
fi

# From here on a failure is real.
flags="-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -std=gnu11
	-Wall -Wextra -I$src/core -I$src/include -I$gen -I$src/examples/vhost-user-blk @$defines"
rm -f "$work"/obj/*.o
objs=""
for f in $sources; do
	o=$work/obj/$(basename "$(dirname "$f")")_$(basename "$f" .c).o
	# shellcheck disable=SC2086
	"$clang" $flags -c "$f" -o "$o" || exit 1
	objs="$objs $o"
done
# shellcheck disable=SC2086
"$clang" $flags -Werror -c "$harness" -o "$work/obj/harness.o" || exit 1
# shellcheck disable=SC2086
"$clang" -fsanitize=fuzzer,address,undefined "$work/obj/harness.o" $objs $libs \
	-o "$work/fuzz_$name" || exit 1
[ "${VMMEM_FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# libFuzzer's own default error exit code is 77, CTest's "skipped": make every finding exit
# 1. -print_final_stats=1 reports the executions and exec/s of the run. The inputs of past
# findings (tests/fuzz/crashes/<name>/) are replayed first, as regression tests.
exec "$work/fuzz_$name" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-max_len="$max_len" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
	"$@" "$work/corpus" "$src/tests/fuzz/corpus/$name" \
	$( [ -d "$src/tests/fuzz/crashes/$name" ] && echo "$src/tests/fuzz/crashes/$name")
