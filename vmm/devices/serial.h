/* 8250/16550A UART, the guest console: at 0x3f8, IRQ 4 on x86; where the
 * architecture's layout puts it otherwise (VM_SERIAL_* in vm.h). */
#ifndef EMBER_SERIAL_H
#define EMBER_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/ratelimit.h"

#define SERIAL_PORT_BASE 0x3f8
#define SERIAL_IRQ	 4
#define SERIAL_FIFO_SIZE 64

struct vm;
struct device_ops;

/* The register model is separate from the VM so it can be unit-tested: it reports
 * its interrupt line through `set_irq` and its output through `out_fd`. */
struct serial {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, msr, scr, dll, dlm, fcr;
	bool thre_pending; /* THR empty interrupt not yet acknowledged by an IIR read */
	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_len;
	int irq_level;
	int out_fd; /* -1: output discarded */
	int in_fd;  /* -1: no input */
	bool in_paused;
	void (*set_irq)(void *ctx, int level);
	void *irq_ctx;
	void (*rx_space)(void *ctx); /* called when the guest frees FIFO room */
	void *rx_ctx;
	/* PUT /serial's rate_limiter: output bytes over it are dropped and counted,
	 * as Firecracker does (a UART cannot tell the guest to wait). */
	struct tbucket out_limit;
	uint64_t dropped_bytes;
	uint64_t write_count, missed_write_count; /* bytes written out / failed */
	uint64_t read_count;			  /* received bytes the guest read */
	uint64_t (*now)(void);			  /* the limiter's clock; tests inject one */
};

void serial__init(struct serial *s, int out_fd, void (*set_irq)(void *, int), void *irq_ctx);
/* Limits the output bytes (NULL or size 0: no limit). */
void serial__limit(struct serial *s, const struct token_bucket_config *tb);
/* Port access, offset 0..7 from the base. */
void serial__io(struct serial *s, uint64_t offset, uint8_t *data, bool is_write);
/* Queues input bytes; returns how many fit. */
unsigned serial__rx(struct serial *s, const uint8_t *buf, unsigned len);
unsigned serial__rx_space(struct serial *s);

/* Device table row (vm.h): the console, from the config's serial output and input. */
extern const struct device_ops serial_device;

#endif
