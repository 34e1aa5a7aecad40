/* virtio-vsock (virtio 1.2 §5.10) in Firecracker's hybrid model: the host end of
 * every guest stream connection is a Unix socket.
 *   guest -> host port P:  ember connects to "<uds_path>_P".
 *   host -> guest port P:  a client connects to <uds_path>, sends "CONNECT P\n",
 *                          gets "OK <host port>\n" once the guest accepts.
 * Flow control is the spec's credit scheme: each side advertises buf_alloc and
 * fwd_cnt and never sends more than the peer has room for. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices.h"
#include "event.h"
#include "log.h"

#define VSOCK_HOST_CID	  2
#define VSOCK_TYPE_STREAM 1

#define VSOCK_OP_REQUEST	1
#define VSOCK_OP_RESPONSE	2
#define VSOCK_OP_RST		3
#define VSOCK_OP_SHUTDOWN	4
#define VSOCK_OP_RW		5
#define VSOCK_OP_CREDIT_UPDATE	6
#define VSOCK_OP_CREDIT_REQUEST 7

#define VSOCK_SHUTDOWN_RCV  1
#define VSOCK_SHUTDOWN_SEND 2

#define RXQ 0
#define TXQ 1

/* Guest data the host socket has not taken yet, per connection: our buf_alloc. */
#define VSOCK_CONN_BUF	 (256u * 1024)
#define VSOCK_MAX_CONNS	 64
#define VSOCK_RST_QUEUE	 64
#define VSOCK_MAX_PKT	 (64u * 1024)
#define VSOCK_LINE_MAX	 32
#define VSOCK_FIRST_PORT (1u << 30) /* host ports handed to "CONNECT" clients */

struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

enum conn_state {
	CONN_FREE,
	CONN_CONNECT_LINE, /* host client: waiting for "CONNECT <port>\n" */
	CONN_REQUESTED,	   /* host client: REQUEST sent to the guest, no answer yet */
	CONN_ESTABLISHED,
};

struct vsock;

struct conn {
	enum conn_state state;
	struct vsock *v;
	int fd;
	bool watched;
	uint32_t mask;	     /* events asked of epoll */
	uint32_t local_port; /* host side */
	uint32_t peer_port;  /* guest side */

	/* Host -> guest: what the guest has room for. */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	/* Guest -> host: bytes passed on to the socket, and the last count we told. */
	uint32_t fwd_cnt, fwd_told;
	uint8_t *buf;
	size_t buf_len;

	bool readable;	/* the socket has data we have not read */
	bool host_eof;	/* the socket said EOF; SHUTDOWN sent */
	bool shut_send; /* the guest will send no more */
	bool shut_rcv;	/* the guest will receive no more */
	bool want_request, want_response, want_credit;
};

struct vsock {
	struct virtio_dev vdev;
	uint64_t guest_cid; /* also the config space (le64 guest_cid) */
	char uds_path[CONFIG_UDS_MAX];
	int listen_fd;
	uint32_t seen_resets;
	uint32_t next_port;
	struct conn conns[VSOCK_MAX_CONNS];
	struct vsock_hdr rsts[VSOCK_RST_QUEUE];
	unsigned rst_head, rst_len;
	unsigned rx_next; /* round robin: the connection vsock_rx looks at first */
	struct virtq_chain chain;
	struct iovec slice[VIRTQ_MAX_SIZE];
	uint64_t conns_opened, conns_reset, rx_pkts, tx_pkts;
};

static void vsock_rx(struct vsock *v);

static void update_mask(struct conn *c)
{
	uint32_t want = 0;
	switch (c->state) {
	case CONN_CONNECT_LINE:
		want = EPOLLIN;
		break;
	case CONN_ESTABLISHED:
		if (!c->readable && !c->host_eof && !c->shut_rcv)
			want |= EPOLLIN;
		if (c->buf_len)
			want |= EPOLLOUT;
		break;
	default:
		break;
	}
	if (c->watched && want != c->mask && event__mod(c->v->vdev.loop, c->fd, want) == 0)
		c->mask = want;
}

