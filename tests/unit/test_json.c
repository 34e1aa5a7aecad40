/* The strict JSON parser and writer. */
#include <stdint.h>

#include "api/json.h"
#include "check.h"

static struct json_tok toks[256];

static int parse(const char *s, struct json_doc *d)
{
	char err[128];
	return json__parse(d, s, strlen(s), toks, 256, err, sizeof(err));
}

static bool rejects(const char *s)
{
	struct json_doc d;
	return parse(s, &d) != 0;
}

static void test_scalars(void)
{
	struct json_doc d;
	CHECK_EQ(parse(" true ", &d), 0);
	CHECK_EQ(d.toks[0].type, JSON_BOOL);
	CHECK_EQ(parse("null", &d), 0);
	CHECK_EQ(d.toks[0].type, JSON_NULL);
	CHECK_EQ(parse("-0.5e+10", &d), 0);
	CHECK_EQ(d.toks[0].type, JSON_NUMBER);
	CHECK_EQ(parse("\"x\"", &d), 0);
	CHECK_EQ(d.toks[0].type, JSON_STRING);
}

static void test_structure(void)
{
	struct json_doc d;
	CHECK_EQ(parse("{\"a\":[1,{\"b\":null},3],\"c\":{}}", &d), 0);
	CHECK_EQ(d.toks[0].type, JSON_OBJECT);
	CHECK_EQ(d.toks[0].count, 2);
	CHECK(json__string_eq(&d, 1, "a"));
	CHECK_EQ(d.toks[2].type, JSON_ARRAY);
	CHECK_EQ(d.toks[2].count, 3);
	/* next skips the whole array subtree to key "c" */
	CHECK(json__string_eq(&d, d.toks[2].next, "c"));
	CHECK_EQ(d.toks[0].next, d.ntoks);
	CHECK_EQ(parse("[]", &d), 0);
	CHECK_EQ(d.toks[0].count, 0);
}

static void test_rejects_malformed(void)
{
	CHECK(rejects(""));
	CHECK(rejects("   "));
	CHECK(rejects("{"));
	CHECK(rejects("{\"a\":1,}"));
	CHECK(rejects("[1,]"));
	CHECK(rejects("[1 2]"));
	CHECK(rejects("{\"a\" 1}"));
	CHECK(rejects("{a:1}"));
	CHECK(rejects("{'a':1}"));
	CHECK(rejects("tru"));
	CHECK(rejects("truex"));
	CHECK(rejects("1 2"));
	CHECK(rejects("{} x"));
	CHECK(rejects("NaN"));
	CHECK(rejects("Infinity"));
	CHECK(rejects("/* c */ 1"));
}

