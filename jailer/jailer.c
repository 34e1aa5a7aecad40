/* ember-jailer: builds a jail for one ember process and execs it there, unprivileged.
 * Firecracker's jailer arguments (args.c); cgroups (cgroup.c) and the privilege drop
 * (privileges.c) are steps 5 and 12. jailer/README.md lists the steps and what
 * each leaves behind when it fails. Runs as root, single-threaded, start to exec.
 *
 * The jail path is walked once, in step 2, one directory at a time with
 * O_NOFOLLOW; every later step works from the directory descriptors kept then, so
 * a name swapped for a symbolic link after the walk changes nothing. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jailer/jailer.h"

/* From linux/mount.h and linux/fcntl.h, which clash with libc's sys/mount.h. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

static const char *const step_names[] = {
    [STEP_FDS] = "fds and environment",
    [STEP_JAIL_DIR] = "jail directory",
    [STEP_COPY] = "copy exec file",
    [STEP_NETNS] = "netns",
    [STEP_CGROUP] = "cgroup",
    [STEP_MOUNT_NS] = "mount namespace",
    [STEP_PIVOT_ROOT] = "pivot_root",
    [STEP_DEVICES] = "devices",
    [STEP_DAEMONIZE] = "daemonize",
    [STEP_PID_NS] = "pid namespace",
    [STEP_RLIMITS] = "rlimits",
    [STEP_PRIVILEGES] = "drop privileges",
    [STEP_EXEC] = "exec",
};

void jail__step_fail(enum step step, const char *path, int err, const char *what, ...)
{
	char msg[512] = "";
	if (what) {
		va_list ap;
		va_start(ap, what);
		vsnprintf(msg, sizeof(msg), what, ap);
		va_end(ap);
	}
	fprintf(stderr, "ember-jailer: step %d (%s): %s%s%s%s%s\n", step, step_names[step],
		path ? path : "", path ? ": " : "", msg, msg[0] && err ? ": " : "",
		err ? strerror(err) : "");
	exit(JAILER_EXIT_STEP);
}

void jail__path_fmt(char *out, size_t len, enum step step, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		jail__step_fail(step, out, ENAMETOOLONG, NULL);
}

/* --- step 1: descriptors and environment ------------------------------------------- */

static void close_inherited_fds(struct jail *j)
{
	if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0) {
		/* Kernels before 5.9: close what /proc says is open. */
		DIR *d = opendir("/proc/self/fd");
		if (!d)
			jail__step_fail(STEP_FDS, "/proc/self/fd", errno, NULL);
		int dfd = dirfd(d);
		struct dirent *e;
		while ((e = readdir(d)))
			if (isdigit((unsigned char)e->d_name[0]) && atoi(e->d_name) > 2 &&
			    atoi(e->d_name) != dfd)
				close(atoi(e->d_name));
		closedir(d);
	}
	if (clearenv() != 0)
		jail__step_fail(STEP_FDS, NULL, 0, "cannot clear the environment");
	/* The modes below (0755 directories) are meant as given, whatever umask the
	 * caller had: under 077 the jailed user could not even reach its own root. */
	umask(022);
	if (j->daemonize) {
		/* Opened now: there is no /dev/null inside the jail. */
		j->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (j->devnull < 0)
			jail__step_fail(STEP_FDS, "/dev/null", errno, NULL);
	}
}

/* --- step 2: jail directory --------------------------------------------------------- */

/* A directory the jailer works in must be one that only root can change: owned by
 * root and not writable by group or others. A root-owned sticky directory (/tmp)
 * passes: there, nobody else can rename or remove what root made, and what
 * somebody else made is refused one level down, being theirs. */
static void check_dir(enum step step, const char *shown, const struct stat *st)
{
	if (st->st_uid != 0)
		jail__step_fail(step, shown, 0,
				"owned by uid %u, not root: its owner could swap what the jail "
				"is built from; refusing it",
				(unsigned)st->st_uid);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		jail__step_fail(step, shown, 0,
				"writable by group or others (mode %03o): refusing a directory "
				"that another user can change",
				(unsigned)(st->st_mode & 07777));
}

