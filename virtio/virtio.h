/* virtio-mmio devices: the VM-facing entry point of the virtio subsystem. */
#ifndef EMBER_VIRTIO_H
#define EMBER_VIRTIO_H

#include <stddef.h>

struct vm;
struct vm_config;

/* Creates every virtio device cfg asks for, registers it on the MMIO bus and
 * announces it on the guest command line. Returns 0, or -1 with err. */
int virtio__setup_all(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);

#endif
