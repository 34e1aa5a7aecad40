/* The controller: the one owner of the configuration, the lifecycle state and the
 * VM. The API, the config file and the command line all act through these verbs,
 * on the VMM thread. Lifecycle: Not started -> Running <-> Paused -> Stopped.
 *
 * Snapshots come as two more verbs, vmm__snapshot() and vmm__restore() (the
 * snapshot issue): pause, then walk the VM's devices and call each device table
 * row's save or restore hook (vm.h), refusing while any hook is NULL. */
#ifndef EMBER_VMM_H
#define EMBER_VMM_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

struct vmm;
struct event_loop;
struct json_out;
struct snapshot_create_params;
struct snapshot_load;

enum vmm_state { VMM_NOT_STARTED, VMM_RUNNING, VMM_PAUSED, VMM_STOPPED };
enum vmm_balloon_op { VMM_BALLOON_TARGET, VMM_BALLOON_INTERVAL, VMM_BALLOON_STATS };

/* What the controller asks of the hypervisor, each with the machine's own ctx.
 * ember gives the KVM machine (machine.h); the API's unit tests and fuzzer give
 * their own, so routes and states run without /dev/kvm. */
struct vmm_machine {
	/* Builds the VM for cfg and starts its vCPUs; 0, or -1 with e. */
	int (*start)(void *ctx, const struct vm_config *cfg, uint64_t instance_start_us,
		     struct error *e);
	int (*pause)(void *ctx, struct error *e);
	int (*resume)(void *ctx, struct error *e);
	int (*ctrl_alt_del)(void *ctx, struct error *e);
	/* Drive id's backing file is path from now on (a hot swap); NULL = cannot. */
	int (*patch_drive)(void *ctx, const char *id, const char *path, struct error *e);
	/* Queue q of virtio device `device` ("block.<id>", "net.<id>") is limited by rl
	 * from now on, live; NULL = cannot. */
	int (*patch_limiter)(void *ctx, const char *device, unsigned q,
			     const struct rate_limiter_config *rl, struct error *e);
	/* Stops the vCPUs for good; the VM stays until destroy. */
	void (*stop)(void *ctx);
	/* Logs where the stopped guest was (vCPUs, interrupt controller, devices): what
	 * tells a guest that hung from one that was busy. NULL: nothing to say. */
	void (*log_state)(void *ctx);
	void (*destroy)(void *ctx);
	/* The process ends without destroy, after stop: undoes only what would outlive
	 * it (vm__leave). NULL: nothing does. */
	void (*leave)(void *ctx);
	/* Snapshots (snapshot.h; NULL: not supported). snapshot: the VM is paused.
	 * restore: builds the VM from a loaded snapshot instead of start, leaving it
	 * paused. */
	int (*snapshot)(void *ctx, const struct snapshot_create_params *p, const char *config_json,
			const char *version, struct error *e);
	int (*restore)(void *ctx, const struct vm_config *cfg, struct snapshot_load *l,
		       struct error *e);
	/* After a restore and its resume (if asked for), before the load is answered: the
	 * VMM thread's lock-down, which need not delay the vCPUs (no guest-driven work
	 * reaches this thread before it returns to its loop). NULL: nothing. */
	void (*restored)(void *ctx, struct snapshot_load *l);
	/* Metrics, once started: members of the "vmm" group (`,"name":value`), then
	 * whole groups (`,"group":{...}`: devices). NULL = none. */
	void (*vmm_metrics)(void *ctx, struct json_out *o);
	void (*metrics)(void *ctx, struct json_out *o);
	/* The running VM's balloon: a new target (value in MiB), a new statistics
	 * interval (value in s), or GET /balloon/statistics's body appended to o.
	 * NULL: the machine has no balloon. */
	int (*balloon)(void *ctx, enum vmm_balloon_op op, uint32_t value, struct json_out *o,
		       struct error *e);
};

struct vmm_params {
	/* The command line's machine (NULL: defaults), checked like any configuration
	 * but without trying the files it names: the devices open them at start, as
	 * they always did (a FIFO may get its reader only then). A configuration from
	 * pagealloc__zalloc (pagealloc.h) whose vm the command line filled in (logger and
	 * metrics all zero): vmm__create takes it over, and frees it if it fails. */
	struct vmm_config *initial;
	const char *id;	     /* NULL or "": "anonymous-instance" */
	const char *version; /* reported by GET / and GET /version */
	uint64_t start_us;   /* process start: the zero of every boot timing */
	struct event_loop *loop;
	unsigned metrics_interval_s; /* also flush metrics this often; 0 = never */
	/* Check configurations without opening the files they name (the fuzzer must
	 * not create files wherever its input says). */
	bool dry_files;
	const struct vmm_machine *machine;
	void *machine_ctx;
};

