#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""Write debian/libvmmem1.symbols from the version script abi/libvmmem.map.

Each symbol of node VMMEM_X.Y gets minimum version X.Y.0: the first release whose library
exports it (docs/ABI.md: a symbol never moves between nodes). dpkg-shlibdeps then records,
for a program, the oldest libvmmem1 that has every symbol it uses.

usage: tools/gen-symbols.py [--check] [SOURCE_DIR]
  --check  compare with the committed file instead of writing it; exit 1 on a difference
"""
import re
import sys


def render(map_text):
    lines = ['libvmmem.so.1 libvmmem1 #MINVER#',
             '* Build-Depends-Package: libvmmem-dev']
    node = None
    entries = []
    for raw in map_text.splitlines():
        line = raw.split('/*')[0].strip() if '/*' in raw and '*/' in raw else raw.strip()
        m = re.match(r'^(VMMEM_(\d+)\.(\d+))\s*\{', line)
        if m:
            node = (m.group(1), '%s.%s.0' % (m.group(2), m.group(3)))
            entries.append(' %s@%s %s' % (node[0], node[0], node[1]))
            continue
        if line.startswith('}'):
            node = None
            continue
        m = re.match(r'^(vmmem_[A-Za-z0-9_]+);$', line)
        if m and node:
            entries.append(' %s@%s %s' % (m.group(1), node[0], node[1]))
    return '\n'.join(lines + sorted(entries)) + '\n'


def main(argv):
    check = '--check' in argv
    args = [a for a in argv if a != '--check']
    src = args[0] if args else '.'
    with open(src + '/abi/libvmmem.map') as f:
        text = render(f.read())
    path = src + '/debian/libvmmem1.symbols'
    if check:
        with open(path) as f:
            have = f.read()
        if have != text:
            sys.stderr.write('%s does not match abi/libvmmem.map; run tools/gen-symbols.py\n'
                             % path)
            return 1
        print('%s matches abi/libvmmem.map (%d symbols)' % (path, sum(1 for l in text.splitlines() if l.startswith(' vmmem_'))))
        return 0
    with open(path, 'w') as f:
        f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
