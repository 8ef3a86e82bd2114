#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""End-to-end tests of a vhost-user-blk backend with a real QEMU guest (TCG).

    harness.py [options] SCENARIO      SCENARIO: boot | io | hotplug | migration | bench

Starts the backend (qemu-storage-daemon's vhost-user-blk export, "qsd", or libvmmem's
example, "vmmem") on a fresh raw image, boots QEMU with guest RAM in a shared memfd and a
vhost-user-blk-pci disk served by the backend, drives QMP, reads the guest's marker lines
(see guest-init.sh) from the serial log and checks the image byte for byte afterwards.

Scenarios
  io         the guest hashes sectors the host seeded, writes a text pattern and random data
             (O_DIRECT, fsync) and reads both back; the host checks the hashes and that the
             whole image is exactly what it expects (no stray write)
  hotplug    the guest writes/reads in a loop; QMP object-add memory-backend-memfd + device_add
             pc-dimm (the guest onlines it as movable memory, so I/O buffers land in it),
             more I/O, device_del (the guest offlines and ejects it: DEVICE_DELETED) +
             object-del, more I/O; with the vmmem backend, its --verbose log must show one
             more ADD_MEM_REG after the plug and a REM_MEM_REG after the unplug
  migration  the guest writes/reads in a loop; QMP migrate to "exec:cat > FILE" while it
             runs (64 MiB/s: ~1.5 s, dozens of guest writes), poll query-migrate until
             completed, the source must be in postmigrate; then `cont` the source and check
             its I/O goes on (the backend gets its rings back, without the log). With the
             vmmem backend its --verbose log must show SET_LOG_BASE, and it runs with
             --check-log: its last "log check: N writes checked, M pages missing" line must
             have N > 0 (it wrote guest memory while the log was on: the loop's reads) and
             M == 0 (libvmmem marked every page it wrote). --restore instead
             quits the source and restores the file into a new QEMU on the same backend
             (reconnect, SET_VRING_BASE where the source stopped); the restored guest goes
             on and checks the loop slots through its page cache, pages only the device
             wrote: opt-in, as QEMU 7.2's TCG can itself corrupt a migrated guest (see
             run_migration)
  bench      sequential and random 4 KiB reads and writes (guest-side vmtest-io, O_DIRECT,
             queue depth 1); backend CPU time per request from /proc/PID/stat
  boot       boot and power off (smoke test)

After every scenario: the loop's ITER lines count up without gaps, the image holds exactly
the last pattern of every loop slot (and nothing else changed), QEMU's log has no line
about vhost or an error, and the backend exits 0 on SIGTERM with no sanitizer report.

Exit status: 0 pass, 1 fail, 77 skip (no qemu-system-x86_64 or qemu-storage-daemon, no
prepared guest, --backend vmmem without --backend-bin). Every wait has a deadline
(--timeout, whole scenario); on any failure or timeout every process started is killed
(they also die with the harness: PR_SET_PDEATHSIG), and the logs' tails are printed.

Environment (defaults for the options): VMTEST_BACKEND (qsd|vmmem), VMMEM_VHOST_USER_BLK
(path of vmmem-vhost-user-blk), VMTEST_GUEST_DIR, VMTEST_TIMEOUT, VMTEST_KEEP=1 (keep the
work directory), VMTEST_MIGRATION_RESTORE=1 (--restore), VMTEST_BENCH_COUNT, QEMU
(qemu-system-x86_64), QSD (qemu-storage-daemon), VMTEST_BACKEND_WRAPPER (e.g. "valgrind -q").
"""

import argparse
import ctypes
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
SECTOR = 512

# Image layout, in 512-byte sectors.
IMG_SECTORS = 131072            # 64 MiB
SEED = (0, 2048)                # seeded by the host, hashed by the guest (io)
IOPAT = (4096, 256)             # text pattern written by the guest (io)
RND = (8192, 2048)              # random data written by the guest (io)
CTL = 16384                     # control sector: the host writes VMTEST-STOP to end a loop
LOOP = (20480, 8, 64)           # loop: 8 slots of 64 sectors (32 KiB) from sector 20480
BENCH = (65536, 65536)          # bench: 32 MiB region, prefilled by the host

STOP = b"VMTEST-STOP".ljust(SECTOR, b"\0")


class Fail(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pattern(tag, it, start, count):
    """The bytes guest-init.sh's pattern() writes (TAG, iteration, first sector, sectors)."""
    out = []
    for s in range(start, start + count):
        for k in range(8):
            out.append(("VMTEST %s iter=%08d sector=%010d k=%d" % (tag, it, s, k))
                       .ljust(63).encode() + b"\n")
    return b"".join(out)


