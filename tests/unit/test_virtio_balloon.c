/* virtio-balloon: inflated pages go back to the host, hostile PFNs and malformed
 * requests are refused and counted, statistics are parsed from short and garbage
 * buffers, and a random driver never breaks the device. */
#include <stdlib.h>
#include <sys/mman.h>

#include "api/json.h"
#include "check.h"
#include "test_virtio_harness.h"
#include "virtio/balloon.h"
#include "virtio/virtio.h"

#define MIB  (1ull << 20)
#define PAGE 4096ull
#define BUF  0x100000ull /* PFN arrays and statistics buffers */
#define DATA 0x400000ull /* pages the tests inflate */

static struct guest_mem mem;
static char err[256];

struct counter {
	const char *name;
	uint64_t value;
	bool found;
};

static void find_counter(void *opaque, const char *device, const char *name, uint64_t value)
{
	struct counter *c = opaque;
	if (!strcmp(name, c->name)) {
		c->value = value;
		c->found = true;
	}
}

static uint64_t metric(struct virtio_dev *d, const char *name)
{
	struct counter c = {name, 0, false};
	d->ops->metrics(d, find_counter, &c);
	if (!c.found) {
		fprintf(stderr, "test bug: no counter %s\n", name);
		abort();
	}
	return c.value;
}

static bool resident(uint64_t gpa)
{
	unsigned char v = 0;
	if (mincore(gp(&mem, gpa, PAGE), PAGE, &v))
		abort();
	return v & 1;
}

static uint32_t config_r(struct virtio_dev *d, uint32_t off)
{
	return mmio_r(d, VIRTIO_MMIO_CONFIG + off);
}

/* A balloon with its inflate and deflate queues (and statistics queue) set up. */
static struct virtio_dev *make(uint64_t mem_size, uint32_t mib, uint32_t interval, struct gq *q)
{
	log__set_level(LOG_ERROR); /* the refusals below are logged as warnings */
	if (guest_mem__init(&mem, mem_size))
		abort();
	struct balloon_config bc = {.present = true,
				    .amount_mib = mib,
				    .deflate_on_oom = true,
				    .stats_polling_interval_s = interval};
	struct virtio_dev *d = balloon__create(&bc, &mem, NULL, err, sizeof(err));
	if (!d)
		abort();
	for (unsigned i = 0; i < 3; i++)
		gq_init(&q[i], &mem, 0x10000 + 0x4000ull * i, 16);
	CHECK(driver_init(d, ~0ull, q, interval ? 3 : 2) & VIRTIO_STATUS_DRIVER_OK);
	return d;
}

static void destroy(struct virtio_dev *d)
{
	virtio_dev__destroy(d);
	guest_mem__destroy(&mem);
}

/* Sends one request of `n` PFNs at BUF + slot * PAGE on queue qi; returns the
 * used length, or -1 if the chain did not come back. */
static int send_pfns(struct virtio_dev *d, struct gq *q, unsigned qi, uint16_t slot,
		     const uint32_t *pfn, size_t bytes, uint16_t flags)
{
	uint64_t at = BUF + (slot % 16) * PAGE * 2;
	memcpy(gp(&mem, at, bytes ? bytes : 1), pfn, bytes);
	gq_desc(&q[qi], slot % 16, at, (uint32_t)bytes, flags, 0);
	gq_publish(&q[qi], slot % 16);
	virtio_dev__kick(d, qi);
	uint32_t id = 0, len = 0;
	if (gq_take_used(&q[qi], &id, &len) || id != slot % 16)
		return -1;
	return (int)len;
}

