#!/usr/bin/env bash
# The arm64 tier: build/aarch64/ember boots an arm64 Linux 6.1 guest inside the nested
# arm64 KVM host (tests/nested/run.sh --arch arm64), with the guest kernel from
# guest/kernel/kbuild.sh arm64 (cached) and a busybox initramfs (tests/arm64/).
#   tests/arm64/host.sh [BUILD_DIR]     (BUILD_DIR defaults to $BUILD or build)
# Env: ARM64_E2E_TESTS (default "boot blk dev"), ARM64_TIMEOUT (s, default 900).
# Output: PASS/FAIL/SKIP lines; exit 1 if any failed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-${BUILD:-build}}
case $build in /*) ;; *) build=$root/$build ;; esac

command -v qemu-system-aarch64 >/dev/null || { echo "SKIP arm64: qemu-system-aarch64 missing (package qemu-system-arm)"; exit 0; }
ember=$build/aarch64/ember
g=$build/guest-arm64
missing=""
for f in "$ember" "$g/Image" "$g/rootfs.ext4" "$g/initramfs.cpio.gz" "$g/initramfs-poweroff.cpio.gz" \
	"$g/ember-vsock"; do
	[ -s "$f" ] || missing="$missing ${f#$build/}"
done
if [ -n "$missing" ]; then
	echo "FAIL arm64: missing build products:$missing (make test-arm64 builds them)"
	exit 1
fi

# The e2e payload layout (tests/e2e/lib.sh), with the arm64 Image as guest/vmlinux.
payload=$build/nested/arm64-payload
rm -rf "$payload"
mkdir -p "$payload/guest" "$payload/tests"
ln -s "$ember" "$payload/ember"
ln -s "$g/Image" "$payload/guest/vmlinux"
for f in rootfs.ext4 initramfs.cpio.gz initramfs-poweroff.cpio.gz ember-vsock; do
	ln -s "$g/$f" "$payload/guest/$f"
done
for d in arm64 e2e lib; do ln -s "$root/tests/$d" "$payload/tests/$d"; done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
start=$SECONDS
# Streamed as it comes, so that a run that hangs shows how far it got. The e2e
# scripts name their checks e2e/...: here they are the arm64 tier's.
run_l1() {
	bash "$root/tests/nested/run.sh" --arch arm64 --timeout "${ARM64_TIMEOUT:-900}" "$payload" \
		tests/arm64/l1.sh ${ARM64_E2E_TESTS:-} 2>&1 | tee "$out" |
		sed -u -n -E 's#^(PASS|FAIL|SKIP) e2e/#\1 arm64/e2e-#; /^(PASS|FAIL|SKIP) arm64/p; /^nested: (L1 up|done|L1 clock)/p; /^  /p' ||
		true
	rc=${PIPESTATUS[0]}
}
run_l1
# An emulated L1 that stops answering (seen on x86: tests/e2e/host.sh) gets one more try.
if [ "$rc" = 98 ]; then
	echo "  RETRY arm64: the nested host stopped answering (see build/nested/logs/); once more in a new one"
	run_l1
fi
echo "arm64: $((SECONDS - start)) s in all (log: $(sed -n 's/.*log \(\/.*\.log\)$/\1/p' "$out" | head -1))"
if [ $rc -ne 0 ]; then
	grep -q '^FAIL ' "$out" || { echo "FAIL arm64: nested host run failed (status $rc)"; tail -30 "$out"; }
	exit 1
fi
