#!/bin/sh
# The kvm tier: runs every t_*.sh here against ember on /dev/kvm. POSIX sh only:
# inside the nested test host there is nothing but busybox.
# EMBER_DIR holds ember, probe.elf and the test tools (default ./bin).
here=$(cd "$(dirname "$0")" && pwd)
EMBER_DIR=${EMBER_DIR:-$here/bin}
export EMBER_DIR
TMPDIR=${TMPDIR:-/tmp}
export TMPDIR
if [ ! -c /dev/kvm ]; then
	echo "SKIP kvm: /dev/kvm missing"
	exit 0
fi
echo "kvm: $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs"
for t in "$here"/t_*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	out=$TMPDIR/kvm-$name.out
	start=$(date +%s)
	timeout 900 sh "$t" >"$out" 2>&1
	rc=$?
	cat "$out"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		echo "FAIL kvm/$name: script exited with status $rc"
	fi
	echo "kvm: $name took $(($(date +%s) - start)) s"
done
exit 0
