/* The built-in filters, each applied in a forked child: allowed calls work, anything
 * else kills the child with SIGSYS. Calls go through syscall(2) so that what is tested
 * is the filter, not what this test's libc happens to call. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "seccomp/seccomp.h"

typedef int (*child_fn)(void);

/* Runs fn in a child after `setup` (when given) and then `install` (when given, else
 * seccomp__install(thread)); returns the child's wait status. fn returns 0, or the
 * number of the step that went wrong. */
static int run_child_with(void (*setup)(void), int (*install)(void), enum seccomp_thread thread,
			  child_fn fn)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core); /* SIGSYS would dump core */
		if (setup)
			setup();
		if (install ? install() : seccomp__install(thread))
			_exit(100);
		/* Raw exit_group: sanitizer runtimes hook _exit() and make calls of their own. */
		syscall(SYS_exit_group, fn());
	}
	int st = -1;
	if (pid > 0)
		waitpid(pid, &st, 0);
	return st;
}

/* fn in a child under `thread`'s filter, installed after `setup` when given. */
static int run_child(enum seccomp_thread thread, void (*setup)(void), child_fn fn)
{
	return run_child_with(setup, NULL, thread, fn);
}

#define EXITED_OK(st)	  (WIFEXITED(st) && WEXITSTATUS(st) == 0)
#define KILLED_SIGSYS(st) (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)

/* A wait status as one number: the exit status (0, or the step of fn that went wrong),
 * 128 + N if signal N ended the child. */
static int exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The index of the first of fns (NULL-terminated) that `thread`'s filter does not kill
 * with SIGSYS, or -1 if it kills them all. */
static int first_not_killed(enum seccomp_thread thread, const child_fn *fns)
{
	for (int i = 0; fns[i]; i++)
		if (!KILLED_SIGSYS(run_child(thread, NULL, fns[i])))
			return i;
	return -1;
}
/* Each call dies of SIGSYS under `thread`'s filter; a failure says which did not. */
#define CHECK_ALL_KILLED(thread, ...)                                                              \
	CHECK_EQ(first_not_killed(thread, (const child_fn[]){__VA_ARGS__, NULL}), -1)

/* ioctl as musl issues it: the request is an int, sign-extended into the register. */
static long musl_ioctl(int fd, unsigned req)
{
	return syscall(SYS_ioctl, fd, (long)(int)req, 0L);
}

static int pipe_fds[2];

