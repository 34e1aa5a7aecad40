/* virtio-vsock in the hybrid model with real Unix sockets and a live VMM thread:
 * connection set-up both ways, data, credit accounting, shutdown and RST. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "check.h"
#include "test_virtio_harness.h"

#define MIB   (1ull << 20)
#define RXQB  0x10000ull
#define TXQB  0x20000ull
#define EVQB  0x30000ull
#define RXBUF 0x100000ull /* 16 buffers of 4 KiB */
#define TXBUF 0x200000ull
#define GCID  3
#define QS    16

#define OP_REQUEST	  1
#define OP_RESPONSE	  2
#define OP_RST		  3
#define OP_SHUTDOWN	  4
#define OP_RW		  5
#define OP_CREDIT_UPDATE  6
#define OP_CREDIT_REQUEST 7

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

static struct guest_mem mem;
static char err[256];

struct rig {
	struct vmm_thread vmm;
	struct virtio_dev *d;
	struct gq q[3];
	char dir[64];
	char uds[80];
	uint16_t rx_next; /* next rx descriptor to hand out */
};

static int rig_up(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	if (!mem.base && guest_mem__init(&mem, 32 * MIB))
		abort();
	snprintf(r->dir, sizeof(r->dir), "/tmp/ember-vsock-XXXXXX");
	if (!mkdtemp(r->dir))
		return -1;
	snprintf(r->uds, sizeof(r->uds), "%s/v.sock", r->dir);
	r->vmm.loop = event__create();
	struct vsock_config vc = {.present = true, .guest_cid = GCID};
	snprintf(vc.uds_path, sizeof(vc.uds_path), "%s", r->uds);
	r->d = vsock__create(&vc, &mem, r->vmm.loop, err, sizeof(err));
	if (!r->d)
		return -1;
	dev_fake_kvm(r->d);
	gq_init(&r->q[0], &mem, RXQB, QS);
	gq_init(&r->q[1], &mem, TXQB, QS);
	gq_init(&r->q[2], &mem, EVQB, QS);
	vmm_start(&r->vmm);
	return driver_init(r->d, ~0ull, r->q, 3) & VIRTIO_STATUS_DRIVER_OK ? 0 : -1;
}

static void rig_down(struct rig *r)
{
	vmm_stop(&r->vmm);
	virtio_dev__destroy(r->d);
	event__destroy(r->vmm.loop);
	/* The device removes its own socket file. */
	CHECK(access(r->uds, F_OK) < 0 && errno == ENOENT);
	unlink(r->uds);
	char p[200];
	for (int port = 0; port < 100; port++) {
		snprintf(p, sizeof(p), "%s_%d", r->uds, port);
		unlink(p);
	}
	rmdir(r->dir);
}

/* Hands the device n receive buffers of 4 KiB. */
static void rx_buffers(struct rig *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = r->rx_next++ % QS;
		gq_desc(&r->q[0], id, RXBUF + id * 0x1000ull, 0x1000, VIRTQ_DESC_F_WRITE, 0);
		gq_publish(&r->q[0], id);
	}
	kick(r->d, 0);
}

static struct hdr mk(uint16_t op, uint32_t sport, uint32_t dport, uint32_t buf_alloc,
		     uint32_t fwd_cnt)
{
	return (struct hdr){.src_cid = GCID,
			    .dst_cid = 2,
			    .src_port = sport,
			    .dst_port = dport,
			    .type = 1,
			    .op = op,
			    .buf_alloc = buf_alloc,
			    .fwd_cnt = fwd_cnt};
}

static int g_send(struct rig *r, struct hdr h, const void *data, uint32_t len)
{
	h.len = len;
	/* Chain k uses descriptors 2k and 2k+1 and its own buffer area. */
	uint16_t k = r->q[1].avail_idx;
	uint16_t id = (uint16_t)((2 * k) % QS);
	uint64_t at = TXBUF + (k % 8) * 0x60000ull;
	memcpy(gp(&mem, at, sizeof(h)), &h, sizeof(h));
	if (len) {
		memcpy(gp(&mem, at + 64, len), data, len);
		gq_desc(&r->q[1], id, at, sizeof(h), VIRTQ_DESC_F_NEXT, (uint16_t)(id + 1));
		gq_desc(&r->q[1], (uint16_t)(id + 1), at + 64, len, 0, 0);
	} else {
		gq_desc(&r->q[1], id, at, sizeof(h), 0, 0);
	}
	gq_publish(&r->q[1], id);
	kick(r->d, 1);
	uint32_t uid, ulen;
	return gq_wait_used(&r->q[1], &uid, &ulen, 2000);
}

