#!/bin/sh
# kvm tier: ember's virtio-mmio devices (blk, net, vsock, rng) driven by the probe
# guest's own drivers (probe.virtio=..., guest/probe/virtio.c). POSIX sh + busybox.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
PEER=$EMBER_DIR/probe-vsock-peer
CMD="console=ttyS0 reboot=k panic=1"
if [ ! -f "$PROBE" ]; then
	echo "FAIL kvm/virtio-dev: probe.elf missing from $EMBER_DIR"
	exit 1
fi
W=$(mktemp -d "$TMPDIR/virtio.XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# probe_run NAME DEVS EXTRA-CMDLINE EMBER-ARGS...
probe_run() {
	_name=$1 _devs=$2 _extra=$3
	shift 3
	run_ember "virtio-dev/$_name" 300 --kernel "$PROBE" --mem-mib 64 \
		--cmdline "$CMD probe.virtio=$_devs $_extra" "$@"
}
# probe_ok NAME DEV: ember exited 0 and the probe's check for DEV passed.
probe_ok() {
	if [ "$RC" -eq 0 ] && has "^PROBE check virtio-$2 ok" "$OUT" &&
		has "^PROBE DONE pass" "$OUT" && ! has "needs reset" "$ERR"; then
		pass "virtio-dev/$1"
		return 0
	fi
	fail "virtio-dev/$1" "rc=$RC; $(grep "^PROBE check virtio-$2" "$OUT" | head -1)"
	return 1
}
# wait_for FILE [SECS]: until FILE exists.
wait_for() {
	_i=0
	while [ ! -e "$1" ] && [ $_i -lt $((${2:-60} * 10)) ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -e "$1" ]
}

# --- virtio-blk: write, flush, read back, past-the-end, GET_ID ---------------------
DISK=$W/disk.img
dd if=/dev/zero of="$DISK" bs=1048576 count=8 2>/dev/null
probe_run blk-rw blk "probe.blk_sector=4096" --drive "path=$DISK,id=probedisk"
if probe_ok blk-rw blk; then
	check virtio-dev/blk-get-id "GET_ID did not return the drive id" \
		has "^PROBE virtio-blk addr=.* id=probedisk " "$OUT"
	check virtio-dev/blk-announced "no virtio_mmio.device= on the guest command line" \
		has "^PROBE cmdline .*virtio_mmio.device=4K@0xd0001000:5" "$OUT"
	# What the guest wrote reached the file at the sector it named, and only there.
	nz=$(($(nonzero_bytes "$DISK" 4096 8)))
	before=$(($(nonzero_bytes "$DISK" 0 4096)))
	if [ "$nz" -gt 0 ] && [ "$before" -eq 0 ]; then
		pass virtio-dev/blk-data-on-disk
	else
		fail virtio-dev/blk-data-on-disk "sector 4096 has $nz non-zero bytes, $before before it"
	fi
fi

# Read-only: the probe only reads; the file must not change.
sum=$(md5sum "$DISK" | cut -d' ' -f1)
probe_run blk-ro blk "" --drive "path=$DISK,ro,id=rodisk"
if probe_ok blk-ro blk; then
	check virtio-dev/blk-ro-flag "the guest did not see VIRTIO_BLK_F_RO" \
		has "^PROBE virtio-blk addr=.* ro=1" "$OUT"
	if [ "$(md5sum "$DISK" | cut -d' ' -f1)" = "$sum" ]; then
		pass virtio-dev/blk-ro-unchanged
	else
		fail virtio-dev/blk-ro-unchanged "a read-only disk changed"
	fi
fi

# --- virtio-rng ---------------------------------------------------------------------
probe_run rng rng "" --rng
probe_ok rng rng

# --- several devices at once: one MMIO slot and IRQ each ---------------------------
probe_run blk-rng-together blk,rng "" --drive "path=$DISK,id=d0" --rng
if probe_ok blk-rng-together rng && has "^PROBE check virtio-blk ok" "$OUT"; then
	check virtio-dev/two-slots "second device not announced at slot 1 / IRQ 6" \
		has "^PROBE cmdline .*virtio_mmio.device=4K@0xd0002000:6" "$OUT"
else
	fail virtio-dev/two-slots "blk+rng run failed"
fi

# --- virtio-net: a tap in a throw-away network namespace ----------------------------
# ember opens the tap (IFF_VNET_HDR); the namespace's kernel answers ARP and ping at
# 172.16.0.1. The namespace, and with it the tap, is gone when the inner shell exits.
if [ ! -c /dev/net/tun ] || ! unshare -n true 2>/dev/null; then
	echo "SKIP kvm/virtio-dev/net: no /dev/net/tun or no network namespaces here"
else
	cat >"$W/net.sh" <<'EOF'
set -u
ip link set lo up
tunctl -t emtap0 >/dev/null 2>&1 || ip tuntap add emtap0 mode tap 2>/dev/null || exit 113
ip addr add 172.16.0.1/24 dev emtap0 || exit 113
ip link set emtap0 up || exit 113
timeout 300 "$1/ember" --kernel "$1/probe.elf" --mem-mib 64 \
	--cmdline "console=ttyS0 reboot=k panic=1 probe.virtio=net" \
	--net tap=emtap0,mac=06:00:ac:10:00:02,id=eth0 >"$2.out" 2>"$2.err" </dev/null
rc=$?
tunctl -d emtap0 >/dev/null 2>&1
exit $rc
EOF
	unshare -n sh "$W/net.sh" "$EMBER_DIR" "$W/net"
	RC=$? OUT=$W/net.out ERR=$W/net.err
	if [ "$RC" -eq 113 ]; then
		echo "SKIP kvm/virtio-dev/net: cannot create a tap in the namespace"
	elif probe_ok net net; then
		check virtio-dev/net-mac "the guest did not get the configured MAC" \
			has "^PROBE virtio-net addr=.* mac=06:00:ac:10:00:02" "$OUT"
	fi
fi

# --- virtio-vsock, Firecracker's hybrid model --------------------------------------
if [ ! -x "$PEER" ]; then
	fail virtio-dev/vsock "probe-vsock-peer missing from $EMBER_DIR (make builds it)"
else
	UDS=$W/v.sock
	# Guest -> host: ember connects to <uds>_5000, where the peer listens.
	"$PEER" listen "${UDS}_5000" >"$W/peer1.out" 2>&1 &
	P=$!
	PIDS="$PIDS $P"
	wait_for "${UDS}_5000" 30
	probe_run vsock-guest-connect vsock "probe.vsock_port=5000" --vsock "cid=3,uds=$UDS"
	wait "$P"
	prc=$?
	if probe_ok vsock-guest-connect vsock; then
		check virtio-dev/vsock-guest-connect-peer "host peer failed (rc=$prc): $(cat "$W/peer1.out")" \
			test "$prc" -eq 0
		# The guest's reset ended the process: its listening socket file went with it.
		check virtio-dev/vsock-socket-file-removed "$UDS is still there after ember exited" \
			test ! -e "$UDS"
	fi

	# Host -> guest: "CONNECT 6000\n" on <uds>, answered "OK <port>\n".
	rm -f "$UDS"
	_f=virtio-dev_vsock-host-connect
	OUT=$TMPDIR/$_f.out ERR=$TMPDIR/$_f.err
	timeout 300 "$EMBER_DIR/ember" --kernel "$PROBE" --mem-mib 64 \
		--cmdline "$CMD probe.virtio=vsock probe.vsock_listen=6000" \
		--vsock "cid=3,uds=$UDS" >"$OUT" 2>"$ERR" </dev/null &
	E=$!
	PIDS="$PIDS $E"
	prc=99
	if wait_for "$UDS" 60; then
		i=0
		while ! has "PROBE virtio-vsock listening port=6000" "$OUT" && [ $i -lt 600 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		timeout 120 "$PEER" connect "$UDS" 6000 >"$W/peer2.out" 2>&1
		prc=$?
	fi
	wait "$E"
	RC=$?
	if probe_ok vsock-host-connect vsock; then
		check virtio-dev/vsock-host-connect-peer "host peer failed (rc=$prc): $(cat "$W/peer2.out")" \
			test "$prc" -eq 0
	fi
fi
exit 0
