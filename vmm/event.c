#include "event.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "pagealloc.h"

#define EVENT_MAX_HANDLERS 256

struct event_handler {
	int fd;
	/* Bumped each time the slot is taken, so that an event queued for the slot's
	 * previous owner is recognised as stale (see event__run). */
	uint32_t gen;
	event_fn fn;
	void *opaque;
};

/* epoll_data of the stop eventfd; handler tags are below EVENT_MAX_HANDLERS. */
#define EVENT_STOP_TAG UINT64_MAX

struct event_loop {
	int epfd;
	int stop_fd;
	atomic_int stop_code;
	atomic_bool stopping;
	int (*before_fn)(void *opaque); /* event__before_dispatch, until it ran */
	void *before_opaque;
	struct event_handler handlers[EVENT_MAX_HANDLERS];
};

struct event_loop *event__create(void)
{
	struct event_loop *loop = pagealloc__zalloc(sizeof(*loop));
	if (!loop)
		return NULL;
	for (int i = 0; i < EVENT_MAX_HANDLERS; i++)
		loop->handlers[i].fd = -1;
	atomic_init(&loop->stop_code, -1);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->stop_fd < 0)
		goto fail;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EVENT_STOP_TAG};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->stop_fd, &ev) < 0)
		goto fail;
	return loop;
fail:
	event__destroy(loop);
	return NULL;
}

void event__destroy(struct event_loop *loop)
{
	if (!loop)
		return;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->stop_fd >= 0)
		close(loop->stop_fd);
	pagealloc__free(loop);
}

/* What epoll hands back for a handler: its slot and the generation that owns it. */
static uint64_t tag(const struct event_loop *loop, const struct event_handler *h)
{
	return (uint64_t)h->gen << 32 | (uint64_t)(h - loop->handlers);
}

static struct event_handler *find_handler(struct event_loop *loop, int fd)
{
	for (int i = 0; i < EVENT_MAX_HANDLERS; i++)
		if (loop->handlers[i].fd == fd)
			return &loop->handlers[i];
	return NULL;
}

int event__add(struct event_loop *loop, int fd, uint32_t events, event_fn fn, void *opaque)
{
	if (fd < 0 || find_handler(loop, fd)) {
		errno = EINVAL;
		return -1;
	}
	struct event_handler *h = find_handler(loop, -1);
	if (!h) {
		errno = ENOSPC;
		return -1;
	}
	h->gen++; /* a failed add only skips a generation */
	struct epoll_event ev = {.events = events, .data.u64 = tag(loop, h)};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	h->fd = fd;
	h->fn = fn;
	h->opaque = opaque;
	return 0;
}

int event__mod(struct event_loop *loop, int fd, uint32_t events)
{
	struct event_handler *h = find_handler(loop, fd);
	if (!h) {
		errno = ENOENT;
		return -1;
	}
	struct epoll_event ev = {.events = events, .data.u64 = tag(loop, h)};
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
}

int event__del(struct event_loop *loop, int fd)
{
	struct event_handler *h = find_handler(loop, fd);
	if (!h) {
		errno = ENOENT;
		return -1;
	}
	h->fd = -1;
	return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void event__before_dispatch(struct event_loop *loop, int (*fn)(void *opaque), void *opaque)
{
	loop->before_fn = fn;
	loop->before_opaque = opaque;
}

/* False if the hook failed and the loop now stops. */
static bool run_before_hook(struct event_loop *loop)
{
	int (*fn)(void *) = loop->before_fn;
	loop->before_fn = NULL;
	if (fn(loop->before_opaque) == 0)
		return true;
	event__stop(loop, EXIT_ERROR);
	return false;
}

int event__run(struct event_loop *loop)
{
	struct epoll_event evs[32];
	while (!atomic_load(&loop->stopping)) {
		int n = epoll_wait(loop->epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_err("epoll_wait: %m");
			event__stop(loop, EXIT_ERROR);
			break;
		}
		for (int i = 0; i < n && !atomic_load(&loop->stopping); i++) {
			uint64_t t = evs[i].data.u64;
			if (t == EVENT_STOP_TAG)
				continue;
			if (loop->before_fn && !run_before_hook(loop))
				break;
			struct event_handler *h = &loop->handlers[(uint32_t)t];
			/* A handler earlier in this batch may have deleted this one, and even
			 * given its slot to a new fd: the generation tells the events of the
			 * old owner (say a stale EPOLLHUP) from the new owner's. */
			if (h->fd >= 0 && h->gen == (uint32_t)(t >> 32))
				h->fn(h->opaque, evs[i].events);
		}
	}
	return atomic_load(&loop->stop_code);
}

void event__stop(struct event_loop *loop, int code)
{
	/* The code is published before the flag, so event__run never returns a stale one. */
	int unset = -1;
	atomic_compare_exchange_strong(&loop->stop_code, &unset, code);
	atomic_store(&loop->stopping, true);
	uint64_t one = 1;
	ssize_t w = write(loop->stop_fd, &one, sizeof(one));
	(void)w;
}

bool event__stopping(const struct event_loop *loop)
{
	return atomic_load(&loop->stopping);
}
