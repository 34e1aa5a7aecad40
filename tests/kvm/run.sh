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

# The split irqchip (--no-pit: ember's own IOAPIC beside KVM's LAPICs) under the probe's
# device interrupts (irqfds routed by the IOAPIC's table), its serial console (MSIs
# ember sends) and snapshots: these scripts again, every ember started with --no-pit,
# their lines named kvm/split/...
split=$TMPDIR/kvm-split-bin
rm -rf "$split"
mkdir -p "$split"
for f in "$EMBER_DIR"/*; do ln -s "$f" "$split/"; done
rm -f "$split/ember"
printf '#!/bin/sh\nexec "%s/ember" --no-pit "$@"\n' "$EMBER_DIR" >"$split/ember"
chmod +x "$split/ember"
for name in t_probe_virtio t_virtio_devices t_snapshot t_warm; do
	out=$TMPDIR/kvm-split-$name.out
	start=$(date +%s)
	EMBER_DIR=$split timeout 900 sh "$here/$name.sh" >"$out" 2>&1
	rc=$?
	sed -E 's#^(PASS|FAIL|SKIP) kvm/#\1 kvm/split/#' "$out"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		echo "FAIL kvm/split/$name: script exited with status $rc"
	fi
	echo "kvm: split $name took $(($(date +%s) - start)) s"
done
exit 0
