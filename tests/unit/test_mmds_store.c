/* The MMDS data store, its IMDS/JSON formatting, the V2 tokens and the HTTP
 * responder (virtio/mmds_store.c, mmds_token.c, mmds_http.c). */
#include <stdint.h>

#include "api/json.h"
#include "check.h"
#include "virtio/mmds_int.h"

static const char doc[] = "{\"name\":{\"first\":\"John\",\"second\":\"Doe\"},\"age\":43,"
			  "\"phones\":{\"home\":{\"RO\":\"+401234567\",\"UK\":\"+441234567\"},"
			  "\"mobile\":\"+442345678\"},\"list\":[\"a\",{\"b\":\"c\"}],"
			  "\"esc\":\"t\\u0001\\n\\\"\\u00e9\"}";

static struct mmds_store *filled(void)
{
	struct mmds_store *s = mmds_store__create(MMDS_DEFAULT_SIZE_LIMIT);
	char err[128];
	if (s && mmds_store__put(s, doc, strlen(doc), err, sizeof(err)) != MMDS_OK) {
		mmds_store__destroy(s);
		return NULL;
	}
	return s;
}

static char *get_all(struct mmds_store *s)
{
	static char buf[4096];
	struct json_out o = {0};
	mmds_store__get(s, &o);
	snprintf(buf, sizeof(buf), "%s", o.buf ? o.buf : "");
	json_out__free(&o);
	return buf;
}

static int lookup(struct mmds_store *s, const char *path, bool json, char *out, size_t n)
{
	struct json_out o = {0};
	int st = mmds_store__lookup(s, path, strlen(path), json, &o);
	snprintf(out, n, "%.*s", (int)o.len, o.buf ? o.buf : "");
	json_out__free(&o);
	return st;
}

static void test_put_get_sorted(void)
{
	struct mmds_store *s = mmds_store__create(MMDS_DEFAULT_SIZE_LIMIT);
	CHECK_STR(get_all(s), "{}"); /* Firecracker: null is shown as {} */
	mmds_store__destroy(s);
	s = filled();
	CHECK(s);
	/* serde_json's map order and escaping */
	CHECK_STR(get_all(s), "{\"age\":43,\"esc\":\"t\\u0001\\n\\\"\xc3\xa9\",\"list\":[\"a\",{"
			      "\"b\":\"c\"}],\"name\":{\"first\":\"John\",\"second\":\"Doe\"},"
			      "\"phones\":{\"home\":{\"RO\":\"+401234567\",\"UK\":\"+441234567\"},"
			      "\"mobile\":\"+442345678\"}}");
	mmds_store__destroy(s);
}

static void test_put_rejects(void)
{
	struct mmds_store *s = filled();
	char err[128];
	const char *before = strdup(get_all(s));
	CHECK_EQ(mmds_store__put(s, "{\"a\":", 5, err, sizeof(err)), MMDS_EJSON);
	CHECK_EQ(mmds_store__put(s, "{\"a\":\"\\u0000\"}", 14, err, sizeof(err)), MMDS_EJSON);
	CHECK_STR(get_all(s), before);
	/* Any JSON value is a store, as Firecracker's serde Value. */
	CHECK_EQ(mmds_store__put(s, "[1,2]", 5, err, sizeof(err)), MMDS_OK);
	CHECK_STR(get_all(s), "[1,2]");
	free((void *)before);
	mmds_store__destroy(s);
}

static void test_limit(void)
{
	struct mmds_store *s = mmds_store__create(20);
	char err[128];
	CHECK_EQ(mmds_store__put(s, "{\"a\":\"0123456789\"}", 18, err, sizeof(err)), MMDS_OK);
	/* 21 bytes serialized: one over */
	CHECK_EQ(mmds_store__put(s, "{\"a\":\"01234567890ab\"}", 21, err, sizeof(err)),
		 MMDS_ETOOBIG);
	/* the size is of the compact form, not of the request */
	CHECK_EQ(mmds_store__put(s, "{ \"a\" :   \"0123456789\"    }", 27, err, sizeof(err)),
		 MMDS_OK);
	CHECK_EQ(mmds_store__patch(s, "{\"b\":1}", 7, err, sizeof(err)), MMDS_ETOOBIG);
	CHECK_STR(get_all(s), "{\"a\":\"0123456789\"}");
	mmds_store__destroy(s);
}

