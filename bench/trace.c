/*
 * The kernel's view of one VMM run, for bench/launch.c: a tracefs instance that records
 * only the launcher's children (set_event_pid + event-fork, trace_clock mono), and what
 * its text trace says (exec, every ioctl, exit_group, on-CPU time). See trace.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace.h"

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

int trace__setup(const char *name)
{
	const char *root = tracefs_root();
	if (!root) {
		fprintf(stderr, "trace: no writable tracefs (not root, or a kernel without "
				"CONFIG_TRACING)\n");
		return 1;
	}
	char dir[512], f[256];
	snprintf(dir, sizeof(dir), "%s/instances/%s", root, name);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "trace: mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (put(dir, "trace_clock", "mono") || put(dir, "buffer_size_kb", "8192") ||
	    put(dir, "options/event-fork", "1")) {
		fprintf(stderr, "trace: cannot configure %s: %s\n", dir, strerror(errno));
		rmdir(dir);
		return 1;
	}
	for (size_t i = 0; i < sizeof(trace_events) / sizeof(trace_events[0]); i++) {
		snprintf(f, sizeof(f), "events/%s/enable", trace_events[i]);
		if (put(dir, f, "1")) {
			fprintf(stderr,
				"trace: tracepoint %s unavailable (%s): a kernel without "
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

int trace__remove(const char *dir)
{
	put(dir, "tracing_on", "0");
	put(dir, "events/enable", "0");
	if (rmdir(dir)) {
		fprintf(stderr, "trace: rmdir %s: %s\n", dir, strerror(errno));
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
	/* "comm-TID" is padded to a width ("ember-15184   [001]"): the TID ends at the
	 * last digit before the padding, not at the " [". */
	char *p = br;
	while (p > line && p[-1] == ' ')
		p--;
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

int trace__read(const char *dir, pid_t child, long long t0_us, struct trace_summary *s)
{
	memset(s, 0, sizeof(*s));
	s->exec_us = s->first_kvm_us = s->first_run_us = s->last_run_ret_us = s->exit_group_us =
	    NONE;
	s->ours[s->nr_ours++] = (int)child;
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

int trace__arm(const char *dir)
{
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	/* Only this process and what it forks from now on; then an empty buffer. */
	if (put(dir, "set_event_pid", pid) || put(dir, "trace", ""))
		return -1;
	return 0;
}

void trace__print_json(const struct trace_summary *s)
{
	bench__json_field("exec_us", s->exec_us);
	bench__json_field("first_kvm_ioctl_us", s->first_kvm_us);
	bench__json_field("first_kvm_run_us", s->first_run_us);
	bench__json_field("last_run_return_us", s->last_run_ret_us);
	bench__json_field("exit_group_us", s->exit_group_us);
	bench__json_field("kvm_ioctls_before_run_us", s->kvm_before_run_us);
	bench__json_field("nr_ioctls", s->nr_ioctls);
	bench__json_field("nr_kvm_ioctls", s->nr_kvm_ioctls);
	bench__json_field("nr_kvm_runs", s->nr_runs);
	bench__json_field("cpu_us", s->cpu_us);
	printf(",\"kvm_ioctl_us\":{");
	for (int i = 0; i < s->nr_per; i++) {
		char b[32];
		printf("%s\"%s\":[%lld,%lld]", i ? "," : "",
		       ioctl_name(s->per[i].cmd, b, sizeof(b)), s->per[i].us, s->per[i].n);
	}
	putchar('}');
}