static int vcpu_allowed(void)
{
	if (syscall(SYS_write, pipe_fds[1], "x", 1) != 1)
		return 1;
	/* Allowed KVM requests reach the kernel, which refuses them on a pipe. */
	if (musl_ioctl(pipe_fds[0], KVM_RUN) != -1 || errno != ENOTTY)
		return 2;
	if (musl_ioctl(pipe_fds[0], KVM_GET_REGS) != -1 || errno != ENOTTY)
		return 3;
	/* The same request zero-extended, as glibc passes it. */
	if (syscall(SYS_ioctl, pipe_fds[0], (unsigned long)KVM_IRQ_LINE, 0L) != -1 ||
	    errno != ENOTTY)
		return 4;
	void *p = (void *)syscall(SYS_mmap, NULL, 4096L, (long)(PROT_READ | PROT_WRITE),
				  (long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 0L);
	if (p == MAP_FAILED)
		return 5;
	if (syscall(SYS_madvise, p, 4096L, (long)MADV_DONTNEED) != 0)
		return 6;
	if (syscall(SYS_munmap, p, 4096L) != 0)
		return 7;
	struct timespec ts;
	if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
		return 8;
	if (syscall(SYS_close, pipe_fds[1]) != 0)
		return 9;
	return 0;
}

static void make_pipe(void)
{
	if (pipe(pipe_fds))
		_exit(101);
}

static void test_vcpu_allows_its_calls(void)
{
	CHECK_EQ(exit_code(run_child(SECCOMP_VCPU, make_pipe, vcpu_allowed)), 0);
}

static int call_getpid(void)
{
	syscall(SYS_getpid);
	return 0;
}
static int call_open(void)
{
	syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
	return 0;
}
static int ioctl_tcgets(void)
{
	musl_ioctl(0, TCGETS);
	return 0;
}
static int ioctl_create_vm(void)
{
	musl_ioctl(0, KVM_CREATE_VM);
	return 0;
}
/* Same number as KVM_RUN in the low 32 bits, garbage above: still only KVM_RUN. */
static int ioctl_high_bits(void)
{
	long r = syscall(SYS_ioctl, -1, 0x100000000L | KVM_RUN, 0L);
	return r == -1 && errno == EBADF ? 0 : 1;
}
static int mmap_exec(void)
{
	syscall(SYS_mmap, NULL, 4096L, (long)(PROT_READ | PROT_EXEC),
		(long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 0L);
	return 0;
}
static int madvise_other(void)
{
	syscall(SYS_madvise, NULL, 0L, (long)MADV_WILLNEED);
	return 0;
}
static int call_socket_inet(void)
{
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	return 0;
}
static int call_fork(void)
{
	syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	return 0;
}
static int call_execve(void)
{
	char *argv[] = {"/bin/true", NULL};
	syscall(SYS_execve, "/bin/true", argv, argv + 1);
	return 0;
}

/* execve of a missing file: returns ENOENT when allowed, so the child lives on. */
static int call_execve_fails(void)
{
	char *argv[] = {"/nonexistent/ember-true", NULL};
	syscall(SYS_execve, argv[0], argv, argv + 1);
	return errno == ENOENT ? 0 : 1;
}

static void test_vcpu_kills_the_rest(void)
{
	CHECK_ALL_KILLED(SECCOMP_VCPU, call_getpid, call_open, call_socket_inet, call_fork,
			 call_execve);
}

static void test_ioctl_filtered_by_request(void)
{
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VCPU, NULL, ioctl_tcgets)));
	/* A VM-level request the vCPU thread never makes. */
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VCPU, NULL, ioctl_create_vm)));
	CHECK(EXITED_OK(run_child(SECCOMP_VCPU, NULL, ioctl_high_bits)));
	/* The API thread makes no ioctl at all. */
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_API, NULL, ioctl_high_bits)));
}

static void test_memory_arguments(void)
{
	for (int t = 0; t < SECCOMP_NR_THREADS; t++) {
		CHECK(KILLED_SIGSYS(run_child(t, NULL, mmap_exec)));
		CHECK(KILLED_SIGSYS(run_child(t, NULL, madvise_other)));
	}
}

