/* A minimal virtio driver for unit tests: rings in a guest_mem, register access
 * through the device's MMIO handler, and an optional VMM thread running the event
 * loop, so device models run exactly as under KVM minus the vCPUs. */
#ifndef EMBER_TEST_VIRTIO_HARNESS_H
#define EMBER_TEST_VIRTIO_HARNESS_H

#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "mem.h"
#include "virtio/devices.h"
#include "virtio/mmio.h"
#include "virtio/queue.h"

/* The guest's view of one split queue at a fixed place in guest memory. */
struct gq {
	struct guest_mem *mem;
	struct virtq_layout l;
	uint16_t avail_idx;
	uint16_t used_seen;
};

static inline void *gp(struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem__ptr(mem, gpa, len);
	if (!p) {
		fprintf(stderr, "test bug: gpa 0x%llx\n", (unsigned long long)gpa);
		abort();
	}
	return p;
}

/* Desc table at base, avail at base+0x1000*, used at base+0x2000* (scaled by size). */
static inline void gq_init(struct gq *q, struct guest_mem *mem, uint64_t base, uint16_t size)
{
	q->mem = mem;
	q->l.size = size;
	q->l.desc = base;
	q->l.avail = base + 16ull * size;
	q->l.used = (q->l.avail + 6 + 2ull * size + 3) & ~3ull;
	q->avail_idx = q->used_seen = 0;
	memset(gp(mem, base, q->l.used + 6 + 8ull * size - base), 0,
	       q->l.used + 6 + 8ull * size - base);
}

static inline void gq_desc(struct gq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
			   uint16_t next)
{
	uint8_t *d = gp(q->mem, q->l.desc + 16ull * i, 16);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Writes a descriptor into an arbitrary table (indirect tables). */
static inline void g_desc_at(struct guest_mem *mem, uint64_t table, uint16_t i, uint64_t addr,
			     uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = gp(mem, table + 16ull * i, 16);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static inline void gq_set_avail_idx(struct gq *q, uint16_t idx)
{
	q->avail_idx = idx;
	__atomic_store_n((uint16_t *)gp(q->mem, q->l.avail + 2, 2), idx, __ATOMIC_RELEASE);
}

static inline void gq_publish(struct gq *q, uint16_t head)
{
	uint16_t *ring = gp(q->mem, q->l.avail + 4, 2ull * q->l.size);
	ring[q->avail_idx % q->l.size] = head;
	gq_set_avail_idx(q, (uint16_t)(q->avail_idx + 1));
}

static inline uint16_t gq_used_idx(struct gq *q)
{
	return __atomic_load_n((uint16_t *)gp(q->mem, q->l.used + 2, 2), __ATOMIC_ACQUIRE);
}

/* The next used entry, or -1 if none. */
static inline int gq_take_used(struct gq *q, uint32_t *id, uint32_t *len)
{
	if (gq_used_idx(q) == q->used_seen)
		return -1;
	uint32_t *e = gp(q->mem, q->l.used + 4 + 8ull * (q->used_seen % q->l.size), 8);
	*id = e[0];
	*len = e[1];
	q->used_seen++;
	return 0;
}

/* Waits up to ms for a used entry. */
static inline int gq_wait_used(struct gq *q, uint32_t *id, uint32_t *len, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (gq_take_used(q, id, len) == 0)
			return 0;
		usleep(1000);
	}
	return gq_take_used(q, id, len);
}

static inline void mmio_w(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	virtio_mmio__access(d, off, (uint8_t *)&v, 4, true);
}

static inline uint32_t mmio_r(struct virtio_dev *d, uint64_t off)
{
	uint32_t v = 0xdeadbeef;
	virtio_mmio__access(d, off, (uint8_t *)&v, 4, false);
	return v;
}

static inline uint64_t dev_features(struct virtio_dev *d)
{
	mmio_w(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint64_t hi = mmio_r(d, VIRTIO_MMIO_DEVICE_FEATURES);
	mmio_w(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return hi << 32 | mmio_r(d, VIRTIO_MMIO_DEVICE_FEATURES);
}

static inline void mmio_queue(struct virtio_dev *d, unsigned qi, const struct gq *q)
{
	mmio_w(d, VIRTIO_MMIO_QUEUE_SEL, qi);
	mmio_w(d, VIRTIO_MMIO_QUEUE_NUM, q->l.size);
	mmio_w(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->l.desc);
	mmio_w(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->l.desc >> 32));
	mmio_w(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->l.avail);
	mmio_w(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->l.avail >> 32));
	mmio_w(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->l.used);
	mmio_w(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->l.used >> 32));
	mmio_w(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* The driver's side of §3.1.1, accepting `want` & what the device offers. Returns
 * the final status. */
static inline uint32_t driver_init(struct virtio_dev *d, uint64_t want, struct gq *qs, unsigned nq)
{
	mmio_w(d, VIRTIO_MMIO_STATUS, 0);
	mmio_w(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	mmio_w(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	uint64_t f = dev_features(d) & want;
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_w(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	mmio_w(d, VIRTIO_MMIO_STATUS, st);
	if (!(mmio_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return mmio_r(d, VIRTIO_MMIO_STATUS);
	for (unsigned i = 0; i < nq; i++)
		mmio_queue(d, i, &qs[i]);
	mmio_w(d, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	return mmio_r(d, VIRTIO_MMIO_STATUS);
}

/* A VMM thread serving the event loop, with plain eventfds standing in for
 * KVM's ioeventfds and irqfd. */
struct vmm_thread {
	struct event_loop *loop;
	pthread_t tid;
	bool running;
};

static inline void *vmm_thread_main(void *arg)
{
	struct vmm_thread *t = arg;
	event__run(t->loop);
	return NULL;
}

static inline void dev_fake_kvm(struct virtio_dev *d)
{
	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (unsigned i = 0; i < d->nr_queues; i++)
		d->kick_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (virtio_dev__watch_kicks(d)) {
		fprintf(stderr, "test bug: watch_kicks\n");
		abort();
	}
}

static inline void vmm_start(struct vmm_thread *t)
{
	t->running = pthread_create(&t->tid, NULL, vmm_thread_main, t) == 0;
}

static inline void vmm_stop(struct vmm_thread *t)
{
	if (!t->running)
		return;
	event__stop(t->loop, 0);
	pthread_join(t->tid, NULL);
	t->running = false;
}

static inline void kick(struct virtio_dev *d, unsigned q)
{
	mmio_w(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

#endif
