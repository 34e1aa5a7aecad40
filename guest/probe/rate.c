/* probe.<what>_repeat=N: repeats one request of a device test N times and reports the
 * rate it got, so the host can check a rate limiter (tests/kvm/t_ratelimit.sh). Every
 * eighth of the run prints a progress line, so the host can change a limit midway
 * and see the rate after it. */
#include "probe.h"

#define RATE_STEPS 8

void rate__repeat(struct probe *p, const char *what, rate_op op, void *ctx)
{
	char key[40];
	size_t n = strlen(what);
	if (n > sizeof(key) - 16)
		return;
	memcpy(key, "probe.", 6);
	memcpy(key + 6, what, n);
	memcpy(key + 6 + n, "_repeat", 8);
	uint64_t reps = 0;
	if (cmdline__get_u64(key, 10, &reps) || !reps)
		return;
	uint64_t step = reps / RATE_STEPS ? reps / RATE_STEPS : 1;
	uint64_t bytes = 0, t0 = time__us(), last_t = t0, last_b = 0;
	const char *why = NULL;
	for (uint64_t i = 0; i < reps && !why; i++) {
		uint32_t b = 0;
		why = op(p, ctx, &b);
		bytes += b;
		if ((i + 1) % step == 0 || i + 1 == reps) {
			uint64_t t = time__us();
			uart__printf("PROBE rate %s step=%lu bytes=%lu us=%lu\n", what,
				     (unsigned long)((i + 1) / step),
				     (unsigned long)(bytes - last_b), (unsigned long)(t - last_t));
			last_t = t;
			last_b = bytes;
		}
	}
	uint64_t us = time__us() - t0;
	uart__printf("PROBE rate %s n=%lu bytes=%lu us=%lu\n", what, (unsigned long)reps,
		     (unsigned long)bytes, (unsigned long)us);
	probe__check(p, key + 6, why == NULL, "%s", why ? why : "");
}