static void test_numbers(void)
{
	CHECK(rejects("01"));
	CHECK(rejects("-"));
	CHECK(rejects("+1"));
	CHECK(rejects("1."));
	CHECK(rejects(".5"));
	CHECK(rejects("1e"));
	CHECK(rejects("0x10"));
	struct json_doc d;
	uint64_t v = 7;
	CHECK_EQ(parse("18446744073709551615", &d), 0);
	CHECK_EQ(json__u64(&d, 0, UINT64_MAX, &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ(parse("18446744073709551616", &d), 0);
	CHECK_EQ(json__u64(&d, 0, UINT64_MAX, &v), JSON_ERANGE);
	CHECK_EQ(parse("99999999999999999999999999", &d), 0);
	CHECK_EQ(json__u64(&d, 0, UINT64_MAX, &v), JSON_ERANGE);
	CHECK_EQ(parse("33", &d), 0);
	CHECK_EQ(json__u64(&d, 0, 32, &v), JSON_ERANGE);
	CHECK_EQ(parse("-1", &d), 0);
	CHECK_EQ(json__u64(&d, 0, 32, &v), JSON_ERANGE);
	CHECK_EQ(parse("-0", &d), 0);
	CHECK_EQ(json__u64(&d, 0, 32, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(parse("1.0", &d), 0);
	CHECK_EQ(json__u64(&d, 0, 32, &v), JSON_ENOTINT);
	CHECK_EQ(parse("1e2", &d), 0);
	CHECK_EQ(json__u64(&d, 0, 1000, &v), JSON_ENOTINT);
	CHECK_EQ(parse("\"1\"", &d), 0);
	CHECK_EQ(json__u64(&d, 0, 1000, &v), JSON_ENOTINT);
}

static void test_strings_escapes(void)
{
	struct json_doc d;
	char out[64];
	CHECK_EQ(parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", &d), 0);
	CHECK_EQ(json__string(&d, 0, out, sizeof(out)), 0);
	CHECK_STR(out, "a\"b\\c/d\b\f\n\r\t");
	CHECK_EQ(parse("\"\\u00e9\\u20ac\\ud83d\\ude00\"", &d), 0);
	CHECK_EQ(json__string(&d, 0, out, sizeof(out)), 0);
	CHECK_STR(out, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	CHECK_EQ(parse("\"\\u0000\"", &d), 0);
	CHECK_EQ(json__string(&d, 0, out, sizeof(out)), -1); /* a C string cannot hold it */
	CHECK(rejects("\"\\x\""));
	CHECK(rejects("\"\\u12\""));
	CHECK(rejects("\"\\ud83d\""));	      /* lone high surrogate */
	CHECK(rejects("\"\\ude00\""));	      /* lone low surrogate */
	CHECK(rejects("\"\\ud83d\\u0041\"")); /* high + non-low */
	CHECK(rejects("\"a\nb\""));	      /* raw control character */
	CHECK(rejects("\"abc"));
	CHECK(rejects("\"\xff\""));	    /* invalid UTF-8 */
	CHECK(rejects("\"\xc0\xaf\""));	    /* overlong */
	CHECK(rejects("\"\xed\xa0\x80\"")); /* encoded surrogate */
	CHECK(!rejects("\"\xe2\x82\xac\""));
	/* too long for the buffer */
	CHECK_EQ(parse("\"abcdefgh\"", &d), 0);
	CHECK_EQ(json__string(&d, 0, out, 8), -1);
	CHECK_EQ(json__string(&d, 0, out, 9), 0);
}

static void test_depth_and_token_limits(void)
{
	char deep[200];
	int n = JSON_MAX_DEPTH + 1;
	memset(deep, '[', (size_t)n);
	memset(deep + n, ']', (size_t)n);
	deep[2 * n] = '\0';
	CHECK(rejects(deep));
	n = JSON_MAX_DEPTH;
	memset(deep, '[', (size_t)n);
	memset(deep + n, ']', (size_t)n);
	deep[2 * n] = '\0';
	CHECK(!rejects(deep));
	/* more values than token slots */
	char many[2048] = "[";
	for (int i = 0; i < 300; i++)
		strcat(many, i ? ",1" : "1");
	strcat(many, "]");
	CHECK(rejects(many));
}

static void test_writer_escapes(void)
{
	struct json_out o = {0};
	json_out__str(&o, "a\"b\\c\n\x01\xff"
			  "\xe2\x82\xac");
	CHECK_STR(o.buf, "\"a\\\"b\\\\c\\u000a\\u0001\\ufffd\xe2\x82\xac\"");
	/* and what it writes parses back */
	struct json_doc d;
	char out[64];
	CHECK_EQ(parse(o.buf, &d), 0);
	CHECK_EQ(json__string(&d, 0, out, sizeof(out)), 0);
	CHECK_STR(out, "a\"b\\c\n\x01\xef\xbf\xbd\xe2\x82\xac");
	json_out__free(&o);
}

CHECK_MAIN("json", CHECK_CASE(test_scalars), CHECK_CASE(test_structure),
	   CHECK_CASE(test_rejects_malformed), CHECK_CASE(test_numbers),
	   CHECK_CASE(test_strings_escapes), CHECK_CASE(test_depth_and_token_limits),
	   CHECK_CASE(test_writer_escapes))
