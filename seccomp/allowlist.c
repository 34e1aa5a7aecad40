/* What each ember thread may ask of the kernel once it handles untrusted input.
 *
 * This is the one file to read (and to edit) to see what a thread can do. It is
 * compiled into the build-time tool seccomp/compile.c, never into ember. The names
 * are libseccomp's (x86_64, or aarch64 with SECCOMP_TARGET_AARCH64: it has no old
 * calls such as open or unlink); calls are listed as musl makes them (epoll_wait is
 * epoll_pwait, pthread_kill is tkill, malloc uses brk, mmap, munmap, mremap and
 * madvise(MADV_FREE)).
 *
 * A system call that is not here kills the whole process (SECCOMP_RET_KILL_PROCESS).
 * Set-up (opening images and /dev/kvm, creating the VM, vCPUs, devices, taps,
 * sockets, threads) runs under vmm_preboot only, installed on the main thread at
 * start-up; the per-thread lists below need none of it.
 *
 * Firecracker v1.x on x86_64 allows 50 (vmm), 31 (api) and 27 (vcpu) system calls;
 * `ember --print-seccomp-summary` prints ours.
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/sockios.h>
#include <linux/userfaultfd.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "seccomp/allowlist.h"

#ifdef SECCOMP_TARGET_AARCH64
#define ALLOW_UNLINK ALLOW(unlinkat)
#define ALLOW_OPEN   ALLOW(openat)
#define ALLOW_STAT   ALLOW(newfstatat)
#else
#define ALLOW_UNLINK ALLOW(unlink)
#define ALLOW_OPEN   ALLOW(open)
#define ALLOW_STAT   ALLOW(stat), ALLOW(newfstatat)
#endif

/* Memory management as libc does it: no executable mappings, ever. */
#define LIBC_MEMORY                                                                                \
	ALLOW_MASKED(mmap, 2, PROT_EXEC, 0), ALLOW(munmap), ALLOW_ARG(madvise, 2, MADV_FREE),      \
	    ALLOW_ARG(madvise, 2, MADV_DONTNEED), ALLOW(brk)

/* Locks, time, signal masks (pthread_exit blocks signals) and leaving. */
#define LIBC_THREAD                                                                                \
	ALLOW(futex), ALLOW(clock_gettime), ALLOW(rt_sigprocmask), ALLOW(exit), ALLOW(exit_group)

/* fcntl only reads and sets status and descriptor flags (O_NONBLOCK, FD_CLOEXEC). */
#define FCNTL_FLAGS                                                                                \
	ALLOW_ARG(fcntl, 1, F_GETFL), ALLOW_ARG(fcntl, 1, F_SETFL), ALLOW_ARG(fcntl, 1, F_GETFD),  \
	    ALLOW_ARG(fcntl, 1, F_SETFD)

/* vCPU threads: KVM_RUN and the device models that run on the exiting vCPU.
 * - KVM_RUN and KVM_GET_REGS (a triple fault's report) on this vCPU's descriptor,
 *   KVM_IRQ_LINE (serial, i8042 and virtio interrupt lines) on the VM's only, and
 *   with a split irqchip KVM_SIGNAL_MSI (the same lines) and KVM_SET_GSI_ROUTING (the
 *   guest reprogramming the user-space IOAPIC);
 * - write: serial output, log lines, eventfd/pipe wake-ups;
 * - the tap requests: queue notifications and interrupts are wired to eventfds when
 *   a device is attached, before any filter, but a driver's FEATURES_OK, written on
 *   a vCPU, still sets the tap's offloads;
 * - rt_sigreturn: the kick (SIGUSR1) interrupts KVM_RUN and its handler returns. */
