/* virtio-vsock, host half: the connection table, the Unix sockets behind it and the
 * "CONNECT <port>" handshake of host clients. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "vsock.h"

void conn__update_mask(struct conn *c)
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

void vsock__queue_rst(struct vsock *v, uint32_t local_port, uint32_t peer_port)
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

void conn__close(struct conn *c, bool rst)
{
	struct vsock *v = c->v;
	if (rst) {
		vsock__queue_rst(v, c->local_port, c->peer_port);
		v->conns_reset++;
	}
	if (c->watched)
		event__del(v->vdev.loop, c->fd);
	close(c->fd);
	free(c->buf);
	*c = (struct conn){.state = CONN_FREE, .v = v, .fd = -1};
}

static void on_conn(void *opaque, uint32_t events);

struct conn *conn__new(struct vsock *v, int fd, enum conn_state st)
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
		conn__update_mask(c);
		return c;
	}
	return NULL;
}

struct conn *conn__find(struct vsock *v, uint32_t local_port, uint32_t peer_port)
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
void vsock__sync_reset(struct vsock *v)
{
	if (v->seen_resets == v->vdev.resets)
		return;
	v->seen_resets = v->vdev.resets;
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != CONN_FREE)
			conn__close(&v->conns[i], false);
	v->rst_len = 0;
}

/* Writes buffered guest data to the socket. -1 if the socket is broken. */
int conn__drain(struct conn *c)
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

int vsock__connect_host(struct vsock *v, uint32_t port)
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
int conn__take_data(struct conn *c, const struct virtq_chain *ch, uint32_t len)
{
	if (len > VSOCK_CONN_BUF - c->buf_len)
		return -1;
	iov__copy_from(ch->iov, ch->n_out, sizeof(struct vsock_hdr), c->buf + c->buf_len, len);
	c->buf_len += len;
	return conn__drain(c);
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
		conn__close(c, false);
		return;
	}
	char *nl = memchr(line, '\n', (size_t)n);
	if (!nl) {
		/* Too long, or the client hung up half-way. */
		if (n == VSOCK_LINE_MAX || (events & (EPOLLHUP | EPOLLERR)))
			conn__close(c, false);
		return;
	}
	size_t take = (size_t)(nl - line) + 1;
	if (recv(c->fd, line, take, MSG_DONTWAIT) != (ssize_t)take) {
		conn__close(c, false);
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
		log__limited(&v->line_log, LOG_DEBUG,
			     "virtio %s: bad request line from a host client", v->vdev.name);
		conn__close(c, false);
		return;
	}
	/* A host port no other connection uses. */
	uint32_t lp;
	do {
		lp = v->next_port++;
		if (v->next_port < VSOCK_FIRST_PORT)
			v->next_port = VSOCK_FIRST_PORT;
	} while (conn__find(v, lp, (uint32_t)port));
	c->local_port = lp;
	c->peer_port = (uint32_t)port;
	c->state = CONN_REQUESTED;
	c->want_request = true;
	/* Until the guest answers the peer's data is not ours to read. */
	c->peer_buf_alloc = 0;
	conn__update_mask(c);
}

static void on_conn(void *opaque, uint32_t events)
{
	struct conn *c = opaque;
	struct vsock *v = c->v;
	pthread_mutex_lock(&v->vdev.lock);
	vsock__sync_reset(v);
	switch (c->state) {
	case CONN_FREE:
		break;
	case CONN_CONNECT_LINE:
		read_connect_line(v, c, events);
		break;
	case CONN_REQUESTED:
		/* Nothing is polled now, so this is a hang-up before the guest answered. */
		if (events & (EPOLLHUP | EPOLLERR))
			conn__close(c, true);
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
		if ((events & EPOLLOUT) && conn__drain(c) < 0) {
			conn__close(c, true);
			break;
		}
		if ((events & EPOLLIN) && !c->host_eof && !c->shut_rcv)
			c->readable = true;
		conn__update_mask(c);
		break;
	}
	virtio_dev__serve(&v->vdev, RXQ);
	pthread_mutex_unlock(&v->vdev.lock);
}

void vsock__on_listen(void *opaque, uint32_t events)
{
	struct vsock *v = opaque;
	pthread_mutex_lock(&v->vdev.lock);
	vsock__sync_reset(v);
	for (;;) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		if (!conn__new(v, fd, CONN_CONNECT_LINE)) {
			pr_warn_limited(&v->full_log,
					"virtio %s: too many connections; refusing a host client",
					v->vdev.name);
			close(fd);
		}
	}
	pthread_mutex_unlock(&v->vdev.lock);
}
