/* The router: each request becomes one controller verb, or one body applied to a
 * copy of the configuration that the controller then checks and commits whole, so
 * a rejected request changes nothing. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balloon.h"
#include "bodies.h"
#include "cpu_config.h"
#include "mmds_api.h"
#include "snapshot_api.h"
#include "vmm.h"

/* The body a configuration route takes (by PUT, and for machine-config by PATCH). */
static const struct body *body_of(enum api_route r)
{
	switch (r) {
	case ROUTE_MACHINE_CONFIG:
		return &bodies[BODY_MACHINE];
	case ROUTE_BOOT_SOURCE:
		return &bodies[BODY_BOOT_SOURCE];
	case ROUTE_DRIVES:
		return &bodies[BODY_DRIVE];
	case ROUTE_NETWORK:
		return &bodies[BODY_NET];
	case ROUTE_VSOCK:
		return &bodies[BODY_VSOCK];
	case ROUTE_ENTROPY:
		return &bodies[BODY_ENTROPY];
	case ROUTE_SERIAL:
		return &bodies[BODY_SERIAL];
	case ROUTE_LOGGER:
		return &bodies[BODY_LOGGER];
	case ROUTE_METRICS:
		return &bodies[BODY_METRICS];
	case ROUTE_BALLOON:
		return &bodies[BODY_BALLOON];
	default:
		return NULL;
	}
}

static const char *body_path(const struct body *b)
{
	return b->key;
}

struct api *api__create(struct vmm *m)
{
	struct api *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->vmm = m;
	if (vmm__add_metrics_source(m, routes__metrics, &a->counters)) {
		free(a);
		return NULL;
	}
	return a;
}

void api__destroy(struct api *a)
{
	free(a);
}

static void set_error(struct api_response *r, int status, const char *msg)
{
	r->status = status;
	json_out__raw(&r->body, "{\"fault_message\":", 17);
	json_out__str(&r->body, msg);
	json_out__raw(&r->body, "}", 1);
}

/* Parses the body of a PUT/PATCH; it must be one JSON object. */
static int parse_body(struct api *a, struct json_doc *d, const char *body, size_t len,
		      struct error *e)
{
	if (!body || len == 0)
		return error__fail(e, EXIT_USAGE, "the request needs a JSON body");
	char why[200];
	if (json__parse(d, body, len, a->toks, API_MAX_TOKENS, why, sizeof(why)))
		return error__fail(e, EXIT_USAGE, "invalid JSON body: %s", why);
	if (d->toks[0].type != JSON_OBJECT)
		return error__fail(e, EXIT_USAGE, "the request body must be a JSON object, not %s",
				   json__type_name(d->toks[0].type));
	return 0;
}

enum action { ACTION_START, ACTION_CTRL_ALT_DEL, ACTION_FLUSH_METRICS };
static const char *const action_names[] = {"InstanceStart", "SendCtrlAltDel", "FlushMetrics", NULL};
static const struct field action_fields[] = {
    {"action_type", FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = action_names},
};

static int h_actions(struct api *a, const struct json_doc *d, struct error *e)
{
	uint32_t action;
	if (fields__decode(action_fields, 1, FIELDS_PUT, "actions", d, 0, &action, e))
		return -1;
	switch (action) {
	case ACTION_START:
		return vmm__start(a->vmm, e);
	case ACTION_CTRL_ALT_DEL:
		return vmm__ctrl_alt_del(a->vmm, e);
	default:
		return vmm__flush_metrics(a->vmm, e);
	}
}

enum vm_state_req { VM_PAUSED, VM_RESUMED };
static const char *const vm_state_names[] = {"Paused", "Resumed", NULL};
static const struct field vm_state_fields[] = {
    {"state", FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = vm_state_names},
};

static int h_vm_state(struct api *a, const struct json_doc *d, struct error *e)
{
	uint32_t state;
	if (fields__decode(vm_state_fields, 1, FIELDS_PUT, "vm", d, 0, &state, e))
		return -1;
	return state == VM_PAUSED ? vmm__pause(a->vmm, e) : vmm__resume(a->vmm, e);
}

