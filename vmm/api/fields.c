#include "fields.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"

#define MAX_FIELDS 16

static const char *const level_names[] = {"Error", "Warning", "Info", "Debug",
					  "Trace", "Off",     "Warn", NULL};

static void *at(void *body, size_t off)
{
	return (char *)body + off;
}

static const void *cat(const void *body, size_t off)
{
	return (const char *)body + off;
}

static enum json_type wire_type(const struct field *f)
{
	if (f->json != JSON_NULL)
		return f->json;
	switch (f->kind) {
	case FIELD_U32:
	case FIELD_U64:
		return JSON_NUMBER;
	case FIELD_BOOL:
		return JSON_BOOL;
	case FIELD_JSON_OBJECT:
	case FIELD_UNSUPPORTED:
	case FIELD_RATE_LIMITER:
	case FIELD_TOKEN_BUCKET:
		return JSON_OBJECT;
	default:
		return JSON_STRING;
	}
}

static bool required(const struct field *f, enum field_mode mode)
{
	return (f->flags & FIELD_REQUIRED) ||
	       (mode == FIELDS_PUT && (f->flags & FIELD_PUT_REQUIRED));
}

static int get_str(const struct json_doc *d, unsigned tok, const struct field *f, char *out,
		   size_t outlen, struct error *e)
{
	if (json__string(d, tok, out, outlen))
		return error__fail(e, EXIT_USAGE,
				   "%s: longer than %zu bytes or holds a NUL character", f->name,
				   outlen - 1);
	return 0;
}

/* "name: 'v' is not one of A, B" */
static int not_one_of(const struct json_doc *d, unsigned tok, const struct field *f,
		      const char *const *choices, struct error *e)
{
	char v[64];
	if (json__string(d, tok, v, sizeof(v)))
		snprintf(v, sizeof(v), "(long value)");
	error__fail(e, EXIT_USAGE, "%s: '%s' is not one of", f->name, v);
	size_t n = strlen(e->msg);
	for (int i = 0; choices[i] && n < sizeof(e->msg); i++) {
		snprintf(e->msg + n, sizeof(e->msg) - n, "%s %s", i ? "," : "", choices[i]);
		n = strlen(e->msg);
	}
	return -1;
}

/* Copies validated JSON text without the whitespace outside strings; -1 if it does not fit. */
static int compact_json(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
		} else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			continue;
		} else if (ch == '"') {
			in_str = true;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = ch;
	}
	out[o] = '\0';
	return 0;
}

static int get_number(const struct json_doc *d, unsigned tok, const struct field *f, uint64_t *out,
		      struct error *e)
{
	const struct json_tok *t = &d->toks[tok];
	int rc = json__u64(d, tok, f->max, out);
	int shown = (int)(t->len > 40 ? 40 : t->len);
	if (rc == JSON_ENOTINT)
		return error__fail(e, EXIT_USAGE, "%s: %.*s is not an integer", f->name, shown,
				   d->text + t->start);
	if ((f->flags & FIELD_MEM_CAP) && rc != JSON_ERANGE && *out < f->min)
		return error__fail(e, EXIT_USAGE, "%s: %.*s is out of range %llu..%llu", f->name,
				   shown, d->text + t->start, (unsigned long long)f->min,
				   (unsigned long long)config__mem_max_mib());
	if ((f->flags & FIELD_MEM_CAP) && (rc == JSON_ERANGE || *out > config__mem_max_mib())) {
		char num[48], why[ERROR_MSG_MAX];
		snprintf(num, sizeof(num), "%.*s", shown, d->text + t->start);
		config__mem_cap_error(num, why, sizeof(why));
		return error__from_text(e, EXIT_USAGE, why);
	}
	if (rc == JSON_ERANGE || *out < f->min)
		return error__fail(e, EXIT_USAGE, "%s: %.*s is out of range %llu..%llu", f->name,
				   shown, d->text + t->start, (unsigned long long)f->min,
				   (unsigned long long)f->max);
	return 0;
}

/* The limiters' own tables: a bucket is always given whole (size and refill_time
 * required, as in Firecracker's schema), a limiter's buckets one by one. */
#define TB(m) offsetof(struct token_bucket_config, m)
static const struct field bucket_fields[] = {
    {.name = "size",
     .kind = FIELD_U64,
     .off = TB(size),
     .flags = FIELD_REQUIRED,
     .max = UINT64_MAX},
    {.name = "one_time_burst", .kind = FIELD_U64, .off = TB(one_time_burst), .max = UINT64_MAX},
    {.name = "refill_time",
     .kind = FIELD_U64,
     .off = TB(refill_time),
     .flags = FIELD_REQUIRED,
     .max = UINT64_MAX},
};
static const struct field limiter_fields[] = {
    {.name = "bandwidth",
     .kind = FIELD_TOKEN_BUCKET,
     .off = offsetof(struct rate_limiter_config, bandwidth)},
    {.name = "ops", .kind = FIELD_TOKEN_BUCKET, .off = offsetof(struct rate_limiter_config, ops)},
};

