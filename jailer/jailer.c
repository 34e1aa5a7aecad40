/* ember-jailer: builds a jail for one ember process and execs it there, unprivileged.
 * Firecracker's jailer arguments; jailer/README.md lists the steps and what each
 * leaves behind when it fails. Runs as root, single-threaded, start to exec: the
 * configuration below is filled once by parse_args() and only read afterwards. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pivot_root
#define SYS_pivot_root 155
#endif

#define JAILER_EXIT_USAGE 2 /* a bad argument; nothing was done */
#define JAILER_EXIT_STEP  1 /* a step failed; see README.md for what stays behind */
#define ID_MAX		  64
#define MAX_CGROUPS	  32
#define DEFAULT_NOFILE	  2048 /* Firecracker's default */

enum step {
	STEP_FDS = 1,
	STEP_JAIL_DIR,
	STEP_COPY,
	STEP_NETNS,
	STEP_CGROUP,
	STEP_MOUNT_NS,
	STEP_PIVOT_ROOT,
	STEP_DEVICES,
	STEP_DAEMONIZE,
	STEP_PID_NS,
	STEP_RLIMITS,
	STEP_PRIVILEGES,
	STEP_EXEC,
};

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

struct cgroup_setting {
	char file[128];	     /* e.g. cpu.shares, memory.max */
	char controller[32]; /* the part before the first '.' */
	char value[256];
};

struct jail {
	const char *id;
	const char *exec_file;
	const char *exec_name; /* basename of exec_file: its name inside the jail */
	uid_t uid;
	gid_t gid;
	bool have_uid, have_gid;
	const char *base_dir;
	const char *netns;
	int cgroup_version;
	struct cgroup_setting cgroups[MAX_CGROUPS];
	unsigned nr_cgroups;
	const char *parent_cgroup;
	rlim_t fsize, nofile;
	bool have_fsize;
	bool daemonize;
	bool new_pid_ns;
	char **vmm_argv; /* after "--" */
	int vmm_argc;

	char root[PATH_MAX]; /* <base>/<exec_name>/<id>/root */
	int devnull;
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ember-jailer: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see ember-jailer --help)\n", stderr);
	va_end(ap);
	exit(JAILER_EXIT_USAGE);
}

/* "ember-jailer: step 5 (cgroup): /sys/fs/cgroup/...: Permission denied" */
static void step_fail(enum step step, const char *path, int err, const char *what, ...)
    __attribute__((format(printf, 4, 5), noreturn));
static void step_fail(enum step step, const char *path, int err, const char *what, ...)
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

/* snprintf for paths: a path that does not fit fails the step instead of being cut. */
static void path_fmt(char *out, size_t len, enum step step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void path_fmt(char *out, size_t len, enum step step, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		step_fail(step, out, ENAMETOOLONG, NULL);
}

static void usage(void)
{
	puts("usage: ember-jailer --id ID --exec-file PATH --uid UID --gid GID [options] [-- VMM "
	     "ARGS]\n"
	     "\n"
	     "Builds a jail at <chroot-base-dir>/<exec name>/<id>/root and runs the exec file in\n"
	     "it as UID:GID, with the arguments after \"--\".\n"
	     "\n"
	     "  --id ID                  1..64 characters of [A-Za-z0-9-]\n"
	     "  --exec-file PATH         the VMM binary; copied into the jail (no symlinks or hard "
	     "links)\n"
	     "  --uid UID, --gid GID     the unprivileged user and group it runs as\n"
	     "  --chroot-base-dir DIR    default /srv/jailer\n"
	     "  --netns PATH             join this network namespace (e.g. /var/run/netns/NAME)\n"
	     "  --cgroup-version 1|2     default 1\n"
	     "  --cgroup FILE=VALUE      e.g. cpu.shares=512, memory.max=128M (repeatable)\n"
	     "  --parent-cgroup PATH     cgroup the jail's cgroup is made under (default: exec "
	     "name)\n"
	     "  --resource-limit fsize=N|no-file=N   (repeatable; no-file defaults to 2048)\n"
	     "  --daemonize              new session, stdio on /dev/null\n"
	     "  --new-pid-ns             run the VMM as pid 1 of a new pid namespace\n"
	     "\n"
	     "Exit: the VMM's status; 1 a jail step failed; 2 bad arguments.");
}

static bool parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '-')
			return false;
	return true;
}

