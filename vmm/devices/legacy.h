/* The small legacy devices: i8042 (reset and Ctrl-Alt-Del) and the boot timer. */
#ifndef EMBER_LEGACY_H
#define EMBER_LEGACY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct device_ops;

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT	0x64
#define I8042_IRQ	1

/* Enough of an 8042 for Linux's probe, a reset through 0xFE, and injected keys. */
struct i8042 {
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t ctr; /* controller configuration byte */
	uint8_t cmd; /* command awaiting a data byte, or 0 */
	uint8_t outbuf[16];
	unsigned out_head, out_len;
	void (*reset)(void *ctx);
	void (*set_irq)(void *ctx, int level);
	void *ctx;
};

void i8042__init(struct i8042 *k, void (*reset)(void *), void (*set_irq)(void *, int), void *ctx);
void i8042__io(struct i8042 *k, uint64_t port, uint8_t *data, bool is_write);
/* Queues Ctrl+Alt+Del scancodes; -1 if the guest has not drained the previous keys. */
int i8042__send_ctrl_alt_del(struct i8042 *k);
/* Device table rows (vm.h). */
extern const struct device_ops i8042_device;
extern const struct device_ops boot_timer_device;
/* The VM's i8042 (for SendCtrlAltDel), or NULL if it has none. */
struct i8042 *i8042__of(const struct vm *vm);

#define BOOT_TIMER_MAGIC 123

/* The boot timer (row boot_timer_device) logs "guest boot time" when the guest
 * writes 123 to VM_BOOT_TIMER_ADDR. */

#endif