static void queue_rst(struct vsock *v, uint32_t local_port, uint32_t peer_port)
{
	if (v->rst_len == VSOCK_RST_QUEUE) {
		v->vdev.stats.dropped++;
		return;
	}
	v->rsts[(v->rst_head + v->rst_len++) % VSOCK_RST_QUEUE] = (struct vsock_hdr){
	    .src_cid = VSOCK_HOST_CID,
	    .dst_cid = v->guest_cid,
	    .src_port = local_port,
	    .dst_port = peer_port,
	    .type = VSOCK_TYPE_STREAM,
	    .op = VSOCK_OP_RST,
	};
}

static void conn_close(struct conn *c, bool rst)
{
	struct vsock *v = c->v;
	if (rst) {
		queue_rst(v, c->local_port, c->peer_port);
		v->conns_reset++;
	}
	if (c->watched)
		event__del(v->vdev.loop, c->fd);
	close(c->fd);
	free(c->buf);
	*c = (struct conn){.state = CONN_FREE, .v = v, .fd = -1};
}

static void on_conn(void *opaque, uint32_t events);

static struct conn *conn_new(struct vsock *v, int fd, enum conn_state st)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct conn *c = &v->conns[i];
		if (c->state != CONN_FREE)
			continue;
		uint8_t *buf = malloc(VSOCK_CONN_BUF);
		if (!buf)
			return NULL;
		*c = (struct conn){.state = st, .v = v, .fd = fd, .buf = buf};
		if (event__add(v->vdev.loop, fd, 0, on_conn, c) < 0) {
			free(buf);
			*c = (struct conn){.state = CONN_FREE, .v = v, .fd = -1};
			return NULL;
		}
		c->watched = true;
		v->conns_opened++;
		update_mask(c);
		return c;
	}
	return NULL;
}

static struct conn *conn_find(struct vsock *v, uint32_t local_port, uint32_t peer_port)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct conn *c = &v->conns[i];
		if (c->state != CONN_FREE && c->state != CONN_CONNECT_LINE &&
		    c->local_port == local_port && c->peer_port == peer_port)
			return c;
	}
	return NULL;
}

/* The guest reset the device: its connections are gone. Runs on the VMM thread,
 * which alone touches the event loop. */
static void sync_reset(struct vsock *v)
{
	if (v->seen_resets == v->vdev.resets)
		return;
	v->seen_resets = v->vdev.resets;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != CONN_FREE)
			conn_close(&v->conns[i], false);
	v->rst_len = 0;
}

