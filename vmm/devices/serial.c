#include "serial.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "snapshot.h"
#include "vm.h"

#define UART_RBR_THR 0
#define UART_IER     1
#define UART_IIR_FCR 2
#define UART_LCR     3
#define UART_MCR     4
#define UART_LSR     5
#define UART_MSR     6
#define UART_SCR     7

#define IER_RDI	 0x01 /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_MASK 0x0f

#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI	 0x04
#define IIR_FIFO 0xc0

#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR	 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI	0x40
#define MSR_DCD 0x80

void serial__init(struct serial *s, int out_fd, void (*set_irq)(void *, int), void *irq_ctx)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->in_fd = -1;
	s->set_irq = set_irq;
	s->irq_ctx = irq_ctx;
	s->mcr = 0x08; /* OUT2 */
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->dll = 0x0c; /* 9600 baud */
	s->now = ratelimit__now;
}

void serial__limit(struct serial *s, const struct token_bucket_config *tb)
{
	tbucket__init(&s->out_limit, tb, s->now());
}

static uint8_t iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & 1) ? IIR_FIFO : 0;
	if ((s->ier & IER_RDI) && s->rx_len)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thre_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

/* Called with the lock held; the line follows the highest pending interrupt. */
static void update_irq(struct serial *s)
{
	int level = !(iir(s) & IIR_NONE);
	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->set_irq)
			s->set_irq(s->irq_ctx, level);
	}
}

static void transmit(struct serial *s, uint8_t byte)
{
	if (s->mcr & MCR_LOOP) {
		if (s->rx_len < SERIAL_FIFO_SIZE)
			s->rx[(s->rx_head + s->rx_len++) % SERIAL_FIFO_SIZE] = byte;
		return;
	}
	uint64_t owed;
	if (tbucket__enabled(&s->out_limit) &&
	    tbucket__reduce(&s->out_limit, 1, s->now(), &owed) == TBUCKET_SHORT) {
		s->dropped_bytes++;
		return;
	}
	if (s->out_fd >= 0) {
		/* Blocking, like a UART with flow control: a stalled reader stalls the
		 * writing vCPU rather than losing console output. The fd may be shared
		 * with the caller (stdout), so ember does not make it non-blocking. */
		ssize_t w;
		do
			w = write(s->out_fd, &byte, 1);
		while (w < 0 && errno == EINTR);
		if (w == 1)
			s->write_count++;
		else
			s->missed_write_count++;
	}
}

static uint8_t modem_status(const struct serial *s)
{
	if (!(s->mcr & MCR_LOOP))
		return s->msr;
	/* Loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (Linux probes this). */
	uint8_t m = 0;
	if (s->mcr & 0x01)
		m |= MSR_DSR;
	if (s->mcr & 0x02)
		m |= MSR_CTS;
	if (s->mcr & 0x04)
		m |= MSR_RI;
	if (s->mcr & 0x08)
		m |= MSR_DCD;
	return m;
}

void serial__io(struct serial *s, uint64_t offset, uint8_t *data, bool is_write)
{
	void (*notify)(void *) = NULL;
	pthread_mutex_lock(&s->lock);
	bool dlab = s->lcr & LCR_DLAB;
	if (is_write) {
		uint8_t v = *data;
		switch (offset) {
		case UART_RBR_THR:
			if (dlab) {
				s->dll = v;
				break;
			}
			transmit(s, v);
			/* The byte leaves at once, so THR is empty again right away. */
			s->thre_pending = true;
			break;
		case UART_IER:
			if (dlab) {
				s->dlm = v;
				break;
			}
			/* Enabling THRI while THR is empty raises the interrupt, as on a 16550A. */
			if ((v & IER_THRI) && !(s->ier & IER_THRI))
				s->thre_pending = true;
			s->ier = v & IER_MASK;
			break;
		case UART_IIR_FCR:
			s->fcr = v;
			if (v & 0x02) { /* clear RX FIFO */
				s->rx_len = 0;
				notify = s->rx_space;
			}
			break;
		case UART_LCR:
			s->lcr = v;
			break;
		case UART_MCR:
			s->mcr = v & MCR_MASK;
			break;
		case UART_SCR:
			s->scr = v;
			break;
		default: /* LSR and MSR are read-only */
			break;
		}
	} else {
		switch (offset) {
		case UART_RBR_THR:
			if (dlab) {
				*data = s->dll;
				break;
			}
			*data = 0;
			if (s->rx_len) {
				*data = s->rx[s->rx_head];
				s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
				s->rx_len--;
				s->read_count++;
				/* Refill once the guest has drained the FIFO, not per byte. */
				if (!s->rx_len)
					notify = s->rx_space;
			}
			break;
		case UART_IER:
			*data = dlab ? s->dlm : s->ier;
			break;
		case UART_IIR_FCR:
			*data = iir(s);
			/* Reading IIR acknowledges a THRE interrupt. */
			if ((*data & 0x0f) == IIR_THRI)
				s->thre_pending = false;
			break;
		case UART_LCR:
			*data = s->lcr;
			break;
		case UART_MCR:
			*data = s->mcr;
			break;
		case UART_LSR:
			*data = LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0);
			break;
		case UART_MSR:
			*data = modem_status(s);
			break;
		case UART_SCR:
			*data = s->scr;
			break;
		default:
			*data = 0xff;
			break;
		}
	}
	update_irq(s);
	void *ctx = s->rx_ctx;
	pthread_mutex_unlock(&s->lock);
	if (notify)
		notify(ctx);
}

