/* The probe guest: a freestanding x86_64 program that ember boots through the Linux
 * 64-bit boot protocol to check its boot path and devices. This header is the whole
 * internal API of the probe. */
#ifndef PROBE_H
#define PROBE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_MAX_CPUS 32 /* ember's CONFIG_MAX_VCPUS */

/* Segment selectors of the probe's own GDT (cpu.c). */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x1b /* 0x18 | RPL 3 */
#define SEL_UCODE 0x23 /* 0x20 | RPL 3 */
#define SEL_TSS	  0x28

/* IDT vectors. ISA IRQs routed through the IOAPIC land at VEC_IRQ_BASE + pin. */
#define VEC_IRQ_BASE 0x20
/* Ring 3 enters ring 0 with `ud2` and rcx = USER_CALL_MAGIC | USER_OP_*: the #UD
 * handler does the operation and steps over the ud2. An exception is the one way in
 * that every host delivers: kvm_pvm raises #UD for `int $0x80` and `int $0x81` from
 * the guest's ring 3 instead of taking the DPL3 gate. */
#define USER_CALL_MAGIC 0x4542524f50000000ull /* "PROBE" */
#define USER_OP_RETURN	0		      /* rax = fn's result: back to user__call()'s caller */
#define USER_OP_OUTB	1		      /* port rdx, value rax */
#define USER_OP_INB	2		      /* port rdx; the value comes back in rax */
#define VEC_SPURIOUS	0xff

#define RFLAGS_IF 0x200ull

/* Where the AP start-up code is copied: SIPI vector 0x10. */
#define AP_TRAMP_ADDR 0x10000

/* --- port and memory-mapped I/O ----------------------------------------------- */
/* Ring 3 never executes in/out itself: kvm_pvm runs the guest's ring 3 as host user
 * mode, where IOPL is not honoured and port I/O raises #GP. It asks ring 0 through
 * a user call instead (see USER_CALL_MAGIC), the same way on every host, so that no
 * host takes a path the others do not test. */
static inline bool cpu__in_user(void)
{
	uint16_t cs;
	asm volatile("mov %%cs, %0" : "=r"(cs));
	return (cs & 3) != 0;
}
static inline void outb(uint16_t port, uint8_t v)
{
	if (cpu__in_user()) {
		uint64_t rax = v;
		asm volatile("ud2"
			     : "+a"(rax)
			     : "d"((uint64_t)port), "c"(USER_CALL_MAGIC | USER_OP_OUTB)
			     : "memory");
		return;
	}
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	if (cpu__in_user()) {
		uint64_t rax = 0;
		asm volatile("ud2"
			     : "+a"(rax)
			     : "d"((uint64_t)port), "c"(USER_CALL_MAGIC | USER_OP_INB)
			     : "memory");
		return (uint8_t)rax;
	}
	uint8_t v;
	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)addr = v;
}
static inline uint8_t mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)addr;
}
static inline void mmio_write16(uint64_t addr, uint16_t v)
{
	*(volatile uint16_t *)addr = v;
}
static inline uint16_t mmio_read16(uint64_t addr)
{
	return *(volatile uint16_t *)addr;
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}
static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)addr;
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
static inline void cpu_relax(void)
{
	asm volatile("pause" ::: "memory");
}
static inline void barrier(void)
{
	asm volatile("" ::: "memory");
}
static inline void mb(void)
{
	asm volatile("mfence" ::: "memory");
}

