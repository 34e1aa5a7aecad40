/* ember-jailer's internal interface: the configuration that parse_args() fills once
 * and every step reads, and the helpers the steps share. The jailer is one
 * single-threaded process from start to exec; nothing here is meant for ember. */
#ifndef EMBER_JAILER_H
#define EMBER_JAILER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#define JAILER_EXIT_USAGE 2 /* a bad argument; nothing was done */
#define JAILER_EXIT_STEP  1 /* a step failed; see README.md for what stays behind */
#define ID_MAX		  64
#define MAX_CGROUPS	  32
#define DEFAULT_NOFILE	  2048 /* Firecracker's default */

enum step {
	STEP_FDS = 1,
	STEP_JAIL_DIR,
	STEP_COPY,
	STEP_NETNS,
	STEP_CGROUP,
	STEP_MOUNT_NS,
	STEP_PIVOT_ROOT,
	STEP_DEVICES,
	STEP_DAEMONIZE,
	STEP_PID_NS,
	STEP_RLIMITS,
	STEP_PRIVILEGES,
	STEP_EXEC,
};

struct cgroup_setting {
	char file[128];	     /* e.g. cpu.shares, memory.max */
	char controller[32]; /* the part before the first '.' */
	char value[256];
};

struct jail {
	const char *id;
	const char *exec_file;
	const char *exec_name; /* basename of exec_file: its name inside the jail */
	uid_t uid;
	gid_t gid;
	bool have_uid, have_gid;
	bool allow_root; /* --allow-root: uid or gid 0 is meant */
	const char *base_dir;
	const char *netns;
	int cgroup_version;
	struct cgroup_setting cgroups[MAX_CGROUPS];
	unsigned nr_cgroups;
	const char *parent_cgroup;
	bool have_parent_cgroup; /* given, not defaulted to the exec name */
	rlim_t fsize, nofile;
	bool have_fsize;
	bool daemonize;
	bool new_pid_ns;
	char **vmm_argv; /* after "--" */
	int vmm_argc;

	char root[PATH_MAX]; /* <base>/<exec_name>/<id>/root, for messages only */
	int devnull;
	/* Every step after 2 works through these, never through the path above: a name
	 * can be swapped for a symbolic link between two steps, an open directory not. */
	int root_fd; /* the jail root, as found in step 2 (host mount namespace) */
	int exec_fd; /* O_PATH of the copy made in step 3: what step 13 executes */
	int jail_fd; /* "/" inside the jail, from step 7 on */
	/* The host's /dev/userfaultfd, read before the host's /dev is out of sight: the
	 * jail gets the same node (the Uffd snapshot backend needs it where unprivileged
	 * userfaultfd(2) is off, vm.unprivileged_userfaultfd=0). */
	bool have_uffd;
	unsigned uffd_major, uffd_minor;
	/* The host's /dev/kvm modification time, given to the jail's node: ember keys its
	 * --cpuid-cache file on the node's device number and modification time, so that a
	 * file written outside or in another jail serves this one. */
	bool have_kvm_mtime;
	struct timespec kvm_mtime;
};

/* "ember-jailer: step 5 (cgroup): /sys/fs/cgroup/...: Permission denied", then exit 1. */
void jail__step_fail(enum step step, const char *path, int err, const char *what, ...)
    __attribute__((format(printf, 4, 5), noreturn));
/* snprintf for paths: a path that does not fit fails the step instead of being cut. */
void jail__path_fmt(char *out, size_t len, enum step step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fills j from the command line, or exits 2 with a one-line reason (0 for --help). */
void jail__parse_args(struct jail *j, int argc, char **argv);
/* Step 5: the --cgroup settings, or Firecracker's move into --parent-cgroup. */
void jail__setup_cgroups(const struct jail *j);
/* Step 12: groups, gid, capabilities (bounding set included), uid, no_new_privs;
 * checked afterwards. Exits 1 if any of it did not take. */
void jail__drop_privileges(const struct jail *j);

#endif