unsigned serial__rx(struct serial *s, const uint8_t *buf, unsigned len)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = 0;
	while (n < len && s->rx_len < SERIAL_FIFO_SIZE) {
		s->rx[(s->rx_head + s->rx_len) % SERIAL_FIFO_SIZE] = buf[n++];
		s->rx_len++;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

unsigned serial__rx_space(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = SERIAL_FIFO_SIZE - s->rx_len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* --- wiring into a VM ----------------------------------------------------------- */

struct serial_dev {
	struct serial uart;
	struct vm *vm;
	int wake_fd; /* pipe read end: the guest freed FIFO room, resume reading input */
	int wake_wr;
	bool in_is_file; /* regular files cannot be polled: read them as the FIFO drains */
};

static void serial_set_irq(void *ctx, int level)
{
	struct serial_dev *d = ctx;
	vm__set_irq_line(d->vm, VM_SERIAL_IRQ, level);
}

static void serial_pio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct serial_dev *d = opaque;
	if (len == 1)
		serial__io(&d->uart, offset, data, is_write);
}

static void serial_pump_input(struct serial_dev *d)
{
	unsigned room = serial__rx_space(&d->uart);
	if (room == 0) {
		/* Stop polling until the guest drains the FIFO; nothing is dropped. */
		if (!d->in_is_file && !d->uart.in_paused &&
		    event__mod(d->vm->loop, d->uart.in_fd, 0) == 0)
			d->uart.in_paused = true;
		return;
	}
	uint8_t buf[SERIAL_FIFO_SIZE];
	ssize_t n = read(d->uart.in_fd, buf, room);
	if (n > 0) {
		serial__rx(&d->uart, buf, (unsigned)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		if (!d->in_is_file)
			event__del(d->vm->loop, d->uart.in_fd);
		if (d->uart.in_fd > STDERR_FILENO)
			close(d->uart.in_fd);
		d->uart.in_fd = -1; /* end of input */
	}
}

static void serial_input_ready(void *opaque, uint32_t events)
{
	serial_pump_input(opaque);
}

static void serial_wake(void *opaque, uint32_t events)
{
	struct serial_dev *d = opaque;
	uint8_t b[64];
	while (read(d->wake_fd, b, sizeof(b)) > 0)
		;
	if (d->in_is_file && d->uart.in_fd >= 0) {
		serial_pump_input(d);
		return;
	}
	if (d->uart.in_fd >= 0 && d->uart.in_paused &&
	    event__mod(d->vm->loop, d->uart.in_fd, EPOLLIN) == 0)
		d->uart.in_paused = false;
}

static void serial_rx_space(void *ctx)
{
	struct serial_dev *d = ctx;
	/* Always wake the VMM thread: in_paused belongs to it, and reading it here
	 * could miss a pause that is being set right now. */
	uint8_t b = 1;
	ssize_t w = write(d->wake_wr, &b, 1);
	(void)w;
}

static void serial_destroy(void *dev)
{
	struct serial_dev *d = dev;
	if (d->uart.out_fd > STDERR_FILENO)
		close(d->uart.out_fd);
	if (d->uart.in_fd > STDERR_FILENO)
		close(d->uart.in_fd);
	if (d->wake_fd >= 0) {
		close(d->wake_fd);
		close(d->wake_wr);
	}
	vm__free(d->vm, d);
}

/* The console opens the files cfg names; it still reports in text, and every failure
 * it has is about those files or the host. */
static int serial_setup(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct serial_dev *d = vm__zalloc(vm, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "serial: out of memory");
		return -1;
	}
	d->vm = vm;
	d->wake_fd = d->wake_wr = -1;
	int out = -1;
	if (cfg->serial_out == SERIAL_OUT_STDOUT)
		out = STDOUT_FILENO;
	else if (cfg->serial_out == SERIAL_OUT_FILE) {
		out = file__open(cfg->serial_out_path, FILE_CONSOLE_OUT);
		if (out < 0) {
			snprintf(err, errlen, "serial output '%s': %s", cfg->serial_out_path,
				 file__error());
			vm__free(vm, d);
			return -1;
		}
	}
	serial__init(&d->uart, out, serial_set_irq, d);
	serial__limit(&d->uart, &cfg->serial_rate_limiter);

	/* From here on serial_destroy() undoes whatever was done. */
	int in = -1;
	if (cfg->serial_in == SERIAL_IN_STDIN)
		in = STDIN_FILENO;
	else if (cfg->serial_in == SERIAL_IN_FILE) {
		in = file__open(cfg->serial_in_path, FILE_CONSOLE_IN);
		if (in < 0) {
			snprintf(err, errlen, "serial input '%s': %s", cfg->serial_in_path,
				 file__error());
			goto fail;
		}
	}
	if (in >= 0) {
		d->uart.in_fd = in;
		int pipefd[2];
		if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
			snprintf(err, errlen, "serial: pipe: %s", strerror(errno));
			goto fail;
		}
		d->wake_fd = pipefd[0];
		d->wake_wr = pipefd[1];
		d->uart.rx_space = serial_rx_space;
		d->uart.rx_ctx = d;
		/* stdin stays blocking: its file description is shared with the caller
		 * (often a terminal), and one read per EPOLLIN never blocks. */
		if (event__add(vm->loop, in, EPOLLIN, serial_input_ready, d) < 0) {
			/* Regular files cannot be polled: they are always readable, so read
			 * them as the guest drains the FIFO instead. */
			if (errno != EPERM) {
				snprintf(err, errlen, "serial input: %s", strerror(errno));
				goto fail;
			}
			d->in_is_file = true;
			serial_pump_input(d);
		}
		if (event__add(vm->loop, d->wake_fd, EPOLLIN, serial_wake, d) < 0) {
			snprintf(err, errlen, "serial: %s", strerror(errno));
			if (!d->in_is_file)
				event__del(vm->loop, in);
			goto fail;
		}
	}
	/* x86: COM1's ports; aarch64: MMIO, one byte per register (reg-shift 0). */
	if (bus__register(VM_SERIAL_ON_PIO ? &vm->pio : &vm->mmio, VM_SERIAL_BASE, 8, serial_pio,
			  d) < 0 ||
	    vm__add_device(vm, &serial_device, d) < 0) {
		snprintf(err, errlen, "serial: cannot register the device");
		if (in >= 0) {
			event__del(vm->loop, d->wake_fd);
			if (!d->in_is_file)
				event__del(vm->loop, in);
		}
		goto fail;
	}
	return 0;
fail:
	serial_destroy(d);
	return -1;
}

