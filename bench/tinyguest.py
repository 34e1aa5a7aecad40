#!/usr/bin/env python3
"""Writes the tiny guests the host-side start-up bench boots under every VMM.

  tinyguest.py OUTDIR

OUTDIR/tiny-reset.elf  ELF64 with a PVH note (ember, QEMU: the PVH 32-bit entry; the floor)
OUTDIR/tiny-reset-linux.elf  the same without the note: ember's Linux 64-bit entry
OUTDIR/tiny-reset.bin  the same code as a flat binary (kvmtool loads it at 0x1000:0 in real mode)
OUTDIR/tiny-hang.elf, tiny-hang.bin  a guest that halts with interrupts off, for RSS/PSS

The reset code is the same bytes in real, protected and long mode:
    mov al, 0xfe ; out 0x64, al    i8042 pulse-reset: ember and kvmtool exit here
    out 0xf4, al                   QEMU microvm has no i8042: its isa-debug-exit device at
                                   port 0xf4 ends QEMU (status 0xfe << 1 | 1 = 253)
    hlt ; jmp back                 nothing else is reached
A triple fault would do for QEMU on hardware KVM, but kvm_pvm fails to emulate the
exception with an empty IDT (KVM internal error, and QEMU stays paused).
"""
import os
import struct
import sys

LOAD = 0x100000  # 1 MiB: ember refuses ELF segments below it
EM_X86_64 = 62
PT_LOAD, PT_NOTE = 1, 4
XEN_ELFNOTE_PHYS32_ENTRY = 18  # the PVH entry QEMU looks for


def code_reset():
    return bytes([0xB0, 0xFE, 0xE6, 0x64,   # mov al,0xfe; out 0x64,al
                  0xE6, 0xF4,               # out 0xf4,al
                  0xF4, 0xEB, 0xFD])        # hlt; jmp back to hlt


def code_hang():
    return bytes([0xFA, 0xF4, 0xEB, 0xFD])                       # cli; hlt; jmp back to hlt


def elf(code_fn, pvh=True):
    ehdr_size, phdr_size = 64, 56
    note_off = ehdr_size + 2 * phdr_size
    name = b"Xen\0"
    # the note's descriptor (the entry) is patched once the code's offset is known
    note_len = 12 + len(name) + 4
    code_off = note_off + note_len
    code = code_fn()
    entry = LOAD + code_off
    size = code_off + len(code)
    eh = struct.pack("<16sHHIQQQIHHHHHH",
                     b"\x7fELF\x02\x01\x01" + b"\0" * 9, 2, EM_X86_64, 1,
                     entry, ehdr_size, 0, 0, ehdr_size, phdr_size, 2, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", PT_LOAD, 7, 0, LOAD, LOAD, size, size, 0x1000)
    note = struct.pack("<IIQQQQQQ", PT_NOTE, 4, note_off, LOAD + note_off, LOAD + note_off,
                       note_len, note_len, 4)
    # Without PVH the note stays, of a type no loader looks for, so the bytes line up.
    note_type = XEN_ELFNOTE_PHYS32_ENTRY if pvh else XEN_ELFNOTE_PHYS32_ENTRY - 1
    nt = struct.pack("<III", len(name), 4, note_type) + name + struct.pack("<I", entry)
    img = eh + load + note + nt + code
    assert len(img) == size
    return img


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    files = {
        "tiny-reset.elf": elf(code_reset),
        "tiny-reset-linux.elf": elf(code_reset, pvh=False),
        "tiny-hang.elf": elf(code_hang),
        "tiny-reset.bin": code_reset(),
        "tiny-hang.bin": code_hang(),
    }
    for n, b in files.items():
        tmp = os.path.join(out, n + ".tmp")
        with open(tmp, "wb") as f:
            f.write(b)
        os.replace(tmp, os.path.join(out, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
