#!/bin/sh
# e2e tier: boots the real Linux guest with ember and checks what it reports.
#   tests/e2e/run.sh DIR [TEST...]
# DIR holds ember and guest/{vmlinux,bzImage,rootfs.ext4,initramfs.cpio.gz,ember-vsock}
# (build/ on a dev host, /payload inside the nested host). TEST = boot blk fail dev
# compat snapshot cputpl mmds balloon (default: all). Needs /dev/kvm. POSIX sh: runs under busybox inside the nested host.
# Prints one PASS/FAIL/SKIP line per check and ends with
# "e2e: N passed, N failed, N skipped"; exits 1 if anything failed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# The sections run when none is named; `run.sh --list` prints them (tests/e2e/host.sh).
sections="boot blk fail dev compat snapshot cputpl mmds balloon"
[ "${1:-}" != --list ] || { echo "$sections"; exit 0; }
[ $# -ge 1 ] || { echo "usage: $0 DIR [boot|blk|fail|dev|compat|snapshot ...] | --list" >&2; exit 2; }
root=$(cd "$1" && pwd) || exit 2
shift
tests=${*:-$sections}

if [ ! -c /dev/kvm ]; then
	echo "SKIP e2e: no /dev/kvm"
	echo "e2e: 0 passed, 0 failed, 1 skipped"
	exit 0
fi

out=$(mktemp "${TMPDIR:-/tmp}/ember-e2e-out.XXXXXX")
rm -f "${TMPDIR:-/tmp}/ember-e2e-retries" # lib.sh's vm_run: retries left in this run
trap 'rm -f "$out"' EXIT
for t in $tests; do
	f=$here/t_$t.sh
	if [ ! -f "$f" ]; then
		echo "FAIL e2e/$t: no such test file $f"
		echo "FAIL e2e/$t: no such test file" >> "$out"
		continue
	fi
	echo "e2e: --- $t ---"
	# A section is t_NAME.sh, then any t_NAME-*.sh (t_snapshot-clones.sh).
	for f in "$f" "$here/t_$t"-*.sh; do
		[ -f "$f" ] || continue
		# Streamed line by line, so that a section that hangs shows how far it got.
		one=$(mktemp "${TMPDIR:-/tmp}/ember-e2e-one.XXXXXX")
		{ sh "$f" "$root" 2>&1; echo "$?" >"$one.rc"; } | tee "$one"
		rc=$(cat "$one.rc")
		if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$one"; then
			echo "FAIL e2e/$t: $(basename "$f") exited with status $rc" | tee -a "$one"
		fi
		cat "$one" >>"$out"
		rm -f "$one" "$one.rc"
	done
done
p=$(grep -c '^PASS ' "$out")
f=$(grep -c '^FAIL ' "$out")
s=$(grep -c '^SKIP ' "$out")
r=${TMPDIR:-/tmp}/ember-e2e-retries
[ ! -f "$r" ] || echo "e2e: $(grep -c . "$r") guest(s) hung and were run again (see the RETRY lines)"
echo "e2e: $p passed, $f failed, $s skipped"
[ "$f" = 0 ]
