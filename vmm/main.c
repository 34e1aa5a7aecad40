/* ember: one process per microVM. Command line -> configuration -> controller. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/json.h"
#include "api/mmds_api.h"
#include "api/server.h"
#include "cli.h"
#include "event.h"
#include "log.h"
#include "machine.h"
#include "pagealloc.h"
#include "seccomp/seccomp.h"
#include "version.h"
#include "virtio/mmds.h"
#include "vmm.h"

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

/* Firecracker's api_server group: how long until the API socket was ready, wall time
 * from main() and CPU time of the whole process (exec included). */
struct api_startup {
	uint64_t wall_us, cpu_us;
};

static void api_server_metrics(void *ctx, struct json_out *o)
{
	const struct api_startup *s = ctx;
	json_out__printf(o,
			 ",\"api_server\":{\"process_startup_time_us\":%llu,"
			 "\"process_startup_time_cpu_us\":%llu}",
			 (unsigned long long)s->wall_us, (unsigned long long)s->cpu_us);
}

noreturn static void fail(const struct error *e)
{
	die(e->code ? e->code : EXIT_ERROR, "%s", e->msg);
}

int main(int argc, char **argv)
{
	uint64_t start_us = now_us();
	/* SIGINT/SIGTERM arrive through the event loop; every later thread inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* The VM is made on another CPU meanwhile, from the first instruction on: the
	 * chain of KVM calls before the guest's first instruction is the longest. */
	struct kvm_machine kvm = {.start_us = start_us};
	if (cli__boots_at_start_guess(argc, argv))
		vm_early__start(&kvm.early, cli__start_helper_guess(argc, argv));
	/* Its msg is also the text buffer of the layers that report in text. */
	struct error e = {0};
	/* The command line's machine goes to the controller as it is (vmm_params). */
	struct vmm_config *boot_cfg = pagealloc__zalloc(sizeof(*boot_cfg));
	if (!boot_cfg)
		die(EXIT_ERROR, "out of memory");
	struct cli_options opts = {.vm = &boot_cfg->vm};
	if (cli__parse(argc, argv, &opts, e.msg, sizeof(e.msg))) {
		pr_err("%s (see ember --help)", e.msg);
		return EXIT_USAGE;
	}
	if (opts.help) {
		cli__usage();
		return EXIT_OK;
	}
	if (opts.version) {
		cli__print_version();
		return EXIT_OK;
	}
	if (opts.seccomp_summary) {
		seccomp__print_summary(stdout);
		return EXIT_OK;
	}
	/* With an API socket and no config file the VM waits for InstanceStart, so
	 * the command line may leave the kernel out (PUT /boot-source may bring it). */
	if (!opts.config_file && !opts.api_sock &&
	    config__validate(opts.vm, e.msg, sizeof(e.msg))) {
		pr_err("%s", e.msg);
		return EXIT_USAGE;
	}

	kvm.boot_timer = opts.boot_timer;
	/* A boot from the command line or a config file starts now (an API-driven one
	 * waits for InstanceStart): where the guess was wrong, the helper follows. */
	const bool boots_now = !opts.api_sock || opts.config_file;
	if (boots_now && !kvm.early.opened)
		vm_early__start(&kvm.early, opts.start_helper);
	else if (!boots_now)
		vm_early__release(&kvm.early);
	vm_early__log_choice(&kvm.early);
	/* Flags alone make a final configuration: its memory can be registered now. */
	if (boots_now && !opts.config_file)
		vm_early__premap(&kvm.early, opts.vm);
	struct event_loop *loop = event__create();
	struct signal_watch sw = {loop, signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)};
	if (!loop || sw.fd < 0 || event__add(loop, sw.fd, EPOLLIN, on_signal, &sw) < 0)
		die(EXIT_ERROR, "cannot set up the event loop: %m");

	/* Before a config file, a metadata file or any request body is parsed: from here
	 * on this thread and every thread it starts can only build, start and restore a
	 * VM. A boot from the command line alone parses none of them (its images are the
	 * operator's, which Firecracker's build reads unfiltered too). Without the start-up
	 * helper it goes without, as Firecracker does: each thread installs its own filter
	 * before the guest's first instruction (kvm_machine.unfiltered_build), one program
	 * fewer to compile per start. With the helper the pre-boot filter stays: it goes in
	 * while the helper makes the VM, where it costs no wait, and the VMM thread's own
	 * would then delay vCPU 0. */
	const bool untrusted_input = opts.api_sock || opts.config_file || opts.metadata;
	const bool preboot = untrusted_input || kvm.early.started;
	if (preboot && seccomp__install(SECCOMP_VMM_PREBOOT))
		die(EXIT_ERROR, "cannot install the pre-boot seccomp filter: %m");
	/* With --no-seccomp there is no filter to wait for: the vCPUs start unparked. */
	kvm.unfiltered_build = !preboot && seccomp__enabled();
	kvm.loop = loop;
	/* The command line is the first configuration; a config file or the API adds to it. */
	struct vmm_params vp = {
	    .initial = boot_cfg,
	    .id = opts.id,
	    .version = EMBER_FIRECRACKER_API_VERSION,
	    .start_us = start_us,
	    .loop = loop,
	    .metrics_interval_s = opts.metrics_interval_s,
	    .machine = &kvm_machine_ops,
	    .machine_ctx = &kvm,
	};
	const bool no_pit = boot_cfg->vm.no_pit; /* boot_cfg is the controller's from here */
	struct vmm *vmm = vmm__create(&vp, &e);
	if (!vmm)
		fail(&e);
	if (opts.metrics_path && vmm__set_metrics_path(vmm, opts.metrics_path, &e))
		die(EXIT_USAGE, "--metrics-path: %s", e.msg);
	/* The API is also the config file's reader, so it exists even with --no-api. A
	 * machine from the command line alone has neither, nor an MMDS (only the API or a
	 * config file give one to a network interface): it skips both, ~0.1 ms. */
	struct api *api = NULL;
	if (opts.api_sock || opts.config_file) {
		api = api__create(vmm);
		if (!api)
			die(EXIT_ERROR, "out of memory");
	}
	/* The data store first, as Firecracker loads --metadata before the config file's
	 * mmds-config. */
	if (api || opts.metadata) {
		if (!mmds_store__default())
			die(EXIT_ERROR, "MMDS: cannot make the data store (memory or getrandom)");
		mmds_store__reset(mmds_store__default(), opts.mmds_size_limit);
	}
	if (opts.metadata && api__load_metadata(opts.metadata, &e))
		fail(&e);
	if (opts.config_file && api__load_config_file(api, opts.config_file, &e))
		fail(&e);

	struct api_server *srv = NULL;
	static struct api_startup startup;
	if (opts.api_sock) {
		struct api_server_opts so = {.path = opts.api_sock};
		srv = api_server__create(&so, e.msg, sizeof(e.msg));
		if (!srv || api_server__start(srv, api, loop, e.msg, sizeof(e.msg)))
			die(EXIT_USAGE, "%s", e.msg);
		struct timespec cpu;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		startup.wall_us = now_us() - start_us;
		startup.cpu_us = (uint64_t)cpu.tv_sec * 1000000u + (uint64_t)cpu.tv_nsec / 1000u;
		vmm__add_metrics_source(vmm, api_server_metrics, &startup);
		pr_debug("API socket ready at %llu us", (unsigned long long)startup.wall_us);
	}

	/* The API socket already takes connections; a request waits for the shell. */
	if (opts.prepare &&
	    kvm_machine__prepare(&kvm, opts.prepare_vcpus, opts.prepare_mem_mib, no_pit, &e))
		fail(&e);

	int rc = 0;
	if (boots_now && vmm__start(vmm, &e)) {
		pr_err("%s", e.msg);
		rc = e.code;
	}
	if (rc == 0)
		rc = event__run(loop);
	vmm__stop(vmm);
	/* A VM stopped by a signal is often one its owner thought hung: say where it was. */
	if (rc == EXIT_SIGNAL)
		vmm__log_guest_state(vmm);
	api_server__destroy(srv);
	if (opts.api_sock)
		unlink(opts.api_sock);
	if (vmm__config(vmm)->metrics.configured && vmm__flush_metrics(vmm, &e))
		pr_warn("%s", e.msg);
	/* The process ends here: what would outlive it is undone, and the exit drops
	 * the rest (vmm__leave). */
	vmm__leave(vmm);
	return rc;
}