static void test_patch(void)
{
	struct mmds_store *s = mmds_store__create(MMDS_DEFAULT_SIZE_LIMIT);
	char err[128];
	CHECK_EQ(mmds_store__patch(s, "{}", 2, err, sizeof(err)), MMDS_EUNINIT);
	const char *d = "{\"a\":\"b\",\"c\":{\"d\":\"e\",\"f\":\"g\"},\"x\":[1]}";
	CHECK_EQ(mmds_store__put(s, d, strlen(d), err, sizeof(err)), MMDS_OK);
	/* RFC 7396's example: null removes, objects merge, others replace */
	const char *p =
	    "{\"a\":\"z\",\"c\":{\"f\":null,\"h\":{\"i\":null,\"j\":1}},\"x\":{\"y\":2},"
	    "\"q\":null}";
	CHECK_EQ(mmds_store__patch(s, p, strlen(p), err, sizeof(err)), MMDS_OK);
	CHECK_STR(get_all(s), "{\"a\":\"z\",\"c\":{\"d\":\"e\",\"h\":{\"j\":1}},\"x\":{\"y\":2}}");
	/* a non-object patch replaces the whole document */
	CHECK_EQ(mmds_store__patch(s, "\"s\"", 3, err, sizeof(err)), MMDS_OK);
	CHECK_STR(get_all(s), "\"s\"");
	mmds_store__destroy(s);
}

static void test_lookup_imds(void)
{
	struct mmds_store *s = filled();
	char b[512];
	CHECK_EQ(lookup(s, "/", false, b, sizeof(b)), 200);
	CHECK_STR(b, "age\nesc\nlist\nname/\nphones/");
	CHECK_EQ(lookup(s, "", false, b, sizeof(b)), 200);
	CHECK_STR(b, "age\nesc\nlist\nname/\nphones/");
	CHECK_EQ(lookup(s, "/phones", false, b, sizeof(b)), 200);
	CHECK_STR(b, "home/\nmobile");
	CHECK_EQ(lookup(s, "//phones///home/", false, b, sizeof(b)), 200);
	CHECK_STR(b, "RO\nUK");
	CHECK_EQ(lookup(s, "/phones/home/RO", false, b, sizeof(b)), 200);
	CHECK_STR(b, "+401234567");
	CHECK_EQ(lookup(s, "/age", false, b, sizeof(b)), 501);
	CHECK_EQ(lookup(s, "/list", false, b, sizeof(b)), 501);
	CHECK_EQ(lookup(s, "/list/1/b", false, b, sizeof(b)), 200);
	CHECK_STR(b, "c");
	CHECK_EQ(lookup(s, "/list/01", false, b, sizeof(b)), 404);
	CHECK_EQ(lookup(s, "/list/2", false, b, sizeof(b)), 404);
	CHECK_EQ(lookup(s, "/nope", false, b, sizeof(b)), 404);
	CHECK_EQ(lookup(s, "/name/first/x", false, b, sizeof(b)), 404);
	CHECK_EQ(lookup(s, "nope", false, b, sizeof(b)), 404);
	mmds_store__destroy(s);
	/* nothing PUT: the whole store is null, which IMDS cannot show */
	s = mmds_store__create(100);
	CHECK_EQ(lookup(s, "/", false, b, sizeof(b)), 501);
	CHECK_EQ(lookup(s, "/", true, b, sizeof(b)), 200);
	CHECK_STR(b, "null");
	mmds_store__destroy(s);
}

static void test_lookup_json(void)
{
	struct mmds_store *s = filled();
	char b[512];
	CHECK_EQ(lookup(s, "/name", true, b, sizeof(b)), 200);
	CHECK_STR(b, "{\"first\":\"John\",\"second\":\"Doe\"}");
	CHECK_EQ(lookup(s, "/age", true, b, sizeof(b)), 200);
	CHECK_STR(b, "43");
	CHECK_EQ(lookup(s, "/name/first", true, b, sizeof(b)), 200);
	CHECK_STR(b, "\"John\"");
	/* imds_compat: text whatever the Accept header says */
	mmds_store__set_options(s, MMDS_V1, true);
	CHECK_EQ(lookup(s, "/name", true, b, sizeof(b)), 200);
	CHECK_STR(b, "first\nsecond");
	mmds_store__destroy(s);
}

static void test_siphash_vector(void)
{
	/* SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e */
	uint8_t key[16], msg[15];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	CHECK(mmds_siphash24(key, msg, 15) == 0xa129ca6149be45e5ull);
	CHECK(mmds_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ull);
}

