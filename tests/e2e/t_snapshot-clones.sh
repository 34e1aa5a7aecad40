#!/bin/sh
# Clones of one Linux snapshot run independently (issue 12): a guest counting on its
# console (scenario `count`) with its root filesystem mounted read-write is snapshotted;
# three embers load that snapshot at the same time, each with its own copy of the root
# disk; each clone writes its own file over the console, syncs and is killed; then each
# copy must hold its own clone's file and no other's, and the snapshot's disk none.
#
# The snapshot names one drive path, the same for every clone. Each clone's ember runs in
# a mount namespace of its own, where its copy is bind-mounted over that path, as the
# jailer's chroot does it for Firecracker: the clone opens only its own copy, from the
# load on. (A PATCH /drives/rootfs after a load with resume_vm false would also swap the
# file, but the load would first open the shared disk in every clone.) The copies are
# read back by mounting them here (loop, ext4: the nested host's kernel has both), which
# also replays the journal the guests' syncs wrote.
# Part of the `snapshot` section (run.sh runs t_snapshot-*.sh after t_snapshot.sh).
E2E_ROOT=$1
. "$(dirname "$0")/lib.sh"
FC=$E2E_ROOT/fcclient
need_files snapshot-clones "$VMLINUX" "$ROOTFS" || exit 0
if [ ! -x "$FC" ]; then
	fail snapshot-clones "$FC missing (the payload links build/tests/bin/fcclient)"
	exit 0
fi
if ! command -v unshare >/dev/null 2>&1; then
	fail snapshot-clones "no unshare here to give each clone its own disk"
	exit 0
fi


disk=$E2E_WORK/clone-rootfs.ext4
cp "$ROOTFS" "$disk"
state=$E2E_WORK/vm.state mem=$E2E_WORK/vm.mem
tok=$(token)

# --- the snapshot: a guest with its root filesystem read-write -----------------------
sa=$E2E_WORK/a.sock
vm_start clone-base --api-sock "$sa"
BASE_OUT=$VM_OUT BASE_PID=$VM_PID
"$FC" -w 10 "$sa" GET / >/dev/null 2>&1
ok=1
api_check snapshot-clones-machine "$sa" PUT /machine-config "{\"vcpu_count\": 1, \"mem_size_mib\": $VM_MEM}" || ok=0
api_check snapshot-clones-boot-source "$sa" PUT /boot-source \
	"{\"kernel_image_path\": \"$VMLINUX\", \"boot_args\": \"$CMDLINE_BASE root=/dev/vda rw ember.test=count\"}" || ok=0
api_check snapshot-clones-drive "$sa" PUT /drives/rootfs \
	"{\"drive_id\": \"rootfs\", \"path_on_host\": \"$disk\", \"is_root_device\": true, \"is_read_only\": false}" || ok=0
api_check snapshot-clones-start "$sa" PUT /actions '{"action_type": "InstanceStart"}' || ok=0
# Three boot bounds, as t_snapshot.sh: the count has taken 108 s of guest time there.
if [ $ok -eq 0 ] || ! wait_line "$BASE_OUT" "^EMBER-COUNT 3" $((VM_TIMEOUT * 3)); then
	fail snapshot-clones-counting "the guest did not count; $(vm_why)"
	vm_dump
	vm_kill
	exit 0
fi
api_check snapshot-clones-pause "$sa" PATCH /vm '{"state": "Paused"}' || ok=0
api_check snapshot-clones-create "$sa" PUT /snapshot/create \
	"{\"snapshot_path\": \"$state\", \"mem_file_path\": \"$mem\"}" || ok=0
sleep 1
stopped=$(count_lines "$BASE_OUT" | tail -1)
kill -9 "$BASE_PID" 2>/dev/null
wait "$BASE_PID" 2>/dev/null
forget_pid "$BASE_PID"
[ $ok -eq 1 ] || exit 0
info "snapshot taken at count $stopped"

# --- three clones at once, each in its own mount namespace with its own disk ----------
# Copied after the pause: each copy is the disk as the snapshot's guest left it.
for i in 1 2 3; do
	cp "$disk" "$E2E_WORK/copy-$i.ext4"
	mkfifo "$E2E_WORK/in-$i"
done
real_ember=$EMBER
EMBER=unshare
for i in 1 2 3; do
	vm_start "clone-$i" -m sh -c \
		'mount --bind "$1" "$2" || { echo "clone: mount --bind $1 $2 failed" >&2; exit 97; }; shift 2; exec "$@"' \
		clone "$E2E_WORK/copy-$i.ext4" "$disk" \
		"$real_ember" --api-sock "$E2E_WORK/c$i.sock" --serial-input "$E2E_WORK/in-$i"
	eval "PID_$i=\$VM_PID T0_$i=\$VM_T0"
