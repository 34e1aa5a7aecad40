/* ember: one process per microVM. CLI -> config -> build -> run. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "api/api.h"
#include "api/server.h"
#include "builder.h"
#include "cli.h"
#include "event.h"
#include "log.h"
#include "seccomp/seccomp.h"
#include "vcpu.h"
#include "devices/legacy.h"
#include "version.h"
#include "vm.h"

struct signal_watch {
	struct event_loop *loop;
	int fd;
};

static void on_signal(void *opaque, uint32_t events)
{
	struct signal_watch *w = opaque;
	struct signalfd_siginfo si;
	if (read(w->fd, &si, sizeof(si)) == sizeof(si))
		pr_info("stopping on signal %u", si.ssi_signo);
	event__stop(w->loop, EXIT_SIGNAL);
}

/* The VM side of the API: what InstanceStart and the other actions do. Runs on
 * the VMM thread, like every api__handle() call. */
struct vmm {
	struct vm *vm; /* NULL until the VM is built */
	struct event_loop *loop;
	uint64_t start_us;
	bool boot_timer;
	int exit_code; /* the ember_exit code of the last failed start */
};

static int vmm_start(void *ctx, const struct vm_config *cfg, char *err, size_t errlen)
{
	struct vmm *m = ctx;
	uint64_t t0 = now_us();
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		m->exit_code = EXIT_ERROR;
		return -1;
	}
	int rc = builder__build(vm, cfg, m->loop, m->start_us, m->boot_timer, err, errlen);
	if (rc == 0) {
		vm->instance_start_us = t0;
		if (builder__start(vm, err, errlen))
			rc = EXIT_ERROR;
	}
	if (rc) {
		vcpu__stop_all(vm);
		vm__destroy(vm);
		free(vm);
		m->exit_code = rc;
		return -1;
	}
	m->vm = vm;
	pr_info("VM started %llu us after InstanceStart", (unsigned long long)(now_us() - t0));
	/* From here on the event loop serves guest-driven devices. */
	if (seccomp__install(SECCOMP_VMM)) {
		pr_err("cannot install the VMM thread's seccomp filter: %m");
		event__stop(m->loop, EXIT_ERROR);
	}
	return 0;
}

static int vmm_ctrl_alt_del(void *ctx, char *err, size_t errlen)
{
	struct vmm *m = ctx;
	if (!m->vm || !m->vm->i8042 || i8042__send_ctrl_alt_del(m->vm->i8042)) {
		snprintf(err, errlen,
			 "SendCtrlAltDel: the guest has not read the previous keys yet");
		return -1;
	}
	return 0;
}

static int vmm_pause(void *ctx, char *err, size_t errlen)
{
	struct vmm *m = ctx;
	vcpu__pause_all(m->vm);
	return 0;
}

static int vmm_resume(void *ctx, char *err, size_t errlen)
{
	struct vmm *m = ctx;
	vcpu__resume_all(m->vm);
	return 0;
}

static void vmm_metrics(void *ctx, struct json_out *o)
{
	struct vmm *m = ctx;
	json_out__printf(o, ",\"vmm\":{\"uptime_us\":%llu",
			 (unsigned long long)(now_us() - m->start_us));
	if (m->vm) {
		json_out__printf(o, ",\"vcpu_count\":%u,\"boot_time_us\":%llu", m->vm->nr_vcpus,
				 (unsigned long long)m->vm->boot_time_us);
		if (m->vm->instance_start_us)
			json_out__printf(
			    o, ",\"instance_start_us\":%llu",
			    (unsigned long long)(m->vm->instance_start_us - m->start_us));
	}
	json_out__raw(o, "}", 1);
}

static const struct api_ops vmm_ops = {
    .start = vmm_start,
    .ctrl_alt_del = vmm_ctrl_alt_del,
    .pause = vmm_pause,
    .resume = vmm_resume,
    .metrics = vmm_metrics,
};

/* Metrics are also written every interval, as Firecracker does, so that a VM that runs
 * for hours shows up without anyone asking. The timer runs on the VMM thread, like
 * every API handler, so it needs no lock. */
struct metrics_timer {
	struct api *api;
	int fd;
};