static uint32_t peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Writes buffered guest data to the socket. -1 if the socket is broken. */
static int drain(struct conn *c)
{
	size_t done = 0;
	while (done < c->buf_len) {
		ssize_t w =
		    send(c->fd, c->buf + done, c->buf_len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		done += (size_t)w;
	}
	memmove(c->buf, c->buf + done, c->buf_len - done);
	c->buf_len -= done;
	c->fwd_cnt += (uint32_t)done;
	if (!c->buf_len && c->shut_send)
		shutdown(c->fd, SHUT_WR);
	/* Tell the guest about freed room before it can run out of credit. */
	if (c->fwd_cnt - c->fwd_told >= VSOCK_CONN_BUF / 4)
		c->want_credit = true;
	return 0;
}

static void fill_hdr(const struct vsock *v, const struct conn *c, struct vsock_hdr *h, uint16_t op)
{
	*h = (struct vsock_hdr){
	    .src_cid = VSOCK_HOST_CID,
	    .dst_cid = v->guest_cid,
	    .src_port = c->local_port,
	    .dst_port = c->peer_port,
	    .type = VSOCK_TYPE_STREAM,
	    .op = op,
	    .buf_alloc = VSOCK_CONN_BUF,
	    .fwd_cnt = c->fwd_cnt,
	};
}

static bool conn_has_work(const struct conn *c)
{
	if (c->want_request || c->want_response || c->want_credit)
		return true;
	return c->state == CONN_ESTABLISHED && c->readable && !c->host_eof && !c->shut_rcv &&
	       peer_credit(c) > 0;
}

/* Puts one packet of connection c into the receive chain. Returns its length, or
 * 0 if c had nothing to send after all. */
static uint32_t conn_produce(struct vsock *v, struct conn *c, struct virtq_chain *ch)
{
	struct iovec *in = ch->iov + ch->n_out;
	struct vsock_hdr h;
	if (c->want_request) {
		c->want_request = false;
		fill_hdr(v, c, &h, VSOCK_OP_REQUEST);
	} else if (c->want_response) {
		c->want_response = false;
		fill_hdr(v, c, &h, VSOCK_OP_RESPONSE);
	} else if (c->want_credit) {
		c->want_credit = false;
		fill_hdr(v, c, &h, VSOCK_OP_CREDIT_UPDATE);
	} else {
		size_t room = ch->in_len - sizeof(h);
		uint32_t credit = peer_credit(c);
		if (room > credit)
			room = credit;
		if (room > VSOCK_MAX_PKT)
			room = VSOCK_MAX_PKT;
		unsigned n = iov__slice(in, ch->n_in, sizeof(h), room, v->slice, VIRTQ_MAX_SIZE);
		ssize_t r = room ? readv(c->fd, v->slice, (int)n) : 0;
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			c->readable = false;
			update_mask(c);
			return 0;
		}
		if (r < 0) {
			conn_close(c, true);
			return 0;
		}
		if (r == 0) {
			/* Host end closed: no more data either way (§5.10.6.6). */
			c->host_eof = true;
			c->readable = false;
			fill_hdr(v, c, &h, VSOCK_OP_SHUTDOWN);
			h.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
			update_mask(c);
		} else {
			fill_hdr(v, c, &h, VSOCK_OP_RW);
			h.len = (uint32_t)r;
			c->tx_cnt += (uint32_t)r;
			v->vdev.stats.write_bytes += (uint64_t)r;
		}
	}
	c->fwd_told = c->fwd_cnt;
	iov__copy_to(in, ch->n_in, 0, &h, sizeof(h));
	return (uint32_t)sizeof(h) + h.len;
}

static bool rx_has_work(struct vsock *v)
{
	if (v->rst_len)
		return true;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != CONN_FREE && conn_has_work(&v->conns[i]))
			return true;
	return false;
}

/* Sends pending control packets and host data to the guest while it has buffers. */
static void vsock_rx(struct vsock *v)
{
	struct virtio_dev *dev = &v->vdev;
	struct virtq *q = &dev->vq[RXQ];
	struct virtq_chain *ch = &v->chain;
	const char *why;
	bool used = false;
	if (!virtio_dev__live(dev) || !q->ready)
		return;
	while (rx_has_work(v)) {
		enum virtq_pop r = virtq__pop(q, ch, &why);
		if (r == VIRTQ_EMPTY) {
			if (virtq__arm(q))
				continue;
			break; /* the guest's next RX kick brings us back */
		}
		if (r == VIRTQ_BAD) {
			virtio_dev__fail(dev, why);
			break;
		}
		/* A buffer must hold a header and at least one byte of data, or data
		 * could never move. */
		if (ch->n_out || ch->in_len <= sizeof(struct vsock_hdr)) {
			virtio_dev__fail(dev, "receive buffer is read-only or too small");
			break;
		}
		uint32_t len = 0;
		if (v->rst_len) {
			iov__copy_to(ch->iov, ch->n_in, 0, &v->rsts[v->rst_head],
				     sizeof(struct vsock_hdr));
			v->rst_head = (v->rst_head + 1) % VSOCK_RST_QUEUE;
			v->rst_len--;
			len = sizeof(struct vsock_hdr);
		} else {
			/* Round robin, so one busy connection cannot starve the others. */
			for (unsigned k = 0; k < VSOCK_MAX_CONNS && !len; k++) {
				struct conn *c = &v->conns[(v->rx_next + k) % VSOCK_MAX_CONNS];
				if (c->state == CONN_FREE || !conn_has_work(c))
					continue;
				v->rx_next = (v->rx_next + k + 1) % VSOCK_MAX_CONNS;
				len = conn_produce(v, c, ch);
			}
		}
		if (!len) {
			virtq__unpop(q, 1);
			continue;
		}
		virtq__add_used(q, ch->head, len);
		dev->stats.requests++;
		v->rx_pkts++;
		used = true;
	}
	if (used)
		virtio_dev__flush(dev, RXQ);
}

