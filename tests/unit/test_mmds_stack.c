/* The MMDS network stack: the frame parser against hostile frames, ARP, and the TCP
 * state machine driven by a scripted guest (virtio/mmds_frame.c, mmds_tcp.c,
 * mmds_stack.c). */
#include <stdint.h>

#include "api/json.h"
#include "check.h"
#include "virtio/mmds_int.h"

#define MMDS_IP	 0xa9fea9feu
#define GUEST_IP 0xc0a80002u /* 192.168.0.2 */

static const uint8_t guest_mac[6] = {0x02, 0, 0, 0, 0, 0x42};

/* A frame from the guest: built with the stack's own builder (roles swapped), then
 * given the guest's source MAC (outside every checksum). */
static size_t guest_seg(uint8_t *buf, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
			uint8_t flags, uint16_t wnd, const char *data)
{
	struct mmds_seg s = {.dst_mac = mmds_mac,
			     .src_ip = GUEST_IP,
			     .dst_ip = MMDS_IP,
			     .sport = sport,
			     .dport = dport,
			     .seq = seq,
			     .ack = ack,
			     .flags = flags,
			     .window = wnd,
			     .mss = (flags & TCP_SYN) ? 1460 : 0,
			     .data = (const uint8_t *)data,
			     .n = data ? strlen(data) : 0};
	size_t n = mmds_frame__tcp(buf, &s);
	memcpy(buf + 6, guest_mac, 6);
	return n;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Recomputes the IPv4 header checksum after a test edited the header. */
static void fix_ip_csum(uint8_t *f)
{
	wr16(f + 24, 0);
	wr16(f + 24, mmds_csum_fold(mmds_csum_add(0, f + 14, (size_t)(f[14] & 15) * 4)));
}

static struct mmds_pkt last; /* the last segment the stack sent, parsed */

/* Takes the stack's next frame, checks it is a well-formed TCP segment with right
 * checksums to the guest, and parses it into `last`. */
static bool take(struct mmds_stack *st)
{
	uint8_t f[MMDS_FRAME_MAX];
	size_t n = mmds_stack__output(st, f, sizeof(f));
	if (!n)
		return false;
	if (memcmp(f, guest_mac, 6) || memcmp(f + 6, mmds_mac, 6))
		return false;
	return mmds_frame__parse(f, n, GUEST_IP, false, &last) == MMDS_TCP_SEGMENT &&
	       last.src_ip == MMDS_IP;
}

static struct mmds_store *store(void)
{
	struct mmds_store *s = mmds_store__create(MMDS_DEFAULT_SIZE_LIMIT);
	const char *d = "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-123\",\"big\":\"";
	static char doc[20000];
	snprintf(doc, sizeof(doc), "%s", d);
	size_t k = strlen(doc);
	for (int i = 0; i < 10000; i++)
		doc[k++] = (char)('a' + i % 26);
	snprintf(doc + k, sizeof(doc) - k, "\"}}}");
	char err[64];
	mmds_store__put(s, doc, strlen(doc), err, sizeof(err));
	return s;
}

static void test_arp(void)
{
	struct mmds_store *s = store();
	struct mmds_stack *st = mmds_stack__create(s, MMDS_IP);
	uint8_t f[64] = {0};
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	uint8_t arp[28] = {0,	1,   8, 0, 6, 4, 0, 1, 2, 0, 0,	  0,   0,   0x42,
			   192, 168, 0, 2, 0, 0, 0, 0, 0, 0, 169, 254, 169, 254};
	memcpy(f + 14, arp, 28);
	CHECK(mmds_stack__input(st, f, 42, false));
	CHECK(mmds_stack__pending(st));
	uint8_t out[MMDS_FRAME_MAX];
	size_t n = mmds_stack__output(st, out, sizeof(out));
	CHECK_EQ(n, 42);
	CHECK(!memcmp(out, guest_mac, 6));
	CHECK(!memcmp(out + 6, mmds_mac, 6));
	CHECK_EQ(rd16(out + 20), 2);		/* reply */
	CHECK(!memcmp(out + 22, mmds_mac, 6));	/* sha: us */
	CHECK(!memcmp(out + 28, arp + 24, 4));	/* spa: the MMDS address */
	CHECK(!memcmp(out + 32, guest_mac, 6)); /* tha */
	CHECK(!memcmp(out + 38, arp + 14, 4));	/* tpa: the asker */
	CHECK(!mmds_stack__pending(st));
	/* an ARP for another address is not ours; a short one neither */
	f[14 + 27] = 1;
	CHECK(!mmds_stack__input(st, f, 42, false));
	f[14 + 27] = 254;
	CHECK(!mmds_stack__input(st, f, 41, false));
	/* for us but not an Ethernet/IPv4 request: taken, not answered */
	f[14 + 7] = 2;
	CHECK(mmds_stack__input(st, f, 42, false));
	CHECK(!mmds_stack__pending(st));
	mmds_stack__destroy(st);
	mmds_store__destroy(s);
}

static void test_hostile_frames(void)
{
	struct mmds_pkt p;
	uint8_t f[256], g[256];
	size_t n = guest_seg(f, 1000, 80, 1, 0, TCP_SYN, 1000, NULL);
	CHECK_EQ(mmds_frame__parse(f, n, MMDS_IP, false, &p), MMDS_TCP_SEGMENT);
	CHECK_EQ(p.mss, 1460);
	/* every truncation: never ours-and-valid, never a read past the end (ASan) */
	for (size_t k = 0; k < n; k++) {
		uint8_t *t = malloc(k ? k : 1);
		memcpy(t, f, k);
		enum mmds_class c = mmds_frame__parse(t, k, MMDS_IP, false, &p);
		CHECK(c == MMDS_NOT_OURS || c == MMDS_DROP_BAD);
		free(t);
	}
	/* padding after the IPv4 total length is ignored */
	memcpy(g, f, n);
	memset(g + n, 0xee, 20);
	CHECK_EQ(mmds_frame__parse(g, n + 20, MMDS_IP, false, &p), MMDS_TCP_SEGMENT);
	/* another destination is not ours */
	CHECK_EQ(mmds_frame__parse(f, n, MMDS_IP + 1, false, &p), MMDS_NOT_OURS);
	/* IP header checksum */
	memcpy(g, f, n);
	g[24] ^= 1;
	CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, false, &p), MMDS_DROP_BAD);
	/* TCP checksum; but a partial one (NEEDS_CSUM) is not checked */
	memcpy(g, f, n);
	g[14 + 20 + 16] ^= 1;
	CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, false, &p), MMDS_DROP_BAD);
	CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, true, &p), MMDS_TCP_SEGMENT);
	/* total length beyond the frame, below the header, bad version, bad IHL */
	uint16_t lens[] = {(uint16_t)(n - 14 + 1), 19, 0};
	for (unsigned i = 0; i < 3; i++) {
		memcpy(g, f, n);
		wr16(g + 16, lens[i]);
		fix_ip_csum(g);
		CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, false, &p), MMDS_DROP_BAD);
	}
	uint8_t vihl[] = {0x65, 0x44, 0x4f};
	for (unsigned i = 0; i < 3; i++) {
		memcpy(g, f, n);
		g[14] = vihl[i];
		fix_ip_csum(g);
		CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, false, &p), MMDS_DROP_BAD);
	}
	/* fragments: MF, or an offset */
	uint16_t frag[] = {0x2000, 0x0001, 0x4001};
	for (unsigned i = 0; i < 3; i++) {
		memcpy(g, f, n);
		wr16(g + 20, frag[i]);
		fix_ip_csum(g);
		CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, false, &p), MMDS_DROP_BAD);
	}
	/* not TCP: for us, dropped as unusual */
	memcpy(g, f, n);
	g[23] = 17;
	fix_ip_csum(g);
	CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, false, &p), MMDS_DROP_UNUSUAL);
	/* TCP data offset below 20 or past the segment */
	uint8_t doffs[] = {0x40, 0xf0};
	for (unsigned i = 0; i < 2; i++) {
		memcpy(g, f, n);
		g[14 + 20 + 12] = doffs[i];
		CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, true, &p), MMDS_DROP_BAD);
	}
	/* options: a length of 0 or 1, one past the header, a bad MSS length */
	uint8_t bad_opts[][4] = {{8, 0, 0, 0}, {8, 1, 0, 0}, {1, 1, 8, 3}, {2, 3, 5, 0}};
	for (unsigned i = 0; i < 4; i++) {
		memcpy(g, f, n);
		memcpy(g + 14 + 20 + 20, bad_opts[i], 4);
		CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, true, &p), MMDS_DROP_BAD);
	}
	/* NOPs, end of list, an unknown option skipped */
	uint8_t good_opts[][4] = {{1, 1, 1, 1}, {0, 9, 9, 9}, {30, 4, 1, 2}};
	for (unsigned i = 0; i < 3; i++) {
		memcpy(g, f, n);
		memcpy(g + 14 + 20 + 20, good_opts[i], 4);
		CHECK_EQ(mmds_frame__parse(g, n, MMDS_IP, true, &p), MMDS_TCP_SEGMENT);
		CHECK_EQ(p.mss, 0);
	}
	/* the stack takes hostile frames for its address and answers none of them */
	struct mmds_store *s = store();
	struct mmds_stack *st = mmds_stack__create(s, MMDS_IP);
	memcpy(g, f, n);
	g[24] ^= 1;
	CHECK(mmds_stack__input(st, g, n, false));
	CHECK(!mmds_stack__pending(st));
	struct mmds_stack_stats stats;
	mmds_stack__stats(st, &stats);
	CHECK_EQ(stats.rx_accepted_err, 1);
	CHECK(!mmds_stack__input(st, g, 5, false));
	mmds_stack__destroy(st);
	mmds_store__destroy(s);
}

