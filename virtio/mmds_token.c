/* MMDS V2 session tokens without a token table: a token carries its expiry and a
 * nonce in clear and a SipHash-2-4 tag of both under a key drawn at start, so a
 * forged or altered token fails the tag and an expired one the clock. (Firecracker
 * encrypts the expiry with AES-GCM; ember links no crypto library, and a keyed PRF
 * gives the same unforgeability for a value that need not be secret.) */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "mmds_int.h"

static uint64_t rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

uint64_t mmds_siphash24(const uint8_t key[16], const uint8_t *m, size_t n)
{
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull,
		 v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	size_t full = n & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t w = le64(m + i);
		v3 ^= w;
		SIPROUND;
		SIPROUND;
		v0 ^= w;
	}
	uint64_t last = (uint64_t)(n & 0xff) << 56;
	for (size_t i = 0; i < (n & 7); i++)
		last |= (uint64_t)m[full + i] << (8 * i);
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

int mmds_token__init_key(struct mmds_token_key *k)
{
	size_t got = 0;
	while (got < sizeof(k->key)) {
		ssize_t r = getrandom(k->key + got, sizeof(k->key) - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	k->counter = 0;
	return 0;
}

uint64_t mmds_token__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* expiry (8) | nonce (8) | tag (8): 24 bytes, 32 base64 characters, no padding. */
void mmds_token__make(struct mmds_token_key *k, uint64_t expiry_ms, char out[MMDS_TOKEN_LEN + 1])
{
	uint8_t raw[24];
	put64(raw, expiry_ms);
	put64(raw + 8, ++k->counter);
	put64(raw + 16, mmds_siphash24(k->key, raw, 16));
	for (int i = 0, o = 0; i < 24; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	out[MMDS_TOKEN_LEN] = 0;
}

bool mmds_token__check(const struct mmds_token_key *k, const char *tok, size_t len, uint64_t now_ms)
{
	if (len != MMDS_TOKEN_LEN)
		return false;
	uint8_t raw[24];
	for (size_t i = 0, o = 0; i < MMDS_TOKEN_LEN; i += 4) {
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			const char *c = tok[i + j] ? strchr(b64, tok[i + j]) : NULL;
			if (!c)
				return false;
			v = v << 6 | (uint32_t)(c - b64);
		}
		raw[o++] = (uint8_t)(v >> 16);
		raw[o++] = (uint8_t)(v >> 8);
		raw[o++] = (uint8_t)v;
	}
	uint8_t want[8];
	put64(want, mmds_siphash24(k->key, raw, 16));
	uint8_t diff = 0;
	for (int i = 0; i < 8; i++)
		diff |= (uint8_t)(want[i] ^ raw[16 + i]);
	return diff == 0 && le64(raw) > now_ms;
}
