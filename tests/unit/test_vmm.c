/* The controller, the error type and the device table without KVM: each layer's
 * failure reaches the top with the exit code of what failed, and the devices'
 * metrics groups come out under Firecracker's names. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/api.h"
#include "builder.h"
#include "check.h"
#include "devices/legacy.h"
#include "devices/serial.h"
#include "devices/table.h"
#include "event.h"
#include "vcpu.h"
#include "vm.h"
#include "vmm.h"

static char tmpdir[64];

static void cleanup(void)
{
	const char *names[] = {"empty.elf", "disk.img", "v.sock"};
	char p[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
		unlink(p);
	}
	rmdir(tmpdir);
}

static const char *tmpfile_named(const char *name)
{
	static char p[128];
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/ember-test-vmm.XXXXXX");
		if (!mkdtemp(tmpdir))
			abort();
		atexit(cleanup);
	}
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

static void make_file(const char *path, size_t size)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size))
		abort();
	close(fd);
}

/* A VM with memory and buses but no KVM behind it: every KVM call fails (EBADF). */
static void fake_vm(struct vm *vm, struct vm_config *cfg, struct event_loop *loop)
{
	config__init(cfg);
	cfg->mem_mib = 16;
	struct error e = {0};
	memset(vm, 0, sizeof(*vm)); /* as vm__init wants it */
	if (vm__init(vm, cfg, loop, 0, NULL, &e))
		abort();
}

static void drop_vm(struct vm *vm)
{
	vcpu__destroy_all(vm);
	vm__destroy(vm);
}

/* Configuration: a bad value is EXIT_USAGE, named, and changes nothing. */
static void error_config_layer(void)
{
	static const struct vmm_machine none = {0};
	struct vmm_params p = {.machine = &none};
	struct error e = {0};
	struct vmm *m = vmm__create(&p, &e);
	struct vmm_config *c = calloc(1, sizeof(*c));
	*c = *vmm__config(m);
	c->vm.vcpus = 0;
	CHECK_EQ(vmm__configure(m, c, &e), -1);
	CHECK_EQ(e.code, EXIT_USAGE);
	CHECK(strstr(e.msg, "vcpu_count") != NULL);
	CHECK_EQ(vmm__config(m)->vm.vcpus, 1);
	/* Starting without a kernel is a configuration error too. */
	e = (struct error){0};
	CHECK_EQ(vmm__start(m, &e), -1);
	CHECK_EQ(e.code, EXIT_USAGE);
	CHECK(strstr(e.msg, "kernel_image_path") != NULL);
	free(c);
	vmm__destroy(m);
}

/* The image loader: a kernel that is no kernel is EXIT_IMAGE, before any KVM call. */
static void error_image_layer(void)
{
	struct vm_config cfg;
	config__init(&cfg);
	cfg.mem_mib = 16;
	const char *kernel = tmpfile_named("empty.elf");
	make_file(kernel, 0);
	snprintf(cfg.kernel_path, sizeof(cfg.kernel_path), "%s", kernel);
	struct event_loop *loop = event__create();
	struct vm vm;
	struct error e = {0};
	CHECK_EQ(builder__build(&vm, &cfg, loop, 0, false, NULL, &e), -1);
	CHECK_EQ(e.code, EXIT_IMAGE);
	CHECK(strstr(e.msg, "empty.elf") != NULL);
	drop_vm(&vm);
	event__destroy(loop);
}

/* A failed KVM ioctl under a device's setup is EXIT_KVM, although virtio/ reports
 * in text: before the error type this was EXIT_USAGE ("bad flag"). */
static void error_kvm_layer_in_device_setup(void)
{
	struct event_loop *loop = event__create();
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg, loop);
	cfg.entropy = true;
	struct error e = {0};
	CHECK_EQ(rng_device.setup(&vm, &cfg, &e), -1);
	CHECK_EQ(e.code, EXIT_KVM);
	CHECK(strstr(e.msg, "KVM_IRQFD") != NULL);
	/* The device was registered before the failure: the VM frees it. */
	CHECK_EQ(vm.nr_devices, 1);
	drop_vm(&vm);
	event__destroy(loop);
}

