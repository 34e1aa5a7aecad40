/* The device table: every kind of device ember can give a guest, in the order the
 * builder sets them up (and the guest sees them: virtio devices take MMIO slots and
 * IRQs in this order). Adding a device is a file plus one row here. */
#ifndef EMBER_DEVICE_TABLE_H
#define EMBER_DEVICE_TABLE_H

#include <stddef.h>

struct device_ops;

extern const struct device_ops *const device_table[];
extern const size_t device_table_len;

/* The virtio rows (devices/virtio_rows.c): setup calls virtio/'s create functions. */
extern const struct device_ops blk_device;
extern const struct device_ops net_device;
extern const struct device_ops vsock_device;
extern const struct device_ops rng_device;
extern const struct device_ops balloon_device;

struct vm;
struct error;
/* PATCH /drives/{id} after boot: drive `id` is backed by the file at path from now on.
 * -1 with e if there is no such drive or the file cannot be used; nothing changes then. */
int blk_device__swap(struct vm *vm, const char *id, const char *path, struct error *e);

#endif