/* The next packet from the device, or -1 after ms. */
static int g_recv(struct rig *r, struct hdr *h, void *data, size_t max, int ms)
{
	uint32_t id, len;
	if (gq_wait_used(&r->q[0], &id, &len, ms))
		return -1;
	if (id >= QS || len < sizeof(*h))
		return -2;
	uint8_t *b = gp(&mem, RXBUF + id * 0x1000ull, 0x1000);
	memcpy(h, b, sizeof(*h));
	if (h->len + sizeof(*h) != len || h->len > max)
		return -3;
	if (data)
		memcpy(data, b + sizeof(*h), h->len);
	return 0;
}

static int listen_at(struct rig *r, unsigned port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", r->uds, port);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4))
		return -1;
	return fd;
}

static int connect_uds(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

static ssize_t read_to(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, ms) <= 0)
		return -2;
	return recv(fd, buf, len, 0);
}

/* Guest connects to host port 52; returns the host's accepted socket. */
static int guest_connect(struct rig *r, uint32_t gport, uint32_t buf_alloc)
{
	int l = listen_at(r, 52);
	CHECK(l >= 0);
	CHECK_EQ(g_send(r, mk(OP_REQUEST, gport, 52, buf_alloc, 0), NULL, 0), 0);
	struct hdr h;
	CHECK_EQ(g_recv(r, &h, NULL, 0, 2000), 0);
	CHECK_EQ(h.op, OP_RESPONSE);
	CHECK_EQ(h.src_cid, 2);
	CHECK_EQ(h.dst_cid, GCID);
	CHECK_EQ(h.src_port, 52);
	CHECK_EQ(h.dst_port, gport);
	CHECK_EQ(h.buf_alloc, 256 * 1024);
	int s = accept(l, NULL, NULL);
	close(l);
	return s;
}

static void guest_to_host(void)
{
	struct rig r;
	CHECK_EQ(rig_up(&r), 0);
	rx_buffers(&r, 8);
	int s = guest_connect(&r, 1234, 65536);
	CHECK(s >= 0);
	CHECK_EQ(g_send(&r, mk(OP_RW, 1234, 52, 65536, 0), "hello", 5), 0);
	char buf[64] = {0};
	CHECK_EQ(read_to(s, buf, sizeof(buf), 2000), 5);
	CHECK(!memcmp(buf, "hello", 5));
	CHECK_EQ(send(s, "world", 5, 0), 5);
	struct hdr h;
	CHECK_EQ(g_recv(&r, &h, buf, sizeof(buf), 2000), 0);
	CHECK_EQ(h.op, OP_RW);
	CHECK_EQ(h.len, 5);
	CHECK(!memcmp(buf, "world", 5));
	CHECK_EQ(h.fwd_cnt, 5); /* the 5 bytes it passed on to the host */
	/* The guest closes cleanly: SHUTDOWN both ways, answered with RST; host sees EOF. */
	struct hdr sd = mk(OP_SHUTDOWN, 1234, 52, 65536, 5);
	sd.flags = 3;
	CHECK_EQ(g_send(&r, sd, NULL, 0), 0);
	CHECK_EQ(g_recv(&r, &h, NULL, 0, 2000), 0);
	CHECK_EQ(h.op, OP_RST);
	CHECK_EQ(h.dst_port, 1234);
	CHECK_EQ(read_to(s, buf, sizeof(buf), 2000), 0);
	close(s);
	rig_down(&r);
}

