#!/usr/bin/env bash
# Packs the arm64 test guest's initramfs: busybox-static for arm64 (Debian's .deb,
# through scripts/arm64-debs.sh) and tests/arm64/init.
#   tests/arm64/initramfs.sh OUT.cpio.gz
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash "$root/scripts/arm64-debs.sh" extract "$work/deb" busybox-static
mkdir -p "$work/tree/bin" "$work/tree/proc" "$work/tree/sys" "$work/tree/dev"
cp "$work/deb/bin/busybox" "$work/tree/bin/busybox"
# The applets the init uses (busybox cannot be run here to list them all).
for a in sh mount cat cut grep ls wc echo poweroff reboot sleep; do
	ln -s busybox "$work/tree/bin/$a"
done
cp "$here/init" "$work/tree/init"
chmod 755 "$work/tree/init"
. "$root/scripts/newc.sh"
newc_pack "$work/tree" | gzip -9 > "$out.tmp"
mv "$out.tmp" "$out"
