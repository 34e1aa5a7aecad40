/* The balloon's routes besides PUT /balloon (a body like the others, bodies.c). */
#ifndef EMBER_API_BALLOON_H
#define EMBER_API_BALLOON_H

#include <stdbool.h>

#include "api.h"

/* GET /balloon (stats false) or /balloon/statistics; returns the HTTP status. */
int api__balloon_get(struct api *a, bool stats, struct json_out *out, struct error *e);
/* PATCH of either, body already parsed: the configuration before start, the
 * running device after. Returns the HTTP status. */
int api__balloon_patch(struct api *a, bool stats, const struct json_doc *d, struct error *e);

#endif
