#!/usr/bin/env bash
# The version clients check (issue 13 #7) and the host's cap on guest memory
# (issue 17 #8).
#   tests/api/t_api_version_mem.sh [BUILD_DIR]
# FC_API_SPEC=path/to/firecracker.yaml (default: ../shared/reference/firecracker-api.yaml
# beside the checkout) also compares with the spec's info.version.
set -u
T=api-version-mem
. "$(dirname "$0")/lib.sh"

# --- version --------------------------------------------------------------------
"$ember" --version >"$work/version" 2>&1
# Kata's runtime (virtcontainers/fc.go parseVersion): first line, second
# space-separated field, leading "v" removed, then semver with a minimum (0.21.1).
first=$(head -1 "$work/version")
kata=$(awk '{ print $2 }' <<<"$first")
kata=${kata#v}
[[ "$kata" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] && [[ "$first" == "Firecracker v"* ]]
check version-kata-parse $? "first line '$first' gives '$kata', not X.Y.Z"
major=${kata%%.*}
[ "${major:-0}" -ge 1 ] 2>/dev/null
check version-above-kata-minimum $? "'$kata' is older than the 1.x API ember implements"
grep -Eq '^ember [0-9]+\.[0-9]+\.[0-9]+' "$work/version"
check version-ember-line $? "no 'ember X.Y.Z' line: $(cat "$work/version")"

start_ember --id ver
expect get-version GET /version - 200 "\"firecracker_version\":\"$kata\""
expect get-root-vmm-version GET / - 200 "\"vmm_version\":\"$kata\""
body=$(req GET /version)
[[ "$body" != *-dev* ]]
check version-no-dev $? "$body"
# The project's copy of the spec sits in shared/ beside the checkout (CI lays it there).
: "${FC_API_SPEC:=$(cd "$(dirname "$0")/../.." && pwd)/../shared/reference/firecracker-api.yaml}"
if [ -f "$FC_API_SPEC" ]; then
	spec=$(sed -n 's/^  version: *\([0-9.]*\).*/\1/p' "$FC_API_SPEC" | head -1)
	[ "$spec" = "$kata" ]
	check version-is-spec $? "spec info.version $spec, ember reports $kata"
else
	echo "SKIP $T/version-is-spec: FC_API_SPEC is not set to Firecracker's firecracker.yaml"
fi
stop_ember

# --- memory cap -------------------------------------------------------------------
start_ember --id mem --mem-max-mib 1024
check started-with-cap $? "ember --mem-max-mib 1024 did not serve"
expect mem-over-cap PUT /machine-config '{"vcpu_count":1,"mem_size_mib":2048}' 400 \
	"more than this host allows (1024 MiB"
expect mem-over-cap-names-flag PUT /machine-config '{"vcpu_count":1,"mem_size_mib":1025}' 400 \
	"--mem-max-mib"
expect mem-at-cap PUT /machine-config '{"vcpu_count":1,"mem_size_mib":1024}' 204
expect mem-patch-over-cap PATCH /machine-config '{"mem_size_mib":4096}' 400 "1024 MiB"
expect mem-unchanged GET /machine-config - 200 '"mem_size_mib":1024'
# However large, the answer is the cap's, naming the field and the cap, for PUT and
# PATCH alike: above the 1 TiB ember can map, at 2^64-1, and past 64 bits.
cap_msg="MiB is more than this host allows (1024 MiB, set by ember --mem-max-mib"
for huge in 1048577 99999999 18446744073709551615 184467440737095516150; do
	expect "mem-put-huge-$huge" PUT /machine-config "{\"vcpu_count\":1,\"mem_size_mib\":$huge}" 400 \
		"mem_size_mib: $huge $cap_msg"
	expect "mem-patch-huge-$huge" PATCH /machine-config "{\"mem_size_mib\":$huge}" 400 \
		"mem_size_mib: $huge $cap_msg"
done
expect mem-zero-names-cap PATCH /machine-config '{"mem_size_mib":0}' 400 "out of range 1..1024"
expect mem-unchanged-after-huge GET /machine-config - 200 '"mem_size_mib":1024'
stop_ember

# The default cap is the host's RAM: 1 TiB is refused on any smaller host.
host_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
start_ember --id mem-default
if [ "${host_mib:-0}" -lt 1048576 ]; then
	expect mem-1tib-default PUT /machine-config '{"vcpu_count":1,"mem_size_mib":1048576}' 400 \
		"more than this host allows"
	over=$((host_mib + 64))
	expect mem-over-host-ram PUT /machine-config "{\"vcpu_count\":1,\"mem_size_mib\":$over}" 400 \
		"--mem-max-mib"
else
	echo "SKIP $T/mem-1tib-default: this host has 1 TiB of RAM or more"
fi
expect mem-small-default PUT /machine-config '{"vcpu_count":1,"mem_size_mib":256}' 204
stop_ember

# The CLI and the config file go through the same check.
touch "$work/vmlinux"
"$ember" --kernel "$work/vmlinux" --mem-mib 2048 --mem-max-mib 1024 >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 2 ] && grep -q "1024 MiB" "$work/err"
check cli-mem-over-cap $? "rc $rc: $(cat "$work/err")"
echo "{\"boot-source\":{\"kernel_image_path\":\"$work/vmlinux\"},\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":2048}}" >"$work/vm.json"
"$ember" --no-api --config-file "$work/vm.json" --mem-max-mib 1024 >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 2 ] && grep -q "more than this host allows" "$work/err"
check config-file-mem-over-cap $? "rc $rc: $(cat "$work/err")"
# The same message from the config file and the command line, huge values too.
for huge in 2048 18446744073709551615 184467440737095516150; do
	echo "{\"boot-source\":{\"kernel_image_path\":\"$work/vmlinux\"},\"machine-config\":{\"vcpu_count\":1,\"mem_size_mib\":$huge}}" >"$work/vm.json"
	"$ember" --no-api --config-file "$work/vm.json" --mem-max-mib 1024 >/dev/null 2>"$work/err"
	rc=$?
	[ $rc -eq 2 ] && grep -qF "mem_size_mib: $huge $cap_msg" "$work/err"
	check "config-file-mem-huge-$huge" $? "rc $rc: $(cat "$work/err")"
	"$ember" --kernel "$work/vmlinux" --mem-mib "$huge" --mem-max-mib 1024 >/dev/null 2>"$work/err"
	rc=$?
	[ $rc -eq 2 ] && grep -qF "mem_size_mib: $huge $cap_msg" "$work/err"
	check "cli-mem-huge-$huge" $? "rc $rc: $(cat "$work/err")"
done
for bad in 0 abc 1048577 -5; do
	"$ember" --mem-max-mib "$bad" --kernel "$work/vmlinux" >/dev/null 2>"$work/err"
	rc=$?
	[ $rc -eq 2 ] && grep -q -- "--mem-max-mib" "$work/err"
	check "mem-max-bad-$bad" $? "rc $rc: $(cat "$work/err")"
done
"$ember" --help | grep -q -- '--mem-max-mib'
check help-lists-mem-max $? "--help lacks --mem-max-mib"

exit $failed
