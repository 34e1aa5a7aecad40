/* uffdpeer MODE SOCKET: a page-fault handler that misbehaves, for the Uffd backend's
 * error tests (tests/kvm/t_uffd.sh). Prints "uffdpeer: listening" once ember can
 * connect, and ends by itself after 60 s at the latest.
 *   stale     binds SOCKET and exits: a socket file nobody listens on
 *   close     accepts and closes the connection at once, unread
 *   garbage   reads ember's message and answers with bytes it never expects
 *   silent    reads ember's message and the userfaultfd, and serves nothing
 *   noaccept  listens and never accepts */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: uffdpeer stale|close|garbage|silent|noaccept SOCKET\n");
		return 2;
	}
	const char *mode = argv[1];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[2]) >= sizeof(sa.sun_path))
		return 2;
	strcpy(sa.sun_path, argv[2]);
	unlink(argv[2]);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("uffdpeer: bind");
		return 1;
	}
	if (!strcmp(mode, "stale")) {
		close(l);
		return 0;
	}
	if (listen(l, 1) < 0) {
		perror("uffdpeer: listen");
		return 1;
	}
	printf("uffdpeer: listening\n");
	fflush(stdout);
	if (!strcmp(mode, "noaccept")) {
		sleep(60);
		return 0;
	}
	alarm(60);
	int s = accept(l, NULL, NULL);
	if (s < 0) {
		perror("uffdpeer: accept");
		return 1;
	}
	if (!strcmp(mode, "close")) {
		close(s);
		sleep(60);
		return 0;
	}
	char buf[4096], ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	ssize_t n = recvmsg(s, &mh, 0);
	printf("uffdpeer: received %zd bytes%s\n", n,
	       CMSG_FIRSTHDR(&mh) ? " and a descriptor" : "");
	fflush(stdout);
	if (!strcmp(mode, "garbage") && write(s, "HTTP/1.1 200 OK\r\n\r\n", 19) != 19)
		return 1;
	sleep(60);
	return 0;
}
