/* Port-I/O and MMIO buses: exits from vCPUs are routed to device handlers here. */
#ifndef EMBER_BUS_H
#define EMBER_BUS_H

#include <stdbool.h>
#include <stdint.h>

#define BUS_MAX_RANGES 48

/* Called on a vCPU thread. `offset` is relative to the range base; `len` is 1..8.
 * On reads the handler fills data[0..len); unhandled bytes read as 0xff. */
typedef void (*bus_handler_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			       bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_handler_fn fn;
	void *opaque;
};

/* Ranges are registered before vCPUs start and never change afterwards, so
 * dispatch needs no lock. */
struct bus {
	struct bus_range ranges[BUS_MAX_RANGES];
	unsigned nr_ranges;
};

int bus__register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn fn, void *opaque);
/* false if no device claims the access. */
bool bus__dispatch(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		   bool is_write);

#endif
