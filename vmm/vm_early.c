#include "vm_early.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/arch.h"
#include "error.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

static void make(struct vm_early *ve);
static void run_vcpu0(struct vm_early *ve);

static void *vm_create_thread(void *opaque)
{
	struct vm_early *ve = opaque;
	make(ve);
	pthread_mutex_lock(&ve->gate);
	ve->chip_stage = true;
	ve->done = true;
	pthread_cond_broadcast(&ve->changed);
	/* A helper that made the irqchip is given vCPU 0, unless the build fails first. */
	while (ve->made.irqchip == 0 && ve->vcpu0_state == VM_EARLY_VCPU0_NONE && !ve->released)
		pthread_cond_wait(&ve->changed, &ve->gate);
	/* Main may have let it run already (GO) while the vCPUs were still being made. */
	const bool given =
	    ve->vcpu0_state == VM_EARLY_VCPU0_GIVEN || ve->vcpu0_state == VM_EARLY_VCPU0_GO;
	pthread_mutex_unlock(&ve->gate);
	if (given)
		run_vcpu0(ve);
	return NULL;
}

static void make(struct vm_early *ve)
{
	/* Wait until main has moved this thread off its CPU (a new thread may start
	 * on its creator's CPU and hold it for the whole KVM_CREATE_VM). */
	pthread_mutex_lock(&ve->gate);
	pthread_mutex_unlock(&ve->gate);
	ve->vm_fd = vm__kvm_create_vm(ve->kvm_fd);
	if (ve->vm_fd < 0)
		return;
	/* Main usually posted the layout while the VM was being made. */
	pthread_mutex_lock(&ve->gate);
	while (ve->mem_state == VM_EARLY_MEM_AWAITED)
		pthread_cond_wait(&ve->changed, &ve->gate);
	const bool posted = ve->mem_state == VM_EARLY_MEM_POSTED;
	pthread_mutex_unlock(&ve->gate);
	if (!posted)
		return;
	struct vm_early_made *m = &ve->made;
	m->mem_registered =
	    vm__register_regions(ve->vm_fd, ve->regions, ve->nr_regions, ve->dirty_log) == 0;
	if (!m->mem_registered)
		return;
	int chip = arch__irqchip_kvm(ve->vm_fd, ve->no_pit, &m->irqchip_call);
	int chip_errno = errno;
	/* The main thread needs no more than this for the devices: it goes on while the
	 * vCPUs are made. */
	pthread_mutex_lock(&ve->gate);
	m->irqchip = chip;
	m->irqchip_errno = chip < 0 ? chip_errno : 0;
	ve->chip_stage = true;
	pthread_cond_broadcast(&ve->changed);
	pthread_mutex_unlock(&ve->gate);
	for (unsigned i = 0; chip == 0 && i < ve->nr_vcpus; i++) {
		int fd = ioctl(ve->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (fd < 0)
			break;
		ve->vcpu_fds[ve->nr_vcpu_fds++] = fd;
	}
}

/* On the helper, once given vCPU 0: its set-up, then its thread. */
static void run_vcpu0(struct vm_early *ve)
{
	struct vcpu *v = ve->vcpu0;
	/* Its own descriptor is no longer the helper's to hand out. */
	int fd = ve->nr_vcpu_fds > 0 ? ve->vcpu_fds[0] : -1;
	if (ve->nr_vcpu_fds > 0)
		ve->vcpu_fds[0] = -1;
	struct error e = {0};
	const int rc = vcpu__setup_given(v, fd, ve->vcpu0_entry, ve->vcpu0_trace_entry, &e);
	pthread_mutex_lock(&ve->gate);
	while (ve->vcpu0_state == VM_EARLY_VCPU0_GIVEN)
		pthread_cond_wait(&ve->changed, &ve->gate);
	const bool go = ve->vcpu0_state == VM_EARLY_VCPU0_GO;
	pthread_mutex_unlock(&ve->gate);
	if (!go)
		return;
	/* main() kept this thread off its own CPU at start-up; a vCPU may run on any. */
	sched_setaffinity(0, sizeof(ve->cpus), &ve->cpus);
	vcpu__run_given(v, rc ? &e : NULL);
}

/* Every allowed CPU but this thread's own, or an empty set; *all: every allowed CPU. */
static bool other_cpus(cpu_set_t *set, cpu_set_t *all)
{
	int self = sched_getcpu();
	if (self < 0 || sched_getaffinity(0, sizeof(*set), set))
		return false;
	*all = *set;
	CPU_CLR(self, set);
	return CPU_COUNT(set) > 0;
}

int vm_early__runnable(const char *loadavg)
{
	const char *p = loadavg;
	for (int field = 0; field < 3; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -1;
	char *end;
	long n = strtol(p, &end, 10);
	return *end == '/' && n >= 1 && n <= INT_MAX ? (int)n : -1;
}

/* Whether an allowed CPU other than this thread's is idle now: fewer tasks are runnable
 * (this one included) than there are allowed CPUs. A jail without /proc cannot tell:
 * the helper runs, as with START_HELPER_ON. */
static bool other_cpu_idle(const cpu_set_t *allowed, int *runnable)
{
	char text[128];
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	*runnable = vm_early__runnable(text);
	return *runnable < 0 || *runnable < CPU_COUNT(allowed);
}

void vm_early__start(struct vm_early *ve, enum start_helper mode)
{
	*ve = (struct vm_early){
	    .opened = true, .vm_fd = -1, .made.irqchip = 1, .mode = mode, .runnable = -1};
	ve->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ve->kvm_errno = ve->kvm_fd < 0 ? errno : 0;
	cpu_set_t cpus;
	/* On one CPU the helper would only take turns with the main thread. */
	if (ve->kvm_fd < 0 || mode == START_HELPER_OFF || !other_cpus(&cpus, &ve->cpus))
		return;
	ve->idle_checked = mode == START_HELPER_AUTO;
	if (ve->idle_checked && !other_cpu_idle(&ve->cpus, &ve->runnable))
		return;
	if (pthread_mutex_init(&ve->gate, NULL))
		return;
	if (pthread_cond_init(&ve->changed, NULL)) {
		pthread_mutex_destroy(&ve->gate);
		return;
	}
	pthread_mutex_lock(&ve->gate);
	/* vCPU 0's thread, if it is given vCPU 0: the same stack as a vCPU's. */
	ve->started = pagealloc__start_thread(&ve->thread, &ve->stack, VCPU_STACK_BYTES,
					      vm_create_thread, ve) == 0;
	if (ve->started)
		pthread_setaffinity_np(ve->thread, sizeof(cpus), &cpus);
	pthread_mutex_unlock(&ve->gate);
	if (!ve->started) {
		pagealloc__free_thread_stack(&ve->stack);
		pthread_cond_destroy(&ve->changed);
		pthread_mutex_destroy(&ve->gate);
	}
}

void vm_early__log_choice(const struct vm_early *ve)
{
	if (!ve->opened || !ve->idle_checked)
		return;
	if (ve->runnable < 0)
		pr_debug("start-up helper: %s (--start-helper auto; /proc/loadavg unread)",
			 ve->started ? "on" : "off");
	else
		pr_debug("start-up helper: %s (--start-helper auto; %d task(s) runnable, %d "
			 "CPU(s) allowed)",
			 ve->started ? "on" : "off", ve->runnable, CPU_COUNT(&ve->cpus));
}

void vm_early__post_machine(struct vm_early *ve, const struct guest_mem *mem, bool dirty_log,
			    unsigned nr_vcpus, bool no_pit)
{
	if (!ve || !ve->started)
		return;
	pthread_mutex_lock(&ve->gate);
	if (ve->mem_state == VM_EARLY_MEM_AWAITED) {
		memcpy(ve->regions, mem->regions, sizeof(ve->regions));
		ve->nr_regions = mem->nr_regions;
		ve->dirty_log = dirty_log;
		ve->nr_vcpus = nr_vcpus < CONFIG_MAX_VCPUS ? nr_vcpus : CONFIG_MAX_VCPUS;
		ve->no_pit = no_pit;
		ve->mem_state = VM_EARLY_MEM_POSTED;
		pthread_cond_signal(&ve->changed);
	}
	pthread_mutex_unlock(&ve->gate);
}

void vm_early__premap(struct vm_early *ve, const struct vm_config *cfg)
{
	if (!ve->started || ve->premapped.base)
		return;
	if (guest_mem__init(&ve->premapped, cfg->mem_mib << 20) < 0)
		return; /* it left premapped empty: the build maps and reports */
	vm_early__post_machine(ve, &ve->premapped, cfg->track_dirty_pages, cfg->vcpus, cfg->no_pit);
}

bool vm_early__take_memory(struct vm_early *ve, uint64_t bytes, struct guest_mem *mem)
{
	if (!ve || !ve->premapped.base)
		return false;
	assert(ve->premapped.total == bytes);
	*mem = ve->premapped;
	ve->premapped = (struct guest_mem){0};
	return true;
}

/* Waits for the helper to get past `stage` (chip_stage or done). */
static void wait_for(struct vm_early *ve, const bool *stage)
{
	pthread_mutex_lock(&ve->gate);
	/* A helper still waiting for memory gets none. */
	if (ve->mem_state == VM_EARLY_MEM_AWAITED) {
		ve->mem_state = VM_EARLY_MEM_NONE;
		pthread_cond_broadcast(&ve->changed);
	}
	while (!*stage)
		pthread_cond_wait(&ve->changed, &ve->gate);
	pthread_mutex_unlock(&ve->gate);
}

bool vm_early__kvm(struct vm_early *ve, int *kvm_fd, int *kvm_errno)
{
	if (!ve->opened || ve->kvm_taken)
		return false;
	*kvm_fd = ve->kvm_fd;
	*kvm_errno = ve->kvm_errno;
	ve->kvm_taken = true;
	return true;
}

void vm_early__take(struct vm_early *ve, struct vm *vm, struct vm_early_made *made)
{
	assert(ve->opened && ve->kvm_taken && vm->kvm_fd == ve->kvm_fd);
	/* The main thread usually gets here before the helper is done: it asks its own
	 * questions meanwhile (on the helper's CPU they only made it finish later). */
	if (ve->started) {
		arch__early_query(vm);
		wait_for(ve, &ve->chip_stage);
	}
	vm->vm_fd = ve->vm_fd;
	ve->vm_fd = -1;
	*made = ve->made;
}

bool vm_early__give_vcpu0(struct vm_early *ve, struct vcpu *v, uint64_t entry, bool trace_entry)
{
	if (!ve || !ve->started || ve->made.irqchip != 0)
		return false;
	pthread_mutex_lock(&ve->gate);
	const bool take = ve->vcpu0_state == VM_EARLY_VCPU0_NONE && !ve->released;
	if (take) {
		ve->vcpu0 = v;
		ve->vcpu0_entry = entry;
		ve->vcpu0_trace_entry = trace_entry;
		ve->vcpu0_state = VM_EARLY_VCPU0_GIVEN;
		pthread_cond_broadcast(&ve->changed);
	}
	pthread_mutex_unlock(&ve->gate);
	return take;
}

static void vcpu0_tell(struct vm_early *ve, enum vm_early_vcpu0 state)
{
	pthread_mutex_lock(&ve->gate);
	assert(ve->vcpu0_state == VM_EARLY_VCPU0_GIVEN);
	ve->vcpu0_state = state;
	pthread_cond_broadcast(&ve->changed);
	pthread_mutex_unlock(&ve->gate);
}

pthread_t vm_early__vcpu0_go(struct vm_early *ve, struct thread_stack *stack)
{
	vcpu0_tell(ve, VM_EARLY_VCPU0_GO);
	ve->started = false; /* the thread is vCPU 0's now: its stop joins it */
	*stack = ve->stack;
	ve->stack = (struct thread_stack){0};
	return ve->thread;
}

void vm_early__vcpu0_end(struct vm_early *ve)
{
	vcpu0_tell(ve, VM_EARLY_VCPU0_END);
	pthread_join(ve->thread, NULL);
	pagealloc__free_thread_stack(&ve->stack);
	ve->started = false;
}

int vm_early__vcpu_fd(struct vm_early *ve, unsigned i)
{
	if (!ve || !ve->opened)
		return -1;
	if (ve->started)
		wait_for(ve, &ve->done);
	if (i >= ve->nr_vcpu_fds)
		return -1;
	int fd = ve->vcpu_fds[i];
	ve->vcpu_fds[i] = -1;
	return fd;
}

void vm_early__release(struct vm_early *ve)
{
	if (!ve->opened)
		return;
	if (ve->started) {
		/* Not given vCPU 0 (else vm_early__vcpu0_go or _end took the thread). */
		pthread_mutex_lock(&ve->gate);
		if (ve->mem_state == VM_EARLY_MEM_AWAITED)
			ve->mem_state = VM_EARLY_MEM_NONE;
		ve->released = true;
		pthread_cond_broadcast(&ve->changed);
		pthread_mutex_unlock(&ve->gate);
		pthread_join(ve->thread, NULL);
		pagealloc__free_thread_stack(&ve->stack);
		ve->started = false;
	}
	for (unsigned i = 0; i < ve->nr_vcpu_fds; i++)
		if (ve->vcpu_fds[i] >= 0)
			close(ve->vcpu_fds[i]);
	ve->nr_vcpu_fds = 0;
	if (ve->vm_fd >= 0)
		close(ve->vm_fd);
	if (ve->kvm_fd >= 0 && !ve->kvm_taken)
		close(ve->kvm_fd);
	if (ve->premapped.base)
		guest_mem__destroy(&ve->premapped);
	ve->opened = false;
}
