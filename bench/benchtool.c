/*
 * benchtool: the timing half of the bench harness. Busybox sh (all there is inside
 * the nested test host) has no sub-second clock, so everything that is timed goes
 * through here. Static (musl), no dependencies beyond libc.
 *
 *   benchtool run [options] -- CMD [ARGS...]
 *	Starts CMD, watches its stdout/stderr line by line and prints one JSON object
 *	with the times (us since just before fork) of what it saw.
 *	--timeout MS        SIGKILL CMD after MS (default 120000)
 *	--sock PATH         poll connect() on PATH until it succeeds (API socket ready)
 *	--api-kernel PATH   once the socket answers, configure the VM over the API
 *	--api-initrd PATH   (Firecracker's PUT /machine-config, /boot-source) and send
 *	--api-args STR      InstanceStart; times the request
 *	--api-mem MIB, --api-vcpus N
 *	--idle PATTERN      when a line containing PATTERN appears, wait --idle-ms
 *	--idle-ms MS        (default 1000), read /proc/PID/smaps, then stop CMD
 *	--guest-mib MIB     guest memory size, to find and subtract it in smaps
 *	--log FILE          copy CMD's output there (stderr lines prefixed "E ")
 *
 *   benchtool rate --parallel P --count N [--timeout MS] -- CMD [ARGS...]
 *	Runs CMD N times with at most P at once; prints VMs per second. "{i}" in an
 *	argument becomes the run's index (0..N-1).
 *
 *   benchtool smaps PID GUEST_MIB
 *	Prints the memory object of `run` for a process that is already running.
 *
 *   benchtool tsc-khz [MS]     measures the TSC frequency (for BENCH_TSC_KHZ)
 *   benchtool clock-coarse     exits 0 if CLOCK_MONOTONIC is coarser than 1 us
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "smaps.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

const char bench__prog[] = "benchtool";

/*
 * Inside the nested test host the kernel's only clocksource is jiffies (4 ms steps),
 * too coarse for what is measured here. The TSC still counts there (QEMU TCG derives
 * it from the host's), so when BENCH_TSC_KHZ is set (`benchtool tsc-khz` measures
 * it) times come from rdtsc. Set once in main() before anything is timed.
 */
static uint64_t tsc_khz;

static uint64_t rdtsc(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
#else
	return 0;
#endif
}

static int64_t now_ns(void)
{
	if (tsc_khz)
		return (int64_t)((unsigned __int128)rdtsc() * 1000000 / tsc_khz);
	return bench__mono_ns();
}

static bool clock_is_coarse(void)
{
	struct timespec res;
	return clock_getres(CLOCK_MONOTONIC, &res) == 0 && (res.tv_sec || res.tv_nsec > 1000);
}

/* Waits for CLOCK_MONOTONIC to step, so that a coarse clock is read at its edge. */
static int64_t mono_edge(uint64_t *tsc)
{
	int64_t t0 = bench__mono_ns(), t;
	while ((t = bench__mono_ns()) == t0)
		;
	*tsc = rdtsc();
	return t;
}

/* TSC frequency against CLOCK_MONOTONIC over about `ms`, both read at clock edges. */
static int cmd_tsc_khz(long long ms)
{
	uint64_t a, b;
	int64_t ta = mono_edge(&a);
	struct timespec d = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	nanosleep(&d, NULL);
	int64_t tb = mono_edge(&b);
	if (b <= a || tb <= ta) {
		fprintf(stderr, "benchtool: no usable TSC\n");
		return 1;
	}
	printf("%llu\n", (unsigned long long)((b - a) * 1000000ull / (uint64_t)(tb - ta)));
	return 0;
}

static void usage(void)
{
	fputs("usage: benchtool run [--timeout MS] [--sock PATH] [--api-kernel PATH]\n"
	      "                     [--api-initrd PATH] [--api-args STR] [--api-mem MIB]\n"
	      "                     [--api-vcpus N] [--idle PATTERN] [--idle-ms MS]\n"
	      "                     [--guest-mib MIB] [--log FILE] -- CMD [ARGS...]\n"
	      "       benchtool rate --parallel P --count N [--timeout MS] -- CMD [ARGS...]\n"
	      "       benchtool smaps PID GUEST_MIB\n"
	      "       benchtool tsc-khz [MS] | clock-coarse\n",
	      stderr);
	exit(2);
}