/* Whether object `obj` of d has a member `name`. */
static bool has_member(const struct json_doc *d, unsigned obj, const char *name)
{
	unsigned k = obj + 1;
	for (uint32_t m = 0; m < d->toks[obj].count; m++) {
		if (json__string_eq(d, k, name))
			return true;
		k = d->toks[k + 1].next;
	}
	return false;
}

/* PATCH of a drive or interface after boot: a drive may get a new backing file (a
 * hot swap, as Firecracker's update_block_device) and new rate limits, an interface
 * new receive and transmit limits; a limit changes live, nothing queued is lost. */
static int h_patch_device(struct api *a, const struct json_doc *d, bool drive, const char *id,
			  struct error *e)
{
	const struct field *t = drive ? drive_patch_fields : net_patch_fields;
	const char *what = drive ? "drive" : "network-interface";
	/* The first field of both is the id, at the same place as in drive_config. */
	struct drive_config *patch = &a->patch;
	memset(patch, 0, sizeof(*patch));
	if (fields__decode(t, 3, FIELDS_PATCH, what, d, 0, patch, e))
		return -1;
	if (strcmp(patch->id, id) != 0)
		return error__fail(e, EXIT_USAGE, "%s: does not match the id in the path '%s'",
				   t[0].name, id);
	if (vmm__check_started(a->vmm, e))
		return -1;
	/* Firecracker's words: with neither field its update reaches the vhost-user path. */
	if (drive && !patch->path[0] && !has_member(d, 0, "rate_limiter"))
		return error__fail(e, EXIT_USAGE,
				   "drive: Running method expected different backend. (a PATCH "
				   "needs path_on_host or rate_limiter)");
	const struct vm_config *c = &vmm__config(a->vmm)->vm;
	bool found = false;
	if (drive) {
		for (unsigned i = 0; i < c->nr_drives; i++)
			found |= strcmp(c->drives[i].id, id) == 0;
	} else {
		for (unsigned i = 0; i < c->nr_nets; i++)
			found |= strcmp(c->nets[i].id, id) == 0;
	}
	if (!found)
		return error__fail(e, EXIT_USAGE, "%s: no %s with id '%s'", t[0].name,
				   drive ? "drive" : "network interface", id);
	/* The limiters again, over the current ones: a bucket the PATCH leaves out is
	 * kept (Firecracker's BucketUpdate::None). */
	if (drive) {
		struct rate_limiter_config rl = {0};
		for (unsigned i = 0; i < c->nr_drives; i++)
			if (strcmp(c->drives[i].id, id) == 0)
				rl = c->drives[i].rate_limiter;
		char path[sizeof(patch->path)];
		memcpy(path, patch->path, sizeof(path));
		memset(patch, 0, sizeof(*patch));
		patch->rate_limiter = rl;
		if (fields__decode(t, 3, FIELDS_PATCH, what, d, 0, patch, e))
			return -1;
		/* The file first, as Firecracker: a swap can fail, a checked limiter not. */
		if (path[0] && vmm__patch_drive(a->vmm, id, path, e))
			return -1;
		if (has_member(d, 0, "rate_limiter"))
			return vmm__patch_limiters(a->vmm, true, id, &patch->rate_limiter, NULL, e);
		return 0;
	}
	struct net_config n = {0};
	for (unsigned i = 0; i < c->nr_nets; i++)
		if (strcmp(c->nets[i].id, id) == 0)
			n = c->nets[i];
	if (fields__decode(t, 3, FIELDS_PATCH, what, d, 0, &n, e))
		return -1;
	bool rx = has_member(d, 0, "rx_rate_limiter"), tx = has_member(d, 0, "tx_rate_limiter");
	if (!rx && !tx)
		return 0;
	return vmm__patch_limiters(a->vmm, false, id, rx ? &n.rx_rate_limiter : NULL,
				   tx ? &n.tx_rate_limiter : NULL, e);
}

