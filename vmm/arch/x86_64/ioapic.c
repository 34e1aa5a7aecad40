/* IOAPIC registers as KVM's in-kernel one has them (82093AA, version 0x11: no EOI
 * register; the guest clears a level pin's remote IRR by EOI to its LAPIC, which KVM
 * reports as KVM_EXIT_IOAPIC_EOI). Pins driven through irqfds (virtio) are delivered by
 * KVM along the routes this file keeps in step with the redirection table; pins driven
 * by ember's own devices are sent with KVM_SIGNAL_MSI. */
#include "arch/x86_64/ioapic.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"
#include "vm.h"

/* Register indexes behind IOWIN, and the window's two registers (82093AA datasheet,
 * section 3): no UAPI header has them. */
#define IOREGSEL       0x00
#define IOWIN	       0x10
#define REG_ID	       0x00
#define REG_VERSION    0x01
#define REG_ARB	       0x02
#define REG_REDIR      0x10
#define IOAPIC_VERSION 0x11
/* Redirection entry bits the guest cannot write (delivery status, remote IRR). */
#define RTE_RO_BITS ((1ull << 12) | (1ull << 14))
/* The MSI the LAPICs receive (Intel SDM vol. 3, 11.11): address and data fields. */
#define MSI_ADDR_BASE	      0xfee00000u
#define MSI_ADDR_DEST_SHIFT   12
#define MSI_ADDR_LOGICAL      (1u << 2)
#define MSI_ADDR_REDIR_HINT   (1u << 3)
#define MSI_DATA_DM_SHIFT     8
#define MSI_DATA_LEVEL_ASSERT (1u << 14)
#define MSI_DATA_TRIG_LEVEL   (1u << 15)
#define DM_LOWEST_PRIORITY    1

struct ioapic {
	struct vm *vm;
	pthread_mutex_t lock;
	struct kvm_ioapic_state s; /* irr: the levels of ember's own lines */
	struct {
		struct kvm_irq_routing hdr;
		struct kvm_irq_routing_entry e[KVM_IOAPIC_NUM_PINS];
	} routes; /* what KVM was last given */
};

/* The UAPI header leaves the redirection entry's union unnamed. */
typedef __typeof__(((struct kvm_ioapic_state *)0)->redirtbl[0]) rte_t;

static struct kvm_msi msi_of(const rte_t *r)
{
	uint32_t dm = r->fields.delivery_mode;
	struct kvm_msi m = {
	    .address_lo = MSI_ADDR_BASE | (uint32_t)r->fields.dest_id << MSI_ADDR_DEST_SHIFT |
			  (r->fields.dest_mode ? MSI_ADDR_LOGICAL : 0) |
			  (dm == DM_LOWEST_PRIORITY ? MSI_ADDR_REDIR_HINT : 0),
	    .data = r->fields.vector | dm << MSI_DATA_DM_SHIFT |
		    (r->fields.trig_mode ? MSI_DATA_TRIG_LEVEL | MSI_DATA_LEVEL_ASSERT : 0),
	};
	return m;
}

/* Lock held. One MSI route per unmasked pin; a masked pin has none, so what its
 * irqfd signals is dropped as a masked IOAPIC pin drops it. KVM is told only when the
 * table changed: each KVM_SET_GSI_ROUTING waits for an SRCU grace period. */
static int sync_routes(struct ioapic *io)
{
	struct kvm_irq_routing_entry next[KVM_IOAPIC_NUM_PINS];
	unsigned n = 0;
	memset(next, 0, sizeof(next));
	for (unsigned pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
		const rte_t *r = &io->s.redirtbl[pin];
		if (r->fields.mask)
			continue;
		struct kvm_msi m = msi_of(r);
		next[n].gsi = pin;
		next[n].type = KVM_IRQ_ROUTING_MSI;
		next[n].u.msi.address_lo = m.address_lo;
		next[n].u.msi.data = m.data;
		n++;
	}
	if (n == io->routes.hdr.nr && !memcmp(next, io->routes.e, n * sizeof(next[0])))
		return 0;
	memcpy(io->routes.e, next, sizeof(next));
	io->routes.hdr.nr = n;
	if (ioctl(io->vm->vm_fd, KVM_SET_GSI_ROUTING, &io->routes) < 0)
		return -1;
	return 0;
}

/* Lock held. Sends pin's interrupt if its line asks for one now. -1 with errno if KVM
 * refused the MSI (0 from KVM_SIGNAL_MSI: a LAPIC that ignored it, as hardware may). */
static int deliver(struct ioapic *io, unsigned pin)
{
	rte_t *r = &io->s.redirtbl[pin];
	if (r->fields.mask || !(io->s.irr & (1u << pin)))
		return 0;
	if (r->fields.trig_mode) {
		if (r->fields.remote_irr)
			return 0;
		r->fields.remote_irr = 1;
	}
	struct kvm_msi m = msi_of(r);
	return ioctl(io->vm->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -1 : 0;
}

int ioapic__set_line(struct ioapic *io, uint32_t pin, int level)
{
	if (pin >= KVM_IOAPIC_NUM_PINS) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&io->lock);
	uint32_t bit = 1u << pin;
	bool was = io->s.irr & bit;
	if (level)
		io->s.irr |= bit;
	else
		io->s.irr &= ~bit;
	int rc = 0;
	if (level && (!was || io->s.redirtbl[pin].fields.trig_mode))
		rc = deliver(io, pin);
	pthread_mutex_unlock(&io->lock);
	return rc;
}

