#!/bin/sh
# Warm VM shells (--prepare vcpus=N,mem=M) and clones: a counting probe restored into a
# prepared shell continues; a snapshot of another shape drops the shell and still
# restores; a boot with a shell prepared builds its own VM; the metrics carry the
# load's steps; dirty page logging is switched on in a shell's slots for a load that
# asks for it; 20 clones of one snapshot all continue and each keeps its private
# memory small (a full copy of guest memory would not be). POSIX sh + busybox.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
FC=$EMBER_DIR/fcclient
need_files warm "$PROBE" "$FC"
api_session warm
PERIOD=20
MEM=64
CLONES=${WARM_CLONES:-20}
PRIVATE_MAX_KIB=8192 # generous: ember's own memory plus the pages the probe writes

# start_m NAME [ARGS...]: start, with a metrics file at $W/NAME.metrics.
start_m() {
	_mn=$1
	shift
	start "$_mn" --metrics-path "$W/$_mn.metrics" "$@"
}
# metric NAME FILE: the last value of latencies_us's NAME in the metrics file.
metric() { sed -n "s/.*\"latencies_us\":{[^}]*\"$1\":\([0-9]*\).*/\1/p" "$2" | tail -1; }

# snapshot NAME VCPUS: boots a counting probe, snapshots it to $W/NAME.s and $W/NAME.m;
# sets STOPPED (its last count) and A (its console).
snapshot() {
	start_m "$1"
	api "warm/$1-machine" PUT /machine-config "{\"vcpu_count\": $2, \"mem_size_mib\": $MEM}" &&
		api "warm/$1-boot-source" PUT /boot-source \
			"{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.count=$PERIOD probe.cpus=$2\"}" &&
		api "warm/$1-start" PUT /actions '{"action_type": "InstanceStart"}' || return 1
	if ! wait_for "$OUT" "^PROBE count 5$" 60; then
		fail "warm/$1" "the probe did not count: $(tail -c 300 "$OUT")"
		return 1
	fi
	api "warm/$1-pause" PATCH /vm '{"state": "Paused"}' &&
		api "warm/$1-create" PUT /snapshot/create "{\"snapshot_path\": \"$W/$1.s\", \"mem_file_path\": \"$W/$1.m\"}" || return 1
	sleep 0.2
	A=$OUT
	STOPPED=$(probe_last_count "$A")
	kill_ember
	return 0
}
# continues NAME: the ember just loaded counts on from $STOPPED with no gap after $A.
continues() {
	if wait_for "$OUT" "^PROBE count $((STOPPED + 5))$" 30 && probe_counts $A "$OUT" | consecutive &&
		! grep -q "PROBE hello" "$OUT"; then
		pass "$1"
	else
		fail "$1" "stopped at $STOPPED; after load: $(tail -c 200 "$OUT")"
	fi
}
flush() { "$FC" "$S" PUT /actions '{"action_type": "FlushMetrics"}' >/dev/null 2>&1; }

snapshot one 1 || exit 0
A1=$A STOPPED1=$STOPPED
snapshot two 2 || exit 0
A2=$A STOPPED2=$STOPPED

# --- a prepared shell takes the load ------------------------------------------------
t=warm/restore
start_m w1 --prepare vcpus=1,mem=$MEM
check "$t-prepared" "no warm shell in the log" wait_for "$ERR" "warm shell: 1 vCPUs, $MEM MiB prepared" 10
A=$A1 STOPPED=$STOPPED1
api "$t-load" PUT /snapshot/load "$(load_body "$W/one.s" "$W/one.m")"
check "$t-used" "the load did not use the shell" has "snapshot loaded in [0-9]* us into the warm shell" "$ERR"
continues "$t-continues"
grep -o "snapshot loaded in .*" "$ERR" | sed 's/^/warm: 1 vCPU: /'
# The metrics: load_snapshot and every step; a shell leaves create_vm and the thread
# start at 0, and the steps the load did are there.
flush
M=$W/w1.metrics
ok=1
for f in load_snapshot load_snapshot_open load_snapshot_map_memory load_snapshot_set_vcpu_state \
	load_snapshot_set_vm_state load_snapshot_devices; do
	v=$(metric "$f" "$M")
	[ -n "$v" ] && [ "$v" -gt 0 ] || {
		ok=0
		echo "    $f=$v"
	}
done
[ "$(metric load_snapshot_warm "$M")" = 1 ] && [ "$(metric load_snapshot_create_vm "$M")" = 0 ] &&
	[ "$(metric load_snapshot_start_vcpus "$M")" = 0 ] || ok=0
check "$t-metrics" "latencies_us: $(grep -o '"latencies_us":{[^}]*}' "$M" | tail -1)" test $ok -eq 1
kill_ember

# 2 vCPUs: both threads were prepared and parked.
t=warm/restore-2vcpus
start_m w2 --prepare vcpus=2,mem=$MEM
A=$A2 STOPPED=$STOPPED2
api "$t-load" PUT /snapshot/load "$(load_body "$W/two.s" "$W/two.m")"
check "$t-used" "the load did not use the shell" has "into the warm shell" "$ERR"
continues "$t-continues"
grep -o "snapshot loaded in .*" "$ERR" | sed 's/^/warm: 2 vCPUs: /'
kill_ember

# --- another shape: the shell goes, the load takes the full path ------------------
t=warm/mismatch
start_m mm --prepare vcpus=2,mem=$MEM
A=$A1 STOPPED=$STOPPED1
api "$t-load" PUT /snapshot/load "$(load_body "$W/one.s" "$W/one.m")"
check "$t-logged" "no word of the dropped shell: $(cat "$ERR")" \
	wait_for "$ERR" "warm shell torn down in [0-9]* us: the VM has 1 vCPUs and $MEM MiB, the warm shell 2 and $MEM: a full load" 10
