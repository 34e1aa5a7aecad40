#!/bin/sh
# Firecracker clients' request shapes booting the probe: Kata's rootfs + 8 spare drives
# with empty rate limiters, through the API. POSIX sh (busybox); fcclient is the client.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
FC=$EMBER_DIR/fcclient
need_files compat "$PROBE" "$FC"
work_dir compat
CMD="console=ttyS0 reboot=k panic=1 probe.timeout_ms=20000"


# --- Kata: a rootfs and 8 spare drives, empty limiters everywhere --------------------
S=$W/kata.sock OUT=$W/kata.out ERR=$W/kata.err
"$EMBER_DIR/ember" --api-sock "$S" >"$OUT" 2>"$ERR" </dev/null &
EPID=$!
"$FC" -w 10 "$S" GET / >/dev/null 2>&1 || fail compat/kata-socket "no API socket"
ok=1
api compat/kata-boot-source PUT /boot-source \
	"{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.virtio=blk probe.blk_sector=100\"}" || ok=0
api compat/kata-machine PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}' || ok=0
i=0
while [ $i -lt 9 ]; do
	dd if=/dev/zero of="$W/d$i.img" bs=1024 count=256 2>/dev/null
	root=false
	[ $i -ne 0 ] || root=true
	api compat/kata-drive-$i PUT /drives/d$i "{\"drive_id\": \"d$i\", \"path_on_host\": \"$W/d$i.img\", \"is_root_device\": $root, \"is_read_only\": false, \"rate_limiter\": {}}" || ok=0
	i=$((i + 1))
done
api compat/kata-start PUT /actions '{"action_type": "InstanceStart"}' || ok=0
reap_ember 120
n=$(grep -c "PROBE virtio-blk addr=0x[0-9a-f]* id=d[0-8] irqs=[0-9]* ok" "$OUT")
if [ $ok -eq 1 ] && [ "$RC" -eq 0 ] && [ "$n" -eq 9 ] && has "PROBE check virtio-blk ok" "$OUT" &&
	has "PROBE DONE pass" "$OUT"; then
	pass compat/kata-9-drives
else
	fail compat/kata-9-drives "rc=$RC, the probe tested $n of 9 disks"
fi
# The root drive is vda: the first virtio slot.
check compat/kata-root-is-vda "d0 is not in the first virtio slot" \
	has "PROBE virtio-blk addr=0xd0001000 id=d0 " "$OUT"
# Every disk got the probe's pattern at sector 100 (its second half: the probe zeroes the
# first).
i=0 written=0
while [ $i -lt 9 ]; do
	[ "$(($(nonzero_bytes "$W/d$i.img" 100 8)))" -eq 0 ] || written=$((written + 1))
	i=$((i + 1))
done
check compat/kata-9-drives-written "only $written of 9 disk images were written" [ "$written" -eq 9 ]

# --- firecracker-containerd / Kata: PATCH /drives/{id} swaps a drive after boot, with
# the body both send (go-SDK PatchGuestDriveByID, Kata fcUpdateBlockDrive): drive_id and
# path_on_host only.
# The probe tests its disk, then waits on vsock while the drive gets a bigger file.
S=$W/swap.sock OUT=$W/swap.out ERR=$W/swap.err M=$W/swap.metrics
dd if=/dev/zero of="$W/small.img" bs=1024 count=256 2>/dev/null
dd if=/dev/zero of="$W/big.img" bs=1024 count=1024 2>/dev/null
"$EMBER_DIR/ember" --api-sock "$S" --metrics-path "$M" >"$OUT" 2>"$ERR" </dev/null &
EPID=$!
"$FC" -w 10 "$S" GET / >/dev/null 2>&1
ok=1
api compat/swap-boot-source PUT /boot-source \
	"{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.virtio=blk,vsock probe.blk_sector=100 probe.vsock_listen=1234 probe.timeout_ms=8000\"}" || ok=0
