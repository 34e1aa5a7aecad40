#!/usr/bin/env bash
# Host-side start-up figures, measured directly on this host's /dev/kvm (hardware KVM or
# not: exec, ioctls, mmap and threads run natively either way). ember, the floor
# (bench/floor.c), QEMU microvm and kvmtool boot the same tiny guest (bench/tinyguest.py)
# and are started and timed by one launcher (bench/launch.c) in one interleaved run.
# Prints the BENCH-FACT / BENCH-JSON / BENCH-NOTE lines that bench/hostreport.py reads.
#
#   host.sh [--iters N] [--rate-per N] [--rate-rounds N] [--rate-max P] [--mem-iters N] [--no-peer]
#           [--no-trace] [--compare EMBER] [--snap-loads N] [--snap-boots N]
#           [--snap-clones "K1 K2 ..."] [--snap-only] [--smoke]
#
# Snapshots (bench/snapbench.py): the probe guest in count mode, booted through the API,
# paused and saved as a Full snapshot; then --snap-loads fresh embers each load it
# (resume_vm), cold and into a warm shell (--prepare), and must print a new count line;
# --snap-boots fresh embers boot the same probe (boot vs restore); then, for each K of
# --snap-clones, K warm embers loaded from one snapshot, back to back and in parallel, all
# seen counting on, and their PSS and private memory read. --snap-only: only this part.
#
# ember also runs as the row ember-nopit, the same command plus --no-pit (a machine without
# the in-kernel i8254 PIT, whose teardown lengthens the process's exit: issue 16), and as
# ember-nohelper, that plus --start-helper off (no start-up helper: less CPU, a later
# first KVM_RUN). The floor also runs as floor-irqchip and floor-x86 (bench/floor.c).
# --compare EMBER adds another ember binary (e.g. the one before a change) as the column
# "ember B", and with --no-pit as "ember B --no-pit" if B has that flag, interleaved with
# the rest: a before/after measured in one run.
#
# Files: $BUILD/ember, $BUILD/bench/{launch,floor}, $BUILD/bench/guest/tiny-*.
# Peers: qemu-system-x86_64 from PATH; kvmtool from $KVMTOOL, else `lkvm` from PATH.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${BUILD:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
iters=20 rate_per=50 rate_rounds=5 rate_max=8 mem_iters=3 peer=1 use_trace=1 ember_b="" snap_loads=20 snap_boots=10
snap_clones="1 10 100" snap_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--iters) iters=$2; shift 2 ;;
	--rate-per) rate_per=$2; shift 2 ;;
	--rate-rounds) rate_rounds=$2; shift 2 ;;
	--rate-max) rate_max=$2; shift 2 ;;
	--mem-iters) mem_iters=$2; shift 2 ;;
	--no-peer) peer=0; shift ;;
	--no-trace) use_trace=0; shift ;;
	--compare) ember_b=$2; shift 2 ;;
	--snap-loads) snap_loads=$2; shift 2 ;;
	--snap-clones) snap_clones=$2; shift 2 ;;
	--snap-boots) snap_boots=$2; shift 2 ;;
	--snap-only) snap_only=1; shift ;;
	--smoke) iters=1 rate_per=2 rate_rounds=2 rate_max=2 mem_iters=1 snap_loads=2 snap_boots=2 snap_clones="1 2"; shift ;;
	*) echo "BENCH-FATAL host.sh: unknown option $1"; exit 2 ;;
	esac
