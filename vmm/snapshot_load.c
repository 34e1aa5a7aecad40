/* Snapshot load: check the vmstate and memory file, then build the VM from them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86_64/vcpu_state.h"
#include "devices/table.h"
#include "log.h"
#include "snapshot.h"
#include "uffd.h"
#include "vcpu.h"
#include "vm.h"

static int check_regions(const struct vm *vm, const struct snapshot_load *l, struct error *e)
{
	if (l->nr_regions != vm->mem.nr_regions)
		return error__fail(e, EXIT_USAGE,
				   "snapshot: %zu memory regions, the configuration makes %u",
				   l->nr_regions, vm->mem.nr_regions);
	for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
		const struct mem_region *r = &vm->mem.regions[i];
		if (l->regions[i].guest_address != r->gpa || l->regions[i].size != r->size ||
		    l->regions[i].file_offset != (uint64_t)(r->hva - vm->mem.base))
			return error__fail(e, EXIT_USAGE,
					   "snapshot: memory region %u does not match the "
					   "configuration's memory",
					   i);
	}
	return 0;
}

#define VCPU_BLOB(name, field) snap_in__bytes(&in, name, &s->field, sizeof(s->field), e)

static int load_vcpu(const struct vmstate *vs, unsigned i, struct vcpu_state *s, struct error *e)
{
	struct snapshot_in in = {.vs = vs};
	snprintf(in.node, sizeof(in.node), "/vcpus/vcpu@%u", i);
	memset(s, 0, sizeof(*s));
	if (VCPU_BLOB("regs", regs) || VCPU_BLOB("sregs", sregs) || VCPU_BLOB("lapic", lapic) ||
	    VCPU_BLOB("events", events) || VCPU_BLOB("debugregs", debugregs) ||
	    VCPU_BLOB("mp-state", mp_state))
		return -1;
	struct error absent; /* xsave and xcrs are optional */
	const void *data;
	size_t len;
	if (vmstate__get_blob(vs, in.node, "xsave", &data, &len, &absent) == 0) {
		if (len != sizeof(s->xsave))
			return error__fail(e, EXIT_USAGE, "%s/xsave: %zu bytes, expected %zu",
					   in.node, len, sizeof(s->xsave));
		memcpy(&s->xsave, data, len);
		s->has_xsave = true;
	} else if (VCPU_BLOB("fpu", fpu)) {
		return -1;
	}
	if (vmstate__get_blob(vs, in.node, "xcrs", &data, &len, &absent) == 0) {
		if (len != sizeof(s->xcrs))
			return error__fail(e, EXIT_USAGE, "%s/xcrs: %zu bytes, expected %zu",
					   in.node, len, sizeof(s->xcrs));
		memcpy(&s->xcrs, data, len);
		s->has_xcrs = true;
	}
	if (vmstate__get_blob(vs, in.node, "cpuid", &data, &len, e))
		return -1;
	if (len % sizeof(s->cpuid[0]) || len / sizeof(s->cpuid[0]) > VCPU_STATE_MAX_CPUID)
		return error__fail(e, EXIT_USAGE, "%s/cpuid: %zu bytes is not a list of at most %d",
				   in.node, len, VCPU_STATE_MAX_CPUID);
	memcpy(s->cpuid, data, len);
	s->nr_cpuid = (uint32_t)(len / sizeof(s->cpuid[0]));
	if (vmstate__get_blob(vs, in.node, "msrs", &data, &len, e))
		return -1;
	if (len % sizeof(s->msrs[0]) || len / sizeof(s->msrs[0]) > VCPU_STATE_MAX_MSRS)
		return error__fail(e, EXIT_USAGE, "%s/msrs: %zu bytes is not a list of at most %d",
				   in.node, len, VCPU_STATE_MAX_MSRS);
	memcpy(s->msrs, data, len);
	s->nr_msrs = (uint32_t)(len / sizeof(s->msrs[0]));
	return 0;
}

/* The PIT is there unless the snapshot's machine had none (--no-pit). */
static int load_pit(const struct vmstate *vs, struct vm_state *s, struct error *e)
{
	struct error absent;
	const void *data;
	size_t len;
	if (vmstate__get_blob(vs, "/vm", "pit", &data, &len, &absent))
		return 0;
	if (len != sizeof(s->pit))
		return error__fail(e, EXIT_USAGE, "/vm/pit: %zu bytes, expected %zu", len,
				   sizeof(s->pit));
	memcpy(&s->pit, data, len);
	s->has_pit = true;
	return 0;
}

