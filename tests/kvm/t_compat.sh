#!/bin/sh
# Firecracker clients' request shapes booting the probe: Kata's rootfs + 8 spare drives
# with empty rate limiters, through the API. POSIX sh (busybox); fcclient is the client.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
FC=$EMBER_DIR/fcclient
need_files compat "$PROBE" "$FC"
work_dir compat
CMD="console=ttyS0 reboot=k panic=1 probe.timeout_ms=20000"

# api NAME METHOD PATH [BODY]: one request on $S; a FAIL line naming it on error.
api() {
	_n=$1
	shift
	if "$FC" "$S" "$@" >"$W/reply" 2>&1; then return 0; fi
	fail "$_n" "$1 $2 -> $(head -c 300 "$W/reply")"
	return 1
}

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
# Every disk got the probe's pattern at sector 100.
i=0 written=0
while [ $i -lt 9 ]; do
	[ -z "$(dd if="$W/d$i.img" bs=512 skip=100 count=8 2>/dev/null | tr -d '\000' | head -c 1)" ] ||
		written=$((written + 1))
	i=$((i + 1))
done
check compat/kata-9-drives-written "only $written of 9 disk images were written" [ "$written" -eq 9 ]