done
L=$build/bench/launch
G=$build/bench/guest
EMBER=$build/ember
PROBE=$build/guest/probe.elf
MEM=128
T=$(mktemp -d "${TMPDIR:-/tmp}/ember-hostbench.XXXXXX")
LOGS=$T/logs
mkdir -p "$LOGS"
trace=""
cleanup() {
	[ -z "$trace" ] || "$L" trace-remove "$trace" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$here/facts.sh"

for f in "$L" "$build/bench/floor" "$EMBER" "$G/tiny-reset.elf" "$G/tiny-hang.elf" "$G/tiny-reset.bin" "$PROBE"; do
	[ -e "$f" ] || { echo "BENCH-FATAL missing $f (run make)"; exit 1; }
done

# --- the VMMs: name, accepted exit status, command for the resetting guest ---------------
# QEMU's microvm has no i8042: the tiny guest's write to port 0xf4 (isa-debug-exit) ends
# it with status 0xfe << 1 | 1. Same memory, one vCPU, no network or disk for every VMM.
# shellcheck disable=SC2054
QEMU_ARGS=(-M microvm,x-option-roms=off,pit=on,pic=on,rtc=on -accel kvm -cpu host,-arch-capabilities
	-m "$MEM" -smp 1 -nodefaults -no-user-config -display none -serial null -no-reboot
	-device isa-debug-exit,iobase=0xf4,iosize=1)
declare -A OKRC CMD HANG
vmms=()
# add_vmm NAME OKRC CMD [HANG]: one more VMM to measure; CMD boots the guest that resets,
# HANG (for the memory runs) the one that halts.
add_vmm() {
	vmms+=("$1")
	OKRC[$1]=$2
	CMD[$1]=$3
	[ -z "${4:-}" ] || HANG[$1]=$4
}
add_vmm floor 0 "$build/bench/floor --mem-mib $MEM $G/tiny-reset.elf"
# ember keeps KVM's supported CPUID in a file, as a host that starts many VMs would
# (--cpuid-cache): one untimed start writes it before any figure is taken.
# warm_cpuid_cache EMBER FILE: the untimed start that writes FILE.
warm_cpuid_cache() {
	"$1" --kernel "$G/tiny-reset.elf" --mem-mib "$MEM" --serial none --cpuid-cache "$2" \
		>/dev/null 2>&1
}
CPUID_CACHE=$T/kvm-cpuid
warm_cpuid_cache "$EMBER" "$CPUID_CACHE"
add_vmm ember 0 "$EMBER --kernel $G/tiny-reset.elf --mem-mib $MEM --serial none --cpuid-cache $CPUID_CACHE" \
	"$EMBER --kernel $G/tiny-hang.elf --mem-mib $MEM --serial none --cpuid-cache $CPUID_CACHE"
# The tiny guest needs no timer at all, so the machine without a PIT runs it unchanged.
add_vmm ember-nopit 0 "${CMD[ember]} --no-pit" "${HANG[ember]} --no-pit"
# Without the start-up helper: a later first KVM_RUN for less CPU (vmm/vm_early.h).
add_vmm ember-nohelper 0 "${CMD[ember-nopit]} --start-helper off" "${HANG[ember-nopit]} --start-helper off"
if [ -n "$ember_b" ]; then
	[ -x "$ember_b" ] || { echo "BENCH-FATAL --compare $ember_b: not an executable"; exit 1; }
	# The same cache when B knows the flag (a binary from before it does not).
	b_help=$("$ember_b" --help 2>&1 || true)
	b_cache=""
	if grep -q -- --cpuid-cache <<<"$b_help"; then
		b_cache="--cpuid-cache $T/kvm-cpuid-b"
		warm_cpuid_cache "$ember_b" "$T/kvm-cpuid-b"
	fi
	add_vmm ember-b 0 "$ember_b --kernel $G/tiny-reset.elf --mem-mib $MEM --serial none $b_cache" \
		"$ember_b --kernel $G/tiny-hang.elf --mem-mib $MEM --serial none $b_cache"
	# A binary from before --no-pit has only the PIT machine.
	if grep -q -- --no-pit <<<"$b_help"; then
		add_vmm ember-b-nopit 0 "${CMD[ember-b]} --no-pit" "${HANG[ember-b]} --no-pit"
	fi
fi
qemu=$(command -v qemu-system-x86_64 || true)
lkvm=${KVMTOOL:-$(command -v lkvm || true)}
if [ "$peer" = 1 ]; then
	if [ -n "$qemu" ]; then
		add_vmm qemu 253 "$qemu ${QEMU_ARGS[*]} -kernel $G/tiny-reset.elf" \
			"$qemu ${QEMU_ARGS[*]} -kernel $G/tiny-hang.elf"
	else
		note "peer qemu unavailable: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
	fi
	if [ -n "$lkvm" ]; then
		add_vmm kvmtool 0 "$lkvm run -c 1 -m $MEM --nodefaults -n mode=none -k $G/tiny-reset.bin" \
			"$lkvm run -c 1 -m $MEM --nodefaults -n mode=none -k $G/tiny-hang.bin"
	else
		note "peer kvmtool unavailable: set KVMTOOL=/path/to/lkvm (README: Benchmarks)"
	fi
fi
# The floor with the irqchip and PIT a PC-like VMM creates: what they add at start and exit.
add_vmm floor-irqchip 0 "$build/bench/floor --irqchip --mem-mib $MEM $G/tiny-reset.elf"
# The least an x86 VMM that boots Linux does: the floor plus a local APIC in the kernel
# (the split irqchip, as ember --no-pit) and the supported CPUID set on the vCPU, read
# once untimed like ember's --cpuid-cache. The measure for ember --no-pit's own cost.
if "$build/bench/floor" --save-cpuid "$T/floor-cpuid"; then
	add_vmm floor-x86 0 "$build/bench/floor --split-irqchip --cpuid $T/floor-cpuid --mem-mib $MEM $G/tiny-reset.elf"
else
	note "floor-x86 not measured: floor --save-cpuid failed"
fi

fact cpus "$(nproc)"
fact loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
machine_facts
fact ember_bytes "$(wc -c <"$EMBER")"
[ -z "$qemu" ] || fact qemu_version "$("$qemu" --version | head -1)"
[ -z "$lkvm" ] || fact kvmtool "$lkvm"

# --- /dev/kvm usable? The floor is the least that must work. ---------------------------------
[ -c /dev/kvm ] || { echo "BENCH-UNUSABLE /dev/kvm missing"; exit 0; }
# shellcheck disable=SC2086
out=$("$L" run --log "$LOGS/check-floor.log" -- ${CMD[floor]})
if [[ $out != *'"ok":true'* ]]; then
	echo "BENCH-UNUSABLE /dev/kvm cannot run the floor: $(tail -1 "$LOGS/check-floor.log" 2>/dev/null)"
	exit 0
fi

# The snapshot part (4. below), alone with --snap-only.
snapshots() {
	mkdir -p "$T/snap"
	python3 "$here/snapbench.py" --ember "$EMBER" --probe "$PROBE" --dir "$T/snap" --mem-mib $MEM \
		--loads "$snap_loads" --boots "$snap_boots" --clone-counts "$snap_clones"
	echo "BENCH-DONE"
}
if [ "$snap_only" = 1 ]; then
	snapshots
	exit 0
fi

# Peers that cannot run here are reported with their reason, not measured.
for v in qemu kvmtool; do
	[ -n "${CMD[$v]:-}" ] || continue
	# shellcheck disable=SC2086
	out=$("$L" run --timeout 20000 --ok-rc "${OKRC[$v]}" --log "$LOGS/check-$v.log" -- ${CMD[$v]})
	case $out in
	*'"ok":true'*) ;;
	*)
		why=$(grep -v '^ *$' "$LOGS/check-$v.log" | grep -iE 'error|fatal|fail|cannot|support' | head -2 | tr '\n' ' ')
		[ -n "$why" ] || why=$(tail -2 "$LOGS/check-$v.log" | tr '\n' ' ')
		note "peer $v unavailable on this host: the tiny guest did not run ($(echo "$out" | grep -o '"rc":[0-9]*'); ${why:-no output})"
		keep=()
		for x in "${vmms[@]}"; do [ "$x" = "$v" ] || keep+=("$x"); done
		vmms=("${keep[@]}")
		unset "CMD[$v]" "HANG[$v]"
		;;
	esac
