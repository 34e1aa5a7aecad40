/* Snapshots: capture a paused VM into a vmstate file (snapshot/vmstate.h, the
 * container) and a memory file, and build a VM back from them.
 *
 * vmstate layout (every node below the container's root):
 *   /config            json: the VM configuration, GET /vm/config's shape without
 *                      logger and metrics
 *   /memory/region@N   the container's regions: guest RAM, laid out in the memory file
 *                      as in ember's host mapping
 *   /vm                irqchip-pic-master, irqchip-pic-slave, irqchip-ioapic, pit,
 *                      clock (raw KVM structures), clock-realtime-ns (host time at
 *                      capture)
 *   /vcpus/vcpu@N      regs, sregs, xsave|fpu, xcrs, lapic, msrs, events, debugregs,
 *                      mp-state (raw KVM structures)
 *   /devices/dev@N     kind (the device table row's name), then the row's own
 *                      properties (its save hook)
 *   /cpu-template      name ("None", "T2A", ..., "custom") and digest (u64,
 *                      cpu_tpl__digest): the template the guest's CPUID and MSRs
 *                      were made with; a custom one's content is in /config's
 *                      "cpu-config"
 * Raw KVM structures tie a snapshot to x86_64 KVM hosts of the same ABI, as
 * Firecracker's do. */
#ifndef EMBER_SNAPSHOT_H
#define EMBER_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "snapshot/vmstate.h"

struct vm;
struct event_loop;

#define SNAPSHOT_NODE_MAX      128
#define SNAPSHOT_UFFD_PATH_MAX 108

/* What a device row's save hook writes to: properties of its own node. */
struct snapshot_out {
	struct vmstate_writer *w;
	char node[SNAPSHOT_NODE_MAX];
};
/* What a device row's restore hook reads: properties of its own node. */
struct snapshot_in {
	const struct vmstate *vs;
	char node[SNAPSHOT_NODE_MAX];
};

/* Each returns 0 or -1 (the writer keeps its first error). */
int snap_out__u32(struct snapshot_out *s, const char *name, uint32_t v);
int snap_out__u64(struct snapshot_out *s, const char *name, uint64_t v);
int snap_out__string(struct snapshot_out *s, const char *name, const char *v);
int snap_out__blob(struct snapshot_out *s, const char *name, const void *data, size_t len);
/* Each returns 0, or -1 with e naming the node and property. */
int snap_in__u32(struct snapshot_in *s, const char *name, uint32_t *v, struct error *e);
int snap_in__u64(struct snapshot_in *s, const char *name, uint64_t *v, struct error *e);
int snap_in__string(struct snapshot_in *s, const char *name, const char **v, struct error *e);
int snap_in__bytes(struct snapshot_in *s, const char *name, void *out, size_t len, struct error *e);
/* Any length; *data points into the vmstate. */
int snap_in__blob(struct snapshot_in *s, const char *name, const void **data, size_t *len,
		  struct error *e);
/* Whether the node has property name (for what newer minor versions added). */
bool snap_in__has(struct snapshot_in *s, const char *name);

enum snapshot_type { SNAPSHOT_FULL, SNAPSHOT_DIFF };

struct snapshot_create_params {
	char snapshot_path[CONFIG_PATH_MAX];
	char mem_file_path[CONFIG_PATH_MAX];
	uint32_t type; /* enum snapshot_type */
};

struct snapshot_net_override {
	char iface_id[CONFIG_ID_MAX + 1];
	char host_dev_name[CONFIG_IFNAME_MAX];
};

struct snapshot_load_params {
	char snapshot_path[CONFIG_PATH_MAX];
	char mem_path[CONFIG_PATH_MAX]; /* mem_backend.backend_path or mem_file_path */
	/* mem_backend Uffd: mem_path is the page-fault handler's socket, shorter than
	 * SNAPSHOT_UFFD_PATH_MAX (a sockaddr_un's sun_path). */
	bool mem_uffd;
	bool track_dirty_pages;
	bool resume_vm;
	bool clock_realtime;
	struct snapshot_net_override nets[CONFIG_MAX_NETS];
	unsigned nr_nets;
	bool has_vsock_override;
	char vsock_uds_path[CONFIG_UDS_MAX];
};

