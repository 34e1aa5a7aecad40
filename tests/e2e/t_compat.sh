#!/bin/sh
# Firecracker's getting-started guide, through the API: the root drive has
# is_root_device true and boot_args carry no root=, so ember must add root=/dev/vda
# and rw/ro itself. A data drive is PUT first: the root drive must still be vda.
E2E_ROOT=$1
. "$(dirname "$0")/lib.sh"
FC=$E2E_ROOT/fcclient
BOOT_ARGS="console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.dumbkbd"

# api NAME METHOD PATH [BODY]: lib.sh's api_check on $SOCK.
api() {
	_an=$1
	shift
	api_check "$_an" "$SOCK" "$@"
}

# guide_start NAME DISK RO ARGS: starts a VM the guide's way (1 if a request failed);
# guide_boot also waits for it to end (VM_RC etc.).
guide_start() {
	_gn=$1 _disk=$2 _ro=$3 _args=$4
	SOCK=$E2E_WORK/$_gn.sock
	dd if=/dev/zero of="$E2E_WORK/$_gn.data" bs=1024 count=1024 2>/dev/null
	vm_start "$_gn" --api-sock "$SOCK"
	if ! "$FC" -w 10 "$SOCK" GET / >"$E2E_WORK/reply" 2>&1; then
		fail "$_gn" "no API socket: $(cat "$E2E_WORK/reply")"; vm_kill; return 1
	fi
	api "$_gn" PUT /boot-source "{\"kernel_image_path\": \"$VMLINUX\", \"boot_args\": \"$BOOT_ARGS $_args\"}" &&
	api "$_gn" PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$E2E_WORK/$_gn.data\", \"is_root_device\": false, \"is_read_only\": false}" &&
	api "$_gn" PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$_disk\", \"is_root_device\": true, \"is_read_only\": $_ro}" &&
	api "$_gn" PUT /machine-config "{\"vcpu_count\": 1, \"mem_size_mib\": $VM_MEM}" &&
	api "$_gn" PUT /actions '{"action_type": "InstanceStart"}' || { vm_kill; return 1; }
	return 0
}

guide_boot() {
	guide_start "$@" || return 1
	vm_wait "$VM_TIMEOUT"
}

if need_files guide-root-rw "$VMLINUX" "$ROOTFS" "$FC"; then
	disk=$E2E_WORK/root.ext4
	cp "$ROOTFS" "$disk"
	guide_boot guide-rw "$disk" false "ember.test=root-mount ember.want_root=rw" &&
		expect_pass guide-root-rw root-mount
	tok=$(token)
	if guide_boot guide-write "$disk" false "ember.test=blk-write ember.token=$tok" &&
		expect_pass guide-root-write blk-write; then
		guide_boot guide-read "$disk" false "ember.test=blk-read ember.token=$tok" &&
			expect_pass guide-root-persists blk-read
	fi
	sum0=$(md5sum "$disk" | cut -d' ' -f1)
	guide_boot guide-ro "$disk" true "ember.test=root-mount ember.want_root=ro" &&
		expect_pass guide-root-ro root-mount
	[ "$(md5sum "$disk" | cut -d' ' -f1)" = "$sum0" ] && pass guide-root-ro-unchanged ||
		fail guide-root-ro-unchanged "the read-only root image changed on the host"
	rm -f "$disk"
fi

# A hot swap (PATCH /drives/{id} after boot, as firecracker-containerd and Kata attach
# container disks): the running guest sees the new size and contents.
if need_files guide-hot-swap "$VMLINUX" "$ROOTFS" "$FC"; then
	disk=$E2E_WORK/root.ext4
	cp "$ROOTFS" "$disk"
	tok=$(token)
	dd if=/dev/zero of="$E2E_WORK/new.img" bs=1024 count=2048 2>/dev/null
	printf '%s' "$tok" | dd of="$E2E_WORK/new.img" conv=notrunc 2>/dev/null
	if guide_start guide-swap "$disk" false "ember.test=blk-swap ember.token=$tok"; then
		if wait_line "$VM_OUT" '^EMBER-SWAP-READY' "$VM_TIMEOUT"; then
			api guide-hot-swap PATCH /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$E2E_WORK/new.img\"}"
		fi
		vm_wait "$VM_TIMEOUT"
		expect_pass guide-hot-swap blk-swap
	fi
	rm -f "$disk"
fi
