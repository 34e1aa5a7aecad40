#!/usr/bin/env bash
# The request sequences real Firecracker clients send, taken from their source, against
# `ember --api-sock` before boot (a fake kernel: nothing here boots; the post-boot
# PATCH /drives of firecracker-containerd and Kata runs in tests/kvm/t_compat.sh):
#   - firecracker-go-sdk, handlers.go defaultFcInitHandlerList: logger, metrics,
#     machine-config, boot-source, drives (DrivesBuilder puts the root drive last),
#     network interfaces, vsock (with the deprecated vsock_id);
#   - firecracker-containerd (runtime/service.go, drive_handler.go): the go-SDK with
#     its logger and metrics on FIFOs nobody reads yet, plus stub drives ctrstubN;
#   - Kata (src/runtime/virtcontainers/fc.go): its fcConfig bodies: a read-only rootfs
#     that is not the root device, 8 pool drives drive_0..drive_7, empty rx/tx rate
#     limiters on every interface, vsock_id "root", logger and metrics on FIFOs.
# JSON as Go's encoding/json writes the go-swagger models (fields in alphabetical
# order, omitempty ones left out).
#   tests/api/t_api_clients.sh [BUILD_DIR]
set -u
T=api-clients
. "$(dirname "$0")/lib.sh"

printf '\177ELF' >"$work/vmlinux"
dd if=/dev/zero of="$work/rootfs.ext4" bs=1024 count=64 2>/dev/null
# Every step must succeed, and quickly: a FIFO open that waited for a reader would
# hold the VMM thread.
step() { # NAME METHOD PATH BODY
	expect_fast "$1" 2000 "$2" "$3" "$4" 204
}
deprecation_header() { # PATH BODY: 0 if the PUT answers with Deprecation: true
	curl -s -m 5 -D "$work/headers" -o /dev/null --unix-socket "$sock" -X PUT \
		-H 'Content-Type: application/json' -d "$2" "http://localhost$1"
	grep -qi '^Deprecation: true' "$work/headers"
}

# --- firecracker-go-sdk: the boot order --------------------------------------------------
start_ember --id go-sdk
step go-sdk/logger PUT /logger "{\"level\":\"Debug\",\"log_path\":\"$work/sdk.log\",\"show_level\":true,\"show_log_origin\":false}"
step go-sdk/metrics PUT /metrics "{\"metrics_path\":\"$work/sdk.metrics\"}"
step go-sdk/machine-config PUT /machine-config '{"mem_size_mib":256,"smt":false,"vcpu_count":2}'
step go-sdk/boot-source PUT /boot-source "{\"boot_args\":\"console=ttyS0 reboot=k panic=1 pci=off\",\"kernel_image_path\":\"$work/vmlinux\"}"
cp "$work/rootfs.ext4" "$work/data.ext4"
step go-sdk/drive-1 PUT /drives/1 "{\"drive_id\":\"1\",\"is_read_only\":false,\"is_root_device\":false,\"path_on_host\":\"$work/data.ext4\"}"
step go-sdk/drive-root PUT /drives/root_drive "{\"drive_id\":\"root_drive\",\"is_read_only\":false,\"is_root_device\":true,\"path_on_host\":\"$work/rootfs.ext4\"}"
step go-sdk/network-interface PUT /network-interfaces/1 '{"guest_mac":"06:00:ac:10:00:02","host_dev_name":"tap0","iface_id":"1"}'
if deprecation_header /vsock "{\"guest_cid\":3,\"uds_path\":\"$work/v.sock\",\"vsock_id\":\"vsock0\"}"; then
	pass go-sdk/vsock-deprecation-header
else
	fail go-sdk/vsock-deprecation-header "PUT /vsock with vsock_id: $(tr -d '\r' <"$work/headers" | head -3 | tr '\n' ' ')"
fi
# The root drive is the first virtio-blk device though the SDK PUT it last.
out=$(req GET /vm/config)
case "$out" in
200*'"drives":[{"drive_id":"root_drive"'*) pass go-sdk/root-drive-first ;;
*) fail go-sdk/root-drive-first "GET /vm/config: ${out:0:300}" ;;
esac
stop_ember

