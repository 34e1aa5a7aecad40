#include "log.h"

#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_level = LOG_INFO;
static int log_fd = STDERR_FILENO;
static _Atomic uint64_t log_bytes; /* written since the log was opened */
static _Atomic uint64_t log_max = LOG_MAX_BYTES;
/* Guards every struct log_limit: limited lines are rare once limited, so one lock. */
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;

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
	atomic_store(&log_bytes, 0);
	return 0;
}

void log__set_max_bytes(uint64_t max)
{
	atomic_store(&log_max, max);
	atomic_store(&log_bytes, 0);
}

/* Writes one whole line unless the log is full; the line that first finds it full
 * is replaced by a notice, so the file ends saying why it ends. */
static void emit(const char *line, size_t len, bool capped)
{
	if (capped) {
		uint64_t max = atomic_load(&log_max);
		uint64_t at = atomic_fetch_add(&log_bytes, len);
		if (at + len > max) {
			if (at <= max) {
				char note[160];
				int n = snprintf(note, sizeof(note),
						 "ember: warn: the log reached its limit of %llu "
						 "bytes; later lines are dropped\n",
						 (unsigned long long)max);
				file__write_record(log_fd, FILE_SINK_LOG, note, (size_t)n);
			}
			return;
		}
	}
	/* One write per line keeps lines whole when several threads log; a full pipe
	 * drops the line (counted) rather than stop the thread that logs. */
	file__write_record(log_fd, FILE_SINK_LOG, line, len);
}

static void log__vmsg(enum log_level level, bool capped, const char *suffix, const char *fmt,
		      va_list ap)
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
	if (suffix) {
		size_t k = strlen(suffix);
		if (k > sizeof(line) - 1 - len)
			k = sizeof(line) - 1 - len;
		memcpy(line + len, suffix, k);
		len += k;
	}
	line[len++] = '\n';
	emit(line, len, capped);
}

void log__msg(enum log_level level, const char *fmt, ...)
{
	if (level > log_level)
		return;
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log__vmsg(level, true, NULL, fmt, ap);
	va_end(ap);
	errno = saved;
}

bool log__limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
{
	if (level > log_level)
		return false;
	int saved = errno;
	uint64_t window = l->window_us ? l->window_us : LOG_LIMIT_WINDOW_US;
	unsigned burst = l->burst ? l->burst : LOG_LIMIT_BURST;
	uint64_t now = now_us(), dropped = 0;
	pthread_mutex_lock(&limit_lock);
	if (!l->window_start || now - l->window_start >= window) {
		l->window_start = now;
		l->logged = 0;
	}
	bool pass = l->logged < burst;
	if (pass) {
		l->logged++;
		dropped = l->suppressed;
		l->suppressed = 0;
	} else {
		l->suppressed++;
	}
	pthread_mutex_unlock(&limit_lock);
	if (pass) {
		char suffix[80] = "";
		if (dropped)
			snprintf(suffix, sizeof(suffix), " (%llu more like this suppressed)",
				 (unsigned long long)dropped);
		va_list ap;
		errno = saved; /* for %m */
		va_start(ap, fmt);
		log__vmsg(level, true, dropped ? suffix : NULL, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return pass;
}

void die(enum ember_exit code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log__vmsg(LOG_ERROR, false, NULL, fmt, ap);
	va_end(ap);
	exit(code);
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_us(void)
{
	return now_ns() / 1000u;
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
