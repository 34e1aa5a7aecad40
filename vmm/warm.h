/* A warm VM shell (--prepare vcpus=N,mem=M): while an ember started with --api-sock
 * waits for its first request, it builds everything a snapshot load needs that does
 * not depend on the snapshot: KVM_CREATE_VM, the memory slots (registered before the
 * irqchip, where it is cheap), irqchip and PIT, the vCPU fds with their kvm_run
 * mappings and CPUID, and the vCPU threads, seccomp filters installed, parked before
 * their first KVM_RUN. A load whose VM has that shape then only maps the memory file
 * over the shell's RAM, at the same host address, and sets the state (snapshot.h).
 * Anything else (another shape, or a boot) tears the shell down first. */
#ifndef EMBER_WARM_H
#define EMBER_WARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

struct vm;
struct event_loop;

struct warm_shell {
	/* vcpus, mem_mib, no_pit; the shell's vm->cfg until used. On the heap: a
	 * configuration is ~100 KiB, and the machine that holds the shell lives on main's
	 * stack, whose every page would then be resident. */
	struct vm_config *shape;
	struct vm *vm; /* NULL: no shell */
};

/* Builds the shell for `vcpus` vCPUs and `mem_mib` MiB (no_pit: without the PIT).
 * 0, or -1 with e and no shell. */
int warm__prepare(struct warm_shell *w, unsigned vcpus, uint64_t mem_mib, bool no_pit,
		  struct event_loop *loop, uint64_t start_us, struct error *e);
/* true if a VM of configuration cfg can be built from the shell; else why says how
 * they differ. */
bool warm__fits(const struct warm_shell *w, const struct vm_config *cfg, char *why, size_t len);
/* Hands the shell's VM over for cfg (which fits): the caller owns it from here.
 * Dirty page logging is switched on in its memory slots if cfg asks for it.
 * NULL with e if that fails (the shell is gone then). */
struct vm *warm__take(struct warm_shell *w, const struct vm_config *cfg, struct error *e);
/* Tears the shell down (no-op without one); `why` goes to the log. */
void warm__discard(struct warm_shell *w, const char *why);
/* The same, but on the event loop once the current request is answered: a teardown
 * (vCPU threads joined, the VM's irqchip and PIT freed) took 5-17 ms on our hosts,
 * which a load or boot that does not use the shell need not wait for. Torn down at
 * once if that cannot be arranged. */
void warm__discard_later(struct warm_shell *w, const char *why);

#endif
