#!/bin/sh
# CPU templates with the probe guest: the other vendor's static template is refused by
# name at InstanceStart, a custom template naming a leaf KVM lacks or a capability KVM
# lacks is refused, the guest reads the template's masked bits through CPUID (where
# KVM_SET_CPUID2 takes effect; kvm_pvm does not apply it to every leaf: SKIP then, the
# e2e tier's cputpl section checks it in the nested host), and a snapshot taken under a
# template records it and restores, and a restore is refused when this host's KVM does
# not offer a bit the guest had, or when the template record was changed.
# POSIX sh + busybox (python3, where present, only for editing a vmstate file).
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
FC=$EMBER_DIR/fcclient
need_files cputpl "$PROBE" "$FC" "$EMBER_DIR/ember"
api_session cputpl


. "$(dirname "$0")/cputpl_lib.sh"
if [ -z "$OWN" ]; then
	echo "SKIP kvm/cputpl: CPU vendor '$vendor' has no static template"
	exit 0
fi

# boot_cfg NAME MACHINE_EXTRA [CPU_CONFIG_JSON]: the probe through a config file,
# printing the template's leaves; sets RC, OUT, ERR.
boot_cfg() {
	_cc=""
	[ -z "${3:-}" ] || _cc=",\"cpu-config\":$3"
	cat >"$W/$1.json" <<EOF
{"boot-source":{"kernel_image_path":"$PROBE","boot_args":"$CMD probe.cpuid=$LEAVES"},
 "machine-config":{"vcpu_count":1,"mem_size_mib":64$2}$_cc}
EOF
	run_ember "cputpl-$1" 60 --no-api --config-file "$W/$1.json"
}
# --- the other vendor's template: refused by name, at InstanceStart ---------------------
boot_cfg other ",\"cpu_template\":\"$OTHER\""
if [ "$RC" = 2 ] && has "$OTHER is a template for $OTHER_VENDOR CPUs" "$ERR"; then
	pass cputpl/other-vendor-refused
else
	fail cputpl/other-vendor-refused "rc=$RC, want 2 and the template named"
fi
S=$W/api.sock
"$EMBER_DIR/ember" --api-sock "$S" >"$W/api.out" 2>"$W/api.err" </dev/null &
EPID=$!
PIDS="$PIDS $EPID"
"$FC" -w 10 "$S" GET / >/dev/null 2>&1
api cputpl/api-put-other PUT /machine-config "{\"vcpu_count\":1,\"mem_size_mib\":64,\"cpu_template\":\"$OTHER\"}" &&
	api cputpl/api-boot-source PUT /boot-source "{\"kernel_image_path\":\"$PROBE\"}"
"$FC" "$S" PUT /actions '{"action_type":"InstanceStart"}' >"$W/reply" 2>&1
check cputpl/api-start-other-vendor "InstanceStart: $(head -c 300 "$W/reply")" \
	has "^400 .*$OTHER is a template for $OTHER_VENDOR" "$W/reply"
"$FC" "$S" GET / >"$W/reply" 2>&1
check cputpl/api-still-serving "GET /: $(cat "$W/reply")" has '"state":"Not started"' "$W/reply"
kill_ember

# --- custom templates KVM cannot honour -----------------------------------------------
boot_cfg missing-leaf "" '{"cpuid_modifiers":[{"leaf":"0x4ffffff0","subleaf":"0x0","flags":0,"modifiers":[{"register":"eax","bitmap":"0b1"}]}]}'
if [ "$RC" = 2 ] && has "leaf 0x4ffffff0 subleaf 0x0 is not one KVM offers" "$ERR"; then
	pass cputpl/missing-leaf-refused
else
	fail cputpl/missing-leaf-refused "rc=$RC"
fi
boot_cfg missing-cap "" '{"kvm_capabilities":["4000000"]}'
if [ "$RC" != 0 ] && has "lacks capability 4000000" "$ERR"; then
	pass cputpl/missing-capability-refused
else
	fail cputpl/missing-capability-refused "rc=$RC"
fi
boot_cfg missing-msr "" '{"msr_modifiers":[{"addr":"0x4ffffff0","bitmap":"0b1"}]}'
if [ "$RC" = 2 ] && has "MSR 0x4ffffff0" "$ERR"; then
	pass cputpl/missing-msr-refused
else
	fail cputpl/missing-msr-refused "rc=$RC"
fi

# An MSR KVM has (TSC_AUX), filtered on every vCPU: the guest boots.
boot_cfg msr "" '{"msr_modifiers":[{"addr":"0xc0000103","bitmap":"0b101"}]}'
check cputpl/custom-msr-boot "rc=$RC" has "PROBE DONE pass" "$OUT"

# --- does the guest see what KVM_SET_CPUID2 sets? ---------------------------------------
# A custom template that zeroes leaf 7's EBX (a feature register) and sets a stepping.
boot_cfg sentinel "" '{"kvm_capabilities":["!136"],"cpuid_modifiers":[{"leaf":"0x7","subleaf":"0x0","flags":1,"modifiers":[{"register":"ebx","bitmap":"0b00000000000000000000000000000000"}]},{"leaf":"0x1","subleaf":"0x0","flags":0,"modifiers":[{"register":"eax","bitmap":"0b1010"}]}]}'
if [ "$RC" != 0 ] || ! has "PROBE DONE pass" "$OUT"; then
	fail cputpl/custom-boot "rc=$RC"
	exit 0
