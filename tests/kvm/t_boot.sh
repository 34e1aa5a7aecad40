#!/bin/sh
# Issue 2's kvm tier: the probe guest through ember's Linux boot path.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
if [ ! -f "$PROBE" ]; then
	echo "FAIL kvm/boot: probe.elf missing from $EMBER_DIR"
	exit 1
fi
CMD="console=ttyS0 reboot=k panic=1"

# boot_probe NAME VCPUS MEM [extra ember args...]
boot_probe() {
	_name=$1 _cpus=$2 _mem=$3
	shift 3
	run_ember "$_name" 300 --kernel "$PROBE" --vcpus "$_cpus" --mem-mib "$_mem" \
		--cmdline "$CMD probe.cpus=$_cpus probe.mem_mib=$_mem" "$@"
	if [ "$RC" -ne 0 ]; then
		fail "$_name" "ember exited $RC"
		return 1
	fi
	if ! has "PROBE DONE pass" "$OUT"; then
		fail "$_name" "probe did not report DONE pass"
		return 1
	fi
	return 0
}

for n in 1 2 4; do
	if boot_probe "boot/vcpus-$n" "$n" 128; then
		online=$(grep -c "^PROBE cpu [0-9]* online" "$OUT")
		if [ "$online" -eq "$n" ] && has "PROBE check smp ok" "$OUT"; then
			pass "boot/vcpus-$n"
		else
			fail "boot/vcpus-$n" "$online of $n CPUs reported online"
		fi
	fi
done

# --no-pit: the machine has no i8254 (the probe's PIT calibration finds a counter that
# never moves and falls back), and the SMP bring-up and serial interrupts still work:
# the latter are MSIs ember's own IOAPIC sends (a split irqchip).
if boot_probe boot/no-pit 2 128 --no-pit --level debug; then
	if has "PROBE tsc khz=[0-9]* assumed" "$OUT" && has "PROBE check smp ok" "$OUT"; then
		pass boot/no-pit
	else
		fail boot/no-pit "the probe found a PIT, or the vCPUs did not come up"
	fi
	check boot/no-pit-irq-serial "serial interrupts not seen through the split irqchip" \
		has "PROBE check irq-serial ok" "$OUT"
	check boot/no-pit-split-irqchip "no split irqchip in ember's debug log" has "split irqchip" "$ERR"
fi
if boot_probe boot/with-pit 1 128; then
	if has "PROBE tsc khz=[0-9]* calibrated" "$OUT"; then
		pass boot/with-pit
	else
		fail boot/with-pit "the probe could not calibrate against the PIT"
	fi
fi

# The PVH entry: an ELF kernel with Xen's PHYS32_ENTRY note is entered there in 32-bit
# protected mode with the start_info in EBX, as under Firecracker; the same image
# without the note takes the Linux 64-bit entry. Both reach the tiny guest's reset
# (bench/tinyguest.py), through the entry ember's debug log names. Real Linux boots
# through PVH in the e2e tier (its vmlinux has the note).
# boot_tiny NAME IMAGE ENTRY-WORDS [extra ember args...]
boot_tiny() {
	_name=$1 _img=$2 _words=$3
	shift 3
	if [ ! -f "$EMBER_DIR/$_img" ]; then
		fail "$_name" "$_img missing from $EMBER_DIR"
		return
	fi
	run_ember "$_name" 60 --kernel "$EMBER_DIR/$_img" --mem-mib 64 --serial none \
		--level debug "$@"
	if [ "$RC" -ne 0 ]; then
		fail "$_name" "ember exited $RC: $(tail -1 "$ERR")"
	elif ! has "kernel entry 0x[0-9a-f]* ($_words)" "$ERR"; then
		fail "$_name" "not entered through the $_words entry: $(grep 'kernel entry' "$ERR")"
	elif ! has "guest reboot" "$ERR"; then
		fail "$_name" "the guest did not reach its reset"
	else
		pass "$_name"
	fi
}
boot_tiny boot/pvh-entry tiny-reset.elf PVH
boot_tiny boot/pvh-entry-no-pit tiny-reset.elf PVH --no-pit
boot_tiny boot/pvh-absent tiny-reset-linux.elf "64-bit boot protocol"

