/* Memory use of a running VMM from /proc/PID/smaps, with the guest-memory range found and
 * set apart so that what remains is the VMM's own overhead. Shared by the bench tools. */
#ifndef BENCH_SMAPS_H
#define BENCH_SMAPS_H
#include <sys/types.h>

struct mem_usage {
	long long rss_kb, pss_kb;	      /* whole process */
	long long guest_rss_kb, guest_pss_kb; /* the guest-memory range */
	long long guest_span_kb;	      /* how much address space it covered */
	const char *match;		      /* "exact", "approx" or "none" */
};

/* Fills *m for PID; guest_mib 0 means "do not look for guest memory". -1 on error. */
int smaps__read(pid_t pid, long long guest_mib, struct mem_usage *m);
/* Prints m's fields as JSON members (no braces) on stdout. */
void smaps__print_json(const struct mem_usage *m);
#endif
