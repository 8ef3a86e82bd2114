#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# usage: abi_exports.sh LIBRARY VERSION_SCRIPT
# Fails unless the library's defined dynamic symbols are exactly the version script's
# global symbols, each named vmmem_* and bound to a VMMEM_ version node.
set -euo pipefail
lib=$1 map=$2
exported=$(nm -D --defined-only --with-symbol-versions "$lib" | awk '$3 !~ /^VMMEM_[0-9.]*$/ {print $3}' | sort)
listed=$(sed -n '/global:/,/local:/p' "$map" | grep -o 'vmmem_[A-Za-z0-9_]*' | sort)
status=0
if bad=$(grep -v '^vmmem_[A-Za-z0-9_]*@@\?VMMEM_[0-9.]*$' <<<"$exported"); then
  echo "exported symbols not named vmmem_* or not versioned:"; echo "$bad"; status=1
fi
names=$(sed 's/@.*//' <<<"$exported" | sort)
if ! diff <(echo "$names") <(echo "$listed"); then
  echo "exports differ from $map (< exported only, > listed only)"; status=1
fi
[ $status -eq 0 ] && echo "abi_exports: $(wc -l <<<"$names") symbols, all vmmem_* in the version script"
exit $status
