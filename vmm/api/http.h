/* HTTP/1.1 requests from API clients: an incremental, allocation-free parser
 * (bytes are re-parsed from the start of the connection buffer as they come)
 * and the response writer. The client is untrusted: every limit is checked. */
#ifndef EMBER_HTTP_H
#define EMBER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

#define HTTP_MAX_HEAD	 8192  /* request line + headers */
#define HTTP_MAX_BODY	 51200 /* Firecracker's payload limit */
#define HTTP_MAX_PATH	 1024
#define HTTP_MAX_HEADERS 64

enum http_method { HTTP_GET, HTTP_PUT, HTTP_PATCH, HTTP_OTHER };

struct http_request {
	enum http_method method;
	char method_name[16];
	char path[HTTP_MAX_PATH]; /* origin-form, query string removed */
	size_t head_len;	  /* bytes of request line + headers, incl. the blank line */
	size_t body_len;	  /* Content-Length; the body starts at head_len */
	bool head_done;		  /* the head parsed; only body bytes are missing */
	bool keep_alive;
	bool expect_continue;
	char error[128]; /* why the request was rejected */
};

/* Looks for one request at the start of buf[0..len). Returns its total length
 * when it is complete, 0 when more bytes are needed, -1 when it is malformed or
 * over a limit (reason in req->error; the connection should then be closed). */
long http__parse(const char *buf, size_t len, struct http_request *req);

const char *http__method_name(enum http_method m);
const char *http__reason(int status);
/* Appends a whole response. A 204 or an empty body gets no Content-Type. */
void http__write_response(struct json_out *o, int status, const char *body, size_t body_len,
			  bool keep_alive);
/* The same with extra header lines (each ending in \r\n), or NULL. */
void http__write_response_with(struct json_out *o, int status, const char *body, size_t body_len,
			       bool keep_alive, const char *headers);

#endif