/* A scripted client: handshake, one request, the whole response, close. Returns the
 * response; *fin says whether the server closed. */
struct client {
	struct mmds_stack *st;
	uint16_t port;
	uint32_t seq, ack;
	uint16_t wnd;
};

static bool send_seg(struct client *c, uint8_t flags, const char *data)
{
	uint8_t f[MMDS_FRAME_MAX + 100];
	size_t n = guest_seg(f, c->port, 80, c->seq, c->ack, flags, c->wnd, data);
	c->seq += (uint32_t)(data ? strlen(data) : 0) + !!(flags & (TCP_SYN | TCP_FIN));
	return mmds_stack__input(c->st, f, n, false);
}

static bool connect_(struct client *c)
{
	if (!send_seg(c, TCP_SYN, NULL) || !take(c->st))
		return false;
	if (last.flags != (TCP_SYN | TCP_ACK) || last.ack != c->seq || last.mss != MMDS_MSS)
		return false;
	c->ack = last.seq + 1;
	return send_seg(c, TCP_ACK, NULL) && !mmds_stack__pending(c->st);
}

/* Sends req and collects the response until the server stops sending; ACKs each
 * segment as Linux would. */
static size_t exchange(struct client *c, const char *req, char *out, size_t cap, bool *fin)
{
	size_t n = 0;
	*fin = false;
	if (req && !send_seg(c, TCP_ACK | TCP_PSH, req))
		return 0;
	for (int guard = 0; guard < 1000 && take(c->st); guard++) {
		if (last.seq != c->ack)
			return 0; /* a hole or a resend: not expected here */
		if (last.data_len && n + last.data_len < cap) {
			memcpy(out + n, last.data, last.data_len);
			n += last.data_len;
		}
		c->ack += (uint32_t)last.data_len;
		if (last.flags & TCP_FIN) {
			c->ack++;
			*fin = true;
		}
		if (last.data_len || last.flags & TCP_FIN)
			send_seg(c, TCP_ACK, NULL);
	}
	out[n] = 0;
	return n;
}

