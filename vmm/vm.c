#include "vm.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "pagealloc.h" /* PAGEALLOC_FROM_CALLOC: the sanitizer build */
#include "vm_early.h"

#define FAIL(code, ...) return error__fail(e, (code), __VA_ARGS__)

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
    {KVM_CAP_IRQCHIP, "IRQCHIP"},
    {KVM_CAP_USER_MEMORY, "USER_MEMORY"},
    {KVM_CAP_IOEVENTFD, "IOEVENTFD"},
    {KVM_CAP_IRQFD, "IRQFD"},
    {KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT"},
};

/* A custom template's "!N": a capability ember stops checking for (Firecracker's
 * example drops KVM_CAP_XCRS for old CPUs); whatever then needs it fails on its own. */
static bool cap_dropped(const struct vm_config *cfg, int cap)
{
	const struct cpu_template *t = &cfg->cpu_template;
	for (uint32_t i = 0; t->kind == CPU_TPL_CUSTOM && i < t->nr_caps; i++)
		if (t->caps[i].remove && (int)t->caps[i].cap == cap)
			return true;
	return false;
}

int vm__init(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop, uint64_t start_us,
	     struct guest_mem *premapped, struct error *e)
{
	vm->cfg = cfg;
	vm->loop = loop;
	vm->start_us = start_us;
	vm->nr_vcpus = cfg->vcpus;
	vm->track_dirty = cfg->track_dirty_pages;
	vm->vm_fd = -1;
	vm->kvm_fd = -1;
	vm->uffd.uffd = vm->uffd.sock = -1;
	snprintf(vm->cmdline, sizeof(vm->cmdline), "%s", config__cmdline(cfg));
	uint64_t bytes = cfg->mem_mib << 20;
	if (premapped)
		vm->mem = *premapped;
	else if (guest_mem__init(&vm->mem, bytes) < 0)
		FAIL(EXIT_USAGE, "mem_size_mib: cannot map %llu MiB of guest memory: %s",
		     (unsigned long long)cfg->mem_mib, strerror(errno));
	if (vm->track_dirty && guest_mem__track_dirty(&vm->mem))
		FAIL(EXIT_ERROR, "out of memory");
	return 0;
}

