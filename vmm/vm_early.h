/* KVM_CREATE_VM takes 0.3-0.4 ms on our hosts and KVM_SET_USER_MEMORY_REGION another
 * 0.2 ms, the longest steps before a guest's first instruction, and neither needs the
 * guest's images. When main() knows at start-up that it will build a VM, a helper
 * thread makes it on another CPU while the main thread sets up its event loop and its
 * filter and reads the configuration; once the guest memory is mapped the helper
 * registers it, while the main thread loads the images. vm__create_kvm() then takes
 * both results (vm.h), and while it waits for them asks KVM what else needs no
 * configuration (arch__early_query: x86's KVM_GET_SUPPORTED_CPUID, 0.1 ms). */
#ifndef EMBER_VM_EARLY_H
#define EMBER_VM_EARLY_H

#include <pthread.h>
#include <stdbool.h>

#include "mem.h"

enum vm_early_mem {
	VM_EARLY_MEM_AWAITED, /* the helper waits for the memory's layout */
	VM_EARLY_MEM_POSTED,  /* ... and may register it */
	VM_EARLY_MEM_NONE,    /* there will be none: the helper ends */
};

struct vm_early {
	bool opened;  /* vm_early__start ran: the descriptors below are meaningful */
	bool started; /* a helper thread exists: join it */
	pthread_t thread;
	/* Held by main until the helper is moved to its CPU; then guards mem_state and
	 * the layout, whose changes `changed` announces. */
	pthread_mutex_t gate;
	pthread_cond_t changed;
	int kvm_fd, kvm_errno; /* /dev/kvm, opened by main before the helper starts */
	int vm_fd;	       /* the helper's KVM_CREATE_VM, or -1 */
	enum vm_early_mem mem_state;
	/* A copy: a build that fails frees its own without waiting for the helper. */
	struct mem_region regions[MEM_MAX_REGIONS];
	unsigned nr_regions;
	bool dirty_log;
	bool mem_registered; /* by the helper, all of the layout posted */
};

/* Opens /dev/kvm and, when another CPU is allowed, starts the helper there. Called
 * once, before any other thread exists and before vmm_preboot is installed, which
 * then covers the helper as well (seccomp.h): it reads no input, and by the time the
 * main thread parses any it runs under the same filter. Never fails: whatever it
 * could not do (no /dev/kvm, one CPU, no thread), vm__create_kvm does as it would
 * have without it, with the same errors. */
void vm_early__start(struct vm_early *ve);
/* Hands the helper guest memory's layout to register while the main thread goes on;
 * without a helper, nothing. */
void vm_early__post_memory(struct vm_early *ve, const struct guest_mem *mem, bool dirty_log);
struct vm;
/* Ends the helper and hands its results to vm: /dev/kvm's descriptor in kvm_fd (or
 * -1, and why in *kvm_errno) and the VM's in vm_fd (-1 if the helper made none: the
 * caller's own KVM_CREATE_VM then reports why), and in *mem_registered whether the
 * helper registered all the memory posted (if not, the caller does). While
 * a helper runs it first makes arch__early_query(vm). False when vm_early__start
 * never ran or it was all taken already. */
bool vm_early__take(struct vm_early *ve, struct vm *vm, int *kvm_errno, bool *mem_registered);
/* Ends the helper and closes what nobody took. */
void vm_early__release(struct vm_early *ve);

#endif
