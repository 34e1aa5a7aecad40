/* Ethernet, ARP, IPv4 and TCP as MMDS needs them. Every frame comes from the guest:
 * each length and offset is checked against what the frame holds before it is read,
 * and the IPv4 total length, not the frame length, bounds the packet (a frame may
 * carry padding). */
#include <string.h>

#include "mmds_int.h"

/* Firecracker's MMDS MAC address. */
const uint8_t mmds_mac[6] = {0x06, 0x01, 0x23, 0x45, 0x67, 0x01};

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP  0x0806
#define ARP_LEN	       28
#define IPPROTO_TCP_   6

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t mmds_csum_add(uint32_t sum, const uint8_t *b, size_t n)
{
	size_t i = 0;
	for (; i + 1 < n; i += 2)
		sum += rd16(b + i);
	if (i < n)
		sum += (uint32_t)b[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

uint16_t mmds_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t pseudo_header(uint32_t src, uint32_t dst, size_t tcp_len)
{
	uint8_t ph[12];
	wr32(ph, src);
	wr32(ph + 4, dst);
	ph[8] = 0;
	ph[9] = IPPROTO_TCP_;
	wr16(ph + 10, (uint16_t)tcp_len);
	return mmds_csum_add(0, ph, sizeof(ph));
}

/* TCP options: only MSS is used; the list must be well-formed to its end. */
static int parse_options(const uint8_t *o, size_t n, uint16_t *mss)
{
	size_t i = 0;
	while (i < n) {
		uint8_t kind = o[i];
		if (kind == 0)
			return 0;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n || o[i + 1] < 2 || o[i + 1] > n - i)
			return -1;
		uint8_t olen = o[i + 1];
		if (kind == 2) {
			if (olen != 4)
				return -1;
			*mss = rd16(o + i + 2);
		}
		i += olen;
	}
	return 0;
}

static enum mmds_class parse_tcp(const uint8_t *ip, size_t ihl, size_t tot, bool csum_partial,
				 struct mmds_pkt *p)
{
	const uint8_t *t = ip + ihl;
	size_t tlen = tot - ihl;
	if (tlen < TCP_HLEN_)
		return MMDS_DROP_BAD;
	size_t doff = (size_t)(t[12] >> 4) * 4;
	if (doff < TCP_HLEN_ || doff > tlen)
		return MMDS_DROP_BAD;
	if (!csum_partial) {
		uint32_t sum = pseudo_header(p->src_ip, p->dst_ip, tlen);
		if (mmds_csum_fold(mmds_csum_add(sum, t, tlen)) != 0)
			return MMDS_DROP_BAD;
	}
	p->mss = 0;
	if (parse_options(t + TCP_HLEN_, doff - TCP_HLEN_, &p->mss))
		return MMDS_DROP_BAD;
	p->sport = rd16(t);
	p->dport = rd16(t + 2);
	p->seq = rd32(t + 4);
	p->ack = rd32(t + 8);
	p->flags = t[13] & 0x3f;
	p->window = rd16(t + 14);
	p->data = t + doff;
	p->data_len = tlen - doff;
	return MMDS_TCP_SEGMENT;
}

static enum mmds_class parse_ipv4(const uint8_t *ip, size_t avail, uint32_t mmds_ip,
				  bool csum_partial, struct mmds_pkt *p)
{
	if (avail < IP_HLEN_)
		return MMDS_NOT_OURS; /* no destination to read: not addressed to us */
	p->dst_ip = rd32(ip + 16);
	if (p->dst_ip != mmds_ip)
		return MMDS_NOT_OURS;
	size_t ihl = (size_t)(ip[0] & 15) * 4;
	size_t tot = rd16(ip + 2);
	if (ip[0] >> 4 != 4 || ihl < IP_HLEN_ || tot < ihl || tot > avail)
		return MMDS_DROP_BAD;
	if (mmds_csum_fold(mmds_csum_add(0, ip, ihl)) != 0)
		return MMDS_DROP_BAD;
	/* Fragments are not reassembled: MF set or a fragment offset. */
	if (rd16(ip + 6) & 0x3fff)
		return MMDS_DROP_BAD;
	p->src_ip = rd32(ip + 12);
	if (ip[9] != IPPROTO_TCP_)
		return MMDS_DROP_UNUSUAL;
	return parse_tcp(ip, ihl, tot, csum_partial, p);
}

enum mmds_class mmds_frame__parse(const uint8_t *f, size_t len, uint32_t ip, bool csum_partial,
				  struct mmds_pkt *p)
{
	memset(p, 0, sizeof(*p));
	if (len < ETH_HLEN_)
		return MMDS_NOT_OURS;
	memcpy(p->src_mac, f + 6, 6);
	uint16_t type = rd16(f + 12);
	const uint8_t *pl = f + ETH_HLEN_;
	size_t n = len - ETH_HLEN_;
	if (type == ETHERTYPE_IPV4)
		return parse_ipv4(pl, n, ip, csum_partial, p);
	if (type != ETHERTYPE_ARP || n < ARP_LEN || rd32(pl + 24) != ip)
		return MMDS_NOT_OURS;
	/* For our address: answered only if it is an Ethernet/IPv4 request. */
	if (rd16(pl) != 1 || rd16(pl + 2) != ETHERTYPE_IPV4 || pl[4] != 6 || pl[5] != 4 ||
	    rd16(pl + 6) != 1)
		return MMDS_DROP_UNUSUAL;
	memcpy(p->src_mac, pl + 8, 6); /* the sender hardware address */
	p->src_ip = rd32(pl + 14);
	p->dst_ip = ip;
	return MMDS_ARP_REQUEST;
}

static void eth_header(uint8_t *b, const uint8_t dst[6], uint16_t type)
{
	memcpy(b, dst, 6);
	memcpy(b + 6, mmds_mac, 6);
	wr16(b + 12, type);
}

size_t mmds_frame__arp_reply(uint8_t *buf, uint32_t ip, const uint8_t to_mac[6], uint32_t to_ip)
{
	eth_header(buf, to_mac, ETHERTYPE_ARP);
	uint8_t *a = buf + ETH_HLEN_;
	wr16(a, 1);
	wr16(a + 2, ETHERTYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, 2);
	memcpy(a + 8, mmds_mac, 6);
	wr32(a + 14, ip);
	memcpy(a + 18, to_mac, 6);
	wr32(a + 24, to_ip);
	return ETH_HLEN_ + ARP_LEN;
}

size_t mmds_frame__tcp(uint8_t *buf, const struct mmds_seg *s)
{
	size_t opt = s->mss ? 4 : 0;
	size_t tlen = TCP_HLEN_ + opt + s->n;
	eth_header(buf, s->dst_mac, ETHERTYPE_IPV4);
	uint8_t *ip = buf + ETH_HLEN_;
	ip[0] = 0x45;
	ip[1] = 0;
	wr16(ip + 2, (uint16_t)(IP_HLEN_ + tlen));
	wr16(ip + 4, s->ip_id);
	wr16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP_;
	wr16(ip + 10, 0);
	wr32(ip + 12, s->src_ip);
	wr32(ip + 16, s->dst_ip);
	wr16(ip + 10, mmds_csum_fold(mmds_csum_add(0, ip, IP_HLEN_)));
	uint8_t *t = ip + IP_HLEN_;
	wr16(t, s->sport);
	wr16(t + 2, s->dport);
	wr32(t + 4, s->seq);
	wr32(t + 8, s->ack);
	t[12] = (uint8_t)(((TCP_HLEN_ + opt) / 4) << 4);
	t[13] = s->flags;
	wr16(t + 14, s->window);
	wr16(t + 16, 0);
	wr16(t + 18, 0);
	if (opt) {
		t[20] = 2;
		t[21] = 4;
		wr16(t + 22, s->mss);
	}
	if (s->n)
		memcpy(t + TCP_HLEN_ + opt, s->data, s->n);
	uint32_t sum = pseudo_header(s->src_ip, s->dst_ip, tlen);
	wr16(t + 16, mmds_csum_fold(mmds_csum_add(sum, t, tlen)));
	return ETH_HLEN_ + IP_HLEN_ + tlen;
}
