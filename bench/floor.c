/*
 * floor: the least a VMM can do before its guest runs, as the bench's lower bound.
 * Creates a VM, one memory region and one vCPU, loads the ELF's PT_LOAD segments,
 * enters at e_entry in 32-bit flat protected mode (the PVH entry state, which needs no
 * page tables) and runs to the first exit. No irqchip, no PIT, no devices, no threads.
 *
 *   floor [--mem-mib N] [--irqchip] [--cpuid FILE] KERNEL.elf
 *   floor --save-cpuid FILE
 *
 * --irqchip also creates the in-kernel irqchip and PIT after the memory region, as a
 * VMM with a legacy PC does: the difference shows what they cost at start and exit.
 * --cpuid gives the vCPU the CPUID entries in FILE (KVM_SET_CPUID2), as every x86 VMM
 * that boots Linux must; --save-cpuid writes KVM_GET_SUPPORTED_CPUID's answer there
 * (raw struct kvm_cpuid_entry2 records) once, before the timed runs, so that the runs
 * pay only for setting it, as ember with --cpuid-cache does.
 * Exit 0 if the guest's first exit is a port write (the tiny guest's reset), else 1.
 * Static (musl), like ember, so that exec costs the same.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Copies the PT_LOAD segments into guest memory; returns the entry point. */
static uint64_t load_elf(const char *path, uint8_t *mem, uint64_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		die(path);
	uint8_t *f = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f == MAP_FAILED)
		die(path);
	close(fd);
	Elf64_Ehdr eh;
	if ((size_t)st.st_size < sizeof(eh) || memcmp(f, ELFMAG, SELFMAG))
		goto bad;
	memcpy(&eh, f, sizeof(eh));
	if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > (uint64_t)st.st_size)
		goto bad;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, f + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_offset > (uint64_t)st.st_size ||
		    ph.p_filesz > (uint64_t)st.st_size - ph.p_offset || ph.p_paddr > size ||
		    ph.p_filesz > size - ph.p_paddr)
			goto bad;
		memcpy(mem + ph.p_paddr, f + ph.p_offset, ph.p_filesz);
	}
	if (eh.e_entry >= size)
		goto bad;
	munmap(f, (size_t)st.st_size);
	return eh.e_entry;
bad:
	fprintf(stderr, "floor: %s: not an ELF whose segments fit in guest memory\n", path);
	exit(1);
}

#define MAX_CPUID 256

struct cpuid_set {
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 e[MAX_CPUID];
};

static int save_cpuid(const char *path)
{
	static struct cpuid_set c = {.hdr.nent = MAX_CPUID};
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &c))
		die("KVM_GET_SUPPORTED_CPUID");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = c.hdr.nent * sizeof(c.e[0]);
	if (fd < 0 || write(fd, c.e, len) != (ssize_t)len || close(fd))
		die(path);
	return 0;
}

/* FILE's entries into c; exits on a file that is not whole records. */
static void read_cpuid(const char *path, struct cpuid_set *c)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	ssize_t n = read(fd, c->e, sizeof(c->e));
	close(fd);
	if (n <= 0 || n % (ssize_t)sizeof(c->e[0])) {
		fprintf(stderr, "floor: %s: not KVM CPUID entries\n", path);
		exit(1);
	}
	c->hdr.nent = (uint32_t)(n / (ssize_t)sizeof(c->e[0]));
}

int main(int argc, char **argv)
{
	uint64_t mib = 128;
	int irqchip = 0, i = 1;
	const char *cpuid = NULL;
	if (argc == 3 && !strcmp(argv[1], "--save-cpuid"))
		return save_cpuid(argv[2]);
	for (; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--mem-mib") && i + 2 < argc)
			mib = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--irqchip"))
			irqchip = 1;
		else if (!strcmp(argv[i], "--split-irqchip"))
			irqchip = 2;
		else if (!strcmp(argv[i], "--cpuid") && i + 2 < argc)
			cpuid = argv[++i];
		else
			break;
	}
	if (i != argc - 1 || mib == 0 || mib > (1u << 20)) {
		fputs("usage: floor [--mem-mib N] [--irqchip] [--cpuid FILE] KERNEL.elf\n"
		      "       floor --save-cpuid FILE\n",
		      stderr);
		return 2;
	}
	uint64_t size = mib << 20;

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap guest memory");
	uint64_t entry = load_elf(argv[i], mem, size);
	struct kvm_userspace_memory_region region = {
	    .slot = 0, .memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
		die("KVM_SET_USER_MEMORY_REGION");
	if (irqchip == 2) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {24}};
		if (ioctl(vm, KVM_ENABLE_CAP, &cap))
			die("KVM_CAP_SPLIT_IRQCHIP");
	} else if (irqchip) {
		struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
		if (ioctl(vm, KVM_CREATE_IRQCHIP, 0))
			die("KVM_CREATE_IRQCHIP");
		if (ioctl(vm, KVM_CREATE_PIT2, &pit))
			die("KVM_CREATE_PIT2");
	}
	int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (cpu < 0)
		die("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	if (cpuid) {
		static struct cpuid_set c;
		read_cpuid(cpuid, &c);
		if (ioctl(cpu, KVM_SET_CPUID2, &c))
			die("KVM_SET_CPUID2");
	}
	struct kvm_run *run =
	    mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	struct kvm_sregs s;
	if (ioctl(cpu, KVM_GET_SREGS, &s))
		die("KVM_GET_SREGS");
	s.cr0 |= 1; /* PE; paging stays off */
	s.cs = (struct kvm_segment){
	    .limit = 0xffffffff, .selector = 8, .type = 11, .present = 1, .s = 1, .db = 1, .g = 1};
	s.ds = (struct kvm_segment){
	    .limit = 0xffffffff, .selector = 16, .type = 3, .present = 1, .s = 1, .db = 1, .g = 1};
	s.es = s.fs = s.gs = s.ss = s.ds;
	if (ioctl(cpu, KVM_SET_SREGS, &s))
		die("KVM_SET_SREGS");
	struct kvm_regs r = {.rip = entry, .rflags = 2};
	if (ioctl(cpu, KVM_SET_REGS, &r))
		die("KVM_SET_REGS");
	if (ioctl(cpu, KVM_RUN, 0))
		die("KVM_RUN");
	if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT) {
		fprintf(stderr, "floor: first exit is %u, not a port write\n", run->exit_reason);
		return 1;
	}
	return 0;
}