/* clang-format off */
#define VCPU_RULES                                                                                 \
	IOCTL_ON(SECCOMP_FD_VCPU, KVM_RUN),                                                        \
	IOCTL_ON(SECCOMP_FD_VCPU, KVM_GET_REGS),                                                   \
	IOCTL_ON(SECCOMP_FD_VM, KVM_IRQ_LINE),                                                     \
	IOCTL_ON(SECCOMP_FD_VM, KVM_SIGNAL_MSI),                                                   \
	IOCTL_ON(SECCOMP_FD_VM, KVM_SET_GSI_ROUTING),                                              \
	ALLOW(write),                                                                              \
	IOCTL(TUNSETOFFLOAD),                                                                      \
	IOCTL(TUNSETVNETHDRSZ),                                                                    \
	ALLOW(close),                                                                              \
	ALLOW(rt_sigreturn),                                                                       \
	LIBC_MEMORY,                                                                               \
	LIBC_THREAD
/* clang-format on */

static const struct sc_rule vcpu_rules[] = {VCPU_RULES};

/* Only the vCPU that single-steps to time the kernel entry (--boot-timer) may change
 * guest debugging: the trap removes itself with KVM_SET_GUEST_DEBUG. Everywhere else
 * the request would let a compromised vCPU thread single-step or breakpoint the
 * guest. */
static const struct sc_rule vcpu_boot_timer_rules[] = {
    VCPU_RULES,
    IOCTL_ON(SECCOMP_FD_VCPU, KVM_SET_GUEST_DEBUG),
};

/* The VMM thread once the VM runs: the event loop and the device back ends. */
static const struct sc_rule vmm_rules[] = {
    ALLOW(epoll_pwait),
    ALLOW(epoll_ctl),
    ALLOW(read),  /* eventfds, timerfds, signalfd, serial input, tap, sockets */
    ALLOW(write), /* same, plus log and console */
    ALLOW(readv), /* tap and vsock frames */
    ALLOW(writev),
    /* virtio-blk */
    ALLOW(pread64),
    ALLOW(pwrite64),
    ALLOW(preadv),
    ALLOW(pwritev),
    ALLOW(fsync),
    ALLOW(fdatasync),
    /* DISCARD punches a hole, WRITE_ZEROES zeroes a range; nothing else. */
    ALLOW_ARG(fallocate, 1, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE),
    ALLOW_ARG(fallocate, 1, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE),
    /* virtio-rng */
    ALLOW(getrandom),
    /* virtio-vsock, Firecracker's hybrid model: a guest-initiated connection opens a
     * Unix stream socket (any of the NONBLOCK and CLOEXEC flags, protocol 0) and
     * connects it to a sockaddr_un. The path itself is behind a pointer that BPF
     * cannot read. */
    {"socket",
     3,
     {{0, SC_INT, AF_UNIX},
      {1, SC_INT & ~(uint64_t)(SOCK_NONBLOCK | SOCK_CLOEXEC), SOCK_STREAM},
      {2, SC_INT, 0}}},
    ALLOW_ARG(connect, 2, sizeof(struct sockaddr_un)),
    ALLOW(accept4),
    ALLOW(sendto),
    ALLOW(recvfrom),
    ALLOW(shutdown),
    /* vsock removes its listening socket's path at teardown. The path is behind a
     * pointer: any file the VMM's uid may remove stays removable (in the jail, only
     * the jail's own). */
    ALLOW_UNLINK,
    /* PATCH /drives/{id} after boot reopens a drive (vmm/file.c file__open): open,
     * stat, fstat and a block device's size. */
    ALLOW_OPEN,
    ALLOW_STAT,
    ALLOW(fstat),
    IOCTL(BLKGETSIZE64),
    FCNTL_FLAGS,
    /* timers and notifications */
    ALLOW(timerfd_settime),
    ALLOW(eventfd2),
    ALLOW(close),
    /* interrupts: level lines (eventfd-wired ones are set up before the filter);
     * through a split irqchip's user-space IOAPIC, MSIs */
    IOCTL_ON(SECCOMP_FD_VM, KVM_IRQ_LINE),
    IOCTL_ON(SECCOMP_FD_VM, KVM_SIGNAL_MSI),
    /* Taps: one per interface, their descriptors are not checked. */
    IOCTL(TUNSETOFFLOAD),
    IOCTL(TUNSETVNETHDRSZ),
    /* stopping: kick the vCPUs out of KVM_RUN (pthread_kill), join them */
    ALLOW_ARG(tkill, 1, SIGUSR1),
    ALLOW(mremap), /* realloc of large buffers */
		   /* PUT /snapshot/create (the VM paused): read KVM's state, write the vmstate and
		    * the memory file beside their targets and rename them over. The paths are
		    * behind pointers; the jail bounds what they can name. The vCPU state is read
		    * from this thread while the vCPUs are parked, on their descriptors, and only
		    * with the read-only GET requests. musl opens with open(2): openat stays
		    * refused. */
#ifndef SECCOMP_TARGET_AARCH64 /* snapshots are x86_64 only */
    ALLOW(ftruncate),
    ALLOW(rename),
    IOCTL(KVM_GET_MSR_INDEX_LIST),
    IOCTL(KVM_GET_CPUID2),
    IOCTL(KVM_GET_MP_STATE),
    IOCTL(KVM_GET_REGS),
    IOCTL(KVM_GET_SREGS),
    IOCTL(KVM_GET_XSAVE),
    IOCTL(KVM_GET_FPU),
    IOCTL(KVM_GET_XCRS),
    IOCTL(KVM_GET_LAPIC),
    IOCTL(KVM_GET_DEBUGREGS),
    IOCTL(KVM_GET_MSRS),
    IOCTL(KVM_GET_VCPU_EVENTS),
    IOCTL_ON(SECCOMP_FD_VM, KVM_GET_IRQCHIP),
    IOCTL_ON(SECCOMP_FD_VM, KVM_GET_PIT2),
    IOCTL_ON(SECCOMP_FD_VM, KVM_GET_CLOCK),
    IOCTL_ON(SECCOMP_FD_VM, KVM_GET_DIRTY_LOG),
    IOCTL(KVM_GET_DEVICE_ATTR), /* a vCPU's TSC offset, to pair its TSC with kvmclock */
#endif
    LIBC_MEMORY,
    LIBC_THREAD,
};