/* A relative path of plain names: no "..", no "//", no leading or trailing '/'. */
static bool valid_rel_path(const char *p)
{
	if (!p[0] || p[0] == '/' || strlen(p) >= 1024)
		return false;
	const char *s = p;
	while (*s) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		for (const char *c = s; c < e; c++)
			if ((unsigned char)*c < 0x20)
				return false;
		s = *e ? e + 1 : e;
		if (*e && !*s)
			return false;
	}
	return true;
}

static void parse_cgroup(struct jail *j, const char *arg)
{
	const char *eq = strchr(arg, '=');
	if (j->nr_cgroups == MAX_CGROUPS)
		usage_error("--cgroup: at most %d settings", MAX_CGROUPS);
	struct cgroup_setting *c = &j->cgroups[j->nr_cgroups];
	size_t flen = eq ? (size_t)(eq - arg) : 0;
	const char *dot = eq ? memchr(arg, '.', flen) : NULL;
	if (!eq || !dot || dot == arg || dot + 1 == eq || flen >= sizeof(c->file) ||
	    (size_t)(dot - arg) >= sizeof(c->controller))
		usage_error("--cgroup '%s': expected CONTROLLER.FILE=VALUE, e.g. cpu.shares=512",
			    arg);
	for (const char *p = arg; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_')
			usage_error("--cgroup '%s': bad character in the file name", arg);
	if (!eq[1])
		usage_error("--cgroup '%s': the value is empty", arg);
	if (strlen(eq + 1) >= sizeof(c->value) || strchr(eq + 1, '\n'))
		usage_error("--cgroup '%s': the value must be one line of under %zu bytes", arg,
			    sizeof(c->value));
	memcpy(c->file, arg, flen);
	c->file[flen] = 0;
	memcpy(c->controller, arg, (size_t)(dot - arg));
	c->controller[dot - arg] = 0;
	snprintf(c->value, sizeof(c->value), "%s", eq + 1);
	j->nr_cgroups++;
}

static void parse_rlimit(struct jail *j, const char *arg)
{
	unsigned long long v;
	const char *eq = strchr(arg, '=');
	if (!eq || !parse_u64(eq + 1, RLIM_INFINITY - 1, &v))
		usage_error("--resource-limit '%s': expected fsize=N or no-file=N", arg);
	size_t n = (size_t)(eq - arg);
	if (n == 5 && strncmp(arg, "fsize", 5) == 0) {
		j->fsize = (rlim_t)v;
		j->have_fsize = true;
	} else if (n == 7 && strncmp(arg, "no-file", 7) == 0) {
		if (v == 0)
			usage_error("--resource-limit '%s': no-file must be at least 1", arg);
		j->nofile = (rlim_t)v;
	} else {
		usage_error("--resource-limit '%s': unknown resource (fsize or no-file)", arg);
	}
}

enum {
	OPT_ID = 256,
	OPT_EXEC,
	OPT_UID,
	OPT_GID,
	OPT_BASE,
	OPT_NETNS,
	OPT_CGV,
	OPT_CGROUP,
	OPT_PARENT,
	OPT_RLIMIT,
	OPT_DAEMON,
	OPT_PIDNS,
	OPT_HELP,
};

static const struct option long_opts[] = {
    {"id", required_argument, NULL, OPT_ID},
    {"exec-file", required_argument, NULL, OPT_EXEC},
    {"uid", required_argument, NULL, OPT_UID},
    {"gid", required_argument, NULL, OPT_GID},
    {"chroot-base-dir", required_argument, NULL, OPT_BASE},
    {"netns", required_argument, NULL, OPT_NETNS},
    {"cgroup-version", required_argument, NULL, OPT_CGV},
    {"cgroup", required_argument, NULL, OPT_CGROUP},
    {"parent-cgroup", required_argument, NULL, OPT_PARENT},
    {"resource-limit", required_argument, NULL, OPT_RLIMIT},
    {"daemonize", no_argument, NULL, OPT_DAEMON},
    {"new-pid-ns", no_argument, NULL, OPT_PIDNS},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void parse_args(struct jail *j, int argc, char **argv)
{
	unsigned long long v;
	int opt;
	j->base_dir = "/srv/jailer";
	j->cgroup_version = 1;
	j->nofile = DEFAULT_NOFILE;
	j->devnull = -1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_ID:
			if (!valid_id(optarg))
				usage_error("--id '%s': 1..%d characters of A-Z, a-z, 0-9 and '-'",
					    optarg, ID_MAX);
			j->id = optarg;
			break;
		case OPT_EXEC:
			j->exec_file = optarg;
			break;
		case OPT_UID:
		case OPT_GID:
			/* (uid_t)-1 means "unchanged" to setuid-style calls, so it is refused. */
			if (!parse_u64(optarg, 0xfffffffeull, &v))
				usage_error("--%s '%s': expected a number 0..4294967294",
					    opt == OPT_UID ? "uid" : "gid", optarg);
			if (opt == OPT_UID) {
				j->uid = (uid_t)v;
				j->have_uid = true;
			} else {
				j->gid = (gid_t)v;
				j->have_gid = true;
			}
			break;
		case OPT_BASE:
			if (optarg[0] != '/')
				usage_error("--chroot-base-dir '%s': expected an absolute path",
					    optarg);
			j->base_dir = optarg;
			break;
		case OPT_NETNS:
			j->netns = optarg;
			break;
		case OPT_CGV:
			if (strcmp(optarg, "1") && strcmp(optarg, "2"))
				usage_error("--cgroup-version '%s': expected 1 or 2", optarg);
			j->cgroup_version = optarg[0] - '0';
			break;
		case OPT_CGROUP:
			parse_cgroup(j, optarg);
			break;
		case OPT_PARENT:
			if (!valid_rel_path(optarg))
				usage_error(
				    "--parent-cgroup '%s': expected a relative path of plain "
				    "names, e.g. ember or fc/tenant1",
				    optarg);
			j->parent_cgroup = optarg;
			break;
		case OPT_RLIMIT:
			parse_rlimit(j, optarg);
			break;
		case OPT_DAEMON:
			j->daemonize = true;
			break;
		case OPT_PIDNS:
			j->new_pid_ns = true;
			break;
		case OPT_HELP:
			usage();
			exit(0);
		default:
			if (optopt >= 256)
				usage_error("%s needs a value", argv[optind - 1]);
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--") != 0)
			usage_error("unexpected argument '%s' (VMM arguments go after \"--\")",
				    argv[optind]);
	}
	j->vmm_argv = argv + optind;
	j->vmm_argc = argc - optind;

	if (!j->id)
		usage_error("--id is required");
	if (!j->exec_file || !j->exec_file[0])
		usage_error("--exec-file is required");
	if (!j->have_uid || !j->have_gid)
		usage_error("--uid and --gid are required");
	const char *slash = strrchr(j->exec_file, '/');
	j->exec_name = slash ? slash + 1 : j->exec_file;
	if (!j->exec_name[0] || strcmp(j->exec_name, ".") == 0 || strcmp(j->exec_name, "..") == 0)
		usage_error("--exec-file '%s': expected a file name", j->exec_file);
	if (!j->parent_cgroup)
		j->parent_cgroup = j->exec_name;
	/* The default is checked like a given one: the exec name can hold anything. */
	if (j->nr_cgroups && !valid_rel_path(j->parent_cgroup))
		usage_error("--parent-cgroup '%s' (by default the exec file name): expected a "
			    "plain name; give --parent-cgroup",
			    j->parent_cgroup);
	/* Of the core files only the two limits on the subtree: the others (cgroup.procs,
	 * cgroup.threads, cgroup.type, cgroup.subtree_control, ...) would move processes
	 * or reshape the hierarchy as root. v1 has no "cgroup" controller to match. */
	for (unsigned i = 0; j->cgroup_version == 2 && i < j->nr_cgroups; i++) {
		const char *f = j->cgroups[i].file;
		if (strcmp(j->cgroups[i].controller, "cgroup") == 0 &&
		    strcmp(f, "cgroup.max.descendants") != 0 && strcmp(f, "cgroup.max.depth") != 0)
			usage_error("--cgroup '%s=%s': of the cgroup.* files only "
				    "cgroup.max.descendants and cgroup.max.depth can be set",
				    f, j->cgroups[i].value);
	}
	int n =
	    snprintf(j->root, sizeof(j->root), "%s/%s/%s/root", j->base_dir, j->exec_name, j->id);
	if (n < 0 || (size_t)n >= sizeof(j->root))
		usage_error("--chroot-base-dir: the jail path is too long");
}

/* --- step 1: descriptors and environment ------------------------------------------- */

static void close_inherited_fds(struct jail *j)
{
	if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0) {
		/* Kernels before 5.9: close what /proc says is open. */
		DIR *d = opendir("/proc/self/fd");
		if (!d)
			step_fail(STEP_FDS, "/proc/self/fd", errno, NULL);
		int dfd = dirfd(d);
		struct dirent *e;
		while ((e = readdir(d)))
			if (isdigit((unsigned char)e->d_name[0]) && atoi(e->d_name) > 2 &&
			    atoi(e->d_name) != dfd)
				close(atoi(e->d_name));
		closedir(d);
	}
	if (clearenv() != 0)
		step_fail(STEP_FDS, NULL, 0, "cannot clear the environment");
	/* The modes below (0755 directories) are meant as given, whatever umask the
	 * caller had: under 077 the jailed user could not even reach its own root. */
	umask(022);
	if (j->daemonize) {
		/* Opened now: there is no /dev/null inside the jail. */
		j->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (j->devnull < 0)
			step_fail(STEP_FDS, "/dev/null", errno, NULL);
	}
}

