#include "cpu.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "layout.h"

#define CPUID_HYPERVISOR_BIT   (1u << 31) /* leaf 1 ECX */
#define CPUID_HTT_BIT	       (1u << 28) /* leaf 1 EDX */
#define CPUID_TSC_DEADLINE_BIT (1u << 24) /* leaf 1 ECX */
#define KVM_SIGNATURE_LEAF     0x40000000u
#define KVM_FEATURES_LEAF      0x40000001u

struct kvm_cpuid_entry2 *cpuid__find(struct kvm_cpuid_entry2 *entries, unsigned nent,
				     uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < nent; i++)
		if (entries[i].function == function &&
		    (!(entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     entries[i].index == index))
			return &entries[i];
	return NULL;
}

bool cpuid__set_tsc_deadline(struct kvm_cpuid_entry2 *entries, unsigned nent)
{
	struct kvm_cpuid_entry2 *l1 = cpuid__find(entries, nent, 1, 0);
	if (!l1)
		return false;
	l1->ecx |= CPUID_TSC_DEADLINE_BIT;
	return true;
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;
	while ((1u << b) < n)
		b++;
	return b;
}

static struct kvm_cpuid_entry2 *add_leaf(struct kvm_cpuid_entry2 *e, unsigned *nent, unsigned max,
					 uint32_t function)
{
	if (*nent >= max)
		return NULL;
	struct kvm_cpuid_entry2 *n = &e[(*nent)++];
	memset(n, 0, sizeof(*n));
	n->function = function;
	return n;
}

void cpuid__shape(struct kvm_cpuid_entry2 *e, unsigned *nent, unsigned max, unsigned index,
		  unsigned nr_vcpus, unsigned threads_per_core)
{
	/* APIC id = core << smt_bits | thread; ids are consecutive vCPU indices. */
	unsigned smt_bits = bits_for(threads_per_core);
	unsigned core_bits = bits_for(nr_vcpus);
	for (unsigned i = 0; i < *nent; i++) {
		struct kvm_cpuid_entry2 *l = &e[i];
		switch (l->function) {
		case 1:
			l->ecx |= CPUID_HYPERVISOR_BIT;
			l->ebx = (l->ebx & 0x0000ffffu) | (index << 24) | ((nr_vcpus & 0xff) << 16);
			if (nr_vcpus > 1)
				l->edx |= CPUID_HTT_BIT;
			else
				l->edx &= ~CPUID_HTT_BIT;
			break;
		case 4: {
			/* Intel deterministic cache leaf: L1/L2 per core, L3 shared by all. */
			unsigned level = (l->eax >> 5) & 7;
			unsigned sharing = level >= 3 ? nr_vcpus - 1 : threads_per_core - 1;
			unsigned cores = nr_vcpus / threads_per_core;
			l->eax = (l->eax & 0x3fffu) | (sharing << 14) | ((cores - 1) << 26);
			break;
		}
		case 0xb:
		case 0x1f:
			/* x2APIC topology: level 0 = SMT, level 1 = core. */
			l->edx = index;
			if (l->index == 0) {
				l->eax = smt_bits;
				l->ebx = threads_per_core;
				l->ecx = 0x100;
			} else if (l->index == 1) {
				l->eax = core_bits;
				l->ebx = nr_vcpus;
				l->ecx = 0x200 | 1;
			} else {
				l->eax = l->ebx = 0;
				l->ecx = l->index;
			}
			break;
		case 0x80000008:
			/* AMD: NC = cores - 1, ApicIdCoreIdSize. */
			l->ecx = (l->ecx & ~0xf0ffu) | (nr_vcpus - 1) | (core_bits << 12);
			break;
		case 0x8000001e:
			l->eax = index;
			/* compute unit id, and threads per unit - 1 in bits 15:8 */
			l->ebx = ((index >> smt_bits) & 0xff) | ((threads_per_core - 1) << 8);
			l->ecx = 0;
			break;
		}
	}
	struct kvm_cpuid_entry2 *sig = cpuid__find(e, *nent, KVM_SIGNATURE_LEAF, 0);
	if (!sig)
		sig = add_leaf(e, nent, max, KVM_SIGNATURE_LEAF);
	if (sig) {
		sig->eax = KVM_FEATURES_LEAF;
		memcpy(&sig->ebx, "KVMK", 4);
		memcpy(&sig->ecx, "VMKV", 4);
		memcpy(&sig->edx, "M\0\0\0", 4);
	}
	if (!cpuid__find(e, *nent, KVM_FEATURES_LEAF, 0)) {
		struct kvm_cpuid_entry2 *f = add_leaf(e, nent, max, KVM_FEATURES_LEAF);
		if (f)
			f->eax = (1u << 3) | (1u << 24); /* CLOCKSOURCE2, CLOCKSOURCE_STABLE_BIT */
	}
}

