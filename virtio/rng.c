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

static void rng_notify(struct virtio_dev *dev, unsigned qi)
{
	struct virtq *q = &dev->vq[qi];
	struct virtq_chain c;
	const char *why;
	do {
		enum virtq_pop r;
		while ((r = virtq__pop(q, &c, &why)) == VIRTQ_CHAIN) {
			size_t n = fill(c.iov + c.n_out, c.n_in, RNG_MAX_PER_REQUEST);
			if (n < c.in_len && n < RNG_MAX_PER_REQUEST)
				dev->stats.errors++;
			dev->stats.requests++;
			dev->stats.write_bytes += n;
			virtq__add_used(q, c.head, (uint32_t)n);
		}
		virtio_dev__flush(dev, qi);
		if (r == VIRTQ_BAD) {
			virtio_dev__fail(dev, why);
			return;
		}
	} while (virtq__arm(q));
}

static void rng_destroy(struct virtio_dev *dev)
{
	virtio_dev__release(dev);
	free(dev);
}

static const struct virtio_dev_ops rng_ops = {
    .notify = rng_notify,
    .destroy = rng_destroy,
};

struct virtio_dev *rng__create(const struct guest_mem *mem, struct event_loop *loop, char *err,
			       size_t errlen)
{
	struct rng *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "rng: out of memory");
		return NULL;
	}
	virtio_dev__init(&r->vdev, &rng_ops, VIRTIO_ID_RNG, "rng", mem, loop, 1, 0, NULL, 0);
	return &r->vdev;
}
