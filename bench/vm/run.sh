#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# bench/vm/run.sh: the vhost-user-blk benchmark with a real QEMU guest (TCG), our backend
# (examples/vhost-user-blk, vmmem-vhost-user-blk) against qemu-storage-daemon's
# vhost-user-blk export, in one run, side by side.
#
# usage: bench/vm/run.sh [--rounds R] [--count N] [--backend-bin PATH] [--guest-dir DIR]
#                        [--out-dir DIR] [--qsd-only]
#   --rounds R     repeat the pair R times, alternating which backend goes first (ABBA),
#                  and report each figure's median over the rounds (default 3)
#   --count N      4 KiB requests per phase (default 10000)
#   --backend-bin  vmmem-vhost-user-blk (default: build/release's, else build/default's)
#   --guest-dir    the test guest (default: build/vm-guest; prepared if missing)
#   --out-dir      where the JSON results go (default: build/bench/vm)
#   --qsd-only     only qemu-storage-daemon (e.g. before our backend exists)
#
# Each run boots a fresh guest on a fresh 64 MiB raw image with the same content (the 32 MiB
# benchmark region prefilled by the host), then the guest's vmtest-io does, at queue depth 1
# with O_DIRECT: sequential read, sequential write, random read, random write (4 KiB each).
# Guest side: requests per second and KiB/s (from the guest's clock). Backend side: the
# backend process's CPU time (utime+stime of /proc/PID/stat, all threads) over each phase
# divided by the phase's requests. TCG: read the ratios, not the absolute figures.
# Goal: ours at least qemu-storage-daemon's throughput, at no more CPU per request.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
rounds=3 count=10000 backend_bin="" guest_dir=${VMMEM_VM_GUEST_DIR:-$repo/build/vm-guest}
out_dir=$repo/build/bench/vm qsd_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --backend-bin) backend_bin=$2; shift 2 ;;
    --guest-dir) guest_dir=$2; shift 2 ;;
    --out-dir) out_dir=$2; shift 2 ;;
    --qsd-only) qsd_only=1; shift ;;
    -h | --help) sed -n '3,25p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$backend_bin" ]; then
  for p in build/release build/default; do
    f=$repo/$p/examples/vhost-user-blk/vmmem-vhost-user-blk
    if [ -x "$f" ]; then backend_bin=$f; break; fi
  done
fi
backends=(qsd vmmem)
if [ "$qsd_only" = 1 ]; then
  backends=(qsd)
elif [ -z "$backend_bin" ] || [ ! -x "$backend_bin" ]; then
  echo "run.sh: vmmem-vhost-user-blk not found (build it, or --backend-bin, or --qsd-only)" >&2
  exit 1
fi

"$repo/tests/vm/prepare-guest.sh" "$guest_dir" || {
  echo "run.sh: the guest could not be prepared" >&2; exit 1; }
grep -q '^HELPER=vmtest-io$' "$guest_dir/guest.env" ||
  echo "run.sh: note: no vmtest-io helper in the guest: random phases time dd processes" >&2
mkdir -p "$out_dir"
stamp=$(date +%Y%m%d-%H%M%S)
echo "guest: $(grep -E '^(KERNEL_VERSION|HELPER)=' "$guest_dir/guest.env" | tr '\n' ' ')"
echo "qemu: $(qemu-system-x86_64 --version | head -n1); backend: ${backend_bin:-none}"
echo "rounds: $rounds, $count requests of 4 KiB per phase, queue depth 1, O_DIRECT"

results=()
for ((r = 1; r <= rounds; r++)); do
  order=("${backends[@]}")
  if [ $((r % 2)) -eq 0 ] && [ ${#backends[@]} -eq 2 ]; then order=(vmmem qsd); fi
  for b in "${order[@]}"; do
    json=$out_dir/$stamp-round$r-$b.json
    echo "--- round $r: $b"
    python3 "$repo/tests/vm/harness.py" --backend "$b" --backend-bin "$backend_bin" \
      --guest-dir "$guest_dir" --bench-count "$count" --timeout 300 --keep-failed \
      --json-out "$json" bench | grep -E '^(PASS|FAIL|SKIP)' || {
        echo "run.sh: the $b run failed" >&2; exit 1; }
    results+=("$json")
  done
done

python3 - "${results[@]}" <<'EOF'
import json, statistics, sys
runs = [json.load(open(p)) for p in sys.argv[1:]]
phases = ["seqread", "seqwrite", "randread", "randwrite"]
backends = [b for b in ("qsd", "vmmem") if any(r["backend"] == b for r in runs)]
def med(b, ph, key):
    return statistics.median(r["phases"][ph][key] for r in runs if r["backend"] == b)
print()
print("guest-side 4 KiB, QD1 (median of %d round(s)); backend CPU per request from /proc/PID/stat"
      % (len(runs) // len(backends)))
if len(backends) == 2:
    print("%-10s %12s %12s %7s   %14s %14s %7s" % ("phase", "qsd IOPS", "vmmem IOPS", "ratio",
          "qsd CPU us/req", "vmmem us/req", "ratio"))
    ok_tp = ok_cpu = True
    for ph in phases:
        qi, vi = med("qsd", ph, "iops"), med("vmmem", ph, "iops")
        qc, vc = med("qsd", ph, "cpu_us_per_req"), med("vmmem", ph, "cpu_us_per_req")
        print("%-10s %12.0f %12.0f %6.2fx   %14.1f %14.1f %6.2fx" % (
            ph, qi, vi, vi / qi, qc, vc, vc / qc if qc else float("nan")))
        ok_tp &= vi >= 0.95 * qi   # within the noise of a TCG guest on a shared machine
        ok_cpu &= vc <= 1.05 * qc
    print()
    print("throughput >= qemu-storage-daemon's (5%% noise allowance): %s" % ("yes" if ok_tp else "NO"))
    print("CPU per request <= qemu-storage-daemon's (5%% allowance):  %s" % ("yes" if ok_cpu else "NO"))
else:
    print("%-10s %12s %10s %14s" % ("phase", "IOPS", "KiB/s", "CPU us/req"))
    for ph in phases:
        print("%-10s %12.0f %10.0f %14.1f" % (ph, med("qsd", ph, "iops"), med("qsd", ph, "kibps"),
                                             med("qsd", ph, "cpu_us_per_req")))
EOF
echo "results: $out_dir/$stamp-*.json"
