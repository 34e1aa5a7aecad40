#!/bin/sh
# MMDS: the Linux guest reads metadata from 169.254.169.254 with busybox wget, V1 and
# V2 (a token first, through nc), over a tap; the frames for that address are answered
# by ember and never reach the tap (its host-side receive counter does not move).
E2E_ROOT=$1
. "$(dirname "$0")/lib.sh"

mmds_run() { # CHECK VERSION
	_c=$1 _v=$2
	need_files "$_c" "$VMLINUX" "$INITRD" || return 0
	if [ "$(id -u)" != 0 ]; then
		skip "$_c" "needs root to create a tap"; return 0
	fi
	if [ ! -c /dev/net/tun ]; then
		skip "$_c" "no /dev/net/tun"; return 0
	fi
	_tap=$(echo "embm$$$_v" | cut -c1-15)
	_mac=06:00:ac:1f:00:02
	_made=""
	if ip tuntap add dev "$_tap" mode tap 2>/dev/null; then
		_made="ip link del $_tap"
	elif command -v tunctl >/dev/null && tunctl -t "$_tap" >/dev/null 2>&1; then
		_made="tunctl -d $_tap"
	fi
	if [ -z "$_made" ]; then
		fail "$_c" "cannot create tap $_tap (ip tuntap / tunctl)"; return 0
	fi
	E2E_CLEANUP="${E2E_CLEANUP:+$E2E_CLEANUP; }$_made >/dev/null 2>&1"
	ip addr add 172.31.0.1/30 dev "$_tap"
	ip link set "$_tap" up
	_ami=ami-$(token)
	printf '{"latest":{"meta-data":{"ami-id":"%s","placement":{"availability-zone":"z1"}}}}\n' \
		"$_ami" >"$E2E_WORK/md-$_v.json"
	cat >"$E2E_WORK/cfg-$_v.json" <<CFG
{"boot-source":{"kernel_image_path":"$VMLINUX","initrd_path":"$INITRD",
  "boot_args":"$CMDLINE_BASE ember.test=mmds ember.ip=172.31.0.2/30 ember.mmds_version=$_v ember.mmds_want=$_ami"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":$VM_MEM},
 "network-interfaces":[{"iface_id":"eth0","host_dev_name":"$_tap","guest_mac":"$_mac"}],
 "mmds-config":{"version":"$_v","network_interfaces":["eth0"]}}
CFG
	_rx0=$(cat "/sys/class/net/$_tap/statistics/rx_packets")
	vm_run "$_c" "$VM_TIMEOUT" --no-api --config-file "$E2E_WORK/cfg-$_v.json" \
		--metadata "$E2E_WORK/md-$_v.json" --serial stdout
	_rx1=$(cat "/sys/class/net/$_tap/statistics/rx_packets")
	if expect_pass "$_c" mmds; then
		# The guest sent ARP and TCP to the MMDS address only (IPv6 is off in the
		# guest kernel): nothing may have come out of the tap.
		if [ "$_rx1" = "$_rx0" ]; then
			pass "$_c-not-on-tap"
		else
			fail "$_c-not-on-tap" "the tap received $((_rx1 - _rx0)) frames from the guest"
		fi
	fi
	$_made >/dev/null 2>&1
}

mmds_run mmds-v1 V1
mmds_run mmds-v2 V2
