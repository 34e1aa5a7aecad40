#!/bin/sh
# Snapshots of the probe guest in count mode (probe.count): pause, PUT /snapshot/create,
# kill that ember, PUT /snapshot/load (resume_vm) in a new one; the counter goes on
# where it stopped. Also blk data across a restore, a Diff after a Full, ten clones of
# one snapshot sharing its memory file's pages, firecracker-go-sdk's restore sequence,
# the balloon's amount and a rate limiter's spent burst across a restore, and bad
# input. POSIX sh + busybox.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
FC=$EMBER_DIR/fcclient
for f in "$PROBE" "$FC" "$EMBER_DIR/fnv1a"; do
	if [ ! -e "$f" ]; then
		echo "FAIL kvm/snapshot: $f missing"
		exit 1
	fi
done
api_session snap
PERIOD=20

# refused NAME WANT METHOD PATH BODY: must answer 400 with WANT in the fault message,
# and ember must still answer GET / afterwards.
refused() {
	_n=$1 _w=$2
	shift 2
	if "$FC" "$S" "$@" >"$W/reply" 2>&1; then
		fail "$_n" "accepted: $(head -c 200 "$W/reply")"
	elif ! has "^400 .*$_w" "$W/reply"; then
		fail "$_n" "wrong answer: $(head -c 300 "$W/reply")"
	elif ! "$FC" "$S" GET / >"$W/reply2" 2>&1; then
		fail "$_n" "ember no longer answers: $(cat "$W/reply2")"
	else
		pass "$_n"
	fi
}
# boot NAME VCPUS EXTRA_ARGS [MACHINE_EXTRA]: a counting probe, running.
boot() {
	start "$1"
	api "snapshot/$1-machine" PUT /machine-config "{\"vcpu_count\": $2, \"mem_size_mib\": 64$4}" &&
		api "snapshot/$1-boot-source" PUT /boot-source \
			"{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.count=$PERIOD $3\"}" &&
		api "snapshot/$1-start" PUT /actions '{"action_type": "InstanceStart"}'
}

# --- 1 and 2 vCPUs: the counter continues -------------------------------------------
for n in 1 2; do
	t=snapshot/vcpus$n
	boot "a$n" $n "probe.cpus=$n" || continue
	if ! wait_for "$OUT" "^PROBE count 5$" 60; then
		fail "$t" "the probe did not count: $(tail -c 300 "$OUT")"
		kill_ember
		continue
	fi
	refused "$t-create-running" "must be Paused" PUT /snapshot/create \
		"{\"snapshot_path\": \"$W/s$n\", \"mem_file_path\": \"$W/m$n\"}"
	api "$t-pause" PATCH /vm '{"state": "Paused"}' &&
		refused "$t-create-bad-path" "mem_file_path" PUT /snapshot/create \
			"{\"snapshot_path\": \"$W/s$n\", \"mem_file_path\": \"$W/no/such/dir/m\"}" &&
		refused "$t-create-bad-state-path" "snapshot_path" PUT /snapshot/create \
			"{\"snapshot_path\": \"$W/no/such/dir/s\", \"mem_file_path\": \"$W/m$n\"}" &&
		api "$t-create" PUT /snapshot/create "{\"snapshot_path\": \"$W/s$n\", \"mem_file_path\": \"$W/m$n\"}"
	"$FC" "$S" GET / >"$W/reply" 2>&1
	check "$t-still-paused" "GET / after create: $(cat "$W/reply")" has '"state":"Paused"' "$W/reply"
	sleep 0.3
	A=$OUT
	stopped=$(probe_last_count "$A")
	grep -o "snapshot created in [0-9]* us" "$ERR" | sed "s/^/snapshot: vcpus=$n /"
	kill_ember
	start "b$n"
	api "$t-load" PUT /snapshot/load "$(load_body "$W/s$n" "$W/m$n")"
	"$FC" "$S" GET / >"$W/reply" 2>&1
	check "$t-running" "GET / after load: $(cat "$W/reply")" has '"state":"Running"' "$W/reply"
	"$FC" "$S" GET /vm/config >"$W/reply" 2>&1
	check "$t-vm-config" "GET /vm/config: $(head -c 300 "$W/reply")" has "\"vcpu_count\":$n" "$W/reply"
	grep -o "snapshot loaded in [0-9]* us" "$ERR" | sed "s/^/snapshot: vcpus=$n /"
	if wait_for "$OUT" "^PROBE count $((stopped + 5))$" 30; then
		pass "$t-continues"
	else
		fail "$t-continues" "stopped at $stopped; after load: $(tail -c 200 "$OUT")"
	fi
	check "$t-no-reboot" "the restored probe started over" sh -c "! grep -q 'PROBE hello' '$OUT'"
	if probe_counts "$A" "$OUT" | consecutive; then
		pass "$t-no-gap"
	else
		fail "$t-no-gap" "probe_counts before+after are not 0,1,2,...: $(probe_counts "$A" "$OUT" | tr '\n' ' ' | tail -c 300)"
	fi
	kill_ember
