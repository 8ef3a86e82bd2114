#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""End-to-end tests of vmmem-vmm against the real KVM API with the project's payloads.

usage: test_vmm.py CASE VMM PAYLOAD_DIR [VMMEM_TOOL]
CASE: hello, smp, dirty, errors, snapshot (which needs VMMEM_TOOL, the vmmem tool)
Exit: 0 passed, 1 failed, 77 skipped (no usable /dev/kvm: the only reason to skip;
with VMMEM_REQUIRE_KVM=1, as .ci/run sets, that fails instead).
"""
import os
import re
import shutil
import signal
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


# ---- snapshot and restore -------------------------------------------------------------------

TICK = re.compile(r'^tick (\d+) checksum (\d+)$')
MEM = 'memfd:gpa=0,size=64M,dirty-log=on'


def run_until(vmm, args, last_tick, stop):
    """Start vmmem-vmm, read whole lines until tick @last_tick, then send @stop
    (SIGUSR1: snapshot and exit; SIGKILL: just end). Returns (stdout, stderr, exit)."""
    p = subprocess.Popen([vmm, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    print(f'$ vmmem-vmm {" ".join(args)}')
    out = ''
    try:
        while True:
            line = p.stdout.readline()
            if not line:
                break
            out += line
            m = TICK.match(line.strip())
            if m and int(m.group(1)) >= last_tick:
                p.send_signal(stop)
                break
        rest, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        rest, err = p.communicate()
        fail('vmmem-vmm did not finish')
    out += rest
    print(out + ('stderr: ' + err if err else '') + f'-> exit {p.returncode}')
    return out, err, p.returncode


def complete_ticks(out):
    return [(int(m.group(1)), int(m.group(2)))
            for m in (TICK.match(line) for line in out.split('\n')[:-1]) if m]


def check_continues(saved_out, restored_out, checksum, what):
    """The restored guest's output continues the saved one's exactly: the partial last
    line is completed, the next tick follows the last complete one, nothing boots."""
    if 'boot:' in restored_out:
        fail(f'{what}: the restored guest booted again')
    last = complete_ticks(saved_out)[-1][0]
    joined = saved_out[saved_out.rfind('\n') + 1:] + restored_out
    ticks = complete_ticks(joined)
    if not ticks or ticks[0][0] != last + 1:
        fail(f'{what}: expected tick {last + 1} next, got {ticks[:1]}')
    for n, (t, c) in enumerate(ticks):
        if t != last + 1 + n or c != checksum:
            fail(f'{what}: tick {t} checksum {c}, expected tick {last + 1 + n} checksum '
                 f'{checksum}')


def boot_checksum(out):
    m = re.search(r'^boot: pattern checksum (\d+)$', out, re.M)
    if not m:
        fail('no boot line')
    return int(m.group(1))


def refused(vmm, args, text, what):
    p = run(vmm, *args)
    if p.returncode != 1 or p.stdout or len(p.stderr.splitlines()) != 1 or text not in p.stderr:
        fail(f'{what}: expected exit 1, no guest output and one error line with "{text}"')


def flip_data_byte(path):
    """Flip a byte in the last data extent of a sparse snapshot file (guest data)."""
    fd = os.open(path, os.O_RDWR)
    try:
        pos, last = 0, None
        while True:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            last, pos = (start, end), end
        start, end = last
        off = start + (end - start) // 2
        b = os.pread(fd, 1, off)
        os.pwrite(fd, bytes([b[0] ^ 0x40]), off)
    finally:
        os.close(fd)


def case_snapshot(vmm, payloads, tool):
    counter = f'{payloads}/counter.bin'
    with tempfile.TemporaryDirectory() as tmp:
        full, diff, merged = (os.path.join(tmp, d) for d in ('full', 'diff', 'merged'))
        out, err, rc = run_until(vmm, ['--payload', counter, '--memory', MEM,
                                       '--snapshot-dir', full], 2, signal.SIGUSR1)
        if rc != 0 or 'snapshot saved' not in err:
            fail('the snapshot was not saved')
        checksum = boot_checksum(out)
        # --snapshot-resume: the guest goes on after the save; the snapshot restores.
        resumed = os.path.join(tmp, 'resumed')
        p = subprocess.Popen([vmm, '--payload', counter, '--memory', MEM, '--snapshot-dir',
                              resumed, '--snapshot-resume'], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        rout = ''
        for line in p.stdout:
            rout += line
            m = TICK.match(line.strip())
            if m and int(m.group(1)) == 2:
                p.send_signal(signal.SIGUSR1)
            if m and int(m.group(1)) == 4:
                break
        p.kill()
        _, err = p.communicate()
        if 'snapshot saved' not in err or not os.path.exists(f'{resumed}/vm.state'):
            fail(f'--snapshot-resume: no snapshot ({err})')
        if [t for t, _ in complete_ticks(rout)] != [1, 2, 3, 4]:
            fail('--snapshot-resume: the guest did not go on after the save')
        qout, _, _ = run_until(vmm, ['--restore', resumed], 5, signal.SIGKILL)
        if 'boot:' in qout or any(c != checksum for _, c in complete_ticks(qout)) or \
                not complete_ticks(qout):
            fail('restore of the snapshot saved with --snapshot-resume')
        # Each restore mode, in a new process.
        for mode in ('copy', 'map', 'lazy'):
            rout, _, _ = run_until(vmm, ['--restore', full, '--restore-mode', mode],
                                   complete_ticks(out)[-1][0] + 2, signal.SIGKILL)
            check_continues(out, rout, checksum, f'restore by {mode}')
        # Onto another provider with the same layout.
        rout, _, _ = run_until(vmm, ['--restore', full, '--memory',
                                     'anon:gpa=0,size=64M,dirty-log=on'],
                               complete_ticks(out)[-1][0] + 2, signal.SIGKILL)
        check_continues(out, rout, checksum, 'restore onto anon')
        # A diff of the restored guest, restored through its parent, and merged onto it.
        dout, derr, rc = run_until(vmm, ['--restore', full, '--snapshot-dir', diff,
                                         '--snapshot-diff'],
                                   complete_ticks(out)[-1][0] + 2, signal.SIGUSR1)
        if rc != 0 or '(diff' not in derr:
            fail('the diff snapshot was not saved')
        rout, _, _ = run_until(vmm, ['--restore', diff], complete_ticks(dout)[-1][0] + 2,
                               signal.SIGKILL)
        check_continues(dout, rout, checksum, 'restore of the diff')
        os.mkdir(merged)
        p = subprocess.run([tool, 'snapshot', 'merge', f'{full}/memory.snap',
                            f'{diff}/memory.snap', f'{merged}/memory.snap'],
                           capture_output=True, text=True, timeout=TIMEOUT)
        if p.returncode != 0:
            fail(f'vmmem snapshot merge: {p.stderr}')
        shutil.copy(f'{diff}/vcpus.state', merged)
        with open(f'{diff}/vm.state') as f:
            state = f.read()
        state = re.sub(r'^memory diff', 'memory full', state, flags=re.M)
        state = re.sub(r'^parent .*$', 'parent - -', state, flags=re.M)
        with open(f'{merged}/vm.state', 'w') as f:
            f.write(state)
        for mode in ('copy', 'map'):
            rout, _, _ = run_until(vmm, ['--restore', merged, '--restore-mode', mode],
                                   complete_ticks(dout)[-1][0] + 2, signal.SIGKILL)
            check_continues(dout, rout, checksum, f'restore of the merged snapshot by {mode}')
        # Refusals, each before any vCPU runs (no guest output at all).
        refused(vmm, ['--restore', full, '--memory', 'anon:gpa=0,size=32M'], 'restoring',
                'another layout')
        bad = os.path.join(tmp, 'bad')
        shutil.copytree(full, bad)
        with open(f'{bad}/vcpus.state', 'r+b') as f:
            f.seek(200)
            b = f.read(1)
            f.seek(200)
            f.write(bytes([b[0] ^ 1]))
        refused(vmm, ['--restore', bad], 'corrupted', 'corrupted vCPU state')
        shutil.rmtree(bad)
        shutil.copytree(full, bad)
        flip_data_byte(f'{bad}/memory.snap')
        for mode in ('copy', 'map', 'lazy'):
            refused(vmm, ['--restore', bad, '--restore-mode', mode], 'checksum',
                    f'corrupted memory, {mode}')
        shutil.rmtree(bad)
        shutil.copytree(full, bad)
        os.truncate(f'{bad}/memory.snap', os.path.getsize(f'{bad}/memory.snap') // 2)
        for mode in ('copy', 'map', 'lazy'):
            refused(vmm, ['--restore', bad, '--restore-mode', mode], 'memory.snap',
                    f'truncated memory, {mode}')
        os.remove(f'{bad}/vm.state')
        refused(vmm, ['--restore', bad], 'not a complete snapshot', 'no vm.state')


def main():
    if len(sys.argv) not in (4, 5):
        sys.stderr.write(__doc__)
        return 2
    case, vmm, payloads = sys.argv[1:4]
    skip_without_kvm()
    if case == 'snapshot':
        case_snapshot(vmm, payloads, sys.argv[4])
    else:
        {'hello': case_hello, 'smp': case_smp, 'dirty': case_dirty,
         'errors': case_errors}[case](vmm, payloads)
    print(f'PASS: {case}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
