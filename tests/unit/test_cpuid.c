/* CPUID shaping: APIC ids, topology, hypervisor bit and KVM leaves. */
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "check.h"

static unsigned base_leaves(struct kvm_cpuid_entry2 *e)
{
	unsigned n = 0;
	memset(e, 0, sizeof(*e) * CPUID_MAX_ENTRIES);
	e[n++] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0xd};
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 1, .ebx = 0xff0f0800, .ecx = 0x1, .edx = 1u << 28};
	e[n++] = (struct kvm_cpuid_entry2){.function = 4,
					   .index = 0,
					   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					   .eax = (1 << 5) | 0x121};
	e[n++] = (struct kvm_cpuid_entry2){.function = 4,
					   .index = 3,
					   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					   .eax = (3 << 5) | 0x163};
	for (unsigned i = 0; i < 3; i++)
		e[n++] = (struct kvm_cpuid_entry2){
		    .function = 0xb, .index = i, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x80000008, .ecx = 0x7007};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x8000001e, .eax = 99, .ebx = 0x100};
	return n;
}

static void shapes_each_vcpu(void)
{
	static struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	for (unsigned idx = 0; idx < 4; idx++) {
		unsigned n = base_leaves(e);
		cpuid__shape(e, &n, CPUID_MAX_ENTRIES, idx, 4, 1);
		struct kvm_cpuid_entry2 *l1 = cpuid__find(e, n, 1, 0);
		CHECK(l1 && (l1->ecx & (1u << 31))); /* hypervisor */
		CHECK(l1 && (l1->ecx & 1));	     /* untouched feature bits stay */
		CHECK_EQ(l1->ebx >> 24, idx);	     /* initial APIC id */
		CHECK_EQ((l1->ebx >> 16) & 0xff, 4); /* logical processors */
		CHECK_EQ(l1->ebx & 0xffff, 0x0800);  /* CLFLUSH size kept */
		CHECK(l1->edx & (1u << 28));	     /* HTT with several CPUs */
		struct kvm_cpuid_entry2 *b0 = cpuid__find(e, n, 0xb, 0),
					*b1 = cpuid__find(e, n, 0xb, 1),
					*b2 = cpuid__find(e, n, 0xb, 2);
		CHECK(b0 && b1 && b2);
		CHECK_EQ(b0->ebx, 1);
		CHECK_EQ(b0->ecx, 0x100);
		CHECK_EQ(b1->eax, 2); /* 4 CPUs need 2 bits */
		CHECK_EQ(b1->ebx, 4);
		CHECK_EQ(b1->ecx, 0x201);
		CHECK_EQ(b2->ecx & 0xff00, 0); /* invalid level ends the list */
		CHECK_EQ(b0->edx, idx);
		CHECK_EQ(b1->edx, idx);
		struct kvm_cpuid_entry2 *c0 = cpuid__find(e, n, 4, 0),
					*c3 = cpuid__find(e, n, 4, 3);
		CHECK_EQ(c0->eax >> 26, 3);
		CHECK_EQ((c0->eax >> 14) & 0xfff, 0);
		CHECK_EQ((c3->eax >> 14) & 0xfff, 3);
		CHECK_EQ(c0->eax & 0x3fff, 0x121);
		struct kvm_cpuid_entry2 *a8 = cpuid__find(e, n, 0x80000008, 0);
		CHECK_EQ(a8->ecx & 0xff, 3);
		CHECK_EQ((a8->ecx >> 12) & 0xf, 2);
		CHECK_EQ(cpuid__find(e, n, 0x8000001e, 0)->eax, idx);
		struct kvm_cpuid_entry2 *sig = cpuid__find(e, n, 0x40000000, 0);
		CHECK(sig != NULL);
		char vendor[13] = {0};
		memcpy(vendor, &sig->ebx, 4);
		memcpy(vendor + 4, &sig->ecx, 4);
		memcpy(vendor + 8, &sig->edx, 4);
		CHECK_STR(vendor, "KVMKVMKVM");
		CHECK(sig->eax >= 0x40000001);
		CHECK(cpuid__find(e, n, 0x40000001, 0) != NULL);
	}
}

