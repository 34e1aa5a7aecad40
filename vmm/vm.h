/* A KVM virtual machine: guest memory, in-kernel irqchip, buses, devices and vCPUs.
 * This header is the whole API device modules are written against: with what it
 * includes (buses, guest memory, the event loop, errors, the JSON writer for
 * metrics) a device needs nothing else from vmm/. vm.c calls no device and no vCPU
 * code other than through the hooks below. */
#ifndef EMBER_VM_H
#define EMBER_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/json.h"  /* struct json_out, for the metrics hook */
#include "arch/arch.h" /* the guest-physical layout: VM_* addresses and IRQs */
#include "bus.h"
#include "config.h"
#include "error.h"
#include "event.h"
#include "mem.h"
#include "uffd.h"

struct vcpu;
struct vm;
struct vm_early;
struct vm_early_made;
/* The snapshot container (the snapshot issue defines it). */
struct snapshot_out;
struct snapshot_in;

_Static_assert(CONFIG_MAX_VIRTIO <= VM_MMIO_LAST_IRQ - VM_MMIO_FIRST_IRQ + 1,
	       "config.h's virtio device limit fits the free interrupt lines");

/* A row of the device table (vmm/devices/table.c): one kind of device. The builder
 * calls setup for every row in table order; setup creates as many devices of its
 * kind as cfg asks for (none, one, or one per drive...) and registers each with
 * vm__add_device(). From then on the VM owns them. */
struct device_ops {
	const char *name;
	/* Sets e (with the exit code of what failed) and returns -1 on failure; what it
	 * registered before failing is destroyed with the VM. NULL only in ops that are
	 * not table rows (virtio/'s own, for virtio__setup_all, until its merge). */
	int (*setup)(struct vm *vm, const struct vm_config *cfg, struct error *e);
	/* Frees one device; the VM and its vCPUs are gone. */
	void (*destroy)(void *dev);
	/* The process ends instead (vm__leave): undo what outlives it, free nothing.
	 * NULL: the exit undoes everything the device made. */
	void (*leave)(void *dev);
	/* Appends one metrics group per device, `,"group":{...}`, in Firecracker's
	 * group names. NULL: the device keeps no counters. */
	void (*metrics)(void *dev, struct json_out *o);
	/* Device state into and out of a snapshot, vCPUs paused. NULL for now: the
	 * snapshot issue fills them in, and refuses to snapshot a VM with a device
	 * whose hooks are NULL. */
	int (*save)(void *dev, struct snapshot_out *s, struct error *e);
	int (*restore)(void *dev, struct snapshot_in *s, struct error *e);
	/* One line of what the device is waiting for, for the log at a stop from
	 * outside (vmm__log_guest_state). NULL: nothing worth saying. */
	void (*describe)(void *dev, char *buf, size_t len);
};

#define VM_MAX_DEVICES 32

/* Room in struct vm for vm__zalloc: the legacy devices, the IOAPIC and a few vCPUs. */
#define VM_ARENA_BYTES 4096

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	struct guest_mem mem;
	struct uffd_backend uffd; /* a snapshot's Uffd memory backend, else both -1 */
	struct bus pio;
	struct bus mmio;
	struct event_loop *loop;

	const struct vm_config *cfg;
	/* Register guest memory with KVM_MEM_LOG_DIRTY_PAGES (Diff snapshots). */
	bool track_dirty;
	uint64_t start_us; /* process start, the zero of every boot timing */
	/* When InstanceStart arrived over the API (0 otherwise), and when the guest wrote
	 * the boot timer (0 until then; read by the metrics on the VMM thread). */
	uint64_t instance_start_us;
	_Atomic uint64_t boot_time_us;

	unsigned nr_vcpus;
	struct vcpu **vcpus; /* created and destroyed by vcpu.c */

	/* The guest command line grows while devices are created, then is written once. */
	char cmdline[CONFIG_CMDLINE_MAX];
	unsigned next_mmio_slot;

	struct {
		const struct device_ops *ops;
		void *dev;
	} devices[VM_MAX_DEVICES];
	unsigned nr_devices;

	struct arch_vm arch; /* vmm/arch/<arch>/arch_vm.h */

	/* The last failure of a vm__ helper below, with its exit code: callers that go
	 * through a layer reporting in text (virtio/) recover the code from here. */
	struct error last_error;

	/* vm__zalloc's bytes handed out so far (atomic, so that an object made on another
	 * thread than the builder's needs no lock), then its memory. */
	_Atomic size_t arena_used;
	_Alignas(max_align_t) unsigned char arena[VM_ARENA_BYTES];
};

