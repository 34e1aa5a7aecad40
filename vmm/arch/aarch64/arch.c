/* aarch64 behind vmm/arch/arch.h: a vGICv3 and the architected timer in KVM, PSCI
 * 0.2 in KVM (secondary vCPUs start powered off and come up through CPU_ON), the
 * Image boot protocol of Documentation/arch/arm64/booting.rst and a device tree. */
#include "arch/arch.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/aarch64/fdt.h"
#include "config.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

#define FAIL(code, ...) return error__fail(e, (code), __VA_ARGS__)

/* The Linux arm64 command line limit (COMMAND_LINE_SIZE), NUL included. */
#define A64_CMDLINE_MAX 2048

#define CORE_REG(x)                                                                                \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |                                     \
	 (offsetof(struct kvm_regs, x) / sizeof(uint32_t)))
#define MPIDR_EL1      ARM64_SYS_REG(3, 0, 0, 0, 5)
#define MPIDR_AFF_MASK 0xff00ffffffull
/* EL1 with SP_EL1, every exception masked: booting.rst's entry state. */
#define BOOT_PSTATE (PSR_MODE_EL1h | PSR_A_BIT | PSR_F_BIT | PSR_I_BIT | PSR_D_BIT)

const struct arch_cap arch_required_caps[] = {
    {KVM_CAP_ARM_PSCI_0_2, "ARM_PSCI_0_2"},
    {KVM_CAP_ONE_REG, "ONE_REG"},
    {KVM_CAP_DEVICE_CTRL, "DEVICE_CTRL"},
};
const size_t arch_nr_required_caps = sizeof(arch_required_caps) / sizeof(arch_required_caps[0]);

int arch__load_images(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	struct arch_vm *a = &vm->arch;
	char why[ERROR_MSG_MAX];
	a->gic_fd = -1;
	if (vm->nr_vcpus > A64_MAX_VCPUS)
		FAIL(EXIT_USAGE, "vcpu_count: at most %d on aarch64", A64_MAX_VCPUS);
	struct mem_region *ram = &vm->mem.regions[0];
	if (ram->size < 2 * A64_FDT_MAX)
		FAIL(EXIT_USAGE, "mem_size_mib: the guest needs at least %llu MiB",
		     (2 * A64_FDT_MAX) >> 20);
	a->fdt_addr = ram->gpa + ram->size - A64_FDT_MAX;
	if (arm64_image__load(&vm->mem, cfg->kernel_path, a->fdt_addr, &a->image, why, sizeof(why)))
		return error__from_text(e, EXIT_IMAGE, why);
	if (cfg->initrd_path[0] &&
	    arm64_image__load_initrd(&vm->mem, cfg->initrd_path, &a->image, a->fdt_addr,
				     &a->initrd_addr, &a->initrd_size, why, sizeof(why)))
		return error__from_text(e, EXIT_IMAGE, why);
	return 0;
}

static int gic_attr(int fd, uint32_t group, uint64_t attr, void *addr)
{
	struct kvm_device_attr a = {.group = group, .attr = attr, .addr = (uintptr_t)addr};
	return ioctl(fd, KVM_SET_DEVICE_ATTR, &a);
}

/* The vGICv3 exists before the vCPUs; it is initialised once they all do. There is
 * no GICv2 fallback: nested under QEMU's gic-version=3 no GICv2 is emulated. */
/* The vGIC's descriptor is kept in struct vm: arch__create_irqchip makes it all. */
int arch__irqchip_kvm(int vm_fd, bool no_pit, const char **failed)
{
	return 1;
}

int arch__create_irqchip(struct vm *vm, struct error *e)
{
	struct arch_vm *a = &vm->arch;
	struct kvm_create_device dev = {.type = KVM_DEV_TYPE_ARM_VGIC_V3};
	if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &dev) < 0)
		FAIL(EXIT_KVM, "KVM_CREATE_DEVICE (GICv3): %s: this host's KVM offers no vGICv3",
		     strerror(errno));
	a->gic_fd = (int)dev.fd;
	uint64_t dist = A64_GICD_ADDR, redist = A64_GICR_ADDR;
	uint32_t nr_irqs = A64_SPI_BASE + 64;
	if (gic_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist) ||
	    gic_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist) ||
	    gic_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs))
		FAIL(EXIT_KVM, "GICv3 set-up: %s", strerror(errno));
	return 0;
}

