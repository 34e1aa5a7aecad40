#!/usr/bin/env bash
# Exits 0 silently if the nested test host (tests/nested/run.sh) can run here;
# otherwise prints the reason and exits 1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nested=${NESTED_DIR:-$root/build/nested}
debcache=${EMBER_CACHE:-$HOME/.cache/ember}/nested

command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo "qemu-system-x86_64 missing (package qemu-system-x86)"; exit 1; }
qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg || { echo "qemu-system-x86_64 has no TCG"; exit 1; }
for t in busybox cpio lz4 dpkg-deb depmod; do
	command -v "$t" >/dev/null 2>&1 || { echo "$t missing (run scripts/deps.sh)"; exit 1; }
done
# Prepared already, or a cached .deb, or the package is known to apt.
if [ -f "$nested/current" ] && [ -s "$(cat "$nested/current")/vmlinux" ]; then exit 0; fi
ls "$debcache"/linux-image-*-cloud-amd64_*_amd64.deb >/dev/null 2>&1 && exit 0
if apt-cache show --no-all-versions linux-image-cloud-amd64 2>/dev/null | grep -q '^Depends:.*cloud-amd64'; then
	exit 0
fi
echo "linux-image-cloud-amd64 is neither cached nor known to apt (apt-get update?)"
exit 1
