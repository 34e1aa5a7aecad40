/*
 * launch: starts any VMM the same way and times it the same way, so that ember, its
 * peers and the floor are measured with equal overhead. Static (musl).
 *
 *   launch trace-setup NAME    makes the tracefs instance NAME (mounting tracefs if
 *                              needed) and prints its directory; exit 1 with the reason
 *   launch trace-remove DIR    turns the instance's events off and removes it
 *   launch run [--trace DIR] [--timeout MS] [--log FILE] [--ok-rc N] [--sock PATH]
 *              [--hold-ms MS] [--guest-mib MIB] -- CMD [ARGS...]
 *	fork+exec CMD (stdin /dev/null, stdout and stderr to FILE or /dev/null) and print
 *	one JSON object. Times are us from just before fork on CLOCK_MONOTONIC:
 *	exit_us (reaped: the process life), the rusage of the child, and with --trace the
 *	kernel's own timestamps of its exec, of every ioctl it made (first KVM ioctl,
 *	first KVM_RUN, time spent inside each KVM ioctl before it), the last return from
 *	KVM_RUN and exit_group. --sock: poll connect() every 100 us, then stop the VMM
 *	(exec -> API ready). --hold-ms: read /proc/PID/smaps after MS, then stop it.
 *   launch rate --parallel P --count N [--timeout MS] [--ok-rc N] -- CMD [ARGS...]
 *	N runs, at most P at once; VMs created and reaped per second, CPU per VM.
 *
 * The trace instance records only this process and what it forks (set_event_pid with
 * event-fork), so other users of the machine do not disturb it; its clock is "mono".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "smaps.h"
#include "trace.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

const char bench__prog[] = "launch";

static void usage(void)
{
	fputs("usage: launch trace-setup NAME | trace-remove DIR\n"
	      "       launch run [--trace DIR] [--timeout MS] [--log FILE] [--ok-rc N]\n"
	      "                  [--sock PATH] [--hold-ms MS] [--guest-mib MIB] -- CMD...\n"
	      "       launch rate --parallel P --count N [--timeout MS] [--ok-rc N] -- CMD...\n",
	      stderr);
	exit(2);
}

/* --- run ------------------------------------------------------------------------------- */

struct run_opts {
	const char *trace, *log, *sock;
	long long timeout_ms, hold_ms, guest_mib, ok_rc;
	char **cmd;
};

/* The log (stdout and stderr both) is opened before the clock starts: truncating the
 * last run's log costs ~0.5 ms on ext4, which was charged to the exec of every VMM that
 * logs (and not to the silent floor). A log that cannot be opened means /dev/null. */
static int open_log(const char *log)
{
	return log ? open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
}

static pid_t spawn(char **cmd, int log_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	bench__exec(cmd, log_fd, log_fd);
}