/* --- step 2: jail directory --------------------------------------------------------- */

static void mkdir_p(const char *path, mode_t mode, enum step step)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			step_fail(step, p, errno, NULL);
		struct stat st;
		/* lstat: a symlink planted anywhere on the way is refused. */
		if (lstat(p, &st) < 0)
			step_fail(step, p, errno, NULL);
		if (!S_ISDIR(st.st_mode))
			step_fail(step, p, 0, "exists and is not a directory");
		*s = c;
		if (!c)
			break;
	}
}

/* --- step 3: copy the exec file ----------------------------------------------------- */

static void copy_exec_file(const struct jail *j)
{
	char dst[PATH_MAX];
	path_fmt(dst, sizeof(dst), STEP_COPY, "%s/%s", j->root, j->exec_name);
	int in = open(j->exec_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		step_fail(STEP_COPY, j->exec_file, errno,
			  errno == ELOOP ? "is a symbolic link" : NULL);
	struct stat st;
	if (fstat(in, &st) < 0)
		step_fail(STEP_COPY, j->exec_file, errno, NULL);
	if (!S_ISREG(st.st_mode))
		step_fail(STEP_COPY, j->exec_file, 0, "not a regular file");
	if (st.st_nlink != 1)
		step_fail(STEP_COPY, j->exec_file, 0, "has %lu hard links; refusing to copy it",
			  (unsigned long)st.st_nlink);
	/* A stale copy (or anything planted in its place) is replaced, never written through. */
	if (unlink(dst) < 0 && errno != ENOENT)
		step_fail(STEP_COPY, dst, errno, NULL);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
	if (out < 0)
		step_fail(STEP_COPY, dst, errno, NULL);
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			unlink(dst);
			step_fail(STEP_COPY, j->exec_file, e, NULL);
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				int e = errno;
				unlink(dst);
				step_fail(STEP_COPY, dst, e, NULL);
			}
			off += w;
		}
	}
	/* Root-owned and not writable by the jailed user, who may only run it. */
	if (fchmod(out, 0755) < 0 || close(out) < 0) {
		int e = errno;
		unlink(dst);
		step_fail(STEP_COPY, dst, e, NULL);
	}
	close(in);
}

