# Shared helpers of the e2e tests (POSIX sh; runs under busybox sh inside the
# nested host). Sourced by tests/e2e/t_*.sh after setting E2E_ROOT.
#
# Layout of $E2E_ROOT (the directory given to run.sh; build/ on a dev host):
#   ember [ember-jailer] guest/{vmlinux,vmlinux-nopvh,bzImage,rootfs.ext4,initramfs.cpio.gz,
#   ember-vsock}
#   [fcclient ember-uffd-ondemand ember-uffd-prefetch] (tests/e2e/host.sh's payload)
#
# Output contract: one line per check, `PASS e2e/<name>`, `FAIL e2e/<name>: <reason>`
# or `SKIP e2e/<name>: <reason>`. Other lines start with "  " (details) or "e2e:".

E2E_ROOT=${E2E_ROOT:?E2E_ROOT not set}
EMBER=${EMBER:-$E2E_ROOT/ember}
GUEST=$E2E_ROOT/guest
VMLINUX=$GUEST/vmlinux
VMLINUX_NOPVH=$GUEST/vmlinux-nopvh
BZIMAGE=$GUEST/bzImage
ROOTFS=$GUEST/rootfs.ext4
INITRD=$GUEST/initramfs.cpio.gz
VSOCK_HELPER=$GUEST/ember-vsock
# Kernel command line of every test boot (ember's defaults are repeated on purpose,
# so that the tests do not depend on whether --cmdline replaces or extends them).
CMDLINE_BASE=${E2E_CMDLINE_BASE:-"console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd"}
# Upper bound of one guest boot, only there to catch hangs: nested TCG on a busy
# 2-core host has needed 110 s of guest time for one boot.
VM_TIMEOUT=${E2E_VM_TIMEOUT:-240}
VM_MEM=${E2E_MEM_MIB:-128}

E2E_WORK=$(mktemp -d "${TMPDIR:-/tmp}/ember-e2e.XXXXXX")
E2E_PIDS=""
E2E_CLEANUP=""   # shell commands run at exit (tap removal etc.)

