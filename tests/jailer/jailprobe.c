/* Run by ember-jailer in place of ember: reports what the jailed process sees, then
 * sleeps so the test can look at it from outside (/proc/PID), or exits.
 *   jailprobe [--sleep SECS] [--exit CODE] [--api-sock PATH] [ARGS...]
 * prints each other ARG as arg=...; --api-sock binds a Unix socket there, as the
 * VMM would its API socket (prints sock=ok or sock=<error>). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/sysmacros.h>
#include <unistd.h>

extern char **environ;

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int sleep_s = 0, code = 0;
	const char *sock = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--sleep") == 0 && i + 1 < argc)
			sleep_s = atoi(argv[++i]);
		else if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc)
			code = atoi(argv[++i]);
		else if (strcmp(argv[i], "--api-sock") == 0 && i + 1 < argc)
			sock = argv[++i];
		else
			printf("arg=%s\n", argv[i]);
	}
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	printf("ids=%u,%u,%u:%u,%u,%u groups=%d\n", ru, eu, su, rg, eg, sg, getgroups(0, NULL));
	printf("pid=%d\n", (int)getpid());
	int nenv = 0;
	for (char **e = environ; e && *e; e++)
		nenv++;
	printf("env=%d\n", nenv);
	printf("fds=");
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			printf("%s%d", fd ? "," : "", fd);
	printf("\n");

	char *names[256];
	int n = 0;
	DIR *d = opendir("/");
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 256)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), cmp);
	printf("root=");
	for (int i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", names[i]);
	printf("\n");

	static const char *const devs[] = {"/dev/kvm", "/dev/net/tun", "/dev/urandom",
					   "/dev/userfaultfd"};
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		struct stat st;
		if (stat(devs[i], &st) == 0 && S_ISCHR(st.st_mode))
			printf("dev %s=%u:%u owner=%u:%u\n", devs[i], major(st.st_rdev),
			       minor(st.st_rdev), st.st_uid, st.st_gid);
		else
			printf("dev %s=missing\n", devs[i]);
	}
	struct rlimit nofile, fsize;
	getrlimit(RLIMIT_NOFILE, &nofile);
	getrlimit(RLIMIT_FSIZE, &fsize);
	printf("rlimit nofile=%llu fsize=%lld\n", (unsigned long long)nofile.rlim_cur,
	       fsize.rlim_cur == RLIM_INFINITY ? -1LL : (long long)fsize.rlim_cur);
	if (sock) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			printf("sock=%s\n", strerror(errno));
		else
			printf("sock=ok\n");
	}
	printf("READY\n");
	fflush(stdout);
	if (sleep_s)
		sleep((unsigned)sleep_s);
	return code;
}