static void test_tcp_get(void)
{
	struct mmds_store *s = store();
	struct mmds_stack *st = mmds_stack__create(s, MMDS_IP);
	struct client c = {.st = st, .port = 40000, .seq = 1000, .wnd = 65535};
	CHECK(connect_(&c));
	char resp[16384];
	bool fin;
	size_t n = exchange(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: x\r\n\r\n", resp,
			    sizeof(resp), &fin);
	CHECK(n > 0);
	CHECK(strstr(resp, "HTTP/1.1 200 OK\r\n") == resp);
	CHECK(strstr(resp, "\r\n\r\nami-123"));
	CHECK(!fin); /* keep-alive */
	/* a second request on the same connection, then a big answer in many segments */
	n = exchange(&c, "GET /latest/meta-data/big HTTP/1.1\r\nConnection: close\r\n\r\n", resp,
		     sizeof(resp), &fin);
	CHECK(n > 10000);
	CHECK(strstr(resp, "Content-Length: 10000\r\n"));
	CHECK(fin); /* Connection: close: the server closes after the answer */
	/* the guest closes too; the last ACK frees the connection */
	send_seg(&c, TCP_FIN | TCP_ACK, NULL);
	CHECK(take(st));
	CHECK_EQ(last.flags, TCP_ACK);
	CHECK_EQ(last.ack, c.seq);
	struct mmds_stack_stats stats;
	mmds_stack__stats(st, &stats);
	CHECK_EQ(stats.conns_created, 1);
	CHECK_EQ(stats.conns_destroyed, 1);
	mmds_stack__destroy(st);
	mmds_store__destroy(s);
}

