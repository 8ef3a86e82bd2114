#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Prepare a Debian 12 machine for building and testing libvmmem:
#  1. install the packages (as root, or through sudo);
#  2. reserve huge pages and mount hugetlbfs on /dev/hugepages, so the hugetlbfs and
#     hugetlb-memfd tests run instead of skipping (needs root; skipped with a note if not).
set -euo pipefail
packages=(build-essential cmake pkg-config check valgrind clang libclang-rt-14-dev
          qemu-system-x86 cpio python3 doxygen abi-dumper abi-compliance-checker
          abigail-tools gcovr)
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-debian: installing ${missing[*]}"
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}"
else
  echo "setup-debian: all packages present"
fi

want_pages=${VMMEM_HUGEPAGES:-64}
if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then
  have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
  if [ "$have" -lt "$want_pages" ]; then
    echo "$want_pages" | "${as_root[@]}" tee /proc/sys/vm/nr_hugepages >/dev/null || true
  fi
  "${as_root[@]}" mkdir -p /dev/hugepages
  mountpoint -q /dev/hugepages || "${as_root[@]}" mount -t hugetlbfs none /dev/hugepages || true
  echo "setup-debian: huge pages: $(cat /proc/sys/vm/nr_hugepages) reserved;" \
       "hugetlbfs: $(mountpoint -q /dev/hugepages && echo mounted on /dev/hugepages || echo not mounted)"
else
  echo "setup-debian: not root: huge pages not reserved (hugetlbfs tests will skip)"
fi
