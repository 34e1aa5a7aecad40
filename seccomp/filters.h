/* The contract between the generated $(BUILD)/gen/seccomp_filters.c and install.c.
 * Not part of the public API: use seccomp.h. */
#ifndef EMBER_SECCOMP_FILTERS_H
#define EMBER_SECCOMP_FILTERS_H

#include <linux/filter.h>

#include "seccomp/seccomp.h"

/* Stand-ins, in the compiled programs, for descriptors that exist only at run time:
 * seccomp__install_fds() writes the real numbers over them. No descriptor can take
 * these values (fs.nr_open stays below 2^30). Build-time checks (compile.c) make sure
 * they appear only as the constant of a BPF_JEQ. */
#define SECCOMP_FD_VM	0x7ffe0001u
#define SECCOMP_FD_VCPU 0x7ffe0002u

/* The longest built-in program may have (seccomp-compile refuses a longer one): a
 * thread patches its copy on its stack, whose pages it touches only as deep as this
 * array reaches. */
#define SECCOMP_MAX_PROGRAM 256

struct seccomp_program {
	const char *thread;
	/* Default action SECCOMP_RET_KILL_PROCESS; `trap` is the same list with
	 * SECCOMP_RET_TRAP (plus rt_sigreturn) for EMBER_SECCOMP_DEBUG builds. */
	const struct sock_filter *kill;
	unsigned short kill_len;
	const struct sock_filter *trap;
	unsigned short trap_len;
	unsigned nr_syscalls;
	const char *const *syscalls;
};

extern const struct seccomp_program seccomp_programs[SECCOMP_NR_THREADS];

#endif
