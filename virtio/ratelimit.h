/* Rate limiters with Firecracker's token-bucket semantics (its API's RateLimiter and
 * TokenBucket objects). Pure arithmetic on a caller-supplied monotonic time in
 * nanoseconds, so tests drive the clock; the virtio serve loop (mmio.h) arms the
 * timer that brings a throttled queue back.
 *
 * A bucket holds up to `size` tokens and starts full; it refills continuously at
 * size per refill_time milliseconds, never above size. one_time_burst is extra
 * credit spent before the budget and never refilled. size 0 or refill_time 0 means
 * no limit. A request larger than size is let through once: it empties the bucket
 * and blocks the limiter for as long as refilling the excess takes. */
#ifndef EMBER_VIRTIO_RATELIMIT_H
#define EMBER_VIRTIO_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct tbucket {
	struct token_bucket_config p;
	uint64_t burst;	  /* one_time_burst left */
	uint64_t budget;  /* tokens, at most p.size */
	uint64_t last_ns; /* time up to which refill is accounted */
	/* size / (refill_time in ns), reduced by their gcd so products stay small. */
	uint64_t rate_num, rate_den;
};

enum tbucket_result {
	TBUCKET_OK,    /* consumed */
	TBUCKET_SHORT, /* not enough tokens yet: nothing consumed */
	TBUCKET_OVER,  /* more than size: consumed, the bucket is empty and owes the rest */
};

bool tbucket__enabled(const struct tbucket *b);
/* A full bucket as of now_ns; disabled if p is NULL, or its size or refill_time is 0. */
void tbucket__init(struct tbucket *b, const struct token_bucket_config *p, uint64_t now_ns);
/* Takes `tokens`. TBUCKET_OVER sets *owed_ns to the time refilling the tokens taken
 * beyond the budget needs. A disabled bucket always says TBUCKET_OK. */
enum tbucket_result tbucket__reduce(struct tbucket *b, uint64_t tokens, uint64_t now_ns,
				    uint64_t *owed_ns);
/* Gives back tokens a reduce took (burst first while it lasts), up to the limits. */
void tbucket__replenish(struct tbucket *b, uint64_t tokens);
/* Nanoseconds from now_ns until `tokens` (at most size) can be taken; 0 if now. */
uint64_t tbucket__wait_ns(struct tbucket *b, uint64_t tokens, uint64_t now_ns);

/* Firecracker's RateLimiter (config.h): a request takes from both buckets or neither. */
struct ratelimit {
	struct tbucket bandwidth, ops;
	/* Blocked until then: nothing is consumed before, even if tokens came back. */
	uint64_t until_ns;
};

void ratelimit__init(struct ratelimit *rl, const struct rate_limiter_config *p, uint64_t now_ns);
bool ratelimit__enabled(const struct ratelimit *rl);
/* Takes `bytes` bandwidth tokens and `ops` ops tokens, or none (false: throttled,
 * rl->until_ns says when to try again). */
bool ratelimit__consume(struct ratelimit *rl, uint64_t bytes, uint64_t ops, uint64_t now_ns);
/* New limits, as a PATCH gives them: a NULL bucket keeps its current state, a
 * given one starts full (Firecracker's update). If any is given the limiter is
 * unblocked, so the caller serves its queue again under the new limits; nothing
 * queued is lost. */
void ratelimit__update(struct ratelimit *rl, const struct token_bucket_config *bandwidth,
		       const struct token_bucket_config *ops, uint64_t now_ns);

/* Snapshots: a limiter as it stands, with its times relative to the moment of the
 * save, so that a restore on another boot or host (another CLOCK_MONOTONIC) goes on
 * from the same point: tokens earned while the VM was saved are not handed out. */
struct tbucket_state {
	struct token_bucket_config p;
	uint64_t burst, budget;
	uint64_t elapsed_ns; /* since last_ns */
};
/* The snapshot fields of a tbucket_state b, as X(name, member), for every device that
 * saves a limiter: its limits (size, one-time-burst, refill-time-ms) and where it stands
 * (burst-left, budget, elapsed-ns since its last refill). */
#define TBUCKET_STATE_FIELDS(X, b)                                                                 \
	X("size", b.p.size)                                                                        \
	X("one-time-burst", b.p.one_time_burst)                                                    \
	X("refill-time-ms", b.p.refill_time)                                                       \
	X("burst-left", b.burst)                                                                   \
	X("budget", b.budget)                                                                      \
	X("elapsed-ns", b.elapsed_ns)
struct ratelimit_state {
	struct tbucket_state bandwidth, ops;
	uint64_t wait_ns; /* how long the limiter was still blocked */
};
void tbucket__save(const struct tbucket *b, uint64_t now_ns, struct tbucket_state *out);
/* -1 with err (b unchanged) if the bucket holds more than its limits allow. */
int tbucket__load(struct tbucket *b, const struct tbucket_state *in, uint64_t now_ns, char *err,
		  size_t errlen);
void ratelimit__save(const struct ratelimit *rl, uint64_t now_ns, struct ratelimit_state *out);
/* Sets rl to a saved state as of now_ns. -1 with err (rl unchanged) if a bucket holds
 * more than its limits allow. */
int ratelimit__load(struct ratelimit *rl, const struct ratelimit_state *in, uint64_t now_ns,
		    char *err, size_t errlen);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ratelimit__now(void);

#endif
