/* virtio-balloon (virtio 1.2 §5.5), the VMM's side: the target the host asks for,
 * the statistics the guest reports, and the device itself (virtio/balloon.c). */
#ifndef EMBER_VIRTIO_BALLOON_H
#define EMBER_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct virtio_dev;
struct guest_mem;
struct event_loop;
struct json_out;

/* Statistics tags 0..15 (VIRTIO_BALLOON_S_*). */
#define BALLOON_NR_STATS 16

/* What GET /balloon/statistics reports. */
struct balloon_stats {
	uint32_t target_pages, actual_pages;
	uint32_t present; /* bit t: the guest has reported tag t at least once */
	uint64_t value[BALLOON_NR_STATS];
};

/* A balloon of bc's target, with a statistics queue if bc asks for a polling
 * interval (its timer runs on loop; loop NULL: no timer, for unit tests). */
struct virtio_dev *balloon__create(const struct balloon_config *bc, const struct guest_mem *mem,
				   struct event_loop *loop, char *err, size_t errlen);

/* VMM thread. Each returns 0, or -1 with Firecracker's reason in err. */
/* A new target: the guest learns it by a configuration change interrupt. Refused
 * while the guest's driver has not set the device up. */
int balloon__set_target(struct virtio_dev *dev, uint32_t amount_mib, char *err, size_t errlen);
/* A new statistics interval; statistics cannot be turned on or off after start. */
int balloon__set_stats_interval(struct virtio_dev *dev, uint32_t seconds, char *err, size_t errlen);
void balloon__get_stats(struct virtio_dev *dev, struct balloon_stats *out);
/* Gives the guest back its statistics buffer, so that it refills it (what the
 * polling timer does). */
void balloon__request_stats(struct virtio_dev *dev);

/* Snapshots: what the device holds beyond its transport (virtio/state.c). */
struct balloon_state {
	uint32_t num_pages, actual; /* the configuration space */
	uint32_t interval_s;
	bool stats_kept; /* the driver's statistics buffer, held until the next poll */
	uint16_t stats_head;
	uint32_t stats_present;
	uint64_t stats[BALLOON_NR_STATS];
	/* One bit per 4 KiB page of guest memory in the host mapping's order, set while
	 * the page is in the balloon; the trailing all-zero words are left out. */
	uint64_t *inflated;
	size_t inflated_words;
};
/* Fills st (st->inflated is malloc'd: balloon__state_free). -1 with err. */
int balloon__save(struct virtio_dev *dev, struct balloon_state *st, char *err, size_t errlen);
void balloon__state_free(struct balloon_state *st);
/* Sets a saved state on a balloon just made from the same configuration, after its
 * transport state (the statistics buffer must lie in its restored queue). -1 with err,
 * nothing changed, if st does not fit this device. */
int balloon__load(struct virtio_dev *dev, const struct balloon_state *st, char *err, size_t errlen);

/* The body of GET /balloon/statistics: the sizes, then every reported statistic. */
void balloon__write_stats(const struct balloon_stats *s, struct json_out *o);

#endif
