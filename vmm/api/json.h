/* Strict JSON (RFC 8259): a parser into a flat token array and a small writer.
 * The API's request bodies and the config file are parsed here; responses and
 * metrics are written here. */
#ifndef EMBER_JSON_H
#define EMBER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

/* Tokens are stored in document order. An object's children alternate key (a
 * string) and value; `next` is the index just past a token's whole subtree, so
 * siblings are reached by following it. */
struct json_tok {
	uint8_t type;
	uint32_t start; /* byte offset of the value's text (strings: after the quote) */
	uint32_t len;	/* raw length (strings: between the quotes, escapes undecoded) */
	uint32_t next;
	uint32_t count; /* arrays: elements; objects: members */
};

#define JSON_MAX_DEPTH 32

struct json_doc {
	const char *text;
	struct json_tok *toks;
	unsigned ntoks;
};

/* Parses exactly one value (surrounded only by whitespace) from text[0..len).
 * Returns 0, or -1 with "offset N: reason" in err. */
int json__parse(struct json_doc *doc, const char *text, size_t len, struct json_tok *toks,
		unsigned cap, char *err, size_t errlen);

const char *json__type_name(enum json_type t);

/* Decodes string token i into out (NUL-terminated). -1 if it does not fit or
 * holds U+0000 (which a C string cannot carry). */
int json__string(const struct json_doc *doc, unsigned i, char *out, size_t outlen);
/* Whether string token i decodes to exactly s. */
bool json__string_eq(const struct json_doc *doc, unsigned i, const char *s);

enum { JSON_ENOTINT = -1, JSON_ERANGE = -2 };
/* Number token i as an unsigned integer <= max: no sign, fraction or exponent.
 * Returns 0, JSON_ENOTINT or JSON_ERANGE (negative integers are out of range). */
int json__u64(const struct json_doc *doc, unsigned i, uint64_t max, uint64_t *out);

/* A growable output buffer. Allocation failure is sticky and reported at the end. */
struct json_out {
	char *buf;
	size_t len, cap;
	bool oom;
};

void json_out__raw(struct json_out *o, const char *s, size_t n);
void json_out__printf(struct json_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a quoted, escaped JSON string. */
void json_out__str(struct json_out *o, const char *s);
void json_out__free(struct json_out *o);

#endif
