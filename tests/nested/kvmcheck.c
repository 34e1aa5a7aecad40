/*
 * kvmcheck: proves that /dev/kvm works (used as the nested host's smoke test).
 * Opens /dev/kvm, checks the API version, creates a VM with one vCPU and runs
 * a few real-mode instructions:
 *     mov dx, 0x3f8 ; mov al, 'K' ; out dx, al
 *     mov al, 2 ; add al, 3 ; out 0x10, al
 *     hlt
 * and checks the two port writes and the HLT exit. Prints "kvmcheck: OK" and
 * exits 0 on success; prints the failing step and exits 1 otherwise.
 * Build: gcc -static -Os -o kvmcheck kvmcheck.c (or musl-gcc with kernel headers).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE  0x10000
#define CODE_ADDR 0x1000

static void fail(const char *what)
{
	fprintf(stderr, "kvmcheck: FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void failx(const char *what)
{
	fprintf(stderr, "kvmcheck: FAIL: %s\n", what);
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static const char *exit_name(unsigned r)
{
	switch (r) {
	case KVM_EXIT_IO:
		return "IO";
	case KVM_EXIT_HLT:
		return "HLT";
	case KVM_EXIT_MMIO:
		return "MMIO";
	case KVM_EXIT_SHUTDOWN:
		return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY:
		return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR:
		return "INTERNAL_ERROR";
	default:
		return "other";
	}
}

int main(void)
{
	static const uint8_t code[] = {
	    0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
	    0xb0, 'K',	      /* mov al, 'K' */
	    0xee,	      /* out dx, al */
	    0xb0, 0x02,	      /* mov al, 2 */
	    0x04, 0x03,	      /* add al, 3 */
	    0xe6, 0x10,	      /* out 0x10, al */
	    0xf4,	      /* hlt */
	};
	double t0 = now_us();
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		fail("open /dev/kvm");
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		fprintf(stderr, "kvmcheck: FAIL: KVM_GET_API_VERSION = %d, want %d\n", api,
			KVM_API_VERSION);
		return 1;
	}
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0)
		failx("KVM_CAP_USER_MEMORY missing");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		fail("KVM_CREATE_VM");

	uint8_t *mem =
	    mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail("mmap guest memory");
	memcpy(mem + CODE_ADDR, code, sizeof(code));
	struct kvm_userspace_memory_region region = {
	    .slot = 0,
	    .guest_phys_addr = 0,
	    .memory_size = MEM_SIZE,
	    .userspace_addr = (uint64_t)(uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		fail("KVM_SET_USER_MEMORY_REGION");

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		fail("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size < (int)sizeof(struct kvm_run))
		fail("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		fail("mmap kvm_run");

	struct kvm_sregs sregs;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		fail("KVM_SET_SREGS");
	struct kvm_regs regs = {.rip = CODE_ADDR, .rflags = 0x2};
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		fail("KVM_SET_REGS");

	/* Expected exits, in order. */
	int step = 0;
	char serial = 0;
	unsigned value = 0;
	for (int i = 0; i < 16; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			fail("KVM_RUN");
		unsigned r = run->exit_reason;
		if (r == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1) {
			uint8_t v = *((uint8_t *)run + run->io.data_offset);
			if (step == 0 && run->io.port == 0x3f8) {
				serial = (char)v;
				step = 1;
				continue;
			}
			if (step == 1 && run->io.port == 0x10) {
				value = v;
				step = 2;
				continue;
			}
			fprintf(
			    stderr,
			    "kvmcheck: FAIL: unexpected out to port 0x%x value 0x%x at step %d\n",
			    run->io.port, v, step);
			return 1;
		}
		if (r == KVM_EXIT_HLT && step == 2)
			break;
		fprintf(stderr, "kvmcheck: FAIL: unexpected exit %u (%s) at step %d\n", r,
			exit_name(r), step);
		if (r == KVM_EXIT_INTERNAL_ERROR)
			fprintf(stderr, "kvmcheck: internal error suberror %u\n",
				run->internal.suberror);
		if (r == KVM_EXIT_FAIL_ENTRY)
			fprintf(stderr, "kvmcheck: hardware entry failure reason 0x%llx\n",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return 1;
	}
	if (step != 2)
		failx("guest did not reach HLT");
	if (serial != 'K' || value != 5) {
		fprintf(stderr, "kvmcheck: FAIL: got serial '%c' value %u, want 'K' 5\n", serial,
			value);
		return 1;
	}
	if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0)
		fail("KVM_GET_REGS");
	if (regs.rip != CODE_ADDR + sizeof(code)) {
		fprintf(stderr, "kvmcheck: FAIL: rip after hlt 0x%llx, want 0x%zx\n",
			(unsigned long long)regs.rip, CODE_ADDR + sizeof(code));
		return 1;
	}
	printf("kvmcheck: OK (API %d, out 0x3f8='%c', out 0x10=%u, HLT at rip 0x%llx, %.0f us)\n",
	       api, serial, value, (unsigned long long)regs.rip, now_us() - t0);
	return 0;
}
