#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""Write the seed corpora of fuzz_options and fuzz_vhost (corpus/options/, corpus/vhost/).

The seeds are committed; run this again only after changing an input format, then commit
what it writes. Each encoder below mirrors the reader in the matching fuzz_<name>.c, so a
seed starts the fuzzer from valid, meaningful inputs instead of noise:
  options: region specs reaching the provider's create, and each kind of refusal
  vhost:   a whole front-end session (features, memory table, ring set-up, kick, log, ...)
           and virtqueues with every request type, indirect tables, loops and bad buffers
VMMEM_FUZZ_VERBOSE=1 <fuzzer> <seed> shows what an options seed builds.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- fuzz_options (tables as in fuzz_options.c) ----

VALUES = [
    "on", "off", "yes", "no", "true", "false", "On", "OFF", "1", "0", "", "0x", "0x0",
    "0X1f", "0xg", "-1", "+1", " 1", "1 ", "01", "4096", "4K", "4k", "2M", "1g", "1T", "1P",
    "0x1000", "0x10K", "1KB", "1K1", "K", "18446744073709551615", "18446744073709551616",
    "0xffffffffffffffff", "0x10000000000000000", "16777215T", "16777216T",
    "17592186044415M", "4294967295", "4294967296", "a,b", ";", "=", "hello", "x=y", "\t",
    "on,off",
]
KEYS = [
    "flag", "flagd", "bytes", "bytesd", "count", "countd", "label", "labeld", "reserve",
    "gpa", "size", "prealloc", "prealloc-threads", "dump", "merge", "readonly", "dirty-log",
    "dirty-page-size", "hugetlb", "hugetlbsize", "seal", "share", "path", "x", "gpa_",
    "Size", "", "k=v",
]
COMMON = ["gpa", "size", "prealloc", "prealloc-threads", "dump", "merge", "readonly",
          "dirty-log", "dirty-page-size"]
MODES = {"map": 0, "map_fd": 1, "error": 2, "positive": 3, "bad_len": 4, "bad_page": 5}
PROVIDERS = {"fz": 0, "bare": 4, "nosuch": 6}


def v_interesting(text, raw=False):
    return bytes([0x80 if raw else 0, VALUES.index(text)])


def v_pages(pages):
    """A number value: 4K * pages (1..64)."""
    return bytes([2, 0, pages - 1])


def v_raw(text):
    data = text.encode()
    assert len(data) < 12
    return bytes([3, len(data)]) + data


def options_seed(provider="fz", mode="map", table=None, pages=4, gpa_pages=0, items=(),
                 init_error=False):
    """items: (kind, key, value-bytes) with kind 'table' (a key of the table), 'common',
    'key' (any of KEYS) or 'raw' (value only)."""
    hdr = PROVIDERS[provider] << 1
    if table is not None:
        hdr |= 1
    if init_error:
        hdr |= 0x80
    out = bytes([hdr, MODES[mode]])
    if table is not None:
        out += bytes([len(table)])
        for key, typ, default in table:
            d = 0 if default is None else 1 | (VALUES.index(default) << 1)
            out += bytes([d, KEYS.index(key), typ])
    out += struct.pack("<H", gpa_pages) + bytes([0, pages - 1])
    for kind, key, value in items:
        if kind == "table":
            names = [t[0] for t in table] if table else KEYS[:9]
            out += bytes([0x22, names.index(key)]) + value
        elif kind == "common":
            out += bytes([5, COMMON.index(key)]) + value
        elif kind == "key":
            out += bytes([6, KEYS.index(key)]) + value
        else:
            out += bytes([7]) + value
    return out


