#!/bin/sh
# The balloon under a live VM: the probe touches 32 MiB, the host asks for them with
# PATCH /balloon, the probe inflates them, and ember's anonymous RSS must drop by
# about that much; then the host releases them and the probe finds them zeroed.
. "$(dirname "$0")/lib.sh"
PROBE=$EMBER_DIR/probe.elf
FC=$EMBER_DIR/fcclient
need_files balloon "$PROBE" "$FC"
work_dir balloon
MIB=32
S=$W/b.sock OUT=$W/b.out ERR=$W/b.err

# rss_anon: ember's anonymous resident memory in KiB (guest memory is anonymous).
rss_anon() { awk '/^RssAnon:/ { print $2 }' "/proc/$EPID/status"; }
# wait_line TEXT SECS: until the console shows TEXT.
wait_line() {
	_j=0
	while ! has "$1" "$OUT" && [ $_j -lt "$2" ]; do
		sleep 1
		_j=$((_j + 1))
	done
	has "$1" "$OUT"
}

"$EMBER_DIR/ember" --api-sock "$S" --id balloon >"$OUT" 2>"$ERR" </dev/null &
EPID=$!
"$FC" -w 10 "$S" GET / >/dev/null 2>&1
ok=1
api balloon/machine-config PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}' || ok=0
api balloon/boot-source PUT /boot-source "{\"kernel_image_path\": \"$PROBE\", \"boot_args\": \"console=ttyS0 reboot=k panic=1 probe.virtio=balloon probe.balloon_mib=$MIB probe.timeout_ms=10000\"}" || ok=0
api balloon/put PUT /balloon '{"amount_mib": 0, "deflate_on_oom": true}' || ok=0
api balloon/start PUT /actions '{"action_type": "InstanceStart"}' || ok=0
if [ $ok -eq 1 ] && wait_line "PROBE balloon touched" 120; then
	before=$(rss_anon)
	if "$FC" "$S" PATCH /balloon '{"amount_mib": 129}' >"$W/reply" 2>&1; then
		fail balloon/patch-too-large "accepted: $(cat "$W/reply")"
	else
		check balloon/patch-too-large "no 'too large' in the reply" has "too large" "$W/reply"
	fi
	api balloon/patch PATCH /balloon "{\"amount_mib\": $MIB}" || ok=0
	if wait_line "PROBE balloon inflated" 120; then
		after=$(rss_anon)
		drop=$(((before - after) / 1024))
		echo "kvm: balloon RssAnon ${before} KiB -> ${after} KiB (dropped ${drop} MiB of $MIB)"
		# About the inflated amount: at least 80% of it.
		if [ $drop -ge $((MIB * 8 / 10)) ]; then
			pass balloon/rss-drop
		else
			fail balloon/rss-drop "RssAnon dropped ${drop} MiB, want about $MIB"
		fi
		api balloon/get GET /balloon && check balloon/get "no amount_mib $MIB" has "\"amount_mib\":$MIB" "$W/reply"
		api balloon/release PATCH /balloon '{"amount_mib": 0}'
	else
		fail balloon/inflate "the probe never said it inflated"
	fi
else
	fail balloon/touch "the probe never touched its pages"
fi
reap_ember 120
if [ "$RC" -eq 0 ] && has "PROBE check virtio-balloon ok" "$OUT" && has "PROBE DONE pass" "$OUT"; then
	pass balloon/probe
else
	fail balloon/probe "ember exited $RC"
fi