/* x86_64 only: the list names x86_64's calls (open, stat, unlink...) and its KVM
 * requests, and it has been checked against the kvm tier on x86_64 only. An aarch64
 * build (SECCOMP_TARGET_AARCH64) compiles an empty list and install.c skips it. */
#ifndef SECCOMP_TARGET_AARCH64
#define CLONE_NS_OR_TRACE                                                                          \
	(CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | \
	 CLONE_NEWCGROUP | CLONE_PTRACE | CLONE_UNTRACED)

/* The VMM thread from start-up until the VM runs, and every thread it starts (the API
 * server and the vCPUs add their own filter to it; so does this thread once the VM
 * runs: the kernel applies all of them, so every later list must stay inside this
 * one). It parses a config file and the request bodies that the API thread hands
 * over, so it holds what building, starting and restoring a VM needs and nothing a
 * VMM never does: no execve, no fork (clone only with CLONE_THREAD), no ptrace,
 * mount, setuid or chroot, no socket but AF_UNIX streams, no executable memory. */
static const struct sc_rule vmm_preboot_rules[] = {
    /* Images, drives, /dev/kvm, /dev/net/tun, snapshot and metrics files, the log
     * (musl opens with open(2)). */
    ALLOW(open),
    ALLOW(close),
    ALLOW(read),
    ALLOW(write),
    ALLOW(readv),
    ALLOW(writev),
    ALLOW(pread64),
    ALLOW(pwrite64),
    ALLOW(preadv),
    ALLOW(pwritev),
    ALLOW(lseek),
    ALLOW(fstat),
    ALLOW(stat),
    ALLOW(lstat),
    ALLOW(newfstatat),
    ALLOW(access),
    ALLOW(fsync),
    ALLOW(fdatasync),
    ALLOW_ARG(fallocate, 1, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE),
    ALLOW_ARG(fallocate, 1, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE),
    /* snapshot create: files written beside their targets, then renamed over */
    ALLOW(ftruncate),
    ALLOW(rename),
    ALLOW(unlink), /* a stale socket path before bind, vsock's at teardown */
    FCNTL_FLAGS,
    /* Event loop, wake-ups, timers, the serial's pipe. */
    ALLOW(epoll_create1),
    ALLOW(epoll_ctl),
    ALLOW(epoll_pwait),
    ALLOW(eventfd2),
    ALLOW(timerfd_create),
    ALLOW(timerfd_settime),
    ALLOW(pipe2),
    /* The API socket and virtio-vsock: Unix streams only (no network sockets; a tap
     * is opened through /dev/net/tun). */
    {"socket",
     3,
     {{0, SC_INT, AF_UNIX},
      {1, SC_INT & ~(uint64_t)(SOCK_NONBLOCK | SOCK_CLOEXEC), SOCK_STREAM},
      {2, SC_INT, 0}}},
    ALLOW(bind),
    ALLOW(listen),
    ALLOW(connect),
    ALLOW(accept4),
    ALLOW(sendto),
    ALLOW(recvfrom),
    ALLOW(shutdown),
    ALLOW(getrandom),
    /* The start-up helper gives itself back every CPU when it becomes vCPU 0's thread
     * (vmm/vm_early.c); a thread's own affinity only (pid 0). */
    ALLOW_ARG(sched_setaffinity, 0, 0),
    /* Building, starting and restoring a VM: the system, VM and vCPU requests,
     * including the state ones a snapshot sets and reads. */
    IOCTL(KVM_GET_API_VERSION),
    IOCTL(KVM_CREATE_VM),
    IOCTL(KVM_CHECK_EXTENSION),
    IOCTL(KVM_GET_VCPU_MMAP_SIZE),
    IOCTL(KVM_GET_SUPPORTED_CPUID),
    IOCTL(KVM_GET_MSR_INDEX_LIST),
    IOCTL(KVM_SET_TSS_ADDR),
    IOCTL(KVM_SET_IDENTITY_MAP_ADDR),
    IOCTL(KVM_CREATE_IRQCHIP),
    IOCTL(KVM_CREATE_PIT2),
    IOCTL(KVM_ENABLE_CAP), /* KVM_CAP_SPLIT_IRQCHIP */
    IOCTL(KVM_SET_GSI_ROUTING),
    IOCTL(KVM_SIGNAL_MSI),
    IOCTL(KVM_SET_USER_MEMORY_REGION),
    IOCTL(KVM_CREATE_VCPU),
    IOCTL(KVM_IRQFD),
    IOCTL(KVM_IOEVENTFD),
    IOCTL(KVM_IRQ_LINE),
    IOCTL(KVM_SET_CPUID2),
    IOCTL(KVM_GET_CPUID2),
    IOCTL(KVM_SET_REGS),
    IOCTL(KVM_GET_REGS),
    IOCTL(KVM_SET_SREGS),
    IOCTL(KVM_GET_SREGS),
    IOCTL(KVM_SET_FPU),
    IOCTL(KVM_GET_FPU),
    IOCTL(KVM_SET_MSRS),
    IOCTL(KVM_GET_MSRS),
    IOCTL(KVM_SET_LAPIC),
    IOCTL(KVM_GET_LAPIC),
    IOCTL(KVM_SET_XSAVE),
    IOCTL(KVM_GET_XSAVE),
    IOCTL(KVM_SET_XCRS),
    IOCTL(KVM_GET_XCRS),
    IOCTL(KVM_SET_VCPU_EVENTS),
    IOCTL(KVM_GET_VCPU_EVENTS),
    IOCTL(KVM_SET_MP_STATE),
    IOCTL(KVM_GET_MP_STATE),
    IOCTL(KVM_SET_DEBUGREGS),
    IOCTL(KVM_GET_DEBUGREGS),
    IOCTL(KVM_SET_IRQCHIP),
    IOCTL(KVM_GET_IRQCHIP),
    IOCTL(KVM_SET_PIT2),
    IOCTL(KVM_GET_PIT2),
    IOCTL(KVM_SET_CLOCK),
    IOCTL(KVM_GET_CLOCK),
    /* a restored vCPU's TSC offset, set to go on with kvmclock (snapshot_load.c) */
    IOCTL(KVM_GET_DEVICE_ATTR),
    IOCTL(KVM_SET_DEVICE_ATTR),
    IOCTL(KVM_GET_TSC_KHZ),
    IOCTL(KVM_GET_DIRTY_LOG),
    IOCTL(KVM_RUN),		/* vCPU threads inherit this filter */
    IOCTL(KVM_SET_GUEST_DEBUG), /* --boot-timer's entry trap */
    IOCTL(TUNSETIFF),
    /* a tap's MTU (network interfaces with "mtu"), on an AF_UNIX socket */
    IOCTL(SIOCSIFMTU),
    IOCTL(SIOCGIFMTU),
    IOCTL(TUNSETOFFLOAD),
    IOCTL(TUNSETVNETHDRSZ),
    IOCTL(BLKGETSIZE64), /* a block device as a drive */
    /* PUT /snapshot/load with the Uffd memory backend (vmm/uffd.c): a userfaultfd
     * (non-blocking, close-on-exec, kernel faults included: KVM takes them), or one
     * from /dev/userfaultfd, registered over guest memory and sent to the page-fault
     * handler; then a wait on the handler serving a first fault. Only this filter
     * has them, and every thread but this one (its API and vCPU threads) and this
     * one once the VM runs stacks a filter without them. */
    ALLOW_ARG(userfaultfd, 0, O_CLOEXEC | O_NONBLOCK),
    IOCTL(USERFAULTFD_IOC_NEW),
    IOCTL(UFFDIO_API),
    IOCTL(UFFDIO_REGISTER),
    IOCTL(UFFDIO_UNREGISTER),
    IOCTL(UFFDIO_WAKE),
    IOCTL(UFFDIO_ZEROPAGE),
    ALLOW(sendmsg),
    ALLOW(poll),
    /* Threads (the API server, the vCPUs): clone only with CLONE_THREAD (musl's
     * pthread_create), never a new process, and never into new namespaces or
     * traced. */
    ALLOW_MASKED(clone, 0, CLONE_NS_OR_TRACE | CLONE_THREAD, CLONE_THREAD),
    ALLOW_MASKED(mprotect, 2, PROT_EXEC, 0), /* thread stacks' guard pages */
    ALLOW(rt_sigaction),		     /* the vCPU kick's handler */
    ALLOW(rt_sigreturn),
    ALLOW_ARG(tkill, 1, SIGUSR1),
    /* Each later filter: no_new_privs, then the filter itself. */
    ALLOW_ARG(prctl, 0, PR_SET_NO_NEW_PRIVS),
    {"seccomp", 2, {{0, SC_INT, SECCOMP_SET_MODE_FILTER}, {1, SC_INT, 0}}},
    ALLOW(mremap),
    LIBC_MEMORY,
    LIBC_THREAD,
};

