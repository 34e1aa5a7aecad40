#!/usr/bin/env bash
# Issue 17 #7: before InstanceStart the VMM thread parses request bodies, so it runs
# under the vmm_preboot filter from start-up, and every thread it starts inherits it.
# Configuring a VM over the API (drive, vsock, logger, metrics, snapshot load of a
# missing file) must not trip it, and --no-seccomp must leave every thread unfiltered.
# Needs no KVM.
#   tests/api/t_api_preboot_seccomp.sh [BUILD_DIR]
set -u
T=api-preboot-seccomp
. "$(dirname "$0")/lib.sh"

# field PID TID NAME: a field of /proc/PID/task/TID/status.
field() { awk -v f="$3:" '$1 == f { print $2 }' "/proc/$1/task/$2/status" 2>/dev/null; }

# filters PID: "TID:MODE:COUNT" for every thread, the main thread first.
filters() {
	local t out="$1:$(field "$1" "$1" Seccomp):$(field "$1" "$1" Seccomp_filters)"
	for t in /proc/"$1"/task/*; do
		t=${t##*/}
		[ "$t" = "$1" ] || out="$out $t:$(field "$1" "$t" Seccomp):$(field "$1" "$t" Seccomp_filters)"
	done
	echo "$out"
}

start_ember --id preboot
check started $? "the API socket did not answer"
f=$(filters "$epid")
main=${f%% *}
# The main thread: vmm_preboot only; the API thread: vmm_preboot and its own.
if [ "${main#*:}" = "2:1" ]; then pass main-thread-filtered; else
	fail main-thread-filtered "main thread mode:filters ${main#*:} (want 2:1); all: $f"
fi
case " $f " in
*":2:2 "*) pass api-thread-stacked ;;
*) fail api-thread-stacked "no thread with two filters: $f" ;;
esac

# What a client configures before the start: every body parsed, every file opened,
# under the filter.
truncate -s 1M "$work/disk.img"
expect put-drive PUT /drives/d0 \
	"{\"drive_id\":\"d0\",\"path_on_host\":\"$work/disk.img\",\"is_root_device\":false,\"is_read_only\":false}" 204
expect put-machine PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 64}' 204
expect put-vsock PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$work/v.sock\"}" 204
expect put-logger PUT /logger "{\"log_path\": \"$work/ember.log\", \"level\": \"Debug\"}" 204
expect put-metrics PUT /metrics "{\"metrics_path\": \"$work/metrics.json\"}" 204
expect flush-metrics PUT /actions '{"action_type": "FlushMetrics"}' 204
expect bad-json PUT /machine-config '{"vcpu_count": ' 400
expect snapshot-missing PUT /snapshot/load \
	"{\"snapshot_path\": \"$work/none.vmstate\", \"mem_backend\": {\"backend_path\": \"$work/none.mem\", \"backend_type\": \"File\"}}" 400
expect alive GET / - 200 '"state":"Not started"'
stop_ember
rc=$?
wait "$epid" 2>/dev/null
check stopped-by-sigterm $rc "ember did not stop on SIGTERM"
if grep -q "seccomp" "$work/ember.out"; then
	fail no-seccomp-error "$(grep seccomp "$work/ember.out" | head -2)"
else
	pass no-seccomp-error
fi

# --no-seccomp: no filter on any thread.
start_ember --id preboot-off --no-seccomp
check started-no-seccomp $? "the API socket did not answer"
f=$(filters "$epid")
case " $f " in
*":2:"*) fail no-seccomp-unfiltered "a filtered thread: $f" ;;
*) pass no-seccomp-unfiltered ;;
esac
stop_ember
exit $failed
