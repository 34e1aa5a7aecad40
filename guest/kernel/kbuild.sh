#!/usr/bin/env bash
# Builds a guest kernel for an architecture other than x86 (guest/kernel/build.sh
# keeps building the x86 one, so its cache key stays the same): Linux 6.1 from
# Debian's linux-source-6.1, `make tinyconfig` + guest/kernel/<arch>.config.
#
#   guest/kernel/kbuild.sh arm64 [OUTDIR]      (OUTDIR defaults to build/guest-arm64)
#
# Results: OUTDIR/Image, OUTDIR/kernel.config.
# Cache: key = sha256(fragment + source package version + this script), in
#   OUTDIR/kernel-<key>/ and ${EMBER_CACHE:-$HOME/.cache/ember}/kernel-<key>/.
# Env: JOBS (default: nproc), EMBER_CACHE.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
karch=${1:?usage: kbuild.sh ARCH [OUTDIR]}
case $karch in
arm64) cross=aarch64-linux-gnu- image=arch/arm64/boot/Image ;;
*) echo "guest-kernel: unknown architecture $karch" >&2; exit 2 ;;
esac
out=${2:-$root/build/guest-$karch}
mkdir -p "$out"
out=$(cd "$out" && pwd)
frag=$here/$karch.config
tarball=/usr/src/linux-source-6.1.tar.xz
cache=${EMBER_CACHE:-$HOME/.cache/ember}
jobs=${JOBS:-$(nproc)}
name=$(basename "$image")

die() { echo "guest-kernel-$karch: $*" >&2; exit 1; }

[ -f "$tarball" ] || die "$tarball missing: run scripts/deps.sh (package linux-source-6.1)"
command -v "${cross}gcc" >/dev/null || die "${cross}gcc missing: run scripts/deps.sh"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) || die "linux-source-6.1 not installed"
key=$( { echo "$karch"; cat "$frag"; echo "linux-source-6.1 $srcver"; cat "$0"; } | sha256sum | cut -c1-16)
kdir=$out/kernel-$key

install_from() {
	cp -f "$1/$name" "$out/$name.tmp" && mv -f "$out/$name.tmp" "$out/$name"
	cp -f "$1/config" "$out/kernel.config"
	echo "$key" > "$out/kernel.key"
}
complete() { [ -s "$1/$name" ] && [ -s "$1/config" ]; }

exec 9>"$out/.kernel.lock"
flock 9

if complete "$kdir"; then
	[ "$(cat "$out/kernel.key" 2>/dev/null)" = "$key" ] && [ -s "$out/$name" ] || install_from "$kdir"
	echo "guest-kernel-$karch: up to date (kernel-$key)"
	exit 0
fi
if complete "$cache/kernel-$key"; then
	rm -rf "$kdir.tmp"; mkdir -p "$kdir.tmp"
	cp -f "$cache/kernel-$key/$name" "$cache/kernel-$key/config" "$kdir.tmp/"
	mv "$kdir.tmp" "$kdir"
	install_from "$kdir"
	echo "guest-kernel-$karch: copied from machine cache $cache/kernel-$key"
	exit 0
fi

echo "first $karch guest-kernel build: about 2-3 minutes on 2 cores"
start=$(date +%s)
src=$out/linux-src-$srcver
if [ ! -f "$src/.extracted" ]; then
	echo "guest-kernel-$karch: extracting $tarball"
	rm -rf "$src"; mkdir -p "$src"
	tar -xJf "$tarball" -C "$src" --strip-components=1
	touch "$src/.extracted"
fi

obj=$out/kobj-$key
mkdir -p "$obj"
mk() { make -C "$src" O="$obj" ARCH="$karch" CROSS_COMPILE="$cross" "$@"; }

mk -s tinyconfig
( cd "$src" && ARCH=$karch ./scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "$frag" ) >"$obj/merge.log" 2>&1 \
	|| { cat "$obj/merge.log" >&2; die "merge_config.sh failed"; }
mk -s olddefconfig

bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$obj/.config" || {
			got=$(grep -E "^(# )?${line%%=*}[= ]" "$obj/.config" || echo "absent")
			echo "guest-kernel-$karch: requested $line, got: $got" >&2; bad=1; } ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		if grep -q "^$sym=" "$obj/.config"; then
			echo "guest-kernel-$karch: requested $sym off, got: $(grep "^$sym=" "$obj/.config")" >&2; bad=1
		fi ;;
	esac
done < "$frag"
[ "$bad" = 0 ] || die "config fragment not fully applied (missing dependencies?)"

mk -j"$jobs" "$name"

rm -rf "$kdir.tmp"; mkdir -p "$kdir.tmp"
cp "$obj/$image" "$kdir.tmp/$name"
cp "$obj/.config" "$kdir.tmp/config"
rm -rf "$kdir"; mv "$kdir.tmp" "$kdir"
install_from "$kdir"
if mkdir -p "$cache" 2>/dev/null; then
	rm -rf "$cache/kernel-$key.tmp"
	cp -r "$kdir" "$cache/kernel-$key.tmp" && mv "$cache/kernel-$key.tmp" "$cache/kernel-$key" 2>/dev/null \
		|| rm -rf "$cache/kernel-$key.tmp"
fi
for d in "$out"/kobj-*; do
	[ "$d" = "$obj" ] || [ ! -d "$d" ] || rm -rf "$d"
done
echo "guest-kernel-$karch: built kernel-$key in $(( $(date +%s) - start )) s"