# The VM, its memory slots, irqchip and vCPUs are made at start-up by a helper on
# another CPU while ember sets up (vmm/vm_early.c); with one allowed CPU (the nested test host has one) there is no
# helper and ember makes it itself. Both boot. --start-helper on is the default, named
# here because these checks are about the helper.
# nproc counts the CPUs this process may use, as the helper's own check does.
ncpu=$(nproc)
if boot_probe boot/early-vm 1 64 --level debug --start-helper on; then
	if [ "$ncpu" -ge 2 ]; then
		check boot/early-vm-helper "$ncpu allowed CPUs but no start-up VM in ember's debug log" \
			has "VM made at start-up" "$ERR"
		check boot/early-vm-helper-memory "the start-up helper did not register guest memory" \
			has "guest memory registered at start-up" "$ERR"
		check boot/early-vm-helper-irqchip "the start-up helper did not make the irqchip" \
			has "irqchip made at start-up" "$ERR"
		check boot/early-vm-helper-vcpu0 "the start-up helper did not set up and run vCPU 0" \
			has "vcpu 0 set up and run by the start-up helper" "$ERR"
	elif has "VM made at start-up" "$ERR"; then
		fail boot/early-vm-helper "one allowed CPU, yet a start-up helper made the VM"
	else
		pass boot/early-vm-helper
	fi
fi
# Too few descriptors for vCPU 1 (ulimit -n 9: vCPU 0 is already the helper's): the
# build fails, the helper is told to end and is joined, and ember exits 4 naming it.
# Descriptors 3-8 the shell may have inherited are closed first: ember numbers its own
# from 3.
sh -c "exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&-; ulimit -n 9 && exec timeout 60 \"$EMBER_DIR/ember\" --kernel \"$PROBE\" --vcpus 2 \
	--mem-mib 64 --level debug --start-helper on --cmdline 'console=ttyS0 reboot=k panic=1 probe.cpus=2'" \
	>"$TMPDIR/ended.out" 2>"$TMPDIR/ended.err" </dev/null
RC=$?
ERR=$TMPDIR/ended.err OUT=$TMPDIR/ended.out
if [ "$(nproc)" -lt 2 ]; then
	echo "SKIP kvm/boot/helper-ended: one CPU, no start-up helper"
elif [ "$RC" -eq 4 ] && has "vcpu 1: KVM_CREATE_VCPU: No file descriptors available" "$ERR" &&
	has "vcpu 0 set up and run by the start-up helper" "$ERR"; then
	pass boot/helper-ended
else
	fail boot/helper-ended "want exit 4 after vCPU 0 was given and vCPU 1 failed, got $RC"
fi

# Guest memory that cannot be mapped (ulimit -v 64 MiB, 128 MiB asked): the early mapping
# for the start-up helper (vm_early__premap) fails quietly, the build's own fails and is
# reported, exit 2.
sh -c "ulimit -v 65536 && exec timeout 60 \"$EMBER_DIR/ember\" --kernel \"$PROBE\" --mem-mib 128" \
	>"$TMPDIR/unmappable.out" 2>"$TMPDIR/unmappable.err" </dev/null
RC=$? ERR=$TMPDIR/unmappable.err OUT=$TMPDIR/unmappable.out
check boot/mem-unmappable "want exit 2 and the mapping named, got $RC" \
	eval '[ "$RC" -eq 2 ] && has "cannot map 128 MiB of guest memory" "$ERR"'

# The helper starts on a guess from the option names (vmm/cli.c); "--kern", getopt's
# abbreviation of --kernel, escapes it, and the parse then starts the helper itself.
run_ember boot/guess-missed 300 --kern "$PROBE" --mem-mib 64 --cmdline "$CMD" --level debug \
	--start-helper on
