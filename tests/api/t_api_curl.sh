#!/usr/bin/env bash
# The REST API through real clients (curl --unix-socket, raw sockets from python3)
# against a running `ember --api-sock` in the pre-boot state. Needs no KVM.
#   tests/api/t_api_curl.sh [BUILD_DIR]
# One PASS/FAIL/SKIP line per check.
set -u
T=api
. "$(dirname "$0")/lib.sh"

# lib.sh's req, with this script's own expect: every error must carry fault_message.
# expect NAME METHOD PATH BODY|- STATUS [SUBSTRING]
expect() {
	local name=$1 m=$2 p=$3 b=$4 want=$5 sub=${6-}
	local out
	if [ "$b" = "-" ]; then out=$(req "$m" "$p"); else out=$(req "$m" "$p" "$b"); fi
	local status=${out%% *} body=${out#* }
	if [ "$status" != "$want" ]; then
		fail "$name" "$m $p -> $status (want $want): $body"
	elif [ -n "$sub" ] && [[ "$body" != *"$sub"* ]]; then
		fail "$name" "$m $p body lacks '$sub': $body"
	elif [ "$want" -ge 400 ] && [[ "$body" != *'"fault_message"'* ]]; then
		fail "$name" "$m $p error without fault_message: $body"
	else
		pass "$name"
	fi
}

start_ember() { # extra args...
	rm -f "$sock"
	local t0=$(date +%s%N)
	"$ember" --api-sock "$sock" --log-path "$work/ember.log" "$@" &
	epid=$!
	pids="$pids $epid"
	wait_socket
	ready_ms=$((($(date +%s%N) - t0) / 1000000))
}

touch "$work/vmlinux" "$work/initrd" "$work/rootfs.ext4"

start_ember --id api-test
curl -s -m 1 --unix-socket "$sock" http://localhost/ >/dev/null
check socket-ready $? "API socket did not answer within 2 s"
# generous bound, only to catch a hang; the 2 ms target is measured in bench/
[ "$ready_ms" -lt 1000 ]; check socket-ready-fast $? "first answer after $ready_ms ms"

expect get-root GET / - 200 '"state":"Not started"'
expect get-root-id GET / - 200 '"id":"api-test"'
expect get-version GET /version - 200 '"firecracker_version"'
expect get-machine-config GET /machine-config - 200 '"vcpu_count":1'
expect put-machine-config PUT /machine-config '{"vcpu_count":2,"mem_size_mib":256}' 204
expect patch-machine-config PATCH /machine-config '{"mem_size_mib":512}' 204
expect get-machine-config-after GET /machine-config - 200 '"mem_size_mib":512'
expect machine-config-range PUT /machine-config '{"vcpu_count":64,"mem_size_mib":256}' 400 vcpu_count
expect machine-config-type PUT /machine-config '{"vcpu_count":"2","mem_size_mib":256}' 400 vcpu_count
expect machine-config-unknown PUT /machine-config '{"vcpu_count":2,"mem_size_mib":256,"x":1}' 400 'unknown field `x`'
expect machine-config-missing PUT /machine-config '{"vcpu_count":2}' 400 mem_size_mib
expect machine-config-unchanged GET /machine-config - 200 '"mem_size_mib":512'
expect boot-source PUT /boot-source "{\"kernel_image_path\":\"$work/vmlinux\",\"initrd_path\":\"$work/initrd\",\"boot_args\":\"console=ttyS0\"}" 204
expect boot-source-missing-file PUT /boot-source '{"kernel_image_path":"/nonexistent"}' 400 kernel_image_path
expect drive PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$work/rootfs.ext4\",\"is_root_device\":true,\"is_read_only\":false}" 204
expect drive-id-mismatch PUT /drives/other "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$work/rootfs.ext4\",\"is_root_device\":true}" 400 "does not match"
expect drive-patch-preboot PATCH /drives/rootfs '{"drive_id":"rootfs"}' 400 "before starting"
expect net PUT /network-interfaces/eth0 '{"iface_id":"eth0","host_dev_name":"tap0","guest_mac":"AA:FC:00:00:00:01"}' 204
expect net-bad-mac PUT /network-interfaces/eth1 '{"iface_id":"eth1","host_dev_name":"tap1","guest_mac":"nope"}' 400 guest_mac
expect net-patch-preboot PATCH /network-interfaces/eth0 '{"iface_id":"eth0"}' 400 "before starting"
expect vsock PUT /vsock "{\"guest_cid\":3,\"uds_path\":\"$work/v.sock\"}" 204
expect vsock-cid PUT /vsock "{\"guest_cid\":2,\"uds_path\":\"$work/v.sock\"}" 400 guest_cid
expect entropy PUT /entropy '{}' 204
expect serial PUT /serial "{\"serial_out_path\":\"$work/serial.out\"}" 204
expect logger PUT /logger "{\"level\":\"Info\",\"log_path\":\"$work/ember2.log\",\"show_level\":true}" 204
expect logger-bad-level PUT /logger '{"level":"Chatty"}' 400 level
expect metrics PUT /metrics "{\"metrics_path\":\"$work/metrics.json\"}" 204
expect metrics-twice PUT /metrics "{\"metrics_path\":\"$work/metrics.json\"}" 400 already
expect flush-metrics PUT /actions '{"action_type":"FlushMetrics"}' 204
grep -q '"put_api_requests":{.*"machine_cfg_count":' "$work/metrics.json" 2>/dev/null
check metrics-line $? "no metrics line with API counters in metrics.json"
expect action-unknown PUT /actions '{"action_type":"Explode"}' 400 action_type
expect ctrl-alt-del-preboot PUT /actions '{"action_type":"SendCtrlAltDel"}' 400 "before starting"
expect pause-preboot PATCH /vm '{"state":"Paused"}' 400 "before starting"
expect vm-config GET /vm/config - 200 '"drive_id":"rootfs"'
expect vm-config-net GET /vm/config - 200 '"host_dev_name":"tap0"'
expect balloon-none GET /balloon - 400 "No balloon device found."
expect balloon-too-large PUT /balloon '{"amount_mib":513,"deflate_on_oom":false}' 400 "too large"
expect balloon PUT /balloon '{"amount_mib":64,"deflate_on_oom":true,"stats_polling_interval_s":1}' 204
expect balloon-get GET /balloon - 200 '{"amount_mib":64,"deflate_on_oom":true,"stats_polling_interval_s":1,"free_page_reporting":false}'
expect balloon-patch-preboot PATCH /balloon '{"amount_mib":32}' 204
expect balloon-patch-unknown PATCH /balloon '{"amount_mib":32,"deflate_on_oom":false}' 400 'unknown field `deflate_on_oom`'
expect balloon-stats-preboot GET /balloon/statistics - 400 "before starting"
expect balloon-stats-put PUT /balloon/statistics '{"stats_polling_interval_s":2}' 405 "not allowed"
expect balloon-shrink-memory PUT /machine-config '{"vcpu_count":2,"mem_size_mib":16}' 400 "balloon.amount_mib"
expect vm-config-balloon GET /vm/config - 200 '"balloon":{"amount_mib":32,"deflate_on_oom":true,"stats_polling_interval_s":1,"free_page_reporting":false}'
expect balloon-hinting-unsupported PATCH /balloon/hinting/start '{}' 400 "not supported"
expect snapshot-create-preboot PUT /snapshot/create '{"mem_file_path":"/m","snapshot_path":"/s"}' 400 "must be Paused"
expect mmds-put PUT /mmds '{}' 204
expect cpu-config-good PUT /cpu-config '{"kvm_capabilities":["!56"],"cpuid_modifiers":[{"leaf":"0x1","subleaf":"0x0","flags":0,"modifiers":[{"register":"eax","bitmap":"0bxxxx000000000011xx00011011110010"}]}],"msr_modifiers":[{"addr":"0x10a","bitmap":"0b0"}]}' 204
expect cpu-config-empty PUT /cpu-config '{}' 204
expect cpu-config-bad-bitmap PUT /cpu-config '{"cpuid_modifiers":[{"leaf":"0x1","subleaf":"0x0","flags":0,"modifiers":[{"register":"eax","bitmap":"0b2"}]}]}' 400 "cpuid_modifiers[0].modifiers[0].bitmap"
expect cpu-config-bad-leaf PUT /cpu-config '{"cpuid_modifiers":[{"leaf":"1","subleaf":"0x0","flags":0,"modifiers":[]}]}' 400 "no number prefix"
expect cpu-config-bad-cap PUT /cpu-config '{"kvm_capabilities":["-5"]}' 400 "kvm_capabilities[0]"
expect cpu-config-arm-field PUT /cpu-config '{"reg_modifiers":[]}' 400 "aarch64 field"
expect cpu-config-get GET /cpu-config - 405 "not allowed"
expect cpu-config-vm-config GET /vm/config - 200 '"cpu-config":null'
expect cpu-template-t2a PATCH /machine-config '{"cpu_template":"T2A"}' 204
expect cpu-template-shown GET /machine-config - 200 '"cpu_template":"T2A"'
expect cpu-template-unknown PATCH /machine-config '{"cpu_template":"M5"}' 400 "cpu_template"
expect cpu-template-none PATCH /machine-config '{"cpu_template":"None"}' 204
expect unknown-path GET /no/such/path - 400 "/no/such/path"
expect wrong-method GET /actions - 405 "not allowed"
expect delete-method DELETE /drives/rootfs - 405 "not allowed"
expect not-json PUT /machine-config 'vcpu_count=2' 400 "invalid JSON"
# A kernel that is not one: the start fails, the API keeps serving, state unchanged.
expect start-bad-kernel PUT /actions '{"action_type":"InstanceStart"}' 400 "Failed to start"
expect still-not-started GET / - 200 '"state":"Not started"'

# Raw-socket clients for what curl will not send.
raw() { python3 - "$sock" "$@"; }
out=$(raw <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"GARBAGE\r\n\r\n")
data = b""
while True:
    c = s.recv(4096)
    if not c: break
    data += c
print(data.split(b"\r\n")[0].decode(), "closed" if b"Connection: close" in data else "open",
      "fault" if b"fault_message" in data else "nofault")
EOF
)
[ "$out" = "HTTP/1.1 400 Bad Request closed fault" ]; check malformed-request-line $? "$out"

