/* The controller's state, shared by its two files: vmm.c (configuration, lifecycle,
 * balloon) and vmm_metrics.c (Firecracker's metrics lines). Not part of vmm.h's API. */
#ifndef EMBER_VMM_IMPL_H
#define EMBER_VMM_IMPL_H

#include "snapshot.h"
#include "vmm.h"

#define VMM_MAX_METRICS_SOURCES 4

struct vmm {
	/* The command line's allocation, taken over (vmm_params.initial), or its own. */
	struct vmm_config *cfg;
	enum vmm_state state;
	char id[CONFIG_ID_MAX + 1];
	struct vmm_params p;
	const struct vmm_machine *machine;
	uint64_t instance_start_us;
	int metrics_fd;
	int timer_fd;
	struct {
		vmm_metrics_fn fn;
		void *ctx;
	} sources[VMM_MAX_METRICS_SOURCES];
	unsigned nr_sources;
	/* Firecracker's latencies_us group: the last of each, in microseconds. */
	struct {
		uint64_t full_create_snapshot, diff_create_snapshot, load_snapshot;
		uint64_t pause_vm, resume_vm;
		struct snapshot_load_times load; /* the last load's steps */
	} latencies;
	/* A candidate being checked; too big for the stack. Last: the fields above share
	 * a page, and a start touches none of this one's (issue 16). */
	struct vmm_config scratch;
};

#endif
