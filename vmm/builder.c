#include "builder.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "devices/table.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"
#include "vm_early.h"

int builder__build(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop,
		   uint64_t start_us, bool trace_entry, struct vm_early *early, struct error *e)
{
	struct guest_mem premapped;
	const bool have = vm_early__take_memory(early, cfg->mem_mib << 20, &premapped);
	if (vm__init(vm, cfg, loop, start_us, have ? &premapped : NULL, e))
		return -1;
	vm_early__post_machine(early, &vm->mem, vm->track_dirty, vm->nr_vcpus, cfg->no_pit);

	/* Images first: a bad kernel is reported as such, whatever the host's KVM. */
	if (arch__load_images(vm, cfg, e))
		return -1;

	struct vm_early_made made = {0};
	if (vm__create_kvm(vm, early, &made, e))
		return -1;
	/* Devices announce themselves (x86: on the command line), so they come before the
	 * boot information is written. */
	for (size_t i = 0; i < device_table_len; i++)
		if (device_table[i]->setup && device_table[i]->setup(vm, cfg, e))
			return -1;

	if (arch__write_boot(vm, e))
		return -1;
	return vcpu__create_all(vm, arch__entry(vm), trace_entry, early, e);
}
