# Sourced by the scripts that pack an initramfs (guest/rootfs/build.sh,
# tests/arm64/initramfs.sh, tests/nested/prepare.sh); bash.
#
#   newc_pack TREE     writes to stdout a newc archive of TREE, led by /dev and
#                      /dev/console, owned by root
#
# /dev/console must exist before the kernel runs /init (it opens it for init's stdio).
# Its entry is written by hand, so packing needs no mknod and no root; TREE's own dev/
# directory entry is left out for that one.

newc_entry() { # name mode(octal) rdevmajor rdevminor
	local name=$1 mode=$((8#$2)) n=$((${#1} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		0 "$mode" 0 0 1 0 0 0 0 "$3" "$4" "$n" 0 "$name"
	local pad=$(((4 - (110 + n) % 4) % 4))
	[ "$pad" -eq 0 ] || head -c "$pad" /dev/zero
}

newc_pack() { # tree
	newc_entry dev 040755 0 0
	newc_entry dev/console 020600 5 1
	(cd "$1" && find . -mindepth 1 ! -path ./dev | LC_ALL=C sort | sed 's|^\./||' |
		cpio -o -H newc -R 0:0 --quiet)
}