/* PUT /cpu-config: a custom template, which replaces whatever template was set
 * before (a static one of machine-config too), as in Firecracker. Pre-boot only. */
static int h_cpu_config(struct api *a, const struct json_doc *d, struct error *e)
{
	struct vmm_config *next = &a->scratch;
	*next = *vmm__config(a->vmm);
	if (cpu_config__decode(d, 0, &next->vm.cpu_template, e))
		return -1;
	return vmm__configure(a->vmm, next, e);
}

/* Firecracker's deprecated fields, still accepted. */
static bool deprecated_fields(const struct body *b, const struct json_doc *d)
{
	return (b == &bodies[BODY_VSOCK] && has_member(d, 0, "vsock_id")) ||
	       (b == &bodies[BODY_MACHINE] && has_member(d, 0, "cpu_template"));
}

/* Returns the status; an error message goes to e. */
static int dispatch(struct api *a, enum api_route route, enum http_method m, const char *id,
		    const char *body, size_t len, struct json_out *out, bool *deprecated,
		    struct error *e)
{
	struct json_doc d;
	const struct body *b = body_of(route);
	enum field_mode mode = FIELDS_PUT;

	switch (route) {
	case ROUTE_ROOT:
		if (m != HTTP_GET)
			break;
		json_out__raw(out, "{\"id\":", 6);
		json_out__str(out, vmm__id(a->vmm));
		json_out__printf(
		    out, ",\"state\":\"%s\",\"vmm_version\":", vmm__state_name(vmm__state(a->vmm)));
		json_out__str(out, vmm__version(a->vmm));
		json_out__raw(out, ",\"app_name\":\"ember\"}", 20);
		return 200;
	case ROUTE_VERSION:
		if (m != HTTP_GET)
			break;
		json_out__raw(out, "{\"firecracker_version\":", 23);
		json_out__str(out, vmm__version(a->vmm));
		json_out__raw(out, "}", 1);
		return 200;
	case ROUTE_VM_CONFIG:
		if (m != HTTP_GET)
			break;
		api__put_vm_config(a, out);
		return 200;
	case ROUTE_MACHINE_CONFIG:
		if (m == HTTP_GET) {
			body__encode(b, vmm__config(a->vmm), out);
			return 200;
		}
		if (m == HTTP_PATCH)
			mode = FIELDS_PATCH;
		break;
	case ROUTE_DRIVES:
	case ROUTE_NETWORK: {
		char why[ERROR_MSG_MAX];
		if ((m == HTTP_PUT || m == HTTP_PATCH) &&
		    config__check_id(route == ROUTE_DRIVES ? "drive_id" : "iface_id", id, why,
				     sizeof(why))) {
			error__from_text(e, EXIT_USAGE, why);
			return 400;
		}
		if (m == HTTP_PATCH) {
			if (parse_body(a, &d, body, len, e) ||
			    h_patch_device(a, &d, route == ROUTE_DRIVES, id, e))
				return 400;
			return 204;
		}
		break;
	}
	case ROUTE_ACTIONS:
		if (m != HTTP_PUT)
			break;
		if (parse_body(a, &d, body, len, e) || h_actions(a, &d, e))
			return 400;
		return 204;
	case ROUTE_VM:
		if (m != HTTP_PATCH)
			break;
		if (parse_body(a, &d, body, len, e) || h_vm_state(a, &d, e))
			return 400;
		return 204;
	case ROUTE_SNAPSHOT_CREATE:
	case ROUTE_SNAPSHOT_LOAD:
		if (m != HTTP_PUT)
			break;
		if (parse_body(a, &d, body, len, e) ||
		    (route == ROUTE_SNAPSHOT_CREATE ? snapshot_api__create(a, &d, e)
						    : snapshot_api__load(a, &d, e)))
			return 400;
		return 204;
	case ROUTE_BALLOON:
	case ROUTE_BALLOON_STATS:
		if (m == HTTP_GET)
			return api__balloon_get(a, route == ROUTE_BALLOON_STATS, out, e);
		if (m == HTTP_PATCH) {
			if (parse_body(a, &d, body, len, e))
				return 400;
			return api__balloon_patch(a, route == ROUTE_BALLOON_STATS, &d, e);
		}
		break; /* PUT /balloon is a configuration body; others get 405 */
	case ROUTE_CPU_CONFIG:
		if (m != HTTP_PUT)
			break;
		if (vmm__check_configurable(a->vmm, e) || parse_body(a, &d, body, len, e))
			return 400;
		return h_cpu_config(a, &d, e) ? 400 : 204;
	case ROUTE_MMDS:
		if (id && strcmp(id, "config") != 0) {
			error__fail(e, EXIT_USAGE, "Unrecognized %s request path `%s`.",
				    http__method_name(m), id);
			return 400;
		}
		return api__mmds(a, m, id != NULL, body, len, out, deprecated, e);
	case ROUTE_UNSUPPORTED:
		error__fail(e, EXIT_USAGE, "%s is not supported by ember yet",
			    id ? "/pmem" : "this endpoint");
		return 400;
	case ROUTE_BOOT_SOURCE:
	case ROUTE_VSOCK:
	case ROUTE_ENTROPY:
	case ROUTE_SERIAL:
	case ROUTE_LOGGER:
	case ROUTE_METRICS:
		break;
	default:
		error__fail(e, EXIT_USAGE, "Invalid request method and/or path: %s",
			    http__method_name(m));
		return 400;
	}
	/* Firecracker's router has no PATCH for these paths: its generic refusal. */
	if (b && m == HTTP_PATCH && mode != FIELDS_PATCH) {
		error__fail(e, EXIT_USAGE, "Invalid request method and/or path: PATCH %s.",
			    body_path(b));
		return 400;
	}
	if (!b || (m != HTTP_PUT && !(m == HTTP_PATCH && mode == FIELDS_PATCH))) {
		error__fail(e, EXIT_USAGE, "method %s is not allowed on this path",
			    m == HTTP_OTHER ? "(unknown)" : http__method_name(m));
		return 405;
	}
	if (vmm__check_configurable(a->vmm, e))
		return 400;
	struct vmm_config *next = &a->scratch;
	config__assign(next, vmm__config(a->vmm), sizeof(*next));
	if (parse_body(a, &d, body, len, e))
		return 400;
	*deprecated = deprecated_fields(b, &d);
	if (body__apply(b, mode, &d, 0, id, next, e) || vmm__configure(a->vmm, next, e))
		return 400;
	return 204;
}

