/* The chain of KVM requests before a guest's first instruction is the longest part
 * of a start (KVM_CREATE_VM 0.3-0.4 ms on our hosts, KVM_SET_USER_MEMORY_REGION 0.2,
 * KVM_CREATE_VCPU 0.1), and none of it needs the guest's images. When main() knows at
 * start-up that it will build a VM, a helper thread makes the VM on another CPU while
 * the main thread sets up its event loop and its filter and reads the configuration;
 * once the guest memory is mapped the helper registers it and makes the interrupt
 * controller and the vCPUs, while the main thread loads the images. vm__create_kvm()
 * and vcpu__create_all() then take what it made (vm.h, vcpu.h), and while the helper
 * works the main thread asks KVM what else needs no configuration
 * (arch__early_query: x86's KVM_GET_SUPPORTED_CPUID, 0.1-0.4 ms, or --cpuid-cache).
 *
 * The main thread waits only for the VM, its memory and its irqchip: the helper makes
 * the vCPUs meanwhile, and is then given vCPU 0 (vm_early__give_vcpu0): it sets up its
 * registers as soon as its KVM_CREATE_VCPU returns, and once the build is done it
 * becomes vCPU 0's thread (vm_early__vcpu0_go) instead of waking the main thread to do
 * both and then starting a thread (about 0.1 ms to the guest's first instruction). */
#ifndef EMBER_VM_EARLY_H
#define EMBER_VM_EARLY_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "mem.h"
#include "pagealloc.h"

enum vm_early_mem {
	VM_EARLY_MEM_AWAITED, /* the helper waits for the memory's layout */
	VM_EARLY_MEM_POSTED,  /* ... and may register it */
	VM_EARLY_MEM_NONE,    /* there will be none: the helper ends */
};

/* What the helper made, handed over by vm_early__take(). */
struct vm_early_made {
	bool mem_registered; /* every region posted is a memory slot */
	/* arch__irqchip_kvm()'s result (1: not made), and on failure why. */
	int irqchip;
	int irqchip_errno;
	const char *irqchip_call;
};

/* vCPU 0 and the helper (vm_early__give_vcpu0). */
enum vm_early_vcpu0 {
	VM_EARLY_VCPU0_NONE,  /* not given: the helper ends once told to */
	VM_EARLY_VCPU0_GIVEN, /* the helper sets it up, then waits for one of: */
	VM_EARLY_VCPU0_GO,    /* ... run it as its thread */
	VM_EARLY_VCPU0_END,   /* ... end: the VM is being torn down */
};

/* --start-helper: whether a boot at start-up uses the helper. On kvm_pvm it brought the
 * first KVM_RUN from 1.56x the floor's time to 1.17x, and cost ~0.35 ms of CPU per VM
 * (the other CPU's work, and the interruptions between the two): VMs created and
 * reaped one at a time came ~20% fewer per second with it, two at a time ~25% fewer. */
enum start_helper {
	START_HELPER_ON,   /* whenever another CPU is allowed (the default) */
	START_HELPER_AUTO, /* only when another allowed CPU is idle at that moment */
	START_HELPER_OFF,
};

/* The number of runnable tasks in /proc/loadavg's text ("0.61 0.58 0.64 1/86 19252":
 * the 1 counts the reader), or -1 if the text is not of that form. */
int vm_early__runnable(const char *loadavg);

struct vcpu;

struct vm_early {
	bool opened;  /* vm_early__start ran: the descriptors below are meaningful */
	bool started; /* a helper thread exists: join it */
	enum start_helper mode;
	bool idle_checked; /* START_HELPER_AUTO looked for an idle CPU: */
	int runnable;	   /* ... and read this many runnable tasks (-1: could not) */
	pthread_t thread;
	struct thread_stack stack; /* the helper's, vCPU 0's once given (pagealloc.h) */
	/* Held by main until the helper is moved to its CPU; then guards mem_state and
	 * the machine's shape, whose changes `changed` announces. */
	pthread_mutex_t gate;
	pthread_cond_t changed;
	int kvm_fd, kvm_errno; /* /dev/kvm, opened by main before the helper starts */
	bool kvm_taken;	       /* ... and handed over by vm_early__kvm() */
	int vm_fd;	       /* the helper's KVM_CREATE_VM, or -1 */
	bool chip_stage;       /* the helper is past its irqchip (or stopped before it) */
	bool done;	       /* ... and past its vCPUs: vcpu_fds are final */
	bool released;	       /* vm_early__release: a helper waiting for vCPU 0 ends */
	enum vm_early_mem mem_state;
	/* A copy: a build that fails frees its own without waiting for the helper. */
	struct mem_region regions[MEM_MAX_REGIONS];
	unsigned nr_regions, nr_vcpus;
	bool dirty_log, no_pit;
	struct vm_early_made made;
	/* The helper's vCPUs 0 to nr_vcpu_fds - 1; -1 once handed over. */
	int vcpu_fds[CONFIG_MAX_VCPUS];
	unsigned nr_vcpu_fds;
	/* vm_early__premap()'s guest memory until the build takes it (base NULL: none). */
	struct guest_mem premapped;
	/* vCPU 0, given to the helper, and how to run it. */
	enum vm_early_vcpu0 vcpu0_state;
	struct vcpu *vcpu0;
	uint64_t vcpu0_entry;
	bool vcpu0_trace_entry;
	cpu_set_t cpus; /* the process's CPUs: the helper's again when it runs vCPU 0 */
};