static void test_tokens(void)
{
	struct mmds_token_key k;
	CHECK_EQ(mmds_token__init_key(&k), 0);
	char t[MMDS_TOKEN_LEN + 1], t2[MMDS_TOKEN_LEN + 1];
	mmds_token__make(&k, 5000, t);
	mmds_token__make(&k, 5000, t2);
	CHECK_EQ(strlen(t), MMDS_TOKEN_LEN);
	CHECK(strcmp(t, t2) != 0);
	CHECK(mmds_token__check(&k, t, MMDS_TOKEN_LEN, 4999));
	CHECK(!mmds_token__check(&k, t, MMDS_TOKEN_LEN, 5000)); /* expired */
	CHECK(!mmds_token__check(&k, t, MMDS_TOKEN_LEN - 1, 0));
	/* a forged expiry fails the tag */
	char f[MMDS_TOKEN_LEN + 1];
	memcpy(f, t, sizeof(f));
	f[3] = f[3] == 'A' ? 'B' : 'A';
	CHECK(!mmds_token__check(&k, f, MMDS_TOKEN_LEN, 0));
	memcpy(f, t, sizeof(f));
	f[10] = '*';
	CHECK(!mmds_token__check(&k, f, MMDS_TOKEN_LEN, 0));
	/* another key (another VM) does not take it */
	struct mmds_token_key k2;
	mmds_token__init_key(&k2);
	CHECK(!mmds_token__check(&k2, t, MMDS_TOKEN_LEN, 0));

	struct mmds_store *s = mmds_store__create(100);
	CHECK_EQ(mmds_store__new_token(s, 0, t), -1);
	CHECK_EQ(mmds_store__new_token(s, 21601, t), -1);
	CHECK_EQ(mmds_store__new_token(s, 21600, t), MMDS_TOKEN_LEN);
	CHECK(mmds_store__token_valid(s, t, strlen(t)));
	mmds_store__destroy(s);
}

/* One request through the responder; returns the status, body in *body. */
static int http(struct mmds_store *s, const char *req, char *resp, size_t n, bool *close)
{
	struct json_out o = {0};
	*close = false;
	size_t used = mmds_http__serve(s, (const uint8_t *)req, strlen(req), &o, close);
	snprintf(resp, n, "%.*s", (int)o.len, o.buf ? o.buf : "");
	json_out__free(&o);
	if (!used)
		return 0;
	int st = 0;
	sscanf(resp, "HTTP/1.%*c %d", &st);
	return st;
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");
	return b ? b + 4 : "";
}

