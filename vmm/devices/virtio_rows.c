/* The virtio rows of the device table. They call virtio/'s create functions and
 * attach each device to the VM; virtio/ reports in text, so the exit code is
 * recovered here: a create failure is about the device's configuration (a file,
 * a tap, a socket path), an attach failure is whatever vm__ helper failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapshot.h"
#include "table.h"
#include "virtio/balloon.h"
#include "virtio/devices.h"
#include "virtio/mmds.h"
#include "virtio/virtio.h"
#include "vm.h"

static int attach(struct vm *vm, const struct device_ops *row, struct virtio_dev *dev,
		  const char *create_err, struct error *e)
{
	if (!dev)
		return error__from_text(e, EXIT_USAGE, create_err);
	if (vm__add_device(vm, row, dev)) {
		virtio_dev__destroy(dev);
		return error__fail(e, EXIT_USAGE, "virtio %s: too many devices", row->name);
	}
	/* From here vm__destroy() frees the device, whatever happens next. */
	char why[ERROR_MSG_MAX];
	error__clear(&vm->last_error);
	if (virtio_dev__attach(dev, vm, why, sizeof(why)))
		return error__from_text(e, vm->last_error.code ? vm->last_error.code : EXIT_ERROR,
					why);
	return 0;
}

/* The root drive first, so that it is vda whatever order the configuration holds the
 * drives in; its root= goes on the command line (config__root_args). */
static int blk_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < cfg->nr_drives; i++) {
			const struct drive_config *d = &cfg->drives[i];
			if (d->is_root_device != (pass == 0))
				continue;
			char root[sizeof(d->partuuid) + 32];
			if (pass == 0 && config__root_args(d, root, sizeof(root)))
				return error__fail(e, EXIT_USAGE, "drive %s: partuuid too long",
						   d->id);
			if (pass == 0 && vm__cmdline_append(vm, root))
				return error__from_text(e, EXIT_USAGE, vm->last_error.msg);
			if (attach(vm, &blk_device,
				   blk__create(d, &vm->mem, vm->loop, why, sizeof(why)), why, e))
				return -1;
		}
	}
	return 0;
}

int blk_device__swap(struct vm *vm, const char *id, const char *path, struct error *e)
{
	char name[CONFIG_ID_MAX + 16], why[ERROR_MSG_MAX];
	snprintf(name, sizeof(name), "block.%s", id);
	for (unsigned i = 0; i < vm->nr_devices; i++) {
		struct virtio_dev *dev = vm->devices[i].dev;
		if (vm->devices[i].ops != &blk_device || strcmp(dev->name, name))
			continue;
		if (blk__swap(dev, id, path, why, sizeof(why)))
			return error__from_text(e, EXIT_USAGE, why);
		return 0;
	}
	return error__fail(e, EXIT_USAGE, "drive_id: no drive with id '%s'", id);
}

static int net_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	struct mmds_store *store = cfg->mmds.present ? mmds_store__default() : NULL;
	if (cfg->mmds.present && !store)
		return error__fail(e, EXIT_ERROR, "MMDS: no data store (out of memory)");
	if (store)
		mmds_store__set_options(store, cfg->mmds.version ? MMDS_V2 : MMDS_V1,
					cfg->mmds.imds_compat);
	for (unsigned i = 0; i < cfg->nr_nets; i++) {
		struct virtio_dev *dev =
		    net__create(&cfg->nets[i], -1, &vm->mem, vm->loop, why, sizeof(why));
		if (dev && store && config__mmds_iface(cfg, cfg->nets[i].id) &&
		    net__enable_mmds(dev, store, cfg->mmds.ipv4, why, sizeof(why))) {
			virtio_dev__destroy(dev);
			dev = NULL;
		}
		if (attach(vm, &net_device, dev, why, e))
			return -1;
	}
	return 0;
}

static int vsock_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	if (!cfg->vsock.present)
		return 0;
	return attach(vm, &vsock_device,
		      vsock__create(&cfg->vsock, &vm->mem, vm->loop, why, sizeof(why)), why, e);
}

static int rng_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	if (!cfg->entropy)
		return 0;
	return attach(
	    vm, &rng_device,
	    rng__create_limited(&cfg->entropy_rate_limiter, &vm->mem, vm->loop, why, sizeof(why)),
	    why, e);
}

