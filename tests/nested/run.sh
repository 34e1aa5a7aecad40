#!/usr/bin/env bash
# Runs a script inside the nested test host: QEMU-TCG (-M microvm, -cpu EPYC,+svm)
# booting Debian's cloud kernel as L1, which has /dev/kvm (nested SVM). With
# --arch arm64 (or NESTED_ARCH=arm64): -M virt,virtualization=on,gic-version=3
# -cpu max and Debian's arm64 cloud kernel, whose KVM runs on the emulated EL2.
#
#   tests/nested/run.sh [--arch x86_64|arm64] [--timeout SECS] [--boot-timeout SECS]
#                       [--mem MIB] [--smp N] [--lock-wait SECS] PAYLOAD_DIR SCRIPT [ARGS...]
#
# PAYLOAD_DIR is packed at /payload (symlinks followed); L1 runs
# /payload/SCRIPT ARGS with cwd /payload. The console streams to stdout and to
# build/nested/logs/<time>-<script>.log.
# Exit: the script's rc; 97 = nested host did not come up; 98 = timed out after
# NESTED-READY; 2 = usage.
# An x86 L1 beats on a second serial port (tests/nested/init); one that beat and then
# stays silent for NESTED_STALL_SECS (default 120) has stopped for good: 98 as well.
# Defaults: --timeout 600 (whole run), --boot-timeout 120 (until NESTED-READY),
# --mem 2048, --smp ${NESTED_SMP:-1}. More than 1 uses MTTCG, under which L1 has wedged
# (both vCPUs spinning, no progress) twice in 4 full runs, so 1 is the default. One
# nested host runs at a time on this
# machine (2 cores, TCG): a run waits up to --lock-wait (default 1800) s for
# another to finish (NESTED_NOLOCK=1 disables this); timeouts start after that.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nested=${NESTED_DIR:-$root/build/nested}

timeout=600 boot_timeout=120 mem=2048 smp=${NESTED_SMP:-1} lock_wait=1800
arch=${NESTED_ARCH:-x86_64}
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--arch) arch=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--boot-timeout) boot_timeout=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--lock-wait) lock_wait=$2; shift 2 ;;
	-h|--help) usage ;;
	--) shift; break ;;
	-*) echo "nested: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || usage
payload=$1 script=$2; shift 2
[ -d "$payload" ] || { echo "nested: payload dir $payload missing" >&2; exit 2; }
[ -e "$payload/$script" ] || { echo "nested: $payload/$script missing" >&2; exit 2; }
payload=$(cd "$payload" && pwd)
case $timeout$boot_timeout$mem$smp$lock_wait in *[!0-9]*) echo "nested: numeric options expected" >&2; exit 2 ;; esac
[ "$boot_timeout" -le "$timeout" ] || boot_timeout=$timeout

not_up() { echo "nested host did not come up: $*"; exit 97; }
case $arch in
x86_64) qemu=qemu-system-x86_64 qemu_pkg=qemu-system-x86 kfile=vmlinux ;;
arm64 | aarch64) arch=arm64 qemu=qemu-system-aarch64 qemu_pkg=qemu-system-arm kfile=Image ;;
*) echo "nested: --arch $arch: x86_64 or arm64" >&2; exit 2 ;;
esac
export NESTED_ARCH=$arch
command -v $qemu >/dev/null || not_up "$qemu missing (package $qemu_pkg)"
l1=$(bash "$here/prepare.sh") || not_up "could not prepare the L1 kernel/initramfs (see above)"

mkdir -p "$nested/logs"
if [ -z "${NESTED_NOLOCK:-}" ]; then
	# One lock per machine, not per build directory: two nested hosts on 2 cores
	# starve each other (a wedged L1 at 99% CPU was seen that way).
	exec 8>"${EMBER_NESTED_LOCK:-/tmp/ember-nested.run.lock}"
	if ! flock -n 8; then
		echo "nested: another nested host is running on this machine; waiting up to ${lock_wait}s for it"
		flock -w "$lock_wait" 8 || not_up "another nested run held the lock for ${lock_wait}s"
	fi
