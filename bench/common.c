/* Shared by the bench's timing tools: see common.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

int64_t bench__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long bench__num_arg(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0) {
		fprintf(stderr, "%s: %s: '%s' is not a number\n", bench__prog, opt, s);
		exit(2);
	}
	return v;
}

void bench__exec(char **cmd, int out_fd, int err_fd)
{
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(out_fd >= 0 ? out_fd : null, 1);
	dup2(err_fd >= 0 ? err_fd : null, 2);
	execvp(cmd[0], cmd);
	fprintf(stderr, "%s: exec %s: %s\n", bench__prog, cmd[0], strerror(errno));
	_exit(127);
}

int bench__sock_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void bench__json_field(const char *name, long long v)
{
	if (v == NONE)
		printf(",\"%s\":null", name);
	else
		printf(",\"%s\":%lld", name, v);
}

char **bench__options(int argc, char **argv, struct bench_rate *rate, bench_opt_fn opt, void *ctx,
		      void (*usage)(void))
{
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
		if (rate && !strcmp(a, "--parallel"))
			rate->parallel = bench__num_arg(a, v);
		else if (rate && !strcmp(a, "--count"))
			rate->count = bench__num_arg(a, v);
		else if (!opt(a, v, ctx)) {
			fprintf(stderr, "%s: unknown option %s\n", bench__prog, a);
			usage();
		}
	}
	if (i >= argc || (rate && (rate->parallel < 1 || rate->count < 1)))
		usage();
	return argv + i;
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

/* Puts `to` in the first slot that holds `from` (0: a free slot); false if none does. */
static bool swap_slot(pid_t *live, long long parallel, pid_t from, pid_t to)
{
	for (long long i = 0; i < parallel; i++)
		if (live[i] == from) {
			live[i] = to;
			return true;
		}
	return false;
}

int bench__rate(const struct bench_rate *o)
{
	long long parallel = o->parallel, count = o->count;
	pid_t *live = calloc((size_t)parallel, sizeof(*live));
	if (!live)
		return 1;
	/* A blocking wait that SIGALRM interrupts (no SA_RESTART): no polling that would
	 * take CPU from the VMs being counted. */
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)((o->timeout_ms + 999) / 1000));
	long long started = 0, ok = 0, failed = 0, running = 0;
	long long cpu0 = children_cpu_us();
	int64_t t0 = o->clock_ns();
	while ((started < count || running) && !alarm_hit) {
		while (started < count && running < parallel) {
			pid_t p = o->spawn(o->cmd, started);
			if (p < 0) {
				fprintf(stderr, "%s: fork: %s\n", bench__prog, strerror(errno));
				if (o->fork_error_ends)
					count = started;
				break;
			}
			swap_slot(live, parallel, 0, p);
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
		if (swap_slot(live, parallel, p, 0)) {
			running--;
			if (WIFEXITED(st) && WEXITSTATUS(st) == o->ok_rc)
				ok++;
			else
				failed++;
		}
	}
	int64_t wall = o->clock_ns() - t0;
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
	       "\"wall_us\":%lld,\"per_sec\":%.3f",
	       parallel, count, ok, failed, alarm_hit ? "true" : "false", (long long)(wall / 1000),
	       wall > 0 ? (double)ok * 1e9 / (double)wall : 0.0);
	if (o->report_cpu)
		printf(",\"cpu_us\":%lld,\"cpu_per_vm_us\":%lld", cpu, started ? cpu / started : 0);
	puts("}");
	return 0;
}
