/* Firecracker's metrics lines: the vmm and latencies groups from the controller, the
 * devices' groups from the machine, zeros for groups nothing wrote. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/json.h"
#include "file.h"
#include "log.h"
#include "vmm_impl.h"

/* --- metrics ------------------------------------------------------------------------- */

int vmm__add_metrics_source(struct vmm *m, vmm_metrics_fn fn, void *ctx)
{
	if (m->nr_sources == VMM_MAX_METRICS_SOURCES)
		return -1;
	m->sources[m->nr_sources].fn = fn;
	m->sources[m->nr_sources].ctx = ctx;
	m->nr_sources++;
	return 0;
}

static void put_vmm_group(struct vmm *m, struct json_out *o)
{
	json_out__printf(o, ",\"vmm\":{\"uptime_us\":%llu",
			 (unsigned long long)(now_us() - m->p.start_us));
	if (m->state != VMM_NOT_STARTED) {
		json_out__printf(o, ",\"instance_start_us\":%llu",
				 (unsigned long long)(m->instance_start_us - m->p.start_us));
		if (m->machine->vmm_metrics)
			m->machine->vmm_metrics(m->p.machine_ctx, o);
	}
	json_out__raw(o, "}", 1);
}

/* Firecracker's top-level groups and their counters. A group that nothing in ember
 * wrote (no such device, or nothing counted yet) is written with zeros, so that every
 * line has the shape Firecracker's consumers parse. */
static const struct {
	const char *group;
	const char *counters; /* space-separated */
} fc_groups[] = {
    {"api_server", "process_startup_time_us process_startup_time_cpu_us"},
    {"block", "activate_fails cfg_fails no_avail_buffer event_fails execute_fails "
	      "invalid_reqs_count flush_count queue_event_count rate_limiter_event_count "
	      "update_count update_fails read_bytes write_bytes read_count write_count "
	      "rate_limiter_throttled_events io_engine_throttled_events remaining_reqs_count"},
    {"net", "activate_fails cfg_fails no_rx_avail_buffer no_tx_avail_buffer event_fails "
	    "rx_queue_event_count rx_event_rate_limiter_count rx_rate_limiter_throttled "
	    "rx_tap_event_count rx_bytes_count rx_packets_count rx_fails rx_count tap_read_fails "
	    "tap_write_fails tx_bytes_count tx_malformed_frames tx_fails tx_count "
	    "tx_packets_count tx_queue_event_count tx_rate_limiter_event_count "
	    "tx_rate_limiter_throttled tx_spoofed_mac_count tx_remaining_reqs_count"},
    {"vsock", "activate_fails cfg_fails rx_queue_event_fails tx_queue_event_fails "
	      "ev_queue_event_fails muxer_event_fails conn_event_fails rx_queue_event_count "
	      "tx_queue_event_count rx_bytes_count tx_bytes_count rx_packets_count "
	      "tx_packets_count conns_added conns_killed conns_removed killq_resync "
	      "tx_flush_fails tx_write_fails rx_read_fails"},
    {"entropy", "activate_fails entropy_event_fails entropy_event_count entropy_bytes "
		"host_rng_fails entropy_rate_limiter_throttled rate_limiter_event_count"},
    {"vcpu", "exit_io_in exit_io_out exit_mmio_read exit_mmio_write failures"},
    {"uart", "error_count flush_count missed_read_count missed_write_count read_count "
	     "write_count"},
    {"i8042", "error_count missed_read_count missed_write_count read_count reset_count "
	      "write_count"},
    {"latencies_us", "full_create_snapshot diff_create_snapshot load_snapshot pause_vm "
		     "resume_vm vmm_full_create_snapshot vmm_diff_create_snapshot "
		     "vmm_load_snapshot vmm_pause_vm vmm_resume_vm"},
    {"seccomp", "num_faults"},
    {"signals", "sigbus sigsegv sigxfsz sigxcpu sigpipe sighup sigill"},
    {"mmds", "rx_accepted rx_accepted_err rx_accepted_unusual rx_bad_eth rx_count tx_bytes "
	     "tx_count tx_errors tx_frames connections_created connections_destroyed"},
    {"balloon", "activate_fails inflate_count stats_updates_count stats_update_fails "
		"deflate_count event_fails"},
    {"interrupts", "triggers config_updates"},
};

static void put_zero_groups(struct json_out *o)
{
	for (size_t i = 0; i < sizeof(fc_groups) / sizeof(fc_groups[0]); i++) {
		char key[40];
		snprintf(key, sizeof(key), ",\"%s\":{", fc_groups[i].group);
		if (o->buf && memmem(o->buf, o->len, key, strlen(key)))
			continue;
		json_out__printf(o, "%s", key);
		const char *c = fc_groups[i].counters;
		for (bool first = true; *c; first = false) {
			size_t n = strcspn(c, " ");
			json_out__printf(o, "%s\"%.*s\":0", first ? "" : ",", (int)n, c);
			c += n + (c[n] == ' ');
		}
		json_out__raw(o, "}", 1);
	}
}

int vmm__flush_metrics(struct vmm *m, struct error *e)
{
	if (m->metrics_fd < 0)
		return error__fail(e, EXIT_USAGE,
				   "FlushMetrics: no metrics path is configured (PUT /metrics)");
	struct json_out o = {0};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_out__printf(&o, "{\"utc_timestamp_ms\":%llu",
			 (unsigned long long)ts.tv_sec * 1000ull +
			     (unsigned long long)ts.tv_nsec / 1000000ull);
	if (m->cfg->metrics.emit_id) {
		json_out__raw(&o, ",\"id\":", 6);
		json_out__str(&o, m->id);
	}
	if (m->cfg->metrics.properties[0])
		json_out__printf(&o, ",\"properties\":%s", m->cfg->metrics.properties);
	for (unsigned i = 0; i < m->nr_sources; i++)
		m->sources[i].fn(m->sources[i].ctx, &o);
	/* Lines that a full log or metrics pipe made ember drop (Firecracker's names). */
	json_out__printf(&o,
			 ",\"logger\":{\"missed_metrics_count\":%llu,\"missed_log_count\":%llu}",
			 (unsigned long long)file__dropped(FILE_SINK_METRICS),
			 (unsigned long long)file__dropped(FILE_SINK_LOG));
	put_vmm_group(m, &o);
	json_out__printf(
	    &o,
	    ",\"latencies_us\":{\"full_create_snapshot\":%llu,\"diff_create_snapshot\":%llu,"
	    "\"load_snapshot\":%llu,\"pause_vm\":%llu,\"resume_vm\":%llu",
	    (unsigned long long)m->latencies.full_create_snapshot,
	    (unsigned long long)m->latencies.diff_create_snapshot,
	    (unsigned long long)m->latencies.load_snapshot,
	    (unsigned long long)m->latencies.pause_vm, (unsigned long long)m->latencies.resume_vm);
	snapshot__times_json(&m->latencies.load, &o);
	json_out__raw(&o, "}", 1);
	if (m->state != VMM_NOT_STARTED && m->machine->metrics)
		m->machine->metrics(m->p.machine_ctx, &o);
	put_zero_groups(&o);
	json_out__raw(&o, "}\n", 2);
	int rc = 0;
	if (o.oom) {
		rc = error__fail(e, EXIT_ERROR, "FlushMetrics: out of memory");
	} else {
		if (file__write_record(m->metrics_fd, FILE_SINK_METRICS, o.buf, o.len))
			rc =
			    error__fail(e, EXIT_ERROR, "FlushMetrics: cannot write the metrics: %s",
					strerror(errno));
	}
	json_out__free(&o);
	return rc;
}