static void test_tcp_window(void)
{
	struct mmds_store *s = store();
	struct mmds_stack *st = mmds_stack__create(s, MMDS_IP);
	struct client c = {.st = st, .port = 40001, .seq = 7, .wnd = 1000};
	CHECK(connect_(&c));
	send_seg(&c, TCP_ACK, "GET /latest/meta-data/big HTTP/1.1\r\n\r\n");
	/* never more in flight than the guest's window, segments at most the MSS */
	uint32_t sent = 0;
	while (take(st)) {
		CHECK(last.data_len <= 1000);
		sent += (uint32_t)last.data_len;
	}
	CHECK_EQ(sent, 1000);
	/* the guest acknowledges half and opens to 3000: 2500 more */
	c.ack += 500;
	c.wnd = 3000;
	send_seg(&c, TCP_ACK, NULL);
	sent = 0;
	while (take(st))
		sent += (uint32_t)last.data_len;
	CHECK_EQ(sent, 2500);
	/* three duplicate ACKs: the stack sends again from what the guest has */
	for (int i = 0; i < 3; i++)
		send_seg(&c, TCP_ACK, NULL);
	CHECK(take(st));
	CHECK_EQ(last.seq, c.ack);
	mmds_stack__destroy(st);
	mmds_store__destroy(s);
}

static void test_tcp_resets(void)
{
	struct mmds_store *s = store();
	struct mmds_stack *st = mmds_stack__create(s, MMDS_IP);
	struct client c = {.st = st, .port = 40002, .seq = 100, .wnd = 65535};
	/* another port: RST|ACK */
	uint8_t f[200];
	size_t n = guest_seg(f, 5555, 81, 100, 0, TCP_SYN, 100, NULL);
	CHECK(mmds_stack__input(st, f, n, false));
	CHECK(take(st));
	CHECK_EQ(last.flags, TCP_RST | TCP_ACK);
	CHECK_EQ(last.ack, 101);
	/* an ACK for no connection: RST with its ack as our seq */
	n = guest_seg(f, 5556, 80, 100, 12345, TCP_ACK, 100, "x");
	CHECK(mmds_stack__input(st, f, n, false));
	CHECK(take(st));
	CHECK_EQ(last.flags, TCP_RST);
	CHECK_EQ(last.seq, 12345);
	/* a RST is never answered */
	n = guest_seg(f, 5557, 80, 100, 0, TCP_RST, 100, NULL);
	CHECK(mmds_stack__input(st, f, n, false));
	CHECK(!mmds_stack__pending(st));
	/* a guest RST ends a connection */
	CHECK(connect_(&c));
	send_seg(&c, TCP_RST, NULL);
	struct mmds_stack_stats stats;
	mmds_stack__stats(st, &stats);
	CHECK_EQ(stats.conns_destroyed, 1);
	/* a request bigger than the buffer: RST and the connection is gone */
	c.port++;
	CHECK(connect_(&c));
	static char big[MMDS_MSS + 1];
	memset(big, 'A', MMDS_MSS - 100);
	for (int i = 0; i < 4; i++) /* 4 * 1360 > MMDS_REQ_MAX */
		send_seg(&c, TCP_ACK, big);
	bool rst = false;
	while (take(st))
		rst |= (last.flags & TCP_RST) != 0;
	CHECK(rst);
	mmds_stack__stats(st, &stats);
	CHECK_EQ(stats.conns_destroyed, 2);
	mmds_stack__destroy(st);
	mmds_store__destroy(s);
}

