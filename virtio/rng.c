/* virtio-rng (virtio 1.2 §5.4): one queue of writable buffers, filled by getrandom(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "devices.h"
#include "log.h"

/* Bounds the time one request holds the VMM thread. */
#define RNG_MAX_PER_REQUEST 65536

struct rng {
	struct virtio_dev vdev;
};

static size_t fill(struct iovec *iov, unsigned n, size_t limit)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < limit; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t want = iov[i].iov_len;
		if (want > limit - done)
			want = limit - done;
		size_t got = 0;
		while (got < want) {
			ssize_t r = getrandom(p + got, want - got, 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return done + got;
			}
			got += (size_t)r;
		}
		done += got;
	}
	return done;
}

static enum virtio_chain_result rng_chain(struct virtio_dev *dev, unsigned q, struct virtq_chain *c,
					  uint32_t *written, const char **why)
{
	size_t n = fill(c->iov + c->n_out, c->n_in, RNG_MAX_PER_REQUEST);
	if (n < c->in_len && n < RNG_MAX_PER_REQUEST)
		dev->stats.errors++;
	dev->stats.write_bytes += n;
	*written = (uint32_t)n;
	return VIRTIO_CHAIN_USED;
}

static uint64_t rng_cost(struct virtio_dev *dev, unsigned q, const struct virtq_chain *c)
{
	return c->in_len < RNG_MAX_PER_REQUEST ? c->in_len : RNG_MAX_PER_REQUEST;
}

static void rng_destroy(struct virtio_dev *dev)
{
	virtio_dev__release(dev);
	free(dev);
}

static const struct virtio_metric_names rng_names = {
    .group = "entropy",
    .requests = "entropy_event_count",
    .write_bytes = "entropy_bytes",
    .errors = "host_rng_fails",
    .throttled = {"entropy_rate_limiter_throttled"},
    .limiter_events = {"rate_limiter_event_count"},
};

static const struct virtio_dev_ops rng_ops = {
    .chain = rng_chain,
    .cost = rng_cost,
    .metric_names = &rng_names,
    .destroy = rng_destroy,
};

struct virtio_dev *rng__create(const struct guest_mem *mem, struct event_loop *loop, char *err,
			       size_t errlen)
{
	return rng__create_limited(NULL, mem, loop, err, errlen);
}

struct virtio_dev *rng__create_limited(const struct rate_limiter_config *rl,
				       const struct guest_mem *mem, struct event_loop *loop,
				       char *err, size_t errlen)
{
	struct rng *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "rng: out of memory");
		return NULL;
	}
	virtio_dev__init(&r->vdev, &rng_ops, VIRTIO_ID_RNG, "rng", mem, loop, 1, 0, NULL, 0);
	if (virtio_dev__limit(&r->vdev, 0, rl, err, errlen)) {
		rng_destroy(&r->vdev);
		return NULL;
	}
	return &r->vdev;
}
