/* virtio-balloon (virtio 1.2 §5.5): the host sets a target in the configuration
 * space, the guest inflates by handing over page frame numbers on the inflate
 * queue and deflates on the deflate queue, and reports memory statistics on the
 * statistics queue when the host returns its buffer. Inflated pages go back to the
 * host with madvise(MADV_DONTNEED): guest memory is private and anonymous, so the
 * guest finds zeroes if it touches them again.
 *
 * The guest is untrusted: every PFN is checked against guest memory (beyond it and
 * in the MMIO hole are refused), a page already in the balloon is not counted
 * twice, and requests of the wrong shape are refused and counted, never fatal. */
#include "balloon.h"

#include <errno.h>
#include <linux/virtio_balloon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "api/json.h"
#include "devices.h"
#include "event.h"

/* Linux 6.12 added these tags; older UAPI headers (Debian 12's) stop at 9. */
#ifndef VIRTIO_BALLOON_S_OOM_KILL
#define VIRTIO_BALLOON_S_OOM_KILL	10
#define VIRTIO_BALLOON_S_ALLOC_STALL	11
#define VIRTIO_BALLOON_S_ASYNC_SCAN	12
#define VIRTIO_BALLOON_S_DIRECT_SCAN	13
#define VIRTIO_BALLOON_S_ASYNC_RECLAIM	14
#define VIRTIO_BALLOON_S_DIRECT_RECLAIM 15
#endif

#define BALLOON_PAGE	      (1ull << VIRTIO_BALLOON_PFN_SHIFT)
#define BALLOON_PAGES_PER_MIB (1u << (20 - VIRTIO_BALLOON_PFN_SHIFT))
/* Linux sends at most 256 PFNs a request (VIRTIO_BALLOON_ARRAY_PFNS_MAX); more is
 * refused, which also bounds the time one chain holds the VMM thread. */
#define BALLOON_MAX_PFNS 256
/* One stat is a packed {le16 tag; le64 val}; a report holds one per tag. */
#define BALLOON_STAT_SIZE 10
#define BALLOON_MAX_STATS 64

/* Queues are numbered without the absent ones, as Linux's virtio-mmio driver
 * numbers them: the statistics queue exists only with VIRTIO_BALLOON_F_STATS_VQ, and
 * the reporting queue (VIRTIO_BALLOON_F_REPORTING) comes after it or in its place. */
enum { Q_INFLATE, Q_DEFLATE, Q_STATS };

struct balloon {
	struct virtio_dev vdev;
	/* num_pages and actual: the fields every driver uses (the hinting and
	 * poisoning ones exist only with features ember does not offer). */
	struct {
		uint32_t num_pages;
		uint32_t actual;
	} cfg;
	uint32_t interval_s;
	unsigned q_report; /* the reporting queue's index; 0: none */
	int timer_fd;
	struct event_loop *loop;
	bool stats_kept; /* the driver's statistics buffer, held until the next poll */
	uint16_t stats_head;
	struct balloon_stats stats;
	/* One bit per page of guest memory, by its offset in the host mapping: set
	 * while the page is in the balloon. */
	uint64_t *inflated;
	size_t nr_pages;
	struct {
		uint64_t pages, inflate_pfns, deflate_pfns, refused_pfns, duplicate_pfns,
		    bad_requests, madvise_fails, stats_updates, stats_update_fails, cfg_fails,
		    reports, reported_bytes, report_fails;
	} n;
	struct log_limit limit;
};

static struct balloon *of(struct virtio_dev *dev)
{
	return (struct balloon *)dev;
}

/* --- inflate and deflate ------------------------------------------------------------ */

static bool test_bit(const uint64_t *bm, size_t i)
{
	return bm[i / 64] & (1ull << (i % 64));
}

static void flip_bit(uint64_t *bm, size_t i)
{
	bm[i / 64] ^= 1ull << (i % 64);
}

static void give_back(struct balloon *b, uint8_t *start, size_t len)
{
	if (len && madvise(start, len, MADV_DONTNEED)) {
		b->n.madvise_fails++;
		b->vdev.stats.errors++;
		pr_warn_limited(&b->limit, "virtio balloon: madvise(%zu bytes): %s", len,
				strerror(errno));
	}
}

