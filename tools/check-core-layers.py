#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""Fail if the modules of core/ depend on each other in a circle.

A module is a base name: core/memory.c and core/memory.h are module "memory"; a header
without a .c (walk.h, util.h) is a module of its own. Module A depends on module B when a
file of A includes "B.h". Every function a core header declares must be defined in that
module's .c (checked too), so includes are the whole dependency graph.

usage: check-core-layers.py [CORE_DIR]   (default: core/ next to this script's parent)
Prints the modules layer by layer (each depends only on layers above it) and exits 0, or
prints each circle found and exits 1.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)\.h"', re.M)
# A declaration of an internal function in a header: "type vmm_name(" at the start of a
# line, not static (static inline functions live in the header itself).
DECL = re.compile(r'^(?!static)[A-Za-z_][A-Za-z0-9_ \*]*?\b(vmm_[a-z0-9_]+)\s*\(', re.M)
DEF = re.compile(r'^(?:[a-z_][a-z0-9_ \*]*\n|[a-z_][a-z0-9_ \*]*?\b)(vmm_[a-z0-9_]+)\s*\(', re.M)


def modules(core):
    mods = {}
    for name in sorted(os.listdir(core)):
        base, ext = os.path.splitext(name)
        if ext in ('.c', '.h'):
            mods.setdefault(base, []).append(os.path.join(core, name))
    return mods


def graph(mods):
    deps = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            with open(f, encoding='utf-8') as fh:
                for inc in INCLUDE.findall(fh.read()):
                    if inc in mods and inc != m:
                        deps[m].add(inc)
    return deps


def misplaced_definitions(core, mods):
    """Functions a module's header declares but another module's .c defines."""
    problems = []
    defined_in = {}
    for m, files in mods.items():
        for f in files:
            if f.endswith('.c'):
                with open(f, encoding='utf-8') as fh:
                    for fn in DEF.findall(fh.read()):
                        defined_in.setdefault(fn, m)
    for m, files in mods.items():
        for f in files:
            if f.endswith('.h'):
                with open(f, encoding='utf-8') as fh:
                    for fn in DECL.findall(fh.read()):
                        owner = defined_in.get(fn)
                        if owner is not None and owner != m:
                            problems.append(f'{fn} is declared in {m}.h but defined in '
                                            f'{owner}.c')
    return problems


def cycles(deps):
    """Every elementary circle reachable by DFS, each reported once (by its member set)."""
    found, seen = [], set()
    state = {}

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for d in sorted(deps[m]):
            if state.get(d) == 1:
                c = stack[stack.index(d):] + [d]
                key = frozenset(c)
                if key not in seen:
                    seen.add(key)
                    found.append(c)
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(deps):
        if m not in state:
            visit(m, [])
    return found


def layers(deps):
    level = {}

    def depth(m):
        if m not in level:
            level[m] = 0
            level[m] = 1 + max((depth(d) for d in deps[m]), default=-1)
        return level[m]

    for m in deps:
        depth(m)
    out = {}
    for m, lv in level.items():
        out.setdefault(lv, []).append(m)
    return [sorted(out[k]) for k in sorted(out)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    core = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'core')
    mods = modules(core)
    deps = graph(mods)
    bad = False
    for c in cycles(deps):
        print('core: include circle: ' + ' -> '.join(c))
        bad = True
    for p in misplaced_definitions(core, mods):
        print('core: ' + p)
        bad = True
    if bad:
        return 1
    for i, layer in enumerate(layers(deps)):
        print(f'layer {i}: ' + ' '.join(layer))
    return 0


if __name__ == '__main__':
    sys.exit(main())
