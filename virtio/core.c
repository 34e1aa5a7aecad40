/* The generic part of every virtio device: interrupts, completion, failure, reset. */
#include <stdio.h>
#include <unistd.h>

#include "event.h"
#include "mmio.h"

void virtio_dev__init(struct virtio_dev *dev, const struct virtio_dev_ops *ops, uint32_t device_id,
		      const char *name, const struct guest_mem *mem, struct event_loop *loop,
		      unsigned nr_queues, uint64_t features, void *config, uint32_t config_len)
{
	pthread_mutex_init(&dev->lock, NULL);
	dev->ops = ops;
	dev->device_id = device_id;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->mem = mem;
	dev->loop = loop;
	dev->nr_queues = nr_queues < VIRTIO_MAX_QUEUES ? nr_queues : VIRTIO_MAX_QUEUES;
	dev->host_features = features | VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			     VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	dev->config = config;
	dev->config_len = config_len;
	dev->irq_fd = -1;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		dev->kick_fd[i] = -1;
		dev->kicks[i] = (struct virtio_kick){dev, i};
		dev->pending[i].size = VIRTQ_MAX_SIZE;
	}
}

void virtio_dev__release(struct virtio_dev *dev)
{
	virtio_dev__unlimit(dev);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (dev->kick_fd[i] < 0)
			continue;
		if (dev->loop)
			event__del(dev->loop, dev->kick_fd[i]); /* ENOENT if never watched */
		close(dev->kick_fd[i]);
		dev->kick_fd[i] = -1;
	}
	if (dev->irq_fd >= 0)
		close(dev->irq_fd);
	dev->irq_fd = -1;
	pthread_mutex_destroy(&dev->lock);
}

bool virtio_dev__live(const struct virtio_dev *dev)
{
	return (dev->status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET |
			       VIRTIO_STATUS_FAILED)) == VIRTIO_STATUS_DRIVER_OK;
}

bool virtio_dev__has(const struct virtio_dev *dev, unsigned feature)
{
	return dev->driver_features & VIRTIO_BIT(feature);
}

void virtio_dev__interrupt(struct virtio_dev *dev, uint32_t why)
{
	dev->int_status |= why;
	dev->stats.interrupts++;
	if (dev->irq_fd >= 0) {
		uint64_t one = 1;
		/* EAGAIN only if the counter is saturated: an interrupt is pending anyway. */
		ssize_t w = write(dev->irq_fd, &one, sizeof(one));
		(void)w;
	}
}

void virtio_dev__used(struct virtio_dev *dev, unsigned q, uint16_t head, uint32_t len)
{
	virtq__add_used(&dev->vq[q], head, len);
	dev->stats.requests++;
	dev->stats.queue_chains[q]++;
}

void virtio_dev__flush(struct virtio_dev *dev, unsigned q)
{
	struct virtq *vq = &dev->vq[q];
	virtq__flush(vq);
	if (virtq__should_notify(vq))
		virtio_dev__interrupt(dev, VIRTIO_INT_VRING);
}

void virtio_dev__fail(struct virtio_dev *dev, const char *why)
{
	dev->stats.ring_errors++;
	if (dev->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	pr_warn_limited(&dev->limits.fail, "virtio %s: %s; device needs reset", dev->name, why);
	dev->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	/* §2.1.2: a device that enters NEEDS_RESET while DRIVER_OK sends a config change. */
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_dev__interrupt(dev, VIRTIO_INT_CONFIG);
}

void virtio_dev__config_changed(struct virtio_dev *dev)
{
	dev->config_gen++;
	if (dev->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_dev__interrupt(dev, VIRTIO_INT_CONFIG);
}

void virtio_dev__reset(struct virtio_dev *dev)
{
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		virtq__disable(&dev->vq[i]);
		dev->pending[i] = (struct virtq_layout){.size = VIRTQ_MAX_SIZE};
	}
	dev->driver_features = 0;
	dev->dev_feat_sel = dev->drv_feat_sel = 0;
	dev->queue_sel = 0;
	dev->int_status = 0;
	dev->status = 0;
	dev->resets++;
	if (dev->ops->reset)
		dev->ops->reset(dev);
}

bool virtio_dev__features_acceptable(struct virtio_dev *dev)
{
	uint64_t f = dev->driver_features;
	if (!(f & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		pr_warn_limited(&dev->limits.legacy,
				"virtio %s: driver did not accept VIRTIO_F_VERSION_1 (legacy "
				"drivers are not supported)",
				dev->name);
		return false;
	}
	if (f & ~dev->host_features)
		return false;
	return !dev->ops->features_ok || dev->ops->features_ok(dev) == 0;
}
