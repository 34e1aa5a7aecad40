/* virtio-mmio devices: the VM-facing entry point of the virtio subsystem. */
#ifndef EMBER_VIRTIO_H
#define EMBER_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct vm;

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

#endif