static int balloon_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	if (!cfg->balloon.present)
		return 0;
	return attach(vm, &balloon_device,
		      balloon__create(&cfg->balloon, &vm->mem, vm->loop, why, sizeof(why)), why, e);
}

static void destroy(void *dev)
{
	virtio_dev__destroy(dev);
}

static void leave(void *dev)
{
	virtio_dev__leave(dev);
}

/* A queue's rate limiter: queueN-limit-wait-ns, then per bucket (bw, ops) its limits
 * (size, one-time-burst, refill-time-ms) and where it stands (burst-left, budget,
 * elapsed-ns since its last refill). Written since vmstate 1.1. */

static void limit_name(char *n, size_t len, unsigned q, const char *bucket, const char *field)
{
	snprintf(n, len, "queue%u-limit%s%s%s%s", q, bucket ? "-" : "", bucket ? bucket : "",
		 field[0] ? "-" : "", field);
}

static void save_limit(struct snapshot_out *s, unsigned q, const struct ratelimit_state *l)
{
	char n[64];
	limit_name(n, sizeof(n), q, NULL, "wait-ns");
	snap_out__u64(s, n, l->wait_ns);
#define PUT(field, v) (limit_name(n, sizeof(n), q, bucket, field), snap_out__u64(s, n, v));
	const char *bucket = "bw";
	TBUCKET_STATE_FIELDS(PUT, l->bandwidth)
	bucket = "ops";
	TBUCKET_STATE_FIELDS(PUT, l->ops)
#undef PUT
}

/* 1 if queue q's limiter is in the node (read into l), 0 if the node has none and may
 * lack it (a vmstate older than 1.1, or a queue with no limiter), -1 with e. */
static int load_limit(struct virtio_dev *dev, struct snapshot_in *s, unsigned q,
		      struct ratelimit_state *l, struct error *e)
{
	char n[64];
	limit_name(n, sizeof(n), q, NULL, "wait-ns");
	if (!snap_in__has(s, n)) {
		if (virtio_dev__has_limiter(dev, q) &&
		    (s->vs->major > 1 || (s->vs->major == 1 && s->vs->minor >= 1)))
			return error__fail(e, EXIT_USAGE,
					   "%s: no property %s (queue %u's rate limiter)", s->node,
					   n, q);
		return 0;
	}
	if (snap_in__u64(s, n, &l->wait_ns, e))
		return -1;
#define GET(field, v)                                                                              \
	if (limit_name(n, sizeof(n), q, bucket, field), snap_in__u64(s, n, &v, e))                 \
		return -1;
	const char *bucket = "bw";
	TBUCKET_STATE_FIELDS(GET, l->bandwidth)
	bucket = "ops";
	TBUCKET_STATE_FIELDS(GET, l->ops)
#undef GET
	return 1;
}

/* Snapshots: the transport state (virtio/state.c). The back end (file, tap, socket)
 * is made anew from the configuration, which the snapshot carries too. */
static int save(void *dev, struct snapshot_out *s, struct error *e)
{
	struct virtio_state st;
	virtio_dev__save_state(dev, &st);
	snap_out__string(s, "device-name", ((struct virtio_dev *)dev)->name);
	snap_out__u32(s, "device-id", st.device_id);
	snap_out__u64(s, "driver-features", st.driver_features);
	snap_out__u32(s, "device-features-select", st.dev_feat_sel);
	snap_out__u32(s, "driver-features-select", st.drv_feat_sel);
	snap_out__u32(s, "device-status", st.status);
	snap_out__u32(s, "interrupt-status", st.int_status);
	snap_out__u32(s, "config-generation", st.config_gen);
	snap_out__u32(s, "queue-select", st.queue_sel);
	snap_out__u32(s, "queues", st.nr_queues);
	for (unsigned q = 0; q < st.nr_queues; q++) {
		const struct virtio_queue_state *qs = &st.queues[q];
		char name[32];
#define QPROP(fn, field, v)                                                                        \
	snprintf(name, sizeof(name), "queue%u-%s", q, field);                                      \
	fn(s, name, v)
		QPROP(snap_out__u64, "desc", qs->desc);
		QPROP(snap_out__u64, "avail", qs->avail);
		QPROP(snap_out__u64, "used", qs->used);
		QPROP(snap_out__u32, "size", qs->size);
		QPROP(snap_out__u32, "ready", qs->ready);
		QPROP(snap_out__u32, "next-avail", qs->last_avail);
		QPROP(snap_out__u32, "next-used", qs->used_idx);
		QPROP(snap_out__u32, "signalled", qs->signalled);
		QPROP(snap_out__u32, "avail-seen", qs->avail_seen);
		if (qs->limited)
			save_limit(s, q, &qs->limit);
#undef QPROP
	}
	return 0;
}