/* --- a tiny HTTP/1.1 client for the API socket ---------------------------------- */

/* Sends one request on its own connection; returns the HTTP status or -1. */
static int http_put(const char *sock, const char *uri, const char *body, char *err, size_t errlen)
{
	int fd = bench__sock_connect(sock);
	if (fd < 0) {
		snprintf(err, errlen, "connect %s: %s", sock, strerror(errno));
		return -1;
	}
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char req[8192];
	int len =
	    snprintf(req, sizeof(req),
		     "PUT %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
		     "Accept: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		     uri, strlen(body), body);
	if (len < 0 || (size_t)len >= sizeof(req)) {
		close(fd);
		snprintf(err, errlen, "%s: request too long", uri);
		return -1;
	}
	for (int off = 0; off < len;) {
		ssize_t w = write(fd, req + off, (size_t)(len - off));
		if (w <= 0) {
			snprintf(err, errlen, "%s: write: %s", uri, strerror(errno));
			close(fd);
			return -1;
		}
		off += (int)w;
	}
	/* The status line is all we need; 204 has no body. */
	char resp[512];
	size_t got = 0;
	while (got < sizeof(resp) - 1 && !memchr(resp, '\n', got)) {
		ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	resp[got] = 0;
	close(fd);
	int status;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
		snprintf(err, errlen, "%s: no HTTP status in the response", uri);
		return -1;
	}
	if (status / 100 != 2) {
		char *body_start = strstr(resp, "\r\n\r\n");
		snprintf(err, errlen, "%s: HTTP %d %s", uri, status,
			 body_start ? body_start + 4 : "");
	}
	return status;
}

/* JSON string escaping for paths and boot args (no control characters expected). */
static void json_str(char *out, size_t outlen, const char *s)
{
	size_t o = 0;
	for (; *s && o + 3 < outlen; s++) {
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o] = 0;
}

/* --- run ---------------------------------------------------------------------------- */

struct run_opts {
	long long timeout_ms, idle_ms, guest_mib, api_mem, api_vcpus;
	const char *sock, *api_kernel, *api_initrd, *api_args, *idle, *log;
	char **cmd;
};

struct run_result {
	int64_t t0;
	long long first_out_us, first_err_us, exit_us, sock_us, start_sent_us, start_done_us;
	long long put_us; /* the slower of the pre-boot PUTs (machine-config, boot-source) */
	long long idle_us;
	long long kvm_run_seen_us, entry_seen_us, boot_seen_us; /* when the line arrived */
	long long kvm_run_self_us, entry_self_us, boot_self_us; /* what ember said */
	long long self_offset_us;      /* best estimate of ember's clock zero on ours */
	long long boot_since_start_us; /* ember: InstanceStart -> boot timer */
	int status;
	bool timed_out, have_mem;
	struct mem_usage mem;
	char api_err[512];
};

struct stream {
	int fd;
	char buf[8192];
	size_t len;
	bool is_err;
};

static long long us_since(const struct run_result *r)
{
	return (now_ns() - r->t0) / 1000;
}

static void note_self(struct run_result *r, long long seen, long long self, long long *seen_slot,
		      long long *self_slot)
{
	if (*self_slot != NONE)
		return;
	*seen_slot = seen;
	*self_slot = self;
	/* A line arrives after it was logged, so the smallest gap is the closest estimate. */
	if (r->self_offset_us == NONE || seen - self < r->self_offset_us)
		r->self_offset_us = seen - self;
}

static void on_line(const struct run_opts *o, struct run_result *r, const char *line, long long t,
		    bool *idle_armed)
{
	const char *p;
	unsigned long long v;
	if ((p = strstr(line, "first KVM_RUN at ")) &&
	    sscanf(p, "first KVM_RUN at %llu us", &v) == 1)
		note_self(r, t, (long long)v, &r->kvm_run_seen_us, &r->kvm_run_self_us);
	if ((p = strstr(line, "kernel entry at ")) && sscanf(p, "kernel entry at %llu us", &v) == 1)
		note_self(r, t, (long long)v, &r->entry_seen_us, &r->entry_self_us);
	if ((p = strstr(line, "guest boot time: ")) &&
	    sscanf(p, "guest boot time: %llu us", &v) == 1)
		note_self(r, t, (long long)v, &r->boot_seen_us, &r->boot_self_us);
	if ((p = strstr(line, "guest boot time since InstanceStart: ")) &&
	    sscanf(p, "guest boot time since InstanceStart: %llu us", &v) == 1 &&
	    r->boot_since_start_us == NONE)
		r->boot_since_start_us = (long long)v;
	if (o->idle && !*idle_armed && strstr(line, o->idle)) {
		*idle_armed = true;
		r->idle_us = t;
	}
}

/* Reads what is there; returns false at EOF. */
static bool drain(const struct run_opts *o, struct run_result *r, struct stream *s, FILE *log,
		  bool *idle_armed)
{
	ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	long long t = us_since(r);
	if (n <= 0) {
		if (s->len) {
			s->buf[s->len] = 0;
			on_line(o, r, s->buf, t, idle_armed);
			s->len = 0;
		}
		return false;
	}
	long long *first = s->is_err ? &r->first_err_us : &r->first_out_us;
	if (*first == NONE)
		*first = t;
	s->len += (size_t)n;
	char *start = s->buf, *nl;
	while ((nl = memchr(start, '\n', s->len - (size_t)(start - s->buf)))) {
		*nl = 0;
		if (log)
			fprintf(log, "%s%s\n", s->is_err ? "E " : "", start);
		on_line(o, r, start, t, idle_armed);
		start = nl + 1;
	}
	size_t rest = s->len - (size_t)(start - s->buf);
	if (rest == sizeof(s->buf) - 1) { /* a line longer than the buffer: cut it */
		s->buf[rest] = 0;
		on_line(o, r, s->buf, t, idle_armed);
		rest = 0;
	}
	memmove(s->buf, start, rest);
	s->len = rest;
	return true;
}

static void api_start(const struct run_opts *o, struct run_result *r)
{
	char body[8192], k[2048], a[2048], i[2048];
	json_str(k, sizeof(k), o->api_kernel);
	json_str(a, sizeof(a), o->api_args ? o->api_args : "");
	json_str(i, sizeof(i), o->api_initrd ? o->api_initrd : "");
	snprintf(body, sizeof(body), "{\"vcpu_count\":%lld,\"mem_size_mib\":%lld}", o->api_vcpus,
		 o->api_mem);
	long long t = us_since(r);
	if (http_put(o->sock, "/machine-config", body, r->api_err, sizeof(r->api_err)) / 100 != 2)
		return;
	r->put_us = us_since(r) - t;
	if (o->api_initrd)
		snprintf(
		    body, sizeof(body),
		    "{\"kernel_image_path\":\"%s\",\"initrd_path\":\"%s\",\"boot_args\":\"%s\"}", k,
		    i, a);
	else
		snprintf(body, sizeof(body), "{\"kernel_image_path\":\"%s\",\"boot_args\":\"%s\"}",
			 k, a);
	t = us_since(r);
	if (http_put(o->sock, "/boot-source", body, r->api_err, sizeof(r->api_err)) / 100 != 2)
		return;
	if (us_since(r) - t > r->put_us)
		r->put_us = us_since(r) - t;
	r->start_sent_us = us_since(r);
	if (http_put(o->sock, "/actions", "{\"action_type\":\"InstanceStart\"}", r->api_err,
		     sizeof(r->api_err)) /
		100 !=
	    2)
		return;
	r->start_done_us = us_since(r);
}

/* `rate` gives every run its own names (jail ids, sockets): "{i}" in an argument
 * becomes the run's index. Done in the child, so the parent's argv stays a template. */
static void subst_index(char **cmd, long long index)
{
	for (; *cmd; cmd++) {
		char *at = strstr(*cmd, "{i}");
		if (!at)
			continue;
		size_t len = strlen(*cmd) + 24;
		char *s = malloc(len);
		if (!s)
			_exit(127);
		snprintf(s, len, "%.*s%lld%s", (int)(at - *cmd), *cmd, index, at + 3);
		*cmd = s;
	}
}

static pid_t spawn(char **cmd, int out_fd, int err_fd, long long index)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	if (index >= 0)
		subst_index(cmd, index);
	bench__exec(cmd, out_fd, err_fd);
}