static bool bucket_limits(const struct token_bucket_config *b)
{
	return b->size && b->refill_time;
}

static bool limiter_limits(const struct rate_limiter_config *rl)
{
	return bucket_limits(&rl->bandwidth) || bucket_limits(&rl->ops);
}

static void encode_bucket(const struct token_bucket_config *b, struct json_out *o)
{
	if (!bucket_limits(b)) {
		json_out__raw(o, "null", 4);
		return;
	}
	json_out__printf(o, "{\"size\":%llu,\"one_time_burst\":%llu,\"refill_time\":%llu}",
			 (unsigned long long)b->size, (unsigned long long)b->one_time_burst,
			 (unsigned long long)b->refill_time);
}

static void encode_limiter(const struct rate_limiter_config *rl, struct json_out *o)
{
	if (!limiter_limits(rl)) {
		json_out__raw(o, "null", 4);
		return;
	}
	json_out__raw(o, "{\"bandwidth\":", 13);
	encode_bucket(&rl->bandwidth, o);
	json_out__raw(o, ",\"ops\":", 7);
	encode_bucket(&rl->ops, o);
	json_out__raw(o, "}", 1);
}

/* A nested object's error, led by the member's name once. */
static int named(struct error *e, const char *name)
{
	size_t n = strlen(name);
	if (e && !(strncmp(e->msg, name, n) == 0 && e->msg[n] == ':'))
		error__wrap(e, "%s", name);
	return -1;
}

/* Stores the value of token tok (of the right JSON type) into body. */
static int store(const struct field *f, const struct json_doc *d, unsigned tok, void *body,
		 enum field_mode mode, struct error *e)
{
	uint64_t v;
	char s[CONFIG_PATH_MAX];
	switch (f->kind) {
	case FIELD_U32:
		if (get_number(d, tok, f, &v, e))
			return -1;
		*(uint32_t *)at(body, f->off) = (uint32_t)v;
		return 0;
	case FIELD_U64:
		if (get_number(d, tok, f, &v, e))
			return -1;
		*(uint64_t *)at(body, f->off) = v;
		return 0;
	case FIELD_BOOL:
		*(bool *)at(body, f->off) = d->text[d->toks[tok].start] == 't';
		return 0;
	case FIELD_STR:
	case FIELD_PATH: {
		size_t cap = f->size < sizeof(s) ? f->size : sizeof(s);
		if (get_str(d, tok, f, s, cap, e))
			return -1;
		if (f->kind == FIELD_PATH && !s[0])
			return error__fail(e, EXIT_USAGE, "%s: must not be empty", f->name);
		memcpy(at(body, f->off), s, strlen(s) + 1);
		if (f->flag_off != FIELD_NO_FLAG)
			*(bool *)at(body, f->flag_off) = true;
		return 0;
	}
	case FIELD_MAC:
		if (json__string(d, tok, s, 32) || config__parse_mac(s, at(body, f->off)))
			return error__fail(e, EXIT_USAGE,
					   "%s: not a MAC address (xx:xx:xx:xx:xx:xx)", f->name);
		*(bool *)at(body, f->flag_off) = true;
		return 0;
	case FIELD_LOG_LEVEL: {
		enum log_level level;
		if (json__string(d, tok, s, 16) || log__level_from_name(s, &level))
			return not_one_of(d, tok, f, level_names, e);
		*(enum log_level *)at(body, f->off) = level;
		*(bool *)at(body, f->flag_off) = strcasecmp(s, "off") == 0;
		return 0;
	}
	case FIELD_JSON_OBJECT: {
		const struct json_tok *p = &d->toks[tok];
		for (unsigned k = tok + 2; k < p->next; k = d->toks[k].next + 1)
			if (d->toks[k].type != JSON_STRING)
				return error__fail(e, EXIT_USAGE, "%s: values must be strings",
						   f->name);
		/* Kept compacted: it is written inside one-object-per-line output. */
		if (compact_json(d->text + p->start, p->len, at(body, f->off), f->size))
			return error__fail(e, EXIT_USAGE, "%s: longer than %zu bytes", f->name,
					   f->size - 1);
		return 0;
	}
	case FIELD_ENUM:
	case FIELD_CHOICE:
		for (uint32_t i = 0; f->choices[i]; i++) {
			if (!json__string_eq(d, tok, f->choices[i]))
				continue;
			if (f->kind == FIELD_ENUM)
				*(uint32_t *)at(body, f->off) = i;
			return 0;
		}
		return not_one_of(d, tok, f, f->choices, e);
	case FIELD_IGNORED:
		return get_str(d, tok, f, s, f->size ? f->size : 128, e);
	case FIELD_UNSUPPORTED:
		return error__fail(e, EXIT_USAGE, "%s: not supported yet", f->name);
	case FIELD_RATE_LIMITER: {
		/* Decoded into a copy: a refused limiter changes nothing. {} is no limit. */
		struct rate_limiter_config rl = *(struct rate_limiter_config *)at(body, f->off);
		if (fields__decode(limiter_fields, FIELD_TABLE_LEN(limiter_fields), mode, f->name,
				   d, tok, &rl, e))
			return named(e, f->name);
		*(struct rate_limiter_config *)at(body, f->off) = rl;
		return 0;
	}
	case FIELD_TOKEN_BUCKET: {
		struct token_bucket_config b = {0};
		if (fields__decode(bucket_fields, FIELD_TABLE_LEN(bucket_fields), FIELDS_PUT,
				   f->name, d, tok, &b, e))
			return named(e, f->name);
		*(struct token_bucket_config *)at(body, f->off) = b;
		return 0;
	}
	}
	return 0;
}

