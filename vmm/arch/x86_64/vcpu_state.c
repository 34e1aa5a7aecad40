#include "vcpu_state.h"

#include "arch/x86_64/cpu.h"
#include "log.h"

#include <asm/kvm_para.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static const uint32_t msr_wanted[] = {
    MSR_IA32_TSC, /* first: vcpu_state__get and __set time their MSR calls by it */
    MSR_IA32_TSC_ADJUST,
    MSR_IA32_SYSENTER_CS,
    MSR_IA32_SYSENTER_ESP,
    MSR_IA32_SYSENTER_EIP,
    MSR_IA32_MISC_ENABLE,
    MSR_IA32_CR_PAT,
    MSR_IA32_TSC_DEADLINE,
    MSR_MTRR_DEF_TYPE,
    MSR_EFER,
    MSR_STAR,
    MSR_LSTAR,
    MSR_CSTAR,
    MSR_SYSCALL_MASK,
    MSR_KERNEL_GS_BASE,
    MSR_TSC_AUX,
    MSR_KVM_WALL_CLOCK,
    MSR_KVM_SYSTEM_TIME,
    MSR_KVM_WALL_CLOCK_NEW,
    MSR_KVM_SYSTEM_TIME_NEW,
    MSR_KVM_ASYNC_PF_EN,
    MSR_KVM_STEAL_TIME,
    MSR_KVM_PV_EOI_EN,
    MSR_KVM_POLL_CONTROL,
    MSR_KVM_ASYNC_PF_INT,
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

unsigned vcpu_state__filter_msrs(const uint32_t *offered, unsigned n, uint32_t *out, unsigned max)
{
	unsigned k = 0;
	for (size_t w = 0; w < sizeof(msr_wanted) / sizeof(msr_wanted[0]) && k < max; w++)
		for (unsigned i = 0; i < n; i++)
			if (offered[i] == msr_wanted[w]) {
				out[k++] = msr_wanted[w];
				break;
			}
	return k;
}

int vcpu_state__msr_list(int kvm_fd, uint32_t *out, unsigned *n, char *err, size_t errlen)
{
	enum { MAX_OFFERED = 1024 };
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + MAX_OFFERED * sizeof(uint32_t));
	if (!l)
		return fail(err, errlen, "out of memory");
	l->nmsrs = MAX_OFFERED;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		int saved = errno;
		free(l);
		return fail(err, errlen, "KVM_GET_MSR_INDEX_LIST: %s", strerror(saved));
	}
	*n = vcpu_state__filter_msrs(l->indices, l->nmsrs, out, VCPU_STATE_MAX_MSRS);
	free(l);
	return 0;
}

static int tsc_offset_attr(int fd, unsigned long req, uint64_t *offset)
{
	struct kvm_device_attr a = {
	    .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET, .addr = (uintptr_t)offset};
	return ioctl(fd, req, &a);
}

int vcpu_state__get_tsc_offset(int fd, uint64_t *offset)
{
	return tsc_offset_attr(fd, KVM_GET_DEVICE_ATTR, offset);
}

int vcpu_state__set_tsc_offset(int fd, uint64_t offset)
{
	return tsc_offset_attr(fd, KVM_SET_DEVICE_ATTR, &offset);
}

int vcpu_state__tsc_slot(const struct vcpu_state *s)
{
	for (unsigned i = 0; i < s->nr_msrs && i < VCPU_STATE_MAX_MSRS; i++)
		if (s->msrs[i].index == MSR_IA32_TSC)
			return (int)i;
	return -1;
}

struct msr_buf {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[VCPU_STATE_MAX_MSRS];
};

/* Some offered MSRs cannot be read in every vCPU state (KVM_GET_MSRS stops at the first
 * failing one and returns how many it read): those are left out, not fatal. */
static int get_msrs(int fd, const uint32_t *idx, unsigned n, struct vcpu_state *s, char *err,
		    size_t errlen)
{
	struct msr_buf b;
	unsigned done = 0;
	s->nr_msrs = 0;
	while (done < n) {
		memset(&b, 0, sizeof(b));
		b.hdr.nmsrs = n - done;
		for (unsigned i = 0; i < n - done; i++)
			b.e[i].index = idx[done + i];
		int got = ioctl(fd, KVM_GET_MSRS, &b);
		if (got < 0)
			return fail(err, errlen, "KVM_GET_MSRS: %s", strerror(errno));
		for (int i = 0; i < got; i++)
			s->msrs[s->nr_msrs++] = b.e[i];
		done += (unsigned)got + 1; /* skip the one that failed */
	}
	return 0;
}

#define GET(req, field, name)                                                                      \
	do {                                                                                       \
		if (ioctl(fd, req, &s->field) < 0)                                                 \
			return fail(err, errlen, "%s: %s", name, strerror(errno));                 \
	} while (0)

struct cpuid_buf {
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 e[VCPU_STATE_MAX_CPUID];
};

