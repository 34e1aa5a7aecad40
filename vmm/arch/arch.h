/* What the architecture-neutral VM code (vm.c, vcpu.c, builder.c) asks of the
 * architecture. One implementation per vmm/arch/<arch>/, chosen at build time; each
 * also provides arch_vm.h: the guest-physical layout (VM_* addresses and interrupt
 * numbers) and struct arch_vm (its part of struct vm). */
#ifndef EMBER_ARCH_H
#define EMBER_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__aarch64__)
#include "arch/aarch64/arch_vm.h"
#else
#include "arch/x86_64/arch_vm.h"
#endif

struct vm;
struct vcpu;
struct vm_config;
struct error;

/* KVM capabilities the architecture needs beyond the common ones of vm.c. */
struct arch_cap {
	int cap;
	const char *name;
};
extern const struct arch_cap arch_required_caps[];
extern const size_t arch_nr_required_caps;

/* What the main thread asks vm->kvm_fd while it waits for the start-up helper's VM
 * (vm_early.h): queries that need no configuration (x86: KVM_GET_SUPPORTED_CPUID),
 * kept in vm->arch for arch__vcpus_prepare(). A failure is not reported: the VM then
 * asks again itself. */
void arch__early_query(struct vm *vm);
/* --cpuid-cache FILE: where x86_64 keeps KVM's supported CPUID between runs
 * (arch/x86_64/cpuid_cache.h), set once before any thread exists. 0, or -1 with the
 * reason in err: a path that exists and is not a regular file, or an architecture
 * that asks KVM no such question. */
int arch__set_cpuid_cache(const char *path, char *err, size_t errlen);
/* Loads the kernel and initrd of cfg into guest memory, before KVM is opened (a bad
 * image is reported as such whatever the host's KVM), and checks that the memory
 * size fits the architecture. 0, or -1 with e. */
int arch__load_images(struct vm *vm, const struct vm_config *cfg, struct error *e);
/* The KVM requests that make the in-kernel interrupt controller and timers, once
 * guest memory is registered and before any vCPU exists, on a VM that has no struct
 * vm yet (the start-up helper, vm_early.h): 0; -1 with errno and the request's name
 * in *failed; or 1 when this architecture makes them only with the VM (arm64: the
 * vGIC's descriptor is kept in it). */
int arch__irqchip_kvm(int vm_fd, bool no_pit, const char **failed);
/* The rest of vm's interrupt controller, once arch__irqchip_kvm() made its KVM part
 * (x86 --no-pit: ember's own IOAPIC; arm64: the whole vGIC). 0, or -1 with e. */
int arch__create_irqchip(struct vm *vm, struct error *e);
/* Boot information written once every device exists, before the vCPUs are made.
 * 0, or -1 with e. */
int arch__write_boot(struct vm *vm, struct error *e);
/* The guest-physical address the boot vCPU starts at. */
uint64_t arch__entry(const struct vm *vm);
/* Before the first vCPU is created (x86: fetches the supported CPUID). 0, or -1
 * with e. */
int arch__vcpus_prepare(struct vm *vm, struct error *e);
/* One vCPU's initial state, right after KVM_CREATE_VCPU; vCPU 0 starts at entry.
 * 0, or -1 with e. */
int arch__vcpu_init(struct vcpu *v, uint64_t entry, struct error *e);
/* Once every vCPU exists and before any runs. 0, or -1 with e. */
int arch__vcpus_ready(struct vm *vm, struct error *e);
/* Called by vm__irqfd() with a new eventfd for gsi: 1 if the architecture takes it
 * and wires it to KVM later (arm64: KVM_IRQFD needs an initialised vGIC, which
 * needs every vCPU), 0 to wire it now, -1 with errno on failure. */
int arch__irqfd_defer(struct vm *vm, int fd, uint32_t gsi);
/* A device's interrupt line (serial, i8042) to `level`. -1 with errno. */
int arch__set_irq_line(struct vm *vm, uint32_t gsi, int level);
/* KVM_EXIT_IOAPIC_EOI (x86's split irqchip): the guest ended `vector`. */
void arch__eoi(struct vm *vm, uint8_t vector);
/* What a KVM_EXIT_SHUTDOWN of v is, for the error that ends the VM. */
void arch__shutdown_reason(struct vcpu *v, char *why, size_t len);
/* One line each for the log of a stopped VM: where vCPU v was (run state, program
 * counter, pending and in-service interrupts, timer) and what the interrupt
 * controller holds. The vCPUs are stopped; what cannot be read is left out. */
void arch__vcpu_describe(struct vcpu *v, char *buf, size_t len);
void arch__irqchip_describe(struct vm *vm, char *buf, size_t len);
/* Frees what the architecture keeps in vm->arch. */
void arch__vm_destroy(struct vm *vm);

#endif