fi
pass cputpl/custom-boot
l7=$(reg "$OUT" 7.0 ebx)
l1=$(reg "$OUT" 1.0 eax)
stepping=$(printf '%d' "0x${l1:-0}")
effect=yes
if [ "$l7" != 00000000 ] || [ $((stepping & 15)) != 10 ]; then
	effect=no
	echo "SKIP kvm/cputpl/guest-sees-template: KVM_SET_CPUID2 does not take effect for every leaf on this host (a template forcing leaf 7 ebx to 0 and stepping to 10: the guest reads ebx=0x$l7, leaf 1 eax=0x$l1); tests/e2e/t_cputpl.sh checks it in the nested host"
else
	pass cputpl/custom-template-seen
fi

# --- the static template's masked bits, as the guest reads them ------------------------
boot_cfg own ",\"cpu_template\":\"$OWN\""
if [ "$RC" != 0 ] || ! has "PROBE DONE pass" "$OUT"; then
	fail cputpl/$OWN-boot "rc=$RC"
elif [ $effect = yes ]; then
	bad=$(masks_bad "$OUT" "$MASKS")
	if [ -z "$bad" ]; then pass cputpl/$OWN-masked-bits; else fail cputpl/$OWN-masked-bits "$bad"; fi
else
	pass cputpl/$OWN-boot
fi

# --- snapshots: the template is recorded, restored, and checked -------------------------
load() { # NAME VMSTATE
	start "$1"
	"$FC" "$S" PUT /snapshot/load "{\"snapshot_path\":\"$2\",\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"$W/mem\"},\"resume_vm\":true}" >"$W/reply" 2>&1
}
t=cputpl/snapshot
start snap-a
if api $t-machine PUT /machine-config "{\"vcpu_count\":1,\"mem_size_mib\":64,\"cpu_template\":\"$OWN\"}" &&
	api $t-boot-source PUT /boot-source "{\"kernel_image_path\":\"$PROBE\",\"boot_args\":\"$CMD probe.count=20\"}" &&
	api $t-start PUT /actions '{"action_type":"InstanceStart"}' &&
	wait_for "$OUT" "^PROBE count 3$" 60 &&
	api $t-pause PATCH /vm '{"state":"Paused"}' &&
	api $t-create PUT /snapshot/create "{\"snapshot_path\":\"$W/vmstate\",\"mem_file_path\":\"$W/mem\"}"; then
	kill_ember
	check $t-recorded "no /cpu-template name $OWN in the vmstate" grep -aq "$OWN" "$W/vmstate"
	load snap-b "$W/vmstate"
	# The restored guest counts on (from wherever it stopped).
	if has "^204" "$W/reply" && wait_for "$OUT" "^PROBE count [0-9]" 30; then
		pass $t-restored
	else
		fail $t-restored "load: $(head -c 300 "$W/reply")"
	fi
	"$FC" "$S" GET /vm/config >"$W/reply" 2>&1
	check $t-vm-config "GET /vm/config: $(head -c 300 "$W/reply")" has "\"cpu_template\":\"$OWN\"" "$W/reply"
	kill_ember
	if ! command -v python3 >/dev/null; then
		echo "SKIP kvm/$t-refusals: no python3 to edit the vmstate"
		exit 0
	fi
	# edit MODE IN OUT: a copy of the vmstate with one change, its checksum made anew.
	# bit: leaf 7.0 EDX bit 0 (reserved: no KVM offers it; x in T2 and T2A) set in
	# every saved CPUID; name: the /cpu-template name changed.
	edit() {
		python3 - "$@" <<'EOF'
import struct, sys
mode, src, dst = sys.argv[1:4]
b = bytearray(open(src, 'rb').read())
t = struct.unpack('>I', b[-12:-8])[0]
n = 0
if mode == 'bit':
    for off in range(0, t - 40, 4):
        if struct.unpack_from('<III', b, off) == (7, 0, 1):
            b[off + 24] |= 1
            n += 1
else:
    old, new = sys.argv[4].encode() + b'\0', sys.argv[5].encode() + b'\0'
    i = b.find(old)
    if i >= 0:
        b[i:i + len(new)] = new
        n = 1
if not n:
    sys.exit('nothing to change')
crc = 0xffffffffffffffff
for x in b[:t + 16]:
    crc ^= x
    for _ in range(8):
        crc = (crc >> 1) ^ (0xc96c5795d7870f42 if crc & 1 else 0)
struct.pack_into('>Q', b, t + 16, crc ^ 0xffffffffffffffff)
open(dst, 'wb').write(b)
EOF
	}
	if edit bit "$W/vmstate" "$W/vmstate-bit"; then
		load snap-c "$W/vmstate-bit"
		check $t-lacking-bit-refused "load: $(head -c 300 "$W/reply")" \
			has "^400 .*leaf 0x7 subleaf 0x0 edx bit 0, which KVM on this host does not offer" "$W/reply"
		kill_ember
	else
		fail $t-lacking-bit-refused "could not edit the vmstate"
	fi
	other_name=T2S
	[ "$OWN" = T2A ] || other_name=C3
	if edit name "$W/vmstate" "$W/vmstate-name" "$OWN" "$other_name"; then
		load snap-d "$W/vmstate-name"
		check $t-record-mismatch-refused "load: $(head -c 300 "$W/reply")" \
			has "^400 .*CPU template ($other_name" "$W/reply"
		kill_ember
	else
		fail $t-record-mismatch-refused "could not edit the vmstate"
	fi
fi
