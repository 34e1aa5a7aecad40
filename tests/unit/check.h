/* A minimal unit-test harness: each test prints one PASS/FAIL line that
 * tests/run.sh counts. Header-only so every test file is one binary. */
#ifndef EMBER_CHECK_H
#define EMBER_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct check_case {
	const char *name;
	void (*fn)(void);
};

static int check__failures;
static char check__first[512];

static inline void check__fail(const char *file, int line, const char *what)
{
	if (check__failures++ == 0)
		snprintf(check__first, sizeof(check__first), "%s:%d: %s", file, line, what);
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			check__fail(__FILE__, __LINE__, #cond);                                    \
	} while (0)
#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
		if (check_a_ != check_b_) {                                                        \
			char check_m_[256];                                                        \
			snprintf(check_m_, sizeof(check_m_), "%s == %s (%lld != %lld)", #a, #b,    \
				 check_a_, check_b_);                                              \
			check__fail(__FILE__, __LINE__, check_m_);                                 \
		}                                                                                  \
	} while (0)
#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_)) {                        \
			char check_m_[400];                                                        \
			snprintf(check_m_, sizeof(check_m_), "%s == \"%.150s\" (got \"%.150s\")",  \
				 #a, check_b_ ? check_b_ : "(null)",                               \
				 check_a_ ? check_a_ : "(null)");                                  \
			check__fail(__FILE__, __LINE__, check_m_);                                 \
		}                                                                                  \
	} while (0)

static inline int check__run(const char *suite, const struct check_case *cases, size_t n)
{
	const char *tier = getenv("CHECK_TIER");
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		check__failures = 0;
		cases[i].fn();
		if (check__failures) {
			printf("FAIL %s/%s/%s: %s\n", tier ? tier : "unit", suite, cases[i].name,
			       check__first);
			failed++;
		} else {
			printf("PASS %s/%s/%s\n", tier ? tier : "unit", suite, cases[i].name);
		}
		fflush(stdout);
	}
	return failed ? 1 : 0;
}

#define CHECK_CASE(fn)                                                                             \
	{                                                                                          \
#fn, fn                                                                            \
	}
#define CHECK_MAIN(suite, ...)                                                                     \
	int main(void)                                                                             \
	{                                                                                          \
		static const struct check_case cases_[] = {__VA_ARGS__};                           \
		return check__run(suite, cases_, sizeof(cases_) / sizeof(cases_[0]));              \
	}

#endif
