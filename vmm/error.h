/* One error type for the whole VMM: an exit code and a message, set where the
 * failure happens and passed up unchanged, so the code says what failed, not who
 * noticed. Front ends print msg (or send it as a fault_message); main() exits
 * with code. */
#ifndef EMBER_ERROR_H
#define EMBER_ERROR_H

#include "log.h"

/* Room for a path (CONFIG_PATH_MAX) and what went wrong with it. */
#define ERROR_MSG_MAX (4096 + 256)

struct error {
	enum ember_exit code; /* EXIT_OK while no error is set */
	char msg[ERROR_MSG_MAX];
};

/* Sets e (if not NULL) and returns -1, so a failure is `return error__fail(...)`. */
int error__fail(struct error *e, enum ember_exit code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes e->msg with "prefix: " and keeps the code; returns -1. */
int error__wrap(struct error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For a layer that still reports through a text buffer (virtio/ until its merge):
 * the code is the caller's knowledge of what that layer does. Returns -1. */
int error__from_text(struct error *e, enum ember_exit code, const char *text);
/* The same for a layer given e->msg itself as its buffer (e not NULL): only the code is
 * set. Each caller's own 4 KiB buffer was a stack page a start faulted in (issue 16). */
int error__coded(struct error *e, enum ember_exit code);
void error__clear(struct error *e);

#endif
