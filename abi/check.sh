#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# usage: abi/check.sh dump  SOURCE_DIR WORK_DIR OUT_DUMP
#        abi/check.sh check SOURCE_DIR WORK_DIR BASELINE_DUMP
#
# Builds libvmmem.so on its own in WORK_DIR with -g -Og (abi-dumper wants unoptimised debug
# info; the presets' -O2 loses parameters and inlines), dumps its ABI with abi-dumper and
# with libabigail's abidw over the public headers (include/vmmem.h, include/vmmem/*.h incl.
# provider.h, and the generated vmmem/version.h), then:
#   dump:  writes OUT_DUMP (abi-dumper) and OUT_DUMP with .abi for .dump (abidw): how the
#          abi/libvmmem-<version>.{dump,abi} baselines are made;
#   check: three independent comparisons with the baseline, each of which fails the check:
#          1. abi-compliance-checker on both dumps after abi/normalize-dump.pl has dropped
#             what describes a function body (parameter registers and stack slots, source
#             lines): any binary or source compatibility problem (WORK_DIR/compat_reports/);
#          2. abidiff against BASELINE_DUMP's .abi twin: any change but added functions;
#          (1 and 2 skip opaque handle types: declared but not defined in public headers,
#          and let the provider tables grow at the end, as docs/ABI.md allows)
#          3. every baseline symbol still exported under the same version node;
#          4. every public enum value and numeric flag of the baseline unchanged
#             (abi/constants.py; the tools above do not see enums no signature names).
# Exit status: 0 compatible, 1 an incompatibility, 2 the check itself failed (build, tool
# error), 77 a tool is not installed. CC picks the compiler (default cc).
set -euo pipefail

mode=${1:-} src=${2:-} work=${3:-} dump_arg=${4:-}
if [[ ! $mode =~ ^(dump|check)$ || -z $src || -z $work || -z $dump_arg ]]; then
  echo "usage: $0 dump|check SOURCE_DIR WORK_DIR DUMP" >&2
  exit 1
fi
need=(abi-dumper abidw)
[[ $mode == check ]] && need+=(abi-compliance-checker abidiff)
for tool in "${need[@]}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "abi-check: $tool is not installed" \
         "(apt-get install abi-dumper abi-compliance-checker abigail-tools)"
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
  { cat "$work/configure.log"; exit 2; }
