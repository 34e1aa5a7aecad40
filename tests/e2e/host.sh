#!/usr/bin/env bash
# Runs the e2e tier where it can run:
#   1. /dev/kvm with hardware virtualization (vmx|svm) -> tests/e2e/run.sh directly;
#   2. else, if the nested test host is available     -> inside it (tests/nested/run.sh);
#   3. else prints "SKIP e2e: <reason>".
#   tests/e2e/host.sh [BUILD_DIR] [TEST...]     (BUILD_DIR defaults to $BUILD or build)
# Env: E2E_WHERE=direct|nested to force a path; E2E_NESTED_TIMEOUT (s, default 1500).
# Output: the PASS/FAIL/SKIP lines (plus details) of tests/e2e/run.sh; exit 1 if any failed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-${BUILD:-build}}
[ $# -eq 0 ] || shift
case $build in /*) ;; *) build=$root/$build ;; esac

where=${E2E_WHERE:-}
if [ -z "$where" ]; then
	if [ -c /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
		where=direct
	elif reason=$(bash "$root/tests/nested/available.sh"); then
		where=nested
	else
		echo "SKIP e2e: no hardware KVM here and the nested host cannot run: $reason"
		exit 0
	fi
fi

missing=""
for f in ember guest/vmlinux guest/initramfs.cpio.gz guest/rootfs.ext4; do
	[ -e "$build/$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
	echo "FAIL e2e: missing build products:$missing (run make && make guest)"
	exit 1
fi

if [ "$where" = direct ]; then
	echo "e2e: running on this host's hardware KVM"
	exec sh "$here/run.sh" "$build" "$@"
fi

# Nested: a payload of symlinks (tests/nested/run.sh packs it with links followed).
payload=$build/nested/e2e-payload
rm -rf "$payload"
mkdir -p "$payload/guest" "$payload/tests"
ln -s "$build/ember" "$payload/ember"
[ ! -e "$build/ember-jailer" ] || ln -s "$build/ember-jailer" "$payload/ember-jailer"
for f in vmlinux bzImage rootfs.ext4 initramfs.cpio.gz probe.elf ember-vsock; do
	[ ! -e "$build/guest/$f" ] || ln -s "$build/guest/$f" "$payload/guest/$f"
done
ln -s "$here" "$payload/tests/e2e"
[ ! -d "$root/tests/kvm" ] || ln -s "$root/tests/kvm" "$payload/tests/kvm"

echo "e2e: running inside the nested test host (QEMU-TCG L1 with nested SVM; guest timings are TCG times)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
bash "$root/tests/nested/run.sh" --timeout "${E2E_NESTED_TIMEOUT:-1500}" "$payload" tests/e2e/run.sh . "$@" \
	| tee "$out" || rc=${PIPESTATUS[0]}
rc=${PIPESTATUS[0]:-$rc}
case $rc in
97) echo "FAIL e2e: nested host did not come up (not an ember failure; see build/nested/logs/)"; exit 1 ;;
98) echo "FAIL e2e: the e2e run timed out inside the nested host (see build/nested/logs/)"; exit 1 ;;
esac
if ! grep -q '^e2e: [0-9]* passed' "$out"; then
	echo "FAIL e2e: tests/e2e/run.sh ended (rc $rc) without its summary line"
	exit 1
fi
exit "$rc"
