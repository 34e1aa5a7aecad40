#!/bin/sh
# --cpuid-cache: KVM's supported CPUID kept in a file between starts (x86_64). The guest
# must see the same CPUID whether it came from KVM or from the file; a damaged file is
# refused with a warning and replaced; a path that is not a regular file is refused at
# start-up.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
need_files cpuid-cache "$PROBE"
case $(uname -m) in x86_64) ;; *)
	echo "SKIP kvm/cpuid-cache: x86_64 only (aarch64 asks KVM no supported CPUID)"
	exit 0
	;;
esac
work_dir cpuid-cache
CACHE=$W/kvm-cpuid
LEAVES=0,1,7,7.1,d.1,80000001,80000008,40000001

# probe_cpuid NAME [ember args...]: boots the probe reporting LEAVES; the cpuid lines in
# $W/NAME.cpuid. Returns 1 (after a FAIL line) if the probe did not pass.
probe_cpuid() {
	_name=$1
	shift
	run_ember "$_name" 120 --kernel "$PROBE" --vcpus 2 --mem-mib 128 --level debug \
		--cmdline "console=ttyS0 reboot=k panic=1 probe.cpus=2 probe.mem_mib=128 probe.cpuid=$LEAVES" \
		"$@"
	if [ "$RC" -ne 0 ] || ! has "PROBE DONE pass" "$OUT"; then
		fail "$_name" "ember exited $RC, or the probe did not pass"
		return 1
	fi
	grep "^PROBE cpuid" "$OUT" >"$W/$(echo "$_name" | tr / _).cpuid"
	return 0
}
cpuid_of() { cat "$W/$(echo "$1" | tr / _).cpuid"; }

probe_cpuid cpuid-cache/without || exit 0
if [ "$(cpuid_of cpuid-cache/without | wc -l)" -lt 8 ]; then
	fail cpuid-cache/without "the probe reported $(cpuid_of cpuid-cache/without | wc -l) of 8 leaves"
	exit 0
fi

if probe_cpuid cpuid-cache/first-writes --cpuid-cache "$CACHE"; then
	if has "none yet; asking KVM" "$ERR" && [ -s "$CACHE" ]; then
		pass cpuid-cache/first-writes
	else
		fail cpuid-cache/first-writes "no file written, or the log does not say KVM was asked"
	fi
fi

if probe_cpuid cpuid-cache/second-reads --cpuid-cache "$CACHE"; then
	if ! has "KVM's supported CPUID, [0-9]* entries" "$ERR"; then
		fail cpuid-cache/second-reads "the file was not used"
	elif [ "$(cpuid_of cpuid-cache/second-reads)" != "$(cpuid_of cpuid-cache/without)" ]; then
		fail cpuid-cache/second-reads "the guest sees another CPUID than without the file"
	else
		pass cpuid-cache/second-reads
	fi
fi

# A damaged file (cut short): refused with a warning, the guest unaffected, and the file
# written anew from KVM's answer.
head -c 1000 "$CACHE" >"$W/cut" && mv "$W/cut" "$CACHE"
if probe_cpuid cpuid-cache/damaged-refused --cpuid-cache "$CACHE"; then
	if ! has "refused: .*size does not match" "$ERR"; then
		fail cpuid-cache/damaged-refused "no warning for a file cut short"
	elif [ "$(cpuid_of cpuid-cache/damaged-refused)" != "$(cpuid_of cpuid-cache/without)" ]; then
		fail cpuid-cache/damaged-refused "the guest sees another CPUID than without the file"
	elif probe_cpuid cpuid-cache/damaged-rewritten --cpuid-cache "$CACHE" &&
		has "KVM's supported CPUID, [0-9]* entries" "$ERR"; then
		pass cpuid-cache/damaged-refused
	else
		fail cpuid-cache/damaged-refused "the next start did not read a rewritten file"
	fi
fi

# Not a regular file: refused at start-up (exit 2), by its kind.
mkfifo "$W/fifo"
run_ember cpuid-cache/fifo-refused 20 --kernel "$PROBE" --cpuid-cache "$W/fifo"
check cpuid-cache/fifo-refused "a FIFO was not refused at start-up with exit 2" \
	eval '[ "$RC" -eq 2 ] && has "cpuid-cache .*is a FIFO" "$ERR"'
run_ember cpuid-cache/dir-refused 20 --kernel "$PROBE" --cpuid-cache "$W"
check cpuid-cache/dir-refused "a directory was not refused at start-up with exit 2" \
	eval '[ "$RC" -eq 2 ] && has "cpuid-cache .*is a directory" "$ERR"'

# A file whose checksum and key are right but whose CPUID KVM refuses (leaf 0x80000008
# giving 50 virtual-address bits; KVM takes 48 or 57): ember says so and exits 4. With a
# second CPU, vCPU 0 is set up on the start-up helper (vmm/vm_early.c), so this is also
# that thread's own failure, reported when the VM would run.
if command -v python3 >/dev/null 2>&1; then
	probe_cpuid cpuid-cache/rewrite --cpuid-cache "$CACHE" >/dev/null
	python3 - "$CACHE" <<'PY'
import struct, sys
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
head, size = 40, 40
nent = struct.unpack_from("<I", b, 12)[0]
for i in range(nent):
    off = head + i * size
    fn, idx = struct.unpack_from("<II", b, off)
    if fn == 0x80000008 and idx == 0:
        eax = struct.unpack_from("<I", b, off + 12)[0]
        struct.pack_into("<I", b, off + 12, (eax & ~0xff00) | (50 << 8))
# cpuid_cache__sum (vmm/arch/x86_64/cpuid_cache.c) of every byte before the last 8
M = (1 << 64) - 1
def mix(h, w):
    h = ((h ^ w) * 0x9E3779B97F4A7C15) & M
    return h ^ (h >> 29)
h = 0x243F6A8885A308D3
for off in range(0, len(b) - 8, 8):
    h = mix(h, struct.unpack_from("<Q", b, off)[0])
struct.pack_into("<Q", b, len(b) - 8, mix(h, len(b) - 8))
open(path, "wb").write(b)
PY
	run_ember cpuid-cache/kvm-refuses 60 --kernel "$PROBE" --mem-mib 64 --level debug --start-helper on \
		--cmdline "console=ttyS0 reboot=k panic=1 probe.mem_mib=64" --cpuid-cache "$CACHE"
	if [ "$RC" -ne 4 ] || ! has "vcpu 0: setting up CPUID: Invalid argument" "$ERR"; then
		fail cpuid-cache/kvm-refuses "want exit 4 and the CPUID set-up named, got $RC"
	elif [ "$(nproc)" -ge 2 ] && ! has "vcpu 0 set up and run by the start-up helper" "$ERR"; then
		fail cpuid-cache/kvm-refuses "$(nproc) CPUs, yet vCPU 0 was not the start-up helper's"
	else
		pass cpuid-cache/kvm-refuses
	fi
else
	echo "SKIP kvm/cpuid-cache/kvm-refuses: no python3 to write the file"
fi

