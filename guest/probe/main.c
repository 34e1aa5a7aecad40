/* The probe's BSP path: each check prints its PROBE lines (format: README.md), then
 * DONE and a reboot through the i8042. */
#include "probe.h"

#define BP_CMD_LINE_PTR	   0x228
#define BOOT_TIMER_ADDR	   0xd0000000ull
#define BOOT_TIMER_MAGIC   123
#define DEFAULT_TIMEOUT_MS 5000
#define SERIAL_PIN	   4

/* probe.cpuid=LEAF[.SUB],... (hex): what CPUID answers here, for the CPU template
 * tests. A leaf above the maximum of its range is still asked: the CPU answers it
 * with some other leaf's values, which the test reads as a mismatch. */
static void report_cpuid(void)
{
	const char *v;
	size_t len;
	if (!cmdline__get("probe.cpuid", &v, &len))
		return;
	size_t i = 0;
	while (i < len) {
		uint32_t leaf = 0, sub = 0, *cur = &leaf;
		size_t start = i;
		for (; i < len && v[i] != ','; i++) {
			char c = v[i];
			if (c == '.') {
				cur = &sub;
				continue;
			}
			unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
				     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
				     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
							    : 16;
			if (c == 'x' || c == 'X')
				continue; /* a 0x prefix */
			if (d == 16)
				break;
			*cur = *cur << 4 | d;
		}
		if (i > start) {
			uint32_t a, b, c, d;
			asm volatile("cpuid"
				     : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
				     : "a"(leaf), "c"(sub));
			uart__printf("PROBE cpuid leaf=0x%x subleaf=0x%x eax=0x%08x ebx=0x%08x "
				     "ecx=0x%08x edx=0x%08x\n",
				     leaf, sub, a, b, c, d);
		}
		while (i < len && v[i] != ',')
			i++;
		i++;
	}
}

void probe_main(uint64_t boot_params);

#define CR4_OSFXSR (1ull << 9)

/* The FPU state a vCPU starts with is KVM's own (FINIT's control word, MXCSR's reset
 * value), which ember does not set again: a guest that uses the FPU before its own
 * FNINIT sees what it sees under Firecracker, which sets these values. */
static uint64_t read_fpu_control(void *arg)
{
	(void)arg;
	uint16_t fcw;
	uint32_t mxcsr;
	asm volatile("fnstcw %0\n\tstmxcsr %1" : "=m"(fcw), "=m"(mxcsr));
	return (uint64_t)mxcsr << 16 | fcw;
}

static void check_fpu_reset(struct probe *p)
{
	/* Read in ring 3, which kvm_pvm runs natively (its ring 0 emulator has no
	 * stmxcsr); nothing in the probe touches either register before (it is built
	 * with -mgeneral-regs-only). */
	uint64_t cr4;
	asm volatile("mov %%cr4, %0" : "=r"(cr4));
	asm volatile("mov %0, %%cr4" : : "r"(cr4 | CR4_OSFXSR));
	uint64_t v = user__call(read_fpu_control, NULL, false);
	uint16_t fcw = (uint16_t)v;
	uint32_t mxcsr = (uint32_t)(v >> 16);
	probe__check(p, "fpu-reset", fcw == 0x37f && mxcsr == 0x1f80,
		     "fcw=0x%x mxcsr=0x%x (want 0x37f, 0x1f80)", fcw, mxcsr);
}

static void check_irq_serial(struct probe *p)
{
	static const char line[] = "PROBE irq-serial this line went out through THRE interrupts\n";
	unsigned vec = VEC_IRQ_BASE + SERIAL_PIN;
	trap__set_handler(vec, uart__isr);
	ioapic__route(SERIAL_PIN, vec, lapic__id());
	unsigned irqs;
	size_t sent = uart__irq_write(line, sizeof(line) - 1, p->timeout_us, &irqs);
	ioapic__mask(SERIAL_PIN);
	if (sent == sizeof(line) - 1) {
		probe__check(p, "irq-serial", true, NULL);
		return;
	}
	if (sent)
		uart__printf("\n");
	probe__check(p, "irq-serial", false, "%zu of %zu bytes sent, %u THRE interrupts in %lu ms",
		     sent, sizeof(line) - 1, irqs, p->timeout_us / 1000);
}