static int vmm_allowed(void)
{
	long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	long fl = syscall(SYS_fcntl, fd, F_GETFL);
	if (fl < 0 || syscall(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return 2;
	if (syscall(SYS_accept4, fd, NULL, NULL, SOCK_CLOEXEC) != -1 || errno != EINVAL)
		return 3;
	long efd = syscall(SYS_eventfd2, 0, 0);
	uint64_t one = 1;
	if (efd < 0 || syscall(SYS_write, efd, &one, sizeof(one)) != sizeof(one) ||
	    syscall(SYS_read, efd, &one, sizeof(one)) != sizeof(one))
		return 4;
	char buf[16];
	if (syscall(SYS_getrandom, buf, sizeof(buf), 0) != sizeof(buf))
		return 5;
	if (syscall(SYS_pread64, efd, buf, 8L, 0L) != -1 || errno != ESPIPE)
		return 6;
	if (syscall(SYS_ioctl, efd, (unsigned long)TUNSETOFFLOAD, 0L) != -1 || errno != ENOTTY)
		return 7;
	if (syscall(SYS_close, fd) || syscall(SYS_close, efd))
		return 8;
	return 0;
}
static int fcntl_dupfd(void)
{
	syscall(SYS_fcntl, 0, F_DUPFD, 10);
	return 0;
}
static int tkill_sigkill(void)
{
	/* Only the vCPU kick (SIGUSR1) may be sent; SIGKILL to ourselves is not. */
	syscall(SYS_tkill, 1, SIGKILL);
	return 0;
}

static void test_vmm_filter(void)
{
	CHECK_EQ(exit_code(run_child(SECCOMP_VMM, NULL, vmm_allowed)), 0);
	CHECK_ALL_KILLED(SECCOMP_VMM, call_socket_inet, call_open, fcntl_dupfd, tkill_sigkill,
			 ioctl_tcgets, call_execve);
}

static int api_allowed(void)
{
	if (syscall(SYS_accept4, 0, NULL, NULL, SOCK_CLOEXEC) != -1)
		return 1;
	if (syscall(SYS_write, 1, "", 0) != 0)
		return 2;
	return 0;
}

static void test_api_filter(void)
{
	CHECK(EXITED_OK(run_child(SECCOMP_API, NULL, api_allowed)));
	CHECK_ALL_KILLED(SECCOMP_API, call_socket_inet, call_open, call_getpid);
}

/* KVM_SET_GUEST_DEBUG reaches the kernel (EBADF on fd -1) only where allowed. */
static int guest_debug(void)
{
	long r = musl_ioctl(-1, KVM_SET_GUEST_DEBUG);
	return r == -1 && errno == EBADF ? 0 : 1;
}

static void test_guest_debug_only_with_boot_timer(void)
{
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VCPU, NULL, guest_debug)));
	CHECK(EXITED_OK(run_child(SECCOMP_VCPU_BOOT_TIMER, NULL, guest_debug)));
	/* Otherwise the variant is the vCPU filter: the same calls pass, the rest kill. */
	CHECK_EQ(exit_code(run_child(SECCOMP_VCPU_BOOT_TIMER, make_pipe, vcpu_allowed)), 0);
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VCPU_BOOT_TIMER, NULL, call_open)));
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VCPU_BOOT_TIMER, NULL, ioctl_create_vm)));
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VMM, NULL, guest_debug)));
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_API, NULL, guest_debug)));
}

/* Two descriptors made before the fork: KVM requests on them fail with ENOTTY when
 * the filter lets them through. */
static int fd_vm = -1, fd_vcpu = -1;

static int req_ok(int fd, unsigned req)
{
	return musl_ioctl(fd, req) == -1 && errno == ENOTTY ? 0 : 1;
}
static int run_on_vcpu(void)
{
	return req_ok(fd_vcpu, KVM_RUN) | req_ok(fd_vcpu, KVM_GET_REGS) |
	       req_ok(fd_vm, KVM_IRQ_LINE) | req_ok(fd_vm, TUNSETOFFLOAD) |
	       req_ok(fd_vcpu, TUNSETOFFLOAD);
}
static int run_on_vm(void)
{
	musl_ioctl(fd_vm, KVM_RUN);
	return 0;
}
static int regs_on_vm(void)
{
	musl_ioctl(fd_vm, KVM_GET_REGS);
	return 0;
}
static int irq_on_vcpu(void)
{
	musl_ioctl(fd_vcpu, KVM_IRQ_LINE);
	return 0;
}
static int irq_on_other(void)
{
	musl_ioctl(0, KVM_IRQ_LINE);
	return 0;
}
static int debug_on_vcpu(void)
{
	return req_ok(fd_vcpu, KVM_SET_GUEST_DEBUG);
}
static int debug_on_vm(void)
{
	musl_ioctl(fd_vm, KVM_SET_GUEST_DEBUG);
	return 0;
}
static int irq_on_vm(void)
{
	return req_ok(fd_vm, KVM_IRQ_LINE) | req_ok(fd_vcpu, TUNSETOFFLOAD);
}
/* Like run_child(), with the filter installed by `install` (which checks fds). */
static int run_child_fds(int (*install)(void), child_fn fn)
{
	return run_child_with(NULL, install, SECCOMP_NR_THREADS, fn);
}
static int vcpu_fds(void)
{
	return seccomp__install_vcpu(false, fd_vm, fd_vcpu);
}
static int boot_timer_fds(void)
{
	return seccomp__install_vcpu(true, fd_vm, fd_vcpu);
}
static int vmm_fds(void)
{
	return seccomp__install_fds(SECCOMP_VMM, fd_vm, -1);
}