enum cpu_tpl_vendor cpuid__vendor(const struct kvm_cpuid_entry2 *entries, unsigned nent)
{
	for (unsigned i = 0; i < nent; i++) {
		if (entries[i].function != 0)
			continue;
		char v[13];
		memcpy(v, &entries[i].ebx, 4);
		memcpy(v + 4, &entries[i].edx, 4);
		memcpy(v + 8, &entries[i].ecx, 4);
		v[12] = '\0';
		if (!strcmp(v, cpu_tpl__vendor_name(CPU_TPL_INTEL)))
			return CPU_TPL_INTEL;
		if (!strcmp(v, cpu_tpl__vendor_name(CPU_TPL_AMD)))
			return CPU_TPL_AMD;
		break;
	}
	return CPU_TPL_ANY;
}

int cpuid__check_vendor(const struct kvm_cpuid_entry2 *entries, unsigned nent, uint32_t kind,
			char *err, size_t errlen)
{
	enum cpu_tpl_vendor want = cpu_tpl__vendor(kind), have = cpuid__vendor(entries, nent);
	if (want == CPU_TPL_ANY || want == have)
		return 0;
	snprintf(err, errlen,
		 "cpu_template: %s is a template for %s CPUs; this host's CPU is %s (a template "
		 "cannot make one vendor look like another)",
		 cpu_tpl__name(kind), want == CPU_TPL_INTEL ? "Intel" : "AMD",
		 have == CPU_TPL_ANY ? "of another vendor" : cpu_tpl__vendor_name(have));
	return -1;
}

static struct kvm_cpuid_entry2 *find_exact(const struct kvm_cpuid_entry2 *e, unsigned nent,
					   uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < nent; i++)
		if (e[i].function == function && e[i].index == index)
			return (struct kvm_cpuid_entry2 *)&e[i];
	return NULL;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *l, uint32_t reg)
{
	switch (reg) {
	case CPU_TPL_EAX:
		return &l->eax;
	case CPU_TPL_EBX:
		return &l->ebx;
	case CPU_TPL_ECX:
		return &l->ecx;
	default:
		return &l->edx;
	}
}

static const char *const reg_names[] = {"eax", "ebx", "ecx", "edx"};

int cpuid__apply_template(struct kvm_cpuid_entry2 *entries, unsigned nent,
			  const struct cpu_template *t, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < t->nr_leaves; i++) {
		const struct cpu_tpl_leaf *m = &t->leaves[i];
		struct kvm_cpuid_entry2 *l = find_exact(entries, nent, m->leaf, m->subleaf);
		if (!l) {
			snprintf(err, errlen,
				 "cpu template %s: CPUID leaf 0x%x subleaf 0x%x is not one KVM "
				 "offers on this host",
				 cpu_tpl__name(t->kind), m->leaf, m->subleaf);
			return -1;
		}
		l->flags = m->flags;
		for (uint32_t k = 0; k < m->nr_mods && k < CPU_TPL_MAX_REG_MODS; k++) {
			uint32_t *r = reg_of(l, m->mods[k].reg);
			*r = (*r & ~m->mods[k].filter) | m->mods[k].value;
		}
	}
	return 0;
}