check "$t-full-path" "the load says it used the shell" sh -c "! grep -q 'into the warm shell' '$ERR'"
continues "$t-continues"
flush
check "$t-metrics" "latencies_us: $(grep -o '"latencies_us":{[^}]*}' "$W/mm.metrics" | tail -1)" \
	sh -c "[ '$(metric load_snapshot_warm "$W/mm.metrics")' = 0 ] && [ '$(metric load_snapshot_create_vm "$W/mm.metrics")' -gt 0 ]"
kill_ember
start_m mm2 --prepare vcpus=1,mem=$((MEM * 2))
api "$t-mem-load" PUT /snapshot/load "$(load_body "$W/one.s" "$W/one.m")"
check "$t-mem-logged" "no word of the dropped shell" wait_for "$ERR" "the warm shell 1 and $((MEM * 2)): a full load" 10
continues "$t-mem-continues"
kill_ember

# --- a boot with a shell prepared: its own VM, of the configured shape -------------
t=warm/boot
start_m bt --prepare vcpus=1,mem=$MEM
api "$t-machine" PUT /machine-config "{\"vcpu_count\": 2, \"mem_size_mib\": $((MEM * 2))}" &&
	api "$t-boot-source" PUT /boot-source \
		"{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.count=$PERIOD probe.cpus=2\"}" &&
	api "$t-start" PUT /actions '{"action_type": "InstanceStart"}'
check "$t-counts" "the booted probe did not count: $(tail -c 300 "$OUT")" wait_for "$OUT" "^PROBE count 3$" 30
check "$t-shell-dropped" "no word of the dropped shell" wait_for "$ERR" "warm shell torn down .*a boot builds its own VM" 10
"$FC" "$S" GET /vm/config >"$W/reply" 2>&1
check "$t-config" "GET /vm/config: $(head -c 300 "$W/reply")" has "\"vcpu_count\":2" "$W/reply"
kill_ember

# --- a shell with dirty page logging: Diff after a warm load ----------------------
t=warm/dirty
start_m dl --prepare vcpus=1,mem=$MEM
A=$A1 STOPPED=$STOPPED1
cp "$W/one.m" "$W/dl.m"
api "$t-load" PUT /snapshot/load "$(load_body "$W/one.s" "$W/dl.m" ', "track_dirty_pages": true')"
check "$t-used" "the load did not use the shell" has "into the warm shell" "$ERR"
if wait_for "$OUT" "^PROBE count $((STOPPED + 10))$" 30 &&
	api "$t-pause" PATCH /vm '{"state": "Paused"}' &&
	api "$t-diff" PUT /snapshot/create "{\"snapshot_path\": \"$W/dl.s\", \"mem_file_path\": \"$W/dl.m\", \"snapshot_type\": \"Diff\"}"; then
	sleep 0.2
	A="$A1 $OUT"
	STOPPED=$(probe_last_count "$OUT")
	kill_ember
	start_m dl2 --prepare vcpus=1,mem=$MEM
	api "$t-load-diff" PUT /snapshot/load "$(load_body "$W/dl.s" "$W/dl.m")"
	continues "$t-diff-continues"
fi
kill_ember

# --- clones: all continue, each with little private memory --------------------------
t=warm/clones
CPIDS=""
i=0
while [ $i -lt "$CLONES" ]; do
	start_m "c$i" --prepare vcpus=1,mem=$MEM
	CPIDS="$CPIDS $EPID"
	"$FC" "$S" PUT /snapshot/load "$(load_body "$W/one.s" "$W/one.m")" >"$W/reply" 2>&1 ||
		fail "$t-load-$i" "$(cat "$W/reply")"
	i=$((i + 1))
done
running=0 worst=0 sum=0
i=0
for p in $CPIDS; do
	wait_for "$W/c$i.out" "^PROBE count $((STOPPED1 + 5))$" 30 && running=$((running + 1))
	i=$((i + 1))
done
check "$t-all-continue" "$running of $CLONES clones counted on" test "$running" -eq "$CLONES"
# Private memory: what no other process shares (the pages the guest wrote, ember's
# heap and stacks). The memory file's page cache is shared by all of them.
for p in $CPIDS; do
	kib=$(awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' "/proc/$p/smaps_rollup" 2>/dev/null)
	sum=$((sum + ${kib:-0}))
	[ "${kib:-0}" -gt "$worst" ] && worst=$kib
done
echo "warm: $CLONES clones: private memory per clone $((sum / CLONES)) KiB on average, $worst KiB at most"
check "$t-private-small" "a clone has $worst KiB of private memory (bound $PRIVATE_MAX_KIB KiB)" \
	test "$worst" -gt 0 -a "$worst" -le $PRIVATE_MAX_KIB
for p in $CPIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done

# --- bad --prepare ------------------------------------------------------------------
t=warm/bad-flag
run_ember "$t" 10 --api-sock "$W/bad.sock" --prepare vcpus=0
check "$t-vcpus" "rc=$RC: $(cat "$ERR")" sh -c "[ $RC -eq 2 ] && grep -q 'prepare' '$ERR'"
run_ember "$t" 10 --prepare vcpus=1,mem=$MEM --no-api --config-file /nonexistent
check "$t-needs-api" "rc=$RC: $(cat "$ERR")" sh -c "[ $RC -eq 2 ] && grep -q 'prepare' '$ERR'"
exit 0
