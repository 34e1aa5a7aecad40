/* /mmds and /mmds/config, and the mmds-config section of GET /vm/config and the
 * config file. */
#ifndef EMBER_API_MMDS_H
#define EMBER_API_MMDS_H

#include "api.h"

/* Decodes an MmdsConfig object (token obj of d) into m: version, network_interfaces
 * (required), ipv4_address, imds_compat. Cross checks are config__validate's. */
int api__mmds_config_decode(const struct json_doc *d, unsigned obj, struct mmds_config *m,
			    struct error *e);
/* The section as GET /vm/config shows it: null when not configured. */
void api__mmds_config_encode(const struct mmds_config *m, struct json_out *o);
/* A request on /mmds (config false) or /mmds/config; returns the status, the error
 * in e for 4xx. */
int api__mmds(struct api *a, enum http_method m, bool config, const char *body, size_t len,
	      struct json_out *out, bool *deprecated, struct error *e);

/* --metadata FILE: the file's JSON becomes the data store, as a PUT /mmds. */
int api__load_metadata(const char *path, struct error *e);

#endif
