/* virtio__setup_all without KVM: device creation, slot allocation and errors, and
 * the metrics callback the API engineer builds on. */
#include <stdlib.h>

#include "check.h"
#include "test_virtio_harness.h"
#include "virtio/virtio.h"
#include "vm.h"

struct seen {
	char dev[64];
	unsigned n;
	bool requests;
};

static void on_metric(void *opaque, const char *device, const char *name, uint64_t value)
{
	struct seen *s = opaque;
	snprintf(s->dev, sizeof(s->dev), "%s", device);
	s->n++;
	if (!strcmp(name, "requests") && value == 0)
		s->requests = true;
}

static void fake_vm(struct vm *vm, struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	config__init(cfg);
	vm->cfg = cfg;
	vm->vm_fd = -1;
	vm->kvm_fd = -1;
	vm->loop = event__create();
	if (guest_mem__init(&vm->mem, 16 << 20))
		abort();
}

static void drop_vm(struct vm *vm)
{
	for (unsigned i = vm->nr_devices; i-- > 0;)
		vm->devices[i].ops->destroy(vm->devices[i].dev);
	guest_mem__destroy(&vm->mem);
	event__destroy(vm->loop);
}

static void setup_without_kvm(void)
{
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg);
	cfg.entropy = true;
	char err[256] = "";
	/* The device is made and placed, then wiring it to KVM fails with a reason. */
	CHECK_EQ(virtio__setup_all(&vm, &cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "virtio rng: KVM_IRQFD") != NULL);
	CHECK_EQ(vm.nr_devices, 1);
	CHECK_EQ(vm.next_mmio_slot, 1);
	CHECK_EQ(vm.mmio.nr_ranges, 1);
	CHECK_EQ(vm.mmio.ranges[0].base, VM_MMIO_SLOT_BASE);
	struct seen s = {0};
	virtio__metrics(&vm, on_metric, &s);
	CHECK_STR(s.dev, "rng");
	CHECK_EQ(s.n, 7);
	CHECK(s.requests);
	drop_vm(&vm);
}

static void bad_drive(void)
{
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg);
	char err[256] = "";
	CHECK_EQ(
	    config__add_drive_spec(&cfg, "path=/nonexistent/disk.img,id=rootfs", err, sizeof(err)),
	    0);
	CHECK_EQ(virtio__setup_all(&vm, &cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "drive rootfs: cannot open /nonexistent/disk.img") != NULL);
	CHECK_EQ(vm.nr_devices, 0);
	drop_vm(&vm);
}

static void vsock_path_too_long_or_busy(void)
{
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg);
	char err[256] = "";
	cfg.vsock.present = true;
	cfg.vsock.guest_cid = 3;
	snprintf(cfg.vsock.uds_path, sizeof(cfg.vsock.uds_path), "/nonexistent/dir/v.sock");
	CHECK_EQ(virtio__setup_all(&vm, &cfg, err, sizeof(err)), -1);
	CHECK(strstr(err, "vsock: cannot listen on /nonexistent/dir/v.sock") != NULL);
	drop_vm(&vm);
}

CHECK_MAIN("virtio-setup", CHECK_CASE(setup_without_kvm), CHECK_CASE(bad_drive),
	   CHECK_CASE(vsock_path_too_long_or_busy))
