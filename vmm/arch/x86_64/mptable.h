/* Intel MultiProcessor Specification 1.4 table: how a guest finds its CPUs and IOAPIC. */
#ifndef EMBER_X86_MPTABLE_H
#define EMBER_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

#define MPTABLE_MAX_SIZE 1024 /* room between the EBDA start and 640 KiB */
#define MPTABLE_IRQS	 24   /* IOAPIC pins */

/* Builds the floating pointer + configuration table for nr_vcpus into buf, as if
 * placed at guest address `addr`. Returns the size written, 0 if it does not fit. */
size_t mptable__build(uint8_t *buf, size_t buflen, uint64_t addr, unsigned nr_vcpus);
int mptable__write(struct guest_mem *mem, unsigned nr_vcpus);
/* The IOAPIC id the table announces: just above the CPUs' APIC ids. */
static inline unsigned mptable__ioapic_id(unsigned nr_vcpus)
{
	return nr_vcpus;
}

#endif
