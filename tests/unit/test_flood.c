/* A guest that repeats what makes ember log, in a loop, as fast as it can: the log
 * stays small (issue 17, finding 3). Each case is one guest-triggerable message. */
#include <stdlib.h>

#include "check.h"
#include "log_capture.h"
#include "devices/legacy.h"
#include "test_virtio_harness.h"
#include "vm.h"

#define ROUNDS 20000
/* A handful of lines per message at most: the limiter's burst, and a line for the
 * real event. */
#define MAX_LINES (LOG_LIMIT_BURST + 2)

static unsigned lines(const char *s)
{
	unsigned k = 0;
	for (; *s; s++)
		k += *s == '\n';
	return k;
}

static char buf[1 << 20];

/* Captures the log at INFO level: every message the guest triggers is written. */
static void flood_begin(void)
{
	log__set_level(LOG_INFO);
	log_to_temp("flood");
}

/* Reads the log into buf, the level back at ERROR; returns its length. */
static size_t flood_end(void)
{
	size_t n = log_back(buf, sizeof(buf));
	log__set_level(LOG_ERROR);
	return n;
}

static void boot_timer_written_in_a_loop(void)
{
	static struct vm vm;
	memset(&vm, 0, sizeof(vm));
	vm.start_us = now_us();
	struct error e = {0};
	CHECK_EQ(boot_timer_device.setup(&vm, NULL, &e), 0);
	flood_begin();
	for (int i = 0; i < ROUNDS; i++) {
		uint8_t magic = BOOT_TIMER_MAGIC;
		CHECK(bus__dispatch(&vm.mmio, VM_BOOT_TIMER_ADDR, &magic, 1, true));
	}
	flood_end();
	CHECK_EQ(count(buf, "guest boot time: "), 1);
	CHECK(lines(buf) <= MAX_LINES);
	CHECK(vm.boot_time_us != 0);
	for (unsigned i = vm.nr_devices; i-- > 0;)
		vm.devices[i].ops->destroy(vm.devices[i].dev);
}

static struct guest_mem mem;

/* An rng device on the shared guest memory, the log captured; NULL after a failed check. */
static struct virtio_dev *rng_flood_begin(void)
{
	if (!mem.base && guest_mem__init(&mem, 16 << 20))
		abort();
	char err[128];
	struct virtio_dev *d = rng__create(&mem, NULL, err, sizeof(err));
	CHECK(d != NULL);
	if (d)
		flood_begin();
	return d;
}

/* The flood left a small log that says `what` at least once; d goes. */
static void rng_flood_end(struct virtio_dev *d, const char *what)
{
	size_t n = flood_end();
	CHECK(count(buf, what) >= 1);
	CHECK(lines(buf) <= MAX_LINES);
	CHECK(n < 4096);
	virtio_dev__destroy(d);
}

static void rng_features_ok_without_version_1(void)
{
	struct virtio_dev *d = rng_flood_begin();
	if (!d)
		return;
	struct gq q;
	gq_init(&q, &mem, 0x10000, 8);
	for (int i = 0; i < ROUNDS; i++)
		CHECK(!(driver_init(d, ~VIRTIO_BIT(VIRTIO_F_VERSION_1), &q, 1) &
			VIRTIO_STATUS_FEATURES_OK));
	rng_flood_end(d, "did not accept VIRTIO_F_VERSION_1");
}

static void ring_broken_after_every_reset(void)
{
	struct virtio_dev *d = rng_flood_begin();
	if (!d)
		return;
	struct gq q;
	for (int i = 0; i < ROUNDS; i++) {
		gq_init(&q, &mem, 0x10000, 8);
		driver_init(d, ~0ull, &q, 1);
		gq_desc(&q, 0, mem.total - 8, 64, VIRTQ_DESC_F_WRITE, 0); /* past the end */
		gq_publish(&q, 0);
		virtio_dev__kick(d, 0);
	}
	CHECK(mmio_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(d->stats.ring_errors, ROUNDS);
	rng_flood_end(d, "device needs reset");
}

CHECK_MAIN("flood", CHECK_CASE(boot_timer_written_in_a_loop),
	   CHECK_CASE(rng_features_ok_without_version_1), CHECK_CASE(ring_broken_after_every_reset))
