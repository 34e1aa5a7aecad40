# Shared helpers for kvm-tier scripts (sourced; POSIX sh, busybox).
# run_ember NAME SECS ARGS...: runs ember with a hang-catching timeout; sets RC,
# OUT (guest console + stdout) and ERR (ember's log).
run_ember() {
	_n=$1 _t=$2
	shift 2
	_f=$(echo "$_n" | tr / _)
	OUT=$TMPDIR/$_f.out ERR=$TMPDIR/$_f.err
	timeout "$_t" "$EMBER_DIR/ember" "$@" >"$OUT" 2>"$ERR" </dev/null
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
