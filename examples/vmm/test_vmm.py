#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""End-to-end tests of vmmem-vmm against the real KVM API with the project's payloads.

usage: test_vmm.py CASE VMM PAYLOAD_DIR      CASE: hello, smp, dirty, errors
Exit: 0 passed, 1 failed, 77 skipped (no usable /dev/kvm: the only reason to skip;
with VMMEM_REQUIRE_KVM=1, as .ci/run sets, that fails instead).
"""
import os
import re
import subprocess
import sys
import tempfile

TIMEOUT = 90


def skip_without_kvm():
    try:
        fd = os.open('/dev/kvm', os.O_RDWR)
    except OSError as e:
        if os.environ.get('VMMEM_REQUIRE_KVM') == '1':
            fail(f'/dev/kvm is not usable here ({e}), and VMMEM_REQUIRE_KVM=1 (CI) needs it')
        print(f'SKIP: /dev/kvm is not usable here: {e}')
        sys.exit(77)
    os.close(fd)


def run(vmm, *args):
    p = subprocess.run([vmm, *args], capture_output=True, text=True, timeout=TIMEOUT)
    print(f'$ vmmem-vmm {" ".join(args)}  -> exit {p.returncode}')
    if p.stdout:
        print(p.stdout, end='')
    if p.stderr:
        print('stderr: ' + p.stderr, end='')
    return p


def fail(msg):
    print(f'FAIL: {msg}')
    sys.exit(1)


def expect_ok(p):
    if p.returncode != 0:
        fail(f'exit {p.returncode}, expected 0')
    if p.stderr:
        fail('stderr is not empty')


def hello_lines(out):
    return {int(m.group(1)): m for m in re.finditer(
        r'^hello from vcpu (\d+) of (\d+): memory (\d+) bytes, stack top (\d+)$', out, re.M)}


def case_hello(vmm, payloads):
    p = run(vmm, '--payload', f'{payloads}/hello.bin')
    expect_ok(p)
    lines = hello_lines(p.stdout)
    if set(lines) != {0}:
        fail(f'expected one hello from vcpu 0, got {sorted(lines)}')
    m = lines[0]
    if (int(m.group(2)), int(m.group(3)), int(m.group(4))) != (1, 512 << 20, 0x100000):
        fail(f'boot protocol values wrong: {m.group(0)}')
    if 'all vcpus checked in' not in p.stdout:
        fail('vcpu 0 did not finish')


def case_smp(vmm, payloads):
    # Two regions from two providers; RDI is their total size.
    mem = 'anon:gpa=0,size=32M;memfd:gpa=32M,size=32M'
    p = run(vmm, '--payload', f'{payloads}/hello.bin', '--cpus', '3', '--memory', mem)
    expect_ok(p)
    lines = hello_lines(p.stdout)
    if set(lines) != {0, 1, 2}:
        fail(f'expected hellos from vcpus 0-2, got {sorted(lines)}')
    for i, m in lines.items():
        want = (3, 64 << 20, 0x100000 - i * 0x10000)
        if (int(m.group(2)), int(m.group(3)), int(m.group(4))) != want:
            fail(f'vcpu {i}: {m.group(0)}, expected of/memory/stack {want}')
    if not p.stdout.rstrip().endswith('all vcpus checked in'):
        fail('vcpu 0 did not wait for the others')


def pages_of(report_line):
    pages = set()
    for a, b in re.findall(r'0x([0-9a-f]+)-0x([0-9a-f]+)', report_line):
        pages.update(range(int(a, 16) >> 12, (int(b, 16) >> 12) + 1))
    return pages


def case_dirty(vmm, payloads):
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, 'dirty.txt')
        p = run(vmm, '--payload', f'{payloads}/dirty.bin', '--memory',
                'memfd:gpa=0,size=64M,dirty-log=on', '--dirty-report', report)
        expect_ok(p)
        with open(report) as f:
            rounds = [line for line in f.read().splitlines() if line]
    print('report:\n' + '\n'.join(rounds))
    guest = {int(m.group(1)): ([int(x) for x in m.group(2).split()], int(m.group(3)))
             for m in re.finditer(r'^round (\d) guest: ([\d ]+) device: (\d+)$', p.stdout, re.M)}
    if set(guest) != {1, 2} or len(rounds) != 2:
        fail(f'expected two rounds, got guest {sorted(guest)} and {len(rounds)} report lines')
    got = {n: pages_of(rounds[n - 1]) for n in (1, 2)}
    for n in (1, 2):
        written, device = guest[n]
        lost = sorted(set(written) - got[n])
        if lost:
            fail(f'round {n}: guest pages {lost} missing from the merged log (KVM\'s bitmap)')
        if device not in got[n]:
            fail(f'round {n}: device page {device} missing (libvmmem\'s bitmap)')
    # Get-and-clear: round 2 shows nothing round 1 wrote that round 2 did not write again:
    # the round-1 guest pages and device page, the payload, the page tables' image.
    stale = (set(guest[1][0]) | {guest[1][1]} | {0x100}) - set(guest[2][0])
    if stale & got[2]:
        fail(f'round 2 reports pages only round 1 wrote: {sorted(stale & got[2])}')
    # Round 1 also holds the VMM's own writes through libvmmem: the payload at 1 MiB.
    if 0x100 not in got[1]:
        fail('round 1 lacks the payload page the VMM wrote through libvmmem')
    if 'device write seen' not in p.stdout:
        fail('the guest did not see the device write')


def expect_error(p, status, text):
    if p.returncode != status:
        fail(f'exit {p.returncode}, expected {status}')
    lines = p.stderr.splitlines()
    if status == 1 and len(lines) != 1:
        fail(f'expected one line on stderr, got {len(lines)}')
    if not p.stderr.startswith('vmmem-vmm: ') or text not in p.stderr:
        fail(f'stderr lacks "{text}"')


def case_errors(vmm, payloads):
    hello = f'{payloads}/hello.bin'
    expect_error(run(vmm, '--payload', hello, '--kvm-device', '/nonexistent/kvm'), 1,
                 'cannot open /nonexistent/kvm')
    expect_error(run(vmm, '--payload', hello, '--kvm-device', '/dev/null'), 1,
                 'not a usable KVM device')
    expect_error(run(vmm, '--payload', hello, '--memory', 'anon:gpa=0,size=1M'), 1,
                 'does not fit in guest memory')
    expect_error(run(vmm, '--payload', hello, '--memory', 'anon:gpa=0,size=1M,bogus=1'), 1,
                 "unknown key 'bogus'")
    expect_error(run(vmm, '--payload', hello, '--memory', 'anon:gpa=1M,size=4M'), 1,
                 'must cover 0 to 1 MiB')
    # KVM itself refuses a slot past the guest-physical address width.
    expect_error(run(vmm, '--payload', hello, '--memory',
                     'anon:gpa=0,size=4M;anon:gpa=0x10000000000000,size=2M'), 1,
                 'KVM refused region 1')
    expect_error(run(vmm, '--payload', '/nonexistent/payload'), 1, 'payload /nonexistent')
    expect_error(run(vmm, '--payload', hello, '--cpus', '9'), 2, '--cpus 9')
    expect_error(run(vmm, '--payload', hello, '--cpus', '0'), 2, '--cpus 0')
    expect_error(run(vmm), 2, '--payload FILE is required')


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    case, vmm, payloads = sys.argv[1:]
    skip_without_kvm()
    {'hello': case_hello, 'smp': case_smp, 'dirty': case_dirty,
     'errors': case_errors}[case](vmm, payloads)
    print(f'PASS: {case}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
