/* Logging and process exit codes: the one place ember talks to its operator. */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

/* Exit codes of the ember binary; README.md documents them. */
enum ember_exit {
	EXIT_OK = 0,	      /* guest rebooted or the VM was stopped cleanly */
	EXIT_ERROR = 1,	      /* internal or host error at run time (KVM, I/O) */
	EXIT_USAGE = 2,	      /* bad flag, config file or value */
	EXIT_IMAGE = 3,	      /* kernel or initrd missing, unreadable, invalid or too big */
	EXIT_KVM = 4,	      /* /dev/kvm missing, inaccessible or lacking a capability */
	EXIT_GUEST_FAULT = 5, /* triple fault, failed entry or emulation failure */
	EXIT_SIGNAL = 6,      /* stopped by SIGTERM/SIGINT */
};

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* The log is process-wide state on purpose: like stderr, there is one per process. */
void log__set_level(enum log_level level);
int log__level_from_name(const char *name, enum log_level *level);
int log__set_path(const char *path); /* -1 with errno on failure */
void log__msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
noreturn void die(enum ember_exit code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_err(...)   log__msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...)  log__msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log__msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log__msg(LOG_DEBUG, __VA_ARGS__)

/* Messages a guest (or any other client) can trigger at will go through a limiter,
 * one per message and device, so that a guest cannot flood the log: at most `burst`
 * such lines per `window_us`, then the rest are counted and the count is appended to
 * the next line that passes. Zero fields take the defaults. Thread-safe. */
#define LOG_LIMIT_BURST	    5
#define LOG_LIMIT_WINDOW_US 5000000u
struct log_limit {
	unsigned burst;
	uint64_t window_us;
	/* state */
	uint64_t window_start;
	unsigned logged;
	uint64_t suppressed;
};
/* Returns whether the line was written (false: suppressed, or below the level). */
bool log__limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define pr_warn_limited(l, ...) log__limited((l), LOG_WARN, __VA_ARGS__)
#define pr_info_limited(l, ...) log__limited((l), LOG_INFO, __VA_ARGS__)

/* The log is bounded: past `max` bytes written since the log was opened, lines are
 * dropped and one notice says so. die() still gets its last line out. */
#define LOG_MAX_BYTES (16ull << 20)
void log__set_max_bytes(uint64_t max);

/* Run-time errors go back to the caller as text: formats into err, returns -1. */
int error__set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Microseconds on CLOCK_MONOTONIC. */
uint64_t now_us(void);
/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t now_ns(void);

#endif
