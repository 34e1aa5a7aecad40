/* The virtio rows of the device table. They call virtio/'s create functions and
 * attach each device to the VM; virtio/ reports in text, so the exit code is
 * recovered here: a create failure is about the device's configuration (a file,
 * a tap, a socket path), an attach failure is whatever vm__ helper failed. */
#include <stdio.h>
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

static int load(void *dev, struct snapshot_in *s, struct error *e)
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
	}
	char why[256];
	if (virtio_dev__load_state(vdev, &st, why, sizeof(why)))
		return error__fail(e, EXIT_USAGE, "%s: %s", s->node, why);
	virtio_dev__resume_queues(vdev);
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
				      .metrics = virtio__device_metrics,
				      .save = save,
				      .restore = load};
const struct device_ops net_device = {.name = "net",
				      .setup = net_setup,
				      .destroy = destroy,
				      .metrics = virtio__device_metrics,
				      .save = save,
				      .restore = load};
const struct device_ops vsock_device = {.name = "vsock",
					.setup = vsock_setup,
					.destroy = destroy,
					.metrics = virtio__device_metrics,
					.save = save,
					.restore = vsock_load};
const struct device_ops rng_device = {.name = "entropy",
				      .setup = rng_setup,
				      .destroy = destroy,
				      .metrics = virtio__device_metrics,
				      .save = save,
				      .restore = load};
/* The balloon's transport is saved like the others; its inflated-page bitmap is not
 * (a restored balloon starts from the restored `actual` with no page recorded). */
const struct device_ops balloon_device = {.name = "balloon",
					  .setup = balloon_setup,
					  .destroy = destroy,
					  .metrics = virtio__device_metrics,
					  .save = save,
					  .restore = load};
