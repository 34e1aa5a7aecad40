#!/usr/bin/env bash
# Assembles the guest root filesystem from busybox-static + ember's init.
#   guest/rootfs/build.sh INIT_BIN VSOCK_BIN [OUTDIR]     (OUTDIR defaults to build/guest)
# INIT_BIN and VSOCK_BIN are the static binaries built from init.c and vsock.c
# (mk/guest.mk builds them with musl-gcc -static -Os).
# Results: OUTDIR/rootfs.ext4 (32 MiB ext4, made by `mke2fs -d`, no root needed)
#          OUTDIR/initramfs.cpio.gz (same tree; the init is also /init)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 INIT_BIN VSOCK_BIN [OUTDIR]" >&2; exit 2; }
init_bin=$1 vsock_bin=$2
out=${3:-$root/build/guest}
size_mib=${ROOTFS_MIB:-32}
die() { echo "guest-rootfs: $*" >&2; exit 1; }

# BUSYBOX: another architecture's busybox (arm64); the host's lists the applets.
busybox=${BUSYBOX:-$(command -v busybox)} || die "busybox missing (package busybox-static)"
list_busybox=$(command -v busybox) || die "busybox missing (package busybox-static)"
file -L "$busybox" | grep -q 'statically linked' || die "$busybox is not static (package busybox-static)"
command -v mke2fs >/dev/null || die "mke2fs missing (package e2fsprogs)"
mkdir -p "$out"

tree=$out/rootfs.tree
rm -rf "$tree"
mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,etc/ember,dev,proc,sys,tmp,mnt,root,run,var}
cp "$busybox" "$tree/bin/busybox"
for a in $("$list_busybox" --list-full); do
	[ -e "$tree/$a" ] || ln -s /bin/busybox "$tree/$a"
done
install -m 755 "$init_bin" "$tree/sbin/init"
ln -sf sbin/init "$tree/init"
install -m 755 "$vsock_bin" "$tree/bin/ember-vsock"
install -m 755 "$here/scenario.sh" "$tree/etc/ember/scenario.sh"
echo "root:x:0:0:root:/root:/bin/sh" > "$tree/etc/passwd"
echo "root:x:0:" > "$tree/etc/group"
echo ember > "$tree/etc/hostname"
chmod 1777 "$tree/tmp"

# ext4 image: built in a temp file, then moved into place.
rm -f "$out/rootfs.ext4.tmp"
mke2fs -q -F -t ext4 -L ember-root -E root_owner=0:0 -d "$tree" "$out/rootfs.ext4.tmp" "${size_mib}M" \
	|| die "mke2fs failed"
mv -f "$out/rootfs.ext4.tmp" "$out/rootfs.ext4"

# initramfs: /dev/console first (scripts/newc.sh), then the tree.
. "$root/scripts/newc.sh"
newc_pack "$tree" | gzip -9 > "$out/initramfs.cpio.gz.tmp"
mv -f "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
rm -rf "$tree"
echo "guest-rootfs: $out/rootfs.ext4 (${size_mib} MiB), $out/initramfs.cpio.gz ($(stat -c %s "$out/initramfs.cpio.gz") bytes)"