static int get_u16(struct snapshot_in *s, const char *name, uint16_t *v, struct error *e)
{
	uint32_t x;
	if (snap_in__u32(s, name, &x, e))
		return -1;
	if (x > 0xffff)
		return error__fail(e, EXIT_USAGE, "%s/%s: %u is not a 16-bit value", s->node, name,
				   x);
	*v = (uint16_t)x;
	return 0;
}

/* The transport state, before the queues are served again (the caller's resume). */
static int load_transport(void *dev, struct snapshot_in *s, struct error *e)
{
	struct virtio_dev *vdev = dev;
	struct virtio_state st = {0};
	const char *name;
	if (snap_in__string(s, "device-name", &name, e))
		return -1;
	if (strcmp(name, vdev->name))
		return error__fail(e, EXIT_USAGE, "%s: saved as '%s', the configuration makes '%s'",
				   s->node, name, vdev->name);
	if (snap_in__u32(s, "device-id", &st.device_id, e) ||
	    snap_in__u64(s, "driver-features", &st.driver_features, e) ||
	    snap_in__u32(s, "device-features-select", &st.dev_feat_sel, e) ||
	    snap_in__u32(s, "driver-features-select", &st.drv_feat_sel, e) ||
	    snap_in__u32(s, "device-status", &st.status, e) ||
	    snap_in__u32(s, "interrupt-status", &st.int_status, e) ||
	    snap_in__u32(s, "config-generation", &st.config_gen, e) ||
	    snap_in__u32(s, "queue-select", &st.queue_sel, e) ||
	    snap_in__u32(s, "queues", &st.nr_queues, e))
		return -1;
	if (st.nr_queues > VIRTIO_STATE_MAX_QUEUES)
		return error__fail(e, EXIT_USAGE, "%s: %u queues", s->node, st.nr_queues);
	for (unsigned q = 0; q < st.nr_queues; q++) {
		struct virtio_queue_state *qs = &st.queues[q];
		char n[32];
		uint32_t ready;
#define QGET(fn, field, p) (snprintf(n, sizeof(n), "queue%u-%s", q, field), fn(s, n, p, e))
		if (QGET(snap_in__u64, "desc", &qs->desc) ||
		    QGET(snap_in__u64, "avail", &qs->avail) ||
		    QGET(snap_in__u64, "used", &qs->used) || QGET(get_u16, "size", &qs->size) ||
		    QGET(snap_in__u32, "ready", &ready) ||
		    QGET(get_u16, "next-avail", &qs->last_avail) ||
		    QGET(get_u16, "next-used", &qs->used_idx) ||
		    QGET(get_u16, "signalled", &qs->signalled) ||
		    QGET(get_u16, "avail-seen", &qs->avail_seen))
			return -1;
#undef QGET
		qs->ready = ready != 0;
		int limited = load_limit(vdev, s, q, &qs->limit, e);
		if (limited < 0)
			return -1;
		qs->limited = limited;
	}
	char why[256];
	if (virtio_dev__load_state(vdev, &st, why, sizeof(why)))
		return error__fail(e, EXIT_USAGE, "%s: %s", s->node, why);
	return 0;
}

static int load(void *dev, struct snapshot_in *s, struct error *e)
{
	if (load_transport(dev, s, e))
		return -1;
	virtio_dev__resume_queues(dev);
	return 0;
}

static int vsock_load(void *dev, struct snapshot_in *s, struct error *e)
{
	if (load(dev, s, e))
		return -1;
	/* The host connections did not survive: tell the guest so it drops its own. */
	if (vsock__transport_reset(dev))
		pr_warn("vsock: the guest gave no event buffer for the transport reset");
	return 0;
}

const struct device_ops blk_device = {.name = "block",
				      .setup = blk_setup,
				      .destroy = destroy,
				      .leave = leave,
				      .metrics = virtio__device_metrics,
				      .save = save,
				      .restore = load};
