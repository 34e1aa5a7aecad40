/* The HTTP/1.1 request parser and response writer. */
#include <stdlib.h>

#include "api/http.h"
#include "check.h"

static long parse(const char *s, struct http_request *r)
{
	return http__parse(s, strlen(s), r);
}

static void test_simple_get(void)
{
	struct http_request r;
	const char *s = "GET /machine-config HTTP/1.1\r\nHost: localhost\r\n\r\n";
	CHECK_EQ(parse(s, &r), (long)strlen(s));
	CHECK_EQ(r.method, HTTP_GET);
	CHECK_STR(r.path, "/machine-config");
	CHECK(r.keep_alive);
	CHECK_EQ(r.body_len, 0);
}

static void test_body_and_query(void)
{
	struct http_request r;
	const char *s = "PUT /boot-source?x=1 HTTP/1.1\r\ncontent-LENGTH:  5 \r\n\r\nhello";
	CHECK_EQ(parse(s, &r), (long)strlen(s));
	CHECK_EQ(r.method, HTTP_PUT);
	CHECK_STR(r.path, "/boot-source");
	CHECK_EQ(r.body_len, 5);
	CHECK(memcmp(s + r.head_len, "hello", 5) == 0);
}

static void test_partial_reads(void)
{
	const char *s = "PATCH /vm HTTP/1.1\r\nContent-Length: 20\r\n\r\n{\"state\":\"Paused\"}  ";
	size_t n = strlen(s);
	struct http_request r;
	/* Every prefix is incomplete, never an error; the whole is one request. */
	for (size_t i = 0; i < n; i++) {
		long rc = http__parse(s, i, &r);
		if (rc != 0) {
			CHECK_EQ(rc, 0);
			break;
		}
	}
	CHECK_EQ(http__parse(s, n, &r), (long)n);
	CHECK_EQ(r.method, HTTP_PATCH);
	/* Once the head is in, only the body is missing. */
	CHECK_EQ(http__parse(s, n - 3, &r), 0);
	CHECK(r.head_done);
}

static void test_pipelining(void)
{
	const char *s = "GET / HTTP/1.1\r\n\r\nPUT /actions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
			"GET /version HTTP/1.1\r\n\r\n";
	struct http_request r;
	size_t off = 0, n = strlen(s);
	const char *paths[] = {"/", "/actions", "/version"};
	for (int i = 0; i < 3; i++) {
		long rc = http__parse(s + off, n - off, &r);
		CHECK(rc > 0);
		if (rc <= 0)
			return;
		CHECK_STR(r.path, paths[i]);
		off += (size_t)rc;
	}
	CHECK_EQ(off, n);
}

static void test_connection_and_version(void)
{
	struct http_request r;
	CHECK(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK(!r.keep_alive);
	CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0);
	CHECK(r.keep_alive);
	CHECK(parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &r) > 0);
	CHECK(!r.keep_alive);
	CHECK_EQ(parse("GET / HTTP/2.0\r\n\r\n", &r), -1);
	CHECK_EQ(parse("GET / HTTP/1.1x\r\n\r\n", &r), -1);
}

static void test_expect_continue(void)
{
	struct http_request r;
	CHECK_EQ(parse("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", &r),
		 0);
	CHECK(r.head_done);
	CHECK(r.expect_continue);
	CHECK_EQ(parse("PUT /x HTTP/1.1\r\nExpect: something\r\n\r\n", &r), -1);
}

static void test_rejects_malformed(void)
{
	struct http_request r;
	const char *bad[] = {
	    "GET/ HTTP/1.1\r\n\r\n",
	    "get / HTTP/1.1\r\n\r\n",
	    "GET  / HTTP/1.1\r\n\r\n",
	    "GET http://x/ HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1\n\n",
	    "GET / HTTP/1.1\r\nHost localhost\r\n\r\n",
	    "GET / HTTP/1.1\r\n Folded: x\r\n\r\n",
	    "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	    "\r\n\r\n",
	    "GET /\x01 HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &r) != -1) {
			char m[128];
			snprintf(m, sizeof(m), "accepted bad request #%zu", i);
			check__fail(__FILE__, __LINE__, m);
		}
	}
	/* a NUL in the head */
	CHECK_EQ(http__parse("GET / HTTP/1.1\r\nX: \0\r\n\r\n", 25, &r), -1);
	/* a bare LF is refused at once, not after a timeout */
	CHECK_EQ(parse("GET / HTTP/1.1\n", &r), -1);
}

