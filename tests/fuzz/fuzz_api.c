/* libFuzzer target for what an API client controls: the input is a byte stream
 * on one connection (HTTP requests, pipelined), each complete request is routed
 * and handled like on the VMM thread; the same bytes are also tried as a config
 * file. Actions are faked, files are never opened (dry_files). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/http.h"

static int ok_start(void *ctx, const struct vm_config *cfg, char *err, size_t errlen)
{
	return 0;
}
static int ok_op(void *ctx, char *err, size_t errlen)
{
	return 0;
}
static const struct api_ops ops = {ok_start, ok_op, ok_op, ok_op, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct api *a;
	if (!a) {
		a = malloc(sizeof(*a));
		log__set_level(LOG_ERROR);
	}
	api__init(a, NULL, "fuzz", "0", &ops, NULL);
	a->dry_files = true;

	/* A private copy: the parsers must not rely on a terminating NUL. */
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	size_t off = 0;
	while (off < size) {
		struct http_request req;
		long n = http__parse(buf + off, size - off, &req);
		if (n <= 0)
			break;
		if ((size_t)n > size - off || req.head_len + req.body_len != (size_t)n)
			abort();
		struct api_response r;
		api__handle(a, req.method, req.path, buf + off + req.head_len, req.body_len, &r);
		if (r.status < 200 || r.status > 599)
			abort();
		/* Every error body is JSON with a fault_message. */
		if (r.status >= 400 && (!r.body.buf || !strstr(r.body.buf, "\"fault_message\"")))
			abort();
		json_out__free(&r.body);
		off += (size_t)n;
	}
	/* Whatever GET /vm/config writes must parse again. */
	struct api_response r;
	api__handle(a, HTTP_GET, "/vm/config", NULL, 0, &r);
	char err[256];
	struct json_doc d;
	static struct json_tok toks[API_MAX_TOKENS];
	if (r.status != 200 ||
	    json__parse(&d, r.body.buf, r.body.len, toks, API_MAX_TOKENS, err, sizeof(err)))
		abort();
	json_out__free(&r.body);

	api__init(a, NULL, "fuzz", "0", &ops, NULL);
	a->dry_files = true;
	api__load_config(a, buf, size, err, sizeof(err));
	free(buf);
	return 0;
}
