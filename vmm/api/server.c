#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "event.h"
#include "http.h"
#include "log.h"
#include "seccomp/seccomp.h"

#define CONN_BUF_MAX (HTTP_MAX_HEAD + HTTP_MAX_BODY)

enum conn_state {
	CONN_READING,  /* waiting for a whole request */
	CONN_WAITING,  /* has a request, queued for the VMM thread */
	CONN_INFLIGHT, /* its request is being handled */
	CONN_WRITING,  /* sending a response */
};

struct conn {
	int fd;
	enum conn_state state;
	char *in;
	size_t in_len, in_cap;
	struct json_out out;
	size_t out_off;
	bool close_after; /* close once `out` is sent */
	bool continue_sent;
	bool dead; /* the client went away while its request was in flight */
	uint64_t last_ms, req_start_ms;
	uint64_t body_start_ms; /* when the head of the current request was complete; 0 = not yet */
	struct http_request req;
};

/* The request slot shared with the VMM thread; `lock` guards it. */
struct slot {
	pthread_mutex_t lock;
	bool busy, done;
	enum http_method method;
	const char *path, *body;
	size_t body_len;
	struct api_response resp;
};

struct api_server {
	int listen_fd, epfd, stop_fd;
	int req_fd;  /* API -> VMM: a request is in the slot */
	int resp_fd; /* VMM -> API: the answer is in the slot */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned max_conns, idle_ms, head_ms, body_ms, evict_ms;
	struct conn **conns;
	unsigned nconns, rr;
	struct conn *inflight;
	uint64_t
	    accept_resume_ms; /* out of fds: the listen fd is unwatched until then; 0 = watched */
	struct slot slot;
	struct api *api;
	struct event_loop *loop;
	pthread_t thread;
	bool started;
};

static uint64_t now_ms(void)
{
	return now_us() / 1000;
}

static int fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "api socket: %s: %s", what, strerror(errno));
	return -1;
}

struct api_server *api_server__create(const struct api_server_opts *o, char *err, size_t errlen)
{
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->listen_fd = s->epfd = s->stop_fd = s->req_fd = s->resp_fd = -1;
	pthread_mutex_init(&s->slot.lock, NULL);
	s->max_conns = o->max_conns ? o->max_conns : 64;
	s->idle_ms = o->idle_ms ? o->idle_ms : 60000;
	s->head_ms = o->head_ms ? o->head_ms : 5000;
	s->body_ms = o->body_ms ? o->body_ms : 5000;
	s->evict_ms = o->evict_ms ? o->evict_ms : 500;
	s->conns = calloc(s->max_conns, sizeof(*s->conns));
	if (!s->conns) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (!o->path[0] || strlen(o->path) >= sizeof(s->path)) {
		snprintf(err, errlen, "--api-sock: the path must be 1 to %zu bytes",
			 sizeof(s->path) - 1);
		goto fail;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, o->path, strlen(o->path) + 1);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		fail(err, errlen, "socket");
		goto fail;
	}
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "api socket '%s': %s%s", o->path, strerror(errno),
			 errno == EADDRINUSE ? " (remove the stale socket first)" : "");
		goto fail;
	}
	memcpy(s->path, o->path, strlen(o->path) + 1);
	if (listen(s->listen_fd, 128) < 0) {
		fail(err, errlen, "listen");
		goto fail;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->req_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->resp_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->epfd < 0 || s->stop_fd < 0 || s->req_fd < 0 || s->resp_fd < 0) {
		fail(err, errlen, "epoll/eventfd");
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN};
	ev.data.ptr = &s->listen_fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
		goto ctl_fail;
	ev.data.ptr = &s->stop_fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stop_fd, &ev) < 0)
		goto ctl_fail;
	ev.data.ptr = &s->resp_fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->resp_fd, &ev) < 0)
		goto ctl_fail;
	return s;
ctl_fail:
	fail(err, errlen, "epoll_ctl");
fail:
	api_server__destroy(s);
	return NULL;
}

static void conn_free(struct api_server *s, struct conn *c)
{
	for (unsigned i = 0; i < s->nconns; i++) {
		if (s->conns[i] == c) {
			s->conns[i] = s->conns[--s->nconns];
			break;
		}
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	json_out__free(&c->out);
	free(c);
}

/* Closes a connection; one whose request is in flight is freed when it returns. */
static void conn_close(struct api_server *s, struct conn *c)
{
	if (c->state == CONN_INFLIGHT) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
		c->dead = true;
		return;
	}
	conn_free(s, c);
}

