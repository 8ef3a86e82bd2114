#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
#
# Tests of the vmmem command-line tool.
#   tool_test.sh basic   VMMEM   map (default config), providers, config errors, usage
#   tool_test.sh snapshot VMMEM  snapshot save/restore (every mode)/info/verify/merge, damaged
#                                files, usage errors
#   tool_test.sh hugetlb VMMEM   map of hugetlbfs + hugetlb memfd regions; exits 77 (skip)
#                                when the machine has no 2 MiB huge pages or hugetlbfs mount
# Exit status: 0 all passed, 1 a check failed, 77 skipped, 2 bad usage.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 basic|hugetlb PATH-TO-VMMEM" >&2
	exit 2
fi
mode=$1
tool=$2
if [ ! -x "$tool" ]; then
	echo "FAIL: $tool is not an executable" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmmem-tool-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0
checks=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# run NAME ARGS...: run the tool, stdout to $tmp/NAME.out, stderr to $tmp/NAME.err, status
# in $status.
run() {
	name=$1
	shift
	checks=$((checks + 1))
	"$tool" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	status=$?
	echo "--- vmmem $* (exit $status)"
	cat "$tmp/$name.out"
	if [ -s "$tmp/$name.err" ]; then
		echo "--- stderr:"
		cat "$tmp/$name.err"
	fi
}

# expect_in FILE TEXT WHAT: FILE contains TEXT (fixed string).
expect_in() {
	if ! grep -qF -- "$2" "$1"; then
		fail "$3: '$2' not found in $(basename "$1")"
	fi
}

# The option keys listed for provider $1 in $tmp/providers.out: the indented lines of its
# section (from the "NAME x.y.z - ..." line to the next blank line), first word each.
provider_options() {
	awk -v p="$1" '
		$1 == p && $2 ~ /^[0-9]+\.[0-9]+\.[0-9]+$/ { in_section = 1; next }
		in_section && NF == 0 { in_section = 0 }
		in_section && /^  / && $1 != "file:" { print $1 }
	' "$tmp/providers.out" | tr '\n' ' '
}

# expect_options PROVIDER KEY...: the provider is listed with exactly these options.
expect_options() {
	p=$1
	shift
	got=$(provider_options "$p")
	want="$* "
	if [ "$got" != "$want" ]; then
		fail "providers: $p lists options '$got', expected '$want'"
	fi
}

have_hugepages() {
	nr=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 2>/dev/null || echo 0)
	[ "${nr:-0}" -gt 0 ] || return 1
	awk '$3 == "hugetlbfs" && $4 ~ /(^|,)pagesize=2M(,|$)/ { found = 1 }
	     $3 == "hugetlbfs" && $4 !~ /pagesize=/ { found = 1 }
	     END { exit !found }' /proc/mounts
}