OPTIONS_SEEDS = {
    "defaults": options_seed(),
    "every-type": options_seed(items=[
        ("table", "flag", v_interesting("on")), ("table", "bytes", v_interesting("2M")),
        ("table", "count", v_interesting("0x1000")), ("table", "label", v_raw("a,b;c")),
        ("table", "flagd", v_interesting("no")), ("table", "labeld", v_interesting("hello"))]),
    "common-keys": options_seed(mode="map_fd", items=[
        ("common", "readonly", v_interesting("on")), ("common", "dirty-log", v_interesting("on")),
        ("common", "dirty-page-size", v_interesting("0x1000")),
        ("common", "dump", v_interesting("off"))]),
    "prealloc": options_seed(pages=16, items=[
        ("common", "prealloc", v_interesting("yes")),
        ("common", "prealloc-threads", v_interesting("4096"))]),
    "reserve-conflict": options_seed(items=[
        ("common", "prealloc", v_interesting("on")), ("table", "reserve", v_interesting("off"))]),
    "unknown-key": options_seed(items=[("key", "hugetlb", v_interesting("on"))]),
    "bad-values": options_seed(items=[
        ("table", "bytes", v_interesting("18446744073709551616")),
        ("table", "count", v_interesting("4K"))]),
    "huge-numbers": options_seed(items=[
        ("table", "bytes", v_interesting("16777215T")),
        ("table", "count", v_interesting("0xffffffffffffffff"))]),
    "duplicate": options_seed(items=[
        ("table", "flag", v_interesting("on")), ("table", "flag", v_interesting("off"))]),
    "bare": options_seed(provider="bare", items=[("common", "merge", v_interesting("off"))]),
    "not-found": options_seed(provider="nosuch"),
    "create-fails": options_seed(mode="error"),
    "create-positive": options_seed(mode="positive"),
    "bad-mapping": options_seed(mode="bad_len"),
    "table-fuzzed": options_seed(
        table=[("hugetlbsize", 2, "2M"), ("share", 1, None), ("path", 4, None)],
        items=[("table", "share", v_interesting("on")), ("table", "path", v_raw("/dev/shm"))]),
    "table-invalid": options_seed(
        table=[("seal", 1, "on"), ("size", 2, None)], init_error=True),
    "table-bad-default": options_seed(table=[("seal", 1, "1")]),
}

# ---- fuzz_vhost (requests as in examples/vhost-user-blk/vhost_user.c) ----

GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE, SET_LOG_BASE = 1, 2, 3, 5, 6
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL = 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
GET_CONFIG, GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG = 24, 36, 37, 38

F_VERSION_1, F_INDIRECT, F_LOG_ALL, F_PROTOCOL = 1 << 32, 1 << 28, 1 << 26, 1 << 30
P_MQ, P_LOG_SHMFD, P_REPLY_ACK, P_CONFIG, P_MEM_SLOTS = 1, 2, 8, 1 << 9, 1 << 15

MEMFD_SEALED, MEMFD_UNSEALED, EVENTFD, PIPE = 0, 1, 2, 3
QVA = 0x7F0000000000


def fd(kind, pages=0, fill=b""):
    assert len(fill) < 256 and (not fill or pages)
    return bytes([kind | (pages << 2), len(fill)]) + fill


def msg(request, payload=b"", fds=(), need_reply=False, flags=None, size=None):
    ctl = len(fds) | (0x10 if need_reply else 0)
    out = bytearray([0, request, len(payload) & 0xFF])
    if flags is not None:
        ctl |= 0x20
        out += bytes([flags])
    if len(payload) > 255:
        ctl |= 0x40
        out += bytes([len(payload) >> 8])
    out += payload
    if size is not None:
        ctl |= 0x80
        out += struct.pack("<I", size)
    out[0] = ctl
    for f in fds:
        out += f
    return bytes(out)


def u64(v):
    return struct.pack("<Q", v)


def state(index, num):
    return struct.pack("<II", index, num)


def region(gpa, size, uaddr, offset=0):
    return struct.pack("<QQQQ", gpa, size, uaddr, offset)


def desc(addr, length, flags, nxt):
    return struct.pack("<QIHH", addr, length, flags, nxt)


NEXT, WRITE, INDIRECT = 1, 2, 4


def ring_bytes(descs, heads, desc_at=0x0, avail_at=0x40, used_at=0x80, extra=()):
    """Guest bytes from GPA 0: a descriptor table, the avail ring, and (at, bytes) pieces."""
    mem = bytearray(0xE0)
    for i, d in enumerate(descs):
        mem[desc_at + 16 * i:desc_at + 16 * i + 16] = d
    mem[avail_at:avail_at + 4] = struct.pack("<HH", 0, len(heads))
    for i, h in enumerate(heads):
        mem[avail_at + 4 + 2 * i:avail_at + 6 + 2 * i] = struct.pack("<H", h)
    for at, data in extra:
        if at + len(data) > len(mem):
            mem.extend(bytes(at + len(data) - len(mem)))
        mem[at:at + len(data)] = data
    return bytes(mem)


def blk_header(kind, sector):
    return struct.pack("<IIQ", kind, 0, sector)


