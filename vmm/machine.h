/* The KVM machine the controller drives (struct vmm_machine): builds the VM with
 * the builder, runs, pauses and stops its vCPUs, and tears it all down in order
 * (vCPUs, then devices and the VM). */
#ifndef EMBER_MACHINE_H
#define EMBER_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm.h"

struct vm;
struct event_loop;

struct kvm_machine {
	struct event_loop *loop;
	uint64_t start_us; /* process start */
	bool boot_timer;   /* also time the kernel entry */
	struct vm *vm;	   /* NULL until started */
};

extern const struct vmm_machine kvm_machine_ops;

#endif