/* Opens /dev/kvm and, when `mode` and the allowed CPUs let it, starts the helper on
 * another CPU. Called
 * once, before any other thread exists and before vmm_preboot is installed, which
 * then covers the helper as well (seccomp.h): it reads no input, and by the time the
 * main thread parses any it runs under the same filter. Never fails: whatever it
 * could not do (no /dev/kvm, one CPU, no thread), vm__create_kvm does as it would
 * have without it, with the same errors. */
void vm_early__start(struct vm_early *ve, enum start_helper mode);
/* Logs (debug) what START_HELPER_AUTO chose and why, once the log level is known. */
void vm_early__log_choice(const struct vm_early *ve);
/* Hands the helper what it needs to go on while the main thread loads the images:
 * guest memory's layout, the number of vCPUs and the irqchip's kind. Without a
 * helper, nothing. */
void vm_early__post_machine(struct vm_early *ve, const struct guest_mem *mem, bool dirty_log,
			    unsigned nr_vcpus, bool no_pit);
/* For a machine from the command line alone, whose configuration is final once
 * parsed (no config file, no API): maps its guest memory and posts the machine at once,
 * before the main thread sets up its event loop and its filter, so that the helper
 * registers the memory as soon as its VM exists instead of waiting for the build
 * (about 0.1 ms sooner to the guest's first instruction). The build takes the mapping
 * with vm_early__take_memory(). Without a helper, or if the mapping fails (the build
 * then maps and reports it itself), nothing. */
void vm_early__premap(struct vm_early *ve, const struct vm_config *cfg);
/* The mapping vm_early__premap() made, into *mem: true if there is one. It was made
 * for the configuration the build uses, so its size is the build's. */
bool vm_early__take_memory(struct vm_early *ve, uint64_t bytes, struct guest_mem *mem);
struct vm;
/* Hands over /dev/kvm's descriptor (or -1, and why in *kvm_errno) while the helper
 * goes on: false when vm_early__start never ran or it was handed over already. */
bool vm_early__kvm(struct vm_early *ve, int *kvm_fd, int *kvm_errno);
/* After vm_early__kvm() put /dev/kvm into vm->kvm_fd: asks arch__early_query(vm)
 * while the helper works, waits until it is past the irqchip, and hands over the VM's
 * descriptor in vm->vm_fd (-1 if the helper made none: the caller's own KVM_CREATE_VM
 * then reports why) and in *made what else it made. Whatever the helper did not make,
 * or failed to, the caller makes (or reports) itself. The vCPUs come later. */
void vm_early__take(struct vm_early *ve, struct vm *vm, struct vm_early_made *made);
/* Gives vCPU 0 (v, allocated, its descriptor -1) to a helper that made the irqchip:
 * it takes its own KVM_CREATE_VCPU's descriptor (or makes one), maps the run area and
 * sets the registers (vcpu__setup_given), then waits for vm_early__vcpu0_go() or
 * vm_early__vcpu0_end(), one of which must follow. false (nothing given) without such
 * a helper, or ve NULL. */
bool vm_early__give_vcpu0(struct vm_early *ve, struct vcpu *v, uint64_t entry, bool trace_entry);
/* The helper becomes vCPU 0's thread: its handle, for joining like any vCPU thread, and
 * its stack (*stack), freed like a vCPU thread's. */
pthread_t vm_early__vcpu0_go(struct vm_early *ve, struct thread_stack *stack);
/* The helper leaves vCPU 0 (set up or not) and ends; joined before this returns. */
void vm_early__vcpu0_end(struct vm_early *ve);
/* vCPU i's descriptor as the helper made it (waiting for its vCPUs), now the caller's;
 * -1 if it made none (ve NULL, no helper, a failure: the caller makes it). */
int vm_early__vcpu_fd(struct vm_early *ve, unsigned i);
/* Ends a helper that was not given vCPU 0 and closes what nobody took. */
void vm_early__release(struct vm_early *ve);

#endif
