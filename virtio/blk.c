/* virtio-blk (virtio 1.2 §5.2) on a file or block device. Requests are served
 * synchronously on the VMM thread; a write is acknowledged only once the host has
 * taken it, and FLUSH makes everything acknowledged durable (fdatasync). */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices.h"
#include "file.h"
#include "log.h"

#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define SECTOR		    512ull
#define BLK_MAX_DISCARD	    (1u << 22) /* sectors per discard/write-zeroes segment */

/* Config space layout (§5.2.4), the fields up to write_zeroes_may_unmap. */
struct blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_discard_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct blk {
	struct virtio_dev vdev;
	int fd;
	bool read_only;
	uint64_t sectors;
	char id[VIRTIO_BLK_ID_BYTES];
	struct blk_config config;
	struct iovec data[VIRTQ_MAX_SIZE];
	uint64_t reads, writes; /* requests that succeeded */
	uint64_t flushes;	/* asked for */
	struct log_limit io_log;
};

/* Moves all of data[] to or from the file at `off`; -1 with errno on failure. A
 * short transfer that makes no progress (file shrunk under us) is an EIO. */
static int transfer(int fd, struct iovec *iov, unsigned n, uint64_t off, bool write)
{
	while (n) {
		ssize_t r = write ? pwritev(fd, iov, (int)n, (off_t)off)
				  : preadv(fd, iov, (int)n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		off += (uint64_t)r;
		size_t left = (size_t)r;
		while (n && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

static bool in_range(const struct blk *b, uint64_t sector, uint64_t count)
{
	return sector <= b->sectors && count <= b->sectors - sector;
}

/* Zeroes [off, off + len), or for a discard (which may leave any content) at most
 * tries to punch it. */
static int zero_range(struct blk *b, uint64_t off, uint64_t len, bool punch, bool discard)
{
	int mode = punch ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
			 : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	if (fallocate(b->fd, mode, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	if (discard)
		return 0;
	if (!punch && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				(off_t)len) == 0)
		return 0;
	/* The slow way, still correct: write zeroes, up to 64 KiB a call, all from one
	 * zero page (a 64 KiB array was a sixth of ember's binary and, as read-only data
	 * is mapped whole, of every ember's resident memory). */
	static const uint8_t zero_page[4096];
	while (len) {
		struct iovec v[16];
		unsigned n = 0;
		uint64_t k = 0;
		for (; n < 16 && k < len; n++) {
			uint64_t c = len - k < sizeof(zero_page) ? len - k : sizeof(zero_page);
			v[n] = (struct iovec){(void *)zero_page, (size_t)c};
			k += c;
		}
		if (transfer(b->fd, v, n, off, true))
			return -1;
		off += k;
		len -= k;
	}
	return 0;
}

/* DISCARD and WRITE_ZEROES: one segment (max_*_seg = 1). */
static uint8_t do_zeroes(struct blk *b, struct virtq_chain *c, bool discard)
{
	struct blk_discard_seg s;
	if (b->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (c->out_len != sizeof(struct blk_req_hdr) + sizeof(s))
		return VIRTIO_BLK_S_UNSUPP;
	iov__copy_from(c->iov, c->n_out, sizeof(struct blk_req_hdr), &s, sizeof(s));
	if (s.num_sectors > BLK_MAX_DISCARD || !in_range(b, s.sector, s.num_sectors) ||
	    (s.flags & ~1u) || (discard && s.flags))
		return VIRTIO_BLK_S_UNSUPP;
	/* A discard may leave any content; punching keeps the file sparse. */
	if (zero_range(b, s.sector * SECTOR, s.num_sectors * SECTOR, discard || (s.flags & 1),
		       discard))
		return VIRTIO_BLK_S_IOERR;
	return VIRTIO_BLK_S_OK;
}

/* Serves one request; returns the bytes written to the guest before the status. */
static uint8_t serve(struct blk *b, struct virtq_chain *c, uint32_t *written)
{
	struct virtio_dev *dev = &b->vdev;
	struct blk_req_hdr h;
	*written = 0;
	if (iov__copy_from(c->iov, c->n_out, 0, &h, sizeof(h)) != sizeof(h))
		return VIRTIO_BLK_S_IOERR;
	/* The status byte is the last writable byte; data sits between. */
	size_t in_data = c->in_len - 1;
	struct iovec *in = c->iov + c->n_out;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool wr = h.type == VIRTIO_BLK_T_OUT;
		size_t len = wr ? c->out_len - sizeof(h) : in_data;
		if (wr && b->read_only)
			return VIRTIO_BLK_S_IOERR;
		/* The used length (data + status byte) is a u32. */
		if (len % SECTOR || len > UINT32_MAX - 1 || !in_range(b, h.sector, len / SECTOR))
			return VIRTIO_BLK_S_IOERR;
		unsigned n =
		    wr ? iov__slice(c->iov, c->n_out, sizeof(h), len, b->data, VIRTQ_MAX_SIZE)
		       : iov__slice(in, c->n_in, 0, len, b->data, VIRTQ_MAX_SIZE);
		if (transfer(b->fd, b->data, n, h.sector * SECTOR, wr)) {
			log__limited(&b->io_log, LOG_DEBUG, "virtio %s: %s at sector %llu: %m",
				     dev->name, wr ? "write" : "read",
				     (unsigned long long)h.sector);
			return VIRTIO_BLK_S_IOERR;
		}
		if (wr) {
			b->writes++;
			dev->stats.read_bytes += len;
		} else {
			b->reads++;
			dev->stats.write_bytes += len;
			*written = (uint32_t)len;
		}
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_FLUSH:
		b->flushes++;
		if (!b->read_only && fdatasync(b->fd) < 0 && errno != EINVAL)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		size_t k = in_data < sizeof(b->id) ? in_data : sizeof(b->id);
		iov__copy_to(in, c->n_in, 0, b->id, k);
		*written = (uint32_t)k;
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return do_zeroes(b, c, h.type == VIRTIO_BLK_T_DISCARD);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static enum virtio_chain_result blk_chain(struct virtio_dev *dev, unsigned q, struct virtq_chain *c,
					  uint32_t *written, const char **why)
{
	struct blk *b = (struct blk *)dev;
	if (c->in_len == 0) {
		/* Nowhere to put a status: the request cannot be answered. */
		dev->stats.errors++;
		*written = 0;
		return VIRTIO_CHAIN_USED;
	}
	uint8_t st = serve(b, c, written);
	if (st != VIRTIO_BLK_S_OK) {
		dev->stats.errors++;
		*written = 0;
	}
	iov__copy_to(c->iov + c->n_out, c->n_in, c->in_len - 1, &st, 1);
	*written += 1;
	return VIRTIO_CHAIN_USED;
}

/* One op, and the data of a read or write (Firecracker charges nothing else). */
static uint64_t blk_cost(struct virtio_dev *dev, unsigned q, const struct virtq_chain *c)
{
	struct blk_req_hdr h;
	if (iov__copy_from(c->iov, c->n_out, 0, &h, sizeof(h)) != sizeof(h))
		return 0;
	if (h.type == VIRTIO_BLK_T_OUT)
		return c->out_len - sizeof(h);
	if (h.type == VIRTIO_BLK_T_IN && c->in_len)
		return c->in_len - 1;
	return 0;
}

static void blk_metrics(struct virtio_dev *dev, virtio_metric_fn fn, void *opaque)
{
	struct blk *b = (struct blk *)dev;
	fn(opaque, dev->name, "read_count", b->reads);
	fn(opaque, dev->name, "write_count", b->writes);
	fn(opaque, dev->name, "flush_count", b->flushes);
}

static void blk_destroy(struct virtio_dev *dev)
{
	struct blk *b = (struct blk *)dev;
	virtio_dev__release(dev);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

/* The guest's reads are the bytes the device writes into its buffers. */
static const struct virtio_metric_names blk_names = {
    .group = "block",
    .per_id = true,
    .read_bytes = "write_bytes",
    .write_bytes = "read_bytes",
    .errors = "execute_fails",
    .queue_events = {"queue_event_count"},
    .throttled = {"rate_limiter_throttled_events"},
    .limiter_events = {"rate_limiter_event_count"},
};

static const struct virtio_dev_ops blk_ops = {
    .chain = blk_chain,
    .cost = blk_cost,
    .metrics = blk_metrics,
    .metric_names = &blk_names,
    .destroy = blk_destroy,
};

/* The size of an open disk in sectors; -1 with a reason in err. */
static int disk_sectors(int fd, const char *id, const char *path, uint64_t *sectors, char *err,
			size_t errlen)
{
	struct stat st;
	uint64_t bytes = 0;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "drive %s: %s: %s", id, path, strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
			snprintf(err, errlen, "drive %s: %s: BLKGETSIZE64: %s", id, path,
				 strerror(errno));
			return -1;
		}
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		snprintf(err, errlen, "drive %s: %s is neither a file nor a block device", id,
			 path);
		return -1;
	}
	if (bytes % SECTOR)
		pr_warn("drive %s: %s is not a multiple of 512 bytes; the tail is not visible", id,
			path);
	*sectors = bytes / SECTOR;
	return 0;
}

int blk__swap(struct virtio_dev *dev, const char *id, const char *path, char *err, size_t errlen)
{
	struct blk *b = (struct blk *)dev;
	int fd = file__open(path, b->read_only ? FILE_DISK_RO : FILE_DISK_RW);
	if (fd < 0) {
		snprintf(err, errlen, "drive %s: cannot open %s: %s", id, path, file__error());
		return -1;
	}
	uint64_t sectors;
	if (disk_sectors(fd, id, path, &sectors, err, errlen)) {
		close(fd);
		return -1;
	}
	/* Requests are served on this (the VMM) thread: none is half-way on the old file. */
	close(b->fd);
	b->fd = fd;
	b->sectors = sectors;
	b->config.capacity = sectors;
	virtio_dev__config_changed(dev);
	return 0;
}

struct virtio_dev *blk__create(const struct drive_config *dc, const struct guest_mem *mem,
			       struct event_loop *loop, char *err, size_t errlen)
{
	struct blk *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "drive %s: out of memory", dc->id);
		return NULL;
	}
	b->read_only = dc->read_only;
	uint64_t features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
			    VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (dc->read_only)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		features |=
		    VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	char name[CONFIG_ID_MAX + 16];
	snprintf(name, sizeof(name), "block.%s", dc->id);
	/* Set up first, so every failure below can end in blk_destroy. */
	virtio_dev__init(&b->vdev, &blk_ops, VIRTIO_ID_BLOCK, name, mem, loop, 1, features,
			 &b->config, sizeof(b->config));
	if (virtio_dev__limit(&b->vdev, 0, &dc->rate_limiter, err, errlen))
		goto fail;
	b->fd = file__open(dc->path, dc->read_only ? FILE_DISK_RO : FILE_DISK_RW);
	if (b->fd < 0) {
		snprintf(err, errlen, "drive %s: cannot open %s: %s", dc->id, dc->path,
			 file__error());
		goto fail;
	}
	if (disk_sectors(b->fd, dc->id, dc->path, &b->sectors, err, errlen))
		goto fail;
	/* The ID is at most 20 bytes and NUL-terminated only if shorter. */
	size_t idlen = strnlen(dc->id, sizeof(b->id));
	memcpy(b->id, dc->id, idlen);

	b->config = (struct blk_config){
	    .capacity = b->sectors,
	    /* Header and status take two descriptors of a chain. */
	    .seg_max = VIRTQ_MAX_SIZE - 2,
	    .blk_size = SECTOR,
	    .num_queues = 1,
	    .max_discard_sectors = BLK_MAX_DISCARD,
	    .max_discard_seg = 1,
	    .discard_sector_alignment = 8,
	    .max_write_zeroes_sectors = BLK_MAX_DISCARD,
	    .max_write_zeroes_seg = 1,
	    .write_zeroes_may_unmap = 1,
	};
	return &b->vdev;
fail:
	blk_destroy(&b->vdev);
	return NULL;
}