static int serial_row_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	if (serial_setup(vm, cfg, why, sizeof(why)))
		return error__from_text(e, EXIT_USAGE, why);
	return 0;
}

/* Firecracker's "uart" group. */
static void serial_metrics(void *dev, struct json_out *o)
{
	struct serial_dev *d = dev;
	pthread_mutex_lock(&d->uart.lock);
	uint64_t dropped = d->uart.dropped_bytes, wr = d->uart.write_count,
		 missed = d->uart.missed_write_count, rd = d->uart.read_count;
	pthread_mutex_unlock(&d->uart.lock);
	/* error_count, flush_count and missed_read_count: zeros, as the other groups
	 * have for what ember does not count (vmm.c). */
	json_out__printf(o,
			 ",\"uart\":{\"error_count\":0,\"flush_count\":0,\"missed_read_count\":0,"
			 "\"missed_write_count\":%llu,\"read_count\":%llu,\"write_count\":%llu,"
			 "\"rate_limiter_dropped_bytes\":%llu}",
			 (unsigned long long)missed, (unsigned long long)rd, (unsigned long long)wr,
			 (unsigned long long)dropped);
}

/* Snapshots: the registers and the unread input; the files are the configuration's.
 * Since vmstate 1.1 also the output rate limiter's bucket (ratelimit.h), so that a
 * restore neither refills it nor gives its one-time burst back. */