done

# --- a VM booted at start-up from a config file: its vCPU 0 runs on the start-up helper's
# thread (vmm/vm_early.c). It pauses, is saved, resumes and counts on, and its snapshot
# loads in a new ember. ------------------------------------------------------------------
t=snapshot/helper-vcpu0
for n in 1 2; do
	cat >"$W/h$n.json" <<EOF2
{"boot-source":{"kernel_image_path":"$PROBE","boot_args":"$CMD probe.count=$PERIOD probe.cpus=$n"},
 "machine-config":{"vcpu_count":$n,"mem_size_mib":64}}
EOF2
	start "h$n" --config-file "$W/h$n.json" --level debug --start-helper on
	if ! wait_for "$OUT" "^PROBE count 5$" 60; then
		fail "$t-$n" "the probe did not count: $(tail -c 300 "$OUT")"
		kill_ember
		continue
	fi
	if [ "$(nproc)" -ge 2 ] && ! has "vcpu 0 set up and run by the start-up helper" "$ERR"; then
		fail "$t-$n" "$(nproc) allowed CPUs, but vCPU 0 was not the start-up helper's"
		kill_ember
		continue
	fi
	api "$t-$n-pause" PATCH /vm '{"state": "Paused"}' &&
		api "$t-$n-create" PUT /snapshot/create "{\"snapshot_path\": \"$W/hs$n\", \"mem_file_path\": \"$W/hm$n\"}" &&
		api "$t-$n-resume" PATCH /vm '{"state": "Resumed"}' || {
		kill_ember
		continue
	}
	paused_at=$(probe_last_count "$OUT")
	if wait_for "$OUT" "^PROBE count $((paused_at + 5))$" 30; then
		pass "$t-$n-resumed"
	else
		fail "$t-$n-resumed" "paused at $paused_at, then: $(tail -c 200 "$OUT")"
	fi
	kill_ember
	start "hl$n"
	api "$t-$n-load" PUT /snapshot/load "$(load_body "$W/hs$n" "$W/hm$n")" &&
		if wait_for "$OUT" "^PROBE count $((paused_at + 5))$" 30; then
			pass "$t-$n-loaded"
		else
			fail "$t-$n-loaded" "saved at $paused_at; after load: $(tail -c 200 "$OUT")"
		fi
	kill_ember
done

# --- a snapshot of a restored VM, taken while the guest mostly prints ---------------
# At 1 ms per line the vCPU is usually in the middle of a console write when it is
# paused: the state saved must be the one after that I/O instruction completed (an
# instruction saved half-done prints its character twice after the restore). Three
# generations: boot -> snapshot -> restore -> snapshot -> restore.
t=snapshot/generations
PERIOD=1
if boot g0 1 "" && wait_for "$OUT" "^PROBE count 30$" 60; then
	ok=1
	outs=$OUT
	for gen in 1 2; do
		api "$t-pause$gen" PATCH /vm '{"state": "Paused"}' &&
			api "$t-create$gen" PUT /snapshot/create "{\"snapshot_path\": \"$W/sg$gen\", \"mem_file_path\": \"$W/mg$gen\"}" || ok=0
		sleep 0.2
		at=$(probe_last_count $outs)
		kill_ember
		start "g$gen"
		outs="$outs $OUT"
		api "$t-load$gen" PUT /snapshot/load "$(load_body "$W/sg$gen" "$W/mg$gen")" || ok=0
		wait_for "$OUT" "^PROBE count $((at + 30))$" 30 || ok=0
	done
	if [ $ok -eq 1 ] && probe_counts $outs | consecutive && [ "$(cat $outs | grep -c "PROBE hello")" -eq 1 ]; then
		pass "$t-continue"
	else
		fail "$t-continue" "counts: $(probe_counts $outs | tr '\n' ' ' | tail -c 300)"
	fi
	kill_ember
