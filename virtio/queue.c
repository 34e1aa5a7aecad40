#include "queue.h"

#include <string.h>

/* Ring layout (virtio 1.2 §2.7): descriptors are 16 bytes; the avail ring is
 * flags, idx, ring[size], used_event; the used ring is flags, idx,
 * {id, len}[size], avail_event. All little-endian, as is the host. */
struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* The guest writes these rings concurrently: every field is read exactly once,
 * atomically, and then only the local copy is trusted. */
static inline uint16_t load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static inline void store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELEASE);
}

static inline uint8_t *avail_ring(const struct virtq *q, uint16_t slot)
{
	return q->avail + 4 + 2u * (slot % q->layout.size);
}

static inline uint8_t *used_event(const struct virtq *q)
{
	return q->avail + 4 + 2u * q->layout.size;
}

static inline uint8_t *avail_event(const struct virtq *q)
{
	return q->used + 4 + 8u * q->layout.size;
}

int virtq__enable(struct virtq *q, const struct guest_mem *mem, const struct virtq_layout *l,
		  bool event_idx, bool indirect, const char **why)
{
	virtq__disable(q);
	uint16_t n = l->size;
	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1))) {
		*why = "queue size is zero, too big or not a power of two";
		return -1;
	}
	if ((l->desc & 15) || (l->avail & 1) || (l->used & 3)) {
		*why = "ring address is misaligned";
		return -1;
	}
	uint8_t *d = guest_mem__ptr(mem, l->desc, 16ull * n);
	uint8_t *a = guest_mem__ptr(mem, l->avail, 6ull + 2ull * n);
	uint8_t *u = guest_mem__ptr(mem, l->used, 6ull + 8ull * n);
	if (!d || !a || !u) {
		*why = "ring lies outside guest memory";
		return -1;
	}
	q->mem = mem;
	q->layout = *l;
	q->desc = d;
	q->avail = a;
	q->used = u;
	q->event_idx = event_idx;
	q->indirect = indirect;
	q->ready = true;
	return 0;
}

void virtq__disable(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

bool virtq__has_avail(struct virtq *q)
{
	return q->ready && load16(q->avail + 2) != q->last_avail;
}

/* Appends one descriptor's buffer to the chain. */
static int add_buf(struct virtq *q, struct virtq_chain *c, const struct vdesc *d, const char **why)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	if (!writable && c->n_in) {
		*why = "device-readable descriptor after a device-writable one";
		return -1;
	}
	if (d->len == 0)
		return 0;
	void *p = guest_mem__ptr(q->mem, d->addr, d->len);
	if (!p) {
		*why = "descriptor buffer lies outside guest memory";
		return -1;
	}
	/* Cannot overflow: at most one entry per descriptor, at most size descriptors. */
	c->iov[c->n_out + c->n_in] = (struct iovec){p, d->len};
	if (writable) {
		c->n_in++;
		c->in_len += d->len;
	} else {
		c->n_out++;
		c->out_len += d->len;
	}
	return 0;
}

/* Walks one table of descriptors (the ring's or an indirect one) from `idx`.
 * `budget` counts descriptors left before the chain exceeds the queue size. */
