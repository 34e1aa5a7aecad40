/* aarch64: the guest-physical layout (layout.h) under vm.h's names, and the
 * architecture's part of struct vm. */
#ifndef EMBER_A64_ARCH_VM_H
#define EMBER_A64_ARCH_VM_H

#include <linux/kvm.h>
#include <stdint.h>

#include "arch/aarch64/image.h"
#include "arch/aarch64/layout.h"

#define VM_BOOT_TIMER_ADDR A64_BOOT_TIMER_ADDR
#define VM_MMIO_SLOT_BASE  A64_MMIO_SLOT_BASE
#define VM_MMIO_SLOT_SIZE  A64_MMIO_SLOT_SIZE
/* Interrupt numbers the devices use are SPI numbers (irqfd's GSIs on arm64). */
#define VM_MMIO_FIRST_IRQ A64_MMIO_FIRST_SPI
#define VM_MMIO_LAST_IRQ  A64_MMIO_LAST_SPI

/* The console UART is MMIO: there is no port I/O on arm64. */
#define VM_SERIAL_ON_PIO 0
#define VM_SERIAL_BASE	 A64_SERIAL_ADDR
#define VM_SERIAL_IRQ	 A64_SERIAL_SPI
#define VM_HAS_I8042	 0

#define A64_MAX_VCPUS 32

struct arch_vm {
	struct arm64_image image;
	uint64_t initrd_addr, initrd_size;
	uint64_t fdt_addr;
	int gic_fd;
	struct kvm_vcpu_init target; /* KVM_ARM_PREFERRED_TARGET's answer */
	uint64_t mpidr[A64_MAX_VCPUS];
	/* irqfds of devices made before the vGIC could take them. */
	struct {
		int fd;
		uint32_t gsi;
	} irqfds[A64_MMIO_LAST_SPI + 1];
	unsigned nr_irqfds;
};

/* KVM_IRQ_LINE on arm64 names the interrupt type and its INTID. */
static inline uint32_t arch__irq_line(uint32_t gsi)
{
	return (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (gsi + A64_SPI_BASE);
}

#endif
