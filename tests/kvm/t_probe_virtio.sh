#!/bin/sh
# Issue 4's kvm tier: the probe's virtio drivers against ember's devices.
# Needs in EMBER_DIR: ember, probe.elf, probe-vsock-peer. POSIX sh (busybox).
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
PEER=$EMBER_DIR/probe-vsock-peer
CMD="console=ttyS0 probe.timeout_ms=20000"
PIDS="" TAP=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	[ -z "$TAP" ] || ip link del "$TAP" 2>/dev/null
	rm -f "$TMPDIR"/pv.sock*
}
trap cleanup EXIT
if [ ! -f "$PROBE" ]; then
	echo "FAIL kvm/virtio: probe.elf missing from $EMBER_DIR"
	exit 1
fi
# probe_ok NAME CHECK: ember exited 0, the check passed, the probe said DONE pass.
probe_ok() {
	if [ "$RC" -eq 0 ] && has "PROBE check $2 ok" "$OUT" && has "PROBE DONE pass" "$OUT"; then
		pass "$1"
	else
		fail "$1" "rc=$RC, $(grep "PROBE check $2" "$OUT" | head -1)"
	fi
}

# blk: a writable scratch disk and a read-only one.
dd if=/dev/zero of="$TMPDIR/pv-rw.img" bs=1024 count=1024 2>/dev/null
dd if=/dev/zero of="$TMPDIR/pv-ro.img" bs=1024 count=64 2>/dev/null
run_ember virtio/blk 300 --kernel "$PROBE" --mem-mib 64 --drive path="$TMPDIR/pv-rw.img" \
	--drive path="$TMPDIR/pv-ro.img",ro --cmdline "$CMD probe.virtio=blk probe.blk_sector=100"
probe_ok virtio/blk virtio-blk
check virtio/blk-write-zeroes "the probe did not zero and discard" \
	has "PROBE virtio-blk write-zeroes ok discard=1" "$OUT"
# The pattern really reached the file: sector 100 is no longer zero.
if [ "$(($(nonzero_bytes "$TMPDIR/pv-rw.img" 100 8)))" -gt 0 ]; then
	pass virtio/blk-persisted
else
	fail virtio/blk-persisted "sectors 100-107 of the disk image are still zero"
fi
rm -f "$TMPDIR/pv-rw.img" "$TMPDIR/pv-ro.img"

run_ember virtio/rng 300 --kernel "$PROBE" --mem-mib 64 --rng --cmdline "$CMD probe.virtio=rng"
probe_ok virtio/rng virtio-rng

# net: a tap with the peer address; the probe ARPs and pings it.
TAP=prbt$$
TAP=$(echo "$TAP" | cut -c1-15)
if make_tap "$TAP"; then
	ip addr add 172.16.0.1/24 dev "$TAP" && ip link set "$TAP" up
	run_ember virtio/net 300 --kernel "$PROBE" --mem-mib 64 --net tap="$TAP" \
		--cmdline "$CMD probe.virtio=net probe.net_ip=172.16.0.2 probe.net_peer=172.16.0.1"
	probe_ok virtio/net virtio-net
	ip link del "$TAP" 2>/dev/null
else
	echo "SKIP kvm/virtio/net: cannot create a tap (tunctl / ip tuntap)"
fi
TAP=""

# vsock: guest -> host port 5000 (Firecracker hybrid: ember connects to UDS_5000), then
# host -> guest port 6000 once the probe says it listens.
if [ -x "$PEER" ]; then
	S=$TMPDIR/pv.sock
	rm -f "$S" "$S"_5000
	OUT=$TMPDIR/virtio-vsock.out ERR=$TMPDIR/virtio-vsock.err
	: >"$OUT"
	"$PEER" listen "$S"_5000 >"$TMPDIR/pv-peer1.txt" 2>&1 &
	PIDS="$PIDS $!"
	(
		i=0
		while [ $i -lt 1200 ] && ! grep -q 'listening port=6000' "$OUT"; do
			sleep 0.1
			i=$((i + 1))
		done
		exec "$PEER" connect "$S" 6000
	) >"$TMPDIR/pv-peer2.txt" 2>&1 &
	PIDS="$PIDS $!"
	timeout 300 "$EMBER_DIR/ember" --kernel "$PROBE" --mem-mib 64 --vsock cid=9,uds="$S" \
		--cmdline "$CMD probe.virtio=vsock probe.vsock_port=5000 probe.vsock_listen=6000" \
		>"$OUT" 2>"$ERR" </dev/null
	RC=$?
	probe_ok virtio/vsock virtio-vsock
	check virtio/vsock-host-got-line "host did not read the guest's line" \
		has "got hello from probe cid 9" "$TMPDIR/pv-peer1.txt"
	check virtio/vsock-host-echo "host did not get its line echoed" \
		has "echo ping from host" "$TMPDIR/pv-peer2.txt"
	check virtio/vsock-socket-removed "$S still exists after ember exited" test ! -e "$S"
else
	fail virtio/vsock "probe-vsock-peer missing from $EMBER_DIR (make builds it)"
fi
