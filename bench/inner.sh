#!/bin/sh
# The measuring half of the bench harness: runs where /dev/kvm is (inside the nested
# test host, or directly on a host with hardware KVM). POSIX sh + busybox only; every
# time is taken by benchtool. Prints machine-readable lines that bench/report.py reads:
#   BENCH-FACT <key> <value...>
#   BENCH-JSON {"test":..., "vmm":..., ...}
#   BENCH-NOTE <text>
#
#   inner.sh [--iters N] [--rate-max P] [--rate-per N] [--linux-rate-per N]
#            [--mems "128 1024"] [--no-peer] [--smoke]
# Rates: P = 1, 2, 4 .. rate-max at once, P * rate-per VMs of the fastest guest (the
# probe), and P * linux-rate-per Linux VMs under each of ember and the peer.
# Files come from $BENCH_DIR (default: this script's directory): ember, benchtool,
# probe.elf, ember-jailer, guest/{vmlinux,initramfs.cpio.gz}, qemu/ (optional: the
# peer with its libraries and firmware; else qemu-system-x86_64 from PATH).
B=${BENCH_DIR:-$(cd "$(dirname "$0")" && pwd)}
iters=5 rate_max=4 rate_per=4 linux_rate_per=1 mems="128 1024" peer=1 smoke=0
while [ $# -gt 0 ]; do
	case $1 in
	--iters) iters=$2; shift 2 ;;
	--rate-max) rate_max=$2; shift 2 ;;
	--rate-per) rate_per=$2; shift 2 ;;
	--linux-rate-per) linux_rate_per=$2; shift 2 ;;
	--mems) mems=$2; shift 2 ;;
	--no-peer) peer=0; shift ;;
	--smoke) smoke=1 iters=1 rate_max=1 rate_per=1 mems=128; shift ;;
	*) echo "BENCH-NOTE inner.sh: unknown option $1"; exit 2 ;;
	esac
done
T=${TMPDIR:-/tmp}/ember-bench.$$
mkdir -p "$T"
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BT=$B/benchtool
EMBER=$B/ember
# The ELF vmlinux: ember loads it, and QEMU's microvm boots it through its PVH note.
KERNEL=$B/guest/vmlinux
[ -f "$KERNEL" ] || KERNEL=$B/guest/bzImage
INITRD=$B/guest/initramfs.cpio.gz
PROBE=$B/probe.elf
. "$B/facts.sh"

for f in "$BT" "$EMBER"; do
	[ -x "$f" ] || { note "missing $f"; echo "BENCH-FATAL missing $f"; exit 1; }
done
[ -c /dev/kvm ] || { echo "BENCH-FATAL /dev/kvm missing"; exit 1; }

# The guest image both VMMs boot: Linux (bzImage + initramfs whose init writes the
# boot timer and reboots) where it exists; the probe is ember-only.
have_linux=0
[ -f "$KERNEL" ] && [ -f "$INITRD" ] && have_linux=1
have_probe=0
[ -f "$PROBE" ] && have_probe=1
[ $have_linux = 1 ] || note "no guest/vmlinux (or bzImage) + initramfs: Linux and peer runs skipped"
[ $have_probe = 1 ] || note "no probe.elf: probe runs skipped"

# The peer. Its shared libraries sit in qemu/lib when it was shipped in.
QEMU=""
if [ $peer = 1 ]; then
	if [ -x "$B/qemu/qemu-system-x86_64" ]; then
		if [ ! -e /lib64/ld-linux-x86-64.so.2 ]; then
			mkdir -p /lib64 && ln -sf "$B/qemu/lib/ld-linux-x86-64.so.2" /lib64/ld-linux-x86-64.so.2
		fi
		LD_LIBRARY_PATH=$B/qemu/lib
		export LD_LIBRARY_PATH
		QEMU=$B/qemu/qemu-system-x86_64
		QEMU_FW="-L $B/qemu/share"
	elif command -v qemu-system-x86_64 >/dev/null 2>&1; then
		QEMU=$(command -v qemu-system-x86_64)
		QEMU_FW=""
	else
		note "qemu-system-x86_64 not available: peer runs skipped"
	fi
	[ $have_linux = 1 ] || QEMU=""
