#include "builder.h"

#include <stdio.h>
#include <string.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mptable.h"
#include "devices/table.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

/* The loaders still report in text; everything they refuse is about the image. */
static int load_images(struct vm *vm, const struct vm_config *cfg, struct kernel_info *ki,
		       uint64_t *initrd_addr, uint64_t *initrd_size, struct error *e)
{
	char why[ERROR_MSG_MAX];
	if (loader__load_kernel(&vm->mem, cfg->kernel_path, ki, why, sizeof(why)))
		return error__from_text(e, EXIT_IMAGE, why);
	if (cfg->initrd_path[0] && loader__load_initrd(&vm->mem, cfg->initrd_path, ki, initrd_addr,
						       initrd_size, why, sizeof(why)))
		return error__from_text(e, EXIT_IMAGE, why);
	return 0;
}

int builder__build(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop,
		   uint64_t start_us, bool trace_entry, struct error *e)
{
	if (vm__init(vm, cfg, loop, start_us, e))
		return -1;

	/* Images first: a bad kernel is reported as such, whatever the host's KVM. */
	struct kernel_info ki;
	uint64_t initrd_addr = 0, initrd_size = 0;
	if (load_images(vm, cfg, &ki, &initrd_addr, &initrd_size, e))
		return -1;
	if (guest_mem__low_end(&vm->mem) < X86_MIN_MEM_BYTES)
		return error__fail(e, EXIT_USAGE, "mem_size_mib: the guest needs at least %llu MiB",
				   X86_MIN_MEM_BYTES >> 20);

	if (vm__create_kvm(vm, e))
		return -1;
	/* Devices announce themselves on the command line, so they come before it is written. */
	for (size_t i = 0; i < device_table_len; i++)
		if (device_table[i]->setup && device_table[i]->setup(vm, cfg, e))
			return -1;

	size_t cmdlen = strlen(vm->cmdline);
	if (cmdlen > ki.cmdline_max)
		return error__fail(
		    e, EXIT_USAGE,
		    "boot_args: the command line is %zu bytes with the device announcements; "
		    "this kernel accepts at most %u",
		    cmdlen, ki.cmdline_max);
	bootparams__write_tables(&vm->mem);
	if (bootparams__write(&vm->mem, &ki, vm->cmdline, initrd_addr, initrd_size) ||
	    mptable__write(&vm->mem, vm->nr_vcpus))
		return error__fail(e, EXIT_ERROR,
				   "cannot write the boot structures into guest memory");
	if (vcpu__create_all(vm, ki.entry, trace_entry, e))
		return -1;
	pr_debug("kernel entry 0x%llx, initrd %llu bytes at 0x%llx, cmdline: %s",
		 (unsigned long long)ki.entry, (unsigned long long)initrd_size,
		 (unsigned long long)initrd_addr, vm->cmdline);
	return 0;
}
