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
# /dev/console must exist before /init runs: its newc entry is written by hand (no
# mknod needed), then the tree follows.
newc() { # name mode(octal) rdevmajor rdevminor
	local name=$1 mode=$((8#$2)) n=$((${#1} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		0 "$mode" 0 0 1 0 0 0 0 "$3" "$4" "$n" 0 "$name"
	local pad=$(((4 - (110 + n) % 4) % 4))
	[ "$pad" -eq 0 ] || head -c "$pad" /dev/zero
}
{
	newc dev 040755 0 0
	newc dev/console 020600 5 1
	(cd "$work/tree" && find . -mindepth 1 ! -path ./dev | LC_ALL=C sort | sed 's|^\./||' |
		cpio -o -H newc -R 0:0 --quiet)
} | gzip -9 > "$out.tmp"
mv "$out.tmp" "$out"
