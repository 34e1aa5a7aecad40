/* bench/trace.c reads the kernel's text trace: which thread made which KVM ioctl, and
 * for how long, decides the bench's "KVM ioctls" figures and its check that the
 * ember row made KVM_CREATE_PIT2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/trace.h"
#include "check.h"

const char bench__prog[] = "test_bench_trace";

static char dir[] = "/tmp/ember-test-trace.XXXXXX";

/* Writes the fixture as DIR/trace and reads it for child 15183 with t0 at 85360.389000. */
static int read_fixture(const char *text, struct trace_summary *s)
{
	if (!mkdtemp(dir))
		return -1;
	char path[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/trace", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	fclose(f);
	int rc = trace__read(dir, 15183, 85360389000LL, s);
	unlink(path);
	return rc;
}

static long long us_of(const struct trace_summary *s, unsigned long cmd, long long *n)
{
	for (int i = 0; i < s->nr_per; i++)
		if (s->per[i].cmd == cmd) {
			*n = s->per[i].n;
			return s->per[i].us;
		}
	*n = 0;
	return -1;
}

/* Two threads' ioctls interleave, and a five-digit TID is padded before " [CPU]": each
 * return belongs to its own thread's entry (a TID read as 0 merged them, and the helper's
 * KVM_CREATE_PIT2 went missing whenever the main thread's ioctls fell inside it). */
static void interleaved_threads_keep_their_ioctls(void)
{
	static const char text[] =
	    "# tracer: nop\n"
	    "          launch-15182   [000] ..... 85360.389351: sched_process_fork: comm=launch "
	    "pid=15182 child_comm=launch child_pid=15183\n"
	    "           ember-15183   [000] ..... 85360.393302: sched_process_exec: "
	    "filename=/x/ember pid=15183 old_pid=15183\n"
	    "           ember-15183   [000] ..... 85360.393523: sched_process_fork: comm=ember "
	    "pid=15183 child_comm=ember child_pid=15184\n"
	    "           ember-15184   [001] ..... 85360.395321: sys_ioctl(fd: 5, cmd: 0xae60, arg: "
	    "0)\n"
	    "           ember-15184   [001] ..... 85360.395385: sys_ioctl -> 0x0\n"
	    "           ember-15184   [001] ..... 85360.395387: sys_ioctl(fd: 5, cmd: 0x4040ae77, "
	    "arg: 0x7f999caefd40)\n"
	    "           ember-15183   [000] ..... 85360.395429: sys_ioctl(fd: 4, cmd: 0xae00, arg: "
	    "0)\n"
	    "           ember-15183   [000] ..... 85360.395431: sys_ioctl -> 0xc\n"
	    "           ember-15183   [000] ..... 85360.395478: sys_ioctl(fd: 4, cmd: "
	    "0xffffffffc008ae05, arg: 0x7f999ca84060)\n"
	    "           ember-15184   [001] ..... 85360.395676: sys_ioctl -> 0x0\n"
	    "           ember-15183   [000] ..... 85360.395586: sys_ioctl -> 0x0\n"
	    "           ember-15183   [000] ..... 85360.396224: sched_process_fork: comm=ember "
	    "pid=15183 child_comm=ember child_pid=15186\n"
	    "           ember-15186   [000] ..... 85360.396321: sys_ioctl(fd: 9, cmd: 0xae80, arg: "
	    "0)\n"
	    "           ember-15186   [000] ..... 85360.396478: sys_ioctl -> 0x0\n"
	    "         ember-1234567   [001] ..... 85360.396500: sys_ioctl(fd: 9, cmd: 0xae41, arg: "
	    "0)\n";
	struct trace_summary s;
	CHECK_EQ(read_fixture(text, &s), 0);
	long long n;
	CHECK_EQ(us_of(&s, 0xae60, &n), 64); /* KVM_CREATE_IRQCHIP */
	CHECK_EQ(n, 1);
	CHECK_EQ(us_of(&s, 0x4040ae77, &n), 289); /* KVM_CREATE_PIT2, around main's two */
	CHECK_EQ(n, 1);
	CHECK_EQ(us_of(&s, 0xae00, &n), 2);	  /* KVM_GET_API_VERSION */
	CHECK_EQ(us_of(&s, 0xc008ae05, &n), 108); /* KVM_GET_SUPPORTED_CPUID */
	CHECK_EQ(s.kvm_before_run_us, 64 + 289 + 2 + 108);
	CHECK_EQ(s.first_run_us, 396321 - 389000);
	CHECK_EQ(s.exec_us, 393302 - 389000);
	CHECK_EQ(s.nr_kvm_ioctls, 6);
	CHECK_EQ(s.nr_runs, 1);
	/* An unpadded seven-digit TID is read as well; its ioctl, entered after the first
	 * KVM_RUN, is counted (nr_kvm_ioctls above) but not timed. */
	CHECK_EQ(us_of(&s, 0xae41, &n), -1);
	rmdir(dir);
}

CHECK_MAIN("bench_trace", CHECK_CASE(interleaved_threads_keep_their_ioctls))