api compat/swap-drive PUT /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$W/small.img\", \"is_root_device\": false, \"is_read_only\": false}" || ok=0
api compat/swap-vsock PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$W/v.sock\"}" || ok=0
api compat/swap-start PUT /actions '{"action_type": "InstanceStart"}' || ok=0
# The disk check is done once the probe listens on vsock.
j=0
while [ $j -lt 100 ] && ! has "PROBE check virtio-blk" "$OUT"; do sleep 0.1; j=$((j + 1)); done
if [ $ok -eq 1 ] && has "PROBE check virtio-blk ok" "$OUT"; then
	"$FC" "$S" PATCH /drives/scratch '{"drive_id": "scratch"}' >"$W/reply" 2>&1
	check compat/swap-only-id-refused "PATCH with only drive_id: $(cat "$W/reply")" \
		has "^400 .*Running method expected different backend" "$W/reply"
	"$FC" "$S" PATCH /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$W/missing.img\"}" >"$W/reply" 2>&1
	check compat/swap-missing-refused "PATCH to a missing file: $(cat "$W/reply")" \
		has "^400 .*missing.img" "$W/reply"
	api compat/swap-flush1 PUT /actions '{"action_type": "FlushMetrics"}'
	api compat/swap-patch PATCH /drives/scratch "{\"drive_id\": \"scratch\", \"path_on_host\": \"$W/big.img\"}" &&
		pass compat/swap-accepted
	api compat/swap-flush2 PUT /actions '{"action_type": "FlushMetrics"}'
	"$FC" "$S" GET /vm/config >"$W/reply" 2>&1
	check compat/swap-vm-config "GET /vm/config: $(head -c 300 "$W/reply")" has "big.img" "$W/reply"
	# One configuration interrupt more on the block device between the two lines.
	i1=$(sed -n 1p "$M" | sed 's/.*"block_scratch":{[^}]*"interrupts":\([0-9]*\).*/\1/')
	i2=$(sed -n 2p "$M" | sed 's/.*"block_scratch":{[^}]*"interrupts":\([0-9]*\).*/\1/')
	check compat/swap-config-interrupt "block interrupts $i1 -> $i2" [ "$i2" = $((i1 + 1)) ]
	check compat/swap-logged "no swap in the log" has "drive scratch: now backed by $W/big.img" "$ERR"
else
	fail compat/swap "the probe did not test its disk before the swap"
fi
reap_ember 60
check compat/swap-guest-finishes "ember exited $RC" [ "$RC" -eq 0 ]

# --- Firecracker's own example config (tests/framework/vm_config.json's shape) -------
# with the probe as kernel, booted with --no-api --config-file.
dd if=/dev/zero of="$W/rootfs.img" bs=1024 count=256 2>/dev/null
cat >"$W/vm_config.json" <<JSON
{
  "boot-source": {
    "kernel_image_path": "$PROBE",
    "boot_args": "$CMD probe.virtio=blk probe.blk_sector=100",
    "initrd_path": null
  },
  "drives": [
    {
      "drive_id": "rootfs",
      "partuuid": null,
      "is_root_device": true,
      "cache_type": "Unsafe",
      "is_read_only": false,
      "path_on_host": "$W/rootfs.img",
      "io_engine": "Sync",
      "rate_limiter": null,
      "socket": null
    }
  ],
  "machine-config": {
    "vcpu_count": 2,
    "mem_size_mib": 64,
    "smt": false,
    "track_dirty_pages": false,
    "huge_pages": "None"
  },
  "cpu-config": null,
  "balloon": null,
  "network-interfaces": [],
  "vsock": null,
  "logger": null,
  "metrics": null,
  "mmds-config": null,
  "entropy": null,
  "pmem": [],
  "memory-hotplug": null
}
JSON
run_ember compat/fc-config-file 120 --no-api --config-file "$W/vm_config.json"
if [ "$RC" -eq 0 ] && has "PROBE check virtio-blk ok" "$OUT" && has "PROBE DONE pass" "$OUT"; then
	pass compat/fc-config-file
else
	fail compat/fc-config-file "ember exited $RC"
fi
check compat/fc-config-file-root "no root=/dev/vda rw on the guest command line" \
	has "root=/dev/vda rw" "$OUT"

# --- network mtu: VIRTIO_NET_F_MTU for the guest, the tap set to match ---------------
TAP=cmtu$$
TAP=$(echo "$TAP" | cut -c1-15)
if make_tap "$TAP"; then
	ip addr add 172.16.9.1/24 dev "$TAP" && ip link set "$TAP" up
	run_ember compat/net-mtu 120 --kernel "$PROBE" --mem-mib 64 --net tap="$TAP",mtu=1400 \
		--cmdline "$CMD probe.virtio=net probe.net_ip=172.16.9.2 probe.net_peer=172.16.9.1"
	if [ "$RC" -eq 0 ] && has "PROBE check virtio-net ok" "$OUT"; then
		pass compat/net-mtu-boot
	else
		fail compat/net-mtu-boot "ember exited $RC"
	fi
	check compat/net-mtu-tap "tap MTU: $(ip link show "$TAP" | head -1)" \
		sh -c "ip link show '$TAP' | grep -q 'mtu 1400 '"
	ip link del "$TAP" 2>/dev/null
else
	echo "SKIP kvm/compat/net-mtu: cannot create a tap (tunctl / ip tuntap)"
fi
