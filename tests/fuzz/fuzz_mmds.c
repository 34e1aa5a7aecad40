/* libFuzzer over MMDS's guest-facing side: the input is a sequence of whole
 * Ethernet frames as the guest's transmit queue would carry them, each preceded by
 * a 3-byte record header (flags, 16-bit length):
 *   bit 0  the virtio-net header says NEEDS_CSUM (the TCP checksum is not checked)
 *   bit 1  the harness fixes the IPv4 header checksum first, so mutations get past it
 *   bit 2  the harness points the frame at the MMDS address first
 *   bit 3  drain the stack's replies after this frame (always at the end)
 *   bit 4  switch the store to V2 (tokens needed)
 *   bit 5  the harness sets the TCP seq and ack to what the connection of the
 *          segment's source port expects (the ISN is random), so mutations reach
 *          the established state and HTTP
 * Every reply must be a well-formed frame to the guest with right checksums, and the
 * connection table stays within its bound. Any crash or sanitizer report is a
 * finding. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/mmds_int.h"

static struct mmds_store *store;

static void fix_ipv4(uint8_t *f, size_t n, bool point)
{
	if (n < 34 || f[12] != 0x08 || f[13] != 0x00)
		return;
	if (point) {
		f[30] = 169;
		f[31] = 254;
		f[32] = 169;
		f[33] = 254;
	}
	size_t ihl = (size_t)(f[14] & 15) * 4;
	if (ihl < 20 || 14 + ihl > n)
		return;
	f[24] = f[25] = 0;
	uint16_t c = mmds_csum_fold(mmds_csum_add(0, f + 14, ihl));
	f[24] = (uint8_t)(c >> 8);
	f[25] = (uint8_t)c;
}

static void sync_seq(struct mmds_stack *st, uint8_t *f, size_t n)
{
	if (n < 34 || f[12] != 0x08 || f[13] != 0x00)
		return;
	size_t ihl = (size_t)(f[14] & 15) * 4;
	if (ihl < 20 || 14 + ihl + 20 > n)
		return;
	uint8_t *t = f + 14 + ihl;
	uint16_t sport = (uint16_t)(t[0] << 8 | t[1]);
	for (unsigned i = 0; i < MMDS_MAX_CONNS; i++) {
		const struct mmds_conn *c = &st->conns[i];
		if (!c->used || c->rport != sport)
			continue;
		uint32_t v[2] = {c->rcv_nxt, c->snd_nxt};
		for (int k = 0; k < 2; k++)
			for (int b = 0; b < 4; b++)
				t[4 + 4 * k + b] = (uint8_t)(v[k] >> (24 - 8 * b));
		return;
	}
}

static void drain(struct mmds_stack *st)
{
	uint8_t out[MMDS_FRAME_MAX];
	for (int i = 0; i < 4096; i++) {
		size_t n = mmds_stack__output(st, out, sizeof(out));
		if (!n)
			return;
		assert(n <= MMDS_FRAME_MAX);
		assert(!memcmp(out + 6, mmds_mac, 6));
		if (out[12] == 0x08 && out[13] == 0x06) {
			assert(n == 42);
			continue;
		}
		/* Parsed as the guest would: to its own address, both checksums right. */
		uint32_t dst = (uint32_t)out[30] << 24 | (uint32_t)out[31] << 16 |
			       (uint32_t)out[32] << 8 | out[33];
		struct mmds_pkt p;
		assert(mmds_frame__parse(out, n, dst, false, &p) == MMDS_TCP_SEGMENT);
	}
	assert(!"the stack never stops sending");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!store) {
		store = mmds_store__create(MMDS_DEFAULT_SIZE_LIMIT);
		const char *d = "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"n\":3,\"l\":[1,"
				"\"x\"]}},\"s\":\"v\"}";
		char err[64];
		mmds_store__put(store, d, strlen(d), err, sizeof(err));
	}
	mmds_store__set_options(store, MMDS_V1, false);
	struct mmds_stack *st = mmds_stack__create(store, MMDS_DEFAULT_IPV4);
	uint8_t *frame = malloc(65536);
	size_t off = 0;
	while (st && frame && size - off >= 3) {
		uint8_t flags = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		/* An exact-size copy: a read past the frame is a finding. */
		uint8_t *f = malloc(len ? len : 1);
		memcpy(f, data + off, len);
		off += len;
		if (flags & 0x10)
			mmds_store__set_options(store, MMDS_V2, false);
		if (flags & 0x06)
			fix_ipv4(f, len, flags & 0x04);
		if (flags & 0x20)
			sync_seq(st, f, len);
		mmds_stack__input(st, f, len, flags & 1);
		free(f);
		if (flags & 0x08)
			drain(st);
		struct mmds_stack_stats s;
		mmds_stack__stats(st, &s);
		assert(s.conns_created - s.conns_destroyed <= MMDS_MAX_CONNS);
	}
	if (st)
		drain(st);
	mmds_stack__destroy(st);
	free(frame);
	return 0;
}
