/* Field tables: one row per JSON member of a request body, naming where the value
 * lives (offsetof) and how it is checked. The same rows decode PUT and PATCH bodies
 * and config-file sections, and encode GET /machine-config and GET /vm/config, so
 * adding a field is one row. */
#ifndef EMBER_API_FIELDS_H
#define EMBER_API_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "json.h"

enum field_kind {
	FIELD_U32,	   /* number -> uint32_t/unsigned, min..max */
	FIELD_U64,	   /* number -> uint64_t, min..max */
	FIELD_BOOL,	   /* bool -> bool */
	FIELD_STR,	   /* string -> char[size] */
	FIELD_PATH,	   /* string -> char[size], not empty */
	FIELD_MAC,	   /* "xx:xx:xx:xx:xx:xx" -> uint8_t[6]; flag_off: has_mac */
	FIELD_LOG_LEVEL,   /* Firecracker's level names -> enum log_level; flag_off: "off" */
	FIELD_JSON_OBJECT, /* object of strings -> its compact text in char[size] */
	FIELD_ENUM,	   /* one of choices -> its index, uint32_t */
	FIELD_CHOICE,	   /* one of choices; accepted, not stored; GET shows choices[0] */
	FIELD_IGNORED,	   /* string accepted for Firecracker clients, not stored */
	FIELD_UNSUPPORTED, /* only absent or null: "not supported yet" */
	/* Firecracker's RateLimiter {bandwidth, ops} -> struct rate_limiter_config; a
	 * PATCH keeps a bucket it does not give; GET: null when it limits nothing. */
	FIELD_RATE_LIMITER,
	/* Firecracker's TokenBucket {size, one_time_burst, refill_time} -> struct
	 * token_bucket_config; GET: null when it limits nothing. */
	FIELD_TOKEN_BUCKET,
};

#define FIELD_REQUIRED	   0x1u	 /* in every body that uses the table */
#define FIELD_PUT_REQUIRED 0x2u	 /* in PUT and the config file, not in PATCH */
#define FIELD_OMIT_EMPTY   0x4u	 /* GET leaves an empty string out */
#define FIELD_HIDDEN	   0x8u	 /* GET leaves it out */
#define FIELD_KEEP	   0x10u /* a PUT without it keeps the value (else: reset) */
#define FIELD_NULL_EMPTY   0x20u /* GET shows null for an empty string or an unsupported field */
/* Guest memory in MiB: anything above the host's cap (a number too large for 64 bits
 * too) is refused with config__mem_cap_error's message, as validation refuses it. */
#define FIELD_MEM_CAP	0x80u
#define FIELD_OMIT_ZERO 0x40u /* ENUM: GET leaves out choice 0 and values past the choices */

/* flag_off of a field without a flag (no flag is the first member of a body). */
#define FIELD_NO_FLAG 0

struct field {
	const char *name;
	enum field_kind kind;
	/* The JSON type on the wire when it is not the kind's own (FIELD_UNSUPPORTED
	 * defaults to an object: rate limiters); JSON_NULL = the kind's. */
	enum json_type json;
	size_t off;  /* into the body's struct */
	size_t size; /* strings: the buffer's size */
	unsigned flags;
	uint64_t min, max; /* numbers */
	uint64_t dflt;	   /* what a PUT without the field sets (numbers, levels) */
	/* STR, MAC: a bool set when the field is given, and GET shows the field only
	 * then; LOG_LEVEL: the bool that says "Off" was given. */
	size_t flag_off;
	const char *const *choices; /* FIELD_ENUM, FIELD_CHOICE: NULL-terminated */
	/* Runs after every field of the body is stored; sets e and returns -1 to refuse. */
	int (*check)(const struct field *f, const void *body, struct error *e);
};

#define FIELD_TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))

enum field_mode { FIELDS_PUT, FIELDS_PATCH };

/* Decodes object token `obj` into `body` by the table: unknown, repeated, mistyped
 * and missing members are errors naming the field. PUT resets the fields it does not
 * give (except FIELD_KEEP ones); PATCH changes only the fields it gives. `what`
 * names the body in errors. On failure body may be half-written: decode into a copy. */
int fields__decode(const struct field *t, size_t n, enum field_mode mode, const char *what,
		   const struct json_doc *d, unsigned obj, void *body, struct error *e);
/* Writes `body` as a JSON object by the table. */
void fields__encode(const struct field *t, size_t n, const void *body, struct json_out *o);

#endif