static int serial_save(void *dev, struct snapshot_out *o, struct error *e)
{
	struct serial *s = &((struct serial_dev *)dev)->uart;
	pthread_mutex_lock(&s->lock);
	uint8_t regs[9] = {s->ier, s->lcr, s->mcr, s->msr,	   s->scr,
			   s->dll, s->dlm, s->fcr, s->thre_pending};
	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned n = s->rx_len;
	for (unsigned i = 0; i < n; i++)
		rx[i] = s->rx[(s->rx_head + i) % SERIAL_FIFO_SIZE];
	struct tbucket_state lim;
	tbucket__save(&s->out_limit, s->now(), &lim);
	pthread_mutex_unlock(&s->lock);
	snap_out__blob(o, "registers", regs, sizeof(regs));
	snap_out__blob(o, "rx-fifo", rx, n);
#define PUT(name, v) snap_out__u64(o, "out-limit-" name, v);
	TBUCKET_STATE_FIELDS(PUT, lim)
#undef PUT
	return 0;
}

static int serial_restore(void *dev, struct snapshot_in *in, struct error *e)
{
	struct serial *s = &((struct serial_dev *)dev)->uart;
	uint8_t regs[9];
	const void *rx;
	size_t n;
	if (snap_in__bytes(in, "registers", regs, sizeof(regs), e) ||
	    vmstate__get_blob(in->vs, in->node, "rx-fifo", &rx, &n, e))
		return -1;
	if (n > SERIAL_FIFO_SIZE)
		return error__fail(e, EXIT_USAGE, "%s/rx-fifo: %zu bytes, the FIFO holds %d",
				   in->node, n, SERIAL_FIFO_SIZE);
	/* A 1.0 vmstate has no bucket: the limiter starts full, as it did. */
	bool has_limit = in->vs->major > 1 || in->vs->minor >= 1;
	struct tbucket_state lim = {0};
#define GET(name, v)                                                                               \
	if (has_limit && snap_in__u64(in, "out-limit-" name, &v, e))                               \
		return -1;
	TBUCKET_STATE_FIELDS(GET, lim)
#undef GET
	struct tbucket bucket;
	char why[200];
	if (has_limit && tbucket__load(&bucket, &lim, s->now(), why, sizeof(why)))
		return error__fail(e, EXIT_USAGE, "%s: output rate limiter: %s", in->node, why);
	pthread_mutex_lock(&s->lock);
	if (has_limit)
		s->out_limit = bucket;
	s->ier = regs[0], s->lcr = regs[1], s->mcr = regs[2], s->msr = regs[3];
	s->scr = regs[4], s->dll = regs[5], s->dlm = regs[6], s->fcr = regs[7];
	s->thre_pending = regs[8] != 0;
	memcpy(s->rx, rx, n);
	s->rx_head = 0;
	s->rx_len = (unsigned)n;
	/* The line's level is in the restored irqchip; resync our view of it. */
	s->irq_level = !(iir(s) & IIR_NONE);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* A console that went quiet: is the guest's THRE interrupt pending, enabled, raised? */
static void serial_describe(void *dev, char *buf, size_t len)
{
	struct serial *s = &((struct serial_dev *)dev)->uart;
	pthread_mutex_lock(&s->lock);
	snprintf(buf, len, "ier=0x%x iir=0x%x thre_pending=%d line=%d rx_len=%u written=%llu",
		 s->ier, iir(s), s->thre_pending, s->irq_level, s->rx_len,
		 (unsigned long long)s->write_count);
	pthread_mutex_unlock(&s->lock);
}

const struct device_ops serial_device = {
    .name = "serial",
    .setup = serial_row_setup,
    .destroy = serial_destroy,
    .metrics = serial_metrics,
    .save = serial_save,
    .restore = serial_restore,
    .describe = serial_describe,
};
