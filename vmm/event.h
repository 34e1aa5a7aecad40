/* The VMM thread's epoll loop: device back ends, timers and requests from other threads. */
#ifndef EMBER_EVENT_H
#define EMBER_EVENT_H

#include <stdbool.h>
#include <stdint.h>

/* `events` are EPOLL* bits. Runs on the VMM thread only. */
typedef void (*event_fn)(void *opaque, uint32_t events);

struct event_loop;

struct event_loop *event__create(void);
void event__destroy(struct event_loop *loop);
int event__add(struct event_loop *loop, int fd, uint32_t events, event_fn fn, void *opaque);
int event__mod(struct event_loop *loop, int fd, uint32_t events);
int event__del(struct event_loop *loop, int fd);
/* Runs fn(opaque) once on the VMM thread right before the next handler, wherever
 * that handler's event comes from; nothing if the loop stops first. For what must
 * precede the handling of any event without delaying what runs meanwhile: the VMM
 * thread's own seccomp filter once the vCPUs run. A nonzero return stops the loop
 * with EXIT_ERROR instead. One at a time: a second call replaces the first. */
void event__before_dispatch(struct event_loop *loop, int (*fn)(void *opaque), void *opaque);
/* Serves events until event__stop(); returns the code given to event__stop(). */
int event__run(struct event_loop *loop);
/* Thread-safe and async-signal-safe; the first code given wins. */
void event__stop(struct event_loop *loop, int code);
bool event__stopping(const struct event_loop *loop);

#endif
