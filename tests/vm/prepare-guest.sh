#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# prepare-guest.sh OUTDIR: build the tiny test guest the VM tests boot under QEMU (TCG).
#
#   OUTDIR/vmlinuz            Debian's cloud kernel (linux-image-cloud-amd64's real package)
#   OUTDIR/initramfs.cpio.gz  busybox-static + the virtio modules + tests/vm/guest-init.sh as
#                             /init (+ vmtest-io, a static benchmark helper, if a C compiler
#                             can build it)
#   OUTDIR/guest.env          what was built (kernel version, modules, helper)
#
# The packages are fetched with `apt-get download` and unpacked with `dpkg -x` (nothing is
# installed). Idempotent: a second run with the same inputs does nothing (no apt access).
#
# Exit codes: 0 ready; 77 the packages cannot be had (no apt lists, no archive, no apt at
# all): the VM tests skip; anything else is an error.
#
# Environment: CC (default cc) builds the helper; VMTEST_KERNEL_PKG overrides the kernel
# image package (default: what linux-image-cloud-amd64 depends on); VMTEST_NO_APT_UPDATE=1
# never runs `apt-get update` (by default it runs once, as root, if apt has no lists).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
log() { echo "prepare-guest: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }

# Everything that shapes the result; a change rebuilds the initramfs.
inputs_hash() {
  cat "$here/prepare-guest.sh" "$here/guest-init.sh" "$here/vmtest-io.c" | sha256sum | cut -c1-16
}
want_hash=$(inputs_hash)
if [ -f "$out/guest.env" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] &&
   grep -qx "INPUTS=$want_hash" "$out/guest.env"; then
  log "up to date in $out ($(grep '^KERNEL_VERSION=' "$out/guest.env"))"
  exit 0
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  skip "no apt-get/dpkg on this machine"
fi
command -v cpio >/dev/null || skip "cpio is not installed (apt-get install cpio)"

# --- resolve and download the packages -------------------------------------------------------
apt_updated=0
apt_update_once() {
  [ "$apt_updated" = 0 ] || return 1
  apt_updated=1
  [ "${VMTEST_NO_APT_UPDATE:-0}" = 1 ] && return 1
  [ "$(id -u)" = 0 ] || return 1
  log "apt-get update"
  apt-get update -qq >&2 || return 1
}

resolve_kernel_pkg() {
  if [ -n "${VMTEST_KERNEL_PKG:-}" ]; then echo "$VMTEST_KERNEL_PKG"; return; fi
  apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1
}

kpkg=$(resolve_kernel_pkg || true)
if [ -z "$kpkg" ]; then
  apt_update_once || true
  kpkg=$(resolve_kernel_pkg || true)
fi
if [ -z "$kpkg" ]; then
  # Offline but a previous run left a kernel package: use it.
  kpkg=$(find "$out/debs" -maxdepth 1 -name 'linux-image-*-cloud-amd64_*.deb' 2>/dev/null |
         sort | tail -n1 | xargs -r basename | sed 's/_.*//')
  [ -n "$kpkg" ] || skip "cannot resolve linux-image-cloud-amd64 (no apt lists for Debian's archive?)"
fi
log "kernel package: $kpkg"

mkdir -p "$out/debs"
# apt's _apt sandbox user must be able to write there, or apt warns (harmlessly).
chmod 0777 "$out/debs" 2>/dev/null || true
download() { # PKG: a PKG_*.deb in debs/
  local pkg=$1
  compgen -G "$out/debs/${pkg}_*.deb" >/dev/null && return 0
  (cd "$out/debs" && apt-get download -q "$pkg" >&2)
}
if ! download "$kpkg"; then
  # Stale apt lists name a kernel the archive no longer has: update, resolve again.
  apt_update_once || skip "apt-get download $kpkg failed"
  kpkg=$(resolve_kernel_pkg || true)
  [ -n "$kpkg" ] || skip "cannot resolve linux-image-cloud-amd64 after apt-get update"
  download "$kpkg" || skip "apt-get download $kpkg failed"
fi
if ! download busybox-static; then
  apt_update_once || skip "apt-get download busybox-static failed"
  download busybox-static || skip "apt-get download busybox-static failed"
fi
kdeb=$(ls "$out/debs/${kpkg}"_*.deb | sort | tail -n1)
bdeb=$(ls "$out/debs/busybox-static"_*.deb | sort | tail -n1)

# --- unpack ----------------------------------------------------------------------------------
rm -rf "$out/kernel" "$out/busybox" "$out/root"
mkdir -p "$out/kernel" "$out/busybox"
dpkg -x "$kdeb" "$out/kernel"
dpkg -x "$bdeb" "$out/busybox"
vmlinuz=$(ls "$out"/kernel/boot/vmlinuz-* | head -n1)
kver=${vmlinuz##*/vmlinuz-}
moddir="$out/kernel/lib/modules/$kver"
config="$out/kernel/boot/config-$kver"
[ -d "$moddir" ] || { log "no modules directory for $kver"; exit 1; }
[ -x "$out/busybox/bin/busybox" ] || { log "busybox-static has no bin/busybox"; exit 1; }

# --- modules: virtio_pci + virtio_blk and what they depend on, in dependency order ------------
# Built-in drivers (modules.builtin or =y in the config) are skipped. Compressed modules are
# decompressed: busybox's insmod (without the module-compression feature) wants plain ELF.
mkdir -p "$out/root/lib/modules"
declare -A modpath=() state=()
while IFS= read -r -d '' f; do
  name=${f##*/}; name=${name%%.ko*}; name=${name//-/_}
  modpath[$name]=$f
done < <(find "$moddir" -name '*.ko' -print0 -o -name '*.ko.xz' -print0 -o -name '*.ko.zst' -print0 \
         -o -name '*.ko.gz' -print0)
is_builtin() {
  local n=$1
  grep -qE "/${n}\.ko$" "$moddir/modules.builtin" 2>/dev/null && return 0
  local cfg
  case $n in
    virtio) cfg=CONFIG_VIRTIO ;; virtio_ring) cfg=CONFIG_VIRTIO ;;
    virtio_pci) cfg=CONFIG_VIRTIO_PCI ;; virtio_blk) cfg=CONFIG_VIRTIO_BLK ;;
    virtio_pci_modern_dev) cfg=CONFIG_VIRTIO_PCI_LIB ;;
    virtio_pci_legacy_dev) cfg=CONFIG_VIRTIO_PCI_LIB_LEGACY ;;
    *) return 1 ;;
  esac
  grep -qx "$cfg=y" "$config" 2>/dev/null
}
plain_ko() { # SRC DEST: copy, decompressing if needed
  case $1 in
    *.ko) cp "$1" "$2" ;;
    *.ko.xz) xz -dc "$1" >"$2" ;;
    *.ko.zst) zstd -qdc "$1" >"$2" ;;
    *.ko.gz) gzip -dc "$1" >"$2" ;;
  esac
}
order=()
visit() { # NAME: depth-first, dependencies first
  local n=${1//-/_}
  [ "${state[$n]:-}" = "done" ] && return 0
  [ "${state[$n]:-}" = busy ] && { log "module dependency cycle at $n"; exit 1; }
  if [ -z "${modpath[$n]:-}" ]; then
    if is_builtin "$n"; then state[$n]="done"; log "module $n: built in"; return 0; fi
    log "module $n: not found in $kver and not built in"; exit 1
  fi
  state[$n]=busy
  local ko="$out/root/lib/modules/$n.ko" deps d
  plain_ko "${modpath[$n]}" "$ko"
  deps=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | head -n1)
  for d in ${deps//,/ }; do visit "$d"; done
  state[$n]="done"
  order+=("$n")
}
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
  if [ -n "${modpath[$m]:-}" ]; then visit "$m"
  elif is_builtin "$m"; then log "module $m: built in"
  elif [ "$m" = virtio_pci_legacy_dev ] || [ "$m" = virtio_pci_modern_dev ]; then
    : # older kernels have no separate pci library modules
  else log "module $m: not found and not built in"; exit 1
  fi
done
printf '%s\n' "${order[@]}" >"$out/root/lib/modules/order"
log "modules (load order): ${order[*]:-none (all built in)}"

# --- the benchmark helper (optional) ---------------------------------------------------------
helper=none
cc=${CC:-cc}
if command -v "$cc" >/dev/null &&
   "$cc" -static -O2 -Wall -o "$out/vmtest-io" "$here/vmtest-io.c" 2>"$out/vmtest-io.log"; then
  helper=vmtest-io
else
  log "note: could not build the static vmtest-io helper (see $out/vmtest-io.log);" \
      "the bench scenario falls back to dd"
  rm -f "$out/vmtest-io"
fi

# --- initramfs -------------------------------------------------------------------------------
r=$out/root
mkdir -p "$r/bin" "$r/sbin" "$r/dev" "$r/proc" "$r/sys" "$r/tmp" "$r/etc"
cp "$out/busybox/bin/busybox" "$r/bin/busybox"
for app in $("$r/bin/busybox" --list); do
  [ "$app" = busybox ] || ln -sf busybox "$r/bin/$app"
done
[ "$helper" = none ] || cp "$out/vmtest-io" "$r/bin/vmtest-io"
install -m 0755 "$here/guest-init.sh" "$r/init"
# init's stdio is /dev/console; as root make the node (else /init redirects to it once
# devtmpfs is mounted).
mknod -m 600 "$r/dev/console" c 5 1 2>/dev/null || true
(cd "$r" && find . -print | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -6 \
  >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
cp "$vmlinuz" "$out/vmlinuz"
cat >"$out/guest.env" <<EOF
INPUTS=$want_hash
KERNEL_PACKAGE=$kpkg
KERNEL_VERSION=$kver
BUSYBOX_DEB=${bdeb##*/}
MODULES=${order[*]:-}
HELPER=$helper
EOF
log "ready: $out/vmlinuz $out/initramfs.cpio.gz ($(du -k "$out/initramfs.cpio.gz" | cut -f1) KiB)," \
    "kernel $kver, helper: $helper"
