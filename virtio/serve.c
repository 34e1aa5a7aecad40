/* The one loop that serves a virtqueue, for every device, and the kicks that start it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
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
		/* Over its rate: the chain goes back to the ring, untouched, and the
		 * limiter's timer brings us back; the guest waits, nothing fails. */
		if (dev->throttle[q] && dev->ops->cost &&
		    virtio_dev__throttled(dev, q, dev->ops->cost(dev, q, c))) {
			virtq__unpop(vq, 1);
			break;
		}
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

/* Lock held. */
static void serve_again(struct virtio_dev *dev, unsigned q)
{
	if (virtio_dev__live(dev) && dev->vq[q].ready) {
		if (dev->ops->notify)
			dev->ops->notify(dev, q);
		else
			virtio_dev__serve(dev, q);
	}
}

void virtio_dev__kick(struct virtio_dev *dev, unsigned q)
{
	pthread_mutex_lock(&dev->lock);
	if (q < dev->nr_queues) {
		dev->stats.queue_events[q]++;
		serve_again(dev, q);
	}
	pthread_mutex_unlock(&dev->lock);
}

bool virtio_dev__throttled(struct virtio_dev *dev, unsigned q, uint64_t bytes)
{
	struct virtio_throttle *t = dev->throttle[q];
	/* Most queues have a limiter that limits nothing: no clock read for them. */
	if (!t || !ratelimit__enabled(&t->rl))
		return false;
	uint64_t now = ratelimit__now();
	if (ratelimit__consume(&t->rl, bytes, 1, now))
		return false;
	dev->stats.throttled[q]++;
	if (!t->armed && t->timer_fd >= 0) {
		struct itimerspec its = {
		    .it_value = {(time_t)(t->rl.until_ns / 1000000000ull),
				 (long)(t->rl.until_ns % 1000000000ull)},
		};
		if (timerfd_settime(t->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
			t->armed = true;
	}
	return true;
}

void virtio_dev__unthrottle(struct virtio_dev *dev, unsigned q)
{
	pthread_mutex_lock(&dev->lock);
	if (q < dev->nr_queues && dev->throttle[q]) {
		dev->throttle[q]->armed = false;
		dev->stats.limiter_events[q]++;
		serve_again(dev, q);
	}
	pthread_mutex_unlock(&dev->lock);
}

static void on_timer(void *opaque, uint32_t events)
{
	struct virtio_throttle *t = opaque;
	uint64_t n;
	ssize_t r = read(t->timer_fd, &n, sizeof(n));
	(void)r;
	virtio_dev__unthrottle(t->dev, t->q);
}

int virtio_dev__limit(struct virtio_dev *dev, unsigned q, const struct rate_limiter_config *p,
		      char *err, size_t errlen)
{
	if (q >= dev->nr_queues || dev->throttle[q]) {
		snprintf(err, errlen, "%s: queue %u cannot take a rate limiter", dev->name, q);
		return -1;
	}
	struct virtio_throttle *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "%s: out of memory", dev->name);
		return -1;
	}
	*t = (struct virtio_throttle){.timer_fd = -1, .dev = dev, .q = q};
	ratelimit__init(&t->rl, p, ratelimit__now());
	/* Made now even without limits: a PATCH may set some once the filters forbid
	 * creating descriptors. */
	if (dev->loop) {
		t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (t->timer_fd < 0 || event__add(dev->loop, t->timer_fd, EPOLLIN, on_timer, t)) {
			snprintf(err, errlen, "%s: rate limiter timer: %s", dev->name,
				 strerror(errno));
			if (t->timer_fd >= 0)
				close(t->timer_fd);
			free(t);
			return -1;
		}
	}
	dev->throttle[q] = t;
	return 0;
}

int virtio_dev__update_limit(struct virtio_dev *dev, unsigned q,
			     const struct token_bucket_config *bw,
			     const struct token_bucket_config *ops)
{
	if (q >= dev->nr_queues || !dev->throttle[q])
		return -1;
	pthread_mutex_lock(&dev->lock);
	struct virtio_throttle *t = dev->throttle[q];
	ratelimit__update(&t->rl, bw, ops, ratelimit__now());
	if (bw || ops) {
		if (t->armed && t->timer_fd >= 0) {
			struct itimerspec off = {0};
			timerfd_settime(t->timer_fd, 0, &off, NULL);
			t->armed = false;
		}
		serve_again(dev, q);
	}
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

void virtio_dev__unlimit(struct virtio_dev *dev)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		struct virtio_throttle *t = dev->throttle[q];
		if (!t)
			continue;
		if (t->timer_fd >= 0) {
			if (dev->loop)
				event__del(dev->loop, t->timer_fd);
			close(t->timer_fd);
		}
		free(t);
		dev->throttle[q] = NULL;
	}
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
