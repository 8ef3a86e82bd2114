#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# Every man page in DIR renders with man-db and groff without a single warning, and the four
# pages of the release (vmmem(1), libvmmem(3), vmmem-config(5), vmmem-provider(7)) exist.
set -u
dir=$1
status=0
for page in vmmem.1 libvmmem.3 vmmem-config.5 vmmem-provider.7; do
	[ -f "$dir/$page" ] || { echo "FAIL: $dir/$page is missing"; status=1; }
done
for f in "$dir"/*.[1-8]; do
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=all -E UTF-8 -l -Tutf8 "$f" 2>&1 >/dev/null)
	if [ -n "$out" ]; then
		echo "FAIL: $(basename "$f"): $out"
		status=1
	else
		echo "ok: $(basename "$f")"
	fi
done
exit $status
