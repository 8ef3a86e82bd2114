#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# /init of the VM tests' initramfs (busybox sh). Loads the virtio modules, waits for
# /dev/vda, runs the scenario named by `vmtest=` on the kernel command line, prints marker
# lines on the console (ttyS0) and powers off. harness.py parses the markers:
#
#   VMTEST-BEGIN scenario=S           VMTEST-INFO key=value ...
#   VMTEST-SEED sha256=H sectors=A:N  VMTEST-ITER I slot=K sector=S mem_blocks=M ok
#   VMTEST-PHASE NAME begin|end ...   VMTEST-BENCH mode=... (from vmtest-io)
#   VMTEST-OK scenario=S ...          VMTEST-FAIL reason
#   VMTEST-END
#
# Parameters (kernel command line, sectors are 512 bytes):
#   vmtest=io|loop|bench|boot
#   vt_seed=A:N        io: sha256 of sectors [A, A+N) (seeded by the host)
#   vt_wr=A:N          io: write the pattern "io" iteration 0 to sectors [A, A+N)
#   vt_rnd=A:N         io: write N sectors of /dev/urandom at A, print their sha256
#   vt_loop=A:K:N      loop: K slots of N sectors from A; iteration I writes slot (I-1)%K
#   vt_ctl=S           loop: stop when sector S starts with "VMTEST-STOP" (written by the host)
#   vt_iters=I         loop: at most I iterations (default 1000000)
#   vt_secs=T          loop: at most T seconds of guest uptime (default 600)
#   vt_online=1        loop: online hot-added memory blocks (movable) every iteration
#   vt_cache=1         loop: also read each slot through the page cache after writing it
#                      (the device DMAs into page-cache pages no CPU writes), and at the
#                      end check every slot again from the page cache (no device I/O): after
#                      a migration this sees stale pages unless the backend logged its writes
#   vt_bench=A:N       bench: requests inside sectors [A, A+N)
#   vt_bcount=C        bench: requests per phase (default 2000)
#
# Pattern (host side: harness.py pattern()): every 512-byte sector S of a write of TAG at
# iteration I is 8 lines, k = 0..7, each the text
#   "VMTEST TAG iter=IIIIIIII sector=SSSSSSSSSS k=k" left-justified in 63 columns, then "\n".
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1

finish() {
  sync
  echo "VMTEST-END"
  poweroff -f
  sleep 5
}
fail() {
  echo "VMTEST-FAIL $*"
  finish
}

vmtest=boot vt_seed='' vt_wr='' vt_rnd='' vt_loop='' vt_ctl='' vt_iters=1000000 vt_secs=600
vt_online=0 vt_cache=0 vt_bench='' vt_bcount=2000
for w in $(cat /proc/cmdline); do
  case $w in
    vmtest=* | vt_*=*)
      v=${w#*=}
      case $v in *[!A-Za-z0-9:_.-]*) fail "bad parameter $w" ;; esac
      eval "${w%%=*}=\$v" ;;
  esac
done
echo "VMTEST-BEGIN scenario=$vmtest"

for m in $(cat /lib/modules/order 2>/dev/null); do
  insmod "/lib/modules/$m.ko" || fail "insmod $m"
done
n=0
while [ ! -b /dev/vda ]; do
  n=$((n + 1))
  [ $n -gt 600 ] && fail "no /dev/vda after 60 s"
  sleep 0.1
done
# Hold /dev/vda open: the last close of a block device drops its page cache (vt_cache).
exec 3</dev/vda
echo "VMTEST-INFO vda_sectors=$(cat /sys/block/vda/size) kernel=$(uname -r)" \
     "queue_hw_sectors_kb=$(cat /sys/block/vda/queue/max_hw_sectors_kb)"

