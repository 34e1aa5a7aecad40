/* Token buckets and rate limiters (see ratelimit.h). */
#include <stdio.h>
#include <time.h>

#include "ratelimit.h"

#define NS_PER_MS 1000000ull

typedef unsigned __int128 u128;

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

bool tbucket__enabled(const struct tbucket *b)
{
	return b->p.size && b->p.refill_time;
}

void tbucket__init(struct tbucket *b, const struct token_bucket_config *p, uint64_t now_ns)
{
	*b = (struct tbucket){0};
	/* A refill time whose nanoseconds overflow is no limit, as in Firecracker. */
	if (!p || !p->size || !p->refill_time || p->refill_time > UINT64_MAX / NS_PER_MS)
		return;
	b->p = *p;
	b->burst = p->one_time_burst;
	b->budget = p->size;
	b->last_ns = now_ns;
	uint64_t period = p->refill_time * NS_PER_MS;
	uint64_t g = gcd(p->size, period);
	b->rate_num = p->size / g;
	b->rate_den = period / g;
}

/* Adds the tokens earned since last_ns. Only whole tokens are added and last_ns
 * moves on by just the time they took, so fractions carry to the next call. */
static void refill(struct tbucket *b, uint64_t now_ns)
{
	if (now_ns <= b->last_ns)
		return;
	uint64_t delta = now_ns - b->last_ns;
	if (delta >= b->p.refill_time * NS_PER_MS) {
		b->budget = b->p.size;
		b->last_ns = now_ns;
		return;
	}
	/* delta < refill period, so delta * rate_num < size * ... fits in 128 bits. */
	u128 tokens = (u128)delta * b->rate_num / b->rate_den;
	if (!tokens)
		return;
	/* Rounded up: a fraction of a nanosecond must not be spent twice. */
	u128 used = (tokens * b->rate_den + b->rate_num - 1) / b->rate_num;
	b->last_ns += (uint64_t)used;
	u128 nb = (u128)b->budget + tokens;
	b->budget = nb > b->p.size ? b->p.size : (uint64_t)nb;
}

enum tbucket_result tbucket__reduce(struct tbucket *b, uint64_t tokens, uint64_t now_ns,
				    uint64_t *owed_ns)
{
	if (!tbucket__enabled(b))
		return TBUCKET_OK;
	if (b->burst) {
		if (b->burst >= tokens) {
			b->burst -= tokens;
			/* Refill starts only once the burst is spent (the budget is full). */
			b->last_ns = now_ns;
			return TBUCKET_OK;
		}
		tokens -= b->burst;
		b->burst = 0;
	}
	if (tokens > b->budget) {
		refill(b, now_ns);
		if (tokens > b->p.size) {
			/* Firecracker lets it through and makes the limiter wait for the
			 * excess, as many refill periods as it is bucket sizes. */
			uint64_t excess = tokens - b->budget;
			b->budget = 0;
			u128 ns = (u128)excess * b->p.refill_time * NS_PER_MS / b->p.size;
			*owed_ns = ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
			return TBUCKET_OVER;
		}
		if (tokens > b->budget)
			return TBUCKET_SHORT;
	}
	b->budget -= tokens;
	return TBUCKET_OK;
}

void tbucket__replenish(struct tbucket *b, uint64_t tokens)
{
	if (!tbucket__enabled(b))
		return;
	if (b->burst) {
		u128 nb = (u128)b->burst + tokens;
		b->burst = nb > b->p.one_time_burst ? b->p.one_time_burst : (uint64_t)nb;
		return;
	}
	u128 nb = (u128)b->budget + tokens;
	b->budget = nb > b->p.size ? b->p.size : (uint64_t)nb;
}

uint64_t tbucket__wait_ns(struct tbucket *b, uint64_t tokens, uint64_t now_ns)
{
	if (!tbucket__enabled(b))
		return 0;
	if (tokens > b->p.size)
		tokens = b->p.size;
	if (b->burst + b->budget >= tokens)
		return 0;
	refill(b, now_ns);
	if (b->burst + b->budget >= tokens)
		return 0;
	uint64_t deficit = tokens - b->budget - b->burst;
	u128 need = ((u128)deficit * b->rate_den + b->rate_num - 1) / b->rate_num;
	u128 at = (u128)b->last_ns + need;
	return at <= now_ns ? 0 : (at - now_ns > UINT64_MAX ? UINT64_MAX : (uint64_t)(at - now_ns));
}

void ratelimit__init(struct ratelimit *rl, const struct rate_limiter_config *p, uint64_t now_ns)
{
	tbucket__init(&rl->bandwidth, p ? &p->bandwidth : NULL, now_ns);
	tbucket__init(&rl->ops, p ? &p->ops : NULL, now_ns);
	rl->until_ns = 0;
}

bool ratelimit__enabled(const struct ratelimit *rl)
{
	return tbucket__enabled(&rl->bandwidth) || tbucket__enabled(&rl->ops);
}