int cpuid__template_missing(const struct kvm_cpuid_entry2 *saved, unsigned nsaved,
			    const struct kvm_cpuid_entry2 *fresh, unsigned nfresh,
			    const struct cpu_template *t, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < t->nr_leaves; i++) {
		const struct cpu_tpl_leaf *m = &t->leaves[i];
		struct kvm_cpuid_entry2 *s = find_exact(saved, nsaved, m->leaf, m->subleaf);
		struct kvm_cpuid_entry2 *f = find_exact(fresh, nfresh, m->leaf, m->subleaf);
		if (!s)
			continue; /* the guest never had it */
		for (uint32_t k = 0; k < m->nr_mods && k < CPU_TPL_MAX_REG_MODS; k++) {
			uint32_t reg = m->mods[k].reg;
			uint32_t lack = *reg_of(s, reg) & ~(f ? *reg_of(f, reg) : 0);
			if (!lack)
				continue;
			snprintf(err, errlen,
				 "cpu template %s: the guest has CPUID leaf 0x%x subleaf 0x%x %s "
				 "bit %d, which KVM on this host does not offer",
				 cpu_tpl__name(t->kind), m->leaf, m->subleaf, reg_names[reg & 3],
				 __builtin_ctz(lack));
			return -1;
		}
	}
	return 0;
}

int cpu__setup_cpuid(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned index,
		     unsigned nr_vcpus, unsigned threads_per_core)
{
	/* On the stack: 10 KiB from the heap was a mapping made and given back for each
	 * vCPU (~0.03 ms before vCPU 0's first KVM_RUN). Only the head is zeroed: the
	 * entries past nent are never read (add_leaf zeroes what it adds), and zeroing all
	 * of them faulted in two stack pages more. */
	struct {
		struct kvm_cpuid2 head;
		struct kvm_cpuid_entry2 entries[CPUID_MAX_ENTRIES];
	} buf;
	memset(&buf.head, 0, sizeof(buf.head));
	_Static_assert(offsetof(typeof(buf), entries) == offsetof(struct kvm_cpuid2, entries),
		       "entries must follow the header");
	struct kvm_cpuid2 *c = &buf.head;
	unsigned nent = supported->nent < CPUID_MAX_ENTRIES ? supported->nent : CPUID_MAX_ENTRIES;
	memcpy(c->entries, supported->entries, nent * sizeof(c->entries[0]));
	cpuid__shape(c->entries, &nent, CPUID_MAX_ENTRIES, index, nr_vcpus, threads_per_core);
	c->nent = nent;
	return ioctl(vcpu_fd, KVM_SET_CPUID2, c);
}

int cpu__setup_msrs(int vcpu_fd)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} init[] = {
	    {MSR_IA32_SYSENTER_CS, 0},
	    {MSR_IA32_SYSENTER_ESP, 0},
	    {MSR_IA32_SYSENTER_EIP, 0},
	    {MSR_STAR, 0},
	    {MSR_CSTAR, 0},
	    {MSR_KERNEL_GS_BASE, 0},
	    {MSR_SYSCALL_MASK, 0},
	    {MSR_LSTAR, 0},
	    {MSR_IA32_TSC, 0},
	    /* Fast strings on; MTRRs enabled with write-back as the default type, as
	     * firmware would leave them, or Linux maps all memory uncached. */
	    {MSR_IA32_MISC_ENABLE, 1},
	    {MSR_MTRR_DEF_TYPE, (1u << 11) | 6},
	};
	enum { N = sizeof(init) / sizeof(init[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[N];
	} msrs;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = N;
	for (unsigned i = 0; i < N; i++) {
		msrs.e[i].index = init[i].index;
		msrs.e[i].data = init[i].data;
	}
	int n = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
	if (n < 0)
		return -1;
	if (n != N) {
		errno = EINVAL; /* KVM stops at the first MSR it refuses */
		return -1;
	}
	return 0;
}

int cpu__apply_template_msrs(int vcpu_fd, const struct cpu_template *t, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < t->nr_msrs; i++) {
		struct {
			struct kvm_msrs hdr;
			struct kvm_msr_entry e;
		} m;
		memset(&m, 0, sizeof(m));
		m.hdr.nmsrs = 1;
		m.e.index = t->msrs[i].addr;
		if (ioctl(vcpu_fd, KVM_GET_MSRS, &m) != 1) {
			snprintf(err, errlen,
				 "cpu template %s: MSR 0x%x is not one KVM offers on this host",
				 cpu_tpl__name(t->kind), t->msrs[i].addr);
			return -1;
		}
		m.e.data = (m.e.data & ~t->msrs[i].filter) | t->msrs[i].value;
		if (ioctl(vcpu_fd, KVM_SET_MSRS, &m) != 1) {
			snprintf(err, errlen,
				 "cpu template %s: KVM refuses MSR 0x%x = 0x%llx on this host",
				 cpu_tpl__name(t->kind), t->msrs[i].addr,
				 (unsigned long long)m.e.data);
			return -1;
		}
	}
	return 0;
}

