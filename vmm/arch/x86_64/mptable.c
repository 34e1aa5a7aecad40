#include "mptable.h"

#include <string.h>

#include "layout.h"
#include "vm.h"

#define MP_ENTRY_CPU	  0
#define MP_ENTRY_BUS	  1
#define MP_ENTRY_IOAPIC	  2
#define MP_ENTRY_IOINT	  3
#define MP_ENTRY_LOCINT	  4
#define MP_INT		  0
#define MP_NMI		  1
#define MP_EXTINT	  3
#define MP_APIC_VERSION	  0x14
#define MP_IOAPIC_VERSION 0x11

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

struct writer {
	uint8_t *buf;
	size_t len, pos;
	int overflow;
};

static uint8_t *take(struct writer *w, size_t n)
{
	if (w->overflow || n > w->len - w->pos) {
		w->overflow = 1;
		return NULL;
	}
	uint8_t *p = w->buf + w->pos;
	memset(p, 0, n);
	w->pos += n;
	return p;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void io_int(struct writer *w, uint8_t type, uint8_t src_irq, uint8_t apic, uint8_t pin)
{
	uint8_t *e = take(w, 8);
	if (!e)
		return;
	e[0] = MP_ENTRY_IOINT;
	e[1] = type;
	e[4] = 0; /* source bus: ISA */
	e[5] = src_irq;
	e[6] = apic;
	e[7] = pin;
}

size_t mptable__build(uint8_t *buf, size_t buflen, uint64_t addr, unsigned nr_vcpus)
{
	struct writer w = {buf, buflen, 0, 0};
	uint8_t *fp = take(&w, 16);
	uint8_t *hdr = take(&w, 44);
	if (!hdr)
		return 0;
	unsigned entries = 0;
	uint8_t ioapic = (uint8_t)mptable__ioapic_id(nr_vcpus);

	for (unsigned i = 0; i < nr_vcpus; i++, entries++) {
		uint8_t *e = take(&w, 20);
		if (!e)
			return 0;
		e[0] = MP_ENTRY_CPU;
		e[1] = (uint8_t)i;
		e[2] = MP_APIC_VERSION;
		e[3] = 1 | (i == 0 ? 2 : 0); /* enabled, BSP */
		put32(e + 4, 0x600);	     /* family 6: a signature Linux accepts */
		put32(e + 8, 0x201);	     /* FPU + APIC */
	}
	uint8_t *bus = take(&w, 8);
	if (!bus)
		return 0;
	bus[0] = MP_ENTRY_BUS;
	memcpy(bus + 2, "ISA   ", 6);
	entries++;

	uint8_t *io = take(&w, 8);
	if (!io)
		return 0;
	io[0] = MP_ENTRY_IOAPIC;
	io[1] = ioapic;
	io[2] = MP_IOAPIC_VERSION;
	io[3] = 1;
	put32(io + 4, (uint32_t)VM_IOAPIC_ADDR);
	entries++;

	/* IRQ n is IOAPIC pin n for every n, the PIT's IRQ 0 included: that is KVM's
	 * default GSI routing, which ember does not change. */
	for (unsigned irq = 0; irq < MPTABLE_IRQS; irq++, entries++)
		io_int(&w, MP_INT, (uint8_t)irq, ioapic, (uint8_t)irq);
	const uint8_t lints[2][2] = {{MP_EXTINT, 0}, {MP_NMI, 1}};
	for (unsigned i = 0; i < 2; i++, entries++) {
		uint8_t *e = take(&w, 8);
		if (!e)
			return 0;
		e[0] = MP_ENTRY_LOCINT;
		e[1] = lints[i][0];
		e[6] = 0xff; /* every local APIC */
		e[7] = lints[i][1];
	}
	if (w.overflow)
		return 0;

	memcpy(hdr, "PCMP", 4);
	put16(hdr + 4, (uint16_t)(w.pos - 16));
	hdr[6] = 4; /* spec 1.4 */
	memcpy(hdr + 8, "EMBER   ", 8);
	memcpy(hdr + 16, "MICROVM     ", 12);
	put16(hdr + 34, (uint16_t)entries);
	put32(hdr + 36, (uint32_t)VM_LAPIC_ADDR);
	hdr[7] = checksum(hdr, w.pos - 16);

	memcpy(fp, "_MP_", 4);
	put32(fp + 4, (uint32_t)(addr + 16));
	fp[8] = 1; /* length in 16-byte units */
	fp[9] = 4;
	fp[10] = checksum(fp, 16);
	return w.pos;
}

int mptable__write(struct guest_mem *mem, unsigned nr_vcpus)
{
	uint8_t *p = guest_mem__ptr(mem, X86_EBDA_START, MPTABLE_MAX_SIZE);
	if (!p)
		return -1;
	return mptable__build(p, MPTABLE_MAX_SIZE, X86_EBDA_START, nr_vcpus) ? 0 : -1;
}
