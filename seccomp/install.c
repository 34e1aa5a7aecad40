#include "seccomp/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"
#include "seccomp/filters.h"

/* `make EMBER_SECCOMP_DEBUG=1`: a forbidden call is logged and fails with ENOSYS
 * instead of killing the process, so that one run shows every missing call. */
#ifndef EMBER_SECCOMP_DEBUG
#define EMBER_SECCOMP_DEBUG 0
#endif

/* Firecracker v1.x, x86_64: the counts to beat. */
static const unsigned firecracker_counts[SECCOMP_NR_THREADS] = {
    [SECCOMP_VMM] = 50,
    [SECCOMP_API] = 31,
    [SECCOMP_VCPU] = 27,
    [SECCOMP_VCPU_BOOT_TIMER] = 27,
    /* Firecracker's vmm filter is in place from start-up: there is no other. */
    [SECCOMP_VMM_PREBOOT] = 50,
};

/* Process-wide on purpose: chosen once at start-up, before any thread exists, and
 * only read afterwards. */
static struct {
	bool disabled;
	struct sock_filter *custom; /* --seccomp-filter: one program for every thread */
	unsigned short custom_len;
} seccomp_cfg;

void seccomp__disable(void)
{
	seccomp_cfg.disabled = true;
}

bool seccomp__enabled(void)
{
	return !seccomp_cfg.disabled;
}

