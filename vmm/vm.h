/* A KVM virtual machine: guest memory, in-kernel irqchip, buses, devices and vCPUs.
 * This header is the internal API that device modules are written against. */
#ifndef EMBER_VM_H
#define EMBER_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "event.h"
#include "mem.h"

/* MMIO layout above the 32-bit gap start. The boot timer is at a fixed address so
 * guest init programs can hard-code it (Firecracker uses the same one). */
#define VM_BOOT_TIMER_ADDR 0xd0000000ull
#define VM_MMIO_SLOT_BASE  0xd0001000ull
#define VM_MMIO_SLOT_SIZE  0x1000ull
#define VM_MMIO_FIRST_IRQ  5
#define VM_MMIO_LAST_IRQ   23
#define VM_IOAPIC_ADDR	   0xfec00000ull
#define VM_LAPIC_ADDR	   0xfee00000ull

struct vcpu;
struct i8042;

/* A device module: whatever the VM must call on it after setup. */
struct device_ops {
	const char *name;
	void (*destroy)(void *dev);
};

#define VM_MAX_DEVICES 32

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct event_loop *loop;

	const struct vm_config *cfg;
	uint64_t start_us; /* process start, the zero of every boot timing */
	/* When InstanceStart arrived over the API (0 otherwise), and when the guest wrote
	 * the boot timer (0 until then; read by the metrics on the VMM thread). */
	uint64_t instance_start_us;
	_Atomic uint64_t boot_time_us;

	unsigned nr_vcpus;
	struct vcpu **vcpus;
	struct i8042 *i8042; /* for SendCtrlAltDel */

	/* The guest command line grows while devices are created, then is written once. */
	char cmdline[CONFIG_CMDLINE_MAX];
	unsigned next_mmio_slot;

	struct {
		const struct device_ops *ops;
		void *dev;
	} devices[VM_MAX_DEVICES];
	unsigned nr_devices;
};

/* Maps guest memory. Returns 0, or an enum ember_exit code with the reason in err.
 * vm__destroy() cleans up either way. */
int vm__init(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop, uint64_t start_us,
	     char *err, size_t errlen);
/* Opens /dev/kvm, creates the VM with irqchip and PIT, and registers guest memory.
 * Same return convention. */
int vm__create_kvm(struct vm *vm, char *err, size_t errlen);
void vm__destroy(struct vm *vm);

int vm__add_device(struct vm *vm, const struct device_ops *ops, void *dev);
/* Reserves the next 4 KiB MMIO window and IRQ for a virtio-mmio device. */
int vm__alloc_mmio_slot(struct vm *vm, uint64_t *addr, uint32_t *irq);
/* Appends " text" to the guest command line; -1 if it would not fit. */
int vm__cmdline_append(struct vm *vm, const char *text);

/* Interrupts and notifications. All return -1 with errno on failure. */
int vm__set_irq_line(struct vm *vm, uint32_t gsi, int level);
/* An eventfd that injects an edge on gsi when written; closed by the caller. */
int vm__irqfd(struct vm *vm, uint32_t gsi);
/* An eventfd signalled when the guest writes `datamatch` (len 4) to addr. */
int vm__ioeventfd(struct vm *vm, uint64_t addr, uint32_t datamatch);

/* Ends the VM from any thread: the event loop stops with `code`. First caller wins. */
void vm__request_exit(struct vm *vm, int code, const char *why);

#endif
