/* virtio-rng: buffers come back full of getrandom() bytes. */
#include <stdlib.h>

#include "check.h"
#include "test_virtio_harness.h"

#define MIB (1ull << 20)
#define BUF 0x100000ull

static struct guest_mem mem;
static char err[256];

static void fills_buffers(void)
{
	if (guest_mem__init(&mem, 16 * MIB))
		abort();
	struct virtio_dev *d = rng__create(&mem, NULL, err, sizeof(err));
	struct gq q;
	gq_init(&q, &mem, 0x10000, 8);
	CHECK(driver_init(d, ~0ull, &q, 1) & VIRTIO_STATUS_DRIVER_OK);
	uint8_t *a = gp(&mem, BUF, 64), *b = gp(&mem, BUF + 0x1000, 4096);
	memset(a, 0, 64);
	memset(b, 0, 4096);
	gq_desc(&q, 0, BUF, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	gq_desc(&q, 1, BUF + 0x1000, 4096, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	/* A chain with nothing writable gets nothing. */
	gq_desc(&q, 2, BUF + 0x3000, 16, 0, 0);
	gq_publish(&q, 2);
	virtio_dev__kick(d, 0);
	uint32_t id = 9, len = 0;
	CHECK_EQ(gq_take_used(&q, &id, &len), 0);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 64 + 4096);
	CHECK_EQ(gq_take_used(&q, &id, &len), 0);
	CHECK_EQ(id, 2);
	CHECK_EQ(len, 0);
	/* 4 KiB of zeroes from getrandom would be a 2^-32768 event. */
	unsigned zeroes = 0;
	for (unsigned i = 0; i < 4096; i++)
		zeroes += b[i] == 0;
	CHECK(zeroes < 100);
	CHECK_EQ(d->stats.requests, 2);
	CHECK_EQ(d->stats.write_bytes, 64 + 4096);
	virtio_dev__destroy(d);
	guest_mem__destroy(&mem);
}

CHECK_MAIN("virtio-rng", CHECK_CASE(fills_buffers))
