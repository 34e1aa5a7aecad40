#include "vmm.h"

#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "api/json.h"
#include "event.h"
#include "log.h"
#include "pagealloc.h"
#include "snapshot.h"

#define ERR_AFTER_START	 "The requested operation is not supported after starting the microVM."
#define ERR_BEFORE_START "The requested operation is not supported before starting the microVM."

#include "vmm_impl.h"

/* --- life ---------------------------------------------------------------------------- */

/* Metrics are also written every interval, as Firecracker does, so that a VM that runs
 * for hours shows up without anyone asking. */
static void on_metrics_timer(void *opaque, uint32_t events)
{
	struct vmm *m = opaque;
	uint64_t expirations;
	if (read(m->timer_fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	struct error e;
	if (m->metrics_fd >= 0 && vmm__flush_metrics(m, &e))
		pr_warn("%s", e.msg);
}

/* Armed with the metrics file, not at start: a VM without metrics, most of them, makes
 * three system calls fewer on its way to the first KVM_RUN. */
static int arm_metrics_timer(struct vmm *m, struct error *e)
{
	if (!m->p.metrics_interval_s || !m->p.loop || m->timer_fd >= 0)
		return 0;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	unsigned s = m->p.metrics_interval_s;
	struct itimerspec its = {{s, 0}, {s, 0}};
	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0 ||
	    event__add(m->p.loop, fd, EPOLLIN, on_metrics_timer, m) < 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return error__fail(e, EXIT_ERROR, "cannot set up the metrics timer: %s",
				   strerror(err));
	}
	m->timer_fd = fd;
	return 0;
}

struct vmm *vmm__create(const struct vmm_params *p, struct error *e)
{
	/* The command line's configuration is taken over, not copied: a copy of the ~100 KiB
	 * configuration read every page of both, ~50 first-touch faults at 3 us each on our
	 * hosts (issue 16). */
	if (p->initial && config__validate_pending(&p->initial->vm, e->msg, sizeof(e->msg))) {
		pagealloc__free(p->initial);
		error__coded(e, EXIT_USAGE);
		return NULL;
	}
	struct vmm_config *cfg = p->initial ? p->initial : pagealloc__zalloc(sizeof(*cfg));
	struct vmm *m = cfg ? pagealloc__zalloc(sizeof(*m)) : NULL;
	if (!m) {
		pagealloc__free(cfg);
		error__fail(e, EXIT_ERROR, "out of memory");
		return NULL;
	}
	if (!p->initial)
		config__init_zeroed(&cfg->vm);
	config__root_first(&cfg->vm);
	cfg->logger.level = LOG_INFO;
	m->cfg = cfg;
	m->p = *p;
	m->p.initial = NULL;
	m->machine = p->machine;
	snprintf(m->id, sizeof(m->id), "%s", p->id && *p->id ? p->id : "anonymous-instance");
	if (!m->p.version)
		m->p.version = "0";
	m->metrics_fd = -1;
	m->timer_fd = -1;
	return m;
}

void vmm__destroy(struct vmm *m)
{
	if (!m)
		return;
	if (m->state != VMM_NOT_STARTED)
		vmm__stop(m);
	if (m->state != VMM_NOT_STARTED && m->machine->destroy)
		m->machine->destroy(m->p.machine_ctx);
	if (m->timer_fd >= 0) {
		if (m->p.loop)
			event__del(m->p.loop, m->timer_fd);
		close(m->timer_fd);
	}
	if (m->metrics_fd >= 0)
		close(m->metrics_fd);
	pagealloc__free(m->cfg);
	pagealloc__free(m);
}

void vmm__leave(struct vmm *m)
{
	if (!m || m->state == VMM_NOT_STARTED)
		return;
	vmm__stop(m);
	if (m->machine->leave)
		m->machine->leave(m->p.machine_ctx);
}

const struct vmm_config *vmm__config(const struct vmm *m)
{
	return m->cfg;
}

enum vmm_state vmm__state(const struct vmm *m)
{
	return m->state;
}

const char *vmm__state_name(enum vmm_state s)
{
	static const char *const names[] = {"Not started", "Running", "Paused", "Stopped"};
	return names[s];
}

const char *vmm__id(const struct vmm *m)
{
	return m->id;
}

const char *vmm__version(const struct vmm *m)
{
	return m->p.version;
}

/* --- configuration ------------------------------------------------------------------- */

/* The serial device opens its output at start, where failing would end the process;
 * so a new path is tried now. */
static int check_serial_out(const struct vmm *m, const struct vm_config *next, struct error *e)
{
	if (next->serial_out != SERIAL_OUT_FILE || m->p.dry_files ||
	    (m->cfg->vm.serial_out == SERIAL_OUT_FILE &&
	     !strcmp(m->cfg->vm.serial_out_path, next->serial_out_path)))
		return 0;
	int fd = file__open(next->serial_out_path, FILE_CONSOLE_OUT);
	if (fd < 0)
		return error__fail(e, EXIT_USAGE, "serial_out_path: cannot open '%s': %s",
				   next->serial_out_path, file__error());
	close(fd);
	return 0;
}

/* The file side effects come last, metrics before the logger, so that a failure
 * leaves everything as it was. */
static int open_files(struct vmm *m, const struct vmm_config *next, struct error *e)
{
	int fd = -1;
	bool new_metrics = next->metrics.configured && !m->cfg->metrics.configured;
	if (new_metrics && !m->p.dry_files) {
		fd = file__open(next->metrics.path, FILE_SINK);
		if (fd < 0)
			return error__fail(e, EXIT_USAGE, "metrics_path: cannot open '%s': %s",
					   next->metrics.path, file__error());
		if (arm_metrics_timer(m, e)) {
			close(fd);
			return -1;
		}
	}
	const struct logger_config *l = &next->logger;
	if (l->configured && !config__equal(l, &m->cfg->logger, sizeof(*l)) && !m->p.dry_files) {
		if (l->path[0] && log__set_path(l->path)) {
			if (fd >= 0)
				close(fd);
			return error__fail(e, EXIT_USAGE, "log_path: cannot open '%s': %s", l->path,
					   file__error());
		}
		log__set_level(l->level);
	}
	if (fd >= 0) {
		if (m->metrics_fd >= 0)
			close(m->metrics_fd);
		m->metrics_fd = fd;
	}
	return 0;
}

int vmm__check_configurable(const struct vmm *m, struct error *e)
{
	/* Every configuration change is pre-boot only; after InstanceStart the VMM
	 * thread's seccomp filter would not even allow opening the files they name. */
	if (m->state != VMM_NOT_STARTED)
		return error__fail(e, EXIT_USAGE, ERR_AFTER_START);
	return 0;
}

int vmm__configure(struct vmm *m, const struct vmm_config *next, struct error *e)
{
	if (vmm__check_configurable(m, e))
		return -1;
	char why[ERROR_MSG_MAX];
	if (config__validate_pending(&next->vm, why, sizeof(why)))
		return error__from_text(e, EXIT_USAGE, why);
	if (m->cfg->metrics.configured &&
	    !config__equal(&m->cfg->metrics, &next->metrics, sizeof(next->metrics)))
		return error__fail(e, EXIT_USAGE,
				   "metrics: the metrics system is already initialized");
	if (check_serial_out(m, &next->vm, e) || open_files(m, next, e))
		return -1;
	if (next != m->cfg)
		config__assign(m->cfg, next, sizeof(*m->cfg));
	config__root_first(&m->cfg->vm);
	return 0;
}

int vmm__set_metrics_path(struct vmm *m, const char *path, struct error *e)
{
	if (m->cfg->metrics.configured)
		return error__fail(e, EXIT_USAGE,
				   "metrics: the metrics system is already initialized");
	config__assign(&m->scratch, m->cfg, sizeof(m->scratch));
	struct metrics_config *mc = &m->scratch.metrics;
	memset(mc, 0, sizeof(*mc));
	mc->configured = true;
	char why[ERROR_MSG_MAX];
	if (config__set_path(mc->path, sizeof(mc->path), "metrics_path", path, why, sizeof(why)))
		return error__from_text(e, EXIT_USAGE, why);
	return vmm__configure(m, &m->scratch, e);
}

/* --- lifecycle ----------------------------------------------------------------------- */

int vmm__start(struct vmm *m, struct error *e)
{
	if (vmm__check_configurable(m, e))
		return -1;
	if (config__validate(&m->cfg->vm, e->msg, sizeof(e->msg)))
		return error__coded(e, EXIT_USAGE);
	m->instance_start_us = now_us();
	if (m->machine->start(m->p.machine_ctx, &m->cfg->vm, m->instance_start_us, e))
		return error__wrap(e, "Failed to start the microVM");
	m->state = VMM_RUNNING;
	pr_info("VM started %llu us after InstanceStart",
		(unsigned long long)(now_us() - m->instance_start_us));
	return 0;
}

int vmm__check_started(const struct vmm *m, struct error *e)
{
	if (m->state == VMM_NOT_STARTED)
		return error__fail(e, EXIT_USAGE, ERR_BEFORE_START);
	if (m->state == VMM_STOPPED)
		return error__fail(e, EXIT_USAGE, "the microVM is stopping");
	return 0;
}

int vmm__pause(struct vmm *m, struct error *e)
{
	uint64_t t0 = now_us();
	if (vmm__check_started(m, e) || m->machine->pause(m->p.machine_ctx, e))
		return -1;
	m->state = VMM_PAUSED;
	m->latencies.pause_vm = now_us() - t0;
	return 0;
}

int vmm__resume(struct vmm *m, struct error *e)
{
	uint64_t t0 = now_us();
	if (vmm__check_started(m, e) || m->machine->resume(m->p.machine_ctx, e))
		return -1;
	m->state = VMM_RUNNING;
	m->latencies.resume_vm = now_us() - t0;
	return 0;
}

int vmm__snapshot(struct vmm *m, const struct snapshot_create_params *p, const char *config_json,
		  struct error *e)
{
	if (m->state != VMM_PAUSED)
		return error__fail(e, EXIT_USAGE,
				   "Cannot create a snapshot: the microVM is %s, it must be Paused "
				   "(PATCH /vm {\"state\": \"Paused\"})",
				   vmm__state_name(m->state));
	if (!m->machine->snapshot)
		return error__fail(e, EXIT_USAGE, "snapshots are not supported by this machine");
	uint64_t t0 = now_us();
	if (m->machine->snapshot(m->p.machine_ctx, p, config_json, m->p.version, e))
		return error__wrap(e, "Cannot create a snapshot");
	uint64_t us = now_us() - t0;
	if (p->type == SNAPSHOT_DIFF)
		m->latencies.diff_create_snapshot = us;
	else
		m->latencies.full_create_snapshot = us;
	pr_info("%s snapshot created in %llu us", p->type == SNAPSHOT_DIFF ? "Diff" : "Full",
		(unsigned long long)us);
	return 0;
}

int vmm__check_restorable(const struct vmm *m, struct error *e)
{
	if (m->state != VMM_NOT_STARTED)
		return error__fail(e, EXIT_USAGE,
				   "Loading a microVM snapshot not allowed after configuring boot-"
				   "specific resources: the microVM is already %s",
				   vmm__state_name(m->state));
	/* On the heap, not the stack: calloc's fresh pages stay untouched where zero. */
	struct vm_config *fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return error__fail(e, EXIT_ERROR, "out of memory");
	config__init_zeroed(fresh);
	/* Not resources of the VM but of this process: the machine option --no-pit and
	 * where the console goes (Firecracker's is the process's stdio). */
	const struct vm_config *now = &m->cfg->vm;
	fresh->no_pit = now->no_pit;
	fresh->serial_out = now->serial_out;
	fresh->serial_in = now->serial_in;
	config__assign(fresh->serial_out_path, now->serial_out_path,
		       sizeof(fresh->serial_out_path));
	config__assign(fresh->serial_in_path, now->serial_in_path, sizeof(fresh->serial_in_path));
	bool differs = !config__equal(fresh, now, sizeof(*fresh));
	free(fresh);
	if (differs)
		return error__fail(e, EXIT_USAGE,
				   "Loading a microVM snapshot not allowed after configuring boot-"
				   "specific resources (only the logger and metrics may be set "
				   "first)");
	return 0;
}

int vmm__restore(struct vmm *m, const struct vmm_config *next, struct snapshot_load *l, bool resume,
		 struct error *e)
{
	if (vmm__check_restorable(m, e))
		return -1;
	if (!m->machine->restore)
		return error__fail(e, EXIT_USAGE, "snapshots are not supported by this machine");
	char why[ERROR_MSG_MAX];
	if (config__validate_pending(&next->vm, why, sizeof(why)))
		return error__fail(e, EXIT_USAGE, "snapshot configuration: %s", why);
	uint64_t t0 = now_us();
	/* The restored VM keeps pointing at its configuration: it is m's from here on. */
	/* m->scratch keeps the configuration to go back to (a 100 KiB stack frame would
	 * stay resident). */
	config__assign(&m->scratch, m->cfg, sizeof(m->scratch));
	config__assign(m->cfg, next, sizeof(*m->cfg));
	m->instance_start_us = t0;
	if (m->machine->restore(m->p.machine_ctx, &m->cfg->vm, l, e)) {
		config__assign(m->cfg, &m->scratch, sizeof(*m->cfg));
		return error__wrap(e, "Cannot load the snapshot");
	}
	m->state = VMM_PAUSED;
	struct snapshot_load_times *t = &l->times;
	uint64_t t1 = now_us();
	int rc = 0;
	if (resume) {
		rc = vmm__resume(m, e);
		t->resume = now_us() - t1;
	}
	/* From the request on the VMM thread (the API's handler) to the vCPUs let run. */
	m->latencies.load_snapshot = now_us() - (t->start_us ? t->start_us : t0);
	if (m->machine->restored)
		m->machine->restored(m->p.machine_ctx, l);
	m->latencies.load = *t;
	char steps[512];
	snapshot__times_text(t, steps, sizeof(steps));
	pr_info("snapshot loaded in %llu us%s (%s)", (unsigned long long)m->latencies.load_snapshot,
		t->warm ? " into the warm shell" : "", steps);
	return rc;
}

int vmm__ctrl_alt_del(struct vmm *m, struct error *e)
{
	if (vmm__check_started(m, e))
		return -1;
	return m->machine->ctrl_alt_del(m->p.machine_ctx, e);
}

int vmm__patch_drive(struct vmm *m, const char *id, const char *path, struct error *e)
{
	if (vmm__check_started(m, e))
		return -1;
	struct drive_config *d = NULL;
	for (unsigned i = 0; i < m->cfg->vm.nr_drives; i++)
		if (strcmp(m->cfg->vm.drives[i].id, id) == 0)
			d = &m->cfg->vm.drives[i];
	if (!d)
		return error__fail(e, EXIT_USAGE, "drive_id: no drive with id '%s'", id);
	if (strlen(path) >= sizeof(d->path))
		return error__fail(e, EXIT_USAGE, "path_on_host: longer than %zu bytes",
				   sizeof(d->path) - 1);
	if (!m->machine->patch_drive)
		return error__fail(e, EXIT_USAGE, "path_on_host: this machine cannot swap drives");
	if (m->machine->patch_drive(m->p.machine_ctx, id, path, e))
		return error__wrap(e, "path_on_host: Unable to patch the block device");
	snprintf(d->path, sizeof(d->path), "%s", path);
	pr_info("drive %s: now backed by %s", id, path);
	return 0;
}

int vmm__patch_limiters(struct vmm *m, bool drive, const char *id,
			const struct rate_limiter_config *rl0,
			const struct rate_limiter_config *rl1, struct error *e)
{
	if (vmm__check_started(m, e))
		return -1;
	struct rate_limiter_config *slot[2] = {NULL, NULL};
	for (unsigned i = 0; drive && i < m->cfg->vm.nr_drives; i++)
		if (strcmp(m->cfg->vm.drives[i].id, id) == 0)
			slot[0] = &m->cfg->vm.drives[i].rate_limiter;
	for (unsigned i = 0; !drive && i < m->cfg->vm.nr_nets; i++)
		if (strcmp(m->cfg->vm.nets[i].id, id) == 0) {
			slot[0] = &m->cfg->vm.nets[i].rx_rate_limiter;
			slot[1] = &m->cfg->vm.nets[i].tx_rate_limiter;
		}
	if (!slot[0])
		return error__fail(e, EXIT_USAGE, "%s: no %s with id '%s'",
				   drive ? "drive_id" : "iface_id",
				   drive ? "drive" : "network interface", id);
	if (!m->machine->patch_limiter)
		return error__fail(e, EXIT_USAGE, "this machine cannot change rate limiters");
	char dev[CONFIG_ID_MAX + 16];
	snprintf(dev, sizeof(dev), "%s.%s", drive ? "block" : "net", id);
	const struct rate_limiter_config *want[2] = {rl0, drive ? NULL : rl1};
	for (unsigned q = 0; q < 2; q++) {
		if (!want[q])
			continue;
		if (m->machine->patch_limiter(m->p.machine_ctx, dev, q, want[q], e))
			return -1;
		*slot[q] = *want[q];
	}
	return 0;
}

void vmm__stop(struct vmm *m)
{
	if (m->state == VMM_RUNNING || m->state == VMM_PAUSED)
		m->machine->stop(m->p.machine_ctx);
	if (m->state != VMM_NOT_STARTED)
		m->state = VMM_STOPPED;
}

void vmm__log_guest_state(struct vmm *m)
{
	if (m->state == VMM_STOPPED && m->machine->log_state)
		m->machine->log_state(m->p.machine_ctx);
}

/* --- balloon ------------------------------------------------------------------------- */

#define ERR_NO_BALLOON	  "No balloon device found."
#define ERR_NO_STATISTICS "Statistics for the balloon device are not enabled"

static int balloon_started(const struct vmm *m, struct error *e)
{
	if (vmm__check_started(m, e))
		return -1;
	if (!m->cfg->vm.balloon.present || !m->machine->balloon)
		return error__fail(e, EXIT_USAGE, ERR_NO_BALLOON);
	return 0;
}

int vmm__balloon_target(struct vmm *m, uint32_t amount_mib, struct error *e)
{
	if (balloon_started(m, e))
		return -1;
	if (amount_mib > m->cfg->vm.mem_mib)
		return error__fail(e, EXIT_USAGE,
				   "amount_mib: %u MiB is more than the guest's memory (%llu MiB): "
				   "Amount of pages requested is too large.",
				   amount_mib, (unsigned long long)m->cfg->vm.mem_mib);
	if (m->machine->balloon(m->p.machine_ctx, VMM_BALLOON_TARGET, amount_mib, NULL, e))
		return -1;
	m->cfg->vm.balloon.amount_mib = amount_mib;
	return 0;
}

int vmm__balloon_interval(struct vmm *m, uint32_t seconds, struct error *e)
{
	if (balloon_started(m, e))
		return -1;
	uint32_t now = m->cfg->vm.balloon.stats_polling_interval_s;
	if (seconds == now)
		return 0;
	if (!now || !seconds)
		return error__fail(e, EXIT_USAGE,
				   "Cannot enable/disable the statistics after boot.");
	if (m->machine->balloon(m->p.machine_ctx, VMM_BALLOON_INTERVAL, seconds, NULL, e))
		return -1;
	m->cfg->vm.balloon.stats_polling_interval_s = seconds;
	return 0;
}

int vmm__balloon_stats(struct vmm *m, struct json_out *o, struct error *e)
{
	if (balloon_started(m, e))
		return -1;
	if (!m->cfg->vm.balloon.stats_polling_interval_s)
		return error__fail(e, EXIT_USAGE, ERR_NO_STATISTICS);
	return m->machine->balloon(m->p.machine_ctx, VMM_BALLOON_STATS, 0, o, e);
}
