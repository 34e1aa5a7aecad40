#include "machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "arch/arch.h"
#include "builder.h"
#include "devices/legacy.h"
#include "devices/table.h"
#include "event.h"
#include "log.h"
#include "pagealloc.h"
#include "seccomp/seccomp.h"
#include "snapshot.h"
#include "vcpu.h"
#include "virtio/balloon.h"
#include "virtio/virtio.h"
#include "vm.h"

static int install_vmm_filter(void *ctx)
{
	struct kvm_machine *k = ctx;
	if (seccomp__install_fds(SECCOMP_VMM, k->vm->vm_fd, -1) == 0)
		return 0;
	pr_err("cannot install the VMM thread's seccomp filter: %m");
	return -1;
}

static int kvm_start(void *ctx, const struct vm_config *cfg, uint64_t instance_start_us,
		     struct error *e)
{
	struct kvm_machine *k = ctx;
	warm__discard_later(&k->warm, "a boot builds its own VM");
	struct vm *vm = pagealloc__zalloc(sizeof(*vm));
	if (!vm)
		return error__fail(e, EXIT_ERROR, "out of memory");
	if (builder__build(vm, cfg, k->loop, k->start_us, k->boot_timer, &k->early, e)) {
		vcpu__teardown_vm(vm);
		return -1;
	}
	vm->instance_start_us = instance_start_us;
	/* A build without the pre-boot filter: every thread is filtered before the guest's
	 * first instruction, this one too, since a vCPU thread the guest took over could
	 * reach an unfiltered thread through the memory they share. The vCPUs start
	 * parked, each installs its own filter and waits; this thread then installs its
	 * own (it needs no more thread starts) and lets them run. */
	const bool park = k->unfiltered_build;
	if (park)
		pr_debug("vCPUs start parked until every thread has its seccomp filter");
	if (vcpu__start_all(vm, park)) {
		error__fail(e, EXIT_ERROR, "cannot start vCPU threads: %s", strerror(errno));
		vcpu__teardown_vm(vm);
		return -1;
	}
	/* Not install_vmm_filter, which logs: the failure goes back in e. */
	if (park && seccomp__install_fds(SECCOMP_VMM, vm->vm_fd, -1)) {
		error__fail(e, EXIT_ERROR, "cannot install the VMM thread's seccomp filter: %s",
			    strerror(errno));
		vcpu__teardown_vm(vm);
		return -1;
	}
	k->vm = vm;
	if (park)
		vcpu__resume_all(vm);
	else
		/* Under the pre-boot filter: from here on the event loop serves guest-driven
		 * devices, and its filter goes in before it handles the first event. Not now:
		 * the vCPU threads just started usually wait for this CPU until this thread
		 * blocks, and a filter costs about 0.1 ms (the first KVM_RUN came that much
		 * later). */
		event__before_dispatch(k->loop, install_vmm_filter, k);
	return 0;
}

static int kvm_snapshot(void *ctx, const struct snapshot_create_params *p, const char *config_json,
			const char *version, struct error *e)
{
	struct kvm_machine *k = ctx;
	return snapshot__create(k->vm, p, config_json, version, e);
}

static int kvm_restore(void *ctx, const struct vm_config *cfg, struct snapshot_load *l,
		       struct error *e)
{
	struct kvm_machine *k = ctx;
	struct vm *vm = NULL;
	char why[ERROR_MSG_MAX];
	if (k->warm.vm) {
		if (warm__fits(&k->warm, cfg, why, sizeof(why))) {
			vm = warm__take(&k->warm, cfg, e);
			if (!vm)
				return -1;
		} else {
			char msg[ERROR_MSG_MAX + 32];
			snprintf(msg, sizeof(msg), "%s: a full load", why);
			warm__discard_later(&k->warm, msg);
		}
	}
	bool warm = vm != NULL;
	if (!vm && !(vm = pagealloc__zalloc(sizeof(*vm))))
		return error__fail(e, EXIT_ERROR, "out of memory");
	if (snapshot__restore(vm, cfg, l, k->loop, k->start_us, warm, e)) {
		vcpu__teardown_vm(vm);
		return -1;
	}
	if (!warm) {
		/* Parked before the first instruction: the controller resumes if asked to. */
		uint64_t t0 = now_us();
		if (vcpu__start_all(vm, true)) {
			error__fail(e, EXIT_ERROR, "cannot start vCPU threads: %s",
				    strerror(errno));
			vcpu__teardown_vm(vm);
			return -1;
		}
		vcpu__pause_all(vm);
		l->times.start_vcpus = now_us() - t0;
	}
	k->vm = vm;
	k->load_start_us = l->times.start_us;
	return 0;
}

/* After the resume: the filter costs 0.1-0.2 ms, which the vCPUs need not wait for. */
static void kvm_restored(void *ctx, struct snapshot_load *l)
{
	struct kvm_machine *k = ctx;
	uint64_t t0 = now_us();
	if (seccomp__install_fds(SECCOMP_VMM, k->vm->vm_fd, -1)) {
		pr_err("cannot install the VMM thread's seccomp filter: %m");
		event__stop(k->loop, EXIT_ERROR);
	}
	l->times.seccomp = now_us() - t0;
}

static int kvm_pause(void *ctx, struct error *e)
{
	struct kvm_machine *k = ctx;
	vcpu__pause_all(k->vm);
	return 0;
}

