/* Turns a validated configuration into a VM ready to run: memory, kernel and
 * initrd, the devices of the device table, boot structures and vCPUs. */
#ifndef EMBER_BUILDER_H
#define EMBER_BUILDER_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct event_loop;
struct error;
struct vm_early;

/* vm: zeroed (vm__init). Returns 0, or -1 with e; the caller tears down whatever was built
 * (vcpu__destroy_all, then vm__destroy) either way. early: a VM made at start-up
 * to use (vm_early.h), or NULL. */
int builder__build(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop,
		   uint64_t start_us, bool trace_entry, struct vm_early *early, struct error *e);

#endif