out=$(raw <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"GET / HTTP/1.1\nHost: x\n\n")
print(s.recv(4096).split(b"\r\n")[0].decode())
EOF
)
[ "$out" = "HTTP/1.1 400 Bad Request" ]; check bare-lf-rejected $? "$out"

out=$(raw <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"PUT /machine-config HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}   \r\n0\r\n\r\n")
d = s.recv(4096)
print(d.split(b"\r\n")[0].decode(), "chunked" in d.decode())
EOF
)
[ "$out" = "HTTP/1.1 400 Bad Request True" ]; check chunked-rejected $? "$out"

# A body over 50 KiB is refused (by its Content-Length, before it is read).
big=$(head -c 52000 /dev/zero | tr '\0' ' ')
out=$(printf '{"vcpu_count":1,"mem_size_mib":128}%s' "$big" | curl -s -m 5 --unix-socket "$sock" -X PUT \
	--data-binary @- -w '\n%{http_code}' http://localhost/machine-config)
[[ "$out" == *"larger than the limit"*400 ]]; check body-over-50k $? "$(printf '%s' "$out" | tail -c 200)"
# ...while one just under the limit (whitespace is valid JSON) is accepted.
big=$(head -c 50000 /dev/zero | tr '\0' ' ')
out=$(printf '{"vcpu_count":1,"mem_size_mib":128}%s' "$big" | curl -s -m 5 --unix-socket "$sock" -X PUT \
	--data-binary @- -w '%{http_code}' http://localhost/machine-config)
[ "$out" = "204" ]; check body-under-50k $? "$out"

out=$(raw <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
b = b'{"state":"Paused"}'
s.sendall(b"GET / HTTP/1.1\r\n\r\nGET /version HTTP/1.1\r\n\r\n" +
          b"PATCH /vm HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(b) + b +
          b"GET /machine-config HTTP/1.1\r\nConnection: close\r\n\r\n")
data = b""
while True:
    c = s.recv(65536)
    if not c: break
    data += c
import re
print(" ".join(x.decode() for x in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)))
EOF
)
[ "$out" = "200 200 400 200" ]; check pipelining $? "statuses: $out"

# A client dribbling one byte every 50 ms does not hold up another one.
raw > "$work/dribble.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
for ch in b"GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n":
    s.send(bytes([ch])); time.sleep(0.05)
print(s.recv(4096).split(b"\r\n")[0].decode())
EOF
dpid=$!
pids="$pids $dpid"
sleep 0.3
t0=$(date +%s%N)
out=$(req GET /)
ms=$((($(date +%s%N) - t0) / 1000000))
[[ "$out" == 200* ]] && [ "$ms" -lt 500 ]; check slow-client-does-not-block $? "other client took $ms ms: $out"
wait $dpid
[ "$(cat "$work/dribble.out")" = "HTTP/1.1 200 OK" ]; check slow-client-served $? "$(cat "$work/dribble.out")"

# Many connections: beyond the cap new ones get 503; the API keeps serving after.
out=$(raw <<'EOF'
import socket, sys
held = []
for i in range(64):
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]); held.append(s)
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
first = ""
# the whole 503 is there: a body of exactly Content-Length bytes with the fault_message
resp = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk: break
        resp += chunk
