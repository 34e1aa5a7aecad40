# Shared by the tests/api/t_*.sh scripts (sourced, not run): a work directory,
# PASS/FAIL lines, curl over the API socket, and ember started and stopped by pid.
# The sourcing script sets T (the test name prefix) first.
build=${1:-${BUILD:-build}}
ember=$(cd "$(dirname "$build/ember")" 2>/dev/null && pwd)/ember
for tool in curl python3 timeout; do
	if ! command -v $tool >/dev/null; then
		echo "SKIP $T: $tool is missing (scripts/deps.sh installs it)"
		exit 0
	fi
done
if [ ! -x "$ember" ]; then
	echo "FAIL $T: $build/ember is not built"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ember-$T.XXXXXX")
sock=$work/api.sock
pids=""
cleanup() {
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failed=0
pass() { echo "PASS $T/$1"; }
fail() { echo "FAIL $T/$1: $2"; failed=1; }
check() { # name condition-rc reason
	if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$3"; fi
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# req METHOD PATH [BODY]: prints "STATUS BODY" and sets req_ms to the time it took.
# Every request is bounded (curl -m), so a VMM thread stuck in open() shows as 000.
REQ_TIMEOUT=${REQ_TIMEOUT:-5}
req() {
	local out t0
	t0=$(now_ms)
	if [ $# -ge 3 ]; then
		out=$(curl -s -m "$REQ_TIMEOUT" --unix-socket "$sock" -X "$1" \
			-H 'Content-Type: application/json' -d "$3" -w '\n%{http_code}' "http://localhost$2")
	else
		out=$(curl -s -m "$REQ_TIMEOUT" --unix-socket "$sock" -X "$1" -w '\n%{http_code}' \
			"http://localhost$2")
	fi
	req_ms=$(($(now_ms) - t0))
	printf '%s %s' "${out##*$'\n'}" "${out%$'\n'*}"
}
# expect_fast NAME MS METHOD PATH BODY|- STATUS [SUBSTRING|=BODY]: one PASS/FAIL line;
# the answer must have the status (and hold the substring, or be exactly BODY) and come
# within MS ms.
expect_fast() {
	local name=$1 ms=$2 m=$3 p=$4 b=$5 want=$6 sub=${7-}
	if [ "$b" = "-" ]; then req "$m" "$p" >"$work/.out"; else req "$m" "$p" "$b" >"$work/.out"; fi
	local out
	out=$(cat "$work/.out")
	local status=${out%% *} body=${out#* }
	if [ "$status" != "$want" ]; then
		fail "$name" "$m $p -> $status (want $want) after $req_ms ms: $body"
	elif [ "${sub#=}" != "$sub" ] && [ "$body" != "${sub#=}" ]; then
		fail "$name" "$m $p body '$body', want '${sub#=}'"
	elif [ -n "$sub" ] && [ "${sub#=}" = "$sub" ] && [[ "$body" != *"$sub"* ]]; then
		fail "$name" "$m $p body lacks '$sub': $body"
	elif [ "$req_ms" -ge "$ms" ]; then
		fail "$name" "$m $p took $req_ms ms (bound $ms ms)"
	else
		pass "$name"
	fi
}
# expect NAME METHOD PATH BODY|- STATUS [SUBSTRING]: the same, bounded only by curl -m.
expect() {
	local name=$1
	shift
	expect_fast "$name" $((REQ_TIMEOUT * 1000 + 1000)) "$@"
}

wait_socket() { # up to 2 s for the API socket to answer
	for _ in $(seq 1 200); do
		curl -s -m 1 --unix-socket "$sock" http://localhost/ >/dev/null 2>&1 && return 0
		sleep 0.01
	done
	return 1
}
# start_ember [args...]: ember with an API socket in the background; sets epid.
start_ember() {
	rm -f "$sock"
	"$ember" --api-sock "$sock" "$@" >>"$work/ember.out" 2>&1 &
	epid=$!
	pids="$pids $epid"
	wait_socket
}
stop_ember() {
	kill -TERM "$epid" 2>/dev/null
	# SIGTERM is read by the event loop: an ember that ignores it for 3 s is stuck.
	for _ in $(seq 1 300); do
		kill -0 "$epid" 2>/dev/null || break
		sleep 0.01
	done
	if kill -0 "$epid" 2>/dev/null; then
		kill -KILL "$epid"
		wait "$epid" 2>/dev/null
		return 1
	fi
	wait "$epid" 2>/dev/null
	return 0
}
