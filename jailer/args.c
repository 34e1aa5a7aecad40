/* ember-jailer's command line: Firecracker's jailer arguments, checked before
 * anything is done. A bad one exits 2 with a one-line reason. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jailer/jailer.h"

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
	     "  --uid UID, --gid GID     the unprivileged user and group it runs as (not 0)\n"
	     "  --allow-root             accept uid or gid 0; every capability is dropped all the "
	     "same\n"
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
	OPT_ALLOW_ROOT,
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
    {"allow-root", no_argument, NULL, OPT_ALLOW_ROOT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

void jail__parse_args(struct jail *j, int argc, char **argv)
{
	unsigned long long v;
	int opt;
	j->base_dir = "/srv/jailer";
	j->cgroup_version = 1;
	j->nofile = DEFAULT_NOFILE;
	j->devnull = j->root_fd = j->exec_fd = j->jail_fd = -1;
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
			j->have_parent_cgroup = true;
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
		case OPT_ALLOW_ROOT:
			j->allow_root = true;
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
	/* Root in the jail keeps every file on the host that root owns within reach of
	 * a compromised VMM, whatever capabilities it lacks: only on request. */
	if (!j->allow_root && (j->uid == 0 || j->gid == 0))
		usage_error("--uid %u --gid %u: refusing to run the VMM as root (uid or gid 0); "
			    "give an unprivileged user, or --allow-root to mean it",
			    (unsigned)j->uid, (unsigned)j->gid);
	const char *slash = strrchr(j->exec_file, '/');
	j->exec_name = slash ? slash + 1 : j->exec_file;
	if (!j->exec_name[0] || strcmp(j->exec_name, ".") == 0 || strcmp(j->exec_name, "..") == 0)
		usage_error("--exec-file '%s': expected a file name", j->exec_file);
	if (!j->parent_cgroup)
		j->parent_cgroup = j->exec_name;
	/* The default is checked like a given one: the exec name can hold anything. */
	if ((j->nr_cgroups || j->cgroup_version == 2) && !valid_rel_path(j->parent_cgroup))
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
