/* Token-bucket arithmetic and the limiter, on an injected clock (ns). */
#include <string.h>

#include "check.h"
#include "virtio/ratelimit.h"

#define MS 1000000ull

static void starts_full_and_refills_continuously(void)
{
	struct tbucket b;
	uint64_t owed = 0;
	/* 1000 tokens per 100 ms: one token per 100 us. */
	tbucket__init(&b, &(struct token_bucket_config){.size = 1000, .refill_time = 100}, 0);
	CHECK(tbucket__enabled(&b));
	CHECK_EQ(tbucket__reduce(&b, 1000, 0, &owed), TBUCKET_OK);
	CHECK_EQ(tbucket__reduce(&b, 1, 0, &owed), TBUCKET_SHORT);
	/* 10 ms later: 100 tokens, not 101. */
	CHECK_EQ(tbucket__reduce(&b, 101, 10 * MS, &owed), TBUCKET_SHORT);
	CHECK_EQ(b.budget, 100);
	CHECK_EQ(tbucket__reduce(&b, 100, 10 * MS, &owed), TBUCKET_OK);
	CHECK_EQ(b.budget, 0);
	/* Fractions of a token carry over: 150 us gives 1, another 50 us another 1. */
	CHECK_EQ(tbucket__reduce(&b, 2, 10 * MS + 150000, &owed), TBUCKET_SHORT);
	CHECK_EQ(b.budget, 1);
	CHECK_EQ(tbucket__reduce(&b, 2, 10 * MS + 200000, &owed), TBUCKET_OK);
	/* Never above size, however long it waited. */
	CHECK_EQ(tbucket__reduce(&b, 1001, 10000 * MS, &owed), TBUCKET_OVER);
	tbucket__init(&b, &(struct token_bucket_config){.size = 1000, .refill_time = 100}, 0);
	CHECK_EQ(tbucket__reduce(&b, 10, 0, &owed), TBUCKET_OK);
	/* Refill is passive, as in Firecracker: only a shortage looks at the clock. */
	CHECK_EQ(tbucket__reduce(&b, 1, 5000 * MS, &owed), TBUCKET_OK);
	CHECK_EQ(b.budget, 989);
	CHECK_EQ(tbucket__reduce(&b, 990, 5000 * MS, &owed), TBUCKET_OK);
	CHECK_EQ(b.budget, 10);
}

static void one_time_burst_first_and_not_refilled(void)
{
	struct tbucket b;
	uint64_t owed = 0;
	tbucket__init(
	    &b, &(struct token_bucket_config){.size = 100, .one_time_burst = 50, .refill_time = 10},
	    0);
	CHECK_EQ(tbucket__reduce(&b, 30, 0, &owed), TBUCKET_OK);
	CHECK_EQ(b.burst, 20);
	CHECK_EQ(b.budget, 100); /* burst spent first */
	/* Partly burst, partly budget. */
	CHECK_EQ(tbucket__reduce(&b, 50, 1 * MS, &owed), TBUCKET_OK);
	CHECK_EQ(b.burst, 0);
	CHECK_EQ(b.budget, 70);
	/* The burst never comes back; the budget refills to size only. */
	CHECK_EQ(tbucket__reduce(&b, 100, 100 * MS, &owed), TBUCKET_OK);
	CHECK_EQ(b.burst, 0);
	CHECK_EQ(b.budget, 0);
	CHECK_EQ(tbucket__reduce(&b, 1, 100 * MS, &owed), TBUCKET_SHORT);
	/* Replenish (an undone consume) fills the burst while it lasts, capped. */
	tbucket__init(
	    &b, &(struct token_bucket_config){.size = 100, .one_time_burst = 50, .refill_time = 10},
	    0);
	CHECK_EQ(tbucket__reduce(&b, 10, 0, &owed), TBUCKET_OK);
	tbucket__replenish(&b, 100);
	CHECK_EQ(b.burst, 50);
	CHECK_EQ(b.budget, 100);
}

static void larger_than_size_is_overconsumption(void)
{
	struct tbucket b;
	uint64_t owed = 0;
	tbucket__init(&b, &(struct token_bucket_config){.size = 1000, .refill_time = 100}, 0);
	CHECK_EQ(tbucket__reduce(&b, 400, 0, &owed), TBUCKET_OK);
	/* 2600 > size: goes through, empties the 600 left and owes 2000 = 2 refills. */
	CHECK_EQ(tbucket__reduce(&b, 2600, 0, &owed), TBUCKET_OVER);
	CHECK_EQ(b.budget, 0);
	CHECK_EQ(owed, 200 * MS);
}

