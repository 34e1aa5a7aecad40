#include "builder.h"

#include <stdio.h>
#include <string.h>

#include "arch/arch.h"
#include "devices/table.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"
#include "vm_early.h"

int builder__build(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop,
		   uint64_t start_us, bool trace_entry, struct vm_early *early, struct error *e)
{
	if (vm__init(vm, cfg, loop, start_us, e))
		return -1;
	vm_early__post_memory(early, &vm->mem, vm->track_dirty);

	/* Images first: a bad kernel is reported as such, whatever the host's KVM. */
	if (arch__load_images(vm, cfg, e))
		return -1;

	if (vm__create_kvm(vm, early, e))
		return -1;
	/* Devices announce themselves (x86: on the command line), so they come before the
	 * boot information is written. */
	for (size_t i = 0; i < device_table_len; i++)
		if (device_table[i]->setup && device_table[i]->setup(vm, cfg, e))
			return -1;

	if (arch__write_boot(vm, e))
		return -1;
	if (vcpu__create_all(vm, arch__entry(vm), trace_entry, e))
		return -1;
	return 0;
}
