#!/bin/sh
# Runs inside the arm64 nested host (tests/arm64/host.sh): ember for aarch64 boots
# the arm64 guest kernel to its /init, which powers off or reboots through PSCI.
# Prints one PASS/FAIL line per case.
cd /payload || exit 1
failed=0
now() { cut -d' ' -f1 /proc/uptime; }

# boot NAME VCPUS ACTION LOG_LINE [EMBER ARGS...]
boot() {
	name=$1 vcpus=$2 action=$3 want=$4
	shift 4
	t0=$(now)
	timeout 120 ./ember --kernel guest/vmlinux --initrd guest/initramfs-poweroff.cpio.gz --vcpus "$vcpus" \
		--mem-mib 128 --cmdline "console=ttyS0 quiet panic=-1 ember.action=$action" \
		--serial stdout "$@" </dev/null >"/tmp/$name.out" 2>"/tmp/$name.err"
	rc=$?
	t1=$(now)
	why=""
	if [ "$vcpus" = 1 ]; then online=0; else online=0-$((vcpus - 1)); fi
	grep -q "EMBER-ARM64-INIT .* cpus=$vcpus online=$online virtio=" "/tmp/$name.out" ||
		why="the guest's /init did not report $vcpus vCPU(s) online"
	[ "$rc" = 0 ] || why="${why:+$why; }ember exited $rc"
	grep -q "$want" "/tmp/$name.err" || why="${why:+$why; }ember did not log '$want'"
	if [ -z "$why" ]; then
		up=$(sed -n 's/.*EMBER-ARM64-INIT uptime=\([0-9.]*\)s.*/\1/p' "/tmp/$name.out")
		echo "PASS arm64/$name (guest /init at ${up}s guest uptime;" \
			"$(echo "$t1 $t0" | awk '{printf "%.2f", $1 - $2}') s for the whole run, in L1)"
	else
		echo "FAIL arm64/$name: $why"
		echo "--- guest console:"; tail -20 "/tmp/$name.out"
		echo "--- ember:"; tail -20 "/tmp/$name.err"
		failed=1
	fi
}

boot poweroff-1vcpu 1 poweroff "guest shutdown"
boot reboot-1vcpu 1 reboot "guest reboot"
boot poweroff-2vcpus 2 poweroff "guest shutdown"
exit $failed