static void test_ioctl_descriptors_checked(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	fd_vm = p[0];
	fd_vcpu = p[1];
	CHECK(EXITED_OK(run_child_fds(vcpu_fds, run_on_vcpu)));
	CHECK(KILLED_SIGSYS(run_child_fds(vcpu_fds, run_on_vm)));
	CHECK(KILLED_SIGSYS(run_child_fds(vcpu_fds, regs_on_vm)));
	CHECK(KILLED_SIGSYS(run_child_fds(vcpu_fds, irq_on_vcpu)));
	CHECK(KILLED_SIGSYS(run_child_fds(vcpu_fds, irq_on_other)));
	CHECK(KILLED_SIGSYS(run_child_fds(vcpu_fds, debug_on_vcpu)));
	CHECK(EXITED_OK(run_child_fds(boot_timer_fds, debug_on_vcpu)));
	CHECK(EXITED_OK(run_child_fds(boot_timer_fds, run_on_vcpu)));
	CHECK(KILLED_SIGSYS(run_child_fds(boot_timer_fds, debug_on_vm)));
	CHECK(EXITED_OK(run_child_fds(vmm_fds, irq_on_vm)));
	CHECK(KILLED_SIGSYS(run_child_fds(vmm_fds, irq_on_vcpu)));
	/* Without descriptors (seccomp__install) any descriptor passes, as before. */
	CHECK(EXITED_OK(run_child(SECCOMP_VCPU, NULL, irq_on_vm)));
	close(p[0]);
	close(p[1]);
}

/* vsock's own calls: a non-blocking stream socket connected to a sockaddr_un (the
 * path does not exist: ENOENT comes from the kernel, past the filter). */
static int vsock_connect(void)
{
	long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/nonexistent/ember-vsock_%d", 1024);
	if (syscall(SYS_connect, fd, &sa, (long)sizeof(sa)) != -1 || errno != ENOENT)
		return 2;
	return syscall(SYS_close, fd) == 0 ? 0 : 3;
}
static int socket_unix_dgram(void)
{
	syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return 0;
}
static int socket_unix_seqpacket(void)
{
	syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET, 0);
	return 0;
}
static int socket_unix_protocol(void)
{
	syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 1);
	return 0;
}
/* An address that is not a sockaddr_un, e.g. a sockaddr_in's 16 bytes. */
static int connect_short_address(void)
{
	char sa[16] = {0};
	syscall(SYS_connect, 0, sa, 16L);
	return 0;
}

static void test_vmm_unix_sockets_only(void)
{
	CHECK_EQ(exit_code(run_child(SECCOMP_VMM, NULL, vsock_connect)), 0);
	CHECK_ALL_KILLED(SECCOMP_VMM, socket_unix_dgram, socket_unix_seqpacket,
			 socket_unix_protocol, connect_short_address);
	/* Neither the API thread nor a vCPU opens or connects sockets at all. */
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_API, NULL, vsock_connect)));
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VCPU, NULL, vsock_connect)));
}

/* The kernel reports the mode in /proc/PID/status while the child waits. */
static void test_status_shows_filter_mode(void)
{
	int ready[2];
	CHECK(pipe(ready) == 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (seccomp__install(SECCOMP_VCPU))
			_exit(100);
		syscall(SYS_write, ready[1], "r", 1);
		int word = 0;
		for (;;)
			syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	}
	char c = 0, path[64], line[256];
	CHECK_EQ(read(ready[0], &c, 1), 1);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	int mode = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	if (f)
		fclose(f);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	CHECK_EQ(mode, SECCOMP_MODE_FILTER);
}

static void disable(void)
{
	seccomp__disable();
}

static void test_no_seccomp(void)
{
	CHECK(EXITED_OK(run_child(SECCOMP_VCPU, disable, call_getpid)));
	CHECK(EXITED_OK(run_child(SECCOMP_API, disable, call_open)));
}