#else
static const struct sc_rule vmm_preboot_rules[] = {ALLOW(exit_group)};
#endif

/* The API thread: HTTP/1.1 on an accepted Unix socket; requests go to the VMM thread. */
static const struct sc_rule api_rules[] = {
    ALLOW(accept4),  ALLOW(epoll_pwait), ALLOW(epoll_ctl),
    ALLOW(read),     ALLOW(write), /* responses, log lines, eventfd wake-ups of the VMM thread */
    ALLOW(writev),   ALLOW(recvfrom),	 ALLOW(sendto),
    ALLOW(shutdown), ALLOW(close),	 FCNTL_FLAGS,
    ALLOW(mremap),   LIBC_MEMORY,	 LIBC_THREAD,
};

#define LIST(r)                                                                                    \
	{                                                                                          \
		r, sizeof(r) / sizeof(r[0])                                                        \
	}

const struct sc_list sc_lists[SECCOMP_NR_THREADS] = {
    [SECCOMP_VMM] = LIST(vmm_rules),
    [SECCOMP_API] = LIST(api_rules),
    [SECCOMP_VCPU] = LIST(vcpu_rules),
    [SECCOMP_VCPU_BOOT_TIMER] = LIST(vcpu_boot_timer_rules),
    [SECCOMP_VMM_PREBOOT] = LIST(vmm_preboot_rules),
};