# --- firecracker-containerd: logger and metrics on FIFOs, stub drives --------------------
mkfifo "$work/fc.log.fifo" "$work/fc.metrics.fifo"
start_ember --id containerd
step containerd/logger-fifo PUT /logger "{\"level\":\"Debug\",\"log_path\":\"$work/fc.log.fifo\",\"show_level\":true,\"show_log_origin\":false}"
step containerd/metrics-fifo PUT /metrics "{\"metrics_path\":\"$work/fc.metrics.fifo\"}"
step containerd/machine-config PUT /machine-config '{"mem_size_mib":128,"smt":false,"vcpu_count":1}'
step containerd/boot-source PUT /boot-source "{\"boot_args\":\"console=ttyS0 noapic reboot=k panic=1 pci=off nomodules rw\",\"kernel_image_path\":\"$work/vmlinux\"}"
for i in 0 1 2; do
	dd if=/dev/zero of="$work/ctrstub$i" bs=512 count=1 2>/dev/null
	step containerd/stub-drive-$i PUT /drives/ctrstub$i "{\"drive_id\":\"ctrstub$i\",\"is_read_only\":false,\"is_root_device\":false,\"path_on_host\":\"$work/ctrstub$i\"}"
done
step containerd/root-drive PUT /drives/root_drive "{\"drive_id\":\"root_drive\",\"is_read_only\":true,\"is_root_device\":true,\"path_on_host\":\"$work/rootfs.ext4\"}"
step containerd/vsock PUT /vsock "{\"guest_cid\":3,\"uds_path\":\"$work/c.sock\",\"vsock_id\":\"agent_api\"}"
step containerd/flush-metrics PUT /actions '{"action_type":"FlushMetrics"}'
# A PATCH before boot is Firecracker's refusal, not a hang.
expect containerd/patch-before-boot PATCH /drives/ctrstub0 "{\"drive_id\":\"ctrstub0\",\"path_on_host\":\"$work/rootfs.ext4\"}" 400 "before starting"
stop_ember

# --- Kata: its fcConfig bodies ---------------------------------------------------------
mkfifo "$work/kata.log" "$work/kata.metrics"
start_ember --id kata
step kata/machine-config PUT /machine-config '{"mem_size_mib":2048,"smt":false,"vcpu_count":1}'
step kata/boot-source PUT /boot-source "{\"boot_args\":\"console=hvc0 reboot=k panic=1 pci=off root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4\",\"kernel_image_path\":\"$work/vmlinux\"}"
step kata/rootfs PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"is_read_only\":true,\"is_root_device\":false,\"path_on_host\":\"$work/rootfs.ext4\"}"
for i in 0 1 2 3 4 5 6 7; do
	: >"$work/drive_$i"
	step kata/pool-drive-$i PUT /drives/drive_$i "{\"cache_type\":\"Writeback\",\"drive_id\":\"drive_$i\",\"is_read_only\":false,\"is_root_device\":false,\"path_on_host\":\"$work/drive_$i\"}"
done
step kata/logger PUT /logger "{\"level\":\"Error\",\"log_path\":\"$work/kata.log\"}"
step kata/metrics PUT /metrics "{\"metrics_path\":\"$work/kata.metrics\"}"
step kata/vsock PUT /vsock "{\"guest_cid\":3,\"uds_path\":\"$work/kata.hvsock\",\"vsock_id\":\"root\"}"
step kata/network-interface PUT /network-interfaces/eth0 '{"guest_mac":"02:42:ac:11:00:02","host_dev_name":"tap0_kata","iface_id":"eth0","rx_rate_limiter":{},"tx_rate_limiter":{}}'
out=$(req GET /vm/config)
n=$(grep -o '"drive_id":"drive_[0-7]"' <<<"$out" | wc -l)
if [[ "$out" == 200* ]] && [ "$n" -eq 8 ] && [[ "$out" == *'"rx_rate_limiter":null,"tx_rate_limiter":null'* ]] &&
	[[ "$out" == *'"cache_type":"Writeback"'* ]]; then
	pass kata/vm-config
else
	fail kata/vm-config "$n pool drives; ${out:0:400}"
fi
stop_ember

exit $failed