static int load_vm_state(const struct vmstate *vs, struct vm_state *s, uint64_t *saved_ns,
			 struct error *e)
{
	struct snapshot_in in = {.vs = vs, .node = "/vm"};
	return snap_in__bytes(&in, "irqchip-pic-master", &s->irqchip[0], sizeof(s->irqchip[0]),
			      e) ||
		       snap_in__bytes(&in, "irqchip-pic-slave", &s->irqchip[1],
				      sizeof(s->irqchip[1]), e) ||
		       snap_in__bytes(&in, "irqchip-ioapic", &s->irqchip[2], sizeof(s->irqchip[2]),
				      e) ||
		       snap_in__bytes(&in, "clock", &s->clock, sizeof(s->clock), e) ||
		       snap_in__u64(&in, "clock-realtime-ns", saved_ns, e)
		   ? -1
		   : load_pit(vs, s, e);
}

static int restore_devices(struct vm *vm, const struct vmstate *vs, struct error *e)
{
	for (unsigned i = 0; i <= vm->nr_devices; i++) {
		struct snapshot_in in = {.vs = vs};
		snprintf(in.node, sizeof(in.node), "/devices/dev@%u", i);
		if (i == vm->nr_devices) {
			if (vmstate__has_node(vs, in.node))
				return error__fail(e, EXIT_USAGE,
						   "snapshot: it has more devices than its "
						   "configuration makes (%u)",
						   vm->nr_devices);
			break;
		}
		const struct device_ops *ops = vm->devices[i].ops;
		const char *kind;
		if (snap_in__string(&in, "kind", &kind, e))
			return -1;
		if (strcmp(kind, ops->name))
			return error__fail(e, EXIT_USAGE,
					   "snapshot: device %u is a '%s', expected '%s'", i, kind,
					   ops->name);
		if (!ops->restore)
			return error__fail(e, EXIT_USAGE,
					   "device '%s' cannot be restored from a snapshot yet",
					   ops->name);
		if (ops->restore(vm->devices[i].dev, &in, e))
			return error__wrap(e, "device '%s'", ops->name);
	}
	return 0;
}

/* On this thread, one vCPU after the other. Each vCPU's thread setting its own
 * (parked, its filter deferred) measured slower on 1 and on 2 vCPUs: the hand-over to
 * and back from each thread cost more than the 0.1 ms that one vCPU's state takes.
 * *tsc_set_at_ns: when vCPU 0's TSC was written; KVM matches the others' to it (their
 * writes land within a second of it). */
static int set_vcpu_states(struct vm *vm, const struct vcpu_state *states, uint64_t *tsc_set_at_ns,
			   struct error *e)
{
	char why[256];
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		uint64_t at;
		if (vcpu_state__set(vm->vcpus[i]->fd, &states[i], &at, why, sizeof(why)))
			return error__fail(e, EXIT_KVM, "vcpu %u: %s", i, why);
		if (i == 0)
			*tsc_set_at_ns = at;
	}
	return 0;
}

/* Each vCPU's TSC set to go on from kvmclock's instant: KVM reads its clock with the host
 * TSC it was read at (Linux 5.16, in its master-clock mode), and the vCPU's offset is set
 * so that its TSC then is the saved one plus the time kvmclock has run since it was
 * clock_base (the saved clock, advanced), at the TSC rate (ember gives every vCPU the
 * host's). Where KVM gives no host TSC or has no offset attribute, the timed pairing
 * stands (kvmclock advanced by the time since the TSC was written). */
static int align_tsc(struct vm *vm, const struct vcpu_state *states, uint64_t clock_base,
		     struct error *e)
{
	struct kvm_clock_data now = {0};
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &now) < 0)
		return error__fail(e, EXIT_KVM, "KVM_GET_CLOCK: %s", strerror(errno));
	if (!(now.flags & KVM_CLOCK_HOST_TSC) || now.clock < clock_base)
		return 0;
	int khz = ioctl(vm->vcpus[0]->fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0)
		return 0;
	uint64_t ran = (now.clock - clock_base) * (uint64_t)khz / 1000000u;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int tsc = vcpu_state__tsc_slot(&states[i]);
		if (tsc < 0)
			continue; /* not saved, so not written either: KVM's own stands */
		if (vcpu_state__set_tsc_offset(vm->vcpus[i]->fd,
					       states[i].msrs[tsc].data + ran - now.host_tsc)) {
			if ((errno == ENXIO || errno == ENOTTY) && i == 0)
				return 0;
			return error__fail(e, EXIT_KVM, "vcpu %u: setting KVM_VCPU_TSC_OFFSET: %s",
					   i, strerror(errno));
		}
	}
	return 0;
}

