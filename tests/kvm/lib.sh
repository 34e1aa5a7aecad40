# Shared helpers for kvm-tier scripts (sourced; POSIX sh, busybox).
# run_ember NAME SECS ARGS...: runs ember with a hang-catching timeout; sets RC,
# OUT (guest console + stdout) and ERR (ember's log).
run_ember() {
	_n=$1 _t=$2
	shift 2
	_f=$(echo "$_n" | tr / _)
	OUT=$TMPDIR/$_f.out ERR=$TMPDIR/$_f.err
	# EMBER_WRAP: a command to run ember under (taskset -c 0).
	timeout "$_t" ${EMBER_WRAP:-} "$EMBER_DIR/ember" "$@" >"$OUT" 2>"$ERR" </dev/null
	RC=$?
}
pass() { echo "PASS kvm/$1"; }
fail() {
	echo "FAIL kvm/$1: $2"
	if [ -n "${ERR:-}" ] && [ -f "$ERR" ]; then sed 's/^/    ember: /' "$ERR" | tail -5; fi
	if [ -n "${OUT:-}" ] && [ -f "$OUT" ]; then sed 's/^/    out: /' "$OUT" | tail -8; fi
}
# check NAME COND-DESCRIPTION COMMAND...: PASS if COMMAND succeeds.
check() {
	_n=$1 _d=$2
	shift 2
	if "$@"; then pass "$_n"; else fail "$_n" "$_d"; fi
}
has() { grep -q -- "$1" "$2"; }
lacks() { ! grep -q -- "$1" "$2"; }
# nonzero_bytes FILE SECTOR COUNT: how many bytes of COUNT 512-byte sectors from SECTOR
# are not zero. A count, not the first such byte through $(...), which reads a newline
# as nothing (kata-9-drives-written failed about one run in thirty so).
nonzero_bytes() { dd if="$1" bs=512 skip="$2" count="$3" 2>/dev/null | tr -d '\000' | wc -c; }
# need_files NAME FILE...: a FAIL line for kvm/NAME and exit 1 unless every FILE exists.
need_files() {
	_n=$1
	shift
	for _f in "$@"; do
		if [ ! -e "$_f" ]; then
			echo "FAIL kvm/$_n: $_f missing"
			exit 1
		fi
	done
}
# work_dir NAME: W, a fresh directory under TMPDIR that goes at exit, and EPID, the pid of
# a background ember that is killed at exit while it is set.
work_dir() {
	W=$(mktemp -d "$TMPDIR/$1.XXXXXX")
	EPID=""
	trap 'work_dir_cleanup' EXIT
}
work_dir_cleanup() {
	[ -n "$EPID" ] && kill -9 "$EPID" 2>/dev/null
	rm -rf "$W"
}
# reap_ember SECS: waits up to SECS s for the background ember (EPID) to end by itself,
# then kills it; sets RC (137 if it had to be killed) and clears EPID.
reap_ember() {
	_j=0
	while kill -0 "$EPID" 2>/dev/null && [ $_j -lt "$1" ]; do
		sleep 1
		_j=$((_j + 1))
	done
	kill -9 "$EPID" 2>/dev/null
	wait "$EPID"
	RC=$?
	EPID=""
}
# api NAME METHOD PATH [BODY]: one request with $FC on the socket $S, the reply in
# $W/reply; a failure is a FAIL line naming it.
api() {
	_n=$1
	shift
	if "$FC" "$S" "$@" >"$W/reply" 2>&1; then return 0; fi
	fail "$_n" "$1 $2 -> $(head -c 300 "$W/reply")"
	return 1
}

# The counting probe (probe.count) across snapshots. The files given are one guest's
# console, in order, across its processes: a line the pause cut is finished by the
# restored VM, and a last line still being printed is left out ("PROBE count 1" of
# "PROBE count 17").
#   probe_counts FILE...      the counts, one a line
#   probe_last_count FILE...  the last complete count of the files taken one by one
#   consecutive               stdin is 0, 1, 2, ... with no gap or repeat
probe_counts() {
	_j=$TMPDIR/.counts.$$
	cat "$@" >"$_j"
	if [ -n "$(tail -c 1 "$_j")" ]; then sed -i '$d' "$_j"; fi
	sed -n 's/^PROBE count \([0-9][0-9]*\)$/\1/p' "$_j"
	rm -f "$_j"
}
probe_last_count() {
	for _f; do
		if [ -n "$(tail -c 1 "$_f")" ]; then sed '$d' "$_f"; else cat "$_f"; fi
	done | sed -n 's/^PROBE count \([0-9][0-9]*\)$/\1/p' | tail -1
}
consecutive() { awk 'NR - 1 != $1 { bad = 1 } END { exit bad || NR == 0 }'; }

# Scripts that run several embers through the API (snapshots, Uffd, warm shells, CPU
# templates) share these.
#   api_session NAME    W (a directory under TMPDIR), PIDS (embers and helpers killed at
#                       exit, with W), CMD (the probe's base command line)
#   start NAME [ARGS]   a new ember on $W/NAME.sock, ARGS after --api-sock; sets S, OUT,
#                       ERR, EPID, and returns once the socket answers
#   kill_ember          kills the ember EPID (a snapshot's source, say) and reaps it
#   wait_for FILE ERE SECS   until a line of FILE matches
#   load_body VMSTATE MEMFILE [EXTRA]   a File-backed load with resume_vm
api_session() {
	W=$(mktemp -d "$TMPDIR/$1.XXXXXX")
	PIDS=""
	trap 'api_session_cleanup' EXIT
	CMD="console=ttyS0 reboot=k panic=1"
}
api_session_cleanup() {
	for _p in $PIDS; do kill -9 "$_p" 2>/dev/null; done
	rm -rf "$W"
}
start() {
	_sn=$1
	shift
	S=$W/$_sn.sock OUT=$W/$_sn.out ERR=$W/$_sn.err
	"$EMBER_DIR/ember" --api-sock "$S" "$@" >"$OUT" 2>"$ERR" </dev/null &
	EPID=$!
	PIDS="$PIDS $EPID"
	"$FC" -w 10 "$S" GET / >/dev/null 2>&1
}
kill_ember() {
	kill -9 "$EPID" 2>/dev/null
	wait "$EPID" 2>/dev/null
	return 0
}
wait_for() {
	_i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		[ $_i -ge $(($3 * 10)) ] && return 1
		sleep 0.1
		_i=$((_i + 1))
	done
	return 0
}
load_body() {
	echo "{\"snapshot_path\": \"$1\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$2\"}, \"resume_vm\": true$3}"
}

# make_tap NAME: a tap device, with busybox's tunctl (the nested test host) or iproute2.
make_tap() { tunctl -t "$1" >/dev/null 2>&1 || ip tuntap add dev "$1" mode tap 2>/dev/null; }