static int connect_host(struct vsock *v, uint32_t port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->uds_path, port);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Takes guest data for c into the connection buffer and passes on what the socket
 * takes now. -1 if the guest overran its credit or the socket broke. (Copying first
 * keeps the VMM thread to send(), which its seccomp filter allows.) */
static int take_data(struct conn *c, const struct virtq_chain *ch, uint32_t len)
{
	if (len > VSOCK_CONN_BUF - c->buf_len)
		return -1;
	iov__copy_from(ch->iov, ch->n_out, sizeof(struct vsock_hdr), c->buf + c->buf_len, len);
	c->buf_len += len;
	return drain(c);
}

static void tx_packet(struct vsock *v, const struct virtq_chain *ch)
{
	struct virtio_dev *dev = &v->vdev;
	struct vsock_hdr h;
	if (iov__copy_from(ch->iov, ch->n_out, 0, &h, sizeof(h)) != sizeof(h)) {
		dev->stats.errors++;
		return;
	}
	v->tx_pkts++;
	bool bad = h.len > ch->out_len - sizeof(h) || h.src_cid != v->guest_cid ||
		   h.dst_cid != VSOCK_HOST_CID || h.type != VSOCK_TYPE_STREAM;
	struct conn *c = bad ? NULL : conn_find(v, h.dst_port, h.src_port);
	if (bad || (!c && h.op != VSOCK_OP_REQUEST)) {
		dev->stats.errors++;
		if (h.op != VSOCK_OP_RST)
			queue_rst(v, h.dst_port, h.src_port);
		return;
	}
	if (c) {
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
	}
	switch (h.op) {
	case VSOCK_OP_REQUEST: {
		if (c) {
			conn_close(c, true);
			return;
		}
		int fd = connect_host(v, h.dst_port);
		if (fd < 0) {
			pr_debug("virtio %s: guest port %u -> %s_%u: %m", dev->name, h.src_port,
				 v->uds_path, h.dst_port);
			queue_rst(v, h.dst_port, h.src_port);
			return;
		}
		c = conn_new(v, fd, CONN_ESTABLISHED);
		if (!c) {
			close(fd);
			queue_rst(v, h.dst_port, h.src_port);
			return;
		}
		c->local_port = h.dst_port;
		c->peer_port = h.src_port;
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
		c->want_response = true;
		return;
	}
	case VSOCK_OP_RESPONSE: {
		if (c->state != CONN_REQUESTED) {
			conn_close(c, true);
			return;
		}
		char line[32];
		int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
		if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
			conn_close(c, true);
			return;
		}
		c->state = CONN_ESTABLISHED;
		update_mask(c);
		return;
	}
	case VSOCK_OP_RST:
		conn_close(c, false);
		return;
	case VSOCK_OP_SHUTDOWN:
		if (h.flags & VSOCK_SHUTDOWN_RCV)
			c->shut_rcv = true;
		if (h.flags & VSOCK_SHUTDOWN_SEND)
			c->shut_send = true;
		if (c->shut_rcv && c->shut_send) {
			/* Clean close: pass on what we hold, then answer with RST. */
			drain(c);
			conn_close(c, true);
			return;
		}
		if (c->shut_send && !c->buf_len)
			shutdown(c->fd, SHUT_WR);
		update_mask(c);
		return;
	case VSOCK_OP_RW:
		if (c->state != CONN_ESTABLISHED || c->shut_send || take_data(c, ch, h.len)) {
			dev->stats.errors++;
			conn_close(c, true);
			return;
		}
		dev->stats.read_bytes += h.len;
		update_mask(c);
		return;
	case VSOCK_OP_CREDIT_UPDATE:
		return; /* the credit fields were taken above */
	case VSOCK_OP_CREDIT_REQUEST:
		c->want_credit = true;
		return;
	default:
		conn_close(c, true);
		return;
	}
}

