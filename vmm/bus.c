#include "bus.h"

#include <errno.h>
#include <string.h>

int bus__register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn fn, void *opaque)
{
	if (len == 0 || base + len < base || bus->nr_ranges == BUS_MAX_RANGES) {
		errno = EINVAL;
		return -1;
	}
	for (unsigned i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];
		if (base < r->base + r->len && r->base < base + len) {
			errno = EEXIST;
			return -1;
		}
	}
	bus->ranges[bus->nr_ranges++] = (struct bus_range){base, len, fn, opaque};
	return 0;
}

bool bus__dispatch(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
	for (unsigned i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];
		if (addr >= r->base && addr - r->base < r->len) {
			uint64_t off = addr - r->base;
			/* An access running past the end of the range is the guest's bug;
			 * give the device only the bytes inside it. */
			uint32_t n = len;
			if (n > r->len - off)
				n = (uint32_t)(r->len - off);
			if (!is_write)
				memset(data, 0xff, len);
			r->fn(r->opaque, off, data, n, is_write);
			return true;
		}
	}
	if (!is_write)
		memset(data, 0xff, len);
	return false;
}
