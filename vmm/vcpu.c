#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/arch.h"
#include "event.h"
#include "log.h"
#include "pagealloc.h"
#include "seccomp/seccomp.h"
#include "vm.h"
#include "vm_early.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig; /* its only job is to make KVM_RUN return EINTR */
}

/* v->fd set: the run area, the registers and the entry trap. */
static int setup_one(struct vcpu *v, uint64_t entry, bool trace_entry, struct error *e)
{
	struct vm *vm = v->vm;
	v->run =
	    mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return error__fail(e, EXIT_KVM, "vcpu %u: mmap kvm_run: %s", v->index,
				   strerror(errno));
	}
	if (arch__vcpu_init(v, entry, e))
		return -1;
	if (v->index == 0 && trace_entry) {
		/* Single-stepping the first instruction times "kernel entry" with one
		 * extra exit; breakpoint registers are not emulated by every nested KVM. */
		struct kvm_guest_debug dbg = {.control =
						  KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP};
		if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &dbg) == 0)
			v->entry_trap = 1;
		else
			pr_debug("kernel entry trap unavailable: %m");
	}
	return 0;
}

static int make_fd(struct vcpu *v, int fd, struct error *e)
{
	v->fd = fd >= 0 ? fd : ioctl(v->vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->index);
	if (v->fd < 0)
		return error__fail(e, EXIT_KVM, "vcpu %u: KVM_CREATE_VCPU: %s", v->index,
				   strerror(errno));
	return 0;
}

int vcpu__setup_given(struct vcpu *v, int fd, uint64_t entry, bool trace_entry, struct error *e)
{
	if (make_fd(v, fd, e))
		return -1;
	return setup_one(v, entry, trace_entry, e);
}

int vcpu__create_all(struct vm *vm, uint64_t entry, bool trace_entry, struct vm_early *early,
		     struct error *e)
{
	if (arch__vcpus_prepare(vm, e))
		return -1;
	vm->vcpus = vm__zalloc(vm, vm->nr_vcpus * sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return error__fail(e, EXIT_ERROR, "out of memory");
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm__zalloc(vm, sizeof(*v));
		if (!v)
			return error__fail(e, EXIT_ERROR, "out of memory");
		vm->vcpus[i] = v;
		pthread_mutex_init(&v->lock, NULL);
		pthread_cond_init(&v->cond, NULL);
		v->fd = -1;
		v->vm = vm;
		v->index = i;
		if (i == 0 && vm->cfg->cpu_template.kind == CPU_TPL_NONE &&
		    vm_early__give_vcpu0(early, v, entry, trace_entry)) {
			v->given_to = early;
			pr_debug("vcpu 0 set up and run by the start-up helper");
			continue;
		}
		if (make_fd(v, vm_early__vcpu_fd(early, i), e) ||
		    setup_one(v, entry, trace_entry, e))
			return -1;
	}
	/* A helper not given vCPU 0 would wait for it until the process ends. */
	if (early && !vm->vcpus[0]->given_to)
		vm_early__release(early);
	return arch__vcpus_ready(vm, e);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	uint8_t *data = (uint8_t *)r + r->io.data_offset;
	atomic_fetch_add_explicit(r->io.direction == KVM_EXIT_IO_OUT ? &v->counters.exit_io_out
								     : &v->counters.exit_io_in,
				  1, memory_order_relaxed);
	for (uint32_t i = 0; i < r->io.count; i++, data += r->io.size)
		bus__dispatch(&v->vm->pio, r->io.port, data, r->io.size,
			      r->io.direction == KVM_EXIT_IO_OUT);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	uint32_t len = r->mmio.len <= 8 ? r->mmio.len : 8;
	atomic_fetch_add_explicit(r->mmio.is_write ? &v->counters.exit_mmio_write
						   : &v->counters.exit_mmio_read,
				  1, memory_order_relaxed);
	if (!bus__dispatch(&v->vm->mmio, r->mmio.phys_addr, r->mmio.data, len, r->mmio.is_write))
		pr_debug("vcpu %u: unclaimed MMIO %s at 0x%llx", v->index,
			 r->mmio.is_write ? "write" : "read",
			 (unsigned long long)r->mmio.phys_addr);
}

static void fault(struct vcpu *v, int code, const char *why)
{
	atomic_fetch_add_explicit(&v->counters.failures, 1, memory_order_relaxed);
	vm__request_exit(v->vm, code, why);
}

