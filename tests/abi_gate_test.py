#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""Prove the ABI gate (abi/check.sh) both ways, on scratch copies of the tree.

usage: abi_gate_test.py SOURCE_DIR WORK_DIR CASE

Each CASE copies SOURCE_DIR (without build/ and .git) to WORK_DIR/CASE/src, makes one
change there, and runs `abi/check.sh check` against abi_compliance's baseline. Harmless
changes (a function body rewritten, locals reordered) must pass; each real break must fail
with exit 1 (an incompatibility), never 2 (the check itself broke): a break that only
breaks the build proves nothing. Prints check.sh's per-tool verdicts. For the harmless
cases it also runs abi-compliance-checker on the raw, unnormalised dumps and says whether
that (the gate before the normalisation) would have cried wolf.
Exit: 0 the gate behaved as expected, 1 it did not, 77 a tool is missing.
"""
import os
import shutil
import subprocess
import sys

PASS, FAIL = 0, 1

# name: (expected exit of check.sh, [(file, old text, new text), ...])
CASES = {
    'body_changed': (PASS, [
        ('core/access.c',
         '''{
	return transfer_some(m, gpa, buf, len, false);
}''',
         '''{
	ssize_t n;
	size_t want = len;

	/* Same behaviour, another body: what the compiler keeps where changes. */
	n = transfer_some(m, gpa, buf, want, false);
	return n;
}'''),
        ('core/region.c',
         '''	return r && gpa >= r->gpa && gpa - r->gpa < r->size;''',
         '''	uint64_t off;

	if (!r || gpa < r->gpa)
		return false;
	off = gpa - r->gpa;
	return off < r->size;'''),
    ]),
    'locals_reordered': (PASS, [
        ('core/region.c',
         '''	struct vmmem_region tmpl = caller_region(gpa, size, host, flags);
	int rc, dup_fd;
''',
         '''	int dup_fd, rc;
	struct vmmem_region tmpl = caller_region(gpa, size, host, flags);
'''),
    ]),
    'struct_field_added': (FAIL, [
        ('include/vmmem/slice.h',
         '''	uint32_t reserved;                 /**< zero */''',
         '''	uint32_t reserved;                 /**< zero */
	uint64_t added;                    /**< a new field */'''),
    ]),
    'struct_fields_reordered': (FAIL, [
        ('include/vmmem/slice.h',
         '''	uint8_t *ptr;                      /**< host address of the first byte */
	size_t len;                        /**< length in bytes */''',
         '''	size_t len;                        /**< length in bytes */
	uint8_t *ptr;                      /**< host address of the first byte */'''),
    ]),
    'struct_field_resized': (FAIL, [
        ('include/vmmem/slice.h',
         '''	uint32_t flags;                    /**< ::VMMEM_SLICE_READ_ONLY */''',
         '''	uint64_t flags;                    /**< ::VMMEM_SLICE_READ_ONLY */'''),
    ]),
    'parameter_type_changed': (FAIL, [
        ('include/vmmem/access.h',
         '''VMMEM_EXPORT ssize_t vmmem_memory_read(const struct vmmem_memory *m, uint64_t gpa, void *buf,
				       size_t len);''',
         '''VMMEM_EXPORT ssize_t vmmem_memory_read(const struct vmmem_memory *m, uint64_t gpa, void *buf,
				       uint32_t len);'''),
        ('core/access.c',
         '''vmmem_memory_read(const struct vmmem_memory *m, uint64_t gpa, void *buf, size_t len)''',
         '''vmmem_memory_read(const struct vmmem_memory *m, uint64_t gpa, void *buf, uint32_t len)'''),
    ]),
    'symbol_removed': (FAIL, [
        ('include/vmmem/region.h',
         '''VMMEM_EXPORT bool vmmem_region_contains(const struct vmmem_region *r, uint64_t gpa);''',
         ''),
        ('core/region.c',
         '''bool
vmmem_region_contains(const struct vmmem_region *r, uint64_t gpa)
{
	return r && gpa >= r->gpa && gpa - r->gpa < r->size;
}''', ''),
        ('abi/libvmmem.map', '''		vmmem_region_contains;
''', ''),
    ]),
    'enum_value_changed': (FAIL, [
        ('include/vmmem/provider.h',
         '''	VMMEM_OPTION_SIZE = 2,''', '''	VMMEM_OPTION_SIZE = 5,'''),
    ]),
    'provider_table_member_moved': (FAIL, [
        ('include/vmmem/provider.h',
         '''	int (*create)(void *provider_data, const struct vmmem_provider_params *params,
		      struct vmmem_mapping *out);
	/** Undo create: unmap, close, free priv. */
	void (*destroy)(void *provider_data, struct vmmem_mapping *mapping);''',
         '''	/** Undo create: unmap, close, free priv. */
	void (*destroy)(void *provider_data, struct vmmem_mapping *mapping);
	int (*create)(void *provider_data, const struct vmmem_provider_params *params,
		      struct vmmem_mapping *out);'''),
    ]),
    # The provider tables are size-prefixed and append-only: growing one at the end is what
    # a minor release may do (docs/ABI.md); a member inserted anywhere else is a break.
    'provider_table_appended': (PASS, [
        ('include/vmmem/provider.h',
         '''	void *priv;          /**< provider-private data, passed back to destroy/discard */
	/* ABI 1.0 ends here; append only */''',
         '''	void *priv;          /**< provider-private data, passed back to destroy/discard */
	/* ABI 1.0 ends here; append only */
	uint64_t appended;   /**< a member a later minor adds */'''),
    ]),
    'provider_table_member_inserted': (FAIL, [
        ('include/vmmem/provider.h',
         '''	/** The host's base page size. */
	uint64_t (*host_page_size)(void);''',
         '''	void *inserted; /**< a member put before the end */
	/** The host's base page size. */
	uint64_t (*host_page_size)(void);'''),
    ]),
    'symbol_moved_between_nodes': (FAIL, [
        ('abi/libvmmem.map', '''		vmmem_version;
''', ''),
        ('abi/libvmmem.map', '''VMMEM_1.1 {
	global:
''', '''VMMEM_1.1 {
	global:
		vmmem_version;
'''),
    ]),
    # A struct of an internal header whose file name is also a public header's
    # (core/atomic.h beside vmmem/atomic.h), the type of a hidden variable, grows a field
    # at its start: the library's own business, not ABI.
    'internal_header_struct_changed': (PASS, [
        ('core/atomic.h',
         '''struct vmm_section_hint {
	const void *owner;''',
         '''struct vmm_section_hint {
	uint64_t added_first; /* moves every field */
	const void *owner;'''),
    ]),
    # An opaque handle's layout is the library's own business: growing it, reordering its
    # fields, is harmless (callers only hold pointers).
    'opaque_struct_changed': (PASS, [
        ('core/region.h',
         '''struct vmmem_region {
	struct vmm_dirty *dirty; /* atomic: the bitmap writes mark, NULL when not tracked */''',
         '''struct vmmem_region {
	uint64_t added_first[4]; /* moves every field */
	struct vmm_dirty *dirty; /* atomic: the bitmap writes mark, NULL when not tracked */'''),
    ]),
}


def copy_tree(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True,
                    ignore=shutil.ignore_patterns('build', '.git', '__pycache__'))


def mutate(root, edits):
    for path, old, new in edits:
        full = os.path.join(root, path)
        with open(full, encoding='utf-8') as fh:
            text = fh.read()
        if text.count(old) != 1:
            raise SystemExit(f'abi-gate-test: {path}: the text to change is not there once '
                             f'(the tree moved on: update this case)')
        with open(full, 'w', encoding='utf-8') as fh:
            fh.write(text.replace(old, new))


def baseline():
    """The baseline abi_compliance uses: VMMEM_ABI_BASELINE (ctest passes CMake's), else,
    run by hand, the newest committed one (abi/libvmmem-X.Y.Z.dump)."""
    if os.environ.get('VMMEM_ABI_BASELINE'):
        return os.environ['VMMEM_ABI_BASELINE']
    dumps = [f for f in os.listdir(os.path.join(SOURCE, 'abi'))
             if f.startswith('libvmmem-') and f.endswith('.dump')]
    key = lambda f: tuple(int(x) for x in f[len('libvmmem-'):-len('.dump')].split('.'))
    return os.path.join(SOURCE, 'abi', max(dumps, key=key))


def raw_acc_verdict(work):
    """Would abi-compliance-checker on the unnormalised dumps have passed?"""
    rc = subprocess.run(['abi-compliance-checker', '-l', 'vmmem-raw', '-old',
                         baseline(), '-new',
                         os.path.join(work, 'libvmmem-current.dump')],
                        cwd=work, capture_output=True, text=True).returncode
    return 'would pass' if rc == 0 else 'would FAIL (cries wolf)'


def main():
    global SOURCE
    if len(sys.argv) != 4 or sys.argv[3] not in CASES:
        sys.stderr.write(__doc__ + '\ncases: ' + ' '.join(CASES) + '\n')
        return 2
    SOURCE, work_root, case = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    for tool in ('abi-dumper', 'abi-compliance-checker', 'abidw', 'abidiff'):
        if shutil.which(tool) is None:
            print(f'abi-gate-test: {tool} is not installed')
            return 77
    expect, edits = CASES[case]
    base = os.path.abspath(os.path.join(work_root, case))
    src, work = os.path.join(base, 'src'), os.path.join(base, 'work')
    copy_tree(SOURCE, src)
    mutate(src, edits)
    proc = subprocess.run([os.path.join(src, 'abi', 'check.sh'), 'check', src, work,
                           baseline()],
                          capture_output=True, text=True)
    sys.stdout.write(proc.stdout + proc.stderr)
    if expect == PASS and proc.returncode == 0:
        print(f'abi-gate-test: {case}: passed as it should; the raw (unnormalised) '
              f'abi-compliance-checker {raw_acc_verdict(work)}')
        return 0
    if expect == FAIL and proc.returncode == 1:
        print(f'abi-gate-test: {case}: refused as it should')
        return 0
    print(f'abi-gate-test: {case}: check.sh exited {proc.returncode}, expected '
          f'{"0 (compatible)" if expect == PASS else "1 (incompatible)"}')
    return 1


if __name__ == '__main__':
    sys.exit(main())
