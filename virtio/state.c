/* Transport state for snapshots: what the driver negotiated and where each queue
 * stands. The device's back end (file, tap, socket) is made anew from the
 * configuration; only this carries over. */
#include <stdio.h>
#include <linux/virtio_vsock.h>
#include <string.h>

#include "mmio.h"
#include "vsock.h"

/* The event queue, the third of virtio-vsock (virtio 1.2 §5.10.2). */
#define VSOCK_EVQ 2

_Static_assert(VIRTIO_STATE_MAX_QUEUES >= VIRTIO_MAX_QUEUES, "a saved device holds every queue");

void virtio_dev__save_state(struct virtio_dev *dev, struct virtio_state *st)
{
	memset(st, 0, sizeof(*st));
	uint64_t now = ratelimit__now();
	pthread_mutex_lock(&dev->lock);
	st->device_id = dev->device_id;
	st->driver_features = dev->driver_features;
	st->dev_feat_sel = dev->dev_feat_sel;
	st->drv_feat_sel = dev->drv_feat_sel;
	st->status = dev->status;
	st->int_status = dev->int_status;
	st->config_gen = dev->config_gen;
	st->queue_sel = dev->queue_sel;
	st->nr_queues = dev->nr_queues;
	for (unsigned q = 0; q < dev->nr_queues; q++) {
		struct virtio_queue_state *qs = &st->queues[q];
		const struct virtq *vq = &dev->vq[q];
		qs->ready = vq->ready;
		qs->desc = vq->ready ? vq->layout.desc : dev->pending[q].desc;
		qs->avail = vq->ready ? vq->layout.avail : dev->pending[q].avail;
		qs->used = vq->ready ? vq->layout.used : dev->pending[q].used;
		qs->size = vq->ready ? vq->layout.size : dev->pending[q].size;
		qs->last_avail = vq->last_avail;
		qs->used_idx = vq->used_idx;
		qs->signalled = vq->signalled;
		qs->avail_seen = vq->avail_seen;
		if (dev->throttle[q]) {
			qs->limited = true;
			ratelimit__save(&dev->throttle[q]->rl, now, &qs->limit);
		}
	}
	pthread_mutex_unlock(&dev->lock);
}

bool virtio_dev__has_limiter(const struct virtio_dev *dev, unsigned q)
{
	return q < dev->nr_queues && dev->throttle[q];
}

int virtio_dev__load_state(struct virtio_dev *dev, const struct virtio_state *st, char *err,
			   size_t errlen)
{
	/* A vmstate passed its checksum, but nothing in it is trusted further than the
	 * driver that wrote these registers would be. */
	if (st->device_id != dev->device_id || st->nr_queues != dev->nr_queues) {
		snprintf(err, errlen, "saved as device type %u with %u queues, this is %u with %u",
			 st->device_id, st->nr_queues, dev->device_id, dev->nr_queues);
		return -1;
	}
	if (st->driver_features & ~dev->host_features) {
		snprintf(err, errlen, "driver features 0x%llx not offered by this device",
			 (unsigned long long)(st->driver_features & ~dev->host_features));
		return -1;
	}
	/* The limiters first, all or none: nothing is set before every one is checked. */
	uint64_t now = ratelimit__now();
	struct ratelimit rl[VIRTIO_STATE_MAX_QUEUES];
	for (unsigned q = 0; q < dev->nr_queues; q++) {
		const struct virtio_queue_state *qs = &st->queues[q];
		if (!qs->limited)
			continue;
		char why[200];
		if (!dev->throttle[q]) {
			snprintf(err, errlen, "queue %u: saved with a rate limiter, this has none",
				 q);
			return -1;
		}
		if (ratelimit__load(&rl[q], &qs->limit, now, why, sizeof(why))) {
			snprintf(err, errlen, "queue %u: rate limiter: %s", q, why);
			return -1;
		}
	}
	pthread_mutex_lock(&dev->lock);
	dev->driver_features = st->driver_features;
	dev->dev_feat_sel = st->dev_feat_sel;
	dev->drv_feat_sel = st->drv_feat_sel;
	dev->status = st->status;
	dev->int_status = st->int_status;
	dev->config_gen = st->config_gen;
	dev->queue_sel = st->queue_sel < dev->nr_queues ? st->queue_sel : 0;
	/* A limiter still blocked arms its timer when the queue is next served. */
	for (unsigned q = 0; q < dev->nr_queues; q++)
		if (st->queues[q].limited)
			dev->throttle[q]->rl = rl[q];
	int rc = 0;
	for (unsigned q = 0; q < dev->nr_queues && !rc; q++) {
		const struct virtio_queue_state *qs = &st->queues[q];
		struct virtq_layout l = {qs->desc, qs->avail, qs->used, qs->size};
		dev->pending[q] = l;
		if (!qs->ready)
			continue;
		const char *why;
		if (virtq__enable(&dev->vq[q], dev->mem, &l,
				  virtio_dev__has(dev, VIRTIO_F_EVENT_IDX),
				  virtio_dev__has(dev, VIRTIO_F_INDIRECT_DESC), &why)) {
			snprintf(err, errlen, "queue %u: %s", q, why);
			rc = -1;
			break;
		}
		dev->vq[q].last_avail = qs->last_avail;
		dev->vq[q].used_idx = qs->used_idx;
		dev->vq[q].signalled = qs->signalled;
		dev->vq[q].avail_seen = qs->avail_seen;
	}
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

void virtio_dev__resume_queues(struct virtio_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	bool live = virtio_dev__live(dev);
	/* An interrupt the guest had not acknowledged when the VM was saved: raise it
	 * again, so completions published before the pause are seen. */
	if (live && dev->int_status)
		virtio_dev__interrupt(dev, dev->int_status);
	pthread_mutex_unlock(&dev->lock);
	/* Buffers the driver added while the device was being saved wait in the rings
	 * with no kick to come: serve them as if kicked. */
	for (unsigned q = 0; live && q < dev->nr_queues; q++)
		if (dev->vq[q].ready)
			virtio_dev__signal_kick(dev, q);
}

int vsock__transport_reset(struct virtio_dev *dev)
{
	int rc = -1;
	pthread_mutex_lock(&dev->lock);
	struct virtq *vq = &dev->vq[VSOCK_EVQ];
	const char *why;
	if (virtio_dev__live(dev) && vq->ready &&
	    virtq__pop(vq, &dev->chain, &why) == VIRTQ_CHAIN) {
		struct virtio_vsock_event ev = {.id = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET};
		uint32_t n = (uint32_t)iov__copy_to(dev->chain.iov + dev->chain.n_out,
						    dev->chain.n_in, 0, &ev, sizeof(ev));
		virtio_dev__used(dev, VSOCK_EVQ, dev->chain.head, n);
		virtio_dev__flush(dev, VSOCK_EVQ);
		rc = n == sizeof(ev) ? 0 : -1;
	}
	pthread_mutex_unlock(&dev->lock);
	return rc;
}
