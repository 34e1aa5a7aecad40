/* For unit tests that look at what ember logged: the log goes to a file of the test's own
 * for a while, then is read back and put back on stderr. Header-only, like check.h. */
#ifndef EMBER_TEST_LOG_CAPTURE_H
#define EMBER_TEST_LOG_CAPTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char log_capture_path[64];

/* Sends the log to /tmp/ember-test-NAME-PID.txt (emptied first). */
static inline void log_to_temp(const char *name)
{
	snprintf(log_capture_path, sizeof(log_capture_path), "/tmp/ember-test-%s-%d.txt", name,
		 (int)getpid());
	unlink(log_capture_path);
	if (log__set_path(log_capture_path)) {
		perror(log_capture_path);
		abort();
	}
}

/* Puts the log back on stderr with the default size cap, reads what was captured into
 * buf (NUL-terminated, at most cap - 1 bytes), removes the file; returns the length. */
static inline size_t log_back(char *buf, size_t cap)
{
	log__set_path("/dev/stderr");
	log__set_max_bytes(LOG_MAX_BYTES);
	size_t n = 0;
	int fd = open(log_capture_path, O_RDONLY);
	if (fd >= 0) {
		ssize_t r;
		while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
			n += (size_t)r;
		close(fd);
	}
	buf[n] = 0;
	unlink(log_capture_path);
	return n;
}

/* How often needle occurs in hay (overlapping ones too). */
static inline unsigned count(const char *hay, const char *needle)
{
	unsigned k = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		k++;
	return k;
}

#endif