static void stop_child(pid_t pid, struct run_result *r)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &r->status, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &r->status, 0);
}

static int cmd_run(struct run_opts *o)
{
	struct run_result r;
	memset(&r, 0, sizeof(r));
	long long *nones[] = {&r.first_out_us, &r.first_err_us,	   &r.exit_us,
			      &r.sock_us,      &r.start_sent_us,   &r.start_done_us,
			      &r.idle_us,      &r.kvm_run_seen_us, &r.entry_seen_us,
			      &r.boot_seen_us, &r.kvm_run_self_us, &r.entry_self_us,
			      &r.boot_self_us, &r.self_offset_us,  &r.boot_since_start_us,
			      &r.put_us};
	for (size_t i = 0; i < sizeof(nones) / sizeof(nones[0]); i++)
		*nones[i] = NONE;

	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC)) {
		perror("benchtool: pipe");
		return 1;
	}
	FILE *log = NULL;
	if (o->log && !(log = fopen(o->log, "w"))) {
		fprintf(stderr, "benchtool: %s: %s\n", o->log, strerror(errno));
		return 1;
	}
	if (o->sock)
		unlink(o->sock);
	r.t0 = now_ns();
	pid_t pid = spawn(o->cmd, po[1], pe[1], -1);
	if (pid < 0) {
		perror("benchtool: fork");
		return 1;
	}
	close(po[1]);
	close(pe[1]);
	fcntl(po[0], F_SETFL, O_NONBLOCK);
	fcntl(pe[0], F_SETFL, O_NONBLOCK);
	/* A pidfd makes the exit time exact; without one, poll every millisecond. */
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	struct stream out = {.fd = po[0]}, err = {.fd = pe[0], .is_err = true};
	bool out_open = true, err_open = true, exited = false, idle_armed = false;
	bool api_pending = o->sock && o->api_kernel;
	int64_t deadline = r.t0 + o->timeout_ms * 1000000LL;
	bool coarse = clock_is_coarse();
	while (!exited) {
		if (o->sock && r.sock_us == NONE) {
			int fd = bench__sock_connect(o->sock);
			if (fd >= 0) {
				r.sock_us = us_since(&r);
				close(fd);
				if (api_pending) {
					api_pending = false;
					api_start(o, &r);
					if (r.api_err[0]) { /* no VM will start: don't wait for the
							       timeout */
						kill(pid, SIGKILL);
						waitpid(pid, &r.status, 0);
						r.exit_us = us_since(&r);
						break;
					}
				}
			}
		}
		struct pollfd pf[3];
		int n = 0, ip_out = -1, ip_err = -1, ip_pid = -1;
		if (out_open) {
			pf[n] = (struct pollfd){.fd = out.fd, .events = POLLIN};
			ip_out = n++;
		}
		if (err_open) {
			pf[n] = (struct pollfd){.fd = err.fd, .events = POLLIN};
			ip_err = n++;
		}
		if (pidfd >= 0) {
			pf[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
			ip_pid = n++;
		}
		int64_t now = now_ns();
		int64_t wait_ns = deadline - now;
		/* The socket is polled every 100 us: often enough to see it promptly, rarely
		 * enough not to take the CPU from the VMM that is starting (L1 may have one). */
		if (o->sock && r.sock_us == NONE && wait_ns > 100000)
			wait_ns = coarse ? 0 : 100000;
		if (pidfd < 0 && wait_ns > 1000000)
			wait_ns = 1000000;
		if (wait_ns > 1000000000)
			wait_ns = 1000000000;
		if (idle_armed && !r.have_mem) {
			int64_t due = r.t0 + (r.idle_us + o->idle_ms * 1000) * 1000;
			int64_t left = due - now;
			if (left <= 0) {
				if (smaps__read(pid, o->guest_mib, &r.mem) == 0)
					r.have_mem = true;
				stop_child(pid, &r);
				r.exit_us = us_since(&r);
				break;
			}
			if (left < wait_ns)
				wait_ns = left;
		}
		if (now >= deadline) {
			r.timed_out = true;
			kill(pid, SIGKILL);
			waitpid(pid, &r.status, 0);
			r.exit_us = us_since(&r);
			break;
		}
		if (wait_ns < 0)
			wait_ns = 0;
		struct timespec ts = {.tv_sec = wait_ns / 1000000000,
				      .tv_nsec = wait_ns % 1000000000};
		int pr = ppoll(pf, (nfds_t)n, &ts, NULL);
		if (pr == 0 && wait_ns == 0)
			sched_yield(); /* a coarse clock cannot sleep 100 us: let the VMM run */
		if (pr < 0 && errno != EINTR) {
			perror("benchtool: poll");
			break;
		}
		if (ip_pid >= 0 && (pf[ip_pid].revents & POLLIN)) {
			r.exit_us = us_since(&r);
			waitpid(pid, &r.status, 0);
			exited = true;
		} else if (pidfd < 0 && waitpid(pid, &r.status, WNOHANG) == pid) {
			r.exit_us = us_since(&r);
			exited = true;
		}
		if (ip_out >= 0 && (pf[ip_out].revents & (POLLIN | POLLHUP)))
			out_open = drain(o, &r, &out, log, &idle_armed);
		if (ip_err >= 0 && (pf[ip_err].revents & (POLLIN | POLLHUP)))
			err_open = drain(o, &r, &err, log, &idle_armed);
	}
	/* Whatever is still buffered after the exit (the last log lines). */
	while (out_open && drain(o, &r, &out, log, &idle_armed) && out.len < sizeof(out.buf))
		if (poll(&(struct pollfd){.fd = out.fd, .events = POLLIN}, 1, 50) <= 0)
			break;
	while (err_open && drain(o, &r, &err, log, &idle_armed) && err.len < sizeof(err.buf))
		if (poll(&(struct pollfd){.fd = err.fd, .events = POLLIN}, 1, 50) <= 0)
			break;
	if (log)
		fclose(log);
	if (pidfd >= 0)
		close(pidfd);
	close(po[0]);
	close(pe[0]);

	long long rc = NONE;
	if (!r.timed_out)
		rc = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : 128 + WTERMSIG(r.status);
	if (rc == NONE)
		fputs("{\"rc\":null", stdout);
	else
		printf("{\"rc\":%lld", rc);
	printf(",\"timed_out\":%s", r.timed_out ? "true" : "false");
	bench__json_field("exit_us", r.exit_us);
	bench__json_field("first_output_us", r.first_out_us);
	bench__json_field("first_log_us", r.first_err_us);
	bench__json_field("sock_ready_us", r.sock_us);
	bench__json_field("start_sent_us", r.start_sent_us);
	bench__json_field("start_done_us", r.start_done_us);
	bench__json_field("put_us", r.put_us);
	bench__json_field("exec_to_main_us", r.self_offset_us);
	bench__json_field("first_kvm_run_seen_us", r.kvm_run_seen_us);
	bench__json_field("first_kvm_run_self_us", r.kvm_run_self_us);
	bench__json_field("kernel_entry_seen_us", r.entry_seen_us);
	bench__json_field("kernel_entry_self_us", r.entry_self_us);
	bench__json_field("boot_time_seen_us", r.boot_seen_us);
	bench__json_field("boot_time_self_us", r.boot_self_us);
	/* ember's own numbers moved onto our clock (zero = just before fork). */
	long long off = r.self_offset_us;
	bench__json_field("first_kvm_run_us", off != NONE && r.kvm_run_self_us != NONE
						  ? off + r.kvm_run_self_us
						  : NONE);
	bench__json_field("kernel_entry_us",
			  off != NONE && r.entry_self_us != NONE ? off + r.entry_self_us : NONE);
	bench__json_field("boot_time_us",
			  off != NONE && r.boot_self_us != NONE ? off + r.boot_self_us : NONE);
	bench__json_field("start_to_entry_us",
			  off != NONE && r.entry_self_us != NONE && r.start_sent_us != NONE
			      ? off + r.entry_self_us - r.start_sent_us
			      : NONE);
	bench__json_field("boot_since_start_self_us", r.boot_since_start_us);
	bench__json_field("idle_seen_us", r.idle_us);
	if (r.have_mem) {
		putchar(',');
		smaps__print_json(&r.mem);
	}
	if (r.api_err[0]) {
		char e[1100];
		json_str(e, sizeof(e), r.api_err);
		for (char *c = e; *c; c++)
			if (*c == '\r' || *c == '\n')
				*c = ' ';
		printf(",\"api_error\":\"%s\"", e);
	}
	puts("}");
	return 0;
}