static void zero_means_unlimited(void)
{
	struct tbucket b;
	uint64_t owed = 0;
	tbucket__init(&b, &(struct token_bucket_config){.size = 0, .refill_time = 100}, 0);
	CHECK(!tbucket__enabled(&b));
	CHECK_EQ(tbucket__reduce(&b, UINT64_MAX, 0, &owed), TBUCKET_OK);
	tbucket__init(&b, &(struct token_bucket_config){.size = 10, .refill_time = 0}, 0);
	CHECK(!tbucket__enabled(&b));
	CHECK_EQ(tbucket__wait_ns(&b, 5, 0), 0);
	struct ratelimit rl;
	ratelimit__init(&rl, &(struct rate_limiter_config){0}, 0);
	CHECK(!ratelimit__enabled(&rl));
	for (int i = 0; i < 1000; i++)
		CHECK(ratelimit__consume(&rl, 1u << 30, 1, 0));
}

static void wait_is_time_to_the_tokens(void)
{
	struct tbucket b;
	uint64_t owed = 0;
	/* 10 tokens per 10 ms: 1 per ms. */
	tbucket__init(&b, &(struct token_bucket_config){.size = 10, .refill_time = 10}, 0);
	CHECK_EQ(tbucket__reduce(&b, 10, 0, &owed), TBUCKET_OK);
	CHECK_EQ(tbucket__wait_ns(&b, 4, 0), 4 * MS);
	CHECK_EQ(tbucket__wait_ns(&b, 4, 1 * MS + 500000), 2 * MS + 500000);
	CHECK_EQ(tbucket__wait_ns(&b, 4, 4 * MS), 0);
	CHECK_EQ(tbucket__reduce(&b, 4, 4 * MS, &owed), TBUCKET_OK);
}

static void limiter_blocks_until_tokens_return(void)
{
	struct ratelimit rl;
	/* 1 MB per 100 ms and 10 ops per 100 ms. */
	ratelimit__init(
	    &rl,
	    &(struct rate_limiter_config){.bandwidth = {.size = 1000000, .refill_time = 100},
					  .ops = {.size = 10, .refill_time = 100}},
	    0);
	CHECK(ratelimit__enabled(&rl));
	for (int i = 0; i < 10; i++)
		CHECK(ratelimit__consume(&rl, 1000, 1, 0));
	/* Ops exhausted: throttled for the 10 ms one op takes. */
	CHECK(!ratelimit__consume(&rl, 1000, 1, 0));
	CHECK_EQ(rl.until_ns, 10 * MS);
	CHECK(!ratelimit__consume(&rl, 1000, 1, 9 * MS));
	CHECK(ratelimit__consume(&rl, 1000, 1, 10 * MS));
	/* Bandwidth short: the op it took is given back. */
	ratelimit__init(
	    &rl,
	    &(struct rate_limiter_config){.bandwidth = {.size = 1000, .refill_time = 100},
					  .ops = {.size = 10, .refill_time = 100}},
	    0);
	CHECK(ratelimit__consume(&rl, 900, 1, 0));
	CHECK(!ratelimit__consume(&rl, 200, 1, 0));
	CHECK_EQ(rl.ops.budget, 9);
	CHECK_EQ(rl.until_ns, 10 * MS);
	/* Over-consumption goes through but blocks for the excess: 100 + 100 refilled
	 * tokens are there, 2900 more take 290 ms. */
	CHECK(ratelimit__consume(&rl, 3100, 1, 10 * MS));
	CHECK_EQ(rl.until_ns, 10 * MS + 290 * MS);
	CHECK(!ratelimit__consume(&rl, 1, 1, 299 * MS));
	CHECK(ratelimit__consume(&rl, 1, 1, 300 * MS));
	/* A short wait is rounded up to a millisecond, not a timer per token. */
	ratelimit__init(
	    &rl, &(struct rate_limiter_config){.bandwidth = {.size = 1000000, .refill_time = 1}},
	    0);
	CHECK(ratelimit__consume(&rl, 1000000, 1, 0));
	CHECK(!ratelimit__consume(&rl, 1, 1, 0));
	CHECK_EQ(rl.until_ns, 1 * MS);
}

static void update_keeps_or_replaces_buckets(void)
{
	struct ratelimit rl;
	ratelimit__init(
	    &rl,
	    &(struct rate_limiter_config){.bandwidth = {.size = 1000, .refill_time = 1000},
					  .ops = {.size = 5, .refill_time = 1000}},
	    0);
	CHECK(ratelimit__consume(&rl, 1000, 1, 0));
	CHECK(!ratelimit__consume(&rl, 1000, 1, 0));
	CHECK(rl.until_ns > 0);
	/* Bandwidth raised, ops kept: unblocked at once, ops still spent. */
	ratelimit__update(&rl, &(struct token_bucket_config){.size = 5000, .refill_time = 1000},
			  NULL, 1 * MS);
	CHECK_EQ(rl.until_ns, 0);
	CHECK_EQ(rl.ops.budget, 4);
	CHECK(ratelimit__consume(&rl, 5000, 1, 1 * MS));
	/* Nothing changed: the wait stays. */
	CHECK(!ratelimit__consume(&rl, 5000, 1, 1 * MS));
	uint64_t until = rl.until_ns;
	CHECK(until > 1 * MS);
	ratelimit__update(&rl, NULL, NULL, 1 * MS);
	CHECK_EQ(rl.until_ns, until);
	/* size 0 disables that bucket. */
	ratelimit__update(&rl, &(struct token_bucket_config){0}, &(struct token_bucket_config){0},
			  2 * MS);
	CHECK(!ratelimit__enabled(&rl));
	CHECK(ratelimit__consume(&rl, 1ull << 40, 1000, 2 * MS));
}

