/* The VMM thread's event loop: events queued in one epoll batch for a handler that
 * an earlier handler of the same batch replaced must not reach the new one. */
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check.h"
#include "error.h"
#include "event.h"

struct reuse {
	struct event_loop *loop;
	int a, b, c, stop;
	unsigned a_calls, b_calls, c_calls;
	uint32_t c_events;
};

static void on_c(void *opaque, uint32_t events)
{
	struct reuse *r = opaque;
	r->c_calls++;
	r->c_events |= events;
}

/* First in the batch: drops b (its event is already queued behind us) and takes a
 * new fd c, which gets b's slot, the first free one. */
static void on_a(void *opaque, uint32_t events)
{
	struct reuse *r = opaque;
	r->a_calls++;
	event__del(r->loop, r->b);
	close(r->b);
	r->b = -1;
	r->c = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); /* never readable */
	CHECK(r->c >= 0);
	CHECK_EQ(event__add(r->loop, r->c, EPOLLIN, on_c, r), 0);
}

static void on_b(void *opaque, uint32_t events)
{
	struct reuse *r = opaque;
	r->b_calls++;
}

static void on_stop(void *opaque, uint32_t events)
{
	struct reuse *r = opaque;
	event__stop(r->loop, 7);
}

static int ready_eventfd(void)
{
	int fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(fd >= 0);
	return fd;
}

static void stale_event_after_slot_reuse(void)
{
	struct reuse r = {.loop = event__create(), .c = -1};
	CHECK(r.loop != NULL);
	if (!r.loop)
		return;
	/* Ready in this order, so one epoll_wait returns a, b, stop in this order. */
	r.a = ready_eventfd();
	r.b = ready_eventfd();
	r.stop = ready_eventfd();
	CHECK_EQ(event__add(r.loop, r.a, EPOLLIN, on_a, &r), 0);
	CHECK_EQ(event__add(r.loop, r.b, EPOLLIN, on_b, &r), 0);
	CHECK_EQ(event__add(r.loop, r.stop, EPOLLIN, on_stop, &r), 0);
	CHECK_EQ(event__run(r.loop), 7);
	CHECK_EQ(r.a_calls, 1);
	CHECK_EQ(r.b_calls, 0);
	/* c is not readable: any call is b's stale event delivered to c. */
	CHECK_EQ(r.c_calls, 0);
	CHECK_EQ(r.c_events, 0);
	event__destroy(r.loop);
	close(r.a);
	close(r.stop);
	if (r.c >= 0)
		close(r.c);
}

struct chain {
	struct event_loop *loop;
	int fd;
	unsigned calls;
};

/* Each call replaces its own fd with a new ready one, in the slot it just freed. */
static void on_chain(void *opaque, uint32_t events)
{
	struct chain *c = opaque;
	event__del(c->loop, c->fd);
	close(c->fd);
	if (++c->calls == 3) {
		event__stop(c->loop, 0);
		return;
	}
	c->fd = ready_eventfd();
	CHECK_EQ(event__add(c->loop, c->fd, EPOLLIN, on_chain, c), 0);
}

/* A slot that was freed and taken again still gets its new owner's events. */
static void reused_slot_gets_new_events(void)
{
	struct chain c = {.loop = event__create()};
	CHECK(c.loop != NULL);
	if (!c.loop)
		return;
	c.fd = ready_eventfd();
	CHECK_EQ(event__add(c.loop, c.fd, EPOLLIN, on_chain, &c), 0);
	CHECK_EQ(event__run(c.loop), 0);
	CHECK_EQ(c.calls, 3);
	event__destroy(c.loop);
}

/* event__before_dispatch: once, before the first handler of the next batch and
 * before a handler later in the current one. */
struct before {
	struct event_loop *loop;
	unsigned hook_calls, handler_calls, calls_seen_by_hook;
	int hook_result;
};

static int before_hook(void *opaque)
{
	struct before *b = opaque;
	b->hook_calls++;
	b->calls_seen_by_hook = b->handler_calls;
	return b->hook_result;
}

/* The first handler sets the hook (as kvm_start does from an API request's handler);
 * the second, queued in the same batch, must find it already run. */
static void on_arm_hook(void *opaque, uint32_t events)
{
	struct before *b = opaque;
	b->handler_calls++;
	if (b->handler_calls == 1)
		event__before_dispatch(b->loop, before_hook, b);
	else
		event__stop(b->loop, 3);
}

static void hook_runs_before_the_next_handler(void)
{
	struct before b = {.loop = event__create()};
	CHECK(b.loop != NULL);
	if (!b.loop)
		return;
	int x = ready_eventfd(), y = ready_eventfd();
	CHECK_EQ(event__add(b.loop, x, EPOLLIN, on_arm_hook, &b), 0);
	CHECK_EQ(event__add(b.loop, y, EPOLLIN, on_arm_hook, &b), 0);
	CHECK_EQ(event__run(b.loop), 3);
	CHECK_EQ(b.handler_calls, 2);
	CHECK_EQ(b.hook_calls, 1);
	CHECK_EQ(b.calls_seen_by_hook, 1);
	event__destroy(b.loop);
	close(x);
	close(y);
}

static void on_count(void *opaque, uint32_t events)
{
	struct before *b = opaque;
	b->handler_calls++;
	event__stop(b->loop, 0);
}

/* A failing hook stops the loop with EXIT_ERROR before any handler runs; a loop that
 * stops first never runs it. */
static void failing_hook_stops_the_loop(void)
{
	struct before b = {.loop = event__create(), .hook_result = -1};
	CHECK(b.loop != NULL);
	if (!b.loop)
		return;
	int x = ready_eventfd();
	CHECK_EQ(event__add(b.loop, x, EPOLLIN, on_count, &b), 0);
	event__before_dispatch(b.loop, before_hook, &b);
	CHECK_EQ(event__run(b.loop), EXIT_ERROR);
	CHECK_EQ(b.hook_calls, 1);
	CHECK_EQ(b.handler_calls, 0);
	event__destroy(b.loop);

	struct before s = {.loop = event__create()};
	CHECK(s.loop != NULL);
	if (!s.loop)
		return;
	event__before_dispatch(s.loop, before_hook, &s);
	event__stop(s.loop, 5);
	CHECK_EQ(event__run(s.loop), 5);
	CHECK_EQ(s.hook_calls, 0);
	event__destroy(s.loop);
	close(x);
}

CHECK_MAIN("event", CHECK_CASE(stale_event_after_slot_reuse),
	   CHECK_CASE(reused_slot_gets_new_events), CHECK_CASE(hook_runs_before_the_next_handler),
	   CHECK_CASE(failing_hook_stops_the_loop))
