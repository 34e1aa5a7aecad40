/* The core's queue-serving loop: its per-call budget, and fairness between devices
 * whose guest never stops feeding them. */
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "check.h"
#include "test_virtio_harness.h"

#define MIB   (1ull << 20)
#define QBASE 0x10000ull
#define BUF   0x100000ull
#define QSIZE 256

static struct guest_mem mem;
static char err[256];

static void mem_up(void)
{
	if (!mem.base && guest_mem__init(&mem, 16 * MIB))
		abort();
}

static uint64_t eventfd_count(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* One kick serves at most VIRTIO_SERVE_BUDGET chains, then asks to be called again
 * through the kick eventfd instead of going on. */
static void budget_per_call(void)
{
	mem_up();
	struct virtio_dev *d = rng__create(&mem, NULL, err, sizeof(err));
	CHECK(d != NULL);
	if (!d)
		return;
	d->kick_fd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct gq q;
	gq_init(&q, &mem, QBASE, QSIZE);
	CHECK(driver_init(d, ~0ull, &q, 1) & VIRTIO_STATUS_DRIVER_OK);
	eventfd_count(d->kick_fd[0]);
	const unsigned chains = 3 * VIRTIO_SERVE_BUDGET + 10;
	for (uint16_t i = 0; i < chains; i++) {
		gq_desc(&q, i, BUF + 16ull * i, 16, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&q, i);
	}
	unsigned calls = 0;
	uint16_t prev = 0;
	for (;;) {
		virtio_dev__kick(d, 0);
		calls++;
		uint16_t now = gq_used_idx(&q);
		CHECK(now - prev <= VIRTIO_SERVE_BUDGET);
		prev = now;
		/* Re-signalled exactly when work was left. */
		uint64_t again = eventfd_count(d->kick_fd[0]);
		if (now == chains) {
			CHECK_EQ(again, 0);
			break;
		}
		CHECK_EQ(again, 1);
		if (calls > chains)
			break;
	}
	CHECK_EQ(prev, chains);
	CHECK_EQ(calls, 4);
	CHECK_EQ(d->stats.requests, chains);
	virtio_dev__destroy(d);
}

/* A device whose guest hands back every buffer the moment the device returns it,
 * as a vCPU on another core can: the ring is never empty, so nothing but the
 * budget ends a call. */
struct flood_dev {
	struct virtio_dev vdev;
	struct gq q;
	_Atomic bool feed;
	_Atomic uint64_t served;
};

#define FLOOD_IN_FLIGHT 8

static enum virtio_chain_result flood_chain(struct virtio_dev *dev, unsigned q,
					    struct virtq_chain *c, uint32_t *written,
					    const char **why)
{
	struct flood_dev *f = (struct flood_dev *)dev;
	atomic_fetch_add(&f->served, 1);
	/* The guest's next buffer: a descriptor that is not in flight. */
	if (atomic_load(&f->feed))
		gq_publish(&f->q, (uint16_t)((c->head + FLOOD_IN_FLIGHT) % (2 * FLOOD_IN_FLIGHT)));
	*written = 0;
	return VIRTIO_CHAIN_USED;
}

static void flood_destroy(struct virtio_dev *dev)
{
	virtio_dev__release(dev);
	free(dev);
}

static const struct virtio_dev_ops flood_ops = {
    .chain = flood_chain,
    .destroy = flood_destroy,
};

static struct flood_dev *flood_up(struct event_loop *loop, uint64_t qbase, uint64_t buf)
{
	struct flood_dev *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	virtio_dev__init(&f->vdev, &flood_ops, VIRTIO_ID_RNG, "flood", &mem, loop, 1, 0, NULL, 0);
	atomic_store(&f->feed, true);
	dev_fake_kvm(&f->vdev);
	gq_init(&f->q, &mem, qbase, 2 * FLOOD_IN_FLIGHT);
	for (uint16_t i = 0; i < 2 * FLOOD_IN_FLIGHT; i++)
		gq_desc(&f->q, i, buf + 64ull * i, 64, VIRTQ_DESC_F_WRITE, 0);
	/* Made available before DRIVER_OK, which kicks the queue. */
	for (uint16_t i = 0; i < FLOOD_IN_FLIGHT; i++)
		gq_publish(&f->q, i);
	return f;
}

static void two_flooded_devices_both_progress(void)
{
	mem_up();
	struct vmm_thread vmm = {.loop = event__create()};
	struct flood_dev *a = flood_up(vmm.loop, QBASE, BUF);
	struct flood_dev *b = flood_up(vmm.loop, QBASE + 0x10000, BUF + 0x10000);
	vmm_start(&vmm);
	/* DRIVER_OK kicks the queue. a first: without a budget its call would never end
	 * and b would never be served. */
	CHECK(driver_init(&a->vdev, ~0ull, &a->q, 1) & VIRTIO_STATUS_DRIVER_OK);
	usleep(20000);
	CHECK(driver_init(&b->vdev, ~0ull, &b->q, 1) & VIRTIO_STATUS_DRIVER_OK);
	/* Both progress, and keep progressing, while the guest never stops. */
	uint64_t a0 = 0, b0 = 0;
	for (int round = 0; round < 2; round++) {
		uint64_t a_start = atomic_load(&a->served), b_start = atomic_load(&b->served);
		for (int ms = 0; ms < 3000; ms++) {
			if (atomic_load(&a->served) > a_start + 10 * VIRTIO_SERVE_BUDGET &&
			    atomic_load(&b->served) > b_start + 10 * VIRTIO_SERVE_BUDGET)
				break;
			usleep(1000);
		}
		CHECK(atomic_load(&a->served) > a_start + 10 * VIRTIO_SERVE_BUDGET);
		CHECK(atomic_load(&b->served) > b_start + 10 * VIRTIO_SERVE_BUDGET);
		a0 = atomic_load(&a->served);
		b0 = atomic_load(&b->served);
	}
	/* The guest stops: both calls end, and the VMM thread can be stopped. */
	atomic_store(&a->feed, false);
	atomic_store(&b->feed, false);
	usleep(20000);
	vmm_stop(&vmm);
	CHECK(a0 > 0 && b0 > 0);
	virtio_dev__destroy(&a->vdev);
	virtio_dev__destroy(&b->vdev);
	event__destroy(vmm.loop);
}

/* The budget leaves the event loop free for everything else: an fd of another
 * handler made ready while a device floods is served within a short time. */
struct ping {
	int fd;
	_Atomic uint64_t at_us;
};

static void on_ping(void *opaque, uint32_t events)
{
	struct ping *p = opaque;
	uint64_t v;
	if (read(p->fd, &v, sizeof(v)) == sizeof(v))
		atomic_store(&p->at_us, now_us());
}

static void loop_stays_responsive(void)
{
	mem_up();
	struct vmm_thread vmm = {.loop = event__create()};
	struct flood_dev *a = flood_up(vmm.loop, QBASE + 0x20000, BUF + 0x20000);
	struct ping p = {.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
	CHECK_EQ(event__add(vmm.loop, p.fd, EPOLLIN, on_ping, &p), 0);
	vmm_start(&vmm);
	CHECK(driver_init(&a->vdev, ~0ull, &a->q, 1) & VIRTIO_STATUS_DRIVER_OK);
	usleep(20000);
	uint64_t sent = now_us(), one = 1;
	CHECK_EQ(write(p.fd, &one, sizeof(one)), sizeof(one));
	for (int ms = 0; ms < 2000 && !atomic_load(&p.at_us); ms++)
		usleep(1000);
	uint64_t at = atomic_load(&p.at_us);
	CHECK(at != 0);
	CHECK(at - sent < 1000000);
	CHECK(atomic_load(&a->served) > 0);
	atomic_store(&a->feed, false);
	usleep(20000);
	vmm_stop(&vmm);
	event__del(vmm.loop, p.fd);
	close(p.fd);
	virtio_dev__destroy(&a->vdev);
	event__destroy(vmm.loop);
}

CHECK_MAIN("virtio-serve", CHECK_CASE(budget_per_call),
	   CHECK_CASE(two_flooded_devices_both_progress), CHECK_CASE(loop_stays_responsive))