else
	fail "$t" "the probe did not count: $(tail -c 300 "$OUT")"
	kill_ember
fi
PERIOD=20

# --- blk: what the guest wrote before the snapshot reads back after it -------------
t=snapshot/blk
dd if=/dev/zero of="$W/disk" bs=1024 count=1024 2>/dev/null
start blk
api "$t-machine" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
api "$t-drive" PUT /drives/d0 "{\"drive_id\": \"d0\", \"path_on_host\": \"$W/disk\", \"is_root_device\": false, \"is_read_only\": false}"
api "$t-entropy" PUT /entropy '{}'
api "$t-vsock" PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$W/v1.sock\"}"
api "$t-boot-source" PUT /boot-source "{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.count=$PERIOD probe.virtio=blk,rng,vsock probe.count_blk=150\"}"
api "$t-start" PUT /actions '{"action_type": "InstanceStart"}'
if wait_for "$OUT" "^PROBE count 3$" 60; then
	api "$t-pause" PATCH /vm '{"state": "Paused"}'
	api "$t-create" PUT /snapshot/create "{\"snapshot_path\": \"$W/sb\", \"mem_file_path\": \"$W/mb\"}"
	A=$OUT
	kill_ember
	before=$(sed -n 's/^PROBE count-blk 0 fnv1a=\([0-9a-f]*\)$/\1/p' "$A")
	head -c 4096 "$W/disk" >"$W/disk.head"
	host=$("$EMBER_DIR/fnv1a" "$W/disk.head")
	check "$t-written" "the probe's blk test failed before the snapshot" has "PROBE check virtio-blk ok" "$A"
	start blk2
	# The killed ember left v1.sock behind: the restored one listens on another path.
	api "$t-load" PUT /snapshot/load "$(load_body "$W/sb" "$W/mb" ", \"vsock_override\": {\"uds_path\": \"$W/v2.sock\"}")"
	if wait_for "$OUT" "^PROBE count 150$" 60; then
		after=$(sed -n 's/^PROBE count-blk 150 fnv1a=\([0-9a-f]*\)$/\1/p' "$OUT")
		if [ -n "$before" ] && [ "$before" = "$after" ] && [ "$after" = "$host" ]; then
			pass "$t-reads-back"
		else
			fail "$t-reads-back" "before=$before after=$after host=$host: $(grep count-blk "$OUT")"
		fi
		# vsock tells the guest its connections are gone (TRANSPORT_RESET = 0).
		check snapshot/vsock-transport-reset "$(grep count-vsock "$OUT")" \
			grep -q "^PROBE count-vsock 150 event=0$" "$OUT"
		check snapshot/vsock-override "no socket at the override path" test -S "$W/v2.sock"
		# rng and the console work after the restore too.
		if has "^PROBE count-rng 0 nonzero=" "$A" && grep -q "^PROBE count-rng 150 nonzero=[1-9]" "$OUT"; then
			pass snapshot/rng-after-restore
		else
			fail snapshot/rng-after-restore "$(grep count-rng "$A" "$OUT")"
		fi
	else
		fail "$t-reads-back" "no read after the restore: $(tail -c 300 "$OUT")"
	fi
	kill_ember
else
	fail "$t" "the probe did not count: $(tail -c 300 "$OUT")"
	kill_ember
fi

# --- a Diff after a Full restores the later state ----------------------------------
t=snapshot/diff
if boot d 1 "" ', "track_dirty_pages": true' && wait_for "$OUT" "^PROBE count 3$" 60; then
	api "$t-pause1" PATCH /vm '{"state": "Paused"}'
	api "$t-full" PUT /snapshot/create "{\"snapshot_path\": \"$W/sf\", \"mem_file_path\": \"$W/md\", \"snapshot_type\": \"Full\"}"
	full_at=$(probe_last_count "$OUT")
	api "$t-resume" PATCH /vm '{"state": "Resumed"}'
	wait_for "$OUT" "^PROBE count $((full_at + 20))$" 30
	api "$t-pause2" PATCH /vm '{"state": "Paused"}'
	api "$t-diff" PUT /snapshot/create "{\"snapshot_path\": \"$W/sd\", \"mem_file_path\": \"$W/md\", \"snapshot_type\": \"Diff\"}"
	sleep 0.3
	A=$OUT
	diff_at=$(probe_last_count "$A")
	grep -o "Diff snapshot created in [0-9]* us" "$ERR" | sed "s/^/snapshot: /"
	kill_ember
	start d2
	api "$t-load" PUT /snapshot/load "$(load_body "$W/sd" "$W/md")"
	if wait_for "$OUT" "^PROBE count $((diff_at + 3))$" 30 && probe_counts "$A" "$OUT" | consecutive; then
		pass "$t-later-state"
	else
		fail "$t-later-state" "full at $full_at, diff at $diff_at; after load: $(head -c 200 "$OUT")"
	fi
	kill_ember