/* --- step 4: network namespace ------------------------------------------------------ */

static void join_netns(const struct jail *j)
{
	if (!j->netns)
		return;
	int fd = open(j->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		step_fail(STEP_NETNS, j->netns, errno, NULL);
	if (setns(fd, CLONE_NEWNET) < 0)
		step_fail(STEP_NETNS, j->netns, errno, "setns");
	close(fd);
}

/* --- step 5: cgroups ---------------------------------------------------------------- */

/* Writes value to path in one write(). flags adds to O_WRONLY|O_NOFOLLOW, e.g.
 * O_CREAT|O_EXCL for a new file (made 0644). */
static void write_file(const char *path, const char *value, int flags, enum step step)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | flags, 0644);
	if (fd < 0)
		step_fail(step, path, errno, NULL);
	size_t len = strlen(value);
	int shown = (int)strcspn(value, "\n"); /* the error stays one line */
	ssize_t w = write(fd, value, len);
	if (w < 0 || (size_t)w != len)
		step_fail(step, path, w < 0 ? errno : EIO, "writing '%.*s'", shown, value);
	if (close(fd) < 0)
		step_fail(step, path, errno, "writing '%.*s'", shown, value);
}

/* Reads a small file, without its trailing newline; "" if it cannot be read. */
static void read_file(const char *path, char *buf, size_t len)
{
	buf[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
}

static bool has_option(const char *opts, const char *name)
{
	size_t n = strlen(name);
	for (const char *s = opts; s;) {
		if (strncmp(s, name, n) == 0 && (s[n] == ',' || s[n] == 0))
			return true;
		s = strchr(s, ',');
		if (s)
			s++;
	}
	return false;
}

/* Whether a space-separated list (cgroup.controllers) holds word. */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *s = list; *s;) {
		while (*s == ' ')
			s++;
		if (strncmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == 0))
			return true;
		s = strchrnul(s, ' ');
	}
	return false;
}

