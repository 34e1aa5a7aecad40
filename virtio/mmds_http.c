/* The HTTP/1.x side of MMDS, with Firecracker's rules (src/vmm/src/mmds/mod.rs):
 * GET reads the store (V2: only with a valid token), PUT /latest/api/token makes a
 * token, anything else is 405; its status codes and messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/json.h"
#include "mmds_int.h"

#define PATH_TO_TOKEN "/latest/api/token"

struct req {
	const char *method, *uri, *ver;
	size_t method_len, uri_len, ver_len;
	const char *token, *ttl, *ttl_name;
	size_t token_len, ttl_len, ttl_name_len;
	bool json, xff, close, http10, keep_alive;
	size_t content_length;
};

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 501:
		return "Not Implemented";
	default:
		return "Internal Server Error";
	}
}

static void respond(struct json_out *o, const struct req *r, int status, bool json,
		    const char *extra, const char *body, size_t n)
{
	json_out__printf(o,
			 "HTTP/1.%c %d %s\r\nServer: ember\r\nConnection: %s\r\n"
			 "Content-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
			 r && r->http10 ? '0' : '1', status, reason(status),
			 r && !r->close ? "keep-alive" : "close",
			 json ? "application/json" : "text/plain", n, extra ? extra : "");
	json_out__raw(o, body, n);
}

static void respond_text(struct json_out *o, const struct req *r, int status, const char *msg)
{
	respond(o, r, status, false, NULL, msg, strlen(msg));
}

static bool name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

static const char *trim(const char *p, const char *end, size_t *n)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*n = (size_t)(end - p);
	return p;
}

static bool has_token(const char *v, size_t n, const char *word)
{
	size_t w = strlen(word);
	for (size_t i = 0; i + w <= n; i++)
		if (strncasecmp(v + i, word, w) == 0)
			return true;
	return false;
}

static bool parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	if (n == 0 || n > 19)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* The head: request line and headers, [p, end) without the blank line. */
static int parse_head(const char *p, const char *end, struct req *r)
{
	const char *eol = memchr(p, '\r', (size_t)(end - p));
	const char *line_end = eol ? eol : end;
	if (eol && eol[1] != '\n')
		return -1;
	const char *sp1 = memchr(p, ' ', (size_t)(line_end - p));
	if (!sp1)
		return -1;
	const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1));
	if (!sp2 || sp1 == p || sp2 == sp1 + 1)
		return -1;
	r->method = p;
	r->method_len = (size_t)(sp1 - p);
	r->uri = sp1 + 1;
	r->uri_len = (size_t)(sp2 - sp1 - 1);
	r->ver = sp2 + 1;
	r->ver_len = (size_t)(line_end - sp2 - 1);
	if (name_is(r->ver, r->ver_len, "HTTP/1.0"))
		r->http10 = true;
	else if (!name_is(r->ver, r->ver_len, "HTTP/1.1"))
		return -1;
	for (const char *q = r->uri; q < r->uri + r->uri_len; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			return -1;
	p = eol ? eol + 2 : end;
	while (p < end) {
		eol = memchr(p, '\r', (size_t)(end - p));
		line_end = eol ? eol : end;
		if (eol && eol[1] != '\n')
			return -1; /* readable: the head is followed by its blank line */
		const char *colon = memchr(p, ':', (size_t)(line_end - p));
		if (!colon || colon == p)
			return -1;
		size_t nn = (size_t)(colon - p), vn;
		const char *v = trim(colon + 1, line_end, &vn);
		if (name_is(p, nn, "Accept")) {
			r->json = has_token(v, vn, "application/json");
		} else if (name_is(p, nn, "X-metadata-token") ||
			   name_is(p, nn, "X-aws-ec2-metadata-token")) {
			r->token = v;
			r->token_len = vn;
		} else if (name_is(p, nn, "X-metadata-token-ttl-seconds") ||
			   name_is(p, nn, "X-aws-ec2-metadata-token-ttl-seconds")) {
			r->ttl = v;
			r->ttl_len = vn;
			r->ttl_name = p;
			r->ttl_name_len = nn;
		} else if (name_is(p, nn, "X-Forwarded-For")) {
			r->xff = true;
		} else if (name_is(p, nn, "Connection")) {
			r->close = has_token(v, vn, "close");
			r->keep_alive = has_token(v, vn, "keep-alive");
		} else if (name_is(p, nn, "Content-Length")) {
			uint64_t cl;
			if (!parse_u64(v, vn, MMDS_REQ_MAX, &cl))
				return -1;
			r->content_length = (size_t)cl;
		} else if (name_is(p, nn, "Transfer-Encoding")) {
			return -1; /* chunked bodies are not taken */
		}
		p = eol ? eol + 2 : end;
	}
	if (r->http10 && !r->keep_alive)
		r->close = true;
	return 0;
}