else
	fail "$t" "the probe did not count: $(tail -c 300 "$OUT")"
	kill_ember
fi
if boot nodiff 1 "" && wait_for "$OUT" "^PROBE count 1$" 60 &&
	api snapshot/diff-nodiff-pause PATCH /vm '{"state": "Paused"}'; then
	refused snapshot/diff-needs-tracking "track_dirty_pages" PUT /snapshot/create \
		"{\"snapshot_path\": \"$W/x\", \"mem_file_path\": \"$W/y\", \"snapshot_type\": \"Diff\"}"
fi
kill_ember

# --- ten clones of one snapshot share the memory file's pages -----------------------
t=snapshot/clones
CLONES=""
ok=1
for i in 0 1 2 3 4 5 6 7 8 9; do
	start "c$i"
	CLONES="$CLONES $EPID"
	extra=""
	[ $((i % 2)) -eq 1 ] && extra=', "clock_realtime": true'
	"$FC" "$S" PUT /snapshot/load "$(load_body "$W/s1" "$W/m1" "$extra")" >"$W/reply" 2>&1 || {
		fail "$t-load-$i" "$(cat "$W/reply")"
		ok=0
	}
done
running=0
for i in 0 1 2 3 4 5 6 7 8 9; do
	# Each clone prints a count line beyond where the snapshot stopped.
	wait_for "$W/c$i.out" "^PROBE count [0-9]*$" 30 && running=$((running + 1))
