#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Prepare a Debian 12 machine for building and testing libvmmem:
#  1. install the packages (as root, or through sudo);
#  2. reserve huge pages and mount hugetlbfs on /dev/hugepages, so the hugetlbfs and
#     hugetlb-memfd tests run instead of skipping (needs root; skipped with a note if not);
#  3. for the cross suites (arm64, s390x under qemu-user; docs/PORTABILITY.md): add the two
#     foreign architectures, install their cross compilers, libc/Check packages and
#     qemu-user, and register qemu-user with binfmt_misc so that test programs exec'ing
#     other target programs (peers, the example backend) run emulated too.
set -euo pipefail
packages=(build-essential cmake pkg-config check valgrind clang libclang-rt-14-dev
          qemu-system-x86 cpio python3 doxygen abi-dumper abi-compliance-checker
          abigail-tools gcovr debhelper lintian man-db xz-utils
          gcc-aarch64-linux-gnu gcc-s390x-linux-gnu qemu-user qemu-user-binfmt
          check:arm64 libsubunit-dev:arm64 check:s390x libsubunit-dev:s390x)
foreign=(arm64 s390x)
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  for arch in "${foreign[@]}"; do
    dpkg --print-foreign-architectures | grep -qx "$arch" ||
      "${as_root[@]}" dpkg --add-architecture "$arch"
  done
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

# KVM (the vmmem-vmm tests) and loop devices (check_file's block-device test): load the
# modules if their devices are missing.
if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then
  [ -e /dev/kvm ] || "${as_root[@]}" modprobe kvm_intel 2>/dev/null ||
    "${as_root[@]}" modprobe kvm_amd 2>/dev/null || true
  [ -e /dev/loop-control ] || "${as_root[@]}" modprobe loop 2>/dev/null || true
fi
echo "setup-debian: /dev/kvm: $([ -w /dev/kvm ] && echo usable || echo missing or not writable);" \
     "/dev/loop-control: $([ -e /dev/loop-control ] && echo present || echo missing)"

# binfmt_misc: qemu-user-binfmt ships the rules (/usr/lib/binfmt.d); systemd-binfmt loads
# them at boot, but a machine set up just now (or a container without systemd) needs them
# loaded by hand, and binfmt_misc mounted first.
if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then
  binfmt=/proc/sys/fs/binfmt_misc
  [ -e "$binfmt/register" ] ||
    "${as_root[@]}" mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
  for arch in aarch64 s390x; do
    [ -e "$binfmt/qemu-$arch" ] && continue
    if [ -x /lib/systemd/systemd-binfmt ]; then
      "${as_root[@]}" /lib/systemd/systemd-binfmt "/usr/lib/binfmt.d/qemu-$arch.conf" || true
    elif [ -e "$binfmt/register" ]; then
      grep '^:' "/usr/lib/binfmt.d/qemu-$arch.conf" |
        "${as_root[@]}" tee "$binfmt/register" >/dev/null || true
    fi
  done
  echo "setup-debian: binfmt_misc: $(for a in aarch64 s390x; do
    [ -e "$binfmt/qemu-$a" ] && printf 'qemu-%s ' "$a"; done)registered"
else
  echo "setup-debian: not root: binfmt_misc not set up (the cross suites need it)"
fi
