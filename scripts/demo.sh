#!/usr/bin/env bash
# `make demo`: boots the Linux guest with ember and shows the boot-latency breakdown.
# Runs on hardware KVM when this host has it, else inside the nested test host
# (QEMU-TCG L1 with nested SVM; its times are nested-TCG times, not hardware times).
# Boots through build/ember-jailer when it exists, else runs ember directly.
# Env: BUILD (default build), DEMO_WHERE=direct|nested, DEMO_QUIET= (empty: full kernel log).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD:-build}

if [ ! -s "$build/guest/vmlinux" ] || [ ! -s "$build/guest/initramfs.cpio.gz" ]; then
	echo "demo: first build: the guest kernel takes about 7 minutes on 2 cores (cached afterwards)"
	make --no-print-directory guest
fi
[ -x "$build/ember" ] || make --no-print-directory all

kvmhost_root=$root
. tests/lib/kvmhost.sh
[ -z "${DEMO_WHERE:-}" ] || EMBER_KVM_WHERE=$DEMO_WHERE
if ! where=$(kvmhost_where linux); then
	echo "demo: cannot run: $where"
	exit 1
fi
mode=direct
[ ! -x "$build/ember-jailer" ] || mode=jailer
[ "$(id -u)" = 0 ] || mode=direct   # the jailer needs root

payload=$build/nested/demo-payload
rm -rf "$payload"
mkdir -p "$payload/guest"
cp "$build/ember" "$payload/ember"
[ ! -x "$build/ember-jailer" ] || cp "$build/ember-jailer" "$payload/ember-jailer"
ln -s "$(cd "$build" && pwd)/guest/vmlinux" "$payload/guest/vmlinux"
ln -s "$(cd "$build" && pwd)/guest/initramfs.cpio.gz" "$payload/guest/initramfs.cpio.gz"
cp tests/nested/demo-l1.sh "$payload/"
if [ "$where" = direct ]; then
	echo "demo: running on this host's hardware KVM"
	label="hardware KVM"
else
	echo "demo: no hardware KVM here ($(kvmhost_kind) /dev/kvm): running inside the nested test host (QEMU-TCG + nested SVM)."
	echo "demo: all guest times below are nested-TCG times, far slower than hardware."
	label=nested-TCG
fi
rc=0
kvmhost_run "$where" 300 "$payload" demo-l1.sh . "$mode" "$label" || rc=$?
kvmhost_status "$rc" demo
exit "$rc"