void ioapic__eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	for (unsigned pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
		rte_t *r = &io->s.redirtbl[pin];
		if (r->fields.vector != vector || !r->fields.trig_mode || !r->fields.remote_irr)
			continue;
		r->fields.remote_irr = 0;
		(void)deliver(io, pin); /* a line still high interrupts again */
	}
	pthread_mutex_unlock(&io->lock);
}

/* Lock held. */
static uint32_t read_reg(struct ioapic *io, uint32_t reg)
{
	switch (reg) {
	case REG_ID:
	case REG_ARB:
		return (io->s.id & 0xf) << 24;
	case REG_VERSION:
		return IOAPIC_VERSION | (KVM_IOAPIC_NUM_PINS - 1) << 16;
	}
	if (reg < REG_REDIR || reg >= REG_REDIR + 2 * KVM_IOAPIC_NUM_PINS)
		return 0;
	uint64_t bits = io->s.redirtbl[(reg - REG_REDIR) / 2].bits;
	return (uint32_t)((reg & 1) ? bits >> 32 : bits);
}

/* Lock held. */
static void write_reg(struct ioapic *io, uint32_t reg, uint32_t val)
{
	if (reg == REG_ID) {
		io->s.id = (val >> 24) & 0xf;
		return;
	}
	if (reg < REG_REDIR || reg >= REG_REDIR + 2 * KVM_IOAPIC_NUM_PINS)
		return; /* version and arbitration are read-only */
	unsigned pin = (reg - REG_REDIR) / 2;
	rte_t *r = &io->s.redirtbl[pin];
	uint64_t old = r->bits, next;
	if (reg & 1)
		next = (old & 0xffffffffull) | (uint64_t)val << 32;
	else
		next = (old & ~0xffffffffull) | val;
	r->bits = (next & ~RTE_RO_BITS) | (old & RTE_RO_BITS);
	/* Linux clears a stuck remote IRR by switching the pin to edge and back. */
	if (!r->fields.trig_mode)
		r->fields.remote_irr = 0;
	if (sync_routes(io) < 0)
		vm__request_exit(io->vm, EXIT_KVM, "IOAPIC: KVM_SET_GSI_ROUTING failed");
	/* Unmasking a level pin whose line is high interrupts at once. */
	if (r->fields.trig_mode)
		(void)deliver(io, pin);
}

void ioapic__mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct ioapic *io = opaque;
	/* Both registers are 32 bits wide at dword-aligned offsets; anything else is
	 * ignored (reads as the bus's 0xff). */
	if (len != 4 || (offset != IOREGSEL && offset != IOWIN))
		return;
	pthread_mutex_lock(&io->lock);
	uint32_t v;
	if (offset == IOREGSEL) {
		if (is_write) {
			memcpy(&v, data, 4);
			io->s.ioregsel = v & 0xff;
		} else {
			memcpy(data, &io->s.ioregsel, 4);
		}
	} else if (is_write) {
		memcpy(&v, data, 4);
		write_reg(io, io->s.ioregsel, v);
	} else {
		v = read_reg(io, io->s.ioregsel);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&io->lock);
}

struct ioapic *ioapic__new(struct vm *vm)
{
	struct ioapic *io = vm__zalloc(vm, sizeof(*io));
	if (!io)
		return NULL;
	io->vm = vm;
	pthread_mutex_init(&io->lock, NULL);
	io->s.base_address = VM_IOAPIC_ADDR;
	for (unsigned pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++)
		io->s.redirtbl[pin].fields.mask = 1;
	return io;
}

struct ioapic *ioapic__create(struct vm *vm, struct error *e)
{
	struct ioapic *io = ioapic__new(vm);
	if (!io) {
		error__fail(e, EXIT_ERROR, "out of memory");
		return NULL;
	}
	if (bus__register(&vm->mmio, VM_IOAPIC_ADDR, 0x1000, ioapic__mmio, io) < 0) {
		error__fail(e, EXIT_ERROR, "cannot register the IOAPIC's MMIO window");
		goto fail;
	}
	/* Debug, not info: the first write to a fresh log file costs 0.05-0.15 ms on
	 * ext4, and this one came on every --no-pit start's way to its first KVM_RUN. */
	pr_debug("split irqchip: KVM's local APICs, ember's IOAPIC, no PIC and no PIT");
	return io;
fail:
	ioapic__destroy(io);
	return NULL;
}

void ioapic__destroy(struct ioapic *io)
{
	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	vm__free(io->vm, io);
}

void ioapic__get_state(struct ioapic *io, struct kvm_ioapic_state *s)
{
	pthread_mutex_lock(&io->lock);
	*s = io->s;
	pthread_mutex_unlock(&io->lock);
}

int ioapic__set_state(struct ioapic *io, const struct kvm_ioapic_state *s, struct error *e)
{
	pthread_mutex_lock(&io->lock);
	io->s = *s;
	io->s.base_address = VM_IOAPIC_ADDR;
	io->s.ioregsel &= 0xff;
	int rc = sync_routes(io);
	pthread_mutex_unlock(&io->lock);
	if (rc < 0)
		return error__fail(e, EXIT_KVM, "IOAPIC: KVM_SET_GSI_ROUTING: %s", strerror(errno));
	return 0;
}