except ConnectionResetError:
    pass
head, _, body = resp.partition(b"\r\n\r\n")
clen = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
if clen != [len(body)] or body != b'{"fault_message":"too many API connections"}':
    first += " bad-503 %r" % resp
first = resp.split(b"\r\n")[0].decode() + first
# every held connection is still served
ok = 0
for h in held:
    h.sendall(b"GET /version HTTP/1.1\r\n\r\n")
for h in held:
    if h.recv(4096).startswith(b"HTTP/1.1 200"): ok += 1
print(first, ok)
EOF
)
[ "$out" = "HTTP/1.1 503 Service Unavailable 64" ]; check connection-cap $? "$out"
ok=0
par=""
for i in $(seq 1 40); do
	req GET /machine-config > "$work/par.$i" &
	par="$par $!"
done
for p in $par; do wait "$p"; done
for i in $(seq 1 40); do [[ "$(cat "$work/par.$i" 2>/dev/null)" == 200* ]] && ok=$((ok + 1)); done
[ "$ok" -eq 40 ]; check concurrent-clients $? "$ok of 40 parallel requests answered 200"
expect alive-after-abuse GET / - 200 '"state":"Not started"'

kill -TERM "$epid"
wait "$epid"
rc=$?
[ "$rc" -eq 6 ]; check sigterm-exit-code $? "exit code $rc (want 6)"
[ ! -e "$sock" ]; check socket-removed $? "socket still exists after exit"

