#!/bin/sh
# ember guest scenarios (busybox sh). Run by /init as PID 1:
#   /bin/sh /etc/ember/scenario.sh NAME
# Each scenario prints exactly one line
#   EMBER-RESULT <name> PASS|FAIL <details>
# and then reboots (reboot=k: ember exits 0). Parameters come from the kernel
# command line as ember.KEY=VALUE (read with arg KEY).
name=${1:-none}
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

arg() {
	for w in $(cat /proc/cmdline); do
		case $w in
		"ember.$1="*) echo "${w#*=}"; return 0 ;;
		esac
	done
	return 1
}

# Plain (non-ember.) kernel parameter.
arg_kernel() {
	for w in $(cat /proc/cmdline); do
		case $w in
		"$1="*) echo "${w#*=}"; return 0 ;;
		esac
	done
	return 1
}

finish() {
	sync
	mount -o remount,ro / 2>/dev/null
	reboot -f
	# Should not get here; keep PID 1 alive so that the kernel does not panic.
	while :; do sleep 3600; done
}

result() { # PASS|FAIL details...
	st=$1; shift
	echo "EMBER-RESULT $name $st $*"
}

pass() { result PASS "$@"; finish; }
fail() { result FAIL "$@"; finish; }

count_cpus() { # "0-3,5" -> 5
	n=0
	for r in $(echo "$1" | tr ',' ' '); do
		case $r in
		*-*) n=$((n + ${r#*-} - ${r%-*} + 1)) ;;
		'') ;;
		*) n=$((n + 1)) ;;
		esac
	done
	echo "$n"
}

# Directory holding the filesystem of /dev/vda: / when it is the root, else /mnt.
blk_dir() { # [ro]
	# The root filesystem shows up as /dev/root in /proc/mounts.
	rootdev=$(awk '$2 == "/" { d = $1 } END { print d }' /proc/mounts)
	if [ "$rootdev" = /dev/vda ] || { [ "$rootdev" = /dev/root ] && [ "$(arg_kernel root)" = /dev/vda ]; }; then
		echo /
		return 0
	fi
	[ -b /dev/vda ] || { echo "no /dev/vda"; return 1; }
	mkdir -p /mnt
	if [ "${1:-}" = ro ]; then
		mount -t ext4 -o ro /dev/vda /mnt 2>&1 || return 1
	else
		mount -t ext4 /dev/vda /mnt 2>&1 || return 1
	fi
	echo /mnt
}

case $name in
boot)
	pass "kernel=$(uname -r) cpus_online=$(cat /sys/devices/system/cpu/online) nproc=$(nproc)" \
		"uptime=$(cut -d' ' -f1 /proc/uptime) mem_kb=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)" \
		"root=$(awk '$2 == "/" { print $1 "," $3 }' /proc/mounts | tail -1)"
	;;
cpus)
	online=$(cat /sys/devices/system/cpu/online)
	n=$(count_cpus "$online")
	want=$(arg cpus) || fail "no ember.cpus= on the command line (online=$online)"
	[ "$n" = "$want" ] && pass "online=$n expected=$want ($online)"
	fail "online=$n expected=$want ($online)"
	;;
blk-write)
	token=$(arg token) || fail "no ember.token="
	dir=$(blk_dir) || fail "cannot mount /dev/vda: $dir"
	echo "$token" > "${dir%/}/ember-marker" || fail "cannot write ${dir%/}/ember-marker"
	sync
	got=$(cat "${dir%/}/ember-marker")
	[ "$got" = "$token" ] || fail "read back '$got', wrote '$token'"
	[ "$dir" = / ] || umount "$dir"
	pass "wrote token $token to ${dir%/}/ember-marker"
	;;
blk-read)
	token=$(arg token) || fail "no ember.token="
	dir=$(blk_dir ro) || fail "cannot mount /dev/vda: $dir"
	[ -f "${dir%/}/ember-marker" ] || fail "no ${dir%/}/ember-marker"
	got=$(cat "${dir%/}/ember-marker")
	[ "$dir" = / ] || umount "$dir"
	[ "$got" = "$token" ] || fail "marker holds '$got', expected '$token'"
	pass "marker holds token $token"
	;;