/* vm is zeroed, as pagealloc__zalloc gives it (zeroing it again faulted in its pages).
 * Maps guest memory, or takes premapped's (vm_early__take_memory; NULL: none). 0, or -1
 * with e. vm__destroy() cleans up either way. */
int vm__init(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop, uint64_t start_us,
	     struct guest_mem *premapped, struct error *e);
/* Opens /dev/kvm, creates the VM, registers guest memory, creates the irqchip; with
 * early (vm_early.h, else NULL), takes what the start-up helper made of these
 * instead, and leaves in *made (if not NULL) the vCPUs it made, for
 * vcpu__create_all(). 0, or -1 with e. */
int vm__create_kvm(struct vm *vm, struct vm_early *early, struct vm_early_made *made,
		   struct error *e);
/* KVM_CREATE_VM on kvm_fd, retried on EINTR: the VM's descriptor, or -1 with errno. */
int vm__kvm_create_vm(int kvm_fd);
/* Registers every region of vm->mem as a KVM memory slot, dirty-logged if
 * vm->track_dirty; again on a registered slot, it changes only its flags.
 * 0, or -1 with errno. */
int vm__register_memory(struct vm *vm);
/* The same for n regions of a VM that has no struct vm yet (vm_early.h). */
int vm__register_regions(int vm_fd, const struct mem_region *regions, unsigned n, bool dirty_log);
/* Destroys the devices (newest first) and the VM. The vCPUs must be gone already
 * (vcpu__destroy_all), as they run device code. */
void vm__destroy(struct vm *vm);
/* The process ends with the vCPUs stopped: each device's leave hook, and nothing
 * freed (vmm__leave). */
void vm__leave(struct vm *vm);

/* Zeroed memory for an object that lives as long as the VM (a device's state, a vCPU),
 * from the VM's own mapping while it lasts, else calloc; NULL if neither has room.
 * Why not calloc alone: musl's malloc maps its metadata and groups with five system
 * calls on its first use, and reads each fresh group's header before writing it, a
 * fault that maps the zero page and a second that replaces it, which flushes the TLB
 * of every CPU that runs the process (while the start-up helper runs on another CPU,
 * an interrupt to it, waited for). Here the first touch of each page is a write.
 * Under AddressSanitizer always calloc, so that it watches each object. */
void *vm__zalloc(struct vm *vm, size_t bytes);
/* p from vm__zalloc(vm, ...), or NULL: what came from the VM's mapping goes with it. */
void vm__free(struct vm *vm, void *p);

int vm__add_device(struct vm *vm, const struct device_ops *ops, void *dev);
/* The first device made by table row `ops`, or NULL. */
void *vm__find_device(const struct vm *vm, const struct device_ops *ops);
/* Calls every device's metrics hook, in creation order. */
void vm__device_metrics(const struct vm *vm, struct json_out *o);
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

#if defined(__x86_64__)
/* Snapshots (vm_state.c): the VM-wide state KVM keeps, the irqchip trio, PIT, clock. */
#define VM_NR_IRQCHIPS 3
struct vm_state {
	struct kvm_irqchip irqchip[VM_NR_IRQCHIPS]; /* PIC master, PIC slave, IOAPIC */
	struct kvm_pit_state2 pit;
	bool has_pit; /* false on a machine made without the in-kernel PIT */
	struct kvm_clock_data clock;
	uint64_t clock_at_ns; /* when KVM_GET_CLOCK read it (now_ns(), mid-call); not saved */
};
int vm__get_state(struct vm *vm, struct vm_state *s, struct error *e);
/* clock_advance_ns: added to the saved kvmclock (clock_realtime, and the time the TSC has
 * run since it was written: snapshot_load.c). */
int vm__set_state(struct vm *vm, const struct vm_state *s, uint64_t clock_advance_ns,
		  struct error *e);
#endif
/* Maps fd privately over all of guest memory (before KVM sees the memory). */
int vm__map_mem_file(struct vm *vm, int fd, struct error *e);
/* KVM_GET_DIRTY_LOG of memory slot `slot` (= region index): one bit per page, cleared
 * as it is read. */
int vm__dirty_log(struct vm *vm, unsigned slot, uint64_t *bitmap, struct error *e);

/* Ends the VM from any thread: the event loop stops with `code`. First caller wins. */
void vm__request_exit(struct vm *vm, int code, const char *why);

#endif
