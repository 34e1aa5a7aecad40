#!/bin/sh
# CPU templates where KVM_SET_CPUID2 takes effect (hardware KVM, or the nested test
# host's SVM): the probe guest reads CPUID and sees the static template's masked bits
# (T2A on AMD, T2 on Intel) and a custom template's; the other vendor's template is
# refused by name. The probe boots through a config file (no API client needed).
E2E_ROOT=$1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../kvm/cputpl_lib.sh"
PROBE=$GUEST/probe.elf
CMD="console=ttyS0 reboot=k panic=1 probe.cpuid=$LEAVES"

if [ -z "$OWN" ]; then
	skip cputpl "CPU vendor '$vendor' has no static template"
	exit 0
fi
need_files cputpl "$PROBE" || exit 0

# probe NAME MACHINE_EXTRA [CPU_CONFIG_JSON]: one probe boot; sets VM_RC, VM_OUT, VM_ERR.
probe() {
	_cc=""
	[ -z "${3:-}" ] || _cc=",\"cpu-config\":$3"
	cat >"$E2E_WORK/$1.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE","boot_args":"$CMD"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64$2}$_cc}
EOF
	vm_run "$1" 120 --no-api --config-file "$E2E_WORK/$1.json"
}

probe cputpl-other ",\"cpu_template\":\"$OTHER\""
if [ "$VM_RC" = 2 ] && grep -q "$OTHER is a template for $OTHER_VENDOR CPUs" "$VM_ERR"; then
	pass cputpl-other-vendor-refused
else
	fail cputpl-other-vendor-refused "$(vm_why)"
fi

# A custom template: leaf 7 EBX forced to 0, stepping forced to 10.
probe cputpl-custom "" '{"cpuid_modifiers":[{"leaf":"0x7","subleaf":"0x0","flags":1,"modifiers":[{"register":"ebx","bitmap":"0b00000000000000000000000000000000"}]},{"leaf":"0x1","subleaf":"0x0","flags":0,"modifiers":[{"register":"eax","bitmap":"0b1010"}]}]}'
l7=$(reg "$VM_OUT" 7.0 ebx)
l1=$(reg "$VM_OUT" 1.0 eax)
if [ "$VM_RC" != 0 ] || ! grep -q "PROBE DONE pass" "$VM_OUT"; then
	fail cputpl-custom-seen "the probe did not pass; $(vm_why)"
	vm_dump
elif [ "$l7" = 00000000 ] && [ $((0x${l1:-0} & 15)) = 10 ]; then
	pass cputpl-custom-seen
	info "leaf 7 ebx=0x$l7, leaf 1 eax=0x$l1"
else
	fail cputpl-custom-seen "the guest reads leaf 7 ebx=0x$l7, leaf 1 eax=0x$l1 (want 0 and stepping 10)"
fi

probe cputpl-own ",\"cpu_template\":\"$OWN\""
if [ "$VM_RC" != 0 ] || ! grep -q "PROBE DONE pass" "$VM_OUT"; then
	fail cputpl-$OWN-masked-bits "the probe did not pass; $(vm_why)"
	vm_dump
else
	bad=$(masks_bad "$VM_OUT" "$MASKS")
	if [ -z "$bad" ]; then
		pass cputpl-$OWN-masked-bits
		info "$(tr -d '\r' <"$VM_OUT" | grep '^PROBE cpuid leaf=0x7 ')"
	else
		fail cputpl-$OWN-masked-bits "$bad"
	fi
fi
# The same probe without a template reads other bits: the template made the difference.
probe cputpl-none ""
if [ "$VM_RC" = 0 ] && [ -n "$(masks_bad "$VM_OUT" "$MASKS")" ]; then
	pass cputpl-none-differs
else
	fail cputpl-none-differs "without a template the guest already reads $OWN's bits (rc=$VM_RC)"
fi