blk-swap)
	# The host swaps vdb's file (PATCH /drives) once it sees the READY line; the new
	# file is bigger and starts with ember.token.
	token=$(arg token) || fail "no ember.token="
	[ -r /sys/block/vdb/size ] || fail "no vdb"
	size0=$(cat /sys/block/vdb/size)
	echo "EMBER-SWAP-READY size=$size0"
	i=0
	while [ "$(cat /sys/block/vdb/size)" = "$size0" ] && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	size1=$(cat /sys/block/vdb/size)
	[ "$size1" != "$size0" ] || fail "vdb still has $size0 sectors after 30 s"
	got=$(dd if=/dev/vdb bs=512 count=1 2>/dev/null | head -c ${#token})
	[ "$got" = "$token" ] || fail "vdb resized $size0 -> $size1 but starts with '$got', not '$token'"
	pass "vdb resized $size0 -> $size1 sectors and holds the new file's token"
	;;
root-mount)
	# The root filesystem must be vda's, mounted as ember.want_root says (rw or ro).
	want=$(arg want_root) || fail "no ember.want_root="
	[ -r /sys/block/vda/dev ] || fail "no vda"
	vda=$(cat /sys/block/vda/dev)
	set -- $(awk '$5 == "/" { print $3, $6 }' /proc/self/mountinfo | tail -1)
	[ "$1" = "$vda" ] || fail "/ is on device $1, vda is $vda (cmdline: $(cat /proc/cmdline))"
	mode=${2%%,*}
	[ "$mode" = "$want" ] || fail "/ is mounted $mode, expected $want (options $2)"
	if [ "$want" = ro ] && echo x 2>/dev/null > /ember-ro-probe; then
		fail "/ is mounted ro but a write succeeded"
	fi
	pass "/ is vda ($vda) mounted $2"
	;;
blk-ro)
	[ -b /dev/vda ] || fail "no /dev/vda"
	ro=$(cat /sys/block/vda/ro 2>/dev/null)
	[ "$ro" = 1 ] || fail "/sys/block/vda/ro is '$ro', expected 1"
	if dd if=/dev/zero of=/dev/vda bs=512 count=1 seek=2000 conv=fsync 2>/dev/null; then
		fail "writing to read-only /dev/vda succeeded"
	fi
	pass "vda is read-only and rejects writes"
	;;
net)
	ip=$(arg ip) || fail "no ember.ip= (CIDR)"
	peer=$(arg peer) || fail "no ember.peer="
	i=0
	while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e /sys/class/net/eth0 ] || fail "no eth0"
	mac=$(cat /sys/class/net/eth0/address)
	ip link set lo up
	ip addr add "$ip" dev eth0 || fail "ip addr add $ip failed"
	ip link set eth0 up || fail "ip link set eth0 up failed"
	if want=$(arg mac); then
		[ "$mac" = "$want" ] || fail "eth0 mac $mac, expected $want"
	fi
	out=$(ping -c 3 -W 3 "$peer" 2>&1)
	if echo "$out" | grep -q ' 0% packet loss'; then
		pass "eth0 $mac $ip -> $peer: $(echo "$out" | grep 'packets transmitted')"
	fi
	if echo "$out" | grep -q 'packets received' && ! echo "$out" | grep -q ' 0 packets received'; then
		pass "eth0 $mac $ip -> $peer (some loss): $(echo "$out" | grep 'packets transmitted')"
	fi
	fail "ping $peer from $ip: $(echo "$out" | tail -2 | tr '\n' ' ')"
	;;
mmds)
	# MMDS: ember answers 169.254.169.254 itself (ARP and HTTP) on eth0.
	ip=$(arg ip) || fail "no ember.ip= (CIDR)"
	ver=$(arg mmds_version) || ver=V1
	want=$(arg mmds_want) || fail "no ember.mmds_want="
	md=169.254.169.254
	i=0
	while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e /sys/class/net/eth0 ] || fail "no eth0"
	ip link set lo up
	ip addr add "$ip" dev eth0 || fail "ip addr add $ip failed"
	ip link set eth0 up || fail "ip link set eth0 up failed"
	ip route add "$md/32" dev eth0 || fail "ip route add $md dev eth0 failed"
	hdr=""
	if [ "$ver" = V2 ]; then
		if out=$(wget -q -O - "http://$md/latest/meta-data/ami-id" 2>&1); then
			fail "V2: a GET without a token was answered: $out"
		fi
		# busybox wget cannot PUT: the token request goes through nc.
		resp=$(printf 'PUT /latest/api/token HTTP/1.0\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n' |
			nc -w 20 "$md" 80 2>&1)
		echo "$resp" | head -1 | grep -q ' 200 ' || fail "V2: token request: $(echo "$resp" | head -1)"
		tok=$(echo "$resp" | tail -n 1 | tr -d '\r')
		[ ${#tok} -ge 16 ] || fail "V2: no token in '$resp'"
		hdr="X-metadata-token: $tok"
	fi
	if [ -n "$hdr" ]; then
		val=$(wget -q -O - --header "$hdr" "http://$md/latest/meta-data/ami-id" 2>&1) ||
			fail "GET ami-id with a token: $val"
		list=$(wget -q -O - --header "$hdr" "http://$md/latest/meta-data/" 2>&1) ||
			fail "GET meta-data/ with a token: $list"
	else
		val=$(wget -q -O - "http://$md/latest/meta-data/ami-id" 2>&1) || fail "GET ami-id: $val"
		list=$(wget -q -O - "http://$md/latest/meta-data/" 2>&1) || fail "GET meta-data/: $list"
	fi
	[ "$val" = "$want" ] || fail "ami-id is '$val', expected '$want'"
	echo "$list" | grep -qx 'ami-id' || fail "meta-data/ lists '$(echo "$list" | tr '\n' ' ')'"
	echo "$list" | grep -qx 'placement/' || fail "meta-data/ lists '$(echo "$list" | tr '\n' ' ')' (no placement/)"
	mac=$(ip neigh show "$md" 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
	pass "$ver: ami-id=$val, listing ok, $md is at ${mac:-?}"
	;;
vsock)
	port=$(arg vsock_port) || port=5000
	mode=$(arg vsock_mode) || mode=listen
	token=$(arg token) || token=vsock-token
	case $mode in
	listen)
		echo "EMBER-VSOCK-LISTENING $port"
		out=$(ember-vsock listen "$port" 60 2>&1) || fail "listen on port $port: $out"
		echo "$out" | grep -q "^GOT .*$token" || fail "host sent '$out', expected token $token"
		pass "host connected to port $port and sent the token"
		;;
	connect)
		cid=$(arg vsock_cid) || cid=2
		out=$(ember-vsock connect "$cid" "$port" "hello $token" 30 2>&1) || fail "connect to $cid:$port: $out"
		echo "$out" | grep -q "^REPLY echo hello $token" || fail "unexpected answer '$out'"
		pass "connected to cid $cid port $port, echo ok"
		;;
	*) fail "unknown ember.vsock_mode=$mode" ;;
	esac
	;;