#define APIC_LVT0	 0x350
#define APIC_LVT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7

static void lvt_set_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, l->regs + reg, 4);
	v = (v & ~0x700u) | (mode << 8);
	memcpy(l->regs + reg, &v, 4);
}

int cpu__setup_lapic(int vcpu_fd)
{
	/* LINT0 takes the PIC's ExtINT, LINT1 NMIs: what the MP table tells the guest. */
	struct kvm_lapic_state l;
	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &l) < 0)
		return -1;
	lvt_set_mode(&l, APIC_LVT0, APIC_MODE_EXTINT);
	lvt_set_mode(&l, APIC_LVT1, APIC_MODE_NMI);
	return ioctl(vcpu_fd, KVM_SET_LAPIC, &l);
}

#define X86_CR0_PE     0x1ull
#define X86_CR0_ET     0x10ull
#define X86_CR0_PG     0x80000000ull
#define X86_CR4_PAE    0x20ull
#define X86_EFER_LME   0x100ull
#define X86_EFER_LMA   0x400ull
#define X86_BOOT_STACK 0x8ff0ull

static struct kvm_segment flat_segment(uint16_t sel, uint8_t type, int code64)
{
	return (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = sel,
	    .type = type,
	    .present = 1,
	    .dpl = 0,
	    .db = code64 ? 0 : 1,
	    .s = 1,
	    .l = code64 ? 1 : 0,
	    .g = 1,
	};
}

int cpu__setup_boot_regs(int vcpu_fd, uint64_t entry, bool pvh)
{
	struct kvm_sregs s;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	s.cs = flat_segment(X86_BOOT_CS, 0xb, !pvh);
	s.ds = s.es = s.fs = s.gs = s.ss = flat_segment(X86_BOOT_DS, 0x3, 0);
	s.idt.base = 0;
	s.idt.limit = 0;
	if (pvh) {
		/* pvh.pandoc: flat 32-bit segments, CR0.PE alone, CR4 clear, a busy
		 * 32-bit TSS at 0 of 0x67 bytes (the reset TR but for its limit); the
		 * kernel loads its own GDT first, so none is written. */
		s.tr = (struct kvm_segment){.limit = 0x67, .type = 0xb, .present = 1};
		s.gdt.base = 0;
		s.gdt.limit = 0;
		s.cr0 = X86_CR0_PE | X86_CR0_ET;
		s.cr3 = 0;
		s.cr4 = 0;
		s.efer = 0;
	} else {
		s.gdt.base = X86_GDT_ADDR;
		s.gdt.limit = 4 * 8 - 1;
		s.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
		s.cr3 = X86_PML4_ADDR;
		s.cr4 = X86_CR4_PAE;
		s.efer = X86_EFER_LME | X86_EFER_LMA;
	}
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &s) < 0)
		return -1;

	struct kvm_regs r;
	memset(&r, 0, sizeof(r));
	r.rflags = 0x2;
	r.rip = entry;
	if (pvh) {
		r.rbx = X86_PVH_INFO_ADDR;
	} else {
		r.rsi = X86_ZERO_PAGE_ADDR;
		r.rsp = r.rbp = X86_BOOT_STACK;
	}
	return ioctl(vcpu_fd, KVM_SET_REGS, &r);
}