static void test_limits(void)
{
	struct http_request r;
	char *big = malloc(HTTP_MAX_HEAD + 100);
	/* An unterminated head: incomplete below the limit, an error at it. */
	strcpy(big, "GET / HTTP/1.1\r\nX: ");
	size_t n = strlen(big);
	memset(big + n, 'a', HTTP_MAX_HEAD + 50 - n);
	CHECK_EQ(http__parse(big, HTTP_MAX_HEAD - 1, &r), 0);
	CHECK_EQ(http__parse(big, HTTP_MAX_HEAD + 50, &r), -1);
	free(big);
	char head[128];
	snprintf(head, sizeof(head), "PUT /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
		 HTTP_MAX_BODY);
	CHECK_EQ(parse(head, &r), 0);
	snprintf(head, sizeof(head), "PUT /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n",
		 HTTP_MAX_BODY + 1);
	CHECK_EQ(parse(head, &r), -1);
	CHECK(strstr(r.error, "larger than the limit") != NULL);
	CHECK_EQ(parse("PUT /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", &r), -1);
	/* too many headers */
	char many[4096] = "GET / HTTP/1.1\r\n";
	for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
		strcat(many, "A: b\r\n");
	strcat(many, "\r\n");
	CHECK_EQ(parse(many, &r), -1);
	/* a path too long */
	char *lp = malloc(HTTP_MAX_PATH + 64);
	strcpy(lp, "GET /");
	memset(lp + 5, 'p', HTTP_MAX_PATH);
	strcpy(lp + 5 + HTTP_MAX_PATH, " HTTP/1.1\r\n\r\n");
	CHECK_EQ(parse(lp, &r), -1);
	free(lp);
}

static void test_other_methods(void)
{
	struct http_request r;
	CHECK(parse("DELETE /drives/x HTTP/1.1\r\n\r\n", &r) > 0);
	CHECK_EQ(r.method, HTTP_OTHER);
	CHECK_STR(r.method_name, "DELETE");
}

static void test_response(void)
{
	struct json_out o = {0};
	http__write_response(&o, 204, NULL, 0, true);
	CHECK_STR(o.buf,
		  "HTTP/1.1 204 No Content\r\nServer: ember\r\nConnection: keep-alive\r\n\r\n");
	json_out__free(&o);
	http__write_response(&o, 400, "{}", 2, false);
	CHECK(strstr(o.buf, "HTTP/1.1 400 Bad Request\r\n") == o.buf);
	CHECK(strstr(o.buf, "Content-Length: 2\r\n\r\n{}") != NULL);
	CHECK(strstr(o.buf, "Connection: close") != NULL);
	json_out__free(&o);
	http__write_response_with(&o, 204, NULL, 0, true, "Deprecation: true\r\n");
	CHECK_STR(o.buf, "HTTP/1.1 204 No Content\r\nServer: ember\r\nConnection: "
			 "keep-alive\r\nDeprecation: true\r\n\r\n");
	json_out__free(&o);
}

CHECK_MAIN("http", CHECK_CASE(test_simple_get), CHECK_CASE(test_body_and_query),
	   CHECK_CASE(test_partial_reads), CHECK_CASE(test_pipelining),
	   CHECK_CASE(test_connection_and_version), CHECK_CASE(test_expect_continue),
	   CHECK_CASE(test_rejects_malformed), CHECK_CASE(test_limits),
	   CHECK_CASE(test_other_methods), CHECK_CASE(test_response))