int arch__write_boot(struct vm *vm, struct error *e)
{
	/* Devices are announced in the device tree, not on the command line: the
	 * bootargs are the configured ones. */
	const char *bootargs = config__cmdline(vm->cfg);
	if (strlen(bootargs) >= A64_CMDLINE_MAX)
		FAIL(EXIT_USAGE, "boot_args: %zu bytes; an arm64 kernel accepts at most %d",
		     strlen(bootargs), A64_CMDLINE_MAX - 1);
	return 0;
}

uint64_t arch__entry(const struct vm *vm)
{
	return vm->arch.image.load_addr;
}

int arch__vcpus_prepare(struct vm *vm, struct error *e)
{
	if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &vm->arch.target) < 0)
		FAIL(EXIT_KVM, "KVM_ARM_PREFERRED_TARGET: %s", strerror(errno));
	return 0;
}

static int set_reg(int fd, uint64_t id, uint64_t value)
{
	struct kvm_one_reg r = {.id = id, .addr = (uintptr_t)&value};
	return ioctl(fd, KVM_SET_ONE_REG, &r);
}

int arch__vcpu_init(struct vcpu *v, uint64_t entry, struct error *e)
{
	struct arch_vm *a = &v->vm->arch;
	struct kvm_vcpu_init init = a->target;
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (v->index > 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(v->fd, KVM_ARM_VCPU_INIT, &init) < 0)
		FAIL(EXIT_KVM, "vcpu %u: KVM_ARM_VCPU_INIT: %s", v->index, strerror(errno));
	uint64_t mpidr = 0;
	struct kvm_one_reg r = {.id = MPIDR_EL1, .addr = (uintptr_t)&mpidr};
	if (ioctl(v->fd, KVM_GET_ONE_REG, &r) < 0)
		FAIL(EXIT_KVM, "vcpu %u: reading MPIDR_EL1: %s", v->index, strerror(errno));
	a->mpidr[v->index] = mpidr & MPIDR_AFF_MASK;
	if (v->index == 0 && (set_reg(v->fd, CORE_REG(regs.pstate), BOOT_PSTATE) ||
			      set_reg(v->fd, CORE_REG(regs.pc), entry) ||
			      set_reg(v->fd, CORE_REG(regs.regs[0]), a->fdt_addr)))
		FAIL(EXIT_KVM, "vcpu 0: setting the boot registers: %s", strerror(errno));
	return 0;
}

/* Every vCPU exists: the vGIC can be initialised and the device tree, which names
 * each vCPU by the MPIDR KVM gave it, written. */
