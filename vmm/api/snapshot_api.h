/* PUT /snapshot/create and PUT /snapshot/load: their bodies (Firecracker's
 * SnapshotCreateParams and SnapshotLoadParams) and the configuration a snapshot
 * records. */
#ifndef EMBER_API_SNAPSHOT_H
#define EMBER_API_SNAPSHOT_H

#include "api.h"
#include "snapshot.h"

/* Decode a body (object token 0 of d); every unknown, mistyped or unsupported member
 * and every bad combination is an error that names it. Unit-tested. */
int snapshot_api__decode_create(const struct json_doc *d, struct snapshot_create_params *p,
				struct error *e);
int snapshot_api__decode_load(const struct json_doc *d, struct snapshot_load_params *p,
			      struct error *e);
/* The configuration a snapshot records: GET /vm/config without logger and metrics,
 * which belong to the process that loads it. */
void snapshot_api__config_json(const struct vmm_config *c, struct json_out *o);
/* The snapshot's configuration with the load's overrides applied onto c (which holds
 * the loading process's logger and metrics). */
int snapshot_api__apply_overrides(const struct snapshot_load_params *p, struct vmm_config *c,
				  struct error *e);

/* The handlers: body already parsed into d. */
int snapshot_api__create(struct api *a, const struct json_doc *d, struct error *e);
int snapshot_api__load(struct api *a, const struct json_doc *d, struct error *e);

#endif