static void conn_watch(struct api_server *s, struct conn *c)
{
	struct epoll_event ev = {.data.ptr = c};
	if (c->state == CONN_READING && c->out.len == c->out_off)
		ev.events = EPOLLIN;
	if (c->out.len > c->out_off)
		ev.events |= EPOLLOUT;
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void queue_response(struct conn *c, int status, const char *body, size_t len, bool keep,
			   bool deprecated)
{
	http__write_response_with(&c->out, status, body, len, keep,
				  deprecated ? "Deprecation: true\r\n" : NULL);
	if (!keep)
		c->close_after = true;
}

/* Writes a whole `Connection: close` error response with a fault_message body to o. */
static void write_error(struct json_out *o, int status, const char *msg)
{
	struct json_out b = {0};
	json_out__raw(&b, "{\"fault_message\":", 17);
	json_out__str(&b, msg);
	json_out__raw(&b, "}", 1);
	http__write_response(o, status, b.buf, b.len, false);
	json_out__free(&b);
}

static void queue_error(struct conn *c, int status, const char *msg)
{
	write_error(&c->out, status, msg);
	c->close_after = true;
	c->state = CONN_WRITING;
}

static void submit_next(struct api_server *s);

/* Parses what the connection has buffered; queues a request, an error or 100 Continue. */
static void conn_parse(struct api_server *s, struct conn *c)
{
	if (c->state != CONN_READING || c->out.len > c->out_off)
		return;
	if (c->in_len == 0)
		return;
	long n = http__parse(c->in, c->in_len, &c->req);
	if (n < 0) {
		queue_error(c, 400, c->req.error);
		return;
	}
	if (n == 0) {
		if (c->req.head_done && !c->body_start_ms)
			c->body_start_ms = now_ms();
		if (c->req.head_done && c->req.expect_continue && !c->continue_sent) {
			json_out__raw(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			c->continue_sent = true;
		}
		return;
	}
	c->state = CONN_WAITING;
	submit_next(s);
}

/* Runs on the VMM thread (or inline without a loop). */
static void serve_slot(struct api_server *s)
{
	struct slot *sl = &s->slot;
	pthread_mutex_lock(&sl->lock);
	bool go = sl->busy && !sl->done;
	pthread_mutex_unlock(&sl->lock);
	if (!go)
		return;
	/* Fields other than done are not touched by the API thread while busy. */
	api__handle(s->api, sl->method, sl->path, sl->body, sl->body_len, &sl->resp);
	pthread_mutex_lock(&sl->lock);
	sl->done = true;
	pthread_mutex_unlock(&sl->lock);
	uint64_t one = 1;
	ssize_t w = write(s->resp_fd, &one, sizeof(one));
	(void)w;
}

static void on_vmm_request(void *opaque, uint32_t events)
{
	struct api_server *s = opaque;
	uint64_t v;
	ssize_t r = read(s->req_fd, &v, sizeof(v));
	(void)r;
	serve_slot(s);
}

/* Hands the next waiting request (round robin) to the VMM thread. */
static void submit_next(struct api_server *s)
{
	if (s->inflight || !s->nconns)
		return;
	struct conn *c = NULL;
	for (unsigned k = 0; k < s->nconns; k++) {
		struct conn *x = s->conns[(s->rr + k) % s->nconns];
		if (x->state == CONN_WAITING) {
			c = x;
			s->rr = (s->rr + k + 1) % s->nconns;
			break;
		}
	}
	if (!c)
		return;
	c->state = CONN_INFLIGHT;
	s->inflight = c;
	struct slot *sl = &s->slot;
	pthread_mutex_lock(&sl->lock);
	sl->method = c->req.method;
	sl->path = c->req.path;
	sl->body = c->in + c->req.head_len;
	sl->body_len = c->req.body_len;
	sl->busy = true;
	sl->done = false;
	pthread_mutex_unlock(&sl->lock);
	uint64_t one = 1;
	if (s->loop) {
		ssize_t w = write(s->req_fd, &one, sizeof(one));
		(void)w;
	} else {
		serve_slot(s);
	}
}

static void conn_flush(struct api_server *s, struct conn *c);

/* The VMM thread answered: write the response, then serve the next request. */
static void on_response(struct api_server *s)
{
	uint64_t v;
	ssize_t r = read(s->resp_fd, &v, sizeof(v));
	(void)r;
	struct slot *sl = &s->slot;
	pthread_mutex_lock(&sl->lock);
	bool done = sl->busy && sl->done;
	if (done)
		sl->busy = false;
	pthread_mutex_unlock(&sl->lock);
	if (!done)
		return;
	/* Take the answer out of the slot first: flushing may submit the next request. */
	struct api_response resp = sl->resp;
	sl->resp.body = (struct json_out){0};
	struct conn *c = s->inflight;
	s->inflight = NULL;
	if (c && c->dead) {
		conn_free(s, c);
	} else if (c) {
		int status = resp.status ? resp.status : 500;
		queue_response(c, status, resp.body.buf, resp.body.len, c->req.keep_alive,
			       resp.deprecated);
		/* The request's bytes are no longer referenced: drop them. */
		size_t used = c->req.head_len + c->req.body_len;
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		c->continue_sent = false;
		c->req_start_ms = now_ms();
		c->body_start_ms = 0;
		c->state = CONN_WRITING;
		conn_flush(s, c);
	}
	json_out__free(&resp.body);
	submit_next(s);
}

/* Writes what can be written; when done, parses the next pipelined request. */
static void conn_flush(struct api_server *s, struct conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			conn_close(s, c);
			return;
		}
		c->out_off += (size_t)n;
		c->last_ms = now_ms();
	}
	if (c->out_off == c->out.len) {
		c->out.len = c->out_off = 0;
		if (c->close_after) {
			conn_close(s, c);
			return;
		}
		if (c->state == CONN_WRITING)
			c->state = CONN_READING;
		conn_parse(s, c);
		if (c->out.len > c->out_off && c->state == CONN_WRITING) {
			conn_flush(s, c);
			return;
		}
	}
	conn_watch(s, c);
}