enum api_route api__route(const char *path)
{
	const char *id;
	return routes__match(path, &id);
}

void api__handle(struct api *a, enum http_method method, const char *path, const char *body,
		 size_t len, struct api_response *resp)
{
	const char *id;
	enum api_route route = routes__match(path, &id);
	struct error e = {0};
	resp->status = 0;
	resp->body = (struct json_out){0};
	resp->deprecated = false;
	int status = dispatch(a, route, method, id, body, len, &resp->body, &resp->deprecated, &e);
	a->counters.requests[route][method]++;
	a->counters.deprecated += resp->deprecated;
	if (status >= 400) {
		a->counters.fails[route][method]++;
		json_out__free(&resp->body);
		if (route == ROUTE_UNKNOWN) {
			char msg[HTTP_MAX_PATH + ERROR_MSG_MAX + 2];
			snprintf(msg, sizeof(msg), "%s %s", e.msg, path);
			set_error(resp, status, msg);
		} else {
			set_error(resp, status, e.msg);
		}
		pr_debug("api: %s %s -> %d: %s", http__method_name(method), path, status, e.msg);
	} else {
		resp->status = status;
		if (status == 204)
			json_out__free(&resp->body);
	}
	if (resp->body.oom) {
		json_out__free(&resp->body);
		resp->status = 500;
	}
}
