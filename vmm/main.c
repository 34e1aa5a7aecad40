/* ember: one process per microVM. CLI -> config -> build -> run. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "builder.h"
#include "cli.h"
#include "event.h"
#include "log.h"
#include "seccomp/seccomp.h"
#include "vcpu.h"
#include "vm.h"

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.1.0"
#endif

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

int main(int argc, char **argv)
{
	uint64_t start_us = now_us();
	char err[512];
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
		printf("ember %s\n", EMBER_VERSION);
		return EXIT_OK;
	}
	if (opts->seccomp_summary) {
		seccomp__print_summary(stdout);
		return EXIT_OK;
	}
	if (config__validate(&opts->vm, err, sizeof(err))) {
		pr_err("%s", err);
		return EXIT_USAGE;
	}

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

	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		die(EXIT_ERROR, "out of memory");
	int rc = builder__build(vm, &opts->vm, loop, start_us, opts->boot_timer, err, sizeof(err));
	if (rc == 0 && builder__start(vm, err, sizeof(err)))
		rc = EXIT_ERROR;
	if (rc) {
		pr_err("%s", err);
	} else {
		/* From here on the event loop serves guest-driven devices. */
		if (seccomp__install(SECCOMP_VMM)) {
			pr_err("cannot install the VMM thread's seccomp filter: %m");
			event__stop(loop, EXIT_ERROR);
		}
		rc = event__run(loop);
		vcpu__stop_all(vm);
	}
	vm__destroy(vm);
	event__destroy(loop);
	close(sw.fd);
	free(vm);
	free(opts);
	return rc;
}
