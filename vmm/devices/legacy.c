#include "legacy.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapshot.h"
#include "vm.h"

#define STATUS_OBF 0x01
#define STATUS_SYS 0x04
#define STATUS_CMD 0x08

#define CTR_KBD_INT	0x01
#define CTR_SYS		0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_XLATE	0x40

#define CMD_READ_CTR	 0x20
#define CMD_WRITE_CTR	 0x60
#define CMD_AUX_DISABLE	 0xa7
#define CMD_AUX_ENABLE	 0xa8
#define CMD_AUX_TEST	 0xa9
#define CMD_SELF_TEST	 0xaa
#define CMD_KBD_TEST	 0xab
#define CMD_KBD_DISABLE	 0xad
#define CMD_KBD_ENABLE	 0xae
#define CMD_WRITE_OUTP	 0xd1
#define CMD_WRITE_KBD_OB 0xd2
#define CMD_PULSE_RESET	 0xfe

void i8042__init(struct i8042 *k, void (*reset)(void *), void (*set_irq)(void *, int), void *ctx)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->status = STATUS_SYS;
	k->ctr = CTR_KBD_INT | CTR_SYS | CTR_XLATE;
	k->reset = reset;
	k->set_irq = set_irq;
	k->ctx = ctx;
}

/* Lock held. Returns whether the keyboard IRQ should fire. */
static bool push(struct i8042 *k, uint8_t byte)
{
	if (k->out_len == sizeof(k->outbuf))
		return false;
	k->outbuf[(k->out_head + k->out_len++) % sizeof(k->outbuf)] = byte;
	k->status |= STATUS_OBF;
	return k->ctr & CTR_KBD_INT;
}

static bool pop(struct i8042 *k, uint8_t *byte)
{
	if (!k->out_len) {
		*byte = 0;
		return false;
	}
	*byte = k->outbuf[k->out_head];
	k->out_head = (k->out_head + 1) % sizeof(k->outbuf);
	if (--k->out_len == 0)
		k->status &= ~STATUS_OBF;
	return k->out_len && (k->ctr & CTR_KBD_INT);
}

void i8042__io(struct i8042 *k, uint64_t port, uint8_t *data, bool is_write)
{
	bool irq = false, reset = false;
	pthread_mutex_lock(&k->lock);
	if (!is_write) {
		if (port == I8042_CMD_PORT)
			*data = k->status;
		else
			irq = pop(k, data);
	} else if (port == I8042_CMD_PORT) {
		k->status |= STATUS_CMD;
		k->cmd = 0;
		switch (*data) {
		case CMD_READ_CTR:
			irq = push(k, k->ctr);
			break;
		case CMD_WRITE_CTR:
		case CMD_WRITE_OUTP:
		case CMD_WRITE_KBD_OB:
			k->cmd = *data;
			break;
		case CMD_SELF_TEST:
			irq = push(k, 0x55);
			break;
		case CMD_KBD_TEST:
			irq = push(k, 0x00);
			break;
		case CMD_AUX_TEST:
			irq = push(k, 0xff); /* no mouse port */
			break;
		case CMD_AUX_DISABLE:
			k->ctr |= CTR_AUX_DISABLE;
			break;
		case CMD_AUX_ENABLE:
			k->ctr &= ~CTR_AUX_DISABLE;
			break;
		case CMD_KBD_DISABLE:
			k->ctr |= CTR_KBD_DISABLE;
			break;
		case CMD_KBD_ENABLE:
			k->ctr &= ~CTR_KBD_DISABLE;
			break;
		case CMD_PULSE_RESET:
			reset = true;
			break;
		default:
			break;
		}
	} else {
		k->status &= ~STATUS_CMD;
		switch (k->cmd) {
		case CMD_WRITE_CTR:
			k->ctr = *data;
			break;
		case CMD_WRITE_OUTP:
			/* Bit 0 low is the system reset line, as on a PC. */
			if (!(*data & 1))
				reset = true;
			break;
		case CMD_WRITE_KBD_OB:
			irq = push(k, *data);
			break;
		default:
			/* A command to the keyboard itself: acknowledge; reset also passes BAT. */
			irq = push(k, 0xfa);
			if (*data == 0xff)
				push(k, 0xaa);
			break;
		}
		k->cmd = 0;
	}
	pthread_mutex_unlock(&k->lock);
	if (irq && k->set_irq) {
		k->set_irq(k->ctx, 1);
		k->set_irq(k->ctx, 0);
	}
	if (reset && k->reset)
		k->reset(k->ctx);
}

int i8042__send_ctrl_alt_del(struct i8042 *k)
{
	/* Set 2 make/break codes; the controller translates them for the guest. */
	static const uint8_t keys[] = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
				       0x71, 0xf0, 0x11, 0xf0, 0x14};
	pthread_mutex_lock(&k->lock);
	if (sizeof(k->outbuf) - k->out_len < sizeof(keys)) {
		pthread_mutex_unlock(&k->lock);
		return -1;
	}
	bool irq = false;
	for (size_t i = 0; i < sizeof(keys); i++)
		irq |= push(k, keys[i]);
	pthread_mutex_unlock(&k->lock);
	if (irq && k->set_irq) {
		k->set_irq(k->ctx, 1);
		k->set_irq(k->ctx, 0);
	}
	return 0;
}

struct i8042_dev {
	struct i8042 kbd;
	struct vm *vm;
};

static void i8042_reset(void *ctx)
{
	struct i8042_dev *d = ctx;
	vm__request_exit(d->vm, EXIT_OK, "guest reboot");
}

static void i8042_set_irq(void *ctx, int level)
{
	struct i8042_dev *d = ctx;
	vm__set_irq_line(d->vm, I8042_IRQ, level);
}

