/* x86_64 behind vmm/arch/arch.h: the PC's in-kernel irqchip and PIT, the Linux 64-bit
 * boot protocol (zero page, GDT, page tables) or the PVH entry (start_info), the MP
 * table, and per-vCPU CPUID, MSRs, LAPIC and FPU. */
#include "arch/arch.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuid_cache.h"
#include "arch/x86_64/ioapic.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mptable.h"
#include "file.h"
#include "log.h"
#include "pagealloc.h"
#include "vcpu.h"
#include "vm.h"

#define KVM_TSS_ADDR	      0xfffbd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

#define FAIL(code, ...) return error__fail(e, (code), __VA_ARGS__)

const struct arch_cap arch_required_caps[] = {
    {KVM_CAP_PIT2, "PIT2"},
    {KVM_CAP_EXT_CPUID, "EXT_CPUID"},
};
const size_t arch_nr_required_caps = sizeof(arch_required_caps) / sizeof(arch_required_caps[0]);

/* The loaders still report in text; everything they refuse is about the image. */
int arch__load_images(struct vm *vm, const struct vm_config *cfg, struct error *e)
{
	struct arch_vm *a = &vm->arch;
	if (loader__load_kernel(&vm->mem, cfg->kernel_path, &a->ki, e->msg, sizeof(e->msg)))
		return error__coded(e, EXIT_IMAGE);
	if (cfg->initrd_path[0] &&
	    loader__load_initrd(&vm->mem, cfg->initrd_path, &a->ki, &a->initrd_addr,
				&a->initrd_size, e->msg, sizeof(e->msg)))
		return error__coded(e, EXIT_IMAGE);
	if (guest_mem__low_end(&vm->mem) < X86_MIN_MEM_BYTES)
		return error__fail(e, EXIT_USAGE, "mem_size_mib: the guest needs at least %llu MiB",
				   X86_MIN_MEM_BYTES >> 20);
	/* The page tables and GDT depend on nothing else: written here, their first
	 * touches of guest memory happen while the start-up helper still makes the VM.
	 * The PVH entry needs neither. */
	if (!a->ki.pvh)
		bootparams__write_tables(&vm->mem);
	return 0;
}

int arch__irqchip_kvm(int vm_fd, bool no_pit, const char **failed)
{
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	/* Without the PIT, KVM's PIC serves no purpose and its IOAPIC costs most of the
	 * VM's teardown: a split irqchip (ioapic.h). */
	struct kvm_enable_cap split = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {KVM_IOAPIC_NUM_PINS}};
	/* The dummy speaker answers port 0x61 in the kernel, so probing it never exits. */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
		*failed = "KVM_SET_TSS_ADDR";
	else if (ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		*failed = "KVM_SET_IDENTITY_MAP_ADDR";
	else if (no_pit)
		return ioctl(vm_fd, KVM_ENABLE_CAP, &split) < 0
			   ? (*failed = "KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)", -1)
			   : 0;
	else if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		*failed = "KVM_CREATE_IRQCHIP";
	else if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		*failed = "KVM_CREATE_PIT2";
	else
		return 0;
	return -1;
}

int arch__create_irqchip(struct vm *vm, struct error *e)
{
	if (vm->cfg->no_pit) {
		vm->arch.ioapic = ioapic__create(vm, e);
		return vm->arch.ioapic ? 0 : -1;
	}
	return 0;
}

int arch__write_boot(struct vm *vm, struct error *e)
{
	struct arch_vm *a = &vm->arch;
	size_t cmdlen = strlen(vm->cmdline);
	if (cmdlen > a->ki.cmdline_max)
		return error__fail(
		    e, EXIT_USAGE,
		    "boot_args: the command line is %zu bytes with the device announcements; "
		    "this kernel accepts at most %u",
		    cmdlen, a->ki.cmdline_max);
	int rc =
	    a->ki.pvh
		? bootparams__write_pvh(&vm->mem, vm->cmdline, a->initrd_addr, a->initrd_size)
		: bootparams__write(&vm->mem, &a->ki, vm->cmdline, a->initrd_addr, a->initrd_size);
	if (rc || mptable__write(&vm->mem, vm->nr_vcpus))
		return error__fail(e, EXIT_ERROR,
				   "cannot write the boot structures into guest memory");
	pr_debug("kernel entry 0x%llx (%s), initrd %llu bytes at 0x%llx, cmdline: %s",
		 (unsigned long long)a->ki.entry, a->ki.pvh ? "PVH" : "64-bit boot protocol",
		 (unsigned long long)a->initrd_size, (unsigned long long)a->initrd_addr,
		 vm->cmdline);
	return 0;
}

