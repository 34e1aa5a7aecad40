#!/usr/bin/env bash
# The C sources follow the root .clang-format (`make format` applies it): a file that
# drifted is named here, so the drift is fixed where it starts.
set -u
cd "$(dirname "$0")/../.."
if ! command -v clang-format >/dev/null; then
	echo "SKIP style/clang-format: clang-format is not installed (scripts/deps.sh installs it)"
	exit 0
fi
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
if [ -z "$files" ]; then
	echo "SKIP style/clang-format: not a git checkout"
	exit 0
fi
# shellcheck disable=SC2086
bad=$(clang-format --dry-run $files 2>&1 | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: warning:.*clang-format.*/\1/p' | sort -u)
if [ -n "$bad" ]; then
	echo "FAIL style/clang-format: not formatted (make format): $(echo $bad)"
	exit 1
fi
echo "PASS style/clang-format ($(echo "$files" | wc -l) files)"