/* What a PUT without the field leaves. */
static void reset(const struct field *f, void *body)
{
	if (f->flags & FIELD_KEEP)
		return;
	switch (f->kind) {
	case FIELD_U32:
	case FIELD_ENUM:
		*(uint32_t *)at(body, f->off) = (uint32_t)f->dflt;
		break;
	case FIELD_U64:
		*(uint64_t *)at(body, f->off) = f->dflt;
		break;
	case FIELD_BOOL:
		*(bool *)at(body, f->off) = f->dflt != 0;
		break;
	case FIELD_STR:
	case FIELD_PATH:
	case FIELD_JSON_OBJECT:
		memset(at(body, f->off), 0, f->size);
		if (f->flag_off != FIELD_NO_FLAG)
			*(bool *)at(body, f->flag_off) = false;
		break;
	case FIELD_MAC:
		memset(at(body, f->off), 0, 6);
		*(bool *)at(body, f->flag_off) = false;
		break;
	case FIELD_LOG_LEVEL:
		*(enum log_level *)at(body, f->off) = (enum log_level)f->dflt;
		*(bool *)at(body, f->flag_off) = false;
		break;
	case FIELD_RATE_LIMITER:
		memset(at(body, f->off), 0, sizeof(struct rate_limiter_config));
		break;
	case FIELD_TOKEN_BUCKET:
		memset(at(body, f->off), 0, sizeof(struct token_bucket_config));
		break;
	default:
		break;
	}
}

