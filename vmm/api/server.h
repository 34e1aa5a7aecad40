/* The API server: one thread with an epoll loop over a listening Unix socket and
 * its client connections. It parses HTTP and moves requests, one at a time, to
 * the VMM thread (through an eventfd registered in the VMM's event loop), which
 * runs api__handle() and hands the answer back. */
#ifndef EMBER_API_SERVER_H
#define EMBER_API_SERVER_H

#include <stddef.h>

struct api;
struct event_loop;

/* A client that holds connections open without finishing requests (Slowloris)
 * must not lock others out: a request's head and its body each have a few seconds
 * to arrive, and when every slot is taken a new client takes the slot of the
 * connection that has been idle (or stuck in an unfinished request) longest,
 * once that has lasted evict_ms. Only when no connection qualifies does the new
 * client get 503. Firecracker's micro_http has no such limits (10 connections,
 * then refusal; no deadlines). */
struct api_server_opts {
	const char *path;
	unsigned max_conns; /* 0 = 64 */
	unsigned idle_ms;   /* a connection with no traffic is closed; 0 = 60 s */
	unsigned head_ms;   /* request line + headers within this of their first byte; 0 = 5 s */
	unsigned body_ms;   /* the body within this of the end of the head; 0 = 5 s */
	unsigned evict_ms;  /* idle this long, a connection may lose its slot; 0 = 500 ms */
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