/* Paced use over simulated time stays within the configured rate. */
static void long_run_matches_rate(void)
{
	struct ratelimit rl;
	/* 1 MiB/s in 100 ms buckets, 64 KiB requests. */
	ratelimit__init(
	    &rl, &(struct rate_limiter_config){.bandwidth = {.size = 104857, .refill_time = 100}},
	    0);
	uint64_t now = 0, bytes = 0;
	while (now < 10000 * MS) {
		if (ratelimit__consume(&rl, 65536, 1, now))
			bytes += 65536;
		else
			now = rl.until_ns;
	}
	/* 10 s at 1048570 B/s plus the initial full bucket. */
	uint64_t expect = 10ull * 1048570 + 104857;
	CHECK(bytes <= expect + 65536);
	CHECK(bytes >= expect - 2 * 65536);
}

/* A limiter saved at one clock and loaded at another (a new process, host or boot) goes
 * on from the same point: same tokens, same fraction of refill, same wait left. */
static void save_and_load_across_clocks(void)
{
	struct ratelimit rl, back;
	struct ratelimit_state st;
	char err[256];
	ratelimit__init(&rl,
			&(struct rate_limiter_config){
			    .bandwidth = {.size = 1000, .one_time_burst = 500, .refill_time = 100},
			    .ops = {.size = 10, .refill_time = 1000}},
			0);
	/* Burst gone, bucket empty, and 2000 owed: blocked for 200 ms from 1 ms. */
	CHECK(ratelimit__consume(&rl, 3500, 1, 1 * MS));
	CHECK(!ratelimit__consume(&rl, 1, 1, 2 * MS));
	ratelimit__save(&rl, 51 * MS, &st);
	CHECK_EQ(st.bandwidth.p.size, 1000);
	CHECK_EQ(st.bandwidth.burst, 0);
	CHECK_EQ(st.bandwidth.budget, 0);
	CHECK_EQ(st.ops.budget, 9);
	CHECK_EQ(st.wait_ns, 150 * MS);
	/* Loaded at 1000 s on another clock: still blocked for 150 ms, not a token more. */
	const uint64_t t = 1000000 * MS;
	CHECK_EQ(ratelimit__load(&back, &st, t, err, sizeof(err)), 0);
	CHECK(ratelimit__enabled(&back));
	CHECK(!ratelimit__consume(&back, 1, 1, t + 149 * MS));
	CHECK(ratelimit__consume(&back, 1, 1, t + 150 * MS));
	/* The same answers as the original limiter at the same point of its own clock. */
	CHECK(!ratelimit__consume(&rl, 1, 1, 200 * MS));
	CHECK(ratelimit__consume(&rl, 1, 1, 201 * MS));
	CHECK_EQ(back.bandwidth.budget, rl.bandwidth.budget);
	CHECK_EQ(back.ops.budget, rl.ops.budget);
	CHECK_EQ(back.ops.budget, 8);
	/* A saved bucket above its limits is refused and changes nothing. */
	struct ratelimit keep = back;
	st.bandwidth.budget = 1001;
	CHECK_EQ(ratelimit__load(&back, &st, t, err, sizeof(err)), -1);
	CHECK(strstr(err, "bandwidth") != NULL);
	CHECK(!memcmp(&keep, &back, sizeof(keep)));
	/* No limits saved: none loaded. */
	ratelimit__init(&rl, NULL, 0);
	ratelimit__save(&rl, 5 * MS, &st);
	CHECK_EQ(ratelimit__load(&back, &st, t, err, sizeof(err)), 0);
	CHECK(!ratelimit__enabled(&back));
}

CHECK_MAIN("ratelimit", CHECK_CASE(starts_full_and_refills_continuously),
	   CHECK_CASE(one_time_burst_first_and_not_refilled),
	   CHECK_CASE(larger_than_size_is_overconsumption), CHECK_CASE(zero_means_unlimited),
	   CHECK_CASE(wait_is_time_to_the_tokens), CHECK_CASE(limiter_blocks_until_tokens_return),
	   CHECK_CASE(update_keeps_or_replaces_buckets), CHECK_CASE(long_run_matches_rate),
	   CHECK_CASE(save_and_load_across_clocks))