split() { # A:B[:C] -> $1 $2 $3
  IFS=: read -r f1 f2 f3 <<EOF
$1
EOF
}
uptime_s() { read -r up _ </proc/uptime; echo "${up%%.*}"; }
pattern() { # TAG ITER START COUNT -> stdout
  awk -v tag="$1" -v it="$2" -v a="$3" -v n="$4" 'BEGIN {
    for (s = a; s < a + n; s++)
      for (k = 0; k < 8; k++)
        printf "%-63s\n", sprintf("VMTEST %s iter=%08d sector=%010d k=%d", tag, it, s, k) }'
}
ddw() { # FILE START: write FILE at sector START, O_DIRECT, then fsync (a FLUSH)
  dd if="$1" of=/dev/vda bs=64k seek=$(($2 * 512)) oflag=seek_bytes,direct conv=fsync \
     2>/tmp/dd.err || { cat /tmp/dd.err; return 1; }
}
ddr() { # START COUNT FILE: read COUNT sectors from START into FILE, O_DIRECT
  dd if=/dev/vda of="$3" bs=64k skip=$(($1 * 512)) count=$(($2 * 512)) \
     iflag=skip_bytes,count_bytes,direct 2>/tmp/dd.err || { cat /tmp/dd.err; return 1; }
}
ddr_cached() { # START COUNT FILE: like ddr, through the page cache
  dd if=/dev/vda of="$3" bs=64k skip=$(($1 * 512)) count=$(($2 * 512)) \
     iflag=skip_bytes,count_bytes 2>/tmp/dd.err || { cat /tmp/dd.err; return 1; }
}
mem_blocks() {
  n=0
  for b in /sys/devices/system/memory/memory*; do [ -e "$b" ] && n=$((n + 1)); done
  echo $n
}
movable() { # " movable_used=PAGES" once memory was onlined movable, else nothing
  [ "$vt_online" = 1 ] || return 0
  awk '/^Node .* zone +Movable/ { z = 1; next } /^Node/ { z = 0 }
       z && $1 == "pages" && $2 == "free" { f = $3 } z && $1 == "managed" { m = $2 }
       END { if (m > 0) printf " movable_used=%d", m - f }' /proc/zoneinfo
}
online_all() {
  for s in /sys/devices/system/memory/memory*/state; do
    [ "$(cat "$s" 2>/dev/null)" = offline ] || continue
    if echo online_movable 2>/tmp/online.err >"$s"; then
      echo "VMTEST-INFO onlined ${s%/state}"
    else
      echo "VMTEST-INFO cannot online ${s%/state}: $(cat /tmp/online.err)"
    fi
  done
}