static void i8042_pio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042_dev *d = opaque;
	if (len == 1 && (offset == 0 || offset == I8042_CMD_PORT - I8042_DATA_PORT))
		i8042__io(&d->kbd, I8042_DATA_PORT + offset, data, is_write);
}

static int i8042_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	struct i8042_dev *d = vm__zalloc(vm, sizeof(*d));
	if (!d)
		return error__fail(e, EXIT_ERROR, "i8042: out of memory");
	d->vm = vm;
	i8042__init(&d->kbd, i8042_reset, i8042_set_irq, d);
	/* Ports 0x60..0x64 as one range; 0x61..0x63 read as 0xff and ignore writes. */
	if (bus__register(&vm->pio, I8042_DATA_PORT, 5, i8042_pio, d) < 0 ||
	    vm__add_device(vm, &i8042_device, d) < 0) {
		vm__free(vm, d);
		return error__fail(e, EXIT_ERROR, "i8042: cannot register the device");
	}
	return 0;
}

static int i8042_save(void *dev, struct snapshot_out *o, struct error *e)
{
	struct i8042 *k = &((struct i8042_dev *)dev)->kbd;
	pthread_mutex_lock(&k->lock);
	uint8_t regs[3] = {k->status, k->ctr, k->cmd};
	uint8_t out[sizeof(k->outbuf)];
	unsigned n = k->out_len;
	for (unsigned i = 0; i < n; i++)
		out[i] = k->outbuf[(k->out_head + i) % sizeof(k->outbuf)];
	pthread_mutex_unlock(&k->lock);
	snap_out__blob(o, "registers", regs, sizeof(regs));
	snap_out__blob(o, "output", out, n);
	return 0;
}

static int i8042_restore(void *dev, struct snapshot_in *in, struct error *e)
{
	struct i8042 *k = &((struct i8042_dev *)dev)->kbd;
	uint8_t regs[3];
	const void *out;
	size_t n;
	if (snap_in__bytes(in, "registers", regs, sizeof(regs), e) ||
	    vmstate__get_blob(in->vs, in->node, "output", &out, &n, e))
		return -1;
	if (n > sizeof(k->outbuf))
		return error__fail(e, EXIT_USAGE, "%s/output: %zu bytes, the buffer holds %zu",
				   in->node, n, sizeof(k->outbuf));
	pthread_mutex_lock(&k->lock);
	k->status = regs[0], k->ctr = regs[1], k->cmd = regs[2];
	memcpy(k->outbuf, out, n);
	k->out_head = 0;
	k->out_len = (unsigned)n;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static void i8042_destroy(void *dev)
{
	struct i8042_dev *d = dev;
	vm__free(d->vm, d);
}

const struct device_ops i8042_device = {
    .name = "i8042",
    .setup = i8042_setup,
    .destroy = i8042_destroy,
    .save = i8042_save,
    .restore = i8042_restore,
};

struct i8042 *i8042__of(const struct vm *vm)
{
	struct i8042_dev *d = vm__find_device(vm, &i8042_device);
	return d ? &d->kbd : NULL;
}

/* The boot timer is written once by a well-behaved guest; a guest that writes it in a
 * loop must not fill the log, so only the first write is logged and counted. */
struct boot_timer {
	struct vm *vm;
	struct log_limit again;
};

static void boot_timer_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			    bool is_write)
{
	struct boot_timer *t = opaque;
	struct vm *vm = t->vm;
	if (!is_write || offset != 0 || len != 1 || data[0] != BOOT_TIMER_MAGIC)
		return;
	uint64_t now = now_us(), first = 0;
	/* The first write wins, whichever vCPU makes it. */
	if (!atomic_compare_exchange_strong(&vm->boot_time_us, &first, now - vm->start_us)) {
		pr_info_limited(&t->again, "guest wrote the boot timer again; ignored");
		return;
	}
	pr_info("guest boot time: %llu us", (unsigned long long)(now - vm->start_us));
	if (vm->instance_start_us)
		pr_info("guest boot time since InstanceStart: %llu us",
			(unsigned long long)(now - vm->instance_start_us));
}

static int boot_timer_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	struct boot_timer *t = vm__zalloc(vm, sizeof(*t));
	if (!t)
		return error__fail(e, EXIT_ERROR, "boot timer: out of memory");
	t->vm = vm;
	if (vm__add_device(vm, &boot_timer_device, t) < 0) {
		vm__free(vm, t);
		return error__fail(e, EXIT_ERROR, "boot timer: too many devices");
	}
	/* From here vm__destroy() frees t. */
	if (bus__register(&vm->mmio, VM_BOOT_TIMER_ADDR, 0x1000, boot_timer_mmio, t) < 0)
		return error__fail(e, EXIT_ERROR, "boot timer: cannot register the device");
	return 0;
}

/* Whether (and when) the guest wrote the timer: a restored guest that writes it again
 * is not booting. */
static int boot_timer_save(void *dev, struct snapshot_out *o, struct error *e)
{
	struct boot_timer *t = dev;
	return snap_out__u64(o, "boot-time-us", atomic_load(&t->vm->boot_time_us));
}

static int boot_timer_restore(void *dev, struct snapshot_in *in, struct error *e)
{
	struct boot_timer *t = dev;
	uint64_t v;
	if (snap_in__u64(in, "boot-time-us", &v, e))
		return -1;
	atomic_store(&t->vm->boot_time_us, v);
	return 0;
}

static void boot_timer_destroy(void *dev)
{
	struct boot_timer *t = dev;
	vm__free(t->vm, t);
}

const struct device_ops boot_timer_device = {
    .name = "boot-timer",
    .setup = boot_timer_setup,
    .destroy = boot_timer_destroy,
    .save = boot_timer_save,
    .restore = boot_timer_restore,
};