static void conn_read(struct api_server *s, struct conn *c)
{
	if (c->in_cap - c->in_len < 4096 && c->in_cap < CONN_BUF_MAX + 1) {
		size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
		if (cap > CONN_BUF_MAX + 1)
			cap = CONN_BUF_MAX + 1;
		char *b = realloc(c->in, cap);
		if (!b) {
			conn_close(s, c);
			return;
		}
		c->in = b;
		c->in_cap = cap;
	}
	if (c->in_len == c->in_cap) {
		/* Cannot happen: a full buffer always holds a whole request or an error. */
		queue_error(c, 400, "request too large");
		conn_flush(s, c);
		return;
	}
	ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(s, c);
		return;
	}
	if (c->in_len == 0)
		c->req_start_ms = now_ms();
	c->in_len += (size_t)n;
	c->last_ms = now_ms();
	conn_parse(s, c);
	if (c->state == CONN_READING || c->state == CONN_WRITING)
		conn_flush(s, c);
	else
		conn_watch(s, c);
}

#define ACCEPT_PAUSE_MS 100

/* The connection whose slot a new client may take: idle, or with an unfinished
 * request or an unread response, for at least evict_ms; the longest such first.
 * A connection whose request is queued or running keeps its slot. */
static struct conn *eviction_victim(struct api_server *s, uint64_t now)
{
	struct conn *victim = NULL;
	uint64_t oldest = 0;
	for (unsigned i = 0; i < s->nconns; i++) {
		struct conn *c = s->conns[i];
		uint64_t since;
		if (c->state == CONN_READING && c->out.len == c->out_off)
			since = c->in_len ? c->req_start_ms : c->last_ms;
		else if (c->state == CONN_WRITING || c->state == CONN_READING)
			since = c->last_ms; /* the client is not reading its response */
		else
			continue;
		if (now - since < s->evict_ms)
			continue;
		if (!victim || since < oldest) {
			victim = c;
			oldest = since;
		}
	}
	return victim;
}

/* Watches the listen fd for new connections, or stops (events 0) while out of fds. */
static void watch_listen(struct api_server *s, bool on)
{
	struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.ptr = &s->listen_fd};
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->listen_fd, &ev);
}