fi

# --- clock and machine facts -----------------------------------------------------------
cs=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)
fact clocksource "${cs:-unknown}"
if "$BT" clock-coarse; then
	# e.g. refined-jiffies in the nested host: time with the TSC instead (see benchtool.c).
	# Its rate is the build host's TSC, which the nested runner hands to L1 as
	# tsc_early_khz; jiffies under TCG lose ticks, so calibrating against them is the
	# fallback only.
	khz=$(sed -n 's/.*tsc_early_khz=\([0-9]*\).*/\1/p' /proc/cmdline)
	how="tsc_early_khz from the kernel command line"
	if [ -z "$khz" ]; then
		khz=$("$BT" tsc-khz 2000) || khz=""
		how="calibrated against the coarse CLOCK_MONOTONIC over 2 s"
	fi
	if [ -n "$khz" ]; then
		BENCH_TSC_KHZ=$khz
		export BENCH_TSC_KHZ
		fact clock "rdtsc at $khz kHz ($how)"
	else
		fact clock "CLOCK_MONOTONIC (coarse; no TSC)"
	fi
else
	fact clock "CLOCK_MONOTONIC"
fi
fact cpus "$(grep -c ^processor /proc/cpuinfo)"
fact mem_kb "$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"
machine_facts
hv=no
case " $cpu_flags " in *" hypervisor "*) hv=yes ;; esac
fact kvm_under_hypervisor "$hv"
[ ! -r /sys/module/kvm_amd/parameters/nested ] || fact kvm_amd_nested "$(cat /sys/module/kvm_amd/parameters/nested)"
[ ! -r /sys/module/kvm_amd/parameters/npt ] || fact kvm_amd_npt "$(cat /sys/module/kvm_amd/parameters/npt)"
fact ember_bytes "$(wc -c <"$EMBER")"
[ ! -x "$B/ember-jailer" ] || fact jailer_bytes "$(wc -c <"$B/ember-jailer")"
if [ -n "$QEMU" ]; then
	fact qemu_version "$("$QEMU" --version | head -1)"
	fact qemu_bytes "$(wc -c <"$QEMU")"
	if [ -d "$B/qemu/lib" ]; then
		fact qemu_libs_bytes "$(cat "$B"/qemu/lib/* | wc -c)"
		fact qemu_libs_count "$(ls "$B"/qemu/lib | wc -l)"
	fi
fi
if "$EMBER" --help 2>&1 | grep -q -- --print-seccomp-summary; then
	"$EMBER" --print-seccomp-summary >"$T/seccomp" 2>&1
	while IFS= read -r l; do fact seccomp "$l"; done <"$T/seccomp"
else
	note "ember has no --print-seccomp-summary yet"
fi

# --- helpers ------------------------------------------------------------------------------
LINUX_ARGS="console=ttyS0 panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd"
# json TEST VMM GUEST ITER EXTRA BENCHTOOL-OUTPUT: one result line
emit() {
	echo "BENCH-JSON {\"test\":\"$1\",\"vmm\":\"$2\",\"guest\":\"$3\",\"iter\":$4$5,\"r\":$6}"
}
# ember_linux_cmd MEM EXTRA-CMDLINE
ember_linux() {
	echo "$EMBER --kernel $KERNEL --initrd $INITRD --mem-mib $1 --boot-timer --serial stdout"
}
qemu_cmd() { # MEM
	echo "$QEMU -M microvm,x-option-roms=off,pit=on,pic=on,rtc=on -accel kvm -cpu host,-arch-capabilities -m $1 -smp 1 -nodefaults -no-user-config -nographic -serial stdio $QEMU_FW -kernel $KERNEL -initrd $INITRD -no-reboot"
}
# run_one TEST VMM GUEST ITER EXTRA-JSON BENCHTOOL-ARGS... -- CMD...
run_one() {
	_t=$1 _v=$2 _g=$3 _i=$4 _x=$5
	shift 5
	_out=$("$BT" run --log "$T/last-$_t-$_v.log" "$@")
	[ -n "$_out" ] || _out='{"rc":null,"error":"benchtool printed nothing"}'
	emit "$_t" "$_v" "$_g" "$_i" "$_x" "$_out"
	case $_t$_out in
	*'"rc":0,'*) ;;
	mem*'"overhead_rss_kb":'*) ;; # stopped by benchtool after the reading
	*) note "$_t/$_v/$_g run $_i did not end cleanly; its last output:"
	   tail -5 "$T/last-$_t-$_v.log" 2>/dev/null | sed 's/^/BENCH-NOTE   | /' ;;
	esac
}

