#!/usr/bin/env bash
# Fetches Debian arm64 packages without adding the architecture to the host's dpkg:
# apt runs with its own lists directory under the cache, so the host's package state
# is untouched. Idempotent: a .deb already in the cache is not fetched again.
#
#   arm64-debs.sh fetch PKG...            prints the cached .deb paths
#   arm64-debs.sh extract DIR PKG...      unpacks the packages' files under DIR
#   arm64-debs.sh show PKG                apt-cache show of the candidate version
set -euo pipefail

CACHE=${EMBER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ember}/arm64-debs
mkdir -p "$CACHE/lists/partial" "$CACHE/archives/partial"
APT=(-o APT::Sandbox::User=root -o "Dir::State::Lists=$CACHE/lists" -o "Dir::Cache=$CACHE/apt"
	-o APT::Architecture=arm64 -o APT::Architectures=arm64 -q)

cached() {
	local f
	for f in "$CACHE/archives/$1"_*_arm64.deb "$CACHE/archives/$1"_*_all.deb; do
		[ -e "$f" ] && { echo "$f"; return 0; }
	done
	return 0
}

# The package lists are refreshed at most once a day.
lists() {
	if [ -z "$(find "$CACHE/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null)" ]; then
		apt-get "${APT[@]}" update >&2
	fi
}

fetch() {
	local need=() p
	for p in "$@"; do [ -n "$(cached "$p")" ] || need+=("$p"); done
	if [ ${#need[@]} -gt 0 ]; then
		lists
		(cd "$CACHE/archives" && apt-get "${APT[@]}" download "${need[@]}" >&2)
	fi
	for p in "$@"; do
		local f
		f=$(cached "$p")
		[ -n "$f" ] || { echo "arm64-debs: $p: not downloaded" >&2; exit 1; }
		echo "$f"
	done
}

case "${1:-}" in
fetch) shift; fetch "$@" ;;
extract)
	dir=$2; shift 2
	mkdir -p "$dir"
	for deb in $(fetch "$@"); do dpkg-deb -x "$deb" "$dir"; done ;;
show) lists; apt-cache "${APT[@]}" show --no-all-versions "$2" ;;
*) echo "usage: $0 fetch PKG... | extract DIR PKG... | show PKG" >&2; exit 2 ;;
esac
