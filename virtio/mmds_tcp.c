/* A passive TCP endpoint on port 80 for MMDS, as small as the job allows: at most
 * MMDS_MAX_CONNS connections (a new one replaces the least recently used, as
 * Firecracker's dumbo does), in-order data only (anything else is answered with an
 * ACK of what we have), no window scaling, SACK or timestamps (our SYN-ACK offers
 * none, so the guest uses none), a request buffer of MMDS_REQ_MAX bytes.
 *
 * No retransmission timer: segments to the guest are built only when the receive
 * queue has room, and the device never drops them, so one is lost only across a
 * device reset, which forgets every connection anyway. A guest that retransmits (a
 * SYN, or an ACK of less than we sent, three times) makes us send again from what
 * it has acknowledged. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "api/json.h"
#include "mmds_int.h"

#define SEQ_LT(a, b) ((int32_t)((a) - (b)) < 0)
#define SEQ_LE(a, b) ((int32_t)((a) - (b)) <= 0)

static void conn_free(struct mmds_stack *st, struct mmds_conn *c)
{
	free(c->tx);
	memset(c, 0, offsetof(struct mmds_conn, rx));
	st->stats.conns_destroyed++;
}

void mmds_tcp__reset(struct mmds_stack *st)
{
	for (unsigned i = 0; i < MMDS_MAX_CONNS; i++)
		if (st->conns[i].used)
			conn_free(st, &st->conns[i]);
	st->nr_rsts = 0;
}

void mmds_tcp__seed(struct mmds_stack *st)
{
	/* Drawn when the stack is made, on the VMM thread: a vCPU thread that serves a
	 * notify may not call getrandom. */
	if (getrandom(&st->isn_state, sizeof(st->isn_state), 0) != (ssize_t)sizeof(st->isn_state) ||
	    !st->isn_state)
		st->isn_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)mmds_token__now_ms();
}