static void single_vcpu_and_full_table(void)
{
	static struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	unsigned n = base_leaves(e);
	cpuid__shape(e, &n, CPUID_MAX_ENTRIES, 0, 1, 1);
	CHECK_EQ(cpuid__find(e, n, 1, 0)->edx & (1u << 28), 0);
	CHECK_EQ(cpuid__find(e, n, 0xb, 1)->eax, 0);
	/* A table with no room left is not overrun. */
	n = base_leaves(e);
	unsigned max = n;
	cpuid__shape(e, &n, max, 0, 2, 1);
	CHECK_EQ(n, max);
	/* KVM's own signature leaf is rewritten, not duplicated. */
	n = base_leaves(e);
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x40000000, .eax = 0x40000001};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x40000001, .eax = 0x1234};
	unsigned before = n;
	cpuid__shape(e, &n, CPUID_MAX_ENTRIES, 0, 2, 1);
	CHECK_EQ(n, before);
	CHECK_EQ(cpuid__find(e, n, 0x40000001, 0)->eax, 0x1234);
}

/* smt: two threads per core, so 4 vCPUs are 2 cores of 2 threads. */
static void smt_topology(void)
{
	static struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	for (unsigned idx = 0; idx < 4; idx++) {
		unsigned n = base_leaves(e);
		cpuid__shape(e, &n, CPUID_MAX_ENTRIES, idx, 4, 2);
		struct kvm_cpuid_entry2 *b0 = cpuid__find(e, n, 0xb, 0),
					*b1 = cpuid__find(e, n, 0xb, 1);
		CHECK_EQ(b0->eax, 1); /* one bit of thread id */
		CHECK_EQ(b0->ebx, 2);
		CHECK_EQ(b1->eax, 2);
		CHECK_EQ(b1->ebx, 4);
		CHECK_EQ(b0->edx, idx);
		struct kvm_cpuid_entry2 *c0 = cpuid__find(e, n, 4, 0),
					*c3 = cpuid__find(e, n, 4, 3);
		CHECK_EQ((c0->eax >> 14) & 0xfff, 1); /* L1 shared by the 2 threads */
		CHECK_EQ((c3->eax >> 14) & 0xfff, 3); /* L3 by all 4 */
		CHECK_EQ(c0->eax >> 26, 1);	      /* 2 cores */
		struct kvm_cpuid_entry2 *a1e = cpuid__find(e, n, 0x8000001e, 0);
		CHECK_EQ(a1e->ebx & 0xff, idx / 2);
		CHECK_EQ((a1e->ebx >> 8) & 0xff, 1);
	}
}

/* --no-pit guests need the TSC-deadline LAPIC timer: Linux cannot verify a periodic
 * LAPIC timer without the PIT's jiffies. */
static void tsc_deadline(void)
{
	static struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	unsigned n = base_leaves(e);
	CHECK(cpuid__set_tsc_deadline(e, n));
	struct kvm_cpuid_entry2 *l1 = cpuid__find(e, n, 1, 0);
	CHECK(l1->ecx & (1u << 24));
	CHECK(l1->ecx & 1); /* other feature bits stay */
	CHECK_EQ(l1->edx, 1u << 28);
	/* It survives the per-vCPU shaping. */
	cpuid__shape(e, &n, CPUID_MAX_ENTRIES, 1, 2, 1);
	CHECK(cpuid__find(e, n, 1, 0)->ecx & (1u << 24));
	/* A table without leaf 1 is left alone. */
	n = base_leaves(e);
	e[1].function = 2;
	CHECK(!cpuid__set_tsc_deadline(e, n));
	CHECK_EQ(e[1].ecx, 0x1);
}

/* A custom template on a table: x bits kept, 0 and 1 forced, the flags taken, each
 * subleaf on its own. */
