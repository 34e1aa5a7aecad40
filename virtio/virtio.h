/* virtio-mmio devices: the VM-facing entry point of the virtio subsystem. */
#ifndef EMBER_VIRTIO_H
#define EMBER_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ratelimit.h"

struct vm;
struct json_out;
struct device_ops;

/* Creates every virtio device cfg asks for, registers it on the MMIO bus and
 * announces it on the guest command line. Returns 0, or -1 with err. */
int virtio__setup_all(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);

/* One counter of one device: device is "block.<id>", "net.<id>", "vsock" or "rng";
 * name is e.g. "requests", "read_bytes", "errors" (see virtio/mmio.h struct
 * virtio_stats, plus device-specific ones such as "rx_frames"). */
typedef void (*virtio_metric_fn)(void *opaque, const char *device, const char *name,
				 uint64_t value);

/* Calls fn for every counter of every virtio device of vm, each device's counters
 * read under its lock. Safe from any thread once the VM is built. */
void virtio__metrics(struct vm *vm, virtio_metric_fn fn, void *opaque);

/* Appends, for every virtio device of vm, `,"<group>":{"<counter>":N,...}` to o
 * (vmm/api/json.h), as Firecracker's metrics file has them: groups "block_<drive
 * id>" and "net_<iface id>" per device plus "block" and "net" that sum them,
 * "vsock" and "entropy"; Firecracker's counter names where it has the counter
 * (block read_bytes, write_bytes, read_count, write_count, flush_count,
 * execute_fails, queue_event_count; net rx/tx_bytes_count, rx/tx_packets_count,
 * rx/tx_queue_event_count, rx_tap_event_count; vsock rx/tx_bytes_count,
 * rx/tx_packets_count, rx/tx_queue_event_count, conns_added, conns_killed; entropy
 * entropy_event_count, entropy_bytes, host_rng_fails), ember's own otherwise
 * (errors, dropped, interrupts, ring_errors). Values count from the device's
 * creation (Firecracker's reset at each flush). Safe from any thread once the VM is
 * built; each device is read under its lock. */
void virtio__write_metrics(struct vm *vm, struct json_out *o);

/* Only the summed groups ("block", "net") of virtio__write_metrics: for a device table
 * whose rows write each device's own group with virtio__device_metrics. */
void virtio__write_sums(struct vm *vm, struct json_out *o);

/* The same for one device: `dev` is a vm->devices[] entry whose ops are
 * virtio_device_ops (for a device table with a metrics hook per row). Writes the
 * device's own group only. */
void virtio__device_metrics(void *dev, struct json_out *o);

/* PATCH after boot (VMM thread): queue q of `device` ("block.<id>": 0; "net.<id>": 0
 * receive, 1 transmit; "rng": 0) is limited by rl from now on. A bucket equal to the
 * current one keeps its tokens; a changed one starts full, as in Firecracker.
 * Requests the guest queued stay queued and are served under the new limits.
 * -1 with err if there is no such device or queue limiter. */
int virtio__update_limiter(struct vm *vm, const char *device, unsigned q,
			   const struct rate_limiter_config *rl, char *err, size_t errlen);

/* Marks the virtio devices that virtio__setup_all adds to vm->devices. A device is
 * known as virtio by its metrics hook, virtio__device_metrics. */
extern const struct device_ops virtio_device_ops;

/* Snapshots (state.c): the transport state of one device (a vm->devices[] entry
 * made by a virtio row). */
#define VIRTIO_STATE_MAX_QUEUES 4 /* VIRTIO_MAX_QUEUES: the balloon's four */
struct virtio_queue_state {
	uint64_t desc, avail, used;
	uint16_t size;
	bool ready;
	uint16_t last_avail, used_idx, signalled, avail_seen;
	/* The queue's rate limiter, if the device has one on it (a virtio_dev__limit). */
	bool limited;
	struct ratelimit_state limit;
};
struct virtio_state {
	uint32_t device_id;
	uint64_t driver_features;
	uint32_t dev_feat_sel, drv_feat_sel, status, int_status, config_gen, queue_sel;
	uint32_t nr_queues;
	struct virtio_queue_state queues[VIRTIO_STATE_MAX_QUEUES];
};
struct virtio_dev;
void virtio_dev__save_state(struct virtio_dev *dev, struct virtio_state *st);
/* Whether queue q has a rate limiter (limited or not: one a PATCH may set). */
bool virtio_dev__has_limiter(const struct virtio_dev *dev, unsigned q);
/* Sets the saved transport state on a device just made from the same configuration;
 * ready queues are checked against guest memory as the driver's writes would be. A
 * saved limiter must be on a queue that has one; a queue with a limiter and none saved
 * keeps the full bucket it was made with. */
int virtio_dev__load_state(struct virtio_dev *dev, const struct virtio_state *st, char *err,
			   size_t errlen);
/* After the VM's interrupt controllers are restored: re-raises a pending interrupt
 * and serves every ready queue once. */
void virtio_dev__resume_queues(struct virtio_dev *dev);
/* vsock after a restore: its host connections are gone, so the guest gets
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue and drops its own. -1 if the
 * driver left no event buffer (the event is then lost, as on a real device). */
int vsock__transport_reset(struct virtio_dev *dev);

#endif