e2e_cleanup() {
	for _p in $E2E_PIDS; do
		if kill -0 "$_p" 2>/dev/null; then
			kill -TERM "$_p" 2>/dev/null
			_i=0
			while kill -0 "$_p" 2>/dev/null && [ $_i -lt 20 ]; do sleep 0.1; _i=$((_i + 1)); done
			kill -KILL "$_p" 2>/dev/null
		fi
		wait "$_p" 2>/dev/null
	done
	E2E_PIDS=""
	[ -z "$E2E_CLEANUP" ] || eval "$E2E_CLEANUP"
	E2E_CLEANUP=""
	rm -rf "$E2E_WORK"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM HUP

pass() { echo "PASS e2e/$1"; }
fail() { _fn=$1; shift; echo "FAIL e2e/$_fn: $*"; }
skip() { _sn=$1; shift; echo "SKIP e2e/$_sn: $*"; }
info() { echo "  $*"; }

# Milliseconds since boot (busybox date has no %N).
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

forget_pid() { # pid
	_np=""
	for _p in $E2E_PIDS; do [ "$_p" = "$1" ] || _np="$_np $_p"; done
	E2E_PIDS=$_np
}

# Starts ember in the background: vm_start NAME ARGS...
# Console (stdout) -> $E2E_WORK/NAME.out, stderr -> $E2E_WORK/NAME.err.
# Sets VM_PID, VM_OUT, VM_ERR, VM_T0.
vm_start() {
	VM_NAME=$1; shift
	VM_OUT=$E2E_WORK/$VM_NAME.out
	VM_ERR=$E2E_WORK/$VM_NAME.err
	: > "$VM_OUT"; : > "$VM_ERR"
	VM_T0=$(now_ms)
	"$EMBER" "$@" </dev/null >"$VM_OUT" 2>"$VM_ERR" &
	VM_PID=$!
	E2E_PIDS="$E2E_PIDS $VM_PID"
}

# Waits for ember to exit, at most SECS: vm_wait SECS
# Sets VM_RC (exit status, or "timeout" after killing it by pid) and VM_MS.
vm_wait() {
	_limit=$(( $(now_ms) + $1 * 1000 ))
	while kill -0 "$VM_PID" 2>/dev/null; do
		# A zombie still answers kill -0; `wait` below reaps it.
		if [ "$(now_ms)" -ge "$_limit" ]; then
			vm_kill
			VM_RC=timeout
			VM_MS=$(( $(now_ms) - VM_T0 ))
			return 0
		fi
		if grep -q "^State:.*Z" "/proc/$VM_PID/status" 2>/dev/null; then break; fi
		sleep 0.1
	done
	wait "$VM_PID"
	VM_RC=$?
	VM_MS=$(( $(now_ms) - VM_T0 ))
	forget_pid "$VM_PID"
}

# Kills the running ember by pid (TERM, then KILL after 3 s). Sets VM_KILLED=term|kill|gone.
vm_kill() {
	if ! kill -0 "$VM_PID" 2>/dev/null; then VM_KILLED=gone; wait "$VM_PID" 2>/dev/null; forget_pid "$VM_PID"; return 0; fi
	kill -TERM "$VM_PID" 2>/dev/null
	_i=0
	while kill -0 "$VM_PID" 2>/dev/null && ! grep -q "^State:.*Z" "/proc/$VM_PID/status" 2>/dev/null && [ $_i -lt 30 ]; do
		sleep 0.1; _i=$((_i + 1))
	done
	if kill -0 "$VM_PID" 2>/dev/null && ! grep -q "^State:.*Z" "/proc/$VM_PID/status" 2>/dev/null; then
		kill -KILL "$VM_PID" 2>/dev/null
		VM_KILLED=kill
	else
		VM_KILLED=term
	fi
	wait "$VM_PID" 2>/dev/null
	forget_pid "$VM_PID"
}

# Runs ember to completion: vm_run NAME SECS ARGS...
# Inside the nested test host only (EMBER_NESTED_HOST, set by its init), a guest that
# hung (killed at SECS with no EMBER-RESULT line) is run once more, at most twice per
# e2e run: a CI run saw two Linux guests stall there for good, in QEMU's emulation of
# a nested guest, while hundreds of other runs of the same tests never did. The hung
# run's state (ember's "state at stop" lines, the consoles' tails) is printed with a
# RETRY line, so a hang is never silent; a guest that hangs twice fails.
vm_run() {
	_vn=$1; _secs=$2; shift 2
	vm_start "$_vn" "$@"
	vm_wait "$_secs"
	if [ "$VM_RC" = timeout ] && [ -n "${EMBER_NESTED_HOST:-}" ] &&
		! tr -d '\r' <"$VM_OUT" | grep -q '^EMBER-RESULT ' && e2e_take_retry; then
		info "RETRY e2e/$_vn: the guest hung for ${_secs}s inside the nested host; its state, then one more run:"
		vm_dump
		vm_start "$_vn" "$@"
		vm_wait "$_secs"
	fi
}

# One of the run's two retries (a file in the run's TMPDIR counts them across the
# sections' processes); returns 1 when none is left.
e2e_take_retry() {
	_rf=${TMPDIR:-/tmp}/ember-e2e-retries
	_used=0
	[ ! -f "$_rf" ] || _used=$(grep -c . "$_rf")
	[ "$_used" -lt 2 ] || return 1
	echo x >>"$_rf"
}

# Waits until FILE has a line matching the ERE, while ember runs: wait_line FILE ERE SECS
wait_line() {
	_wl=$(( $(now_ms) + $3 * 1000 ))
	while [ "$(now_ms)" -lt "$_wl" ]; do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		kill -0 "$VM_PID" 2>/dev/null || { grep -Eq "$2" "$1" 2>/dev/null; return $?; }
		sleep 0.1
	done
	return 1
}

# The EMBER-RESULT line of scenario NAME in the console, or nothing.
result_line() { tr -d '\r' < "$VM_OUT" | grep "^EMBER-RESULT $1 " | tail -1; }

# One-line summary of why a boot went wrong, for FAIL messages.
vm_why() {
	_why="ember rc=$VM_RC after ${VM_MS}ms"
	_e=$(grep -v '^$' "$VM_ERR" 2>/dev/null | tail -2 | tr '\n' ' ' | cut -c1-200)
	[ -z "$_e" ] || _why="$_why; stderr: $_e"
	_c=$(tr -d '\r' < "$VM_OUT" 2>/dev/null | grep -v '^$' | tail -1 | cut -c1-160)
	[ -z "$_c" ] || _why="$_why; console: $_c"
	echo "$_why"
}

# Sets VM_RC and VM_MS, for vm_why, of a VM from vm_start that may still run: "running",
# or its exit status once it has ended.
vm_status() {
	if kill -0 "$VM_PID" 2>/dev/null && ! grep -q "^State:.*Z" "/proc/$VM_PID/status" 2>/dev/null; then
		VM_RC=running VM_MS=$(($(now_ms) - VM_T0))
	else
		vm_wait 1
	fi
}

# Dumps the tail of console and stderr (indented) after a failure.
vm_dump() {
	echo "  --- $VM_NAME: ember stderr (tail) ---"
	tail -n 15 "$VM_ERR" 2>/dev/null | sed 's/^/  | /'
	echo "  --- $VM_NAME: guest console (tail) ---"
	tr -d '\r' < "$VM_OUT" 2>/dev/null | tail -n 25 | sed 's/^/  | /'
	# The host's side of a hang: what its kernel said lately (KVM, clocksource, RCU).
	echo "  --- $VM_NAME: this host's kernel log (tail) ---"
	dmesg 2>/dev/null | tail -n 8 | sed 's/^/  | /'
}

# Checks that scenario NAME reported PASS and ember exited 0: expect_pass CHECK SCENARIO
expect_pass() {
	_r=$(result_line "$2")
	if [ "$VM_RC" = 0 ] && echo "$_r" | grep -q "^EMBER-RESULT $2 PASS"; then
		pass "$1"
		info "$_r (${VM_MS} ms)"
		return 0
	fi
	if [ -n "$_r" ]; then
		fail "$1" "guest: ${_r#EMBER-RESULT }; $(vm_why)"
	else
		fail "$1" "no result from the guest; $(vm_why)"
	fi
	vm_dump
	return 1
}

need_files() { # CHECK FILE...
	_nc=$1; shift
	for _nf in "$@"; do
		[ -e "$_nf" ] || { skip "$_nc" "$_nf missing (make guest)"; return 1; }
	done
	[ -x "$EMBER" ] || { skip "$_nc" "$EMBER missing (make)"; return 1; }
	return 0
}

# A fresh random-ish token.
token() { echo "t$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"; }

# api_check CHECK SOCK METHOD PATH [BODY]: one request through $FC (fcclient, set by the
# script) that must succeed; its reply in $E2E_WORK/reply, else a FAIL line naming CHECK.
api_check() {
	_c=$1 _s=$2
	shift 2
	if "$FC" "$_s" "$@" >"$E2E_WORK/reply" 2>&1; then return 0; fi
	fail "$_c" "$1 $2 -> $(head -c 300 "$E2E_WORK/reply")"
	return 1
}
# count_lines FILE...: the numbers the `count` scenario printed (EMBER-COUNT N), in order.
count_lines() { cat "$@" | tr -d '\r' | sed -n 's/^EMBER-COUNT \([0-9][0-9]*\)$/\1/p'; }
# The kernel's lines about a TSC it marked unstable, if any (exit 1 if none): tsc_unstable FILE
tsc_unstable() { tr -d '\r' <"$1" | grep -A2 "clocksource 'tsc' as unstable" | tr '\n' ' ' | cut -c1-400 | grep .; }
# Bytes of a console made visible for a failure message (od -c, one line):
# bytes_seen head|tail N FILE
bytes_seen() { "$1" -c "$2" "$3" | od -An -c | tr -s ' ' | tr '\n' '/'; }
