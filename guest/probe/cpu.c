/* The probe's GDT, TSS and IDT, trap dispatch, the ring 3 round trip and a TSC clock.
 * ember's GDT at 0x500 has no user or TSS descriptors, so the probe brings its own. */
#include "probe.h"

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

struct idt_entry {
	uint16_t off0, sel;
	uint8_t ist, attr;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

struct tss {
	uint32_t reserved0;
	uint64_t rsp0, rsp1, rsp2;
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3, iopb;
} __attribute__((packed));

struct table_desc {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* The descriptor tables are per machine, not per call: the CPU reads them in place.
 * Every CPU shares the GDT and IDT; only the BSP loads the TSS (only it enters ring 3). */
static uint64_t gdt[7] __attribute__((aligned(16))) = {
    0,
    0x00af9a000000ffffull, /* 0x08 kernel code, 64-bit */
    0x00cf92000000ffffull, /* 0x10 kernel data */
    0x00cff2000000ffffull, /* 0x18 user data, DPL 3 */
    0x00affa000000ffffull, /* 0x20 user code, 64-bit, DPL 3 */
    0,
    0, /* 0x28 TSS, filled at run time */
};
static struct tss tss __attribute__((aligned(16)));
static struct idt_entry idt[256] __attribute__((aligned(16)));
static trap_handler handlers[256];
static bool in_user;

static void load_gdt_idt(void)
{
	struct table_desc g = {sizeof(gdt) - 1, (uint64_t)gdt};
	struct table_desc i = {sizeof(idt) - 1, (uint64_t)idt};
	asm volatile("lgdt %0\n\t"
		     "pushq %1\n\t"
		     "leaq 1f(%%rip), %%rax\n\t"
		     "pushq %%rax\n\t"
		     "lretq\n"
		     "1:\n\t"
		     "mov %2, %%eax\n\t"
		     "mov %%eax, %%ds\n\t"
		     "mov %%eax, %%es\n\t"
		     "mov %%eax, %%ss\n\t"
		     "mov %%eax, %%fs\n\t"
		     "mov %%eax, %%gs\n\t"
		     "lidt %3"
		     :
		     : "m"(g), "i"(SEL_KCODE), "i"(SEL_KDATA), "m"(i)
		     : "rax", "memory");
}

static void set_gate(unsigned v, uint64_t addr, unsigned dpl)
{
	idt[v] = (struct idt_entry){
	    .off0 = (uint16_t)addr,
	    .sel = SEL_KCODE,
	    .attr = (uint8_t)(0x8e | dpl << 5), /* present 64-bit interrupt gate */
	    .off1 = (uint16_t)(addr >> 16),
	    .off2 = (uint32_t)(addr >> 32),
	};
}

void cpu__init_bsp(void)
{
	for (unsigned v = 0; v < 256; v++)
		set_gate(v, (uint64_t)trap_stubs + v * 16, 0);

	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	tss.iopb = sizeof(tss); /* no I/O bitmap and IOPL 0: ring 3 has no ports */
	gdt[5] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
		 ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	gdt[6] = base >> 32;
	load_gdt_idt();
	asm volatile("ltr %w0" : : "r"(SEL_TSS));
}

void cpu__init_ap(void)
{
	load_gdt_idt();
}

void trap__set_handler(unsigned vector, trap_handler fn)
{
	if (vector < 256)
		handlers[vector] = fn;
}

static uint64_t read_cr2(void)
{
	uint64_t v;
	asm volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

void trap__dispatch(struct trap_frame *f);
void trap__dispatch(struct trap_frame *f)
{
	unsigned v = (unsigned)f->vector;
	if (v == 6 && (f->cs & 3) && (f->rcx & ~0xffull) == USER_CALL_MAGIC &&
	    *(const uint16_t *)f->rip == 0x0b0f) {
		/* A user call (probe.h): an exception, so no EOI; resume after the ud2. */
		f->rip += 2;
		switch (f->rcx & 0xff) {
		case USER_OP_RETURN:
			user_return(f->rax);
		case USER_OP_OUTB:
			outb((uint16_t)f->rdx, (uint8_t)f->rax);
			return;
		case USER_OP_INB:
			f->rax = inb((uint16_t)f->rdx);
			return;
		}
	}
	if (v < 32) {
		/* An exception is a probe bug or a broken boot path: report it and stop. */
		uart__printf("PROBE fault cpu=%u vector=%u error=0x%lx rip=0x%lx cs=0x%lx "
			     "rsp=0x%lx cr2=0x%lx%s\n",
			     lapic__id(), v, f->error, f->rip, f->cs, f->rsp, read_cr2(),
			     (f->cs & 3) ? " (ring 3)" : "");
		probe__finish(false);
	}
	if (handlers[v])
		handlers[v]();
	if (v != VEC_SPURIOUS)
		lapic__eoi();
}

uint64_t user__call(uint64_t (*fn)(void *), void *arg, bool irqs_on)
{
	extern char user_stack_top[];
	if (in_user) {
		uart__printf("PROBE fault nested user__call\n");
		probe__finish(false);
	}
	in_user = true;
	uint64_t r =
	    user_enter(fn, arg, user_stack_top, (uint8_t *)&tss + offsetof(struct tss, rsp0),
		       irqs_on ? RFLAGS_IF : 0);
	in_user = false;
	return r;
}

/* --- time --------------------------------------------------------------------------- */

#define PIT_HZ		       1193182u
#define CALIBRATE_MS	       20u
#define ASSUMED_KHZ	       2000000u
#define CALIBRATE_SPIN	       1000000u
#define CALIBRATE_NO_PIT_POLLS 1000u
#define CALIBRATE_MAX_CYCLES   10000000000ull /* seconds at any plausible TSC rate */

/* Written once by the BSP before other CPUs run. */
static uint64_t tsc_khz = ASSUMED_KHZ;
static bool tsc_calibrated;
static uint64_t cal_cycles;
static unsigned cal_spins;

static uint16_t pit2_read(void)
{
	outb(0x43, 0x80); /* latch channel 2 */
	uint8_t lo = inb(0x42);
	return (uint16_t)(lo | inb(0x42) << 8);
}

void time__calibrate(void)
{
	/* Counts PIT channel 2 down for CALIBRATE_MS while the TSC runs. The counter is
	 * read back rather than OUT2 at port 0x61: without KVM_PIT_SPEAKER_DUMMY, KVM
	 * leaves port 0x61 to the VMM. The gate is raised anyway for real PITs. */
	uint16_t ticks = (uint16_t)(PIT_HZ / (1000 / CALIBRATE_MS));
	outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
	outb(0x43, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
	outb(0x42, 0xff);
	outb(0x42, 0xff);
	uint16_t c0 = pit2_read(), c = c0;
	uint64_t t0 = rdtsc(), t1 = t0;
	unsigned i;
	unsigned still = 0;
	for (i = 0; i < CALIBRATE_SPIN; i++) {
		c = pit2_read();
		t1 = rdtsc();
		if ((c <= c0 && c0 - c >= ticks) || t1 - t0 > CALIBRATE_MAX_CYCLES)
			break;
		/* A PIT counts at least once per poll (each poll is four port exits);
		 * a counter that never moves means there is none (ember --no-pit). */
		still = c == c0 ? still + 1 : 0;
		if (still == CALIBRATE_NO_PIT_POLLS)
			break;
	}
	cal_cycles = t1 - t0;
	cal_spins = i;
	if (i == CALIBRATE_SPIN || still == CALIBRATE_NO_PIT_POLLS || c > c0 || c0 - c < ticks)
		return;
	uint64_t khz = cal_cycles * PIT_HZ / (uint64_t)(c0 - c) / 1000;
	/* Anything outside 100 MHz..100 GHz means the PIT did not tick as asked. */
	if (khz >= 100000 && khz <= 100000000) {
		tsc_khz = khz;
		tsc_calibrated = true;
	}
}

uint64_t time__tsc_khz(bool *calibrated, uint64_t *cycles, unsigned *spins)
{
	*calibrated = tsc_calibrated;
	*cycles = cal_cycles;
	*spins = cal_spins;
	return tsc_khz;
}

uint64_t time__us(void)
{
	uint64_t t = rdtsc();
	return t / tsc_khz * 1000 + t % tsc_khz * 1000 / tsc_khz;
}

void time__delay_us(uint64_t us)
{
	uint64_t end = time__us() + us;
	while (time__us() < end)
		cpu_relax();
}

void probe__finish(bool pass)
{
	uart__printf("PROBE DONE %s\n", pass ? "pass" : "fail");
	/* Wait (bounded) for the i8042 input buffer, then pulse the reset line. */
	for (unsigned i = 0; i < 100000 && (inb(0x64) & 0x02); i++)
		cpu_relax();
	outb(0x64, 0xfe);
	/* A VMM that ends on the reset never runs this. The write is to nobody's MMIO
	 * address, which ember logs at once from the vCPU's thread (--level debug): the
	 * kvm tier looks for that line, as the console's bytes after the reset may not
	 * reach the output before the process ends. */
	mmio_write32(0xc0000000ull, 0);
	uart__printf("PROBE ran on after its reset\n");
	for (;;)
		asm volatile("cli; hlt");
}