case $mode in
basic)
	# map with the built-in default config.
	run map_default map
	[ "$status" -eq 0 ] || fail "vmmem map: exit $status, expected 0"
	expect_in "$tmp/map_default.out" "all regions passed" "vmmem map"
	expect_in "$tmp/map_default.out" "anon" "vmmem map"
	expect_in "$tmp/map_default.out" "memfd" "vmmem map"
	grep -q "FAILED" "$tmp/map_default.out" && fail "vmmem map reports a failure"

	# providers: the four plugins, briefly; --verbose adds their options and the keys every
	# region takes.
	run providers_brief providers
	[ "$status" -eq 0 ] || fail "vmmem providers: exit $status, expected 0"
	expect_in "$tmp/providers_brief.out" "4 providers found" "vmmem providers"
	expect_in "$tmp/providers_brief.out" "libvmmem-file.so" "vmmem providers"
	grep -q "keys every region takes" "$tmp/providers_brief.out" &&
		fail "vmmem providers (not verbose) lists the common keys"
	grep -q "^  share " "$tmp/providers_brief.out" &&
		fail "vmmem providers (not verbose) lists options"
	run providers providers --verbose
	[ "$status" -eq 0 ] || fail "vmmem providers --verbose: exit $status, expected 0"
	expect_in "$tmp/providers.out" "4 providers found" "vmmem providers"
	expect_options anon share reserve thp
	expect_options file mem-path share offset discard-data reserve
	expect_options memfd share reserve hugetlb hugetlbsize seal
	expect_options hugetlbfs mem-path pagesize share reserve keep discard-data
	expect_in "$tmp/providers.out" "libvmmem-anon.so" "vmmem providers"
	expect_in "$tmp/providers.out" "libvmmem-memfd.so" "vmmem providers"
	# The keys every region takes, each with type and default.
	expect_in "$tmp/providers.out" "keys every region takes:" "vmmem providers"
	grep -Eq '^  lock +enum +off ' "$tmp/providers.out" ||
		fail "vmmem providers: no 'lock enum off' line among the common keys"
	grep -Eq '^  dump +bool +on ' "$tmp/providers.out" ||
		fail "vmmem providers: no 'dump bool on' line among the common keys"
	grep -Eq '^  guard +bool +on ' "$tmp/providers.out" ||
		fail "vmmem providers: no 'guard bool on' line among the common keys"
	grep -Eq '^  align +size ' "$tmp/providers.out" ||
		fail "vmmem providers: no 'align size' line among the common keys"
	# Every key the parser treats as common (core/config.c) is listed.
	if [ -n "${VMMEM_TEST_SOURCE_DIR:-}" ]; then
		keys=$(grep -o '\[KEY_[A-Z_]*\] = "[a-z-]*"' "$VMMEM_TEST_SOURCE_DIR/../core/config.c" |
			sed 's/.*"\(.*\)"/\1/' | tr '\n' ' ')
		[ -n "$keys" ] || fail "no common keys found in core/config.c"
		for k in $keys; do
			grep -Eq "^  $k +[a-z]+ " "$tmp/providers.out" ||
				fail "vmmem providers --verbose: common key '$k' is not listed"
		done
	fi
	expect_in "$tmp/providers.out" "libvmmem-hugetlbfs.so" "vmmem providers"

	# An unknown key: refused, naming the key and its byte position (0-based: 19).
	run bogus map 'anon:gpa=0,size=1M,bogus=1'
	[ "$status" -eq 2 ] || fail "vmmem map with an unknown key: exit $status, expected 2 (usage)"
	expect_in "$tmp/bogus.err" "unknown key 'bogus'" "unknown key"
	expect_in "$tmp/bogus.err" "position 19" "unknown key"
	grep -q "all regions passed" "$tmp/bogus.out" && fail "unknown key: map claims success"

	# A syntax error names its position too.
	run syntax map 'anon:gpa=0;size=1M'
	[ "$status" -eq 2 ] || fail "vmmem map with a syntax error: exit $status, expected 2 (usage)"
	expect_in "$tmp/syntax.err" "position" "syntax error"

	# Several providers and a read-only region.
	run mixed map 'memfd:gpa=0,size=4M,seal=off;anon:gpa=4M,size=4M,readonly=on;anon:gpa=1G,size=2M,share=on'
	[ "$status" -eq 0 ] || fail "vmmem map (mixed): exit $status, expected 0"
	expect_in "$tmp/mixed.out" "all regions passed" "vmmem map (mixed)"
	expect_in "$tmp/mixed.out" "read-only" "vmmem map (mixed)"

	# Usage errors: status 2, one line naming the offence, the pointer to --help.
	run usage frobnicate
	[ "$status" -eq 2 ] || fail "vmmem frobnicate: exit $status, expected 2"
	expect_in "$tmp/usage.err" "unknown command 'frobnicate'" "unknown command"
	run noargs
	[ "$status" -eq 2 ] || fail "vmmem without arguments: exit $status, expected 2"
	for args in "map --bogus" "providers --bogus" "providers extra" "map a b" "help nope" \
		"help map extra" "--bogus" "snapshot info --bogus x" "help --json"; do
		# shellcheck disable=SC2086 # word splitting wanted
		run usage_args $args
		[ "$status" -eq 2 ] || fail "vmmem $args: exit $status, expected 2"
		expect_in "$tmp/usage_args.err" "--help'" "vmmem $args"
		[ -s "$tmp/usage_args.out" ] && fail "vmmem $args printed on stdout"
	done
	# An overlap and a zero size are the user's config too (2); a provider that cannot
	# create its region is a runtime failure (1).
	run overlap map 'anon:gpa=0,size=1M;anon:gpa=512K,size=1M'
	[ "$status" -eq 2 ] || fail "vmmem map (overlap): exit $status, expected 2"
	expect_in "$tmp/overlap.err" "position" "overlap"
	run runtime map 'file:gpa=0,size=1M,mem-path=/nonexistent-dir/x'
	[ "$status" -eq 1 ] || fail "vmmem map (missing mem-path dir): exit $status, expected 1"

	# --help and --version everywhere, and help COMMAND: stdout, status 0.
	version=$("$tool" --version)
	case $version in
	"vmmem "[0-9]*.[0-9]*.[0-9]*) ;;
	*) fail "vmmem --version printed '$version'" ;;
	esac
	for cmd in "" providers map snapshot help; do
		# shellcheck disable=SC2086
		run help_opt $cmd --help
		[ "$status" -eq 0 ] || fail "vmmem $cmd --help: exit $status"
		expect_in "$tmp/help_opt.out" "usage: vmmem" "vmmem $cmd --help"
		[ -s "$tmp/help_opt.err" ] && fail "vmmem $cmd --help wrote to stderr"
		# shellcheck disable=SC2086
		run version_opt $cmd --version
		[ "$status" -eq 0 ] || fail "vmmem $cmd --version: exit $status"
		[ "$(cat "$tmp/version_opt.out")" = "$version" ] ||
			fail "vmmem $cmd --version: '$(cat "$tmp/version_opt.out")', expected '$version'"
	done
	for cmd in providers map snapshot help; do
		run help_cmd help $cmd
		[ "$status" -eq 0 ] || fail "vmmem help $cmd: exit $status"
		"$tool" $cmd --help >"$tmp/help_direct.out" 2>&1
		cmp -s "$tmp/help_cmd.out" "$tmp/help_direct.out" ||
			fail "vmmem help $cmd differs from vmmem $cmd --help"
	done
	run help_all help
	[ "$status" -eq 0 ] || fail "vmmem help: exit $status"
	expect_in "$tmp/help_all.out" "Exit status: 0 ok, 1 runtime error, 2 usage error" "vmmem help"

	# --json: one valid JSON object with the documented fields.
	run providers_json providers --json
	[ "$status" -eq 0 ] || fail "vmmem providers --json: exit $status"
	python3 - "$tmp/providers_json.out" <<'PY' || fail "vmmem providers --json: wrong JSON"
