#!/bin/sh
# Runs inside L1 (busybox only): nested KVM smoke test.
./kvmcheck
