#!/usr/bin/env bash
# Prepares the nested test host (L1) from Debian packages, without installing a
# kernel on this machine, and prints the directory that holds it:
#   <dir>/vmlinux     ELF vmlinux of linux-image-<ver>-cloud-amd64 (QEMU microvm boots it via PVH)
#   <dir>/Image       NESTED_ARCH=arm64: the arm64 Image of linux-image-<ver>-cloud-arm64
#                     (KVM built in; QEMU virt boots it), busybox from busybox-static:arm64
#   <dir>/base.cpio   busybox-static + modules + tests/nested/init (newc, uncompressed)
# Cached under build/nested/l1-<package>-<version>/ (base.cpio re-made only when its
# inputs change); the .deb is also kept in ${EMBER_CACHE:-$HOME/.cache/ember}/nested/.
# Progress goes to stderr, the directory to stdout.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nested=${NESTED_DIR:-$root/build/nested}
debcache=${EMBER_CACHE:-$HOME/.cache/ember}/nested
arch=${NESTED_ARCH:-x86_64}
# Modules wanted in L1 (dependencies are added from modules.dep, in load order).
case $arch in
x86_64) debarch=amd64 kfile=vmlinux current=current
	want_modules=${NESTED_MODULES:-"kvm-amd tun tap veth bridge vsock vhost_vsock vhost_net loop"} ;;
arm64 | aarch64) arch=arm64 debarch=arm64 kfile=Image current=current-arm64
	want_modules=${NESTED_MODULES:-"tun tap veth bridge vsock vhost_vsock vhost_net loop"} ;;
*) echo "nested: NESTED_ARCH=$arch: x86_64 or arm64" >&2; exit 2 ;;
esac
meta=linux-image-cloud-$debarch
arm64_debs() { bash "$root/scripts/arm64-debs.sh" "$@"; }

say() { echo "nested: $*" >&2; }
die() { echo "nested: $*" >&2; exit 1; }

mkdir -p "$nested" "$debcache" 2>/dev/null || mkdir -p "$nested"

busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox missing (package busybox-static)"
# The host's busybox lists the applets; L1 runs the arm64 build of the same package.
list_busybox=$busybox
if [ "$arch" = arm64 ]; then
	deb=$(arm64_debs fetch busybox-static) || die "cannot download busybox-static for arm64"
	bbdir=$nested/busybox-arm64-$(basename "$deb" .deb)
	if [ ! -x "$bbdir/bin/busybox" ]; then
		rm -rf "$bbdir.tmp" && dpkg-deb -x "$deb" "$bbdir.tmp" && mv "$bbdir.tmp" "$bbdir"
	fi
	busybox=$bbdir/bin/busybox
fi
key=$( { cat "$here/init" "$0" "$root/scripts/newc.sh"; echo "$want_modules"; sha256sum "$busybox"; } | sha256sum | cut -c1-16)

# Fast path: nothing changed since the last run (apt lists included).
if [ -f "$nested/$current" ]; then
	cur=$(cat "$nested/$current")
	if [ -s "$cur/$kfile" ] && [ "$(cat "$cur/base.key" 2>/dev/null)" = "$key" ] \
		&& { [ ! -d /var/lib/apt/lists ] || [ "$nested/$current" -nt /var/lib/apt/lists ]; }; then
		echo "$cur"
		exit 0
	fi
fi