static void template_applies_bitmaps(void)
{
	static struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	unsigned n = base_leaves(e);
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 0xffffffff};
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 7, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x30};
	static struct cpu_template t;
	memset(&t, 0, sizeof(t));
	t.kind = CPU_TPL_CUSTOM;
	t.nr_leaves = 2;
	/* leaf 1 ecx = 0x1: clear bit 0, set bit 4, keep the rest; edx untouched. */
	t.leaves[0] =
	    (struct cpu_tpl_leaf){.leaf = 1,
				  .nr_mods = 2,
				  .mods = {{.reg = CPU_TPL_ECX, .filter = 0x11, .value = 0x10},
					   {.reg = CPU_TPL_EAX, .filter = 0xf, .value = 0x5}}};
	/* leaf 7 subleaf 1 only; the flags replace KVM's. */
	t.leaves[1] = (struct cpu_tpl_leaf){
	    .leaf = 7,
	    .subleaf = 1,
	    .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX | KVM_CPUID_FLAG_STATEFUL_FUNC,
	    .nr_mods = 1,
	    .mods = {{.reg = CPU_TPL_EAX, .filter = 0x10, .value = 0}}};
	char err[256] = "";
	CHECK_EQ(cpuid__apply_template(e, n, &t, err, sizeof(err)), 0);
	struct kvm_cpuid_entry2 *l1 = cpuid__find(e, n, 1, 0);
	CHECK_EQ(l1->ecx, 0x10);
	CHECK_EQ(l1->eax, 0x5);
	CHECK_EQ(l1->edx, 1u << 28);
	CHECK_EQ(l1->ebx, 0xff0f0800);
	CHECK_EQ(cpuid__find(e, n, 7, 0)->ebx, 0xffffffff);
	struct kvm_cpuid_entry2 *l71 = cpuid__find(e, n, 7, 1);
	CHECK_EQ(l71->eax, 0x20);
	CHECK_EQ(l71->flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX | KVM_CPUID_FLAG_STATEFUL_FUNC);
	/* The shaping after it keeps the template's feature bits. */
	cpuid__shape(e, &n, CPUID_MAX_ENTRIES, 0, 2, 1);
	CHECK_EQ(cpuid__find(e, n, 1, 0)->ecx, 0x10 | (1u << 31));
	/* Applying it twice changes nothing more. */
	CHECK_EQ(cpuid__apply_template(e, n, &t, err, sizeof(err)), 0);
	CHECK_EQ(cpuid__find(e, n, 7, 1)->eax, 0x20);
}

static void template_missing_leaf(void)
{
	static struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	unsigned n = base_leaves(e);
	static struct cpu_template t;
	memset(&t, 0, sizeof(t));
	t.kind = CPU_TPL_CUSTOM;
	t.nr_leaves = 2;
	t.leaves[0] = (struct cpu_tpl_leaf){
	    .leaf = 1, .nr_mods = 1, .mods = {{.reg = CPU_TPL_ECX, .filter = 1, .value = 0}}};
	/* leaf 4 exists with subleaves 0 and 3, not 2 */
	t.leaves[1] = (struct cpu_tpl_leaf){
	    .leaf = 4, .subleaf = 2, .nr_mods = 1, .mods = {{.filter = 1, .value = 1}}};
	char err[256] = "";
	CHECK_EQ(cpuid__apply_template(e, n, &t, err, sizeof(err)), -1);
	CHECK(strstr(err, "leaf 0x4 subleaf 0x2") != NULL);
	t.leaves[1].leaf = 0x8000001f;
	t.leaves[1].subleaf = 0;
	CHECK_EQ(cpuid__apply_template(e, n, &t, err, sizeof(err)), -1);
	CHECK(strstr(err, "leaf 0x8000001f") != NULL);
}

static void set_vendor(struct kvm_cpuid_entry2 *l0, const char *v)
{
	memcpy(&l0->ebx, v, 4);
	memcpy(&l0->edx, v + 4, 4);
	memcpy(&l0->ecx, v + 8, 4);
}

/* A static template is for one vendor, refused by name on the other. */
static void template_vendor(void)
{
	static struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	unsigned n = base_leaves(e);
	char err[256] = "";
	set_vendor(&e[0], "AuthenticAMD");
	CHECK_EQ(cpuid__vendor(e, n), CPU_TPL_AMD);
	CHECK_EQ(cpuid__check_vendor(e, n, CPU_TPL_T2A, err, sizeof(err)), 0);
	CHECK_EQ(cpuid__check_vendor(e, n, CPU_TPL_NONE, err, sizeof(err)), 0);
	CHECK_EQ(cpuid__check_vendor(e, n, CPU_TPL_CUSTOM, err, sizeof(err)), 0);
	CHECK_EQ(cpuid__check_vendor(e, n, CPU_TPL_T2, err, sizeof(err)), -1);
	CHECK(strstr(err, "T2 is a template for Intel") && strstr(err, "AuthenticAMD"));
	set_vendor(&e[0], "GenuineIntel");
	CHECK_EQ(cpuid__vendor(e, n), CPU_TPL_INTEL);
	for (uint32_t k = CPU_TPL_C3; k <= CPU_TPL_T2CL; k++)
		CHECK_EQ(cpuid__check_vendor(e, n, k, err, sizeof(err)), 0);
	CHECK_EQ(cpuid__check_vendor(e, n, CPU_TPL_T2A, err, sizeof(err)), -1);
	CHECK(strstr(err, "T2A is a template for AMD") != NULL);
	set_vendor(&e[0], "HygonGenuine");
	CHECK_EQ(cpuid__check_vendor(e, n, CPU_TPL_T2A, err, sizeof(err)), -1);
}