rng)
	cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
	case $cur in *virtio*) ;; *) fail "rng_current is '$cur', expected virtio" ;; esac
	[ -c /dev/hwrng ] || fail "no /dev/hwrng"
	n=$(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | wc -c)
	[ "$n" = 64 ] || fail "read $n bytes from /dev/hwrng, expected 64"
	hex=$(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')
	case $hex in *[1-9a-f]*) ;; *) fail "64 bytes from /dev/hwrng are all zero" ;; esac
	pass "read 64 bytes from /dev/hwrng via $cur"
	;;
balloon)
	# The host inflates the balloon to ember.balloon_mib MiB (PATCH /balloon) once it
	# sees the READY line; MemAvailable must fall by about that much. The host then
	# says "done" on the console (its --serial-input FIFO) and this guest reboots.
	want=$(arg balloon_mib) || fail "no ember.balloon_mib="
	ls -d /sys/bus/virtio/drivers/virtio_balloon/virtio* >/dev/null 2>&1 ||
		fail "the virtio_balloon driver has no device (CONFIG_VIRTIO_BALLOON?)"
	avail() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }
	before=$(avail)
	echo "EMBER-BALLOON-READY avail_kb=$before"
	# Every 0.5 s for 60 s: done at the full amount, or once at least half of it is
	# gone and the value has not moved for 2 s (the driver inflates 1 MiB at a time).
	last=$before same=0 i=0
	while [ $i -lt 120 ]; do
		sleep 0.5
		i=$((i + 1))
		now=$(avail)
		drop=$((before - now))
		[ $drop -lt $((want * 1024)) ] || break
		if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
		last=$now
		[ $drop -lt $((want * 512)) ] || [ $same -lt 4 ] || break
	done
	after=$(avail)
	echo "EMBER-BALLOON before_kb=$before after_kb=$after waited_ms=$((i * 500))"
	read -r -t 300 _done </dev/console
	drop=$((before - after))
	[ $drop -gt 0 ] || fail "MemAvailable did not fall: $before -> $after kB in $((i * 500)) ms"
	pass "MemAvailable $before -> $after kB (-$((drop / 1024)) MiB, balloon $want MiB)"
	;;
panic)
	echo "EMBER-RESULT panic PASS triggering a kernel panic (sysrq c)"
	echo 1 > /proc/sys/kernel/sysrq 2>/dev/null
	echo c > /proc/sysrq-trigger
	echo "EMBER-RESULT panic FAIL still alive after sysrq-trigger"
	finish
	;;
count)
	# The snapshot test's guest: counts on the console until the VM is stopped, and
	# runs each line typed on the console, answering on one line. No result line:
	# the host kills the VM.
	(while read -r line; do
		echo "EMBER-REPLY $(eval "$line" 2>&1 | tr '\n' ' ')"
	done </dev/console) &
	i=0
	while :; do
		echo "EMBER-COUNT $i"
		i=$((i + 1))
		sleep 0.2
	done
	;;
hang)
	echo "EMBER-RESULT hang PASS hanging forever (the host must stop this VM)"
	while :; do sleep 3600; done
	;;
*)
	fail "unknown scenario '$name'"
	;;
esac
