#!/usr/bin/env bash
# ember-jailer on this host, as root: runs tests/jailer/jailprobe.c in the jail and
# checks ids, root directory, namespaces, cgroups (v1 and v2), rlimits, daemonizing,
# exit status, capabilities, one error per bad argument, the jail path checks, the
# symlink race of issue 17 (tests/jailer/jailrace.c, on a decoy directory only) and
# the argument shapes of Firecracker's clients.
#   tests/jailer/t_jailer.sh [BUILD_DIR]      (make jailer-test builds what it needs)
# Removes every jail dir, cgroup and netns it makes; kills every process it starts.
set -u
build=${1:-build}
J=$build/ember-jailer
PROBE=$build/tests/jailer/jailprobe
RACE=$build/tests/jailer/jailrace
T=jailer
failed=0
pass() { echo "PASS $T/$1"; }
fail() { echo "FAIL $T/$1: $2"; failed=1; }
skip() { echo "SKIP $T/$1: $2"; }

if [ "$(id -u)" != 0 ]; then
	skip all "needs root"
	exit 0
fi
for f in "$J" "$PROBE" "$RACE"; do
	[ -x "$f" ] || { fail build "$f missing (make jailer-test)"; exit 1; }
done

work=$(mktemp -d /tmp/ember-jailer-test.XXXXXX)
tag=ejt$$ # parent cgroup and netns name, unique to this run
netns=""
pids=()
cg_dirs=() # parent cgroups to remove (deepest first)
v2_root_had_hugetlb=""
v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)