import json, sys
d = json.load(open(sys.argv[1]))
names = {p["name"] for p in d["providers"]}
assert names == {"anon", "memfd", "hugetlbfs", "file"}, names
assert d["failed"] == 0 and isinstance(d["search_path"], str)
for p in d["providers"]:
    assert p["version"].count(".") == 2 and p["file"].endswith(".so"), p
    for o in p["options"]:
        assert set(o) == {"key", "type", "default", "help"}, o
anon = next(p for p in d["providers"] if p["name"] == "anon")
assert [o["key"] for o in anon["options"]] == ["share", "reserve", "thp"], anon
keys = {k["key"]: k for k in d["common_keys"]}
assert keys["guard"]["type"] == "bool" and keys["guard"]["default"] == "on", keys
PY
	run map_json map --json 'memfd:gpa=0,size=4M;anon:gpa=1G,size=2M,readonly=on'
	[ "$status" -eq 0 ] || fail "vmmem map --json: exit $status"
	python3 - "$tmp/map_json.out" <<'PY' || fail "vmmem map --json: wrong JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] is True and d["config"].startswith("memfd:"), d
r = d["regions"]
assert [x["provider"] for x in r] == ["memfd", "anon"], r
assert r[0]["gpa"] == 0 and r[0]["size"] == 4 << 20 and r[0]["last"] == (4 << 20) - 1, r
assert r[0]["shared"] is True and r[0]["sealed"] is True and r[0]["fd"] >= 0, r
assert r[1]["gpa"] == 1 << 30 and r[1]["read_only"] is True and r[1]["check"] == "read-only", r
assert r[0]["check"] == "ok" and r[1]["fd"] == -1 and r[0]["page_size"] >= 4096, r
PY
	run map_json_bad map --json 'anon:gpa=0,size=zz'
	[ "$status" -eq 2 ] || fail "vmmem map --json (bad config): exit $status, expected 2"
	[ -s "$tmp/map_json_bad.out" ] && fail "vmmem map --json (bad config) printed on stdout"
	expect_in "$tmp/map_json_bad.err" "position 11" "map --json (bad config)"
	;;