/* One inflate or deflate request: an array of 32-bit PFNs in the readable part. */
static void pfns(struct balloon *b, struct virtq_chain *c, bool inflate)
{
	const struct guest_mem *mem = b->vdev.mem;
	uint32_t pfn[BALLOON_MAX_PFNS];
	if (c->n_in || c->out_len % sizeof(uint32_t) || c->out_len > sizeof(pfn)) {
		b->n.bad_requests++;
		pr_warn_limited(&b->limit,
				"virtio balloon: refused a request of %zu bytes (%zu writable): "
				"not an array of at most %d PFNs",
				c->out_len, c->in_len, BALLOON_MAX_PFNS);
		return;
	}
	/* One copy, then only the copy: the guest may rewrite the buffer meanwhile. */
	size_t n = iov__copy_from(c->iov, c->n_out, 0, pfn, c->out_len) / sizeof(uint32_t);
	b->vdev.stats.read_bytes += c->out_len;
	uint8_t *run = NULL;
	size_t run_len = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t *h =
		    guest_mem__ptr(mem, (uint64_t)pfn[i] << VIRTIO_BALLOON_PFN_SHIFT, BALLOON_PAGE);
		if (!h) {
			b->n.refused_pfns++;
			continue;
		}
		size_t page = (size_t)(h - mem->base) / BALLOON_PAGE;
		if (page >= b->nr_pages || test_bit(b->inflated, page) != !inflate) {
			b->n.duplicate_pfns++;
			continue;
		}
		flip_bit(b->inflated, page);
		if (!inflate) {
			b->n.deflate_pfns++;
			b->n.pages--;
			continue;
		}
		b->n.inflate_pfns++;
		b->n.pages++;
		/* Consecutive pages go back in one call. */
		if (run && run + run_len == h) {
			run_len += BALLOON_PAGE;
			continue;
		}
		give_back(b, run, run_len);
		run = h;
		run_len = BALLOON_PAGE;
	}
	give_back(b, run, run_len);
}

/* Free page reporting (§5.5.6.7): each buffer of the chain is a range of free guest
 * memory, already checked by queue.c to lie inside it. Its whole pages go back; the
 * guest may use them again once the chain is returned. */
static void report(struct balloon *b, struct virtq_chain *c)
{
	b->n.reports++;
	for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
		uintptr_t start = (uintptr_t)c->iov[i].iov_base;
		uintptr_t end = start + c->iov[i].iov_len;
		start = (start + BALLOON_PAGE - 1) & ~(uintptr_t)(BALLOON_PAGE - 1);
		end &= ~(uintptr_t)(BALLOON_PAGE - 1);
		if (end <= start)
			continue;
		uint64_t fails = b->n.madvise_fails;
		give_back(b, (uint8_t *)start, end - start);
		if (b->n.madvise_fails != fails)
			b->n.report_fails++;
		else
			b->n.reported_bytes += end - start;
	}
}

/* --- statistics --------------------------------------------------------------------- */

static enum virtio_chain_result stats_chain(struct balloon *b, struct virtq_chain *c)
{
	b->n.stats_updates++;
	size_t n = c->out_len / BALLOON_STAT_SIZE;
	if (c->out_len % BALLOON_STAT_SIZE || n > BALLOON_MAX_STATS)
		b->n.stats_update_fails++;
	if (n > BALLOON_MAX_STATS)
		n = BALLOON_MAX_STATS;
	bool unknown = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t rec[BALLOON_STAT_SIZE];
		iov__copy_from(c->iov, c->n_out, i * BALLOON_STAT_SIZE, rec, sizeof(rec));
		uint16_t tag;
		uint64_t val;
		memcpy(&tag, rec, 2);
		memcpy(&val, rec + 2, 8);
		if (tag >= BALLOON_NR_STATS) {
			unknown = true;
			continue;
		}
		b->stats.value[tag] = val;
		b->stats.present |= 1u << tag;
	}
	if (unknown)
		b->n.stats_update_fails++;
	b->vdev.stats.read_bytes += c->out_len;
	/* A driver keeps one buffer in flight; an older one goes back now. */
	if (b->stats_kept) {
		virtio_dev__used(&b->vdev, Q_STATS, b->stats_head, 0);
		virtio_dev__flush(&b->vdev, Q_STATS);
	}
	b->stats_kept = true;
	b->stats_head = c->head;
	return VIRTIO_CHAIN_KEPT;
}

static void request_stats(struct balloon *b)
{
	if (!b->stats_kept || !virtio_dev__live(&b->vdev) || !b->vdev.vq[Q_STATS].ready)
		return;
	b->stats_kept = false;
	virtio_dev__used(&b->vdev, Q_STATS, b->stats_head, 0);
	virtio_dev__flush(&b->vdev, Q_STATS);
}

void balloon__request_stats(struct virtio_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	request_stats(of(dev));
	pthread_mutex_unlock(&dev->lock);
}

