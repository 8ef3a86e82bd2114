#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""Print every public integer constant of libvmmem's headers as "NAME VALUE", sorted.

usage: abi/constants.py HEADERS_DIR [CC]

Enum values (error codes, access kinds, memory orders, option types) and numeric #defines
(flags, provider ABI major) are part of the ABI: binaries carry them as literals. Neither
abi-compliance-checker nor abidiff sees them when no exported function's type names the
enum, so abi/check.sh compares this list with the baseline's (abi/libvmmem-X.Y.Z.constants).
Values are computed by the compiler from the headers, not parsed by hand. Left out: the
generated vmmem/version.h (it changes every release) and VMMEM_PROVIDER_ABI_MINOR (it grows
with compatible additions), VMMEM_HOST_BIG_ENDIAN (a property of the host).
"""
import os
import re
import subprocess
import sys
import tempfile

SKIP = {'VMMEM_PROVIDER_ABI_MINOR', 'VMMEM_HOST_BIG_ENDIAN'}  # grows; host property
ENUM_BLOCK = re.compile(r'\benum\s+\w*\s*\{(.*?)\}', re.S)
ENUMERATOR = re.compile(r'^\s*(VMMEM_[A-Z0-9_]+)\s*(?:=|,|$)', re.M)
DEFINE = re.compile(r'^\s*#\s*define\s+(VMMEM_[A-Z0-9_]+)[ \t]+([^\n]*?)\s*(?:/\*.*)?$', re.M)
# A value built only from integer literals, other VMMEM_ names and integer operators.
NUMERIC = re.compile(r'^[\s()~|&<>+\-*]*(?:(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*|VMMEM_[A-Z0-9_]+)'
                     r'(?:[\s()~|&<>+\-*]+(?:(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*|VMMEM_[A-Z0-9_]+))*'
                     r'[\s()]*$')


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    return re.sub(r'//[^\n]*', ' ', text)


def names(headers):
    found = []
    for root, _, files in os.walk(headers):
        for f in sorted(files):
            if not f.endswith('.h') or f == 'version.h':
                continue
            with open(os.path.join(root, f), encoding='utf-8') as fh:
                raw = fh.read()
            text = strip_comments(raw)
            for block in ENUM_BLOCK.findall(text):
                found += ENUMERATOR.findall(block)
            for name, value in DEFINE.findall(text):
                if value and NUMERIC.match(value):
                    found.append(name)
    return sorted({n for n in found if n not in SKIP})


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    headers = sys.argv[1]
    cc = sys.argv[2] if len(sys.argv) > 2 else os.environ.get('CC', 'cc')
    consts = names(headers)
    includes = []
    for root, _, files in os.walk(headers):
        for f in sorted(files):
            if f.endswith('.h'):
                includes.append(os.path.relpath(os.path.join(root, f), headers))
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'consts.c')
        exe = os.path.join(tmp, 'consts')
        with open(src, 'w', encoding='utf-8') as fh:
            fh.write('#include <stdio.h>\n')
            for inc in sorted(includes):
                fh.write(f'#include "{inc}"\n')
            fh.write('int main(void)\n{\n')
            for n in consts:
                fh.write(f'\tprintf("%s %lld\\n", "{n}", (long long)({n}));\n')
            fh.write('\treturn 0;\n}\n')
        subprocess.run([cc, '-std=gnu11', '-I', headers, src, '-o', exe], check=True)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    sys.stdout.write(out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