int vm__create_kvm(struct vm *vm, struct vm_early *early, struct vm_early_made *made,
		   struct error *e)
{
	const struct vm_config *cfg = vm->cfg;
	struct vm_early_made none = {.irqchip = 1};
	if (!made)
		made = &none;
	*made = none;
	int kvm_errno;
	/* The helper goes on meanwhile: the checks below need only /dev/kvm. */
	const bool helped = early && vm_early__kvm(early, &vm->kvm_fd, &kvm_errno);
	if (!helped) {
		vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		kvm_errno = errno;
	}
	if (vm->kvm_fd < 0) {
		errno = kvm_errno;
		if (errno == ENOENT)
			FAIL(EXIT_KVM,
			     "/dev/kvm does not exist: KVM is not available on this host");
		FAIL(EXIT_KVM, "/dev/kvm: %s (is this user allowed to use KVM?)", strerror(errno));
	}
	int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION)
		FAIL(EXIT_KVM, "/dev/kvm: API version %d, expected %d", api, KVM_API_VERSION);
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++)
		if (!cap_dropped(cfg, required_caps[i].cap) &&
		    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
			FAIL(EXIT_KVM, "/dev/kvm lacks the %s capability", required_caps[i].name);
	for (size_t i = 0; i < arch_nr_required_caps; i++)
		if (!cap_dropped(cfg, arch_required_caps[i].cap) &&
		    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, arch_required_caps[i].cap) <= 0)
			FAIL(EXIT_KVM, "/dev/kvm lacks the %s capability",
			     arch_required_caps[i].name);
	/* A custom template's "N": a capability its bits rely on (Firecracker checks
	 * them the same way, by KVM_CHECK_EXTENSION). */
	const struct cpu_template *t = &cfg->cpu_template;
	for (uint32_t i = 0; t->kind == CPU_TPL_CUSTOM && i < t->nr_caps; i++)
		if (!t->caps[i].remove &&
		    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, (int)t->caps[i].cap) <= 0)
			FAIL(EXIT_KVM,
			     "/dev/kvm lacks capability %u, which cpu-config's kvm_capabilities "
			     "requires",
			     t->caps[i].cap);

	int max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_vcpus > 0 && cfg->vcpus > (unsigned)max_vcpus)
		FAIL(EXIT_USAGE, "vcpu_count: %u is more than this host's KVM allows (%d)",
		     cfg->vcpus, max_vcpus);

	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0)
		FAIL(EXIT_KVM, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));

	if (helped)
		vm_early__take(early, vm, made);
	if (vm->vm_fd >= 0)
		pr_debug("VM made at start-up on another CPU");
	else
		vm->vm_fd = vm__kvm_create_vm(vm->kvm_fd);
	if (vm->vm_fd < 0)
		FAIL(EXIT_KVM, "KVM_CREATE_VM: %s", strerror(errno));
	/* Memory first: KVM_SET_USER_MEMORY_REGION made after KVM_CREATE_IRQCHIP/PIT2
	 * took 4-7 ms on our hosts, made before them about 0.1 ms (issue 16). */
	/* Where the helper could not, this thread tries again and reports why. */
	if (made->mem_registered)
		pr_debug("guest memory registered at start-up on another CPU");
	else if (vm__register_memory(vm))
		FAIL(EXIT_KVM, "mem_size_mib: KVM cannot map %llu MiB of guest memory: %s",
		     (unsigned long long)cfg->mem_mib, strerror(errno));
	/* The irqchip's KVM part, unless the helper made it; either's failure is told here. */
	int chip = made->irqchip;
	if (chip > 0)
		chip = arch__irqchip_kvm(vm->vm_fd, cfg->no_pit, &made->irqchip_call);
	else if (chip < 0)
		errno = made->irqchip_errno;
	else
		pr_debug("irqchip made at start-up on another CPU");
	if (chip < 0)
		FAIL(EXIT_KVM, "%s: %s", made->irqchip_call, strerror(errno));
	return arch__create_irqchip(vm, e);
}

int vm__kvm_create_vm(int kvm_fd)
{
	int fd;
	do
		fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	while (fd < 0 && errno == EINTR);
	return fd;
}

int vm__register_regions(int vm_fd, const struct mem_region *regions, unsigned n, bool dirty_log)
{
	for (unsigned i = 0; i < n; i++) {
		struct kvm_userspace_memory_region slot = {
		    .slot = i,
		    .guest_phys_addr = regions[i].gpa,
		    .memory_size = regions[i].size,
		    .userspace_addr = (uintptr_t)regions[i].hva,
		    .flags = dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
		};
		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return -1;
	}
	return 0;
}

int vm__register_memory(struct vm *vm)
{
	return vm__register_regions(vm->vm_fd, vm->mem.regions, vm->mem.nr_regions,
				    vm->track_dirty);
}

void vm__destroy(struct vm *vm)
{
	assert(!vm->vcpus);
	for (unsigned i = vm->nr_devices; i-- > 0;)
		if (vm->devices[i].ops->destroy)
			vm->devices[i].ops->destroy(vm->devices[i].dev);
	vm->nr_devices = 0;
	arch__vm_destroy(vm);
	guest_mem__destroy(&vm->mem);
	uffd__detach(&vm->uffd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
}

void vm__leave(struct vm *vm)
{
	for (unsigned i = vm->nr_devices; i-- > 0;)
		if (vm->devices[i].ops->leave)
			vm->devices[i].ops->leave(vm->devices[i].dev);
}

void *vm__zalloc(struct vm *vm, size_t bytes)
{
#ifndef PAGEALLOC_FROM_CALLOC
	const size_t align = _Alignof(max_align_t);
	if (bytes && bytes <= VM_ARENA_BYTES) {
		size_t need = (bytes + align - 1) & ~(align - 1);
		size_t at = atomic_fetch_add(&vm->arena_used, need);
		if (at <= VM_ARENA_BYTES - need) {
			/* Zeroed here, whatever made vm: the first touch is a write. */
			return memset(vm->arena + at, 0, bytes);
		}
		/* Full: arena_used stays past the end, so later requests skip it too. */
	}
#endif
	return calloc(1, bytes ? bytes : 1);
}

void vm__free(struct vm *vm, void *p)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)vm->arena;
	if (a >= base && a < base + VM_ARENA_BYTES)
		return;
	free(p);
}

