#include "builder.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mptable.h"
#include "devices/legacy.h"
#include "devices/serial.h"
#include "log.h"
#include "vcpu.h"
#include "virtio/virtio.h"
#include "vm.h"

int builder__build(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop,
		   uint64_t start_us, bool trace_entry, char *err, size_t errlen)
{
	int rc = vm__init(vm, cfg, loop, start_us, err, errlen);
	if (rc)
		return rc;

	/* Images first: a bad kernel is reported as such, whatever the host's KVM. */
	struct kernel_info ki;
	if (loader__load_kernel(&vm->mem, cfg->kernel_path, &ki, err, errlen))
		return EXIT_IMAGE;
	uint64_t initrd_addr = 0, initrd_size = 0;
	if (cfg->initrd_path[0] && loader__load_initrd(&vm->mem, cfg->initrd_path, &ki,
						       &initrd_addr, &initrd_size, err, errlen))
		return EXIT_IMAGE;
	if (guest_mem__low_end(&vm->mem) < X86_MIN_MEM_BYTES) {
		snprintf(err, errlen, "mem_size_mib: the guest needs at least %llu MiB",
			 X86_MIN_MEM_BYTES >> 20);
		return EXIT_USAGE;
	}

	rc = vm__create_kvm(vm, err, errlen);
	if (rc)
		return rc;
	if (serial__setup(vm, err, errlen))
		return EXIT_USAGE;
	vm->i8042 = i8042__setup(vm, err, errlen);
	if (!vm->i8042 || boot_timer__setup(vm, err, errlen))
		return EXIT_ERROR;
	/* Devices announce themselves on the command line, so they come before it is written. */
	if (virtio__setup_all(vm, cfg, err, errlen))
		return EXIT_USAGE;

	size_t cmdlen = strlen(vm->cmdline);
	if (cmdlen > ki.cmdline_max) {
		snprintf(err, errlen,
			 "boot_args: the command line is %zu bytes with the device announcements; "
			 "this kernel accepts at most %u",
			 cmdlen, ki.cmdline_max);
		return EXIT_USAGE;
	}
	bootparams__write_tables(&vm->mem);
	if (bootparams__write(&vm->mem, &ki, vm->cmdline, initrd_addr, initrd_size) ||
	    mptable__write(&vm->mem, vm->nr_vcpus)) {
		snprintf(err, errlen, "cannot write the boot structures into guest memory");
		return EXIT_ERROR;
	}
	if (vcpu__create_all(vm, ki.entry, trace_entry, err, errlen))
		return EXIT_KVM;
	pr_debug("kernel entry 0x%llx, initrd %llu bytes at 0x%llx, cmdline: %s",
		 (unsigned long long)ki.entry, (unsigned long long)initrd_size,
		 (unsigned long long)initrd_addr, vm->cmdline);
	return 0;
}

int builder__start(struct vm *vm, char *err, size_t errlen)
{
	if (vcpu__start_all(vm)) {
		snprintf(err, errlen, "cannot start vCPU threads: %s", strerror(errno));
		return -1;
	}
	return 0;
}