uint64_t arch__entry(const struct vm *vm)
{
	return vm->arch.ki.entry;
}

/* KVM_GET_SUPPORTED_CPUID's answer (or --cpuid-cache's copy of it) with room for
 * CPUID_MAX_ENTRIES, or NULL with errno set. */
static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = pagealloc__zalloc(sz);
	if (!c)
		return NULL;
	if (cpuid_cache__load(kvm_fd, c, CPUID_MAX_ENTRIES) == 0)
		return c;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
		cpuid_cache__store(kvm_fd, c);
		return c;
	}
	int err = errno;
	pagealloc__free(c);
	errno = err;
	return NULL;
}

/* 0.1-0.4 ms on our hosts (without --cpuid-cache), asked while the start-up helper makes the VM
 * (vm_early.h). */
void arch__early_query(struct vm *vm)
{
	pagealloc__free(vm->arch.early_cpuid);
	vm->arch.early_cpuid = supported_cpuid(vm->kvm_fd);
}

int arch__set_cpuid_cache(const char *path, char *err, size_t errlen)
{
	/* A file that is not there yet is written by the first start. */
	if (!path[0] || (file__check(path, FILE_IMAGE) < 0 && errno != ENOENT)) {
		snprintf(err, errlen, "--cpuid-cache '%s': %s", path,
			 path[0] ? file__error() : "must not be empty");
		return -1;
	}
	cpuid_cache__set_path(path);
	return 0;
}

/* The CPUID every vCPU starts from: KVM's supported one (asked at start-up, or now),
 * the TSC-deadline bit with --no-pit, then the configuration's CPU template (checked
 * against the host's vendor). A template other than None, resolved, stays in a->tpl
 * for the per-vCPU MSRs. */
static int prepare_cpuid(struct vm *vm, struct kvm_cpuid2 **out, struct error *e)
{
	struct arch_vm *a = &vm->arch;
	struct kvm_cpuid2 *c = a->early_cpuid;
	a->early_cpuid = NULL;
	if (!c && !(c = supported_cpuid(vm->kvm_fd)))
		FAIL(errno == ENOMEM ? EXIT_ERROR : EXIT_KVM, "KVM_GET_SUPPORTED_CPUID: %s",
		     strerror(errno));
	*out = c;
	/* Without the PIT (--no-pit) Linux needs a LAPIC timer it need not calibrate
	 * against it; see cpu.h. With the PIT the guest keeps the timer it always had:
	 * inside the nested test host, a Linux guest given the TSC-deadline timer idled
	 * in its first timed sleep (the net and vsock e2e tests hung). */
	if (vm->cfg->no_pit) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
			cpuid__set_tsc_deadline(c->entries, c->nent);
		else
			pr_warn("--no-pit: KVM has no TSC-deadline timer; a Linux guest will run "
				"without timer interrupts");
	}
	const struct cpu_template *t = &vm->cfg->cpu_template;
	if (cpuid__check_vendor(c->entries, c->nent, t->kind, e->msg, sizeof(e->msg)))
		return error__coded(e, EXIT_USAGE);
	/* None changes nothing: no need to resolve (and zero) a 28 KiB template. */
	if (t->kind == CPU_TPL_NONE)
		return 0;
	if (!a->tpl)
		a->tpl = malloc(sizeof(*a->tpl));
	if (!a->tpl)
		FAIL(EXIT_ERROR, "out of memory");
	cpu_templates__resolve(t, a->tpl);
	if (cpuid__apply_template(c->entries, c->nent, a->tpl, e->msg, sizeof(e->msg)))
		return error__coded(e, EXIT_USAGE);
	return 0;
}

int arch__vcpus_prepare(struct vm *vm, struct error *e)
{
	struct arch_vm *a = &vm->arch;
	pagealloc__free(a->supported_cpuid);
	a->supported_cpuid = NULL;
	if (prepare_cpuid(vm, &a->supported_cpuid, e))
		return -1;
	if (vm->cfg->cpu_template.kind != CPU_TPL_NONE)
		pr_info("CPU template %s applied", cpu_tpl__name(vm->cfg->cpu_template.kind));
	return 0;
}

