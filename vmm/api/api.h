/* The Firecracker-compatible API: routes requests to the controller's verbs and
 * (de)serialises bodies through the field tables (bodies.h); it holds no VM state
 * of its own beyond its request counters. Everything here runs on the VMM thread
 * (the API server thread only moves bytes). */
#ifndef EMBER_API_H
#define EMBER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "http.h"
#include "json.h"
#include "routes.h"

struct vmm;

/* Most tokens a request body or config file may hold; bodies are at most 50 KiB. */
#define API_MAX_TOKENS 4096

struct api {
	struct vmm *vmm;
	struct vmm_config scratch; /* the candidate a request builds */
	struct drive_config patch; /* a PATCH of a drive or interface */
	struct route_counters counters;
	struct json_tok toks[API_MAX_TOKENS];
};

struct api_response {
	int status;
	struct json_out body; /* JSON, or empty */
	/* The request used a deprecated field (vsock_id, cpu_template): Firecracker
	 * answers with a `Deprecation: true` header. */
	bool deprecated;
};

/* The API of controller m; its request counters join m's metrics. NULL if out of
 * memory. */
struct api *api__create(struct vmm *m);
void api__destroy(struct api *a);

/* Handles one request; resp->body must be freed by the caller (json_out__free). */
void api__handle(struct api *a, enum http_method method, const char *path, const char *body,
		 size_t len, struct api_response *resp);
enum api_route api__route(const char *path);

/* Applies a config file (the shape of GET /vm/config) through the same field tables
 * as the API. It needs a boot source. 0, or -1 with e (EXIT_USAGE); nothing is
 * applied then. */
int api__load_config(struct api *a, const char *json, size_t len, struct error *e);
/* The parse of api__load_config alone: the document's sections applied onto c, no
 * checks across them, nothing configured. */
int api__parse_config(struct api *a, const char *json, size_t len, struct vmm_config *c,
		      struct error *e);
int api__load_config_file(struct api *a, const char *path, struct error *e);

/* Appends the GET /vm/config document. */
void api__put_vm_config(const struct api *a, struct json_out *o);

#endif