cmake --build "$build" --target vmmem >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 2; }
lib=$(find "$build" -name 'libvmmem.so.*.*.*' -type f | head -n 1)
[[ -n $lib ]] || { echo "abi-check: no libvmmem.so.X.Y.Z under $build"; exit 2; }
version=${lib##*/libvmmem.so.}

# 2. The public headers as installed: include/ plus the generated vmmem/version.h.
headers=$work/include
rm -rf "$headers"
mkdir -p "$headers/vmmem"
cp "$src/include/vmmem.h" "$headers/"
cp "$src"/include/vmmem/*.h "$headers/vmmem/"
cp "$build/include/vmmem/version.h" "$headers/vmmem/"

# 3. Dump, with both tools.
if [[ $mode == dump ]]; then
  out=$dump_arg
else
  out=$work/libvmmem-current.dump
fi
abi_out=${out%.dump}.abi
consts_out=${out%.dump}.constants
abi-dumper "$lib" -o "$out" -lver "$version" -public-headers "$headers" >"$work/dump.log" 2>&1 ||
  { cat "$work/dump.log"; exit 2; }
abidw --headers-dir "$headers" --drop-private-types --no-corpus-path "$lib" \
  --out-file "$abi_out" >"$work/abidw.log" 2>&1 || { cat "$work/abidw.log"; exit 2; }
python3 "$(dirname "$0")/constants.py" "$headers" "${CC:-cc}" >"$consts_out" || exit 2
if [[ $mode == dump ]]; then
  echo "abi-check: ABI of libvmmem $version dumped to $out, $abi_out and $consts_out"
  exit 0
fi

baseline=$dump_arg
baseline_abi=${baseline%.dump}.abi

# Opaque handles (struct NAME; in a public header, defined only inside the library) are not
# ABI: callers hold pointers and never see their layout. The debug info still describes
# them, so both tools are told to skip them; a public struct (defined in a header) is
# checked field by field as before.
declared=$(grep -hoE '^struct [a-z_0-9]+;' "$headers"/vmmem.h "$headers"/vmmem/*.h |
  sed 's/^struct //; s/;$//' | sort -u)
defined=$(grep -hoE '^struct [a-z_0-9]+ \{' "$headers"/vmmem.h "$headers"/vmmem/*.h |
  sed 's/^struct //; s/ {$//' | sort -u)
opaque=$(comm -23 <(echo "$declared") <(echo "$defined"))
: >"$work/opaque.acc"
: >"$work/opaque.supp"
for name in $opaque; do
  echo "struct $name" >>"$work/opaque.acc"
  printf '[suppress_type]\n  type_kind = struct\n  name = %s\n' "$name" >>"$work/opaque.supp"
done
echo "abi-check: opaque types, not compared:" $opaque
baseline_consts=${baseline%.dump}.constants
for f in "$baseline" "$baseline_abi" "$baseline_consts"; do
  [[ -f $f ]] || { echo "abi-check: no baseline $f"; exit 2; }
done
status=0

# 4a. abi-compliance-checker over the normalised dumps: 0 compatible, 1 incompatible.
here=$(cd "$(dirname "$0")" && pwd)
perl "$here/normalize-dump.pl" "$baseline" "$work/baseline.norm.dump" || exit 2
# The provider tables are size-prefixed and append-only (docs/ABI.md): a member added at
# the end is what a minor release may do. Both tools see today's tables cut back to the
# baseline's members when those are an exact prefix (normalize-dump.pl, trim-tables.py),
# so a member moved, resized or inserted elsewhere is still reported by both.
tables="vmmem_provider_desc vmmem_provider_ops vmmem_core_api vmmem_provider_params vmmem_mapping"
# shellcheck disable=SC2086 # $tables is a word list
perl "$here/normalize-dump.pl" "$out" "$work/current.norm.dump" "$baseline" $tables \
  >"$work/appended.list" || exit 2
while read -r name; do
  echo "abi-check: $name grew at the end only (allowed for provider tables)"
done <"$work/appended.list"
rc=0
(cd "$work" && abi-compliance-checker -l vmmem -old "$work/baseline.norm.dump" \
  -new "$work/current.norm.dump" -skip-types "$work/opaque.acc" >"$work/acc.log" 2>&1) || rc=$?
case $rc in
  0) echo "abi-check: abi-compliance-checker: compatible" ;;
  1) echo "abi-check: abi-compliance-checker: INCOMPATIBLE; report under $work/compat_reports/"
     grep -E "problems|Problems|Verdict|Binary|Source" "$work/acc.log" | sed 's/^/  /'
     status=1 ;;
  *) cat "$work/acc.log"; echo "abi-check: abi-compliance-checker failed (exit $rc)"; exit 2 ;;
esac

# 4b. abidiff: exit bits 1 error, 2 usage, 4 ABI change, 8 incompatible change. Added
# functions and variables are what a minor release may bring, so they are not reported.
rc=0
# shellcheck disable=SC2086 # $tables is a word list
python3 "$here/trim-tables.py" "$baseline_abi" "$abi_out" "$work/current.trimmed.abi" \
  $tables >/dev/null || exit 2
abidiff --no-added-syms --suppressions "$work/opaque.supp" \
  --headers-dir1 "$headers" --headers-dir2 "$headers" \
  "$baseline_abi" "$work/current.trimmed.abi" >"$work/abidiff.log" 2>&1 || rc=$?
if (( rc & 3 )); then
  cat "$work/abidiff.log"; echo "abi-check: abidiff failed (exit $rc)"; exit 2
elif (( rc )); then
  echo "abi-check: abidiff: INCOMPATIBLE (exit $rc); full report in $work/abidiff.log"
  sed -n '1,40p' "$work/abidiff.log" | sed 's/^/  /'
  status=1
else
  echo "abi-check: abidiff: compatible"
fi

# 4c. Symbol versions: binaries record symbol@NODE, so every baseline symbol must still be
# exported in the same node (abi/libvmmem.map: never move or remove one).
perl -e 'our $VAR1; do $ARGV[0] or die "$ARGV[0]: $@"; print "$_\n" for sort values %{$VAR1->{SymbolVersion}}' \
  "$(cd "$(dirname "$baseline")" && pwd)/$(basename "$baseline")" | sed 's/@@*/@/' | sort -u \
  >"$work/baseline.versions" ||
  exit 2
readelf --dyn-syms --wide "$lib" | awk '$7 != "UND" && $8 ~ /@/ { print $8 }' | sed 's/@@*/@/' |
  sort -u >"$work/current.versions"
missing=$(comm -23 "$work/baseline.versions" "$work/current.versions")
if [[ -n $missing ]]; then
  echo "abi-check: symbol versions: INCOMPATIBLE; baseline symbols not exported in their node:"
  echo "$missing" | sed 's/^/  /'
  status=1
else
  echo "abi-check: symbol versions: every baseline symbol in its node"
fi

# 4d. Public integer constants (enum values, flags): the tools above do not see enums that
# no function signature names, and binaries carry these values as literals.
changed=$(comm -23 <(sort "$baseline_consts") <(sort "$consts_out"))
if [[ -n $changed ]]; then
  echo "abi-check: constants: INCOMPATIBLE; baseline values missing or changed:"
  echo "$changed" | while read -r name value; do
    now=$(awk -v n="$name" '$1 == n { print $2 }' "$consts_out")
    echo "  $name: $value in the baseline, ${now:-gone} now"
  done
  status=1
else
  echo "abi-check: constants: every baseline value unchanged"
fi

if (( status )); then
  echo "abi-check: libvmmem $version is INCOMPATIBLE with $baseline"
else
  echo "abi-check: libvmmem $version is binary and source compatible with $baseline"
fi
exit $status
