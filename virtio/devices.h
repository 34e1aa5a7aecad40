/* The virtio device models. Internal to virtio/ and its unit tests. Each create
 * function returns a device that is set up but not attached to a VM (see
 * virtio_dev__attach), or NULL with a one-line reason in err. */
#ifndef EMBER_VIRTIO_DEVICES_H
#define EMBER_VIRTIO_DEVICES_H

#include <stddef.h>

#include "config.h"
#include "mmio.h"

struct virtio_dev *rng__create(const struct guest_mem *mem, struct event_loop *loop, char *err,
			       size_t errlen);
/* The same with the entropy device's rate limiter (NULL: none until a PATCH). */
struct virtio_dev *rng__create_limited(const struct rate_limiter_config *rl,
				       const struct guest_mem *mem, struct event_loop *loop,
				       char *err, size_t errlen);
struct virtio_dev *blk__create(const struct drive_config *dc, const struct guest_mem *mem,
			       struct event_loop *loop, char *err, size_t errlen);
/* Backs block device dev (drive `id`) by the file at path from now on: its capacity
 * follows and the guest gets a configuration change interrupt. On failure (a reason
 * in err) the device keeps its file. */
int blk__swap(struct virtio_dev *dev, const char *id, const char *path, char *err, size_t errlen);
/* tap_fd < 0: open the tap named in nc. Otherwise use tap_fd (a tap, or for tests
 * any datagram fd that carries 12-byte virtio-net headers), which the device owns. */
struct virtio_dev *net__create(const struct net_config *nc, int tap_fd, const struct guest_mem *mem,
			       struct event_loop *loop, char *err, size_t errlen);
/* MMDS on net device dev (before it is attached): frames for ipv4 (host order) are
 * answered from store instead of reaching the tap. */
struct mmds_store;
int net__enable_mmds(struct virtio_dev *dev, struct mmds_store *store, uint32_t ipv4, char *err,
		     size_t errlen);
/* The MMDS counters of net device dev (under its lock); false if it has no MMDS. */
struct mmds_stack_stats;
bool net__mmds_stats(struct virtio_dev *dev, struct mmds_stack_stats *s);
struct virtio_dev *vsock__create(const struct vsock_config *vc, const struct guest_mem *mem,
				 struct event_loop *loop, char *err, size_t errlen);

/* Frees a device made by one of the above. */
void virtio_dev__destroy(struct virtio_dev *dev);
/* The process ends instead: undoes what outlives it (device_ops.leave). */
void virtio_dev__leave(struct virtio_dev *dev);

#endif
