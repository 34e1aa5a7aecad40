#!/bin/sh
# Demo boot (POSIX sh; runs inside the nested host or directly on a KVM host).
#   demo-l1.sh DIR [jailer|direct] [LABEL]
# DIR holds ember [ember-jailer] guest/{vmlinux,initramfs.cpio.gz}. Boots the Linux
# guest once (ember.test=boot), shows its console, then prints the boot-latency
# breakdown from ember's log lines. LABEL names the kind of times (e.g. "nested-TCG").
set -u
dir=$(cd "${1:-.}" && pwd)
mode=${2:-direct}
label=${3:-hardware KVM}
ember=$dir/ember
kernel=$dir/guest/vmlinux
initrd=$dir/guest/initramfs.cpio.gz
cmdline="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd ${DEMO_QUIET-quiet} ember.test=boot"
work=$(mktemp -d "${TMPDIR:-/tmp}/ember-demo.XXXXXX")
pid=""
cleanup() {
	[ -z "$pid" ] || { kill "$pid" 2>/dev/null; sleep 0.5; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	[ -z "${jailbase:-}" ] || rm -rf "$jailbase"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

extra=""
"$ember" --help 2>&1 | grep -q -- '--boot-timer' && extra="--boot-timer"

if [ "$mode" = jailer ] && [ -x "$dir/ember-jailer" ]; then
	jailbase=$work/jail
	jroot=$jailbase/ember/demo/root
	mkdir -p "$jroot"
	cp "$kernel" "$jroot/vmlinux"
	cp "$initrd" "$jroot/initramfs.cpio.gz"
	# The jail's directories stay root's (the jailer refuses a path another user could
	# swap, and hands the root to uid 123 itself); the images only need to be readable.
	chmod 0644 "$jroot/vmlinux" "$jroot/initramfs.cpio.gz"
	set -- "$dir/ember-jailer" --id demo --exec-file "$ember" --uid 123 --gid 123 \
		--chroot-base-dir "$jailbase" ${DEMO_JAILER_ARGS:-} -- \
		--kernel /vmlinux --initrd /initramfs.cpio.gz
	echo "demo: booting through ember-jailer (uid 123, chroot $jroot)"
else
	set -- "$ember" --kernel "$kernel" --initrd "$initrd"
	echo "demo: booting with ember directly (no ember-jailer binary)"
fi
ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
echo "demo: guest console follows ---------------------------------------------"
t0=$(ms)
"$@" --vcpus 1 --mem-mib 128 --serial stdout $extra --cmdline "$cmdline" </dev/null 2>"$work/err" &
pid=$!
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 1200 ]; do
	grep -q "^State:.*Z" "/proc/$pid/status" 2>/dev/null && break
	sleep 0.1; i=$((i + 1))
done
if kill -0 "$pid" 2>/dev/null && ! grep -q "^State:.*Z" "/proc/$pid/status" 2>/dev/null; then
	echo "demo: the guest did not finish within 120 s; stopping ember (pid $pid)"
	kill "$pid"; sleep 1; kill -9 "$pid" 2>/dev/null
fi
wait "$pid"; rc=$?; pid=""
wall=$(( $(ms) - t0 ))
echo "demo: end of guest console -------------------------------------------------"
echo "demo: ember log:"
sed 's/^/  /' "$work/err"

num() { # first number after the pattern in ember's log, or empty
	grep -i "$1" "$work/err" | head -1 | sed -n 's/.*[^0-9]\([0-9][0-9]*\) *us.*/\1/p'
}
kvm_run=$(num 'first KVM_RUN')
entry=$(num 'kernel entry')
timer=$(num 'guest boot time')
show() { # label value
	if [ -n "$2" ]; then printf '  %-44s %8s us\n' "$1" "$2"; else printf '  %-44s %11s\n' "$1" "not reported"; fi
}
diff_us() { [ -n "$1" ] && [ -n "$2" ] && echo $(( $2 - $1 )); }
echo
echo "Boot latency breakdown ($label times; ember exit status $rc):"
show "process start -> first KVM_RUN" "$kvm_run"
show "first KVM_RUN -> kernel entry" "$(diff_us "$kvm_run" "$entry")"
show "kernel entry -> init writes the boot timer" "$(diff_us "$entry" "$timer")"
show "process start -> boot timer (total)" "$timer"
printf '  %-44s %8s ms\n' "launch -> ember exit after guest reboot (wall)" "$wall"
case $label in *TCG*) echo "  (nested-TCG times: correctness only; hardware numbers come from bench/ on a KVM host)" ;; esac
exit "$rc"
