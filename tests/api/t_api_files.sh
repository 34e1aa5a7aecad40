#!/usr/bin/env bash
# User-given paths that are not what they should be (issue 17 #4), and logger and
# metrics on named pipes as firecracker-containerd sets them up (issue 13 #2).
# A FIFO given as a kernel, initrd, drive or config file must be refused by name,
# at once, and must never block the VMM thread: GET / answers within a second and
# SIGTERM still stops ember. Needs no KVM, except the drive-at-start check.
#   tests/api/t_api_files.sh [BUILD_DIR]
set -u
T=api-files
. "$(dirname "$0")/lib.sh"
probe=$(dirname "$ember")/guest/probe.elf

mkfifo "$work/kernel.fifo" "$work/drive.fifo" "$work/config.fifo"
touch "$work/disk.img"
truncate -s 1M "$work/disk.img"

start_ember --id files
check started $? "the API socket did not answer"

# Refused when configured, naming the kind.
expect_fast put-kernel-fifo 1000 PUT /boot-source "{\"kernel_image_path\":\"$work/kernel.fifo\"}" \
	400 "is a FIFO"
expect_fast put-drive-fifo 1000 PUT /drives/d0 \
	"{\"drive_id\":\"d0\",\"path_on_host\":\"$work/drive.fifo\",\"is_root_device\":false,\"is_read_only\":false}" \
	400 "is a FIFO"
expect_fast put-drive-dir 1000 PUT /drives/d0 \
	"{\"drive_id\":\"d0\",\"path_on_host\":\"$work\",\"is_root_device\":false,\"is_read_only\":true}" \
	400 "is a directory"
expect_fast alive-after-put 1000 GET / - 200 '"state":"Not started"'
# Links are followed (kernels and drives often live in a store); the target's kind counts.
touch "$work/real-kernel"
ln -s "$work/real-kernel" "$work/link-kernel"
ln -s "$work/kernel.fifo" "$work/link-fifo"
expect put-kernel-link PUT /boot-source "{\"kernel_image_path\":\"$work/link-kernel\"}" 204
expect_fast put-kernel-link-to-fifo 1000 PUT /boot-source \
	"{\"kernel_image_path\":\"$work/link-fifo\"}" 400 "is a FIFO"

# A kernel swapped for a FIFO after its PUT: InstanceStart must not wait for a writer.
touch "$work/vmlinux"
expect put-kernel PUT /boot-source "{\"kernel_image_path\":\"$work/vmlinux\"}" 204
rm "$work/vmlinux"
mkfifo "$work/vmlinux"
expect_fast start-kernel-fifo 1000 PUT /actions '{"action_type":"InstanceStart"}' 400 "is a FIFO"
expect_fast alive-after-kernel-fifo 1000 GET / - 200 '"state":"Not started"'

# The same for an initrd; it is loaded after a kernel that loads (the probe guest).
if [ -f "$probe" ]; then
	touch "$work/initrd"
	expect put-initrd PUT /boot-source \
		"{\"kernel_image_path\":\"$probe\",\"initrd_path\":\"$work/initrd\"}" 204
	rm "$work/initrd"
	mkfifo "$work/initrd"
	expect_fast start-initrd-fifo 1000 PUT /actions '{"action_type":"InstanceStart"}' 400 \
		"is a FIFO"
	expect_fast alive-after-initrd-fifo 1000 GET / - 200 '"state":"Not started"'
else
	echo "SKIP $T/start-initrd-fifo: $probe is not built"
fi

# A drive swapped for a FIFO: drives are opened after the VM is created, so this
# needs /dev/kvm (and the probe guest as a kernel that loads).
if [ -f "$probe" ] && [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	expect put-probe PUT /boot-source "{\"kernel_image_path\":\"$probe\"}" 204
	cp "$work/disk.img" "$work/swap.img"
	expect put-drive PUT /drives/d1 \
		"{\"drive_id\":\"d1\",\"path_on_host\":\"$work/swap.img\",\"is_root_device\":false,\"is_read_only\":false}" 204
	rm "$work/swap.img"
	mkfifo "$work/swap.img"
	expect_fast start-drive-fifo 2000 PUT /actions '{"action_type":"InstanceStart"}' 400 "is a FIFO"
	expect_fast alive-after-drive-fifo 1000 GET / - 200 '"state":"Not started"'
else
	echo "SKIP $T/start-drive-fifo: needs $probe and a usable /dev/kvm"
fi

stop_ember
check sigterm-honoured $? "ember ignored SIGTERM for 3 s"

# A FIFO as the config file: a clear error and exit 2, not a wait for a writer.
t0=$(now_ms)
timeout -k 1 5 "$ember" --no-api --config-file "$work/config.fifo" >/dev/null 2>"$work/err"
rc=$?
ms=$(($(now_ms) - t0))
[ $rc -eq 2 ] && grep -q "config file '$work/config.fifo': is a FIFO" "$work/err" && [ $ms -lt 1000 ]
check config-file-fifo $? "rc $rc after $ms ms: $(cat "$work/err")"
rm -f "$sock"
timeout -k 1 5 "$ember" --api-sock "$sock" --config-file "$work/config.fifo" >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 2 ] && grep -q "is a FIFO" "$work/err"
check config-file-fifo-api $? "rc $rc: $(cat "$work/err")"
timeout -k 1 5 "$ember" --kernel "$work/kernel.fifo" --no-seccomp >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 3 ] && grep -q "is a FIFO, not a regular file" "$work/err"
check cli-kernel-fifo $? "rc $rc: $(cat "$work/err")"

