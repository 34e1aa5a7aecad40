/* Step 5: cgroups, v1 or v2, as Firecracker's jailer makes them: one cgroup
 * <mount>/<parent>/<id> per hierarchy a --cgroup setting names. The cgroup file
 * systems are root's, so plain paths are used here. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer/jailer.h"

/* Writes value to path in one write(). flags adds to O_WRONLY|O_NOFOLLOW, e.g.
 * O_CREAT|O_EXCL for a new file (made 0644). */
static void write_file(const char *path, const char *value, int flags, enum step step)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | flags, 0644);
	if (fd < 0)
		jail__step_fail(step, path, errno, NULL);
	size_t len = strlen(value);
	int shown = (int)strcspn(value, "\n"); /* the error stays one line */
	ssize_t w = write(fd, value, len);
	if (w < 0 || (size_t)w != len)
		jail__step_fail(step, path, w < 0 ? errno : EIO, "writing '%.*s'", shown, value);
	if (close(fd) < 0)
		jail__step_fail(step, path, errno, "writing '%.*s'", shown, value);
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
		jail__step_fail(STEP_CGROUP, "/proc/mounts", errno, NULL);
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[2048], type[64], opts[1024];
		if (sscanf(line, "%255s %2047s %63s %1023s", dev, dir, type, opts) != 4)
			continue;
		bool v2 = strcmp(type, "cgroup2") == 0;
		if (!v2 && strcmp(type, "cgroup") != 0)
			continue;
		if (nr_cg_mounts == MAX_CGROUP_MOUNTS)
			jail__step_fail(STEP_CGROUP, "/proc/mounts", 0,
					"more than %d cgroup mounts", MAX_CGROUP_MOUNTS);
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
	jail__path_fmt(path, sizeof(path), STEP_CGROUP, "%s/%s", mount, rel);
	size_t start = strlen(mount);
	for (char *s = path + start + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			jail__step_fail(STEP_CGROUP, path, errno, NULL);
		if (cpuset) {
			snprintf(parent, sizeof(parent), "%s", path);
			*strrchr(parent, '/') = 0;
			static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
			for (int i = 0; i < 2; i++) {
				char mine[PATH_MAX + 32], theirs[PATH_MAX + 32], v[4096];
				jail__path_fmt(mine, sizeof(mine), STEP_CGROUP, "%s/%s", path,
					       files[i]);
				read_file(mine, v, sizeof(v));
				if (v[0])
					continue;
				jail__path_fmt(theirs, sizeof(theirs), STEP_CGROUP, "%s/%s", parent,
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
	jail__path_fmt(path, sizeof(path), STEP_CGROUP, "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	write_file(path, pid, 0, STEP_CGROUP);
}

static void setup_cgroups_v1(const struct jail *j)
{
	/* One cgroup per hierarchy that a setting names; several controllers may share
	 * one hierarchy (cpu,cpuacct), which is then set up once. */
	bool made[MAX_CGROUP_MOUNTS] = {false};
	char rel[PATH_MAX];
	jail__path_fmt(rel, sizeof(rel), STEP_CGROUP, "%s/%s", j->parent_cgroup, j->id);
	for (unsigned i = 0; i < j->nr_cgroups; i++) {
		const struct cgroup_setting *c = &j->cgroups[i];
		int m = find_cgroup_mount(c->controller);
		if (m < 0)
			jail__step_fail(STEP_CGROUP, "/proc/mounts", 0,
					"no cgroup v1 hierarchy has the '%s' controller",
					c->controller);
		if (!made[m]) {
			make_cgroup_dirs(cg_mounts[m].dir, rel,
					 has_option(cg_mounts[m].opts, "cpuset"));
			made[m] = true;
		}
		char file[PATH_MAX + 160];
		jail__path_fmt(file, sizeof(file), STEP_CGROUP, "%s/%s/%s", cg_mounts[m].dir, rel,
			       c->file);
		write_file(file, c->value, 0, STEP_CGROUP);
	}
	for (unsigned m = 0; m < nr_cg_mounts; m++) {
		if (!made[m])
			continue;
		char dir[PATH_MAX];
		jail__path_fmt(dir, sizeof(dir), STEP_CGROUP, "%s/%s", cg_mounts[m].dir, rel);
		attach(dir);
	}
}

static void setup_cgroups_v2(const struct jail *j)
{
	char rel[PATH_MAX], dir[PATH_MAX], avail_path[PATH_MAX + 32];
	int m = find_cgroup_mount(NULL);
	if (m < 0)
		jail__step_fail(STEP_CGROUP, "/proc/mounts", 0,
				"no cgroup2 file system is mounted");
	const char *mount = cg_mounts[m].dir;
	jail__path_fmt(rel, sizeof(rel), STEP_CGROUP, "%s/%s", j->parent_cgroup, j->id);
	jail__path_fmt(dir, sizeof(dir), STEP_CGROUP, "%s/%s", mount, rel);

	/* The controllers the settings name, as one "+a +b" line for subtree_control;
	 * "cgroup." files are core, always there. Checked against the root before
	 * anything is created. */
	char enable[MAX_CGROUPS * (sizeof(j->cgroups[0].controller) + 2)] = "", avail[4096];
	size_t len = 0;
	jail__path_fmt(avail_path, sizeof(avail_path), STEP_CGROUP, "%s/cgroup.controllers", mount);
	read_file(avail_path, avail, sizeof(avail));
	for (unsigned i = 0; i < j->nr_cgroups; i++) {
		const char *c = j->cgroups[i].controller;
		if (strcmp(c, "cgroup") == 0)
			continue;
		if (!has_word(avail, c))
			jail__step_fail(STEP_CGROUP, avail_path, 0,
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
		jail__path_fmt(sc, sizeof(sc), STEP_CGROUP, "%s/cgroup.subtree_control", prefix);
		write_file(sc, enable, 0, STEP_CGROUP);
		const char *slash = strchr(r, '/');
		if (!slash)
			break; /* the jail's own cgroup holds the process, not children */
		size_t plen = strlen(prefix);
		jail__path_fmt(prefix + plen, sizeof(prefix) - plen, STEP_CGROUP, "/%.*s",
			       (int)(slash - r), r);
		r = slash + 1;
	}
	for (unsigned i = 0; i < j->nr_cgroups; i++) {
		char file[PATH_MAX + 160];
		jail__path_fmt(file, sizeof(file), STEP_CGROUP, "%s/%s", dir, j->cgroups[i].file);
		write_file(file, j->cgroups[i].value, 0, STEP_CGROUP);
	}
	attach(dir);
}

/* Firecracker's jailer, v2 and no --cgroup: the process joins <mount>/<parent> when
 * that cgroup exists (a caller who made it meant it), and stays put otherwise. */
static void join_parent_v2(const struct jail *j)
{
	char dir[PATH_MAX];
	int m = find_cgroup_mount(NULL);
	if (m < 0)
		jail__step_fail(STEP_CGROUP, "/proc/mounts", 0,
				"--cgroup-version 2: no cgroup2 file system is mounted");
	jail__path_fmt(dir, sizeof(dir), STEP_CGROUP, "%s/%s", cg_mounts[m].dir, j->parent_cgroup);
	struct stat st;
	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			return;
		jail__step_fail(STEP_CGROUP, dir, errno, NULL);
	}
	if (!S_ISDIR(st.st_mode))
		jail__step_fail(STEP_CGROUP, dir, 0, "not a cgroup directory");
	attach(dir);
}

void jail__setup_cgroups(const struct jail *j)
{
	if (!j->nr_cgroups && j->cgroup_version == 1)
		return;
	read_cgroup_mounts();
	if (!j->nr_cgroups)
		join_parent_v2(j);
	else if (j->cgroup_version == 1)
		setup_cgroups_v1(j);
	else
		setup_cgroups_v2(j);
}
