/* aarch64 guest-physical layout (README "aarch64 machine"). Plain numbers, so that
 * the FDT builder and its unit tests need no arm64 headers.
 *
 *   0x0800_0000  GICv3 distributor (64 KiB)
 *   0x080a_0000  GICv3 redistributors, 128 KiB per vCPU (up to 32: 4 MiB)
 *   0x4000_0000  boot timer (4 KiB): the guest writes 123 to log its boot time
 *   0x4000_1000  16550A UART, one byte per register, SPI 0 (INTID 32)
 *   0x4000_2000  virtio-mmio slots, 4 KiB each, SPIs 1..31 (INTIDs 33..63)
 *   0x8000_0000  RAM (Firecracker's base), the FDT in its last 2 MiB
 */
#ifndef EMBER_A64_LAYOUT_H
#define EMBER_A64_LAYOUT_H

#define A64_GICD_ADDR	      0x08000000ull
#define A64_GICD_SIZE	      0x10000ull
#define A64_GICR_ADDR	      0x080a0000ull
#define A64_GICR_SIZE_PER_CPU 0x20000ull
#define A64_BOOT_TIMER_ADDR   0x40000000ull
#define A64_SERIAL_ADDR	      0x40001000ull
#define A64_SERIAL_SPI	      0
#define A64_MMIO_SLOT_BASE    0x40002000ull
#define A64_MMIO_SLOT_SIZE    0x1000ull
#define A64_MMIO_FIRST_SPI    1
#define A64_MMIO_LAST_SPI     31
#define A64_RAM_BASE	      0x80000000ull
/* The FDT gets the last 2 MiB of RAM: booting.rst wants it 8-byte aligned, at most
 * 2 MiB, in a 2 MiB region of its own. */
#define A64_FDT_MAX  0x200000ull
#define A64_FDT_SIZE 0x10000ull /* what ember builds; far more than it needs */
/* GIC interrupt numbers: SPIs start at INTID 32, the timer uses PPIs. */
#define A64_SPI_BASE 32

#endif
