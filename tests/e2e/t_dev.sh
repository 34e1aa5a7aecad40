#!/bin/sh
# virtio devices: net over a tap, vsock both ways, rng.
E2E_ROOT=$1
. "$(dirname "$0")/lib.sh"

# --- net -----------------------------------------------------------------------
if need_files net "$VMLINUX" "$INITRD"; then
	tap=embt$$
	tap=$(echo "$tap" | cut -c1-15)
	mac=06:00:ac:1e:00:02
	made=""
	if [ "$(id -u)" != 0 ]; then
		skip net "needs root to create a tap"
	elif [ ! -c /dev/net/tun ]; then
		skip net "no /dev/net/tun"
	else
		if ip tuntap add dev "$tap" mode tap 2>/dev/null; then
			made="ip link del $tap"
		elif command -v tunctl >/dev/null && tunctl -t "$tap" >/dev/null 2>&1; then
			made="tunctl -d $tap"
		fi
		if [ -z "$made" ]; then
			fail net "cannot create tap $tap (ip tuntap / tunctl)"
		else
			E2E_CLEANUP="${E2E_CLEANUP:+$E2E_CLEANUP; }$made >/dev/null 2>&1"
			ip addr add 172.30.0.1/30 dev "$tap"
			ip link set "$tap" up
			vm_run net "$VM_TIMEOUT" --kernel "$VMLINUX" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
				--serial stdout --net "tap=$tap,mac=$mac" \
				--cmdline "$CMDLINE_BASE ember.test=net ember.ip=172.30.0.2/30 ember.peer=172.30.0.1 ember.mac=$mac"
			expect_pass net net
			$made >/dev/null 2>&1
		fi
	fi
fi

# --- vsock ------------------------------------------------------------------------
# guest -> host: the guest connects to CID 2 port 5001; ember forwards to <uds>_5001.
if need_files vsock-guest-to-host "$VMLINUX" "$INITRD" "$VSOCK_HELPER"; then
	uds=$E2E_WORK/v.sock
	tok=$(token)
	"$VSOCK_HELPER" uds-listen "${uds}_5001" "$VM_TIMEOUT" > "$E2E_WORK/vs-host.out" 2>&1 &
	hpid=$!
	E2E_PIDS="$E2E_PIDS $hpid"
	i=0; while [ ! -S "${uds}_5001" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	vm_run vsock-g2h "$VM_TIMEOUT" --kernel "$VMLINUX" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
		--serial stdout --vsock "cid=3,uds=$uds" \
		--cmdline "$CMDLINE_BASE ember.test=vsock ember.vsock_mode=connect ember.vsock_port=5001 ember.token=$tok"
	if expect_pass vsock-guest-to-host vsock; then
		grep -q "^GOT hello $tok" "$E2E_WORK/vs-host.out" && pass vsock-host-received \
			|| fail vsock-host-received "host listener got: $(head -c 200 "$E2E_WORK/vs-host.out")"
	fi
	kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null; forget_pid "$hpid"
	rm -f "$uds" "${uds}_5001"
fi

# host -> guest: the guest listens on port 5002; the host connects through ember's
# Unix socket with "CONNECT 5002".
if need_files vsock-host-to-guest "$VMLINUX" "$INITRD" "$VSOCK_HELPER"; then
	uds=$E2E_WORK/v2.sock
	tok=$(token)
	vm_start vsock-h2g --kernel "$VMLINUX" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
		--serial stdout --vsock "cid=3,uds=$uds" \
		--cmdline "$CMDLINE_BASE ember.test=vsock ember.vsock_mode=listen ember.vsock_port=5002 ember.token=$tok"
	if ! wait_line "$VM_OUT" '^EMBER-VSOCK-LISTENING 5002' "$VM_TIMEOUT"; then
		vm_kill
		VM_RC="killed($VM_KILLED)"
		fail vsock-host-to-guest "guest never listened on vsock port 5002; $(vm_why)"; vm_dump
	else
		sleep 0.5   # the LISTENING line is printed just before listen(2)
		out=""
		for attempt in 1 2 3 4 5; do
			out=$("$VSOCK_HELPER" uds-connect "$uds" 5002 "hello $tok" 30 2>&1) && break
			sleep 1
		done
		vm_wait "$VM_TIMEOUT"
		if echo "$out" | grep -q "^REPLY echo hello $tok"; then
			expect_pass vsock-host-to-guest vsock
		else
			fail vsock-host-to-guest "host side: $(echo "$out" | tr '\n' ' ' | cut -c1-200); $(vm_why)"; vm_dump
		fi
	fi
	rm -f "$uds"
fi

# --- rng ----------------------------------------------------------------------------
if need_files rng "$VMLINUX" "$INITRD"; then
	vm_run rng "$VM_TIMEOUT" --kernel "$VMLINUX" --initrd "$INITRD" --vcpus 1 --mem-mib "$VM_MEM" \
		--serial stdout --rng --cmdline "$CMDLINE_BASE ember.test=rng"
	expect_pass rng rng
fi
