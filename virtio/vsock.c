/* virtio-vsock, guest half: packets on the virtqueues, credit, the device itself.
 * The model and the host side are described in vsock.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "vsock.h"

static uint32_t peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
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
			conn__update_mask(c);
			return 0;
		}
		if (r < 0) {
			conn__close(c, true);
			return 0;
		}
		if (r == 0) {
			/* Host end closed: no more data either way (§5.10.6.6). */
			c->host_eof = true;
			c->readable = false;
			fill_hdr(v, c, &h, VSOCK_OP_SHUTDOWN);
			h.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
			conn__update_mask(c);
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

static bool vsock_has_work(struct virtio_dev *dev, unsigned q)
{
	/* The transmit queue carries requests; the event queue stays idle (no transport
	 * reset events). */
	return q == RXQ ? rx_has_work((struct vsock *)dev) : q == TXQ;
}

/* Fills one receive buffer with a pending control packet or host data. */
static enum virtio_chain_result rx_chain(struct vsock *v, struct virtq_chain *ch, uint32_t *written,
					 const char **why)
{
	/* A buffer must hold a header and at least one byte of data, or data could
	 * never move. */
	if (ch->n_out || ch->in_len <= sizeof(struct vsock_hdr)) {
		*why = "receive buffer is read-only or too small";
		return VIRTIO_CHAIN_BAD;
	}
	uint32_t len = 0;
	if (v->rst_len) {
		iov__copy_to(ch->iov, ch->n_in, 0, &v->rsts[v->rst_head], sizeof(struct vsock_hdr));
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
	*written = len;
	return len ? VIRTIO_CHAIN_USED : VIRTIO_CHAIN_UNUSED;
}

static void tx_packet(struct vsock *v, const struct virtq_chain *ch)
{
	struct virtio_dev *dev = &v->vdev;
	struct vsock_hdr h;
	if (iov__copy_from(ch->iov, ch->n_out, 0, &h, sizeof(h)) != sizeof(h)) {
		dev->stats.errors++;
		return;
	}
	bool bad = h.len > ch->out_len - sizeof(h) || h.src_cid != v->guest_cid ||
		   h.dst_cid != VSOCK_HOST_CID || h.type != VSOCK_TYPE_STREAM;
	struct conn *c = bad ? NULL : conn__find(v, h.dst_port, h.src_port);
	if (bad || (!c && h.op != VSOCK_OP_REQUEST)) {
		dev->stats.errors++;
		if (h.op != VSOCK_OP_RST)
			vsock__queue_rst(v, h.dst_port, h.src_port);
		return;
	}
	if (c) {
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
	}
	switch (h.op) {
	case VSOCK_OP_REQUEST: {
		if (c) {
			conn__close(c, true);
			return;
		}
		int fd = vsock__connect_host(v, h.dst_port);
		if (fd < 0) {
			log__limited(&v->connect_log, LOG_DEBUG,
				     "virtio %s: guest port %u -> %s_%u: %m", dev->name, h.src_port,
				     v->uds_path, h.dst_port);
			vsock__queue_rst(v, h.dst_port, h.src_port);
			return;
		}
		c = conn__new(v, fd, CONN_ESTABLISHED);
		if (!c) {
			close(fd);
			vsock__queue_rst(v, h.dst_port, h.src_port);
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
			conn__close(c, true);
			return;
		}
		char line[32];
		int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
		if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
			conn__close(c, true);
			return;
		}
		c->state = CONN_ESTABLISHED;
		conn__update_mask(c);
		return;
	}
	case VSOCK_OP_RST:
		conn__close(c, false);
		return;
	case VSOCK_OP_SHUTDOWN:
		if (h.flags & VSOCK_SHUTDOWN_RCV)
			c->shut_rcv = true;
		if (h.flags & VSOCK_SHUTDOWN_SEND)
			c->shut_send = true;
		if (c->shut_rcv && c->shut_send) {
			/* Clean close: pass on what we hold, then answer with RST. */
			conn__drain(c);
			conn__close(c, true);
			return;
		}
		if (c->shut_send && !c->buf_len)
			shutdown(c->fd, SHUT_WR);
		conn__update_mask(c);
		return;
	case VSOCK_OP_RW:
		if (c->state != CONN_ESTABLISHED || c->shut_send || conn__take_data(c, ch, h.len)) {
			dev->stats.errors++;
			conn__close(c, true);
			return;
		}
		dev->stats.read_bytes += h.len;
		conn__update_mask(c);
		return;
	case VSOCK_OP_CREDIT_UPDATE:
		return; /* the credit fields were taken above */
	case VSOCK_OP_CREDIT_REQUEST:
		c->want_credit = true;
		return;
	default:
		conn__close(c, true);
		return;
	}
}

static enum virtio_chain_result vsock_chain(struct virtio_dev *dev, unsigned q,
					    struct virtq_chain *ch, uint32_t *written,
					    const char **why)
{
	struct vsock *v = (struct vsock *)dev;
	if (q == RXQ)
		return rx_chain(v, ch, written, why);
	tx_packet(v, ch);
	*written = 0;
	return VIRTIO_CHAIN_USED;
}

static void vsock_notify(struct virtio_dev *dev, unsigned q)
{
	vsock__sync_reset((struct vsock *)dev);
	if (q == TXQ)
		virtio_dev__serve(dev, TXQ);
	/* Every kick may have freed credit or buffers: try to send. */
	virtio_dev__serve(dev, RXQ);
}

static void vsock_metrics(struct virtio_dev *dev, virtio_metric_fn fn, void *opaque)
{
	struct vsock *v = (struct vsock *)dev;
	fn(opaque, dev->name, "conns_added", v->conns_opened);
	fn(opaque, dev->name, "conns_killed", v->conns_reset);
}

/* Like Firecracker, leave no socket file behind for the next microVM: it outlives the
 * process, the rest goes with it. */
static void vsock_leave(struct virtio_dev *dev)
{
	struct vsock *v = (struct vsock *)dev;
	if (v->listen_fd >= 0)
		unlink(v->uds_path);
}

static void vsock_destroy(struct virtio_dev *dev)
{
	struct vsock *v = (struct vsock *)dev;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != CONN_FREE)
			conn__close(&v->conns[i], false);
	vsock_leave(dev);
	if (v->listen_fd >= 0) {
		event__del(dev->loop, v->listen_fd);
		close(v->listen_fd);
	}
	virtio_dev__release(dev);
	free(v);
}

/* Packets are chains: the core counts them per queue. */
static const struct virtio_metric_names vsock_names = {
    .group = "vsock",
    .read_bytes = "tx_bytes_count",
    .write_bytes = "rx_bytes_count",
    .errors = "errors",
    .dropped = "dropped",
    .queue_events = {"rx_queue_event_count", "tx_queue_event_count"},
    .queue_chains = {"rx_packets_count", "tx_packets_count"},
};

static const struct virtio_dev_ops vsock_ops = {
    .chain = vsock_chain,
    .has_work = vsock_has_work,
    .notify = vsock_notify,
    .metric_names = &vsock_names,
    .metrics = vsock_metrics,
    .destroy = vsock_destroy,
    .leave = vsock_leave,
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
	    listen(fd, 64) < 0 || event__add(loop, fd, EPOLLIN, vsock__on_listen, v) < 0) {
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