# --- logger and metrics on FIFOs that nobody reads yet (firecracker-containerd) ---
mkfifo "$work/logs.fifo" "$work/metrics.fifo" "$work/serial.fifo"
start_ember --id fifo-vm
expect_fast logger-fifo 1000 PUT /logger "{\"log_path\":\"$work/logs.fifo\",\"level\":\"Debug\"}" 204
expect_fast metrics-fifo 1000 PUT /metrics "{\"metrics_path\":\"$work/metrics.fifo\"}" 204
expect_fast serial-fifo 1000 PUT /serial "{\"serial_out_path\":\"$work/serial.fifo\"}" 204
expect_fast alive-after-fifos 1000 GET / - 200 '"id":"fifo-vm"'
# Now readers come, as containerd's do.
timeout -k 1 20 cat "$work/logs.fifo" >"$work/logs.out" &
pids="$pids $!"
timeout -k 1 20 cat "$work/metrics.fifo" >"$work/metrics.out" &
pids="$pids $!"
expect_fast flush-to-fifo 1000 PUT /actions '{"action_type":"FlushMetrics"}' 204
expect bad-request-logged PUT /machine-config '{"vcpu_count":0,"mem_size_mib":64}' 400
sleep 0.3
grep -q '"utc_timestamp_ms"' "$work/metrics.out"
check metrics-line-read $? "the reader got no metrics line: $(head -c 300 "$work/metrics.out")"
grep -q '^ember: .*PUT /machine-config -> 400' "$work/logs.out"
check log-line-read $? "the reader got no log line: $(head -c 300 "$work/logs.out")"
stop_ember
check fifo-vm-stopped $? "ember ignored SIGTERM"

# Full pipes: nobody reads. Requests keep answering at once; dropped lines are counted.
rm -f "$work/logs.fifo" "$work/metrics.fifo"
mkfifo "$work/logs.fifo" "$work/metrics.fifo"
start_ember --id full-pipes
expect logger-fifo-2 PUT /logger "{\"log_path\":\"$work/logs.fifo\",\"level\":\"Debug\"}" 204
expect metrics-fifo-2 PUT /metrics "{\"metrics_path\":\"$work/metrics.fifo\"}" 204
python3 - "$sock" >"$work/flood.out" 2>&1 <<'EOF'
# 400 metrics flushes and 2000 logged bad requests on one connection: far more than
# two 64 KiB pipes hold. Prints the slowest answer in ms.
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
def ask(path, body):
    b = body.encode()
    t = time.monotonic()
    s.sendall(b"PUT %s HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (path.encode(), len(b)) + b)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    while n and len(rest) < n[0]:
        rest += s.recv(65536)
    return time.monotonic() - t, head.split(b"\r\n")[0].decode()
worst = 0
for i in range(400):
    worst = max(worst, ask("/actions", '{"action_type":"FlushMetrics"}')[0])
for i in range(2000):
    worst = max(worst, ask("/machine-config", '{"vcpu_count":0,"mem_size_mib":64}')[0])
print(int(worst * 1000))
EOF
worst=$(tail -1 "$work/flood.out")
[[ "$worst" =~ ^[0-9]+$ ]] && [ "$worst" -lt 1000 ]
check full-pipes-no-block $? "slowest answer: $(tail -3 "$work/flood.out")"
expect_fast alive-after-full-pipes 1000 GET / - 200 '"id":"full-pipes"'
# A reader drains the metrics pipe; the next line counts what was dropped.
timeout -k 1 20 cat "$work/metrics.fifo" >"$work/metrics2.out" &
cpid=$!
pids="$pids $cpid"
sleep 0.3
expect flush-after-drain PUT /actions '{"action_type":"FlushMetrics"}' 204
sleep 0.3
line=$(grep '"missed_metrics_count"' "$work/metrics2.out" | tail -1)
missed_m=$(sed -n 's/.*"missed_metrics_count":\([0-9]*\).*/\1/p' <<<"$line")
missed_l=$(sed -n 's/.*"missed_log_count":\([0-9]*\).*/\1/p' <<<"$line")
[ "${missed_m:-0}" -gt 0 ] && [ "${missed_l:-0}" -gt 0 ]
check dropped-lines-counted $? "missed_metrics_count=${missed_m:-none} missed_log_count=${missed_l:-none}"
stop_ember
check full-pipes-stopped $? "ember ignored SIGTERM"

exit $failed