def seed_bytes(n, label=b"vmtest-seed"):
    """Deterministic pseudo-random bytes (SHA-256 in counter mode)."""
    blocks = []
    for i in range((n + 31) // 32):
        blocks.append(hashlib.sha256(label + i.to_bytes(8, "little")).digest())
    return b"".join(blocks)[:n]


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def left(self):
        return self.end - time.monotonic()

    def check(self, what):
        if self.left() <= 0:
            raise Fail(f"timeout ({self.seconds:.0f} s for the scenario) while {what}")


# --- processes ---------------------------------------------------------------------------------

_libc = None


def _child_setup():
    # Die with the harness (ctest kills only its own child on a timeout), own process group.
    try:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Proc:
    def __init__(self, name, argv, logpath, env=None):
        global _libc
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        self.name, self.argv, self.logpath = name, argv, logpath
        self.logf = open(logpath, "ab")
        self.logf.write(("+ " + " ".join(argv) + "\n").encode())
        self.logf.flush()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT, preexec_fn=_child_setup,
                                  start_new_session=True, env=env)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=max(timeout, 0.01))
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.p.poll() is None:
            for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.pid, sig)
                except ProcessLookupError:
                    break
                if self.wait(grace) is not None:
                    break
        else:
            try:  # leftovers of the group (e.g. QEMU's "exec:" shell)
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.logf.close()

    def cpu_ticks(self):
        """utime + stime of the whole process (live and exited threads), in clock ticks."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def cpu_ns_threads(self):
        """Sum of the live threads' CPU time from schedstat (ns, higher resolution)."""
        total = 0
        base = f"/proc/{self.pid}/task"
        for t in os.listdir(base):
            try:
                with open(f"{base}/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total

    def text(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


# --- QMP -------------------------------------------------------------------------------------------

class QMPError(Fail):
    pass


class QMP:
    def __init__(self, path, deadline, proc):
        self.path, self.deadline, self.proc = path, deadline, proc
        self.events, self.buf, self.next_id = [], b"", 1
        while True:
            deadline.check("connecting to QMP")
            if not proc.alive():
                raise Fail("QEMU exited before QMP was up")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                break
            except OSError:
                s.close()
                time.sleep(0.05)
        self.sock = s
        greeting = self._recv()
        if "QMP" not in greeting:
            raise Fail(f"unexpected QMP greeting {greeting}")
        self.cmd("qmp_capabilities")

    def _recv(self, timeout=None):
        end = time.monotonic() + (timeout if timeout is not None else self.deadline.left())
        while b"\n" not in self.buf:
            left = min(end - time.monotonic(), self.deadline.left())
            if left <= 0:
                raise Fail("timeout waiting for QMP")
            r, _, _ = select.select([self.sock], [], [], min(left, 0.5))
            if r:
                data = self.sock.recv(65536)
                if not data:
                    raise Fail("QMP connection closed (QEMU exited?)")
                self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None, timeout=30):
        msg = {"execute": name, "id": self.next_id}
        self.next_id += 1
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._recv(timeout)
            if "event" in r:
                self.events.append(r)
                continue
            if r.get("id") != msg["id"]:
                continue
            if "error" in r:
                raise QMPError(f"QMP {name} {args or ''}: {r['error'].get('desc', r['error'])}")
            return r.get("return")

    def wait_event(self, name, timeout, pred=None):
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name and (pred is None or pred(e)):
                    return self.events.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                r = self._recv(min(left, 1.0))
            except Fail as e:
                if "timeout" in str(e):
                    continue
                raise
            if "event" in r:
                self.events.append(r)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- serial console --------------------------------------------------------------------------

class Console:
    """Tails QEMU's serial log file and parses guest-init.sh's marker lines."""

    def __init__(self, path):
        self.path, self.off, self.partial, self.lines = path, 0, b"", []

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return
        self.off += len(data)
        data = self.partial + data
        *full, self.partial = data.split(b"\n")
        for l in full:
            self.lines.append(l.decode(errors="replace").rstrip("\r"))

    def find(self, regex, start=0):
        rx = re.compile(regex)
        for i in range(start, len(self.lines)):
            m = rx.search(self.lines[i])
            if m:
                return i, m
        return None, None

    def failure(self):
        i, m = self.find(r"VMTEST-FAIL.*|Kernel panic.*|BUG:.*|Call Trace")
        return self.lines[i] if i is not None else None

    def last_iter(self):
        it = 0
        for l in self.lines:
            m = re.search(r"VMTEST-ITER (\d+) ", l)
            if m:
                it = max(it, int(m.group(1)))
        return it

    def wait(self, regex, deadline, procs, what, start=0, poll_cb=None):
        """Wait for a line matching regex (from line index start); fail early on a guest
        failure marker or if a process in procs exits."""
        while True:
            self.poll()
            i, m = self.find(regex, start)
            if m:
                return i, m
            bad = self.failure()
            if bad:
                raise Fail(f"guest failed while {what}: {bad}")
            for p in procs:
                if not p.alive():
                    self.poll()
                    i, m = self.find(regex, start)
                    if m:
                        return i, m
                    raise Fail(f"{p.name} exited (status {p.p.returncode}) while {what}")
            if poll_cb:
                poll_cb()
            deadline.check(what)
            time.sleep(0.02)


# --- one test run ----------------------------------------------------------------------------

class Run:
    def __init__(self, opts, scenario):
        self.opts, self.scenario = opts, scenario
        self.deadline = Deadline(opts.timeout)
        base = opts.workdir or None
        self.dir = tempfile.mkdtemp(prefix=f"vmtest-{scenario}-{opts.backend}-", dir=base)
        self.procs, self.qmps = [], []
        self.img = os.path.join(self.dir, "disk.img")
        self.sock = os.path.join(self.dir, "vhost.sock")
        self.backend = None
        self.backend_stopped = False
        self.failed = True
        self.notes = []

    # -- setup
    def make_image(self):
        with open(self.img, "wb") as f:
            f.truncate(IMG_SECTORS * SECTOR)
            f.seek(SEED[0] * SECTOR)
            f.write(seed_bytes(SEED[1] * SECTOR))
            if self.scenario == "bench":
                f.seek(BENCH[0] * SECTOR)
                chunk = seed_bytes(1 << 20, b"vmtest-bench")
                for _ in range(BENCH[1] * SECTOR // len(chunk)):
                    f.write(chunk)
        with open(self.img, "rb") as f:
            self.img_orig = f.read()

    def start_backend(self, verbose=True, check_log=False):
        o = self.opts
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        if o.backend == "qsd":
            argv = [o.qsd,
                    "--blockdev", f"driver=file,node-name=file0,filename={self.img}",
                    "--blockdev", "driver=raw,node-name=disk0,file=file0",
                    "--export", "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,"
                    f"addr.path={self.sock},writable=on"]
        else:
            argv = [o.backend_bin, "--socket-path", self.sock, "--blk-file", self.img]
            if verbose:
                argv.append("--verbose")
            if check_log:
                argv.append("--check-log")
        argv += o.backend_arg
        self.backend = Proc("backend", o.backend_wrapper + argv,
                            os.path.join(self.dir, "backend.log"))
        self.procs.append(self.backend)
        while not os.path.exists(self.sock):
            if not self.backend.alive():
                raise Fail(f"backend exited (status {self.backend.p.returncode}) before "
                           "listening")
            self.deadline.check("waiting for the backend's socket")
            time.sleep(0.02)

    def start_qemu(self, name, append, incoming=False):
        o = self.opts
        qmp = os.path.join(self.dir, f"{name}.qmp")
        serial = os.path.join(self.dir, f"{name}.serial")
        # With a vIOMMU (QEMU 7.2): intel-iommu before the device it translates; the
        # backend hears of guest unmaps only through device-IOTLB invalidations, so
        # device-iotlb=on and ats=on (anchors-2026-12.md 2.3); intremap=off needs no split
        # irqchip; strict mode invalidates on every unmap.
        viommu = self.scenario == "iommu" or o.iommu
        iommu_dev = (["-device", "intel-iommu,intremap=off,caching-mode=on,device-iotlb=on"]
                     if viommu else [])
        blk_dev = "vhost-user-blk-pci,chardev=char0,num-queues=1,id=vblk0"
        if viommu:
            blk_dev += ",iommu_platform=on,ats=on,disable-legacy=on,disable-modern=off"
            append = "intel_iommu=on iommu.strict=1 " + append
        argv = [o.qemu, "-name", f"vmtest-{name}",
                "-machine", "q35,accel=tcg", "-cpu", "max", "-smp", "1",
                "-m", "256M,slots=4,maxmem=1G",
                "-object", "memory-backend-memfd,id=mem0,size=256M,share=on",
                "-numa", "node,memdev=mem0",
                "-chardev", f"socket,id=char0,path={self.sock}",
                *iommu_dev,
                "-device", blk_dev,
                "-kernel", os.path.join(o.guest_dir, "vmlinuz"),
                "-initrd", os.path.join(o.guest_dir, "initramfs.cpio.gz"),
                "-append", f"console=ttyS0 panic=-1 {'' if o.guest_verbose else 'quiet '}"
                           + append,
                "-display", "none", "-nodefaults", "-no-reboot",
                "-serial", f"file:{serial}",
                "-qmp", f"unix:{qmp},server=on,wait=off"]
        if incoming:
            argv += ["-incoming", "defer"]
        p = Proc(name, argv, os.path.join(self.dir, f"{name}.log"))
        self.procs.append(p)
        q = QMP(qmp, self.deadline, p)
        self.qmps.append(q)
        return p, q, Console(serial)

    def wait_exit(self, p, what, timeout=20):
        t = min(timeout, max(self.deadline.left(), 0.1))
        rc = p.wait(t)
        if rc is None:
            raise Fail(f"{p.name} did not exit within {t:.0f} s after {what}")
        return rc

    def check_qemu_log(self, p):
        # Behind the vIOMMU, SeaBIOS drives the disk first with the IOMMU still off; when
        # the kernel turns translation on and resets the device, QEMU itself reads the old
        # used ring's index (vhost_virtqueue_stop) through the vIOMMU and reports the fault
        # (vtd_iova_to_slpte / vtd_iommu_translate). That is QEMU's access, not the
        # backend's, so those two reports are let through under the vIOMMU.
        allow = (r"^qemu-system-x86_64: vtd_(iova_to_slpte|iommu_translate): "
                 if self.scenario == "iommu" or self.opts.iommu else None)
        bad = [l for l in p.text().splitlines()[1:]
               if re.search(r"vhost|error|fail", l, re.I)
               and not (allow and re.search(allow, l))]
        if bad:
            raise Fail(f"{p.name} reported: " + " | ".join(bad[:5]))

    def write_ctl_stop(self):
        fd = os.open(self.img, os.O_WRONLY)
        try:
            os.pwrite(fd, STOP, CTL * SECTOR)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_img(self):
        with open(self.img, "rb") as f:
            return f.read()

    def check_image(self, expected_patches):
        """The image must be the original with exactly these (sector, bytes) replaced."""
        exp = bytearray(self.img_orig)
        for sector, data in expected_patches:
            exp[sector * SECTOR:sector * SECTOR + len(data)] = data
        got = self.read_img()
        if len(got) != len(exp):
            raise Fail(f"image size changed: {len(got)} != {len(exp)}")
        if got != bytes(exp):
            exp = bytes(exp)
            c = next(c for c in range(0, len(exp), 1 << 16)
                     if got[c:c + (1 << 16)] != exp[c:c + (1 << 16)])
            off = next(i for i in range(c, len(exp)) if got[i] != exp[i])
            a = max(off - 16, 0)
            raise Fail(f"image differs from the expected content at byte {off} (sector "
                       f"{off // SECTOR}): got {got[a:off + 16]!r}, expected "
                       f"{exp[a:off + 16]!r}")

    def loop_patches(self, iters):
        start, slots, per = LOOP
        patches = []
        for slot in range(slots):
            last = max((i for i in range(1, iters + 1) if (i - 1) % slots == slot), default=0)
            if last:
                s = start + slot * per
                patches.append((s, pattern("loop", last, s, per)))
        return patches

    def check_iters(self, consoles):
        """ITER lines must count 1, 2, 3, ... without gaps across the given consoles."""
        seen = []
        for c in consoles:
            for l in c.lines:
                m = re.search(r"VMTEST-ITER (\d+) ", l)
                if m:
                    seen.append(int(m.group(1)))
        for a, b in zip(seen, seen[1:]):
            if b != a + 1:
                raise Fail(f"guest iterations jump from {a} to {b}")
        return seen

    def backend_log_count(self, regex):
        text = self.backend.text() if self.backend else ""
        return sum(1 for l in text.splitlines() if re.search(regex, l))

    def backend_log_check(self, regex, more_than=0):
        n = self.backend_log_count(regex)
        if n <= more_than:
            raise Fail(f"backend log: {n} line(s) matching /{regex}/, expected more than "
                       f"{more_than} (its --verbose log names each message it gets)")

    def log_check_counts(self):
        """(writes checked, pages missing) from the backend's last --check-log line."""
        rx = re.compile(r"log check: (\d+) writes checked, (\d+) pages missing")
        counts = [m for m in map(rx.search, self.backend.text().splitlines()) if m]
        if not counts:
            raise Fail("the backend printed no 'log check' line (was it run with --check-log?)")
        return int(counts[-1].group(1)), int(counts[-1].group(2))

    def stop_backend(self):
        """SIGTERM the backend; it must exit 0 with no sanitizer report in its log. Once it
        has, later calls do nothing."""
        b = self.backend
        if self.backend_stopped:
            return
        if b is None or not b.alive():
            if b is not None:
                raise Fail(f"the backend exited early (status {b.p.returncode})")
            return
        os.kill(b.pid, signal.SIGTERM)
        rc = b.wait(min(15, max(self.deadline.left(), 1)))
        if rc is None:
            raise Fail("the backend did not exit within 15 s of SIGTERM")
        bad = [l for l in b.text().splitlines()
               if re.search(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|WARNING: "
                            r"ThreadSanitizer|runtime error:|==\d+== ", l)]
        if bad:
            raise Fail("the backend's log has sanitizer or valgrind reports: "
                       + " | ".join(bad[:3]))
        if rc != 0:
            raise Fail(f"the backend exited with status {rc} on SIGTERM")
        self.backend_stopped = True

    def cleanup(self):
        for q in self.qmps:
            q.close()
        for p in reversed(self.procs):
            p.kill()
        keep = self.opts.keep or (self.failed and self.opts.keep_failed)
        if self.failed:
            for p in self.procs:
                tail = p.text().splitlines()[-25:]
                print(f"--- {p.name} log ({p.logpath}), last lines:")
                print("\n".join(tail))
            for name in sorted(os.listdir(self.dir)):
                if name.endswith(".serial"):
                    with open(os.path.join(self.dir, name), "rb") as f:
                        tail = f.read().decode(errors="replace").splitlines()[-30:]
                    print(f"--- guest console {name}, last lines:")
                    print("\n".join(tail))
        if keep:
            print(f"work directory kept: {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


LOOP_ARGS = "vt_loop=%d:%d:%d vt_ctl=%d" % (LOOP + (CTL,))


def run_boot(r):
    r.make_image()
    r.start_backend()
    q, qmp, con = r.start_qemu("qemu", "vmtest=boot")
    con.wait(r"VMTEST-END", r.deadline, [q], "booting")
    r.wait_exit(q, "power off")
    r.check_qemu_log(q)
    return {}


def run_io(r):
    r.make_image()
    r.start_backend()
    t0 = time.monotonic()
    q, qmp, con = r.start_qemu(
        "qemu", "vmtest=io vt_seed=%d:%d vt_wr=%d:%d vt_rnd=%d:%d" % (SEED + IOPAT + RND))
    con.wait(r"VMTEST-END", r.deadline, [q], "running the io scenario")
    rc = r.wait_exit(q, "power off")
    if con.find(r"VMTEST-OK scenario=io")[1] is None:
        raise Fail("guest did not report VMTEST-OK")
    if rc != 0:
        raise Fail(f"QEMU exited with status {rc}")
    r.check_qemu_log(q)
    # The guest read what the host seeded.
    _, m = con.find(r"VMTEST-SEED sha256=([0-9a-f]{64})")
    want = hashlib.sha256(r.img_orig[SEED[0] * SECTOR:(SEED[0] + SEED[1]) * SECTOR]).hexdigest()
    if m.group(1) != want:
        raise Fail(f"guest read the seeded sectors as sha256 {m.group(1)}, host seeded {want}")
    # What the guest wrote is in the image, byte for byte, and nothing else changed.
    pat = pattern("io", 0, IOPAT[0], IOPAT[1])
    _, m = con.find(r"VMTEST-PATTERN sha256=([0-9a-f]{64})")
    if m.group(1) != hashlib.sha256(pat).hexdigest():
        raise Fail("guest's pattern hash differs from the host's pattern")
    img = r.read_img()
    rnd = img[RND[0] * SECTOR:(RND[0] + RND[1]) * SECTOR]
    _, m = con.find(r"VMTEST-RANDOM sha256=([0-9a-f]{64})")
    if hashlib.sha256(rnd).hexdigest() != m.group(1):
        raise Fail("the random data in the image differs from what the guest wrote")
    r.check_image([(IOPAT[0], pat), (RND[0], rnd)])
    return {"guest_s": round(time.monotonic() - t0, 1)}


def run_iommu(r):
    """The io scenario behind a virtual Intel IOMMU: every ring and buffer address the
    guest hands the device is an IOVA, translated through the backend's IOTLB, filled by
    misses the backend sends and QEMU answers, emptied by the guest's strict unmaps."""
    if r.opts.backend != "vmmem":
        raise Fail("the iommu scenario needs --backend vmmem (qemu-storage-daemon's "
                   "vhost-user-blk export refuses iommu_platform=on)")
    result = run_io(r)
    con = Console(os.path.join(r.dir, "qemu.serial"))
    if r.backend_log_count(r"queue \d+ stopped: "):
        raise Fail("the backend stopped a queue (see backend.log)")
    con.poll()
    _, m = con.find(r"VMTEST-INFO iommu_groups=(\d+)")
    if not m or int(m.group(1)) == 0:
        raise Fail("the guest sees no IOMMU group: is the vIOMMU active?")
    r.stop_backend()
    rx = re.compile(r"IOTLB: (\d+) misses sent, (\d+) updates, (\d+) invalidations")
    counts = [m for m in map(rx.search, r.backend.text().splitlines()) if m]
    if not counts:
        raise Fail("the backend printed no IOTLB summary: no IOTLB message was exchanged")
    misses, updates, invals = map(int, counts[-1].groups())
    if misses == 0 or updates == 0:
        raise Fail(f"IOTLB: {misses} misses, {updates} updates: translation never happened")
    if invals == 0:
        raise Fail("IOTLB: no invalidation arrived (device-iotlb=on, ats=on and "
                   "iommu.strict=1 should make the guest's unmaps reach the backend)")
    result.update({"iommu_groups": int(m.group(1)), "iotlb_misses": misses,
                   "iotlb_updates": updates, "iotlb_invalidations": invals})
    return result


def wait_iters(r, con, procs, n, what):
    """Wait until the guest has done n more iterations than now; returns the new count."""
    target = con.last_iter() + n
    con.wait(r"VMTEST-ITER %d " % target, r.deadline, procs, what)
    return target


def finish_loop(r, q, con, consoles):
    r.write_ctl_stop()
    _, m = con.wait(r"VMTEST-OK scenario=loop iters=(\d+)", r.deadline, [q],
                    "waiting for the guest to stop its loop")
    iters = int(m.group(1))
    con.wait(r"VMTEST-END", r.deadline, [q], "powering off")
    rc = r.wait_exit(q, "power off")
    if rc != 0:
        raise Fail(f"{q.name} exited with status {rc}")
    r.check_qemu_log(q)
    seen = r.check_iters(consoles)
    if not seen or seen[0] != 1 or seen[-1] != iters:
        raise Fail(f"iterations seen {seen[:1]}..{seen[-1:]} do not end at {iters}")
    r.check_image(r.loop_patches(iters) + [(CTL, STOP)])
    return iters


def run_hotplug(r):
    r.make_image()
    r.start_backend()
    q, qmp, con = r.start_qemu("qemu", f"vmtest=loop {LOOP_ARGS} vt_online=1")
    wait_iters(r, con, [q], 2, "waiting for the guest's loop")
    blocks0 = int(con.find(r"mem_blocks=(\d+)")[1].group(1))
    size = 128 << 20
    adds0 = r.backend_log_count(r"\bADD_MEM_REG\b")
    t0 = time.monotonic()
    qmp.cmd("object-add", {"qom-type": "memory-backend-memfd", "id": "hp1", "size": size,
                           "share": True})
    qmp.cmd("device_add", {"driver": "pc-dimm", "id": "dimm1", "memdev": "hp1"})
    devs = qmp.cmd("query-memory-devices")
    dimm = [d for d in devs if d.get("data", {}).get("id") == "dimm1"]
    if not dimm:
        raise Fail(f"query-memory-devices does not list dimm1: {devs}")
    addr = dimm[0]["data"]["addr"]
    log(f"plugged 128 MiB at GPA {addr:#x}")
    # The guest sees and onlines the DIMM (ACPI), and I/O keeps working.
    start = len(con.lines)
    con.wait(r"VMTEST-ITER \d+ .*mem_blocks=%d " % (blocks0 + size // (128 << 20)),
             r.deadline, [q], "waiting for the guest to see the DIMM", start=start)
    it_plugged = wait_iters(r, con, [q], 4, "doing I/O with the DIMM plugged")
    online = con.find(r"VMTEST-INFO onlined", start)[1] is not None
    used = [int(m.group(1)) for m in
            (re.search(r"movable_used=(\d+)", l) for l in con.lines[start:]) if m]
    if r.opts.backend == "vmmem":  # the plug reached the backend as ADD_MEM_REG
        r.backend_log_check(r"\bADD_MEM_REG\b", more_than=adds0)
    rems0 = r.backend_log_count(r"\bREM_MEM_REG\b")
    qmp.cmd("device_del", {"id": "dimm1"})
    ev = qmp.wait_event("DEVICE_DELETED", min(60, max(r.deadline.left(), 1)),
                        lambda e: e.get("data", {}).get("device") == "dimm1")
    if ev is None:
        raise Fail("no DEVICE_DELETED for dimm1 (the guest did not eject the memory)")
    qmp.cmd("object-del", {"id": "hp1"})
    t_hp = time.monotonic() - t0
    con.wait(r"VMTEST-ITER \d+ .*mem_blocks=%d " % blocks0, r.deadline, [q],
             "waiting for the guest to drop the DIMM", start=len(con.lines))
    if r.opts.backend == "vmmem":
        r.backend_log_check(r"\bREM_MEM_REG\b", more_than=rems0)
    it_unplugged = wait_iters(r, con, [q], 3, "doing I/O after the unplug")
    iters = finish_loop(r, q, con, [con])
    return {"dimm_gpa": hex(addr), "guest_onlined": online,
            "guest_pages_used_in_dimm": max(used, default=0), "iters_plugged": it_plugged,
            "iters_unplugged": it_unplugged, "iters": iters,
            "hotplug_cycle_s": round(t_hp, 1)}


def run_migration(r):
    r.make_image()
    vmmem = r.opts.backend == "vmmem"
    # Our backend checks, after each guest write made while the dirty log is on, that the
    # log marks the pages written.
    r.start_backend(check_log=vmmem)
    q, qmp, con = r.start_qemu("src", f"vmtest=loop {LOOP_ARGS} vt_cache=1")
    wait_iters(r, con, [q], 3, "waiting for the guest's loop")
    state = os.path.join(r.dir, "migration.state")
    # Slow enough that the guest does several writes while RAM is being sent.
    qmp.cmd("migrate-set-parameters", {"max-bandwidth": r.opts.migrate_bandwidth << 20})
    it0 = con.last_iter()
    t0 = time.monotonic()
    qmp.cmd("migrate", {"uri": f"exec:cat > {state}"})
    info = {}
    while True:
        info = qmp.cmd("query-migrate")
        st = info.get("status")
        if st == "completed":
            break
        if st in ("failed", "cancelled"):
            raise Fail(f"migration {st}: {info.get('error-desc', info)}")
        if not q.alive():
            raise Fail("source QEMU exited during migration")
        con.poll()
        bad = con.failure()
        if bad:
            raise Fail(f"guest failed during migration: {bad}")
        r.deadline.check("migrating")
        time.sleep(0.05)
    t_mig = time.monotonic() - t0
    con.poll()
    it1 = con.last_iter()
    ram = info.get("ram", {})
    log(f"migration completed in {t_mig:.1f} s, guest iterations {it0}..{it1} during it, "
        f"{ram.get('transferred', 0) >> 20} MiB sent, dirty-sync-count "
        f"{ram.get('dirty-sync-count')}")
    if it1 - it0 < 1:
        raise Fail("the guest did no I/O while it was migrated (raise the bandwidth limit?)")
    status = qmp.cmd("query-status")
    if status.get("status") != "postmigrate":
        raise Fail(f"source state after migration: {status}")
    if r.opts.backend == "vmmem":
        r.backend_log_check(r"\bSET_LOG_BASE\b")
    result = {"migrate_s": round(t_mig, 1), "iters_during_migration": it1 - it0,
              "ram_mib": ram.get("transferred", 0) >> 20,
              "dirty_sync_count": ram.get("dirty-sync-count"),
              "state_mib": os.path.getsize(state) >> 20}
    if not r.opts.restore:
        # The source goes on (its devices restart: the backend gets its rings again, now
        # without the log) and its I/O must keep working.
        qmp.cmd("cont")
        wait_iters(r, con, [q], 3, "doing I/O after the migration (source resumed)")
        result["iters"] = finish_loop(r, q, con, [con])
    else:
        # Restore the saved state into a new QEMU on the same backend (which must take the
        # new front-end and resume the ring where the old one stopped): the guest goes on
        # with its loop, and at the end checks every slot through its page cache, whose
        # pages only the device wrote (carried over only by the backend's dirty log).
        # Not the default: QEMU 7.2's TCG loses some guest CPU writes from the dirty bitmap
        # when a migration takes more than one pass (fixed in QEMU 9.0 by "physmem: Fix
        # migration dirty bitmap coherency with TCG memory access"), so a restored TCG
        # guest can crash through no fault of the backend.
        qmp.cmd("quit")
        r.wait_exit(q, "quit")
        r.check_qemu_log(q)
        d, dqmp, dcon = r.start_qemu("dst", f"vmtest=loop {LOOP_ARGS} vt_cache=1",
                                     incoming=True)
        dqmp.cmd("migrate-incoming", {"uri": f"exec:cat {state}"})
        while True:
            st = dqmp.cmd("query-migrate").get("status")
            if st == "completed":
                break
            if st in ("failed", "cancelled"):
                raise Fail(f"incoming migration {st}")
            r.deadline.check("restoring")
            time.sleep(0.1)
        if dqmp.cmd("query-status").get("status") != "running":
            dqmp.cmd("cont")
        dcon.wait(r"VMTEST-ITER %d " % (it1 + 2), r.deadline, [d],
                  "waiting for the restored guest's loop")
        result["iters"] = finish_loop(r, d, dcon, [con, dcon])
        result["restored"] = True
        if dcon.find(r"VMTEST-CACHE ok")[1] is None:
            raise Fail("the restored guest did not check its page cache")
    if vmmem:
        # The counts are final once it has exited (it prints them on the way out).
        r.stop_backend()
        writes, missing = r.log_check_counts()
        log(f"backend log check: {writes} writes checked, {missing} pages missing")
        result["log_check_writes"], result["log_check_missing"] = writes, missing
        if writes == 0:
            raise Fail("the backend checked no write against the dirty log: it wrote no "
                       "guest memory while logging was on")
        if missing:
            raise Fail(f"the backend's log check found {missing} written page(s) not marked "
                       "in the dirty log")
    return result


def run_bench(r):
    r.make_image()
    r.start_backend(verbose=False)
    count = r.opts.bench_count
    q, qmp, con = r.start_qemu(
        "qemu", "vmtest=bench vt_bench=%d:%d vt_bcount=%d" % (BENCH + (count,)))
    hz = os.sysconf("SC_CLK_TCK")
    marks = {}
    seen = [0]

    def sample():
        # Sample the backend's CPU time at each phase marker; the guest idles 0.5 s after each.
        con.poll()
        while seen[0] < len(con.lines):
            m = re.search(r"VMTEST-PHASE (\w+) (begin|end)", con.lines[seen[0]])
            if m:
                marks[(m.group(1), m.group(2))] = (r.backend.cpu_ticks(),
                                                   r.backend.cpu_ns_threads(), time.monotonic())
            seen[0] += 1
    con.wait(r"VMTEST-END", r.deadline, [q], "running the benchmark", poll_cb=sample)
    sample()
    r.wait_exit(q, "power off")
    if con.find(r"VMTEST-OK scenario=bench")[1] is None:
        raise Fail("guest did not report VMTEST-OK")
    r.check_qemu_log(q)
    phases = {}
    for l in con.lines:
        m = re.search(r"VMTEST-BENCH mode=(\w+) bs=(\d+) count=(\d+) ns=(\d+) iops=(\d+) "
                      r"kibps=(\d+)", l)
        if not m:
            continue
        mode = m.group(1)
        b, e = marks.get((mode, "begin")), marks.get((mode, "end"))
        if not b or not e:
            raise Fail(f"missed the phase markers of {mode}")
        n = int(m.group(3))
        phases[mode] = {
            "count": n, "guest_ns": int(m.group(4)), "iops": int(m.group(5)),
            "kibps": int(m.group(6)),
            "cpu_us_per_req": (e[0] - b[0]) * 1e6 / hz / n,
            "cpu_us_per_req_threads": (e[1] - b[1]) / 1e3 / n,
            "dd_fallback": "dd=1" in l,
        }
    if set(phases) != {"seqread", "seqwrite", "randread", "randwrite"}:
        raise Fail(f"benchmark phases missing: got {sorted(phases)}")
    return {"backend": r.opts.backend, "phases": phases}


SCENARIOS = {"boot": run_boot, "io": run_io, "hotplug": run_hotplug,
             "migration": run_migration, "bench": run_bench, "iommu": run_iommu}


def main():
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--backend", choices=["qsd", "vmmem"], default=env("VMTEST_BACKEND", "qsd"))
    ap.add_argument("--backend-bin", default=env("VMMEM_VHOST_USER_BLK", ""),
                    help="vmmem-vhost-user-blk (for --backend vmmem)")
    ap.add_argument("--backend-arg", action="append", default=[],
                    help="extra argument for the backend (repeatable)")
    ap.add_argument("--backend-wrapper", default=env("VMTEST_BACKEND_WRAPPER", ""),
                    help="command prefix for the backend, e.g. 'valgrind -q'")
    ap.add_argument("--guest-dir", default=env("VMTEST_GUEST_DIR", ""),
                    help="prepare-guest.sh's output directory")
    ap.add_argument("--qemu", default=env("QEMU", "qemu-system-x86_64"))
    ap.add_argument("--qsd", default=env("QSD", "qemu-storage-daemon"))
    ap.add_argument("--timeout", type=float, default=float(env("VMTEST_TIMEOUT", "120")),
                    help="seconds for the whole scenario (default 120)")
    ap.add_argument("--workdir", default=env("VMTEST_WORKDIR", ""),
                    help="where the per-run directory goes (default: $TMPDIR)")
    ap.add_argument("--keep", action="store_true", default=env("VMTEST_KEEP") == "1")
    ap.add_argument("--keep-failed", action="store_true",
                    help="keep the work directory when the scenario fails")
    ap.add_argument("--guest-verbose", action="store_true", help="no 'quiet' for the kernel")
    ap.add_argument("--migrate-bandwidth", type=int, default=64,
                    help="migration bandwidth limit, MiB/s (default 64: about 1.5 s)")
    ap.add_argument("--restore", action="store_true",
                    default=env("VMTEST_MIGRATION_RESTORE") == "1",
                    help="migration: restore the saved state in a second QEMU instead of "
                    "resuming the source (see run_migration about QEMU 7.2 TCG)")
    ap.add_argument("--bench-count", type=int, default=int(env("VMTEST_BENCH_COUNT", "10000")),
                    help="requests per benchmark phase (default 10000)")
    ap.add_argument("--json-out", help="write the result as JSON to this file")
    ap.add_argument("--iommu", action="store_true", default=env("VMTEST_IOMMU") == "1",
                    help="put the disk behind a virtual Intel IOMMU (any scenario; the "
                    "iommu scenario always does)")
    opts = ap.parse_args()
    opts.backend_wrapper = opts.backend_wrapper.split()

    def skip(msg):
        print(f"SKIP: {msg}")
        sys.exit(SKIP)

    opts.qemu = shutil.which(opts.qemu) or skip(f"{opts.qemu} not found")
    if opts.backend == "qsd":
        opts.qsd = shutil.which(opts.qsd) or skip(f"{opts.qsd} not found")
    else:
        if not opts.backend_bin:
            skip("vmmem-vhost-user-blk is not part of this build (no --backend-bin)")
        if not os.access(opts.backend_bin, os.X_OK):
            print(f"FAIL: {opts.backend_bin} is not built")
            sys.exit(1)
    if not opts.guest_dir:
        skip("no guest directory (--guest-dir / VMTEST_GUEST_DIR)")
    for f in ("vmlinuz", "initramfs.cpio.gz"):
        if not os.path.exists(os.path.join(opts.guest_dir, f)):
            skip(f"guest not prepared: no {f} in {opts.guest_dir} (run prepare-guest.sh)")
    if opts.workdir:
        os.makedirs(opts.workdir, exist_ok=True)

    # A SIGTERM (e.g. from ctest's timeout) still cleans up.
    def on_term(sig, frame):
        raise Fail(f"killed by signal {sig}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    r = Run(opts, opts.scenario)
    t0 = time.monotonic()
    log(f"scenario {opts.scenario}, backend {opts.backend}, work directory {r.dir}")
    try:
        result = SCENARIOS[opts.scenario](r)
        r.stop_backend()
        r.failed = False
    except Fail as e:
        print(f"FAIL: {opts.scenario} with {opts.backend}: {e}")
        return 1
    finally:
        r.cleanup()
    result["scenario"], result["backend"] = opts.scenario, opts.backend
    result["wall_s"] = round(time.monotonic() - t0, 1)
    if opts.json_out:
        with open(opts.json_out, "w") as f:
            json.dump(result, f, indent=1)
    print("VMTEST-RESULT " + json.dumps(result))
    print(f"PASS: {opts.scenario} with {opts.backend} in {result['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
