#!/bin/sh
# Runs inside L1: stops L1's heartbeat and stays quiet, as an L1 that stopped for good
# would. run.sh must then give up with rc 98 (tests/e2e/host.sh checks that it does).
kill "$(cat /run/nested-heartbeat.pid)" || exit 1
echo "stall-l1: heartbeat stopped"
sleep 300
