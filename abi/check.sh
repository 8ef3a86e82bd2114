#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# usage: abi/check.sh dump  SOURCE_DIR WORK_DIR OUT_DUMP
#        abi/check.sh check SOURCE_DIR WORK_DIR BASELINE_DUMP
#
# Builds libvmmem.so on its own in WORK_DIR with -g -Og (abi-dumper wants unoptimised debug
# info; the presets' -O2 loses parameters and inlines), dumps its ABI with abi-dumper over
# the public headers (include/vmmem.h, include/vmmem/*.h incl. provider.h, and the generated
# vmmem/version.h), then:
#   dump:  writes the dump to OUT_DUMP (how abi/libvmmem-<version>.dump baselines are made);
#   check: compares it with BASELINE_DUMP by abi-compliance-checker and fails on any binary
#          or source compatibility problem (report: WORK_DIR/compat_reports/).
# Exit status: 0 compatible, 1 problems or failure, 77 abi-dumper or abi-compliance-checker
# is not installed. CC picks the compiler (default cc).
set -euo pipefail

mode=${1:-} src=${2:-} work=${3:-} dump_arg=${4:-}
if [[ ! $mode =~ ^(dump|check)$ || -z $src || -z $work || -z $dump_arg ]]; then
  echo "usage: $0 dump|check SOURCE_DIR WORK_DIR DUMP" >&2
  exit 1
fi
need=(abi-dumper)
[[ $mode == check ]] && need+=(abi-compliance-checker)
for tool in "${need[@]}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "abi-check: $tool is not installed (apt-get install abi-dumper abi-compliance-checker)"
    exit 77
  fi
done

src=$(cd "$src" && pwd)
mkdir -p "$work"
work=$(cd "$work" && pwd)
build=$work/build

# 1. The library alone, -g -Og, none of the optional parts. Incremental on reruns.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=None -DCMAKE_C_FLAGS="-g -Og" \
  -DCMAKE_C_COMPILER="${CC:-cc}" -DBUILD_TESTING=OFF -DVMMEM_BUILD_BENCH=OFF \
  -DVMMEM_BUILD_EXAMPLES=OFF -DVMMEM_WERROR=OFF >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$build" --target vmmem >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
lib=$(find "$build" -name 'libvmmem.so.*.*.*' -type f | head -n 1)
[[ -n $lib ]] || { echo "abi-check: no libvmmem.so.X.Y.Z under $build"; exit 1; }
version=${lib##*/libvmmem.so.}

# 2. The public headers as installed: include/ plus the generated vmmem/version.h.
headers=$work/include
rm -rf "$headers"
mkdir -p "$headers/vmmem"
cp "$src/include/vmmem.h" "$headers/"
cp "$src"/include/vmmem/*.h "$headers/vmmem/"
cp "$build/include/vmmem/version.h" "$headers/vmmem/"

# 3. Dump.
if [[ $mode == dump ]]; then
  out=$dump_arg
else
  out=$work/libvmmem-current.dump
fi
abi-dumper "$lib" -o "$out" -lver "$version" -public-headers "$headers" >"$work/dump.log" 2>&1 ||
  { cat "$work/dump.log"; exit 1; }
if [[ $mode == dump ]]; then
  echo "abi-check: ABI of libvmmem $version dumped to $out"
  exit 0
fi

# 4. Compare. abi-compliance-checker: 0 compatible, 1 incompatible, other codes errors.
baseline=$dump_arg
[[ -f $baseline ]] || { echo "abi-check: no baseline $baseline"; exit 1; }
rc=0
(cd "$work" && abi-compliance-checker -l vmmem -old "$baseline" -new "$out") || rc=$?
case $rc in
  0) echo "abi-check: libvmmem $version is binary and source compatible with $baseline" ;;
  1) echo "abi-check: INCOMPATIBLE with $baseline; see the report under $work/compat_reports/" ;;
  *) echo "abi-check: abi-compliance-checker failed (exit $rc)" ;;
esac
[[ $rc -eq 0 ]] || exit 1
