/* Minimal virtio-mmio (version 2) drivers with split virtqueues, written from the
 * virtio 1.2 spec (§4.2 MMIO transport, §2.7 split virtqueues, §5.2 blk, §5.1 net,
 * §5.4 rng, §5.10 vsock). Everything here runs at CPL3 (user-mapped MMIO, ports through int $0x81):
 * the queues are polled, and used-buffer interrupts are counted by a ring-0 ISR. */
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_vsock.h>

#include "probe.h"

#define BIT(n) (1ull << (n))
/* The MagicValue register's "virt" (§4.2.2): the UAPI headers name the register only. */
#define MMIO_MAGIC_VIRT 0x74726976u

/* --- MMIO transport -------------------------------------------------------------- */

/* The virtio_mmio.device= window: inside the 32-bit MMIO gap, below the IOAPIC. */
#define MMIO_MIN 0xc0000000ull
#define MMIO_MAX 0xfec00000ull
#define MAX_DEVS 16
#define MAX_IRQ	 23

/* --- split virtqueue ---------------------------------------------------------------- */
#define QSZ 16

struct vq_mem {
	struct vring_desc desc[QSZ];
	struct {
		uint16_t flags, idx, ring[QSZ], used_event;
	} avail;
	struct {
		uint16_t flags, idx;
		struct {
			uint32_t id, len;
		} ring[QSZ];
		uint16_t avail_event;
	} used __attribute__((aligned(4)));
} __attribute__((aligned(4096)));

struct vq {
	struct vq_mem *m;
	unsigned index;
	uint16_t num, avail_idx, used_seen;
};

struct vdev {
	uint64_t base;
	unsigned irq;
	uint32_t id;
	volatile unsigned irqs; /* counted by the ISR */
	uint64_t features;	/* negotiated */
	struct vq vq[3];
};

/* The devices, their queues and buffers: set up and used by the BSP's virtio run only;
 * the ISR reads `devs`. Static because the ISR has no other way to find them. */
static struct vdev devs[MAX_DEVS];
static unsigned nr_devs;

/* Buffers come from a bump pool outside .bss (entry.S; zeroed on allocation, at CPL3). */
extern uint8_t virtio_pool[];
#define pool	  virtio_pool
#define POOL_SIZE (320u * 1024u)
static size_t pool_used;

static void *pool_alloc(size_t n, size_t align)
{
	size_t at = (pool_used + align - 1) & ~(align - 1);
	if (at > POOL_SIZE || n > POOL_SIZE - at)
		return NULL;
	pool_used = at + n;
	memset(pool + at, 0, n);
	return pool + at;
}

static uint32_t r32(const struct vdev *d, unsigned reg)
{
	return mmio_read32(d->base + reg);
}

static void w32(const struct vdev *d, unsigned reg, uint32_t v)
{
	mmio_write32(d->base + reg, v);
}

static void w64(const struct vdev *d, unsigned reg, uint64_t v)
{
	w32(d, reg, (uint32_t)v);
	w32(d, reg + 4, (uint32_t)(v >> 32));
}

static uint8_t cfg8(const struct vdev *d, unsigned off)
{
	return mmio_read8(d->base + VIRTIO_MMIO_CONFIG + off);
}

static uint64_t cfg64(const struct vdev *d, unsigned off)
{
	return r32(d, VIRTIO_MMIO_CONFIG + off) | (uint64_t)r32(d, VIRTIO_MMIO_CONFIG + off + 4)
						      << 32;
}

/* ISR for every virtio IRQ vector: acknowledge whatever each device reports. */
static void virtio_isr(void)
{
	for (unsigned i = 0; i < nr_devs; i++) {
		uint32_t st = r32(&devs[i], VIRTIO_MMIO_INTERRUPT_STATUS);
		if (st) {
			w32(&devs[i], VIRTIO_MMIO_INTERRUPT_ACK, st);
			devs[i].irqs++;
		}
	}
}

