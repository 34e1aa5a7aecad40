#!/usr/bin/env bash
# Installs the Debian packages ember needs to build, test, bench and demo.
# Idempotent: only missing packages are fetched. Needs root (or sudo) when
# something is missing; prints what it would install otherwise.
set -euo pipefail

packages=(
  # build: static musl binaries, BPF compiled at build time, API parsers
  build-essential musl-tools libseccomp-dev libfdt-dev libhttp-parser-dev libjsmn-dev
  clang llvm libclang-rt-14-dev device-tree-compiler
  # guest kernel build (Linux 6.1 from Debian's source package)
  linux-source-6.1 bc flex bison libelf-dev libssl-dev xz-utils dwarves
  # guest images, nested test host, bench peer
  qemu-system-x86 busybox-static e2fsprogs cpio lz4 kmod
  # aarch64: cross-build (make ARCH=aarch64), arm64 guest kernel, nested arm64 host
  gcc-aarch64-linux-gnu lld qemu-system-arm
  # tests and tools
  curl socat iproute2 file gnuplot-nox python3 procps
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# arm64 packages for the aarch64 build and the nested arm64 host: only downloaded
# into ~/.cache/ember (scripts/arm64-debs.sh), never installed on this host.
arm64_debs() {
  bash "$(dirname "$0")/arm64-debs.sh" fetch musl-dev libfdt-dev linux-libc-dev busybox-static \
    >/dev/null
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  arm64_debs
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -q -y --no-install-recommends)
# A stale package list makes installs fail with 404s; refresh it once.
$sudo apt-get "${apt_opts[@]:0:2}" update -q
$sudo apt-get "${apt_opts[@]}" install "${missing[@]}"
arm64_debs