/* Returns 0 to keep running. */
static int handle_exit(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	char why[160];
	switch (r->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return 0;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return 0;
	case KVM_EXIT_DEBUG:
		if (v->entry_trap) {
			pr_info("kernel entry at %llu us",
				(unsigned long long)(now_us() - v->vm->start_us));
			struct kvm_guest_debug off = {0};
			ioctl(v->fd, KVM_SET_GUEST_DEBUG, &off);
			v->entry_trap = 0;
		}
		return 0;
	case KVM_EXIT_IOAPIC_EOI:
		arch__eoi(v->vm, r->eoi.vector);
		return 0;
	case KVM_EXIT_HLT:
		/* Only reachable without an in-kernel LAPIC; nothing will wake us. */
		fault(v, EXIT_GUEST_FAULT, "guest halted with interrupts off");
		return -1;
	case KVM_EXIT_SHUTDOWN:
		arch__shutdown_reason(v, why, sizeof(why));
		fault(v, EXIT_GUEST_FAULT, why);
		return -1;
	case KVM_EXIT_SYSTEM_EVENT:
		if (r->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vm__request_exit(v->vm, EXIT_OK, "guest reboot");
		} else {
			vm__request_exit(v->vm, EXIT_OK, "guest shutdown");
		}
		return -1;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why), "vcpu %u: KVM entry failed, hardware reason 0x%llx",
			 v->index, (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
		fault(v, EXIT_GUEST_FAULT, why);
		return -1;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(why, sizeof(why), "vcpu %u: KVM internal error, suberror %u", v->index,
			 r->internal.suberror);
		fault(v, EXIT_GUEST_FAULT, why);
		return -1;
	default:
		snprintf(why, sizeof(why), "vcpu %u: unexpected KVM exit %u", v->index,
			 r->exit_reason);
		fault(v, EXIT_GUEST_FAULT, why);
		return -1;
	}
}

/* Called between KVM_RUNs: waits here while a pause is asked for. */
static void park_if_paused(struct vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	if (v->pause) {
		v->parked = true;
		pthread_cond_broadcast(&v->cond);
		while (v->pause && !atomic_load(&v->stop))
			pthread_cond_wait(&v->cond, &v->lock);
		v->parked = false;
		uint64_t never = 0;
		atomic_compare_exchange_strong(&v->resumed_us, &never, now_us());
	}
	pthread_mutex_unlock(&v->lock);
}

static void *vcpu_loop(struct vcpu *v)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (seccomp__install_vcpu(v->entry_trap, v->vm->vm_fd, v->fd)) {
		char why[120];
		snprintf(why, sizeof(why), "vcpu %u: cannot install the seccomp filter: %s",
			 v->index, strerror(errno));
		vm__request_exit(v->vm, EXIT_ERROR, why);
		return NULL;
	}

	/* vCPU 0's first KVM_RUN is timed before it and logged after it: a log write
	 * (0.01-0.1 ms to a file) would otherwise come first. */
	bool first = v->index == 0;
	bool io_pending = false; /* the last exit was I/O or MMIO, handled but not completed */
	while (!atomic_load(&v->stop)) {
		/* The flag is set before the kick, so a pause asked for while this vCPU
		 * enters KVM_RUN makes KVM_RUN return at once and is seen here next. */
		if (atomic_load(&v->pause)) {
			/* An I/O or MMIO exit is complete in the registers only once KVM_RUN
			 * is entered again: with immediate_exit it finishes the instruction and
			 * returns at once, so a parked vCPU's state can be saved. Only then:
			 * an AP still waiting for INIT/SIPI would block in that KVM_RUN on
			 * kernels that test immediate_exit after the wait. */
			if (io_pending) {
				v->run->immediate_exit = 1;
				(void)ioctl(v->fd, KVM_RUN, 0);
				v->run->immediate_exit = 0;
				io_pending = false;
			}
			park_if_paused(v);
		}
		/* Nor once the VMM is ending, whichever thread asked (a device on a guest's
		 * reset through i8042): the guest runs no further. in_run is announced
		 * before stop is tested, both sequentially consistent: vcpu__stop_all
		 * either is seen here or sees in_run and kicks. */
		atomic_store(&v->in_run, true);
		if (atomic_load(&v->stop) || event__stopping(v->vm->loop)) {
			atomic_store(&v->in_run, false);
			break;
		}
		uint64_t first_run_us = first ? now_us() - v->vm->start_us : 0;
		int ran = ioctl(v->fd, KVM_RUN, 0);
		atomic_store(&v->in_run, false);
		if (first) {
			int run_errno = errno;
			pr_info("first KVM_RUN at %llu us", (unsigned long long)first_run_us);
			first = false;
			errno = run_errno;
		}
		if (ran < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			char why[120];
			snprintf(why, sizeof(why), "vcpu %u: KVM_RUN: %s", v->index,
				 strerror(errno));
			fault(v, EXIT_ERROR, why);
			break;
		}
		io_pending = false;
		if (handle_exit(v))
			break;
		io_pending =
		    v->run->exit_reason == KVM_EXIT_IO || v->run->exit_reason == KVM_EXIT_MMIO;
	}
	return NULL;
}

/* The thread's end, for vcpu__pause_all, which waits for parked or exited vCPUs. */
static void mark_exited(struct vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	v->exited = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	vcpu_loop(v);
	mark_exited(v);
	return NULL;
}

void vcpu__run_given(struct vcpu *v, const struct error *failed)
{
	if (failed)
		fault(v, failed->code, failed->msg);
	else
		vcpu_loop(v);
	mark_exited(v);
}

