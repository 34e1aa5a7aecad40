/* The PC's IOAPIC in user space, for the split irqchip: KVM keeps the local APICs and
 * delivers this IOAPIC's pins as the MSIs their redirection entries describe. Why not
 * KVM's own: the in-kernel PIC and IOAPIC cost 15-20 ms to tear down when the VM's
 * last descriptor closes, split 0.5 ms (kvm_pvm, 6.18; issue 16), and that teardown
 * kept every VM's process alive after its guest reset. The machine without a PIT
 * (--no-pit) is made this way: KVM's PIT needs its PIC. */
#ifndef EMBER_X86_IOAPIC_H
#define EMBER_X86_IOAPIC_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct error;
struct ioapic;

/* Every pin masked and routed nowhere, and the IOAPIC's MMIO window claimed, on a VM
 * whose KVM_CAP_SPLIT_IRQCHIP is enabled (arch__irqchip_kvm). NULL with e on failure. */
struct ioapic *ioapic__create(struct vm *vm, struct error *e);
/* The registers alone, at reset, not yet wired to KVM (ioapic__create's first step;
 * the unit test and the fuzz target drive it with a VM that has no KVM). */
struct ioapic *ioapic__new(struct vm *vm);
void ioapic__destroy(struct ioapic *io);
/* A device's interrupt line (serial, i8042): an edge pin fires on a rising level, a
 * level pin while high, once per EOI. Any thread. -1 with errno if KVM refused. */
int ioapic__set_line(struct ioapic *io, uint32_t pin, int level);
/* KVM_EXIT_IOAPIC_EOI: the guest ended a level-triggered interrupt of `vector`. */
void ioapic__eoi(struct ioapic *io, uint8_t vector);
/* The registers in KVM's own layout (kvm_ioapic_state), so that snapshots store both
 * kinds of machine alike. set rebuilds the routes; -1 with e. */
void ioapic__get_state(struct ioapic *io, struct kvm_ioapic_state *s);
int ioapic__set_state(struct ioapic *io, const struct kvm_ioapic_state *s, struct error *e);
/* The guest's MMIO access at `offset` in the window (a bus handler). */
void ioapic__mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
