#!/bin/sh
# The Uffd memory backend of PUT /snapshot/load (issue 12): a counting probe is
# snapshotted, then restored with its memory served by each of the project's
# page-fault handlers (on demand; a REAP-style one that records a working set, then
# prefetches it); the counter goes on, and a snapshot of such a VM loads again.
# Handlers that are missing, refuse, close at once, answer garbage or never serve give
# a 400 that says so, within a bound, and the same ember then loads through a good
# handler. POSIX sh + busybox.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
FC=$EMBER_DIR/fcclient
OND=$EMBER_DIR/ember-uffd-ondemand
PRE=$EMBER_DIR/ember-uffd-prefetch
PEER=$EMBER_DIR/uffdpeer
need_files uffd "$PROBE" "$FC" "$OND" "$PRE" "$PEER"
api_session uffd

# handler NAME PROGRAM ARGS...: a handler in the background, its output in $W/NAME.h;
# waits until it listens. Sets HPID and HOUT.
handler() {
	HOUT=$W/$1.h
	shift
	"$@" >"$HOUT" 2>&1 &
	HPID=$!
	PIDS="$PIDS $HPID"
	wait_for "$HOUT" "listening" 10
}
# handler_exits SECS: the handler ends by itself once its VM is gone.
handler_exits() {
	_i=0
	while kill -0 "$HPID" 2>/dev/null && [ $_i -lt $(($1 * 10)) ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if kill -0 "$HPID" 2>/dev/null; then
		kill -9 "$HPID" 2>/dev/null
		wait "$HPID" 2>/dev/null
		return 1
	fi
	wait "$HPID"
}
uffd_body() { # VMSTATE SOCKET
	echo "{\"snapshot_path\": \"$1\", \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": \"$2\"}, \"resume_vm\": true}"
}

# --- the snapshot: a probe counting every 20 ms, 2 vCPUs ------------------------------
start a
api uffd/machine PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 64}' &&
	api uffd/boot-source PUT /boot-source \
		"{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.count=20 probe.cpus=2\"}" &&
	api uffd/start PUT /actions '{"action_type": "InstanceStart"}'
if ! wait_for "$OUT" "^PROBE count 5$" 60; then
	fail uffd/boot "the probe did not count: $(tail -c 300 "$OUT")"
	exit 1
fi
api uffd/pause PATCH /vm '{"state": "Paused"}' &&
	api uffd/create PUT /snapshot/create "{\"snapshot_path\": \"$W/s\", \"mem_file_path\": \"$W/m\"}"
sleep 0.3
A=$OUT
stopped=$(probe_last_count "$A")
kill_ember

# restore NAME: loads $W/s through the handler listening on $W/NAME.pf; the probe must
# continue from where it stopped, with no gap and no new boot.
restore() {
	_t=uffd/$1
	start "$1"
	api "$_t-load" PUT /snapshot/load "$(uffd_body "$W/s" "$W/$1.pf")" || return 1
	grep -o "uffd: .*\|snapshot loaded in [0-9]* us" "$ERR" | sed "s/^/uffd: $1: /"
	if wait_for "$OUT" "^PROBE count $((stopped + 10))$" 30 && probe_counts "$A" "$OUT" | consecutive &&
		! grep -q 'PROBE hello' "$OUT"; then
		pass "$_t-continues"
	else
		fail "$_t-continues" "stopped at $stopped; after load: $(tail -c 200 "$OUT")"
	fi
	kill_ember
	if handler_exits 10; then
		pass "$_t-handler-exits"
		grep -v listening "$HOUT" | sed "s/^/uffd: $1: /"
	else
		fail "$_t-handler-exits" "the handler outlived its VM by 10 s: $(cat "$HOUT")"
	fi
}
# served FILE: the number in "N faults served" of a handler's last line.
served() { sed -n 's/.* \([0-9][0-9]*\) faults served.*/\1/p' "$1"; }

# --- on demand ---------------------------------------------------------------------
if handler ondemand "$OND" "$W/ondemand.pf" "$W/m"; then
	restore ondemand
	n=$(served "$HOUT")
	check uffd/ondemand-served "no fault served: $(cat "$HOUT")" test "${n:-0}" -gt 0
else
	fail uffd/ondemand "the handler did not listen: $(cat "$HOUT")"
fi

# --- a snapshot of a VM whose memory a handler serves -------------------------------
# The create reads all guest memory: every page not yet faulted in comes through the
# handler. The new snapshot then loads with the File backend and goes on counting.
t=uffd/resnapshot
if handler re "$OND" "$W/re.pf" "$W/m"; then
	start re
	if api "$t-load" PUT /snapshot/load "$(uffd_body "$W/s" "$W/re.pf")" &&
		wait_for "$OUT" "^PROBE count $((stopped + 5))$" 30 &&
		api "$t-pause" PATCH /vm '{"state": "Paused"}' &&
		api "$t-create" PUT /snapshot/create "{\"snapshot_path\": \"$W/s2\", \"mem_file_path\": \"$W/m2\"}"; then
		sleep 0.3
		A2=$OUT
		at=$(probe_last_count "$A2")
		kill_ember
		handler_exits 10
		start re2
		api "$t-load2" PUT /snapshot/load "{\"snapshot_path\": \"$W/s2\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$W/m2\"}, \"resume_vm\": true}"
		if wait_for "$OUT" "^PROBE count $((at + 5))$" 30 && probe_counts "$A" "$A2" "$OUT" | consecutive; then
			pass "$t-continues"
		else
			fail "$t-continues" "stopped at $at; after load: $(tail -c 200 "$OUT")"
		fi
		echo "uffd: resnapshot: $(grep -v listening "$HOUT")"
	fi
	kill_ember
