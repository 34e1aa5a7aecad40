#!/usr/bin/env bash
# Slow clients must not lock the API (issue 17 #5): 64 connections that send
# nothing or trickle a header, and reconnect when dropped, fill every slot; a real
# client's request must still be answered within a second. A request's head and
# body each get a few seconds, not 30.
#   tests/api/t_api_slowloris.sh [BUILD_DIR]
set -u
T=api-slowloris
. "$(dirname "$0")/lib.sh"
helper=$(dirname "$0")/slowclients.py

start_ember --id slowloris
check started $? "the API socket did not answer"

out=$(timeout -k 1 20 python3 "$helper" "$sock" slowloris 64 6 2>&1)
probes=$(sed -n 's/.*probes=\([0-9]*\).*/\1/p' <<<"$out")
ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$out")
worst=$(sed -n 's/.*worst_ms=\([0-9]*\).*/\1/p' <<<"$out")
[ "${probes:-0}" -ge 5 ] && [ "${ok:-0}" = "$probes" ] && [ "${worst:-9999}" -lt 1000 ]
check real-client-served $? "$out"
expect_fast alive-after-slowloris 1000 GET / - 200 '"id":"slowloris"'

out=$(timeout -k 1 20 python3 "$helper" "$sock" deadlines 2>&1)
head=$(sed -n 's/.*head=\([^ ]*\).*/\1/p' <<<"$out")
body=$(sed -n 's/.*body=\([^ ]*\).*/\1/p' <<<"$out")
in_window() { # STATUS@SECONDS: a 408 between 4 and 8 s (the deadline is 5 s)
	local st=${1%@*} t=${1#*@}
	[ "$st" = 408 ] && awk -v t="$t" 'BEGIN { exit !(t >= 4 && t <= 8) }'
}
in_window "$head"; check head-deadline $? "trickled head: $out (want 408 after about 5 s)"
in_window "$body"; check body-deadline $? "stalled body: $out (want 408 after about 5 s)"

stop_ember
check stopped $? "ember ignored SIGTERM"
exit $failed
