/* MMDS internals, shared by its files and its unit tests: the token MAC, the frame
 * parser and builders, the TCP connection table and the HTTP responder. */
#ifndef EMBER_VIRTIO_MMDS_INT_H
#define EMBER_VIRTIO_MMDS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmds.h"

struct json_out;

/* --- tokens (mmds_token.c) */
struct mmds_token_key {
	uint8_t key[16];
	uint64_t counter;
};
uint64_t mmds_siphash24(const uint8_t key[16], const uint8_t *m, size_t n);
int mmds_token__init_key(struct mmds_token_key *k);
uint64_t mmds_token__now_ms(void);
void mmds_token__make(struct mmds_token_key *k, uint64_t expiry_ms, char out[MMDS_TOKEN_LEN + 1]);
bool mmds_token__check(const struct mmds_token_key *k, const char *tok, size_t len,
		       uint64_t now_ms);

/* --- the data store's tree (mmds_tree.c) */
struct json_doc;
struct mnode {
	uint8_t type; /* enum json_type */
	bool b;
	char *s; /* string (decoded) or number (its JSON text) */
	size_t len;
	size_t n, cap;
	char **keys; /* objects: sorted by strcmp */
	struct mnode **kids;
};
/* Builds the tree of token i of d; NULL if out of memory or a string holds U+0000. */
struct mnode *mmds_node__from(const struct json_doc *d, unsigned i);
void mmds_node__free(struct mnode *x);
struct mnode *mmds_node__copy(const struct mnode *x);
/* Compact JSON with serde_json's escaping. */
void mmds_node__write(const struct mnode *x, struct json_out *o);
/* RFC 7396 merge of patch into *target; false if out of memory (then *target is
 * partly patched: patch a copy). */
bool mmds_node__merge(struct mnode **target, const struct mnode *patch);
/* serde_json's Value::pointer over root (NULL: null); tmp holds n + 1 bytes. */
const struct mnode *mmds_node__pointer(const struct mnode *root, const char *p, size_t n,
				       char *tmp);
/* Index of key in object x, or where it would go (*found false). */
size_t mmds_node__find(const struct mnode *x, const char *key, bool *found);

/* --- frames (mmds_frame.c) */
#define ETH_HLEN_ 14
#define IP_HLEN_  20
#define TCP_HLEN_ 20
#define MMDS_PORT 80
#define MMDS_MSS  (MMDS_FRAME_MAX - ETH_HLEN_ - IP_HLEN_ - TCP_HLEN_)
#define TCP_FIN	  0x01
#define TCP_SYN	  0x02
#define TCP_RST	  0x04
#define TCP_PSH	  0x08
#define TCP_ACK	  0x10

extern const uint8_t mmds_mac[6];

enum mmds_class {
	MMDS_NOT_OURS,	   /* to the tap */
	MMDS_ARP_REQUEST,  /* an ARP request for the MMDS address: answer it */
	MMDS_TCP_SEGMENT,  /* a well-formed TCP segment to the MMDS address */
	MMDS_DROP_BAD,	   /* for MMDS, but malformed (lengths, checksums, fragments) */
	MMDS_DROP_UNUSUAL, /* for MMDS, well-formed, not TCP (or an ARP that is no request) */
};

/* What the parser found; pointers into the frame. */
struct mmds_pkt {
	uint8_t src_mac[6];
	uint32_t src_ip, dst_ip; /* host order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	uint16_t mss; /* 0: no MSS option */
	const uint8_t *data;
	size_t data_len;
};

enum mmds_class mmds_frame__parse(const uint8_t *f, size_t len, uint32_t ip, bool csum_partial,
				  struct mmds_pkt *p);
/* The Internet checksum (RFC 1071) of b, starting from sum. */
uint32_t mmds_csum_add(uint32_t sum, const uint8_t *b, size_t n);
uint16_t mmds_csum_fold(uint32_t sum);
/* Writes an ARP reply (we are ip, at mmds_mac) to the asker; returns its length. */
size_t mmds_frame__arp_reply(uint8_t *buf, uint32_t ip, const uint8_t to_mac[6], uint32_t to_ip);
/* Writes an Ethernet/IPv4/TCP frame with both checksums; mss != 0 adds the option.
 * buf must hold ETH+IP+TCP headers, 4 option bytes and n. Returns its length. */
struct mmds_seg {
	const uint8_t *dst_mac;
	uint32_t src_ip, dst_ip;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window, mss, ip_id;
	const uint8_t *data;
	size_t n;
};
size_t mmds_frame__tcp(uint8_t *buf, const struct mmds_seg *s);

/* --- HTTP (mmds_http.c) */
#define MMDS_REQ_MAX 4096 /* a request (line, headers, body) a connection may hold */
/* Looks for one whole request at the start of buf. Returns 0 while it is incomplete,
 * else the request's length, with the response in resp and *close set if the
 * connection ends after it. A request that can never be whole (too big, malformed)
 * gets a 400 and *close. */
size_t mmds_http__serve(struct mmds_store *s, const uint8_t *buf, size_t len, struct json_out *resp,
			bool *close);

/* --- TCP (mmds_tcp.c) */
#define MMDS_MAX_CONNS	30 /* Firecracker's */
#define MMDS_MAX_RESETS 16 /* RSTs queued for the guest; more are dropped */
#define MMDS_RCV_WINDOW 8192

struct mmds_conn {
	bool used, established, fin_rcvd, fin_sent, want_fin, need_ack, syn_sent, done;
	uint32_t rip;
	uint16_t rport;
	uint32_t iss, snd_una, snd_nxt, rcv_nxt, snd_wnd;
	uint16_t mss;
	unsigned dupacks;
	uint64_t last_used;
	uint32_t tx_seq0; /* sequence number of tx[0] */
	char *tx;	  /* the response being sent */
	size_t tx_len;
	size_t rx_len;
	uint8_t rx[MMDS_REQ_MAX];
};

struct mmds_rst {
	uint32_t ip, seq, ack;
	uint16_t port, sport;
	uint8_t flags;
};

struct mmds_stack {
	struct mmds_store *store;
	uint32_t ip;
	uint8_t guest_mac[6];
	bool arp_pending;
	uint32_t arp_to_ip;
	uint16_t ip_id;
	uint64_t clock; /* input events: the connections' LRU order */
	uint64_t isn_state;
	unsigned next_conn; /* round robin of output */
	struct mmds_rst rsts[MMDS_MAX_RESETS];
	unsigned nr_rsts;
	struct mmds_stack_stats stats;
	struct mmds_conn conns[MMDS_MAX_CONNS];
};

/* One parsed segment for the MMDS address. */
void mmds_tcp__input(struct mmds_stack *st, const struct mmds_pkt *p);
/* The next TCP frame to the guest, or 0. */
size_t mmds_tcp__output(struct mmds_stack *st, uint8_t *buf, size_t cap);
bool mmds_tcp__pending(const struct mmds_stack *st);
void mmds_tcp__reset(struct mmds_stack *st);
void mmds_tcp__seed(struct mmds_stack *st);

#endif
