#!/usr/bin/env bash
# Smoke test of the nested test host: builds kvmcheck (static) and runs it inside L1.
#   tests/nested/smoke.sh [run.sh options]
# Prints "PASS nested/kvmcheck" or "FAIL nested/kvmcheck: ..." (or SKIP) and exits
# with run.sh's status.
set -eu -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/build/nested/smoke

if ! reason=$(bash "$here/available.sh"); then
	echo "SKIP nested/kvmcheck: $reason"
	exit 0
fi
mkdir -p "$out"
if command -v musl-gcc >/dev/null && [ -e /usr/include/linux/kvm.h ]; then
	mkdir -p "$out/kh"
	ln -sfn /usr/include/linux "$out/kh/linux"
	ln -sfn /usr/include/x86_64-linux-gnu/asm "$out/kh/asm"
	ln -sfn /usr/include/asm-generic "$out/kh/asm-generic"
	musl-gcc -static -Os -Wall -isystem "$out/kh" -o "$out/kvmcheck" "$here/kvmcheck.c"
else
	gcc -static -Os -Wall -o "$out/kvmcheck" "$here/kvmcheck.c"
fi
cp "$here/smoke-l1.sh" "$out/smoke-l1.sh"
rc=0
bash "$here/run.sh" --timeout 120 "$@" "$out" smoke-l1.sh | tee "$out/last.log" || rc=$?
if [ "$rc" = 0 ] && grep -q '^kvmcheck: OK' "$out/last.log"; then
	echo "PASS nested/kvmcheck"
elif [ "$rc" = 97 ]; then
	echo "FAIL nested/kvmcheck: nested host did not come up"
else
	echo "FAIL nested/kvmcheck: rc $rc"
fi
exit "$rc"