# Out of file descriptors: the API neither spins on the pending connection nor dies,
# and serves again once descriptors are free.
rm -f "$sock"
(ulimit -n 40 && exec "$ember" --api-sock "$sock" --log-path "$work/emfile.log") &
epid=$!
pids="$pids $epid"
wait_socket
out=$(raw "$epid" <<'EOF'
import socket, sys, time
def cpu(pid):
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
held = []
for i in range(60):
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]); held.append(s)
time.sleep(0.3)
t0 = cpu(sys.argv[2]); time.sleep(1); ticks = cpu(sys.argv[2]) - t0
for h in held: h.close()
time.sleep(0.3)
s = socket.socket(socket.AF_UNIX); s.settimeout(3); s.connect(sys.argv[1])
s.sendall(b"GET / HTTP/1.1\r\n\r\n")
print(ticks, s.recv(4096).split(b"\r\n")[0].decode())
EOF
)
ticks=${out%% *}
[ "${ticks:-999}" -lt 20 ] && [[ "$out" == *"HTTP/1.1 200 OK" ]]
check emfile-no-spin $? "$out (CPU ticks in 1 s while out of fds, then the answer)"
kill -TERM "$epid"; wait "$epid"

# Metrics are flushed on a timer too (Firecracker: every 60 s; here every second).
start_ember --metrics-path "$work/periodic.json" --metrics-interval 1
sleep 2.6
n=$(grep -c '"utc_timestamp_ms"' "$work/periodic.json" 2>/dev/null)
[ "${n:-0}" -ge 2 ]; check metrics-periodic $? "${n:-0} metrics lines after 2.6 s at one per second"
kill -TERM "$epid"; wait "$epid"
"$ember" --api-sock "$sock" --metrics-interval 1x >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'metrics-interval' "$work/err"; check metrics-interval-bad $? "rc $rc: $(cat "$work/err")"

# Front-end flags.
"$ember" --no-api >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'config-file' "$work/err"; check no-api-needs-config $? "rc $rc: $(cat "$work/err")"
echo '{"machine-config":{"vcpu_count":1,"mem_size_mib":64},"bogus":1}' > "$work/bad.json"
"$ember" --no-api --config-file "$work/bad.json" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'unknown field `bogus`' "$work/err"; check config-file-rejected $? "rc $rc: $(cat "$work/err")"
echo "{\"boot-source\":{\"kernel_image_path\":\"$work/vmlinux\"}}" > "$work/notkernel.json"
"$ember" --no-api --config-file "$work/notkernel.json" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 3 ]; check config-file-bad-kernel $? "rc $rc (want 3): $(cat "$work/err")"
touch "$sock"
"$ember" --api-sock "$sock" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'in use' "$work/err"; check socket-exists $? "rc $rc: $(cat "$work/err")"
rm -f "$sock"
"$ember" --help | grep -q -- '--api-sock'; check help-lists-api-flags $? "--help lacks --api-sock"
"$ember" --version | grep -q '^ember '; check version $? "--version"

exit $failed
