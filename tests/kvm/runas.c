/* runas UID GID CMD...: drops root for tests of /dev/kvm access errors. */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: runas UID GID CMD...\n");
		return 2;
	}
	gid_t gid = (gid_t)atoi(argv[2]);
	if (setgroups(0, NULL) || setgid(gid) || setuid((uid_t)atoi(argv[1]))) {
		perror("runas");
		return 1;
	}
	execv(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
}
