#!/bin/sh
# virtio-blk: rootfs with data persisting across two boots, read-only drive,
# missing rootfs file, root device missing in the guest.
E2E_ROOT=$1
. "$(dirname "$0")/lib.sh"

if need_files blk-persist "$VMLINUX" "$ROOTFS"; then
	disk=$E2E_WORK/disk.ext4
	cp "$ROOTFS" "$disk"
	tok=$(token)
	vm_run blk-write "$VM_TIMEOUT" --kernel "$VMLINUX" --vcpus 1 --mem-mib "$VM_MEM" --serial stdout \
		--drive "path=$disk,root" --cmdline "$CMDLINE_BASE root=/dev/vda rw ember.test=blk-write ember.token=$tok"
	if expect_pass blk-rootfs-write blk-write; then
		vm_run blk-read "$VM_TIMEOUT" --kernel "$VMLINUX" --vcpus 1 --mem-mib "$VM_MEM" --serial stdout \
			--drive "path=$disk,root" --cmdline "$CMDLINE_BASE root=/dev/vda rw ember.test=blk-read ember.token=$tok"
		expect_pass blk-persist blk-read
	else
		fail blk-persist "first boot (write) failed"
	fi
	rm -f "$disk"
fi

if need_files blk-ro "$VMLINUX" "$INITRD" "$ROOTFS"; then
	disk=$E2E_WORK/ro.ext4
	cp "$ROOTFS" "$disk"
	sum0=$(md5sum "$disk" | cut -d' ' -f1)
	vm_run blk-ro "$VM_TIMEOUT" --kernel "$VMLINUX" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
		--serial stdout --drive "path=$disk,ro" --cmdline "$CMDLINE_BASE ember.test=blk-ro"
	if expect_pass blk-ro blk-ro; then
		[ "$(md5sum "$disk" | cut -d' ' -f1)" = "$sum0" ] && pass blk-ro-unchanged \
			|| fail blk-ro-unchanged "read-only image changed on the host"
	fi
	rm -f "$disk"
fi

# ember must refuse a drive file that does not exist, quickly and saying which.
if need_files missing-rootfs "$VMLINUX"; then
	missing=$E2E_WORK/no-such-rootfs.ext4
	vm_run missing-rootfs 30 --kernel "$VMLINUX" --vcpus 1 --mem-mib "$VM_MEM" --serial stdout \
		--drive "path=$missing,root" --cmdline "$CMDLINE_BASE root=/dev/vda rw ember.test=boot"
	if [ "$VM_RC" = timeout ]; then
		fail missing-rootfs "ember still running after 30 s with a missing drive file (killed)"
	elif [ "$VM_RC" = 0 ]; then
		fail missing-rootfs "ember exited 0 with a missing drive file"
	elif grep -q 'no-such-rootfs' "$VM_ERR"; then
		pass missing-rootfs
		info "rc=$VM_RC: $(head -1 "$VM_ERR")"
	else
		fail missing-rootfs "ember exited $VM_RC but its stderr does not name the missing file: $(head -c 200 "$VM_ERR")"
	fi
fi

# root=/dev/vda without a drive: the guest kernel cannot mount root, panics,
# panic=1 reboots it, and ember must end (not hang).
if need_files no-root-device "$VMLINUX"; then
	vm_run no-root-device "$VM_TIMEOUT" --kernel "$VMLINUX" --vcpus 1 --mem-mib "$VM_MEM" --serial stdout \
		--cmdline "$CMDLINE_BASE root=/dev/vda rw ember.test=boot"
	if [ "$VM_RC" = timeout ]; then
		fail no-root-device "VM did not end within ${VM_TIMEOUT}s (killed by pid)"; vm_dump
	elif grep -q 'Unable to mount root\|Kernel panic' "$VM_OUT"; then
		pass no-root-device
		info "ember rc=$VM_RC after ${VM_MS} ms; console: $(grep -m1 'Kernel panic' "$VM_OUT" | tr -d '\r' | cut -c1-120)"
	else
		fail no-root-device "VM ended (rc=$VM_RC) without the kernel's panic message"; vm_dump
	fi
fi
