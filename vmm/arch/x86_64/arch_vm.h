/* x86_64: the guest-physical layout and the architecture's part of struct vm. */
#ifndef EMBER_X86_ARCH_VM_H
#define EMBER_X86_ARCH_VM_H

#include <stdint.h>

#include "arch/x86_64/boot.h"

/* MMIO layout above the 32-bit gap start. The boot timer is at a fixed address so
 * guest init programs can hard-code it (Firecracker uses the same one). */
#define VM_BOOT_TIMER_ADDR 0xd0000000ull
#define VM_MMIO_SLOT_BASE  0xd0001000ull
#define VM_MMIO_SLOT_SIZE  0x1000ull
#define VM_MMIO_FIRST_IRQ  5
#define VM_MMIO_LAST_IRQ   23
#define VM_IOAPIC_ADDR	   0xfec00000ull
#define VM_LAPIC_ADDR	   0xfee00000ull

/* The console UART: the PC's COM1, on port I/O. */
#define VM_SERIAL_ON_PIO 1
#define VM_SERIAL_BASE	 0x3f8
#define VM_SERIAL_IRQ	 4
#define VM_HAS_I8042	 1

struct kvm_cpuid2;
struct ioapic;
struct cpu_template;

struct arch_vm {
	struct kernel_info ki;
	uint64_t initrd_addr, initrd_size;
	/* KVM_GET_SUPPORTED_CPUID's answer, from the vCPUs' set-up on. */
	struct kvm_cpuid2 *supported_cpuid;
	/* The same, asked before the vCPUs' set-up takes it (arch__early_query). */
	struct kvm_cpuid2 *early_cpuid;
	/* The configuration's CPU template resolved to bitmaps, while the vCPUs are set
	 * up (its MSRs are per vCPU). */
	struct cpu_template *tpl;
	/* The user-space IOAPIC of a split irqchip (--no-pit), else NULL: KVM's own. */
	struct ioapic *ioapic;
};

struct vm;
struct error;
struct kvm_cpuid_entry2;
struct kvm_irqchip;
/* One record of the irqchip trio (c->chip_id: PIC master, PIC slave, IOAPIC) from either
 * kind of machine: KVM's own; or, with a split irqchip (--no-pit), ember's IOAPIC, and
 * PIC records that read zero and whose saved contents are dropped (a guest on an IOAPIC
 * keeps the PICs masked). get: -1 with errno; set: -1 with e (`name` names the chip). */
int arch__irqchip_get(struct vm *vm, struct kvm_irqchip *c);
int arch__irqchip_set(struct vm *vm, const struct kvm_irqchip *c, const char *name,
		      struct error *e);

/* Once a snapshot's vCPUs are set up as for a boot, before they get their saved
 * CPUID: whether this host gives the guest every bit it had in the registers the
 * configuration's CPU template modifies (cpu.h's cpuid__template_missing, against
 * vCPU 0's CPUID as KVM reports it). 0, or -1 with e. */
int arch__check_restore_cpuid(struct vm *vm, const struct kvm_cpuid_entry2 *saved, unsigned nsaved,
			      struct error *e);

#endif
