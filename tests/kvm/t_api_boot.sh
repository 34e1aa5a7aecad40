#!/bin/sh
# The REST API driving real boots of the probe guest (POSIX sh + busybox; the API
# client is $EMBER_DIR/fcclient since there is no curl here).
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
FC=$EMBER_DIR/fcclient
for f in "$PROBE" "$FC"; do
	if [ ! -e "$f" ]; then
		echo "FAIL kvm/api: $f missing"
		exit 1
	fi
done
work_dir api
CMD="console=ttyS0 reboot=k panic=1"

# --- a probe boot done entirely over the API ----------------------------------------
S=$W/a.sock OUT=$W/a.out ERR=$W/a.err
"$EMBER_DIR/ember" --api-sock "$S" --id api-boot >"$OUT" 2>"$ERR" </dev/null &
EPID=$!
if "$FC" -w 10 "$S" GET / >"$W/reply" && has '"state":"Not started"' "$W/reply"; then
	pass api/socket
else
	fail api/socket "no answer on $S: $(cat "$W/reply")"
fi
ok=1
api api/machine-config PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 128, "smt": true}' || ok=0
api api/boot-source PUT /boot-source "{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.cpus=2\"}" || ok=0
api api/instance-start PUT /actions '{"action_type": "InstanceStart"}' || ok=0
"$FC" "$S" PUT /actions '{"action_type": "InstanceStart"}' >"$W/reply" 2>&1
twice=$(cat "$W/reply")
reap_ember 300
if [ $ok -eq 1 ] && [ "$RC" -eq 0 ] && has "PROBE DONE pass" "$OUT"; then
	pass api/boot
else
	fail api/boot "ember exited $RC"
fi
check api/boot-vcpus "the probe did not see 2 CPUs" has "PROBE cpu 1 online" "$OUT"
check api/socket-removed-after-run "$S still exists after the VM ended" test ! -e "$S"
check api/boot-timer-since-start "no boot time since InstanceStart in the log" \
	has "guest boot time since InstanceStart: [0-9]* us" "$ERR"
# The second InstanceStart may also find ember already gone after a clean exit.
case "$twice" in
400*"after starting"*) pass api/start-twice-rejected ;;
*"fcclient: cannot connect"*)
	if [ "$RC" -eq 0 ]; then
		pass api/start-twice-rejected
	else
		fail api/start-twice-rejected "ember was gone (exit $RC) before the second InstanceStart"
	fi
	;;
*) fail api/start-twice-rejected "second InstanceStart answered: $twice" ;;
esac

# --- main() guesses from the option names alone whether the VM is built at start-up
# (vmm/vm_early.c); it misses "--api", getopt's abbreviation of --api-sock. The VM then
# waits for InstanceStart all the same, and is made then, not by the start-up helper.
S=$W/g.sock OUT=$W/g.out ERR=$W/g.err
"$EMBER_DIR/ember" --api "$S" --kernel "$PROBE" --cmdline "$CMD" --level debug \
	>"$OUT" 2>"$ERR" </dev/null &
EPID=$!
if "$FC" -w 10 "$S" GET / >"$W/reply" && has '"state":"Not started"' "$W/reply" &&
	api api/guess-missed-start PUT /actions '{"action_type": "InstanceStart"}'; then
	reap_ember 300
	if [ "$RC" -ne 0 ] || ! has "PROBE DONE pass" "$OUT"; then
		fail api/guess-missed-boot "ember exited $RC"
	elif has "at start-up on another CPU" "$ERR"; then
		fail api/guess-missed-boot "the VM made at start-up outlived the parse that said no"
	else
		pass api/guess-missed-boot
	fi
else
	fail api/guess-missed-start "not waiting for InstanceStart: $(cat "$W/reply")"
	reap_ember 1
fi

# --- pause, resume, Ctrl-Alt-Del and metrics on a guest that waits on vsock ---------
S=$W/b.sock OUT=$W/b.out ERR=$W/b.err
"$EMBER_DIR/ember" --api-sock "$S" --metrics-path "$W/metrics.json" >"$OUT" 2>"$ERR" </dev/null &
EPID=$!
ok=1
"$FC" -w 10 "$S" GET / >/dev/null 2>&1
api api/b-boot-source PUT /boot-source "{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD probe.virtio=vsock probe.vsock_listen=1234 probe.timeout_ms=30000\"}" || ok=0
api api/b-vsock PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$W/v.sock\"}" || ok=0
api api/b-start PUT /actions '{"action_type": "InstanceStart"}' || ok=0
if [ $ok -eq 1 ]; then
	if api api/pause PATCH /vm '{"state": "Paused"}'; then
		"$FC" "$S" GET / >"$W/reply" 2>&1
		check api/paused-state "GET / after pause: $(cat "$W/reply")" has '"state":"Paused"' "$W/reply"
	fi
	if api api/resume PATCH /vm '{"state": "Resumed"}'; then
		"$FC" "$S" GET / >"$W/reply" 2>&1
		check api/resumed-state "GET / after resume: $(cat "$W/reply")" has '"state":"Running"' "$W/reply"
	fi
	if "$FC" "$S" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 64}' >"$W/reply" 2>&1; then
		fail api/post-boot-config-rejected "PUT /machine-config after start was accepted"
	else
		check api/post-boot-config-rejected "wrong error: $(cat "$W/reply")" has "^400 .*after starting" "$W/reply"
	fi
	api api/flush-metrics PUT /actions '{"action_type": "FlushMetrics"}' &&
		check api/metrics-file "no metrics line" has '"put_api_requests"' "$W/metrics.json"
	api api/ctrl-alt-del PUT /actions '{"action_type": "SendCtrlAltDel"}' && pass api/ctrl-alt-del
