/* A tiny HTTP client for the API socket, for places without curl (the nested
 * test host runs busybox only):
 *   fcclient [-w SECS] SOCKET METHOD PATH [BODY]
 * Prints the status code and the response body on one line. Exit 0 for 2xx,
 * 1 for another status, 2 for a usage or connection error. -w retries the
 * connection for up to SECS seconds (the socket may not exist yet). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int connect_to(const char *path, double wait_s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	for (int tries = 0;; tries++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		if (tries * 0.01 >= wait_s)
			return -1;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	double wait_s = 0;
	if (argc > 2 && strcmp(argv[1], "-w") == 0) {
		wait_s = atof(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: fcclient [-w SECS] SOCKET METHOD PATH [BODY]\n");
		return 2;
	}
	const char *body = argc == 5 ? argv[4] : "";
	int fd = connect_to(argv[1], wait_s);
	if (fd < 0) {
		fprintf(stderr, "fcclient: cannot connect to %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	/* One write for head and body: ember may answer and close before a second
	 * write, and even an empty write to a closed socket raises SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	static char req[1 << 16];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 argv[2], argv[3], strlen(body), body);
	if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
		fprintf(stderr, "fcclient: write failed: %s\n", strerror(errno));
		return 2;
	}
	static char resp[1 << 20];
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(resp) - 1 && (r = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0)
		len += (size_t)r;
	resp[len] = '\0';
	close(fd);
	int status = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
		fprintf(stderr, "fcclient: no HTTP response\n");
		return 2;
	}
	const char *b = strstr(resp, "\r\n\r\n");
	printf("%d %s\n", status, b ? b + 4 : "");
	return status >= 200 && status < 300 ? 0 : 1;
}
