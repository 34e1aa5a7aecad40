/* The API's paths: which route a path is, and each route's name in the metrics. */
#ifndef EMBER_API_ROUTES_H
#define EMBER_API_ROUTES_H

#include "api.h"

/* Matches path against the route table; *id points into path for routes with an id
 * (/drives/{id}, ...), else NULL. */
enum api_route routes__match(const char *path, const char **id);
/* Appends the request counters as Firecracker's {get,put,patch}_api_requests groups;
 * a vmm_metrics_fn for the api. */
void routes__metrics(void *api, struct json_out *o);

#endif
