#!/usr/bin/env bash
# MMDS through the API and the flags (--metadata, --mmds-size-limit), with curl
# against a running `ember --api-sock` before boot. Needs no KVM.
#   tests/api/t_api_mmds.sh [BUILD_DIR]
set -u
T=api-mmds
. "$(dirname "$0")/lib.sh"

# --metadata fills the store; --mmds-size-limit bounds it (bytes of compact JSON).
printf '{ "latest": {"meta-data": {"ami-id": "ami-12345678"}},\n "b": [1, 2] }\n' >"$work/md.json"
start_ember --metadata "$work/md.json" --mmds-size-limit 100
expect metadata-loaded GET /mmds - 200 '={"b":[1,2],"latest":{"meta-data":{"ami-id":"ami-12345678"}}}'
expect patch PATCH /mmds '{"b":null,"c":"d"}' 204
expect patch-merged GET /mmds - 200 '={"c":"d","latest":{"meta-data":{"ami-id":"ami-12345678"}}}'
long=$(printf 'x%.0s' $(seq 1 100))
expect put-over-limit PUT /mmds "{\"a\":\"$long\"}" 413 "MMDS limit exceeded error: The MMDS patch request doesn't fit."
expect patch-over-limit PATCH /mmds "{\"a\":\"$long\"}" 413 "doesn't fit"
expect unchanged GET /mmds - 200 '={"c":"d","latest":{"meta-data":{"ami-id":"ami-12345678"}}}'
expect put-array PUT /mmds '["x"]' 204
expect put-bad-json PUT /mmds '{"a":' 400 "invalid JSON"
expect config-no-iface PUT /mmds/config '{"network_interfaces":["eth0"]}' 400 "does not correspond to any existing network interface"
expect net PUT /network-interfaces/eth0 '{"iface_id":"eth0","host_dev_name":"tap0"}' 204
expect config-not-link-local PUT /mmds/config '{"network_interfaces":["eth0"],"ipv4_address":"10.0.0.1"}' 400 "not link local"
expect config-v2 PUT /mmds/config '{"version":"V2","network_interfaces":["eth0"],"ipv4_address":"169.254.170.1"}' 204
expect vm-config GET /vm/config - 200 '"mmds-config":{"version":"V2","network_interfaces":["eth0"],"ipv4_address":"169.254.170.1","imds_compat":false}'
curl -s -i -m 5 --unix-socket "$sock" -X PUT -d '{"network_interfaces":["eth0"]}' http://localhost/mmds/config | grep -qi '^Deprecation: true'
check config-v1-deprecated $? "PUT /mmds/config with V1 lacks Deprecation: true"
stop_ember

# Bad flags and files fail at start, naming the problem.
echo '{"a":' >"$work/bad.json"
"$ember" --api-sock "$sock" --metadata "$work/bad.json" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'metadata.*invalid JSON' "$work/err"; check metadata-bad-json $? "rc $rc: $(cat "$work/err")"
"$ember" --api-sock "$sock" --metadata "$work/md.json" --mmds-size-limit 10 >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] && grep -q "doesn't fit" "$work/err"; check metadata-over-limit $? "rc $rc: $(cat "$work/err")"
"$ember" --api-sock "$sock" --metadata "$work/none.json" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'none.json' "$work/err"; check metadata-missing $? "rc $rc: $(cat "$work/err")"
"$ember" --api-sock "$sock" --mmds-size-limit x >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'mmds-size-limit' "$work/err"; check size-limit-bad $? "rc $rc: $(cat "$work/err")"
touch "$work/vmlinux"
echo "{\"boot-source\":{\"kernel_image_path\":\"$work/vmlinux\"},\"mmds-config\":{\"network_interfaces\":[\"eth9\"]}}" >"$work/cfg.json"
"$ember" --no-api --config-file "$work/cfg.json" >/dev/null 2>"$work/err"; rc=$?
[ "$rc" -eq 2 ] && grep -q 'does not correspond to any existing network interface' "$work/err"
check config-file-mmds-checked $? "rc $rc: $(cat "$work/err")"
rm -f "$sock"
exit $failed