else
	fail "$t" "the handler did not listen: $(cat "$HOUT")"
fi

# --- REAP: record a working set, then prefetch it ----------------------------------
if handler record "$PRE" --record "$W/ws" "$W/record.pf" "$W/m"; then
	restore record
	rec=$(sed -n 's/.*recorded \([0-9][0-9]*\) pages.*/\1/p' "$HOUT")
	# 24 bytes of header and one bit per 4 KiB page of the 64 MiB file.
	size=$(wc -c <"$W/ws" 2>/dev/null)
	if [ "${rec:-0}" -gt 0 ] && [ "$size" = $((24 + 64 * 256 / 8)) ]; then
		pass uffd/record-working-set
	else
		fail uffd/record-working-set "recorded '${rec}' pages, file of '$size' bytes: $(cat "$HOUT")"
	fi
else
	fail uffd/record "the handler did not listen: $(cat "$HOUT")"
fi
if [ -s "$W/ws" ] && handler prefetch "$PRE" --prefetch "$W/ws" "$W/prefetch.pf" "$W/m"; then
	restore prefetch
	pre=$(sed -n 's/.* \([0-9][0-9]*\) pages prefetched.*/\1/p' "$HOUT")
	if [ "${pre:-0}" -gt 0 ]; then
		pass uffd/prefetch-copied
	else
		fail uffd/prefetch-copied "nothing prefetched: $(cat "$HOUT")"
	fi
	# A working set of another memory file is refused at start.
	head -c 1048576 "$W/m" >"$W/m-short"
	if "$PRE" --prefetch "$W/ws" "$W/x.pf" "$W/m-short" >"$W/bad.h" 2>&1; then
		fail uffd/prefetch-wrong-file "accepted a working set of another memory file"
	else
		check uffd/prefetch-wrong-file "$(cat "$W/bad.h")" grep -q "working set" "$W/bad.h"
	fi
else
	fail uffd/prefetch "no working set or the handler did not listen: $(cat "$HOUT" 2>/dev/null)"
fi

# --- handlers that fail: a 400 naming the problem, within a bound --------------------
# refused_uffd NAME WANT SOCKET: the load answers 400 with WANT in under 10 s, and
# ember still answers.
refused_uffd() {
	_t=uffd/bad-$1 _w=$2
	_s=$(date +%s)
	timeout 20 "$FC" "$S" PUT /snapshot/load "$(uffd_body "$W/s" "$3")" >"$W/reply" 2>&1
	_rc=$?
	_d=$(($(date +%s) - _s))
	if [ $_rc -eq 0 ]; then
		fail "$_t" "accepted: $(head -c 200 "$W/reply")"
	elif ! grep -q "^400 .*$_w" "$W/reply"; then
		fail "$_t" "wrong answer after $_d s: $(head -c 300 "$W/reply")"
	elif [ $_d -gt 10 ]; then
		fail "$_t" "the answer took $_d s"
	elif ! timeout 10 "$FC" "$S" GET / >"$W/reply2" 2>&1; then
		fail "$_t" "ember no longer answers: $(cat "$W/reply2")"
	else
		pass "$_t"
	fi
}
peer() { # MODE: uffdpeer on $W/MODE.pf
	handler "peer-$1" "$PEER" "$1" "$W/$1.pf" || fail "uffd/bad-$1" "uffdpeer did not start: $(cat "$HOUT")"
}
start bad
refused_uffd missing "cannot connect.*No such file" "$W/nothing-here.pf"
"$PEER" stale "$W/stale.pf"
refused_uffd refused "cannot connect.*refused" "$W/stale.pf"
peer close
refused_uffd close "closed the connection\|cannot send" "$W/close.pf"
peer garbage
refused_uffd garbage "sent data" "$W/garbage.pf"
peer silent
refused_uffd silent "did not serve a page fault" "$W/silent.pf"
peer noaccept
refused_uffd noaccept "did not serve a page fault" "$W/noaccept.pf"
timeout 10 "$FC" "$S" GET / >"$W/reply" 2>&1
check uffd/bad-still-not-started "GET /: $(cat "$W/reply")" grep -q '"state":"Not started"' "$W/reply"
# The same ember then restores through a good handler.
if handler late "$OND" "$W/late.pf" "$W/m"; then
	if api uffd/bad-then-good PUT /snapshot/load "$(uffd_body "$W/s" "$W/late.pf")" &&
		wait_for "$OUT" "^PROBE count $((stopped + 3))$" 30; then
		pass uffd/bad-then-good-continues
	else
		fail uffd/bad-then-good-continues "after load: $(tail -c 200 "$OUT")"
	fi
fi
kill_ember
exit 0