static void credit(void)
{
	struct rig r;
	CHECK_EQ(rig_up(&r), 0);
	rx_buffers(&r, 8);
	int s = guest_connect(&r, 77, 8); /* the guest has room for 8 bytes */
	CHECK_EQ(send(s, "0123456789abcdefghij", 20, 0), 20);
	struct hdr h;
	char buf[64];
	CHECK_EQ(g_recv(&r, &h, buf, sizeof(buf), 2000), 0);
	CHECK_EQ(h.len, 8);
	CHECK(!memcmp(buf, "01234567", 8));
	CHECK_EQ(g_recv(&r, &h, buf, sizeof(buf), 100), -1); /* no credit, nothing sent */
	/* The guest consumed 8: 8 more. */
	CHECK_EQ(g_send(&r, mk(OP_CREDIT_UPDATE, 77, 52, 8, 8), NULL, 0), 0);
	CHECK_EQ(g_recv(&r, &h, buf, sizeof(buf), 2000), 0);
	CHECK_EQ(h.len, 8);
	CHECK(!memcmp(buf, "89abcdef", 8));
	/* A bigger window: the rest. */
	CHECK_EQ(g_send(&r, mk(OP_CREDIT_UPDATE, 77, 52, 1024, 16), NULL, 0), 0);
	CHECK_EQ(g_recv(&r, &h, buf, sizeof(buf), 2000), 0);
	CHECK_EQ(h.len, 4);
	CHECK(!memcmp(buf, "ghij", 4));
	/* CREDIT_REQUEST is answered with our buf_alloc and fwd_cnt. */
	CHECK_EQ(g_send(&r, mk(OP_RW, 77, 52, 1024, 20), "xyz", 3), 0);
	CHECK_EQ(g_send(&r, mk(OP_CREDIT_REQUEST, 77, 52, 1024, 20), NULL, 0), 0);
	CHECK_EQ(g_recv(&r, &h, NULL, 0, 2000), 0);
	CHECK_EQ(h.op, OP_CREDIT_UPDATE);
	CHECK_EQ(h.fwd_cnt, 3);
	CHECK_EQ(h.buf_alloc, 256 * 1024);
	/* The guest overruns the credit we gave: RST, and the host socket is closed. */
	static char big[300 * 1024];
	CHECK_EQ(g_send(&r, mk(OP_RW, 77, 52, 1024, 20), big, sizeof(big)), 0);
	CHECK_EQ(g_recv(&r, &h, NULL, 0, 2000), 0);
	CHECK_EQ(h.op, OP_RST);
	CHECK_EQ(read_to(s, buf, 3, 2000), 3); /* "xyz" */
	CHECK_EQ(read_to(s, buf, sizeof(buf), 2000), 0);
	close(s);
	rig_down(&r);
}

static void host_to_guest(void)
{
	struct rig r;
	CHECK_EQ(rig_up(&r), 0);
	rx_buffers(&r, 8);
	int c = connect_uds(r.uds);
	CHECK(c >= 0);
	/* Bytes after the newline already belong to the stream. */
	const char *line = "CONNECT 80\nearly";
	CHECK_EQ(send(c, line, strlen(line), 0), (ssize_t)strlen(line));
	struct hdr h;
	char buf[64] = {0};
	CHECK_EQ(g_recv(&r, &h, NULL, 0, 2000), 0);
	CHECK_EQ(h.op, OP_REQUEST);
	CHECK_EQ(h.dst_port, 80);
	CHECK_EQ(h.dst_cid, GCID);
	CHECK(h.src_port >= (1u << 30));
	uint32_t hport = h.src_port;
	CHECK_EQ(g_send(&r, mk(OP_RESPONSE, 80, hport, 4096, 0), NULL, 0), 0);
	char want[32];
	snprintf(want, sizeof(want), "OK %u\n", hport);
	CHECK_EQ(read_to(c, buf, strlen(want), 2000), (ssize_t)strlen(want));
	CHECK(!memcmp(buf, want, strlen(want)));
	CHECK_EQ(g_recv(&r, &h, buf, sizeof(buf), 2000), 0);
	CHECK_EQ(h.op, OP_RW);
	CHECK_EQ(h.len, 5);
	CHECK(!memcmp(buf, "early", 5));
	CHECK_EQ(g_send(&r, mk(OP_RW, 80, hport, 4096, 5), "pong", 4), 0);
	CHECK_EQ(read_to(c, buf, sizeof(buf), 2000), 4);
	CHECK(!memcmp(buf, "pong", 4));
	/* The host client hangs up: the guest is told with SHUTDOWN (both ways). */
	close(c);
	CHECK_EQ(g_recv(&r, &h, NULL, 0, 2000), 0);
	CHECK_EQ(h.op, OP_SHUTDOWN);
	CHECK_EQ(h.flags, 3);
	CHECK_EQ(g_send(&r, mk(OP_RST, 80, hport, 4096, 5), NULL, 0), 0);
	rig_down(&r);
}

