#!/bin/sh
# Failure paths: broken kernel image, guest panic, guest that never reboots.
E2E_ROOT=$1
. "$(dirname "$0")/lib.sh"

if need_files bad-kernel "$INITRD"; then
	bad=$E2E_WORK/broken-kernel.img
	head -c 1048576 /dev/urandom > "$bad"
	vm_run bad-kernel 30 --kernel "$bad" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" --serial stdout \
		--cmdline "$CMDLINE_BASE ember.test=boot"
	if [ "$VM_RC" = timeout ]; then
		fail bad-kernel "ember still running 30 s after being given a garbage kernel (killed)"
	elif [ "$VM_RC" = 0 ]; then
		fail bad-kernel "ember exited 0 with a garbage kernel"
	elif grep -q 'not a kernel image' "$VM_ERR"; then
		pass bad-kernel
		info "rc=$VM_RC: $(grep -m1 'not a kernel image' "$VM_ERR")"
	else
		fail bad-kernel "ember exited $VM_RC without saying what is wrong with the kernel: $(head -c 200 "$VM_ERR")"
	fi
	# a truncated ELF: the first 4 KiB of the real vmlinux
	if [ -f "$VMLINUX" ]; then
		head -c 4096 "$VMLINUX" > "$bad"
		vm_run bad-kernel-truncated 30 --kernel "$bad" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
			--serial stdout --cmdline "$CMDLINE_BASE ember.test=boot"
		if [ "$VM_RC" != timeout ] && [ "$VM_RC" != 0 ] && [ -s "$VM_ERR" ]; then
			pass bad-kernel-truncated
			info "rc=$VM_RC: $(head -1 "$VM_ERR")"
		else
			fail bad-kernel-truncated "ember rc=$VM_RC with a truncated ELF kernel (want a non-zero exit and a message)"
		fi
	fi
fi

# A bzImage whose header allows only 64 command-line bytes: ember refuses a longer one
# instead of rewriting the kernel's limit (the copy's cmdline_size at 0x238 is patched).
if need_files cmdline-too-long "$BZIMAGE"; then
	small=$E2E_WORK/bzImage-cmdline64
	cp "$BZIMAGE" "$small"
	printf '\100\000\000\000' | dd of="$small" bs=1 seek=568 conv=notrunc 2>/dev/null
	vm_run cmdline-too-long 30 --kernel "$small" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
		--serial stdout --cmdline "$CMDLINE_BASE ember.test=boot"
	if [ "$VM_RC" = 2 ] && grep -q 'accepts at most 64' "$VM_ERR"; then
		pass cmdline-too-long
		info "rc=$VM_RC: $(head -1 "$VM_ERR")"
	else
		fail cmdline-too-long "ember rc=$VM_RC with a command line over the kernel's cmdline_size: $(head -c 200 "$VM_ERR")"
	fi
fi

# guest panic: panic=1 reboots the guest, ember must end by itself
if need_files panic "$VMLINUX" "$INITRD"; then
	vm_run panic "$VM_TIMEOUT" --kernel "$VMLINUX" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
		--serial stdout --cmdline "$CMDLINE_BASE ember.test=panic"
	if [ "$VM_RC" = timeout ]; then
		fail panic "VM still running ${VM_TIMEOUT}s after start (killed by pid)"; vm_dump
	elif ! grep -q 'Kernel panic' "$VM_OUT"; then
		fail panic "no 'Kernel panic' on the console; $(vm_why)"; vm_dump
	else
		pass panic
		info "guest panicked, ember ended with rc=$VM_RC after ${VM_MS} ms"
	fi
fi

# guest that never reboots: the harness must stop ember by pid after a bounded wait
if need_files hang-killed "$VMLINUX" "$INITRD"; then
	vm_start hang --kernel "$VMLINUX" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
		--serial stdout --cmdline "$CMDLINE_BASE ember.test=hang"
	if ! wait_line "$VM_OUT" '^EMBER-RESULT hang ' "$VM_TIMEOUT"; then
		vm_kill
		VM_RC="killed($VM_KILLED)"
		fail hang-killed "guest did not reach the hang scenario; $(vm_why)"; vm_dump
	else
		sleep 3
		if ! kill -0 "$VM_PID" 2>/dev/null || grep -q "^State:.*Z" "/proc/$VM_PID/status" 2>/dev/null; then
			vm_wait 1
			fail hang-killed "ember exited (rc=$VM_RC) although the guest was hanging"
		else
			pid=$VM_PID
			vm_kill
			if kill -0 "$pid" 2>/dev/null; then
				fail hang-killed "ember pid $pid survived SIGKILL"
			else
				pass hang-killed
				info "guest hung as asked; ember pid $pid was stopped by the harness's bounded wait (SIG$(echo "$VM_KILLED" | tr a-z A-Z))"
			fi
		fi
	fi
fi
