/* libFuzzer target for a client's custom CPU template (PUT /cpu-config, the config
 * file's cpu-config): the bytes as a JSON document through cpu_config__decode, and
 * as one bitmap string through the tri-state parser. What decodes must encode and
 * decode back to the same template (same digest). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/cpu_config.h"

#define TOKS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct json_tok toks[TOKS], toks2[TOKS];
	static struct cpu_template t, back;
	/* A private copy: the parsers must not rely on a terminating NUL. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	struct json_doc d;
	char why[256];
	struct error e;
	if (json__parse(&d, buf, size, toks, TOKS, why, sizeof(why)) == 0 &&
	    cpu_config__decode(&d, 0, &t, &e) == 0) {
		struct json_out o = {0};
		cpu_config__encode(&t, &o);
		struct json_doc d2;
		if (o.oom || json__parse(&d2, o.buf, o.len, toks2, TOKS, why, sizeof(why)) ||
		    cpu_config__decode(&d2, 0, &back, &e) ||
		    cpu_tpl__digest(&t) != cpu_tpl__digest(&back))
			abort(); /* the encoder wrote what the decoder refuses or reads otherwise */
		json_out__free(&o);
	}
	free(buf);

	char s[200];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	memcpy(s, data, n);
	s[n] = '\0';
	uint64_t f, v;
	for (unsigned bits = 32; bits <= 64; bits += 32)
		if (cpu_tpl__parse_bitmap(s, bits, &f, &v, why, sizeof(why)) == 0 && (v & ~f))
			abort(); /* a value bit outside the filter */
	return 0;
}
