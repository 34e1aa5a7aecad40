#include "virtio.h"

#include <stdio.h>
#include <string.h>

#include "devices.h"
#include "vm.h"

void virtio_dev__destroy(struct virtio_dev *dev)
{
	if (dev)
		dev->ops->destroy(dev);
}

static void destroy(void *dev)
{
	virtio_dev__destroy(dev);
}

void virtio_dev__leave(struct virtio_dev *dev)
{
	if (dev && dev->ops->leave)
		dev->ops->leave(dev);
}

static void leave(void *dev)
{
	virtio_dev__leave(dev);
}

/* vm->devices holds every device module; this ops table marks the virtio ones. */
const struct device_ops virtio_device_ops = {
    .name = "virtio",
    .destroy = destroy,
    .leave = leave,
    .metrics = virtio__device_metrics,
};

static int add(struct vm *vm, struct virtio_dev *dev, char *err, size_t errlen)
{
	if (!dev)
		return -1;
	if (vm__add_device(vm, &virtio_device_ops, dev)) {
		snprintf(err, errlen, "virtio %s: too many devices", dev->name);
		virtio_dev__destroy(dev);
		return -1;
	}
	/* From here vm__destroy() frees the device, whatever happens next. */
	return virtio_dev__attach(dev, vm, err, errlen);
}

int virtio__setup_all(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
	for (unsigned i = 0; i < cfg->nr_drives; i++)
		if (add(vm, blk__create(&cfg->drives[i], &vm->mem, vm->loop, err, errlen), err,
			errlen))
			return -1;
	for (unsigned i = 0; i < cfg->nr_nets; i++)
		if (add(vm, net__create(&cfg->nets[i], -1, &vm->mem, vm->loop, err, errlen), err,
			errlen))
			return -1;
	if (cfg->vsock.present &&
	    add(vm, vsock__create(&cfg->vsock, &vm->mem, vm->loop, err, errlen), err, errlen))
		return -1;
	if (cfg->entropy &&
	    add(vm,
		rng__create_limited(&cfg->entropy_rate_limiter, &vm->mem, vm->loop, err, errlen),
		err, errlen))
		return -1;
	return 0;
}

static bool same_bucket(const struct tbucket *cur, const struct token_bucket_config *want)
{
	return tbucket__enabled(cur) ? !memcmp(&cur->p, want, sizeof(*want))
				     : !(want->size && want->refill_time);
}

int virtio__update_limiter(struct vm *vm, const char *device, unsigned q,
			   const struct rate_limiter_config *rl, char *err, size_t errlen)
{
	for (unsigned i = 0; i < vm->nr_devices; i++) {
		if (vm->devices[i].ops->metrics != virtio__device_metrics)
			continue;
		struct virtio_dev *d = vm->devices[i].dev;
		if (strcmp(d->name, device))
			continue;
		if (q >= d->nr_queues || !d->throttle[q]) {
			snprintf(err, errlen, "%s: queue %u has no rate limiter", device, q);
			return -1;
		}
		pthread_mutex_lock(&d->lock);
		const struct ratelimit *cur = &d->throttle[q]->rl;
		bool keep_bw = same_bucket(&cur->bandwidth, &rl->bandwidth);
		bool keep_ops = same_bucket(&cur->ops, &rl->ops);
		pthread_mutex_unlock(&d->lock);
		return virtio_dev__update_limit(d, q, keep_bw ? NULL : &rl->bandwidth,
						keep_ops ? NULL : &rl->ops);
	}
	snprintf(err, errlen, "no virtio device %s", device);
	return -1;
}
