#!/bin/sh
# kvm tier: rate limiters. The probe repeats a 16 KiB virtio-blk read or a full-size
# virtio-net frame (probe.blk_repeat / probe.net_repeat, guest/probe/rate.c) and
# prints the rate it got in eighths of the run; it must be within 20% of the
# configured limit. The first eighth is left out: it spends the full bucket the
# limiter starts with. Then a PATCH /drives after boot changes the limit midway.
# POSIX sh + busybox.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
FC=$EMBER_DIR/fcclient
need_files ratelimit "$PROBE" "$FC"
work_dir ratelimit
CMD="console=ttyS0 reboot=k panic=1"

# rate_of FILE WHAT FROM TO: bytes per second over steps FROM..TO of the probe's report.
rate_of() {
	awk -v w="$2" -v a="$3" -v b="$4" '
		$1 == "PROBE" && $2 == "rate" && $3 == w && $4 ~ /^step=/ {
			split($4, s, "="); split($5, x, "="); split($6, t, "=")
			if (s[2] + 0 >= a && s[2] + 0 <= b) { bytes += x[2]; us += t[2] }
		}
		END { if (us > 0) printf "%d\n", bytes * 1000000 / us; else print 0 }' "$1"
}
# fast_enough NAME GOT WANT: whether the unlimited rate GOT is at least twice WANT;
# a SKIP line if not (a slow nested host could not show a limit of WANT).
fast_enough() {
	echo "kvm/$1: unlimited $2 B/s"
	[ "$2" -ge $(($3 * 2)) ] && return 0
	echo "SKIP kvm/$1: unlimited the probe moves only $2 B/s here, under twice the $3 B/s limit"
	return 1
}
# within NAME GOT WANT: PASS if GOT is within 20% of WANT.
within() {
	echo "kvm/$1: measured $2 B/s, configured $3 B/s"
	if [ "$2" -ge $(($3 * 8 / 10)) ] && [ "$2" -le $(($3 * 12 / 10)) ]; then
		pass "$1"
	else
		fail "$1" "measured $2 B/s, configured $3 B/s (allowed: +-20%)"
	fi
}

# clock_ok OUT SECS: whether the probe's clock agrees with the host's: its repeated
# run ("n=" line) took at least the SECS the host measured around the whole VM minus
# 2 (boot, exit, whole seconds) and at most SECS + 1. A TSC calibrated while the host
# starved the vCPU can be off several times over, and every rate with it.
clock_ok() {
	_us=$(sed -n 's/^PROBE rate [a-z]* n=[0-9]* bytes=[0-9]* us=\([0-9]*\).*/\1/p' "$1" | head -1)
	[ -n "$_us" ] || return 1
	_s=$((_us / 1000000))
	[ "$_s" -ge $(($2 - 2)) ] && [ "$_s" -le $(($2 + 1)) ] && return 0
	echo "kvm/ratelimit: the probe counted ${_s} s of a ${2} s run: its clock is off"
	return 1
}

DISK=$W/disk.img
dd if=/dev/zero of="$DISK" bs=1048576 count=8 2>/dev/null

# --- what the probe does unlimited here -----------------------------------------------
cat >"$W/base.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE",
  "boot_args":"$CMD probe.virtio=blk probe.blk_repeat=128"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64},
 "drives":[{"drive_id":"rl","path_on_host":"$DISK","is_root_device":false}]}
EOF
run_ember ratelimit/base 120 --no-api --config-file "$W/base.json"
if [ "$RC" -ne 0 ] || ! has "^PROBE check blk_repeat ok" "$OUT"; then
	fail ratelimit/blk-base "the probe's unlimited reads did not finish (rc=$RC)"
	exit 0
fi
fast_enough ratelimit/blk "$(rate_of "$OUT" blk 2 8)" 1024000 || exit 0

# --- virtio-blk: 64 KiB per 128 ms = 512000 B/s ----------------------------------------
cat >"$W/blk.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE",
  "boot_args":"$CMD probe.virtio=blk probe.blk_repeat=128"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64},
 "drives":[{"drive_id":"rl","path_on_host":"$DISK","is_root_device":false,
   "rate_limiter":{"bandwidth":{"size":65536,"refill_time":128}}}]}
EOF
for try in 1 2; do
	T0=$(date +%s)
	run_ember ratelimit/blk 120 --no-api --config-file "$W/blk.json"
	CLOCK=ok
	clock_ok "$OUT" $(($(date +%s) - T0)) && break
	CLOCK=off
done
if [ "$RC" -eq 0 ] && has "^PROBE check blk_repeat ok" "$OUT" && has "^PROBE DONE pass" "$OUT"; then
	if [ "$CLOCK" = ok ]; then
		within ratelimit/blk-bandwidth "$(rate_of "$OUT" blk 2 8)" 512000
	else
		echo "SKIP kvm/ratelimit/blk-bandwidth: the probe's clock was off twice"
	fi
else
	fail ratelimit/blk-bandwidth "the probe's repeated reads did not finish (rc=$RC)"
fi

# --- PATCH /drives after boot: 128000 B/s, then 1024000 B/s -------------------------
# Buckets of several requests: a bucket the size of one request loses the time the
# guest and the VMM thread take to come back on a loaded host. -------------------------
S=$W/api.sock
cat >"$W/patch.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE",
  "boot_args":"$CMD probe.virtio=blk probe.blk_repeat=128"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64},
 "drives":[{"drive_id":"rl","path_on_host":"$DISK","is_root_device":false,
   "rate_limiter":{"bandwidth":{"size":32768,"refill_time":256}}}]}