int fields__decode(const struct field *t, size_t n, enum field_mode mode, const char *what,
		   const struct json_doc *d, unsigned obj, void *body, struct error *e)
{
	if (d->toks[obj].type != JSON_OBJECT)
		return error__fail(e, EXIT_USAGE, "%s: expected an object, got %s", what,
				   json__type_name(d->toks[obj].type));
	int tok[MAX_FIELDS];
	if (n > MAX_FIELDS)
		return error__fail(e, EXIT_ERROR, "%s: table too long", what);
	for (size_t i = 0; i < n; i++)
		tok[i] = -1;
	bool seen[MAX_FIELDS] = {0};
	unsigned k = obj + 1;
	for (uint32_t m = 0; m < d->toks[obj].count; m++) {
		unsigned key = k, val = k + 1;
		k = d->toks[val].next;
		size_t i;
		for (i = 0; i < n; i++)
			if (json__string_eq(d, key, t[i].name))
				break;
		if (i == n) {
			char name[64];
			if (json__string(d, key, name, sizeof(name)))
				snprintf(name, sizeof(name), "(long or invalid name)");
			/* serde's words, which Firecracker clients and tests match on. */
			error__fail(e, EXIT_USAGE, "%s: unknown field `%s`, expected one of", what,
				    name);
			size_t len = strlen(e->msg);
			for (size_t j = 0; j < n && len < sizeof(e->msg); j++) {
				snprintf(e->msg + len, sizeof(e->msg) - len, "%s `%s`",
					 j ? "," : "", t[j].name);
				len = strlen(e->msg);
			}
			return -1;
		}
		if (seen[i])
			return error__fail(e, EXIT_USAGE, "%s: field '%s' given twice", what,
					   t[i].name);
		seen[i] = true;
		enum json_type type = d->toks[val].type;
		if (type == JSON_NULL && !required(&t[i], mode))
			continue;
		if (type != wire_type(&t[i]))
			return error__fail(e, EXIT_USAGE, "%s: expected %s, got %s", t[i].name,
					   json__type_name(wire_type(&t[i])),
					   json__type_name(type));
		tok[i] = (int)val;
	}
	for (size_t i = 0; i < n; i++)
		if (required(&t[i], mode) && tok[i] < 0)
			return error__fail(e, EXIT_USAGE, "%s: missing required field '%s'", what,
					   t[i].name);
	for (size_t i = 0; i < n; i++) {
		if (tok[i] >= 0) {
			if (store(&t[i], d, (unsigned)tok[i], body, mode, e))
				return -1;
		} else if (mode == FIELDS_PUT) {
			reset(&t[i], body);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (t[i].check && t[i].check(&t[i], body, e))
			return -1;
	return 0;
}

static bool shown(const struct field *f, const void *body)
{
	if (f->flags & FIELD_HIDDEN)
		return false;
	if (f->flags & FIELD_NULL_EMPTY)
		return true;
	switch (f->kind) {
	case FIELD_IGNORED:
	case FIELD_UNSUPPORTED:
		return false;
	case FIELD_STR:
	case FIELD_PATH:
	case FIELD_JSON_OBJECT:
		if (f->flag_off != FIELD_NO_FLAG)
			return *(const bool *)cat(body, f->flag_off);
		return !(f->flags & FIELD_OMIT_EMPTY) || *(const char *)cat(body, f->off);
	case FIELD_MAC:
		return *(const bool *)cat(body, f->flag_off);
	case FIELD_ENUM: {
		uint32_t v = *(const uint32_t *)cat(body, f->off);
		uint32_t n = 0;
		while (f->choices[n])
			n++;
		if (v >= n)
			return false; /* never printed past the table */
		return !(f->flags & FIELD_OMIT_ZERO) || v != 0;
	}
	default:
		return true;
	}
}

void fields__encode(const struct field *t, size_t n, const void *body, struct json_out *o)
{
	bool first = true;
	json_out__raw(o, "{", 1);
	for (size_t i = 0; i < n; i++) {
		const struct field *f = &t[i];
		if (!shown(f, body))
			continue;
		json_out__printf(o, "%s\"%s\":", first ? "" : ",", f->name);
		first = false;
		const void *p = cat(body, f->off);
		/* Firecracker's None. */
		if ((f->flags & FIELD_NULL_EMPTY) &&
		    (f->kind == FIELD_UNSUPPORTED ||
		     ((f->kind == FIELD_STR || f->kind == FIELD_PATH) && !*(const char *)p) ||
		     (f->kind == FIELD_U32 && !*(const uint32_t *)p))) {
			json_out__raw(o, "null", 4);
			continue;
		}
		switch (f->kind) {
		case FIELD_U32:
			json_out__printf(o, "%u", *(const uint32_t *)p);
			break;
		case FIELD_U64:
			json_out__printf(o, "%llu", (unsigned long long)*(const uint64_t *)p);
			break;
		case FIELD_BOOL:
			json_out__printf(o, "%s", *(const bool *)p ? "true" : "false");
			break;
		case FIELD_STR:
		case FIELD_PATH:
			json_out__str(o, p);
			break;
		case FIELD_MAC: {
			const uint8_t *m = p;
			json_out__printf(o, "\"%02x:%02x:%02x:%02x:%02x:%02x\"", m[0], m[1], m[2],
					 m[3], m[4], m[5]);
			break;
		}
		case FIELD_LOG_LEVEL: {
			static const char *const names[] = {"Error", "Warning", "Info", "Debug"};
			bool off = *(const bool *)cat(body, f->flag_off);
			json_out__printf(o, "\"%s\"",
					 off ? "Off" : names[*(const enum log_level *)p]);
			break;
		}
		case FIELD_JSON_OBJECT:
			json_out__printf(o, "%s", (const char *)p);
			break;
		case FIELD_ENUM:
			json_out__str(o, f->choices[*(const uint32_t *)p]);
			break;
		case FIELD_CHOICE:
			json_out__str(o, f->choices[0]);
			break;
		case FIELD_RATE_LIMITER:
			encode_limiter(p, o);
			break;
		case FIELD_TOKEN_BUCKET:
			encode_bucket(p, o);
			break;
		default:
			break;
		}
	}
	json_out__raw(o, "}", 1);
}
