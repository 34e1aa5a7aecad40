/* Guest-physical layout of the boot structures ember writes below 1 MiB.
 * The probe guest and tests rely on these addresses. */
#ifndef EMBER_X86_LAYOUT_H
#define EMBER_X86_LAYOUT_H

#define X86_GDT_ADDR	    0x500ull
#define X86_PVH_INFO_ADDR   0x6000ull /* PVH: struct pvh_start_info, EBX at entry */
#define X86_PVH_MODS_ADDR   0x6040ull /* PVH: the module list (the initrd) */
#define X86_PVH_MEMMAP_ADDR 0x6080ull /* PVH: up to E820_MAX entries, below the zero page */
#define X86_ZERO_PAGE_ADDR  0x7000ull /* struct boot_params, RSI at entry */
#define X86_PML4_ADDR	    0x9000ull
#define X86_PDPT_ADDR	    0xa000ull
#define X86_PD_ADDR	    0xb000ull /* 4 pages: identity map of 4 GiB in 2 MiB pages */
#define X86_CMDLINE_ADDR    0x20000ull
#define X86_EBDA_START	    0x9fc00ull	/* MP table lives here */
#define X86_HIMEM_START	    0x100000ull /* bzImage protected-mode code; lowest kernel segment */
#define X86_MIN_MEM_BYTES   (2ull << 20)

#define X86_BOOT_CS 0x10
#define X86_BOOT_DS 0x18

#endif
