/* The API's paths: which route a path is, and the request counters per route,
 * written in the metrics under Firecracker's names. */
#ifndef EMBER_API_ROUTES_H
#define EMBER_API_ROUTES_H

#include <stdint.h>

#include "http.h"
#include "json.h"

enum api_route {
	ROUTE_ROOT,
	ROUTE_VERSION,
	ROUTE_MACHINE_CONFIG,
	ROUTE_BOOT_SOURCE,
	ROUTE_DRIVES,
	ROUTE_NETWORK,
	ROUTE_VSOCK,
	ROUTE_ENTROPY,
	ROUTE_SERIAL,
	ROUTE_LOGGER,
	ROUTE_METRICS,
	ROUTE_ACTIONS,
	ROUTE_VM,
	ROUTE_VM_CONFIG,
	ROUTE_SNAPSHOT_CREATE,
	ROUTE_SNAPSHOT_LOAD,
	ROUTE_BALLOON,
	ROUTE_BALLOON_STATS,
	ROUTE_CPU_CONFIG,
	ROUTE_MMDS,
	ROUTE_UNSUPPORTED,
	ROUTE_UNKNOWN,
	ROUTE_COUNT,
};

struct route_counters {
	uint64_t requests[ROUTE_COUNT][4]; /* by enum http_method */
	uint64_t fails[ROUTE_COUNT][4];
	uint64_t deprecated; /* requests that used a deprecated field */
};

/* Matches path against the route table; *id points into path for routes with an id
 * (/drives/{id}, ...), else NULL. */
enum api_route routes__match(const char *path, const char **id);
/* Appends the counters as Firecracker's {get,put,patch}_api_requests groups; a
 * vmm_metrics_fn whose ctx is a struct route_counters. */
void routes__metrics(void *counters, struct json_out *o);

#endif
