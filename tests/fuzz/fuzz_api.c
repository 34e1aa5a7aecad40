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
#include "vmm.h"

static int ok_start(void *ctx, const struct vm_config *cfg, uint64_t instance_start_us,
		    struct error *e)
{
	return 0;
}
static int ok_op(void *ctx, struct error *e)
{
	return 0;
}
static void no_op(void *ctx)
{
}
static const struct vmm_machine machine = {
    .start = ok_start,
    .pause = ok_op,
    .resume = ok_op,
    .ctrl_alt_del = ok_op,
    .stop = no_op,
};

/* A fresh controller and API; files are never opened (dry_files). */
static struct api *fresh(struct api *a)
{
	if (a) {
		struct vmm *m = a->vmm;
		api__destroy(a);
		vmm__destroy(m);
	}
	struct vmm_params p = {
	    .id = "fuzz", .version = "0", .dry_files = true, .machine = &machine};
	struct error e;
	struct vmm *m = vmm__create(&p, &e);
	a = m ? api__create(m) : NULL;
	if (!a)
		abort();
	return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct api *a;
	if (!a)
		log__set_level(LOG_ERROR);
	a = fresh(a);

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

	a = fresh(a);
	struct error e;
	api__load_config(a, buf, size, &e);
	free(buf);
	return 0;
}
