/* virtio__setup_all without KVM: device creation, slot allocation and errors, and
 * the metrics callback the API engineer builds on. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "devices/table.h"
#include "virtio/mmio.h"
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

/* The root drive is the first virtio-blk device (vda) whatever the configuration's
 * order, and its root= and rw/ro follow boot_args on the command line. Without KVM
 * the first attach fails at KVM_IRQFD, after its device was made and the argument
 * written. */
#define DISK "/tmp/ember-test-root-disk"
static void root_drive_first_and_on_cmdline(void)
{
	FILE *f = fopen(DISK, "w");
	CHECK(f && fputs("disk", f) >= 0);
	if (f)
		fclose(f);
	static const struct {
		const char *data_spec, *root_spec, *partuuid, *want;
	} cases[] = {
	    {"path=" DISK ",id=data", "path=" DISK ",id=rootfs,root", "",
	     "console=ttyS0 root=/dev/sda1 root=/dev/vda rw"},
	    {"path=" DISK ",id=data", "path=" DISK ",id=rootfs,root,ro", "",
	     "console=ttyS0 root=/dev/sda1 root=/dev/vda ro"},
	    {"path=" DISK ",id=data", "path=" DISK ",id=rootfs,root", "0eaa91a0-01",
	     "console=ttyS0 root=/dev/sda1 root=PARTUUID=0eaa91a0-01 rw"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vm vm;
		struct vm_config cfg;
		fake_vm(&vm, &cfg);
		char err[256] = "";
		/* boot_args with its own root=: Firecracker appends after it, so ours wins. */
		snprintf(vm.cmdline, sizeof(vm.cmdline), "console=ttyS0 root=/dev/sda1");
		CHECK_EQ(config__add_drive_spec(&cfg, cases[i].data_spec, err, sizeof(err)), 0);
		CHECK_EQ(config__add_drive_spec(&cfg, cases[i].root_spec, err, sizeof(err)), 0);
		snprintf(cfg.drives[1].partuuid, sizeof(cfg.drives[1].partuuid), "%s",
			 cases[i].partuuid);
		struct error e = {0};
		CHECK_EQ(blk_device.setup(&vm, &cfg, &e), -1);
		CHECK(strstr(e.msg, "KVM_IRQFD") != NULL);
		CHECK_EQ(vm.nr_devices, 1);
		if (vm.nr_devices)
			CHECK_STR(((struct virtio_dev *)vm.devices[0].dev)->name, "block.rootfs");
		CHECK_STR(vm.cmdline, cases[i].want);
		drop_vm(&vm);
	}
	/* Without a root drive the command line gets no root=. */
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg);
	char err[256] = "";
	snprintf(vm.cmdline, sizeof(vm.cmdline), "console=ttyS0");
	CHECK_EQ(config__add_drive_spec(&cfg, "path=" DISK ",id=data", err, sizeof(err)), 0);
	struct error e = {0};
	CHECK_EQ(blk_device.setup(&vm, &cfg, &e), -1);
	CHECK_STR(vm.cmdline, "console=ttyS0");
	drop_vm(&vm);
	unlink(DISK);
}

CHECK_MAIN("virtio-setup", CHECK_CASE(root_drive_first_and_on_cmdline),
	   CHECK_CASE(setup_without_kvm), CHECK_CASE(bad_drive),
	   CHECK_CASE(vsock_path_too_long_or_busy))