int seccomp__load_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "--seccomp-filter '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	const char *bad = NULL;
	if (!S_ISREG(st.st_mode))
		bad = "not a regular file";
	else if (st.st_size == 0 || st.st_size % sizeof(struct sock_filter))
		bad = "not a whole number of 8-byte BPF instructions";
	else if (st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		bad = "more than 4096 BPF instructions";
	if (bad) {
		snprintf(err, errlen, "--seccomp-filter '%s': %s", path, bad);
		close(fd);
		return -1;
	}
	size_t len = (size_t)st.st_size;
	struct sock_filter *prog = malloc(len);
	size_t got = 0;
	while (prog && got < len) {
		ssize_t n = read(fd, (char *)prog + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	int e = errno;
	close(fd);
	if (!prog || got != len) {
		snprintf(err, errlen, "--seccomp-filter '%s': %s", path,
			 !prog		  ? "out of memory"
			 : got < len && e ? strerror(e)
					  : "short read");
		free(prog);
		return -1;
	}
	free(seccomp_cfg.custom);
	seccomp_cfg.custom = prog;
	seccomp_cfg.custom_len = (unsigned short)(len / sizeof(*prog));
	return 0;
}

#if EMBER_SECCOMP_DEBUG
static _Thread_local enum seccomp_thread debug_thread;

static void sigsys_handler(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;
	(void)sig;
	pr_err("seccomp: %s thread: blocked system call %d (0x%llx, 0x%llx, 0x%llx)",
	       seccomp__thread_name(debug_thread), si->si_syscall, (unsigned long long)g[REG_RDI],
	       (unsigned long long)g[REG_RSI], (unsigned long long)g[REG_RDX]);
	g[REG_RAX] = -ENOSYS;
}
#endif

/* Copies src into out with the descriptor stand-ins replaced: a comparison with a
 * known descriptor compares with its number, one with -1 always holds (the JEQ
 * becomes a jump to its true branch). */
static void patch_fds(struct sock_filter *out, const struct sock_filter *src, unsigned short len,
		      int vm_fd, int vcpu_fd)
{
	for (unsigned short i = 0; i < len; i++) {
		out[i] = src[i];
		if (src[i].code != (BPF_JMP | BPF_JEQ | BPF_K) ||
		    (src[i].k != SECCOMP_FD_VM && src[i].k != SECCOMP_FD_VCPU))
			continue;
		int fd = src[i].k == SECCOMP_FD_VM ? vm_fd : vcpu_fd;
		if (fd >= 0)
			out[i].k = (unsigned)fd;
		else
			out[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, src[i].jt, 0, 0);
	}
}

int seccomp__install(enum seccomp_thread thread)
{
	return seccomp__install_fds(thread, -1, -1);
}

int seccomp__install_vcpu(bool boot_timer, int vm_fd, int vcpu_fd)
{
	return seccomp__install_fds(boot_timer ? SECCOMP_VCPU_BOOT_TIMER : SECCOMP_VCPU, vm_fd,
				    vcpu_fd);
}

int seccomp__install_fds(enum seccomp_thread thread, int vm_fd, int vcpu_fd)
{
	if (seccomp_cfg.disabled)
		return 0;
	if ((unsigned)thread >= SECCOMP_NR_THREADS) {
		errno = EINVAL;
		return -1;
	}
	/* --seccomp-filter replaces the filters that handle untrusted input after
	 * boot; one written for them would refuse the set-up, so it gets no pre-boot
	 * filter in front. */
	if (thread == SECCOMP_VMM_PREBOOT && seccomp_cfg.custom)
		return 0;
#ifdef __aarch64__
	/* Not written for aarch64 yet (seccomp/allowlist.c). */
	if (thread == SECCOMP_VMM_PREBOOT)
		return 0;
#endif
	const struct seccomp_program *p = &seccomp_programs[thread];
	const struct sock_filter *src = p->kill;
	unsigned short len = p->kill_len;
#if EMBER_SECCOMP_DEBUG
	src = p->trap;
	len = p->trap_len;
	debug_thread = thread;
	struct sigaction sa = {.sa_sigaction = sigsys_handler, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -1;
#endif
	struct sock_filter patched[SECCOMP_MAX_PROGRAM];
	if (len > SECCOMP_MAX_PROGRAM) {
		errno = E2BIG;
		return -1;
	}
	patch_fds(patched, src, len, vm_fd, vcpu_fd);
	struct sock_fprog prog = {.len = len, .filter = patched};
	if (seccomp_cfg.custom)
		prog = (struct sock_fprog){.len = seccomp_cfg.custom_len,
					   .filter = seccomp_cfg.custom};
	/* Without no_new_privs an unprivileged process may not install a filter; with
	 * it, exec can never gain privileges the filter did not foresee. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	/* Each thread class installs its own filter on itself, except vmm_preboot:
	 * the only other thread that can exist by then, the start-up VM creator
	 * (vmm/vm_early.c), gets it too (TSYNC), before the main thread parses anything
	 * untrusted. Installing a filter costs ~0.1 ms, which the creator need not
	 * spend on its own. */
	unsigned flags = thread == SECCOMP_VMM_PREBOOT ? SECCOMP_FILTER_FLAG_TSYNC : 0;
	long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (rc > 0) /* TSYNC: the id of a thread that has another filter already */
		errno = EBUSY;
	if (rc != 0)
		return -1;
	return 0;
}

const char *seccomp__thread_name(enum seccomp_thread thread)
{
	if ((unsigned)thread >= SECCOMP_NR_THREADS)
		return "?";
	return seccomp_programs[thread].thread;
}

unsigned seccomp__nr_syscalls(enum seccomp_thread thread)
{
	if ((unsigned)thread >= SECCOMP_NR_THREADS)
		return 0;
	return seccomp_programs[thread].nr_syscalls;
}

void seccomp__print_summary(FILE *out)
{
	fprintf(out, "seccomp: built-in filters (x86_64), default action %s\n",
		EMBER_SECCOMP_DEBUG ? "trap and log (debug build)" : "kill the process");
	if (seccomp_cfg.disabled)
		fprintf(out, "seccomp: disabled by --no-seccomp\n");
	else if (seccomp_cfg.custom)
		fprintf(out,
			"seccomp: --seccomp-filter replaces them: %u instructions on every "
			"thread\n",
			seccomp_cfg.custom_len);
	for (int t = 0; t < SECCOMP_NR_THREADS; t++) {
		const struct seccomp_program *p = &seccomp_programs[t];
		fprintf(out,
			"%-11s %2u system calls (Firecracker: %u), %u BPF instructions:", p->thread,
			p->nr_syscalls, firecracker_counts[t], p->kill_len);
		for (unsigned i = 0; i < p->nr_syscalls; i++)
			fprintf(out, " %s", p->syscalls[i]);
		fputc('\n', out);
	}
}
