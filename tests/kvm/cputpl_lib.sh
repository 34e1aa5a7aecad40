# CPU template facts and helpers shared by tests/kvm/t_cputpl.sh and tests/e2e/t_cputpl.sh
# (sourced; POSIX sh + busybox). Sets vendor, OWN (this vendor's static template: T2A on
# AMD, T2 on Intel, "" otherwise), OTHER and OTHER_VENDOR (the other vendor's), MASKS
# (OWN's bitmaps) and LEAVES (what probe.cpuid should print for them).
vendor=$(sed -n 's/^vendor_id[[:space:]]*: //p' /proc/cpuinfo | head -1)
# Firecracker's bitmaps as filter:value per leaf.subleaf:register (its T2A and T2).
T2A="1.0:eax:0fff3fff:000306f2 1.0:ecx:0004cdfc:00000000 1.0:edx:e8641080:00001080
7.0:ebx:ffefda14:00000200 7.0:ecx:40415f5e:00000000 7.0:edx:0000011c:00000000
d.0:eax:000002f8:00000000 d.1:eax:0000000e:00000000 80000001.0:ecx:200001c4:00000000
80000001.0:edx:06400000:00000000 80000008.0:ebx:001c0205:001c0004"
T2="1.0:eax:0fff3fff:000306f2 1.0:ecx:0004cdfc:00000000 1.0:edx:e8641080:00001080
7.0:ebx:ffefda14:00000200 7.0:ecx:40415f5e:00000000 7.0:edx:0000011c:00000000
d.0:eax:000002f8:00000000 d.1:eax:0000000e:00000000 80000001.0:ecx:20000100:00000000
80000001.0:edx:04000000:00000000 80000008.0:ebx:00000200:00000000"
OWN="" OTHER="" OTHER_VENDOR="" MASKS=""
case $vendor in
AuthenticAMD) OWN=T2A OTHER=T2 OTHER_VENDOR=Intel MASKS=$T2A ;;
GenuineIntel) OWN=T2 OTHER=T2A OTHER_VENDOR=AMD MASKS=$T2 ;;
esac

LEAVES="1,7.0,d.0,d.1,80000001,80000008"

# reg FILE LEAF.SUB REG: that register as the probe printed it in FILE (hex, no 0x).
reg() {
	_l=${2%.*} _s=${2#*.}
	tr -d '\r' <"$1" | sed -n "s/^PROBE cpuid leaf=0x$_l subleaf=0x$_s .*$3=0x\([0-9a-f]*\).*/\1/p" | head -1
}
# masks_bad FILE MASKS: the registers whose fixed bits the guest did not read as the
# template fixes them (empty: all as fixed).
masks_bad() {
	_bad=""
	for _m in $2; do
		_ls=${_m%%:*} _rest=${_m#*:}
		_r=${_rest%%:*} _rest=${_rest#*:}
		_f=${_rest%%:*} _v=${_rest#*:}
		_got=$(reg "$1" "$_ls" "$_r")
		[ -n "$_got" ] || { _bad="$_bad $_ls.$_r:absent"; continue; }
		[ $((0x$_got & 0x$_f)) = $((0x$_v)) ] || _bad="$_bad $_ls.$_r=0x$_got(want &0x$_f=0x$_v)"
	done
	echo "$_bad"
}
