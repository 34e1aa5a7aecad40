#include "log.h"

#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_level = LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log__set_level(enum log_level level)
{
	log_level = level;
}

int log__level_from_name(const char *name, enum log_level *level)
{
	/* Firecracker's names, case-insensitive; "Warning" and "Trace" map to ours. */
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {{"error", LOG_ERROR}, {"warning", LOG_WARN}, {"warn", LOG_WARN},
		     {"info", LOG_INFO},   {"debug", LOG_DEBUG},  {"trace", LOG_DEBUG},
		     {"off", LOG_ERROR}};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*level = names[i].level;
			return 0;
		}
	}
	return -1;
}

int log__set_path(const char *path)
{
	int fd = file__open(path, FILE_SINK);
	if (fd < 0)
		return -1;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

static void log__vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[1024], line[1024];
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		msg[0] = '\0';
	int n =
	    snprintf(line, sizeof(line), "ember: %s%s", level <= LOG_WARN ? level_names[level] : "",
		     level <= LOG_WARN ? ": " : "");
	size_t len = (size_t)n;
	/* Messages carry client strings: control bytes are shown as \xNN, so one
	 * message stays one line and cannot drive a terminal. */
	for (const char *p = msg; *p && len < sizeof(line) - 1; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x20 && c != 0x7f) {
			line[len++] = (char)c;
		} else if (len + 4 < sizeof(line) - 1) {
			snprintf(line + len, 5, "\\x%02x", c);
			len += 4;
		} else {
			break;
		}
	}
	line[len++] = '\n';
	/* One write per line keeps lines whole when several threads log. */
	file__write_record(log_fd, FILE_SINK_LOG, line, len);
}

void log__msg(enum log_level level, const char *fmt, ...)
{
	if (level > log_level)
		return;
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log__vmsg(level, fmt, ap);
	va_end(ap);
	errno = saved;
}

void die(enum ember_exit code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log__vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(code);
}

uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int error__set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}
