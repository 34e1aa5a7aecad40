/* libFuzzer over the balloon's guest-facing side: the input is a driver's program
 * of requests on the inflate, deflate, statistics and reporting queues, configuration writes,
 * polls, target changes and resets, against a 16 MiB guest. Any crash, sanitizer
 * report or broken counter invariant is a finding. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tests/unit/test_virtio_harness.h"
#include "virtio/balloon.h"

#define BUF  0x100000ull
#define SPAN 0x10000ull /* bytes of request data a step may place */

static struct guest_mem mem;
static struct virtio_dev *dev;
static struct gq q[4];

struct counter {
	const char *name;
	uint64_t value;
};

static void find_counter(void *opaque, const char *device, const char *name, uint64_t value)
{
	struct counter *c = opaque;
	if (!strcmp(name, c->name))
		c->value = value;
}

static uint64_t metric(const char *name)
{
	struct counter c = {name, 0};
	dev->ops->metrics(dev, find_counter, &c);
	return c.value;
}

static void driver_up(void)
{
	for (unsigned i = 0; i < 4; i++)
		gq_init(&q[i], &mem, 0x10000 + 0x4000ull * i, 16);
	driver_init(dev, ~0ull, q, 4);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log__set_level(LOG_ERROR);
	if (guest_mem__init(&mem, 16ull << 20))
		abort();
	struct balloon_config bc = {
	    .present = true, .amount_mib = 4, .stats_polling_interval_s = 1};
	char err[256];
	dev = balloon__create(&bc, &mem, NULL, err, sizeof(err));
	if (!dev)
		abort();
	return 0;
}

static size_t take(const uint8_t **p, size_t *n, void *out, size_t want)
{
	size_t k = want < *n ? want : *n;
	memset(out, 0, want);
	memcpy(out, *p, k);
	*p += k;
	*n -= k;
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	driver_up();
	uint16_t slot = 0;
	while (size) {
		uint8_t op = 0;
		take(&data, &size, &op, 1);
		switch (op % 8) {
		case 0:
		case 1:
		case 2:
		case 3: {
			/* One request of one or two descriptors on a queue. */
			struct {
				uint16_t len, len2;
				uint8_t flags;
			} h;
			take(&data, &size, &h, sizeof(h));
			unsigned qi = op % 4;
			uint64_t at = BUF + (slot % 8) * SPAN;
			size_t len = h.len % SPAN, len2 = h.len2 % 64;
			take(&data, &size, gp(&mem, at, SPAN), len < SPAN - 64 ? len : SPAN - 64);
			uint16_t head = slot % 16, next = (slot + 1) % 16;
			uint16_t f = (h.flags & 1 ? VIRTQ_DESC_F_WRITE : 0);
			if (h.flags & 2) {
				gq_desc(&q[qi], head, at, (uint32_t)len, f | VIRTQ_DESC_F_NEXT,
					next);
				gq_desc(&q[qi], next, at + SPAN - 64, (uint32_t)len2,
					h.flags & 4 ? VIRTQ_DESC_F_WRITE : 0, 0);
				slot++;
			} else {
				gq_desc(&q[qi], head, at, (uint32_t)len, f, 0);
			}
			slot++;
			gq_publish(&q[qi], head);
			virtio_dev__kick(dev, qi);
			break;
		}
		case 4: {
			uint8_t off, v[4];
			take(&data, &size, &off, 1);
			take(&data, &size, v, 4);
			unsigned w = 1u << (off >> 6);
			virtio_mmio__access(dev, VIRTIO_MMIO_CONFIG + (off & 15), v, w > 4 ? 4 : w,
					    true);
			break;
		}
		case 5:
			balloon__request_stats(dev);
			break;
		case 6: {
			uint32_t mib = 0;
			char err[256];
			take(&data, &size, &mib, 2);
			balloon__set_target(dev, mib % 17, err, sizeof(err));
			break;
		}
		case 7:
			driver_up();
			break;
		}
		/* A broken ring ends in DEVICE_NEEDS_RESET; the driver starts over. */
		if (!virtio_dev__live(dev))
			driver_up();
		uint64_t held = metric("inflated_pages");
		assert(held <= mem.total / 4096);
		assert(metric("inflated_pfns") >= metric("deflated_pfns"));
		(void)held;
	}
	struct balloon_stats s;
	balloon__get_stats(dev, &s);
	assert(s.target_pages <= 16 * 256);
	return 0;
}