static uint32_t new_isn(struct mmds_stack *st)
{
	/* xorshift64*: unpredictable enough for a link only the guest is on. */
	uint64_t x = st->isn_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	st->isn_state = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

static void queue_rst(struct mmds_stack *st, const struct mmds_pkt *p)
{
	if (p->flags & TCP_RST || st->nr_rsts == MMDS_MAX_RESETS)
		return;
	struct mmds_rst *r = &st->rsts[st->nr_rsts++];
	r->ip = p->src_ip;
	r->port = p->sport;
	r->sport = p->dport;
	if (p->flags & TCP_ACK) {
		r->seq = p->ack;
		r->ack = 0;
		r->flags = TCP_RST;
	} else {
		r->seq = 0;
		r->ack = p->seq + (uint32_t)p->data_len + !!(p->flags & TCP_SYN) +
			 !!(p->flags & TCP_FIN);
		r->flags = TCP_RST | TCP_ACK;
	}
}

static struct mmds_conn *find(struct mmds_stack *st, uint32_t ip, uint16_t port)
{
	for (unsigned i = 0; i < MMDS_MAX_CONNS; i++) {
		struct mmds_conn *c = &st->conns[i];
		if (c->used && c->rip == ip && c->rport == port)
			return c;
	}
	return NULL;
}

static struct mmds_conn *slot(struct mmds_stack *st)
{
	struct mmds_conn *lru = &st->conns[0];
	for (unsigned i = 0; i < MMDS_MAX_CONNS; i++) {
		if (!st->conns[i].used)
			return &st->conns[i];
		if (st->conns[i].last_used < lru->last_used)
			lru = &st->conns[i];
	}
	conn_free(st, lru);
	return lru;
}

static void open_conn(struct mmds_stack *st, const struct mmds_pkt *p)
{
	struct mmds_conn *c = slot(st);
	c->used = true;
	c->rip = p->src_ip;
	c->rport = p->sport;
	c->iss = new_isn(st);
	c->snd_una = c->snd_nxt = c->iss;
	c->tx_seq0 = c->iss + 1;
	c->rcv_nxt = p->seq + 1;
	c->snd_wnd = p->window;
	/* RFC 9293: without the option the peer takes 536. */
	uint16_t mss = p->mss ? p->mss : 536;
	c->mss = mss < MMDS_MSS ? mss : MMDS_MSS;
	if (c->mss < 64)
		c->mss = 64;
	c->last_used = st->clock;
	c->rx_len = 0;
	st->stats.conns_created++;
}

/* Serves whole requests from the receive buffer while no response is in flight. */
static void serve(struct mmds_stack *st, struct mmds_conn *c)
{
	while (!c->tx && !c->want_fin && c->rx_len) {
		struct json_out o = {0};
		bool close = false;
		size_t used = mmds_http__serve(st->store, c->rx, c->rx_len, &o, &close);
		if (!used) {
			json_out__free(&o);
			break;
		}
		memmove(c->rx, c->rx + used, c->rx_len - used);
		c->rx_len -= used;
		if (o.oom || !o.len) {
			json_out__free(&o);
			c->want_fin = true;
			break;
		}
		c->tx = o.buf;
		c->tx_len = o.len;
		c->tx_seq0 = c->snd_una;
		if (close)
			c->want_fin = true;
	}
	/* The guest is done sending and nothing more will be asked: close our side. */
	if (c->fin_rcvd && !c->tx)
		c->want_fin = true;
}

void mmds_tcp__input(struct mmds_stack *st, const struct mmds_pkt *p)
{
	st->clock++;
	if (p->dport != MMDS_PORT) {
		queue_rst(st, p);
		return;
	}
	struct mmds_conn *c = find(st, p->src_ip, p->sport);
	if (c && p->flags & TCP_SYN && !(p->flags & TCP_ACK)) {
		if (!c->established && p->seq + 1 == c->rcv_nxt) {
			c->syn_sent = false; /* the guest missed our SYN-ACK */
			c->snd_nxt = c->iss;
			return;
		}
		conn_free(st, c); /* a new connection on the same port */
		c = NULL;
	}
	if (!c) {
		if ((p->flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == TCP_SYN)
			open_conn(st, p);
		else
			queue_rst(st, p);
		return;
	}
	c->last_used = st->clock;
	if (p->flags & TCP_RST) {
		if (p->seq == c->rcv_nxt)
			conn_free(st, c);
		return;
	}
	if (p->flags & TCP_SYN) { /* SYN|ACK to a listener: refuse */
		queue_rst(st, p);
		return;
	}
	if (!(p->flags & TCP_ACK))
		return;
	if (SEQ_LT(c->snd_nxt, p->ack) || SEQ_LT(p->ack, c->snd_una)) {
		c->need_ack = true; /* acknowledges what we never sent */
		return;
	}
	if (!c->established) {
		if (!c->syn_sent || p->ack == c->iss)
			return;
		c->established = true;
	}
	if (SEQ_LT(c->snd_una, p->ack)) {
		c->snd_una = p->ack;
	} else if (p->ack == c->snd_una && SEQ_LT(c->snd_una, c->snd_nxt) && !p->data_len &&
		   !(p->flags & TCP_FIN) && p->window == c->snd_wnd) {
		if (++c->dupacks == 3) {
			c->snd_nxt = c->snd_una; /* go back to what the guest has */
			if (c->fin_sent && SEQ_LE(c->snd_nxt, c->tx_seq0 + (uint32_t)c->tx_len))
				c->fin_sent = false;
			c->dupacks = 0;
		}
	}
	if (SEQ_LT(c->snd_una, p->ack) || p->data_len)
		c->dupacks = 0;
	c->snd_wnd = p->window;
	uint32_t tx_end = c->tx_seq0 + (uint32_t)c->tx_len;
	if (c->tx && SEQ_LE(tx_end, c->snd_una)) {
		free(c->tx);
		c->tx = NULL;
		c->tx_len = 0;
		c->tx_seq0 = tx_end;
	}
	if (c->fin_sent && c->snd_una == c->tx_seq0 + (uint32_t)c->tx_len + 1 && c->fin_rcvd) {
		conn_free(st, c); /* both sides closed and acknowledged */
		return;
	}
	if (p->data_len || p->flags & TCP_FIN) {
		if (p->seq != c->rcv_nxt || c->fin_rcvd) {
			c->need_ack = true; /* out of order or a retransmission */
			return;
		}
		if (p->data_len > sizeof(c->rx) - c->rx_len) {
			/* More than one request may hold: refuse the connection. */
			struct mmds_pkt r = *p;
			r.flags = TCP_ACK;
			r.ack = c->snd_nxt;
			queue_rst(st, &r);
			conn_free(st, c);
			return;
		}
		memcpy(c->rx + c->rx_len, p->data, p->data_len);
		c->rx_len += p->data_len;
		c->rcv_nxt += (uint32_t)p->data_len;
		if (p->flags & TCP_FIN) {
			c->rcv_nxt++;
			c->fin_rcvd = true;
		}
		c->need_ack = true;
	}
	serve(st, c);
	if (c->fin_sent && c->fin_rcvd && c->snd_una == c->snd_nxt)
		c->done = true; /* our FIN is acknowledged: the last ACK goes, then the end */
}

/* What c has to send, built into buf; 0 for nothing. */
static size_t conn_output(struct mmds_stack *st, struct mmds_conn *c, uint8_t *buf)
{
	struct mmds_seg s = {
	    .dst_mac = st->guest_mac,
	    .src_ip = st->ip,
	    .dst_ip = c->rip,
	    .sport = MMDS_PORT,
	    .dport = c->rport,
	    .ack = c->rcv_nxt,
	    .window = (uint16_t)(MMDS_REQ_MAX - c->rx_len),
	};
	if (!c->syn_sent) {
		s.seq = c->iss;
		s.flags = TCP_SYN | TCP_ACK;
		s.mss = MMDS_MSS;
		c->syn_sent = true;
		c->snd_nxt = c->iss + 1;
		c->need_ack = false;
		goto build;
	}
	if (!c->established)
		return 0;
	uint32_t tx_end = c->tx_seq0 + (uint32_t)c->tx_len;
	if (c->tx && SEQ_LT(c->snd_nxt, tx_end)) {
		uint32_t wnd_end = c->snd_una + c->snd_wnd;
		if (SEQ_LT(c->snd_nxt, wnd_end)) {
			size_t n = tx_end - c->snd_nxt;
			if (n > c->mss)
				n = c->mss;
			if (n > wnd_end - c->snd_nxt)
				n = wnd_end - c->snd_nxt;
			s.seq = c->snd_nxt;
			s.flags = TCP_ACK | TCP_PSH;
			s.data = (const uint8_t *)c->tx + (c->snd_nxt - c->tx_seq0);
			s.n = n;
			c->snd_nxt += (uint32_t)n;
			c->need_ack = false;
			goto build;
		}
	}
	if (c->want_fin && !c->fin_sent && c->snd_nxt == tx_end && !c->tx) {
		s.seq = c->snd_nxt;
		s.flags = TCP_FIN | TCP_ACK;
		c->snd_nxt++;
		c->fin_sent = true;
		c->need_ack = false;
		goto build;
	}
	if (!c->need_ack)
		return 0;
	s.seq = c->snd_nxt;
	s.flags = TCP_ACK;
	c->need_ack = false;
build:
	s.ip_id = st->ip_id++;
	size_t len = mmds_frame__tcp(buf, &s);
	if (c->done && !c->need_ack)
		conn_free(st, c);
	return len;
}

static bool conn_has_output(const struct mmds_conn *c)
{
	if (!c->used)
		return false;
	if (!c->syn_sent || c->need_ack)
		return true;
	if (!c->established)
		return false;
	uint32_t tx_end = c->tx_seq0 + (uint32_t)c->tx_len;
	if (c->tx && SEQ_LT(c->snd_nxt, tx_end) && SEQ_LT(c->snd_nxt, c->snd_una + c->snd_wnd))
		return true;
	return c->want_fin && !c->fin_sent && !c->tx;
}

bool mmds_tcp__pending(const struct mmds_stack *st)
{
	if (st->nr_rsts)
		return true;
	for (unsigned i = 0; i < MMDS_MAX_CONNS; i++)
		if (conn_has_output(&st->conns[i]))
			return true;
	return false;
}

size_t mmds_tcp__output(struct mmds_stack *st, uint8_t *buf, size_t cap)
{
	if (cap < MMDS_FRAME_MAX)
		return 0;
	if (st->nr_rsts) {
		struct mmds_rst r = st->rsts[0];
		memmove(st->rsts, st->rsts + 1, --st->nr_rsts * sizeof(r));
		struct mmds_seg s = {.dst_mac = st->guest_mac,
				     .src_ip = st->ip,
				     .dst_ip = r.ip,
				     .sport = r.sport,
				     .dport = r.port,
				     .seq = r.seq,
				     .ack = r.ack,
				     .flags = r.flags,
				     .ip_id = st->ip_id++};
		return mmds_frame__tcp(buf, &s);
	}
	for (unsigned k = 0; k < MMDS_MAX_CONNS; k++) {
		unsigned i = (st->next_conn + k) % MMDS_MAX_CONNS;
		if (!conn_has_output(&st->conns[i]))
			continue;
		st->next_conn = (i + 1) % MMDS_MAX_CONNS;
		size_t n = conn_output(st, &st->conns[i], buf);
		if (n)
			return n;
	}
	return 0;
}