static char filter_path[64];

/* A raw BPF program: kill on getppid, allow everything else. */
static int write_custom_filter(const char *path, size_t truncate_to)
{
	struct sock_filter prog[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	size_t len = truncate_to ? truncate_to : sizeof(prog);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	size_t n = fwrite(prog, 1, len, f);
	return fclose(f) == 0 && n == len ? 0 : -1;
}

static void load_custom(void)
{
	char err[256];
	if (seccomp__load_file(filter_path, err, sizeof(err)))
		_exit(102);
}
static int call_getppid(void)
{
	syscall(SYS_getppid);
	return 0;
}

static void test_custom_filter_file(void)
{
	snprintf(filter_path, sizeof(filter_path), "/tmp/ember-seccomp-test-%d.bpf", (int)getpid());
	CHECK(write_custom_filter(filter_path, 0) == 0);
	/* It replaces the built-in filter on every thread class. */
	CHECK(EXITED_OK(run_child(SECCOMP_VCPU, load_custom, call_open)));
	CHECK(EXITED_OK(run_child(SECCOMP_API, load_custom, call_getpid)));
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VMM, load_custom, call_getppid)));
	unlink(filter_path);
}

static void test_bad_filter_files(void)
{
	char err[256], path[64];
	snprintf(path, sizeof(path), "/tmp/ember-seccomp-bad-%d.bpf", (int)getpid());
	CHECK_EQ(seccomp__load_file("/nonexistent/filter.bpf", err, sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent/filter.bpf") && strstr(err, "No such file"));
	CHECK_EQ(seccomp__load_file("/tmp", err, sizeof(err)), -1);
	CHECK(strstr(err, "not a regular file") != NULL);
	CHECK(write_custom_filter(path, 12) == 0);
	CHECK_EQ(seccomp__load_file(path, err, sizeof(err)), -1);
	CHECK(strstr(err, "8-byte") != NULL);
	FILE *f = fopen(path, "w");
	if (f)
		fclose(f);
	CHECK_EQ(seccomp__load_file(path, err, sizeof(err)), -1);
	CHECK(strstr(err, "8-byte") != NULL);
	unlink(path);
}

/* What a boot needs before the VM runs, through the pre-boot filter: opening files,
 * a Unix socket to bind, KVM and tap requests (refused by the kernel on a pipe), an
 * anonymous read-write mapping and its guard page, a thread, and the calls that
 * install the next filter. */
static int thread_fn(void *arg)
{
	(void)arg;
	syscall(SYS_exit, 0);
	return 0;
}

static int preboot_allowed(void)
{
	long fd = syscall(SYS_open, "/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_close, fd))
		return 1;
	long s = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/nonexistent/ember-api-%d", 1);
	if (s < 0 || syscall(SYS_bind, s, &sa, (long)sizeof(sa)) != -1 || errno != ENOENT)
		return 3;
	if (syscall(SYS_listen, s, 1L) != -1 || errno != EINVAL || syscall(SYS_close, s))
		return 4;
	static const unsigned reqs[] = {KVM_CREATE_VM,	KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION,
					KVM_SET_CPUID2, KVM_SET_REGS,	 KVM_SET_SREGS,
					KVM_IRQFD,	KVM_IOEVENTFD,	 KVM_SET_IRQCHIP,
					KVM_GET_XSAVE,	KVM_RUN,	 TUNSETIFF,
					TUNSETOFFLOAD};
	for (unsigned i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		if (musl_ioctl(pipe_fds[0], reqs[i]) != -1 || errno != ENOTTY)
			return 5;
	char *p = (char *)syscall(SYS_mmap, NULL, 8192L, (long)(PROT_READ | PROT_WRITE),
				  (long)(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE), -1L, 0L);
	if (p == MAP_FAILED || syscall(SYS_mprotect, p, 4096L, (long)PROT_NONE))
		return 6;
	long efd = syscall(SYS_eventfd2, 0, 0), tfd = syscall(SYS_timerfd_create, 1, 0),
	     ep = syscall(SYS_epoll_create1, 0);
	if (efd < 0 || tfd < 0 || ep < 0)
		return 7;
	/* A thread as musl's pthread_create makes one. */
	int tid = 0;
	long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		     CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_DETACHED;
	if (clone(thread_fn, p + 8192, (int)flags, NULL, &tid, NULL, &tid) < 0)
		return 8;
	if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L))
		return 9;
	/* The next filter stacks on this one: the API thread's, here. */
	if (seccomp__install(SECCOMP_API))
		return 10;
	return 0;
}
static int mprotect_exec(void)
{
	char *p = (char *)syscall(SYS_mmap, NULL, 4096L, (long)(PROT_READ | PROT_WRITE),
				  (long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 0L);
	syscall(SYS_mprotect, p, 4096L, (long)(PROT_READ | PROT_EXEC));
	return 0;
}
/* A thread, but in a new network namespace: refused before the kernel looks. */
static int clone_thread_newnet(void)
{
	syscall(SYS_clone, (long)(CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_NEWNET), 0L, 0L,
		0L, 0L);
	return 0;
}
static int call_vfork(void)
{
	syscall(SYS_vfork);
	return 0;
}
static int call_ptrace(void)
{
	syscall(SYS_ptrace, 0L /* PTRACE_TRACEME */, 0L, 0L, 0L);
	return 0;
}
static int call_mount(void)
{
	syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0L, NULL);
	return 0;
}
static int call_setuid(void)
{
	syscall(SYS_setuid, 0L);
	return 0;
}
static int socket_inet_dgram(void)
{
	syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return 0;
}
static int socket_netlink(void)
{
	syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0);
	return 0;
}
static int prctl_other(void)
{
	syscall(SYS_prctl, PR_SET_DUMPABLE, 1L, 0L, 0L, 0L);
	return 0;
}

static void test_preboot_filter(void)
{
	CHECK_EQ(exit_code(run_child(SECCOMP_VMM_PREBOOT, make_pipe, preboot_allowed)), 0);
	CHECK_ALL_KILLED(SECCOMP_VMM_PREBOOT, call_execve, call_fork, call_vfork, call_ptrace);
	CHECK_ALL_KILLED(SECCOMP_VMM_PREBOOT, call_socket_inet, socket_inet_dgram, socket_netlink);
	CHECK_ALL_KILLED(SECCOMP_VMM_PREBOOT, mmap_exec, mprotect_exec, madvise_other);
	CHECK_ALL_KILLED(SECCOMP_VMM_PREBOOT, call_mount, call_setuid, prctl_other);
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VMM_PREBOOT, NULL, clone_thread_newnet)));
	/* Every later filter stacks on it: each one's own calls must pass both. */
	CHECK_EQ(exit_code(run_child(SECCOMP_VMM_PREBOOT, make_pipe, vmm_allowed)), 0);
	CHECK_EQ(exit_code(run_child(SECCOMP_VMM_PREBOOT, make_pipe, vcpu_allowed)), 0);
	CHECK_EQ(exit_code(run_child(SECCOMP_VMM_PREBOOT, NULL, vsock_connect)), 0);
	CHECK(EXITED_OK(run_child(SECCOMP_VMM_PREBOOT, NULL, api_allowed)));
	CHECK(EXITED_OK(run_child(SECCOMP_VMM_PREBOOT, NULL, guest_debug)));
	/* --no-seccomp turns it off too. */
	CHECK(EXITED_OK(run_child(SECCOMP_VMM_PREBOOT, disable, call_execve_fails)));
}

