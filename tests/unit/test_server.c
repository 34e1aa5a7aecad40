/* vmm/api/server.c with small limits: slot eviction and the head/body deadlines.
 * Requests are handled on the server thread itself (no VMM loop). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/server.h"
#include "check.h"
#include "vmm.h"

static char dir[64], path[96];
static struct api *api;
static struct vmm *vmm;

static struct api_server *start(unsigned max_conns, unsigned evict_ms, unsigned head_ms,
				unsigned body_ms)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/ember-test-server.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/api.sock", dir);
		/* A controller that is never started needs no machine. */
		struct vmm_params p = {.id = "unit", .version = "1.17.0"};
		struct error e;
		vmm = vmm__create(&p, &e);
		api = vmm ? api__create(vmm) : NULL;
		if (!api)
			abort();
	}
	unlink(path);
	struct api_server_opts o = {.path = path,
				    .max_conns = max_conns,
				    .evict_ms = evict_ms,
				    .head_ms = head_ms,
				    .body_ms = body_ms};
	char err[256];
	struct api_server *s = api_server__create(&o, err, sizeof(err));
	if (!s || api_server__start(s, api, NULL, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	return s;
}

static void stop(struct api_server *s)
{
	api_server__destroy(s);
	unlink(path);
}

static int dial(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	return fd;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The status of the first response on fd within ms, 0 if none, -1 if closed without one. */
static int status_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, ms) <= 0)
		return 0;
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	int st = 0;
	if (sscanf(buf, "HTTP/1.1 %d", &st) != 1)
		return -2;
	return st;
}

static int get_root(int fd)
{
	const char *r = "GET / HTTP/1.1\r\n\r\n";
	if (send(fd, r, strlen(r), MSG_NOSIGNAL) != (ssize_t)strlen(r))
		return -1;
	return status_within(fd, 1000);
}

static void test_full_gets_503_before_evict_time(void)
{
	struct api_server *s = start(2, 60000, 0, 0);
	int a = dial(), b = dial();
	sleep_ms(50);
	int c = dial();
	CHECK_EQ(status_within(c, 1000), 503);
	/* Both held connections still work. */
	CHECK_EQ(get_root(a), 200);
	CHECK_EQ(get_root(b), 200);
	close(a);
	close(b);
	close(c);
	stop(s);
}

static void test_idle_connection_evicted(void)
{
	struct api_server *s = start(2, 100, 0, 0);
	/* A request each makes sure both are accepted, a well before b. */
	int a = dial();
	CHECK_EQ(get_root(a), 200);
	sleep_ms(50);
	int b = dial();
	CHECK_EQ(get_root(b), 200);
	sleep_ms(150); /* both idle for at least 100 ms; a the longest */
	int c = dial();
	CHECK_EQ(get_root(c), 200);
	CHECK_EQ(status_within(a, 1000), -1); /* a lost its slot: closed */
	CHECK_EQ(get_root(b), 200);
	close(a);
	close(b);
	close(c);
	stop(s);
}

static void test_unfinished_request_evicted_first(void)
{
	struct api_server *s = start(2, 100, 0, 0);
	int trickle = dial();
	send(trickle, "GET / HTTP/1.1\r\nX: ", 19, MSG_NOSIGNAL);
	sleep_ms(50);
	int idle = dial();
	CHECK_EQ(get_root(idle), 200);
	for (int i = 0; i < 4; i++) { /* keeps sending, but its request is old */
		sleep_ms(50);
		send(trickle, "y", 1, MSG_NOSIGNAL);
	}
	int c = dial();
	CHECK_EQ(get_root(c), 200);
	CHECK_EQ(status_within(trickle, 1000), -1);
	CHECK_EQ(get_root(idle), 200);
	close(trickle);
	close(idle);
	close(c);
	stop(s);
}

static void test_head_deadline(void)
{
	struct api_server *s = start(4, 0, 300, 0);
	int fd = dial();
	send(fd, "GET / HTTP/1.1\r\nX: ", 19, MSG_NOSIGNAL);
	int st = 0;
	for (int i = 0; i < 20 && !st; i++) /* a byte every 50 ms for up to 1 s */
		if (!(st = status_within(fd, 50)))
			send(fd, "y", 1, MSG_NOSIGNAL);
	CHECK_EQ(st, 408);
	close(fd);
	stop(s);
}

static void test_body_deadline(void)
{
	struct api_server *s = start(4, 0, 0, 300);
	int fd = dial();
	const char *r = "PUT /machine-config HTTP/1.1\r\nContent-Length: 40\r\n\r\n{";
	send(fd, r, strlen(r), MSG_NOSIGNAL);
	CHECK_EQ(status_within(fd, 200), 0);
	CHECK_EQ(status_within(fd, 1000), 408);
	close(fd);
	stop(s);
}

static void test_zz_cleanup(void)
{
	api__destroy(api);
	vmm__destroy(vmm);
	CHECK_EQ(rmdir(dir), 0);
}

CHECK_MAIN("server", CHECK_CASE(test_full_gets_503_before_evict_time),
	   CHECK_CASE(test_idle_connection_evicted),
	   CHECK_CASE(test_unfinished_request_evicted_first), CHECK_CASE(test_head_deadline),
	   CHECK_CASE(test_body_deadline), CHECK_CASE(test_zz_cleanup))
