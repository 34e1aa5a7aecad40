/* The one loop that serves a virtqueue, for every device, and the kicks that start it. */
#include <sys/epoll.h>
#include <unistd.h>

#include "event.h"
#include "mmio.h"

void virtio_dev__signal_kick(struct virtio_dev *dev, unsigned q)
{
	if (dev->kick_fd[q] < 0)
		return;
	uint64_t one = 1;
	/* EAGAIN only if the counter is saturated: a kick is pending anyway. */
	ssize_t w = write(dev->kick_fd[q], &one, sizeof(one));
	(void)w;
}

/* Whether the loop should go on for one more chain. */
static bool wants_more(struct virtio_dev *dev, unsigned q)
{
	return !dev->ops->has_work || dev->ops->has_work(dev, q);
}

void virtio_dev__serve(struct virtio_dev *dev, unsigned q)
{
	struct virtq *vq = &dev->vq[q];
	struct virtq_chain *c = &dev->chain;
	/* Without a kick eventfd (unit tests that call in directly) nothing would bring
	 * the loop back, so it runs until the ring is empty. */
	unsigned budget = dev->kick_fd[q] >= 0 ? VIRTIO_SERVE_BUDGET : ~0u;
	const char *why = NULL;
	bool used = false;
	if (q >= dev->nr_queues || !virtio_dev__live(dev) || !vq->ready)
		return;
	while (wants_more(dev, q)) {
		if (!budget) {
			/* Yield: the event loop serves what else is ready, then us again. */
			virtio_dev__signal_kick(dev, q);
			break;
		}
		enum virtq_pop r = virtq__pop(vq, c, &why);
		if (r == VIRTQ_EMPTY) {
			/* Publish before asking for the next kick, so the driver sees the
			 * completions that may be what it waits for to add buffers. */
			if (used)
				virtio_dev__flush(dev, q);
			used = false;
			if (virtq__arm(vq))
				continue;
			break;
		}
		if (r == VIRTQ_BAD)
			goto bad;
		budget--;
		uint32_t written = 0;
		switch (dev->ops->chain(dev, q, c, &written, &why)) {
		case VIRTIO_CHAIN_USED:
			virtio_dev__used(dev, q, c->head, written);
			used = true;
			break;
		case VIRTIO_CHAIN_UNUSED:
			virtq__unpop(vq, 1);
			break;
		case VIRTIO_CHAIN_KEPT:
			break;
		case VIRTIO_CHAIN_BAD:
			goto bad;
		}
	}
	if (used)
		virtio_dev__flush(dev, q);
	return;
bad:
	if (used)
		virtio_dev__flush(dev, q);
	virtio_dev__fail(dev, why);
}

void virtio_dev__kick(struct virtio_dev *dev, unsigned q)
{
	pthread_mutex_lock(&dev->lock);
	if (q < dev->nr_queues) {
		dev->stats.queue_events[q]++;
		if (virtio_dev__live(dev) && dev->vq[q].ready) {
			if (dev->ops->notify)
				dev->ops->notify(dev, q);
			else
				virtio_dev__serve(dev, q);
		}
	}
	pthread_mutex_unlock(&dev->lock);
}

static void on_kick(void *opaque, uint32_t events)
{
	struct virtio_kick *k = opaque;
	uint64_t n;
	ssize_t r = read(k->dev->kick_fd[k->q], &n, sizeof(n));
	(void)r;
	virtio_dev__kick(k->dev, k->q);
}

int virtio_dev__watch_kicks(struct virtio_dev *dev)
{
	for (unsigned i = 0; i < dev->nr_queues; i++)
		if (event__add(dev->loop, dev->kick_fd[i], EPOLLIN, on_kick, &dev->kicks[i]))
			return -1;
	return 0;
}