static void inflate_gives_memory_back(void)
{
	struct gq q[3];
	struct virtio_dev *d = make(16 * MIB, 4, 0, q);
	CHECK_EQ(d->device_id, 5);
	CHECK(dev_features(d) & VIRTIO_BIT(2)); /* DEFLATE_ON_OOM */
	CHECK(!(dev_features(d) & VIRTIO_BIT(1)));
	CHECK_EQ(config_r(d, 0), 4 * 256);
	CHECK_EQ(config_r(d, 4), 0);
	/* The guest fills 64 pages, then hands them over. */
	memset(gp(&mem, DATA, 64 * PAGE), 0xa5, 64 * PAGE);
	CHECK(resident(DATA) && resident(DATA + 63 * PAGE));
	uint32_t pfn[64];
	for (unsigned i = 0; i < 64; i++)
		pfn[i] = (uint32_t)(DATA / PAGE) + i;
	CHECK_EQ(send_pfns(d, q, 0, 0, pfn, sizeof(pfn), 0), 0);
	for (unsigned i = 0; i < 64; i++)
		CHECK(!resident(DATA + i * PAGE));
	CHECK_EQ(*(uint8_t *)gp(&mem, DATA + 5 * PAGE, 1), 0);
	CHECK_EQ(metric(d, "inflated_pages"), 64);
	CHECK_EQ(metric(d, "inflated_pfns"), 64);
	CHECK_EQ(d->stats.queue_events[0], 1);
	/* The driver reports what it holds; num_pages is the host's alone. */
	mmio_w(d, VIRTIO_MMIO_CONFIG + 4, 64);
	CHECK_EQ(config_r(d, 4), 64);
	mmio_w(d, VIRTIO_MMIO_CONFIG, 1);
	CHECK_EQ(config_r(d, 0), 4 * 256);
	CHECK_EQ(metric(d, "cfg_fails"), 1);
	struct balloon_stats s;
	balloon__get_stats(d, &s);
	CHECK_EQ(s.target_pages, 1024);
	CHECK_EQ(s.actual_pages, 64);

	/* Deflate half; a page deflated twice is counted, not double-freed. */
	CHECK_EQ(send_pfns(d, q, 1, 1, pfn, 32 * 4, 0), 0);
	CHECK_EQ(metric(d, "inflated_pages"), 32);
	CHECK_EQ(metric(d, "deflated_pfns"), 32);
	CHECK_EQ(send_pfns(d, q, 1, 2, pfn, 4, 0), 0);
	CHECK_EQ(metric(d, "duplicate_pfns"), 1);
	CHECK_EQ(metric(d, "inflated_pages"), 32);
	/* A deflated page can be inflated again. */
	CHECK_EQ(send_pfns(d, q, 0, 3, pfn, 4, 0), 0);
	CHECK_EQ(metric(d, "inflated_pages"), 33);
	CHECK(virtio_dev__live(d));
	/* The metrics file's group, in Firecracker's names first. */
	struct json_out o = {0};
	virtio__device_metrics(d, &o);
	CHECK(o.buf && strstr(o.buf, ",\"balloon\":{\"inflate_count\":2,\"deflate_count\":2,"
				     "\"stats_updates_count\":0,\"stats_update_fails\":0,"
				     "\"cfg_fails\":1,\"free_page_report_count\":0,"
				     "\"free_page_report_freed\":0,\"free_page_report_fails\":0,"
				     "\"inflated_pages\":33,") == o.buf);
	json_out__free(&o);
	destroy(d);
}