done
check "$t-all-run" "$running of 10 clones counted" test "$running" -eq 10
# The guest memory mapping of each clone (the memory file's, in /proc/PID/smaps): its
# file pages are shared, so their PSS summed over the clones probe_counts them about once;
# pages a clone wrote are its own (Anonymous) and count in full.
sum_pss=0 one_rss=0
for p in $CLONES; do
	set -- $(awk -v f="$W/m1" '/^[0-9a-f]+-[0-9a-f]+ / { m = ($6 == f) }
		m && /^Rss:/ { r += $2 } m && /^Pss:/ { p += $2 } m && /^Anonymous:/ { a += $2 }
		END { print r + 0, p + 0, a + 0 }' "/proc/$p/smaps" 2>/dev/null) 0 0 0
	sum_pss=$((sum_pss + $2 - $3))
	[ $(($1 - $3)) -gt "$one_rss" ] && one_rss=$(($1 - $3))
done
echo "snapshot: 10 clones: one maps ${one_rss} KiB of the memory file; its PSS summed over the 10: ${sum_pss} KiB"
if [ "$one_rss" -ge 32 ] && [ "$sum_pss" -le $((one_rss * 3 / 2)) ]; then
	pass "$t-pages-shared"
else
	fail "$t-pages-shared" "memory file pages: ${one_rss} KiB mapped by one clone, PSS summed ${sum_pss} KiB"
fi
for p in $CLONES; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done

# --- firecracker-go-sdk's restore, request by request --------------------------------
# From its source (handlers.go, machine.go, opts.go): WithSnapshot() swaps the boot
# handlers for LoadSnapshotHandler, so a restore sends GET /machine-config (waitForSocket,
# until the socket answers), PUT /logger and PUT /metrics (BootstrapLoggingHandler: on
# files it created, or on FIFOs), then PUT /snapshot/load (loadSnapshot), and no
# InstanceStart; the caller then resumes with m.ResumeVM (PATCH /vm), as the SDK's
# snapshotting example does, unless its SnapshotConfig asked for resume_vm. Its pause
# and create (PauseVM, CreateSnapshot) make the snapshot. Bodies as Go's encoding/json
# writes the go-swagger models: fields in alphabetical order, omitempty ones left out
# (resume_vm false, enable_diff_snapshots false). firecracker-containerd does not load
# snapshots (it only pauses and resumes).
t=snapshot/go-sdk
if boot sdk 1 "" && wait_for "$OUT" "^PROBE count 3$" 60; then
	api "$t-pause" PATCH /vm '{"state":"Paused"}' &&
		api "$t-create" PUT /snapshot/create "{\"mem_file_path\":\"$W/sdk.mem\",\"snapshot_path\":\"$W/sdk.state\"}"
	sleep 0.2
	A=$OUT
	at=$(probe_last_count "$A")
	kill_ember
	# 1. WithSnapshot(mem, snap) with LogPath and MetricsPath (files the SDK creates
	#    first), then m.ResumeVM.
	: >"$W/sdk1.log"
	: >"$W/sdk1.metrics"
	start sdk1
	api "$t-wait-socket" GET /machine-config &&
		api "$t-logger" PUT /logger "{\"level\":\"Debug\",\"log_path\":\"$W/sdk1.log\",\"show_level\":true,\"show_log_origin\":false}" &&
		api "$t-metrics" PUT /metrics "{\"metrics_path\":\"$W/sdk1.metrics\"}" &&
		api "$t-load" PUT /snapshot/load "{\"mem_file_path\":\"$W/sdk.mem\",\"snapshot_path\":\"$W/sdk.state\"}" &&
		api "$t-state" GET / && check "$t-loaded-paused" "GET / after the load: $(cat "$W/reply")" has '"state":"Paused"' "$W/reply" &&
		api "$t-resume" PATCH /vm '{"state":"Resumed"}'
	if wait_for "$OUT" "^PROBE count $((at + 5))$" 30 && probe_counts "$A" "$OUT" | consecutive; then
		pass "$t-continues"
	else
		fail "$t-continues" "stopped at $at; after the load: $(tail -c 200 "$OUT")"
	fi
	check "$t-logged" "nothing in the logger's file" test -s "$W/sdk1.log"
	kill_ember
	# 2. WithSnapshot("", snap, WithMemoryBackend("File", mem)) and ResumeVM set, with
	#    LogFifo and MetricsFifo (FIFOs that nobody reads).
	mkfifo "$W/sdk2.log" "$W/sdk2.metrics"
	start sdk2
	api "$t-fifo-wait-socket" GET /machine-config &&
		api "$t-fifo-logger" PUT /logger "{\"level\":\"Debug\",\"log_path\":\"$W/sdk2.log\",\"show_level\":true,\"show_log_origin\":false}" &&
		api "$t-fifo-metrics" PUT /metrics "{\"metrics_path\":\"$W/sdk2.metrics\"}" &&
		api "$t-backend-load" PUT /snapshot/load "{\"mem_backend\":{\"backend_path\":\"$W/sdk.mem\",\"backend_type\":\"File\"},\"resume_vm\":true,\"snapshot_path\":\"$W/sdk.state\"}"
	if wait_for "$OUT" "^PROBE count $((at + 5))$" 30 && probe_counts "$A" "$OUT" | consecutive; then
		pass "$t-backend-continues"
	else
		fail "$t-backend-continues" "stopped at $at; after the load: $(tail -c 200 "$OUT")"
	fi
	kill_ember
	# 3. A Config with VsockDevices: AddVsocksHandler stays in the restore list, so the
	#    SDK sends PUT /vsock before the load, which Firecracker refuses
	#    (LoadSnapshotNotAllowed: rpc_interface.rs set_vsock_device sets boot_path).
	#    ember answers the same.
	start sdk3
	api "$t-vsock-wait-socket" GET /machine-config &&
		api "$t-vsock-put" PUT /vsock "{\"guest_cid\":3,\"uds_path\":\"$W/sdk3.vsock\",\"vsock_id\":\"vsock0\"}" &&
		refused "$t-vsock-then-load" "not allowed after configuring" PUT /snapshot/load \
			"{\"mem_file_path\":\"$W/sdk.mem\",\"snapshot_path\":\"$W/sdk.state\"}"
	kill_ember
else
	fail "$t" "the probe did not count: $(tail -c 300 "$OUT")"
	kill_ember
fi

# --- the balloon across a restore: its target, actual and pages ---------------------
# The probe inflates 32 MiB and reports them in `actual`; after the restore the device
# still says so (GET /balloon/statistics), and the host's release is served by the
# restored device: the probe deflates and finds its pages zeroed.
t=snapshot/balloon
start bal
api "$t-machine" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}' &&
	api "$t-boot-source" PUT /boot-source "{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.virtio=balloon probe.balloon_mib=32 probe.timeout_ms=10000\"}" &&
	api "$t-put" PUT /balloon '{"amount_mib": 0, "deflate_on_oom": true, "stats_polling_interval_s": 1}' &&
	api "$t-start" PUT /actions '{"action_type": "InstanceStart"}' &&
	wait_for "$OUT" "PROBE balloon touched" 60 &&
	api "$t-patch" PATCH /balloon '{"amount_mib": 32}' &&
	wait_for "$OUT" "PROBE balloon inflated" 60 &&
	api "$t-stats-before" GET /balloon/statistics && cp "$W/reply" "$W/bal.before" &&
	api "$t-pause" PATCH /vm '{"state": "Paused"}' &&
	api "$t-create" PUT /snapshot/create "{\"snapshot_path\": \"$W/sbal\", \"mem_file_path\": \"$W/mbal\"}"
