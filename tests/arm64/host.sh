#!/usr/bin/env bash
# The arm64 tier: build/aarch64/ember boots an arm64 Linux 6.1 guest inside the nested
# arm64 KVM host (tests/nested/run.sh --arch arm64), with the guest kernel from
# guest/kernel/kbuild.sh arm64 (cached) and a busybox initramfs (tests/arm64/).
#   tests/arm64/host.sh [BUILD_DIR]     (BUILD_DIR defaults to $BUILD or build)
# Output: PASS/FAIL/SKIP lines; exit 1 if any failed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-${BUILD:-build}}
case $build in /*) ;; *) build=$root/$build ;; esac

command -v qemu-system-aarch64 >/dev/null || { echo "SKIP arm64: qemu-system-aarch64 missing (package qemu-system-arm)"; exit 0; }
ember=$build/aarch64/ember
kernel=$build/guest-arm64/Image
initrd=$build/guest-arm64/initramfs.cpio.gz
missing=""
for f in "$ember" "$kernel" "$initrd"; do [ -s "$f" ] || missing="$missing ${f#$build/}"; done
if [ -n "$missing" ]; then
	echo "FAIL arm64: missing build products:$missing (make test-arm64 builds them)"
	exit 1
fi

payload=$build/nested/arm64-payload
rm -rf "$payload"
mkdir -p "$payload"
ln -s "$ember" "$payload/ember"
ln -s "$kernel" "$payload/Image"
ln -s "$initrd" "$payload/initramfs.cpio.gz"
cp "$here/t_boot.sh" "$payload/"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
bash "$root/tests/nested/run.sh" --arch arm64 --timeout "${ARM64_TIMEOUT:-600}" "$payload" t_boot.sh \
	>"$out" 2>&1 || rc=$?
grep -E '^(PASS|FAIL|SKIP) |^nested: (L1 up|done)' "$out" || true
if [ $rc -ne 0 ]; then
	grep -q '^FAIL ' "$out" || { echo "FAIL arm64: nested host run failed (status $rc)"; tail -30 "$out"; }
	grep -A40 '^FAIL ' "$out" | grep -v '^PASS' | head -60
	exit 1
fi