static bool sock_ready(const char *path)
{
	int fd = bench__sock_connect(path);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int cmd_run(const struct run_opts *o)
{
	if (o->trace && trace__arm(o->trace)) {
		fprintf(stderr, "launch: %s: %s\n", o->trace, strerror(errno));
		return 1;
	}
	if (o->sock)
		unlink(o->sock);
	int log_fd = open_log(o->log);
	int64_t t0 = bench__mono_ns();
	pid_t pid = spawn(o->cmd, log_fd);
	if (log_fd >= 0)
		close(log_fd);
	if (pid < 0) {
		perror("launch: fork");
		return 1;
	}
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		perror("launch: pidfd_open");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	long long sock_us = NONE, exit_us = NONE;
	bool timed_out = false, held = false, have_mem = false;
	struct mem_usage mem;
	int64_t deadline = t0 + o->timeout_ms * 1000000LL;
	int64_t hold_at = o->hold_ms ? t0 + o->hold_ms * 1000000LL : 0;
	for (;;) {
		int64_t now = bench__mono_ns();
		if (o->sock && sock_us == NONE && sock_ready(o->sock)) {
			sock_us = (bench__mono_ns() - t0) / 1000;
			kill(pid, SIGTERM); /* ready is all we wanted */
		}
		if (hold_at && !held && now >= hold_at) {
			held = true;
			have_mem = smaps__read(pid, o->guest_mib, &mem) == 0;
			kill(pid, SIGKILL);
		}
		if (now >= deadline) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		int64_t wait = deadline - now;
		if (o->sock && sock_us == NONE && wait > 100000)
			wait = 100000;
		if (hold_at && !held && wait > hold_at - now)
			wait = hold_at - now;
		struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
		struct pollfd pf = {.fd = pidfd, .events = POLLIN};
		int pr = ppoll(&pf, 1, &ts, NULL);
		if (pr > 0)
			break;
		if (pr < 0 && errno != EINTR) {
			perror("launch: ppoll");
			kill(pid, SIGKILL);
			break;
		}
	}
	int status = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	wait4(pid, &status, 0, &ru);
	exit_us = (bench__mono_ns() - t0) / 1000;
	close(pidfd);

	struct trace_summary s;
	bool traced = o->trace && trace__read(o->trace, pid, t0 / 1000, &s) == 0;

	long long rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	bool ok = !timed_out &&
		  (o->sock || o->hold_ms ? (o->sock ? sock_us != NONE : have_mem) : rc == o->ok_rc);
	printf("{\"ok\":%s,\"rc\":%lld,\"timed_out\":%s", ok ? "true" : "false", rc,
	       timed_out ? "true" : "false");
	bench__json_field("exit_us", exit_us);
	bench__json_field("sock_ready_us", sock_us);
	bench__json_field("user_us", (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec);
	bench__json_field("sys_us", (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
	bench__json_field("maxrss_kb", ru.ru_maxrss);
	printf(",\"traced\":%s", traced ? "true" : "false");
	if (traced)
		trace__print_json(&s);
	if (have_mem) {
		putchar(',');
		smaps__print_json(&mem);
	}
	puts("}");
	return 0;
}

/* --- rate ------------------------------------------------------------------------------ */

static pid_t spawn_quiet(char **cmd, long long index)
{
	(void)index;
	return spawn(cmd, -1);
}

/* --timeout and --ok-rc, which `run` and `rate` both take. */
static bool opt_both(const char *a, const char *v, void *ctx)
{
	struct run_opts *o = ctx;
	if (!strcmp(a, "--timeout"))
		o->timeout_ms = bench__num_arg(a, v);
	else if (!strcmp(a, "--ok-rc"))
		o->ok_rc = bench__num_arg(a, v);
	else
		return false;
	return true;
}

static bool opt_run(const char *a, const char *v, void *ctx)
{
	struct run_opts *o = ctx;
	if (!strcmp(a, "--trace"))
		o->trace = v;
	else if (!strcmp(a, "--log"))
		o->log = v;
	else if (!strcmp(a, "--sock"))
		o->sock = v;
	else if (!strcmp(a, "--hold-ms"))
		o->hold_ms = bench__num_arg(a, v);
	else if (!strcmp(a, "--guest-mib"))
		o->guest_mib = bench__num_arg(a, v);
	else
		return opt_both(a, v, ctx);
	return true;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "trace-setup") && argc == 3)
		return trace__setup(argv[2]);
	if (!strcmp(argv[1], "trace-remove") && argc == 3)
		return trace__remove(argv[2]);
	bool run = !strcmp(argv[1], "run"), rate = !strcmp(argv[1], "rate");
	if (!run && !rate)
		usage();
	struct run_opts o = {.timeout_ms = 60000};
	if (rate) {
		struct bench_rate r = {.parallel = 1,
				       .count = 1,
				       .spawn = spawn_quiet,
				       .clock_ns = bench__mono_ns,
				       .fork_error_ends = true,
				       .report_cpu = true};
		r.cmd = bench__options(argc, argv, &r, opt_both, &o, usage);
		r.timeout_ms = o.timeout_ms;
		r.ok_rc = o.ok_rc;
		return bench__rate(&r);
	}
	o.cmd = bench__options(argc, argv, NULL, opt_run, &o, usage);
	return cmd_run(&o);
}