/* Microseconds since *t, and *t moved to now: one step of the load. */
static uint64_t lap(uint64_t *t)
{
	uint64_t now = now_us(), d = now - *t;
	*t = now;
	return d;
}

int snapshot__restore(struct vm *vm, const struct vm_config *cfg, struct snapshot_load *l,
		      struct event_loop *loop, uint64_t start_us, bool warm, struct error *e)
{
	struct snapshot_load_times *t = &l->times;
	uint64_t clock = now_us();
	if (snapshot__check_cpu_template(&l->vs, &cfg->cpu_template, e))
		return -1;
	if (warm)
		vm->cfg = cfg; /* the shell was made for a configuration of the same shape */
	else if (vm__init(vm, cfg, loop, start_us, NULL, e))
		return -1;
	uint32_t nr_vcpus;
	struct snapshot_in vmnode = {.vs = &l->vs, .node = "/vm"};
	if (snap_in__u32(&vmnode, "vcpu-count", &nr_vcpus, e))
		return -1;
	if (nr_vcpus != cfg->vcpus || nr_vcpus != vm->nr_vcpus)
		return error__fail(e, EXIT_USAGE,
				   "snapshot: %u vCPUs saved, the configuration has %u", nr_vcpus,
				   cfg->vcpus);
	struct vm_state vs;
	uint64_t saved_ns;
	if (check_regions(vm, l, e) || load_vm_state(&l->vs, &vs, &saved_ns, e))
		return -1;
	struct vcpu_state *states = calloc(nr_vcpus, sizeof(*states));
	if (!states)
		return error__fail(e, EXIT_ERROR, "out of memory");
	int rc = -1;
	for (unsigned i = 0; i < nr_vcpus; i++)
		if (load_vcpu(&l->vs, i, &states[i], e))
			goto out;
	t->config += lap(&clock); /* the vmstate's /vm and vCPU nodes read */
	/* Everything read and checked: now the side effects. A shell's memory slots stay
	 * registered: KVM resolves guest pages through the host page tables, so the file
	 * mapped at the same address is what the guest sees. */
	if (l->uffd_path[0] ? uffd__attach(&vm->mem, l->uffd_path, UFFD_HANDSHAKE_MS, &vm->uffd, e)
			    : vm__map_mem_file(vm, l->mem_fd, e))
		goto out;
	t->map_memory = lap(&clock);
	if (!warm && vm__create_kvm(vm, NULL, NULL, e))
		goto out;
	t->create_vm = warm ? 0 : lap(&clock);
	for (size_t i = 0; i < device_table_len; i++)
		if (device_table[i]->setup && device_table[i]->setup(vm, cfg, e))
			goto out;
	t->devices = lap(&clock);
	if (!warm && vcpu__create_all(vm, 0, false, NULL, e))
		goto out;
	t->create_vcpus = warm ? 0 : lap(&clock);
	/* The guest keeps its saved CPUID: this host must offer what the template left
	 * it (vCPUs differ only in topology, which no template fixes). */
	uint64_t tsc_set_at_ns = 0;
	if (arch__check_restore_cpuid(vm, states[0].cpuid, states[0].nr_cpuid, e) ||
	    set_vcpu_states(vm, states, &tsc_set_at_ns, e))
		goto out;
	t->set_vcpu_state = lap(&clock);
	uint64_t advance = 0;
	if (l->clock_realtime) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (now > saved_ns)
			advance = now - saved_ns;
	}
	/* The TSC has run since it was written: kvmclock goes on from that instant too
	 * (align_tsc makes it exact where KVM can). */
	uint64_t since_tsc = now_ns() - tsc_set_at_ns;
	/* After the vCPUs (their LAPICs) and before the devices, which may raise lines. */
	if (vm__set_state(vm, &vs, advance + since_tsc, e) ||
	    align_tsc(vm, states, vs.clock.clock + advance, e))
		goto out;
	t->set_vm_state = lap(&clock);
	if (restore_devices(vm, &l->vs, e))
		goto out;
	t->devices += lap(&clock);
	t->warm = warm;
	rc = 0;
out:
	free(states);
	return rc;
}