done
for v in "${vmms[@]}"; do fact vmm "$v ${CMD[$v]}"; done

# An instance left by a run that was killed outright keeps its tracepoints on: remove it
# (its name is its run's temporary directory, gone with the run).
for d in /sys/kernel/tracing/instances/ember-hostbench.* /sys/kernel/debug/tracing/instances/ember-hostbench.*; do
	[ -d "$d" ] && [ ! -d "$(dirname "$T")/$(basename "$d")" ] && "$L" trace-remove "$d" 2>/dev/null
done
echo "not asked for (--no-trace)" >"$T/trace.err"
[ "$use_trace" = 0 ] || trace=$("$L" trace-setup "$(basename "$T")" 2>"$T/trace.err") || trace=""
if [ -n "$trace" ]; then
	fact timing "one launcher (bench/launch.c) for every VMM; kernel tracepoints (syscalls:sys_enter/exit_ioctl, sched:sched_process_exec/fork/switch, syscalls:sys_enter_exit_group) in a private tracefs instance that follows only the launcher's children, clock mono"
else
	note "no kernel tracing ($(cat "$T/trace.err")): first KVM_RUN and its breakdown are not measured, only process life, rates and memory"
fi
emit() { echo "BENCH-JSON {\"test\":\"$1\",\"vmm\":\"$2\",\"iter\":$3,\"r\":$4}"; }
run1() { # TEST VMM ITER LAUNCH-OPTIONS... -- CMD...
	local t=$1 v=$2 i=$3 out
	shift 3
	out=$("$L" run ${trace:+--trace "$trace"} --log "$LOGS/$t-$v.log" "$@")
	[ -n "$out" ] || out='{"ok":false,"error":"launch printed nothing"}'
	emit "$t" "$v" "$i" "$out"
	case $out in
	*'"ok":true'*) ;;
	*) note "$t/$v run $i failed; its last output:"
	   tail -3 "$LOGS/$t-$v.log" 2>/dev/null | sed 's/^/BENCH-NOTE   | /' ;;
	esac
}

