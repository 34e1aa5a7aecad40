#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *s;
	size_t len, pos;
	struct json_tok *toks;
	unsigned ntoks, cap;
	char *err;
	size_t errlen;
};

static int perr(struct parser *p, const char *why)
{
	snprintf(p->err, p->errlen, "offset %zu: %s", p->pos, why);
	return -1;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int new_tok(struct parser *p, enum json_type t, unsigned *idx)
{
	if (p->ntoks == p->cap)
		return perr(p, "too many values");
	*idx = p->ntoks++;
	p->toks[*idx] = (struct json_tok){.type = (uint8_t)t, .start = (uint32_t)p->pos};
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

static int parse_string(struct parser *p, unsigned *idx)
{
	p->pos++; /* opening quote */
	if (new_tok(p, JSON_STRING, idx))
		return -1;
	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos];
		if (c == '"') {
			p->toks[*idx].len = (uint32_t)(p->pos - p->toks[*idx].start);
			p->pos++;
			return 0;
		}
		if (c < 0x20)
			return perr(p, "control character in string");
		if (c == '\\') {
			if (p->pos + 1 >= p->len)
				break;
			char e = p->s[p->pos + 1];
			if (e == 'u') {
				unsigned u, u2;
				if (p->pos + 6 > p->len || hex4(p->s + p->pos + 2, &u))
					return perr(p, "bad \\u escape");
				p->pos += 6;
				if (u >= 0xdc00 && u <= 0xdfff)
					return perr(p, "lone low surrogate");
				if (u >= 0xd800 && u <= 0xdbff) {
					if (p->pos + 6 > p->len || p->s[p->pos] != '\\' ||
					    p->s[p->pos + 1] != 'u' ||
					    hex4(p->s + p->pos + 2, &u2) || u2 < 0xdc00 ||
					    u2 > 0xdfff)
						return perr(p, "unpaired high surrogate");
					p->pos += 6;
				}
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == '\0')
				return perr(p, "bad escape");
			p->pos += 2;
			continue;
		}
		size_t n = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
		if (!n)
			return perr(p, "invalid UTF-8");
		p->pos += n;
	}
	return perr(p, "unterminated string");
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct parser *p, unsigned *idx)
{
	if (new_tok(p, JSON_NUMBER, idx))
		return -1;
	size_t i = p->pos;
	if (i < p->len && p->s[i] == '-')
		i++;
	if (i >= p->len || !is_digit(p->s[i]))
		return perr(p, "bad number");
	if (p->s[i] == '0') {
		i++;
		if (i < p->len && is_digit(p->s[i]))
			return perr(p, "leading zero in number");
	} else {
		while (i < p->len && is_digit(p->s[i]))
			i++;
	}
	if (i < p->len && p->s[i] == '.') {
		i++;
		if (i >= p->len || !is_digit(p->s[i]))
			return perr(p, "bad fraction");
		while (i < p->len && is_digit(p->s[i]))
			i++;
	}
	if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
		i++;
		if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
			i++;
		if (i >= p->len || !is_digit(p->s[i]))
			return perr(p, "bad exponent");
		while (i < p->len && is_digit(p->s[i]))
			i++;
	}
	p->toks[*idx].len = (uint32_t)(i - p->pos);
	p->pos = i;
	return 0;
}

static int parse_literal(struct parser *p, const char *word, enum json_type t, unsigned *idx)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return perr(p, "unexpected character");
	if (new_tok(p, t, idx))
		return -1;
	p->toks[*idx].len = (uint32_t)n;
	p->pos += n;
	return 0;
}

static int parse_value(struct parser *p, unsigned depth);

static int parse_container(struct parser *p, unsigned depth, bool object)
{
	unsigned idx;
	if (depth >= JSON_MAX_DEPTH)
		return perr(p, "nested too deeply");
	if (new_tok(p, object ? JSON_OBJECT : JSON_ARRAY, &idx))
		return -1;
	char close = object ? '}' : ']';
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		goto done;
	}
	for (;;) {
		skip_ws(p);
		if (object) {
			unsigned key;
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return perr(p, "expected a member name");
			if (parse_string(p, &key))
				return -1;
			p->toks[key].next = p->ntoks;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return perr(p, "expected ':'");
			p->pos++;
		}
		if (parse_value(p, depth + 1))
			return -1;
		p->toks[idx].count++;
		skip_ws(p);
		if (p->pos >= p->len)
			return perr(p, object ? "unterminated object" : "unterminated array");
		char c = p->s[p->pos++];
		if (c == close)
			break;
		if (c != ',') {
			p->pos--;
			return perr(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
		}
	}
done:
	p->toks[idx].len = (uint32_t)(p->pos - p->toks[idx].start);
	p->toks[idx].next = p->ntoks;
	return 0;
}

static int parse_value(struct parser *p, unsigned depth)
{
	skip_ws(p);
	if (p->pos >= p->len)
		return perr(p, "expected a value");
	unsigned idx;
	int rc;
	switch (p->s[p->pos]) {
	case '{':
		return parse_container(p, depth, true);
	case '[':
		return parse_container(p, depth, false);
	case '"':
		rc = parse_string(p, &idx);
		break;
	case 't':
		rc = parse_literal(p, "true", JSON_BOOL, &idx);
		break;
	case 'f':
		rc = parse_literal(p, "false", JSON_BOOL, &idx);
		break;
	case 'n':
		rc = parse_literal(p, "null", JSON_NULL, &idx);
		break;
	default:
		rc = parse_number(p, &idx);
		break;
	}
	if (rc == 0)
		p->toks[idx].next = p->ntoks;
	return rc;
}

