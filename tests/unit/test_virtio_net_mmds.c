/* MMDS on a virtio-net device: the guest's frames for the MMDS address are answered
 * into the receive queue and never reach the "tap" (a datagram socketpair). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "check.h"
#include "test_virtio_harness.h"
#include "virtio/mmds_int.h"
#include "virtio/virtio.h"
#include "vm.h"

#define MIB  (1ull << 20)
#define RXQB 0x10000ull
#define TXQB 0x20000ull
#define BUF  0x100000ull
#define RBUF 0x200000ull
#define HDR  12

static struct guest_mem mem;
static char err[256];

struct rig {
	struct vmm_thread vmm;
	struct virtio_dev *d;
	struct mmds_store *store;
	int peer;
	struct gq q[2];
};

static int rig_up(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	if (!mem.base && guest_mem__init(&mem, 32 * MIB))
		abort();
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp))
		return -1;
	r->peer = sp[1];
	r->vmm.loop = event__create();
	struct net_config nc = {.id = "eth0", .has_mac = true, .guest_mac = {2, 0, 0, 0, 0, 7}};
	r->d = net__create(&nc, sp[0], &mem, r->vmm.loop, err, sizeof(err));
	r->store = mmds_store__create(MMDS_DEFAULT_SIZE_LIMIT);
	if (!r->d || !r->store ||
	    net__enable_mmds(r->d, r->store, MMDS_DEFAULT_IPV4, err, sizeof(err)))
		return -1;
	mmds_store__put(r->store, "{\"k\":\"v\"}", 9, err, sizeof(err));
	dev_fake_kvm(r->d);
	gq_init(&r->q[0], &mem, RXQB, 16);
	gq_init(&r->q[1], &mem, TXQB, 16);
	vmm_start(&r->vmm);
	uint32_t st = driver_init(r->d, ~0ull, r->q, 2);
	return st & VIRTIO_STATUS_DRIVER_OK ? 0 : -1;
}

static void rig_down(struct rig *r)
{
	vmm_stop(&r->vmm);
	virtio_dev__destroy(r->d);
	mmds_store__destroy(r->store);
	event__destroy(r->vmm.loop);
	close(r->peer);
}

/* Sends one frame through the transmit queue and waits until it is used. */
static void guest_send(struct rig *r, const uint8_t *frame, size_t n, uint16_t head)
{
	uint8_t *b = gp(&mem, BUF + head * 0x1000ull, HDR + n);
	memset(b, 0, HDR);
	memcpy(b + HDR, frame, n);
	gq_desc(&r->q[1], head, BUF + head * 0x1000ull, (uint32_t)(HDR + n), 0, 0);
	gq_publish(&r->q[1], head);
	kick(r->d, 1);
	uint32_t id, len;
	CHECK_EQ(gq_wait_used(&r->q[1], &id, &len, 2000), 0);
}

static void give_rx(struct rig *r, uint16_t head)
{
	gq_desc(&r->q[0], head, RBUF + head * 0x1000ull, 2048, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&r->q[0], head);
	kick(r->d, 0);
}