static void hostile_pfns_are_refused(void)
{
	struct gq q[3];
	/* 3 GiB + 16 MiB: RAM below the MMIO hole and 16 MiB above 4 GiB (never touched). */
	struct virtio_dev *d = make(MEM_32BIT_GAP_START + 16 * MIB, 0, 0, q);
	uint32_t high = (uint32_t)(MEM_4G / PAGE);
	uint32_t pfn[] = {
	    0xffffffffu,			    /* far beyond memory */
	    high + (uint32_t)(16 * MIB / PAGE),	    /* just past the end */
	    (uint32_t)(MEM_32BIT_GAP_START / PAGE), /* first page of the MMIO hole */
	    (uint32_t)(0xd0000000ull / PAGE),	    /* a device's MMIO window */
	    high - 1,				    /* last page of the hole */
	    high + 1,				    /* RAM above 4 GiB: fine */
	    high + 1,				    /* the same page again */
	    (uint32_t)(DATA / PAGE),		    /* low RAM: fine */
	};
	memset(gp(&mem, MEM_4G + PAGE, PAGE), 1, PAGE);
	CHECK(resident(MEM_4G + PAGE));
	CHECK_EQ(send_pfns(d, q, 0, 0, pfn, sizeof(pfn), 0), 0);
	CHECK_EQ(metric(d, "refused_pfns"), 5);
	CHECK_EQ(metric(d, "duplicate_pfns"), 1);
	CHECK_EQ(metric(d, "inflated_pages"), 2);
	CHECK(!resident(MEM_4G + PAGE));

	/* Requests of the wrong shape: refused whole, the chain still comes back. */
	uint32_t many[300];
	for (unsigned i = 0; i < 300; i++)
		many[i] = (uint32_t)(DATA / PAGE) + 16 + i;
	CHECK_EQ(send_pfns(d, q, 0, 1, many, 257 * 4, 0), 0); /* too many */
	CHECK_EQ(send_pfns(d, q, 0, 2, many, 10, 0), 0);      /* not a multiple of 4 */
	CHECK_EQ(send_pfns(d, q, 0, 3, many, 3, 0), 0);
	CHECK_EQ(send_pfns(d, q, 0, 4, many, 8, VIRTQ_DESC_F_WRITE), 0); /* writable */
	CHECK_EQ(metric(d, "bad_requests"), 4);
	CHECK_EQ(metric(d, "inflated_pages"), 2);
	/* An empty request and the largest allowed one. */
	CHECK_EQ(send_pfns(d, q, 0, 5, many, 0, 0), 0);
	CHECK_EQ(send_pfns(d, q, 0, 6, many, 256 * 4, 0), 0);
	CHECK_EQ(metric(d, "inflated_pages"), 2 + 256);
	CHECK_EQ(metric(d, "bad_requests"), 4);
	/* A descriptor outside guest memory is a ring error (queue.c), not a crash. */
	gq_desc(&q[0], 7, 0xffffffff000ull, 4, 0, 0);
	gq_publish(&q[0], 7);
	virtio_dev__kick(d, 0);
	CHECK(d->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(metric(d, "inflated_pages"), 2 + 256);
	destroy(d);
}

/* Writes stat records (tag, value) at gpa; returns their size. */
static size_t put_stats(uint64_t gpa, const uint16_t *tags, const uint64_t *vals, unsigned n)
{
	uint8_t *p = gp(&mem, gpa, 10ull * n + 1);
	for (unsigned i = 0; i < n; i++) {
		memcpy(p + 10 * i, &tags[i], 2);
		memcpy(p + 10 * i + 2, &vals[i], 8);
	}
	return 10ull * n;
}

static void stats_parse_and_poll(void)
{
	struct gq q[3];
	struct virtio_dev *d = make(16 * MIB, 2, 1, q);
	CHECK(dev_features(d) & VIRTIO_BIT(1)); /* STATS_VQ */
	uint16_t tags[] = {4, 5, 10, 99, 6};
	uint64_t vals[] = {1000, 2000, 7, 5, 3000};
	size_t len = put_stats(BUF, tags, vals, 5);
	gq_desc(&q[2], 0, BUF, (uint32_t)len, 0, 0);
	gq_publish(&q[2], 0);
	virtio_dev__kick(d, 2);
	uint32_t id = 99, ulen = 99;
	/* The device keeps the buffer until it wants new statistics. */
	CHECK_EQ(gq_take_used(&q[2], &id, &ulen), -1);
	struct balloon_stats s;
	balloon__get_stats(d, &s);
	CHECK_EQ(s.present, (1u << 4) | (1u << 5) | (1u << 10) | (1u << 6));
	CHECK_EQ(s.value[4], 1000);
	CHECK_EQ(s.value[10], 7);
	CHECK_EQ(metric(d, "stats_updates_count"), 1);
	CHECK_EQ(metric(d, "stats_update_fails"), 1); /* tag 99 */
	struct json_out o = {0};
	balloon__write_stats(&s, &o);
	CHECK_STR(o.buf,
		  "{\"target_pages\":512,\"actual_pages\":0,\"target_mib\":2,\"actual_mib\":0,"
		  "\"free_memory\":1000,\"total_memory\":2000,\"available_memory\":3000,"
		  "\"oom_kill\":7}");
	json_out__free(&o);
	balloon__request_stats(d);
	CHECK_EQ(gq_take_used(&q[2], &id, &ulen), 0);
	CHECK_EQ(id, 0);
	CHECK_EQ(ulen, 0);
	/* Nothing kept: a poll does nothing. */
	balloon__request_stats(d);
	CHECK_EQ(gq_take_used(&q[2], &id, &ulen), -1);

	/* Short buffers: one whole record and 5 bytes of another; then 3 bytes. */
	uint16_t t2[] = {4, 5};
	uint64_t v2[] = {11, 22};
	put_stats(BUF, t2, v2, 2);
	gq_desc(&q[2], 1, BUF, 15, 0, 0);
	gq_publish(&q[2], 1);
	virtio_dev__kick(d, 2);
	balloon__get_stats(d, &s);
	CHECK_EQ(s.value[4], 11);
	CHECK_EQ(s.value[5], 2000); /* the partial record is not taken */
	CHECK_EQ(metric(d, "stats_update_fails"), 2);
	gq_desc(&q[2], 2, BUF + PAGE, 3, 0, 0);
	gq_publish(&q[2], 2);
	virtio_dev__kick(d, 2);
	CHECK_EQ(metric(d, "stats_update_fails"), 3);
	/* A second buffer made the device return the first. */
	CHECK_EQ(gq_take_used(&q[2], &id, &ulen), 0);
	CHECK_EQ(id, 1);
	/* Garbage: 64 KiB of 0xff is all unknown tags, and more records than allowed. */
	memset(gp(&mem, BUF, 65536), 0xff, 65536);
	gq_desc(&q[2], 3, BUF, 65536, 0, 0);
	gq_publish(&q[2], 3);
	virtio_dev__kick(d, 2);
	balloon__get_stats(d, &s);
	CHECK_EQ(s.value[4], 11);
	CHECK(virtio_dev__live(d));

	/* The interval cannot turn statistics off. */
	CHECK_EQ(balloon__set_stats_interval(d, 0, err, sizeof(err)), -1);
	CHECK(strstr(err, "Cannot enable/disable") != NULL);
	CHECK_EQ(balloon__set_stats_interval(d, 5, err, sizeof(err)), 0);
	destroy(d);

	/* Without statistics they cannot be turned on. */
	d = make(16 * MIB, 2, 0, q);
	CHECK_EQ(d->nr_queues, 2);
	CHECK_EQ(balloon__set_stats_interval(d, 5, err, sizeof(err)), -1);
	destroy(d);
}

/* The polling timer on a running event loop returns the kept buffer every interval. */
static void stats_timer_polls(void)
{
	if (guest_mem__init(&mem, 16 * MIB))
		abort();
	struct vmm_thread t = {.loop = event__create()};
	struct balloon_config bc = {.present = true, .stats_polling_interval_s = 1};
	struct virtio_dev *d = balloon__create(&bc, &mem, t.loop, err, sizeof(err));
	struct gq q[3];
	for (unsigned i = 0; i < 3; i++)
		gq_init(&q[i], &mem, 0x10000 + 0x4000ull * i, 16);
	CHECK(driver_init(d, ~0ull, q, 3) & VIRTIO_STATUS_DRIVER_OK);
	uint16_t tag = 5;
	uint64_t val = 77;
	put_stats(BUF, &tag, &val, 1);
	gq_desc(&q[2], 0, BUF, 10, 0, 0);
	gq_publish(&q[2], 0);
	virtio_dev__kick(d, 2);
	vmm_start(&t);
	uint32_t id = 9, len = 9;
	CHECK_EQ(gq_wait_used(&q[2], &id, &len, 2500), 0);
	CHECK_EQ(id, 0);
	/* The driver refills it; a new interval polls again. */
	val = 78;
	put_stats(BUF, &tag, &val, 1);
	gq_publish(&q[2], 0);
	virtio_dev__kick(d, 2);
	CHECK_EQ(balloon__set_stats_interval(d, 2, err, sizeof(err)), 0);
	CHECK_EQ(gq_wait_used(&q[2], &id, &len, 3500), 0);
	vmm_stop(&t);
	struct balloon_stats s;
	balloon__get_stats(d, &s);
	CHECK_EQ(s.value[5], 78);
	virtio_dev__destroy(d);
	event__destroy(t.loop);
	guest_mem__destroy(&mem);
}

/* Free page reporting: whole pages of each reported buffer go back; the queue comes
 * after the statistics queue, or in its place. */
static void free_page_reporting(void)
{
	for (unsigned with_stats = 0; with_stats < 2; with_stats++) {
		if (guest_mem__init(&mem, 16 * MIB))
			abort();
		struct balloon_config bc = {.present = true,
					    .stats_polling_interval_s = with_stats,
					    .free_page_reporting = true};
		struct virtio_dev *d = balloon__create(&bc, &mem, NULL, err, sizeof(err));
		unsigned rq = 2 + with_stats;
		CHECK_EQ(d->nr_queues, rq + 1);
		CHECK(dev_features(d) & VIRTIO_BIT(5)); /* VIRTIO_BALLOON_F_REPORTING */
		struct gq q[4];
		for (unsigned i = 0; i < 4; i++)
			gq_init(&q[i], &mem, 0x10000 + 0x4000ull * i, 16);
		CHECK(driver_init(d, ~0ull, q, rq + 1) & VIRTIO_STATUS_DRIVER_OK);
		memset(gp(&mem, DATA, 16 * PAGE), 0x5a, 16 * PAGE);
		/* Four whole pages, then a misaligned range holding one whole page. */
		gq_desc(&q[rq], 0, DATA, 4 * PAGE, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
		gq_desc(&q[rq], 1, DATA + 8 * PAGE + 100, 2 * PAGE, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&q[rq], 0);
		virtio_dev__kick(d, rq);
		uint32_t id = 9, len = 9;
		CHECK_EQ(gq_take_used(&q[rq], &id, &len), 0);
		CHECK_EQ(id, 0);
		for (unsigned i = 0; i < 4; i++)
			CHECK(!resident(DATA + i * PAGE));
		CHECK(resident(DATA + 4 * PAGE));
		CHECK(resident(DATA + 8 * PAGE));
		CHECK(!resident(DATA + 9 * PAGE));
		CHECK(resident(DATA + 10 * PAGE));
		CHECK_EQ(metric(d, "free_page_report_count"), 1);
		CHECK_EQ(metric(d, "free_page_report_freed"), 5 * PAGE);
		CHECK_EQ(metric(d, "inflated_pages"), 0);
		CHECK(virtio_dev__live(d));
		destroy(d);
	}
}

static void target_changes_and_reset(void)
{
	if (guest_mem__init(&mem, 16 * MIB))
		abort();
	struct balloon_config bc = {.present = true, .amount_mib = 1};
	struct virtio_dev *d = balloon__create(&bc, &mem, NULL, err, sizeof(err));
	/* No driver yet: Firecracker's refusal. */
	CHECK_EQ(balloon__set_target(d, 8, err, sizeof(err)), -1);
	CHECK(strstr(err, "Device is inactive") != NULL);
	CHECK_EQ(config_r(d, 0), 256);
	struct gq q[3];
	for (unsigned i = 0; i < 3; i++)
		gq_init(&q[i], &mem, 0x10000 + 0x4000ull * i, 16);
	CHECK(driver_init(d, ~0ull, q, 2) & VIRTIO_STATUS_DRIVER_OK);
	uint32_t gen = mmio_r(d, VIRTIO_MMIO_CONFIG_GENERATION);
	CHECK_EQ(balloon__set_target(d, 8, err, sizeof(err)), 0);
	CHECK_EQ(config_r(d, 0), 8 * 256);
	CHECK(mmio_r(d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
	CHECK(mmio_r(d, VIRTIO_MMIO_CONFIG_GENERATION) != gen);
	uint32_t pfn = (uint32_t)(DATA / PAGE);
	CHECK_EQ(send_pfns(d, q, 0, 0, &pfn, 4, 0), 0);
	CHECK_EQ(metric(d, "inflated_pages"), 1);
	/* A reset (a rebooted guest) starts from an empty balloon. */
	for (unsigned i = 0; i < 3; i++)
		gq_init(&q[i], &mem, 0x10000 + 0x4000ull * i, 16);
	CHECK(driver_init(d, ~0ull, q, 2) & VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(metric(d, "inflated_pages"), 0);
	CHECK_EQ(config_r(d, 4), 0);
	CHECK_EQ(config_r(d, 0), 8 * 256);
	CHECK_EQ(send_pfns(d, q, 0, 0, &pfn, 4, 0), 0);
	CHECK_EQ(metric(d, "inflated_pages"), 1);
	CHECK_EQ(metric(d, "duplicate_pfns"), 0);
	destroy(d);
}

/* A random driver: random PFNs (in and out of memory), lengths and flags on both
 * queues. The device must stay live, keep its counters consistent, and have given
 * back at least the pages it holds. */
static void random_requests(void)
{
	struct gq q[3];
	struct virtio_dev *d = make(8 * MIB, 0, 0, q);
	unsigned seed = 12345;
	uint64_t sent = 0;
	memset(gp(&mem, 0x200 * PAGE, 0x600 * PAGE), 0xa5, 0x600 * PAGE);
	for (unsigned it = 0; it < 3000; it++) {
		uint32_t pfn[300];
		size_t bytes = (size_t)(rand_r(&seed) % 1200);
		if (rand_r(&seed) % 2)
			bytes &= ~3ull;
		for (unsigned i = 0; i < 300; i++) {
			unsigned r = (unsigned)rand_r(&seed);
			/* Mostly pages of this 8 MiB guest above the rings, some anywhere. */
			pfn[i] = r % 4 ? 0x200 + r % 0x600 : (uint32_t)r * 2654435761u;
		}
		uint16_t flags = rand_r(&seed) % 16 == 0 ? VIRTQ_DESC_F_WRITE : 0;
		unsigned qi = rand_r(&seed) % 3 ? 0 : 1;
		if (send_pfns(d, q, qi, (uint16_t)it, pfn, bytes, flags) < 0) {
			CHECK(!"a request did not come back");
			break;
		}
		if (!flags && bytes % 4 == 0 && bytes <= 1024)
			sent += bytes / 4;
	}
	CHECK(virtio_dev__live(d));
	uint64_t held = metric(d, "inflated_pages");
	CHECK_EQ(metric(d, "inflated_pfns") - metric(d, "deflated_pfns"), held);
	CHECK_EQ(metric(d, "inflated_pfns") + metric(d, "deflated_pfns") +
		     metric(d, "refused_pfns") + metric(d, "duplicate_pfns"),
		 sent);
	CHECK(held > 0 && held <= 0x600);
	uint64_t gone = 0;
	for (uint64_t p = 0x200; p < 0x800; p++)
		gone += !resident(p * PAGE);
	CHECK(gone >= held);
	CHECK(metric(d, "refused_pfns") > 0);
	CHECK(metric(d, "bad_requests") > 0);
	destroy(d);
}

/* Snapshots: a balloon made anew from the same configuration and given the saved
 * transport and balloon state holds the same pages, target, actual, statistics and
 * statistics buffer; a state that does not fit is refused and changes nothing. */
static void save_and_load(void)
{
	struct gq q[3];
	struct virtio_dev *d = make(16 * MIB, 4, 1, q);
	uint32_t pfn[64];
	for (unsigned i = 0; i < 64; i++)
		pfn[i] = (uint32_t)(DATA / PAGE) + i;
	CHECK_EQ(send_pfns(d, q, 0, 0, pfn, sizeof(pfn), 0), 0);
	mmio_w(d, VIRTIO_MMIO_CONFIG + 4, 64);
	uint16_t tags[] = {4};
	uint64_t vals[] = {1234};
	size_t len = put_stats(BUF + 8 * PAGE, tags, vals, 1);
	gq_desc(&q[2], 5, BUF + 8 * PAGE, (uint32_t)len, 0, 0);
	gq_publish(&q[2], 5);
	virtio_dev__kick(d, 2);

	struct virtio_state ts;
	struct balloon_state st;
	virtio_dev__save_state(d, &ts);
	CHECK_EQ(balloon__save(d, &st, err, sizeof(err)), 0);
	CHECK_EQ(st.actual, 64);
	CHECK_EQ(st.num_pages, 1024);
	CHECK(st.stats_kept);
	CHECK_EQ(st.stats_head, 5);
	CHECK(st.inflated_words > 0 && st.inflated_words <= (DATA / PAGE + 64) / 64);
	virtio_dev__destroy(d);

	struct balloon_config bc = {.present = true,
				    .amount_mib = 4,
				    .deflate_on_oom = true,
				    .stats_polling_interval_s = 1};
	struct virtio_dev *r = balloon__create(&bc, &mem, NULL, err, sizeof(err));
	CHECK(r != NULL);
	CHECK_EQ(virtio_dev__load_state(r, &ts, err, sizeof(err)), 0);
	/* Refusals first: each leaves the new balloon as it was made. */
	struct balloon_state bad = st;
	bad.stats_head = 16; /* the queue has 16 entries */
	CHECK_EQ(balloon__load(r, &bad, err, sizeof(err)), -1);
	CHECK(strstr(err, "statistics buffer") != NULL);
	bad = st;
	bad.interval_s = 0;
	CHECK_EQ(balloon__load(r, &bad, err, sizeof(err)), -1);
	CHECK(strstr(err, "statistics every 0 s") != NULL);
	bad = st;
	bad.inflated_words = 16 * MIB / PAGE / 64 + 1;
	CHECK_EQ(balloon__load(r, &bad, err, sizeof(err)), -1);
	CHECK(strstr(err, "words of bitmap") != NULL);
	CHECK_EQ(config_r(r, 4), 0);
	CHECK_EQ(metric(r, "inflated_pages"), 0);

	CHECK_EQ(balloon__load(r, &st, err, sizeof(err)), 0);
	balloon__state_free(&st);
	CHECK_EQ(config_r(r, 0), 1024);
	CHECK_EQ(config_r(r, 4), 64);
	CHECK_EQ(metric(r, "inflated_pages"), 64);
	struct balloon_stats s;
	balloon__get_stats(r, &s);
	CHECK_EQ(s.actual_pages, 64);
	CHECK_EQ(s.value[4], 1234);
	CHECK_EQ(s.present, 1u << 4);
	/* The held statistics buffer goes back at the next poll. */
	uint32_t id = 99, ulen = 99;
	balloon__request_stats(r);
	CHECK_EQ(gq_take_used(&q[2], &id, &ulen), 0);
	CHECK_EQ(id, 5);
	/* The restored pages deflate; a page never inflated is a duplicate. */
	CHECK_EQ(send_pfns(r, q, 1, 1, pfn, 8, 0), 0);
	CHECK_EQ(metric(r, "deflated_pfns"), 2);
	CHECK_EQ(metric(r, "duplicate_pfns"), 0);
	uint32_t other = (uint32_t)(DATA / PAGE) + 100;
	CHECK_EQ(send_pfns(r, q, 1, 2, &other, 4, 0), 0);
	CHECK_EQ(metric(r, "duplicate_pfns"), 1);
	CHECK_EQ(metric(r, "inflated_pages"), 62);
	/* With statistics and free page reporting the balloon has four queues, and the
	 * saved transport holds all four (it once had room for three). */
	bc.free_page_reporting = true;
	struct virtio_dev *four = balloon__create(&bc, &mem, NULL, err, sizeof(err));
	CHECK_EQ(four->nr_queues, 4);
	virtio_dev__save_state(four, &ts);
	CHECK_EQ(ts.nr_queues, 4);
	CHECK_EQ(ts.queues[3].size, four->pending[3].size);
	virtio_dev__destroy(four);
	destroy(r);
}

CHECK_MAIN("virtio-balloon", CHECK_CASE(inflate_gives_memory_back),
	   CHECK_CASE(hostile_pfns_are_refused), CHECK_CASE(stats_parse_and_poll),
	   CHECK_CASE(stats_timer_polls), CHECK_CASE(free_page_reporting),
	   CHECK_CASE(target_changes_and_reset), CHECK_CASE(random_requests),
	   CHECK_CASE(save_and_load))