# A read request: header at 0xc0, 512 bytes of data at 0x1000, status at 0xd0.
READ_CHAIN = [desc(0xC0, 16, NEXT, 1), desc(0x1000, 512, WRITE | NEXT, 2), desc(0xD0, 1, WRITE, 0)]
READ_MEM = ring_bytes(READ_CHAIN, [0], extra=[(0xC0, blk_header(0, 1))])


def session(setup_features=F_VERSION_1 | F_INDIRECT, extra=()):
    """A front-end bringing up queue 0 over one 64 KiB region holding READ_MEM."""
    msgs = [
        msg(GET_FEATURES), msg(SET_OWNER), msg(SET_FEATURES, u64(setup_features)),
        msg(SET_MEM_TABLE, struct.pack("<II", 1, 0) + region(0, 0x10000, QVA),
            fds=[fd(MEMFD_SEALED, 16, READ_MEM)]),
        msg(SET_VRING_NUM, state(0, 4)),
        msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, QVA + 0x0, QVA + 0x80, QVA + 0x40, 0)),
        msg(SET_VRING_BASE, state(0, 0)),
        msg(SET_VRING_CALL, u64(0), fds=[fd(EVENTFD)]),
        msg(SET_VRING_KICK, u64(0), fds=[fd(EVENTFD)]),
    ]
    return b"".join(msgs) + b"".join(extra)


def vhost_messages(o1, o2, body):
    return bytes([0, o1, o2]) + body


VHOST_SEEDS = {
    "msg-session": vhost_messages(0, 0, session(extra=[msg(GET_VRING_BASE, state(0, 0))])),
    "msg-session-polling": vhost_messages(0, 0, session(extra=[
        msg(SET_VRING_KICK, u64(0x100)), msg(GET_QUEUE_NUM), msg(GET_VRING_BASE, state(0, 0))])),
    "msg-protocol": vhost_messages(3, 0, b"".join([
        msg(GET_PROTOCOL_FEATURES),
        msg(SET_FEATURES, u64(F_VERSION_1 | F_PROTOCOL)),
        msg(SET_PROTOCOL_FEATURES, u64(P_MQ | P_REPLY_ACK | P_CONFIG | P_MEM_SLOTS)),
        msg(GET_QUEUE_NUM), msg(GET_MAX_MEM_SLOTS),
        msg(GET_CONFIG, struct.pack("<III", 0, 36, 0) + bytes(36)),
        msg(SET_VRING_ENABLE, state(1, 1), need_reply=True),
        msg(SET_VRING_NUM, state(9, 8), need_reply=True),
    ])),
    "msg-mem-slots": vhost_messages(3 << 3, 0, b"".join([
        msg(ADD_MEM_REG, u64(0) + region(0, 0x4000, QVA), fds=[fd(MEMFD_SEALED, 4)],
            need_reply=True),
        msg(ADD_MEM_REG, u64(0) + region(0x100000, 0x2000, QVA + 0x100000, 0x1000),
            fds=[fd(MEMFD_SEALED, 3)], need_reply=True),
        msg(ADD_MEM_REG, u64(0) + region(0x2000, 0x2000, QVA + 0x2000),
            fds=[fd(MEMFD_SEALED, 2)], need_reply=True),
        msg(REM_MEM_REG, u64(0) + region(0, 0x4000, QVA), need_reply=True),
        msg(REM_MEM_REG, u64(0) + region(0x100000, 0x2000, 0), fds=[fd(EVENTFD)]),
    ])),
    "msg-log": vhost_messages(0, 2, session(setup_features=F_VERSION_1, extra=[
        msg(SET_LOG_BASE, u64(4096) + u64(0), fds=[fd(MEMFD_SEALED, 1)]),
        msg(SET_FEATURES, u64(F_VERSION_1 | F_LOG_ALL)),
        msg(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 1, QVA, QVA + 0x80, QVA + 0x40, 0x80)),
        msg(SET_VRING_KICK, u64(0x100)),
        msg(SET_FEATURES, u64(F_VERSION_1)),
    ])),
    "msg-unsealed": vhost_messages(0, 1, b"".join([
        msg(SET_MEM_TABLE, struct.pack("<II", 2, 0) + region(0, 0x4000, QVA) +
            region(0x10000, 0x4000, QVA + 0x10000, 0x1000),
            fds=[fd(MEMFD_UNSEALED, 4), fd(MEMFD_UNSEALED, 5)]),
        msg(SET_VRING_KICK, u64(0), fds=[fd(PIPE)]),
    ])),
    "msg-malformed": vhost_messages(0, 0, b"".join([
        msg(SET_FEATURES, u64(1 << 63), need_reply=True),
        msg(SET_VRING_NUM, state(0, 3), need_reply=True),
        msg(GET_VRING_BASE, state(0, 0), flags=0x2),
        msg(SET_MEM_TABLE, struct.pack("<II", 9, 0)),
        msg(99, b"x", need_reply=True),
        msg(SET_OWNER, fds=[fd(EVENTFD)] * 9),
        msg(GET_FEATURES, size=0x10000),
    ])),
}