static int walk(struct virtq *q, struct virtq_chain *c, const uint8_t *table, uint32_t entries,
		uint16_t idx, bool nested, unsigned *budget, const char **why)
{
	unsigned seen = 0;
	for (;;) {
		if (idx >= entries) {
			*why = "descriptor index out of range";
			return -1;
		}
		/* A loop revisits a descriptor: it is caught when the walk exceeds the table. */
		if (++seen > entries) {
			*why = "descriptor chain loops";
			return -1;
		}
		if (*budget == 0) {
			*why = "descriptor chain is longer than the queue";
			return -1;
		}
		(*budget)--;
		struct vdesc d;
		memcpy(&d, table + 16u * idx, sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (nested || !q->indirect) {
				*why = nested
					   ? "nested indirect descriptor table"
					   : "indirect descriptor without VIRTIO_F_INDIRECT_DESC";
				return -1;
			}
			if (d.flags & VIRTQ_DESC_F_NEXT) {
				*why = "indirect descriptor with NEXT set";
				return -1;
			}
			if (d.len == 0 || d.len % 16) {
				*why = "indirect table length is not a multiple of 16";
				return -1;
			}
			const uint8_t *t = guest_mem__ptr(q->mem, d.addr, d.len);
			if (!t) {
				*why = "indirect table lies outside guest memory";
				return -1;
			}
			/* The indirect descriptor itself is not a buffer. */
			(*budget)++;
			return walk(q, c, t, d.len / 16, 0, true, budget, why);
		}
		if (add_buf(q, c, &d, why))
			return -1;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

enum virtq_pop virtq__pop(struct virtq *q, struct virtq_chain *c, const char **why)
{
	if (!q->ready)
		return VIRTQ_EMPTY;
	uint16_t avail_idx = load16(q->avail + 2);
	if (avail_idx == q->last_avail) {
		q->avail_seen = avail_idx;
		return VIRTQ_EMPTY;
	}
	if ((uint16_t)(avail_idx - q->last_avail) > q->layout.size) {
		*why = "available index moved by more than the queue size";
		return VIRTQ_BAD;
	}
	/* Chains popped but not yet used count too: otherwise a driver that moves
	 * its index on while a device holds chains (net rx gathering one frame) can
	 * hand out more chains than the queue has, overrunning the device's arrays. */
	if ((uint16_t)(avail_idx - q->used_idx) > q->layout.size) {
		*why = "more chains in flight than the queue size";
		return VIRTQ_BAD;
	}
	uint16_t head = load16(avail_ring(q, q->last_avail));
	if (head >= q->layout.size) {
		*why = "available ring entry out of range";
		return VIRTQ_BAD;
	}
	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;
	unsigned budget = q->layout.size;
	if (walk(q, c, q->desc, q->layout.size, head, false, &budget, why))
		return VIRTQ_BAD;
	/* The device may write every writable buffer: a Diff snapshot must carry them. */
	for (unsigned i = c->n_out; i < c->n_out + c->n_in; i++)
		guest_mem__mark_dirty(q->mem, c->iov[i].iov_base, c->iov[i].iov_len);
	q->last_avail++;
	return VIRTQ_CHAIN;
}

void virtq__unpop(struct virtq *q, uint16_t n)
{
	q->last_avail -= n;
}

void virtq__add_used(struct virtq *q, uint16_t head, uint32_t len)
{
	uint8_t *e = q->used + 4 + 8u * (q->used_idx % q->layout.size);
	uint32_t v[2] = {head, len};
	memcpy(e, v, sizeof(v));
	guest_mem__mark_dirty(q->mem, e, sizeof(v));
	q->used_idx++;
}

void virtq__flush(struct virtq *q)
{
	/* Release: the entries are visible before the index that publishes them. */
	store16(q->used + 2, q->used_idx);
	guest_mem__mark_dirty(q->mem, q->used + 2, 2);
}

bool virtq__should_notify(struct virtq *q)
{
	/* The used index must be visible before the driver's suppression hints are read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = q->signalled, now = q->used_idx;
	if (old == now)
		return false; /* nothing new since the last decision */
	q->signalled = now;
	if (!q->event_idx)
		return !(load16(q->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	uint16_t ev = load16(used_event(q));
	/* vring_need_event: did the used index step past the one the driver named? */
	return (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
}

bool virtq__arm(struct virtq *q)
{
	if (!q->ready)
		return false;
	if (q->event_idx) {
		store16(avail_event(q), q->last_avail);
		guest_mem__mark_dirty(q->mem, avail_event(q), 2);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq__has_avail(q);
}

bool virtq__arm_beyond(struct virtq *q)
{
	if (!q->ready)
		return false;
	if (q->event_idx) {
		store16(avail_event(q), q->avail_seen);
		guest_mem__mark_dirty(q->mem, avail_event(q), 2);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(q->avail + 2) != q->avail_seen;
}

/* Copies between a flat buffer and the bytes [off, off + len) of an iovec array. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, uint8_t *buf, size_t len,
		       bool to_iov)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - off;
		if (k > len - done)
			k = len - done;
		uint8_t *at = (uint8_t *)iov[i].iov_base + off;
		if (to_iov)
			memcpy(at, buf + done, k);
		else
			memcpy(buf + done, at, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t iov__copy_from(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len)
{
	return iov_copy(iov, n, off, dst, len, false);
}

size_t iov__copy_to(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len)
{
	return iov_copy(iov, n, off, (uint8_t *)src, len, true);
}

unsigned iov__slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out,
		    unsigned max)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len && k < max; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t m = iov[i].iov_len - off;
		if (m > len)
			m = len;
		out[k++] = (struct iovec){(uint8_t *)iov[i].iov_base + off, m};
		len -= m;
		off = 0;
	}
	return k;
}
