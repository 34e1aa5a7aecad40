/* One thread per vCPU: KVM_RUN, exits routed to the buses, and a way to stop. */
#ifndef EMBER_VCPU_H
#define EMBER_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pagealloc.h"

struct vm;
struct vm_early;
struct kernel_info;
struct error;
struct json_out;

/* A vCPU thread's stack (the start-up helper's too, which may become vCPU 0's). */
#define VCPU_STACK_BYTES (128u << 10)

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int thread_started;
	struct thread_stack stack; /* freed with the vCPU, after its thread is joined */
	/* The start-up helper that sets this vCPU up and runs it (vm_early.h), until
	 * vcpu__start_all lets it run or vcpu__stop_all ends it. */
	struct vm_early *given_to;
	atomic_bool stop;
	/* Set by its thread from just before it tests `stop` ahead of a KVM_RUN until that
	 * KVM_RUN returns: only then does vcpu__stop_all need to signal it. */
	atomic_bool in_run;
	int entry_trap; /* BSP: single-step the first instruction to time kernel entry */
	/* Pause handshake with vcpu__pause_all(). `pause` is written under `lock` but
	 * atomic, so the exit path can test it without taking the lock; `lock` guards
	 * parked and exited. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool pause;
	bool parked, exited;
	/* When this vCPU first left a pause for KVM_RUN (now_us()); 0 before: for a
	 * restored VM, when it ran again. */
	_Atomic uint64_t resumed_us;
	/* Exit counters: written by this vCPU's thread only, read by the metrics. */
	struct vcpu_counters {
		_Atomic uint64_t exit_io_in, exit_io_out, exit_mmio_read, exit_mmio_write;
		_Atomic uint64_t failures; /* exits that ended the VM with an error or fault */
	} counters;
};

/* Creates every vCPU and sets it up through arch__vcpu_init() (x86: CPUID, MSRs,
 * LAPIC and FPU; APs wait for INIT/SIPI); vCPU 0 gets the boot registers for
 * `entry`. With early (vm_early.h, else NULL), takes the vCPUs the start-up helper
 * made, and gives vCPU 0 to it to set up and run (not with a CPU template: the
 * resolved template goes once the vCPUs are set up). */
int vcpu__create_all(struct vm *vm, uint64_t entry, bool trace_entry, struct vm_early *early,
		     struct error *e);
/* On the start-up helper given v (vm_early__give_vcpu0): takes fd (or makes the
 * descriptor if -1) and sets v up as vcpu__create_all would. 0, or -1 with e. */
int vcpu__setup_given(struct vcpu *v, int fd, uint64_t entry, bool trace_entry, struct error *e);
/* The helper runs v as its thread from here; with `failed` (its set-up's error) it
 * stops the VM with that error instead. */
void vcpu__run_given(struct vcpu *v, const struct error *failed);
/* Starts every vCPU's thread; parked: each waits before its first KVM_RUN (its filter
 * installed) until vcpu__resume_all(). */
int vcpu__start_all(struct vm *vm, bool parked);
/* Kicks every vCPU out of KVM_RUN and joins its thread. */
void vcpu__stop_all(struct vm *vm);
/* Parks every vCPU outside KVM_RUN and returns once all are parked (or gone);
 * vcpu__resume_all() lets them run again. VMM thread only. */
void vcpu__pause_all(struct vm *vm);
void vcpu__resume_all(struct vm *vm);
/* Frees every vCPU (stopped first); vm->vcpus is NULL afterwards. */
void vcpu__destroy_all(struct vm *vm);
/* The whole of a calloc'd VM: its vCPUs stopped and destroyed, then the VM, then vm
 * itself freed. */
void vcpu__teardown_vm(struct vm *vm);
/* Appends Firecracker's "vcpu" metrics group: every vCPU's counters summed. */
void vcpu__metrics(const struct vm *vm, struct json_out *o);

#endif