static void block_until(struct ratelimit *rl, uint64_t now_ns, uint64_t wait_ns)
{
	/* At least a millisecond: the refill is in ms, and a timer per token would cost
	 * more than it paces. */
	if (wait_ns < NS_PER_MS)
		wait_ns = NS_PER_MS;
	uint64_t t = now_ns + wait_ns < now_ns ? UINT64_MAX : now_ns + wait_ns;
	if (t > rl->until_ns)
		rl->until_ns = t;
}

bool ratelimit__consume(struct ratelimit *rl, uint64_t bytes, uint64_t ops, uint64_t now_ns)
{
	if (now_ns < rl->until_ns)
		return false;
	uint64_t owed_ops = 0, owed_bytes = 0;
	enum tbucket_result r = tbucket__reduce(&rl->ops, ops, now_ns, &owed_ops);
	if (r == TBUCKET_SHORT) {
		block_until(rl, now_ns, tbucket__wait_ns(&rl->ops, ops, now_ns));
		return false;
	}
	enum tbucket_result rb = tbucket__reduce(&rl->bandwidth, bytes, now_ns, &owed_bytes);
	if (rb == TBUCKET_SHORT) {
		/* Neither or both: the ops are given back. */
		if (r == TBUCKET_OK)
			tbucket__replenish(&rl->ops, ops);
		block_until(rl, now_ns, tbucket__wait_ns(&rl->bandwidth, bytes, now_ns));
		return false;
	}
	if (r == TBUCKET_OVER)
		block_until(rl, now_ns, owed_ops);
	if (rb == TBUCKET_OVER)
		block_until(rl, now_ns, owed_bytes);
	return true;
}

void ratelimit__update(struct ratelimit *rl, const struct token_bucket_config *bandwidth,
		       const struct token_bucket_config *ops, uint64_t now_ns)
{
	if (bandwidth)
		tbucket__init(&rl->bandwidth, bandwidth, now_ns);
	if (ops)
		tbucket__init(&rl->ops, ops, now_ns);
	/* Unchanged limits keep their wait: a PATCH of {} must not let a request early. */
	if (bandwidth || ops)
		rl->until_ns = 0;
}

void tbucket__save(const struct tbucket *b, uint64_t now_ns, struct tbucket_state *out)
{
	*out = (struct tbucket_state){0};
	if (!tbucket__enabled(b))
		return;
	out->p = b->p;
	out->burst = b->burst;
	out->budget = b->budget;
	out->elapsed_ns = now_ns > b->last_ns ? now_ns - b->last_ns : 0;
}

void ratelimit__save(const struct ratelimit *rl, uint64_t now_ns, struct ratelimit_state *out)
{
	tbucket__save(&rl->bandwidth, now_ns, &out->bandwidth);
	tbucket__save(&rl->ops, now_ns, &out->ops);
	out->wait_ns = rl->until_ns > now_ns ? rl->until_ns - now_ns : 0;
}

int tbucket__load(struct tbucket *b, const struct tbucket_state *in, uint64_t now_ns, char *err,
		  size_t errlen)
{
	struct tbucket n;
	tbucket__init(&n, &in->p, now_ns);
	if (tbucket__enabled(&n) && (in->budget > in->p.size || in->burst > in->p.one_time_burst)) {
		snprintf(err, errlen,
			 "%llu tokens and %llu of burst left, above its size %llu and burst %llu",
			 (unsigned long long)in->budget, (unsigned long long)in->burst,
			 (unsigned long long)in->p.size, (unsigned long long)in->p.one_time_burst);
		return -1;
	}
	if (tbucket__enabled(&n)) {
		n.burst = in->burst;
		n.budget = in->budget;
		n.last_ns = now_ns - (in->elapsed_ns < now_ns ? in->elapsed_ns : now_ns);
	}
	*b = n;
	return 0;
}

static int bucket_load(struct tbucket *b, const struct tbucket_state *in, uint64_t now_ns,
		       const char *what, char *err, size_t errlen)
{
	char why[200];
	if (tbucket__load(b, in, now_ns, why, sizeof(why))) {
		snprintf(err, errlen, "%s bucket: %s", what, why);
		return -1;
	}
	return 0;
}

int ratelimit__load(struct ratelimit *rl, const struct ratelimit_state *in, uint64_t now_ns,
		    char *err, size_t errlen)
{
	struct ratelimit n = {0};
	if (bucket_load(&n.bandwidth, &in->bandwidth, now_ns, "bandwidth", err, errlen) ||
	    bucket_load(&n.ops, &in->ops, now_ns, "ops", err, errlen))
		return -1;
	if (in->wait_ns)
		n.until_ns = now_ns + in->wait_ns < now_ns ? UINT64_MAX : now_ns + in->wait_ns;
	*rl = n;
	return 0;
}

uint64_t ratelimit__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