hugetlb)
	if ! have_hugepages; then
		echo "SKIP: no 2 MiB huge pages or no hugetlbfs mount"
		exit 77
	fi
	run huge map 'hugetlbfs:gpa=0,size=4M;memfd:gpa=1G,size=4M,hugetlb=on'
	[ "$status" -eq 0 ] || fail "vmmem map (hugetlb): exit $status, expected 0"
	expect_in "$tmp/huge.out" "all regions passed" "vmmem map (hugetlb)"
	rows=$(grep -c '^\[0x' "$tmp/huge.out")
	[ "$rows" -eq 2 ] || fail "vmmem map (hugetlb): $rows region rows, expected 2"
	huge_rows=$(grep '^\[0x' "$tmp/huge.out" | grep -c ' 2 MiB ')
	[ "$huge_rows" -eq 2 ] || fail "vmmem map (hugetlb): $huge_rows rows with 2 MiB pages, expected 2"
	grep '^\[0x' "$tmp/huge.out" | grep -q ' hugetlbfs ' || fail "no hugetlbfs row"
	grep '^\[0x' "$tmp/huge.out" | grep -q ' memfd ' || fail "no memfd row"
	;;
snapshot)
	# Save in one process, restore in others (each mode): the memory checksum printed by
	# save and by every restore must agree; diffs merge; damaged files and bad usage fail
	# with the documented exit status and a message.
	cfg='anon:gpa=0,size=8M,dirty-log=on;memfd:gpa=16M,size=4M,dirty-log=on'
	run save snapshot save --config "$cfg" --fill 40 --seed 3 "$tmp/full.snap"
	[ "$status" -eq 0 ] || fail "snapshot save: exit $status"
	saved=$(sed -n 's/^memory checksum //p' "$tmp/save.out")
	[ -n "$saved" ] || fail "snapshot save printed no checksum"
	modes="copy map lazy"
	# qemu-user (the cross presets) does not emulate userfaultfd: lazy restore runs natively.
	[ -z "${VMMEM_TEST_UNDER_QEMU_USER:-}" ] || modes="copy map"
	for mode in $modes; do
		run "restore_$mode" snapshot restore --mode "$mode" "$tmp/full.snap"
		[ "$status" -eq 0 ] || fail "snapshot restore --mode $mode: exit $status"
		got=$(sed -n 's/^memory checksum //p' "$tmp/restore_$mode.out")
		[ "$got" = "$saved" ] || fail "restore --mode $mode: checksum $got, saved $saved"
		expect_in "$tmp/restore_$mode.out" "all resident" "restore --mode $mode"
	done
	run restore_json snapshot restore --mode map --json "$tmp/full.snap"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["mode"]=="map" and d["regions"]==2 and d["checksum"]==sys.argv[2], d' \
		"$tmp/restore_json.out" "$saved" || fail "restore --json output"
	# A path with a quote, a backslash and a byte that is not UTF-8 still gives valid JSON
	# (the quote and backslash escaped, the stray byte as U+FFFD).
	odd=$(printf '%s/q"b\\\377.snap' "$tmp")
	cp "$tmp/full.snap" "$odd"
	run restore_json_odd snapshot restore --mode map --json "$odd"
	[ "$status" -eq 0 ] || fail "restore --json of an odd path: exit $status"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1], encoding="utf-8")); assert d["file"].endswith("/q\"b\\\ufffd.snap"), d["file"]' \
		"$tmp/restore_json_odd.out" || fail "restore --json of an odd path: not the escaped path"
	rm -f "$odd"
	run info snapshot info "$tmp/full.snap"
	[ "$status" -eq 0 ] || fail "snapshot info: exit $status"
	expect_in "$tmp/info.out" "memfd:gpa=16M,size=4M,dirty-log=on" "snapshot info"
	run info_json snapshot info --json "$tmp/full.snap"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["kind"]=="full" and len(d["regions"])==2 and d["regions"][1]["gpa"]==16<<20, d' \
		"$tmp/info_json.out" || fail "info --json output"
	# Holes: 40 % of 12 MiB written, the file must hold far less than 12 MiB of blocks.
	blocks=$(stat -c %b "$tmp/full.snap")
	[ "$blocks" -lt $((10 * 2048)) ] || fail "snapshot file has $blocks blocks: zero pages not holes"
	# A diff of the restored memory, merged, restores to the diff's checksum.
	run diff snapshot save --diff-of "$tmp/full.snap" --dirty 2 --seed 9 "$tmp/diff.snap"
	[ "$status" -eq 0 ] || fail "snapshot save --diff-of: exit $status"
	after=$(sed -n 's/^memory checksum //p' "$tmp/diff.out")
	run info_diff snapshot info --json "$tmp/diff.snap"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["kind"]=="diff" and 0 < d["data_bytes"] < (12<<20)//10, d' \
		"$tmp/info_diff.out" || fail "diff info: not a small diff"
	run merge snapshot merge "$tmp/full.snap" "$tmp/diff.snap" "$tmp/merged.snap"
	[ "$status" -eq 0 ] || fail "snapshot merge: exit $status"
	run verify snapshot verify "$tmp/merged.snap"
	[ "$status" -eq 0 ] || fail "snapshot verify: exit $status"
	run restore_merged snapshot restore --mode copy "$tmp/merged.snap"
	got=$(sed -n 's/^memory checksum //p' "$tmp/restore_merged.out")
	[ "$got" = "$after" ] || fail "merged restore: checksum $got, expected $after"
	# The same steps with --json: one object each, with what the text says.
	run save_json snapshot save --json --config "$cfg" --fill 40 --seed 3 "$tmp/full2.snap"
	[ "$status" -eq 0 ] || fail "snapshot save --json: exit $status"
	run diff_json snapshot save --json --diff-of "$tmp/full2.snap" --dirty 2 --seed 9 \
		"$tmp/diff2.snap"
	[ "$status" -eq 0 ] || fail "snapshot save --diff-of --json: exit $status"
	run merge_json snapshot merge --json "$tmp/full2.snap" "$tmp/diff2.snap" "$tmp/merged2.snap"
	[ "$status" -eq 0 ] || fail "snapshot merge --json: exit $status"
	run verify_json snapshot verify --json "$tmp/merged2.snap"
	[ "$status" -eq 0 ] || fail "snapshot verify --json: exit $status"
	python3 - "$tmp" "$saved" "$after" <<'PY' || fail "snapshot --json outputs"
