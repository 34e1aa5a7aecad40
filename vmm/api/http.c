#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static long bad(struct http_request *req, const char *why)
{
	snprintf(req->error, sizeof(req->error), "%s", why);
	return -1;
}

/* RFC 9110 token characters. */
static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_vchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

/* Case-insensitive match of a comma-separated header value against one token. */
static bool list_has(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token);
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return true;
	}
	return false;
}

static int parse_request_line(const char *s, size_t n, struct http_request *req)
{
	size_t i = 0;
	while (i < n && s[i] >= 'A' && s[i] <= 'Z')
		i++;
	if (i == 0 || i >= sizeof(req->method_name) || i >= n || s[i] != ' ')
		return (int)bad(req, "malformed request line");
	memcpy(req->method_name, s, i);
	req->method_name[i] = '\0';
	if (strcmp(req->method_name, "GET") == 0)
		req->method = HTTP_GET;
	else if (strcmp(req->method_name, "PUT") == 0)
		req->method = HTTP_PUT;
	else if (strcmp(req->method_name, "PATCH") == 0)
		req->method = HTTP_PATCH;
	else
		req->method = HTTP_OTHER;

	size_t t = ++i;
	while (i < n && s[i] != ' ') {
		if (!is_vchar((unsigned char)s[i]))
			return (int)bad(req, "malformed request target");
		i++;
	}
	size_t tl = i - t;
	if (tl == 0 || s[t] != '/' || i >= n)
		return (int)bad(req, "request target must be an absolute path");
	const char *q = memchr(s + t, '?', tl);
	size_t pl = q ? (size_t)(q - (s + t)) : tl;
	if (pl >= sizeof(req->path))
		return (int)bad(req, "request target too long");
	memcpy(req->path, s + t, pl);
	req->path[pl] = '\0';

	i++;
	if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) != 0 || (s[i + 7] != '1' && s[i + 7] != '0'))
		return (int)bad(req, "unsupported HTTP version (HTTP/1.0 and HTTP/1.1 only)");
	req->keep_alive = s[i + 7] == '1';
	return 0;
}

long http__parse(const char *buf, size_t len, struct http_request *req)
{
	memset(req, 0, sizeof(*req));
	size_t scan = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
	size_t head = 0;
	/* Headers end at the first CRLFCRLF; a bare LF anywhere is rejected at once
	 * instead of leaving the client waiting for a terminator it will never send. */
	for (size_t i = 0; i < scan; i++) {
		if (buf[i] == '\0')
			return bad(req, "NUL byte in request head");
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n')
			return bad(req, "bare CR in request head");
		if (buf[i] != '\n')
			continue;
		if (i == 0 || buf[i - 1] != '\r')
			return bad(req, "lines must end with CRLF");
		if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
			head = i + 1;
			break;
		}
		if (i == 1)
			return bad(req, "empty request line");
	}
	if (!head) {
		if (len >= HTTP_MAX_HEAD)
			return bad(req, "request head larger than 8192 bytes");
		return 0;
	}

	const char *eol = memchr(buf, '\r', head);
	if (parse_request_line(buf, (size_t)(eol - buf), req))
		return -1;

	bool have_len = false, close = false, keepalive = false;
	unsigned long long clen = 0;
	unsigned nheaders = 0;
	const char *p = eol + 2, *end = buf + head - 2;
	while (p < end) {
		const char *le = memchr(p, '\r', (size_t)(end - p));
		if (!le)
			le = end;
		if (++nheaders > HTTP_MAX_HEADERS)
			return bad(req, "too many headers");
		const char *c = p;
		while (c < le && is_tchar(*c))
			c++;
		if (c == p || c == le || *c != ':')
			return bad(req, "malformed header line");
		size_t nl = (size_t)(c - p);
		const char *v = c + 1, *ve = le;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		for (const char *k = v; k < ve; k++)
			if ((unsigned char)*k < 0x20 && *k != '\t')
				return bad(req, "control character in header value");
		size_t vl = (size_t)(ve - v);

		if (nl == 14 && strncasecmp(p, "content-length", nl) == 0) {
			unsigned long long n = 0;
			if (vl == 0 || vl > 19)
				return bad(req, "bad Content-Length");
			for (size_t k = 0; k < vl; k++) {
				if (v[k] < '0' || v[k] > '9')
					return bad(req, "bad Content-Length");
				n = n * 10 + (unsigned)(v[k] - '0');
			}
			if (have_len && n != clen)
				return bad(req, "conflicting Content-Length headers");
			have_len = true;
			clen = n;
		} else if (nl == 17 && strncasecmp(p, "transfer-encoding", nl) == 0) {
			return bad(req, "Transfer-Encoding (chunked bodies) is not supported; "
					"send Content-Length");
		} else if (nl == 10 && strncasecmp(p, "connection", nl) == 0) {
			close |= list_has(v, vl, "close");
			keepalive |= list_has(v, vl, "keep-alive");
		} else if (nl == 6 && strncasecmp(p, "expect", nl) == 0) {
			if (!list_has(v, vl, "100-continue"))
				return bad(req, "unsupported Expect header");
			req->expect_continue = true;
		}
		p = le + 2;
	}
	if (clen > HTTP_MAX_BODY) {
		snprintf(req->error, sizeof(req->error),
			 "request body of %llu bytes is larger than the limit of %d bytes", clen,
			 HTTP_MAX_BODY);
		return -1;
	}
	if (close)
		req->keep_alive = false;
	else if (keepalive)
		req->keep_alive = true;
	req->head_len = head;
	req->body_len = (size_t)clen;
	req->head_done = true;
	if (len - head < clen)
		return 0;
	return (long)(head + clen);
}

const char *http__method_name(enum http_method m)
{
	switch (m) {
	case HTTP_GET:
		return "GET";
	case HTTP_PUT:
		return "PUT";
	case HTTP_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

const char *http__reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Payload Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

void http__write_response(struct json_out *o, int status, const char *body, size_t body_len,
			  bool keep_alive)
{
	http__write_response_with(o, status, body, body_len, keep_alive, NULL);
}

void http__write_response_with(struct json_out *o, int status, const char *body, size_t body_len,
			       bool keep_alive, const char *headers)
{
	json_out__printf(o, "HTTP/1.1 %d %s\r\nServer: ember\r\nConnection: %s\r\n", status,
			 http__reason(status), keep_alive ? "keep-alive" : "close");
	if (headers)
		json_out__printf(o, "%s", headers);
	if (status == 405)
		json_out__printf(o, "Allow: GET, PUT, PATCH\r\n");
	if (status != 204 && body_len)
		json_out__printf(o, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
				 body_len);
	else if (status != 204)
		json_out__printf(o, "Content-Length: 0\r\n\r\n");
	else
		json_out__raw(o, "\r\n", 2);
	if (status != 204 && body_len)
		json_out__raw(o, body, body_len);
}