/* vmm_preboot also reaches a thread that was already running when it went in
 * (TSYNC): the start-up VM creator (vmm/vm_early.c) starts before it. The thread
 * waits for a byte, then makes a call outside vmm_preboot and reports back; the
 * whole child must die of SIGSYS instead. */
static int early_go[2] = {-1, -1}, early_done[2] = {-1, -1};
static void *early_thread(void *unused)
{
	char c = 0;
	(void)unused;
	if (syscall(SYS_read, early_go[0], &c, 1L) == 1) {
		syscall(SYS_getppid);
		syscall(SYS_write, early_done[1], &c, 1L);
	}
	for (;;)
		syscall(SYS_read, early_go[0], &c, 1L);
	return NULL;
}
static void start_early_thread(void)
{
	pthread_t t;
	if (pipe(early_go) || pipe(early_done) || pthread_create(&t, NULL, early_thread, NULL))
		_exit(101);
}
static int release_early_thread(void)
{
	char c = 1;
	if (syscall(SYS_write, early_go[1], &c, 1L) != 1)
		return 1;
	/* Only reached if the thread's call went through. */
	return syscall(SYS_read, early_done[0], &c, 1L) == 1 ? 2 : 3;
}
static int getppid_call(void)
{
	syscall(SYS_getppid);
	return 0;
}
static void test_preboot_reaches_running_threads(void)
{
	/* getppid is outside vmm_preboot: killed on the main thread as well. */
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VMM_PREBOOT, NULL, getppid_call)));
	CHECK(KILLED_SIGSYS(
	    run_child(SECCOMP_VMM_PREBOOT, start_early_thread, release_early_thread)));
	/* The other filters are each thread's own: the running thread is not touched. */
	CHECK_EQ(exit_code(run_child(SECCOMP_VMM, start_early_thread, release_early_thread)), 2);
}

