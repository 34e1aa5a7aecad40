/* The allowlists' table format. Build-time only: read by seccomp/compile.c, never
 * linked into ember. */
#ifndef EMBER_SECCOMP_ALLOWLIST_H
#define EMBER_SECCOMP_ALLOWLIST_H

#include <stdint.h>

#include "seccomp/filters.h"
#include "seccomp/seccomp.h"

/* One rule allows `syscall` when every comparison holds: (arg & mask) == value.
 * Several rules for the same system call are alternatives. */
struct sc_cmp {
	unsigned arg;
	uint64_t mask;
	uint64_t value;
};

#define SC_MAX_CMPS 3

struct sc_rule {
	const char *syscall; /* libseccomp's name for it */
	unsigned nr_cmps;
	struct sc_cmp cmps[SC_MAX_CMPS];
};

/* int-sized arguments are compared on their low 32 bits: musl passes ioctl's request
 * as an int, which sign-extends (KVM_GET_REGS has bit 31 set), and the kernel itself
 * only looks at 32 bits of them. */
#define SC_INT 0xffffffffull

#define ALLOW(name)                                                                                \
	{                                                                                          \
#name, 0,                                                                          \
		{                                                                                  \
			{                                                                          \
				0, 0, 0                                                            \
			}                                                                          \
		}                                                                                  \
	}
#define ALLOW_ARG(name, arg, val)                                                                  \
	{                                                                                          \
#name, 1,                                                                          \
		{                                                                                  \
			{                                                                          \
				arg, SC_INT, (uint64_t)(val)                                       \
			}                                                                          \
		}                                                                                  \
	}
#define ALLOW_MASKED(name, arg, m, val)                                                            \
	{                                                                                          \
#name, 1,                                                                          \
		{                                                                                  \
			{                                                                          \
				arg, m, (uint64_t)(val)                                            \
			}                                                                          \
		}                                                                                  \
	}
#define IOCTL(req) ALLOW_ARG(ioctl, 1, req)
/* An ioctl on one descriptor only: the VM's or the calling vCPU's (SECCOMP_FD_*). */
#define IOCTL_ON(fd, req)                                                                          \
	{                                                                                          \
		"ioctl", 2,                                                                        \
		{                                                                                  \
			{0, SC_INT, (fd)},                                                         \
			{                                                                          \
				1, SC_INT, (uint64_t)(req)                                         \
			}                                                                          \
		}                                                                                  \
	}

struct sc_list {
	const struct sc_rule *rules;
	unsigned nr_rules;
};

extern const struct sc_list sc_lists[SECCOMP_NR_THREADS];

#endif
