/* probe.count=MS: prints `PROBE count N` every MS milliseconds, N = 0, 1, 2, ...,
 * forever, from ring 3 (where kvm_pvm runs the guest natively). The snapshot tests
 * pause, save, kill and restore the VM meanwhile: a restored probe goes on with the
 * next N, and prints no second `PROBE hello`. Time is the TSC, which a snapshot
 * carries over, so a restored probe does not fast-forward.
 * probe.count_blk=K: at N = 0 and N = K, with probe.virtio=blk, reads the blk test's
 * sectors again and prints `PROBE count-blk N fnv1a=XXXXXXXX` (or `... fail <why>`);
 * with probe.virtio=rng, reads 32 random bytes and prints `PROBE count-rng N
 * nonzero=M` (or `... fail <why>`); with probe.virtio=vsock, arms the event queue at
 * N = 0 and prints `PROBE count-vsock N event=E` at N = K (E = 0 is TRANSPORT_RESET,
 * 4294967295 none). A test that restores between the two sees the
 * same data come back, and more entropy, through the restored queues. */
#include "probe.h"

struct count_args {
	struct probe *p;
	uint64_t ms, blk_at;
	bool blk, rng, vsock;
};

static void blk_line(struct count_args *a, uint64_t n)
{
	uint32_t sum;
	const char *why = virtio__blk_sum(a->p, &sum);
	if (why)
		uart__printf("PROBE count-blk %lu fail %s\n", n, why);
	else
		uart__printf("PROBE count-blk %lu fnv1a=%08x\n", n, sum);
}

static void rng_line(struct count_args *a, uint64_t n)
{
	unsigned nonzero;
	const char *why = virtio__rng_read(a->p, &nonzero);
	if (why)
		uart__printf("PROBE count-rng %lu fail %s\n", n, why);
	else
		uart__printf("PROBE count-rng %lu nonzero=%u\n", n, nonzero);
}

static void vsock_line(struct count_args *a, uint64_t n)
{
	uint32_t ev;
	const char *why = virtio__vsock_event(a->p, &ev);
	if (why)
		uart__printf("PROBE count-vsock %lu fail %s\n", n, why);
	else if (n)
		uart__printf("PROBE count-vsock %lu event=%u\n", n, ev);
}

static uint64_t count_loop(void *arg)
{
	struct count_args *a = arg;
	for (uint64_t n = 0;; n++) {
		if (a->blk && (n == 0 || n == a->blk_at))
			blk_line(a, n);
		if (a->rng && (n == 0 || n == a->blk_at))
			rng_line(a, n);
		if (a->vsock && (n == 0 || n == a->blk_at))
			vsock_line(a, n);
		uart__printf("PROBE count %lu\n", n);
		time__delay_us(a->ms * 1000);
	}
	return 0;
}

void count__run(struct probe *p)
{
	static struct count_args a;
	if (cmdline__get_u64("probe.count", 10, &a.ms) || !a.ms)
		return;
	a.p = p;
	bool io = cmdline__get_u64("probe.count_blk", 10, &a.blk_at) == 0 && a.blk_at;
	a.blk = io && cmdline__has_word("probe.virtio", "blk");
	a.rng = io && cmdline__has_word("probe.virtio", "rng");
	a.vsock = io && cmdline__has_word("probe.virtio", "vsock");
	uart__printf("PROBE count start period_ms=%lu\n", a.ms);
	user__call(count_loop, &a, false);
	probe__check(p, "count", false, "the counting loop returned");
}
