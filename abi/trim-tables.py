#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""usage: abi/trim-tables.py BASELINE_ABI CURRENT_ABI OUT_ABI TABLE...

libabigail twin of normalize-dump.pl's table rule: in CURRENT_ABI (abidw XML), each named
provider table (size-prefixed, append-only: docs/ABI.md) whose baseline data members are an
exact prefix of today's (same names and offsets, in order) loses the members appended after
them and gets the baseline's size back. abidiff then compares the prefix member by member,
types included, and every other change, in any type, stays visible (a type suppression
would hide changes reached through the table too). Writes OUT_ABI; prints each table it
trimmed.
"""
import sys
import xml.etree.ElementTree as ET


def tables(root, names):
    found = {}
    for decl in root.iter('class-decl'):
        name = decl.get('name')
        if name in names and decl.get('is-declaration-only') != 'yes' and name not in found:
            found[name] = decl
    return found


def members(decl):
    out = []
    for dm in decl.findall('data-member'):
        var = dm.find('var-decl')
        out.append((dm, var.get('name') if var is not None else None,
                    dm.get('layout-offset-in-bits')))
    return out


def main():
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    base_path, cur_path, out_path, names = sys.argv[1], sys.argv[2], sys.argv[3], set(sys.argv[4:])
    base = tables(ET.parse(base_path).getroot(), names)
    tree = ET.parse(cur_path)
    cur = tables(tree.getroot(), names)
    for name in sorted(cur):
        if name not in base:
            continue
        old, new = members(base[name]), members(cur[name])
        if len(new) <= len(old):
            continue
        if any(o[1:] != n[1:] for o, n in zip(old, new)):
            continue
        for dm, _, _ in new[len(old):]:
            cur[name].remove(dm)
        cur[name].set('size-in-bits', base[name].get('size-in-bits'))
        print(name)
    tree.write(out_path, encoding='unicode')
    return 0


if __name__ == '__main__':
    sys.exit(main())
