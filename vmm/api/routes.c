#include "routes.h"

#include <stdbool.h>
#include <string.h>

static const struct {
	const char *path;
	enum api_route route;
	bool has_id; /* path is prefix + "/" + id */
} routes[] = {
    {"/", ROUTE_ROOT, false},
    {"/version", ROUTE_VERSION, false},
    {"/machine-config", ROUTE_MACHINE_CONFIG, false},
    {"/boot-source", ROUTE_BOOT_SOURCE, false},
    {"/drives", ROUTE_DRIVES, true},
    {"/network-interfaces", ROUTE_NETWORK, true},
    {"/vsock", ROUTE_VSOCK, false},
    {"/entropy", ROUTE_ENTROPY, false},
    {"/serial", ROUTE_SERIAL, false},
    {"/logger", ROUTE_LOGGER, false},
    {"/metrics", ROUTE_METRICS, false},
    {"/actions", ROUTE_ACTIONS, false},
    {"/vm", ROUTE_VM, false},
    {"/vm/config", ROUTE_VM_CONFIG, false},
    {"/balloon", ROUTE_BALLOON, false},
    {"/balloon/statistics", ROUTE_BALLOON_STATS, false},
    {"/balloon/hinting/start", ROUTE_UNSUPPORTED, false},
    {"/balloon/hinting/status", ROUTE_UNSUPPORTED, false},
    {"/balloon/hinting/stop", ROUTE_UNSUPPORTED, false},
    {"/snapshot/create", ROUTE_SNAPSHOT_CREATE, false},
    {"/snapshot/load", ROUTE_SNAPSHOT_LOAD, false},
    {"/mmds", ROUTE_MMDS, false},
    {"/mmds", ROUTE_MMDS, true}, /* /mmds/config */
    {"/cpu-config", ROUTE_CPU_CONFIG, false},
    {"/pmem", ROUTE_UNSUPPORTED, true},
    {"/hotplug/memory", ROUTE_UNSUPPORTED, false},
};

static const char *const route_metric[ROUTE_COUNT] = {
    [ROUTE_ROOT] = "instance_info",
    [ROUTE_VERSION] = "vmm_version",
    [ROUTE_MACHINE_CONFIG] = "machine_cfg",
    [ROUTE_BOOT_SOURCE] = "boot_source",
    [ROUTE_DRIVES] = "drive",
    [ROUTE_NETWORK] = "network",
    [ROUTE_VSOCK] = "vsock",
    [ROUTE_ENTROPY] = "entropy",
    [ROUTE_SERIAL] = "serial",
    [ROUTE_LOGGER] = "logger",
    [ROUTE_METRICS] = "metrics",
    [ROUTE_ACTIONS] = "actions",
    [ROUTE_VM] = "vm_state",
    [ROUTE_VM_CONFIG] = "vm_config",
    [ROUTE_SNAPSHOT_CREATE] = "snapshot_create",
    [ROUTE_SNAPSHOT_LOAD] = "snapshot_load",
    [ROUTE_BALLOON] = "balloon",
    [ROUTE_BALLOON_STATS] = "balloon_stats",
    [ROUTE_CPU_CONFIG] = "cpu_cfg",
    [ROUTE_MMDS] = "mmds",
    [ROUTE_UNSUPPORTED] = "unsupported",
    [ROUTE_UNKNOWN] = "invalid_path",
};

enum api_route routes__match(const char *path, const char **id)
{
	*id = NULL;
	/* A trailing slash is tolerated, as Firecracker does. */
	size_t n = strlen(path);
	if (n > 1 && path[n - 1] == '/')
		n--;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t pl = strlen(routes[i].path);
		if (strncmp(path, routes[i].path, pl) != 0)
			continue;
		if (!routes[i].has_id && n == pl)
			return routes[i].route;
		if (routes[i].has_id && n > pl + 1 && path[pl] == '/' &&
		    !memchr(path + pl + 1, '/', n - pl - 1)) {
			*id = path + pl + 1;
			return routes[i].route;
		}
	}
	return ROUTE_UNKNOWN;
}

void routes__metrics(void *counters, struct json_out *o)
{
	const struct route_counters *a = counters;
	static const char *const groups[] = {"get_api_requests", "put_api_requests",
					     "patch_api_requests"};
	for (int m = HTTP_GET; m <= HTTP_PATCH; m++) {
		json_out__printf(o, ",\"%s\":{", groups[m]);
		bool first = true;
		for (int r = 0; r < ROUTE_COUNT; r++) {
			if (!a->requests[r][m])
				continue;
			json_out__printf(o, "%s\"%s_count\":%llu,\"%s_fails\":%llu",
					 first ? "" : ",", route_metric[r],
					 (unsigned long long)a->requests[r][m], route_metric[r],
					 (unsigned long long)a->fails[r][m]);
			first = false;
		}
		json_out__raw(o, "}", 1);
	}
	json_out__printf(o, ",\"deprecated_api\":{\"deprecated_http_api_calls\":%llu}",
			 (unsigned long long)a->deprecated);
}
