/* The console's output rate limiter (PUT /serial rate_limiter): bytes over the rate
 * are dropped and counted, as Firecracker does; on an injected clock. */
#include <fcntl.h>
#include <unistd.h>

#include "check.h"
#include "devices/serial.h"

#define MS 1000000ull

static uint64_t fake_now;
static uint64_t clock_fn(void)
{
	return fake_now;
}

static unsigned drain(int fd)
{
	char buf[4096];
	ssize_t r = read(fd, buf, sizeof(buf));
	return r > 0 ? (unsigned)r : 0;
}

static void put(struct serial *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t b = 'a' + i % 26;
		serial__io(s, 0, &b, true);
	}
}

static void drops_over_the_rate(void)
{
	int p[2];
	CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
	struct serial s;
	serial__init(&s, p[1], NULL, NULL);
	s.now = clock_fn;
	fake_now = 5 * MS;
	/* 10 bytes per 100 ms, plus a 5-byte burst. */
	serial__limit(
	    &s, &(struct token_bucket_config){.size = 10, .one_time_burst = 5, .refill_time = 100});
	put(&s, 100);
	CHECK_EQ(drain(p[0]), 15);
	CHECK_EQ(s.dropped_bytes, 85);
	CHECK_EQ(s.write_count, 15);
	/* 50 ms later, 5 more bytes' worth. */
	fake_now += 50 * MS;
	put(&s, 20);
	CHECK_EQ(drain(p[0]), 5);
	CHECK_EQ(s.dropped_bytes, 100);
	/* No limit: everything goes out. */
	serial__limit(&s, NULL);
	put(&s, 300);
	CHECK_EQ(drain(p[0]), 300);
	CHECK_EQ(s.dropped_bytes, 100);
	close(p[0]);
	close(p[1]);
}

CHECK_MAIN("serial-limit", CHECK_CASE(drops_over_the_rate))
