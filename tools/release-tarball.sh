#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Write the source tarball of the commit checked out: libvmmem-VERSION.tar.xz, every tracked
# file under libvmmem-VERSION/ (git archive: no build trees, no untracked files).
#
# Modes are 0644/0755 (tar.umask 0022): the provider loader refuses plugins under a directory
# that group or others may write, so a tree unpacked from a group-writable tarball fails.
# usage: tools/release-tarball.sh [OUTDIR]     (default: the current directory)
# Also the CMake target `dist` (writes into the build directory). docs/RELEASING.md.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-.}
version=$(head -n1 "$src/VERSION")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "release-tarball: bad VERSION '$version'" >&2; exit 1; }
git -C "$src" rev-parse --verify -q HEAD >/dev/null ||
	{ echo "release-tarball: $src is not a git checkout with a commit" >&2; exit 1; }
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
	echo "release-tarball: warning: uncommitted changes are not in the tarball" >&2
fi
mkdir -p "$out"
tarball="$(cd "$out" && pwd)/libvmmem-$version.tar.xz"
git -C "$src" -c tar.umask=0022 archive --format=tar --prefix="libvmmem-$version/" HEAD | xz -9 >"$tarball"
echo "$tarball"
