#!/usr/bin/env bash
# MMDS's network stack against the host's real Linux TCP/IP, without a VM: in a
# throw-away network namespace, a tap whose far end is ember's stack (mmds_tap),
# a route to 169.254.169.254 over it, then busybox wget, nc and curl as a guest would
# use them, V1 and V2. Needs root, /dev/net/tun and `ip netns`; otherwise SKIP.
#   tests/api/t_api_mmds_tap.sh [BUILD_DIR]
set -u
build=${1:-${BUILD:-build}}
tool=$build/tests/bin/mmds_tap
T=api/mmds-tap
if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null; then
	echo "SKIP $T: needs root, /dev/net/tun and ip"
	exit 0
fi
if ! command -v busybox >/dev/null; then
	echo "SKIP $T: busybox is missing (package busybox-static)"
	exit 0
fi
if [ ! -x "$tool" ]; then
	echo "FAIL $T: $tool is not built (make)"
	exit 1
fi
ns=embermmds$$
if ! ip netns add "$ns" 2>/dev/null; then
	echo "SKIP $T: cannot create a network namespace"
	exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ember-mmds-tap.XXXXXX")
tpid=""
cleanup() {
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failed=0
pass() { echo "PASS $T/$1"; }
fail() { echo "FAIL $T/$1: $2"; failed=1; }
in_ns() { ip netns exec "$ns" "$@"; }

md='{"latest":{"meta-data":{"ami-id":"ami-0abc","placement":{"availability-zone":"z1"}}}}'
md_ip=169.254.169.254
for ver in V1 V2; do
	tap=tmm$ver
	in_ns ip tuntap add dev "$tap" mode tap || { fail "$ver-setup" "ip tuntap"; continue; }
	in_ns "$tool" "$tap" "$ver" "$md" 60 2>"$work/tap-$ver.log" &
	tpid=$!
	sleep 0.2
	in_ns ip link set lo up
	in_ns ip addr add 172.31.9.2/30 dev "$tap"
	in_ns ip link set "$tap" up
	in_ns ip route add "$md_ip/32" dev "$tap"
	hdr=()
	if [ "$ver" = V2 ]; then
		out=$(in_ns busybox wget -q -O - "http://$md_ip/latest/meta-data/ami-id" 2>&1)
		[ $? -ne 0 ] && pass "$ver-no-token-refused" || fail "$ver-no-token-refused" "answered: $out"
		resp=$(printf 'PUT /latest/api/token HTTP/1.0\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n' |
			in_ns busybox nc -w 10 "$md_ip" 80 2>&1)
		tok=$(printf '%s' "$resp" | tail -n 1 | tr -d '\r')
		if printf '%s' "$resp" | head -1 | grep -q ' 200 ' && [ ${#tok} = 32 ]; then
			pass "$ver-token"
		else
			fail "$ver-token" "$(printf '%s' "$resp" | head -c 300)"
		fi
		hdr=(--header "X-metadata-token: $tok")
	fi
	val=$(in_ns busybox wget -q -O - "${hdr[@]}" "http://$md_ip/latest/meta-data/ami-id" 2>&1)
	[ "$val" = ami-0abc ] && pass "$ver-wget-value" || fail "$ver-wget-value" "got '$val'"
	list=$(in_ns busybox wget -q -O - "${hdr[@]}" "http://$md_ip/latest/meta-data/" 2>&1)
	[ "$list" = $'ami-id\nplacement/' ] && pass "$ver-wget-listing" || fail "$ver-wget-listing" "got '$list'"
	miss=$(in_ns busybox wget -q -O - "${hdr[@]}" "http://$md_ip/latest/nope" 2>&1)
	[ $? -ne 0 ] && pass "$ver-wget-missing" || fail "$ver-wget-missing" "answered: $miss"
	if command -v curl >/dev/null; then
		chdr=()
		[ "$ver" = V2 ] && chdr=(-H "X-metadata-token: $tok")
		j=$(in_ns curl -s -m 10 "${chdr[@]}" -H 'Accept: application/json' "http://$md_ip/latest/meta-data/placement")
		[ "$j" = '{"availability-zone":"z1"}' ] && pass "$ver-curl-json" || fail "$ver-curl-json" "got '$j'"
		# keep-alive: two requests on one connection
		k=$(in_ns curl -s -m 10 "${chdr[@]}" "http://$md_ip/latest/meta-data/ami-id" "http://$md_ip/latest/meta-data/placement/availability-zone")
		[ "$k" = ami-0abcz1 ] && pass "$ver-curl-keepalive" || fail "$ver-curl-keepalive" "got '$k'"
	fi
	mac=$(in_ns ip neigh show "$md_ip" | grep -o 'lladdr [0-9a-f:]*')
	[ "$mac" = "lladdr 06:01:23:45:67:01" ] && pass "$ver-arp" || fail "$ver-arp" "neighbour: '$mac'"
	kill "$tpid" 2>/dev/null
	wait "$tpid" 2>/dev/null
	tpid=""
	in_ns ip link del "$tap" 2>/dev/null
done
exit $failed