static void test_fewer_than_firecracker(void)
{
	CHECK(seccomp__nr_syscalls(SECCOMP_VMM) > 0 && seccomp__nr_syscalls(SECCOMP_VMM) < 50);
	CHECK(seccomp__nr_syscalls(SECCOMP_API) > 0 && seccomp__nr_syscalls(SECCOMP_API) < 31);
	CHECK(seccomp__nr_syscalls(SECCOMP_VCPU) > 0 && seccomp__nr_syscalls(SECCOMP_VCPU) < 27);
	CHECK_STR(seccomp__thread_name(SECCOMP_VCPU), "vcpu");
	errno = 0;
	CHECK_EQ(seccomp__install(SECCOMP_NR_THREADS), -1);
	CHECK_EQ(errno, EINVAL);
}

/* PATCH /drives/{id} reopens a drive on the VMM thread after boot, with file__open's
 * calls as musl makes them. */
#define MUSL_LARGEFILE 0100000
#define REOPEN_FILE    "/tmp/ember-test-seccomp-reopen"
static void make_reopen_file(void)
{
	int fd = open(REOPEN_FILE, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0)
		_exit(101);
	close(fd);
}
static int vmm_reopens_a_drive(void)
{
	struct stat st;
	if (syscall(SYS_stat, REOPEN_FILE, &st) != 0)
		return 1;
	long fd = syscall(SYS_open, REOPEN_FILE,
			  (long)(O_RDONLY | O_NONBLOCK | O_CLOEXEC | MUSL_LARGEFILE));
	if (fd < 0)
		return 2;
	if (syscall(SYS_fstat, fd, &st) != 0)
		return 3;
	long fl = syscall(SYS_fcntl, fd, (long)F_GETFL);
	if (fl < 0 || syscall(SYS_fcntl, fd, (long)F_SETFL, fl & ~(long)O_NONBLOCK) != 0)
		return 4;
	if (syscall(SYS_close, fd) != 0)
		return 5;
	fd = syscall(SYS_open, REOPEN_FILE,
		     (long)(O_RDWR | O_NONBLOCK | O_CLOEXEC | MUSL_LARGEFILE));
	if (fd < 0)
		return 6;
	syscall(SYS_close, fd);
	return 0;
}
static void test_vmm_reopens_drives_only(void)
{
	CHECK_EQ(exit_code(run_child(SECCOMP_VMM, make_reopen_file, vmm_reopens_a_drive)), 0);
	/* open(2) itself is allowed for PUT /snapshot/create (which creates files);
	 * openat, which musl never uses, stays fatal. */
	CHECK_ALL_KILLED(SECCOMP_VMM, call_open);
	/* Neither the API thread nor a vCPU opens files. */
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_API, make_reopen_file, vmm_reopens_a_drive)));
	CHECK(KILLED_SIGSYS(run_child(SECCOMP_VCPU, make_reopen_file, vmm_reopens_a_drive)));
	unlink(REOPEN_FILE);
}

