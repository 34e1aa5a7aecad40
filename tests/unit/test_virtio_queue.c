/* The split virtqueue against hostile rings: every check in virtio/queue.c must
 * turn a bad ring into VIRTQ_BAD, never into a host access outside guest RAM. */
#include "check.h"
#include "test_virtio_harness.h"

#define MIB   (1ull << 20)
#define GIB   (1ull << 30)
#define QBASE 0x10000ull
#define BUF   0x100000ull

static struct guest_mem mem;
static struct gq g;
static struct virtq vq;

static void setup_flags(uint16_t size, bool event_idx, bool indirect)
{
	if (!mem.base && guest_mem__init(&mem, 16 * MIB))
		abort();
	gq_init(&g, &mem, QBASE, size);
	memset(&vq, 0, sizeof(vq));
	const char *why = NULL;
	if (virtq__enable(&vq, &mem, &g.l, event_idx, indirect, &why)) {
		fprintf(stderr, "enable: %s\n", why);
		abort();
	}
}

static void setup(void)
{
	setup_flags(8, false, true);
}

static enum virtq_pop pop(struct virtq_chain *c)
{
	const char *why = NULL;
	enum virtq_pop r = virtq__pop(&vq, c, &why);
	if (r == VIRTQ_BAD && !why)
		return 99; /* a BAD without a reason is a bug too */
	return r;
}

static struct virtq_chain ch;

