/* Kernel tracepoints as the bench's one timing method for every VMM (bench/launch.c). */
#ifndef BENCH_TRACE_H
#define BENCH_TRACE_H
#include <sys/types.h>

#include "common.h" /* NONE: a time that was not seen */

#define MAX_NAMES 96
#define MAX_TIDS  64

struct trace_summary {
	long long exec_us, first_kvm_us, first_run_us, last_run_ret_us, exit_group_us;
	long long kvm_before_run_us; /* inside KVM ioctls, all threads, before first KVM_RUN */
	long long nr_ioctls, nr_kvm_ioctls, nr_runs;
	long long cpu_us;   /* on-CPU time of every thread, from sched_switch */
	int ours[MAX_TIDS]; /* the VMM's process and the threads it made */
	int nr_ours;
	struct {
		unsigned long cmd;
		long long us, n;
	} per[MAX_NAMES]; /* KVM ioctls that returned before the first KVM_RUN */
	int nr_per;
	struct {
		int tid;
		unsigned long cmd;
		long long since;  /* an ioctl entered and not yet returned */
		long long on_cpu; /* switched in at */
	} open[MAX_TIDS];	  /* per thread */
	int nr_open;
};

/* Makes the tracefs instance NAME (mounting tracefs if needed), prints its directory. */
int trace__setup(const char *name);
/* Turns the instance's events off and removes it. */
int trace__remove(const char *dir);
/* Records this process and what it forks from now on, into an empty buffer. -1: errno. */
int trace__arm(const char *dir);
/* Reads what the child (its process and threads) did; times are us after t0_us, a
 * CLOCK_MONOTONIC reading. -1 if the trace cannot be read. */
int trace__read(const char *dir, pid_t child, long long t0_us, struct trace_summary *s);
/* Prints the summary's fields as JSON members, each with a leading comma. */
void trace__print_json(const struct trace_summary *s);
#endif