static void test_http_v1(void)
{
	struct mmds_store *s = filled();
	char r[1024];
	bool close;
	CHECK_EQ(http(s, "GET /name HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof(r), &close), 200);
	CHECK_STR(body_of(r), "first\nsecond");
	CHECK(strstr(r, "Content-Type: text/plain\r\n"));
	CHECK(strstr(r, "Content-Length: 12\r\n"));
	CHECK(!close);
	CHECK_EQ(
	    http(s, "GET http://169.254.169.254/name/first HTTP/1.0\r\n\r\n", r, sizeof(r), &close),
	    200);
	CHECK_STR(body_of(r), "John");
	CHECK(close); /* HTTP/1.0 without keep-alive */
	CHECK_EQ(http(s,
		      "GET /name HTTP/1.1\r\naccept: application/json\r\nConnection: close\r\n\r\n",
		      r, sizeof(r), &close),
		 200);
	CHECK_STR(body_of(r), "{\"first\":\"John\",\"second\":\"Doe\"}");
	CHECK(strstr(r, "Content-Type: application/json\r\n"));
	CHECK(close);
	CHECK_EQ(http(s, "GET /nope HTTP/1.1\r\n\r\n", r, sizeof(r), &close), 404);
	CHECK_STR(body_of(r), "Resource not found: /nope.");
	CHECK_EQ(http(s, "GET /age HTTP/1.1\r\n\r\n", r, sizeof(r), &close), 501);
	CHECK_EQ(http(s, "POST /name HTTP/1.1\r\n\r\n", r, sizeof(r), &close), 405);
	CHECK(strstr(r, "Allow: GET, PUT\r\n"));
	CHECK_EQ(http(s, "GET http://x HTTP/1.1\r\n\r\n", r, sizeof(r), &close), 400);
	CHECK_STR(body_of(r), "Invalid URI.");
	/* V1 takes a token if given, valid or not */
	CHECK_EQ(
	    http(s, "GET /name HTTP/1.1\r\nX-metadata-token: junk\r\n\r\n", r, sizeof(r), &close),
	    200);
	/* incomplete: nothing yet */
	CHECK_EQ(http(s, "GET /name HTTP/1.1\r\nHost: x\r\n", r, sizeof(r), &close), 0);
	/* malformed */
	CHECK_EQ(http(s, "GET /name\r\n\r\n", r, sizeof(r), &close), 400);
	CHECK(close);
	CHECK_EQ(http(s, "GET /name HTTP/2.0\r\n\r\n", r, sizeof(r), &close), 400);
	CHECK_EQ(http(s, "GET /na me HTTP/1.1\r\n\r\n", r, sizeof(r), &close), 400);
	CHECK_EQ(http(s, "GET /name HTTP/1.1\r\nNoColon\r\n\r\n", r, sizeof(r), &close), 400);
	CHECK_EQ(
	    http(s, "GET /name HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", r, sizeof(r), &close),
	    400);
	CHECK_EQ(http(s, "GET /name HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", r, sizeof(r),
		      &close),
		 400);
	/* a body is waited for, then skipped */
	CHECK_EQ(http(s, "GET /name HTTP/1.1\r\nContent-Length: 4\r\n\r\nab", r, sizeof(r), &close),
		 0);
	CHECK_EQ(
	    http(s, "GET /name HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd", r, sizeof(r), &close),
	    200);
	mmds_store__destroy(s);
}

static void test_http_v2(void)
{
	struct mmds_store *s = filled();
	mmds_store__set_options(s, MMDS_V2, false);
	char r[1024], req[512];
	bool close;
	CHECK_EQ(http(s, "GET /name HTTP/1.1\r\n\r\n", r, sizeof(r), &close), 401);
	CHECK(strstr(body_of(r), "No MMDS token provided."));
	CHECK_EQ(
	    http(s, "GET /name HTTP/1.1\r\nX-metadata-token: junk\r\n\r\n", r, sizeof(r), &close),
	    401);
	CHECK_STR(body_of(r), "MMDS token not valid.");
	CHECK_EQ(http(s, "PUT /latest/api/token HTTP/1.1\r\n\r\n", r, sizeof(r), &close), 400);
	CHECK(strstr(body_of(r), "Token time to live value not found."));
	CHECK_EQ(http(s,
		      "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 0\r\n\r\n",
		      r, sizeof(r), &close),
		 400);
	CHECK(strstr(body_of(r), "Invalid time to live value provided for token: 0."));
	CHECK_EQ(
	    http(s, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 21601\r\n\r\n",
		 r, sizeof(r), &close),
	    400);
	CHECK_EQ(http(s,
		      "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: x\r\n\r\n",
		      r, sizeof(r), &close),
		 400);
	CHECK_EQ(http(s,
		      "PUT /latest/api/token HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n"
		      "X-metadata-token-ttl-seconds: 60\r\n\r\n",
		      r, sizeof(r), &close),
		 400);
	CHECK_EQ(http(s, "PUT /latest/api/x HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n",
		      r, sizeof(r), &close),
		 404);
	CHECK_EQ(http(s,
		      "PUT //latest//api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: "
		      "60\r\n\r\n",
		      r, sizeof(r), &close),
		 200);
	CHECK(strstr(r, "X-aws-ec2-metadata-token-ttl-seconds: 60\r\n"));
	char tok[MMDS_TOKEN_LEN + 1];
	snprintf(tok, sizeof(tok), "%s", body_of(r));
	CHECK_EQ(strlen(tok), MMDS_TOKEN_LEN);
	snprintf(req, sizeof(req), "GET /name/first HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n", tok);
	CHECK_EQ(http(s, req, r, sizeof(r), &close), 200);
	CHECK_STR(body_of(r), "John");
	snprintf(req, sizeof(req),
		 "GET /name/first HTTP/1.1\r\nx-aws-ec2-metadata-token:  %s \r\n\r\n", tok);
	CHECK_EQ(http(s, req, r, sizeof(r), &close), 200);
	mmds_store__destroy(s);
}

CHECK_MAIN("mmds_store", CHECK_CASE(test_put_get_sorted), CHECK_CASE(test_put_rejects),
	   CHECK_CASE(test_limit), CHECK_CASE(test_patch), CHECK_CASE(test_lookup_imds),
	   CHECK_CASE(test_lookup_json), CHECK_CASE(test_siphash_vector), CHECK_CASE(test_tokens),
	   CHECK_CASE(test_http_v1), CHECK_CASE(test_http_v2))