static void refusals(void)
{
	struct rig r;
	CHECK_EQ(rig_up(&r), 0);
	rx_buffers(&r, 8);
	struct hdr h;
	/* Nobody listens on host port 99. */
	CHECK_EQ(g_send(&r, mk(OP_REQUEST, 5, 99, 4096, 0), NULL, 0), 0);
	CHECK_EQ(g_recv(&r, &h, NULL, 0, 2000), 0);
	CHECK_EQ(h.op, OP_RST);
	CHECK_EQ(h.dst_port, 5);
	CHECK_EQ(h.src_port, 99);
	/* Data on a connection that does not exist. */
	CHECK_EQ(g_send(&r, mk(OP_RW, 6, 52, 4096, 0), "x", 1), 0);
	CHECK_EQ(g_recv(&r, &h, NULL, 0, 2000), 0);
	CHECK_EQ(h.op, OP_RST);
	/* A spoofed source CID. */
	struct hdr bad = mk(OP_REQUEST, 7, 52, 4096, 0);
	bad.src_cid = 42;
	CHECK_EQ(g_send(&r, bad, NULL, 0), 0);
	CHECK_EQ(g_recv(&r, &h, NULL, 0, 2000), 0);
	CHECK_EQ(h.op, OP_RST);
	/* An RST for nothing gets no answer. */
	CHECK_EQ(g_send(&r, mk(OP_RST, 8, 52, 4096, 0), NULL, 0), 0);
	CHECK_EQ(g_recv(&r, &h, NULL, 0, 100), -1);
	/* A host client with a bad request line is hung up on. */
	int c = connect_uds(r.uds);
	CHECK_EQ(send(c, "HELLO 80\n", 9, 0), 9);
	char buf[16];
	CHECK_EQ(read_to(c, buf, sizeof(buf), 2000), 0);
	close(c);
	/* ...and so is one that never ends its line. */
	c = connect_uds(r.uds);
	memset(buf, 'C', sizeof(buf));
	CHECK_EQ(send(c, buf, 16, 0), 16);
	CHECK_EQ(send(c, buf, 16, 0), 16);
	ssize_t n = read_to(c, buf, sizeof(buf), 2000);
	CHECK(n == 0 || (n == -1 && errno == ECONNRESET)); /* closed with unread data */
	close(c);
	rig_down(&r);
}

static void tiny_rx_buffer(void)
{
	struct rig r;
	CHECK_EQ(rig_up(&r), 0);
	/* A receive buffer that holds a header but no data: the device needs a reset
	 * (and must not spin). */
	gq_desc(&r.q[0], 0, RXBUF, sizeof(struct hdr), VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&r.q[0], 0);
	CHECK_EQ(g_send(&r, mk(OP_REQUEST, 5, 99, 4096, 0), NULL, 0), 0);
	int i = 0;
	while (!(mmio_r(r.d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && i++ < 2000)
		usleep(1000);
	CHECK(mmio_r(r.d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	rig_down(&r);
}

static void reset_closes(void)
{
	struct rig r;
	CHECK_EQ(rig_up(&r), 0);
	rx_buffers(&r, 8);
	int s = guest_connect(&r, 1, 4096);
	/* The driver resets the device: its connections are gone, the host sees EOF. */
	mmio_w(r.d, VIRTIO_MMIO_STATUS, 0);
	r.rx_next = 0;
	gq_init(&r.q[0], &mem, RXQB, QS);
	gq_init(&r.q[1], &mem, TXQB, QS);
	gq_init(&r.q[2], &mem, EVQB, QS);
	CHECK(driver_init(r.d, ~0ull, r.q, 3) & VIRTIO_STATUS_DRIVER_OK);
	rx_buffers(&r, 4);
	char buf[8];
	CHECK_EQ(read_to(s, buf, sizeof(buf), 2000), 0);
	close(s);
	rig_down(&r);
}

CHECK_MAIN("virtio-vsock", CHECK_CASE(guest_to_host), CHECK_CASE(credit), CHECK_CASE(host_to_guest),
	   CHECK_CASE(refusals), CHECK_CASE(tiny_rx_buffer), CHECK_CASE(reset_closes))
