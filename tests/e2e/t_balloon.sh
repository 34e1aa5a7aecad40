#!/bin/sh
# The balloon under Linux's virtio_balloon driver (guest scenario `balloon`, initrd):
# PUT /balloon with statistics every second before boot; once the guest prints its
# MemAvailable the host inflates to $MIB MiB. Checks: GET /balloon/statistics answers
# the driver's statistics (non-zero total, free and available memory), actual_mib
# reaches $MIB, and the guest's MemAvailable falls by about $MIB MiB.
E2E_ROOT=$1
. "$(dirname "$0")/lib.sh"
FC=$E2E_ROOT/fcclient
MIB=32
need_files balloon "$VMLINUX" "$INITRD" || exit 0
if [ ! -x "$FC" ]; then
	fail balloon "$FC missing (the payload links build/tests/bin/fcclient)"
	exit 0
fi

# api CHECK METHOD PATH [BODY]: lib.sh's api_check on this test's socket $S.
api() {
	_c=$1
	shift
	api_check "$_c" "$S" "$@"
}
# num NAME FILE: the unsigned number of member NAME in the JSON reply in FILE, or nothing.
num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$2" | head -1; }
# stats_until SECS CONDITION: GET /balloon/statistics every 0.5 s until CONDITION
# (a shell test on $E2E_WORK/stats) holds; the last reply stays in $E2E_WORK/stats.
stats_until() {
	_su=$(( $(now_ms) + $1 * 1000 ))
	while :; do
		"$FC" "$S" GET /balloon/statistics >"$E2E_WORK/stats" 2>&1 && eval "$2" && return 0
		[ "$(now_ms)" -lt "$_su" ] && kill -0 "$VM_PID" 2>/dev/null || return 1
		sleep 0.5
	done
}

S=$E2E_WORK/b.sock
in=$E2E_WORK/in
mkfifo "$in"
vm_start balloon --api-sock "$S" --serial-input "$in"
# Held open read-write, so that the final "done" never blocks, whatever ember does.
exec 3<>"$in"
"$FC" -w 10 "$S" GET / >/dev/null 2>&1
ok=1
api balloon-machine PUT /machine-config "{\"vcpu_count\": 1, \"mem_size_mib\": $VM_MEM}" || ok=0
api balloon-boot-source PUT /boot-source "{\"kernel_image_path\": \"$VMLINUX\", \"initrd_path\": \"$INITRD\", \"boot_args\": \"$CMDLINE_BASE ember.test=balloon ember.balloon_mib=$MIB\"}" || ok=0
api balloon-put PUT /balloon '{"amount_mib": 0, "deflate_on_oom": false, "stats_polling_interval_s": 1}' || ok=0
api balloon-start PUT /actions '{"action_type": "InstanceStart"}' || ok=0
if [ $ok -eq 0 ] || ! wait_line "$VM_OUT" "^EMBER-BALLOON-READY" "$VM_TIMEOUT"; then
	r=$(result_line balloon)
	fail balloon-ready "the guest never got ready; ${r:+guest: ${r#EMBER-RESULT } }$(vm_why)"
	vm_dump
	vm_kill
	exit 0
fi
api balloon-inflate PATCH /balloon "{\"amount_mib\": $MIB}" || ok=0

# (b) the driver inflates all of it: actual_mib reaches $MIB.
if [ $ok -eq 1 ] && stats_until 120 '[ "$(num actual_mib "$E2E_WORK/stats")" = $MIB ]'; then
	pass balloon-actual-mib
else
	fail balloon-actual-mib "GET /balloon/statistics: $(head -c 400 "$E2E_WORK/stats")"
fi
# (a) the driver's statistics, a stats interval later: Firecracker's member names, and
# memory sizes in bytes that fit the VM's memory.
stats_until 15 '[ -n "$(num total_memory "$E2E_WORK/stats")" ] && [ -n "$(num available_memory "$E2E_WORK/stats")" ]'
info "statistics: $(head -c 600 "$E2E_WORK/stats")"
bad=""
head -c 4 "$E2E_WORK/stats" | grep -q '^200 ' || bad="status $(head -c 4 "$E2E_WORK/stats")"
for f in target_pages actual_pages target_mib actual_mib; do
	[ -n "$(num $f "$E2E_WORK/stats")" ] || bad="$bad; no $f"
done
for f in total_memory free_memory available_memory; do
	v=$(num $f "$E2E_WORK/stats")
	if [ -z "$v" ] || [ "$v" -eq 0 ]; then
		bad="$bad; $f='$v'"
	elif [ "$v" -gt $((VM_MEM * 1048576)) ]; then
		bad="$bad; $f=$v bytes is more than the VM's $VM_MEM MiB"
	fi
done
if [ -z "$bad" ]; then
	pass balloon-statistics
else
	fail balloon-statistics "${bad#; }"
fi

# (c) MemAvailable, as the guest saw it before and after the inflation.
if wait_line "$VM_OUT" "^EMBER-BALLOON before_kb" 120; then
	set -- $(tr -d '\r' <"$VM_OUT" | sed -n 's/^EMBER-BALLOON before_kb=\([0-9]*\) after_kb=\([0-9]*\).*/\1 \2/p' | tail -1)
	drop_kb=$((${1:-0} - ${2:-0}))
	info "$(tr -d '\r' <"$VM_OUT" | grep '^EMBER-BALLOON before_kb' | tail -1)"
	if [ $drop_kb -ge $((MIB * 512)) ] && [ $drop_kb -le $((MIB * 1536)) ]; then
		pass balloon-memavailable
	else
		fail balloon-memavailable "MemAvailable fell by $drop_kb kB, want about $((MIB * 1024)) kB ($((MIB / 2))..$((MIB * 3 / 2)) MiB)"
	fi
else
	fail balloon-memavailable "the guest never reported MemAvailable after the PATCH; $(vm_why)"
fi
echo done >&3
vm_wait "$VM_TIMEOUT"
expect_pass balloon-guest balloon
exit 0