/* --- rate ----------------------------------------------------------------------------- */

static pid_t spawn_quiet(char **cmd, long long index)
{
	return spawn(cmd, -1, -1, index);
}

/* The one option `rate` takes besides --parallel and --count. */
static bool opt_timeout(const char *a, const char *v, void *ctx)
{
	struct run_opts *o = ctx;
	if (strcmp(a, "--timeout"))
		return false;
	o->timeout_ms = bench__num_arg(a, v);
	return true;
}

static bool opt_run(const char *a, const char *v, void *ctx)
{
	struct run_opts *o = ctx;
	if (!strcmp(a, "--sock"))
		o->sock = v;
	else if (!strcmp(a, "--api-kernel"))
		o->api_kernel = v;
	else if (!strcmp(a, "--api-initrd"))
		o->api_initrd = v;
	else if (!strcmp(a, "--api-args"))
		o->api_args = v;
	else if (!strcmp(a, "--api-mem"))
		o->api_mem = bench__num_arg(a, v);
	else if (!strcmp(a, "--api-vcpus"))
		o->api_vcpus = bench__num_arg(a, v);
	else if (!strcmp(a, "--idle"))
		o->idle = v;
	else if (!strcmp(a, "--idle-ms"))
		o->idle_ms = bench__num_arg(a, v);
	else if (!strcmp(a, "--guest-mib"))
		o->guest_mib = bench__num_arg(a, v);
	else if (!strcmp(a, "--log"))
		o->log = v;
	else
		return opt_timeout(a, v, ctx);
	return true;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *khz = getenv("BENCH_TSC_KHZ");
	if (khz && *khz)
		tsc_khz = (uint64_t)bench__num_arg("BENCH_TSC_KHZ", khz);
	if (!strcmp(argv[1], "tsc-khz"))
		return cmd_tsc_khz(argc > 2 ? bench__num_arg("MS", argv[2]) : 1000);
	if (!strcmp(argv[1], "clock-coarse"))
		return clock_is_coarse() ? 0 : 1;
	if (!strcmp(argv[1], "smaps")) {
		if (argc != 4)
			usage();
		struct mem_usage m;
		if (smaps__read((pid_t)bench__num_arg("PID", argv[2]),
				bench__num_arg("GUEST_MIB", argv[3]), &m)) {
			fprintf(stderr, "benchtool: /proc/%s/smaps: %s\n", argv[2],
				strerror(errno));
			return 1;
		}
		putchar('{');
		smaps__print_json(&m);
		puts("}");
		return 0;
	}
	bool run = !strcmp(argv[1], "run"), rate = !strcmp(argv[1], "rate");
	if (!run && !rate)
		usage();
	struct run_opts o = {.timeout_ms = 120000, .idle_ms = 1000, .api_mem = 128, .api_vcpus = 1};
	if (rate) {
		struct bench_rate r = {
		    .parallel = 1, .count = 1, .spawn = spawn_quiet, .clock_ns = now_ns};
		r.cmd = bench__options(argc, argv, &r, opt_timeout, &o, usage);
		r.timeout_ms = o.timeout_ms;
		return bench__rate(&r);
	}
	o.cmd = bench__options(argc, argv, NULL, opt_run, &o, usage);
	return cmd_run(&o);
}
