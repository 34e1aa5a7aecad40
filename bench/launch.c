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
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smaps.h"
#include "trace.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(void)
{
	fputs("usage: launch trace-setup NAME | trace-remove DIR\n"
	      "       launch run [--trace DIR] [--timeout MS] [--log FILE] [--ok-rc N]\n"
	      "                  [--sock PATH] [--hold-ms MS] [--guest-mib MIB] -- CMD...\n"
	      "       launch rate --parallel P --count N [--timeout MS] [--ok-rc N] -- CMD...\n",
	      stderr);
	exit(2);
}

static long long num_arg(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0) {
		fprintf(stderr, "launch: %s: '%s' is not a number\n", opt, s);
		exit(2);
	}
	return v;
}

/* --- run ------------------------------------------------------------------------------- */

struct run_opts {
	const char *trace, *log, *sock;
	long long timeout_ms, hold_ms, guest_mib, ok_rc;
	char **cmd;
};

static pid_t spawn(char **cmd, const char *log)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int null = open("/dev/null", O_RDWR);
	int out = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644) : null;
	dup2(null, 0);
	dup2(out >= 0 ? out : null, 1);
	dup2(out >= 0 ? out : null, 2);
	execvp(cmd[0], cmd);
	dprintf(2, "launch: exec %s: %s\n", cmd[0], strerror(errno));
	_exit(127);
}

static bool sock_ready(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static void field(const char *name, long long v)
{
	if (v == NONE)
		printf(",\"%s\":null", name);
	else
		printf(",\"%s\":%lld", name, v);
}

static int cmd_run(const struct run_opts *o)
{
	if (o->trace && trace__arm(o->trace)) {
		fprintf(stderr, "launch: %s: %s\n", o->trace, strerror(errno));
		return 1;
	}
	if (o->sock)
		unlink(o->sock);
	int64_t t0 = mono_ns();
	pid_t pid = spawn(o->cmd, o->log);
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
		int64_t now = mono_ns();
		if (o->sock && sock_us == NONE && sock_ready(o->sock)) {
			sock_us = (mono_ns() - t0) / 1000;
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
	exit_us = (mono_ns() - t0) / 1000;
	close(pidfd);

	struct trace_summary s;
	bool traced = o->trace && trace__read(o->trace, pid, t0 / 1000, &s) == 0;

	long long rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	bool ok = !timed_out &&
		  (o->sock || o->hold_ms ? (o->sock ? sock_us != NONE : have_mem) : rc == o->ok_rc);
	printf("{\"ok\":%s,\"rc\":%lld,\"timed_out\":%s", ok ? "true" : "false", rc,
	       timed_out ? "true" : "false");
	field("exit_us", exit_us);
	field("sock_ready_us", sock_us);
	field("user_us", (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec);
	field("sys_us", (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
	field("maxrss_kb", ru.ru_maxrss);
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

static long long children_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static volatile sig_atomic_t alarm_hit;
static void on_alarm(int sig)
{
	(void)sig;
	alarm_hit = 1;
}

static int cmd_rate(long long parallel, long long count, long long timeout_ms, long long ok_rc,
		    char **cmd)
{
	pid_t *live = calloc((size_t)parallel, sizeof(*live));
	if (!live)
		return 1;
	/* A blocking wait that SIGALRM interrupts (no SA_RESTART): no polling that would
	 * take CPU from the VMs being counted. */
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)((timeout_ms + 999) / 1000));
	long long started = 0, ok = 0, failed = 0, running = 0;
	long long cpu0 = children_cpu_us();
	int64_t t0 = mono_ns();
	while ((started < count || running) && !alarm_hit) {
		while (started < count && running < parallel) {
			pid_t p = spawn(cmd, NULL);
			if (p < 0) {
				perror("launch: fork");
				count = started;
				break;
			}
			for (long long i = 0; i < parallel; i++)
				if (!live[i]) {
					live[i] = p;
					break;
				}
			started++;
			running++;
		}
		if (!running)
			break;
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (long long i = 0; i < parallel; i++)
			if (live[i] == p) {
				live[i] = 0;
				running--;
				if (WIFEXITED(st) && WEXITSTATUS(st) == ok_rc)
					ok++;
				else
					failed++;
			}
	}
	int64_t wall = mono_ns() - t0;
	alarm(0);
	for (long long i = 0; i < parallel; i++)
		if (live[i]) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
			failed++;
		}
	free(live);
	long long cpu = children_cpu_us() - cpu0;
	printf("{\"parallel\":%lld,\"count\":%lld,\"ok\":%lld,\"failed\":%lld,\"timed_out\":%s,"
	       "\"wall_us\":%lld,\"per_sec\":%.3f,\"cpu_us\":%lld,\"cpu_per_vm_us\":%lld}\n",
	       parallel, count, ok, failed, alarm_hit ? "true" : "false", (long long)(wall / 1000),
	       wall > 0 ? (double)ok * 1e9 / (double)wall : 0.0, cpu, started ? cpu / started : 0);
	return 0;
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
	long long parallel = 1, count = 1;
	int i = 2;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--timeout"))
			o.timeout_ms = num_arg(a, v);
		else if (!strcmp(a, "--ok-rc"))
			o.ok_rc = num_arg(a, v);
		else if (run && !strcmp(a, "--trace"))
			o.trace = v;
		else if (run && !strcmp(a, "--log"))
			o.log = v;
		else if (run && !strcmp(a, "--sock"))
			o.sock = v;
		else if (run && !strcmp(a, "--hold-ms"))
			o.hold_ms = num_arg(a, v);
		else if (run && !strcmp(a, "--guest-mib"))
			o.guest_mib = num_arg(a, v);
		else if (rate && !strcmp(a, "--parallel"))
			parallel = num_arg(a, v);
		else if (rate && !strcmp(a, "--count"))
			count = num_arg(a, v);
		else {
			fprintf(stderr, "launch: unknown option %s\n", a);
			usage();
		}
	}
	if (i >= argc)
		usage();
	o.cmd = argv + i;
	if (rate) {
		if (parallel < 1 || count < 1)
			usage();
		return cmd_rate(parallel, count, o.timeout_ms, o.ok_rc, o.cmd);
	}
	return cmd_run(&o);
}