/* The cgroup file systems in /proc/mounts, read once for the whole step. */
#define MAX_CGROUP_MOUNTS 64
struct cgroup_mount {
	char dir[2048];
	char opts[1024];
	bool v2;
};
static struct cgroup_mount cg_mounts[MAX_CGROUP_MOUNTS];
static unsigned nr_cg_mounts;

static void read_cgroup_mounts(void)
{
	FILE *f = fopen("/proc/mounts", "re");
	if (!f)
		step_fail(STEP_CGROUP, "/proc/mounts", errno, NULL);
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[2048], type[64], opts[1024];
		if (sscanf(line, "%255s %2047s %63s %1023s", dev, dir, type, opts) != 4)
			continue;
		bool v2 = strcmp(type, "cgroup2") == 0;
		if (!v2 && strcmp(type, "cgroup") != 0)
			continue;
		if (nr_cg_mounts == MAX_CGROUP_MOUNTS)
			step_fail(STEP_CGROUP, "/proc/mounts", 0, "more than %d cgroup mounts",
				  MAX_CGROUP_MOUNTS);
		struct cgroup_mount *m = &cg_mounts[nr_cg_mounts++];
		memcpy(m->dir, dir, sizeof(m->dir));
		memcpy(m->opts, opts, sizeof(m->opts));
		m->v2 = v2;
	}
	fclose(f);
}

/* The index of the first v1 hierarchy carrying `controller`, or of the first cgroup2
 * mount when controller is NULL; -1 if there is none. */
static int find_cgroup_mount(const char *controller)
{
	for (unsigned i = 0; i < nr_cg_mounts; i++) {
		const struct cgroup_mount *m = &cg_mounts[i];
		if (controller ? !m->v2 && has_option(m->opts, controller) : m->v2)
			return (int)i;
	}
	return -1;
}

/* Creates mount/rel level by level. On v1 cpuset an empty cpuset.cpus/mems would
 * refuse every task, so each new level inherits its parent's. */
static void make_cgroup_dirs(const char *mount, const char *rel, bool cpuset)
{
	char path[PATH_MAX], parent[PATH_MAX];
	path_fmt(path, sizeof(path), STEP_CGROUP, "%s/%s", mount, rel);
	size_t start = strlen(mount);
	for (char *s = path + start + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			step_fail(STEP_CGROUP, path, errno, NULL);
		if (cpuset) {
			snprintf(parent, sizeof(parent), "%s", path);
			*strrchr(parent, '/') = 0;
			static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
			for (int i = 0; i < 2; i++) {
				char mine[PATH_MAX + 32], theirs[PATH_MAX + 32], v[4096];
				path_fmt(mine, sizeof(mine), STEP_CGROUP, "%s/%s", path, files[i]);
				read_file(mine, v, sizeof(v));
				if (v[0])
					continue;
				path_fmt(theirs, sizeof(theirs), STEP_CGROUP, "%s/%s", parent,
					 files[i]);
				read_file(theirs, v, sizeof(v));
				write_file(mine, v, 0, STEP_CGROUP);
			}
		}
		*s = c;
		if (!c)
			break;
	}
}

