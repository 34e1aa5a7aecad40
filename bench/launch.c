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
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smaps.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#define NONE (-1LL)

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

/* --- tracefs ------------------------------------------------------------------------ */

static int put(const char *dir, const char *file, const char *val)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, val, strlen(val));
	int e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

static const char *tracefs_root(void)
{
	static const char *roots[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
	for (int tries = 0; tries < 2; tries++) {
		for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
			char p[128];
			snprintf(p, sizeof(p), "%s/instances", roots[i]);
			if (access(p, W_OK) == 0)
				return roots[i];
		}
		/* Not mounted yet (a fresh boot): root may mount it where the kernel expects. */
		if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL))
			break;
	}
	return NULL;
}

static const char *const trace_events[] = {
    "syscalls/sys_enter_ioctl", "syscalls/sys_exit_ioctl", "syscalls/sys_enter_exit_group",
    "sched/sched_process_exec", "sched/sched_switch",	   "sched/sched_process_fork"};

static int cmd_trace_setup(const char *name)
{
	const char *root = tracefs_root();
	if (!root) {
		fprintf(stderr, "launch: no writable tracefs (not root, or a kernel without "
				"CONFIG_TRACING)\n");
		return 1;
	}
	char dir[512], f[256];
	snprintf(dir, sizeof(dir), "%s/instances/%s", root, name);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "launch: mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (put(dir, "trace_clock", "mono") || put(dir, "buffer_size_kb", "8192") ||
	    put(dir, "options/event-fork", "1")) {
		fprintf(stderr, "launch: cannot configure %s: %s\n", dir, strerror(errno));
		rmdir(dir);
		return 1;
	}
	for (size_t i = 0; i < sizeof(trace_events) / sizeof(trace_events[0]); i++) {
		snprintf(f, sizeof(f), "events/%s/enable", trace_events[i]);
		if (put(dir, f, "1")) {
			fprintf(stderr,
				"launch: tracepoint %s unavailable (%s): a kernel without "
				"CONFIG_FTRACE_SYSCALLS?\n",
				trace_events[i], strerror(errno));
			put(dir, "events/enable", "0");
			rmdir(dir);
			return 1;
		}
	}
	put(dir, "tracing_on", "1");
	puts(dir);
	return 0;
}

