/* virtio-mmio devices: the VM-facing entry point of the virtio subsystem. */
#ifndef EMBER_VIRTIO_H
#define EMBER_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

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

#endif
