/* Turns a validated configuration into a running VM, then runs it to its end. */
#ifndef EMBER_BUILDER_H
#define EMBER_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct event_loop;

/* Creates the VM, its devices, loads kernel and initrd, writes boot_params and
 * creates the vCPUs. Returns 0, or an enum ember_exit code with the reason in err. */
int builder__build(struct vm *vm, const struct vm_config *cfg, struct event_loop *loop,
		   uint64_t start_us, bool trace_entry, char *err, size_t errlen);
/* Starts the vCPUs. Returns 0, or -1 with the reason in err. */
int builder__start(struct vm *vm, char *err, size_t errlen);

#endif