static int cmd_trace_remove(const char *dir)
{
	put(dir, "tracing_on", "0");
	put(dir, "events/enable", "0");
	if (rmdir(dir)) {
		fprintf(stderr, "launch: rmdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	return 0;
}

/* --- what the trace says ------------------------------------------------------------- */

struct ioctl_name {
	unsigned long cmd;
	const char *name;
};

/* The KVM ioctls that VMMs make before their first KVM_RUN; others print as hex. */
static const struct ioctl_name kvm_ioctls[] = {
    {KVM_GET_API_VERSION, "GET_API_VERSION"},
    {KVM_CREATE_VM, "CREATE_VM"},
    {KVM_GET_MSR_INDEX_LIST, "GET_MSR_INDEX_LIST"},
    {KVM_GET_MSR_FEATURE_INDEX_LIST, "GET_MSR_FEATURE_INDEX_LIST"},
    {KVM_CHECK_EXTENSION, "CHECK_EXTENSION"},
    {KVM_GET_VCPU_MMAP_SIZE, "GET_VCPU_MMAP_SIZE"},
    {KVM_GET_SUPPORTED_CPUID, "GET_SUPPORTED_CPUID"},
    {KVM_GET_EMULATED_CPUID, "GET_EMULATED_CPUID"},
    {KVM_CREATE_VCPU, "CREATE_VCPU"},
    {KVM_SET_USER_MEMORY_REGION, "SET_USER_MEMORY_REGION"},
    {KVM_SET_TSS_ADDR, "SET_TSS_ADDR"},
    {KVM_SET_IDENTITY_MAP_ADDR, "SET_IDENTITY_MAP_ADDR"},
    {KVM_CREATE_IRQCHIP, "CREATE_IRQCHIP"},
    {KVM_CREATE_PIT2, "CREATE_PIT2"},
    {KVM_IRQ_LINE, "IRQ_LINE"},
    {KVM_IRQ_LINE_STATUS, "IRQ_LINE_STATUS"},
    {KVM_SET_GSI_ROUTING, "SET_GSI_ROUTING"},
    {KVM_IRQFD, "IRQFD"},
    {KVM_IOEVENTFD, "IOEVENTFD"},
    {KVM_SET_CLOCK, "SET_CLOCK"},
    {KVM_GET_CLOCK, "GET_CLOCK"},
    {KVM_ENABLE_CAP, "ENABLE_CAP"},
    {KVM_SET_BOOT_CPU_ID, "SET_BOOT_CPU_ID"},
    {KVM_RUN, "RUN"},
    {KVM_GET_REGS, "GET_REGS"},
    {KVM_SET_REGS, "SET_REGS"},
    {KVM_GET_SREGS, "GET_SREGS"},
    {KVM_SET_SREGS, "SET_SREGS"},
    {KVM_GET_MSRS, "GET_MSRS"},
    {KVM_SET_MSRS, "SET_MSRS"},
    {KVM_SET_CPUID2, "SET_CPUID2"},
    {KVM_GET_CPUID2, "GET_CPUID2"},
    {KVM_SET_SIGNAL_MASK, "SET_SIGNAL_MASK"},
    {KVM_GET_FPU, "GET_FPU"},
    {KVM_SET_FPU, "SET_FPU"},
    {KVM_GET_LAPIC, "GET_LAPIC"},
    {KVM_SET_LAPIC, "SET_LAPIC"},
    {KVM_GET_MP_STATE, "GET_MP_STATE"},
    {KVM_SET_MP_STATE, "SET_MP_STATE"},
    {KVM_SET_GUEST_DEBUG, "SET_GUEST_DEBUG"},
    {KVM_X86_SETUP_MCE, "X86_SETUP_MCE"},
    {KVM_X86_GET_MCE_CAP_SUPPORTED, "X86_GET_MCE_CAP_SUPPORTED"},
    {KVM_GET_VCPU_EVENTS, "GET_VCPU_EVENTS"},
    {KVM_SET_VCPU_EVENTS, "SET_VCPU_EVENTS"},
    {KVM_GET_DEBUGREGS, "GET_DEBUGREGS"},
    {KVM_SET_DEBUGREGS, "SET_DEBUGREGS"},
    {KVM_GET_XSAVE, "GET_XSAVE"},
    {KVM_SET_XSAVE, "SET_XSAVE"},
    {KVM_GET_XCRS, "GET_XCRS"},
    {KVM_SET_XCRS, "SET_XCRS"},
    {KVM_SET_TSC_KHZ, "SET_TSC_KHZ"},
    {KVM_GET_TSC_KHZ, "GET_TSC_KHZ"},
    {KVM_KVMCLOCK_CTRL, "KVMCLOCK_CTRL"},
    {KVM_GET_PIT2, "GET_PIT2"},
    {KVM_SET_PIT2, "SET_PIT2"},
    {KVM_GET_IRQCHIP, "GET_IRQCHIP"},
    {KVM_SET_IRQCHIP, "SET_IRQCHIP"},
    {KVM_SIGNAL_MSI, "SIGNAL_MSI"},
    {KVM_REINJECT_CONTROL, "REINJECT_CONTROL"},
    {KVM_GET_DEVICE_ATTR, "GET_DEVICE_ATTR"},
    {KVM_HAS_DEVICE_ATTR, "HAS_DEVICE_ATTR"},
    {KVM_GET_STATS_FD, "GET_STATS_FD"},
    {KVM_X86_SET_MSR_FILTER, "X86_SET_MSR_FILTER"},
    {KVM_GET_SREGS2, "GET_SREGS2"},
    {KVM_SET_SREGS2, "SET_SREGS2"},
    {KVM_GET_XSAVE2, "GET_XSAVE2"},
};

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

static bool is_kvm(unsigned long cmd)
{
	return ((cmd >> 8) & 0xff) == KVMIO;
}

static bool is_ours(const struct trace_summary *s, int tid)
{
	for (int i = 0; i < s->nr_ours; i++)
		if (s->ours[i] == tid)
			return true;
	return false;
}

static int open_slot(struct trace_summary *s, int tid)
{
	for (int i = 0; i < s->nr_open; i++)
		if (s->open[i].tid == tid)
			return i;
	if (s->nr_open == MAX_TIDS)
		return -1;
	s->open[s->nr_open].tid = tid;
	s->open[s->nr_open].since = NONE;
	s->open[s->nr_open].on_cpu = NONE;
	return s->nr_open++;
}

static void on_ioctl_return(struct trace_summary *s, unsigned long cmd, long long since,
			    long long t)
{
	if (!is_kvm(cmd))
		return;
	if (cmd == KVM_RUN) {
		s->last_run_ret_us = t;
		return;
	}
	if (s->first_run_us != NONE && since >= s->first_run_us)
		return;
	s->kvm_before_run_us += t - since;
	int i = 0;
	while (i < s->nr_per && s->per[i].cmd != cmd)
		i++;
	if (i == MAX_NAMES)
		return;
	if (i == s->nr_per) {
		s->per[i].cmd = cmd;
		s->per[i].us = s->per[i].n = 0;
		s->nr_per++;
	}
	s->per[i].us += t - since;
	s->per[i].n++;
}

/*
 * One line of the instance's text trace:
 *   "  comm-TID  [CPU] FLAGS  SECS.USECS: sys_ioctl(fd: 3, cmd: ae80, arg: 0)"
 * t0_us is the launcher's zero on the same clock (trace_clock mono).
 */
static void on_trace_line(struct trace_summary *s, char *line, long long t0_us)
{
	char *br = strstr(line, " [");
	if (!br || line[0] == '#')
		return;
	char *p = br;
	while (p > line && p[-1] >= '0' && p[-1] <= '9')
		p--;
	int tid = atoi(p);
	unsigned long long sec, usec;
	char *after = strchr(br, ']');
	if (!after)
		return;
	/* skip the flags field, then "SECS.USECS:" */
	after++;
	while (*after == ' ')
		after++;
	while (*after && *after != ' ')
		after++;
	int used = 0;
	if (sscanf(after, " %llu.%llu:%n", &sec, &usec, &used) != 2 || !used)
		return;
	long long t = (long long)(sec * 1000000ull + usec) - t0_us;
	char *ev = after + used;
	while (*ev == ' ')
		ev++;
	unsigned long cmd;
	if (!strncmp(ev, "sys_ioctl(", 10)) {
		char *c = strstr(ev, "cmd: ");
		if (!c || sscanf(c, "cmd: %lx", &cmd) != 1)
			return;
		cmd &= 0xffffffffu; /* an int request number arrives sign-extended */
		s->nr_ioctls++;
		if (is_kvm(cmd)) {
			s->nr_kvm_ioctls++;
			if (s->first_kvm_us == NONE)
				s->first_kvm_us = t;
		}
		if (cmd == KVM_RUN) {
			s->nr_runs++;
			if (s->first_run_us == NONE)
				s->first_run_us = t;
		}
		int i = open_slot(s, tid);
		if (i >= 0) {
			s->open[i].cmd = cmd;
			s->open[i].since = t;
		}
	} else if (!strncmp(ev, "sys_ioctl ->", 12)) {
		int i = open_slot(s, tid);
		if (i >= 0 && s->open[i].since != NONE) {
			on_ioctl_return(s, s->open[i].cmd, s->open[i].since, t);
			s->open[i].since = NONE;
		}
	} else if (!strncmp(ev, "sys_exit_group(", 15)) {
		if (s->exit_group_us == NONE)
			s->exit_group_us = t;
	} else if (!strncmp(ev, "sched_switch:", 13)) {
		/* prev_pid=A ... ==> next_comm=... next_pid=B: A leaves the CPU, B takes it */
		char *a = strstr(ev, " prev_pid="), *b = strstr(ev, " next_pid=");
		if (!a || !b)
			return;
		/* Only one side may be ours: the filter keeps a switch if either is. */
		int prev = atoi(a + 10), next = atoi(b + 10), i;
		if (is_ours(s, prev) && (i = open_slot(s, prev)) >= 0 &&
		    s->open[i].on_cpu != NONE) {
			s->cpu_us += t - s->open[i].on_cpu;
			s->open[i].on_cpu = NONE;
		}
		if (is_ours(s, next) && (i = open_slot(s, next)) >= 0)
			s->open[i].on_cpu = t;
	} else if (!strncmp(ev, "sched_process_fork:", 19)) {
		char *a = strstr(ev, " pid="), *b = strstr(ev, " child_pid=");
		if (a && b && is_ours(s, atoi(a + 5)) && s->nr_ours < MAX_TIDS)
			s->ours[s->nr_ours++] = atoi(b + 11);
	} else if (!strncmp(ev, "sched_process_exec:", 19)) {
		if (s->exec_us == NONE)
			s->exec_us = t;
	}
}

static int read_trace(const char *dir, struct trace_summary *s, long long t0_us)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/trace", dir);
	FILE *f = fopen(p, "re");
	if (!f)
		return -1;
	char line[4096]; /* exec lines carry a path */
	while (fgets(line, sizeof(line), f))
		on_trace_line(s, line, t0_us);
	fclose(f);
	return 0;
}

static const char *ioctl_name(unsigned long cmd, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(kvm_ioctls) / sizeof(kvm_ioctls[0]); i++)
		if (kvm_ioctls[i].cmd == cmd)
			return kvm_ioctls[i].name;
	snprintf(buf, len, "0x%lx", cmd);
	return buf;
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
	if (o->trace) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		/* Only this launcher and what it forks; then an empty buffer. */
		if (put(o->trace, "set_event_pid", pid) || put(o->trace, "trace", "")) {
			fprintf(stderr, "launch: %s: %s\n", o->trace, strerror(errno));
			return 1;
		}
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
	memset(&s, 0, sizeof(s));
	s.exec_us = s.first_kvm_us = s.first_run_us = s.last_run_ret_us = s.exit_group_us = NONE;
	s.ours[s.nr_ours++] = (int)pid;
	bool traced = o->trace && read_trace(o->trace, &s, t0 / 1000) == 0;

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
	if (traced) {
		field("exec_us", s.exec_us);
		field("first_kvm_ioctl_us", s.first_kvm_us);
		field("first_kvm_run_us", s.first_run_us);
		field("last_run_return_us", s.last_run_ret_us);
		field("exit_group_us", s.exit_group_us);
		field("kvm_ioctls_before_run_us", s.kvm_before_run_us);
		field("nr_ioctls", s.nr_ioctls);
		field("nr_kvm_ioctls", s.nr_kvm_ioctls);
		field("nr_kvm_runs", s.nr_runs);
		field("cpu_us", s.cpu_us);
		printf(",\"kvm_ioctl_us\":{");
		for (int i = 0; i < s.nr_per; i++) {
			char b[32];
			printf("%s\"%s\":[%lld,%lld]", i ? "," : "",
			       ioctl_name(s.per[i].cmd, b, sizeof(b)), s.per[i].us, s.per[i].n);
		}
		putchar('}');
	}
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
		return cmd_trace_setup(argv[2]);
	if (!strcmp(argv[1], "trace-remove") && argc == 3)
		return cmd_trace_remove(argv[2]);
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
