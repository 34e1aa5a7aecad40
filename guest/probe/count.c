/* probe.count=MS: prints `PROBE count N` every MS milliseconds, N = 0, 1, 2, ...,
 * forever, from ring 3 (where kvm_pvm runs the guest natively). The snapshot tests
 * pause, save, kill and restore the VM meanwhile: a restored probe goes on with the
 * next N, and prints no second `PROBE hello`. Time is the TSC, which a snapshot
 * carries over, so a restored probe does not fast-forward. */
#include "probe.h"

static uint64_t count_loop(void *arg)
{
	uint64_t period_us = *(const uint64_t *)arg * 1000;
	for (uint64_t n = 0;; n++) {
		uart__printf("PROBE count %lu\n", n);
		time__delay_us(period_us);
	}
	return 0;
}

void count__run(struct probe *p)
{
	static uint64_t ms;
	if (cmdline__get_u64("probe.count", 10, &ms) || !ms)
		return;
	uart__printf("PROBE count start period_ms=%lu\n", ms);
	user__call(count_loop, &ms, false);
	probe__check(p, "count", false, "the counting loop returned");
}