/* T2A on a table shaped like KVM's on an AMD host: the masked bits are gone. */
static void t2a_masks(void)
{
	static struct kvm_cpuid_entry2 e[CPUID_MAX_ENTRIES];
	unsigned n = 0;
	memset(e, 0, sizeof(e));
	e[n] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0x10};
	set_vendor(&e[n++], "AuthenticAMD");
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 1, .eax = 0x00a00f11, .ecx = 0xfef83203, .edx = 0x178bfbff};
	e[n++] = (struct kvm_cpuid_entry2){.function = 7,
					   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					   .ebx = 0x219c07ab,
					   .ecx = 0x0040069c};
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 0xd, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x207};
	e[n++] = (struct kvm_cpuid_entry2){
	    .function = 0xd, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0xf};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x80000001, .ecx = 0x75c237ff};
	e[n++] = (struct kvm_cpuid_entry2){.function = 0x80000008, .ebx = 0x0300d205};
	static struct cpu_template in, t;
	in.kind = CPU_TPL_T2A;
	cpu_templates__resolve(&in, &t);
	char err[256] = "";
	CHECK_EQ(cpuid__apply_template(e, n, &t, err, sizeof(err)), 0);
	CHECK_STR(err, "");
	CHECK_EQ(cpuid__find(e, n, 1, 0)->eax & 0x0fff3fff, 0x000306f2);
	CHECK_EQ(cpuid__find(e, n, 7, 0)->ebx & (1u << 9), 1u << 9);	/* ERMS set */
	CHECK_EQ(cpuid__find(e, n, 7, 0)->ebx & (1u << 5), 1u << 5);	/* AVX2 kept (x) */
	CHECK_EQ(cpuid__find(e, n, 7, 0)->ecx & (1u << 9), 0);		/* VAES cleared */
	CHECK_EQ(cpuid__find(e, n, 0xd, 1)->eax & 0xe, 0);		/* XSAVEC.. cleared */
	CHECK_EQ(cpuid__find(e, n, 0x80000008, 0)->ebx & (1u << 0), 0); /* CLZERO off */
}

/* A restore needs every bit the guest had in the template's registers. */
static void template_restore_check(void)
{
	static struct kvm_cpuid_entry2 saved[CPUID_MAX_ENTRIES], fresh[CPUID_MAX_ENTRIES];
	unsigned ns = base_leaves(saved), nf = base_leaves(fresh);
	static struct cpu_template t;
	memset(&t, 0, sizeof(t));
	t.kind = CPU_TPL_CUSTOM;
	t.nr_leaves = 1;
	t.leaves[0] = (struct cpu_tpl_leaf){
	    .leaf = 1, .nr_mods = 1, .mods = {{.reg = CPU_TPL_ECX, .filter = 2, .value = 0}}};
	char err[256] = "";
	CHECK_EQ(cpuid__template_missing(saved, ns, fresh, nf, &t, err, sizeof(err)), 0);
	/* This host lacks ecx bit 0, which the guest had: refused, named. */
	cpuid__find(fresh, nf, 1, 0)->ecx = 0;
	CHECK_EQ(cpuid__template_missing(saved, ns, fresh, nf, &t, err, sizeof(err)), -1);
	CHECK(strstr(err, "leaf 0x1 subleaf 0x0 ecx bit 0") != NULL);
	/* A bit outside the template's registers is not its business. */
	cpuid__find(fresh, nf, 1, 0)->ecx = 1;
	cpuid__find(fresh, nf, 1, 0)->edx = 0;
	CHECK_EQ(cpuid__template_missing(saved, ns, fresh, nf, &t, err, sizeof(err)), 0);
	/* A leaf this host does not have at all. */
	t.leaves[0].leaf = 0x80000008;
	t.leaves[0].mods[0].reg = CPU_TPL_ECX;
	fresh[nf - 2].function = 0x12345;
	CHECK_EQ(cpuid__template_missing(saved, ns, fresh, nf, &t, err, sizeof(err)), -1);
	CHECK(strstr(err, "leaf 0x80000008") != NULL);
}

CHECK_MAIN("cpuid", CHECK_CASE(shapes_each_vcpu), CHECK_CASE(single_vcpu_and_full_table),
	   CHECK_CASE(smt_topology), CHECK_CASE(tsc_deadline), CHECK_CASE(template_applies_bitmaps),
	   CHECK_CASE(template_missing_leaf), CHECK_CASE(template_vendor), CHECK_CASE(t2a_masks),
	   CHECK_CASE(template_restore_check))