scenario_io() {
  # Under a vIOMMU the disk's PCI function sits in an IOMMU group (DMA is translated).
  n=0
  for g in /sys/kernel/iommu_groups/*; do [ -e "$g" ] && n=$((n + 1)); done
  echo "VMTEST-INFO iommu_groups=$n"
  if [ -n "$vt_seed" ]; then
    split "$vt_seed"
    ddr "$f1" "$f2" /tmp/seed || fail "io: reading the seeded sectors"
    echo "VMTEST-SEED sha256=$(sha256sum </tmp/seed | cut -d' ' -f1) sectors=$f1:$f2"
  fi
  if [ -n "$vt_wr" ]; then
    split "$vt_wr"
    pattern io 0 "$f1" "$f2" >/tmp/pat
    ddw /tmp/pat "$f1" || fail "io: writing the pattern"
    sync
    ddr "$f1" "$f2" /tmp/back || fail "io: reading the pattern back"
    cmp -s /tmp/pat /tmp/back || fail "io: pattern read back differs"
    echo "VMTEST-PATTERN sha256=$(sha256sum </tmp/pat | cut -d' ' -f1) sectors=$f1:$f2 ok"
  fi
  if [ -n "$vt_rnd" ]; then
    split "$vt_rnd"
    dd if=/dev/urandom of=/tmp/rnd bs=512 count="$f2" 2>/dev/null || fail "io: urandom"
    ddw /tmp/rnd "$f1" || fail "io: writing random data"
    ddr "$f1" "$f2" /tmp/back || fail "io: reading random data back"
    cmp -s /tmp/rnd /tmp/back || fail "io: random data read back differs"
    echo "VMTEST-RANDOM sha256=$(sha256sum </tmp/rnd | cut -d' ' -f1) sectors=$f1:$f2 ok"
  fi
  echo "VMTEST-OK scenario=io"
}

scenario_loop() {
  [ -n "$vt_loop" ] || fail "loop: vt_loop=A:K:N missing"
  split "$vt_loop"
  start=$f1 slots=$f2 per=$f3
  deadline=$(($(uptime_s) + vt_secs))
  i=1
  while :; do
    [ "$vt_online" = 1 ] && online_all
    slot=$(((i - 1) % slots))
    s=$((start + slot * per))
    pattern loop "$i" "$s" "$per" >/tmp/pat
    ddw /tmp/pat "$s" || fail "loop: iteration $i: write"
    ddr "$s" "$per" /tmp/back || fail "loop: iteration $i: read"
    cmp -s /tmp/pat /tmp/back || fail "loop: iteration $i: read back differs"
    if [ "$vt_cache" = 1 ]; then
      ddr_cached "$s" "$per" /tmp/back || fail "loop: iteration $i: buffered read"
      cmp -s /tmp/pat /tmp/back || fail "loop: iteration $i: buffered read differs"
    fi
    echo "VMTEST-ITER $i slot=$slot sector=$s mem_blocks=$(mem_blocks)$(movable) ok"
    if [ -n "$vt_ctl" ]; then
      # bs >= the page size: busybox dd then uses a page-aligned buffer; with a smaller one
      # O_DIRECT fails and it silently falls back to a cached read.
      ctl=$(dd if=/dev/vda bs=4096 skip=$((vt_ctl * 512)) count=512 \
              iflag=skip_bytes,count_bytes,direct 2>/dev/null | head -c 11)
      [ "$ctl" = VMTEST-STOP ] && break
    fi
    [ "$i" -ge "$vt_iters" ] && break
    [ "$(uptime_s)" -ge "$deadline" ] && break
    i=$((i + 1))
  done
  if [ "$vt_cache" = 1 ]; then
    # Every slot once more through the page cache: the pages the device filled must hold
    # the slot's last pattern (on a migration target too).
    k=0
    while [ $k -lt "$slots" ] && [ $k -lt "$i" ]; do
      last=$(((i - 1) / slots * slots + k + 1))
      [ $last -gt "$i" ] && last=$((last - slots))
      s=$((start + k * per))
      pattern loop "$last" "$s" "$per" >/tmp/pat
      ddr_cached "$s" "$per" /tmp/back || fail "loop: final buffered read of slot $k"
      cmp -s /tmp/pat /tmp/back ||
        fail "loop: page cache of slot $k (iteration $last) differs: $(cmp /tmp/pat /tmp/back)"
      k=$((k + 1))
    done
    echo "VMTEST-CACHE ok slots=$k"
  fi
  echo "VMTEST-OK scenario=loop iters=$i"
}

scenario_bench() {
  [ -n "$vt_bench" ] || fail "bench: vt_bench=A:N missing"
  split "$vt_bench"
  off=$((f1 * 512)) span=$((f2 * 512))
  for mode in seqread seqwrite randread randwrite; do
    echo "VMTEST-PHASE $mode begin"
    sleep 0.5 # the host samples the backend's CPU time while the disk is idle
    if [ -x /bin/vmtest-io ]; then
      out=$(vmtest-io "$mode" /dev/vda "$off" "$span" "$vt_bcount" 4096) || fail "bench: $out"
    else # dd fallback: one process per random request, so it times fork+exec too
      t0=$(cut -d' ' -f1 /proc/uptime)
      case $mode in
        seqread) dd if=/dev/vda of=/dev/null bs=4k skip=$((off / 4096)) count="$vt_bcount" \
                   iflag=direct 2>/dev/null || fail "bench: dd" ;;
        seqwrite) dd if=/dev/zero of=/dev/vda bs=4k seek=$((off / 4096)) count="$vt_bcount" \
                    oflag=direct conv=fsync 2>/dev/null || fail "bench: dd" ;;
        randread | randwrite)
          for b in $(awk -v n="$vt_bcount" -v k=$((span / 4096)) -v o=$((off / 4096)) \
                       'BEGIN { srand(1); for (i = 0; i < n; i++) print o + int(rand() * k) }'); do
            if [ $mode = randread ]; then
              dd if=/dev/vda of=/dev/null bs=4k skip="$b" count=1 iflag=direct 2>/dev/null
            else
              dd if=/dev/zero of=/dev/vda bs=4k seek="$b" count=1 oflag=direct 2>/dev/null
            fi || fail "bench: dd"
          done ;;
      esac
      t1=$(cut -d' ' -f1 /proc/uptime)
      out=$(awk -v a="$t0" -v b="$t1" -v n="$vt_bcount" -v m="$mode" 'BEGIN {
        s = b - a; if (s <= 0) s = 0.01
        printf "VMTEST-BENCH mode=%s bs=4096 count=%d ns=%d iops=%.0f kibps=%.0f dd=1",
               m, n, s * 1e9, n / s, n * 4 / s }')
    fi
    echo "$out"
    echo "VMTEST-PHASE $mode end"
    sleep 0.5
  done
  echo "VMTEST-OK scenario=bench"
}

case $vmtest in
  boot) echo "VMTEST-OK scenario=boot" ;;
  io) scenario_io ;;
  loop) scenario_loop ;;
  bench) scenario_bench ;;
  *) fail "unknown scenario $vmtest" ;;
esac
finish
