/* 8250 UART at 0x3f8: polled lines under a spinlock, and one interrupt-driven path
 * that proves THRE interrupts reach the guest. */
#include "probe.h"

#define COM1	 0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5

#define IER_THRI 0x02
#define IIR_ID	 0x0f
#define IIR_THRI 0x02
#define LSR_DR	 0x01
#define LSR_THRE 0x20
#define UART_RBR 0

#define LOCK_SPINS 2000000u /* then take it anyway: a faulting holder must not hide a report */
#define THRE_SPINS 100000u

/* One UART shared by every CPU: the lock keeps their lines whole. */
static volatile int uart_lock_word;

/* The buffer being sent by interrupts; written by uart__irq_write, advanced by the ISR
 * on the same CPU. */
static struct {
	const char *buf;
	size_t len;
	volatile size_t pos;
	volatile unsigned irqs;
} tx;

void uart__init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x80); /* DLAB: 115200 baud */
	outb(COM1 + UART_THR, 1);
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x03); /* 8N1 */
	outb(COM1 + UART_FCR, 0x07);
	outb(COM1 + UART_MCR, 0x0b); /* DTR, RTS, OUT2 (gates the IRQ on PCs) */
}

void uart__lock(void)
{
	for (unsigned i = 0; i < LOCK_SPINS; i++) {
		if (!__atomic_exchange_n(&uart_lock_word, 1, __ATOMIC_ACQUIRE))
			return;
		cpu_relax();
	}
}

void uart__unlock(void)
{
	__atomic_store_n(&uart_lock_word, 0, __ATOMIC_RELEASE);
}

static void putc_polled(char c)
{
	for (unsigned i = 0; i < THRE_SPINS && !(inb(COM1 + UART_LSR) & LSR_THRE); i++)
		cpu_relax();
	outb(COM1 + UART_THR, (uint8_t)c);
}

void uart__write_locked(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		putc_polled(s[i]);
}

static void emit_polled(void *ctx, char c)
{
	(void)ctx;
	putc_polled(c);
}

void uart__vprintf_locked(const char *fmt, va_list ap)
{
	fmt__v(emit_polled, NULL, fmt, ap);
}

void uart__printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	uart__lock();
	fmt__v(emit_polled, NULL, fmt, ap);
	uart__unlock();
	va_end(ap);
}

void uart__isr(void)
{
	/* Reading IIR acknowledges THRE; the next byte makes THR non-empty again. */
	uint8_t iir = inb(COM1 + UART_IIR);
	if ((iir & IIR_ID) != IIR_THRI)
		return;
	tx.irqs++;
	if (tx.pos < tx.len) {
		outb(COM1 + UART_THR, (uint8_t)tx.buf[tx.pos]);
		tx.pos++;
	} else {
		outb(COM1 + UART_IER, 0);
	}
}

static uint64_t wait_tx_user(void *arg)
{
	const uint64_t *deadline = arg;
	while (tx.pos < tx.len && time__us() < *deadline)
		cpu_relax();
	return 0;
}

size_t uart__irq_write(const char *s, size_t n, uint64_t timeout_us, unsigned *irqs)
{
	tx.buf = s;
	tx.len = n;
	tx.pos = 0;
	tx.irqs = 0;
	uint64_t deadline = time__us() + timeout_us;
	uart__lock();
	/* Enabling THRI while THR is empty raises the first interrupt. */
	outb(COM1 + UART_IER, IER_THRI);
	/* Wait at ring 3 with interrupts on: a ring-0 `sti; pause; cli` window is a single
	 * instruction boundary, which kvm_pvm's ring-0 emulation can pass without
	 * delivering the pending interrupt. */
	user__call(wait_tx_user, &deadline, true);
	outb(COM1 + UART_IER, 0);
	uart__unlock();
	*irqs = tx.irqs;
	return tx.pos;
}

size_t uart__read(char *buf, size_t n, uint64_t timeout_us, uint64_t idle_us)
{
	uint64_t now = time__us(), end = now + timeout_us;
	size_t got = 0;
	while (got < n && now < end) {
		if (inb(COM1 + UART_LSR) & LSR_DR) {
			buf[got++] = (char)inb(COM1 + UART_RBR);
			uint64_t quiet_end = time__us() + idle_us;
			if (quiet_end < end)
				end = quiet_end;
		} else {
			cpu_relax();
		}
		now = time__us();
	}
	return got;
}