import json, sys
tmp, saved, after = sys.argv[1:]
full = json.load(open(tmp + "/save_json.out"))
diff = json.load(open(tmp + "/diff_json.out"))
merged = json.load(open(tmp + "/merge_json.out"))
verify = json.load(open(tmp + "/verify_json.out"))
assert full["kind"] == "full" and full["checksum"] == saved and full["pages_written"] > 0, full
assert len(full["id"]) == 32 and full["data_bytes"] > 0, full
assert diff["kind"] == "diff" and diff["checksum"] == after, diff
assert 0 < diff["data_bytes"] < full["data_bytes"], (diff, full)
assert merged["out"].endswith("/merged2.snap") and merged["data_bytes"] >= full["data_bytes"], merged
assert verify["ok"] is True and verify["file"].endswith("/merged2.snap"), verify
PY
	run merge_onto_input snapshot merge "$tmp/full.snap" "$tmp/diff.snap" "$tmp/full.snap"
	[ "$status" -eq 1 ] || fail "merge onto its own input: exit $status, expected 1"
	run verify_input snapshot verify "$tmp/full.snap"
	[ "$status" -eq 0 ] || fail "merge onto its own input damaged or removed it"
	run merge_wrong snapshot merge "$tmp/diff.snap" "$tmp/full.snap" "$tmp/bad.snap"
	[ "$status" -eq 1 ] || fail "merge in the wrong order: exit $status, expected 1"
	[ ! -e "$tmp/bad.snap" ] || fail "a failed merge left its output behind"
	# Damage: a flipped data byte fails verify and copy restore; a cut file fails open.
	cp "$tmp/full.snap" "$tmp/corrupt.snap"
	off=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["regions"][0]["data_offset"])' "$tmp/info_json.out")
	printf '\377' | dd of="$tmp/corrupt.snap" bs=1 seek=$((off + 4096 * 3 + 5)) conv=notrunc status=none
	run verify_bad snapshot verify "$tmp/corrupt.snap"
	[ "$status" -eq 1 ] || fail "verify of a corrupt file: exit $status, expected 1"
	expect_in "$tmp/verify_bad.err" "region 0" "verify of a corrupt file"
	run restore_bad snapshot restore --mode copy "$tmp/corrupt.snap"
	[ "$status" -eq 1 ] || fail "restore of a corrupt file: exit $status, expected 1"
	truncate -s -4096 "$tmp/corrupt.snap"
	run info_cut snapshot info "$tmp/corrupt.snap"
	[ "$status" -eq 1 ] || fail "info of a truncated file: exit $status, expected 1"
	expect_in "$tmp/info_cut.err" "truncated" "info of a truncated file"
	# Usage errors exit 2.
	run bad_mode snapshot restore --mode teleport "$tmp/full.snap"
	[ "$status" -eq 2 ] || fail "restore --mode teleport: exit $status, expected 2"
	run bad_sub snapshot frobnicate x
	[ "$status" -eq 2 ] || fail "snapshot frobnicate: exit $status, expected 2"
	run bad_fill snapshot save --fill 200 "$tmp/x.snap"
	[ "$status" -eq 2 ] || fail "save --fill 200: exit $status, expected 2"
	# An option of another subcommand, a mix of full and diff saves, a wrong file count:
	# refused with 2 before anything is read or written.
	for args in "info --fill 3 $tmp/full.snap" "verify --mode map $tmp/full.snap" \
		"merge --config anon:gpa=0,size=1M $tmp/full.snap $tmp/diff.snap $tmp/m.snap" \
		"save --diff-of $tmp/full.snap --fill 3 $tmp/x.snap" "save --dirty 3 $tmp/x.snap" \
		"merge $tmp/full.snap $tmp/diff.snap" "info $tmp/full.snap $tmp/diff.snap"; do
		# shellcheck disable=SC2086 # word splitting wanted
		run bad_combo snapshot $args
		[ "$status" -eq 2 ] || fail "snapshot $args: exit $status, expected 2"
		[ -s "$tmp/bad_combo.out" ] && fail "snapshot $args printed on stdout"
	done
	[ ! -e "$tmp/x.snap" ] && [ ! -e "$tmp/m.snap" ] || fail "a refused snapshot command wrote a file"
	run snap_help snapshot --help
	[ "$status" -eq 0 ] || fail "snapshot --help: exit $status"
	expect_in "$tmp/snap_help.out" "vmmem snapshot merge" "snapshot --help"
	# Under qemu-user the page size is the emulator's (QEMU_PAGESIZE): a snapshot saved with
	# 4 KiB pages restores by copy where pages are 64 KiB, and map restore refuses it (its
	# data cannot be mapped at 4 KiB offsets) with a message naming both sizes.
	# qemu-aarch64 honours QEMU_PAGESIZE; qemu-s390x does not (its pages stay 4 KiB), so the
	# check runs where the emulator really presents 64 KiB pages (the region table says).
	if [ -n "${VMMEM_TEST_UNDER_QEMU_USER:-}" ] &&
	   QEMU_PAGESIZE=65536 "$tool" map 'anon:gpa=0,size=1M' 2>/dev/null | grep -q '^\[0x.* 64 KiB '; then
		old_pagesize=${QEMU_PAGESIZE:-}
		export QEMU_PAGESIZE=4096
		run save4k snapshot save --config 'anon:gpa=0,size=8M' --fill 30 --seed 5 "$tmp/p4k.snap"
		[ "$status" -eq 0 ] || fail "save with 4 KiB pages: exit $status"
		saved4k=$(sed -n 's/^memory checksum //p' "$tmp/save4k.out")
		export QEMU_PAGESIZE=65536
		run map64k snapshot restore --mode map "$tmp/p4k.snap"
		[ "$status" -eq 1 ] || fail "map restore of a 4 KiB snapshot with 64 KiB pages: exit $status, expected 1"
		expect_in "$tmp/map64k.err" "not a multiple of the host's" "map restore across page sizes"
		run copy64k snapshot restore --mode copy "$tmp/p4k.snap"
		[ "$status" -eq 0 ] || fail "copy restore of a 4 KiB snapshot with 64 KiB pages: exit $status"
		got=$(sed -n 's/^memory checksum //p' "$tmp/copy64k.out")
		[ "$got" = "$saved4k" ] || fail "copy restore across page sizes: checksum $got, saved $saved4k"
		if [ -n "$old_pagesize" ]; then export QEMU_PAGESIZE="$old_pagesize"; else unset QEMU_PAGESIZE; fi
	elif [ -n "${VMMEM_TEST_UNDER_QEMU_USER:-}" ]; then
		echo "note: this emulator does not present 64 KiB pages; restore across page sizes not checked"
	fi
	;;
*)
	echo "usage: $0 basic|hugetlb|snapshot PATH-TO-VMMEM" >&2
	exit 2
	;;
esac

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed ($checks commands run)" >&2
	exit 1
fi
echo "all tool checks passed ($checks commands run)"
exit 0
