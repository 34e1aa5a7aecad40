/* Register models of the 8250 UART and the i8042, without a VM. */
#include <fcntl.h>
#include <unistd.h>

#include "check.h"
#include "devices/legacy.h"
#include "devices/serial.h"

static int irq_level, irq_edges;
static void record_irq(void *ctx, int level)
{
	(void)ctx;
	if (level && !irq_level)
		irq_edges++;
	irq_level = level;
}

static uint8_t rd(struct serial *s, unsigned reg)
{
	uint8_t v = 0;
	serial__io(s, reg, &v, false);
	return v;
}
static void wr(struct serial *s, unsigned reg, uint8_t v)
{
	serial__io(s, reg, &v, true);
}

static void uart_transmit_and_thre_interrupt(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	struct serial s;
	irq_level = irq_edges = 0;
	serial__init(&s, p[1], record_irq, NULL);
	CHECK_EQ(rd(&s, 5) & 0x60, 0x60); /* THRE and TEMT: always ready */
	CHECK_EQ(rd(&s, 2) & 0x0f, 0x01); /* no interrupt pending */
	wr(&s, 0, 'h');
	wr(&s, 0, 'i');
	char out[2];
	CHECK_EQ(read(p[0], out, 2), 2);
	CHECK(out[0] == 'h' && out[1] == 'i');
	CHECK_EQ(irq_level, 0); /* THRI not enabled yet */

	wr(&s, 1, 0x02); /* enable THRI: THR is empty, so it fires */
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(rd(&s, 2) & 0x0f, 0x02);
	CHECK_EQ(irq_level, 0); /* reading IIR acknowledged it */
	CHECK_EQ(rd(&s, 2) & 0x0f, 0x01);
	wr(&s, 0, '!'); /* sent at once: THR empty again, interrupt again */
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(irq_edges, 2);
	wr(&s, 1, 0); /* disabling THRI lowers the line */
	CHECK_EQ(irq_level, 0);
	close(p[0]);
	close(p[1]);
}

static void uart_receive_interrupt_and_fifo(void)
{
	struct serial s;
	irq_level = irq_edges = 0;
	serial__init(&s, -1, record_irq, NULL);
	wr(&s, 1, 0x01); /* RDI */
	CHECK_EQ(irq_level, 0);
	uint8_t in[100];
	for (int i = 0; i < 100; i++)
		in[i] = (uint8_t)i;
	CHECK_EQ(serial__rx(&s, in, 100), SERIAL_FIFO_SIZE); /* never more than fits */
	CHECK_EQ(irq_level, 1);
	CHECK_EQ(rd(&s, 5) & 1, 1);
	CHECK_EQ(rd(&s, 2) & 0x0f, 0x04);
	for (int i = 0; i < SERIAL_FIFO_SIZE; i++)
		CHECK_EQ(rd(&s, 0), i);
	CHECK_EQ(rd(&s, 5) & 1, 0);
	CHECK_EQ(irq_level, 0);
	CHECK_EQ(rd(&s, 0), 0); /* empty FIFO reads 0, no underflow */
	CHECK_EQ(serial__rx_space(&s), SERIAL_FIFO_SIZE);
}

static void uart_registers_and_loopback(void)
{
	struct serial s;
	serial__init(&s, -1, NULL, NULL);
	wr(&s, 7, 0xa5);
	CHECK_EQ(rd(&s, 7), 0xa5); /* scratch */
	wr(&s, 3, 0x83);	   /* DLAB + 8N1 */
	wr(&s, 0, 0x01);
	wr(&s, 1, 0x00);
	CHECK_EQ(rd(&s, 0), 0x01); /* divisor latch, not THR */
	CHECK_EQ(rd(&s, 1), 0x00);
	wr(&s, 3, 0x03);
	CHECK_EQ(rd(&s, 3), 0x03);
	CHECK_EQ(rd(&s, 1), 0x00); /* IER untouched by the divisor write */
	/* Linux's probe: loopback with RTS|OUT2 must show CTS|DCD. */
	wr(&s, 4, 0x1a);
	CHECK_EQ(rd(&s, 6) & 0xf0, 0x90);
	wr(&s, 0, 'x'); /* loopback: the byte comes back */
	CHECK_EQ(rd(&s, 5) & 1, 1);
	CHECK_EQ(rd(&s, 0), 'x');
	wr(&s, 4, 0x0b);
	CHECK_EQ(rd(&s, 6) & 0xb0, 0xb0);
	wr(&s, 2, 0x07); /* FIFO enable + clear */
	CHECK_EQ(rd(&s, 2) & 0xc0, 0xc0);
}

static int resets, kbd_irqs;
static void on_reset(void *ctx)
{
	resets++;
}
static void on_kbd_irq(void *ctx, int level)
{
	kbd_irqs += level;
}
static uint8_t krd(struct i8042 *k, unsigned port)
{
	uint8_t v;
	i8042__io(k, port, &v, false);
	return v;
}
static void kwr(struct i8042 *k, unsigned port, uint8_t v)
{
	i8042__io(k, port, &v, true);
}

static void i8042_reset_and_commands(void)
{
	struct i8042 k;
	resets = kbd_irqs = 0;
	i8042__init(&k, on_reset, on_kbd_irq, NULL);
	CHECK_EQ(krd(&k, 0x64) & 1, 0);
	kwr(&k, 0x64, 0xaa); /* self test */
	CHECK_EQ(krd(&k, 0x64) & 1, 1);
	CHECK_EQ(krd(&k, 0x60), 0x55);
	CHECK_EQ(krd(&k, 0x64) & 1, 0);
	kwr(&k, 0x64, 0x20); /* read CTR */
	uint8_t ctr = krd(&k, 0x60);
	kwr(&k, 0x64, 0x60); /* write CTR */
	kwr(&k, 0x60, (uint8_t)(ctr & ~1));
	kwr(&k, 0x64, 0x20);
	CHECK_EQ(krd(&k, 0x60), ctr & ~1);
	CHECK_EQ(resets, 0);
	kwr(&k, 0x64, 0xfe);
	CHECK_EQ(resets, 1);
}

static void i8042_ctrl_alt_del(void)
{
	struct i8042 k;
	resets = kbd_irqs = 0;
	i8042__init(&k, on_reset, on_kbd_irq, NULL);
	CHECK_EQ(i8042__send_ctrl_alt_del(&k), 0);
	CHECK(kbd_irqs >= 1);
	CHECK_EQ(krd(&k, 0x60), 0x14);
	CHECK_EQ(i8042__send_ctrl_alt_del(&k), -1); /* the guest has not drained the keys */
	for (int i = 0; i < 20; i++)
		krd(&k, 0x60);
	CHECK_EQ(krd(&k, 0x64) & 1, 0);
	CHECK_EQ(i8042__send_ctrl_alt_del(&k), 0);
}

CHECK_MAIN("devices", CHECK_CASE(uart_transmit_and_thre_interrupt),
	   CHECK_CASE(uart_receive_interrupt_and_fifo), CHECK_CASE(uart_registers_and_loopback),
	   CHECK_CASE(i8042_reset_and_commands), CHECK_CASE(i8042_ctrl_alt_del))