# --- 1. boot latency, ember and the peer alternating (A B A B) ------------------------
i=1
while [ $i -le "$iters" ]; do
	if [ $have_probe = 1 ]; then
		run_one boot ember probe $i "" --timeout 60000 -- \
			"$EMBER" --kernel "$PROBE" --mem-mib 128 --boot-timer --serial stdout \
			--cmdline "console=ttyS0 reboot=k panic=1"
	fi
	if [ $have_linux = 1 ]; then
		# shellcheck disable=SC2046
		run_one boot ember linux $i "" --timeout 120000 -- $(ember_linux 128) \
			--cmdline "$LINUX_ARGS reboot=k"
		if [ -n "$QEMU" ]; then
			# No i8042 on microvm: the guest's reboot is a triple fault, -no-reboot exits.
			# shellcheck disable=SC2046
			run_one boot qemu linux $i "" --timeout 120000 -- $(qemu_cmd 128) \
				-append "$LINUX_ARGS reboot=t"
		fi
	fi
	i=$((i + 1))
done

# --- 2. through the API socket (when ember has one) --------------------------------------
if "$EMBER" --help 2>&1 | grep -q -- --api-sock; then
	i=1
	while [ $i -le "$iters" ]; do
		S=$T/api.sock
		if [ $have_probe = 1 ]; then
			run_one api ember probe $i "" --timeout 60000 --sock "$S" --api-kernel "$PROBE" \
				--api-args "console=ttyS0 reboot=k panic=1" --api-mem 128 -- \
				"$EMBER" --api-sock "$S" --boot-timer
		elif [ $have_linux = 1 ]; then
			run_one api ember linux $i "" --timeout 120000 --sock "$S" --api-kernel "$KERNEL" \
				--api-initrd "$INITRD" --api-args "$LINUX_ARGS reboot=k" --api-mem 128 -- \
				"$EMBER" --api-sock "$S" --boot-timer
		fi
		rm -f "$S"
		i=$((i + 1))
	done
else
	note "ember has no --api-sock yet: API latency not measured"
fi

# --- 3. memory overhead at idle after boot ----------------------------------------------
# The guest's init runs the "hang" scenario: prints EMBER-RESULT and sleeps forever.
if [ $have_linux = 1 ]; then
	for m in $mems; do
		# shellcheck disable=SC2046
		run_one mem ember linux 1 ",\"mem_mib\":$m" --timeout 180000 --idle "EMBER-RESULT hang" \
			--idle-ms 2000 --guest-mib "$m" -- $(ember_linux "$m") \
			--cmdline "$LINUX_ARGS reboot=k ember.test=hang"
		if [ -n "$QEMU" ]; then
			# shellcheck disable=SC2046
			run_one mem qemu linux 1 ",\"mem_mib\":$m" --timeout 180000 --idle "EMBER-RESULT hang" \
				--idle-ms 2000 --guest-mib "$m" -- $(qemu_cmd "$m") \
				-append "$LINUX_ARGS reboot=t ember.test=hang"
		fi
	done
fi

# --- 4. creation rate: start, boot to the boot timer, reboot, exit; P at once ------------
if [ $have_probe = 1 ]; then
	rg=probe
	set -- "$EMBER" --kernel "$PROBE" --mem-mib 128 --serial none --cmdline "console=ttyS0 reboot=k panic=1"
	rate_timeout=$((60000 + 2000 * rate_per * rate_max))
