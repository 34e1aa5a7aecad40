/* The whole architectural state of one x86 vCPU as KVM hands it out, for snapshots.
 * Raw KVM UAPI structures: a snapshot is restored by the same kind of host. */
#ifndef EMBER_X86_VCPU_STATE_H
#define EMBER_X86_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Enough for every MSR of msr_wanted[] (vcpu_state.c). */
#define VCPU_STATE_MAX_MSRS 64
/* As many CPUID entries as ember gives a vCPU (cpu.h's CPUID_MAX_ENTRIES). */
#define VCPU_STATE_MAX_CPUID 256

struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_mp_state mp_state;
	uint32_t nr_msrs;
	struct kvm_msr_entry msrs[VCPU_STATE_MAX_MSRS];
	/* When KVM_GET_MSRS began reading msrs (now_ns()): the instant of the guest TSC,
	 * the first of them, which kvmclock is saved at too (snapshot.c). Not saved. */
	uint64_t msrs_at_ns;
	bool has_xsave, has_xcrs; /* else the FPU is in fpu */
	struct kvm_fpu fpu;
	/* What the guest was given: restored as it was, not made anew for this host. */
	uint32_t nr_cpuid;
	struct kvm_cpuid_entry2 cpuid[VCPU_STATE_MAX_CPUID];
};

/* The MSRs a snapshot carries: those of the wanted list (what Linux uses: TSC,
 * kvmclock, SYSCALL/SYSENTER, PAT, EFER, MISC_ENABLE, TSC_DEADLINE...) that this
 * host's KVM_GET_MSR_INDEX_LIST offers. Pure filter, unit-tested. */
unsigned vcpu_state__filter_msrs(const uint32_t *offered, unsigned n, uint32_t *out, unsigned max);
/* The MSR indices to save, computed once per VM from kvm_fd; -1 with a reason. */
int vcpu_state__msr_list(int kvm_fd, uint32_t *out, unsigned *n, char *err, size_t errlen);

/* The vCPU's TSC offset from the host's TSC (KVM_VCPU_TSC_OFFSET, Linux 5.16): -1 with
 * errno where KVM has no such attribute. */
int vcpu_state__get_tsc_offset(int vcpu_fd, uint64_t *offset);
int vcpu_state__set_tsc_offset(int vcpu_fd, uint64_t offset);
/* The guest TSC's slot in s->msrs, or -1 if the list has none. */
int vcpu_state__tsc_slot(const struct vcpu_state *s);

/* Reads every piece; on failure err names the ioctl and errno. */
int vcpu_state__get(int vcpu_fd, const uint32_t *msr_idx, unsigned nr_msrs, struct vcpu_state *s,
		    char *err, size_t errlen);
/* Writes it back (CPUID first, before the vCPU ever ran) in the order KVM needs (sregs before regs,
 * LAPIC after sregs, MSRs, vcpu events last). *msrs_at_ns: when KVM_SET_MSRS began, which
 * writes the guest TSC first (now_ns()). */
int vcpu_state__set(int vcpu_fd, const struct vcpu_state *s, uint64_t *msrs_at_ns, char *err,
		    size_t errlen);

#endif
