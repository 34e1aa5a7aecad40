/* What the bench's timing tools (launch, benchtool) share: one clock, one way to read a
 * number, start a child, reach the API socket, print a JSON field, and run the `rate`
 * loop, so that both measure with the same overhead. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define NONE (-1LL) /* a time or count that was not seen */

/* The tool's name for messages ("launch", "benchtool"); each tool defines it. */
extern const char bench__prog[];

int64_t bench__mono_ns(void);
/* A non-negative decimal number or exit 2 with a message naming opt. */
long long bench__num_arg(const char *opt, const char *s);
/* In a forked child: stdin from /dev/null, stdout/stderr to the fds (or /dev/null when
 * negative), then exec cmd; exits 127 if that fails. */
_Noreturn void bench__exec(char **cmd, int out_fd, int err_fd);
/* A connected AF_UNIX stream socket on path, or -1 with errno. */
int bench__sock_connect(const char *path);
/* Prints ,"name":v (null for NONE) on stdout. */
void bench__json_field(const char *name, long long v);

struct bench_rate {
	long long parallel, count, timeout_ms, ok_rc;
	char **cmd;
	pid_t (*spawn)(char **cmd, long long index); /* fork; the child runs cmd */
	int64_t (*clock_ns)(void);
	/* After a failed fork: true stops starting runs and lowers count to what was
	 * started (launch); false tries again after the next run ends (benchtool). */
	bool fork_error_ends;
	bool report_cpu; /* add the runs' CPU time (cpu_us, cpu_per_vm_us) to the output */
};

/* One --name value pair of a command line; false if name is not an option here. */
typedef bool (*bench_opt_fn)(const char *name, const char *value, void *ctx);

/* Parses argv[2..]: --name value pairs up to "--", then the command, which it returns.
 * With rate (`rate` commands), --parallel and --count go there (preset to the defaults)
 * and must be at least 1; every other pair goes to opt. A malformed line is a message
 * and usage(), which exits. */
char **bench__options(int argc, char **argv, struct bench_rate *rate, bench_opt_fn opt, void *ctx,
		      void (*usage)(void));

/* Runs cmd count times, at most parallel at once, until done or timeout_ms passes, and
 * prints one JSON object with VMs started and reaped per second. */
int bench__rate(const struct bench_rate *o);
#endif