fi
log=$nested/logs/$(date +%Y%m%d-%H%M%S)-$(basename "$script")-$$.log
# Keep the 30 newest logs.
ls -t "$nested/logs"/*.log 2>/dev/null | tail -n +31 | xargs -r rm -f

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-nested.XXXXXX")
qpid="" tpid=""
cleanup() {
	local p
	for p in $tpid $qpid; do
		kill "$p" 2>/dev/null || true
	done
	if [ -n "$qpid" ]; then
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Payload: a second newc archive appended to the cached base archive.
mkdir -p "$work/stage/etc/nested"
ln -s "$payload" "$work/stage/payload"
printf '%s\n' "$script" "$@" > "$work/stage/etc/nested/cmd"
(cd "$work/stage" && { echo payload; find -L payload -mindepth 1; echo etc; echo etc/nested; echo etc/nested/cmd; } \
	| cpio -o -H newc -L -R 0:0 --quiet) > "$work/payload.cpio"
cat "$l1/base.cpio" "$work/payload.cpio" > "$work/initrd"
rm -f "$work/payload.cpio"

khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
# nohz=off highres=off: L1's local APIC timer ticks periodically. L1s that stopped
# (2026-12-01, QEMU 7.2, the monitor's "info lapic") had their one-shot timer expired,
# vector 236 waiting in the IRR above the PPR and nothing in service, while the vCPU ran
# an L2 spinning with interrupts on (Linux's LAPIC calibration, waiting for L1's PIT):
# TCG had lost the request to take the interrupt, and a one-shot timer is re-armed only
# by the handler that never ran. A periodic tick raises the request again within 4 ms:
# 0 stops in 75 e2e sections so, against 7 in about 50 that day without it. describe_stall
# prints that state if an L1 stops all the same.
# tsc=reliable: with ticks counted one by one, a late one made L1's clocksource watchdog
# mark the TSC unstable (8 of 30 sections); L1 then falls back to jiffies, and KVM's
# kvmclock for L2 with it (no master clock, ms-coarse). The TSC is the host's here.
# tests/nested/init prints L1's clocksource and any watchdog complaint at the end.
append="console=ttyS0 reboot=t panic=-1 quiet pci=off nohz=off highres=off tsc=reliable"
[ -z "$khz" ] || append="$append tsc_early_khz=$khz"
accel=tcg
[ "$smp" -le 1 ] || accel=tcg,thread=multi
# The machine: all that differs between the architectures.
if [ "$arch" = arm64 ]; then
	machine=(-M virt,virtualization=on,gic-version=3 -cpu max)
	append="console=ttyAMA0 panic=-1 quiet kvm-arm.mode=nvhe"
else
	machine=(-M microvm,x-option-roms=off,pit=on,pic=on,rtc=on -cpu EPYC,+svm
		-chardev "file,id=beat,path=$work/heartbeat" -device isa-serial,chardev=beat,iobase=0x2f8,irq=3)
fi

now_ms() { date +%s%3N; }
t0=$(now_ms)
$qemu \
	"${machine[@]}" -accel "$accel" \
	-m "$mem" -smp "$smp" -monitor "unix:$work/monitor,server=on,wait=off" -nodefaults -no-user-config -nographic -serial stdio \
	-kernel "$l1/$kfile" -initrd "$work/initrd" -no-reboot -append "$append" \
	</dev/null >"$log" 2>&1 &
qpid=$!
echo "nested: L1 = $(basename "$l1"), qemu pid $qpid, -smp $smp -m $mem, log $log"

exec 3< <(exec tail -n +1 -F --pid="$qpid" "$log" 2>/dev/null)
tpid=$!

ready=0 rc="" partial="" up_ms=""
deadline=$(( t0 + boot_timeout * 1000 ))
stall=${NESTED_STALL_SECS:-120} beat_size=0 beat_ms="" beat_checked=0
# What a stopped L1 was doing, from QEMU's monitor: where its vCPU is and, on x86, its
# local APIC's timer and pending and in-service vectors.
describe_stall() {
	command -v socat >/dev/null || return 0
	{ echo "info registers"; [ "$arch" = arm64 ] || echo "info lapic"; sleep 1; } |
		timeout 5 socat - "UNIX-CONNECT:$work/monitor" 2>/dev/null | tr -d '\r' |
		grep -E '^(RIP|PC)=| PC=|^Timer|^IRR|^ISR|PPR' | sed 's/^/  L1 state: /'
}
# After NESTED-READY, every 2 s: exit 98 if L1 has beaten once and not for $stall s.
check_heartbeat() {
	local now size
	[ "$ready" = 1 ] || return 0
	now=$(now_ms)
	[ $((now - beat_checked)) -ge 2000 ] || return 0
	beat_checked=$now
	size=$(stat -c %s "$work/heartbeat" 2>/dev/null || echo 0)
	if [ "$size" != "$beat_size" ]; then
		beat_size=$size beat_ms=$now
	elif [ -n "$beat_ms" ] && [ $((now - beat_ms)) -ge $((stall * 1000)) ]; then
		echo "nested: L1 stopped: no heartbeat for ${stall}s, the last: $(tail -n 1 "$work/heartbeat" | tr -d '\r') (log: $log); killing QEMU pid $qpid"
		describe_stall
		exit 98
	fi
}
while :; do
	check_heartbeat
	if IFS= read -r -t 1 line <&3; then
		line=$partial$line; partial=""
	else
		st=$?
		if [ "$st" -gt 128 ]; then
			partial=$partial$line
		else
			# EOF: QEMU is gone.
			[ -z "$partial$line" ] || printf '%s\n' "$partial$line"
			break
		fi
		line=""
		if [ "$(now_ms)" -ge "$deadline" ]; then
			if [ "$ready" = 0 ]; then
				echo "nested: no NESTED-READY after ${boot_timeout}s (log: $log)"
				not_up "no NESTED-READY within ${boot_timeout}s"
			fi
			echo "nested: script $script timed out after ${timeout}s (log: $log); killing QEMU pid $qpid"
			exit 98
		fi
		continue
	fi
	line=${line%$'\r'}
	case $line in
	*"TCG doesn't support requested feature"*) ;;  # QEMU noise about -cpu EPYC; kept in the log
	*) printf '%s\n' "$line" ;;
	esac
	case $line in
	NESTED-READY*)
		ready=1
		up_ms=$(( $(now_ms) - t0 ))
		printf 'nested: L1 up in %d.%03d s (wall, QEMU start to NESTED-READY)\n' $((up_ms / 1000)) $((up_ms % 1000))
		deadline=$(( t0 + timeout * 1000 )) ;;
	NESTED-NOKVM*)
		not_up "/dev/kvm missing in L1 (kvm-amd did not load; see log $log)" ;;
	NESTED-EXIT*)
		rc=${line#NESTED-EXIT }; rc=${rc%% *}
		break ;;
	esac
	if [ "$(now_ms)" -ge "$deadline" ]; then
		[ "$ready" = 1 ] || not_up "no NESTED-READY within ${boot_timeout}s"
		echo "nested: script $script timed out after ${timeout}s (log: $log); killing QEMU pid $qpid"
		exit 98
	fi
done

if [ -z "$rc" ]; then
	if [ "$ready" = 0 ]; then
		wait "$qpid" 2>/dev/null && qrc=0 || qrc=$?
		qpid=""
		not_up "QEMU exited (status $qrc) before NESTED-READY (log: $log)"
	fi
	echo "nested: L1 stopped before the script finished (no NESTED-EXIT; kernel panic or QEMU died; log: $log)"
	exit 98
fi
# Let L1 power off by itself for a moment; cleanup kills it otherwise.
for _ in $(seq 1 25); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
total=$(( $(now_ms) - t0 ))
printf 'nested: done: script rc %s, %d.%03d s in all\n' "$rc" $((total / 1000)) $((total % 1000))
case $rc in *[!0-9]*|"") exit 1 ;; esac
exit "$rc"