int arch__vcpus_ready(struct vm *vm, struct error *e)
{
	struct arch_vm *a = &vm->arch;
	if (gic_attr(a->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL))
		FAIL(EXIT_KVM, "GICv3 KVM_DEV_ARM_VGIC_CTRL_INIT: %s", strerror(errno));
	for (unsigned i = 0; i < a->nr_irqfds; i++) {
		struct kvm_irqfd req = {.fd = (uint32_t)a->irqfds[i].fd, .gsi = a->irqfds[i].gsi};
		if (ioctl(vm->vm_fd, KVM_IRQFD, &req) < 0)
			FAIL(EXIT_KVM, "KVM_IRQFD (SPI %u): %s", a->irqfds[i].gsi, strerror(errno));
	}
	a->nr_irqfds = 0;

	struct arm64_fdt_dev virtio[A64_MMIO_LAST_SPI - A64_MMIO_FIRST_SPI + 1];
	unsigned n = vm->next_mmio_slot;
	for (unsigned i = 0; i < n; i++)
		virtio[i] =
		    (struct arm64_fdt_dev){.addr = VM_MMIO_SLOT_BASE + i * VM_MMIO_SLOT_SIZE,
					   .size = VM_MMIO_SLOT_SIZE,
					   .spi = VM_MMIO_FIRST_IRQ + i};
	struct mem_region *ram = &vm->mem.regions[0];
	struct arm64_fdt_machine m = {
	    .mem_base = ram->gpa,
	    .mem_size = ram->size,
	    .nr_cpus = vm->nr_vcpus,
	    .mpidrs = a->mpidr,
	    .gicd_addr = A64_GICD_ADDR,
	    .gicd_size = A64_GICD_SIZE,
	    .gicr_addr = A64_GICR_ADDR,
	    .gicr_size = A64_GICR_SIZE_PER_CPU * vm->nr_vcpus,
	    .serial = {.addr = A64_SERIAL_ADDR, .size = 0x1000, .spi = A64_SERIAL_SPI},
	    .virtio = virtio,
	    .nr_virtio = n,
	    .bootargs = config__cmdline(vm->cfg),
	    .initrd_addr = a->initrd_addr,
	    .initrd_size = a->initrd_size,
	};
	void *buf = guest_mem__ptr(&vm->mem, a->fdt_addr, A64_FDT_SIZE);
	char why[200];
	if (!buf || arm64_fdt__build(buf, A64_FDT_SIZE, &m, why, sizeof(why)))
		FAIL(EXIT_ERROR, "%s", buf ? why : "device tree: outside guest memory");
	pr_debug("kernel at 0x%llx (%llu bytes), initrd %llu bytes at 0x%llx, FDT at 0x%llx, "
		 "bootargs: %s",
		 (unsigned long long)a->image.load_addr, (unsigned long long)a->image.image_size,
		 (unsigned long long)a->initrd_size, (unsigned long long)a->initrd_addr,
		 (unsigned long long)a->fdt_addr, m.bootargs);
	return 0;
}

int arch__irqfd_defer(struct vm *vm, int fd, uint32_t gsi)
{
	struct arch_vm *a = &vm->arch;
	if (a->nr_irqfds == sizeof(a->irqfds) / sizeof(a->irqfds[0])) {
		errno = ENOSPC;
		return -1;
	}
	a->irqfds[a->nr_irqfds].fd = fd;
	a->irqfds[a->nr_irqfds].gsi = gsi;
	a->nr_irqfds++;
	return 1;
}

int arch__set_irq_line(struct vm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = {.irq = arch__irq_line(gsi), .level = level};
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

void arch__eoi(struct vm *vm, uint8_t vector)
{
	(void)vm;
	(void)vector; /* the vGIC never reports one */
}

void arch__shutdown_reason(struct vcpu *v, char *why, size_t len)
{
	/* Not an arm64 exit in practice; its registers are not read (the vCPU's seccomp
	 * filter allows no KVM_GET_ONE_REG). */
	snprintf(why, len, "guest shutdown on vcpu %u", v->index);
}

void arch__vcpu_describe(struct vcpu *v, char *buf, size_t len)
{
	/* Its registers and run state need ioctls the VMM thread's arm64 filter does
	 * not allow (KVM_GET_ONE_REG, KVM_GET_MP_STATE). */
	snprintf(buf, len, "vcpu %u (its state is not read on arm64)", v->index);
}

void arch__irqchip_describe(struct vm *vm, char *buf, size_t len)
{
	(void)vm;
	snprintf(buf, len, "GICv3 (its state is not read here)");
}

void arch__early_query(struct vm *vm)
{
	/* nothing that needs no configuration takes long here */
}

int arch__set_cpuid_cache(const char *path, char *err, size_t errlen)
{
	(void)path;
	snprintf(err, errlen, "--cpuid-cache: only x86_64 asks KVM for its supported CPUID");
	return -1;
}

void arch__vm_destroy(struct vm *vm)
{
	if (vm->arch.gic_fd > 0)
		close(vm->arch.gic_fd);
	vm->arch.gic_fd = -1;
}
