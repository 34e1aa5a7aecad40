/* virtio-vsock, the internal API between its two halves: vsock.c speaks to the
 * guest (packets on the virtqueues), vsock_conn.c to the host (connections and
 * their Unix sockets). Internal to virtio/.
 *
 * virtio-vsock (virtio 1.2 §5.10) in Firecracker's hybrid model: the host end of
 * every guest stream connection is a Unix socket.
 *   guest -> host port P:  ember connects to "<uds_path>_P".
 *   host -> guest port P:  a client connects to <uds_path>, sends "CONNECT P\n",
 *                          gets "OK <host port>\n" once the guest accepts.
 * Flow control is the spec's credit scheme: each side advertises buf_alloc and
 * fwd_cnt and never sends more than the peer has room for. */
#ifndef EMBER_VIRTIO_VSOCK_H
#define EMBER_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "devices.h"

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
	struct iovec slice[VIRTQ_MAX_SIZE];
	uint64_t conns_opened, conns_reset;
	struct log_limit connect_log, line_log, full_log;
};

/* The host half (vsock_conn.c); the lock of v->vdev is held throughout. */
void conn__update_mask(struct conn *c);
void vsock__queue_rst(struct vsock *v, uint32_t local_port, uint32_t peer_port);
void conn__close(struct conn *c, bool rst);
struct conn *conn__new(struct vsock *v, int fd, enum conn_state st);
struct conn *conn__find(struct vsock *v, uint32_t local_port, uint32_t peer_port);
void vsock__sync_reset(struct vsock *v);
int conn__drain(struct conn *c);
int vsock__connect_host(struct vsock *v, uint32_t port);
int conn__take_data(struct conn *c, const struct virtq_chain *ch, uint32_t len);
/* Event loop callback of the listening socket (lock not held). */
void vsock__on_listen(void *opaque, uint32_t events);

#endif
