/* Issue 17 finding 6 at the device: in one event-loop batch the guest resets a
 * connection (freeing its handler slot) and opens a new one (taking that slot),
 * while the old connection's host peer hangs up. The old peer's EPOLLHUP, queued in
 * the same batch, must not reach the new connection, or it stops being watched and
 * its host data is never read again. */
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check.h"
#include "test_virtio_harness.h"
#include "virtio/vsock.h"

#define MIB   (1ull << 20)
#define RXQB  0x10000ull
#define TXQB  0x20000ull
#define EVQB  0x30000ull
#define TXBUF 0x200000ull
#define GCID  3
#define QS    16

static struct guest_mem mem;
static char err[256];
static struct gq q[3];

static int listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8))
		abort();
	return fd;
}

/* Makes one guest packet available on the transmit queue (no kick). */
static void g_put(uint16_t op, uint32_t sport, uint32_t dport)
{
	struct vsock_hdr h = {.src_cid = GCID,
			      .dst_cid = VSOCK_HOST_CID,
			      .src_port = sport,
			      .dst_port = dport,
			      .type = VSOCK_TYPE_STREAM,
			      .op = op,
			      .buf_alloc = 65536};
	uint16_t id = q[1].avail_idx % QS;
	uint64_t at = TXBUF + id * 0x100ull;
	memcpy(gp(&mem, at, sizeof(h)), &h, sizeof(h));
	gq_desc(&q[1], id, at, sizeof(h), 0, 0);
	gq_publish(&q[1], id);
}

static struct conn *find(struct vsock *v, uint32_t peer_port)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (v->conns[i].state != CONN_FREE && v->conns[i].peer_port == peer_port)
			return &v->conns[i];
	return NULL;
}

static void on_stop(void *opaque, uint32_t events)
{
	event__stop(opaque, 0);
}

static void stale_hup_on_a_reused_slot(void)
{
	if (guest_mem__init(&mem, 16 * MIB))
		abort();
	char dir[64], uds[96], p1[128], p2[128];
	snprintf(dir, sizeof(dir), "/tmp/ember-churn-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	snprintf(p1, sizeof(p1), "%s_5000", uds);
	snprintf(p2, sizeof(p2), "%s_5001", uds);
	int l1 = listen_on(p1), l2 = listen_on(p2);
	struct event_loop *loop = event__create();
	struct vsock_config vc = {.present = true, .guest_cid = GCID};
	snprintf(vc.uds_path, sizeof(vc.uds_path), "%s", uds);
	struct virtio_dev *d = vsock__create(&vc, &mem, loop, err, sizeof(err));
	CHECK(d != NULL);
	if (!d)
		return;
	struct vsock *v = (struct vsock *)d;
	dev_fake_kvm(d);
	gq_init(&q[0], &mem, RXQB, QS);
	gq_init(&q[1], &mem, TXQB, QS);
	gq_init(&q[2], &mem, EVQB, QS);
	CHECK(driver_init(d, ~0ull, q, 3) & VIRTIO_STATUS_DRIVER_OK);

	/* The guest connects to host port 5000, served here without the loop. */
	g_put(VSOCK_OP_REQUEST, 1000, 5000);
	virtio_dev__kick(d, 1);
	int host_x = accept(l1, NULL, NULL);
	CHECK(host_x >= 0);
	CHECK(find(v, 1000) != NULL);

	/* Ready in this order for one epoll batch: the transmit kick (RST for the
	 * old connection, REQUEST for a new one), the old peer's hang-up, the stop. */
	g_put(VSOCK_OP_RST, 1000, 5000);
	g_put(VSOCK_OP_REQUEST, 1001, 5001);
	kick(d, 1);
	close(host_x);
	int stop = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK_EQ(event__add(loop, stop, EPOLLIN, on_stop, loop), 0);
	CHECK_EQ(event__run(loop), 0);

	CHECK(find(v, 1000) == NULL);
	struct conn *y = find(v, 1001);
	CHECK(y != NULL);
	if (y) {
		CHECK_EQ(y->state, CONN_ESTABLISHED);
		/* Still watched: its peer's data will be noticed. */
		CHECK(y->watched);
		CHECK(!y->readable);
	}
	int host_y = accept(l2, NULL, NULL);
	CHECK(host_y >= 0);

	event__del(loop, stop);
	close(stop);
	close(host_y);
	virtio_dev__destroy(d);
	event__destroy(loop);
	close(l1);
	close(l2);
	unlink(p1);
	unlink(p2);
	rmdir(dir);
	guest_mem__destroy(&mem);
}

CHECK_MAIN("virtio-vsock-churn", CHECK_CASE(stale_hup_on_a_reused_slot))
