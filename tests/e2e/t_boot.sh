#!/bin/sh
# Boot checks: initrd-only boot, clean reboot exit code, boot timer, bzImage, vCPUs.
E2E_ROOT=$1
. "$(dirname "$0")/lib.sh"

# initrd-only boot of the ELF vmlinux
if need_files initrd-boot "$VMLINUX" "$INITRD"; then
	vm_run initrd-boot "$VM_TIMEOUT" --kernel "$VMLINUX" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
		--serial stdout --cmdline "$CMDLINE_BASE ember.test=boot" --level debug
	expect_pass initrd-boot boot
	# vmlinux (CONFIG_PVH) carries the PVH entry note: entered there, as Firecracker
	# does, with the initrd as start_info's module and the command line it names. x86
	# only (the arm64 tier runs these scripts with an arm64 Image).
	if [ "$(uname -m)" != x86_64 ]; then
		:
	elif grep -q 'kernel entry 0x[0-9a-f]* (PVH)' "$VM_ERR"; then
		pass pvh-entry
	else
		fail pvh-entry "vmlinux not entered through PVH: $(grep -m1 'kernel entry' "$VM_ERR")"
	fi
	# clean reboot (reboot -f with reboot=k -> i8042 reset) must make ember exit 0
	if [ "$VM_RC" = 0 ]; then
		pass reboot-exit-code
	elif [ "$VM_RC" = timeout ]; then
		fail reboot-exit-code "ember still running ${VM_TIMEOUT}s after start; killed by pid"
	else
		fail reboot-exit-code "ember exited $VM_RC after the guest rebooted (want 0)"
	fi
	# the init writes the boot timer; ember logs "guest boot time: N us"
	bt=$(grep -i 'guest boot time' "$VM_ERR" | head -1)
	if [ -n "$bt" ]; then
		pass boot-timer
		info "$bt"
	elif result_line boot | grep -q PASS; then
		fail boot-timer "guest reached init but ember logged no 'guest boot time' line"
	else
		fail boot-timer "guest did not boot (see initrd-boot)"
	fi
	kr=$(grep -i 'first KVM_RUN' "$VM_ERR" | head -1)
	[ -z "$kr" ] || info "$kr"
fi

# The same vmlinux without its PVH note: Linux's 64-bit entry (zero page, page tables).
if [ "$(uname -m)" = x86_64 ] && need_files linux-entry-boot "$VMLINUX_NOPVH" "$INITRD"; then
	vm_run linux-entry-boot "$VM_TIMEOUT" --kernel "$VMLINUX_NOPVH" --initrd "$INITRD" --vcpus 2 \
		--mem-mib "$VM_MEM" --serial stdout --cmdline "$CMDLINE_BASE ember.test=boot" --level debug
	expect_pass linux-entry-boot boot
	if grep -q 'kernel entry 0x[0-9a-f]* (64-bit boot protocol)' "$VM_ERR"; then
		pass linux-entry
	else
		fail linux-entry "not entered through the 64-bit boot protocol: $(grep -m1 'kernel entry' "$VM_ERR")"
	fi
fi

# --no-pit: Linux boots with kvmclock and the LAPIC timer alone, 2 vCPUs
if need_files no-pit-boot "$VMLINUX" "$INITRD"; then
	vm_run no-pit-boot "$VM_TIMEOUT" --kernel "$VMLINUX" --initrd "$INITRD" --vcpus 2 --mem-mib "$VM_MEM" \
		--no-pit --serial stdout --cmdline "$CMDLINE_BASE ember.test=boot"
	expect_pass no-pit-boot boot
	# The guest's reboot (reboot=k -> i8042 reset) must end ember with 0 without the PIT too.
	if [ "$VM_RC" = 0 ] && grep -q 'guest reboot' "$VM_ERR"; then
		pass no-pit-reboot
	elif [ "$VM_RC" = timeout ]; then
		fail no-pit-reboot "ember still running ${VM_TIMEOUT}s after start; killed by pid"
	else
		fail no-pit-reboot "ember exited $VM_RC, stderr without 'guest reboot' (want 0 and a reboot)"
	fi
	# Without a PIT Linux can only keep its LAPIC timer if it runs in TSC-deadline mode:
	# a periodic one is checked against PIT-driven jiffies, fails and is switched off,
	# which leaves the guest without timer interrupts.
	if tr -d '\r' <"$VM_OUT" | grep -q 'APIC timer disabled'; then
		fail no-pit-lapic-timer "$(tr -d '\r' <"$VM_OUT" | grep -m1 'APIC timer disabled')"
	elif result_line boot | grep -q PASS; then
		pass no-pit-lapic-timer
	else
		fail no-pit-lapic-timer "guest did not boot (see no-pit-boot)"
	fi
fi
# --no-pit makes a split irqchip (the IOAPIC is ember's, vmm/arch/x86_64/ioapic.c): Linux
# programs it and its root filesystem on virtio-blk interrupts through it.
if need_files no-pit-rootfs "$VMLINUX" "$ROOTFS"; then
	vm_run no-pit-rootfs "$VM_TIMEOUT" --kernel "$VMLINUX" --vcpus 2 --mem-mib "$VM_MEM" --no-pit \
		--serial stdout --drive "path=$ROOTFS,root,ro" --cmdline "$CMDLINE_BASE root=/dev/vda ro ember.test=boot"
	expect_pass no-pit-rootfs boot
fi

# the same through the bzImage loader
if need_files bzimage-boot "$BZIMAGE" "$INITRD"; then
	vm_run bzimage-boot "$VM_TIMEOUT" --kernel "$BZIMAGE" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
		--serial stdout --cmdline "$CMDLINE_BASE ember.test=boot"
	expect_pass bzimage-boot boot
fi

# vCPUs online in the guest
for n in 1 2; do
	if need_files "cpus-$n" "$VMLINUX" "$INITRD"; then
		vm_run "cpus-$n" "$VM_TIMEOUT" --kernel "$VMLINUX" --initrd "$INITRD" --vcpus "$n" --mem-mib "$VM_MEM" \
			--serial stdout --cmdline "$CMDLINE_BASE ember.test=cpus ember.cpus=$n"
		expect_pass "cpus-$n" cpus
	fi
done
