#!/usr/bin/env bash
# Builds ember's guest kernel: Linux 6.1 from Debian's linux-source-6.1,
# `make tinyconfig` + guest/kernel/ember.config, then `make vmlinux bzImage`.
#
#   guest/kernel/build.sh [OUTDIR]        (OUTDIR defaults to build/guest)
#
# Results: OUTDIR/vmlinux, OUTDIR/bzImage, OUTDIR/kernel.config.
# Cache: key = sha256(fragment + source package version + this script).
#   OUTDIR/kernel-<key>/                       (per tree)
#   ${EMBER_CACHE:-$HOME/.cache/ember}/kernel-<key>/   (per machine; a fresh clone reuses it)
# Env: JOBS (default: nproc), EMBER_CACHE.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build/guest}
mkdir -p "$out"
out=$(cd "$out" && pwd)
frag=$here/ember.config
tarball=/usr/src/linux-source-6.1.tar.xz
cache=${EMBER_CACHE:-$HOME/.cache/ember}
jobs=${JOBS:-$(nproc)}

die() { echo "guest-kernel: $*" >&2; exit 1; }

[ -f "$tarball" ] || die "$tarball missing: run scripts/deps.sh (package linux-source-6.1)"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) || die "linux-source-6.1 not installed"
key=$( { cat "$frag"; echo "linux-source-6.1 $srcver"; cat "$0"; } | sha256sum | cut -c1-16)
kdir=$out/kernel-$key

install_from() {
	cp -f "$1/vmlinux" "$out/vmlinux.tmp" && mv -f "$out/vmlinux.tmp" "$out/vmlinux"
	cp -f "$1/bzImage" "$out/bzImage.tmp" && mv -f "$out/bzImage.tmp" "$out/bzImage"
	cp -f "$1/config" "$out/kernel.config"
	echo "$key" > "$out/kernel.key"
}

complete() { [ -s "$1/vmlinux" ] && [ -s "$1/bzImage" ] && [ -s "$1/config" ]; }

# One builder at a time per output dir.
exec 9>"$out/.kernel.lock"
flock 9

if complete "$kdir"; then
	if [ "$(cat "$out/kernel.key" 2>/dev/null)" != "$key" ] || [ ! -s "$out/vmlinux" ]; then
		install_from "$kdir"
	fi
	echo "guest-kernel: up to date (kernel-$key)"
	exit 0
fi
if complete "$cache/kernel-$key"; then
	rm -rf "$kdir.tmp"; mkdir -p "$kdir.tmp"
	cp -f "$cache/kernel-$key/vmlinux" "$cache/kernel-$key/bzImage" "$cache/kernel-$key/config" "$kdir.tmp/"
	mv "$kdir.tmp" "$kdir"
	install_from "$kdir"
	echo "guest-kernel: copied from machine cache $cache/kernel-$key"
	exit 0
fi

echo "first guest-kernel build: about 7 minutes on 2 cores"
start=$(date +%s)

# Source tree, extracted once per source package version.
src=$out/linux-src-$srcver
if [ ! -f "$src/.extracted" ]; then
	echo "guest-kernel: extracting $tarball"
	rm -rf "$src"; mkdir -p "$src"
	tar -xJf "$tarball" -C "$src" --strip-components=1
	touch "$src/.extracted"
fi

obj=$out/kobj-$key
mkdir -p "$obj"
mk() { make -C "$src" O="$obj" ARCH=x86_64 "$@"; }

mk -s tinyconfig
( cd "$src" && ./scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "$frag" ) >"$obj/merge.log" 2>&1 \
	|| { cat "$obj/merge.log" >&2; die "merge_config.sh failed"; }
mk -s olddefconfig

# Every requested option must have survived olddefconfig.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$obj/.config" || {
			got=$(grep -E "^(# )?${line%%=*}[= ]" "$obj/.config" || echo "absent")
			echo "guest-kernel: requested $line, got: $got" >&2; bad=1; } ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		if grep -q "^$sym=" "$obj/.config"; then
			echo "guest-kernel: requested $sym off, got: $(grep "^$sym=" "$obj/.config")" >&2; bad=1
		fi ;;
	esac
done < "$frag"
[ "$bad" = 0 ] || die "config fragment not fully applied (missing dependencies?)"

mk -j"$jobs" vmlinux bzImage

rm -rf "$kdir.tmp"; mkdir -p "$kdir.tmp"
cp "$obj/vmlinux" "$kdir.tmp/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$kdir.tmp/bzImage"
cp "$obj/.config" "$kdir.tmp/config"
rm -rf "$kdir"; mv "$kdir.tmp" "$kdir"
install_from "$kdir"

# Machine-level cache (best effort).
if mkdir -p "$cache" 2>/dev/null; then
	rm -rf "$cache/kernel-$key.tmp"
	cp -r "$kdir" "$cache/kernel-$key.tmp" && mv "$cache/kernel-$key.tmp" "$cache/kernel-$key" 2>/dev/null \
		|| rm -rf "$cache/kernel-$key.tmp"
fi
# Object trees of other configurations are large and no longer used.
for d in "$out"/kobj-*; do
	[ "$d" = "$obj" ] || [ ! -d "$d" ] || rm -rf "$d"
done
echo "guest-kernel: built kernel-$key in $(( $(date +%s) - start )) s"