static void test_tcp_out_of_order_and_limits(void)
{
	struct mmds_store *s = store();
	struct mmds_stack *st = mmds_stack__create(s, MMDS_IP);
	struct client c = {.st = st, .port = 41000, .seq = 1, .wnd = 65535};
	CHECK(connect_(&c));
	/* data ahead of what we expect: ACKed at rcv_nxt, not taken */
	c.seq += 10;
	send_seg(&c, TCP_ACK, "GET / HTTP/1.1\r\n\r\n");
	CHECK(take(st));
	CHECK_EQ(last.ack, c.seq - 10 - 18);
	CHECK_EQ(last.data_len, 0);
	CHECK(!take(st));
	/* an ACK of data never sent: answered with an ACK, state unchanged */
	c.seq -= 28;
	uint32_t good = c.ack;
	c.ack += 5000;
	send_seg(&c, TCP_ACK, NULL);
	CHECK(take(st));
	CHECK_EQ(last.seq, good);
	c.ack = good;
	/* a retransmitted SYN before the handshake ends gets the SYN-ACK again */
	struct client d = {.st = st, .port = 41001, .seq = 50, .wnd = 100};
	send_seg(&d, TCP_SYN, NULL);
	CHECK(take(st));
	uint32_t iss = last.seq;
	d.seq = 50;
	send_seg(&d, TCP_SYN, NULL);
	CHECK(take(st));
	CHECK_EQ(last.flags, TCP_SYN | TCP_ACK);
	CHECK_EQ(last.seq, iss);
	/* more SYNs than connections: the least recently used goes */
	for (unsigned i = 0; i < MMDS_MAX_CONNS + 5; i++) {
		struct client e = {.st = st, .port = (uint16_t)(42000 + i), .seq = 1, .wnd = 100};
		send_seg(&e, TCP_SYN, NULL);
		while (take(st))
			;
	}
	struct mmds_stack_stats stats;
	mmds_stack__stats(st, &stats);
	CHECK_EQ(stats.conns_created, 2 + MMDS_MAX_CONNS + 5);
	CHECK_EQ(stats.conns_created - stats.conns_destroyed, MMDS_MAX_CONNS);
	/* reset forgets them all */
	mmds_stack__reset(st);
	mmds_stack__stats(st, &stats);
	CHECK_EQ(stats.conns_created, stats.conns_destroyed);
	mmds_stack__destroy(st);
	mmds_store__destroy(s);
}

static void test_tcp_v2_token(void)
{
	struct mmds_store *s = store();
	mmds_store__set_options(s, MMDS_V2, false);
	struct mmds_stack *st = mmds_stack__create(s, MMDS_IP);
	struct client c = {.st = st, .port = 43000, .seq = 1, .wnd = 65535};
	CHECK(connect_(&c));
	char resp[4096], req[256];
	bool fin;
	exchange(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n", resp, sizeof(resp), &fin);
	CHECK(strstr(resp, "HTTP/1.1 401 ") == resp);
	exchange(&c, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n",
		 resp, sizeof(resp), &fin);
	CHECK(strstr(resp, "HTTP/1.1 200 ") == resp);
	const char *tok = strstr(resp, "\r\n\r\n");
	CHECK(tok && strlen(tok + 4) == MMDS_TOKEN_LEN);
	snprintf(req, sizeof(req),
		 "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n",
		 tok ? tok + 4 : "");
	exchange(&c, req, resp, sizeof(resp), &fin);
	CHECK(strstr(resp, "HTTP/1.1 200 ") == resp);
	CHECK(strstr(resp, "\r\n\r\nami-123"));
	mmds_stack__destroy(st);
	mmds_store__destroy(s);
}

CHECK_MAIN("mmds_stack", CHECK_CASE(test_arp), CHECK_CASE(test_hostile_frames),
	   CHECK_CASE(test_tcp_get), CHECK_CASE(test_tcp_window), CHECK_CASE(test_tcp_resets),
	   CHECK_CASE(test_tcp_out_of_order_and_limits), CHECK_CASE(test_tcp_v2_token))