static void vsock_tx(struct vsock *v)
{
	struct virtio_dev *dev = &v->vdev;
	struct virtq *q = &dev->vq[TXQ];
	struct virtq_chain *ch = &v->chain;
	const char *why;
	do {
		enum virtq_pop r;
		while ((r = virtq__pop(q, ch, &why)) == VIRTQ_CHAIN) {
			uint16_t head = ch->head;
			dev->stats.requests++;
			tx_packet(v, ch);
			virtq__add_used(q, head, 0);
		}
		virtio_dev__flush(dev, TXQ);
		if (r == VIRTQ_BAD) {
			virtio_dev__fail(dev, why);
			return;
		}
	} while (virtq__arm(q));
}

static void vsock_notify(struct virtio_dev *dev, unsigned q)
{
	struct vsock *v = (struct vsock *)dev;
	sync_reset(v);
	if (q == TXQ)
		vsock_tx(v);
	/* Every kick may have freed credit or buffers: try to send. The event queue
	 * stays idle (no transport reset events). */
	vsock_rx(v);
}

/* "CONNECT <port>\n" from a host client, without reading past the newline: what
 * follows it already belongs to the stream. */
static void read_connect_line(struct vsock *v, struct conn *c, uint32_t events)
{
	char line[VSOCK_LINE_MAX + 1];
	ssize_t n = recv(c->fd, line, VSOCK_LINE_MAX, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c, false);
		return;
	}
	char *nl = memchr(line, '\n', (size_t)n);
	if (!nl) {
		/* Too long, or the client hung up half-way. */
		if (n == VSOCK_LINE_MAX || (events & (EPOLLHUP | EPOLLERR)))
			conn_close(c, false);
		return;
	}
	size_t take = (size_t)(nl - line) + 1;
	if (recv(c->fd, line, take, MSG_DONTWAIT) != (ssize_t)take) {
		conn_close(c, false);
		return;
	}
	line[take - 1] = 0;
	char *end = line;
	unsigned long port = 0;
	errno = 0;
	/* The prefix first: a shorter line ends before line + 8. */
	if (!strncmp(line, "CONNECT ", 8))
		port = strtoul(line + 8, &end, 10);
	if (end == line || end == line + 8 || (*end && *end != '\r') || errno ||
	    port > UINT32_MAX) {
		pr_debug("virtio %s: bad request line from a host client", v->vdev.name);
		conn_close(c, false);
		return;
	}
	/* A host port no other connection uses. */
	uint32_t lp;
	do {
		lp = v->next_port++;
		if (v->next_port < VSOCK_FIRST_PORT)
			v->next_port = VSOCK_FIRST_PORT;
	} while (conn_find(v, lp, (uint32_t)port));
	c->local_port = lp;
	c->peer_port = (uint32_t)port;
	c->state = CONN_REQUESTED;
	c->want_request = true;
	/* Until the guest answers the peer's data is not ours to read. */
	c->peer_buf_alloc = 0;
	update_mask(c);
}