/* vCPU creation: KVM_GET_SUPPORTED_CPUID failing is EXIT_KVM. */
static void error_kvm_layer_in_vcpus(void)
{
	struct event_loop *loop = event__create();
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg, loop);
	struct error e = {0};
	CHECK_EQ(vcpu__create_all(&vm, 0x100000, false, NULL, &e), -1);
	CHECK_EQ(e.code, EXIT_KVM);
	CHECK(strstr(e.msg, "KVM_GET_SUPPORTED_CPUID") != NULL);
	drop_vm(&vm);
	event__destroy(loop);
}

/* A device's own configuration (a drive file that cannot be opened) is EXIT_USAGE. */
static void error_device_config_layer(void)
{
	struct event_loop *loop = event__create();
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg, loop);
	char why[256];
	CHECK_EQ(config__add_drive_spec(&cfg, "path=/nonexistent/disk.img,id=d0", why, sizeof(why)),
		 0);
	struct error e = {0};
	CHECK_EQ(blk_device.setup(&vm, &cfg, &e), -1);
	CHECK_EQ(e.code, EXIT_USAGE);
	CHECK(strstr(e.msg, "/nonexistent/disk.img") != NULL);
	CHECK_EQ(vm.nr_devices, 0);
	cfg.serial_out = SERIAL_OUT_FILE;
	snprintf(cfg.serial_out_path, sizeof(cfg.serial_out_path), "/nonexistent/dir/out");
	e = (struct error){0};
	CHECK_EQ(serial_device.setup(&vm, &cfg, &e), -1);
	CHECK_EQ(e.code, EXIT_USAGE);
	drop_vm(&vm);
	event__destroy(loop);
}

static enum ember_exit start_code;
static int failing_start(void *ctx, const struct vm_config *cfg, uint64_t t, struct error *e)
{
	return error__fail(e, start_code, "deep failure");
}

/* The controller passes the machine's code up unchanged, adding only context. */
static void error_code_passes_the_controller(void)
{
	static const struct vmm_machine failing = {.start = failing_start};
	const enum ember_exit codes[] = {EXIT_ERROR, EXIT_IMAGE, EXIT_KVM};
	const char *kernel = tmpfile_named("empty.elf");
	make_file(kernel, 0);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		start_code = codes[i];
		struct vmm_params p = {.machine = &failing};
		struct error e = {0};
		struct vmm *m = vmm__create(&p, &e);
		struct vmm_config *c = calloc(1, sizeof(*c));
		*c = *vmm__config(m);
		snprintf(c->vm.kernel_path, sizeof(c->vm.kernel_path), "%s", kernel);
		CHECK_EQ(vmm__configure(m, c, &e), 0);
		CHECK_EQ(vmm__start(m, &e), -1);
		CHECK_EQ(e.code, codes[i]);
		CHECK(strstr(e.msg, "Failed to start the microVM: deep failure") != NULL);
		CHECK_EQ(vmm__state(m), VMM_NOT_STARTED);
		free(c);
		vmm__destroy(m);
	}
}

/* The API layer: a config file it cannot read is EXIT_USAGE. */
static void error_api_layer(void)
{
	static const struct vmm_machine none = {0};
	struct vmm_params p = {.machine = &none};
	struct error e = {0};
	struct vmm *m = vmm__create(&p, &e);
	struct api *a = api__create(m);
	CHECK_EQ(api__load_config(a, "{", 1, &e), -1);
	CHECK_EQ(e.code, EXIT_USAGE);
	e = (struct error){0};
	CHECK_EQ(api__load_config_file(a, "/nonexistent.json", &e), -1);
	CHECK_EQ(e.code, EXIT_USAGE);
	CHECK(strstr(e.msg, "/nonexistent.json") != NULL);
	api__destroy(a);
	vmm__destroy(m);
}

/* Every row is named and either keeps no state or frees it; the i8042 is found by
 * its row, not by a pointer of its own. */
static void device_table_rows(void)
{
	for (size_t i = 0; i < device_table_len; i++) {
		CHECK(device_table[i]->name != NULL);
		CHECK(device_table[i]->setup != NULL);
		/* Both snapshot hooks or neither (test_snapshot: every row has both). */
		CHECK((device_table[i]->save == NULL) == (device_table[i]->restore == NULL));
	}
	struct event_loop *loop = event__create();
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg, loop);
	CHECK(i8042__of(&vm) == NULL);
	struct error e = {0};
	CHECK_EQ(i8042_device.setup(&vm, &cfg, &e), 0);
	CHECK_EQ(boot_timer_device.setup(&vm, &cfg, &e), 0);
	CHECK(i8042__of(&vm) != NULL);
	CHECK_EQ(i8042__send_ctrl_alt_del(i8042__of(&vm)), 0);
	drop_vm(&vm);
	event__destroy(loop);
}