static void on_timer(void *opaque, uint32_t events)
{
	struct balloon *b = opaque;
	uint64_t expirations;
	if (read(b->timer_fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	balloon__request_stats(&b->vdev);
}

static int arm_timer(struct balloon *b, uint32_t seconds)
{
	/* The first poll right away, as Firecracker does after a new interval. */
	struct itimerspec its = {{seconds, 0}, {0, 1}};
	return b->timer_fd < 0 ? 0 : timerfd_settime(b->timer_fd, 0, &its, NULL);
}

/* --- device hooks ------------------------------------------------------------------- */

static enum virtio_chain_result balloon_chain(struct virtio_dev *dev, unsigned q,
					      struct virtq_chain *c, uint32_t *written,
					      const char **why)
{
	struct balloon *b = of(dev);
	*written = 0;
	if (b->q_report && q == b->q_report) {
		report(b, c);
		return VIRTIO_CHAIN_USED;
	}
	if (q == Q_STATS)
		return stats_chain(b, c);
	pfns(b, c, q == Q_INFLATE);
	return VIRTIO_CHAIN_USED;
}

/* The driver writes `actual`; num_pages is the host's. */
static void balloon_config_write(struct virtio_dev *dev, uint32_t off, const uint8_t *data,
				 uint32_t len)
{
	struct balloon *b = of(dev);
	const uint32_t actual = offsetof(typeof(b->cfg), actual);
	if (off < actual) {
		b->n.cfg_fails++;
		return;
	}
	memcpy((uint8_t *)&b->cfg + off, data, len);
}

static void balloon_reset(struct virtio_dev *dev)
{
	struct balloon *b = of(dev);
	/* A new driver starts with an empty balloon; what was given back stays zero. */
	b->stats_kept = false;
	b->cfg.actual = 0;
	memset(b->inflated, 0, (b->nr_pages + 63) / 64 * sizeof(uint64_t));
	b->n.pages = 0;
}

static void balloon_metrics(struct virtio_dev *dev, virtio_metric_fn fn, void *opaque)
{
	struct balloon *b = of(dev);
	fn(opaque, dev->name, "stats_updates_count", b->n.stats_updates);
	fn(opaque, dev->name, "stats_update_fails", b->n.stats_update_fails);
	fn(opaque, dev->name, "cfg_fails", b->n.cfg_fails);
	fn(opaque, dev->name, "free_page_report_count", b->n.reports);
	fn(opaque, dev->name, "free_page_report_freed", b->n.reported_bytes);
	fn(opaque, dev->name, "free_page_report_fails", b->n.report_fails);
	/* ember's own */
	fn(opaque, dev->name, "inflated_pages", b->n.pages);
	fn(opaque, dev->name, "inflated_pfns", b->n.inflate_pfns);
	fn(opaque, dev->name, "deflated_pfns", b->n.deflate_pfns);
	fn(opaque, dev->name, "refused_pfns", b->n.refused_pfns);
	fn(opaque, dev->name, "duplicate_pfns", b->n.duplicate_pfns);
	fn(opaque, dev->name, "bad_requests", b->n.bad_requests);
	fn(opaque, dev->name, "madvise_fails", b->n.madvise_fails);
}

static void balloon_destroy(struct virtio_dev *dev)
{
	struct balloon *b = of(dev);
	if (b->timer_fd >= 0) {
		if (b->loop)
			event__del(b->loop, b->timer_fd);
		close(b->timer_fd);
	}
	virtio_dev__release(dev);
	free(b->inflated);
	free(b);
}

/* Firecracker's names: inflate_count and deflate_count count queue events;
 * stats_updates_count (the statistics buffers received) comes from the hook. */
static const struct virtio_metric_names balloon_names = {
    .group = "balloon",
    .queue_events = {"inflate_count", "deflate_count", NULL},
};

static const struct virtio_dev_ops balloon_ops = {
    .chain = balloon_chain,
    .config_write = balloon_config_write,
    .reset = balloon_reset,
    .metrics = balloon_metrics,
    .metric_names = &balloon_names,
    .destroy = balloon_destroy,
};

struct virtio_dev *balloon__create(const struct balloon_config *bc, const struct guest_mem *mem,
				   struct event_loop *loop, char *err, size_t errlen)
{
	struct balloon *b = calloc(1, sizeof(*b));
	size_t pages = mem->total / BALLOON_PAGE;
	if (b)
		b->inflated = calloc((pages + 63) / 64, sizeof(uint64_t));
	if (!b || !b->inflated) {
		free(b);
		snprintf(err, errlen, "balloon: out of memory");
		return NULL;
	}
	b->nr_pages = pages;
	b->timer_fd = -1;
	b->interval_s = bc->stats_polling_interval_s;
	b->cfg.num_pages = bc->amount_mib * BALLOON_PAGES_PER_MIB;
	uint64_t features = 0;
	if (bc->deflate_on_oom)
		features |= VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
	unsigned nr_queues = 2;
	if (b->interval_s) {
		features |= VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ);
		nr_queues++;
	}
	if (bc->free_page_reporting) {
		features |= VIRTIO_BIT(VIRTIO_BALLOON_F_REPORTING);
		b->q_report = nr_queues++;
	}
	virtio_dev__init(&b->vdev, &balloon_ops, VIRTIO_ID_BALLOON, "balloon", mem, loop, nr_queues,
			 features, &b->cfg, sizeof(b->cfg));
	if (b->interval_s && loop) {
		b->loop = loop;
		b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (b->timer_fd < 0 || arm_timer(b, b->interval_s) ||
		    event__add(loop, b->timer_fd, EPOLLIN, on_timer, b)) {
			snprintf(err, errlen, "balloon: cannot set up the statistics timer: %s",
				 strerror(errno));
			if (b->timer_fd >= 0)
				close(b->timer_fd);
			b->timer_fd = -1;
			balloon_destroy(&b->vdev);
			return NULL;
		}
	}
	return &b->vdev;
}

/* --- the VMM's requests ------------------------------------------------------------- */

int balloon__set_target(struct virtio_dev *dev, uint32_t amount_mib, char *err, size_t errlen)
{
	struct balloon *b = of(dev);
	int rc = 0;
	pthread_mutex_lock(&dev->lock);
	if (!(dev->status & VIRTIO_STATUS_DRIVER_OK)) {
		snprintf(err, errlen,
			 "Device is inactive, check if balloon driver is enabled in guest kernel.");
		rc = -1;
	} else {
		b->cfg.num_pages = amount_mib * BALLOON_PAGES_PER_MIB;
		virtio_dev__config_changed(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

int balloon__set_stats_interval(struct virtio_dev *dev, uint32_t seconds, char *err, size_t errlen)
{
	struct balloon *b = of(dev);
	int rc = 0;
	pthread_mutex_lock(&dev->lock);
	if (seconds == b->interval_s) {
		/* nothing changes */
	} else if (!b->interval_s || !seconds) {
		snprintf(err, errlen, "Cannot enable/disable the statistics after boot.");
		rc = -1;
	} else if (arm_timer(b, seconds)) {
		snprintf(err, errlen, "balloon: cannot set the statistics timer: %s",
			 strerror(errno));
		rc = -1;
	} else {
		b->interval_s = seconds;
	}
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

void balloon__get_stats(struct virtio_dev *dev, struct balloon_stats *out)
{
	struct balloon *b = of(dev);
	pthread_mutex_lock(&dev->lock);
	*out = b->stats;
	out->target_pages = b->cfg.num_pages;
	out->actual_pages = b->cfg.actual;
	pthread_mutex_unlock(&dev->lock);
}

/* --- snapshots --------------------------------------------------------------------- */

int balloon__save(struct virtio_dev *dev, struct balloon_state *st, char *err, size_t errlen)
{
	struct balloon *b = of(dev);
	*st = (struct balloon_state){0};
	pthread_mutex_lock(&dev->lock);
	size_t words = (b->nr_pages + 63) / 64;
	while (words && !b->inflated[words - 1])
		words--;
	if (words && !(st->inflated = malloc(words * sizeof(uint64_t)))) {
		pthread_mutex_unlock(&dev->lock);
		snprintf(err, errlen, "balloon: out of memory");
		return -1;
	}
	if (words)
		memcpy(st->inflated, b->inflated, words * sizeof(uint64_t));
	st->inflated_words = words;
	st->num_pages = b->cfg.num_pages;
	st->actual = b->cfg.actual;
	st->interval_s = b->interval_s;
	st->stats_kept = b->stats_kept;
	st->stats_head = b->stats_head;
	st->stats_present = b->stats.present;
	memcpy(st->stats, b->stats.value, sizeof(st->stats));
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

void balloon__state_free(struct balloon_state *st)
{
	free(st->inflated);
	st->inflated = NULL;
	st->inflated_words = 0;
}

/* What a saved state may hold for b: checked before anything is set. */
static int check_state(const struct balloon *b, const struct balloon_state *st, char *err,
		       size_t errlen)
{
	size_t words = (b->nr_pages + 63) / 64;
	if (st->inflated_words > words) {
		snprintf(err, errlen, "inflated pages: %zu words of bitmap, guest memory has %zu",
			 st->inflated_words, words);
		return -1;
	}
	/* Bits past the last page of guest memory: a damaged or foreign bitmap. */
	if (st->inflated_words == words && b->nr_pages % 64 &&
	    st->inflated[words - 1] >> (b->nr_pages % 64)) {
		snprintf(err, errlen, "inflated pages: a page beyond guest memory (%zu pages)",
			 b->nr_pages);
		return -1;
	}
	if (!st->interval_s != !b->interval_s) {
		snprintf(err, errlen,
			 "saved with statistics every %u s, the configuration polls every %u s",
			 st->interval_s, b->interval_s);
		return -1;
	}
	if (st->stats_present >> BALLOON_NR_STATS) {
		snprintf(err, errlen, "statistics: unknown tags 0x%x", st->stats_present);
		return -1;
	}
	if (st->stats_kept) {
		const struct virtq *vq = &b->vdev.vq[Q_STATS];
		if (!b->interval_s || !vq->ready || st->stats_head >= vq->layout.size) {
			snprintf(err, errlen,
				 "statistics buffer %u held, but the statistics queue is not "
				 "ready or smaller",
				 st->stats_head);
			return -1;
		}
	}
	return 0;
}

int balloon__load(struct virtio_dev *dev, const struct balloon_state *st, char *err, size_t errlen)
{
	struct balloon *b = of(dev);
	pthread_mutex_lock(&dev->lock);
	int rc = check_state(b, st, err, errlen);
	if (!rc && st->interval_s != b->interval_s && arm_timer(b, st->interval_s)) {
		snprintf(err, errlen, "cannot set the statistics timer: %s", strerror(errno));
		rc = -1;
	}
	if (!rc) {
		b->interval_s = st->interval_s;
		b->cfg.num_pages = st->num_pages;
		b->cfg.actual = st->actual;
		b->stats_kept = st->stats_kept;
		b->stats_head = st->stats_head;
		b->stats.present = st->stats_present;
		memcpy(b->stats.value, st->stats, sizeof(st->stats));
		size_t words = (b->nr_pages + 63) / 64;
		memset(b->inflated, 0, words * sizeof(uint64_t));
		if (st->inflated_words)
			memcpy(b->inflated, st->inflated, st->inflated_words * sizeof(uint64_t));
		b->n.pages = 0;
		for (size_t i = 0; i < st->inflated_words; i++)
			b->n.pages += (uint64_t)__builtin_popcountll(st->inflated[i]);
	}
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

void balloon__write_stats(const struct balloon_stats *s, struct json_out *o)
{
	/* Firecracker's member names, by tag. */
	static const char *const names[BALLOON_NR_STATS] = {
	    [VIRTIO_BALLOON_S_SWAP_IN] = "swap_in",
	    [VIRTIO_BALLOON_S_SWAP_OUT] = "swap_out",
	    [VIRTIO_BALLOON_S_MAJFLT] = "major_faults",
	    [VIRTIO_BALLOON_S_MINFLT] = "minor_faults",
	    [VIRTIO_BALLOON_S_MEMFREE] = "free_memory",
	    [VIRTIO_BALLOON_S_MEMTOT] = "total_memory",
	    [VIRTIO_BALLOON_S_AVAIL] = "available_memory",
	    [VIRTIO_BALLOON_S_CACHES] = "disk_caches",
	    [VIRTIO_BALLOON_S_HTLB_PGALLOC] = "hugetlb_allocations",
	    [VIRTIO_BALLOON_S_HTLB_PGFAIL] = "hugetlb_failures",
	    [VIRTIO_BALLOON_S_OOM_KILL] = "oom_kill",
	    [VIRTIO_BALLOON_S_ALLOC_STALL] = "alloc_stall",
	    [VIRTIO_BALLOON_S_ASYNC_SCAN] = "async_scan",
	    [VIRTIO_BALLOON_S_DIRECT_SCAN] = "direct_scan",
	    [VIRTIO_BALLOON_S_ASYNC_RECLAIM] = "async_reclaim",
	    [VIRTIO_BALLOON_S_DIRECT_RECLAIM] = "direct_reclaim",
	};
	json_out__printf(o,
			 "{\"target_pages\":%u,\"actual_pages\":%u,\"target_mib\":%u,"
			 "\"actual_mib\":%u",
			 s->target_pages, s->actual_pages, s->target_pages / BALLOON_PAGES_PER_MIB,
			 s->actual_pages / BALLOON_PAGES_PER_MIB);
	for (unsigned t = 0; t < BALLOON_NR_STATS; t++)
		if (s->present & (1u << t))
			json_out__printf(o, ",\"%s\":%llu", names[t],
					 (unsigned long long)s->value[t]);
	json_out__raw(o, "}", 1);
}