static void on_conn(void *opaque, uint32_t events)
{
	struct conn *c = opaque;
	struct vsock *v = c->v;
	pthread_mutex_lock(&v->vdev.lock);
	sync_reset(v);
	switch (c->state) {
	case CONN_FREE:
		break;
	case CONN_CONNECT_LINE:
		read_connect_line(v, c, events);
		break;
	case CONN_REQUESTED:
		/* Nothing is polled now, so this is a hang-up before the guest answered. */
		if (events & (EPOLLHUP | EPOLLERR))
			conn_close(c, true);
		break;
	case CONN_ESTABLISHED:
		if (events & (EPOLLHUP | EPOLLERR)) {
			/* Hang-ups are reported even when nothing is polled, so stop
			 * watching: the peer is gone, and what is left to read (data,
			 * then EOF or the error) is read as credit and buffers allow. */
			c->readable = !c->host_eof && !c->shut_rcv;
			event__del(v->vdev.loop, c->fd);
			c->watched = false;
			break;
		}
		if ((events & EPOLLOUT) && drain(c) < 0) {
			conn_close(c, true);
			break;
		}
		if ((events & EPOLLIN) && !c->host_eof && !c->shut_rcv)
			c->readable = true;
		update_mask(c);
		break;
	}
	vsock_rx(v);
	pthread_mutex_unlock(&v->vdev.lock);
}

static void on_listen(void *opaque, uint32_t events)
{
	struct vsock *v = opaque;
	pthread_mutex_lock(&v->vdev.lock);
	sync_reset(v);
	for (;;) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		if (!conn_new(v, fd, CONN_CONNECT_LINE)) {
			pr_warn("virtio %s: too many connections; refusing a host client",
				v->vdev.name);
			close(fd);
		}
	}
	pthread_mutex_unlock(&v->vdev.lock);
}

static void vsock_metrics(struct virtio_dev *dev, virtio_metric_fn fn, void *opaque)
{
	struct vsock *v = (struct vsock *)dev;
	fn(opaque, dev->name, "conns_opened", v->conns_opened);
	fn(opaque, dev->name, "conns_reset", v->conns_reset);
	fn(opaque, dev->name, "rx_packets", v->rx_pkts);
	fn(opaque, dev->name, "tx_packets", v->tx_pkts);
}

static void vsock_destroy(struct virtio_dev *dev)
{
	struct vsock *v = (struct vsock *)dev;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != CONN_FREE)
			conn_close(&v->conns[i], false);
	/* Like Firecracker, leave no socket file behind for the next microVM. */
	if (v->listen_fd >= 0) {
		event__del(dev->loop, v->listen_fd);
		close(v->listen_fd);
		unlink(v->uds_path);
	}
	virtio_dev__release(dev);
	free(v);
}

static const struct virtio_dev_ops vsock_ops = {
    .notify = vsock_notify,
    .metrics = vsock_metrics,
    .destroy = vsock_destroy,
};

struct virtio_dev *vsock__create(const struct vsock_config *vc, const struct guest_mem *mem,
				 struct event_loop *loop, char *err, size_t errlen)
{
	struct vsock *v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "vsock: out of memory");
		return NULL;
	}
	v->guest_cid = vc->guest_cid;
	v->next_port = VSOCK_FIRST_PORT;
	snprintf(v->uds_path, sizeof(v->uds_path), "%s", vc->uds_path);
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		v->conns[i] = (struct conn){.state = CONN_FREE, .v = v, .fd = -1};
	virtio_dev__init(&v->vdev, &vsock_ops, VIRTIO_ID_VSOCK, "vsock", mem, loop, 3, 0,
			 &v->guest_cid, sizeof(v->guest_cid));
	v->listen_fd = -1;

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", vc->uds_path);
	/* A socket left by an earlier run is stale; anything else is not ours to remove. */
	struct stat st;
	if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sa.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool bound = false;
	if (fd < 0 || !(bound = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) ||
	    listen(fd, 64) < 0 || event__add(loop, fd, EPOLLIN, on_listen, v) < 0) {
		snprintf(err, errlen, "vsock: cannot listen on %s: %s", vc->uds_path,
			 strerror(errno));
		/* Once bound, the socket file is ours: vsock_destroy removes it. */
		if (bound)
			v->listen_fd = fd;
		else if (fd >= 0)
			close(fd);
		vsock_destroy(&v->vdev);
		return NULL;
	}
	v->listen_fd = fd;
	return &v->vdev;
}
