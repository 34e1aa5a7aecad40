#!/bin/sh
# Runs inside the arm64 nested host: the PSCI power-off/reboot/vCPU checks of
# t_boot.sh, then the e2e tests that apply to arm64 (tests/e2e/run.sh, the same
# scripts the x86 e2e tier runs; payload/guest/vmlinux is the arm64 Image).
#   tests/arm64/l1.sh [E2E_TEST...]       (default: boot blk dev)
cd /payload || exit 1
# Quiet: every console byte is an MMIO exit, several ms each in this nested host.
export E2E_CMDLINE_BASE="console=ttyS0 quiet panic=1"
rc=0
sh tests/arm64/t_boot.sh || rc=1
sh tests/e2e/run.sh /payload ${*:-boot blk dev} || rc=1
exit $rc
