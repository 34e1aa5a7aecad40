/* The x86 boot protocols: kernel and initrd loaders; Linux's 64-bit entry (boot_params,
 * boot page tables) and the PVH entry (start_info), which an ELF kernel that carries
 * Xen's PHYS32_ENTRY note gets, as under Firecracker. */
#ifndef EMBER_X86_BOOT_H
#define EMBER_X86_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

enum kernel_kind { KERNEL_ELF, KERNEL_BZIMAGE };

#define LOADER_MAX_SEGMENTS 16
#define LOADER_MAX_NOTES    8
/* The most of one PT_NOTE segment the loader reads (vmlinux's is about 0x100 bytes). */
#define LOADER_NOTES_MAX 4096u

struct load_segment {
	uint64_t file_offset;
	uint64_t filesz;
	uint64_t paddr;
	uint64_t memsz;
};

struct note_segment {
	uint64_t file_offset;
	uint64_t filesz;
	uint64_t align; /* 4 or 8: what each note's name and value are padded to */
};

/* What a kernel image says about itself, before anything is loaded. */
struct kernel_info {
	enum kernel_kind kind;
	uint64_t entry;
	struct load_segment segs[LOADER_MAX_SEGMENTS];
	unsigned nr_segs;
	/* bzImage only: the real-mode setup header, copied into boot_params. */
	uint8_t setup_header[0x290 - 0x1f1];
	size_t setup_header_len;
	uint64_t initrd_addr_max;
	uint64_t load_end; /* first byte above everything the kernel occupies */
	/* Longest command line the kernel accepts, without the NUL (bzImage: its header's
	 * cmdline_size, which the loader must not overwrite). */
	uint32_t cmdline_max;
	/* ELF only: its PT_NOTE segments, which vmlinux keeps past the head the parser
	 * sees; the loader reads them for loader__parse_notes. */
	struct note_segment notes[LOADER_MAX_NOTES];
	unsigned nr_notes;
	/* Entered at `entry` through the PVH boot ABI (32-bit protected mode, paging off,
	 * EBX = the start_info) instead of Linux's 64-bit entry. */
	bool pvh;
};

/* Image parsers: pure functions over the first len bytes of a file of size bytes (the
 * loader reads BOOTFILE_HEAD_MAX), safe on hostile input. mem_end is the end of low RAM:
 * segments must fit below it and above 1 MiB. */
int loader__parse_elf(const uint8_t *file, size_t len, uint64_t size, uint64_t mem_end,
		      struct kernel_info *ki, char *err, size_t errlen);
int loader__parse_bzimage(const uint8_t *file, size_t len, uint64_t size, uint64_t mem_end,
			  struct kernel_info *ki, char *err, size_t errlen);
/* Scans the `len` bytes of one of ki's note segments (`align`: its padding) for Xen's
 * XEN_ELFNOTE_PHYS32_ENTRY note; one that names an entry inside what the parsed ELF loads from its
 * file, below 4 GiB, makes it the entry with ki->pvh set. Pure and safe on hostile input: a
 * malformed note list or PVH note is refused. */
int loader__parse_notes(struct kernel_info *ki, const uint8_t *notes, size_t len, uint64_t align,
			char *err, size_t errlen);

/* Loads a kernel image into guest memory. Page-aligned ELF segments are mapped
 * MAP_PRIVATE|MAP_FIXED straight from the file, so loading costs the same whatever
 * the kernel's size. */
int loader__load_kernel(struct guest_mem *mem, const char *path, struct kernel_info *ki, char *err,
			size_t errlen);
/* Places the initrd at the top of low memory, page-aligned, above the kernel. */
int loader__load_initrd(struct guest_mem *mem, const char *path, const struct kernel_info *ki,
			uint64_t *addr, uint64_t *size, char *err, size_t errlen);

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_MAX      128

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* Builds the e820 map for mem; returns the number of entries. */
unsigned bootparams__e820(const struct guest_mem *mem, struct e820_entry *map, unsigned max);
/* Writes the zero page and command line. */
int bootparams__write(struct guest_mem *mem, const struct kernel_info *ki, const char *cmdline,
		      uint64_t initrd_addr, uint64_t initrd_size);
/* GDT and identity page tables for the 64-bit entry. */
void bootparams__write_tables(struct guest_mem *mem);
/* The PVH entry's start_info with the memory map, the initrd as its one module, and
 * the command line. */
int bootparams__write_pvh(struct guest_mem *mem, const char *cmdline, uint64_t initrd_addr,
			  uint64_t initrd_size);

/* The PVH boot ABI's structures (Xen's public arch-x86/hvm/start_info.h, which no UAPI
 * header carries): version 1, the first with the memory map a non-Xen guest needs. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PVH_START_MAGIC		 0x336ec578u
#define PVH_START_INFO_VERSION	 1
struct pvh_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
struct pvh_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* the e820 types */
	uint32_t reserved;
};
_Static_assert(sizeof(struct pvh_start_info) == 56, "start_info.h layout");
_Static_assert(sizeof(struct pvh_modlist_entry) == 32, "start_info.h layout");
_Static_assert(sizeof(struct pvh_memmap_entry) == 24, "start_info.h layout");

/* boot_params offsets we use (Documentation/arch/x86/zero-page.rst). */
#define BP_E820_ENTRIES	     0x1e8
#define BP_SETUP_SECTS	     0x1f1
#define BP_BOOT_FLAG	     0x1fe
#define BP_JUMP		     0x200
#define BP_HEADER	     0x202
#define BP_VERSION	     0x206
#define BP_TYPE_OF_LOADER    0x210
#define BP_LOADFLAGS	     0x211
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE	     0x21c
#define BP_CMD_LINE_PTR	     0x228
#define BP_INITRD_MAX	     0x22c
#define BP_KERNEL_ALIGN	     0x230
#define BP_RELOCATABLE	     0x234
#define BP_XLOADFLAGS	     0x236
#define BP_CMDLINE_SIZE	     0x238
#define BP_PREF_ADDRESS	     0x258
#define BP_INIT_SIZE	     0x260
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_TABLE	     0x2d0

#endif
