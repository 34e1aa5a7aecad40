/* virtio-net (virtio 1.2 §5.1) on a tap device. Frames cross the tap with the
 * 12-byte virtio-net header, so offloads pass straight through between guest and
 * host kernel. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices.h"
#include "event.h"
#include "log.h"
#include "mmds.h"

#define VIRTIO_NET_F_CSUM	0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU	3
#define VIRTIO_NET_F_MAC	5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4	11
#define VIRTIO_NET_F_HOST_TSO6	12
#define VIRTIO_NET_F_MRG_RXBUF	15

#define NET_HDR_LEN	     12 /* struct virtio_net_hdr with num_buffers, as VERSION_1 has it */
#define NET_HDR_NUM_BUFFERS  10
#define NET_HDR_F_NEEDS_CSUM 1 /* virtio_net_hdr.flags: the L4 checksum is partial */
/* Enough of a frame to tell whether it is for MMDS: an ARP's target address ends at
 * 14 + 28, an IPv4 destination at 14 + 20. */
#define NET_PEEK 42
/* A GSO frame from the tap: header + 64 KiB of IP payload + Ethernet header. */
#define NET_MAX_FRAME (NET_HDR_LEN + 65536 + 64)

#define NET_RX_BUDGET 256

#define RXQ 0
#define TXQ 1

struct net_config_space {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

struct net {
	struct virtio_dev vdev;
	int tap;
	bool tap_offloads; /* the tap accepted TUNSETOFFLOAD when probed */
	bool rx_polling;
	struct net_config_space config;

	/* A frame read from the tap that did not fit the guest's buffers yet. */
	bool frame_pending;
	bool frame_paid; /* the rx limiter has let it through already */
	size_t frame_len;
	struct {
		uint16_t head;
		uint32_t len;
	} used[VIRTQ_MAX_SIZE];