fi
reap_ember 120
# The probe gives up on vsock after its timeout and reboots.
if [ "$RC" -eq 0 ] && has "PROBE DONE" "$OUT"; then
	pass api/paused-guest-finishes
else
	fail api/paused-guest-finishes "ember exited $RC"
fi

# --- a start that fails (the console file's directory vanished) is an error answer,
# and ember stays up to be told again --------------------------------------------------
S=$W/c.sock OUT=$W/c.out ERR=$W/c.err
mkdir -p "$W/sdir"
"$EMBER_DIR/ember" --api-sock "$S" >"$OUT" 2>"$ERR" </dev/null &
EPID=$!
"$FC" -w 10 "$S" GET / >/dev/null 2>&1
api api/c-boot-source PUT /boot-source "{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"$CMD\"}"
api api/c-serial PUT /serial "{\"serial_out_path\": \"$W/sdir/console.txt\"}"
rm -rf "$W/sdir"
"$FC" "$S" PUT /actions '{"action_type": "InstanceStart"}' >"$W/reply" 2>&1
check api/start-error-answered "InstanceStart answered: $(cat "$W/reply")" \
	has "^400 .*serial output.*console.txt" "$W/reply"
"$FC" "$S" GET / >"$W/reply" 2>&1
check api/start-error-survived "GET / after the failed start: $(cat "$W/reply")" \
	has '"state":"Not started"' "$W/reply"
reap_ember 0

# --- --no-api --config-file ------------------------------------------------------------
cat >"$W/vm.json" <<JSON
{
  "boot-source": {"kernel_image_path": "$PROBE", "boot_args": "$CMD"},
  "machine-config": {"vcpu_count": 1, "mem_size_mib": 64},
  "metrics": {"metrics_path": "$W/m2.json"}
}
JSON
run_ember api/config-file 300 --no-api --config-file "$W/vm.json" --boot-timer
if [ "$RC" -eq 0 ] && has "PROBE DONE pass" "$OUT"; then
	pass api/config-file
else
	fail api/config-file "ember exited $RC"
fi
# metrics are flushed at exit; the boot time is in them
if grep -q '"boot_time_us":[1-9]' "$W/m2.json" 2>/dev/null; then
	pass api/metrics-boot-time
else
	fail api/metrics-boot-time "metrics at exit: $(head -c 300 "$W/m2.json" 2>/dev/null)"
fi

# --- Firecracker's getting-started sequence: machine-config, boot-source, drives,
# network-interfaces, InstanceStart (the tap lives in a throw-away net namespace) ------
if [ ! -c /dev/net/tun ] || ! unshare -n true 2>/dev/null; then
	echo "SKIP kvm/api/getting-started: no /dev/net/tun or no network namespaces here"
	exit 0
fi
dd if=/dev/zero of="$W/rootfs.img" bs=1024 count=1024 2>/dev/null
cat >"$W/gs.sh" <<'EOF'
set -u
D=$1 W=$2 FC=$1/fcclient S=$2/gs.sock
ip link set lo up
tunctl -t fctap0 >/dev/null 2>&1 || ip tuntap add fctap0 mode tap 2>/dev/null || exit 113
ip addr add 172.16.0.1/24 dev fctap0 || exit 113
ip link set fctap0 up || exit 113
"$D/ember" --api-sock "$S" >"$W/gs.out" 2>"$W/gs.err" </dev/null &
P=$!
r=0
"$FC" -w 10 "$S" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}' >>"$W/gs.replies" || r=1
"$FC" "$S" PUT /boot-source "{\"kernel_image_path\": \"$D/probe.elf\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 pci=off probe.virtio=blk,net\"}" >>"$W/gs.replies" || r=1
"$FC" "$S" PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$W/rootfs.img\", \"is_root_device\": true, \"is_read_only\": false}" >>"$W/gs.replies" || r=1
"$FC" "$S" PUT /network-interfaces/eth0 '{"iface_id": "eth0", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "fctap0"}' >>"$W/gs.replies" || r=1
"$FC" "$S" PUT /actions '{"action_type": "InstanceStart"}' >>"$W/gs.replies" || r=1
j=0
while kill -0 $P 2>/dev/null && [ $j -lt 300 ]; do sleep 1; j=$((j + 1)); done
kill -9 $P 2>/dev/null
wait $P
rc=$?
tunctl -d fctap0 >/dev/null 2>&1
[ $r -eq 0 ] || exit 112
exit $rc
EOF
unshare -n sh "$W/gs.sh" "$EMBER_DIR" "$W"
RC=$? OUT=$W/gs.out ERR=$W/gs.err
if [ "$RC" -eq 113 ]; then
	echo "SKIP kvm/api/getting-started: cannot create a tap in the namespace"
elif [ "$RC" -eq 112 ]; then
	fail api/getting-started "a request failed: $(tail -c 300 "$W/gs.replies")"
elif [ "$RC" -eq 0 ] && has "PROBE DONE pass" "$OUT"; then
	pass api/getting-started
else
	fail api/getting-started "ember exited $RC"
fi
exit 0
