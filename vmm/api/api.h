/* The Firecracker-compatible API: routes, request bodies -> vm_config, actions,
 * the JSON config file and metrics. Everything here runs on the VMM thread (the
 * API server thread only moves bytes), so the state needs no lock. */
#ifndef EMBER_API_H
#define EMBER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "json.h"
#include "log.h"

/* Most tokens a request body or config file may hold; bodies are at most 50 KiB. */
#define API_MAX_TOKENS 4096

enum api_state { API_NOT_STARTED, API_RUNNING, API_PAUSED };

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
	ROUTE_UNSUPPORTED,
	ROUTE_UNKNOWN,
	ROUTE_COUNT,
};

struct api_logger {
	bool configured;
	char path[CONFIG_PATH_MAX]; /* "" = stderr */
	enum log_level level;
	bool show_level, show_log_origin;
	bool off; /* "Off" was asked for: logs like "Error", GET reports "Off" */
};

#define API_METRICS_PROPS_MAX 4096

struct api_metrics {
	bool configured;
	char path[CONFIG_PATH_MAX];
	bool emit_id;
	char properties[API_METRICS_PROPS_MAX]; /* raw JSON object text, "" = none */
};

/* Everything a request may change. A request is applied to a copy, which is
 * validated and committed whole, so a rejected request changes nothing. */
struct api_config {
	struct vm_config vm;
	bool track_dirty_pages;
	struct api_logger logger;
	struct api_metrics metrics;
};

/* What the VMM does for actions. Each returns 0, or -1 with a reason in err. */
struct api_ops {
	int (*start)(void *ctx, const struct vm_config *cfg, char *err, size_t errlen);
	int (*ctrl_alt_del)(void *ctx, char *err, size_t errlen);
	int (*pause)(void *ctx, char *err, size_t errlen);
	int (*resume)(void *ctx, char *err, size_t errlen);
	/* Appends `,"name":{...}` members about the VM and devices to a metrics line. */
	void (*metrics)(void *ctx, struct json_out *o);
};

struct api {
	struct api_config cfg;
	struct api_config scratch;
	enum api_state state;
	char id[CONFIG_ID_MAX + 1];
	const char *version;
	const struct api_ops *ops;
	void *ctx;
	int metrics_fd;
	/* Validate logger/metrics/serial bodies without opening their files, for the
	 * fuzzer, which must not create files wherever its input says. */
	bool dry_files;
	uint64_t requests[ROUTE_COUNT][4]; /* by enum http_method */
	uint64_t fails[ROUTE_COUNT][4];
	struct json_tok toks[API_MAX_TOKENS];
};

struct api_response {
	int status;
	struct json_out body; /* JSON, or empty */
};

/* `initial` is what the command line configured (may be NULL); ops may be NULL
 * (every action then fails). The caller owns `a`; it is large, so heap it. */
void api__init(struct api *a, const struct vm_config *initial, const char *id, const char *version,
	       const struct api_ops *ops, void *ctx);
void api__destroy(struct api *a);

/* Handles one request; resp->body must be freed by the caller (json_out__free). */
void api__handle(struct api *a, enum http_method method, const char *path, const char *body,
		 size_t len, struct api_response *resp);
enum api_route api__route(const char *path);

/* Applies a config file (the shape of GET /vm/config) with the API's parsers and
 * validators. Returns 0, or -1 with a one-line reason in err; nothing is applied
 * then. A config file also needs a boot source. */
int api__load_config(struct api *a, const char *json, size_t len, char *err, size_t errlen);
int api__load_config_file(struct api *a, const char *path, char *err, size_t errlen);

/* InstanceStart without a request (a VM started from the command line or a
 * config file): validates, starts through ops->start, and marks the VM running. */
int api__start(struct api *a, char *err, size_t errlen);

/* Opens the metrics file, as PUT /metrics with only metrics_path does, but is not
 * counted as an API request. */
int api__set_metrics(struct api *a, const char *path, char *err, size_t errlen);

/* Appends one JSON line to the metrics file; -1 with err if none is configured
 * or the write fails. */
int api__flush_metrics(struct api *a, char *err, size_t errlen);

#endif
