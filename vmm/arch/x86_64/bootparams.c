/* boot_params ("zero page"), e820 map, GDT and identity page tables for the
 * 64-bit boot protocol (Documentation/arch/x86/boot.rst); the start_info of the PVH
 * entry (Xen's docs/misc/pvh.pandoc). */
#include <string.h>
#include <sys/types.h>

#include "boot.h"
#include "layout.h"

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)v);
	wr16(p + 2, (uint16_t)(v >> 16));
}

unsigned bootparams__e820(const struct guest_mem *mem, struct e820_entry *map, unsigned max)
{
	unsigned n = 0;
	uint64_t low_end = guest_mem__low_end(mem);
#define ADD(a, s, t)                                                                               \
	do {                                                                                       \
		if (n < max)                                                                       \
			map[n++] = (struct e820_entry){(a), (s), (t)};                             \
	} while (0)
	ADD(0, X86_EBDA_START, E820_RAM);
	/* EBDA (our MP table), VGA hole and BIOS area: never RAM to the guest. */
	ADD(X86_EBDA_START, X86_HIMEM_START - X86_EBDA_START, E820_RESERVED);
	if (low_end > X86_HIMEM_START)
		ADD(X86_HIMEM_START, low_end - X86_HIMEM_START, E820_RAM);
	for (unsigned i = 1; i < mem->nr_regions; i++)
		ADD(mem->regions[i].gpa, mem->regions[i].size, E820_RAM);
#undef ADD
	return n;
}

/* The command line with its NUL at X86_CMDLINE_ADDR; its length without, or -1. */
static ssize_t write_cmdline(struct guest_mem *mem, const char *cmdline)
{
	size_t cmdlen = strlen(cmdline) + 1;
	uint8_t *cl = guest_mem__ptr(mem, X86_CMDLINE_ADDR, cmdlen);
	if (!cl)
		return -1;
	memcpy(cl, cmdline, cmdlen);
	return (ssize_t)cmdlen - 1;
}

int bootparams__write(struct guest_mem *mem, const struct kernel_info *ki, const char *cmdline,
		      uint64_t initrd_addr, uint64_t initrd_size)
{
	uint8_t *zp = guest_mem__ptr(mem, X86_ZERO_PAGE_ADDR, 4096);
	ssize_t cmdlen = write_cmdline(mem, cmdline);
	if (!zp || cmdlen < 0)
		return -1;
	memset(zp, 0, 4096);

	if (ki->kind == KERNEL_BZIMAGE) {
		/* The header as the kernel wrote it; cmdline_size in it is read-only. */
		memcpy(zp + BP_SETUP_SECTS, ki->setup_header, ki->setup_header_len);
	} else {
		wr16(zp + BP_BOOT_FLAG, 0xaa55);
		memcpy(zp + BP_HEADER, "HdrS", 4);
		wr16(zp + BP_VERSION, 0x020f);
		wr32(zp + BP_KERNEL_ALIGN, 0x1000000);
		wr32(zp + BP_CMDLINE_SIZE, (uint32_t)cmdlen);
	}
	zp[BP_TYPE_OF_LOADER] = 0xff;
	zp[BP_LOADFLAGS] |= 1; /* LOADED_HIGH */
	wr32(zp + BP_CMD_LINE_PTR, (uint32_t)X86_CMDLINE_ADDR);
	wr32(zp + BP_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	wr32(zp + BP_RAMDISK_SIZE, (uint32_t)initrd_size);
	wr32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
	wr32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));

	struct e820_entry map[E820_MAX];
	unsigned n = bootparams__e820(mem, map, E820_MAX);
	zp[BP_E820_ENTRIES] = (uint8_t)n;
	memcpy(zp + BP_E820_TABLE, map, n * sizeof(map[0]));
	return 0;
}

void bootparams__write_tables(struct guest_mem *mem)
{
	/* null, null, 64-bit code (0x10), data (0x18): the selectors boot.rst asks for. */
	static const uint64_t gdt[] = {0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull};
	memcpy(guest_mem__ptr(mem, X86_GDT_ADDR, sizeof(gdt)), gdt, sizeof(gdt));

	uint64_t *pml4 = guest_mem__ptr(mem, X86_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_mem__ptr(mem, X86_PDPT_ADDR, 4096);
	uint64_t *pd = guest_mem__ptr(mem, X86_PD_ADDR, 4 * 4096);
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = X86_PDPT_ADDR | 0x7; /* present, writable, user: the probe runs ring 3 too */
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (X86_PD_ADDR + i * 4096) | 0x7;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x87; /* 2 MiB page, present, writable, user */
}

_Static_assert(X86_PVH_MODS_ADDR >= X86_PVH_INFO_ADDR + sizeof(struct pvh_start_info) &&
		   X86_PVH_MEMMAP_ADDR >= X86_PVH_MODS_ADDR + sizeof(struct pvh_modlist_entry) &&
		   X86_PVH_MEMMAP_ADDR + E820_MAX * sizeof(struct pvh_memmap_entry) <=
		       X86_ZERO_PAGE_ADDR,
	       "the PVH structures fit below the zero page, apart");

int bootparams__write_pvh(struct guest_mem *mem, const char *cmdline, uint64_t initrd_addr,
			  uint64_t initrd_size)
{
	/* One page holds all three: one page of guest memory touched, not the zero page,
	 * the GDT and five page tables of the 64-bit entry. */
	struct pvh_start_info *si =
	    guest_mem__ptr(mem, X86_PVH_INFO_ADDR, X86_ZERO_PAGE_ADDR - X86_PVH_INFO_ADDR);
	if (!si || write_cmdline(mem, cmdline) < 0)
		return -1;
	struct e820_entry map[E820_MAX];
	unsigned n = bootparams__e820(mem, map, E820_MAX);
	struct pvh_memmap_entry *mm =
	    (void *)((uint8_t *)si + (X86_PVH_MEMMAP_ADDR - X86_PVH_INFO_ADDR));
	for (unsigned i = 0; i < n; i++)
		mm[i] = (struct pvh_memmap_entry){map[i].addr, map[i].size, map[i].type, 0};
	*si = (struct pvh_start_info){
	    .magic = PVH_START_MAGIC,
	    .version = PVH_START_INFO_VERSION,
	    .cmdline_paddr = X86_CMDLINE_ADDR,
	    .memmap_paddr = X86_PVH_MEMMAP_ADDR,
	    .memmap_entries = n,
	};
	if (initrd_size) {
		struct pvh_modlist_entry *mod =
		    (void *)((uint8_t *)si + (X86_PVH_MODS_ADDR - X86_PVH_INFO_ADDR));
		*mod = (struct pvh_modlist_entry){.paddr = initrd_addr, .size = initrd_size};
		si->nr_modules = 1;
		si->modlist_paddr = X86_PVH_MODS_ADDR;
	}
	return 0;
}