static void arp_and_tcp(void)
{
	struct rig r;
	CHECK_EQ(rig_up(&r), 0);
	give_rx(&r, 0);
	give_rx(&r, 1);
	uint8_t f[64] = {0};
	memset(f, 0xff, 6);
	memcpy(f + 6, (uint8_t[]){2, 0, 0, 0, 0, 7}, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	uint8_t arp[28] = {0,	1,   8, 0, 6, 4, 0, 1, 2, 0, 0,	  0,   0,   7,
			   192, 168, 0, 2, 0, 0, 0, 0, 0, 0, 169, 254, 169, 254};
	memcpy(f + 14, arp, 28);
	guest_send(&r, f, 42, 0);
	uint32_t id = 9, len = 0;
	CHECK_EQ(gq_wait_used(&r.q[0], &id, &len, 2000), 0);
	CHECK_EQ(len, HDR + 42);
	uint8_t *rb = gp(&mem, RBUF + id * 0x1000ull, 2048);
	CHECK(!memcmp(rb + HDR + 6, mmds_mac, 6));
	CHECK_EQ(rb[HDR + 21], 2); /* ARP reply */
	/* a SYN to port 80: the SYN-ACK comes in, with right checksums */
	uint8_t syn[128];
	struct mmds_seg s = {.dst_mac = mmds_mac,
			     .src_ip = 0xc0a80002u,
			     .dst_ip = MMDS_DEFAULT_IPV4,
			     .sport = 33333,
			     .dport = 80,
			     .seq = 5,
			     .flags = TCP_SYN,
			     .window = 1000};
	size_t n = mmds_frame__tcp(syn, &s);
	guest_send(&r, syn, n, 1);
	CHECK_EQ(gq_wait_used(&r.q[0], &id, &len, 2000), 0);
	rb = gp(&mem, RBUF + id * 0x1000ull, 2048);
	struct mmds_pkt p;
	CHECK_EQ(mmds_frame__parse(rb + HDR, len - HDR, 0xc0a80002u, false, &p), MMDS_TCP_SEGMENT);
	CHECK_EQ(p.flags, TCP_SYN | TCP_ACK);
	CHECK_EQ(p.ack, 6);
	/* none of it reached the tap */
	uint8_t got[256];
	CHECK_EQ(recv(r.peer, got, sizeof(got), 0), -1);
	/* Firecracker's "mmds" metrics group sums the interface's counters: 42 bytes of
	 * ARP reply, 58 of SYN-ACK (with its MSS option) */
	struct vm vm;
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(vm__add_device(&vm, &virtio_device_ops, r.d), 0);
	struct json_out o = {0};
	virtio__write_sums(&vm, &o);
	CHECK(o.buf &&
	      strstr(o.buf, ",\"mmds\":{\"rx_accepted\":2,\"rx_accepted_err\":0,"
			    "\"rx_accepted_unusual\":0,\"rx_bad_eth\":0,\"rx_count\":2,"
			    "\"tx_bytes\":100,\"tx_count\":2,\"tx_errors\":0,\"tx_frames\":2,"
			    "\"connections_created\":1,\"connections_destroyed\":0}"));
	json_out__free(&o);
	/* a frame for another address still goes to the tap */
	s.dst_ip = 0xc0a80001u;
	n = mmds_frame__tcp(syn, &s);
	guest_send(&r, syn, n, 2);
	CHECK_EQ(recv(r.peer, got, sizeof(got), 0), (ssize_t)(HDR + n));
	rig_down(&r);
}

/* The answer waits in the stack until the guest gives receive buffers. */
static void reply_waits_for_buffers(void)
{
	struct rig r;
	CHECK_EQ(rig_up(&r), 0);
	uint8_t syn[128];
	struct mmds_seg s = {.dst_mac = mmds_mac,
			     .src_ip = 0xc0a80002u,
			     .dst_ip = MMDS_DEFAULT_IPV4,
			     .sport = 33334,
			     .dport = 80,
			     .seq = 5,
			     .flags = TCP_SYN,
			     .window = 1000};
	size_t n = mmds_frame__tcp(syn, &s);
	guest_send(&r, syn, n, 0);
	usleep(20000);
	uint32_t id = 0, len = HDR;
	CHECK_EQ(gq_take_used(&r.q[0], &id, &len), -1);
	give_rx(&r, 3);
	CHECK_EQ(gq_wait_used(&r.q[0], &id, &len, 2000), 0);
	CHECK_EQ(id, 3);
	uint8_t *rb = gp(&mem, RBUF + 3 * 0x1000ull, 2048);
	struct mmds_pkt p;
	CHECK_EQ(mmds_frame__parse(rb + HDR, len - HDR, 0xc0a80002u, false, &p), MMDS_TCP_SEGMENT);
	CHECK_EQ(p.flags, TCP_SYN | TCP_ACK);
	rig_down(&r);
}

CHECK_MAIN("virtio_net_mmds", CHECK_CASE(arp_and_tcp), CHECK_CASE(reply_waits_for_buffers))