/* NULL with e on failure. */
struct vmm *vmm__create(const struct vmm_params *p, struct error *e);
/* Stops and frees the VM, closes the metrics file. */
void vmm__destroy(struct vmm *m);
/* For a process that ends next: stops the VM and undoes what would outlive the process
 * (a vsock device's socket file); memory, mappings and descriptors are left to the
 * exit, which drops them in one pass. Freeing them one by one cost ~0.15 ms of CPU per
 * VM on kvm_pvm: each unmap is a TLB flush that interrupts every CPU the process ran
 * on. m is not usable afterwards. */
void vmm__leave(struct vmm *m);

const struct vmm_config *vmm__config(const struct vmm *m);
enum vmm_state vmm__state(const struct vmm *m);
const char *vmm__state_name(enum vmm_state s); /* as Firecracker's GET / says it */
const char *vmm__id(const struct vmm *m);
const char *vmm__version(const struct vmm *m);

/* 0 while the configuration may change (before start), else -1 with e. */
int vmm__check_configurable(const struct vmm *m, struct error *e);
/* 0 once the VM started (running or paused), else -1 with e. */
int vmm__check_started(const struct vmm *m, struct error *e);

/* Replaces the configuration with `next` before start: validates it (the kernel may
 * still be missing), checks the serial output opens, and opens the log and metrics
 * files it newly names. On failure nothing changes. EXIT_USAGE errors. */
int vmm__configure(struct vmm *m, const struct vmm_config *next, struct error *e);
/* --metrics-path: as PUT /metrics with only a path. */
int vmm__set_metrics_path(struct vmm *m, const char *path, struct error *e);

/* InstanceStart: validates the whole configuration and starts the VM. The error
 * carries what failed (EXIT_IMAGE for a bad kernel, EXIT_KVM...). */
int vmm__start(struct vmm *m, struct error *e);
int vmm__pause(struct vmm *m, struct error *e);
int vmm__resume(struct vmm *m, struct error *e);
int vmm__ctrl_alt_del(struct vmm *m, struct error *e);
/* PATCH /drives/{id} with path_on_host, once started: the drive's file is swapped
 * and the configuration shows the new path. On failure nothing changes. */
int vmm__patch_drive(struct vmm *m, const char *id, const char *path, struct error *e);
/* After boot: new rate limiters for drive `id` (rl0; rl1 unused) or interface `id`
 * (rl0 receive, rl1 transmit), applied live and recorded in the configuration;
 * NULL keeps one. Nothing the guest queued is lost. */
int vmm__patch_limiters(struct vmm *m, bool drive, const char *id,
			const struct rate_limiter_config *rl0,
			const struct rate_limiter_config *rl1, struct error *e);
/* PUT /snapshot/create: the VM must be paused and stays paused. config_json is what
 * the snapshot records as the VM's configuration. */
int vmm__snapshot(struct vmm *m, const struct snapshot_create_params *p, const char *config_json,
		  struct error *e);
/* 0 while a snapshot may be loaded: not started and nothing but the logger and
 * metrics configured. */
int vmm__check_restorable(const struct vmm *m, struct error *e);
/* PUT /snapshot/load: next is the snapshot's configuration (with the load's
 * overrides); the VM is built from l, paused, and resumed if `resume`. On failure
 * nothing changes and another load may be tried. */
int vmm__restore(struct vmm *m, const struct vmm_config *next, struct snapshot_load *l, bool resume,
		 struct error *e);
/* Stops the vCPUs (the VM stays for a last metrics flush). */
void vmm__stop(struct vmm *m);
/* After vmm__stop(): logs the guest's last state, for a VM stopped from outside. */
void vmm__log_guest_state(struct vmm *m);

/* The balloon after start (PATCH /balloon, PATCH and GET /balloon/statistics):
 * refused without a balloon, before start, for a target above the guest's memory,
 * for statistics not enabled at start, and for turning them on or off. A new
 * target or interval is also kept in the configuration (GET /balloon). */
int vmm__balloon_target(struct vmm *m, uint32_t amount_mib, struct error *e);
int vmm__balloon_interval(struct vmm *m, uint32_t seconds, struct error *e);
int vmm__balloon_stats(struct vmm *m, struct json_out *o, struct error *e);

/* A front end's own metrics groups (the API's request counters), appended to
 * every metrics line as `,"group":{...}`. */
typedef void (*vmm_metrics_fn)(void *ctx, struct json_out *o);
int vmm__add_metrics_source(struct vmm *m, vmm_metrics_fn fn, void *ctx);
/* Appends one JSON line to the metrics file; -1 with e if none is configured or
 * the write fails. */
int vmm__flush_metrics(struct vmm *m, struct error *e);

#endif
