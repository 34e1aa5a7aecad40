/* Linux x86 64-bit boot protocol: kernel and initrd loaders, boot_params, boot page tables. */
#ifndef EMBER_X86_BOOT_H
#define EMBER_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

enum kernel_kind { KERNEL_ELF, KERNEL_BZIMAGE };

#define LOADER_MAX_SEGMENTS 16

struct load_segment {
	uint64_t file_offset;
	uint64_t filesz;
	uint64_t paddr;
	uint64_t memsz;
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
};

/* Image parsers: pure functions over the first len bytes of a file of size bytes (the
 * loader reads BOOTFILE_HEAD_MAX), safe on hostile input. mem_end is the end of low RAM:
 * segments must fit below it and above 1 MiB. */
int loader__parse_elf(const uint8_t *file, size_t len, uint64_t size, uint64_t mem_end,
		      struct kernel_info *ki, char *err, size_t errlen);
int loader__parse_bzimage(const uint8_t *file, size_t len, uint64_t size, uint64_t mem_end,
			  struct kernel_info *ki, char *err, size_t errlen);

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