/* Unaligned little-endian reads of boot structures. */
static inline uint16_t rd16(const volatile void *p)
{
	const volatile uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t rd32(const volatile void *p)
{
	const volatile uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t rd64(const volatile void *p)
{
	const volatile uint8_t *b = p;
	return rd32(b) | (uint64_t)rd32(b + 4) << 32;
}

/* --- lib.c: freestanding basics ------------------------------------------------- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* printf subset: %s %.*s %c %d %u %x with 0/width and l/ll/z; output through emit. */
void fmt__v(void (*emit)(void *ctx, char c), void *ctx, const char *fmt, va_list ap);
size_t fmt__buf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parses s[0..n) as an unsigned number in base 10 or 16 (no prefix); false if malformed. */
bool parse__u64(const char *s, size_t n, unsigned base, uint64_t *out);

/* --- cmdline.c: probe.* parameters ------------------------------------------------ */
/* Points at the guest command line (NUL-terminated, read in place). */
void cmdline__init(const char *cmdline);
const char *cmdline__get_raw(size_t *len);
/* Finds "key=value" as a whole word and points val, len at the value. */
bool cmdline__get(const char *key, const char **val, size_t *len);
/* -1 if absent, 0 if present and valid, 1 if present but malformed. */
int cmdline__get_u64(const char *key, unsigned base, uint64_t *out);
/* True if `word` is in the comma-separated list value of key. */
bool cmdline__has_word(const char *key, const char *word);

/* --- uart.c: 8250 at 0x3f8 ---------------------------------------------------------- */
void uart__init(void);
/* One locked, polled printf; every CPU may call it. */
void uart__printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void uart__lock(void);
void uart__unlock(void);
void uart__write_locked(const char *s, size_t n);
void uart__vprintf_locked(const char *fmt, va_list ap);
/* Sends s through THRE interrupts (vector VEC_IRQ_BASE + 4 must reach uart__isr).
 * Waits with interrupts enabled at most timeout_us; returns bytes sent. */
size_t uart__irq_write(const char *s, size_t n, uint64_t timeout_us, unsigned *irqs);
/* Polls the receiver for up to n bytes within timeout_us, ending early once idle_us
 * pass without a byte after the first; returns bytes read. */
size_t uart__read(char *buf, size_t n, uint64_t timeout_us, uint64_t idle_us);
void uart__isr(void);

/* --- cpu.c: descriptor tables, traps, rings, time --------------------------------- */
void cpu__init_bsp(void);
void cpu__init_ap(void);
typedef void (*trap_handler)(void);
void trap__set_handler(unsigned vector, trap_handler fn);
/* Runs fn(arg) at CPL3 on the BSP's user stack and returns its result; interrupts are
 * on in ring 3 iff irqs_on (set through the iret frame: ring 3 cannot sti on kvm_pvm),
 * and off again on return. Port I/O from fn goes through a user call. Not reentrant. */
uint64_t user__call(uint64_t (*fn)(void *), void *arg, bool irqs_on);
/* TSC calibrated against the PIT; falls back to an assumed frequency. */
void time__calibrate(void);
/* cycles/spins: what the calibration measured, for the log. */
uint64_t time__tsc_khz(bool *calibrated, uint64_t *cycles, unsigned *spins);
uint64_t time__us(void);
void time__delay_us(uint64_t us);
/* Prints DONE, reboots through the i8042, halts if that returns. */
void probe__finish(bool pass) __attribute__((noreturn));

/* --- apic.c: LAPIC, IOAPIC, PIC, SMP -------------------------------------------- */
void pic__disable(void);
void lapic__init(void);
uint32_t lapic__id(void);
void lapic__eoi(void);
/* Routes IOAPIC pin to vector, edge-triggered, active high, to the APIC id dest. */
void ioapic__route(unsigned pin, unsigned vector, unsigned dest);
void ioapic__mask(unsigned pin);
/* Announces this CPU ("PROBE cpu N online") and counts it. */
void smp__announce(uint32_t apic_id);
/* INIT-SIPI-SIPI to all other CPUs; waits until `want` CPUs (BSP included) are
 * online or timeout_us. Returns the number online; *dups counts repeated ids. */
unsigned smp__start(unsigned want, uint64_t timeout_us, unsigned *dups);
void ap_main(uint32_t apic_id) __attribute__((noreturn));

/* --- boot.c: what ember handed over ------------------------------------------------- */
struct probe {
	const volatile uint8_t *bp; /* struct boot_params */
	unsigned checks, failed;
	uint64_t timeout_us;
};
/* Prints "PROBE check <name> ok" or "... fail <why>" and counts it. */
void probe__check(struct probe *p, const char *name, bool ok, const char *why_fmt, ...)
    __attribute__((format(printf, 4, 5)));
void boot__e820(struct probe *p);
void boot__initrd(struct probe *p);
/* Returns the number of enabled processors in the MP table, 0 if none is found. */
unsigned boot__mptable(struct probe *p);

/* --- virtio.c ---------------------------------------------------------------------- */
void virtio__run(struct probe *p);
/* rate.c: probe.<what>_repeat=N runs op N times and prints the rate it got. op does
 * one request and says how many bytes it moved; non-NULL is a failure. */
typedef const char *(*rate_op)(struct probe *p, void *ctx, uint32_t *bytes);
void rate__repeat(struct probe *p, const char *what, rate_op op, void *ctx);
/* For count.c: FNV-1a of the blk test's sectors, read again; NULL or why not. */
const char *virtio__blk_sum(struct probe *p, uint32_t *sum);
/* For count.c: 32 bytes from virtio-rng; how many are not zero. NULL or why not. */
const char *virtio__rng_read(struct probe *p, unsigned *nonzero);
/* For count.c: arms the vsock event queue, then reports what event arrived. */
const char *virtio__vsock_event(struct probe *p, uint32_t *event);
/* flood.c: probe.flood=MS repeats every guest-triggerable warning for MS ms. */
void flood__run(struct probe *p);
/* --- count.c: probe.count=MS, the snapshot tests' endless counter ----------------- */
void count__run(struct probe *p);

/* --- entry.S ------------------------------------------------------------------------- */
extern const char ap_tramp_start[], ap_tramp_end[];
extern const char trap_stubs[];
/* Unwinds to user_enter()'s caller with `result`: the end of a user__call(). */
void user_return(uint64_t result) __attribute__((noreturn));
/* rsp0 points at the TSS field (unaligned, offset 4) that the int gate loads. */
uint64_t user_enter(uint64_t (*fn)(void *), void *arg, void *ustack_top, void *rsp0,
		    uint64_t rflags);

#endif