int arch__check_restore_cpuid(struct vm *vm, const struct kvm_cpuid_entry2 *saved, unsigned nsaved,
			      struct error *e)
{
	const struct cpu_template *want = &vm->cfg->cpu_template;
	if (want->kind == CPU_TPL_NONE)
		return 0; /* snapshot__open already matched the vendor */
	/* What this host gives vCPU 0 under the same template: vcpu__create_all set it
	 * up as for a boot (the vendor checked there). Read back as the saved CPUID was:
	 * kvm_pvm answers KVM_GET_CPUID2 with more than it was given. */
	struct {
		struct kvm_cpuid2 hdr;
		struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	} *c = calloc(1, sizeof(*c));
	struct cpu_template *t = malloc(sizeof(*t));
	int rc = -1;
	if (!c || !t) {
		error__fail(e, EXIT_ERROR, "out of memory");
		goto out;
	}
	c->hdr.nent = CPUID_MAX_ENTRIES;
	if (ioctl(vm->vcpus[0]->fd, KVM_GET_CPUID2, c) < 0) {
		error__fail(e, EXIT_KVM, "vcpu 0: KVM_GET_CPUID2: %s", strerror(errno));
		goto out;
	}
	cpu_templates__resolve(want, t);
	char why[ERROR_MSG_MAX];
	if (cpuid__template_missing(saved, nsaved, c->e, c->hdr.nent, t, why, sizeof(why))) {
		error__fail(e, EXIT_USAGE, "snapshot: this host cannot provide it: %s", why);
		goto out;
	}
	rc = 0;
out:
	free(c);
	free(t);
	return rc;
}

int arch__vcpu_init(struct vcpu *v, uint64_t entry, struct error *e)
{
	struct vm *vm = v->vm;
	struct arch_vm *a = &vm->arch;
	unsigned i = v->index;
	unsigned threads_per_core = vm->cfg->smt && vm->nr_vcpus > 1 ? 2 : 1;
	const char *step = NULL;
	if (cpu__setup_cpuid(v->fd, a->supported_cpuid, i, vm->nr_vcpus, threads_per_core))
		step = "CPUID";
	else if (cpu__setup_msrs(v->fd))
		step = "MSRs";
	else if (a->tpl && cpu__apply_template_msrs(v->fd, a->tpl, e->msg, sizeof(e->msg)))
		return error__coded(e, EXIT_USAGE);
	else if (cpu__setup_lapic(v->fd))
		step = "local APIC";
	/* No KVM_SET_FPU: KVM makes a vCPU with FINIT's control word and MXCSR's reset
	 * value, the state Firecracker sets (the probe's fpu-reset check). */
	else if (i == 0 && cpu__setup_boot_regs(v->fd, entry, a->ki.pvh))
		step = "boot registers";
	if (step)
		FAIL(EXIT_KVM, "vcpu %u: setting up %s: %s", i, step, strerror(errno));
	return 0;
}

int arch__vcpus_ready(struct vm *vm, struct error *e)
{
	/* The supported CPUID stays until the VM goes (arch__vm_destroy): freeing it
	 * here cost the first KVM_RUN ~0.05 ms of munmap and madvise, keeping it a
	 * page or two. A resolved template is 28 KiB of written memory: it goes. */
	free(vm->arch.tpl);
	vm->arch.tpl = NULL;
	return 0;
}

int arch__irqfd_defer(struct vm *vm, int fd, uint32_t gsi)
{
	return 0; /* the in-kernel irqchip takes irqfds as soon as it exists */
}

int arch__set_irq_line(struct vm *vm, uint32_t gsi, int level)
{
	if (vm->arch.ioapic)
		return ioapic__set_line(vm->arch.ioapic, gsi, level);
	struct kvm_irq_level irq = {.irq = gsi, .level = level}; /* IOAPIC pin = GSI */
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

void arch__eoi(struct vm *vm, uint8_t vector)
{
	if (vm->arch.ioapic)
		ioapic__eoi(vm->arch.ioapic, vector);
}

void arch__shutdown_reason(struct vcpu *v, char *why, size_t len)
{
	struct kvm_regs regs = {0};
	ioctl(v->fd, KVM_GET_REGS, &regs);
	snprintf(why, len, "guest shutdown (triple fault) on vcpu %u at rip 0x%llx", v->index,
		 (unsigned long long)regs.rip);
}

/* Local APIC register offsets (Intel SDM vol. 3, table 11-1): no UAPI header has them. */
#define LAPIC_TPR   0x080
#define LAPIC_ISR   0x100
#define LAPIC_IRR   0x200
#define LAPIC_LVTT  0x320
#define LAPIC_TMICT 0x380
#define LAPIC_TMCCT 0x390

static uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned off)
{
	uint32_t v;
	memcpy(&v, l->regs + off, sizeof(v));
	return v;
}

