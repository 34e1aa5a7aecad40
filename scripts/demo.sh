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

where=${DEMO_WHERE:-}
if [ -z "$where" ]; then
	if [ -c /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
		where=direct
	elif reason=$(bash tests/nested/available.sh); then
		where=nested
	else
		echo "demo: cannot run: no hardware KVM here, and the nested test host is unavailable: $reason"
		exit 1
	fi
fi
mode=direct
[ ! -x "$build/ember-jailer" ] || mode=jailer
[ "$(id -u)" = 0 ] || mode=direct   # the jailer needs root

if [ "$where" = direct ]; then
	echo "demo: running on this host's hardware KVM"
	exec sh tests/nested/demo-l1.sh "$build" "$mode" "hardware KVM"
fi

echo "demo: no hardware KVM here: running inside the nested test host (QEMU-TCG + nested SVM)."
echo "demo: all guest times below are nested-TCG times, far slower than hardware."
payload=$build/nested/demo-payload
rm -rf "$payload"
mkdir -p "$payload/guest"
ln -s "$(cd "$build" && pwd)/ember" "$payload/ember"
[ ! -x "$build/ember-jailer" ] || cp "$build/ember-jailer" "$payload/ember-jailer"
cp "$build/guest/vmlinux" "$build/guest/initramfs.cpio.gz" "$payload/guest/"
cp tests/nested/demo-l1.sh "$payload/"
exec bash tests/nested/run.sh --timeout 300 "$payload" demo-l1.sh . "$mode" "nested-TCG"