/* Opens (making it first when missing) the directory `name` in `parent`, never
 * through a symbolic link, and checks it with check_dir(). */
static int open_subdir(int parent, const char *name, mode_t mode, enum step step, const char *shown)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(parent, name, mode) < 0 && errno != EEXIST)
			jail__step_fail(step, shown, errno, "mkdir");
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		int e = errno;
		struct stat st;
		if ((e == ENOTDIR || e == ELOOP) &&
		    fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			jail__step_fail(step, shown, 0,
					S_ISLNK(st.st_mode)
					    ? "is a symbolic link; refusing to follow it"
					    : "exists and is not a directory");
		jail__step_fail(step, shown, e, NULL);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		jail__step_fail(step, shown, errno, NULL);
	check_dir(step, shown, &st);
	return fd;
}

/* mkdir -p of <base>/<exec>/<id>/root, one component at a time from "/", keeping
 * the last directory open as j->root_fd. */
static void make_jail_dir(struct jail *j)
{
	char shown[PATH_MAX] = "";
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		jail__step_fail(STEP_JAIL_DIR, "/", errno, NULL);
	check_dir(STEP_JAIL_DIR, "/", &st);
	size_t shown_len = 0;
	for (const char *s = j->root; *s;) {
		while (*s == '/')
			s++;
		size_t n = strcspn(s, "/");
		if (n == 0)
			break;
		char name[NAME_MAX + 1];
		if (n > NAME_MAX)
			jail__step_fail(STEP_JAIL_DIR, j->root, ENAMETOOLONG, NULL);
		memcpy(name, s, n);
		name[n] = 0;
		s += n;
		/* The prefix walked so far, for messages; never longer than j->root. */
		shown_len +=
		    (size_t)snprintf(shown + shown_len, sizeof(shown) - shown_len, "/%s", name);
		if (strcmp(name, ".") == 0)
			continue;
		int next = open_subdir(fd, name, 0755, STEP_JAIL_DIR, shown);
		close(fd);
		fd = next;
	}
	j->root_fd = fd;
}

/* --- step 3: copy the exec file ----------------------------------------------------- */

static const char *file_kind(mode_t m)
{
	return S_ISFIFO(m)   ? "a FIFO"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISDIR(m)  ? "a directory"
	       : S_ISLNK(m)  ? "a symbolic link"
			     : "not a regular file";
}

/* Opens the source for reading without ever blocking: a FIFO (or a device) named as
 * --exec-file would otherwise hang open() until a writer came. */
