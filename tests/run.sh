#!/usr/bin/env bash
# Runs every test tier and ends with `N passed, N failed, N skipped`.
# Each tier prints PASS/FAIL/SKIP lines; this script only runs and counts them.
#   unit   ember's objects in-process (glibc), no KVM
#   asan   the same under ASan+UBSan
#   host   tests that need root or sockets but no KVM (API over curl, jailer, fuzz smoke)
#   kvm    the probe guest on any usable /dev/kvm, else inside the nested test host
#   e2e    a real Linux guest on hardware KVM, else inside the nested test host
#   arm64  ember for aarch64 and an arm64 guest inside the nested arm64 host (make test
#          builds what it needs first; so does make test-arm64, the tier alone)
# tests/lib/kvmhost.sh decides where (EMBER_KVM_WHERE=direct|nested forces it).
# TIERS="unit asan" tests/run.sh runs a subset.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
tiers=${TIERS:-unit asan host kvm e2e arm64}
kvmhost_root=$root
. tests/lib/kvmhost.sh
log=$build/test-results.log
mkdir -p "$build"
: >"$log"

# Lines are shown as they come and kept for the count.
run_tier() {
	local name=$1
	shift
	echo "=== $name"
	local start=$SECONDS
	"$@" 2>&1 | tee -a "$log" | grep --line-buffered -v '^$' || true
	echo "=== $name: $((SECONDS - start)) s"
}

has_tier() { case " $tiers " in *" $1 "*) return 0 ;; esac; return 1; }

# run_verdict NAME CMD...: CMD prints its own PASS/FAIL/SKIP lines; if it fails
# without saying so (a build error, a crash), that is a FAIL of its own.
run_verdict() {
	local name=$1 out rc=0
	shift
	out=$(mktemp)
	"$@" >"$out" 2>&1 || rc=$?
	cat "$out"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		echo "FAIL $name: exited with status $rc without a FAIL line"
	elif ! grep -qE '^(PASS|FAIL|SKIP) ' "$out"; then
		echo "FAIL $name: printed no PASS, FAIL or SKIP line"
	fi
	rm -f "$out"
}

host_tier() {
	local t ran=0
	for t in tests/lib/t_*.sh tests/api/t_*.sh tests/jailer/t_*.sh; do
		[ -f "$t" ] || continue
		ran=1
		run_verdict "host/$(basename "$t" .sh)" timeout 600 bash "$t"
	done
	[ $ran = 1 ] || echo "FAIL host: no host-tier tests in this tree"
	run_verdict fuzz/api make --no-print-directory -s fuzz-smoke
}

# The kvm tier's payload: binaries and scripts that tests/kvm/run.sh needs.
kvm_payload() {
	local p=$build/kvm-payload
	rm -rf "$p"
	mkdir -p "$p/bin"
	cp tests/kvm/*.sh "$p/"
	cp "$build/ember" "$p/bin/"
	[ -f "$build/ember-jailer" ] && cp "$build/ember-jailer" "$p/bin/"
	cp "$build"/ember-uffd-* "$p/bin/" 2>/dev/null
	for f in probe.elf probe-vsock-peer; do
		[ -f "$build/guest/$f" ] && cp "$build/guest/$f" "$p/bin/"
	done
	cp "$build"/bench/guest/tiny-reset*.elf "$p/bin/" 2>/dev/null
	[ -d "$build/tests/bin" ] && cp "$build"/tests/bin/* "$p/bin/" 2>/dev/null
	echo "$p"
}

kvm_tier() {
	local where p rc=0
	if ! where=$(kvmhost_where probe); then
		echo "SKIP kvm: $where"
		return
	fi
	p=$(kvm_payload)
	echo "kvm: $(kvmhost_kind) /dev/kvm here; the probe runs $where"
	kvmhost_run "$where" 1500 "$p" run.sh || rc=$?
	kvmhost_status $rc kvm/launcher
	case $rc in 0 | 97 | 98 | 124) ;; *) echo "FAIL kvm/launcher: the kvm tier ended with status $rc" ;; esac
	# One iteration of every benchmark, ember beside its peers: proves the harness runs.
	run_verdict bench/smoke make --no-print-directory -s bench-smoke
}

e2e_tier() {
	if [ -x tests/e2e/host.sh ] || [ -f tests/e2e/host.sh ]; then
		bash tests/e2e/host.sh
	else
		echo "FAIL e2e: tests/e2e/host.sh missing"
	fi
}

has_tier unit && run_tier unit tests/unit/run.sh "$build"/tests/unit/test_*
has_tier asan && run_tier asan tests/unit/run.sh --label asan "$build"/tests/asan/test_*
has_tier host && run_tier host host_tier
has_tier kvm && run_tier kvm kvm_tier
has_tier e2e && run_tier e2e e2e_tier
has_tier arm64 && run_tier arm64 bash tests/arm64/host.sh "$build"

passed=$(grep -c '^PASS ' "$log")
failed=$(grep -c '^FAIL ' "$log")
skipped=$(grep -c '^SKIP ' "$log")
if [ "$failed" -gt 0 ]; then
	echo "Failures:"
	grep '^FAIL ' "$log" | sed 's/^/  /'
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