# --- 1. start-up and process life, interleaved; the order rotates every iteration ------------
order=("${vmms[@]}" ember-api)
n=${#order[@]}
i=1
while [ $i -le "$iters" ]; do
	k=0
	while [ $k -lt "$n" ]; do
		v=${order[$(((k + i) % n))]}
		if [ "$v" = ember-api ]; then
			# exec -> the API socket accepts a connection; then the launcher stops it
			run1 api ember $i --sock "$T/api.sock" --timeout 20000 -- "$EMBER" --api-sock "$T/api.sock"
		else
			# shellcheck disable=SC2086
			run1 start "$v" $i --ok-rc "${OKRC[$v]}" --timeout 20000 -- ${CMD[$v]}
		fi
		k=$((k + 1))
	done
	i=$((i + 1))
done

# --- 2. RSS/PSS with a guest that halts: smaps 300 ms after exec, minus guest memory -------
i=1
while [ $i -le "$mem_iters" ]; do
	for v in ember ember-nopit ember-nohelper ember-b ember-b-nopit qemu kvmtool; do
		[ -n "${HANG[$v]:-}" ] || continue
		# shellcheck disable=SC2086
		run1 mem "$v" $i --hold-ms 300 --guest-mib $MEM --timeout 20000 -- ${HANG[$v]}
	done
	i=$((i + 1))
done

# --- 3. creation rate: N VMs started and reaped, P at once; tracing off -----------------------
if [ -n "$trace" ]; then
	"$L" trace-remove "$trace" 2>/dev/null
	trace=""
fi
fact loadavg_before_rate "$(cut -d' ' -f1-3 /proc/loadavg)"
# One at a time, the run the CPU-per-VM goal is judged on, comes in --rate-rounds rounds
# of --rate-per VMs each, the VMMs taking turns within a round: a minute when the host is
# slower falls on every VMM alike, and the report takes each VMM's median round.
p=1
while [ $p -le "$rate_max" ]; do
	rounds=1
	[ $p -gt 1 ] || rounds=$rate_rounds
	for round in $(seq "$rounds"); do
		for v in "${order[@]}"; do
			case $v in ember-api | floor-irqchip) continue ;; esac
			# shellcheck disable=SC2086
			out=$("$L" rate --parallel $p --count $((p * rate_per)) --ok-rc "${OKRC[$v]}" \
				--timeout $((30000 + 2000 * p * rate_per)) -- ${CMD[$v]})
			[ -n "$out" ] || out='{"ok":0,"error":"launch printed nothing"}'
			emit rate "$v" "$round" "$out"
		done
	done
	p=$((p * 2))
done

# --- 4. snapshots: Full create, loads in fresh processes, boots, clones alive at once ---------
# After the rate runs, so no other VM is running; the memory file lives in $T.
snapshots