/* Returns NULL, or why the device refused. */
static const char *dev_begin(struct vdev *d, uint64_t want)
{
	w32(d, VIRTIO_MMIO_STATUS, 0);
	if (r32(d, VIRTIO_MMIO_STATUS) != 0)
		return "status did not read 0 after reset";
	w32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	w32(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	w32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint64_t f = r32(d, VIRTIO_MMIO_DEVICE_FEATURES);
	w32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f |= (uint64_t)r32(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	if (!(f & BIT(VIRTIO_F_VERSION_1)))
		return "device does not offer VIRTIO_F_VERSION_1";
	d->features = f & (want | BIT(VIRTIO_F_VERSION_1));
	w32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	w32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	w32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	w32(d, VIRTIO_MMIO_STATUS,
	    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(r32(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
		return "device did not accept FEATURES_OK";
	return NULL;
}

static const char *vq_setup(struct vdev *d, unsigned index)
{
	struct vq *q = &d->vq[index];
	w32(d, VIRTIO_MMIO_QUEUE_SEL, index);
	if (r32(d, VIRTIO_MMIO_QUEUE_READY))
		return "queue is ready before setup";
	uint32_t max = r32(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (max == 0)
		return "queue is missing (QueueNumMax 0)";
	q->m = pool_alloc(sizeof(struct vq_mem), 4096);
	if (!q->m)
		return "probe out of queue memory";
	q->index = index;
	q->num = (uint16_t)(max < QSZ ? max : QSZ);
	q->avail_idx = q->used_seen = 0;
	w32(d, VIRTIO_MMIO_QUEUE_NUM, q->num);
	w64(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint64_t)q->m->desc);
	w64(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint64_t)&q->m->avail);
	w64(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint64_t)&q->m->used);
	w32(d, VIRTIO_MMIO_QUEUE_READY, 1);
	if (r32(d, VIRTIO_MMIO_QUEUE_READY) != 1)
		return "QueueReady did not stick";
	return NULL;
}

static void dev_driver_ok(struct vdev *d)
{
	w32(d, VIRTIO_MMIO_STATUS,
	    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
		VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Makes descriptor chain `head` available; notifies unless told not to. */
static void vq_push(struct vdev *d, struct vq *q, uint16_t head, bool notify)
{
	q->m->avail.ring[q->avail_idx % q->num] = head;
	mb();
	q->avail_idx++;
	*(volatile uint16_t *)&q->m->avail.idx = q->avail_idx;
	mb();
	if (notify)
		w32(d, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
}

/* Next used element, or false once `deadline` (time__us) passes. */
static bool vq_pop(struct vq *q, uint64_t deadline, uint32_t *id, uint32_t *len)
{
	while (*(volatile uint16_t *)&q->m->used.idx == q->used_seen) {
		if (time__us() >= deadline)
			return false;
		cpu_relax();
	}
	mb();
	uint16_t slot = q->used_seen % q->num;
	*id = *(volatile uint32_t *)&q->m->used.ring[slot].id;
	*len = *(volatile uint32_t *)&q->m->used.ring[slot].len;
	q->used_seen++;
	return true;
}

static void set_desc(struct vq *q, uint16_t i, const void *addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	q->m->desc[i] = (struct vring_desc){(uint64_t)addr, len, flags, next};
}

/* One synchronous request: descriptors 0..n-1 as a chain, wait for it to be used. */
struct seg {
	void *p;
	uint32_t len;
	bool device_writes;
};

static const char *vq_request(struct vdev *d, struct vq *q, const struct seg *s, unsigned n,
			      uint64_t timeout_us, uint32_t *used_len)
{
	if (n > q->num)
		return "chain longer than the queue";
	for (unsigned i = 0; i < n; i++)
		set_desc(q, (uint16_t)i, s[i].p, s[i].len,
			 (uint16_t)((s[i].device_writes ? VRING_DESC_F_WRITE : 0) |
				    (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			 (uint16_t)(i + 1 < n ? i + 1 : 0));
	vq_push(d, q, 0, true);
	uint32_t id, len;
	if (!vq_pop(q, time__us() + timeout_us, &id, &len))
		return "request not completed in time";
	if (id != 0)
		return "used ring returned an unknown descriptor id";
	if (used_len)
		*used_len = len;
	return NULL;
}

/* --- device discovery ------------------------------------------------------------- */

/* Parses "4K@0xADDR:IRQ" (the size part is not needed: ember uses 4 KiB). */
static bool parse_mmio_arg(const char *v, size_t n, uint64_t *addr, unsigned *irq)
{
	size_t at = 0, colon = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '@' && !at)
			at = i;
		else if (v[i] == ':' && at)
			colon = i;
	}
	uint64_t a, q;
	if (!at || !colon || colon < at + 3 || v[at + 1] != '0' || (v[at + 2] | 0x20) != 'x')
		return false;
	if (!parse__u64(v + at + 3, colon - at - 3, 16, &a) ||
	    !parse__u64(v + colon + 1, n - colon - 1, 10, &q))
		return false;
	if (a < MMIO_MIN || a >= MMIO_MAX || (a & 0xfff) || q > MAX_IRQ)
		return false;
	*addr = a;
	*irq = (unsigned)q;
	return true;
}

static void discover(void)
{
	static const char key[] = "virtio_mmio.device=";
	size_t n;
	const char *cl = cmdline__get_raw(&n);
	for (size_t i = 0; i < n;) {
		while (i < n && cl[i] == ' ')
			i++;
		size_t start = i;
		while (i < n && cl[i] != ' ')
			i++;
		size_t klen = sizeof(key) - 1;
		if (i - start <= klen || memcmp(cl + start, key, klen))
			continue;
		uint64_t addr;
		unsigned irq;
		if (!parse_mmio_arg(cl + start + klen, i - start - klen, &addr, &irq)) {
			uart__printf("PROBE virtio bad argument %.*s\n", (int)(i - start),
				     cl + start);
			continue;
		}
		if (nr_devs == MAX_DEVS)
			break;
		struct vdev *d = &devs[nr_devs];
		memset(d, 0, sizeof(*d));
		d->base = addr;
		d->irq = irq;
		uint32_t magic = r32(d, VIRTIO_MMIO_MAGIC_VALUE), ver = r32(d, VIRTIO_MMIO_VERSION);
		d->id = r32(d, VIRTIO_MMIO_DEVICE_ID);
		uart__printf("PROBE virtio device addr=0x%lx irq=%u magic=0x%x version=%u id=%u\n",
			     addr, irq, magic, ver, d->id);
		if (magic != MMIO_MAGIC_VIRT || ver != 2 || d->id == 0)
			continue;
		nr_devs++;
	}
}

static struct vdev *find_dev(uint32_t id, unsigned nth)
{
	for (unsigned i = 0; i < nr_devs; i++)
		if (devs[i].id == id && nth-- == 0)
			return &devs[i];
	return NULL;
}

static void route_irq(struct vdev *d)
{
	if (d->irq >= 5)
		ioapic__route(d->irq, VEC_IRQ_BASE + d->irq, lapic__id());
}

/* Fails a check whose data path worked but whose completion never interrupted. */
/* The device interrupts after it updates the used ring, and the host may deliver that
 * interrupt well after the polling driver saw the update (kvm_pvm must kick a vCPU
 * that runs ring 3 natively), so a missing interrupt is only missing after a wait. */
static void wait_irq(const struct probe *p, const struct vdev *d)
{
	uint64_t end = time__us() + p->timeout_us;
	while (d->irqs == 0 && time__us() < end)
		cpu_relax();
}

static void check_done(struct probe *p, const char *name, struct vdev *d, const char *why)
{
	if (!why)
		wait_irq(p, d);
	if (why)
		probe__check(p, name, false, "%s", why);
	else if (d->irqs == 0)
		probe__check(p, name, false, "no used-buffer interrupt on IRQ %u", d->irq);
	else
		probe__check(p, name, true, NULL);
}

/* --- blk (§5.2) -------------------------------------------------------------------- */
#define BLK_SECTORS 8 /* 4 KiB per test */

static const char *blk_do(struct probe *p, struct vdev *d, uint32_t type, uint64_t sector,
			  void *buf, uint32_t len, uint8_t *status)
{
	struct virtio_blk_outhdr *h = pool_alloc(sizeof(*h) + 1, 16);
	if (!h)
		return "probe out of buffer memory";
	uint8_t *st = (uint8_t *)(h + 1);
	*h = (struct virtio_blk_outhdr){.type = type, .sector = sector};
	*st = 0xff;
	struct seg s[3] = {
	    {h, sizeof(*h), false}, {buf, len, type != VIRTIO_BLK_T_OUT}, {st, 1, true}};
	struct seg s2[2] = {{h, sizeof(*h), false}, {st, 1, true}};
	const char *why = len ? vq_request(d, &d->vq[0], s, 3, p->timeout_us, NULL)
			      : vq_request(d, &d->vq[0], s2, 2, p->timeout_us, NULL);
	*status = *(volatile uint8_t *)st;
	return why;
}

/* One DISCARD or WRITE_ZEROES segment (§5.2.6), which the device reads. */
static const char *blk_zeroes(struct probe *p, struct vdev *d, uint32_t type, uint64_t sector,
			      uint32_t count, uint8_t *status)
{
	struct virtio_blk_outhdr *h =
	    pool_alloc(sizeof(*h) + sizeof(struct virtio_blk_discard_write_zeroes) + 1, 16);
	if (!h)
		return "probe out of buffer memory";
	struct virtio_blk_discard_write_zeroes *seg = (void *)(h + 1);
	uint8_t *st = (uint8_t *)(seg + 1);
	*h = (struct virtio_blk_outhdr){.type = type, .sector = sector};
	*seg = (struct virtio_blk_discard_write_zeroes){.sector = sector, .num_sectors = count};
	*st = 0xff;
	struct seg s[3] = {{h, sizeof(*h), false}, {seg, sizeof(*seg), false}, {st, 1, true}};
	const char *why = vq_request(d, &d->vq[0], s, 3, p->timeout_us, NULL);
	*status = *(volatile uint8_t *)st;
	return why;
}

/* Zeroes the first half of the test range: it must read back as zeroes while the
 * second half keeps what was written. Then discards the zeroed half. */
static const char *blk_zero_test(struct probe *p, struct vdev *d, uint64_t sector,
				 const uint8_t *written, uint8_t *rbuf)
{
	const uint32_t half = BLK_SECTORS / 2;
	uint8_t st;
	const char *why = blk_zeroes(p, d, VIRTIO_BLK_T_WRITE_ZEROES, sector, half, &st);
	if (why || st != VIRTIO_BLK_S_OK)
		return why ? why : "write-zeroes failed (status not OK)";
	why = blk_do(p, d, VIRTIO_BLK_T_IN, sector, rbuf, BLK_SECTORS * 512, &st);
	if (why || st != VIRTIO_BLK_S_OK)
		return why ? why : "read after write-zeroes failed (status not OK)";
	for (unsigned i = 0; i < half * 512; i++)
		if (rbuf[i])
			return "write-zeroes left data behind";
	if (memcmp(rbuf + half * 512, written + half * 512, half * 512))
		return "write-zeroes touched sectors outside its range";
	if (d->features & BIT(VIRTIO_BLK_F_DISCARD)) {
		why = blk_zeroes(p, d, VIRTIO_BLK_T_DISCARD, sector, half, &st);
		if (why || st != VIRTIO_BLK_S_OK)
			return why ? why : "discard failed (status not OK)";
	}
	uart__printf("PROBE virtio-blk write-zeroes ok discard=%u\n",
		     !!(d->features & BIT(VIRTIO_BLK_F_DISCARD)));
	return NULL;
}

static const char *blk_test(struct probe *p, struct vdev *d, char *id_out)
{
	const char *why =
	    dev_begin(d, BIT(VIRTIO_BLK_F_RO) | BIT(VIRTIO_BLK_F_FLUSH) |
			     BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	if (!why)
		why = vq_setup(d, 0);
	if (why)
		return why;
	dev_driver_ok(d);
	uint64_t cap = cfg64(d, 0);
	bool ro = d->features & BIT(VIRTIO_BLK_F_RO);
	uint8_t *wbuf = pool_alloc(BLK_SECTORS * 512, 512),
		*rbuf = pool_alloc(BLK_SECTORS * 512, 512);
	char *id = pool_alloc(21, 1);
	if (!wbuf || !rbuf || !id)
		return "probe out of buffer memory";
	uint64_t sector = 0;
	cmdline__get_u64("probe.blk_sector", 10, &sector);
	uart__printf("PROBE virtio-blk addr=0x%lx capacity=%lu ro=%u flush=%u test_sector=%lu\n",
		     d->base, cap, ro, !!(d->features & BIT(VIRTIO_BLK_F_FLUSH)), sector);
	if (cap < BLK_SECTORS || sector > cap - BLK_SECTORS)
		return "disk smaller than the test range";
	uint8_t st;
	uint32_t salt = (uint32_t)rdtsc();
	if (!ro) {
		for (unsigned i = 0; i < BLK_SECTORS * 512; i++)
			wbuf[i] = (uint8_t)((i * 131u + salt + (i >> 9)) ^ (salt >> 8));
		why = blk_do(p, d, VIRTIO_BLK_T_OUT, sector, wbuf, BLK_SECTORS * 512, &st);
		if (why || st != VIRTIO_BLK_S_OK)
			return why ? why : "write failed (status not OK)";
		if (!(d->features & BIT(VIRTIO_BLK_F_FLUSH)))
			return "device does not offer VIRTIO_BLK_F_FLUSH";
		why = blk_do(p, d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &st);
		if (why || st != VIRTIO_BLK_S_OK)
			return why ? why : "flush failed (status not OK)";
	}
	why = blk_do(p, d, VIRTIO_BLK_T_IN, sector, rbuf, BLK_SECTORS * 512, &st);
	if (why || st != VIRTIO_BLK_S_OK)
		return why ? why : "read failed (status not OK)";
	if (!ro && memcmp(wbuf, rbuf, BLK_SECTORS * 512))
		return "read-back differs from what was written";
	if (!ro && (d->features & BIT(VIRTIO_BLK_F_WRITE_ZEROES))) {
		why = blk_zero_test(p, d, sector, wbuf, rbuf);
		if (why)
			return why;
	}
	/* A request past the end must be refused, not served from elsewhere. */
	why = blk_do(p, d, VIRTIO_BLK_T_IN, cap, rbuf, 512, &st);
	if (why || st == VIRTIO_BLK_S_OK)
		return why ? why : "read past the end of the disk succeeded";
	why = blk_do(p, d, VIRTIO_BLK_T_GET_ID, 0, id, 20, &st);
	if (why || st != VIRTIO_BLK_S_OK)
		return why ? why : "GET_ID failed (status not OK)";
	for (unsigned i = 0; i < 20 && id[i]; i++)
		id_out[i] = id[i] >= 0x20 && id[i] < 0x7f ? id[i] : '?';
	return NULL;
}

/* One 16 KiB read with buffers made once: the rate test repeats it (rate.c). */
#define RATE_BLK_LEN 16384
struct blk_rate {
	struct vdev *d;
	struct virtio_blk_outhdr *h;
	uint8_t *buf;
};

static const char *blk_rate_op(struct probe *p, void *ctx, uint32_t *bytes)
{
	struct blk_rate *r = ctx;
	uint8_t *st = (uint8_t *)(r->h + 1);
	*r->h = (struct virtio_blk_outhdr){.type = VIRTIO_BLK_T_IN};
	*st = 0xff;
	struct seg s[3] = {
	    {r->h, sizeof(*r->h), false}, {r->buf, RATE_BLK_LEN, true}, {st, 1, true}};
	const char *why = vq_request(r->d, &r->d->vq[0], s, 3, p->timeout_us, NULL);
	*bytes = RATE_BLK_LEN;
	return why ? why : *(volatile uint8_t *)st == VIRTIO_BLK_S_OK ? NULL : "read failed";
}

static void blk_rate(struct probe *p, struct vdev *d)
{
	struct blk_rate r = {d, pool_alloc(sizeof(*r.h) + 1, 16), pool_alloc(RATE_BLK_LEN, 512)};
	if (r.h && r.buf)
		rate__repeat(p, "blk", blk_rate_op, &r);
}

static void run_blk(struct probe *p)
{
	struct vdev *d;
	unsigned n = 0;
	const char *why = NULL;
	unsigned irqs = 1;
	while ((d = find_dev(VIRTIO_ID_BLOCK, n)) != NULL) {
		char id[21] = {0};
		route_irq(d);
		const char *w = blk_test(p, d, id);
		if (!w)
			wait_irq(p, d);
		if (!w && n == 0)
			blk_rate(p, d);
		uart__printf("PROBE virtio-blk addr=0x%lx id=%s irqs=%u %s%s\n", d->base, id,
			     d->irqs, w ? "fail: " : "ok", w ? w : "");
		if (w && !why)
			why = w;
		if (!d->irqs)
			irqs = 0;
		n++;
	}
	if (n == 0)
		probe__check(p, "virtio-blk", false, "no virtio-blk device on the command line");
	else if (why)
		probe__check(p, "virtio-blk", false, "%s", why);
	else
		probe__check(p, "virtio-blk", irqs != 0, "no used-buffer interrupt");
}

/* probe.count's read-back (count.c): the first call sets the first blk device up
 * again (virtio__run left it reset); every call reads the blk test's sectors through
 * the same queue and gives their FNV-1a. NULL, or why not. */
const char *virtio__blk_sum(struct probe *p, uint32_t *sum)
{
	static struct vdev *d;
	static uint8_t *buf;
	if (!d) {
		d = find_dev(VIRTIO_ID_BLOCK, 0);
		if (!d)
			return "no virtio-blk device";
		const char *why = dev_begin(d, BIT(VIRTIO_BLK_F_FLUSH));
		if (!why)
			why = vq_setup(d, 0);
		buf = pool_alloc(BLK_SECTORS * 512, 512);
		if (why || !buf) {
			d = NULL;
			return why ? why : "probe out of buffer memory";
		}
		dev_driver_ok(d);
	}
	uint64_t sector = 0;
	cmdline__get_u64("probe.blk_sector", 10, &sector);
	uint8_t st;
	const char *why = blk_do(p, d, VIRTIO_BLK_T_IN, sector, buf, BLK_SECTORS * 512, &st);
	if (why || st != VIRTIO_BLK_S_OK)
		return why ? why : "read failed (status not OK)";
	uint32_t h = 2166136261u;
	for (unsigned i = 0; i < BLK_SECTORS * 512; i++)
		h = (h ^ buf[i]) * 16777619u;
	*sum = h;
	return NULL;
}

/* --- rng (§5.4) --------------------------------------------------------------------- */
static void run_rng(struct probe *p)
{
	struct vdev *d = find_dev(VIRTIO_ID_RNG, 0);
	if (!d) {
		probe__check(p, "virtio-rng", false, "no virtio-rng device on the command line");
		return;
	}
	route_irq(d);
	const char *why = dev_begin(d, 0);
	if (!why)
		why = vq_setup(d, 0);
	uint8_t *buf = pool_alloc(64, 64);
	unsigned got = 0, reqs = 0;
	if (!why && !buf)
		why = "probe out of buffer memory";
	if (!why) {
		dev_driver_ok(d);
		while (!why && got < 64 && reqs++ < 64) {
			struct seg s = {buf + got, 64 - got, true};
			uint32_t len = 0;
			why = vq_request(d, &d->vq[0], &s, 1, p->timeout_us, &len);
			if (!why && len > 64 - got)
				why = "device claims to have written more than the buffer";
			got += why ? 0 : len;
		}
		if (!why && got < 64)
			why = "device keeps returning empty buffers";
	}
	if (!why) {
		unsigned nonzero = 0;
		for (unsigned i = 0; i < 64; i++)
			nonzero += buf[i] != 0;
		uart__printf("PROBE virtio-rng bytes=%u requests=%u nonzero=%u irqs=%u\n", got,
			     reqs, nonzero, d->irqs);
		if (!nonzero)
			why = "64 zero bytes";
	}
	check_done(p, "virtio-rng", d, why);
}

/* probe.count's rng read (count.c): sets the rng device up again on the first call;
 * each call fills 32 bytes through the same queue. NULL, or why not. */
const char *virtio__rng_read(struct probe *p, unsigned *nonzero)
{
	static struct vdev *d;
	static uint8_t *buf;
	if (!d) {
		d = find_dev(VIRTIO_ID_RNG, 0);
		if (!d)
			return "no virtio-rng device";
		const char *why = dev_begin(d, 0);
		if (!why)
			why = vq_setup(d, 0);
		buf = pool_alloc(32, 32);
		if (why || !buf) {
			d = NULL;
			return why ? why : "probe out of buffer memory";
		}
		dev_driver_ok(d);
	}
	memset(buf, 0, 32);
	struct seg s = {buf, 32, true};
	uint32_t len = 0;
	const char *why = vq_request(d, &d->vq[0], &s, 1, p->timeout_us, &len);
	if (why)
		return why;
	if (len == 0 || len > 32)
		return "the device returned no bytes, or more than asked";
	*nonzero = 0;
	for (unsigned i = 0; i < len; i++)
		*nonzero += buf[i] != 0;
	return NULL;
}

/* probe.count's vsock event check (count.c): the first call sets the vsock device up
 * with one 8-byte buffer on its event queue; later calls report the event that came
 * back (a restored VM's device sends TRANSPORT_RESET), or 0xffffffff if none yet. */
const char *virtio__vsock_event(struct probe *p, uint32_t *event)
{
	static struct vdev *d;
	static uint8_t *ev;
	if (!d) {
		d = find_dev(VIRTIO_ID_VSOCK, 0);
		if (!d)
			return "no virtio-vsock device";
		const char *why = dev_begin(d, 0);
		for (unsigned q = 0; q < 3 && !why; q++)
			why = vq_setup(d, q);
		ev = pool_alloc(8, 8);
		if (why || !ev) {
			d = NULL;
			return why ? why : "probe out of buffer memory";
		}
		dev_driver_ok(d);
		memset(ev, 0xff, 8);
		set_desc(&d->vq[2], 0, ev, 8, VRING_DESC_F_WRITE, 0);
		vq_push(d, &d->vq[2], 0, true);
		*event = 0xffffffffu;
		return NULL;
	}
	uint32_t id, len;
	/* The reset is sent as the VM is restored: a short wait is plenty. */
	if (!vq_pop(&d->vq[2], time__us() + p->timeout_us / 100, &id, &len)) {
		*event = 0xffffffffu;
		return NULL;
	}
	if (id != 0 || len != 4)
		return "event queue returned an unknown buffer";
	*event = *(volatile uint32_t *)ev;
	return NULL;
}

/* --- net (§5.1) --------------------------------------------------------------------- */
/* With VERSION_1 the header always has num_buffers. */
#define NET_HDR_LEN sizeof(struct virtio_net_hdr_v1)
#define NET_RX_BUFS 8
#define NET_BUF_LEN 2048
#define ETH_ARP	    0x0806
#define ETH_IP	    0x0800

struct net {
	struct vdev *d;
	uint8_t *rx[NET_RX_BUFS];
	uint8_t *tx;
	uint8_t mac[6], peer_mac[6];
	uint8_t ip[4], peer_ip[4];
	bool have_peer_mac;
};

static bool parse_ip(const char *key, const char *def, uint8_t ip[4])
{
	const char *v;
	size_t n;
	if (!cmdline__get(key, &v, &n)) {
		v = def;
		n = strlen(def);
	}
	unsigned part = 0;
	for (size_t i = 0; i <= n; part++) {
		size_t s = i;
		while (i < n && v[i] != '.')
			i++;
		uint64_t x;
		if (part > 3 || !parse__u64(v + s, i - s, 10, &x) || x > 255)
			return false;
		ip[part] = (uint8_t)x;
		i++;
	}
	return part == 4;
}

static void put16be(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static uint16_t get16be(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint16_t inet_csum(const uint8_t *b, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += get16be(b + i);
	if (n & 1)
		s += (uint32_t)b[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static const char *net_send(struct probe *p, struct net *nt, size_t frame_len)
{
	if (frame_len < 60) /* Ethernet minimum without FCS */
		frame_len = 60;
	struct seg s = {nt->tx, (uint32_t)(NET_HDR_LEN + frame_len), false};
	return vq_request(nt->d, &nt->d->vq[1], &s, 1, p->timeout_us, NULL);
}

static uint8_t *eth_start(struct net *nt, const uint8_t *dst, uint16_t type)
{
	memset(nt->tx, 0, NET_BUF_LEN);
	uint8_t *e = nt->tx + NET_HDR_LEN;
	memcpy(e, dst, 6);
	memcpy(e + 6, nt->mac, 6);
	put16be(e + 12, type);
	return e + 14;
}

static const char *send_arp(struct probe *p, struct net *nt, uint16_t op, const uint8_t *tha,
			    const uint8_t *tpa)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t *a = eth_start(nt, op == 1 ? bcast : tha, ETH_ARP);
	put16be(a, 1);
	put16be(a + 2, ETH_IP);
	a[4] = 6;
	a[5] = 4;
	put16be(a + 6, op);
	memcpy(a + 8, nt->mac, 6);
	memcpy(a + 14, nt->ip, 4);
	if (op == 2)
		memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
	return net_send(p, nt, 14 + 28);
}

#define PING_ID	     0x7072 /* "pr" */
#define PING_PAYLOAD 32

static const char *send_ping(struct probe *p, struct net *nt)
{
	uint8_t *ip = eth_start(nt, nt->peer_mac, ETH_IP);
	uint16_t total = 20 + 8 + PING_PAYLOAD;
	ip[0] = 0x45;
	put16be(ip + 2, total);
	put16be(ip + 4, 1);
	put16be(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 1; /* ICMP */
	memcpy(ip + 12, nt->ip, 4);
	memcpy(ip + 16, nt->peer_ip, 4);
	put16be(ip + 10, inet_csum(ip, 20));
	uint8_t *icmp = ip + 20;
	icmp[0] = 8; /* echo request */
	put16be(icmp + 4, PING_ID);
	put16be(icmp + 6, 1);
	for (unsigned i = 0; i < PING_PAYLOAD; i++)
		icmp[8 + i] = (uint8_t)('a' + i % 26);
	put16be(icmp + 2, inet_csum(icmp, 8 + PING_PAYLOAD));
	return net_send(p, nt, 14 + total);
}

enum { GOT_NOTHING, GOT_ARP_REPLY, GOT_PONG };

/* Handles one received frame: answers ARP requests for our address, recognises the
 * peer's ARP reply and its echo reply. */
static int net_rx_frame(struct probe *p, struct net *nt, const uint8_t *f, uint32_t len)
{
	if (len < 14)
		return GOT_NOTHING;
	uint16_t type = get16be(f + 12);
	const uint8_t *pl = f + 14;
	uint32_t plen = len - 14;
	if (type == ETH_ARP && plen >= 28 && get16be(pl) == 1 && get16be(pl + 2) == ETH_IP) {
		uint16_t op = get16be(pl + 6);
		if (op == 1 && !memcmp(pl + 24, nt->ip, 4)) {
			uint8_t sha[6], spa[4];
			memcpy(sha, pl + 8, 6);
			memcpy(spa, pl + 14, 4);
			send_arp(p, nt, 2, sha, spa);
			return GOT_NOTHING;
		}
		if (op == 2 && !memcmp(pl + 14, nt->peer_ip, 4)) {
			memcpy(nt->peer_mac, pl + 8, 6);
			nt->have_peer_mac = true;
			return GOT_ARP_REPLY;
		}
		return GOT_NOTHING;
	}
	if (type != ETH_IP || plen < 20 || (pl[0] >> 4) != 4)
		return GOT_NOTHING;
	uint32_t ihl = (pl[0] & 0xf) * 4u;
	if (ihl < 20 || plen < ihl + 8 + PING_PAYLOAD || pl[9] != 1 ||
	    memcmp(pl + 12, nt->peer_ip, 4) || memcmp(pl + 16, nt->ip, 4))
		return GOT_NOTHING;
	const uint8_t *icmp = pl + ihl;
	if (icmp[0] != 0 || get16be(icmp + 4) != PING_ID || get16be(icmp + 6) != 1)
		return GOT_NOTHING;
	for (unsigned i = 0; i < PING_PAYLOAD; i++)
		if (icmp[8 + i] != (uint8_t)('a' + i % 26))
			return GOT_NOTHING;
	return GOT_PONG;
}

/* Receives until `want` is seen or the deadline; every buffer goes back to the device. */
static bool net_wait(struct probe *p, struct net *nt, int want, uint64_t deadline, unsigned *frames)
{
	struct vq *q = &nt->d->vq[0];
	uint32_t id, len;
	while (vq_pop(q, deadline, &id, &len)) {
		if (id >= NET_RX_BUFS)
			continue; /* not ours: nothing to give back */
		(*frames)++;
		int got = GOT_NOTHING;
		if (len > NET_HDR_LEN && len <= NET_BUF_LEN)
			got = net_rx_frame(p, nt, nt->rx[id] + NET_HDR_LEN, len - NET_HDR_LEN);
		vq_push(nt->d, q, (uint16_t)id, true);
		if (got == want)
			return true;
	}
	return false;
}

static const char *net_test(struct probe *p, struct net *nt, unsigned *frames)
{
	struct vdev *d = nt->d;
	if (!parse_ip("probe.net_ip", "172.16.0.2", nt->ip) ||
	    !parse_ip("probe.net_peer", "172.16.0.1", nt->peer_ip))
		return "bad probe.net_ip or probe.net_peer";
	const char *why = dev_begin(d, BIT(VIRTIO_NET_F_MAC));
	if (!why)
		why = vq_setup(d, 0);
	if (!why)
		why = vq_setup(d, 1);
	if (why)
		return why;
	static const uint8_t def_mac[6] = {0x06, 0x00, 0xac, 0x10, 0x00, 0x02};
	for (unsigned i = 0; i < 6; i++)
		nt->mac[i] = (d->features & BIT(VIRTIO_NET_F_MAC)) ? cfg8(d, i) : def_mac[i];
	struct vq *rq = &d->vq[0];
	unsigned nbufs = rq->num < NET_RX_BUFS ? rq->num : NET_RX_BUFS;
	for (unsigned i = 0; i < nbufs; i++) {
		nt->rx[i] = pool_alloc(NET_BUF_LEN, 64);
		if (!nt->rx[i])
			return "probe out of buffer memory";
		set_desc(rq, (uint16_t)i, nt->rx[i], NET_BUF_LEN, VRING_DESC_F_WRITE, 0);
		vq_push(d, rq, (uint16_t)i, false);
	}
	nt->tx = pool_alloc(NET_BUF_LEN, 64);
	if (!nt->tx)
		return "probe out of buffer memory";
	dev_driver_ok(d);
	w32(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	uart__printf("PROBE virtio-net addr=0x%lx mac=%02x:%02x:%02x:%02x:%02x:%02x "
		     "ip=%u.%u.%u.%u peer=%u.%u.%u.%u\n",
		     d->base, nt->mac[0], nt->mac[1], nt->mac[2], nt->mac[3], nt->mac[4],
		     nt->mac[5], nt->ip[0], nt->ip[1], nt->ip[2], nt->ip[3], nt->peer_ip[0],
		     nt->peer_ip[1], nt->peer_ip[2], nt->peer_ip[3]);
	uint64_t deadline = time__us() + p->timeout_us;
	/* ARP for the peer (retried each second: a fresh tap may drop the first). */
	while (!nt->have_peer_mac) {
		if ((why = send_arp(p, nt, 1, NULL, nt->peer_ip)) != NULL)
			return why;
		uint64_t next = time__us() + 1000000;
		if (net_wait(p, nt, GOT_ARP_REPLY, next < deadline ? next : deadline, frames))
			break;
		if (time__us() >= deadline)
			return "no ARP reply from the peer";
	}
	while (true) {
		if ((why = send_ping(p, nt)) != NULL)
			return why;
		uint64_t next = time__us() + 1000000;
		if (net_wait(p, nt, GOT_PONG, next < deadline ? next : deadline, frames))
			return NULL;
		if (time__us() >= deadline)
			return "no ICMP echo reply from the peer";
	}
}

/* One full-size frame to a MAC nobody has, of a type nobody takes: the host drops it. */
static const char *net_rate_op(struct probe *p, void *ctx, uint32_t *bytes)
{
	struct net *nt = ctx;
	static const uint8_t nobody[6] = {0x02, 0, 0, 0, 0, 0xfe};
	eth_start(nt, nobody, 0x88b5); /* IEEE local experimental */
	*bytes = (uint32_t)(NET_HDR_LEN + 1514);
	return net_send(p, nt, 1514);
}

static void run_net(struct probe *p)
{
	struct net nt = {.d = find_dev(VIRTIO_ID_NET, 0)};
	if (!nt.d) {
		probe__check(p, "virtio-net", false, "no virtio-net device on the command line");
		return;
	}
	route_irq(nt.d);
	unsigned frames = 0;
	const char *why = net_test(p, &nt, &frames);
	if (!why)
		rate__repeat(p, "net", net_rate_op, &nt);
	uart__printf("PROBE virtio-net frames_received=%u peer_mac=%02x:%02x:%02x:%02x:%02x:%02x "
		     "irqs=%u\n",
		     frames, nt.peer_mac[0], nt.peer_mac[1], nt.peer_mac[2], nt.peer_mac[3],
		     nt.peer_mac[4], nt.peer_mac[5], nt.d->irqs);
	check_done(p, "virtio-net", nt.d, why);
}

/* --- vsock (§5.10) ------------------------------------------------------------------ */
#define VSOCK_RX_BUFS	8
#define VSOCK_BUF_LEN	2048
#define VSOCK_HOST_CID	2
#define VSOCK_BUF_ALLOC 65536
#define LINE_MAX	128

struct vsock {
	struct vdev *d;
	uint64_t cid;
	uint8_t *rx[VSOCK_RX_BUFS];
	uint8_t *tx;
	uint32_t fwd_cnt; /* bytes received on the current connection */
};

static const char *vsock_send(struct probe *p, struct vsock *vs, uint32_t lport, uint32_t rport,
			      uint16_t op, uint32_t flags, const void *data, uint32_t len)
{
	struct virtio_vsock_hdr h = {
	    .src_cid = vs->cid,
	    .dst_cid = VSOCK_HOST_CID,
	    .src_port = lport,
	    .dst_port = rport,
	    .len = len,
	    .type = VIRTIO_VSOCK_TYPE_STREAM,
	    .op = op,
	    .flags = flags,
	    .buf_alloc = VSOCK_BUF_ALLOC,
	    .fwd_cnt = vs->fwd_cnt,
	};
	if (len > VSOCK_BUF_LEN - sizeof(h))
		return "line too long";
	memcpy(vs->tx, &h, sizeof(h));
	if (len)
		memcpy(vs->tx + sizeof(h), data, len);
	struct seg s = {vs->tx, (uint32_t)(sizeof(h) + len), false};
	return vq_request(vs->d, &vs->d->vq[1], &s, 1, p->timeout_us, NULL);
}

/* Waits for the next packet from the host on local port lport (and rport, if nonzero).
 * Credit requests are answered here. On success *h and data (up to LINE_MAX) are filled. */
static bool vsock_recv(struct probe *p, struct vsock *vs, uint32_t lport, uint32_t rport,
		       uint64_t deadline, struct virtio_vsock_hdr *h, char *data, uint32_t *dlen)
{
	struct vq *q = &vs->d->vq[0];
	uint32_t id, len;
	while (vq_pop(q, deadline, &id, &len)) {
		if (id >= VSOCK_RX_BUFS)
			continue;
		bool mine = false;
		if (len >= sizeof(*h) && len <= VSOCK_BUF_LEN) {
			memcpy(h, vs->rx[id], sizeof(*h));
			uint32_t l =
			    h->len <= len - sizeof(*h) ? h->len : len - (uint32_t)sizeof(*h);
			mine = h->dst_port == lport && h->src_cid == VSOCK_HOST_CID &&
			       (!rport || h->src_port == rport);
			if (mine) {
				*dlen = l < LINE_MAX ? l : LINE_MAX;
				memcpy(data, vs->rx[id] + sizeof(*h), *dlen);
			}
		}
		vq_push(vs->d, q, (uint16_t)id, true);
		if (!mine)
			continue;
		if (h->op == VIRTIO_VSOCK_OP_CREDIT_REQUEST) {
			vsock_send(p, vs, lport, h->src_port, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0,
				   NULL, 0);
			continue;
		}
		if (h->op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
			continue;
		return true;
	}
	return false;
}

/* Reads RW packets until a newline; the line (without it) goes to line[]. */
static const char *vsock_read_line(struct probe *p, struct vsock *vs, uint32_t lport,
				   uint32_t rport, uint64_t deadline, char *line, uint32_t *n)
{
	*n = 0;
	while (true) {
		struct virtio_vsock_hdr h;
		char data[LINE_MAX];
		uint32_t dlen;
		if (!vsock_recv(p, vs, lport, rport, deadline, &h, data, &dlen))
			return "no line from the host in time";
		if (h.op == VIRTIO_VSOCK_OP_RST || h.op == VIRTIO_VSOCK_OP_SHUTDOWN)
			return "host closed the connection before sending a line";
		if (h.op != VIRTIO_VSOCK_OP_RW)
			continue;
		vs->fwd_cnt += h.len;
		for (uint32_t i = 0; i < dlen; i++) {
			if (data[i] == '\n')
				return NULL;
			if (*n < LINE_MAX - 1)
				line[(*n)++] = data[i];
		}
	}
}

static void vsock_close(struct probe *p, struct vsock *vs, uint32_t lport, uint32_t rport)
{
	/* Shut down both directions, give the host a moment to answer, then reset. */
	vsock_send(p, vs, lport, rport, VIRTIO_VSOCK_OP_SHUTDOWN, 3, NULL, 0);
	struct virtio_vsock_hdr h;
	char data[LINE_MAX];
	uint32_t dlen;
	uint64_t deadline = time__us() + 200000;
	while (vsock_recv(p, vs, lport, rport, deadline, &h, data, &dlen))
		if (h.op == VIRTIO_VSOCK_OP_RST)
			return;
	vsock_send(p, vs, lport, rport, VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
}

static const char *vsock_connect(struct probe *p, struct vsock *vs, uint32_t port)
{
	uint32_t lport = 50000 + (uint32_t)(rdtsc() & 0x3ff);
	uint64_t deadline = time__us() + p->timeout_us;
	vs->fwd_cnt = 0;
	const char *why = vsock_send(p, vs, lport, port, VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0);
	if (why)
		return why;
	struct virtio_vsock_hdr h;
	char data[LINE_MAX], line[LINE_MAX];
	uint32_t dlen, n;
	if (!vsock_recv(p, vs, lport, port, deadline, &h, data, &dlen))
		return "no answer to the connection request";
	if (h.op == VIRTIO_VSOCK_OP_RST)
		return "connection to the host refused (RST)";
	if (h.op != VIRTIO_VSOCK_OP_RESPONSE)
		return "unexpected answer to the connection request";
	char msg[64];
	size_t mlen = fmt__buf(msg, sizeof(msg), "hello from probe cid %lu\n", vs->cid);
	if ((why = vsock_send(p, vs, lport, port, VIRTIO_VSOCK_OP_RW, 0, msg, (uint32_t)mlen)) !=
	    NULL)
		return why;
	if ((why = vsock_read_line(p, vs, lport, port, deadline, line, &n)) != NULL)
		return why;
	uart__printf("PROBE virtio-vsock connect port=%u got %.*s\n", port, (int)n, line);
	vsock_close(p, vs, lport, port);
	return NULL;
}

static const char *vsock_accept(struct probe *p, struct vsock *vs, uint32_t port)
{
	uart__printf("PROBE virtio-vsock listening port=%u\n", port);
	uint64_t deadline = time__us() + p->timeout_us;
	struct virtio_vsock_hdr h;
	char data[LINE_MAX], line[LINE_MAX];
	uint32_t dlen, n;
	vs->fwd_cnt = 0;
	do {
		if (!vsock_recv(p, vs, port, 0, deadline, &h, data, &dlen))
			return "no connection from the host in time";
	} while (h.op != VIRTIO_VSOCK_OP_REQUEST);
	uint32_t rport = h.src_port;
	const char *why = vsock_send(p, vs, port, rport, VIRTIO_VSOCK_OP_RESPONSE, 0, NULL, 0);
	if (why)
		return why;
	if ((why = vsock_read_line(p, vs, port, rport, deadline, line, &n)) != NULL)
		return why;
	uart__printf("PROBE virtio-vsock accept port=%u got %.*s\n", port, (int)n, line);
	line[n++] = '\n';
	if ((why = vsock_send(p, vs, port, rport, VIRTIO_VSOCK_OP_RW, 0, line, n)) != NULL)
		return why;
	/* Let the host read the echo and close first. */
	uint64_t close_by = time__us() + p->timeout_us;
	while (vsock_recv(p, vs, port, rport, close_by, &h, data, &dlen)) {
		if (h.op == VIRTIO_VSOCK_OP_RST)
			return NULL;
		if (h.op == VIRTIO_VSOCK_OP_SHUTDOWN) {
			vsock_send(p, vs, port, rport, VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
			return NULL;
		}
	}
	vsock_send(p, vs, port, rport, VIRTIO_VSOCK_OP_RST, 0, NULL, 0);
	return NULL;
}

static const char *vsock_test(struct probe *p, struct vsock *vs)
{
	struct vdev *d = vs->d;
	const char *why = dev_begin(d, 1ull << 0 /* VIRTIO_VSOCK_F_STREAM */);
	for (unsigned i = 0; i < 3 && !why; i++)
		why = vq_setup(d, i);
	if (why)
		return why;
	vs->cid = cfg64(d, 0);
	struct vq *rq = &d->vq[0], *eq = &d->vq[2];
	unsigned nbufs = rq->num < VSOCK_RX_BUFS ? rq->num : VSOCK_RX_BUFS;
	for (unsigned i = 0; i < nbufs; i++) {
		vs->rx[i] = pool_alloc(VSOCK_BUF_LEN, 64);
		if (!vs->rx[i])
			return "probe out of buffer memory";
		set_desc(rq, (uint16_t)i, vs->rx[i], VSOCK_BUF_LEN, VRING_DESC_F_WRITE, 0);
		vq_push(d, rq, (uint16_t)i, false);
	}
	uint8_t *ev = pool_alloc(8, 8);
	vs->tx = pool_alloc(VSOCK_BUF_LEN, 64);
	if (!ev || !vs->tx)
		return "probe out of buffer memory";
	set_desc(eq, 0, ev, 8, VRING_DESC_F_WRITE, 0);
	vq_push(d, eq, 0, false);
	dev_driver_ok(d);
	w32(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	w32(d, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	uart__printf("PROBE virtio-vsock addr=0x%lx cid=%lu\n", d->base, vs->cid);
	if (vs->cid < 3)
		return "guest CID below 3";
	uint64_t port;
	if (cmdline__get_u64("probe.vsock_port", 10, &port) == 0 &&
	    (why = vsock_connect(p, vs, (uint32_t)port)) != NULL)
		return why;
	if (cmdline__get_u64("probe.vsock_listen", 10, &port) == 0 &&
	    (why = vsock_accept(p, vs, (uint32_t)port)) != NULL)
		return why;
	return NULL;
}

static void run_vsock(struct probe *p)
{
	struct vsock vs = {.d = find_dev(VIRTIO_ID_VSOCK, 0)};
	if (!vs.d) {
		probe__check(p, "virtio-vsock", false,
			     "no virtio-vsock device on the command line");
		return;
	}
	route_irq(vs.d);
	const char *why = vsock_test(p, &vs);
	uart__printf("PROBE virtio-vsock irqs=%u\n", vs.d->irqs);
	/* Without a connection to make, no buffer is used: no interrupt is expected. */
	uint64_t port;
	bool active = cmdline__get_u64("probe.vsock_port", 10, &port) == 0 ||
		      cmdline__get_u64("probe.vsock_listen", 10, &port) == 0;
	if (!why && !active)
		probe__check(p, "virtio-vsock", true, NULL);
	else
		check_done(p, "virtio-vsock", vs.d, why);
}

#include "virtio_balloon.inc"

/* --- entry -------------------------------------------------------------------------- */

static uint64_t virtio_user(void *arg)
{
	struct probe *p = arg;
	discover();
	if (cmdline__has_word("probe.virtio", "blk"))
		run_blk(p);
	if (cmdline__has_word("probe.virtio", "net"))
		run_net(p);
	if (cmdline__has_word("probe.virtio", "vsock"))
		run_vsock(p);
	if (cmdline__has_word("probe.virtio", "rng"))
		run_rng(p);
	if (cmdline__has_word("probe.virtio", "balloon"))
		run_balloon(p);
	return 0;
}

void virtio__run(struct probe *p)
{
	const char *v;
	size_t n;
	if (!cmdline__get("probe.virtio", &v, &n))
		return;
	for (unsigned irq = 5; irq <= MAX_IRQ; irq++)
		trap__set_handler(VEC_IRQ_BASE + irq, virtio_isr);
	user__call(virtio_user, p, true);
	for (unsigned i = 0; i < nr_devs; i++) {
		ioapic__mask(devs[i].irq);
		w32(&devs[i], VIRTIO_MMIO_STATUS, 0); /* leave the devices reset */
	}
}
