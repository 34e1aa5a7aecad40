#!/usr/bin/env bash
# Host tier: tests/e2e/lib.sh's vm_run retries a guest that hung only inside the nested
# test host, at most twice per e2e run, and says so; proved with a fake ember that hangs
# (no EMBER-RESULT line) on the runs listed in its HANG_ON file.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/ember" <<'FAKE'
#!/bin/sh
n=$(($(cat "$STATE/runs" 2>/dev/null || echo 0) + 1))
echo "$n" >"$STATE/runs"
if grep -qx "$n" "$STATE/hang_on"; then
	trap 'echo "ember: state at stop: vcpu 0: halted"; exit 6' TERM
	while :; do sleep 1; done
fi
echo "EMBER-RESULT boot PASS run $n"
FAKE
chmod +x "$tmp/ember"

# scenario NAME NESTED HANG_ON...: runs vm_run three times in one e2e run (one shell,
# as a section does), prints the lines it printed and, last, "rc=<VM_RC of each run>".
scenario() {
	local name=$1 nested=$2
	shift 2
	mkdir -p "$tmp/$name"
	printf '%s\n' "$@" >"$tmp/$name/hang_on"
	(
		export STATE=$tmp/$name TMPDIR=$tmp/$name E2E_ROOT=$tmp EMBER=$tmp/ember
		[ "$nested" = no ] || export EMBER_NESTED_HOST=1
		rm -f "$TMPDIR/ember-e2e-retries"
		. "$root/tests/e2e/lib.sh"
		rcs=""
		for i in 1 2 3; do
			vm_run "vm$i" 1 --kernel none
			rcs="$rcs $VM_RC"
		done
		echo "rc=$rcs"
	) 2>&1
}
check() { # NAME OUTPUT WANT-RC-LINE WANT-RETRIES
	local name=$1 out=$2 want=$3 retries=$4 got
	got=$(printf '%s\n' "$out" | grep -c 'RETRY e2e/')
	if printf '%s\n' "$out" | grep -qx "$want" && [ "$got" = "$retries" ]; then
		echo "PASS e2e-retry/$name"
	else
		echo "FAIL e2e-retry/$name: wanted '$want' and $retries RETRY lines, got $got:"
		printf '%s\n' "$out" | sed 's/^/    /' | tail -15
	fi
}
# Nested: the first run of vm1 hangs, its retry passes; vm2 and vm3 pass at once.
out=$(scenario one-hang yes 1)
check nested-hang-retried "$out" "rc= 0 0 0" 1
printf '%s\n' "$out" | grep -q 'state at stop: vcpu 0: halted' &&
	echo "PASS e2e-retry/hung-state-printed" ||
	echo "FAIL e2e-retry/hung-state-printed: the hung run's state was not shown"
# A guest that hangs twice in a row fails (timeout), its one retry spent.
out=$(scenario hangs-twice yes 1 2)
check nested-second-hang-fails "$out" "rc= timeout 0 0" 1
# Two retries per run, no more: the third hang is not run again.
out=$(scenario budget yes 1 3 5)
check nested-two-retries-at-most "$out" "rc= 0 0 timeout" 2
# Outside the nested host (hardware KVM), a hang is never run again.
out=$(scenario direct no 1)
check direct-no-retry "$out" "rc= timeout 0 0" 0
