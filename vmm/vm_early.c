#include "vm_early.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/arch.h"
#include "vm.h"

static void make(struct vm_early *ve);

static void *vm_create_thread(void *opaque)
{
	struct vm_early *ve = opaque;
	make(ve);
	/* The main thread waits for this, not for the thread's end (its stack unmapped:
	 * 0.02 ms more on the way to the guest's first instruction). */
	pthread_mutex_lock(&ve->gate);
	ve->done = true;
	pthread_cond_broadcast(&ve->changed);
	pthread_mutex_unlock(&ve->gate);
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
	m->irqchip = arch__irqchip_kvm(ve->vm_fd, ve->no_pit, &m->irqchip_call);
	if (m->irqchip < 0)
		m->irqchip_errno = errno;
	for (unsigned i = 0; m->irqchip == 0 && i < ve->nr_vcpus; i++) {
		int fd = ioctl(ve->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (fd < 0)
			break;
		m->vcpu_fds[m->nr_vcpu_fds++] = fd;
	}
}

/* Every allowed CPU but this thread's own, or an empty set. */
static bool other_cpus(cpu_set_t *set)
{
	int self = sched_getcpu();
	if (self < 0 || sched_getaffinity(0, sizeof(*set), set))
		return false;
	CPU_CLR(self, set);
	return CPU_COUNT(set) > 0;
}

void vm_early__start(struct vm_early *ve)
{
	*ve = (struct vm_early){.opened = true, .vm_fd = -1, .made.irqchip = 1};
	ve->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ve->kvm_errno = ve->kvm_fd < 0 ? errno : 0;
	cpu_set_t cpus;
	/* On one CPU the helper would only take turns with the main thread. */
	if (ve->kvm_fd < 0 || !other_cpus(&cpus))
		return;
	if (pthread_mutex_init(&ve->gate, NULL))
		return;
	if (pthread_cond_init(&ve->changed, NULL)) {
		pthread_mutex_destroy(&ve->gate);
		return;
	}
	pthread_mutex_lock(&ve->gate);
	ve->started = pthread_create(&ve->thread, NULL, vm_create_thread, ve) == 0;
	if (ve->started)
		pthread_setaffinity_np(ve->thread, sizeof(cpus), &cpus);
	pthread_mutex_unlock(&ve->gate);
	if (!ve->started) {
		pthread_cond_destroy(&ve->changed);
		pthread_mutex_destroy(&ve->gate);
	}
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
	if (guest_mem__init(&ve->premapped, cfg->mem_mib << 20) < 0) {
		ve->premapped.base = NULL;
		return;
	}
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

static void join(struct vm_early *ve)
{
	if (!ve->started)
		return;
	pthread_mutex_lock(&ve->gate);
	/* A helper still waiting for memory gets none. */
	if (ve->mem_state == VM_EARLY_MEM_AWAITED) {
		ve->mem_state = VM_EARLY_MEM_NONE;
		pthread_cond_signal(&ve->changed);
	}
	while (!ve->done)
		pthread_cond_wait(&ve->changed, &ve->gate);
	pthread_mutex_unlock(&ve->gate);
	/* It ends on its own; the lock and condition may still be in its hands for a few
	 * instructions, so they are not destroyed (musl's destroy frees nothing). */
	pthread_detach(ve->thread);
	ve->started = false;
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
	if (ve->started)
		arch__early_query(vm);
	join(ve);
	vm->vm_fd = ve->vm_fd;
	*made = ve->made;
	ve->made.nr_vcpu_fds = 0;
	ve->opened = false;
}

void vm_early__release(struct vm_early *ve)
{
	if (!ve->opened)
		return;
	join(ve);
	for (unsigned i = 0; i < ve->made.nr_vcpu_fds; i++)
		close(ve->made.vcpu_fds[i]);
	if (ve->vm_fd >= 0)
		close(ve->vm_fd);
	if (ve->kvm_fd >= 0 && !ve->kvm_taken)
		close(ve->kvm_fd);
	if (ve->premapped.base)
		guest_mem__destroy(&ve->premapped);
	ve->opened = false;
}
