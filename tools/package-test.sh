#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# The release as a distribution sees it (issue 16, docs/RELEASING.md), from the commit
# checked out:
#   1. the source tarball (tools/release-tarball.sh), unpacked in a scratch directory;
#   2. dpkg-buildpackage -us -uc -b there: an out-of-tree CMake build (debian/build), the
#      unit/tool/install suites, the symbols file checked exactly against the exports;
#   3. lintian on the result: no error, no warning (overrides only with a reason);
#   4. the three .debs unpacked with dpkg -x into a scratch root (no chroot, no install);
#   5. a consumer compiled against that root twice, with pkg-config and with the CMake
#      package, and run; the installed vmmem tool run; the man pages checked with man;
#   6. the dependencies dpkg-shlibdeps recorded from the symbols file.
# usage: tools/package-test.sh [WORKDIR]   (default: a new directory under /tmp, removed
#                                          on success)
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$(mktemp -d /tmp/vmmem-package.XXXXXX)}
keep=${1:+1}
version=$(head -n1 "$src/VERSION")
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
jobs=$(nproc 2>/dev/null || echo 2)
step() { printf '\n=== package-test: %s\n' "$*"; }
die() { printf 'package-test: FAIL: %s\n' "$*" >&2; exit 1; }

step "source tarball"
tarball=$("$src/tools/release-tarball.sh" "$work")
umask 022
tar -C "$work" --no-same-permissions -xJf "$tarball"
tree="$work/libvmmem-$version"
[ -f "$tree/debian/control" ] || die "the tarball has no debian/ directory"

step "dpkg-buildpackage -us -uc -b (with the package's test suites)"
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=$jobs" dpkg-buildpackage -us -uc -b) \
	>"$work/build.log" 2>&1 || { tail -n 60 "$work/build.log"; die "dpkg-buildpackage failed (log: $work/build.log)"; }
grep -E "tests passed|tests failed" "$work/build.log" || true
changes=$(ls "$work"/libvmmem_"$version"_*.changes)
debs=("$work"/libvmmem1_"$version"_*.deb "$work"/libvmmem-dev_"$version"_*.deb
      "$work"/vmmem-tools_"$version"_*.deb)
for d in "${debs[@]}"; do [ -f "$d" ] || die "missing package $d"; done

step "lintian (errors and warnings fail)"
lintian --fail-on error,warning --info "$changes" | tee "$work/lintian.log"

step "dpkg -x into a scratch root"
root="$work/root"
for d in "${debs[@]}"; do dpkg -x "$d" "$root"; done
libdir="$root/usr/lib/$arch"
for f in "$libdir/libvmmem.so.1" "$libdir/libvmmem.so" "$libdir/pkgconfig/vmmem.pc" \
	"$libdir/cmake/vmmem/vmmemConfig.cmake" "$root/usr/include/vmmem.h" \
	"$libdir/vmmem/libvmmem-anon.so" "$libdir/vmmem/libvmmem-memfd.so" \
	"$libdir/vmmem/libvmmem-hugetlbfs.so" "$libdir/vmmem/libvmmem-file.so" \
	"$root/usr/bin/vmmem" "$root/usr/bin/vmmem-vhost-user-blk"; do
	[ -e "$f" ] || die "not in the packages: ${f#"$root"}"
done
for p in man1/vmmem.1 man1/vmmem-vhost-user-blk.1 man3/libvmmem.3 man5/vmmem-config.5 \
	man7/vmmem-provider.7; do
	[ -e "$root/usr/share/man/$p.gz" ] || die "man page not in the packages: $p"
done

step "a consumer built with pkg-config against the scratch root"
export LD_LIBRARY_PATH="$libdir"
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR= \
	pkg-config --cflags --libs vmmem)
cc -Wall -Wextra -Werror -o "$work/consumer-pc" "$src/tests/package/consumer.c" $flags
"$work/consumer-pc"

step "a consumer built with the CMake package of the scratch root"
cmake -S "$src/tests/package" -B "$work/consumer-cmake" -DCMAKE_PREFIX_PATH="$root/usr" \
	-DCMAKE_FIND_ROOT_PATH="$root" >"$work/consumer-cmake.log" 2>&1 ||
	{ cat "$work/consumer-cmake.log"; die "configuring the CMake consumer failed"; }
cmake --build "$work/consumer-cmake" >>"$work/consumer-cmake.log" 2>&1 ||
	{ cat "$work/consumer-cmake.log"; die "building the CMake consumer failed"; }
"$work/consumer-cmake/consumer"

step "the installed tool and man pages"
"$root/usr/bin/vmmem" --version | grep -qx "vmmem $version" || die "vmmem --version is not $version"
"$root/usr/bin/vmmem" providers --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
names = sorted(p["name"] for p in d["providers"])
assert names == ["anon", "file", "hugetlbfs", "memfd"], names
assert all("/vmmem/libvmmem-" in p["file"] for p in d["providers"]), d
print("providers from the packaged plugin directory:", " ".join(names))'
for p in man1/vmmem.1 man1/vmmem-vhost-user-blk.1 man3/libvmmem.3 man5/vmmem-config.5 \
	man7/vmmem-provider.7; do
	warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 \
		"$root/usr/share/man/$p.gz" 2>&1 >/dev/null)
	[ -z "$warnings" ] || die "man --warnings on $p: $warnings"
done
echo "5 man pages render without warnings"

step "dependencies from the symbols file"
deps=$(dpkg-deb -f "$(ls "$work"/vmmem-tools_"$version"_*.deb)" Depends)
echo "vmmem-tools Depends: $deps"
[[ $deps =~ libvmmem1\ \(\>=\ 1\.[01]\.0\) ]] || die "vmmem-tools does not depend on a versioned libvmmem1"

echo
echo "package-test: all passed ($work)"
[ -n "$keep" ] || rm -rf "$work"
