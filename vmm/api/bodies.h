/* The configuration bodies of the API (and sections of the config file): each is a
 * field table plus where its values live in struct vmm_config. */
#ifndef EMBER_API_BODIES_H
#define EMBER_API_BODIES_H

#include "config.h"
#include "fields.h"

#define BODY_NO_FLAG ((size_t)-1)

struct body {
	const char *key;  /* member of the config file and of GET /vm/config */
	const char *what; /* names the body in errors */
	const struct field *fields;
	size_t nr_fields;
	/* Singletons: the fields' offsets are into struct vmm_config. A PUT sets the
	 * bool at put_flag_off (BODY_NO_FLAG: none); GET /vm/config shows null while
	 * the byte at shown_off (that bool, or a string's first byte) is 0. */
	size_t put_flag_off;
	size_t shown_off;
	/* Arrays (drives, network-interfaces): the fields' offsets are into one
	 * element; the first field is its id. */
	bool array;
	size_t array_off, count_off, elem_size;
	unsigned max;
	const char *plural; /* "at most 8 drives" */
	bool hidden;	    /* not part of GET /vm/config */
	/* Set only once: a PUT after the first is refused with this reason. */
	const char *once;
	/* Rules across fields or against the route's id; NULL = none. */
	int (*check)(struct vmm_config *c, const void *elem, const char *path_id, struct error *e);
};

enum body_id {
	BODY_BOOT_SOURCE,
	BODY_MACHINE,
	BODY_DRIVE,
	BODY_NET,
	BODY_VSOCK,
	BODY_ENTROPY,
	BODY_LOGGER,
	BODY_METRICS,
	BODY_SERIAL,
	BODY_BALLOON,
	BODY_COUNT,
};

/* In GET /vm/config order. */
extern const struct body bodies[BODY_COUNT];

/* PATCH bodies of a drive and an interface after start. */
extern const struct field drive_patch_fields[3];
extern const struct field net_patch_fields[3];

/* PATCH /balloon and PATCH /balloon/statistics: offsets into struct vmm_config. */
extern const struct field balloon_patch_fields[1];
extern const struct field balloon_stats_patch_fields[1];

/* Applies one body to c: PUT (or a config-file section) or PATCH. path_id is the
 * id of /drives/{id} and /network-interfaces/{id} (NULL from a config file).
 * On failure c may be half-changed: apply to a copy. */
int body__apply(const struct body *b, enum field_mode mode, const struct json_doc *d, unsigned obj,
		const char *path_id, struct vmm_config *c, struct error *e);
/* Appends the body's GET form: an object, an array, or null. */
void body__encode(const struct body *b, const struct vmm_config *c, struct json_out *o);

#endif