static void attach(const char *dir)
{
	char path[PATH_MAX + 16], pid[32];
	path_fmt(path, sizeof(path), STEP_CGROUP, "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	write_file(path, pid, 0, STEP_CGROUP);
}

static void setup_cgroups_v1(const struct jail *j)
{
	/* One cgroup per hierarchy that a setting names; several controllers may share
	 * one hierarchy (cpu,cpuacct), which is then set up once. */
	bool made[MAX_CGROUP_MOUNTS] = {false};
	char rel[PATH_MAX];
	path_fmt(rel, sizeof(rel), STEP_CGROUP, "%s/%s", j->parent_cgroup, j->id);
	for (unsigned i = 0; i < j->nr_cgroups; i++) {
		const struct cgroup_setting *c = &j->cgroups[i];
		int m = find_cgroup_mount(c->controller);
		if (m < 0)
			step_fail(STEP_CGROUP, "/proc/mounts", 0,
				  "no cgroup v1 hierarchy has the '%s' controller", c->controller);
		if (!made[m]) {
			make_cgroup_dirs(cg_mounts[m].dir, rel,
					 has_option(cg_mounts[m].opts, "cpuset"));
			made[m] = true;
		}
		char file[PATH_MAX + 160];
		path_fmt(file, sizeof(file), STEP_CGROUP, "%s/%s/%s", cg_mounts[m].dir, rel,
			 c->file);
		write_file(file, c->value, 0, STEP_CGROUP);
	}
	for (unsigned m = 0; m < nr_cg_mounts; m++) {
		if (!made[m])
			continue;
		char dir[PATH_MAX];
		path_fmt(dir, sizeof(dir), STEP_CGROUP, "%s/%s", cg_mounts[m].dir, rel);
		attach(dir);
	}
}

static void setup_cgroups_v2(const struct jail *j)
{
	char rel[PATH_MAX], dir[PATH_MAX], avail_path[PATH_MAX + 32];
	int m = find_cgroup_mount(NULL);
	if (m < 0)
		step_fail(STEP_CGROUP, "/proc/mounts", 0, "no cgroup2 file system is mounted");
	const char *mount = cg_mounts[m].dir;
	path_fmt(rel, sizeof(rel), STEP_CGROUP, "%s/%s", j->parent_cgroup, j->id);
	path_fmt(dir, sizeof(dir), STEP_CGROUP, "%s/%s", mount, rel);

	/* The controllers the settings name, as one "+a +b" line for subtree_control;
	 * "cgroup." files are core, always there. Checked against the root before
	 * anything is created. */
	char enable[MAX_CGROUPS * (sizeof(j->cgroups[0].controller) + 2)] = "", avail[4096];
	size_t len = 0;
	path_fmt(avail_path, sizeof(avail_path), STEP_CGROUP, "%s/cgroup.controllers", mount);
	read_file(avail_path, avail, sizeof(avail));
	for (unsigned i = 0; i < j->nr_cgroups; i++) {
		const char *c = j->cgroups[i].controller;
		if (strcmp(c, "cgroup") == 0)
			continue;
		if (!has_word(avail, c))
			step_fail(STEP_CGROUP, avail_path, 0,
				  "controller '%s' is not available (bound to a cgroup v1 "
				  "hierarchy?)",
				  c);
		unsigned k;
		for (k = 0; k < i; k++)
			if (strcmp(j->cgroups[k].controller, c) == 0)
				break;
		if (k == i)
			len += (size_t)snprintf(enable + len, sizeof(enable) - len, "%s+%s",
						len ? " " : "", c);
	}
	make_cgroup_dirs(mount, rel, false);

	/* Controllers flow down: each must be in cgroup.subtree_control of every
	 * ancestor of the jail's cgroup, from the mount root to its parent. */
	char prefix[PATH_MAX];
	snprintf(prefix, sizeof(prefix), "%s", mount);
	for (const char *r = rel; len;) {
		char sc[PATH_MAX + 32];
		path_fmt(sc, sizeof(sc), STEP_CGROUP, "%s/cgroup.subtree_control", prefix);
		write_file(sc, enable, 0, STEP_CGROUP);
		const char *slash = strchr(r, '/');
		if (!slash)
			break; /* the jail's own cgroup holds the process, not children */
		size_t plen = strlen(prefix);
		path_fmt(prefix + plen, sizeof(prefix) - plen, STEP_CGROUP, "/%.*s",
			 (int)(slash - r), r);
		r = slash + 1;
	}
	for (unsigned i = 0; i < j->nr_cgroups; i++) {
		char file[PATH_MAX + 160];
		path_fmt(file, sizeof(file), STEP_CGROUP, "%s/%s", dir, j->cgroups[i].file);
		write_file(file, j->cgroups[i].value, 0, STEP_CGROUP);
	}
	attach(dir);
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
		step_fail(STEP_PIVOT_ROOT, "/proc/self/mountinfo", errno, NULL);
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

static void enter_jail_root(const struct jail *j)
{
	if (unshare(CLONE_NEWNS) < 0)
		step_fail(STEP_MOUNT_NS, NULL, errno, "unshare(CLONE_NEWNS)");
	/* Nothing mounted from here on propagates back to the host. */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		step_fail(STEP_MOUNT_NS, "/", errno, "making / a recursive slave");

	/* pivot_root wants the new root to be a mount point. */
	if (mount(j->root, j->root, NULL, MS_BIND | MS_REC, NULL) < 0)
		step_fail(STEP_PIVOT_ROOT, j->root, errno, "bind mount");
	if (chdir(j->root) < 0)
		step_fail(STEP_PIVOT_ROOT, j->root, errno, "chdir");
	/* new_root == put_old: the old root ends up stacked on the jail's root, from
	 * where umount2(".") detaches it; no old_root directory is needed. */
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		/* The initramfs (rootfs) cannot be pivoted away from: the kernel says EINVAL.
		 * Only then, do what switch_root does: move the jail onto / and chroot into
		 * it. The old root stays mounted underneath, out of reach once the mount
		 * namespace is private and the process has no privileges left. */
		int e = errno;
		if (e != EINVAL || !root_is_rootfs())
			step_fail(STEP_PIVOT_ROOT, j->root, e, "pivot_root");
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			step_fail(STEP_PIVOT_ROOT, j->root, errno,
				  "pivot_root refused (initramfs); mount --move");
		if (chroot(".") < 0)
			step_fail(STEP_PIVOT_ROOT, j->root, errno, "chroot");
		if (chdir("/") < 0)
			step_fail(STEP_PIVOT_ROOT, "/", errno, "chdir");
		return;
	}
	if (umount2(".", MNT_DETACH) < 0)
		step_fail(STEP_PIVOT_ROOT, "/", errno, "umount2 of the old root");
	if (chdir("/") < 0)
		step_fail(STEP_PIVOT_ROOT, "/", errno, "chdir");
}

/* --- step 8: device nodes ----------------------------------------------------------- */

static void make_devices(const struct jail *j)
{
	static const struct {
		const char *path;
		unsigned major, minor;
	} nodes[] = {
	    {"/dev/kvm", 10, 232},
	    {"/dev/net/tun", 10, 200},
	    {"/dev/urandom", 1, 9},
	};
	mkdir_p("/dev/net", 0755, STEP_DEVICES);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		const char *p = nodes[i].path;
		if (unlink(p) < 0 && errno != ENOENT)
			step_fail(STEP_DEVICES, p, errno, NULL);
		if (mknod(p, S_IFCHR | 0600, makedev(nodes[i].major, nodes[i].minor)) < 0)
			step_fail(STEP_DEVICES, p, errno, "mknod %u:%u", nodes[i].major,
				  nodes[i].minor);
		if (chown(p, j->uid, j->gid) < 0)
			step_fail(STEP_DEVICES, p, errno, "chown %u:%u", (unsigned)j->uid,
				  (unsigned)j->gid);
	}
}