static void get(struct mmds_store *s, const struct req *r, const char *path, size_t n,
		struct json_out *o)
{
	if (mmds_store__version(s) == MMDS_V2) {
		if (!r->token) {
			respond_text(o, r, 401,
				     "No MMDS token provided. Use `X-metadata-token` or "
				     "`X-aws-ec2-metadata-token` header to specify the session "
				     "token.");
			return;
		}
		if (!mmds_store__token_valid(s, r->token, r->token_len)) {
			respond_text(o, r, 401, "MMDS token not valid.");
			return;
		}
	}
	struct json_out body = {0};
	int status = mmds_store__lookup(s, path, n, r->json, &body);
	if (body.oom)
		status = 500;
	if (status == 200) {
		respond(o, r, 200, r->json, NULL, body.buf ? body.buf : "", body.len);
	} else if (status == 404) {
		char msg[MMDS_REQ_MAX + 32];
		snprintf(msg, sizeof(msg), "Resource not found: %.*s.", (int)r->uri_len, r->uri);
		respond_text(o, r, 404, msg);
	} else if (status == 501) {
		respond_text(o, r, 501,
			     "Cannot retrieve value. The value has an unsupported type.");
	} else {
		respond_text(o, r, 500, "Internal error.");
	}
	json_out__free(&body);
}

static void put_token(struct mmds_store *s, const struct req *r, const char *path, size_t n,
		      struct json_out *o)
{
	char msg[MMDS_REQ_MAX + 160];
	if (r->xff) {
		respond_text(o, r, 400,
			     "Invalid header. Reason: Unsupported header name. Key: "
			     "X-Forwarded-For");
		return;
	}
	/* The path as the store would clean it: runs of '/' are one. */
	char clean[sizeof(PATH_TO_TOKEN) + 1];
	size_t k = 0;
	bool fits = true;
	for (size_t i = 0; i < n && fits; i++) {
		if (path[i] == '/' && k && clean[k - 1] == '/')
			continue;
		if (k + 1 >= sizeof(clean))
			fits = false;
		else
			clean[k++] = path[i];
	}
	clean[k] = 0;
	if (!fits || strcmp(clean, PATH_TO_TOKEN) != 0) {
		snprintf(msg, sizeof(msg), "Resource not found: %.*s.", (int)r->uri_len, r->uri);
		respond_text(o, r, 404, msg);
		return;
	}
	if (!r->ttl) {
		respond_text(
		    o, r, 400,
		    "Token time to live value not found. Use `X-metadata-token-ttl-seconds` "
		    "or `X-aws-ec2-metadata-token-ttl-seconds` header to specify the "
		    "token's lifetime.");
		return;
	}
	uint64_t ttl;
	if (!parse_u64(r->ttl, r->ttl_len, UINT32_MAX, &ttl)) {
		snprintf(msg, sizeof(msg), "Invalid value. Key:%.*s; Value:%.*s",
			 (int)r->ttl_name_len, r->ttl_name, (int)r->ttl_len, r->ttl);
		respond_text(o, r, 400, msg);
		return;
	}
	char tok[MMDS_TOKEN_LEN + 1];
	if (mmds_store__new_token(s, (uint32_t)ttl, tok) < 0) {
		snprintf(msg, sizeof(msg),
			 "Invalid time to live value provided for token: %llu. Please provide a "
			 "value between %d and %d.",
			 (unsigned long long)ttl, MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
		respond_text(o, r, 400, msg);
		return;
	}
	char hdr[160];
	snprintf(hdr, sizeof(hdr), "%.*s: %llu\r\n", (int)r->ttl_name_len, r->ttl_name,
		 (unsigned long long)ttl);
	respond(o, r, 200, false, hdr, tok, MMDS_TOKEN_LEN);
}

size_t mmds_http__serve(struct mmds_store *s, const uint8_t *buf, size_t len, struct json_out *resp,
			bool *close)
{
	const char *b = (const char *)buf;
	const char *head_end = NULL;
	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(b + i, "\r\n\r\n", 4) == 0) {
			head_end = b + i;
			break;
		}
	}
	struct req r = {0};
	if (!head_end) {
		if (len < MMDS_REQ_MAX)
			return 0;
		*close = true;
		respond_text(resp, NULL, 400, "Request too large.");
		return len;
	}
	size_t head = (size_t)(head_end - b) + 4;
	if (parse_head(b, head_end, &r)) {
		*close = true;
		respond_text(resp, NULL, 400, "Bad request.");
		return len;
	}
	if (head + r.content_length > MMDS_REQ_MAX) {
		*close = true;
		respond_text(resp, NULL, 400, "Request too large.");
		return len;
	}
	if (len < head + r.content_length)
		return 0;
	*close = r.close;
	/* An absolute URI (GET http://169.254.169.254/x) is reduced to its path. */
	const char *path = r.uri;
	size_t n = r.uri_len;
	if (n >= 7 && strncasecmp(path, "http://", 7) == 0) {
		const char *slash = memchr(path + 7, '/', n - 7);
		n = slash ? n - (size_t)(slash - path) : 0;
		path = slash ? slash : path + r.uri_len;
	}
	if (n == 0)
		respond_text(resp, &r, 400, "Invalid URI.");
	else if (name_is(r.method, r.method_len, "GET"))
		get(s, &r, path, n, resp);
	else if (name_is(r.method, r.method_len, "PUT"))
		put_token(s, &r, path, n, resp);
	else
		respond(resp, &r, 405, false, "Allow: GET, PUT\r\n", "Not allowed HTTP method.",
			strlen("Not allowed HTTP method."));
	return head + r.content_length;
}
