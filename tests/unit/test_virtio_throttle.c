/* Rate limiters in the serve loop: a throttled device completes every request, paced
 * by its limiter's timer, and a live update takes effect without losing any. */
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "api/json.h"
#include "check.h"
#include "test_virtio_harness.h"

#define MIB   (1ull << 20)
#define QBASE 0x10000ull
#define TXQB  0x20000ull
#define BUF   0x100000ull
#define HDR   0x200000ull
#define DATA  0x300000ull
#define STAT  0x700000ull

static struct guest_mem mem;
static char err[256];

static void mem_up(void)
{
	if (!mem.base && guest_mem__init(&mem, 32 * MIB))
		abort();
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t throttled(struct virtio_dev *d, unsigned q)
{
	pthread_mutex_lock(&d->lock);
	uint64_t v = d->stats.throttled[q];
	pthread_mutex_unlock(&d->lock);
	return v;
}

/* Without an event loop nothing re-serves the queue: the chains stay in the ring,
 * untouched, until the timer's work is done by hand. */
/* Whether the device's metrics group has "name":value. */
static bool metric_is(struct virtio_dev *d, const char *name, uint64_t value)
{
	struct json_out o = {0};
	virtio__device_metrics(d, &o);
	char want[96];
	snprintf(want, sizeof(want), "\"%s\":%llu", name, (unsigned long long)value);
	bool ok = o.buf && memmem(o.buf, o.len, want, strlen(want));
	json_out__free(&o);
	return ok;
}

static void throttled_chains_stay_queued(void)
{
	mem_up();
	struct rate_limiter_config rl = {.ops = {.size = 4, .refill_time = 1000}};
	struct virtio_dev *d = rng__create_limited(&rl, &mem, NULL, err, sizeof(err));
	CHECK(d != NULL);
	if (!d)
		return;
	struct gq q;
	gq_init(&q, &mem, QBASE, 16);
	CHECK(driver_init(d, ~0ull, &q, 1) & VIRTIO_STATUS_DRIVER_OK);
	for (uint16_t i = 0; i < 10; i++) {
		gq_desc(&q, i, BUF + 64ull * i, 64, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&q, i);
	}
	virtio_dev__kick(d, 0);
	CHECK_EQ(gq_used_idx(&q), 4);
	CHECK_EQ(d->stats.throttled[0], 1);
	CHECK_EQ(d->stats.errors, 0);
	/* A kick while blocked is refused again and counted, as in Firecracker. */
	virtio_dev__kick(d, 0);
	CHECK_EQ(gq_used_idx(&q), 4);
	CHECK_EQ(d->stats.throttled[0], 2);
	/* A live update that lifts the limit serves the rest at once, all of it. */
	struct token_bucket_config none = {0};
	CHECK_EQ(virtio_dev__update_limit(d, 0, NULL, &none), 0);
	CHECK_EQ(gq_used_idx(&q), 10);
	uint32_t id = 0, len = 0;
	for (uint16_t i = 0; i < 10; i++) {
		CHECK_EQ(gq_take_used(&q, &id, &len), 0);
		CHECK_EQ(id, i);
		CHECK_EQ(len, 64);
	}
	CHECK_EQ(d->stats.requests, 10);
	virtio_dev__destroy(d);
}

/* virtio-blk: reads charged by their data; the throttled ones wait in the ring and
 * complete OK once the limit is lifted. */
static void blk_reads_wait(void)
{
	mem_up();
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ember-throttle-XXXXXX");
	int fd = mkstemp(path);
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	/* 8 KiB of bandwidth a second: two 4 KiB reads, then the third waits. */
	struct drive_config dc = {
	    .id = "d0", .rate_limiter = {.bandwidth = {.size = 8192, .refill_time = 1000}}};
	snprintf(dc.path, sizeof(dc.path), "%s", path);
	struct virtio_dev *d = blk__create(&dc, &mem, NULL, err, sizeof(err));
	CHECK(d != NULL);
	if (!d) {
		unlink(path);
		return;
	}
	struct gq q;
	gq_init(&q, &mem, QBASE, 16);
	CHECK(driver_init(d, ~0ull, &q, 1) & VIRTIO_STATUS_DRIVER_OK);
	for (uint16_t i = 0; i < 4; i++) {
		uint8_t *h = gp(&mem, HDR + 16ull * i, 16);
		memset(h, 0, 16); /* VIRTIO_BLK_T_IN, sector 0 */
		*(uint8_t *)gp(&mem, STAT + i, 1) = 0xee;
		gq_desc(&q, (uint16_t)(3 * i), HDR + 16ull * i, 16, VIRTQ_DESC_F_NEXT,
			(uint16_t)(3 * i + 1));
		gq_desc(&q, (uint16_t)(3 * i + 1), DATA + 4096ull * i, 4096,
			VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, (uint16_t)(3 * i + 2));
		gq_desc(&q, (uint16_t)(3 * i + 2), STAT + i, 1, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&q, (uint16_t)(3 * i));
	}
	virtio_dev__kick(d, 0);
	CHECK_EQ(gq_used_idx(&q), 2);
	CHECK_EQ(d->stats.throttled[0], 1);
	CHECK(metric_is(d, "rate_limiter_throttled_events", 1));
	CHECK_EQ(*(uint8_t *)gp(&mem, STAT + 2, 1), 0xee); /* untouched while it waits */
	struct token_bucket_config none = {0};
	CHECK_EQ(virtio_dev__update_limit(d, 0, &none, NULL), 0);
	CHECK_EQ(gq_used_idx(&q), 4);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(*(uint8_t *)gp(&mem, STAT + i, 1), 0); /* VIRTIO_BLK_S_OK */
	CHECK_EQ(d->stats.errors, 0);
	CHECK_EQ(d->stats.write_bytes, 4 * 4096);
	virtio_dev__destroy(d);
	unlink(path);
}

struct rig {
	struct vmm_thread vmm;
	struct virtio_dev *d;
	struct gq q;
};

static void rng_rig(struct rig *r, const struct rate_limiter_config *rl, uint16_t qsize)
{
	mem_up();
	memset(r, 0, sizeof(*r));
	r->vmm.loop = event__create();
	r->d = rng__create_limited(rl, &mem, r->vmm.loop, err, sizeof(err));
	if (!r->d)
		abort();
	dev_fake_kvm(r->d);
	gq_init(&r->q, &mem, QBASE, qsize);
	vmm_start(&r->vmm);
	if (!(driver_init(r->d, ~0ull, &r->q, 1) & VIRTIO_STATUS_DRIVER_OK))
		abort();
}

static void rig_down(struct rig *r)
{
	vmm_stop(&r->vmm);
	virtio_dev__destroy(r->d);
	event__destroy(r->vmm.loop);
}

/* Waits for n used entries; returns the ms it took, or -1. */
static double wait_all(struct gq *q, unsigned n, double t0, int timeout_ms)
{
	uint32_t id = 0, len = 0;
	for (unsigned i = 0; i < n; i++) {
		if (gq_wait_used(q, &id, &len, timeout_ms))
			return -1;
	}
	return now_ms() - t0;
}

/* 100 ops/s: 10 at once (a full bucket), the next 30 in about 300 ms, by the timer. */
static void ops_paced_by_the_timer(void)
{
	struct rig r;
	struct rate_limiter_config rl = {.ops = {.size = 10, .refill_time = 100}};
	rng_rig(&r, &rl, 64);
	for (uint16_t i = 0; i < 40; i++) {
		gq_desc(&r.q, i, BUF + 64ull * i, 64, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&r.q, i);
	}
	double t0 = now_ms();
	kick(r.d, 0);
	double ms = wait_all(&r.q, 40, t0, 3000);
	CHECK(ms >= 270);
	CHECK(ms < 1500); /* generous: a loaded host is slow, never fast */
	CHECK(throttled(r.d, 0) >= 1);
	pthread_mutex_lock(&r.d->lock);
	CHECK_EQ(r.d->stats.requests, 40);
	CHECK_EQ(r.d->stats.errors, 0);
	CHECK(r.d->stats.limiter_events[0] >= 1);
	uint64_t thr = r.d->stats.throttled[0], ev = r.d->stats.limiter_events[0];
	pthread_mutex_unlock(&r.d->lock);
	/* Firecracker's names in the entropy group. */
	CHECK(metric_is(r.d, "entropy_rate_limiter_throttled", thr));
	CHECK(metric_is(r.d, "rate_limiter_event_count", ev));
	rig_down(&r);
}

/* Bytes: 64 KiB per 100 ms; 8 requests of 32 KiB (one full bucket, 192 KiB more at
 * 640 KiB/s = 300 ms). */
static void bandwidth_paced(void)
{
	struct rig r;
	struct rate_limiter_config rl = {.bandwidth = {.size = 65536, .refill_time = 100}};
	rng_rig(&r, &rl, 16);
	for (uint16_t i = 0; i < 8; i++) {
		gq_desc(&r.q, i, BUF + 32768ull * i, 32768, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&r.q, i);
	}
	double t0 = now_ms();
	kick(r.d, 0);
	double ms = wait_all(&r.q, 8, t0, 3000);
	CHECK(ms >= 270);
	CHECK(ms < 1500);
	pthread_mutex_lock(&r.d->lock);
	CHECK_EQ(r.d->stats.write_bytes, 8 * 32768);
	pthread_mutex_unlock(&r.d->lock);
	rig_down(&r);
}

/* An update on the VMM thread's side while requests wait: tighter limits slow the
 * rest, none is lost. */
static void update_while_queued(void)
{
	struct rig r;
	struct rate_limiter_config rl = {.ops = {.size = 2, .refill_time = 1000}};
	rng_rig(&r, &rl, 32);
	for (uint16_t i = 0; i < 20; i++) {
		gq_desc(&r.q, i, BUF + 64ull * i, 64, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&r.q, i);
	}
	kick(r.d, 0);
	uint32_t id = 0, len = 0;
	CHECK_EQ(gq_wait_used(&r.q, &id, &len, 2000), 0);
	CHECK_EQ(gq_wait_used(&r.q, &id, &len, 2000), 0);
	usleep(50000);
	CHECK_EQ(gq_used_idx(&r.q), 2); /* 2 ops/s: the third waits ~500 ms */
	/* Raised to 1000 ops/s: the 18 waiting finish well before the old timer. */
	struct token_bucket_config fast = {.size = 1000, .refill_time = 1000};
	double t0 = now_ms();
	CHECK_EQ(virtio_dev__update_limit(r.d, 0, NULL, &fast), 0);
	double ms = wait_all(&r.q, 18, t0, 3000);
	CHECK(ms >= 0 && ms < 300);
	pthread_mutex_lock(&r.d->lock);
	CHECK_EQ(r.d->stats.requests, 20);
	pthread_mutex_unlock(&r.d->lock);
	rig_down(&r);
}

/* virtio-net: transmit and receive have limiters of their own. */
static void net_tx_and_rx_paced(void)
{
	mem_up();
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp))
		abort();
	struct vmm_thread vmm = {.loop = event__create()};
	/* 10 frames per 100 ms each way. */
	struct net_config nc = {.id = "eth0",
				.rx_rate_limiter = {.ops = {.size = 10, .refill_time = 100}},
				.tx_rate_limiter = {.ops = {.size = 10, .refill_time = 100}}};
	struct virtio_dev *d = net__create(&nc, sp[0], &mem, vmm.loop, err, sizeof(err));
	CHECK(d != NULL);
	if (!d)
		return;
	dev_fake_kvm(d);
	struct gq q[2];
	gq_init(&q[0], &mem, QBASE, 64);
	gq_init(&q[1], &mem, TXQB, 64);
	vmm_start(&vmm);
	CHECK(driver_init(d, ~0ull, q, 2) & VIRTIO_STATUS_DRIVER_OK);
	/* 30 frames out: 10 now, 20 over ~200 ms. */
	uint8_t *h = gp(&mem, HDR, 12 + 60);
	memset(h, 0, 12 + 60);
	for (uint16_t i = 0; i < 30; i++) {
		gq_desc(&q[1], i, HDR, 12 + 60, 0, 0);
		gq_publish(&q[1], i);
	}
	double t0 = now_ms();
	kick(d, 1);
	double ms = wait_all(&q[1], 30, t0, 3000);
	CHECK(ms >= 170 && ms < 1500);
	uint8_t got[256];
	unsigned sent = 0;
	while (recv(sp[1], got, sizeof(got), 0) == 12 + 60)
		sent++;
	CHECK_EQ(sent, 30);
	CHECK(throttled(d, 1) >= 1);
	/* 40 frames in: buffers first, then the frames. The rx bucket sat full since
	 * the device was made; as in Firecracker, the first refill then credits that
	 * idle time too (up to a second bucket), so 20 may come at once. */
	for (uint16_t i = 0; i < 40; i++) {
		gq_desc(&q[0], i, BUF + 2048ull * i, 2048, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&q[0], i);
	}
	kick(d, 0);
	usleep(20000);
	uint8_t fr[12 + 100] = {0};
	t0 = now_ms();
	for (int i = 0; i < 40; i++)
		send(sp[1], fr, sizeof(fr), 0);
	ms = wait_all(&q[0], 40, t0, 3000);
	CHECK(ms >= 170 && ms < 1500);
	CHECK(throttled(d, 0) >= 1);
	pthread_mutex_lock(&d->lock);
	CHECK_EQ(d->stats.dropped, 0);
	uint64_t rx_thr = d->stats.throttled[0], tx_thr = d->stats.throttled[1];
	pthread_mutex_unlock(&d->lock);
	CHECK(metric_is(d, "rx_rate_limiter_throttled", rx_thr));
	CHECK(metric_is(d, "tx_rate_limiter_throttled", tx_thr));
	vmm_stop(&vmm);
	virtio_dev__destroy(d);
	event__destroy(vmm.loop);
	close(sp[1]);
}

CHECK_MAIN("virtio-throttle", CHECK_CASE(throttled_chains_stay_queued), CHECK_CASE(blk_reads_wait),
	   CHECK_CASE(ops_paced_by_the_timer), CHECK_CASE(bandwidth_paced),
	   CHECK_CASE(update_while_queued), CHECK_CASE(net_tx_and_rx_paced))