int vcpu_state__get(int fd, const uint32_t *msr_idx, unsigned nr_msrs, struct vcpu_state *s,
		    char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	static struct cpuid_buf cb; /* VMM thread only */
	memset(&cb, 0, sizeof(cb));
	cb.hdr.nent = VCPU_STATE_MAX_CPUID;
	if (ioctl(fd, KVM_GET_CPUID2, &cb) < 0)
		return fail(err, errlen, "KVM_GET_CPUID2: %s", strerror(errno));
	s->nr_cpuid = cb.hdr.nent;
	memcpy(s->cpuid, cb.e, cb.hdr.nent * sizeof(cb.e[0]));
	GET(KVM_GET_MP_STATE, mp_state, "KVM_GET_MP_STATE");
	GET(KVM_GET_REGS, regs, "KVM_GET_REGS");
	GET(KVM_GET_SREGS, sregs, "KVM_GET_SREGS");
	if (ioctl(fd, KVM_GET_XSAVE, &s->xsave) == 0)
		s->has_xsave = true;
	else
		GET(KVM_GET_FPU, fpu, "KVM_GET_FPU");
	if (ioctl(fd, KVM_GET_XCRS, &s->xcrs) == 0)
		s->has_xcrs = true;
	GET(KVM_GET_LAPIC, lapic, "KVM_GET_LAPIC");
	GET(KVM_GET_DEBUGREGS, debugregs, "KVM_GET_DEBUGREGS");
	/* The TSC is the list's first MSR: read as the call starts. */
	s->msrs_at_ns = now_ns();
	if (get_msrs(fd, msr_idx, nr_msrs, s, err, errlen))
		return -1;
	/* Last: the events are what the other reads left pending. */
	GET(KVM_GET_VCPU_EVENTS, events, "KVM_GET_VCPU_EVENTS");
	/* GET fills these in but does not flag them; without the flags SET ignores them. */
	s->events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	return 0;
}

#define SET(req, field, name)                                                                      \
	do {                                                                                       \
		if (ioctl(fd, req, &s->field) < 0)                                                 \
			return fail(err, errlen, "%s: %s", name, strerror(errno));                 \
	} while (0)

int vcpu_state__set(int fd, const struct vcpu_state *s, uint64_t *msrs_at_ns, char *err,
		    size_t errlen)
{
	if (s->nr_msrs > VCPU_STATE_MAX_MSRS)
		return fail(err, errlen, "%u MSRs, at most %d", s->nr_msrs, VCPU_STATE_MAX_MSRS);
	if (s->nr_cpuid > VCPU_STATE_MAX_CPUID)
		return fail(err, errlen, "%u CPUID entries, at most %d", s->nr_cpuid,
			    VCPU_STATE_MAX_CPUID);
	if (s->nr_cpuid) {
		/* On the stack: vCPU threads set their own state at once (10 KiB of their
		 * 128). */
		struct cpuid_buf cb;
		memset(&cb, 0, sizeof(cb));
		cb.hdr.nent = s->nr_cpuid;
		memcpy(cb.e, s->cpuid, s->nr_cpuid * sizeof(cb.e[0]));
		if (ioctl(fd, KVM_SET_CPUID2, &cb) < 0)
			return fail(err, errlen, "KVM_SET_CPUID2: %s", strerror(errno));
	}
	/* Segments and control registers set the mode the general registers are read in. */
	SET(KVM_SET_SREGS, sregs, "KVM_SET_SREGS");
	SET(KVM_SET_REGS, regs, "KVM_SET_REGS");
	if (s->has_xsave)
		SET(KVM_SET_XSAVE, xsave, "KVM_SET_XSAVE");
	else
		SET(KVM_SET_FPU, fpu, "KVM_SET_FPU");
	if (s->has_xcrs)
		SET(KVM_SET_XCRS, xcrs, "KVM_SET_XCRS");
	/* The APIC base MSR lives in sregs, so the LAPIC comes after them. */
	SET(KVM_SET_LAPIC, lapic, "KVM_SET_LAPIC");
	struct msr_buf b;
	memset(&b, 0, sizeof(b));
	b.hdr.nmsrs = s->nr_msrs;
	memcpy(b.e, s->msrs, s->nr_msrs * sizeof(b.e[0]));
	/* The TSC is the list's first MSR: written as the call starts (a call of 28
	 * MSRs took 1-2 ms inside the nested test host). */
	*msrs_at_ns = now_ns();
	int n = ioctl(fd, KVM_SET_MSRS, &b);
	if (n < 0)
		return fail(err, errlen, "KVM_SET_MSRS: %s", strerror(errno));
	if ((unsigned)n < s->nr_msrs)
		return fail(err, errlen, "KVM_SET_MSRS: MSR 0x%x refused", s->msrs[n].index);
	SET(KVM_SET_DEBUGREGS, debugregs, "KVM_SET_DEBUGREGS");
	SET(KVM_SET_MP_STATE, mp_state, "KVM_SET_MP_STATE");
	/* Last: pending exceptions and interrupts apply to the state set above. */
	SET(KVM_SET_VCPU_EVENTS, events, "KVM_SET_VCPU_EVENTS");
	return 0;
}