int vcpu__start_all(struct vm *vm, bool parked)
{
	for (unsigned i = 0; parked && i < vm->nr_vcpus; i++)
		vm->vcpus[i]->pause = true;
	struct sigaction sa = {.sa_handler = kick_handler};
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -1;
	/* Only vCPU threads take the kick signal. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int rc = 0;
	for (unsigned i = 0; i < vm->nr_vcpus && rc == 0; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (v->given_to) { /* set up by now, or about to be: it runs when it is */
			v->thread = vm_early__vcpu0_go(v->given_to, &v->stack);
			v->given_to = NULL;
			v->thread_started = 1;
			continue;
		}
		/* A stack of its own (pagealloc.h): freed with the vCPU, if it fails too. */
		int err = pagealloc__start_thread(&v->thread, &v->stack, VCPU_STACK_BYTES,
						  vcpu_thread, v);
		if (err) {
			errno = err;
			rc = -1;
		} else {
			v->thread_started = 1;
		}
	}
	return rc;
}

void vcpu__stop_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus ? vm->vcpus[i] : NULL;
		if (v && v->given_to) { /* a build that failed after giving it away */
			vm_early__vcpu0_end(v->given_to);
			v->given_to = NULL;
		}
		if (!v || !v->thread_started)
			continue;
		atomic_store(&v->stop, true);
		/* Only a vCPU in or about to enter KVM_RUN needs the signal (immediate_exit
		 * covers one between its test of stop and the ioctl), and only a paused one
		 * the wake-up. When a guest's reset ends the VM, its vCPU is past both:
		 * neither a signal nor the lock then meets its exit, each of which cost an
		 * interrupt or a wake-up on another CPU. Pauses are asked on this thread. */
		if (atomic_load(&v->in_run)) {
			v->run->immediate_exit = 1;
			pthread_kill(v->thread, VCPU_KICK_SIGNAL);
		}
		if (atomic_load(&v->pause)) {
			pthread_mutex_lock(&v->lock);
			pthread_cond_broadcast(&v->cond); /* wakes a parked vCPU */
			pthread_mutex_unlock(&v->lock);
		}
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus ? vm->vcpus[i] : NULL;
		if (!v || !v->thread_started)
			continue;
		pthread_join(v->thread, NULL);
		v->thread_started = 0;
	}
}

void vcpu__pause_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus ? vm->vcpus[i] : NULL;
		if (!v || !v->thread_started)
			continue;
		/* The flag is set before the kick, so a vCPU kicked on its way into
		 * KVM_RUN sees it when KVM_RUN returns at once (immediate_exit). */
		pthread_mutex_lock(&v->lock);
		v->pause = true;
		pthread_mutex_unlock(&v->lock);
		v->run->immediate_exit = 1;
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus ? vm->vcpus[i] : NULL;
		if (!v || !v->thread_started)
			continue;
		pthread_mutex_lock(&v->lock);
		while (!v->parked && !v->exited)
			pthread_cond_wait(&v->cond, &v->lock);
		pthread_mutex_unlock(&v->lock);
	}
}

void vcpu__resume_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus ? vm->vcpus[i] : NULL;
		if (!v)
			continue;
		pthread_mutex_lock(&v->lock);
		v->pause = false;
		pthread_mutex_unlock(&v->lock);
		/* After the unlock: a vCPU woken while the lock is still held would only
		 * block on it again, and on a busy host this thread may not run again
		 * before that vCPU's time slice ends. */
		pthread_cond_broadcast(&v->cond);
	}
}

void vcpu__destroy_all(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		if (!v)
			continue;
		if (v->run)
			munmap(v->run, (size_t)vm->vcpu_mmap_size);
		if (v->fd >= 0)
			close(v->fd);
		pagealloc__free_thread_stack(&v->stack);
		vm__free(vm, v);
	}
	vm__free(vm, vm->vcpus);
	vm->vcpus = NULL;
}

void vcpu__metrics(const struct vm *vm, struct json_out *o)
{
	uint64_t in = 0, out = 0, rd = 0, wr = 0, failures = 0;
	for (unsigned i = 0; vm->vcpus && i < vm->nr_vcpus; i++) {
		const struct vcpu_counters *c = &vm->vcpus[i]->counters;
		in += atomic_load_explicit(&c->exit_io_in, memory_order_relaxed);
		out += atomic_load_explicit(&c->exit_io_out, memory_order_relaxed);
		rd += atomic_load_explicit(&c->exit_mmio_read, memory_order_relaxed);
		wr += atomic_load_explicit(&c->exit_mmio_write, memory_order_relaxed);
		failures += atomic_load_explicit(&c->failures, memory_order_relaxed);
	}
	json_out__printf(
	    o,
	    ",\"vcpu\":{\"exit_io_in\":%llu,\"exit_io_out\":%llu,\"exit_mmio_read\":%llu,"
	    "\"exit_mmio_write\":%llu,\"failures\":%llu}",
	    (unsigned long long)in, (unsigned long long)out, (unsigned long long)rd,
	    (unsigned long long)wr, (unsigned long long)failures);
}

void vcpu__teardown_vm(struct vm *vm)
{
	vcpu__stop_all(vm);
	vcpu__destroy_all(vm);
	vm__destroy(vm);
	pagealloc__free(vm);
}