	/* Frames, not buffers (a frame may take several) nor failed sends: what the
	 * generic counters do not tell. */
	uint64_t rx_frames, tx_frames, tap_events, mmds_frames;
	struct log_limit read_log, offload_log;
	/* MMDS on this interface (mmds-config): frames for its address stop here. */
	struct mmds_stack *mmds;
	uint32_t mmds_ip;
	uint8_t *tx_frame; /* NET_MAX_FRAME bytes: an MMDS frame made contiguous */
	uint8_t frame[NET_MAX_FRAME];
};

static void set_polling(struct net *n, bool on)
{
	if (n->rx_polling == on || !n->vdev.loop)
		return;
	if (event__mod(n->vdev.loop, n->tap, on ? EPOLLIN : 0) == 0)
		n->rx_polling = on;
}

/* Copies the pending frame into one or more receive chains. Returns 1 when the
 * frame is gone (delivered or dropped), 0 if the guest has too few buffers, -1 if
 * the driver broke the ring. */
static int deliver(struct net *n)
{
	struct virtio_dev *dev = &n->vdev;
	struct virtq *q = &dev->vq[RXQ];
	struct virtq_chain *c = &dev->chain;
	bool mrg = virtio_dev__has(dev, VIRTIO_NET_F_MRG_RXBUF);
	struct iovec nb_iov[2];
	unsigned nb_n = 0;
	uint16_t nbufs = 0;
	size_t off = 0;
	const char *why;
	while (off < n->frame_len) {
		enum virtq_pop r = virtq__pop(q, c, &why);
		if (r == VIRTQ_EMPTY) {
			virtq__unpop(q, nbufs);
			return 0;
		}
		if (r == VIRTQ_BAD) {
			virtio_dev__fail(dev, why);
			return -1;
		}
		if (c->n_out || (nbufs == 0 && c->in_len < NET_HDR_LEN)) {
			virtio_dev__fail(dev,
					 "receive buffer is read-only or smaller than the header");
			return -1;
		}
		if (c->in_len == 0) {
			/* Would take a used entry without moving the frame on. */
			virtio_dev__fail(dev, "empty receive buffer");
			return -1;
		}
		struct iovec *in = c->iov + c->n_out;
		size_t k = n->frame_len - off;
		if (k > c->in_len)
			k = c->in_len;
		if (!mrg && k < n->frame_len) {
			/* Without mergeable buffers a frame must fit one chain. */
			virtq__unpop(q, 1);
			dev->stats.dropped++;
			return 1;
		}
		iov__copy_to(in, c->n_in, 0, n->frame + off, k);
		if (nbufs == 0)
			nb_n = iov__slice(in, c->n_in, NET_HDR_NUM_BUFFERS, 2, nb_iov, 2);
		n->used[nbufs].head = c->head;
		n->used[nbufs].len = (uint32_t)k;
		nbufs++;
		off += k;
	}
	iov__copy_to(nb_iov, nb_n, 0, &nbufs, sizeof(nbufs));
	for (uint16_t i = 0; i < nbufs; i++)
		virtio_dev__used(dev, RXQ, n->used[i].head, n->used[i].len);
	n->rx_frames++;
	dev->stats.write_bytes += n->frame_len - NET_HDR_LEN;
	return 1;
}

/* Moves frames from the tap to the guest until either runs dry. */
static void net_rx(struct net *n)
{
	struct virtio_dev *dev = &n->vdev;
	struct virtq *q = &dev->vq[RXQ];
	bool delivered = false;
	if (!virtio_dev__live(dev) || !q->ready) {
		set_polling(n, false);
		return;
	}
	/* Bounded, so a flooding peer cannot keep the VMM thread from other work;
	 * the tap stays readable and epoll brings us back. */
	for (unsigned budget = NET_RX_BUDGET; budget; budget--) {
		if (!n->frame_pending) {
			if (!virtq__has_avail(q) && !virtq__arm(q)) {
				/* No buffers: leave frames in the tap's queue until the guest
				 * adds some (its kick resumes polling). */
				set_polling(n, false);
				break;
			}
			/* MMDS's replies first: they answer what the guest just sent. */
			size_t m = n->mmds ? mmds_stack__output(n->mmds, n->frame + NET_HDR_LEN,
								sizeof(n->frame) - NET_HDR_LEN)
					   : 0;
			if (m) {
				memset(n->frame, 0, NET_HDR_LEN);
				n->frame_len = m + NET_HDR_LEN;
				n->frame_pending = true;
				n->frame_paid = false;
				goto have_frame;
			}
			ssize_t r = read(n->tap, n->frame, sizeof(n->frame));
			if (r < 0) {
				if (errno != EAGAIN && errno != EINTR) {
					dev->stats.errors++;
					log__limited(&n->read_log, LOG_DEBUG,
						     "virtio %s: tap read: %m", dev->name);
				}
				set_polling(n, true);
				break;
			}
			if (r < NET_HDR_LEN) {
				dev->stats.dropped++;
				continue;
			}
			n->frame_len = (size_t)r;
			n->frame_pending = true;
			n->frame_paid = false;
		}
	have_frame:
		if (!n->frame_paid) {
			/* Over the rx rate: the frame waits here and the rest in the tap
			 * (which stops being polled) until the limiter's timer. */
			if (virtio_dev__throttled(dev, RXQ, n->frame_len)) {
				set_polling(n, false);
				break;
			}
			n->frame_paid = true;
		}
		int d = deliver(n);
		if (d < 0)
			break;
		if (d == 0) {
			/* The buffers there are were given back: wait for more. */
			if (virtq__arm_beyond(q))
				continue;
			set_polling(n, false);
			break;
		}
		n->frame_pending = false;
		delivered = true;
	}
	if (delivered)
		virtio_dev__flush(dev, RXQ);
}

/* Whether the guest's frame in chain c is for MMDS; if so it was handed to the
 * stack (answered or dropped there) and must not reach the tap. */
static bool to_mmds(struct net *n, const struct virtq_chain *c)
{
	uint8_t peek[NET_HDR_LEN + NET_PEEK];
	size_t k = c->out_len < sizeof(peek) ? c->out_len : sizeof(peek);
	iov__copy_from(c->iov, c->n_out, 0, peek, k);
	const uint8_t *eth = peek + NET_HDR_LEN;
	size_t el = k - NET_HDR_LEN;
	uint8_t ip[4] = {(uint8_t)(n->mmds_ip >> 24), (uint8_t)(n->mmds_ip >> 16),
			 (uint8_t)(n->mmds_ip >> 8), (uint8_t)n->mmds_ip};
	bool arp = el >= 42 && eth[12] == 0x08 && eth[13] == 0x06 && !memcmp(eth + 38, ip, 4);
	bool ipv4 = el >= 34 && eth[12] == 0x08 && eth[13] == 0x00 && !memcmp(eth + 30, ip, 4);
	if (!arp && !ipv4)
		return false;
	size_t len = c->out_len - NET_HDR_LEN;
	iov__copy_from(c->iov, c->n_out, NET_HDR_LEN, n->tx_frame, len);
	bool partial = peek[0] & NET_HDR_F_NEEDS_CSUM;
	/* The stack takes whatever is addressed to it; a frame it rejects is dropped. */
	mmds_stack__input(n->mmds, n->tx_frame, len, partial);
	return true;
}

static enum virtio_chain_result net_chain(struct virtio_dev *dev, unsigned q, struct virtq_chain *c,
					  uint32_t *written, const char **why)
{
	struct net *n = (struct net *)dev;
	*written = 0;
	if (c->out_len < NET_HDR_LEN || c->out_len > NET_MAX_FRAME) {
		dev->stats.errors++;
	} else if (n->mmds && to_mmds(n, c)) {
		n->mmds_frames++;
	} else if (writev(n->tap, c->iov, (int)c->n_out) < 0) {
		/* A full tap queue (EAGAIN) drops the frame like a full NIC ring. */
		if (errno == EAGAIN)
			dev->stats.dropped++;
		else
			dev->stats.errors++;
	} else {
		n->tx_frames++;
		dev->stats.read_bytes += c->out_len - NET_HDR_LEN;
	}
	return VIRTIO_CHAIN_USED;
}

/* A frame as Firecracker charges it: its bytes, virtio-net header included. */
static uint64_t net_cost(struct virtio_dev *dev, unsigned q, const struct virtq_chain *c)
{
	return c->out_len;
}

/* Only the transmit queue is served chain by chain; receive is driven by the tap. */
static void net_notify(struct virtio_dev *dev, unsigned q)
{
	struct net *n = (struct net *)dev;
	if (q == TXQ) {
		virtio_dev__serve(dev, TXQ);
		/* What the guest sent MMDS may have an answer waiting. */
		if (n->mmds && mmds_stack__pending(n->mmds))
			net_rx(n);
	} else if (q == RXQ)
		net_rx(n); /* new buffers: resumes polling the tap */
}

static void on_tap(void *opaque, uint32_t events)
{
	struct net *n = opaque;
	pthread_mutex_lock(&n->vdev.lock);
	n->tap_events++;
	net_rx(n);
	pthread_mutex_unlock(&n->vdev.lock);
}

static int net_features_ok(struct virtio_dev *dev)
{
	struct net *n = (struct net *)dev;
	if (!n->tap_offloads)
		return 0;
	/* The tap may hand us only what the driver can take. */
	unsigned off = 0;
	if (virtio_dev__has(dev, VIRTIO_NET_F_GUEST_CSUM))
		off |= TUN_F_CSUM;
	if (virtio_dev__has(dev, VIRTIO_NET_F_GUEST_TSO4))
		off |= TUN_F_TSO4;
	if (virtio_dev__has(dev, VIRTIO_NET_F_GUEST_TSO6))
		off |= TUN_F_TSO6;
	if (ioctl(n->tap, TUNSETOFFLOAD, off) < 0)
		pr_warn_limited(&n->offload_log, "virtio %s: TUNSETOFFLOAD 0x%x: %m", dev->name,
				off);
	return 0;
}

static void net_reset(struct virtio_dev *dev)
{
	struct net *n = (struct net *)dev;
	if (n->frame_pending)
		dev->stats.dropped++;
	n->frame_pending = false;
	n->frame_paid = false;
	if (n->mmds)
		mmds_stack__reset(n->mmds);
}

static void net_metrics(struct virtio_dev *dev, virtio_metric_fn fn, void *opaque)
{
	struct net *n = (struct net *)dev;
	fn(opaque, dev->name, "rx_packets_count", n->rx_frames);
	fn(opaque, dev->name, "tx_packets_count", n->tx_frames);
	fn(opaque, dev->name, "rx_tap_event_count", n->tap_events);
	/* Always, zeros without MMDS: the "net" group sums the interfaces' counters by
	 * position. */
	struct mmds_stack_stats s = {0};
	if (n->mmds)
		mmds_stack__stats(n->mmds, &s);
	fn(opaque, dev->name, "mmds_frames", n->mmds_frames);
	fn(opaque, dev->name, "mmds_rx_accepted", s.rx_accepted);
	fn(opaque, dev->name, "mmds_rx_accepted_err", s.rx_accepted_err);
	fn(opaque, dev->name, "mmds_rx_accepted_unusual", s.rx_accepted_unusual);
	fn(opaque, dev->name, "mmds_tx_frames", s.tx_frames);
	fn(opaque, dev->name, "mmds_connections_created", s.conns_created);
	fn(opaque, dev->name, "mmds_connections_destroyed", s.conns_destroyed);
}

static void net_destroy(struct virtio_dev *dev)
{
	struct net *n = (struct net *)dev;
	if (n->tap >= 0) {
		if (dev->loop)
			event__del(dev->loop, n->tap);
		close(n->tap);
	}
	mmds_stack__destroy(n->mmds);
	free(n->tx_frame);
	virtio_dev__release(dev);
	free(n);
}

static const struct virtio_metric_names net_names = {
    .group = "net",
    .per_id = true,
    .read_bytes = "tx_bytes_count",
    .write_bytes = "rx_bytes_count",
    .errors = "errors",
    .dropped = "dropped",
    .queue_events = {"rx_queue_event_count", "tx_queue_event_count"},
    .throttled = {"rx_rate_limiter_throttled", "tx_rate_limiter_throttled"},
    .limiter_events = {"rx_event_rate_limiter_count", "tx_rate_limiter_event_count"},
};

static const struct virtio_dev_ops net_ops = {
    .chain = net_chain,
    .cost = net_cost,
    .notify = net_notify,
    .metric_names = &net_names,
    .features_ok = net_features_ok,
    .reset = net_reset,
    .metrics = net_metrics,
    .destroy = net_destroy,
};

static int open_tap(const char *name, char *err, size_t errlen)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return error__set(err, errlen, "net %s: /dev/net/tun: %s", name, strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		snprintf(err, errlen, "net: cannot open tap %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	int hdr = NET_HDR_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		snprintf(err, errlen, "net: tap %s: TUNSETVNETHDRSZ: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The tap's MTU as the guest's: a bigger guest frame would be dropped by the host.
 * Setting it needs CAP_NET_ADMIN; without it a tap that already has it is fine. */
static int set_tap_mtu(const char *name, uint32_t mtu, char *err, size_t errlen)
{
	/* Any socket reaches the interface ioctls; an AF_UNIX one is what the VMM thread's
	 * seccomp filter lets it make, so no network socket is needed. */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return error__set(err, errlen, "net %s: mtu: socket: %s", name, strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = (int)mtu;
	int rc = ioctl(s, SIOCSIFMTU, &ifr);
	int saved = errno;
	if (rc < 0 && ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu == (int)mtu)
		rc = 0;
	close(s);
	if (rc < 0)
		return error__set(err, errlen, "net: cannot set the MTU of tap %s to %u: %s", name,
				  mtu, strerror(saved));
	return 0;
}

struct virtio_dev *net__create(const struct net_config *nc, int tap_fd, const struct guest_mem *mem,
			       struct event_loop *loop, char *err, size_t errlen)
{
	struct net *n = calloc(1, sizeof(*n));
	if (!n) {
		snprintf(err, errlen, "net %s: out of memory", nc->id);
		if (tap_fd >= 0)
			close(tap_fd);
		return NULL;
	}
	n->tap = tap_fd >= 0 ? tap_fd : open_tap(nc->host_dev_name, err, errlen);
	if (n->tap < 0) {
		free(n);
		return NULL;
	}
	if (tap_fd < 0 && nc->mtu && set_tap_mtu(nc->host_dev_name, nc->mtu, err, errlen)) {
		close(n->tap);
		free(n);
		return NULL;
	}
	/* Offer receive offloads only if this tap can do them; until the driver has
	 * chosen, the tap checksums and segments everything itself. */
	unsigned all = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
	n->tap_offloads = ioctl(n->tap, TUNSETOFFLOAD, all) == 0;
	if (n->tap_offloads)
		ioctl(n->tap, TUNSETOFFLOAD, 0);
	uint64_t features = VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (n->tap_offloads)
		features |=
		    VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
		    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
		    VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6);
	if (nc->has_mac) {
		features |= VIRTIO_BIT(VIRTIO_NET_F_MAC);
		memcpy(n->config.mac, nc->guest_mac, 6);
	}
	if (nc->mtu) {
		features |= VIRTIO_BIT(VIRTIO_NET_F_MTU);
		n->config.mtu = (uint16_t)nc->mtu;
	}
	n->config.max_virtqueue_pairs = 1;
	char name[CONFIG_ID_MAX + 16];
	snprintf(name, sizeof(name), "net.%s", nc->id);
	virtio_dev__init(&n->vdev, &net_ops, VIRTIO_ID_NET, name, mem, loop, 2, features,
			 &n->config, sizeof(n->config));
	if (virtio_dev__limit(&n->vdev, RXQ, &nc->rx_rate_limiter, err, errlen) ||
	    virtio_dev__limit(&n->vdev, TXQ, &nc->tx_rate_limiter, err, errlen)) {
		net_destroy(&n->vdev);
		return NULL;
	}
	/* Registered now, before vCPUs run, so nothing else touches the loop's table;
	 * it is enabled and disabled later from the VMM thread only. */
	if (loop) {
		if (event__add(loop, n->tap, EPOLLIN, on_tap, n) < 0) {
			snprintf(err, errlen, "net %s: cannot watch the tap: %s", nc->id,
				 strerror(errno));
			net_destroy(&n->vdev);
			return NULL;
		}
		n->rx_polling = true;
	}
	return &n->vdev;
}

bool net__mmds_stats(struct virtio_dev *dev, struct mmds_stack_stats *s)
{
	struct net *n = (struct net *)dev;
	if (dev->device_id != VIRTIO_ID_NET || !n->mmds)
		return false;
	mmds_stack__stats(n->mmds, s);
	return true;
}

int net__enable_mmds(struct virtio_dev *dev, struct mmds_store *store, uint32_t ipv4, char *err,
		     size_t errlen)
{
	struct net *n = (struct net *)dev;
	if (n->mmds)
		return 0;
	n->tx_frame = malloc(NET_MAX_FRAME);
	n->mmds = n->tx_frame ? mmds_stack__create(store, ipv4) : NULL;
	if (!n->mmds) {
		free(n->tx_frame);
		n->tx_frame = NULL;
		return error__set(err, errlen, "%s: MMDS: out of memory", dev->name);
	}
	n->mmds_ip = ipv4;
	return 0;
}