def vring(f, num_log2, memory, desc_at=0x0, avail=0x40, used=0x80, log_gpa=0, last_avail=0,
          rounds=1):
    return (bytes([1, f, num_log2]) + struct.pack("<IIIIH", desc_at, avail, used, log_gpa,
                                                  last_avail) + bytes([rounds - 1]) + memory)


RING_INDIRECT, RING_B_RO, RING_LOG, RING_LOG_USED, RING_DIRTY = 1, 2, 4, 8, 0x10
RING_RO_IMAGE, RING_LOGCHECK, RING_FDS = 0x20, 0x40, 0x80
B = 0x20000  # GPA of the second region

VHOST_SEEDS.update({
    "ring-read": vring(RING_FDS, 2, READ_MEM),
    "ring-write": vring(RING_DIRTY, 2, ring_bytes(
        [desc(0xC0, 16, NEXT, 1), desc(0x1000, 1024, NEXT, 2), desc(0xD0, 1, WRITE, 0)], [0],
        extra=[(0xC0, blk_header(1, 2))])),
    "ring-get-id": vring(RING_LOG | RING_LOG_USED | RING_LOGCHECK, 2, ring_bytes(
        [desc(0xC0, 16, NEXT, 1), desc(0xE0, 20, WRITE | NEXT, 2), desc(0xD0, 1, WRITE, 0)],
        [0], extra=[(0xC0, blk_header(8, 0))]), log_gpa=0x10000),
    "ring-flush-unsupp": vring(0, 3, ring_bytes(
        [desc(0xC0, 16, NEXT, 1), desc(0xD0, 1, WRITE, 0),
         desc(0xF0, 16, NEXT, 3), desc(0xD8, 1, WRITE, 0)], [0, 2],
        extra=[(0xC0, blk_header(4, 0)), (0xF0, blk_header(77, 0))])),
    "ring-indirect": vring(RING_INDIRECT, 2, ring_bytes(
        [desc(0x400, 48, INDIRECT, 0)], [0],
        extra=[(0x400, b"".join(READ_CHAIN)), (0xC0, blk_header(0, 3))])),
    "ring-loop": vring(0, 2, ring_bytes(
        [desc(0xC0, 16, NEXT, 1), desc(0xD0, 1, WRITE | NEXT, 0)], [0])),
    "ring-readonly-region": vring(RING_B_RO, 2, ring_bytes(
        [desc(0xC0, 16, NEXT, 1), desc(B, 512, WRITE | NEXT, 2), desc(B + 512, 1, WRITE, 0)],
        [0], extra=[(0xC0, blk_header(0, 0))])),
    "ring-hole": vring(0, 2, ring_bytes(
        [desc(0xC0, 16, NEXT, 1), desc(0x18000, 512, WRITE | NEXT, 2), desc(0xD0, 1, WRITE, 0)],
        [0], extra=[(0xC0, blk_header(0, 0))])),
    # avail->idx 1 after 0xfffe: three entries across the index wrap, all the same flush
    "ring-wrap": vring(RING_FDS, 2, ring_bytes(
        [desc(0xC0, 16, NEXT, 1), desc(0xD0, 1, WRITE, 0)], [0],
        extra=[(0xC0, blk_header(4, 0))]), last_avail=0xFFFE, rounds=3),
})


def write(name, seeds):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for seed, data in sorted(seeds.items()):
        with open(os.path.join(d, seed), "wb") as f:
            f.write(data)
    print(f"corpus/{name}: {len(seeds)} seeds", file=sys.stderr)


if __name__ == "__main__":
    write("options", OPTIONS_SEEDS)
    write("vhost", VHOST_SEEDS)
