/* The MMDS network stack of one interface: sorts the guest's frames (mmds_frame.c),
 * answers ARP for the MMDS address itself and hands TCP to the connection table
 * (mmds_tcp.c). Replies go to the MAC address the guest last wrote from. */
#include <stdlib.h>
#include <string.h>

#include "mmds_int.h"

struct mmds_stack *mmds_stack__create(struct mmds_store *store, uint32_t ipv4)
{
	struct mmds_stack *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->store = store;
	st->ip = ipv4;
	mmds_tcp__seed(st);
	return st;
}

void mmds_stack__destroy(struct mmds_stack *st)
{
	if (!st)
		return;
	mmds_tcp__reset(st);
	free(st);
}

void mmds_stack__reset(struct mmds_stack *st)
{
	mmds_tcp__reset(st);
	st->arp_pending = false;
}

bool mmds_stack__input(struct mmds_stack *st, const uint8_t *frame, size_t len, bool csum_partial)
{
	struct mmds_pkt p;
	enum mmds_class k = mmds_frame__parse(frame, len, st->ip, csum_partial, &p);
	switch (k) {
	case MMDS_NOT_OURS:
		if (len < ETH_HLEN_)
			st->stats.rx_bad_eth++;
		return false;
	case MMDS_ARP_REQUEST:
		memcpy(st->guest_mac, p.src_mac, 6);
		st->arp_pending = true; /* one answer, to the latest asker, as Firecracker */
		st->arp_to_ip = p.src_ip;
		st->stats.rx_accepted++;
		return true;
	case MMDS_TCP_SEGMENT:
		memcpy(st->guest_mac, p.src_mac, 6);
		st->stats.rx_accepted++;
		mmds_tcp__input(st, &p);
		return true;
	case MMDS_DROP_BAD:
		st->stats.rx_accepted_err++;
		return true;
	case MMDS_DROP_UNUSUAL:
		st->stats.rx_accepted_unusual++;
		return true;
	}
	return false;
}

size_t mmds_stack__output(struct mmds_stack *st, uint8_t *buf, size_t cap)
{
	if (cap < MMDS_FRAME_MAX)
		return 0;
	size_t n;
	if (st->arp_pending) {
		st->arp_pending = false;
		n = mmds_frame__arp_reply(buf, st->ip, st->guest_mac, st->arp_to_ip);
	} else {
		n = mmds_tcp__output(st, buf, cap);
	}
	if (n) {
		st->stats.tx_frames++;
		st->stats.tx_bytes += n;
	}
	return n;
}

bool mmds_stack__pending(const struct mmds_stack *st)
{
	return st->arp_pending || mmds_tcp__pending(st);
}

void mmds_stack__stats(const struct mmds_stack *st, struct mmds_stack_stats *out)
{
	*out = st->stats;
}