/* The highest vector set in the 256-bit ISR or IRR at `base`, or -1. */
static int lapic_top_vector(const struct kvm_lapic_state *l, unsigned base)
{
	for (int word = 7; word >= 0; word--) {
		uint32_t bits = lapic_reg(l, base + 0x10u * (unsigned)word);
		if (bits)
			return word * 32 + 31 - __builtin_clz(bits);
	}
	return -1;
}

static const char *mp_state_name(uint32_t s)
{
	switch (s) {
	case KVM_MP_STATE_RUNNABLE:
		return "runnable";
	case KVM_MP_STATE_UNINITIALIZED:
		return "waiting-for-INIT";
	case KVM_MP_STATE_INIT_RECEIVED:
		return "INIT-received";
	case KVM_MP_STATE_HALTED:
		return "halted";
	case KVM_MP_STATE_SIPI_RECEIVED:
		return "SIPI-received";
	default:
		return "other";
	}
}

void arch__vcpu_describe(struct vcpu *v, char *buf, size_t len)
{
	struct kvm_mp_state mp = {0};
	struct kvm_regs regs = {0};
	struct kvm_lapic_state l;
	bool have_mp = ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0;
	bool have_regs = ioctl(v->fd, KVM_GET_REGS, &regs) == 0;
	bool have_lapic = ioctl(v->fd, KVM_GET_LAPIC, &l) == 0;
	int n = snprintf(buf, len, "%s", have_mp ? mp_state_name(mp.mp_state) : "state unknown");
	if (have_regs && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " rip=0x%llx IF=%u",
			      (unsigned long long)regs.rip, (unsigned)((regs.rflags >> 9) & 1));
	if (have_lapic && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n,
			 " apic: tpr=0x%x irr=%d isr=%d lvtt=0x%x tmict=%u tmcct=%u",
			 lapic_reg(&l, LAPIC_TPR), lapic_top_vector(&l, LAPIC_IRR),
			 lapic_top_vector(&l, LAPIC_ISR), lapic_reg(&l, LAPIC_LVTT),
			 lapic_reg(&l, LAPIC_TMICT), lapic_reg(&l, LAPIC_TMCCT));
}

int arch__irqchip_get(struct vm *vm, struct kvm_irqchip *c)
{
	if (!vm->arch.ioapic)
		return ioctl(vm->vm_fd, KVM_GET_IRQCHIP, c) < 0 ? -1 : 0;
	memset(&c->chip, 0, sizeof(c->chip));
	if (c->chip_id == KVM_IRQCHIP_IOAPIC)
		ioapic__get_state(vm->arch.ioapic, &c->chip.ioapic);
	return 0;
}

int arch__irqchip_set(struct vm *vm, const struct kvm_irqchip *c, const char *name, struct error *e)
{
	if (vm->arch.ioapic)
		return c->chip_id == KVM_IRQCHIP_IOAPIC
			   ? ioapic__set_state(vm->arch.ioapic, &c->chip.ioapic, e)
			   : 0;
	struct kvm_irqchip copy = *c;
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &copy) < 0)
		FAIL(EXIT_KVM, "KVM_SET_IRQCHIP (%s): %s", name, strerror(errno));
	return 0;
}

void arch__irqchip_describe(struct vm *vm, char *buf, size_t len)
{
	struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_IOAPIC};
	if (arch__irqchip_get(vm, &chip) < 0) {
		snprintf(buf, len, "KVM_GET_IRQCHIP: %s", strerror(errno));
		return;
	}
	const struct kvm_ioapic_state *io = &chip.chip.ioapic;
	/* Each unmasked pin: vector, and R when a level interrupt awaits its EOI. */
	int n = snprintf(buf, len, "ioapic%s irr=0x%x", vm->arch.ioapic ? " (split)" : "", io->irr);
	for (unsigned pin = 0; pin < KVM_IOAPIC_NUM_PINS && n >= 0 && (size_t)n < len; pin++) {
		if (io->redirtbl[pin].fields.mask)
			continue;
		n += snprintf(buf + n, len - (size_t)n, " %u:v%u%s%s", pin,
			      io->redirtbl[pin].fields.vector,
			      io->redirtbl[pin].fields.trig_mode ? "L" : "E",
			      io->redirtbl[pin].fields.remote_irr ? "R" : "");
	}
}

void arch__vm_destroy(struct vm *vm)
{
	pagealloc__free(vm->arch.supported_cpuid);
	vm->arch.supported_cpuid = NULL;
	pagealloc__free(vm->arch.early_cpuid);
	vm->arch.early_cpuid = NULL;
	free(vm->arch.tpl);
	vm->arch.tpl = NULL;
	ioapic__destroy(vm->arch.ioapic);
	vm->arch.ioapic = NULL;
}
