/* VM-wide state for snapshots: the in-kernel irqchip (both PICs and the IOAPIC), the
 * PIT, kvmclock, dirty page logging and a memory file mapped in place of guest RAM. */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "log.h"
#include "vm.h"

/* The irqchip trio, the PIT and the PC's kvmclock are x86's (snapshots are x86_64
 * only so far; aarch64 refuses them in vmm/arch/aarch64/snapshot.c). */
#if defined(__x86_64__)
static const struct {
	uint32_t id;
	const char *name;
} chips[VM_NR_IRQCHIPS] = {
    {KVM_IRQCHIP_PIC_MASTER, "PIC master"},
    {KVM_IRQCHIP_PIC_SLAVE, "PIC slave"},
    {KVM_IRQCHIP_IOAPIC, "IOAPIC"},
};

int vm__get_state(struct vm *vm, struct vm_state *s, struct error *e)
{
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < VM_NR_IRQCHIPS; i++) {
		s->irqchip[i].chip_id = chips[i].id;
		if (arch__irqchip_get(vm, &s->irqchip[i]) < 0)
			return error__fail(e, EXIT_KVM, "KVM_GET_IRQCHIP (%s): %s", chips[i].name,
					   strerror(errno));
	}
	s->has_pit = !vm->cfg->no_pit;
	if (s->has_pit && ioctl(vm->vm_fd, KVM_GET_PIT2, &s->pit) < 0)
		return error__fail(e, EXIT_KVM, "KVM_GET_PIT2: %s", strerror(errno));
	uint64_t before = now_ns();
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
		return error__fail(e, EXIT_KVM, "KVM_GET_CLOCK: %s", strerror(errno));
	s->clock_at_ns = before + (now_ns() - before) / 2;
	return 0;
}

int vm__set_state(struct vm *vm, const struct vm_state *s, uint64_t clock_advance_ns,
		  struct error *e)
{
	for (unsigned i = 0; i < VM_NR_IRQCHIPS; i++) {
		if (s->irqchip[i].chip_id != chips[i].id)
			return error__fail(e, EXIT_USAGE, "irqchip %u: chip id %u, expected %u", i,
					   s->irqchip[i].chip_id, chips[i].id);
		if (arch__irqchip_set(vm, &s->irqchip[i], chips[i].name, e))
			return -1;
	}
	if (s->has_pit != !vm->cfg->no_pit)
		return error__fail(e, EXIT_USAGE,
				   "the snapshot was taken %s an in-kernel PIT, this machine is "
				   "made %s one (--no-pit)",
				   s->has_pit ? "with" : "without",
				   s->has_pit ? "without" : "with");
	struct kvm_pit_state2 pit = s->pit;
	if (s->has_pit && ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
		return error__fail(e, EXIT_KVM, "KVM_SET_PIT2: %s", strerror(errno));
	/* Only the clock value is ours to set; the other flags GET reported (TSC_STABLE,
	 * REALTIME, HOST_TSC) describe the old host. */
	struct kvm_clock_data c = {.clock = s->clock.clock + clock_advance_ns};
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &c) < 0)
		return error__fail(e, EXIT_KVM, "KVM_SET_CLOCK: %s", strerror(errno));
	return 0;
}
#endif

int vm__map_mem_file(struct vm *vm, int fd, struct error *e)
{
	/* One private mapping over the whole of guest RAM: pages come from the page cache
	 * on first touch and are shared by every VM restored from the same file until a
	 * write copies one. The file layout is guest RAM's host layout, region after
	 * region. */
	void *p = mmap(vm->mem.base, vm->mem.total, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return error__fail(e, EXIT_USAGE, "cannot map the memory file: %s",
				   strerror(errno));
	return 0;
}

int vm__dirty_log(struct vm *vm, unsigned slot, uint64_t *bitmap, struct error *e)
{
	struct kvm_dirty_log log = {.slot = slot, .dirty_bitmap = bitmap};
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return error__fail(e, EXIT_KVM, "KVM_GET_DIRTY_LOG (slot %u): %s", slot,
				   strerror(errno));
	return 0;
}
