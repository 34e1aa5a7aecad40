/* MMDS, Firecracker's microVM metadata service: a JSON data store that the API fills
 * (PUT/PATCH/GET /mmds) and that the guest reads over HTTP at a link-local IPv4
 * address (169.254.169.254 by default) on the interfaces named in mmds-config. The
 * guest's frames for that address never reach the tap: a small stack of ember's own
 * (mmds_stack) answers ARP and TCP/HTTP and its replies go into the receive queue.
 *
 * Threads: the store has its own lock, so the API (VMM thread) and a net device (VMM
 * thread, or a vCPU on an MMIO notify) may use it at once; a stack belongs to its net
 * device and runs under that device's lock. */
#ifndef EMBER_VIRTIO_MMDS_H
#define EMBER_VIRTIO_MMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_out;

#define MMDS_DEFAULT_SIZE_LIMIT 51200	    /* Firecracker's: its API payload limit */
#define MMDS_DEFAULT_IPV4	0xa9fea9feu /* 169.254.169.254 */
#define MMDS_TOKEN_TTL_MIN	1
#define MMDS_TOKEN_TTL_MAX	21600

enum mmds_version { MMDS_V1, MMDS_V2 };

/* The store's answers; the API turns them into Firecracker's status codes. */
enum mmds_err {
	MMDS_OK = 0,
	MMDS_EJSON = -1,   /* not one JSON value (or a string with U+0000) */
	MMDS_ETOOBIG = -2, /* the serialized store would exceed the limit */
	MMDS_EUNINIT = -3, /* PATCH before any PUT */
	MMDS_ENOMEM = -4,
};

struct mmds_store;

/* NULL if out of memory or no random key could be had. */
struct mmds_store *mmds_store__create(size_t size_limit);
void mmds_store__destroy(struct mmds_store *s);
/* The process's store: one microVM per process, as Firecracker's one Mmds per VMM.
 * mmds_store__reset() empties it (data, options, "touched") and sets its limit. */
struct mmds_store *mmds_store__default(void);
void mmds_store__reset(struct mmds_store *s, size_t size_limit);

/* PUT /mmds: the document replaces the store. PATCH: RFC 7396 merge patch. On any
 * error the store is unchanged; err gets the JSON parser's reason for MMDS_EJSON. */
int mmds_store__put(struct mmds_store *s, const char *json, size_t len, char *err, size_t errlen);
int mmds_store__patch(struct mmds_store *s, const char *json, size_t len, char *err, size_t errlen);
/* GET /mmds: the store as compact JSON ("{}" while nothing was PUT). */
void mmds_store__get(struct mmds_store *s, struct json_out *o);
/* Firecracker creates its store lazily, on the first pre-boot use of /mmds,
 * /mmds/config or --metadata; after boot a VM without one answers "not initialized". */
void mmds_store__touch(struct mmds_store *s);
bool mmds_store__touched(struct mmds_store *s);
void mmds_store__set_options(struct mmds_store *s, enum mmds_version v, bool imds_compat);
enum mmds_version mmds_store__version(struct mmds_store *s);
size_t mmds_store__limit(struct mmds_store *s);

/* The guest's view. path is the request's path ("/a/b", "//a/b/" is the same);
 * json: Accept: application/json (ignored when imds_compat). Returns 200 with the
 * body in o, 404 (no such path), or 501 (a value the IMDS format cannot show). */
int mmds_store__lookup(struct mmds_store *s, const char *path, size_t path_len, bool json,
		       struct json_out *o);

/* V2 session tokens: an expiry and a SipHash-2-4 tag under a random key, so any
 * number are valid at once and none is stored. ttl must be within MIN..MAX.
 * out gets a NUL-terminated token; returns its length, or -1 for a bad ttl. */
#define MMDS_TOKEN_LEN 32
int mmds_store__new_token(struct mmds_store *s, uint32_t ttl_s, char out[MMDS_TOKEN_LEN + 1]);
bool mmds_store__token_valid(struct mmds_store *s, const char *tok, size_t len);

/* The network side, one per MMDS-enabled interface. */
struct mmds_stack;
struct mmds_stack_stats {
	uint64_t rx_accepted, rx_accepted_err, rx_accepted_unusual, rx_bad_eth, tx_frames, tx_bytes,
	    tx_errors, conns_created, conns_destroyed;
};

/* ipv4 in host byte order. NULL if out of memory. */
struct mmds_stack *mmds_stack__create(struct mmds_store *store, uint32_t ipv4);
void mmds_stack__destroy(struct mmds_stack *st);
/* An Ethernet frame the guest sent (without its virtio-net header). Returns true if
 * it was for MMDS (an ARP for its address, any IPv4 packet to it): it is consumed,
 * answered or dropped, and must not reach the tap. csum_partial: the header said
 * NEEDS_CSUM, so the TCP checksum is not complete yet and is not checked. */
bool mmds_stack__input(struct mmds_stack *st, const uint8_t *frame, size_t len, bool csum_partial);
/* Writes the next frame for the guest into buf (cap >= MMDS_FRAME_MAX); its length,
 * or 0 when there is nothing to send. */
#define MMDS_FRAME_MAX 1514
size_t mmds_stack__output(struct mmds_stack *st, uint8_t *buf, size_t cap);
bool mmds_stack__pending(const struct mmds_stack *st);
void mmds_stack__stats(const struct mmds_stack *st, struct mmds_stack_stats *out);
/* A device reset: every connection is forgotten. */
void mmds_stack__reset(struct mmds_stack *st);

#endif