/* Each device writes its own group: block_<drive_id>, vsock, entropy. */
static void device_metrics_groups(void)
{
	struct event_loop *loop = event__create();
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg, loop);
	const char *disk = tmpfile_named("disk.img");
	make_file(disk, 1 << 20);
	char spec[200], why[256];
	snprintf(spec, sizeof(spec), "path=%s,id=rootfs", disk);
	CHECK_EQ(config__add_drive_spec(&cfg, spec, why, sizeof(why)), 0);
	cfg.vsock.present = true;
	cfg.vsock.guest_cid = 3;
	snprintf(cfg.vsock.uds_path, sizeof(cfg.vsock.uds_path), "%s", tmpfile_named("v.sock"));
	cfg.entropy = true;
	/* Without KVM each attach fails after the device joined the VM, which is all
	 * the metrics need. */
	struct error e;
	blk_device.setup(&vm, &cfg, &e);
	vsock_device.setup(&vm, &cfg, &e);
	rng_device.setup(&vm, &cfg, &e);
	CHECK_EQ(vm.nr_devices, 3);
	struct json_out o = {0};
	json_out__raw(&o, "{\"x\":0", 6);
	vm__device_metrics(&vm, &o);
	json_out__raw(&o, "}", 1);
	/* Firecracker's group and counter names (virtio/metrics.c). */
	CHECK(o.buf && strstr(o.buf, "\"block_rootfs\":{\"write_bytes\":0,") != NULL);
	CHECK(o.buf && strstr(o.buf, "\"vsock\":{") != NULL);
	CHECK(o.buf && strstr(o.buf, "\"entropy\":{") != NULL);
	CHECK(o.buf && strstr(o.buf, "\"entropy_event_count\":0") != NULL);
	CHECK(o.buf && strstr(o.buf, "\"ring_errors\":0") != NULL);
	struct json_doc d;
	struct json_tok t[256];
	CHECK_EQ(json__parse(&d, o.buf, strlen(o.buf), t, 256, why, sizeof(why)), 0);
	json_out__free(&o);
	drop_vm(&vm);
	event__destroy(loop);
}

/* Firecracker's "vcpu" group sums every vCPU's exit counters. */
static void vcpu_metrics_group(void)
{
	struct event_loop *loop = event__create();
	struct vm vm;
	struct vm_config cfg;
	fake_vm(&vm, &cfg, loop);
	vm.nr_vcpus = 2;
	vm.vcpus = calloc(2, sizeof(*vm.vcpus));
	for (unsigned i = 0; i < 2; i++) {
		vm.vcpus[i] = calloc(1, sizeof(struct vcpu));
		vm.vcpus[i]->fd = -1;
		vm.vcpus[i]->counters.exit_io_out = 10 + i;
		vm.vcpus[i]->counters.exit_mmio_write = 3;
	}
	vm.vcpus[1]->counters.failures = 1;
	struct json_out o = {0};
	vcpu__metrics(&vm, &o);
	CHECK(o.buf && strstr(o.buf, ",\"vcpu\":{\"exit_io_in\":0,\"exit_io_out\":21,"
				     "\"exit_mmio_read\":0,\"exit_mmio_write\":6,\"failures\":1}"));
	json_out__free(&o);
	drop_vm(&vm);
	event__destroy(loop);
}

CHECK_MAIN("vmm", CHECK_CASE(error_config_layer), CHECK_CASE(error_image_layer),
	   CHECK_CASE(error_kvm_layer_in_device_setup), CHECK_CASE(error_kvm_layer_in_vcpus),
	   CHECK_CASE(error_device_config_layer), CHECK_CASE(error_code_passes_the_controller),
	   CHECK_CASE(error_api_layer), CHECK_CASE(device_table_rows),
	   CHECK_CASE(device_metrics_groups), CHECK_CASE(vcpu_metrics_group))
