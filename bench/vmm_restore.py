#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""Snapshot save and restore figures of vmmem-vmm (issue 21), beside the published anchors.

usage: bench/vmm_restore.py [--build DIR] [--dir SNAPDIR] [--sizes 1024,4096] [--rounds N]

For each guest size (MiB): boot payloads/ticker.bin in a memfd guest of that size (it
touches 16 MiB, then prints dots), save a snapshot on SIGUSR1, then restore it in a new
process by copy, map and lazy, N rounds each (median), with --timing. Reported per mode:
  - exec->KVM_RUN: from spawning the process to its "first KVM_RUN" line (exec, dynamic
    loading, memory restore, memslots, vCPU state), measured outside the process;
  - main->KVM_RUN and main->output: the VMM's own stamps, from main() entry to the first
    KVM_RUN and to the guest's first serial byte after the restore.
Restores run with --restore-verify off (what the anchors do: Firecracker and Cloud
Hypervisor do not checksum guest memory) and on. Prints a markdown table. Not a test: the
numbers depend on the machine; nothing is asserted.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

ANCHORS = [
    ('Firecracker, file-backed (MAP_PRIVATE) restore', '478 ms', 'anchors-2026-12 §3'),
    ('Cloud Hypervisor, 8 GiB private-map restore', '317 ms', 'anchors-2026-12 §3'),
    ('Cloud Hypervisor, 8 GiB copy restore', '55.6 s', 'anchors-2026-12 §3'),
]
STAMP = re.compile(r'timing: (.*) at ([\d.]+) ms')


def env(build):
    e = dict(os.environ)
    e['VMMEM_PROVIDER_PATH'] = os.path.join(build, 'providers')
    return e


def save(vmm, payload, size, snap, e):
    shutil.rmtree(snap, ignore_errors=True)
    p = subprocess.Popen([vmm, '--payload', payload, '--memory', f'memfd:gpa=0,size={size}M',
                          '--snapshot-dir', snap, '--timing'], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=e)
    if p.stdout.readline().strip() != 'ready':
        sys.exit('ticker did not get ready')
    p.stdout.read(3)  # a few dots: the guest is in its loop
    p.send_signal(signal.SIGUSR1)
    _, err = p.communicate(timeout=300)
    if p.returncode:
        sys.exit(f'save failed: {err}')
    st = {m.group(1): float(m.group(2)) for m in STAMP.finditer(err)}
    return st['snapshot: done'] - st['snapshot: vCPUs paused']


def restore(vmm, snap, mode, verify, e):
    t0 = time.monotonic()
    p = subprocess.Popen([vmm, '--restore', snap, '--restore-mode', mode, '--timing',
                          '--restore-verify', verify], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=e)
    st, exec_run = {}, None
    for line in p.stderr:
        m = STAMP.search(line)
        if not m:
            p.kill()
            sys.exit(f'restore failed: {line}')
        st[m.group(1)] = float(m.group(2))
        if m.group(1) == 'first KVM_RUN':
            exec_run = (time.monotonic() - t0) * 1e3
        if m.group(1) == 'first guest output':
            break
    p.kill()
    p.communicate()
    return exec_run, st['first KVM_RUN'], st['first guest output']


def fault_cost(vmm, payload, snap, rounds, e):
    """Time from the restored guest's first KVM_RUN to the end of its first full pass over
    4096 pages (toucher.bin), by copy (all resident), map (page cache, minor faults) and
    lazy without prefetch (every page a userfaultfd fault served through KVM's access)."""
    shutil.rmtree(snap, ignore_errors=True)
    p = subprocess.Popen([vmm, '--payload', payload, '--memory', 'memfd:gpa=0,size=1024M',
                          '--snapshot-dir', snap], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=e)
    for line in p.stdout:
        if line.startswith('pass 2'):
            break
    p.send_signal(signal.SIGUSR1)
    p.communicate(timeout=300)
    res = {}
    for mode, extra in (('copy', []), ('map', []), ('lazy', ['--restore-prefetch', 'off'])):
        times = []
        for _ in range(rounds):
            q = subprocess.Popen([vmm, '--restore', snap, '--restore-mode', mode, '--timing',
                                  '--restore-verify', 'off', *extra], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=e)
            for line in q.stderr:
                if 'first KVM_RUN' in line:
                    t0 = time.monotonic()
                    break
            seen = 0
            for line in q.stdout:
                if line.startswith('pass '):
                    seen += 1
                    if seen == 2:
                        times.append((time.monotonic() - t0) * 1e3)
                        break
            q.kill()
            q.communicate()
        res[mode] = statistics.median(times)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build/release')
    ap.add_argument('--dir', default='/var/tmp/vmmem-vmm-bench')
    ap.add_argument('--sizes', default='1024,4096')
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--faults-only', action='store_true')
    a = ap.parse_args()
    vmm = os.path.join(a.build, 'examples/vmm/vmmem-vmm')
    payload = os.path.join(a.build, 'examples/vmm/payloads/ticker.bin')
    e = env(a.build)
    rows = []
    fc = fault_cost(vmm, os.path.join(a.build, 'examples/vmm/payloads/toucher.bin'),
                    os.path.join(a.dir, 'faults'), a.rounds, e)
    print('first full pass over 4096 pages after restore (ms, median): ' +
          ', '.join(f'{m} {t:.1f}' for m, t in fc.items()))
    print(f'lazy fault cost through KVM: {(fc["lazy"] - fc["copy"]) * 1e3 / 4096:.1f} us per '
          f'page (lazy - copy, / 4096); map: {(fc["map"] - fc["copy"]) * 1e3 / 4096:.1f} us '
          'per page\n')
    if a.faults_only:
        return 0
    for size in (int(s) for s in a.sizes.split(',')):
        snap = os.path.join(a.dir, f'{size}M')
        os.makedirs(a.dir, exist_ok=True)
        saves = [save(vmm, payload, size, snap, e) for _ in range(a.rounds)]
        data = os.stat(os.path.join(snap, 'memory.snap')).st_blocks * 512
        rows.append((f'{size} MiB', 'save (paused → saved)', '', '', '',
                     f'{statistics.median(saves):.1f} ms, {data >> 20} MiB of data'))
        for mode in ('map', 'lazy', 'copy'):
            for verify in ('off', 'on'):
                r = [restore(vmm, snap, mode, verify, e) for _ in range(a.rounds)]
                med = [statistics.median(x[i] for x in r) for i in range(3)]
                rows.append((f'{size} MiB', f'restore {mode}, verify {verify}', f'{med[0]:.1f}',
                             f'{med[1]:.1f}', f'{med[2]:.1f}', ''))
    print('| guest | operation | exec→KVM_RUN ms | main→KVM_RUN ms | main→output ms | note |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print('| ' + ' | '.join(r) + ' |')
    print()
    print('| anchor | figure | source |')
    print('|---|---|---|')
    for r in ANCHORS:
        print('| ' + ' | '.join(r) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
