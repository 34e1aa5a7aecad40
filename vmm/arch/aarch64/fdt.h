/* The guest's flattened device tree, built with libfdt from a plain description of
 * the machine: no KVM and no arm64 headers, so it is unit-tested on any host. */
#ifndef EMBER_A64_FDT_H
#define EMBER_A64_FDT_H

#include <stddef.h>
#include <stdint.h>

/* A device on the MMIO bus with one SPI (numbered from 0; INTID = 32 + spi). */
struct arm64_fdt_dev {
	uint64_t addr, size;
	uint32_t spi;
};

struct arm64_fdt_machine {
	uint64_t mem_base, mem_size;
	unsigned nr_cpus;
	const uint64_t *mpidrs; /* nr_cpus affinity values, as KVM reports them */
	uint64_t gicd_addr, gicd_size;
	uint64_t gicr_addr, gicr_size; /* all redistributors, one region */
	struct arm64_fdt_dev serial;
	const struct arm64_fdt_dev *virtio;
	unsigned nr_virtio;
	const char *bootargs;
	uint64_t initrd_addr, initrd_size; /* size 0: no initrd */
};

/* Interrupt-cells of the GICv3 binding: type, number, flags. */
#define ARM64_FDT_IRQ_SPI	  0
#define ARM64_FDT_IRQ_PPI	  1
#define ARM64_FDT_IRQ_EDGE_RISING 1
#define ARM64_FDT_IRQ_LEVEL_HIGH  4
#define ARM64_FDT_GIC_PHANDLE	  1
/* The architected timer's PPIs: secure, non-secure physical, virtual, hypervisor. */
#define ARM64_FDT_TIMER_PPIS                                                                       \
	{                                                                                          \
		13, 14, 11, 10                                                                     \
	}
#define ARM64_FDT_SERIAL_CLOCK 1843200 /* Hz: the 16550's usual crystal */

/* Writes the FDT into buf (bufsize bytes, packed to its real size) and checks it
 * with fdt_check_full(). 0, or -1 with err. */
int arm64_fdt__build(void *buf, size_t bufsize, const struct arm64_fdt_machine *m, char *err,
		     size_t errlen);

#endif
