#!/bin/sh
# Runs in the e2e payload on whatever host tests/e2e/host.sh's launcher picked: on a
# hardware-KVM host, or inside the nested test host, which is a hardware-KVM host from
# here. Either way kvmhost_where must answer "direct" for Linux here, so every run of the
# e2e tier proves the hardware branch of the one decision, and then runs the tests.
#   tests/e2e/launch.sh [TEST...]     (cwd: the payload)
#   tests/e2e/launch.sh --no-launcher-check [TEST...]   the same without the check
#                                                       (a run after the first)
here=$(cd "$(dirname "$0")" && pwd)
payload=$(pwd)
kvmhost_root=$payload
. "$payload/tests/lib/kvmhost.sh"
if [ "${1:-}" = --no-launcher-check ]; then
	shift
else
	kind=$(kvmhost_kind)
	where=$(EMBER_KVM_WHERE='' kvmhost_where linux)
	if [ "$kind" = hardware ] && [ "$where" = direct ]; then
		echo "PASS e2e/launcher-hardware-direct"
	else
		echo "FAIL e2e/launcher-hardware-direct: this host is '$kind' and Linux would run '$where'"
	fi
fi
exec sh "$here/run.sh" "$payload" "$@"