/* --- steps 9 to 13 ------------------------------------------------------------------- */

static void write_pid_file(const struct jail *j, pid_t pid, enum step step)
{
	char path[PATH_MAX], v[32];
	snprintf(path, sizeof(path), "/%s.pid", j->exec_name);
	snprintf(v, sizeof(v), "%d\n", (int)pid);
	/* Anything planted in its place is replaced, never written through. */
	if (unlink(path) < 0 && errno != ENOENT)
		step_fail(step, path, errno, NULL);
	write_file(path, v, O_CREAT | O_EXCL, step);
}

/* The caller gets control back: the jailer forks, the parent records the daemon's pid
 * (unless a pid namespace comes next and records its own) and exits 0. */
static void daemonize(struct jail *j)
{
	if (!j->daemonize)
		return;
	pid_t pid = fork();
	if (pid < 0)
		step_fail(STEP_DAEMONIZE, NULL, errno, "fork");
	if (pid > 0) {
		if (!j->new_pid_ns)
			write_pid_file(j, pid, STEP_DAEMONIZE);
		_exit(0);
	}
	if (setsid() < 0)
		step_fail(STEP_DAEMONIZE, NULL, errno, "setsid");
	for (int fd = 0; fd < 3; fd++)
		if (dup2(j->devnull, fd) < 0)
			step_fail(STEP_DAEMONIZE, "/dev/null", errno, "dup2");
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
		step_fail(STEP_RLIMITS, NULL, errno, "no-file=%llu", (unsigned long long)j->nofile);
	if (j->have_fsize) {
		struct rlimit fsize = {j->fsize, j->fsize};
		if (setrlimit(RLIMIT_FSIZE, &fsize) < 0)
			step_fail(STEP_RLIMITS, NULL, errno, "fsize=%llu",
				  (unsigned long long)j->fsize);
	}
}