done
EMBER=$real_ember
for i in 1 2 3; do
	"$FC" -w 10 "$E2E_WORK/c$i.sock" GET / >/dev/null 2>&1
	api_check "snapshot-clones-load-$i" "$E2E_WORK/c$i.sock" PUT /snapshot/load \
		"{\"snapshot_path\": \"$state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$mem\"}, \"resume_vm\": true}"
done
# clone I: points lib.sh's VM_* at clone I.
clone() {
	VM_NAME=clone-$1 VM_OUT=$E2E_WORK/clone-$1.out VM_ERR=$E2E_WORK/clone-$1.err
	eval "VM_PID=\$PID_$1 VM_T0=\$T0_$1"
}

# verdict CHECK WHY: PASS if no clone added to $bad, else FAIL with WHY and what they said.
verdict() {
	if [ -z "$bad" ]; then pass "$1"; else fail "$1" "$2${bad}"; fi
}
# stuck I: clone I did not get there; its state into $bad and the log.
stuck() {
	vm_status
	bad="$bad; clone $1: $(vm_why)"
	vm_dump
}

# Each clone goes on from the snapshot's count, with no new boot.
bad=""
for i in 1 2 3; do
	clone "$i"
	if ! wait_line "$VM_OUT" "^EMBER-COUNT $((stopped + 3))" "$VM_TIMEOUT"; then
		stuck "$i"
	elif tr -d '\r' <"$VM_OUT" | grep -q "Linux version\|EMBER-RESULT\|ember-init"; then
		bad="$bad; clone $i printed boot output"
	elif tsc_unstable "$VM_OUT" >/dev/null; then
		bad="$bad; clone $i marked its TSC unstable: $(tsc_unstable "$VM_OUT")"
	elif ! count_lines "$VM_OUT" | awk -v s="$stopped" 'NR + s != $1 { bad = 1 } END { exit bad || NR == 0 }'; then
		bad="$bad; clone $i counted $(count_lines "$VM_OUT" | tr '\n' ' ' | head -c 100), its console began: $(bytes_seen head 160 "$VM_OUT")"
	fi
done
verdict snapshot-clones-continue "stopped at $stopped"

# Each clone writes /clone-I (its own token) on its root filesystem, then syncs: what is
# on its disk file then is what a kill leaves.
for i in 1 2 3; do
	(echo "echo $tok-$i >/clone-$i && sync && echo wrote-clone-$i" >"$E2E_WORK/in-$i") &
done
bad=""
for i in 1 2 3; do
	clone "$i"
	if ! wait_line "$VM_OUT" "^EMBER-REPLY wrote-clone-$i" "$VM_TIMEOUT"; then
		stuck "$i"
	fi
done
verdict snapshot-clones-write "no answer to the write and sync"
for i in 1 2 3; do
	clone "$i"
	kill -9 "$VM_PID" 2>/dev/null
	wait "$VM_PID" 2>/dev/null
	forget_pid "$VM_PID"
done
# A FIFO writer whose clone never read stays blocked: a reader of our own frees it.
for i in 1 2 3; do
	cat "$E2E_WORK/in-$i" >/dev/null 2>&1 &
	_r=$!
	sleep 0.2
	kill "$_r" 2>/dev/null
	wait "$_r" 2>/dev/null
done

# --- each copy holds its own clone's file and no other's; the snapshot's disk none ------
mnt=$E2E_WORK/mnt
mkdir -p "$mnt"
E2E_CLEANUP="umount $mnt 2>/dev/null; $E2E_CLEANUP"
# files IMAGE: "NAME=CONTENT" of each /clone-* of IMAGE's filesystem, or "mount: why".
files() {
	if ! mount -o loop -t ext4 "$1" "$mnt" 2>"$E2E_WORK/mount.err"; then
		echo "mount: $(head -c 200 "$E2E_WORK/mount.err")"
		return 1
	fi
	for _f in "$mnt"/clone-*; do
		[ -e "$_f" ] && echo "${_f#"$mnt"/}=$(cat "$_f")"
	done
	umount -d "$mnt" 2>/dev/null || umount "$mnt"
	return 0
}
bad=""
for i in 1 2 3; do
	got=$(files "$E2E_WORK/copy-$i.ext4" | tr '\n' ' ')
	info "copy $i: ${got:-no clone file}"
	[ "$got" = "clone-$i=$tok-$i " ] || bad="$bad; copy $i holds '${got}', expected only clone-$i=$tok-$i"
done
got=$(files "$disk" | tr '\n' ' ')
[ -z "$got" ] || bad="$bad; the snapshot's own disk holds '$got'"
bad=${bad#; }
verdict snapshot-clones-own-files ""
exit 0
