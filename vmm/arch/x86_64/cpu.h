/* Per-vCPU x86 state at boot: CPUID, MSRs, local APIC, FPU and 64-bit entry registers. */
#ifndef EMBER_X86_CPU_H
#define EMBER_X86_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#define CPUID_MAX_ENTRIES 256

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

/* supported: KVM_GET_SUPPORTED_CPUID's answer, fetched once per VM. */
int cpu__setup_cpuid(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned index,
		     unsigned nr_vcpus, unsigned threads_per_core);
int cpu__setup_msrs(int vcpu_fd);
int cpu__setup_lapic(int vcpu_fd);
int cpu__setup_fpu(int vcpu_fd);
/* Registers and segments of the Linux 64-bit boot protocol (BSP only). */
int cpu__setup_boot_regs(int vcpu_fd, uint64_t entry);

#endif
