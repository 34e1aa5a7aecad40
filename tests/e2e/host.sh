#!/usr/bin/env bash
# Runs the e2e tier where it can run:
#   1. /dev/kvm with hardware virtualization (vmx|svm) -> directly;
#   2. else, if the nested test host is available     -> inside it (tests/nested/run.sh);
#   3. else prints "SKIP e2e: <reason>".
# tests/lib/kvmhost.sh decides; both launchers run tests/e2e/launch.sh in one payload.
#   tests/e2e/host.sh [BUILD_DIR] [TEST...]     (BUILD_DIR defaults to $BUILD or build)
# Env: E2E_WHERE (or EMBER_KVM_WHERE)=direct|nested to force a path; E2E_NESTED_TIMEOUT
# (s, default 1500) bounds a direct run; inside the nested host each section gets its own
# L1 and E2E_SECTION_TIMEOUT (s, default 600).
# Output: the PASS/FAIL/SKIP lines (plus details) of tests/e2e/run.sh; exit 1 if any failed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-${BUILD:-build}}
[ $# -eq 0 ] || shift
case $build in /*) ;; *) build=$root/$build ;; esac

kvmhost_root=$root
. "$root/tests/lib/kvmhost.sh"
[ -z "${E2E_WHERE:-}" ] || EMBER_KVM_WHERE=$E2E_WHERE
if ! where=$(kvmhost_where linux); then
	echo "SKIP e2e: $where"
	exit 0
fi

missing=""
for f in ember guest/vmlinux guest/initramfs.cpio.gz guest/rootfs.ext4; do
	[ -e "$build/$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
	echo "FAIL e2e: missing build products:$missing (run make && make guest)"
	exit 1
fi

# A payload of symlinks, the same for both launchers (the nested one packs it with links
# followed). tests/e2e/launch.sh, run in it, proves the host it lands on is the one
# kvmhost_where chose for it.
payload=$build/nested/e2e-payload
rm -rf "$payload"
mkdir -p "$payload/guest" "$payload/tests"
ln -s "$build/ember" "$payload/ember"
[ ! -e "$build/ember-jailer" ] || ln -s "$build/ember-jailer" "$payload/ember-jailer"
# vmlinux has a PVH entry note, which ember enters by; a copy without it boots through
# Linux's 64-bit entry (t_boot.sh runs both).
if [ "$build/guest/vmlinux" -nt "$build/guest/vmlinux-nopvh" ] &&
	! python3 "$here/nopvh.py" "$build/guest/vmlinux" "$build/guest/vmlinux-nopvh"; then
	rm -f "$build/guest/vmlinux-nopvh"
fi
for f in vmlinux vmlinux-nopvh bzImage rootfs.ext4 initramfs.cpio.gz probe.elf ember-vsock; do
	[ ! -e "$build/guest/$f" ] || ln -s "$build/guest/$f" "$payload/guest/$f"
done
# The API client (busybox has no curl) for the tests that boot through the API.
[ ! -e "$build/tests/bin/fcclient" ] || ln -s "$build/tests/bin/fcclient" "$payload/fcclient"
# The page-fault handlers of the Uffd snapshot backend (t_snapshot.sh).
for f in ember-uffd-ondemand ember-uffd-prefetch; do
	[ ! -e "$build/$f" ] || ln -s "$build/$f" "$payload/$f"
done
ln -s "$here" "$payload/tests/e2e"
[ ! -d "$root/tests/kvm" ] || ln -s "$root/tests/kvm" "$payload/tests/kvm"
ln -s "$root/tests/lib" "$payload/tests/lib"
ln -s "$root/tests/nested/stall-l1.sh" "$payload/stall-l1.sh"

case $where in
direct) echo "e2e: running on this host's hardware KVM" ;;
*) echo "e2e: running inside the nested test host (QEMU-TCG L1 with nested SVM; guest timings are TCG times)" ;;
esac
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run_once TIMEOUT LAUNCH-ARGS...: one launch, its lines shown as they come; sets rc.
run_once() {
	local t=$1
	shift
	rc=0
	kvmhost_run "$where" "$t" "$payload" tests/e2e/launch.sh "$@" | tee "$out" || rc=${PIPESTATUS[0]}
	rc=${PIPESTATUS[0]:-$rc}
}
# verdict LABEL: the FAIL line the last launch's status or output calls for; 1 if any.
verdict() {
	if [ -n "$(kvmhost_status "$rc" "$1")" ]; then
		kvmhost_status "$rc" "$1"
		return 1
	fi
	if ! grep -q '^e2e: [0-9]* passed' "$out"; then
		echo "FAIL $1: tests/e2e/run.sh ended (rc $rc) without its summary line"
		return 1
	fi
	[ "$rc" = 0 ]
}

if [ "$where" = direct ]; then
	run_once "${E2E_NESTED_TIMEOUT:-1500}" "$@"
	verdict e2e
	exit
fi
# Inside the nested host, one fresh L1 per section. The TCG-emulated L1 itself has been
# seen to stop for good (no output, its guests and its own shell stalled): a few times in
# a hundred L2 boots, and up to three times in one run on a loaded host. L1 beats on a
# second serial port, so tests/nested/run.sh notices such a stop in NESTED_STALL_SECS
# (120 s) instead of at the section's timeout; the section then runs again in a new L1,
# after a RETRY line, at most twice, instead of the rest of the tier being lost.
status=0 first=1

# That detection, proven every run: an L1 whose heartbeat stops (stall-l1.sh) must be
# given up on, with rc 98 and the reason, within the stall time (10 s here).
t_stall=$(date +%s)
src=0
NESTED_STALL_SECS=10 kvmhost_run "$where" 120 "$payload" stall-l1.sh >"$out" 2>&1 || src=$?
# With socat (scripts/deps.sh), the stop also shows where L1's vCPU was, from QEMU's
# monitor (here: running, its shell asleep).
state_ok=1
! command -v socat >/dev/null || grep -q '^  L1 state: RIP=' "$out" || state_ok=0
if [ "$src" = 98 ] && grep -q '^stall-l1: heartbeat stopped' "$out" &&
	grep -q '^nested: L1 stopped: no heartbeat for 10s' "$out" && [ "$state_ok" = 1 ]; then
	echo "PASS e2e/nested-stall-detected (L1 given up on $(($(date +%s) - t_stall)) s after its start; $(grep -m1 '^  L1 state: RIP=' "$out" | cut -c13-36))"
else
	echo "FAIL e2e/nested-stall-detected: rc $src (want 98 after 'no heartbeat for 10s' and L1's state); the output's end:"
	tail -n 5 "$out" | sed 's/^/  /'
	status=1
fi

for section in ${*:-$(sh "$here/run.sh" --list)}; do
	check=""
	[ "$first" = 1 ] || check=--no-launcher-check
	first=0
	run_once "${E2E_SECTION_TIMEOUT:-600}" $check "$section"
	for retry in 1 2; do
		[ "$rc" = 98 ] || break
		echo "  RETRY e2e section $section ($retry of 2): the nested host stopped answering (see build/nested/logs/); again in a new one"
		run_once "${E2E_SECTION_TIMEOUT:-600}" --no-launcher-check "$section"
	done
	verdict "e2e/$section" || status=1
done
exit "$status"