/* Captures vm (vCPUs parked) into p's files; config_json is stored as /config.
 * Full: the memory file is rewritten whole, all-zero pages left as holes. Diff: only
 * the pages KVM logged dirty since the last snapshot are written into the existing
 * file (needs track_dirty_pages). */
int snapshot__create(struct vm *vm, const struct snapshot_create_params *p, const char *config_json,
		     const char *ember_version, struct error *e);

/* Where a load's time went, in microseconds (the metrics' latencies_us group, as
 * load_snapshot_<step>). Steps a prepared shell did before the request read 0. */
struct snapshot_load_times {
	uint64_t start_us; /* the request reached the VMM thread (now_us()) */
	uint64_t open;	   /* vmstate read and checked, memory file opened */
	uint64_t config;   /* the stored configuration parsed */
	uint64_t create_vm, map_memory, devices, create_vcpus, set_vcpu_state, set_vm_state;
	uint64_t start_vcpus; /* threads started, parked before their first KVM_RUN */
	uint64_t seccomp;     /* the VMM thread's running-VM filter, after the resume */
	uint64_t resume;      /* resume_vm: the parked vCPUs let go */
	bool warm;	      /* the prepared shell was used (--prepare) */
};

struct json_out;
/* Each step as `,"load_snapshot_<step>":N` (then load_snapshot_warm 0/1), for the
 * metrics' latencies_us group; and as "step N, step N, ..." for the log. */
void snapshot__times_json(const struct snapshot_load_times *t, struct json_out *o);
void snapshot__times_text(const struct snapshot_load_times *t, char *buf, size_t len);

/* A snapshot being loaded: its checked vmstate and its open memory file. */
struct snapshot_load {
	struct vmstate vs;
	int mem_fd;
	struct vmstate_region regions[4];
	size_t nr_regions;
	bool clock_realtime;
	/* The Uffd backend's socket (mem_fd is then -1), or "" for a memory file. */
	char uffd_path[SNAPSHOT_UFFD_PATH_MAX];
	struct snapshot_load_times times;
};
/* Reads and checks the vmstate (container checks, then /config, /vm, every vCPU node)
 * and opens the memory file (which must cover every region; with the Uffd backend the
 * page-fault handler checks its file). EXIT_USAGE errors. */
int snapshot__open(struct snapshot_load *l, const struct snapshot_load_params *p, struct error *e);
/* The stored configuration's JSON text (points into l). */
const char *snapshot__config_json(const struct snapshot_load *l);
/* Builds vm for cfg (which must describe the snapshot's VM) from l: memory file mapped
 * in place of RAM, devices created then given their saved state, vCPUs created then
 * given theirs, irqchip, PIT and clock last. The vCPU threads are not started. The
 * caller tears down whatever was built either way (as after builder__build).
 * warm: vm is a prepared shell of cfg's shape (warm.h: VM, memory slots, irqchip,
 * vCPUs and their parked threads exist); only the memory file is mapped over its
 * RAM, at the same host address, and the state set; otherwise vm is zeroed (vm__init).
 * l->times gets each step. */
int snapshot__restore(struct vm *vm, const struct vm_config *cfg, struct snapshot_load *l,
		      struct event_loop *loop, uint64_t start_us, bool warm, struct error *e);
void snapshot__close(struct snapshot_load *l);
#define SNAPSHOT_CPU_TEMPLATE "/cpu-template"
void snapshot__save_cpu_template(struct vmstate_writer *w, const struct cpu_template *t);
/* Whether the template the vmstate records is the one cfg (read from its /config)
 * has: a snapshot whose two records disagree is refused. 0, or -1 with e. */
int snapshot__check_cpu_template(const struct vmstate *vs, const struct cpu_template *t,
				 struct error *e);
/* Creates path with #address-cells = 1 and #size-cells = 0, for children named
 * name@N with reg = <N> (dtc's rule for unit addresses). */
void snapshot__indexed_parent(struct vmstate_writer *w, const char *path);

#endif