# --- which kernel package -------------------------------------------------------------
pkg="" ver=""
if [ "$arch" = arm64 ]; then
	# The host's apt knows no arm64 packages: scripts/arm64-debs.sh has its own lists.
	pkg=$(arm64_debs show "$meta" | sed -n 's/^Depends:.*\(linux-image-[^ ,]*-cloud-arm64\).*/\1/p' | head -1)
	[ -n "$pkg" ] || die "cannot resolve $meta for arm64"
	deb=$(arm64_debs fetch "$pkg") || die "cannot download $pkg for arm64"
	b=$(basename "$deb" _arm64.deb); ver=${b#*_}; ver=${ver//%3a/:}
	l1=$nested/l1-$pkg-$ver
elif apt-cache show --no-all-versions "$meta" >/dev/null 2>&1; then
	pkg=$(apt-cache show --no-all-versions "$meta" | sed -n 's/^Depends:.*\(linux-image-[^ ,]*-cloud-amd64\).*/\1/p' | head -1)
	[ -n "$pkg" ] && ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
fi
[ "$arch" = arm64 ] || deb=""
if [ "$arch" = x86_64 ] && [ -n "$pkg" ] && [ -n "$ver" ]; then
	deb=$(ls "$debcache/${pkg}_${ver//:/%3a}_amd64.deb" 2>/dev/null || true)
	l1=$nested/l1-$pkg-$ver
	if [ -z "$deb" ] && [ ! -s "$l1/vmlinux" ]; then
		say "downloading $pkg $ver"
		tmp=$(mktemp -d "$debcache/dl.XXXXXX")
		chmod 755 "$tmp"
		if (cd "$tmp" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$tmp/err"); then
			mv "$tmp"/*.deb "$debcache/" && deb=$(ls "$debcache/${pkg}_"*"_amd64.deb" | grep -F "_${ver//:/%3a}_" | head -1)
		else
			say "apt-get download $pkg failed: $(tail -1 "$tmp/err")"
		fi
		rm -rf "$tmp"
	fi
fi
if [ -z "$deb" ] && { [ -z "${l1:-}" ] || [ ! -s "$l1/$kfile" ]; }; then
	# Fall back to the newest kernel already cached.
	deb=$(ls -t "$debcache"/linux-image-*-cloud-amd64_*_amd64.deb 2>/dev/null | head -1 || true)
	[ -n "$deb" ] || die "no cloud kernel: cannot download $meta's kernel and none cached in $debcache"
	b=$(basename "$deb" _amd64.deb); pkg=${b%%_*}; ver=${b#*_}; ver=${ver//%3a/:}
	l1=$nested/l1-$pkg-$ver
	say "using cached $pkg $ver"
fi

# --- vmlinux + modules out of the package -------------------------------------------------
if [ "$arch" = arm64 ] && { [ ! -s "$l1/Image" ] || [ ! -d "$l1/x/lib/modules" ]; }; then
	say "unpacking $(basename "$deb")"
	rm -rf "$l1.tmp"; mkdir -p "$l1.tmp"
	dpkg-deb -x "$deb" "$l1.tmp/x"
	# The arm64 vmlinuz is the plain Image in 6.1; zcat -f takes a gzipped one too.
	zcat -f "$l1.tmp"/x/boot/vmlinuz-* > "$l1.tmp/Image"
	[ "$(od -An -c -j 56 -N4 "$l1.tmp/Image" | tr -d ' ')" = "ARMd" ] || die "L1 Image has no arm64 header"
	rm -rf "$l1"; mv "$l1.tmp" "$l1"
fi
if [ "$arch" = x86_64 ] && { [ ! -s "$l1/vmlinux" ] || [ ! -d "$l1/x/lib/modules" ]; }; then
	say "unpacking $(basename "$deb")"
	rm -rf "$l1.tmp"; mkdir -p "$l1.tmp"
	dpkg-deb -x "$deb" "$l1.tmp/x"
	vmlinuz=$(ls "$l1.tmp"/x/boot/vmlinuz-* | head -1)
	rd() { od -An -t "u$2" -j "$1" -N "$2" "$vmlinuz" | tr -d ' '; }
	[ "$(od -An -c -j $((0x202)) -N4 "$vmlinuz" | tr -d ' ')" = "HdrS" ] || die "$vmlinuz: no bzImage setup header"
	setup_sects=$(rd $((0x1f1)) 1); [ "$setup_sects" -ne 0 ] || setup_sects=4
	poff=$(rd $((0x248)) 4); plen=$(rd $((0x24c)) 4)
	start=$(( (setup_sects + 1) * 512 + poff ))
	# The payload ends with the 4-byte decompressed size; lz4 -d wants it gone.
	isize=$(od -An -t u4 -j $((start + plen - 4)) -N4 "$vmlinuz" | tr -d ' ')
	magic=$(od -An -t x1 -j "$start" -N4 "$vmlinuz" | tr -d ' ')
	[ "$magic" = "02214c18" ] || die "$vmlinuz: payload is not LZ4 legacy (magic $magic)"
	dd if="$vmlinuz" bs=1M iflag=skip_bytes,count_bytes skip="$start" count=$((plen - 4)) status=none \
		| lz4 -dc > "$l1.tmp/vmlinux" 2>/dev/null || die "lz4 -d of the L1 kernel payload failed"
	[ "$(stat -c %s "$l1.tmp/vmlinux")" = "$isize" ] || die "L1 vmlinux size mismatch"
	[ "$(od -An -c -N4 "$l1.tmp/vmlinux" | tr -d ' ')" = "177ELF" ] || die "L1 vmlinux is not ELF"
	rm -rf "$l1"; mv "$l1.tmp" "$l1"
fi

# --- base initramfs -----------------------------------------------------------------------
if [ "$(cat "$l1/base.key" 2>/dev/null)" != "$key" ] || [ ! -s "$l1/base.cpio" ]; then
	say "packing base initramfs"
	file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || die "$busybox is not static (package busybox-static)"
	kver=$(ls "$l1/x/lib/modules" | head -1)
	mdir=$l1/x/lib/modules/$kver
	# The package ships no modules.dep (depmod makes it at install time).
	[ -s "$mdir/modules.dep" ] || depmod -b "$l1/x" "$kver" || die "depmod failed (package kmod)"
	tree=$l1/tree.tmp
	rm -rf "$tree"; mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,etc/nested,lib/modules,proc,sys,dev,tmp,run,root,payload}
	cp "$busybox" "$tree/bin/busybox"
	for a in $("$list_busybox" --list-full); do
		[ -e "$tree/$a" ] || ln -s /bin/busybox "$tree/$a"
	done
	cp "$here/init" "$tree/init"; chmod 755 "$tree/init"
	# Resolve module dependencies from modules.dep (depth-first, deps first).
	declare -A seen=()
	order=()
	add_mod() {
		local rel=$1 d
		[ -z "${seen[$rel]:-}" ] || return 0
		seen[$rel]=1
		for d in $(sed -n "s|^$rel: *||p" "$mdir/modules.dep"); do add_mod "$d"; done
		order+=("$rel")
	}
	for m in $want_modules; do
		rel=$(grep -E "/${m}\.ko(\.xz|\.zst|\.gz)?:" "$mdir/modules.dep" | head -1 | cut -d: -f1)
		if [ -z "$rel" ]; then
			alt=$(echo "$m" | tr '_-' '-_')
			rel=$(grep -E "/${alt}\.ko(\.xz|\.zst|\.gz)?:" "$mdir/modules.dep" | head -1 | cut -d: -f1)
		fi
		if [ -z "$rel" ]; then
			grep -qE "/${m}\.ko" "$mdir/modules.builtin" 2>/dev/null || say "module $m not in $kver (skipped)"
			continue
		fi
		add_mod "$rel"
	done
	: > "$tree/etc/nested/modules"
	for rel in "${order[@]}"; do
		base=$(basename "$rel"); name=${base%%.ko*}.ko
		case $rel in
		*.ko.xz)  xz -dc "$mdir/$rel" > "$tree/lib/modules/$name" ;;
		*.ko.zst) zstd -qdc "$mdir/$rel" > "$tree/lib/modules/$name" ;;
		*.ko.gz)  gzip -dc "$mdir/$rel" > "$tree/lib/modules/$name" ;;
		*)        cp "$mdir/$rel" "$tree/lib/modules/$name" ;;
		esac
		echo "$name" >> "$tree/etc/nested/modules"
	done
	. "$root/scripts/newc.sh"
	newc_pack "$tree" > "$l1/base.cpio.tmp"
	mv "$l1/base.cpio.tmp" "$l1/base.cpio"
	echo "$key" > "$l1/base.key"
	[ "$arch" != x86_64 ] || grep -q '^kvm-amd.ko$' "$tree/etc/nested/modules" || die "kvm-amd module missing from $pkg"
	say "L1: $pkg $ver; modules: $(tr '\n' ' ' < "$tree/etc/nested/modules")"
	rm -rf "$tree"
fi
echo "$l1" > "$nested/$current"
echo "$l1"
