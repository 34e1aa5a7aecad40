/* The virtio rows of the device table. They call virtio/'s create functions and
 * attach each device to the VM; virtio/ reports in text, so the exit code is
 * recovered here: a create failure is about the device's configuration (a file,
 * a tap, a socket path), an attach failure is whatever vm__ helper failed. */
#include <stdio.h>
#include <string.h>

#include "table.h"
#include "virtio/devices.h"
#include "virtio/virtio.h"
#include "vm.h"

static int attach(struct vm *vm, const struct device_ops *row, struct virtio_dev *dev,
		  const char *create_err, struct error *e)
{
	if (!dev)
		return error__from_text(e, EXIT_USAGE, create_err);
	if (vm__add_device(vm, row, dev)) {
		virtio_dev__destroy(dev);
		return error__fail(e, EXIT_USAGE, "virtio %s: too many devices", row->name);
	}
	/* From here vm__destroy() frees the device, whatever happens next. */
	char why[ERROR_MSG_MAX];
	error__clear(&vm->last_error);
	if (virtio_dev__attach(dev, vm, why, sizeof(why)))
		return error__from_text(e, vm->last_error.code ? vm->last_error.code : EXIT_ERROR,
					why);
	return 0;
}

/* The root drive first, so that it is vda whatever order the configuration holds the
 * drives in; its root= goes on the command line (config__root_args). */
static int blk_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < cfg->nr_drives; i++) {
			const struct drive_config *d = &cfg->drives[i];
			if (d->is_root_device != (pass == 0))
				continue;
			char root[sizeof(d->partuuid) + 32];
			if (pass == 0 && config__root_args(d, root, sizeof(root)))
				return error__fail(e, EXIT_USAGE, "drive %s: partuuid too long",
						   d->id);
			if (pass == 0 && vm__cmdline_append(vm, root))
				return error__from_text(e, EXIT_USAGE, vm->last_error.msg);
			if (attach(vm, &blk_device,
				   blk__create(d, &vm->mem, vm->loop, why, sizeof(why)), why, e))
				return -1;
		}
	}
	return 0;
}

int blk_device__swap(struct vm *vm, const char *id, const char *path, struct error *e)
{
	char name[CONFIG_ID_MAX + 16], why[ERROR_MSG_MAX];
	snprintf(name, sizeof(name), "block.%s", id);
	for (unsigned i = 0; i < vm->nr_devices; i++) {
		struct virtio_dev *dev = vm->devices[i].dev;
		if (vm->devices[i].ops != &blk_device || strcmp(dev->name, name))
			continue;
		if (blk__swap(dev, id, path, why, sizeof(why)))
			return error__from_text(e, EXIT_USAGE, why);
		return 0;
	}
	return error__fail(e, EXIT_USAGE, "drive_id: no drive with id '%s'", id);
}

static int net_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	for (unsigned i = 0; i < cfg->nr_nets; i++)
		if (attach(vm, &net_device,
			   net__create(&cfg->nets[i], -1, &vm->mem, vm->loop, why, sizeof(why)),
			   why, e))
			return -1;
	return 0;
}

static int vsock_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	if (!cfg->vsock.present)
		return 0;
	return attach(vm, &vsock_device,
		      vsock__create(&cfg->vsock, &vm->mem, vm->loop, why, sizeof(why)), why, e);
}

static int rng_setup(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	char why[ERROR_MSG_MAX];
	if (!cfg->entropy)
		return 0;
	return attach(
	    vm, &rng_device,
	    rng__create_limited(&cfg->entropy_rate_limiter, &vm->mem, vm->loop, why, sizeof(why)),
	    why, e);
}

static void destroy(void *dev)
{
	virtio_dev__destroy(dev);
}

/* .save/.restore of every virtio row: the snapshot issue fills them in. */
const struct device_ops blk_device = {
    .name = "block", .setup = blk_setup, .destroy = destroy, .metrics = virtio__device_metrics};
const struct device_ops net_device = {
    .name = "net", .setup = net_setup, .destroy = destroy, .metrics = virtio__device_metrics};
const struct device_ops vsock_device = {
    .name = "vsock", .setup = vsock_setup, .destroy = destroy, .metrics = virtio__device_metrics};
const struct device_ops rng_device = {
    .name = "entropy", .setup = rng_setup, .destroy = destroy, .metrics = virtio__device_metrics};