static void on_accept(struct api_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* The pending connection stays queued and the level-triggered listen
			 * fd would wake us at once, forever: look again a little later. */
			watch_listen(s, false);
			s->accept_resume_ms = now_ms() + ACCEPT_PAUSE_MS;
			return;
		}
		if (fd < 0)
			return;
		struct conn *victim =
		    s->nconns == s->max_conns ? eviction_victim(s, now_ms()) : NULL;
		if (victim) {
			pr_debug("api: connection slots full; closing the longest idle one");
			conn_close(s, victim);
		}
		if (s->nconns == s->max_conns) {
			struct json_out busy = {0};
			write_error(&busy, 503, "too many API connections");
			if (!busy.oom) {
				ssize_t w =
				    send(fd, busy.buf, busy.len, MSG_NOSIGNAL | MSG_DONTWAIT);
				(void)w;
			}
			json_out__free(&busy);
			close(fd);
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->last_ms = c->req_start_ms = now_ms();
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		s->conns[s->nconns++] = c;
	}
}

static void expire(struct api_server *s)
{
	uint64_t now = now_ms();
	if (s->accept_resume_ms && now >= s->accept_resume_ms) {
		s->accept_resume_ms = 0;
		watch_listen(s, true);
	}
	for (unsigned i = 0; i < s->nconns;) {
		struct conn *c = s->conns[i];
		unsigned before = s->nconns;
		bool late_head =
		    c->in_len && !c->body_start_ms && now - c->req_start_ms > s->head_ms;
		bool late_body = c->body_start_ms && now - c->body_start_ms > s->body_ms;
		if (c->state == CONN_READING && (late_head || late_body) &&
		    c->out.len == c->out_off) {
			queue_error(c, 408, "the request did not arrive in time");
			conn_flush(s, c);
		} else if ((c->state == CONN_READING || c->state == CONN_WRITING) &&
			   now - c->last_ms > s->idle_ms) {
			conn_close(s, c);
		}
		if (s->nconns == before)
			i++;
	}
}

static void *server_thread(void *arg)
{
	struct api_server *s = arg;
	struct epoll_event evs[32];
	/* With a VMM loop this thread only moves bytes, so it is narrowed before the
	 * first client byte is read; without one (tests) it also runs the handlers. */
	if (s->loop && seccomp__install(SECCOMP_API)) {
		pr_err("api: cannot install the seccomp filter: %m");
		event__stop(s->loop, EXIT_ERROR);
		return NULL;
	}
	for (;;) {
		int n = epoll_wait(s->epfd, evs, 32, s->nconns || s->accept_resume_ms ? 100 : -1);
		if (n < 0 && errno != EINTR) {
			pr_err("api: epoll_wait: %m");
			break;
		}
		bool stop = false;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &s->stop_fd) {
				stop = true;
			} else if (p == &s->listen_fd) {
				on_accept(s);
			} else if (p == &s->resp_fd) {
				on_response(s);
			} else {
				/* A connection freed earlier in this batch is skipped. */
				struct conn *c = p;
				bool live = false;
				for (unsigned k = 0; k < s->nconns && !live; k++)
					live = s->conns[k] == c;
				if (!live || c->fd < 0)
					continue;
				if ((c->state == CONN_WAITING || c->state == CONN_INFLIGHT) &&
				    (evs[i].events & (EPOLLHUP | EPOLLERR)))
					conn_close(s, c); /* gone: nobody to answer */
				else if (evs[i].events & EPOLLOUT)
					conn_flush(s, c);
				else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					conn_read(s, c);
			}
		}
		if (stop)
			break;
		expire(s);
	}
	return NULL;
}

int api_server__start(struct api_server *s, struct api *api, struct event_loop *loop, char *err,
		      size_t errlen)
{
	s->api = api;
	s->loop = loop;
	if (loop && event__add(loop, s->req_fd, EPOLLIN, on_vmm_request, s) < 0)
		return fail(err, errlen, "event loop");
	/* Signals belong to the VMM thread and the vCPUs. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	errno = pthread_create(&s->thread, &attr, server_thread, s);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (errno) {
		if (loop)
			event__del(loop, s->req_fd);
		return fail(err, errlen, "pthread_create");
	}
	s->started = true;
	return 0;
}

void api_server__destroy(struct api_server *s)
{
	if (!s)
		return;
	if (s->started) {
		uint64_t one = 1;
		ssize_t w = write(s->stop_fd, &one, sizeof(one));
		(void)w;
		pthread_join(s->thread, NULL);
		if (s->loop)
			event__del(s->loop, s->req_fd);
	}
	while (s->nconns)
		conn_free(s, s->conns[0]);
	json_out__free(&s->slot.resp.body);
	int fds[] = {s->listen_fd, s->epfd, s->stop_fd, s->req_fd, s->resp_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	pthread_mutex_destroy(&s->slot.lock);
	free(s->conns);
	free(s);
}
