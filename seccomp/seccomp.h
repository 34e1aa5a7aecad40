/* Per-thread seccomp filters: each thread class narrows itself to the system calls it
 * needs before it handles anything the guest or an API client controls. The BPF is
 * compiled at build time (seccomp/compile.c); no libseccomp at run time. */
#ifndef EMBER_SECCOMP_H
#define EMBER_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum seccomp_thread {
	SECCOMP_VMM,  /* the main thread once the VM runs: event loop, device back ends */
	SECCOMP_API,  /* the HTTP API server */
	SECCOMP_VCPU, /* each vCPU: KVM_RUN and the exits it handles */
	/* The vCPU that times the kernel entry (--boot-timer): SECCOMP_VCPU plus
	 * KVM_SET_GUEST_DEBUG, which the trap needs to remove itself. */
	SECCOMP_VCPU_BOOT_TIMER,
	/* The main thread from start-up until the VM runs (it parses a config file and
	 * request bodies): what building, starting and restoring a VM needs. Every thread
	 * it starts inherits it, and the filters installed later add to it; a thread
	 * already running gets it too (TSYNC). */
	SECCOMP_VMM_PREBOOT,
	SECCOMP_NR_THREADS,
};

/* Start-up configuration, called before any thread starts. The setting is process-wide
 * (like the log) and read-only once threads run. Default: the built-in filters. */
void seccomp__disable(void);
/* False after seccomp__disable(): no thread installs anything. */
bool seccomp__enabled(void);
/* Loads FILE, raw `struct sock_filter` records, to be installed on every thread instead
 * of the built-in filters. Returns 0, or -1 with a one-line reason in err. */
int seccomp__load_file(const char *path, char *err, size_t errlen);

/* Installs this thread's filter (after PR_SET_NO_NEW_PRIVS). Returns 0, or -1 with
 * errno set; 0 without doing anything when seccomp is disabled. The KVM requests are
 * allowed on any descriptor. */
int seccomp__install(enum seccomp_thread thread);
/* The same, with the KVM requests allowed only on their own descriptor: vm_fd for
 * KVM_IRQ_LINE, vcpu_fd for KVM_RUN, KVM_GET_REGS and KVM_SET_GUEST_DEBUG. -1 leaves
 * that descriptor unchecked. */
int seccomp__install_fds(enum seccomp_thread thread, int vm_fd, int vcpu_fd);
/* A vCPU thread's filter: SECCOMP_VCPU_BOOT_TIMER for the vCPU that times the kernel
 * entry (boot_timer), SECCOMP_VCPU otherwise; descriptors checked. */
int seccomp__install_vcpu(bool boot_timer, int vm_fd, int vcpu_fd);

const char *seccomp__thread_name(enum seccomp_thread thread);
/* Number of system calls the built-in filter allows on this thread. */
unsigned seccomp__nr_syscalls(enum seccomp_thread thread);
/* `ember --print-seccomp-summary`: counts and names per thread class. */
void seccomp__print_summary(FILE *out);

#endif