static int kvm_resume(void *ctx, struct error *e)
{
	struct kvm_machine *k = ctx;
	vcpu__resume_all(k->vm);
	return 0;
}

static int kvm_ctrl_alt_del(void *ctx, struct error *e)
{
	struct kvm_machine *k = ctx;
	struct i8042 *kbd = i8042__of(k->vm);
	if (!kbd || i8042__send_ctrl_alt_del(kbd))
		return error__fail(e, EXIT_USAGE,
				   "SendCtrlAltDel: the guest has not read the previous keys yet");
	return 0;
}

static int kvm_patch_drive(void *ctx, const char *id, const char *path, struct error *e)
{
	struct kvm_machine *k = ctx;
	return blk_device__swap(k->vm, id, path, e);
}

static int kvm_patch_limiter(void *ctx, const char *device, unsigned q,
			     const struct rate_limiter_config *rl, struct error *e)
{
	struct kvm_machine *k = ctx;
	char why[ERROR_MSG_MAX];
	if (virtio__update_limiter(k->vm, device, q, rl, why, sizeof(why)))
		return error__from_text(e, EXIT_USAGE, why);
	return 0;
}

static void kvm_stop(void *ctx)
{
	struct kvm_machine *k = ctx;
	vcpu__stop_all(k->vm);
}

static void kvm_log_state(void *ctx)
{
	struct kvm_machine *k = ctx;
	struct vm *vm = k->vm;
	char line[256];
	if (!vm)
		return;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		arch__vcpu_describe(vm->vcpus[i], line, sizeof(line));
		pr_info("state at stop: vcpu %u: %s", i, line);
	}
	arch__irqchip_describe(vm, line, sizeof(line));
	pr_info("state at stop: irqchip: %s", line);
	for (unsigned i = 0; i < vm->nr_devices; i++) {
		const struct device_ops *ops = vm->devices[i].ops;
		if (!ops || !ops->describe)
			continue;
		ops->describe(vm->devices[i].dev, line, sizeof(line));
		pr_info("state at stop: %s: %s", ops->name, line);
	}
}

static void kvm_destroy(void *ctx)
{
	struct kvm_machine *k = ctx;
	vcpu__teardown_vm(k->vm);
	k->vm = NULL;
}

static void kvm_leave(void *ctx)
{
	struct kvm_machine *k = ctx;
	vm__leave(k->vm);
}

static void kvm_vmm_metrics(void *ctx, struct json_out *o)
{
	struct kvm_machine *k = ctx;
	json_out__printf(o, ",\"vcpu_count\":%u,\"boot_time_us\":%llu", k->vm->nr_vcpus,
			 (unsigned long long)k->vm->boot_time_us);
	/* A restored VM: from the load request to vCPU 0 leaving its pause for KVM_RUN
	 * (where the guest's next instruction runs), as that thread saw it. */
	uint64_t run = k->vm->vcpus ? atomic_load(&k->vm->vcpus[0]->resumed_us) : 0;
	if (k->load_start_us && run > k->load_start_us)
		json_out__printf(o, ",\"load_to_vcpu_run_us\":%llu",
				 (unsigned long long)(run - k->load_start_us));
}

static void kvm_metrics(void *ctx, struct json_out *o)
{
	struct kvm_machine *k = ctx;
	vcpu__metrics(k->vm, o);
	vm__device_metrics(k->vm, o);
	virtio__write_sums(k->vm, o);
}

static int kvm_balloon(void *ctx, enum vmm_balloon_op op, uint32_t value, struct json_out *o,
		       struct error *e)
{
	struct kvm_machine *k = ctx;
	struct virtio_dev *b = vm__find_device(k->vm, &balloon_device);
	char why[ERROR_MSG_MAX];
	if (!b)
		return error__fail(e, EXIT_USAGE, "No balloon device found.");
	switch (op) {
	case VMM_BALLOON_TARGET:
		if (balloon__set_target(b, value, why, sizeof(why)))
			return error__from_text(e, EXIT_USAGE, why);
		return 0;
	case VMM_BALLOON_INTERVAL:
		if (balloon__set_stats_interval(b, value, why, sizeof(why)))
			return error__from_text(e, EXIT_USAGE, why);
		return 0;
	case VMM_BALLOON_STATS: {
		struct balloon_stats s;
		balloon__get_stats(b, &s);
		balloon__write_stats(&s, o);
		return 0;
	}
	}
	return error__fail(e, EXIT_USAGE, "balloon: unknown request");
}

const struct vmm_machine kvm_machine_ops = {
    .start = kvm_start,
    .pause = kvm_pause,
    .resume = kvm_resume,
    .ctrl_alt_del = kvm_ctrl_alt_del,
    .patch_drive = kvm_patch_drive,
    .patch_limiter = kvm_patch_limiter,
    .snapshot = kvm_snapshot,
    .restore = kvm_restore,
    .restored = kvm_restored,
    .stop = kvm_stop,
    .log_state = kvm_log_state,
    .destroy = kvm_destroy,
    .leave = kvm_leave,
    .vmm_metrics = kvm_vmm_metrics,
    .metrics = kvm_metrics,
    .balloon = kvm_balloon,
};

int kvm_machine__prepare(struct kvm_machine *k, unsigned vcpus, uint64_t mem_mib, bool no_pit,
			 struct error *e)
{
	return warm__prepare(&k->warm, vcpus, mem_mib, no_pit, k->loop, k->start_us, e);
}