/* The Uffd memory backend's calls (vmm/uffd.c), as a load makes them on the VMM thread
 * under vmm_preboot: a userfaultfd (EPERM for an unprivileged caller is still
 * "allowed"), its requests (ENOTTY on a pipe), SCM_RIGHTS and poll. */
static int uffd_calls(void)
{
	long fd = syscall(SYS_userfaultfd, (long)(O_CLOEXEC | O_NONBLOCK));
	if (fd < 0 && errno != EPERM)
		return 1;
	static const unsigned reqs[] = {UFFDIO_API, UFFDIO_REGISTER, UFFDIO_UNREGISTER, UFFDIO_WAKE,
					USERFAULTFD_IOC_NEW};
	for (unsigned i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		if (musl_ioctl(pipe_fds[0], reqs[i]) != -1 || errno != ENOTTY)
			return 2;
	struct msghdr mh = {0};
	if (syscall(SYS_sendmsg, -1, &mh, 0L) != -1 || errno != EBADF)
		return 3;
	if (syscall(SYS_poll, NULL, 0L, 0L) != 0)
		return 4;
	return 0;
}
static void make_pipe_only(void)
{
	if (pipe(pipe_fds))
		_exit(101);
}
static int uffd_create(void)
{
	syscall(SYS_userfaultfd, (long)(O_CLOEXEC | O_NONBLOCK));
	return 0;
}
/* Only user-mode faults: not what ember asks for, so not allowed either. */
static int uffd_create_other_flags(void)
{
	syscall(SYS_userfaultfd, (long)(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
	return 0;
}
static int uffd_register(void)
{
	musl_ioctl(-1, UFFDIO_REGISTER);
	return 0;
}
static int call_sendmsg(void)
{
	struct msghdr mh = {0};
	syscall(SYS_sendmsg, -1, &mh, 0L);
	return 0;
}
static void test_uffd_on_the_loading_thread_only(void)
{
	CHECK_EQ(exit_code(run_child(SECCOMP_VMM_PREBOOT, make_pipe_only, uffd_calls)), 0);
	CHECK_ALL_KILLED(SECCOMP_VMM_PREBOOT, uffd_create_other_flags);
	/* Neither the running VMM thread, nor the API thread, nor a vCPU. */
	CHECK_ALL_KILLED(SECCOMP_VMM, uffd_create, uffd_register, call_sendmsg);
	CHECK_ALL_KILLED(SECCOMP_API, uffd_create, uffd_register, call_sendmsg);
	CHECK_ALL_KILLED(SECCOMP_VCPU, uffd_create, uffd_register, call_sendmsg);
}

CHECK_MAIN("seccomp", CHECK_CASE(test_uffd_on_the_loading_thread_only),
	   CHECK_CASE(test_vmm_reopens_drives_only), CHECK_CASE(test_vcpu_allows_its_calls),
	   CHECK_CASE(test_vcpu_kills_the_rest), CHECK_CASE(test_ioctl_filtered_by_request),
	   CHECK_CASE(test_memory_arguments), CHECK_CASE(test_vmm_filter),
	   CHECK_CASE(test_api_filter), CHECK_CASE(test_status_shows_filter_mode),
	   CHECK_CASE(test_no_seccomp), CHECK_CASE(test_custom_filter_file),
	   CHECK_CASE(test_bad_filter_files), CHECK_CASE(test_fewer_than_firecracker),
	   CHECK_CASE(test_guest_debug_only_with_boot_timer),
	   CHECK_CASE(test_vmm_unix_sockets_only), CHECK_CASE(test_ioctl_descriptors_checked),
	   CHECK_CASE(test_preboot_filter), CHECK_CASE(test_preboot_reaches_running_threads))