static void drop_privileges(const struct jail *j)
{
	if (setgroups(0, NULL) < 0)
		step_fail(STEP_PRIVILEGES, NULL, errno, "setgroups");
	if (setgid(j->gid) < 0)
		step_fail(STEP_PRIVILEGES, NULL, errno, "setgid(%u)", (unsigned)j->gid);
	if (setuid(j->uid) < 0)
		step_fail(STEP_PRIVILEGES, NULL, errno, "setuid(%u)", (unsigned)j->uid);
	/* Check that it took, all of it: real, effective and saved ids. */
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != j->uid ||
	    eu != j->uid || su != j->uid || rg != j->gid || eg != j->gid || sg != j->gid ||
	    getgroups(0, NULL) != 0)
		step_fail(STEP_PRIVILEGES, NULL, 0, "the ids did not change to %u:%u",
			  (unsigned)j->uid, (unsigned)j->gid);
	if (j->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		step_fail(STEP_PRIVILEGES, NULL, 0, "root could be regained");
}

/* The parent of a new pid namespace stays outside it, unprivileged, and passes on
 * the VMM's exit status. */
static void new_pid_namespace(struct jail *j)
{
	if (!j->new_pid_ns)
		return;
	if (unshare(CLONE_NEWPID) < 0)
		step_fail(STEP_PID_NS, NULL, errno, "unshare(CLONE_NEWPID)");
	pid_t pid = fork();
	if (pid < 0)
		step_fail(STEP_PID_NS, NULL, errno, "fork");
	if (pid == 0)
		return; /* pid 1 of the new namespace */
	write_pid_file(j, pid, STEP_PID_NS);
	if (j->daemonize)
		_exit(0);
	drop_privileges(j);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			step_fail(STEP_PID_NS, NULL, errno, "waitpid");
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

static void exec_vmm(const struct jail *j)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/%s", j->exec_name);
	char **argv = calloc((size_t)j->vmm_argc + 4, sizeof(*argv));
	if (!argv)
		step_fail(STEP_EXEC, NULL, ENOMEM, NULL);
	/* As Firecracker's jailer does: the VMM learns its id (for its API and logs). */
	argv[0] = (char *)j->exec_name;
	argv[1] = "--id";
	argv[2] = (char *)j->id;
	for (int i = 0; i < j->vmm_argc; i++)
		argv[i + 3] = j->vmm_argv[i];
	char *envp[] = {NULL};
	execve(path, argv, envp);
	step_fail(STEP_EXEC, path, errno, NULL);
}

int main(int argc, char **argv)
{
	static struct jail j;
	parse_args(&j, argc, argv);

	close_inherited_fds(&j);	      /* 1 */
	mkdir_p(j.root, 0755, STEP_JAIL_DIR); /* 2 */
	copy_exec_file(&j);		      /* 3 */
	join_netns(&j);			      /* 4 */
	if (j.nr_cgroups) {		      /* 5 */
		read_cgroup_mounts();
		if (j.cgroup_version == 1)
			setup_cgroups_v1(&j);
		else
			setup_cgroups_v2(&j);
	}
	enter_jail_root(&j); /* 6, 7 */
	make_devices(&j);    /* 8 */
	daemonize(&j);	     /* 9 */
	/* unshare(CLONE_NEWPID) needs CAP_SYS_ADMIN, so it comes before the drop. */
	new_pid_namespace(&j); /* 10 */
	set_rlimits(&j);       /* 11 */
	drop_privileges(&j);   /* 12 */
	exec_vmm(&j);	       /* 13 */
	return JAILER_EXIT_STEP;
}