ok=$?
A=$OUT
kill_ember
if [ $ok -eq 0 ]; then
	start bal2
	api "$t-load" PUT /snapshot/load "$(load_body "$W/sbal" "$W/mbal")"
	api "$t-stats-after" GET /balloon/statistics
	sizes() { grep -o '"target_pages":[0-9]*,"actual_pages":[0-9]*' "$1"; }
	if has '"target_pages":8192,"actual_pages":8192' "$W/bal.before" &&
		[ "$(sizes "$W/bal.before")" = "$(sizes "$W/reply")" ]; then
		pass "$t-amount-kept"
	else
		fail "$t-amount-kept" "before: $(sizes "$W/bal.before"); after the restore: $(head -c 200 "$W/reply")"
	fi
	api "$t-get" GET /balloon &&
		check "$t-get-amount" "GET /balloon: $(head -c 200 "$W/reply")" has '"amount_mib":32' "$W/reply"
	api "$t-release" PATCH /balloon '{"amount_mib": 0}'
	wait_for "$OUT" "^PROBE DONE" 60
	check "$t-deflate" "the restored probe did not deflate: $(tail -c 300 "$OUT")" \
		has "PROBE check virtio-balloon ok" "$OUT"
	kill_ember
else
	fail "$t" "no snapshot of an inflated balloon: $(tail -c 300 "$A")"
fi

# --- a rate limiter across a restore: what it had spent stays spent -----------------
# 64 KiB per 128 ms (512000 B/s) after a one-time burst of 1 MiB: the probe reads 128
# times 16 KiB, the first 64 from the burst. The snapshot is taken in the limited part
# (after step 5 of 8); a restored limiter with its burst back (a bucket made anew)
# would serve the rest, about 700 KiB, at once; the saved one takes over a second.
t=snapshot/ratelimit
uptime_cs() { awk '{ split($1, a, "."); print a[1] * 100 + substr(a[2] "00", 1, 2) }' /proc/uptime; }
dd if=/dev/zero of="$W/rl.disk" bs=1048576 count=4 2>/dev/null
start rl
api "$t-machine" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}' &&
	api "$t-drive" PUT /drives/rl "{\"drive_id\": \"rl\", \"path_on_host\": \"$W/rl.disk\", \"is_root_device\": false, \"rate_limiter\": {\"bandwidth\": {\"size\": 65536, \"one_time_burst\": 1048576, \"refill_time\": 128}}}" &&
	api "$t-boot-source" PUT /boot-source "{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.virtio=blk probe.blk_repeat=128\"}" &&
	api "$t-start" PUT /actions '{"action_type": "InstanceStart"}' &&
	wait_for "$OUT" "^PROBE rate blk step=5 " 60 &&
	api "$t-pause" PATCH /vm '{"state": "Paused"}' &&
	api "$t-create" PUT /snapshot/create "{\"snapshot_path\": \"$W/srl\", \"mem_file_path\": \"$W/mrl\"}"
ok=$?
A=$OUT
kill_ember
if [ $ok -ne 0 ]; then
	fail "$t" "no snapshot in the limited part: $(tail -c 300 "$A")"
elif has "^PROBE rate blk n=" "$A"; then
	fail "$t" "the probe finished before the pause: the limit did not hold before the snapshot"
