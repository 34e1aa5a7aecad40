/*
 * ember-vsock: tiny static helper for vsock tests, for the guest (AF_VSOCK) and
 * for the host side of ember's vsock device (Firecracker-style Unix sockets).
 *
 *   ember-vsock listen PORT [TIMEOUT]        guest: accept one vsock connection on
 *                                            PORT, read a line, answer "echo <line>"
 *   ember-vsock connect CID PORT MSG [TIMEOUT]  guest: connect to CID:PORT, send MSG,
 *                                            print the answer line
 *   ember-vsock uds-connect PATH PORT MSG [TIMEOUT]  host: connect to ember's vsock Unix
 *                                            socket, "CONNECT PORT", expect "OK ...",
 *                                            send MSG, print the answer line
 *   ember-vsock uds-listen PATH [TIMEOUT]    host: listen on PATH (ember forwards guest
 *                                            connections to CID 2 port P to "<uds>_P"),
 *                                            accept one, read a line, answer "echo <line>"
 *
 * Lines printed on stdout are for tests: "LISTENING ...", "GOT <line>", "REPLY <line>".
 * Exit 0 on success, 1 on error (message on stderr), 2 on usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* From linux/vm_sockets.h (musl has no kernel headers). */
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
struct sockaddr_vm_ {
	unsigned short svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_flags;
	unsigned char svm_zero[3];
};

static int timeout_ms = 30000;

static int die(const char *what)
{
	fprintf(stderr, "ember-vsock: %s: %s\n", what, strerror(errno));
	return 1;
}

static int wait_fd(int fd, short ev)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int r = poll(&p, 1, timeout_ms);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return r < 0 ? -1 : 0;
}

/* Reads one line (without '\n') into buf; returns its length or -1. */
static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	while (n + 1 < len) {
		if (wait_fd(fd, POLLIN) < 0)
			return -1;
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			return n ? (int)n : -1;
		}
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = 0;
	return (int)n;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t w = write(fd, s, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

static int send_line(int fd, const char *msg)
{
	if (write_all(fd, msg, strlen(msg)) < 0 || write_all(fd, "\n", 1) < 0)
		return -1;
	return 0;
}

/* Accepts one connection on lfd, reads a line, echoes it back. */
static int serve_one(int lfd)
{
	if (wait_fd(lfd, POLLIN) < 0)
		return die("accept (waiting)");
	int c = accept(lfd, NULL, NULL);
	if (c < 0)
		return die("accept");
	char line[512], reply[600];
	if (read_line(c, line, sizeof(line)) < 0)
		return die("read");
	printf("GOT %s\n", line);
	fflush(stdout);
	snprintf(reply, sizeof(reply), "echo %s", line);
	if (send_line(c, reply) < 0)
		return die("write");
	/* Let the peer read before the close. */
	shutdown(c, SHUT_WR);
	char tmp[64];
	if (wait_fd(c, POLLIN) == 0)
		while (read(c, tmp, sizeof(tmp)) > 0)
			;
	close(c);
	return 0;
}

static int talk(int fd, const char *msg)
{
	char line[600];
	if (send_line(fd, msg) < 0)
		return die("write");
	if (read_line(fd, line, sizeof(line)) < 0)
		return die("read reply");
	printf("REPLY %s\n", line);
	fflush(stdout);
	close(fd);
	return 0;
}

static int uds_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		fprintf(stderr, "ember-vsock: path too long: %s\n", path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	const char *cmd = argv[1];

	if (!strcmp(cmd, "listen") && (argc == 3 || argc == 4)) {
		if (argc == 4)
			timeout_ms = atoi(argv[3]) * 1000;
		int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0)
			return die("socket(AF_VSOCK)");
		struct sockaddr_vm_ sa = {.svm_family = AF_VSOCK,
					  .svm_port = (unsigned)atoi(argv[2]),
					  .svm_cid = 0xFFFFFFFFu /* VMADDR_CID_ANY */};
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return die("bind");
		if (listen(fd, 1) < 0)
			return die("listen");
		printf("LISTENING vsock port %s\n", argv[2]);
		fflush(stdout);
		return serve_one(fd);
	}
	if (!strcmp(cmd, "connect") && (argc == 5 || argc == 6)) {
		if (argc == 6)
			timeout_ms = atoi(argv[5]) * 1000;
		int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		if (fd < 0)
			return die("socket(AF_VSOCK)");
		struct sockaddr_vm_ sa = {.svm_family = AF_VSOCK,
					  .svm_cid = (unsigned)atoi(argv[2]),
					  .svm_port = (unsigned)atoi(argv[3])};
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return die("connect");
		return talk(fd, argv[4]);
	}
	if (!strcmp(cmd, "uds-connect") && (argc == 5 || argc == 6)) {
		if (argc == 6)
			timeout_ms = atoi(argv[5]) * 1000;
		struct sockaddr_un sa;
		if (uds_addr(&sa, argv[2]) < 0)
			return 1;
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			return die("socket(AF_UNIX)");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return die("connect");
		char line[128];
		snprintf(line, sizeof(line), "CONNECT %s", argv[3]);
		if (send_line(fd, line) < 0)
			return die("write CONNECT");
		if (read_line(fd, line, sizeof(line)) < 0)
			return die("read CONNECT answer");
		if (strncmp(line, "OK ", 3) != 0) {
			fprintf(stderr, "ember-vsock: CONNECT %s answered \"%s\"\n", argv[3], line);
			return 1;
		}
		return talk(fd, argv[4]);
	}
	if (!strcmp(cmd, "uds-listen") && (argc == 3 || argc == 4)) {
		if (argc == 4)
			timeout_ms = atoi(argv[3]) * 1000;
		struct sockaddr_un sa;
		if (uds_addr(&sa, argv[2]) < 0)
			return 1;
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			return die("socket(AF_UNIX)");
		unlink(argv[2]);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return die("bind");
		if (listen(fd, 1) < 0)
			return die("listen");
		printf("LISTENING %s\n", argv[2]);
		fflush(stdout);
		int r = serve_one(fd);
		unlink(argv[2]);
		return r;
	}
usage:
	fprintf(stderr, "usage: ember-vsock listen PORT [TIMEOUT]\n"
			"       ember-vsock connect CID PORT MSG [TIMEOUT]\n"
			"       ember-vsock uds-connect PATH PORT MSG [TIMEOUT]\n"
			"       ember-vsock uds-listen PATH [TIMEOUT]\n");
	return 2;
}
