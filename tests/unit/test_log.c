/* The log's defences against a guest that triggers messages in a loop: the per-message
 * limiter and the size cap. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "log_capture.h"

static void limiter_bounds_a_flood(void)
{
	log__set_level(LOG_INFO);
	log_to_temp("log");
	struct log_limit a = {.burst = 3, .window_us = 300000},
			 b = {.burst = 3, .window_us = 300000};
	unsigned passed = 0;
	for (int i = 0; i < 1000; i++)
		passed += pr_warn_limited(&a, "dev a: flood %d", i);
	/* Another message (or device) has its own budget. */
	CHECK(pr_warn_limited(&b, "dev b: once"));
	CHECK_EQ(passed, 3);
	usleep(350000);
	/* The next window's first line says how many were dropped meanwhile. */
	CHECK(pr_warn_limited(&a, "dev a: flood again"));
	static char buf[8192];
	log_back(buf, sizeof(buf));
	CHECK_EQ(count(buf, "\n"), 5);
	CHECK_EQ(count(buf, "dev a: flood"), 4);
	CHECK(strstr(buf, "ember: warn: dev a: flood 0\n") != NULL);
	CHECK(strstr(buf, "ember: warn: dev a: flood 2\n") != NULL);
	CHECK(strstr(buf, "dev a: flood 3") == NULL);
	CHECK(strstr(buf, "ember: warn: dev a: flood again (997 more like this suppressed)\n") !=
	      NULL);
	CHECK_EQ(count(buf, "dev b: once"), 1);
	log__set_level(LOG_ERROR);
}

/* Below the log level nothing is written and nothing counts against the budget. */
static void limiter_respects_level(void)
{
	log__set_level(LOG_WARN);
	log_to_temp("log");
	struct log_limit l = {.burst = 1};
	CHECK(!pr_info_limited(&l, "quiet"));
	CHECK(pr_warn_limited(&l, "loud"));
	static char buf[1024];
	log_back(buf, sizeof(buf));
	CHECK_STR(buf, "ember: warn: loud\n");
	log__set_level(LOG_ERROR);
}

static void log_size_is_capped(void)
{
	log__set_level(LOG_INFO);
	log_to_temp("log");
	log__set_max_bytes(1000);
	for (int i = 0; i < 500; i++)
		pr_warn("line %03d of a log that would grow without end", i);
	static char buf[65536];
	size_t n = log_back(buf, sizeof(buf));
	CHECK(n <= 1000 + 100);
	CHECK(n > 900);
	CHECK_EQ(count(buf, "reached its limit of 1000 bytes"), 1);
	/* The notice comes last, so the file says why it ends. */
	CHECK(strstr(buf, "line 499") == NULL);
	const char *last = strrchr(buf, '\n');
	while (last > buf && last[-1] != '\n')
		last--;
	CHECK(strstr(last, "later lines are dropped") != NULL);
	log__set_level(LOG_ERROR);
}

CHECK_MAIN("log", CHECK_CASE(limiter_bounds_a_flood), CHECK_CASE(limiter_respects_level),
	   CHECK_CASE(log_size_is_capped))
