/* The API server: one thread with an epoll loop over a listening Unix socket and
 * its client connections. It parses HTTP and moves requests, one at a time, to
 * the VMM thread (through an eventfd registered in the VMM's event loop), which
 * runs api__handle() and hands the answer back. */
#ifndef EMBER_API_SERVER_H
#define EMBER_API_SERVER_H

#include <stddef.h>

struct api;
struct event_loop;

struct api_server_opts {
	const char *path;
	unsigned max_conns;  /* further clients get 503 and are closed; 0 = 64 */
	unsigned idle_ms;    /* a connection with no traffic is closed; 0 = 60 s */
	unsigned request_ms; /* a request must arrive whole within this; 0 = 30 s */
};

struct api_server;

/* Binds and listens on opts->path, which must not exist yet. NULL with err on failure. */
struct api_server *api_server__create(const struct api_server_opts *opts, char *err, size_t errlen);
/* Starts the API thread. Requests run on the thread of `loop` when it is given,
 * else on the API thread itself (tests, fuzzing). 0, or -1 with err. */
int api_server__start(struct api_server *s, struct api *api, struct event_loop *loop, char *err,
		      size_t errlen);
/* Stops the thread and closes every connection. The socket file stays: the
 * caller removes it when its seccomp filter allows (unlink). */
void api_server__destroy(struct api_server *s);

#endif
