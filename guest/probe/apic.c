/* Local APIC, IOAPIC and 8259 PIC, and bringing the APs up with INIT-SIPI-SIPI. */
#include "probe.h"

#define LAPIC_BASE   0xfee00000ull
#define LAPIC_ID     0x020
#define LAPIC_TPR    0x080
#define LAPIC_EOI    0x0b0
#define LAPIC_SVR    0x0f0
#define LAPIC_ESR    0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310

#define ICR_INIT       0x00000500u
#define ICR_STARTUP    0x00000600u
#define ICR_PENDING    0x00001000u
#define ICR_ASSERT     0x00004000u
#define ICR_LEVEL      0x00008000u
#define ICR_ALL_BUT_ME 0x000c0000u

#define IOAPIC_BASE   0xfec00000ull
#define IOAPIC_SEL    0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_REDIR  0x10
#define IOAPIC_MASKED 0x10000u

static uint32_t lapic_read(unsigned reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

static void lapic_write(unsigned reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

uint32_t lapic__id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic__eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

void lapic__init(void)
{
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS); /* software enable */
}

void pic__disable(void)
{
	/* Remap both 8259s away from the exception vectors, then mask every line, so the
	 * ExtINT path through LINT0 stays quiet and the IOAPIC is the only route. */
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x30);
	outb(0xa1, 0x38);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

static void ioapic_write(unsigned reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_SEL, reg);
	mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

void ioapic__route(unsigned pin, unsigned vector, unsigned dest)
{
	/* Fixed delivery, physical destination, active high, edge-triggered, unmasked. */
	ioapic_write(IOAPIC_REDIR + 2 * pin + 1, dest << 24);
	ioapic_write(IOAPIC_REDIR + 2 * pin, vector & 0xff);
}

void ioapic__mask(unsigned pin)
{
	ioapic_write(IOAPIC_REDIR + 2 * pin, IOAPIC_MASKED);
}

/* --- SMP ---------------------------------------------------------------------------- */

/* Shared by every CPU: which APIC ids announced themselves. */
static volatile uint32_t online_mask;
static volatile unsigned online_count, online_dups;

void smp__announce(uint32_t apic_id)
{
	uart__printf("PROBE cpu %u online\n", apic_id);
	uint32_t bit = apic_id < 32 ? 1u << apic_id : 0;
	if (__atomic_fetch_or(&online_mask, bit, __ATOMIC_SEQ_CST) & bit)
		__atomic_fetch_add(&online_dups, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&online_count, 1, __ATOMIC_SEQ_CST);
}

void ap_main(uint32_t apic_id)
{
	cpu__init_ap();
	smp__announce(apic_id);
	for (;;)
		asm volatile("cli; hlt");
}

static bool send_ipi(uint32_t lo)
{
	lapic_write(LAPIC_ESR, 0);
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, lo);
	for (unsigned i = 0; i < 100000; i++) {
		if (!(lapic_read(LAPIC_ICR_LO) & ICR_PENDING))
			return true;
		cpu_relax();
	}
	return false;
}

unsigned smp__start(unsigned want, uint64_t timeout_us, unsigned *dups)
{
	size_t len = (size_t)(ap_tramp_end - ap_tramp_start);
	memcpy((void *)AP_TRAMP_ADDR, ap_tramp_start, len);
	mb();
	if (want > 1) {
		send_ipi(ICR_ALL_BUT_ME | ICR_ASSERT | ICR_LEVEL | ICR_INIT);
		time__delay_us(10000);
		for (int i = 0; i < 2; i++) {
			send_ipi(ICR_ALL_BUT_ME | ICR_ASSERT | ICR_STARTUP | (AP_TRAMP_ADDR >> 12));
			time__delay_us(200);
		}
		uint64_t deadline = time__us() + timeout_us;
		while (__atomic_load_n(&online_count, __ATOMIC_SEQ_CST) < want &&
		       time__us() < deadline)
			time__delay_us(1000);
	}
	*dups = __atomic_load_n(&online_dups, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&online_count, __ATOMIC_SEQ_CST);
}