const struct device_ops net_device = {.name = "net",
				      .setup = net_setup,
				      .destroy = destroy,
				      .leave = leave,
				      .metrics = virtio__device_metrics,
				      .save = save,
				      .restore = load};
const struct device_ops vsock_device = {.name = "vsock",
					.setup = vsock_setup,
					.destroy = destroy,
					.leave = leave,
					.metrics = virtio__device_metrics,
					.save = save,
					.restore = vsock_load};
const struct device_ops rng_device = {.name = "entropy",
				      .setup = rng_setup,
				      .destroy = destroy,
				      .leave = leave,
				      .metrics = virtio__device_metrics,
				      .save = save,
				      .restore = load};
/* The balloon: its transport like the others, then its configuration space (num-pages,
 * actual), statistics interval, held statistics buffer and last statistics, and the
 * bitmap of the pages in the balloon (host-endian u64 words). Since vmstate 1.1. */
static int balloon_save(void *dev, struct snapshot_out *s, struct error *e)
{
	struct balloon_state st;
	char why[ERROR_MSG_MAX];
	if (save(dev, s, e))
		return -1;
	if (balloon__save(dev, &st, why, sizeof(why)))
		return error__from_text(e, EXIT_ERROR, why);
	snap_out__u32(s, "balloon-num-pages", st.num_pages);
	snap_out__u32(s, "balloon-actual", st.actual);
	snap_out__u32(s, "balloon-stats-interval-s", st.interval_s);
	snap_out__u32(s, "balloon-stats-held", st.stats_kept);
	snap_out__u32(s, "balloon-stats-head", st.stats_head);
	snap_out__u32(s, "balloon-stats-present", st.stats_present);
	snap_out__blob(s, "balloon-stats", st.stats, sizeof(st.stats));
	snap_out__blob(s, "balloon-inflated", st.inflated, st.inflated_words * sizeof(uint64_t));
	balloon__state_free(&st);
	return 0;
}

static int balloon_load(void *dev, struct snapshot_in *s, struct error *e)
{
	if (load_transport(dev, s, e))
		return -1;
	/* A vmstate 1.0 has none of it: the balloon starts empty, as before 1.1. */
	if (s->vs->major == 1 && s->vs->minor == 0) {
		virtio_dev__resume_queues(dev);
		return 0;
	}
	struct balloon_state st = {0};
	uint32_t held, head;
	const void *bits;
	size_t len;
	if (snap_in__u32(s, "balloon-num-pages", &st.num_pages, e) ||
	    snap_in__u32(s, "balloon-actual", &st.actual, e) ||
	    snap_in__u32(s, "balloon-stats-interval-s", &st.interval_s, e) ||
	    snap_in__u32(s, "balloon-stats-held", &held, e) ||
	    snap_in__u32(s, "balloon-stats-head", &head, e) ||
	    snap_in__u32(s, "balloon-stats-present", &st.stats_present, e) ||
	    snap_in__bytes(s, "balloon-stats", st.stats, sizeof(st.stats), e) ||
	    snap_in__blob(s, "balloon-inflated", &bits, &len, e))
		return -1;
	if (held > 1 || head > 0xffff || len % sizeof(uint64_t))
		return error__fail(e, EXIT_USAGE,
				   "%s: balloon-stats-held %u, balloon-stats-head %u, "
				   "balloon-inflated of %zu bytes",
				   s->node, held, head, len);
	st.stats_kept = held;
	st.stats_head = (uint16_t)head;
	st.inflated_words = len / sizeof(uint64_t);
	/* The vmstate's bytes need not be aligned for u64 words. */
	if (len && !(st.inflated = malloc(len)))
		return error__fail(e, EXIT_ERROR, "out of memory");
	if (len)
		memcpy(st.inflated, bits, len);
	char why[ERROR_MSG_MAX];
	int rc = balloon__load(dev, &st, why, sizeof(why));
	balloon__state_free(&st);
	if (rc)
		return error__fail(e, EXIT_USAGE, "%s: balloon: %s", s->node, why);
	virtio_dev__resume_queues(dev);
	return 0;
}

const struct device_ops balloon_device = {.name = "balloon",
					  .setup = balloon_setup,
					  .destroy = destroy,
					  .leave = leave,
					  .metrics = virtio__device_metrics,
					  .save = balloon_save,
					  .restore = balloon_load};