static void good_chain(void)
{
	setup();
	gq_desc(&g, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	gq_desc(&g, 1, BUF + 0x1000, 100, VIRTQ_DESC_F_NEXT, 2);
	gq_desc(&g, 2, BUF + 0x2000, 8, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK_EQ(ch.head, 0);
	CHECK_EQ(ch.n_out, 2);
	CHECK_EQ(ch.n_in, 1);
	CHECK_EQ(ch.out_len, 116);
	CHECK_EQ(ch.in_len, 8);
	CHECK(ch.iov[0].iov_base == mem.base + BUF);
	CHECK(ch.iov[2].iov_base == mem.base + BUF + 0x2000);
	CHECK_EQ(pop(&ch), VIRTQ_EMPTY);
}

static void out_of_range_address(void)
{
	setup();
	gq_desc(&g, 0, mem.total - 8, 16, 0, 0); /* runs past the end of RAM */
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	setup();
	gq_desc(&g, 0, 0xfffffffffffffff0ull, 0x20, 0, 0); /* addr + len wraps */
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	setup();
	gq_desc(&g, 0, BUF, 0xffffffffu, 0, 0); /* 4 GiB long */
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);
}

static void descriptor_loop(void)
{
	setup();
	gq_desc(&g, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	gq_desc(&g, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	setup(); /* a descriptor pointing at itself */
	gq_desc(&g, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 3);
	gq_publish(&g, 3);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);
}

static void chain_longer_than_queue(void)
{
	/* 12 linked entries in an indirect table of a queue of 8. */
	setup();
	uint64_t table = BUF + 0x10000;
	for (uint16_t i = 0; i < 12; i++)
		g_desc_at(&mem, table, i, BUF, 4, i < 11 ? VIRTQ_DESC_F_NEXT : 0,
			  (uint16_t)(i + 1));
	gq_desc(&g, 0, table, 12 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	/* Exactly the queue size is fine. */
	setup();
	for (uint16_t i = 0; i < 8; i++)
		g_desc_at(&mem, table, i, BUF, 4, i < 7 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	gq_desc(&g, 0, table, 8 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK_EQ(ch.n_out, 8);
}

static void index_out_of_range(void)
{
	setup();
	gq_desc(&g, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 8); /* next == size */
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	setup();
	gq_publish(&g, 8); /* head == size */
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	setup();
	gq_publish(&g, 0xffff);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	setup(); /* the driver claims more buffers than the ring holds */
	gq_desc(&g, 0, BUF, 16, 0, 0);
	gq_set_avail_idx(&g, 9);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);
}

static void zero_length_buffers(void)
{
	setup();
	gq_desc(&g, 0, 0xffffffff0000ull, 0, VIRTQ_DESC_F_NEXT, 1); /* empty: address unused */
	gq_desc(&g, 1, BUF, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	gq_desc(&g, 2, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK_EQ(ch.n_out, 0);
	CHECK_EQ(ch.n_in, 1);
	CHECK_EQ(ch.in_len, 4);
}

static void readable_after_writable(void)
{
	setup();
	gq_desc(&g, 0, BUF, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	gq_desc(&g, 1, BUF, 16, 0, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);
}

static void idx_wraparound(void)
{
	setup();
	/* The driver's indexes are free-running u16s: start just below the wrap. */
	vq.last_avail = vq.used_idx = 65534;
	g.avail_idx = 65534;
	g.used_seen = 65534;
	for (uint16_t i = 0; i < 4; i++) {
		gq_desc(&g, i, BUF + i * 64, 64, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&g, i);
	}
	CHECK_EQ(g.avail_idx, 2);
	for (uint16_t i = 0; i < 4; i++) {
		CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
		CHECK_EQ(ch.head, i);
		virtq__add_used(&vq, ch.head, i * 10);
	}
	CHECK_EQ(pop(&ch), VIRTQ_EMPTY);
	virtq__flush(&vq);
	CHECK_EQ(gq_used_idx(&g), 2);
	uint32_t id = 0, len = 0;
	for (uint16_t i = 0; i < 4; i++) {
		CHECK_EQ(gq_take_used(&g, &id, &len), 0);
		CHECK_EQ(id, i);
		CHECK_EQ(len, i * 10);
	}
}

static void indirect_tables(void)
{
	uint64_t table = BUF + 0x10000;
	/* A good one: 3 entries. */
	setup();
	g_desc_at(&mem, table, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	g_desc_at(&mem, table, 1, BUF + 16, 32, VIRTQ_DESC_F_NEXT, 2);
	g_desc_at(&mem, table, 2, BUF + 64, 1, VIRTQ_DESC_F_WRITE, 0);
	gq_desc(&g, 5, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 5);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK_EQ(ch.head, 5);
	CHECK_EQ(ch.n_out, 2);
	CHECK_EQ(ch.n_in, 1);

	/* Table outside RAM. */
	setup();
	gq_desc(&g, 0, mem.total - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	/* Nested table. */
	setup();
	g_desc_at(&mem, table, 0, table + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	g_desc_at(&mem, table + 0x100, 0, BUF, 16, 0, 0);
	gq_desc(&g, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	/* Badly sized: not a multiple of 16, and empty. */
	setup();
	g_desc_at(&mem, table, 0, BUF, 16, 0, 0);
	gq_desc(&g, 0, table, 24, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);
	setup();
	gq_desc(&g, 0, table, 0, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	/* A loop inside the table; next out of the table. */
	setup();
	g_desc_at(&mem, table, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	g_desc_at(&mem, table, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	gq_desc(&g, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);
	setup();
	g_desc_at(&mem, table, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	gq_desc(&g, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	/* INDIRECT together with NEXT. */
	setup();
	g_desc_at(&mem, table, 0, BUF, 16, 0, 0);
	gq_desc(&g, 0, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	gq_desc(&g, 1, BUF, 16, 0, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	/* Not negotiated. */
	setup_flags(8, false, false);
	g_desc_at(&mem, table, 0, BUF, 16, 0, 0);
	gq_desc(&g, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);
}

static void region_edges(void)
{
	/* More than 3 GiB: RAM is [0, 3G) and [4G, 4G + 64M), with the MMIO gap between. */
	struct guest_mem big;
	if (guest_mem__init(&big, 3 * GIB + 64 * MIB)) {
		CHECK(!"cannot map 3 GiB + 64 MiB (MAP_NORESERVE)");
		return;
	}
	CHECK_EQ(big.nr_regions, 2);
	struct gq bg;
	struct virtq bq = {0};
	const char *why;
	gq_init(&bg, &big, QBASE, 8);
	CHECK_EQ(virtq__enable(&bq, &big, &bg.l, false, true, &why), 0);
	struct {
		uint64_t addr;
		uint32_t len;
		int expect;
	} cases[] = {
	    {3 * GIB - 16, 16, VIRTQ_CHAIN},		/* last bytes below the gap */
	    {3 * GIB - 8, 16, VIRTQ_BAD},		/* straddles into the gap */
	    {3 * GIB, 16, VIRTQ_BAD},			/* inside the gap */
	    {4 * GIB - 8, 16, VIRTQ_BAD},		/* straddles out of the gap */
	    {4 * GIB, 16, VIRTQ_CHAIN},			/* first bytes above it */
	    {4 * GIB + 64 * MIB - 16, 16, VIRTQ_CHAIN}, /* last bytes of RAM */
	    {4 * GIB + 64 * MIB - 8, 16, VIRTQ_BAD},	/* past the end of RAM */
	    {4 * GIB + 64 * MIB, 1, VIRTQ_BAD},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bq.last_avail = bg.avail_idx = 0;
		gq_desc(&bg, 0, cases[i].addr, cases[i].len, VIRTQ_DESC_F_WRITE, 0);
		gq_set_avail_idx(&bg, 0);
		gq_publish(&bg, 0);
		struct virtq_chain c;
		int r = virtq__pop(&bq, &c, &why);
		if (r != cases[i].expect) {
			char m[128];
			snprintf(m, sizeof(m), "case %u (0x%llx+%u): got %d", i,
				 (unsigned long long)cases[i].addr, cases[i].len, r);
			check__fail(__FILE__, __LINE__, m);
		}
		if (r == VIRTQ_CHAIN) {
			/* The host pointer is exactly where that guest address lives. */
			uint64_t hoff =
			    cases[i].addr < 4 * GIB ? cases[i].addr : cases[i].addr - GIB;
			CHECK(c.iov[0].iov_base == big.base + hoff);
		}
	}
	/* A ring that itself straddles the gap is refused. */
	struct virtq_layout l = {
	    .desc = 3 * GIB - 64, .avail = QBASE, .used = QBASE + 0x400, .size = 8};
	CHECK_EQ(virtq__enable(&bq, &big, &l, false, true, &why), -1);
	guest_mem__destroy(&big);
}

static void enable_rules(void)
{
	setup();
	struct virtq q = {0};
	const char *why;
	struct virtq_layout l = g.l;
	l.size = 6;
	CHECK_EQ(virtq__enable(&q, &mem, &l, false, false, &why), -1);
	l.size = 0;
	CHECK_EQ(virtq__enable(&q, &mem, &l, false, false, &why), -1);
	l.size = 512;
	CHECK_EQ(virtq__enable(&q, &mem, &l, false, false, &why), -1);
	l = g.l;
	l.desc += 8;
	CHECK_EQ(virtq__enable(&q, &mem, &l, false, false, &why), -1);
	l = g.l;
	l.used += 2;
	CHECK_EQ(virtq__enable(&q, &mem, &l, false, false, &why), -1);
	l = g.l;
	l.used = mem.total - 8;
	CHECK_EQ(virtq__enable(&q, &mem, &l, false, false, &why), -1);
	CHECK(!q.ready);
	CHECK_EQ(virtq__enable(&q, &mem, &g.l, false, false, &why), 0);
	CHECK(q.ready);
}

/* Completes n chains, each one made available and popped first as a driver and
 * device would. */
static void used_n(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		gq_desc(&g, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&g, 0);
		if (pop(&ch) != VIRTQ_CHAIN)
			abort();
		virtq__add_used(&vq, ch.head, 0);
	}
	virtq__flush(&vq);
}

static void event_idx(void)
{
	setup_flags(8, true, true);
	uint16_t *used_event = gp(&mem, g.l.avail + 4 + 2 * 8, 2);
	uint16_t *avail_event = gp(&mem, g.l.used + 4 + 8 * 8, 2);
	used_n(1);
	CHECK(virtq__should_notify(&vq)); /* first interrupt always goes out */
	*used_event = 5;		  /* "interrupt me when used idx passes 5" */
	used_n(1);
	CHECK(!virtq__should_notify(&vq));
	used_n(3); /* used idx 5: not past yet */
	CHECK(!virtq__should_notify(&vq));
	used_n(1); /* 6 */
	CHECK(virtq__should_notify(&vq));
	CHECK(!virtq__should_notify(&vq)); /* nothing new */

	/* arm publishes avail_event = next slot the device will read. */
	setup_flags(8, true, true);
	gq_desc(&g, 0, BUF, 4, 0, 0);
	gq_publish(&g, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK(virtq__arm(&vq)); /* one more is available */
	CHECK_EQ(*avail_event, 1);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK(!virtq__arm(&vq));
	CHECK_EQ(*avail_event, 2);

	/* Without EVENT_IDX, VIRTQ_AVAIL_F_NO_INTERRUPT suppresses. */
	setup_flags(8, false, true);
	uint16_t *flags = gp(&mem, g.l.avail, 2);
	*flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	used_n(1);
	CHECK(!virtq__should_notify(&vq));
	*flags = 0;
	used_n(1);
	CHECK(virtq__should_notify(&vq));
}

/* A driver that moves its index on while the device still holds popped chains
 * (net rx gathering the buffers for one frame) must not get more chains in flight
 * than the queue has: net keeps one used entry per chain in an array of
 * VIRTQ_MAX_SIZE. */
static void chains_in_flight(void)
{
	setup();
	for (uint16_t i = 0; i < 8; i++)
		gq_desc(&g, i, BUF, 0, VIRTQ_DESC_F_WRITE, 0); /* empty chains */
	for (uint16_t i = 0; i < 8; i++)
		gq_publish(&g, i);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK_EQ(pop(&ch), VIRTQ_EMPTY);
	/* Nothing used yet; one more is only size ahead of last_avail but size + 1
	 * ahead of the used index. */
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);
	CHECK_EQ(vq.last_avail, 8);

	/* The same, moved by the whole ring in one step between two pops. */
	setup();
	gq_desc(&g, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	gq_set_avail_idx(&g, 9);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);

	/* Once chains are used, the driver may make that many available again. */
	setup();
	gq_desc(&g, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	for (unsigned i = 0; i < 8; i++)
		gq_publish(&g, 0);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	virtq__add_used(&vq, 0, 0);
	virtq__add_used(&vq, 0, 0);
	gq_publish(&g, 0);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK_EQ(pop(&ch), VIRTQ_EMPTY);
	gq_publish(&g, 0);
	CHECK_EQ(pop(&ch), VIRTQ_BAD);
}

static void unpop(void)
{
	setup();
	gq_desc(&g, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	gq_desc(&g, 1, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&g, 0);
	gq_publish(&g, 1);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	virtq__unpop(&vq, 2);
	CHECK_EQ(pop(&ch), VIRTQ_CHAIN);
	CHECK_EQ(ch.head, 0);
}

static void iov_helpers(void)
{
	uint8_t a[3], b[5];
	struct iovec v[2] = {{a, 3}, {b, 5}};
	const char *src = "abcdefgh";
	CHECK_EQ(iov__copy_to(v, 2, 2, src, 100), 6);
	char out[8] = {0};
	CHECK_EQ(iov__copy_from(v, 2, 2, out, 4), 4);
	CHECK(!memcmp(out, "abcd", 4));
	struct iovec s[2];
	CHECK_EQ(iov__slice(v, 2, 1, 4, s, 2), 2);
	CHECK(s[0].iov_base == a + 1 && s[0].iov_len == 2);
	CHECK(s[1].iov_base == b && s[1].iov_len == 2);
	CHECK_EQ(iov__copy_from(v, 2, 8, out, 4), 0);
}

CHECK_MAIN("virtio-queue", CHECK_CASE(good_chain), CHECK_CASE(out_of_range_address),
	   CHECK_CASE(descriptor_loop), CHECK_CASE(chain_longer_than_queue),
	   CHECK_CASE(index_out_of_range), CHECK_CASE(zero_length_buffers),
	   CHECK_CASE(readable_after_writable), CHECK_CASE(idx_wraparound),
	   CHECK_CASE(indirect_tables), CHECK_CASE(region_edges), CHECK_CASE(enable_rules),
	   CHECK_CASE(event_idx), CHECK_CASE(chains_in_flight), CHECK_CASE(unpop),
	   CHECK_CASE(iov_helpers))
