#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Driver of the install tests.
#   run-install-test.sh MODE BUILD-DIR CONSUMER-SRC-DIR WORK-DIR CMAKE CC GENERATOR
# MODE tree:           install BUILD-DIR into a temporary prefix, build consumer.c with
#                      find_package (project/) and with pkg-config, run both.
# MODE two_consumers:  same install, then vmm_a execs vmm_b and they share memfd memory
#                      through the one installed libvmmem.so.
# Exit 0 pass, 77 skip (a needed tool is missing), anything else fail.
set -eu

mode=$1 build=$2 src=$3 work=$4 cmake=$5 cc=$6 generator=$7
warn="-Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wvla -Wformat=2 -Werror"
limit=120   # seconds for each step

if ! command -v timeout >/dev/null 2>&1; then
	echo "SKIP: timeout(1) not found"; exit 77
fi

mkdir -p "$work"
tmp=$(mktemp -d "$work/install-$mode.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { echo "== $*"; }

step "install $build -> $prefix"
timeout $limit "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
	{ cat "$tmp/install.log"; exit 1; }

pc=$(find "$prefix" -name vmmem.pc -path '*/pkgconfig/*' | head -n 1)
config=$(find "$prefix" -name vmmemConfig.cmake | head -n 1)
[ -n "$pc" ] || { echo "FAIL: no vmmem.pc installed"; exit 1; }
[ -n "$config" ] || { echo "FAIL: no vmmemConfig.cmake installed"; exit 1; }
[ -f "$(dirname "$config")/vmmemConfigVersion.cmake" ] ||
	{ echo "FAIL: no vmmemConfigVersion.cmake"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
for p in anon memfd hugetlbfs file; do
	[ -f "$libdir/vmmem/libvmmem-$p.so" ] ||
		{ echo "FAIL: provider $p not in $libdir/vmmem"; exit 1; }
done
[ -f "$prefix/include/vmmem.h" ] && [ -f "$prefix/include/vmmem/version.h" ] ||
	{ echo "FAIL: headers not installed"; exit 1; }

# Only the installed package may tell where the providers are.
unset VMMEM_PROVIDER_PATH
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
VMMEM_CONSUMER_EXPECT_LIBDIR=$libdir
export LD_LIBRARY_PATH VMMEM_CONSUMER_EXPECT_LIBDIR

step "configure and build the find_package consumer"
timeout $limit "$cmake" -S "$src/project" -B "$tmp/cbuild" -G "$generator" \
	-DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
	"-DVMMEM_CONSUMER_CFLAGS=$(echo $warn | tr ' ' ';')" >"$tmp/configure.log" 2>&1 ||
	{ cat "$tmp/configure.log"; exit 1; }
grep 'vmmem 1\.' "$tmp/configure.log" || true
timeout $limit "$cmake" --build "$tmp/cbuild" >"$tmp/build.log" 2>&1 ||
	{ cat "$tmp/build.log"; exit 1; }

case $mode in
tree)
	step "run the find_package consumer"
	timeout $limit "$tmp/cbuild/consumer"

	command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: pkg-config not found"; exit 77; }
	PKG_CONFIG_PATH=$libdir/pkgconfig
	export PKG_CONFIG_PATH
	providerdir=$(pkg-config --variable=providerdir vmmem)
	[ "$providerdir" = "$libdir/vmmem" ] ||
		{ echo "FAIL: providerdir=$providerdir, expected $libdir/vmmem"; exit 1; }
	step "build the pkg-config consumer (vmmem $(pkg-config --modversion vmmem))"
	# shellcheck disable=SC2046,SC2086  # word splitting of the flags is intended
	timeout $limit "$cc" -std=c11 $warn -o "$tmp/consumer-pc" "$src/consumer.c" \
		"-DVMMEM_CONSUMER_PROVIDER_DIR=\"$providerdir\"" \
		$(pkg-config --cflags --libs vmmem) -ldl
	step "run the pkg-config consumer"
	timeout $limit "$tmp/consumer-pc"
	# The prefix is not the configure-time one: with no VMMEM_PROVIDER_PATH at all, the
	# installed library must find the plugins installed next to it.
	step "run the consumer and the installed vmmem with no VMMEM_PROVIDER_PATH"
	VMMEM_CONSUMER_NO_PROVIDER_PATH=1 timeout $limit "$tmp/consumer-pc"
	timeout $limit "$prefix/bin/vmmem" providers >"$tmp/providers.out" 2>&1 ||
		{ cat "$tmp/providers.out"; exit 1; }
	for p in anon memfd hugetlbfs file; do
		grep -q "$libdir/vmmem/libvmmem-$p.so" "$tmp/providers.out" ||
			{ cat "$tmp/providers.out"; echo "FAIL: installed vmmem did not find $p"; exit 1; }
	done
	timeout $limit "$prefix/bin/vmmem" map 'anon:gpa=0,size=2M;memfd:gpa=1G,size=2M' \
		>"$tmp/map.out" 2>&1 || { cat "$tmp/map.out"; exit 1; }
	;;
two_consumers)
	step "run vmm_a + vmm_b on one installed libvmmem"
	timeout $limit "$tmp/cbuild/vmm_a" "$tmp/cbuild/vmm_b"
	;;
*)
	echo "unknown mode $mode"; exit 2
	;;
esac
echo "PASS: install_$mode"
