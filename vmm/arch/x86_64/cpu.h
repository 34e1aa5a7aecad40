/* Per-vCPU x86 state at boot: CPUID, MSRs, local APIC, FPU and 64-bit entry registers. */
#ifndef EMBER_X86_CPU_H
#define EMBER_X86_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_template.h"

#define CPUID_MAX_ENTRIES 256

/* Architectural MSR numbers (Intel SDM vol. 4), which no UAPI header exports; KVM's
 * paravirtual ones are <asm/kvm_para.h>'s. */
#define MSR_IA32_TSC	      0x00000010
#define MSR_IA32_TSC_ADJUST   0x0000003b
#define MSR_IA32_SYSENTER_CS  0x00000174
#define MSR_IA32_SYSENTER_ESP 0x00000175
#define MSR_IA32_SYSENTER_EIP 0x00000176
#define MSR_IA32_MISC_ENABLE  0x000001a0
#define MSR_IA32_CR_PAT	      0x00000277
#define MSR_MTRR_DEF_TYPE     0x000002ff
#define MSR_IA32_TSC_DEADLINE 0x000006e0
#define MSR_EFER	      0xc0000080
#define MSR_STAR	      0xc0000081
#define MSR_LSTAR	      0xc0000082
#define MSR_CSTAR	      0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102
#define MSR_TSC_AUX	      0xc0000103

/* Reshapes KVM's supported CPUID for vCPU `index` of `nr_vcpus`, grouped
 * threads_per_core (1, or 2 with smt) to a core: APIC ids, topology, the hypervisor
 * bit and KVM's signature leaves. Pure: unit-tested without KVM. */
void cpuid__shape(struct kvm_cpuid_entry2 *entries, unsigned *nent, unsigned max, unsigned index,
		  unsigned nr_vcpus, unsigned threads_per_core);
/* Advertises the TSC-deadline mode of the local APIC timer (leaf 1 ECX bit 24). KVM
 * emulates it but leaves it out of KVM_GET_SUPPORTED_CPUID. Without it Linux checks
 * its calibrated LAPIC timer against jiffies driven by the i8254 PIT; with --no-pit no
 * jiffy ever comes, Linux turns the LAPIC timer off ("APIC timer disabled due to
 * verification failure") and every CPU is left with no working clockevent. Returns
 * whether leaf 1 was found. Pure: unit-tested without KVM. */
bool cpuid__set_tsc_deadline(struct kvm_cpuid_entry2 *entries, unsigned nent);
struct kvm_cpuid_entry2 *cpuid__find(struct kvm_cpuid_entry2 *entries, unsigned nent,
				     uint32_t function, uint32_t index);

/* The vendor leaf 0 names: INTEL, AMD, or ANY for another one or no leaf 0. */
enum cpu_tpl_vendor cpuid__vendor(const struct kvm_cpuid_entry2 *entries, unsigned nent);
/* Static templates are for one vendor (Firecracker: CpuVendorMismatched). 0, or -1
 * with a reason naming the template. Pure. */
int cpuid__check_vendor(const struct kvm_cpuid_entry2 *entries, unsigned nent, uint32_t kind,
			char *err, size_t errlen);
/* Applies a resolved template's CPUID modifiers to KVM's supported CPUID, before the
 * per-vCPU shaping (which then overrides topology, as Firecracker's normalisation
 * does): each named leaf and subleaf must be there (else -1 and err names it, as
 * Firecracker's CpuidFeatureNotSupported), takes the modifier's flags, and each
 * register becomes (old & ~filter) | value. Pure: unit-tested without KVM. */
int cpuid__apply_template(struct kvm_cpuid_entry2 *entries, unsigned nent,
			  const struct cpu_template *t, char *err, size_t errlen);
/* For a restore: whether this host can give the guest what it had under template t.
 * saved is the CPUID the guest was given; fresh what this host gives a new vCPU 0
 * under the same template. In every register the template modifies, a bit the guest
 * had that fresh lacks means KVM here does not offer a feature the guest may use:
 * -1 and err names leaf, subleaf, register and bit. Pure. */
int cpuid__template_missing(const struct kvm_cpuid_entry2 *saved, unsigned nsaved,
			    const struct kvm_cpuid_entry2 *fresh, unsigned nfresh,
			    const struct cpu_template *t, char *err, size_t errlen);
/* A static template's bitmaps (vmm/arch/x86_64/cpu_templates.c), or a copy of a
 * custom one: what the functions above and cpu__apply_template_msrs take. */
void cpu_templates__resolve(const struct cpu_template *in, struct cpu_template *out);

/* supported: KVM_GET_SUPPORTED_CPUID's answer, fetched once per VM. */
int cpu__setup_cpuid(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned index,
		     unsigned nr_vcpus, unsigned threads_per_core);
int cpu__setup_msrs(int vcpu_fd);
/* The template's MSRs: each read from KVM, filtered and written back (Firecracker's
 * MsrNotSupported when KVM has no such MSR). 0, or -1 with a reason in err. */
int cpu__apply_template_msrs(int vcpu_fd, const struct cpu_template *t, char *err, size_t errlen);
int cpu__setup_lapic(int vcpu_fd);
/* Registers and segments of the Linux 64-bit boot protocol, or with pvh of the PVH
 * entry (BSP only). */
int cpu__setup_boot_regs(int vcpu_fd, uint64_t entry, bool pvh);

#endif
