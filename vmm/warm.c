#include "warm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "pagealloc.h"
#include "vcpu.h"
#include "vm.h"

int warm__prepare(struct warm_shell *w, unsigned vcpus, uint64_t mem_mib, bool no_pit,
		  struct event_loop *loop, uint64_t start_us, struct error *e)
{
	memset(w, 0, sizeof(*w));
	w->shape = calloc(1, sizeof(*w->shape));
	if (!w->shape)
		return error__fail(e, EXIT_ERROR, "out of memory");
	config__init_zeroed(w->shape);
	w->shape->vcpus = vcpus;
	w->shape->mem_mib = mem_mib;
	w->shape->no_pit = no_pit;
	char why[ERROR_MSG_MAX];
	if (config__validate_pending(w->shape, why, sizeof(why))) {
		free(w->shape);
		w->shape = NULL;
		return error__fail(e, EXIT_USAGE, "--prepare: %s", why);
	}
	struct vm *vm = pagealloc__zalloc(sizeof(*vm));
	if (!vm)
		return error__fail(e, EXIT_ERROR, "out of memory");
	uint64_t t0 = now_us();
	if (vm__init(vm, w->shape, loop, start_us, NULL, e) || vm__create_kvm(vm, NULL, NULL, e))
		goto fail;
	uint64_t t1 = now_us();
	if (vcpu__create_all(vm, 0, false, NULL, e))
		goto fail;
	uint64_t t2 = now_us();
	/* Parked before their first KVM_RUN, the threads wait for a load's resume. */
	if (vcpu__start_all(vm, true)) {
		error__fail(e, EXIT_ERROR, "cannot start vCPU threads: %s", strerror(errno));
		goto fail;
	}
	vcpu__pause_all(vm);
	uint64_t t3 = now_us();
	w->vm = vm;
	pr_info("warm shell: %u vCPUs, %llu MiB prepared in %llu us (VM, memory and irqchip "
		"%llu, vCPUs %llu, threads %llu)",
		vcpus, (unsigned long long)mem_mib, (unsigned long long)(t3 - t0),
		(unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1),
		(unsigned long long)(t3 - t2));
	return 0;
fail:
	error__wrap(e, "--prepare");
	vcpu__teardown_vm(vm);
	return -1;
}

bool warm__fits(const struct warm_shell *w, const struct vm_config *cfg, char *why, size_t len)
{
	if (!w->vm) {
		snprintf(why, len, "no warm shell");
		return false;
	}
	if (cfg->vcpus != w->shape->vcpus || cfg->mem_mib != w->shape->mem_mib) {
		snprintf(why, len, "the VM has %u vCPUs and %llu MiB, the warm shell %u and %llu",
			 cfg->vcpus, (unsigned long long)cfg->mem_mib, w->shape->vcpus,
			 (unsigned long long)w->shape->mem_mib);
		return false;
	}
	if (cfg->no_pit != w->shape->no_pit) {
		snprintf(why, len, "the VM is made %s a PIT, the warm shell %s",
			 cfg->no_pit ? "without" : "with", w->shape->no_pit ? "without" : "with");
		return false;
	}
	return true;
}

/* Dirty page logging asked for by the load: the slots are registered again with the
 * flag (KVM allows a flags-only change of a slot). */
static int log_dirty_pages(struct vm *vm, struct error *e)
{
	if (guest_mem__track_dirty(&vm->mem))
		return error__fail(e, EXIT_ERROR, "out of memory");
	vm->track_dirty = true;
	if (vm__register_memory(vm))
		return error__fail(e, EXIT_KVM, "track_dirty_pages: KVM_SET_USER_MEMORY_REGION: %s",
				   strerror(errno));
	return 0;
}

struct vm *warm__take(struct warm_shell *w, const struct vm_config *cfg, struct error *e)
{
	struct vm *vm = w->vm;
	w->vm = NULL;
	if (cfg->track_dirty_pages && log_dirty_pages(vm, e)) {
		vcpu__teardown_vm(vm);
		return NULL;
	}
	return vm;
}

void warm__discard(struct warm_shell *w, const char *why)
{
	if (!w->vm)
		return;
	uint64_t t0 = now_us();
	vcpu__teardown_vm(w->vm);
	w->vm = NULL;
	pr_info("warm shell torn down in %llu us: %s", (unsigned long long)(now_us() - t0), why);
}

struct later {
	struct vm *vm;
	struct event_loop *loop;
	int fd;
	char why[ERROR_MSG_MAX];
};

static void on_later(void *opaque, uint32_t events)
{
	struct later *l = opaque;
	event__del(l->loop, l->fd);
	close(l->fd);
	uint64_t t0 = now_us();
	vcpu__teardown_vm(l->vm);
	pr_info("warm shell torn down in %llu us: %s", (unsigned long long)(now_us() - t0), l->why);
	free(l);
}

void warm__discard_later(struct warm_shell *w, const char *why)
{
	if (!w->vm)
		return;
	struct later *l = calloc(1, sizeof(*l));
	int fd = l ? eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK) : -1; /* readable at once */
	if (fd < 0 || event__add(w->vm->loop, fd, EPOLLIN, on_later, l) < 0) {
		if (fd >= 0)
			close(fd);
		free(l);
		warm__discard(w, why);
		return;
	}
	l->vm = w->vm;
	l->loop = w->vm->loop;
	l->fd = fd;
	snprintf(l->why, sizeof(l->why), "%s", why);
	w->vm = NULL;
	pr_info("warm shell dropped: %s", why);
}
