/* The virtio-mmio register state machine, driven like a guest driver would (and
 * like a hostile one might), on an rng and a blk device. */
#include <fcntl.h>
#include <stdlib.h>

#include "check.h"
#include "test_virtio_harness.h"

#define MIB (1ull << 20)
#define BUF 0x100000ull
#define ALL (~0ull)
#define V1  VIRTIO_BIT(VIRTIO_F_VERSION_1)

static struct guest_mem mem;
static char err[256];

static struct virtio_dev *new_rng(void)
{
	if (!mem.base && guest_mem__init(&mem, 16 * MIB))
		abort();
	struct virtio_dev *d = rng__create(&mem, NULL, err, sizeof(err));
	if (!d)
		abort();
	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return d;
}

static uint64_t irq_count(struct virtio_dev *d)
{
	uint64_t n = 0;
	if (read(d->irq_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static void identity(void)
{
	struct virtio_dev *d = new_rng();
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_VERSION), 2);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	uint64_t f = dev_features(d);
	CHECK(f & V1);
	CHECK(f & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	CHECK(f & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	mmio_w(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	/* No shared memory regions: SHMLen reads as all ones. */
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
	/* Registers are 32-bit only; a byte read of one gives 0, not garbage. */
	uint8_t b = 0x55;
	virtio_mmio__access(d, VIRTIO_MMIO_MAGIC_VALUE, &b, 1, false);
	CHECK_EQ(b, 0);
	/* A write to a read-only register changes nothing. */
	mmio_w(d, VIRTIO_MMIO_DEVICE_ID, 7);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	virtio_dev__destroy(d);
}

static void negotiation(void)
{
	struct virtio_dev *d = new_rng();
	struct gq q;
	gq_init(&q, &mem, 0x10000, 8);
	CHECK_EQ(driver_init(d, ALL, &q, 1), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
						 VIRTIO_STATUS_FEATURES_OK |
						 VIRTIO_STATUS_DRIVER_OK);
	CHECK(d->driver_features & V1);
	CHECK(virtio_dev__has(d, VIRTIO_F_EVENT_IDX));
	CHECK(d->vq[0].event_idx);

	/* Without VERSION_1 (a legacy driver), FEATURES_OK does not stick. */
	uint32_t st = driver_init(d, ALL & ~V1, &q, 1);
	CHECK(!(st & VIRTIO_STATUS_FEATURES_OK));
	CHECK(!(st & VIRTIO_STATUS_DRIVER_OK));
	/* And DRIVER_OK without FEATURES_OK is refused too. */
	mmio_w(d, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	CHECK(!(mmio_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK));

	/* A feature the device never offered. */
	mmio_w(d, VIRTIO_MMIO_STATUS, 0);
	mmio_w(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	mmio_w(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES, 1u | (1u << 31));
	mmio_w(d, VIRTIO_MMIO_STATUS,
	       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK(!(mmio_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK));

	/* Features written before DRIVER, or after FEATURES_OK, are ignored. */
	mmio_w(d, VIRTIO_MMIO_STATUS, 0);
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	CHECK_EQ(d->driver_features, 0);
	driver_init(d, V1, &q, 1);
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_F_EVENT_IDX);
	CHECK_EQ(d->driver_features, V1);

	/* Status bits cannot be cleared except by reset; skipping ACKNOWLEDGE fails. */
	mmio_w(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK(mmio_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	mmio_w(d, VIRTIO_MMIO_STATUS, 0);
	mmio_w(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_STATUS), 0);
	virtio_dev__destroy(d);
}

static void queue_rules(void)
{
	struct virtio_dev *d = new_rng();
	struct gq q;
	gq_init(&q, &mem, 0x10000, 8);
	mmio_w(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	mmio_w(d, VIRTIO_MMIO_QUEUE_SEL, 1); /* rng has one queue */
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	mmio_w(d, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_QUEUE_READY), 0);

	/* Ready before FEATURES_OK: the device needs a reset. */
	mmio_w(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	mmio_queue(d, 0, &q);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK(mmio_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);

	/* Reset clears it; then a size that is not a power of two is refused. */
	mmio_w(d, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_STATUS), 0);
	struct gq bad = q;
	bad.l.size = 6;
	CHECK(driver_init(d, ALL, &bad, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_QUEUE_READY), 0);
	bad.l.size = 1024; /* more than QueueNumMax */
	CHECK(driver_init(d, ALL, &bad, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	bad = q;
	bad.l.used = mem.total; /* outside RAM */
	CHECK(driver_init(d, ALL, &bad, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);

	/* A good queue; its layout is frozen while ready. */
	CHECK_EQ(driver_init(d, ALL, &q, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_QUEUE_READY), 1);
	mmio_w(d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x20000);
	mmio_w(d, VIRTIO_MMIO_QUEUE_NUM, 4);
	CHECK_EQ(d->vq[0].layout.desc, q.l.desc);
	CHECK_EQ(d->pending[0].desc, q.l.desc);
	CHECK_EQ(d->vq[0].layout.size, 8);
	/* QueueReady 0 disables it. */
	mmio_w(d, VIRTIO_MMIO_QUEUE_READY, 0);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_QUEUE_READY), 0);
	virtio_dev__destroy(d);
}

static void interrupts_and_reset(void)
{
	struct virtio_dev *d = new_rng();
	struct gq q;
	gq_init(&q, &mem, 0x10000, 8);
	driver_init(d, V1, &q, 1);
	gq_desc(&q, 0, BUF, 32, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	uint32_t id = 9, len = 0;
	CHECK_EQ(gq_take_used(&q, &id, &len), 0);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 32);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_VRING);
	CHECK_EQ(irq_count(d), 1);
	mmio_w(d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* Reset: everything back to the initial state. */
	mmio_w(d, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_STATUS), 0);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(d->driver_features, 0);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* A kick on a reset device does nothing. */
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	CHECK_EQ(gq_take_used(&q, &id, &len), -1);

	/* FAILED: the device stops serving. */
	gq_init(&q, &mem, 0x10000, 8);
	driver_init(d, V1, &q, 1);
	mmio_w(d, VIRTIO_MMIO_STATUS, mmio_r(d, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_FAILED);
	CHECK(mmio_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FAILED);
	gq_desc(&q, 0, BUF, 32, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	CHECK_EQ(gq_take_used(&q, &id, &len), -1);
	virtio_dev__destroy(d);
}

static void hostile_ring_needs_reset(void)
{
	struct virtio_dev *d = new_rng();
	struct gq q;
	gq_init(&q, &mem, 0x10000, 8);
	driver_init(d, V1, &q, 1);
	irq_count(d);
	gq_desc(&q, 0, mem.total - 4, 32, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	uint32_t st = mmio_r(d, VIRTIO_MMIO_STATUS);
	CHECK(st & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK(st & VIRTIO_STATUS_DRIVER_OK);
	CHECK(mmio_r(d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
	CHECK_EQ(irq_count(d), 1);
	CHECK_EQ(d->stats.ring_errors, 1);
	/* The driver cannot clear NEEDS_RESET by writing status... */
	mmio_w(d, VIRTIO_MMIO_STATUS, st & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK(mmio_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* ...and further kicks are ignored until it resets. */
	gq_desc(&q, 0, BUF, 32, VIRTQ_DESC_F_WRITE, 0);
	virtio_dev__kick(d, 0);
	uint32_t id = 0, len = 0;
	CHECK_EQ(gq_take_used(&q, &id, &len), -1);
	/* After a reset the device works again. */
	gq_init(&q, &mem, 0x10000, 8);
	CHECK_EQ(driver_init(d, V1, &q, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	gq_desc(&q, 0, BUF, 32, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	CHECK_EQ(gq_take_used(&q, &id, &len), 0);
	CHECK_EQ(len, 32);
	virtio_dev__destroy(d);
}

static void config_space(void)
{
	char path[] = "/tmp/ember-virtio-mmio-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 8 * MIB), 0);
	close(fd);
	struct drive_config dc = {.id = "cfgtest"};
	snprintf(dc.path, sizeof(dc.path), "%s", path);
	struct virtio_dev *d = blk__create(&dc, &mem, NULL, err, sizeof(err));
	unlink(path);
	CHECK(d != NULL);
	if (!d)
		return;
	/* capacity in 512-byte sectors, read as two 32-bit halves and byte by byte */
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_CONFIG), 8 * MIB / 512);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_CONFIG + 4), 0);
	uint8_t b[2];
	virtio_mmio__access(d, VIRTIO_MMIO_CONFIG + 1, b, 2, false);
	CHECK_EQ(b[0] | b[1] << 8, (8 * MIB / 512) >> 8);
	/* Past the end of config space: zeroes. */
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_CONFIG + 0x100), 0);
	uint32_t gen = mmio_r(d, VIRTIO_MMIO_CONFIG_GENERATION);
	pthread_mutex_lock(&d->lock);
	virtio_dev__config_changed(d);
	pthread_mutex_unlock(&d->lock);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
	/* Config writes are ignored (nothing in blk's config is writable here). */
	mmio_w(d, VIRTIO_MMIO_CONFIG, 1);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_CONFIG), 8 * MIB / 512);
	virtio_dev__destroy(d);
}

CHECK_MAIN("virtio-mmio", CHECK_CASE(identity), CHECK_CASE(negotiation), CHECK_CASE(queue_rules),
	   CHECK_CASE(interrupts_and_reset), CHECK_CASE(hostile_ring_needs_reset),
	   CHECK_CASE(config_space))
