#!/usr/bin/env bash
# Host tier: every branch of tests/lib/kvmhost.sh's decision, on fake inputs, so that the
# three kinds of host (none, kvm_pvm, hardware) are each proved on whatever machine runs it.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
kvmhost_root=$root
. "$root/tests/lib/kvmhost.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'processor\t: 0\nflags\t\t: fpu sse sse2 svm lm\n' >"$tmp/hw"
printf 'processor\t: 0\nflags\t\t: fpu sse sse2 lm hypervisor\n' >"$tmp/sw"
printf 'processor\t: 0\nflags\t\t: fpu vmxe_lookalike lm\n' >"$tmp/lookalike"

# expect NAME WANT-STATUS WANT-OUTPUT-PATTERN DEV CPUINFO NESTED(yes|no) [FORCED] -- NEED
expect() {
	local name=$1 want_rc=$2 want=$3 dev=$4 cpu=$5 nested=$6 forced=$7 need=$8 out rc=0
	out=$(KVMHOST_DEV=$dev KVMHOST_CPUINFO=$cpu EMBER_KVM_WHERE=$forced \
		KVMHOST_NESTED_CHECK=$([ "$nested" = yes ] && echo true || echo "echo qemu missing; false") \
		kvmhost_where "$need") || rc=$?
	if [ "$rc" = "$want_rc" ] && [[ $out =~ $want ]]; then
		echo "PASS kvmhost/$name"
	else
		echo "FAIL kvmhost/$name: status $rc, output '$out' (wanted $want_rc, /$want/)"
	fi
}
expect hardware-probe-direct 0 '^direct$' /dev/null "$tmp/hw" no "" probe
expect hardware-linux-direct 0 '^direct$' /dev/null "$tmp/hw" no "" linux
expect software-probe-direct 0 '^direct$' /dev/null "$tmp/sw" no "" probe
expect software-linux-nested 0 '^nested$' /dev/null "$tmp/sw" yes "" linux
expect software-linux-unavailable 1 'not hardware virtualization.*qemu missing' /dev/null "$tmp/sw" no "" linux
expect vmx-lookalike-is-software 0 '^nested$' /dev/null "$tmp/lookalike" yes "" linux
expect none-probe-nested 0 '^nested$' "$tmp/no-such-kvm" "$tmp/hw" yes "" probe
expect none-linux-nested 0 '^nested$' "$tmp/no-such-kvm" "$tmp/hw" yes "" linux
expect none-unavailable 1 'no usable /dev/kvm.*qemu missing' "$tmp/no-such-kvm" "$tmp/hw" no "" probe
expect regular-file-is-none 1 'no usable /dev/kvm' "$tmp/hw" "$tmp/hw" no "" probe
expect forced-nested 0 '^nested$' /dev/null "$tmp/hw" no nested linux
expect forced-direct 0 '^direct$' "$tmp/no-such-kvm" "$tmp/sw" no direct linux
expect forced-bad 1 'must be direct or nested' /dev/null "$tmp/hw" no elsewhere probe
expect bad-need 1 'NEED is probe or linux' /dev/null "$tmp/hw" no "" windows

# The launcher line: direct runs the script in the payload with the bound, and says
# what a status means.
mkdir -p "$tmp/payload"
printf 'pwd >out; echo "$@" >>out; exit 7\n' >"$tmp/payload/s.sh"
rc=0
kvmhost_run direct 10 "$tmp/payload" s.sh a b || rc=$?
if [ $rc = 7 ] && [ "$(cat "$tmp/payload/out")" = "$tmp/payload
a b" ]; then
	echo "PASS kvmhost/run-direct"
else
	echo "FAIL kvmhost/run-direct: status $rc, out '$(cat "$tmp/payload/out" 2>/dev/null)'"
fi
printf 'sleep 5\n' >"$tmp/payload/slow.sh"
rc=0
kvmhost_run direct 1 "$tmp/payload" slow.sh || rc=$?
msg=$(kvmhost_status $rc kvm/x)
if [ $rc = 124 ] && [[ $msg == "FAIL kvm/x: timed out"* ]]; then
	echo "PASS kvmhost/run-direct-bounded"
else
	echo "FAIL kvmhost/run-direct-bounded: status $rc, '$msg'"
fi
[ -z "$(kvmhost_status 0 x)" ] && echo "PASS kvmhost/status-ok-silent" || echo "FAIL kvmhost/status-ok-silent"
