#!/usr/bin/env python3
"""Writes a copy of an ELF vmlinux whose PVH entry note is hidden, so that ember enters
it through Linux's 64-bit boot protocol (the e2e tier boots both entries).

  nopvh.py IN OUT

Xen's XEN_ELFNOTE_PHYS32_ENTRY note (type 18) gets type 17, which no loader reads; the
rest of the file is unchanged. Exit 1 if IN has no such note.
"""
import struct
import sys

PT_NOTE, XEN_ELFNOTE_PHYS32_ENTRY = 4, 18


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    img = bytearray(open(sys.argv[1], "rb").read())
    phoff, = struct.unpack_from("<Q", img, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", img, 0x36)
    hidden = 0
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", img, phoff + i * phentsize)
        if p_type != PT_NOTE:
            continue
        off, end = p_offset, p_offset + p_filesz
        while end - off >= 12:
            namesz, descsz, ntype = struct.unpack_from("<III", img, off)
            name = bytes(img[off + 12:off + 12 + namesz])
            if name == b"Xen\0" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                struct.pack_into("<I", img, off + 8, XEN_ELFNOTE_PHYS32_ENTRY - 1)
                hidden += 1
            off += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    if not hidden:
        print("nopvh.py: %s has no PVH entry note" % sys.argv[1], file=sys.stderr)
        return 1
    open(sys.argv[2], "wb").write(img)
    return 0


if __name__ == "__main__":
    sys.exit(main())