elif [ $have_linux = 1 ]; then
	rg=linux
	# shellcheck disable=SC2046
	set -- $(ember_linux 128 | sed 's/--boot-timer//; s/--serial stdout/--serial none/') --cmdline "$LINUX_ARGS reboot=k quiet"
	rate_timeout=$((120000 + 30000 * rate_per * rate_max))
else
	rg=""
fi
# The jailer: Firecracker's command line (--id --exec-file --uid --gid --chroot-base-dir
# -- ARGS); the chroot is <base>/ember/<id>/root and the guest files are linked in first.
# An unprivileged uid and gid, as in production: the jailer refuses to run the VMM as root.
jail_ok=0
if [ -n "$rg" ] && [ -x "$B/ember-jailer" ]; then
	JB=$T/jail
	jail_setup() { # COUNT
		_n=0
		while [ $_n -lt "$1" ]; do
			_r=$JB/ember/b$_n/root
			mkdir -p "$_r"
			for f in "$PROBE" "$KERNEL" "$INITRD"; do
				[ ! -f "$f" ] || ln "$f" "$_r/$(basename "$f")" 2>/dev/null || cp "$f" "$_r/"
				# The VMM runs as uid 123 in the jail: the images need only be readable.
				[ ! -f "$f" ] || chmod a+r "$_r/$(basename "$f")"
			done
			_n=$((_n + 1))
		done
	}
	jail_setup 1
	if [ $rg = probe ]; then
		jargs="--kernel /probe.elf --mem-mib 128 --serial none"
	else
		jargs="--kernel /$(basename "$KERNEL") --initrd /initramfs.cpio.gz --mem-mib 128 --serial none"
	fi
	# shellcheck disable=SC2086
	"$BT" run --timeout 120000 --log "$T/jail-try.log" -- "$B/ember-jailer" --id b0 \
		--exec-file "$EMBER" --uid 123 --gid 123 --chroot-base-dir "$JB" -- $jargs >"$T/jail-try.json"
	if grep -q '"rc":0,' "$T/jail-try.json"; then
		jail_ok=1
	else
		note "ember-jailer with Firecracker's command line failed; jailer rates not measured:"
		tail -3 "$T/jail-try.log" | sed 's/^/BENCH-NOTE   | /'
	fi
	rm -rf "$JB"
elif [ -n "$rg" ]; then
	note "no ember-jailer: creation rate with the jailer not measured"
fi
p=1
while [ -n "$rg" ] && [ $p -le "$rate_max" ]; do
	n=$((p * rate_per))
	out=$("$BT" rate --parallel $p --count $n --timeout $rate_timeout -- "$@")
	emit rate ember "$rg" 1 ",\"jailer\":false" "$out"
	if [ $jail_ok = 1 ]; then
		jail_setup $n
		# shellcheck disable=SC2086
		out=$("$BT" rate --parallel $p --count $n --timeout $rate_timeout -- "$B/ember-jailer" \
			--id 'b{i}' --exec-file "$EMBER" --uid 123 --gid 123 --chroot-base-dir "$JB" -- $jargs)
		emit rate ember "$rg" 1 ",\"jailer\":true" "$out"
		rm -rf "$JB"
	fi
	p=$((p * 2))
done
# The same Linux guest under both VMMs, so that the rates compare (not in the smoke run).
if [ -n "$QEMU" ] && [ $smoke = 0 ]; then
	p=1
	while [ $p -le "$rate_max" ]; do
		n=$((p * linux_rate_per))
		t=$((120000 + 60000 * n))
		# shellcheck disable=SC2046
		out=$("$BT" rate --parallel $p --count $n --timeout $t -- $(ember_linux 128 |
			sed 's/--boot-timer//; s/--serial stdout/--serial none/') --cmdline "$LINUX_ARGS reboot=k quiet")
		emit rate ember linux 1 ",\"jailer\":false" "$out"
		# shellcheck disable=SC2046
		out=$("$BT" rate --parallel $p --count $n --timeout $t -- $(qemu_cmd 128) \
			-append "$LINUX_ARGS reboot=t quiet")
		emit rate qemu linux 1 ",\"jailer\":false" "$out"
		p=$((p * 2))
	done
fi
echo "BENCH-DONE"
exit 0