cleanup() {
	local p d
	for p in "${pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	for d in "${cg_dirs[@]}"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	if [ -n "$v2" ] && [ -z "$v2_root_had_hugetlb" ]; then
		echo -hugetlb >"$v2/cgroup.subtree_control" 2>/dev/null
	fi
	[ -z "$netns" ] || ip netns del "$netns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

v1_mount() { awk -v c="$1" '$3 == "cgroup" && ("," $4 ",") ~ ("," c ",") { print $2; exit }' /proc/mounts; }

# Starts the jailer in the background; its stdout goes to $work/$1.out. Sets $jpid.
start() {
	local name=$1
	shift
	"$J" "$@" >"$work/$name.out" 2>"$work/$name.err" &
	jpid=$!
	pids+=("$jpid")
}
# Waits for READY in $work/$1.out (5 s).
ready() {
	local i
	for i in $(seq 1 50); do
		grep -q '^READY' "$work/$1.out" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
field() { grep "^$2=" "$work/$1.out" | head -1 | cut -d= -f2-; }
status_ids() { awk -v k="$2:" '$1 == k { print $2, $3, $4, $5 }' "/proc/$1/status"; }
ns() { readlink "/proc/$1/ns/$2"; }
# Why the process has a capability or lacks no_new_privs ("" when all are gone).
caps_why() {
	local k v why=""
	for k in CapInh CapPrm CapEff CapBnd CapAmb; do
		v=$(awk -v k="$k:" '$1 == k { print $2 }' "/proc/$1/status")
		[ "$v" = 0000000000000000 ] || why="$why $k=$v"
	done
	v=$(awk '$1 == "NoNewPrivs:" { print $2 }' "/proc/$1/status")
	[ "$v" = 1 ] || why="$why NoNewPrivs=$v"
	printf '%s' "$why"
}

base=$work/jails

# --- 1. plain jail: ids, root, env, fds, devices, default rlimit, mount ns -----------
start basic --id basic-1 --exec-file "$PROBE" --uid 65534 --gid 65534 \
	--chroot-base-dir "$base" -- --sleep 30 one two 7</etc/hostname
if ! ready basic; then
	fail basic "probe never became ready: $(head -c 300 "$work/basic.err")"
else
	p=$jpid
	why=""
	[ "$(status_ids "$p" Uid)" = "65534 65534 65534 65534" ] || why="$why uid=$(status_ids "$p" Uid)"
	[ "$(status_ids "$p" Gid)" = "65534 65534 65534 65534" ] || why="$why gid=$(status_ids "$p" Gid)"
	[ -z "$(awk '$1 == "Groups:" { print $2 }' "/proc/$p/status")" ] || why="$why supplementary groups kept"
	[ "$(field basic root)" = "dev,jailprobe,jailprobe.pid,run" ] || why="$why root=$(field basic root)"
	[ "$(field basic env)" = 0 ] || why="$why env=$(field basic env)"
	[ "$(field basic fds)" = "0,1,2" ] || why="$why fds=$(field basic fds) (fd 7 leaked)"
	grep -q '^arg=one$' "$work/basic.out" && grep -q '^arg=two$' "$work/basic.out" || why="$why args not passed"
	[ "$(grep '^arg=' "$work/basic.out" | head -2 | tr '\n' ' ')" = "arg=--id arg=basic-1 " ] || why="$why --id not passed first"
	grep -q '^dev /dev/kvm=10:232 owner=65534:65534' "$work/basic.out" || why="$why /dev/kvm"
	grep -q '^dev /dev/net/tun=10:200 owner=65534:65534' "$work/basic.out" || why="$why /dev/net/tun"
	grep -q '^dev /dev/urandom=1:9 owner=65534:65534' "$work/basic.out" || why="$why /dev/urandom"
	# The host's /dev/userfaultfd, same numbers, when the host has one (Linux 6.1+).
	if [ -c /dev/userfaultfd ]; then
		uffd=$(stat -c '%t %T' /dev/userfaultfd)
		uffd=$((0x${uffd% *})):$((0x${uffd#* }))
		grep -q "^dev /dev/userfaultfd=$uffd owner=65534:65534" "$work/basic.out" ||
			why="$why /dev/userfaultfd (want $uffd: $(grep '^dev /dev/userfaultfd' "$work/basic.out"))"
	else
		grep -q '^dev /dev/userfaultfd=missing' "$work/basic.out" || why="$why /dev/userfaultfd made without the host's"
	fi
	grep -q '^rlimit nofile=2048 ' "$work/basic.out" || why="$why default no-file"
	[ "$(ns "$p" mnt)" != "$(ns $$ mnt)" ] || why="$why same mount ns"
	[ "$(ns "$p" pid)" = "$(ns $$ pid)" ] || why="$why pid ns changed without --new-pid-ns"
	[ "$(ns "$p" net)" = "$(ns $$ net)" ] || why="$why net ns changed without --netns"
	copy=$base/jailprobe/basic-1/root/jailprobe
	[ -f "$copy" ] && [ ! -L "$copy" ] && cmp -s "$copy" "$PROBE" || why="$why exec file not copied"
	[ "$(stat -c %u:%a "$copy")" = "0:755" ] || why="$why copy is $(stat -c %u:%a "$copy")"
	# The host's mount table is untouched.
	grep -q " $base" /proc/self/mounts && why="$why jail mount leaked to the host"
	[ -z "$why" ] && pass basic || fail basic "$why"
	# As Firecracker's jailer: the pid file in every mode; /, /dev, /dev/net and /run
	# given to uid:gid (the copy stays root's, checked above).
	why=""
	jr=$base/jailprobe/basic-1/root
	[ "$(cat "$jr/jailprobe.pid" 2>/dev/null)" = "$p" ] || why="$why pid file '$(cat "$jr/jailprobe.pid" 2>/dev/null)' != $p"
	for d in "" /dev /dev/net /run; do
		[ "$(stat -c %u:%g "$jr$d")" = 65534:65534 ] || why="$why $d/ is $(stat -c %u:%g "$jr$d")"
	done
	[ -z "$why" ] && pass firecracker_layout || fail firecracker_layout "$why"
	why=$(caps_why "$p")
	[ -z "$why" ] && pass caps_dropped || fail caps_dropped "left:$why"
fi

# --- 1b. the caller's umask does not reach the jail ----------------------------------
out=$(umask 077 && timeout 10 "$J" --id um --exec-file "$PROBE" --uid 65534 --gid 65534 \
	--chroot-base-dir "$base" -- --exit 5 2>&1 </dev/null)
rc=$?
why=""
[ $rc = 5 ] || why="rc $rc (want 5), said: $(printf '%s' "$out" | head -c 200)"
for d in jailprobe/um jailprobe/um/root jailprobe/um/root/dev jailprobe/um/root/dev/net; do
	[ "$(stat -c %a "$base/$d" 2>/dev/null)" = 755 ] || why="$why $d is $(stat -c %a "$base/$d" 2>/dev/null)"
done
[ -z "$why" ] && pass umask_077 || fail umask_077 "$why"

# --- 2. new pid ns, netns, cgroup v1, rlimits ----------------------------------------
netns=$tag
if ! ip netns add "$netns" 2>/dev/null; then
	netns=""
	skip v1_pidns_netns "cannot create a netns"
else
	cg_args=()
	for c in cpu cpuset pids; do
		m=$(v1_mount $c)
		[ -n "$m" ] && cg_dirs+=("$m/$tag")
	done
	start v1 --id v1 --exec-file "$PROBE" --uid 1234 --gid 4321 --chroot-base-dir "$base" \
		--netns "/var/run/netns/$netns" --new-pid-ns --parent-cgroup "$tag/sub" \
		--cgroup cpu.shares=512 --cgroup cpuset.cpus=0 --cgroup pids.max=20 \
		--resource-limit fsize=1048576 --resource-limit no-file=64 -- --sleep 30
	if ! ready v1; then
		fail v1_pidns_netns "probe never became ready: $(head -c 300 "$work/v1.err")"
	else
		pidfile=$base/jailprobe/v1/root/jailprobe.pid
		p=$(cat "$pidfile" 2>/dev/null)
		pids+=("$p")
		why=""
		[ -n "$p" ] && [ -d "/proc/$p" ] || why="no pid file"
		if [ -z "$why" ]; then
			[ "$(field v1 pid)" = 1 ] || why="$why pid in ns=$(field v1 pid)"
			[ "$(ns "$p" pid)" != "$(ns $$ pid)" ] || why="$why same pid ns"
			[ "$(ns "$p" mnt)" != "$(ns $$ mnt)" ] || why="$why same mount ns"
			want_net="net:[$(stat -L -c %i "/var/run/netns/$netns")]"
			[ "$(ns "$p" net)" = "$want_net" ] || why="$why net ns $(ns "$p" net) != $want_net"
			[ "$(status_ids "$p" Uid)" = "1234 1234 1234 1234" ] || why="$why uid"
			[ "$(status_ids "$p" Gid)" = "4321 4321 4321 4321" ] || why="$why gid"
			# The waiting parent outside the namespace is unprivileged too.
			[ "$(status_ids "$jpid" Uid)" = "1234 1234 1234 1234" ] || why="$why parent uid $(status_ids "$jpid" Uid)"
			grep -Eq '^Max open files +64 +64 ' "/proc/$p/limits" || why="$why no-file"
			grep -Eq '^Max file size +1048576 +1048576 ' "/proc/$p/limits" || why="$why fsize"
			for c in cpu cpuset pids; do
				m=$(v1_mount $c)
				grep -Eq "^[0-9]+:([^:]*,)?$c(,[^:]*)?:/$tag/sub/v1\$" "/proc/$p/cgroup" || why="$why not in $c:/$tag/sub/v1"
			done
			[ "$(cat "$(v1_mount cpu)/$tag/sub/v1/cpu.shares")" = 512 ] || why="$why cpu.shares"
			[ "$(cat "$(v1_mount cpuset)/$tag/sub/v1/cpuset.cpus")" = 0 ] || why="$why cpuset.cpus"
			[ -n "$(cat "$(v1_mount cpuset)/$tag/sub/cpuset.mems")" ] || why="$why cpuset.mems not inherited"
			[ "$(cat "$(v1_mount pids)/$tag/sub/v1/pids.max")" = 20 ] || why="$why pids.max"
		fi
		[ -z "$why" ] && pass v1_pidns_netns || fail v1_pidns_netns "$why"
	fi
fi

# v1 memory under this process's own memory cgroup, so the test never leaves it.
mm=$(v1_mount memory)
if [ -z "$mm" ]; then
	skip v1_memory "no cgroup v1 memory hierarchy"
else
	own=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
	own=${own#/}
	parent=${own:+$own/}$tag
	cg_dirs=("$mm/$parent" "${cg_dirs[@]}")
	start mem --id mem --exec-file "$PROBE" --uid 65534 --gid 65534 --chroot-base-dir "$base" \
		--parent-cgroup "$parent" --cgroup memory.limit_in_bytes=67108864 -- --sleep 30
	if ready mem && grep -q ":memory:/$parent/mem\$" "/proc/$jpid/cgroup" &&
		[ "$(cat "$mm/$parent/mem/memory.limit_in_bytes")" = 67108864 ]; then
		pass v1_memory
	else
		fail v1_memory "$(grep memory "/proc/$jpid/cgroup" 2>/dev/null) $(head -c 300 "$work/mem.err")"
	fi
fi

# --- 3. cgroup v2: controllers enabled all the way down -----------------------------
if [ -z "$v2" ]; then
	skip v2 "no cgroup2 mount"
elif ! grep -qw hugetlb "$v2/cgroup.controllers"; then
	skip v2 "no controller free for cgroup v2 here (cgroup.controllers: $(cat "$v2/cgroup.controllers"))"
else
	grep -qw hugetlb "$v2/cgroup.subtree_control" && v2_root_had_hugetlb=1
	cg_dirs=("$v2/$tag" "${cg_dirs[@]}")
	hfile=$(cd "$v2" && ls -d hugetlb.*.max 2>/dev/null | head -1)
	[ -n "$hfile" ] || hfile=hugetlb.2MB.max
	start v2 --id v2 --exec-file "$PROBE" --uid 65534 --gid 65534 --chroot-base-dir "$base" \
		--cgroup-version 2 --parent-cgroup "$tag/a/b" --cgroup "$hfile=2097152" \
		--cgroup cgroup.max.descendants=3 -- --sleep 30
	if ! ready v2; then
		fail v2 "probe never became ready: $(head -c 300 "$work/v2.err")"
	else
		why=""
		grep -qx "0::/$tag/a/b/v2" "/proc/$jpid/cgroup" || why="$why membership: $(grep '^0::' "/proc/$jpid/cgroup")"
		for d in "$v2" "$v2/$tag" "$v2/$tag/a" "$v2/$tag/a/b"; do
			grep -qw hugetlb "$d/cgroup.subtree_control" || why="$why hugetlb not enabled in $d"
		done
		[ "$(cat "$v2/$tag/a/b/v2/cgroup.max.descendants")" = 3 ] || why="$why cgroup.max.descendants"
		[ -f "$v2/$tag/a/b/v2/$hfile" ] || why="$why $hfile missing"
		[ -z "$why" ] && pass v2 || fail v2 "$why"
	fi
fi

# --- 4. exit status, with and without a pid namespace --------------------------------
"$J" --id st1 --exec-file "$PROBE" --uid 65534 --gid 65534 --chroot-base-dir "$base" \
	-- --exit 3 >/dev/null 2>&1
rc1=$?
"$J" --id st2 --exec-file "$PROBE" --uid 65534 --gid 65534 --chroot-base-dir "$base" \
	--new-pid-ns -- --exit 4 >/dev/null 2>&1
rc2=$?
[ $rc1 = 3 ] && [ $rc2 = 4 ] && pass exit_status || fail exit_status "got $rc1 and $rc2, want 3 and 4"

# --- 5. --daemonize: new session, stdio on /dev/null, pid file ------------------------
timeout 10 "$J" --id d1 --exec-file "$PROBE" --uid 65534 --gid 65534 --chroot-base-dir "$base" \
	--daemonize -- --sleep 30 >"$work/d.out" 2>&1
rc=$?
pidfile=$base/jailprobe/d1/root/jailprobe.pid
for _ in $(seq 1 30); do [ -s "$pidfile" ] && break; sleep 0.1; done
p=$(cat "$pidfile" 2>/dev/null)
[ -z "$p" ] || pids+=("$p")
why=""
[ $rc = 0 ] || why="jailer rc $rc"
if [ -n "$p" ] && [ -d "/proc/$p" ]; then
	[ "$(ps -o sid= -p "$p" | tr -d ' ')" = "$p" ] || why="$why not a session leader"
	[ "$(readlink "/proc/$p/fd/1")" = /dev/null ] || why="$why stdout is $(readlink "/proc/$p/fd/1")"
	[ ! -s "$work/d.out" ] || why="$why printed: $(head -c 100 "$work/d.out")"
else
	why="$why no daemon (pid file: '$p')"
fi
[ -z "$why" ] && pass daemonize || fail daemonize "$why"

# --- 5b. rlimits bind the VMM only, never the jailer working as root ----------------
# fsize=2 once killed the jailer with SIGXFSZ while it wrote the pid file.
timeout 10 "$J" --id rl1 --exec-file "$PROBE" --uid 65534 --gid 65534 --chroot-base-dir "$base" \
	--daemonize --resource-limit fsize=2 -- --sleep 30 >"$work/rl1.out" 2>&1
rc=$?
pidfile=$base/jailprobe/rl1/root/jailprobe.pid
p=$(cat "$pidfile" 2>/dev/null)
[ -z "$p" ] || pids+=("$p")
why=""
[ $rc = 0 ] || why="jailer rc $rc: $(head -c 200 "$work/rl1.out")"
grep -Eqx '[0-9]+' "$pidfile" 2>/dev/null || why="$why pid file holds '$p'"
# The daemon may not have reached exec yet when the jailer returns.
for _ in $(seq 1 30); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = jailprobe ] && break; sleep 0.1; done
if [ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = jailprobe ]; then
	grep -Eq '^Max file size +2 +2 ' "/proc/$p/limits" || why="$why VMM fsize not 2"
else
	why="$why no daemon"
fi
[ -z "$why" ] && pass rlimit_fsize_daemonize || fail rlimit_fsize_daemonize "$why"

# no-file=3 once made the jailer fail to open /proc/mounts in the cgroup step.
pm=$(v1_mount pids)
if [ -z "$pm" ]; then
	skip rlimit_nofile_cgroup "no cgroup v1 pids hierarchy"
else
	cg_dirs+=("$pm/$tag-rl")
	out=$(timeout 10 "$J" --id rl2 --exec-file "$PROBE" --uid 65534 --gid 65534 \
		--chroot-base-dir "$base" --parent-cgroup "$tag-rl" --cgroup pids.max=10 \
		--resource-limit no-file=3 -- --exit 0 2>&1 </dev/null)
	rc=$?
	if [ $rc = 0 ] && printf '%s\n' "$out" | grep -q '^rlimit nofile=3 ' &&
		[ "$(cat "$pm/$tag-rl/rl2/pids.max")" = 10 ]; then
		pass rlimit_nofile_cgroup
	else
		fail rlimit_nofile_cgroup "rc $rc, said: $(printf '%s' "$out" | head -c 200)"
	fi
fi

# --- 6. one error per bad argument ----------------------------------------------------
ln -s "$PROBE" "$work/link"
cp "$PROBE" "$work/hard1" && ln "$work/hard1" "$work/hard2"
ok=(--exec-file "$PROBE" --uid 65534 --gid 65534 --chroot-base-dir "$base")
# name | expected rc | expected message (grep -E) | arguments
neg() {
	local name=$1 want_rc=$2 want=$3
	shift 3
	local out rc
	out=$(timeout 10 "$J" "$@" 2>&1 </dev/null)
	rc=$?
	if [ "$rc" = "$want_rc" ] && printf '%s' "$out" | grep -Eq -e "$want"; then
		pass "error_$name"
	else
		fail "error_$name" "rc $rc (want $want_rc), said: $(printf '%s' "$out" | head -c 200)"
	fi
}
neg id_chars 2 "--id 'a b': 1..64 characters" --id "a b" "${ok[@]}"
neg id_long 2 "--id '.*': 1..64" --id "$(printf 'a%.0s' $(seq 1 65))" "${ok[@]}"
neg id_missing 2 "--id is required" "${ok[@]}"
neg exec_missing 2 "--exec-file is required" --id x --uid 1 --gid 1
neg uid_missing 2 "--uid and --gid are required" --id x --exec-file "$PROBE" --gid 1
neg uid_bad 2 "--uid 'abc': expected a number" --id x --exec-file "$PROBE" --uid abc --gid 1
neg gid_bad 2 "--gid '-1': expected a number" --id x --exec-file "$PROBE" --uid 1 --gid -1
neg base_relative 2 "--chroot-base-dir 'rel': expected an absolute path" --id x --exec-file "$PROBE" --uid 1 --gid 1 --chroot-base-dir rel
neg cgroup_version 2 "--cgroup-version '3': expected 1 or 2" --id x "${ok[@]}" --cgroup-version 3
neg cgroup_format 2 "--cgroup 'cpushares': expected CONTROLLER.FILE=VALUE" --id x "${ok[@]}" --cgroup cpushares
neg cgroup_path 2 "--cgroup '../x.y=1'" --id x "${ok[@]}" --cgroup ../x.y=1
# A pid that cannot exist: were the file accepted, no real process would be moved.
neg cgroup_v2_core 2 "--cgroup 'cgroup.procs=2147483647': of the cgroup.\* files only cgroup.max.descendants and cgroup.max.depth" --id x "${ok[@]}" --cgroup-version 2 --cgroup cgroup.procs=2147483647
neg cgroup_empty_value 2 "--cgroup 'memory.max=': the value is empty" --id x "${ok[@]}" --cgroup-version 2 --cgroup memory.max=
neg parent_dotdot 2 "--parent-cgroup '../up'" --id x "${ok[@]}" --parent-cgroup ../up
# The default parent cgroup is the exec file name, checked like a given one.
cp "$PROBE" "$work/tab$(printf '\t')name"
pm=$(v1_mount pids)
[ -z "$pm" ] || cg_dirs+=("$pm/tab$(printf '\t')name") # made only if the check is missing
neg parent_default 2 "--parent-cgroup 'tab.name' \(by default the exec file name\)" --id x --exec-file "$work/tab$(printf '\t')name" --uid 1 --gid 1 --chroot-base-dir "$base" --cgroup pids.max=5
neg rlimit_kind 2 "--resource-limit 'stack=5': unknown resource" --id x "${ok[@]}" --resource-limit stack=5
neg rlimit_value 2 "--resource-limit 'fsize=lots': expected fsize=N or no-file=N" --id x "${ok[@]}" --resource-limit fsize=lots
neg unknown_option 2 "unknown option '--bogus'" --id x "${ok[@]}" --bogus
neg missing_value 2 "--uid needs a value" --id x --exec-file "$PROBE" --gid 1 --uid
neg stray_arg 2 "unexpected argument 'stray'" --id x "${ok[@]}" stray
neg exec_symlink 1 "step 3 \(copy exec file\): $work/link: is a symbolic link" --id x --exec-file "$work/link" --uid 1 --gid 1 --chroot-base-dir "$base"
neg exec_hardlink 1 "step 3 \(copy exec file\): $work/hard1: has 2 hard links" --id x --exec-file "$work/hard1" --uid 1 --gid 1 --chroot-base-dir "$base"
neg exec_absent 1 "step 3 \(copy exec file\): $work/absent: No such file" --id x --exec-file "$work/absent" --uid 1 --gid 1 --chroot-base-dir "$base"
neg netns_absent 1 "step 4 \(netns\): $work/nons: No such file" --id x "${ok[@]}" --netns "$work/nons"
neg cgroup_v1_unknown 1 "step 5 \(cgroup\): /proc/mounts: no cgroup v1 hierarchy has the 'nosuch' controller" --id x "${ok[@]}" --cgroup nosuch.value=1
if [ -n "$v2" ] && ! grep -qw memory "$v2/cgroup.controllers"; then
	neg cgroup_v2_unavailable 1 "step 5 \(cgroup\): $v2/cgroup.controllers: controller 'memory' is not available" --id x "${ok[@]}" --cgroup-version 2 --cgroup memory.max=1M
fi
# A file where the jail directory should be.
mkdir -p "$work/blocked/jailprobe" && : >"$work/blocked/jailprobe/x"
neg jail_dir_blocked 1 "step 2 \(jail directory\): $work/blocked/jailprobe/x: exists and is not a directory" --id x --exec-file "$PROBE" --uid 1 --gid 1 --chroot-base-dir "$work/blocked"

# --- 7. uid 0 only on request, and then without any capability (issue 17) -------------
neg uid_root 2 "--uid 0 --gid 65534: refusing to run the VMM as root" --id x --exec-file "$PROBE" --uid 0 --gid 65534 --chroot-base-dir "$base"
neg gid_root 2 "--uid 65534 --gid 0: refusing to run the VMM as root" --id x --exec-file "$PROBE" --uid 65534 --gid 0 --chroot-base-dir "$base"
start root --id root-1 --exec-file "$PROBE" --uid 0 --gid 0 --allow-root --chroot-base-dir "$base" -- --sleep 30
if ! ready root; then
	fail allow_root "probe never became ready: $(head -c 300 "$work/root.err")"
else
	why=$(caps_why "$jpid")
	[ "$(status_ids "$jpid" Uid)" = "0 0 0 0" ] || why="$why uid=$(status_ids "$jpid" Uid)"
	[ "$(ns "$jpid" mnt)" != "$(ns $$ mnt)" ] || why="$why same mount ns"
	[ -z "$why" ] && pass allow_root || fail allow_root "$why"
fi

# --- 8. --exec-file that would block open(): a FIFO with no writer (issue 17) --------
mkfifo "$work/fifo"
neg exec_fifo 1 "step 3 \(copy exec file\): $work/fifo: not a regular file \(a FIFO\)" --id x --exec-file "$work/fifo" --uid 1 --gid 1 --chroot-base-dir "$base"

# --- 9. directories another user can change are refused (issue 17) -------------------
mkdir -p "$work/owned/jailprobe" "$work/gw/jailprobe" "$work/ln"
chown 65534:65534 "$work/owned"
chmod 0775 "$work/gw/jailprobe"
mkdir -p "$work/elsewhere"
ln -s "$work/elsewhere" "$work/ln/jailprobe"
neg base_not_root 1 "step 2 \(jail directory\): $work/owned: owned by uid 65534, not root" --id x "${ok[@]:0:6}" --chroot-base-dir "$work/owned"
neg dir_group_writable 1 "step 2 \(jail directory\): $work/gw/jailprobe: writable by group or others \(mode 775\)" --id x "${ok[@]:0:6}" --chroot-base-dir "$work/gw"
neg dir_symlink 1 "step 2 \(jail directory\): $work/ln/jailprobe: is a symbolic link" --id x "${ok[@]:0:6}" --chroot-base-dir "$work/ln"
[ -z "$(ls -A "$work/elsewhere")" ] && pass dir_symlink_untouched || fail dir_symlink_untouched "$(ls -A "$work/elsewhere")"
# A jail root an earlier run gave to its uid is not built on again.
neg jail_reused 1 "step 2 \(jail directory\): $base/jailprobe/basic-1/root: owned by uid 65534, not root" --id basic-1 "${ok[@]}"

# --- 10. the jail root swapped for a symlink to a decoy while the jailer runs ---------
# As the review did it: jailrace waits until the jailer's copy of the exec file
# appears in <id>/root (step 3), then exchanges <id>/root with <id>/swap, a symlink
# to the decoy. The decoy is a directory of this test, never the host's root. A
# jailer that goes back to the path after its copy builds the jail in the decoy
# (dev/kvm, dev/net/tun, dev/urandom). Round "owner": the chain below the base
# belongs to uid 65534, which runs the swap: every run must be refused at step 2.
# Round "root": a root-owned chain swapped by root, which only the descriptor walk
# survives: each run must swap and still run in the real jail.
# The probe padded to 8 MiB makes the copy, and so the window, last a while.
cp "$PROBE" "$work/jailprobe-big" && truncate -s 8M "$work/jailprobe-big"
race_round() {
	local name=$1 owner=$2 i rc rp out why="" ran=0 refused=0 swapped=0
	local rb=$work/race-$name decoy=$work/decoy-$name
	mkdir -p "$decoy"
	for i in $(seq 1 4); do
		local idd=$rb/jailprobe-big/r$i
		mkdir -p "$idd/root"
		ln -s "$decoy" "$idd/swap"
		[ "$owner" = 0 ] || chown -hR "$owner:$owner" "$rb"
		"$RACE" "$owner" "$owner" "$idd" root swap 20 >"$work/race.out" 2>&1 &
		rp=$!
		for _ in $(seq 1 50); do grep -q READY "$work/race.out" && break; sleep 0.1; done
		out=$(timeout 20 "$J" --id "r$i" --exec-file "$work/jailprobe-big" --uid 65534 \
			--gid 65534 --chroot-base-dir "$rb" -- --exit 0 2>&1 </dev/null)
		rc=$?
		# A run that got past step 2 has made the copy: the swap is due (the machine
		# may be busy), so it is waited for; a refused run made nothing to wait for.
		if [ $rc = 0 ]; then
			for _ in $(seq 1 30); do grep -q swapped "$work/race.out" && break; sleep 0.1; done
		fi
		grep -q swapped "$work/race.out" || kill "$rp" 2>/dev/null
		wait "$rp" 2>/dev/null
		grep -q swapped "$work/race.out" && swapped=$((swapped + 1))
		# Only the real jail's copy goes (the decoy keeps what it got, as evidence).
		for n in root swap; do [ -L "$idd/$n" ] || rm -f "$idd/$n/jailprobe-big"; done
		if [ $rc = 0 ]; then
			ran=$((ran + 1))
			printf '%s\n' "$out" | grep -qx 'root=dev,jailprobe-big,jailprobe-big.pid,run' ||
				why="$why run $i saw $(printf '%s\n' "$out" | grep '^root=')"
		elif printf '%s' "$out" | grep -q '^ember-jailer: step 2 (jail directory)'; then
			refused=$((refused + 1))
		else
			why="$why run $i: rc $rc: $(printf '%s' "$out" | head -c 150)"
		fi
	done
	[ -z "$(ls -A "$decoy")" ] || why="$why jail built in the decoy: $(cd "$decoy" && find . | tr '\n' ' ')"
	if [ "$owner" = 0 ]; then
		[ $swapped = 4 ] || why="$why the attacker swapped in $swapped of 4 runs only"
	else
		[ $refused = 4 ] || why="$why refused $refused of 4 runs in a path uid $owner controls"
	fi
	[ -z "$why" ] && pass "race_$name" || fail "race_$name" "$why (ran $ran, refused $refused, swapped $swapped)"
}
race_round owner 65534
race_round root 0

# --- 11. the arguments Firecracker's clients pass (issue 13) ------------------------
# firecracker-go-sdk (jailer.go): --id --uid --gid --exec-file [--cgroup cpuset.mems=N
# --cgroup cpuset.cpus=LIST] [--cgroup-version] --chroot-base-dir [--netns]
# [--daemonize] -- --api-sock /run/firecracker.socket; the VMM binds that socket.
gargs=()
cs=$(v1_mount cpuset)
if [ -n "$cs" ]; then
	gargs+=(--cgroup cpuset.mems=0 --cgroup cpuset.cpus=0 --cgroup-version 1)
	cg_dirs+=("$cs/jailprobe")
fi
[ -z "$netns" ] || gargs+=(--netns "/var/run/netns/$netns")
timeout 10 "$J" --id gosdk --uid 65534 --gid 65534 --exec-file "$PROBE" "${gargs[@]}" \
	--chroot-base-dir "$base" --daemonize -- --api-sock /run/firecracker.socket --sleep 30 \
	>"$work/gosdk.out" 2>&1 </dev/null
rc=$?
jr=$base/jailprobe/gosdk/root
for _ in $(seq 1 30); do [ -S "$jr/run/firecracker.socket" ] && break; sleep 0.1; done
p=$(cat "$jr/jailprobe.pid" 2>/dev/null)
[ -z "$p" ] || pids+=("$p")
why=""
[ $rc = 0 ] || why="jailer rc $rc: $(head -c 200 "$work/gosdk.out")"
[ -S "$jr/run/firecracker.socket" ] || why="$why no API socket at root/run/firecracker.socket"
[ "$(stat -c %u "$jr/run/firecracker.socket" 2>/dev/null)" = 65534 ] || why="$why socket not made by uid 65534"
if [ -n "$p" ] && [ -d "/proc/$p" ]; then
	[ -z "$netns" ] || [ "$(ns "$p" net)" = "net:[$(stat -L -c %i "/var/run/netns/$netns")]" ] || why="$why not in the netns"
	[ -z "$cs" ] || grep -Eq "^[0-9]+:([^:]*,)?cpuset(,[^:]*)?:/jailprobe/gosdk\$" "/proc/$p/cgroup" || why="$why not in cpuset:/jailprobe/gosdk"
else
	why="$why no daemon (pid file '$p')"
fi
[ -z "$why" ] && pass client_go_sdk || fail client_go_sdk "$why"

# Kata runtime-rs (firecracker/inner.rs): it makes root/run itself, then runs
# --id --gid 0 --uid 0 --exec-file --chroot-base-dir -- --api-sock /run//fc.sock.
# uid 0 needs --allow-root here (a wrapper named as Kata's jailer_path adds it).
mkdir -p "$base/jailprobe/kata/root/run"
kata=(--id kata --gid 0 --uid 0 --exec-file "$PROBE" --chroot-base-dir "$base")
neg client_kata_root 2 "refusing to run the VMM as root" "${kata[@]}" -- --api-sock /run//fc.sock
out=$(timeout 10 "$J" "${kata[@]}" --allow-root -- --api-sock /run//fc.sock --exit 0 2>&1 </dev/null)
rc=$?
if [ $rc = 0 ] && printf '%s\n' "$out" | grep -qx 'sock=ok' && [ -S "$base/jailprobe/kata/root/run/fc.sock" ]; then
	pass client_kata
else
	fail client_kata "rc $rc, said: $(printf '%s' "$out" | grep -v '^arg=' | head -c 200)"
fi

# --cgroup-version 2 with --parent-cgroup and no --cgroup: Firecracker's jailer moves
# the process into that cgroup when it exists, and leaves it where it is otherwise.
if [ -z "$v2" ]; then
	skip v2_parent_only "no cgroup2 mount"
else
	mkdir -p "$v2/$tag-par"
	cg_dirs+=("$v2/$tag-par")
	start v2p --id v2p --exec-file "$PROBE" --uid 65534 --gid 65534 --chroot-base-dir "$base" \
		--cgroup-version 2 --parent-cgroup "$tag-par" -- --sleep 30
	own=$(grep '^0::' /proc/self/cgroup)
	out=$(timeout 10 "$J" --id v2q --exec-file "$PROBE" --uid 65534 --gid 65534 \
		--chroot-base-dir "$base" --cgroup-version 2 --parent-cgroup "$tag-none" \
		-- --exit 0 2>&1 </dev/null)
	rc=$?
	why=""
	if ready v2p; then
		grep -qx "0::/$tag-par" "/proc/$jpid/cgroup" || why="membership: $(grep '^0::' "/proc/$jpid/cgroup")"
	else
		why="probe never became ready: $(head -c 300 "$work/v2p.err")"
	fi
	[ $rc = 0 ] || why="$why absent parent: rc $rc: $(printf '%s' "$out" | head -c 150)"
	[ ! -e "$v2/$tag-none" ] || why="$why $v2/$tag-none was made"
	[ -z "$why" ] && pass v2_parent_only || fail v2_parent_only "$why (own: $own)"
fi

exit $failed