if [ "$RC" -ne 0 ] || ! has "PROBE DONE pass" "$OUT"; then
	fail boot/guess-missed "ember exited $RC"
elif [ "$ncpu" -ge 2 ]; then
	check boot/guess-missed "$ncpu allowed CPUs but no start-up VM in ember's debug log" \
		has "guest memory registered at start-up" "$ERR"
else
	pass boot/guess-missed
fi
# --start-helper off: no helper whatever the CPUs; auto: one only while the host has
# fewer runnable tasks than allowed CPUs, counting ember's own (/proc/loadavg: another
# CPU is idle), which ember logs with its choice. CPU-bound loops, one more than the
# CPUs, make the host busy.
if boot_probe boot/start-helper-off 1 64 --level debug --start-helper off; then
	check boot/start-helper-off "a start-up helper made the VM under --start-helper off" \
		eval '! has "at start-up" "$ERR" && ! has "start-up helper" "$ERR"'
fi
# The choice auto logged agrees with its rule (on: runnable < CPUs), whatever the load.
if boot_probe boot/start-helper-auto 1 64 --level debug --start-helper auto; then
	line=$(grep "start-up helper: " "$ERR" | head -1)
	set -- $(echo "$line" | sed -n 's/.*start-up helper: \(o[nf]*\) (--start-helper auto; \([0-9]*\) task(s) runnable, \([0-9]*\) CPU(s) allowed).*/\1 \2 \3/p')
	if [ "$ncpu" -lt 2 ]; then
		check boot/start-helper-auto "one CPU, yet auto logged a choice: $line" eval '[ -z "$line" ]'
	elif [ $# -ne 3 ]; then
		fail boot/start-helper-auto "no choice logged: $(tail -c 300 "$ERR")"
	elif { [ "$1" = on ] && [ "$2" -lt "$3" ]; } || { [ "$1" = off ] && [ "$2" -ge "$3" ]; }; then
		if [ "$1" = on ]; then
			check boot/start-helper-auto "auto chose the helper, which did not run vCPU 0" \
				has "vcpu 0 set up and run by the start-up helper" "$ERR"
		else
			check boot/start-helper-auto "auto chose no helper, yet one made the VM" \
				eval '! has "at start-up" "$ERR"'
		fi
	else
		fail boot/start-helper-auto "the choice contradicts its rule: $line"
	fi
fi
if [ "$ncpu" -ge 2 ]; then
	spinners=""
	i=0
	while [ $i -le "$ncpu" ]; do
		timeout 120 sh -c 'while :; do :; done' & # ends by itself if this script is killed
		spinners="$spinners $!"
		i=$((i + 1))
	done
	sleep 1
	boot_probe boot/start-helper-auto-busy 1 64 --level debug --start-helper auto
	rc_busy=$?
	kill $spinners 2>/dev/null
	wait $spinners 2>/dev/null
	if [ $rc_busy -eq 0 ]; then
		check boot/start-helper-auto-busy "auto started a helper on a busy host: $(grep 'start-up helper' "$ERR")" \
			eval 'has "start-up helper: off (--start-helper auto" "$ERR" && ! has "at start-up" "$ERR"'
	fi
else
	echo "SKIP kvm/boot/start-helper-auto-busy: one CPU, no start-up helper"
fi
run_ember boot/start-helper-bad 30 --kernel "$PROBE" --mem-mib 64 --start-helper sometimes
check boot/start-helper-bad "want exit 2 naming the value, got $RC: $(tail -c 200 "$ERR")" \
	eval '[ "$RC" -eq 2 ] && has "start-helper: '"'"'sometimes'"'"' is not auto, on or off" "$ERR"'

if command -v taskset >/dev/null 2>&1; then
	EMBER_WRAP="taskset -c 0"
	if boot_probe boot/one-cpu 1 64 --level debug --start-helper on; then
		if has "at start-up on another CPU" "$ERR"; then
			fail boot/one-cpu-no-helper "a start-up helper ran with one allowed CPU"
		else
			pass boot/one-cpu-no-helper
		fi
	fi
	# auto has nothing to choose on one CPU: no helper, and no choice logged.
	if boot_probe boot/one-cpu-auto 1 64 --level debug --start-helper auto; then
		check boot/one-cpu-auto "a helper or a choice on one allowed CPU: $(grep 'start-up' "$ERR")" \
			eval '! has "at start-up on another CPU" "$ERR" && ! has "start-up helper: " "$ERR"'
	fi
	EMBER_WRAP=
else
	echo "SKIP kvm/boot/one-cpu: no taskset"
fi

# Guest memory is reserved lazily, so sizes past the host's RAM are fine here; ember's
# default cap is the host's RAM (about 2 GiB inside the nested test host).
for m in 16 128 3072 5000; do
	if boot_probe "boot/mem-$m" 1 "$m" --mem-max-mib 8192; then
		check "boot/mem-$m" "e820 did not match $m MiB" has "PROBE check e820 ok" "$OUT"
	fi
done

# The same boot, checked for what ember itself promises around it.
if boot_probe boot/exit 1 64 --level debug; then
	check boot/reboot-exit-code "no 'guest reboot' in ember's log" has "guest reboot" "$ERR"
	# The reset ends the VM: its vCPU does not enter the guest again.
	check boot/reset-is-last "the guest ran on after its i8042 reset" \
		lacks "unclaimed MMIO write at 0xc0000000" "$ERR"
	check boot/reset-is-last-output "console output after the probe's last line" \
		test "$(tail -n 1 "$OUT")" = "PROBE DONE pass"
	check boot/boot-timer "no boot time logged" has "guest boot time: [0-9]* us" "$ERR"
	check boot/first-kvm-run "no first KVM_RUN time logged" has "first KVM_RUN at [0-9]* us" "$ERR"
	check boot/irq-serial "serial interrupts not seen by the probe" has "PROBE check irq-serial ok" "$OUT"
	check boot/cmdline "command line did not arrive intact" \
		has "^PROBE cmdline $CMD probe.cpus=1 probe.mem_mib=64\$" "$OUT"
fi

# Console to a file instead of stdout.
SER=$TMPDIR/serial.txt
rm -f "$SER"
run_ember boot/serial-file 300 --kernel "$PROBE" --mem-mib 64 --serial "$SER"
if [ "$RC" -eq 0 ] && [ -f "$SER" ] && has "PROBE DONE pass" "$SER" && ! has "PROBE" "$OUT"; then
	pass boot/serial-file
else
	fail boot/serial-file "console output did not go (only) to $SER"
fi

# initrd round trip: the probe checksums what ember placed in guest memory.
RD=$TMPDIR/initrd.bin
dd if=/dev/urandom of="$RD" bs=1024 count=777 2>/dev/null
SUM=$("$EMBER_DIR/fnv1a" "$RD")
run_ember boot/initrd 300 --kernel "$PROBE" --mem-mib 64 --initrd "$RD" \
	--cmdline "$CMD probe.initrd_sum=$SUM"
if [ "$RC" -eq 0 ] && has "PROBE check initrd ok" "$OUT"; then
	pass boot/initrd
else
	fail boot/initrd "rc=$RC, initrd checksum not confirmed"
fi

# Console input, far more than the 64-byte FIFO: from a file (read as the guest drains
# the FIFO) and from a pipe on stdin (polled, paused while the FIFO is full). Input that
# arrives before the guest resets its FIFO is dropped by that reset, as on hardware; the
# rest must arrive whole and in order, so what the probe got is the input's tail.
IN=$TMPDIR/serial-in.bin
dd if=/dev/urandom of="$IN" bs=1000 count=1 2>/dev/null
serial_input_ok() { # NAME: checks $OUT against $IN
	_got=$(sed -n 's/^PROBE serial-rx bytes=\([0-9]*\) .*/\1/p' "$OUT")
	if [ -z "$_got" ] || [ "$_got" -lt 900 ]; then
		fail "$1" "rc=$RC, ${_got:-no} bytes of 1000 arrived (at most one 64-byte FIFO may be reset away)"
		return
	fi
	tail -c "$_got" "$IN" >"$IN.tail"
	check "$1" "rc=$RC, the $_got bytes that arrived are not the input's tail" \
		has "PROBE serial-rx bytes=$_got fnv1a=$("$EMBER_DIR/fnv1a" "$IN.tail")" "$OUT"
}
run_ember boot/serial-input-file 300 --kernel "$PROBE" --mem-mib 64 --serial-input "$IN" \
	--cmdline "$CMD probe.serial_rx=1000 probe.timeout_ms=30000"
serial_input_ok boot/serial-input-file
OUT=$TMPDIR/serial-stdin.out ERR=$TMPDIR/serial-stdin.err
cat "$IN" | timeout 300 "$EMBER_DIR/ember" --kernel "$PROBE" --mem-mib 64 --serial-input stdin \
	--cmdline "$CMD probe.serial_rx=1000 probe.timeout_ms=30000" >"$OUT" 2>"$ERR"
RC=$?
serial_input_ok boot/serial-input-stdin

# Bad input: a one-line error, the documented exit code, no crash.
bad() {
	_name=$1 _code=$2 _msg=$3
	shift 3
	run_ember "bad/$_name" 60 "$@"
	if [ "$RC" -eq "$_code" ] && has "$_msg" "$ERR" && [ "$(wc -l <"$ERR")" -le 2 ]; then
		pass "bad/$_name"
	else
		fail "bad/$_name" "expected exit $_code and '$_msg', got exit $RC"
	fi
}
echo "not a kernel" >"$TMPDIR/text"
head -c 3000 "$PROBE" >"$TMPDIR/truncated.elf"
dd if=/dev/zero of="$TMPDIR/big.initrd" bs=1M count=20 2>/dev/null
bad missing-kernel 3 "No such file" --kernel /nonexistent/vmlinux
bad not-a-kernel 3 "not a kernel image" --kernel "$TMPDIR/text"
bad truncated-kernel 3 "kernel image" --kernel "$TMPDIR/truncated.elf"
bad directory-kernel 3 "not a regular file" --kernel /
bad kernel-too-big 3 "does not fit" --kernel "$PROBE" --mem-mib 1
bad initrd-too-big 3 "does not fit" --kernel "$PROBE" --mem-mib 16 --initrd "$TMPDIR/big.initrd"
bad missing-initrd 3 "initrd" --kernel "$PROBE" --initrd /nonexistent
bad vcpus-zero 2 "vcpu_count" --kernel "$PROBE" --vcpus 0
bad vcpus-33 2 "vcpu_count" --kernel "$PROBE" --vcpus 33
bad mem-zero 2 "mem_size_mib" --kernel "$PROBE" --mem-mib 0
bad mem-huge 2 "mem_size_mib" --kernel "$PROBE" --mem-mib 99999999
bad bad-flag 2 "unknown option" --kernel "$PROBE" --frobnicate

# /dev/kvm missing and inaccessible: we own this host, so move the node aside briefly.
if mv /dev/kvm /dev/kvm.hidden 2>/dev/null; then
	bad no-dev-kvm 4 "/dev/kvm does not exist" --kernel "$PROBE"
	mv /dev/kvm.hidden /dev/kvm
	chmod 600 /dev/kvm

	timeout 60 "$EMBER_DIR/runas" 65534 65534 "$EMBER_DIR/ember" --kernel "$PROBE" \
		>"$TMPDIR/noperm.out" 2>"$TMPDIR/noperm.err" </dev/null
	RC=$?
	ERR=$TMPDIR/noperm.err
	if [ "$RC" -eq 4 ] && has "Permission denied" "$ERR"; then
		pass bad/kvm-inaccessible
	else
		fail bad/kvm-inaccessible "expected exit 4 and 'Permission denied', got $RC"
	fi
else
	echo "SKIP kvm/bad/no-dev-kvm: cannot move /dev/kvm aside"
fi