int json__parse(struct json_doc *doc, const char *text, size_t len, struct json_tok *toks,
		unsigned cap, char *err, size_t errlen)
{
	struct parser p = {
	    .s = text, .len = len, .toks = toks, .cap = cap, .err = err, .errlen = errlen};
	doc->text = text;
	doc->toks = toks;
	doc->ntoks = 0;
	if (len > UINT32_MAX)
		return perr(&p, "document too large");
	if (parse_value(&p, 0))
		return -1;
	skip_ws(&p);
	if (p.pos != p.len)
		return perr(&p, "trailing characters after the value");
	doc->ntoks = p.ntoks;
	return 0;
}

const char *json__type_name(enum json_type t)
{
	static const char *const names[] = {"null",	"a boolean", "a number",
					    "a string", "an array",  "an object"};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* Decodes an already validated string token; writes at most outlen bytes
 * (no NUL). Returns the decoded length, or -1 on U+0000. */
static long decode(const struct json_doc *doc, unsigned i, char *out, size_t outlen)
{
	const struct json_tok *t = &doc->toks[i];
	const char *s = doc->text + t->start, *end = s + t->len;
	size_t n = 0;
	char tmp[4];
	while (s < end) {
		size_t k = 1;
		const char *src = s;
		if (*s != '\\') {
			s++;
		} else if (s[1] != 'u') {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			tmp[0] = to[strchr(from, s[1]) - from];
			src = tmp;
			s += 2;
		} else {
			unsigned u, u2;
			hex4(s + 2, &u);
			s += 6;
			if (u >= 0xd800 && u <= 0xdbff) {
				hex4(s + 2, &u2);
				s += 6;
				u = 0x10000 + ((u - 0xd800) << 10) + (u2 - 0xdc00);
			}
			if (u == 0)
				return -1;
			if (u < 0x80) {
				tmp[0] = (char)u;
			} else if (u < 0x800) {
				tmp[0] = (char)(0xc0 | u >> 6);
				tmp[1] = (char)(0x80 | (u & 0x3f));
				k = 2;
			} else if (u < 0x10000) {
				tmp[0] = (char)(0xe0 | u >> 12);
				tmp[1] = (char)(0x80 | ((u >> 6) & 0x3f));
				tmp[2] = (char)(0x80 | (u & 0x3f));
				k = 3;
			} else {
				tmp[0] = (char)(0xf0 | u >> 18);
				tmp[1] = (char)(0x80 | ((u >> 12) & 0x3f));
				tmp[2] = (char)(0x80 | ((u >> 6) & 0x3f));
				tmp[3] = (char)(0x80 | (u & 0x3f));
				k = 4;
			}
			src = tmp;
		}
		if (n + k <= outlen)
			memcpy(out + n, src, k);
		n += k;
	}
	return (long)n;
}

int json__string(const struct json_doc *doc, unsigned i, char *out, size_t outlen)
{
	if (i >= doc->ntoks || doc->toks[i].type != JSON_STRING || outlen == 0)
		return -1;
	long n = decode(doc, i, out, outlen - 1);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	out[n] = '\0';
	return 0;
}

bool json__string_eq(const struct json_doc *doc, unsigned i, const char *s)
{
	char buf[128];
	size_t n = strlen(s);
	if (n >= sizeof(buf) || i >= doc->ntoks || doc->toks[i].type != JSON_STRING)
		return false;
	long m = decode(doc, i, buf, sizeof(buf));
	return m == (long)n && memcmp(buf, s, n) == 0;
}

int json__u64(const struct json_doc *doc, unsigned i, uint64_t max, uint64_t *out)
{
	if (i >= doc->ntoks || doc->toks[i].type != JSON_NUMBER)
		return JSON_ENOTINT;
	const struct json_tok *t = &doc->toks[i];
	const char *s = doc->text + t->start;
	bool neg = s[0] == '-';
	uint64_t v = 0;
	bool overflow = false;
	for (uint32_t k = neg; k < t->len; k++) {
		if (!is_digit(s[k]))
			return JSON_ENOTINT;
		unsigned d = (unsigned)(s[k] - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	if (overflow || v > max || (neg && v != 0))
		return JSON_ERANGE;
	*out = v;
	return 0;
}

static bool reserve(struct json_out *o, size_t n)
{
	if (o->oom)
		return false;
	if (o->len + n + 1 <= o->cap)
		return true;
	size_t cap = o->cap ? o->cap : 256;
	while (cap < o->len + n + 1)
		cap *= 2;
	char *b = realloc(o->buf, cap);
	if (!b) {
		o->oom = true;
		return false;
	}
	o->buf = b;
	o->cap = cap;
	return true;
}

void json_out__raw(struct json_out *o, const char *s, size_t n)
{
	if (!reserve(o, n))
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

void json_out__printf(struct json_out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(o, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

void json_out__str(struct json_out *o, const char *s)
{
	json_out__raw(o, "\"", 1);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			json_out__raw(o, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			json_out__printf(o, "\\u%04x", c);
		} else {
			/* Host paths may hold any bytes; JSON text must stay UTF-8. */
			size_t n = utf8_len((const unsigned char *)p, strnlen(p, 4));
			if (n) {
				json_out__raw(o, p, n);
				p += n - 1;
			} else {
				json_out__raw(o, "\\ufffd", 6);
			}
		}
	}
	json_out__raw(o, "\"", 1);
}

void json_out__free(struct json_out *o)
{
	free(o->buf);
	*o = (struct json_out){0};
}