int vm__add_device(struct vm *vm, const struct device_ops *ops, void *dev)
{
	if (vm->nr_devices == VM_MAX_DEVICES) {
		errno = ENOSPC;
		return -1;
	}
	vm->devices[vm->nr_devices].ops = ops;
	vm->devices[vm->nr_devices].dev = dev;
	vm->nr_devices++;
	return 0;
}

void *vm__find_device(const struct vm *vm, const struct device_ops *ops)
{
	for (unsigned i = 0; i < vm->nr_devices; i++)
		if (vm->devices[i].ops == ops)
			return vm->devices[i].dev;
	return NULL;
}

void vm__device_metrics(const struct vm *vm, struct json_out *o)
{
	for (unsigned i = 0; i < vm->nr_devices; i++)
		if (vm->devices[i].ops->metrics)
			vm->devices[i].ops->metrics(vm->devices[i].dev, o);
}

int vm__alloc_mmio_slot(struct vm *vm, uint64_t *addr, uint32_t *irq)
{
	if (VM_MMIO_FIRST_IRQ + vm->next_mmio_slot > VM_MMIO_LAST_IRQ) {
		errno = ENOSPC;
		return error__fail(&vm->last_error, EXIT_USAGE,
				   "too many virtio devices: IRQs %d..%d are all taken",
				   VM_MMIO_FIRST_IRQ, VM_MMIO_LAST_IRQ);
	}
	*addr = VM_MMIO_SLOT_BASE + vm->next_mmio_slot * VM_MMIO_SLOT_SIZE;
	*irq = VM_MMIO_FIRST_IRQ + vm->next_mmio_slot;
	vm->next_mmio_slot++;
	return 0;
}

int vm__cmdline_append(struct vm *vm, const char *text)
{
	size_t have = strlen(vm->cmdline), add = strlen(text);
	if (have + 1 + add >= sizeof(vm->cmdline)) {
		errno = E2BIG;
		return error__fail(&vm->last_error, EXIT_USAGE,
				   "boot_args: no room for \"%s\" on the command line", text);
	}
	if (have)
		vm->cmdline[have++] = ' ';
	memcpy(vm->cmdline + have, text, add + 1);
	return 0;
}

int vm__set_irq_line(struct vm *vm, uint32_t gsi, int level)
{
	return arch__set_irq_line(vm, gsi, level);
}

int vm__irqfd(struct vm *vm, uint32_t gsi)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return error__fail(&vm->last_error, EXIT_ERROR, "eventfd: %s", strerror(errno));
	int deferred = arch__irqfd_defer(vm, fd, gsi);
	if (deferred > 0)
		return fd;
	struct kvm_irqfd req = {.fd = (uint32_t)fd, .gsi = gsi};
	if (deferred < 0 || ioctl(vm->vm_fd, KVM_IRQFD, &req) < 0) {
		int saved = errno;
		error__fail(&vm->last_error, EXIT_KVM, "KVM_IRQFD: %s", strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int vm__ioeventfd(struct vm *vm, uint64_t addr, uint32_t datamatch)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return error__fail(&vm->last_error, EXIT_ERROR, "eventfd: %s", strerror(errno));
	struct kvm_ioeventfd req = {
	    .datamatch = datamatch,
	    .addr = addr,
	    .len = 4,
	    .fd = fd,
	    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &req) < 0) {
		int saved = errno;
		error__fail(&vm->last_error, EXIT_KVM, "KVM_IOEVENTFD: %s", strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

void vm__request_exit(struct vm *vm, int code, const char *why)
{
	if (!event__stopping(vm->loop))
		log__msg(code == EXIT_OK ? LOG_INFO : LOG_ERROR, "%s", why);
	event__stop(vm->loop, code);
}