else
	start rl2
	t0=$(uptime_cs)
	api "$t-load" PUT /snapshot/load "$(load_body "$W/srl" "$W/mrl")"
	# Asked now: the probe powers the VM off once its reads are done.
	"$FC" "$S" GET /vm/config >"$W/rl.config" 2>&1
	wait_for "$OUT" "^PROBE rate blk n=" 30
	cs=$(($(uptime_cs) - t0))
	echo "snapshot: the limited reads left took $cs cs after the load"
	wait_for "$OUT" "^PROBE DONE" 30
	check "$t-finished" "the restored probe's reads did not finish: $(tail -c 300 "$OUT")" \
		has "^PROBE check blk_repeat ok" "$OUT"
	check "$t-still-limited" "the rest of the reads took ${cs} cs after the restore: the burst came back" \
		test "$cs" -ge 50
	check "$t-config" "GET /vm/config: $(head -c 300 "$W/rl.config")" \
		has '"bandwidth":{"size":65536,"one_time_burst":1048576,"refill_time":128}' "$W/rl.config"
	kill_ember
fi

# --- bad input: 400 with the reason, and ember stays usable -------------------------
t=snapshot/bad
start bad
cp "$W/s1" "$W/damaged"
sz=$(wc -c <"$W/damaged")
printf 'X' | dd of="$W/damaged" bs=1 seek=$((sz / 2)) conv=notrunc 2>/dev/null
refused "$t-damaged" "checksum\|CRC\|crc" PUT /snapshot/load "$(load_body "$W/damaged" "$W/m1")"
head -c $((sz - 100)) "$W/s1" >"$W/truncated"
refused "$t-truncated" "snapshot_path" PUT /snapshot/load "$(load_body "$W/truncated" "$W/m1")"
head -c 1048576 "$W/m1" >"$W/short"
refused "$t-short-memory" "memory file" PUT /snapshot/load "$(load_body "$W/s1" "$W/short")"
refused "$t-missing" "snapshot_path" PUT /snapshot/load "$(load_body "$W/nonexistent" "$W/m1")"
refused "$t-uffd" "Uffd" PUT /snapshot/load \
	"{\"snapshot_path\": \"$W/s1\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"$W/uffd.sock\"}}"
refused "$t-both-mem" "exactly one" PUT /snapshot/load \
	"{\"snapshot_path\": \"$W/s1\", \"mem_file_path\": \"$W/m1\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/m1\"}}"
refused "$t-unknown-field" "bogus" PUT /snapshot/load "$(load_body "$W/s1" "$W/m1" ', "bogus": 1')"
refused "$t-net-override" "no network interface 'eth9'" PUT /snapshot/load \
	"$(load_body "$W/s1" "$W/m1" ', "network_overrides": [{"iface_id": "eth9", "host_dev_name": "tap9"}]')"
refused "$t-create-not-started" "must be Paused" PUT /snapshot/create \
	"{\"snapshot_path\": \"$W/x\", \"mem_file_path\": \"$W/y\"}"
# After all of that, the same ember still loads a good snapshot (deprecated field).
if api "$t-then-good" PUT /snapshot/load "{\"snapshot_path\": \"$W/s1\", \"mem_file_path\": \"$W/m1\", \"resume_vm\": false}"; then
	"$FC" "$S" GET / >"$W/reply" 2>&1
	check "$t-then-good-paused" "GET /: $(cat "$W/reply")" has '"state":"Paused"' "$W/reply"
	api "$t-then-resume" PATCH /vm '{"state": "Resumed"}' &&
		check "$t-then-counts" "no count after resume" wait_for "$OUT" "^PROBE count" 30
	refused "$t-load-twice" "not allowed" PUT /snapshot/load "$(load_body "$W/s1" "$W/m1")"
fi
kill_ember
start cfg
api "$t-configure" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}'
refused "$t-after-configure" "not allowed after configuring" PUT /snapshot/load "$(load_body "$W/s1" "$W/m1")"
kill_ember
# Logger and metrics may come first (firecracker-go-sdk's order).
start logfirst
api "$t-metrics-first" PUT /metrics "{\"metrics_path\": \"$W/metrics.json\"}" &&
	api "$t-load-after-metrics" PUT /snapshot/load "$(load_body "$W/s1" "$W/m1")" &&
	api "$t-flush" PUT /actions '{"action_type": "FlushMetrics"}' &&
	check "$t-latencies" "no load_snapshot latency in the metrics" \
		grep -q '"latencies_us":{[^}]*"load_snapshot":[1-9]' "$W/metrics.json"
kill_ember
exit 0