static int open_exec_source(const struct jail *j, struct stat *st)
{
	if (lstat(j->exec_file, st) < 0)
		jail__step_fail(STEP_COPY, j->exec_file, errno, NULL);
	if (S_ISLNK(st->st_mode))
		jail__step_fail(STEP_COPY, j->exec_file, 0, "is a symbolic link");
	if (!S_ISREG(st->st_mode))
		jail__step_fail(STEP_COPY, j->exec_file, 0, "not a regular file (%s)",
				file_kind(st->st_mode));
	int in = open(j->exec_file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		jail__step_fail(STEP_COPY, j->exec_file, errno,
				errno == ELOOP ? "is a symbolic link" : NULL);
	struct stat now;
	if (fstat(in, &now) < 0)
		jail__step_fail(STEP_COPY, j->exec_file, errno, NULL);
	/* Swapped between lstat() and open(): refused all the same. */
	if (!S_ISREG(now.st_mode))
		jail__step_fail(STEP_COPY, j->exec_file, 0, "not a regular file (%s)",
				file_kind(now.st_mode));
	if (now.st_nlink != 1)
		jail__step_fail(STEP_COPY, j->exec_file, 0,
				"has %lu hard links; refusing to copy it",
				(unsigned long)now.st_nlink);
	*st = now;
	return in;
}

static void copy_fail(const struct jail *j, const char *shown, int err)
{
	unlinkat(j->root_fd, j->exec_name, 0);
	jail__step_fail(STEP_COPY, shown, err, NULL);
}

static void copy_exec_file(struct jail *j)
{
	char dst[PATH_MAX];
	jail__path_fmt(dst, sizeof(dst), STEP_COPY, "%s/%s", j->root, j->exec_name);
	struct stat st;
	int in = open_exec_source(j, &st);
	/* A stale copy (or anything planted in its place) is replaced, never written
	 * through. */
	if (unlinkat(j->root_fd, j->exec_name, 0) < 0 && errno != ENOENT)
		jail__step_fail(STEP_COPY, dst, errno, NULL);
	int out = openat(j->root_fd, j->exec_name,
			 O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
	if (out < 0)
		jail__step_fail(STEP_COPY, dst, errno, NULL);
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			copy_fail(j, j->exec_file, errno);
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				copy_fail(j, dst, errno);
			off += w;
		}
	}
	/* Root-owned and not writable by the jailed user, who may only run it. */
	struct stat made;
	if (fchmod(out, 0755) < 0 || fstat(out, &made) < 0 || close(out) < 0)
		copy_fail(j, dst, errno);
	close(in);
	/* Step 13 executes this very file: the descriptor cannot be redirected. */
	j->exec_fd = openat(j->root_fd, j->exec_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat again;
	if (j->exec_fd < 0 || fstat(j->exec_fd, &again) < 0)
		copy_fail(j, dst, errno);
	if (again.st_dev != made.st_dev || again.st_ino != made.st_ino)
		jail__step_fail(STEP_COPY, dst, 0, "replaced while it was being copied");
}

/* --- step 4: network namespace ------------------------------------------------------ */

static void join_netns(const struct jail *j)
{
	if (!j->netns)
		return;
	int fd = open(j->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		jail__step_fail(STEP_NETNS, j->netns, errno, NULL);
	if (setns(fd, CLONE_NEWNET) < 0)
		jail__step_fail(STEP_NETNS, j->netns, errno, "setns");
	close(fd);
}

/* --- steps 6 and 7: mount namespace and pivot_root ---------------------------------- */

/* Whether / is the initramfs (rootfs), which pivot_root cannot move away from: the
 * topmost mount on "/" in mountinfo has the type rootfs, and / is ramfs or tmpfs. */
static bool root_is_rootfs(void)
{
	struct statfs sf;
	if (statfs("/", &sf) < 0 || (sf.f_type != RAMFS_MAGIC && sf.f_type != TMPFS_MAGIC))
		return false;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		jail__step_fail(STEP_PIVOT_ROOT, "/proc/self/mountinfo", errno, NULL);
	char line[4096], type[64] = "";
	while (fgets(line, sizeof(line), f)) {
		/* id parent dev root mountpoint options [optional...] - type source ... */
		char point[8];
		if (sscanf(line, "%*s %*s %*s %*s %7s", point) != 1 || strcmp(point, "/") != 0)
			continue;
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%63s", type) != 1)
			type[0] = 0;
	}
	fclose(f);
	return strcmp(type, "rootfs") == 0;
}

static void enter_jail_root(struct jail *j)
{
	/* The jail root becomes the working directory before the namespace is made:
	 * unshare() carries the working directory over into the new namespace, where
	 * mounts can be made on it; an fd opened before would stay in the host's. */
	if (fchdir(j->root_fd) < 0)
		jail__step_fail(STEP_MOUNT_NS, j->root, errno, "fchdir");
	if (unshare(CLONE_NEWNS) < 0)
		jail__step_fail(STEP_MOUNT_NS, NULL, errno, "unshare(CLONE_NEWNS)");
	/* Nothing mounted from here on propagates back to the host. */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		jail__step_fail(STEP_MOUNT_NS, "/", errno, "making / a recursive slave");

	/* pivot_root wants the new root to be a mount point: a recursive bind of the
	 * working directory onto itself, made and entered through a descriptor
	 * (open_tree + move_mount, Linux 5.2) instead of the path. */
	int tree =
	    (int)syscall(SYS_open_tree, AT_FDCWD, ".", OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		jail__step_fail(STEP_PIVOT_ROOT, j->root, errno, "open_tree (Linux 5.2 or later)");
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		jail__step_fail(STEP_PIVOT_ROOT, j->root, errno, "move_mount");
	if (fchdir(tree) < 0)
		jail__step_fail(STEP_PIVOT_ROOT, j->root, errno, "fchdir");
	close(tree);
	/* new_root == put_old: the old root ends up stacked on the jail's root, from
	 * where umount2(".") detaches it; no old_root directory is needed. */
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		/* The initramfs (rootfs) cannot be pivoted away from: the kernel says EINVAL.
		 * Only then, do what switch_root does: move the jail onto / and chroot into
		 * it. The old root stays mounted underneath, out of reach once the mount
		 * namespace is private and the process has no privileges left. */
		int e = errno;
		if (e != EINVAL || !root_is_rootfs())
			jail__step_fail(STEP_PIVOT_ROOT, j->root, e, "pivot_root");
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			jail__step_fail(STEP_PIVOT_ROOT, j->root, errno,
					"pivot_root refused (initramfs); mount --move");
		if (chroot(".") < 0)
			jail__step_fail(STEP_PIVOT_ROOT, j->root, errno, "chroot");
	} else if (umount2(".", MNT_DETACH) < 0) {
		jail__step_fail(STEP_PIVOT_ROOT, "/", errno, "umount2 of the old root");
	}
	if (chdir("/") < 0)
		jail__step_fail(STEP_PIVOT_ROOT, "/", errno, "chdir");
	j->jail_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->jail_fd < 0)
		jail__step_fail(STEP_PIVOT_ROOT, "/", errno, NULL);
	/* Of the descriptors into the host's mount tree only exec_fd is kept: step 13
	 * executes it, and exec closes it. */
	close(j->root_fd);
	j->root_fd = -1;
}

/* --- step 8: device nodes and ownership --------------------------------------------- */

/* /dev/kvm's numbers: the misc major, and KVM's fixed minor (kernel-internal, no UAPI
 * header names it). */
enum { KVM_NODE_MAJOR = 10, KVM_NODE_MINOR = 232 };

/* A kernel without /dev/userfaultfd (before 6.1) leaves the jail without it, as
 * Firecracker's jailer does; ember then uses userfaultfd(2). A host /dev/kvm that is
 * missing or another device leaves the jail's node with its own time. */
static void find_host_nodes(struct jail *j)
{
	struct stat st;
	if (stat("/dev/userfaultfd", &st) == 0 && S_ISCHR(st.st_mode)) {
		j->have_uffd = true;
		j->uffd_major = major(st.st_rdev);
		j->uffd_minor = minor(st.st_rdev);
	}
	if (stat("/dev/kvm", &st) == 0 && S_ISCHR(st.st_mode) &&
	    st.st_rdev == makedev(KVM_NODE_MAJOR, KVM_NODE_MINOR)) {
		j->have_kvm_mtime = true;
		j->kvm_mtime = st.st_mtim;
	}
}

static void make_node(const struct jail *j, int dir, const char *path, const char *name,
		      unsigned major, unsigned minor)
{
	if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
		jail__step_fail(STEP_DEVICES, path, errno, NULL);
	if (mknodat(dir, name, S_IFCHR | 0600, makedev(major, minor)) < 0)
		jail__step_fail(STEP_DEVICES, path, errno, "mknod %u:%u", major, minor);
	if (fchownat(dir, name, j->uid, j->gid, AT_SYMLINK_NOFOLLOW) < 0)
		jail__step_fail(STEP_DEVICES, path, errno, "chown %u:%u", (unsigned)j->uid,
				(unsigned)j->gid);
}

/* As Firecracker's jailer: the nodes, then /, /dev, /dev/net and /run given to
 * uid:gid, so that the VMM can make its API socket (/run/firecracker.socket is the
 * SDK's default) and vsock sockets in its root. The copy of the exec file stays
 * root's. */
static void make_devices(const struct jail *j)
{
	int dev = open_subdir(j->jail_fd, "dev", 0755, STEP_DEVICES, "/dev");
	int net = open_subdir(dev, "net", 0755, STEP_DEVICES, "/dev/net");
	int run = open_subdir(j->jail_fd, "run", 0755, STEP_DEVICES, "/run");
	make_node(j, dev, "/dev/kvm", "kvm", KVM_NODE_MAJOR, KVM_NODE_MINOR);
	const struct timespec kvm_times[2] = {{.tv_nsec = UTIME_OMIT}, j->kvm_mtime};
	if (j->have_kvm_mtime && utimensat(dev, "kvm", kvm_times, AT_SYMLINK_NOFOLLOW) < 0)
		jail__step_fail(STEP_DEVICES, "/dev/kvm", errno,
				"set the host node's modification time");
	make_node(j, net, "/dev/net/tun", "tun", 10, 200);
	make_node(j, dev, "/dev/urandom", "urandom", 1, 9);
	if (j->have_uffd)
		make_node(j, dev, "/dev/userfaultfd", "userfaultfd", j->uffd_major, j->uffd_minor);
	const struct {
		int fd;
		const char *path;
	} dirs[] = {{j->jail_fd, "/"}, {dev, "/dev"}, {net, "/dev/net"}, {run, "/run"}};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (fchown(dirs[i].fd, j->uid, j->gid) < 0)
			jail__step_fail(STEP_DEVICES, dirs[i].path, errno, "chown %u:%u",
					(unsigned)j->uid, (unsigned)j->gid);
	close(run);
	close(net);
	close(dev);
}

/* --- steps 9 to 13 ------------------------------------------------------------------- */

/* <jail>/<exec>.pid, as Firecracker's jailer writes it: the pid of the process that
 * runs the VMM, as the host sees it. */
static void write_pid_file(const struct jail *j, pid_t pid, enum step step)
{
	char name[NAME_MAX + 1], shown[NAME_MAX + 2], v[32];
	jail__path_fmt(name, sizeof(name), step, "%s.pid", j->exec_name);
	snprintf(shown, sizeof(shown), "/%s", name);
	int len = snprintf(v, sizeof(v), "%d\n", (int)pid);
	/* Anything planted in its place is replaced, never written through. */
	if (unlinkat(j->jail_fd, name, 0) < 0 && errno != ENOENT)
		jail__step_fail(step, shown, errno, NULL);
	int fd =
	    openat(j->jail_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		jail__step_fail(step, shown, errno, NULL);
	if (write(fd, v, (size_t)len) != len || close(fd) < 0)
		jail__step_fail(step, shown, errno ? errno : EIO, "writing the pid");
}

/* The caller gets control back: the jailer forks, the parent records the daemon's pid
 * (unless a pid namespace comes next and records its own) and exits 0. */
static void daemonize(struct jail *j)
{
	if (!j->daemonize)
		return;
	pid_t pid = fork();
	if (pid < 0)
		jail__step_fail(STEP_DAEMONIZE, NULL, errno, "fork");
	if (pid > 0) {
		if (!j->new_pid_ns)
			write_pid_file(j, pid, STEP_DAEMONIZE);
		_exit(0);
	}
	if (setsid() < 0)
		jail__step_fail(STEP_DAEMONIZE, NULL, errno, "setsid");
	for (int fd = 0; fd < 3; fd++)
		if (dup2(j->devnull, fd) < 0)
			jail__step_fail(STEP_DAEMONIZE, "/dev/null", errno, "dup2");
	close(j->devnull);
	j->devnull = -1;
}

/* --- step 11: resource limits ------------------------------------------------------- */

/* Set last, in the process that execs: the jailer's own work (the pid file, reading
 * /proc/mounts, ...) never runs under the user's limits. */
static void set_rlimits(const struct jail *j)
{
	struct rlimit nofile = {j->nofile, j->nofile};
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		jail__step_fail(STEP_RLIMITS, NULL, errno, "no-file=%llu",
				(unsigned long long)j->nofile);
	if (j->have_fsize) {
		struct rlimit fsize = {j->fsize, j->fsize};
		if (setrlimit(RLIMIT_FSIZE, &fsize) < 0)
			jail__step_fail(STEP_RLIMITS, NULL, errno, "fsize=%llu",
					(unsigned long long)j->fsize);
	}
}

/* The parent of a new pid namespace stays outside it, unprivileged, and passes on
 * the VMM's exit status. */
static void new_pid_namespace(struct jail *j)
{
	if (!j->new_pid_ns)
		return;
	if (unshare(CLONE_NEWPID) < 0)
		jail__step_fail(STEP_PID_NS, NULL, errno, "unshare(CLONE_NEWPID)");
	pid_t pid = fork();
	if (pid < 0)
		jail__step_fail(STEP_PID_NS, NULL, errno, "fork");
	if (pid == 0)
		return; /* pid 1 of the new namespace */
	write_pid_file(j, pid, STEP_PID_NS);
	if (j->daemonize)
		_exit(0);
	jail__drop_privileges(j);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			jail__step_fail(STEP_PID_NS, NULL, errno, "waitpid");
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static void exec_vmm(const struct jail *j)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/%s", j->exec_name);
	char **argv = calloc((size_t)j->vmm_argc + 4, sizeof(*argv));
	if (!argv)
		jail__step_fail(STEP_EXEC, NULL, ENOMEM, NULL);
	/* As Firecracker's jailer does: the VMM learns its id (for its API and logs). */
	argv[0] = (char *)j->exec_name;
	argv[1] = "--id";
	argv[2] = (char *)j->id;
	for (int i = 0; i < j->vmm_argc; i++)
		argv[i + 3] = j->vmm_argv[i];
	char *envp[] = {NULL};
	/* The file copied in step 3, whatever its name in the jail points to now. */
	syscall(SYS_execveat, j->exec_fd, "", argv, envp, AT_EMPTY_PATH);
	jail__step_fail(STEP_EXEC, path, errno, NULL);
}

int main(int argc, char **argv)
{
	static struct jail j;
	jail__parse_args(&j, argc, argv);

	close_inherited_fds(&j); /* 1 */
	make_jail_dir(&j);	 /* 2 */
	copy_exec_file(&j);	 /* 3 */
	join_netns(&j);		 /* 4 */
	jail__setup_cgroups(&j); /* 5 */
	find_host_nodes(&j);	 /* for 8, while the host's /dev is in sight */
	enter_jail_root(&j);	 /* 6, 7 */
	make_devices(&j);	 /* 8 */
	daemonize(&j);		 /* 9 */
	/* unshare(CLONE_NEWPID) needs CAP_SYS_ADMIN, so it comes before the drop. */
	new_pid_namespace(&j); /* 10 */
	/* Firecracker's jailer writes the pid file in every mode; here the process that
	 * execs writes it when no parent did. */
	if (!j.daemonize && !j.new_pid_ns)
		write_pid_file(&j, getpid(), STEP_EXEC);
	set_rlimits(&j);	   /* 11 */
	jail__drop_privileges(&j); /* 12 */
	exec_vmm(&j);		   /* 13 */
	return JAILER_EXIT_STEP;
}