EOF
OUT=$W/patch.out ERR=$W/patch.err
T0=$(date +%s)
"$EMBER_DIR/ember" --api-sock "$S" --config-file "$W/patch.json" >"$OUT" 2>"$ERR" </dev/null &
EPID=$!
i=0
# The console is written a byte at a time: once step 3 begins, step 2 is whole.
while ! has "^PROBE rate blk step=3 " "$OUT" 2>/dev/null && [ $i -lt 600 ]; do
	sleep 0.1
	i=$((i + 1))
done
SLOW=$(rate_of "$OUT" blk 2 2)
R=$("$FC" "$S" PATCH /drives/rl \
	'{"drive_id":"rl","rate_limiter":{"bandwidth":{"size":131072,"refill_time":128}}}' 2>&1)
CFG=$("$FC" "$S" GET /vm/config 2>&1)
reap_ember 60
T1=$(date +%s)
case "$R" in
204*) pass ratelimit/patch-accepted ;;
*) fail ratelimit/patch-accepted "PATCH /drives/rl answered: $R" ;;
esac
check ratelimit/patch-shown "GET /vm/config does not show the patched limit" \
	sh -c 'case "$1" in *"\"bandwidth\":{\"size\":131072,\"one_time_burst\":0,\"refill_time\":128}"*) exit 0 ;; esac; exit 1' _ "$CFG"
if [ "$RC" -eq 0 ] && has "^PROBE check blk_repeat ok" "$OUT" && ! clock_ok "$OUT" $((T1 - T0)); then
	echo "SKIP kvm/ratelimit/patch-after: the probe's clock was off"
elif [ "$RC" -eq 0 ] && has "^PROBE check blk_repeat ok" "$OUT"; then
	# Before: the second eighth, wholly before the PATCH; after: the last four, past
	# the full bucket the new limit starts with.
	within ratelimit/patch-before "$SLOW" 128000
	within ratelimit/patch-after "$(rate_of "$OUT" blk 5 8)" 1024000
else
	fail ratelimit/patch-after "the probe's repeated reads did not finish (rc=$RC)"
fi

# --- virtio-net transmit: 32 KiB per 128 ms, in a throw-away namespace's tap --------
# Well under what the probe sends unlimited (1-3 MB/s on a loaded 2-core host: one
# frame at a time, each waiting for its completion).
if [ ! -c /dev/net/tun ] || ! unshare -n true 2>/dev/null; then
	echo "SKIP kvm/ratelimit/net-tx: no /dev/net/tun or no network namespaces here"
	exit 0
fi
cat >"$W/net.base.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE",
  "boot_args":"$CMD probe.virtio=net probe.net_repeat=512"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64},
 "network-interfaces":[{"iface_id":"eth0","host_dev_name":"emtap1",
   "guest_mac":"06:00:ac:10:00:02"}]}
EOF
cat >"$W/net.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE",
  "boot_args":"$CMD probe.virtio=net probe.net_repeat=512"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64},
 "network-interfaces":[{"iface_id":"eth0","host_dev_name":"emtap1",
   "guest_mac":"06:00:ac:10:00:02",
   "tx_rate_limiter":{"bandwidth":{"size":32768,"refill_time":128}}}]}
EOF
cat >"$W/net.sh" <<'EOF'
set -u
ip link set lo up
tunctl -t emtap1 >/dev/null 2>&1 || ip tuntap add emtap1 mode tap 2>/dev/null || exit 113
ip addr add 172.16.0.1/24 dev emtap1 || exit 113
ip link set emtap1 up || exit 113
timeout 120 "$1/ember" --no-api --config-file "$2.base.json" >"$2.base.out" 2>&1 </dev/null
date +%s >"$2.t0"
timeout 120 "$1/ember" --no-api --config-file "$2.json" >"$2.out" 2>"$2.err" </dev/null
rc=$?
date +%s >"$2.t1"
tunctl -d emtap1 >/dev/null 2>&1
exit $rc
EOF
unshare -n sh "$W/net.sh" "$EMBER_DIR" "$W/net"
RC=$? OUT=$W/net.out ERR=$W/net.err
if [ "$RC" -eq 113 ]; then
	echo "SKIP kvm/ratelimit/net-tx: cannot create a tap in the namespace"
elif ! fast_enough ratelimit/net-tx "$(rate_of "$W/net.base.out" net 2 8)" 256000; then
	:
elif [ "$RC" -eq 0 ] && has "^PROBE check net_repeat ok" "$OUT" &&
	! clock_ok "$OUT" $(($(cat "$W/net.t1") - $(cat "$W/net.t0"))); then
	echo "SKIP kvm/ratelimit/net-tx-bandwidth: the probe's clock was off"
elif [ "$RC" -eq 0 ] && has "^PROBE check net_repeat ok" "$OUT"; then
	within ratelimit/net-tx-bandwidth "$(rate_of "$OUT" net 2 8)" 256000
else
	fail ratelimit/net-tx-bandwidth "the probe's repeated frames did not finish (rc=$RC)"
fi
