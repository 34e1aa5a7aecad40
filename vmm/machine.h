/* The KVM machine the controller drives (struct vmm_machine): builds the VM with
 * the builder, runs, pauses and stops its vCPUs, and tears it all down in order
 * (vCPUs, then devices and the VM). */
#ifndef EMBER_MACHINE_H
#define EMBER_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "vm_early.h"
#include "vmm.h"
#include "warm.h"

struct vm;
struct event_loop;

struct kvm_machine {
	struct event_loop *loop;
	uint64_t start_us;	/* process start */
	bool boot_timer;	/* also time the kernel entry */
	struct vm *vm;		/* NULL until started */
	struct warm_shell warm; /* --prepare's shell, until a load or boot uses or drops it */
	uint64_t load_start_us; /* when the snapshot load arrived (0: no load) */
	struct vm_early early;	/* main's start-up VM for the first boot (vm_early.h) */
	/* Seccomp on but no pre-boot filter on this thread (a boot from the command line
	 * alone without the start-up helper, main.c): a boot's vCPUs start parked and run
	 * once the VMM thread's filter is in. */
	bool unfiltered_build;
};

extern const struct vmm_machine kvm_machine_ops;

/* --prepare: builds the warm shell a snapshot load may use (warm.h). */
int kvm_machine__prepare(struct kvm_machine *k, unsigned vcpus, uint64_t mem_mib, bool no_pit,
			 struct error *e);

#endif
