/* Split virtqueues (virtio 1.2 §2.7) over untrusted guest memory.
 * Every ring field, descriptor, address and length the guest supplies is checked
 * here; device models only ever see host iovecs that lie inside guest RAM. */
#ifndef EMBER_VIRTIO_QUEUE_H
#define EMBER_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mem.h"

#define VIRTQ_MAX_SIZE 256

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* What the driver writes to QueueDesc/QueueDriver/QueueDevice and QueueNum. */
struct virtq_layout {
	uint64_t desc;
	uint64_t avail;
	uint64_t used;
	uint16_t size;
};

struct virtq {
	const struct guest_mem *mem;
	struct virtq_layout layout;
	bool ready;
	bool event_idx;
	bool indirect;
	/* Host views of the rings, resolved once when the queue becomes ready:
	 * guest RAM never moves while the VM runs. */
	uint8_t *desc;
	uint8_t *avail;
	uint8_t *used;
	uint16_t last_avail; /* next avail ring slot the device will take */
	uint16_t used_idx;   /* shadow of used->idx, published by virtq__flush */
	uint16_t signalled;  /* used_idx when notification was last decided */
	uint16_t avail_seen; /* the driver's avail idx when virtq__pop last found no more */
};

/* One descriptor chain, already split into device-readable then device-writable
 * host buffers. Zero-length descriptors are dropped. */
struct virtq_chain {
	uint16_t head;
	unsigned n_out, n_in;
	size_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_SIZE]; /* iov[0..n_out) readable, then n_in writable */
};

enum virtq_pop {
	VIRTQ_EMPTY = 0, /* nothing available */
	VIRTQ_CHAIN = 1, /* *chain is filled in */
	VIRTQ_BAD = -1,	 /* the driver broke the ring rules; `why` says how */
};

/* Checks the layout against guest memory and alignment rules and enables the queue.
 * Returns -1 with a reason if the driver's layout is unusable. */
int virtq__enable(struct virtq *q, const struct guest_mem *mem, const struct virtq_layout *l,
		  bool event_idx, bool indirect, const char **why);
void virtq__disable(struct virtq *q);

/* Takes the next available chain. On VIRTQ_BAD the queue must not be used again
 * until the device is reset. */
enum virtq_pop virtq__pop(struct virtq *q, struct virtq_chain *chain, const char **why);
/* True if the driver has made buffers available that the device has not taken. */
bool virtq__has_avail(struct virtq *q);
/* Gives back the last `n` popped chains, unused (e.g. a frame did not fit). */
void virtq__unpop(struct virtq *q, uint16_t n);
/* Records a completed chain; `len` = bytes written into its writable buffers.
 * Not visible to the driver until virtq__flush(). */
void virtq__add_used(struct virtq *q, uint16_t head, uint32_t len);
void virtq__flush(struct virtq *q);
/* After a flush: should the driver be interrupted (EVENT_IDX / NO_INTERRUPT)? */
bool virtq__should_notify(struct virtq *q);
/* Before the device sleeps: asks the driver to kick on the next buffer. Returns true
 * if buffers arrived meanwhile, so the caller must keep going. */
bool virtq__arm(struct virtq *q);

/* For a device that popped buffers, found them too few and gave them back: asks the
 * driver to kick once it adds any beyond those seen. True if it already has. */
bool virtq__arm_beyond(struct virtq *q);

/* Helpers over a chain's iovecs, bounded by what the chain holds. */
size_t iov__copy_from(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len);
size_t iov__copy_to(const struct iovec *iov, unsigned n, size_t off, const void *src, size_t len);
/* Fills out[] with the bytes [off, off+len) of iov[]; returns how many entries. */
unsigned iov__slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out,
		    unsigned max);

#endif
