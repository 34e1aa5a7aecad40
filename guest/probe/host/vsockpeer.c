/* Host side of the probe's vsock check, for Firecracker's hybrid vsock model (ember
 * --vsock cid=N,uds=PATH). Runs inside the kvm-tier host, where there is no socat.
 *
 *   probe-vsock-peer listen PATH_PORT     accept one connection the guest made to host
 *                                        port PORT (ember connects to PATH_PORT), read a
 *                                        line, print it, answer "hello from host"
 *   probe-vsock-peer connect PATH PORT    connect to guest port PORT through PATH
 *                                        ("CONNECT PORT"), send a line, print the echo
 * Exit 0 on success, 1 with a one-line message otherwise. Every wait is bounded. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TIMEOUT_MS 60000

static int die(const char *what)
{
	fprintf(stderr, "probe-vsock-peer: %s: %s\n", what, errno ? strerror(errno) : "failed");
	return 1;
}

static int addr_of(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a->sun_path, path);
	return 0;
}

/* Reads up to and including '\n' (bounded by size and TIMEOUT_MS); returns length. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			return -1;
		}
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return (int)n;
}

static int write_all(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int do_listen(const char *path)
{
	struct sockaddr_un a;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || addr_of(path, &a))
		return die("socket");
	unlink(path);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 1))
		return die(path);
	printf("listening %s\n", path);
	fflush(stdout);
	struct pollfd p = {s, POLLIN, 0};
	if (poll(&p, 1, TIMEOUT_MS) <= 0) {
		errno = ETIMEDOUT;
		unlink(path);
		return die("accept");
	}
	int c = accept(s, NULL, NULL);
	unlink(path);
	if (c < 0)
		return die("accept");
	char line[256];
	if (read_line(c, line, sizeof(line)) < 0)
		return die("read");
	printf("got %s", line);
	if (write_all(c, "hello from host\n"))
		return die("write");
	/* Wait for the guest to close its side. */
	char tmp[64];
	struct pollfd q = {c, POLLIN, 0};
	while (poll(&q, 1, 5000) > 0 && read(c, tmp, sizeof(tmp)) > 0)
		;
	close(c);
	close(s);
	return 0;
}

static int do_connect(const char *path, const char *port)
{
	struct sockaddr_un a;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || addr_of(path, &a))
		return die("socket");
	if (connect(s, (struct sockaddr *)&a, sizeof(a)))
		return die(path);
	char line[256];
	snprintf(line, sizeof(line), "CONNECT %s\n", port);
	if (write_all(s, line) || read_line(s, line, sizeof(line)) < 0)
		return die("CONNECT");
	if (strncmp(line, "OK ", 3)) {
		fprintf(stderr, "probe-vsock-peer: CONNECT answered: %s", line);
		return 1;
	}
	if (write_all(s, "ping from host\n") || read_line(s, line, sizeof(line)) < 0)
		return die("echo");
	printf("echo %s", line);
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "listen"))
		return do_listen(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "connect"))
		return do_connect(argv[2], argv[3]);
	fprintf(stderr, "usage: probe-vsock-peer listen PATH_PORT | connect PATH PORT\n");
	return 2;
}
