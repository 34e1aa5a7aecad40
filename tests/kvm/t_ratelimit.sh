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
# within NAME GOT WANT: PASS if GOT is within 20% of WANT.
within() {
	echo "kvm/$1: measured $2 B/s, configured $3 B/s"
	if [ "$2" -ge $(($3 * 8 / 10)) ] && [ "$2" -le $(($3 * 12 / 10)) ]; then
		pass "$1"
	else
		fail "$1" "measured $2 B/s, configured $3 B/s (allowed: +-20%)"
	fi
}

DISK=$W/disk.img
dd if=/dev/zero of="$DISK" bs=1048576 count=8 2>/dev/null

# --- virtio-blk: 128 KiB per 128 ms = 1024000 B/s ---------------------------------------
cat >"$W/blk.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE",
  "boot_args":"$CMD probe.virtio=blk probe.blk_repeat=256"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64},
 "drives":[{"drive_id":"rl","path_on_host":"$DISK","is_root_device":false,
   "rate_limiter":{"bandwidth":{"size":131072,"refill_time":128}}}]}
EOF
run_ember ratelimit/blk 120 --no-api --config-file "$W/blk.json"
if [ "$RC" -eq 0 ] && has "^PROBE check blk_repeat ok" "$OUT" && has "^PROBE DONE pass" "$OUT"; then
	within ratelimit/blk-bandwidth "$(rate_of "$OUT" blk 2 8)" 1024000
else
	fail ratelimit/blk-bandwidth "the probe's repeated reads did not finish (rc=$RC)"
fi

# --- PATCH /drives after boot: 256000 B/s, then 2048000 B/s -------------------------
# Buckets of several requests: a bucket the size of one request loses the time the
# guest and the VMM thread take to come back on a loaded host. -------------------------
S=$W/api.sock
cat >"$W/patch.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE",
  "boot_args":"$CMD probe.virtio=blk probe.blk_repeat=256"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64},
 "drives":[{"drive_id":"rl","path_on_host":"$DISK","is_root_device":false,
   "rate_limiter":{"bandwidth":{"size":65536,"refill_time":256}}}]}
EOF
OUT=$W/patch.out ERR=$W/patch.err
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
	'{"drive_id":"rl","rate_limiter":{"bandwidth":{"size":262144,"refill_time":128}}}' 2>&1)
CFG=$("$FC" "$S" GET /vm/config 2>&1)
reap_ember 60
case "$R" in
204*) pass ratelimit/patch-accepted ;;
*) fail ratelimit/patch-accepted "PATCH /drives/rl answered: $R" ;;
esac
check ratelimit/patch-shown "GET /vm/config does not show the patched limit" \
	sh -c 'case "$1" in *"\"bandwidth\":{\"size\":262144,\"one_time_burst\":0,\"refill_time\":128}"*) exit 0 ;; esac; exit 1' _ "$CFG"
if [ "$RC" -eq 0 ] && has "^PROBE check blk_repeat ok" "$OUT"; then
	# Before: the second eighth, wholly before the PATCH; after: the last four, past
	# the full bucket the new limit starts with.
	within ratelimit/patch-before "$SLOW" 256000
	within ratelimit/patch-after "$(rate_of "$OUT" blk 5 8)" 2048000
else
	fail ratelimit/patch-after "the probe's repeated reads did not finish (rc=$RC)"
fi

# --- virtio-net transmit: 64 KiB per 128 ms, in a throw-away namespace's tap --------
# Well under what the probe sends unlimited here (2-3 MB/s on a loaded host).
if [ ! -c /dev/net/tun ] || ! unshare -n true 2>/dev/null; then
	echo "SKIP kvm/ratelimit/net-tx: no /dev/net/tun or no network namespaces here"
	exit 0
fi
cat >"$W/net.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE",
  "boot_args":"$CMD probe.virtio=net probe.net_repeat=1024"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64},
 "network-interfaces":[{"iface_id":"eth0","host_dev_name":"emtap1",
   "guest_mac":"06:00:ac:10:00:02",
   "tx_rate_limiter":{"bandwidth":{"size":65536,"refill_time":128}}}]}
EOF
cat >"$W/net.sh" <<'EOF'
set -u
ip link set lo up
tunctl -t emtap1 >/dev/null 2>&1 || ip tuntap add emtap1 mode tap 2>/dev/null || exit 113
ip addr add 172.16.0.1/24 dev emtap1 || exit 113
ip link set emtap1 up || exit 113
timeout 120 "$1/ember" --no-api --config-file "$2.json" >"$2.out" 2>"$2.err" </dev/null
rc=$?
tunctl -d emtap1 >/dev/null 2>&1
exit $rc
EOF
unshare -n sh "$W/net.sh" "$EMBER_DIR" "$W/net"
RC=$? OUT=$W/net.out ERR=$W/net.err
if [ "$RC" -eq 113 ]; then
	echo "SKIP kvm/ratelimit/net-tx: cannot create a tap in the namespace"
elif [ "$RC" -eq 0 ] && has "^PROBE check net_repeat ok" "$OUT"; then
	within ratelimit/net-tx-bandwidth "$(rate_of "$OUT" net 2 8)" 512000
else
	fail ratelimit/net-tx-bandwidth "the probe's repeated frames did not finish (rc=$RC)"
fi
