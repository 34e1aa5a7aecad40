#!/usr/bin/env bash
# Runs unit-test binaries; each prints PASS/FAIL lines. A binary that dies
# without saying why (crash, sanitizer report) becomes a FAIL line of its own.
set -u
label=unit
if [ "${1:-}" = "--label" ]; then label=$2; shift 2; fi
rc=0
for t in "$@"; do
  name=$(basename "$t")
  out=$(CHECK_TIER=$label "$t" 2>&1); st=$?
  printf '%s\n' "$out" | grep -E '^(PASS|FAIL|SKIP) ' || true
  if [ $st -ne 0 ]; then
    rc=1
    if ! printf '%s\n' "$out" | grep -q '^FAIL '; then
      echo "FAIL $label/$name: exited with status $st"
      printf '%s\n' "$out" | grep -v -E '^(PASS|FAIL|SKIP) ' | head -30 | sed 's/^/    /'
    fi
  fi
done
exit $rc