/* probe.serial_rx=N: console input (ember's --serial-input) arrives, more than the FIFO
 * holds, so the host side has to refill it as the guest drains it. What came before
 * uart__init() cleared the FIFO is gone, as on hardware; the host checks that what
 * arrived is the input's tail, whole and in order. */
static void check_serial_rx(struct probe *p)
{
	uint64_t want;
	if (cmdline__get_u64("probe.serial_rx", 10, &want) || !want)
		return;
	static char buf[4096];
	if (want > sizeof(buf))
		want = sizeof(buf);
	/* The input ends when the line stays idle this long; a busy host may take a
	 * while to refill the FIFO from a pipe, so the window is generous. */
	size_t got = uart__read(buf, want, p->timeout_us, 2000 * 1000);
	uint32_t sum = 2166136261u;
	for (size_t i = 0; i < got; i++)
		sum = (sum ^ (uint8_t)buf[i]) * 16777619u;
	uart__printf("PROBE serial-rx bytes=%zu fnv1a=%08x\n", got, sum);
	probe__check(p, "serial-rx", got > 0, "no console input arrived");
}

static void check_smp(struct probe *p, unsigned mp_cpus)
{
	uint64_t want;
	int r = cmdline__get_u64("probe.cpus", 10, &want);
	smp__announce(lapic__id());
	unsigned target = r == 0 && want ? (unsigned)want : mp_cpus;
	if (target > PROBE_MAX_CPUS)
		target = PROBE_MAX_CPUS;
	unsigned dups;
	unsigned got = smp__start(target, p->timeout_us, &dups);
	if (r < 0)
		return;
	if (r > 0)
		probe__check(p, "smp", false, "bad probe.cpus");
	else if (dups)
		probe__check(p, "smp", false, "expected=%lu got=%u (%u repeated APIC ids)", want,
			     got, dups);
	else
		probe__check(p, "smp", got == want, "expected=%lu got=%u", want, got);
}

void probe_main(uint64_t boot_params)
{
	uart__init();
	uart__printf("PROBE hello\n");
	cpu__init_bsp();
	time__calibrate();

	struct probe p = {.bp = (const volatile uint8_t *)boot_params};
	cmdline__init((const char *)(uint64_t)rd32(p.bp + BP_CMD_LINE_PTR));
	size_t cl_len;
	const char *cl = cmdline__get_raw(&cl_len);
	uart__printf("PROBE cmdline %.*s\n", (int)cl_len, cl);
	bool cal;
	uint64_t cycles;
	unsigned spins;
	uint64_t khz = time__tsc_khz(&cal, &cycles, &spins);
	uart__printf("PROBE tsc khz=%lu %s (%lu cycles in %u polls of PIT channel 2)\n", khz,
		     cal ? "calibrated" : "assumed", cycles, spins);

	uint64_t ms;
	p.timeout_us =
	    (cmdline__get_u64("probe.timeout_ms", 10, &ms) == 0 && ms ? ms : DEFAULT_TIMEOUT_MS) *
	    1000;

	report_cpuid();
	check_fpu_reset(&p);
	boot__e820(&p);
	boot__initrd(&p);
	unsigned mp_cpus = boot__mptable(&p);

	pic__disable();
	lapic__init();
	check_irq_serial(&p);
	check_smp(&p, mp_cpus);

	check_serial_rx(&p);
	mmio_write8(BOOT_TIMER_ADDR, BOOT_TIMER_MAGIC);
	uart__printf("PROBE boot-timer\n");

	flood__run(&p);
	virtio__run(&p);
	count__run(&p);
	probe__finish(p.failed == 0);
}
