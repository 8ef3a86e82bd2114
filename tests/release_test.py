#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""The release numbers agree (docs/RELEASING.md): VERSION, the library the build made, the
newest dated CHANGELOG.md section, debian/changelog's top entry; and the Debian symbols file
is the one tools/gen-symbols.py writes from abi/libvmmem.map.

usage: release_test.py SOURCE_DIR VMMEM_TOOL
"""
import re
import subprocess
import sys


def main(src, tool):
    errors = []
    version = open(src + '/VERSION').read().strip()
    if not re.fullmatch(r'\d+\.\d+\.\d+', version):
        errors.append('VERSION holds %r, not MAJOR.MINOR.PATCH' % version)
    built = subprocess.run([tool, '--version'], capture_output=True, text=True).stdout.strip()
    if built != 'vmmem ' + version:
        errors.append('the built tool says %r, VERSION %s' % (built, version))
    changelog = open(src + '/CHANGELOG.md').read()
    dated = re.findall(r'^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$', changelog, re.M)
    if not dated:
        errors.append('CHANGELOG.md has no dated release section "## [X.Y.Z] - YYYY-MM-DD"')
    elif dated[0][0] != version:
        errors.append('the newest dated CHANGELOG.md section is %s, VERSION %s'
                      % (dated[0][0], version))
    deb = open(src + '/debian/changelog').readline()
    m = re.match(r'^libvmmem \(([^)]+)\) ', deb)
    if not m or m.group(1).split('-')[0] != version:
        errors.append('debian/changelog starts with %r, VERSION %s' % (deb.strip(), version))
    check = subprocess.run([sys.executable, src + '/tools/gen-symbols.py', '--check', src],
                           capture_output=True, text=True)
    sys.stdout.write(check.stdout)
    if check.returncode:
        errors.append(check.stderr.strip())
    for e in errors:
        print('FAIL: ' + e)
    if not errors:
        print('release %s: VERSION, tool, CHANGELOG.md, debian/changelog and symbols agree'
              % version)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], sys.argv[2]))
