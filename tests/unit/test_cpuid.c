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

CHECK_MAIN("cpuid", CHECK_CASE(shapes_each_vcpu), CHECK_CASE(single_vcpu_and_full_table),
	   CHECK_CASE(smt_topology), CHECK_CASE(tsc_deadline))