static void on_metrics_timer(void *opaque, uint32_t events)
{
	struct metrics_timer *t = opaque;
	uint64_t expirations;
	if (read(t->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	char err[256];
	if (t->api->metrics_fd >= 0 && api__flush_metrics(t->api, err, sizeof(err)))
		pr_warn("%s", err);
}

static int metrics_timer__start(struct metrics_timer *t, struct event_loop *loop,
				unsigned interval_s)
{
	t->fd = -1;
	if (!interval_s)
		return 0;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec its = {{interval_s, 0}, {interval_s, 0}};
	if (t->fd < 0 || timerfd_settime(t->fd, 0, &its, NULL) < 0 ||
	    event__add(loop, t->fd, EPOLLIN, on_metrics_timer, t) < 0)
		return -1;
	return 0;
}

/* --metrics-path is PUT /metrics with that path. */
int main(int argc, char **argv)
{
	uint64_t start_us = now_us();
	char err[1024];
	struct cli_options *opts = calloc(1, sizeof(*opts));
	if (!opts)
		die(EXIT_ERROR, "out of memory");
	if (cli__parse(argc, argv, opts, err, sizeof(err))) {
		pr_err("%s (see ember --help)", err);
		return EXIT_USAGE;
	}
	if (opts->help) {
		cli__usage();
		return EXIT_OK;
	}
	if (opts->version) {
		cli__print_version();
		return EXIT_OK;
	}
	if (opts->seccomp_summary) {
		seccomp__print_summary(stdout);
		return EXIT_OK;
	}
	/* With an API socket and no config file the VM waits for InstanceStart, so
	 * the command line may leave the kernel out; otherwise it starts now. */
	bool start_now = !opts->api_sock || opts->config_file;
	if (!opts->config_file) {
		/* With only an API socket the kernel may come later, by PUT /boot-source. */
		int bad = opts->api_sock ? config__validate_pending(&opts->vm, err, sizeof(err))
					 : config__validate(&opts->vm, err, sizeof(err));
		if (bad) {
			pr_err("%s", err);
			return EXIT_USAGE;
		}
	}

	struct vmm vmm = {.start_us = start_us, .boot_timer = opts->boot_timer};
	struct api *api = calloc(1, sizeof(*api));
	if (!api)
		die(EXIT_ERROR, "out of memory");
	api__init(api, &opts->vm, opts->id, EMBER_FIRECRACKER_API_VERSION, &vmm_ops, &vmm);
	if (opts->metrics_path)
		if (api__set_metrics(api, opts->metrics_path, err, sizeof(err)))
			die(EXIT_USAGE, "--metrics-path: %s", err);
	if (opts->config_file && api__load_config_file(api, opts->config_file, err, sizeof(err)))
		die(EXIT_USAGE, "%s", err);

	/* SIGINT/SIGTERM arrive through the event loop; every later thread inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	struct event_loop *loop = event__create();
	struct signal_watch sw = {loop, signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)};
	if (!loop || sw.fd < 0 || event__add(loop, sw.fd, EPOLLIN, on_signal, &sw) < 0)
		die(EXIT_ERROR, "cannot set up the event loop: %m");
	vmm.loop = loop;
	struct metrics_timer mt = {.api = api};
	if (metrics_timer__start(&mt, loop, opts->metrics_interval_s))
		die(EXIT_ERROR, "cannot set up the metrics timer: %m");

	struct api_server *srv = NULL;
	if (opts->api_sock) {
		struct api_server_opts so = {.path = opts->api_sock};
		srv = api_server__create(&so, err, sizeof(err));
		if (!srv || api_server__start(srv, api, loop, err, sizeof(err)))
			die(EXIT_USAGE, "%s", err);
		pr_debug("API socket ready at %llu us", (unsigned long long)(now_us() - start_us));
	}

	int rc = 0;
	if (start_now) {
		if (api__start(api, err, sizeof(err))) {
			pr_err("%s", err);
			rc = vmm.exit_code ? vmm.exit_code : EXIT_USAGE;
		}
	}
	if (rc == 0)
		rc = event__run(loop);
	if (vmm.vm)
		vcpu__stop_all(vmm.vm);
	api_server__destroy(srv);
	if (opts->api_sock)
		unlink(opts->api_sock);
	if (api->metrics_fd >= 0 && api__flush_metrics(api, err, sizeof(err)))
		pr_warn("%s", err);
	api__destroy(api);
	if (vmm.vm) {
		vm__destroy(vmm.vm);
		free(vmm.vm);
	}
	event__destroy(loop);
	close(sw.fd);
	if (mt.fd >= 0)
		close(mt.fd);
	free(api);
	free(opts);
	return rc;
}
