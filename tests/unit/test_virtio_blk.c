/* virtio-blk request handling on a temporary file. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"
#include "test_virtio_harness.h"

#define MIB    (1ull << 20)
#define QB     0x10000ull
#define HDR    0x200000ull
#define DATA   0x300000ull
#define STATUS 0x400000ull
#define DISK   (1 * MIB)

#define T_IN	       0
#define T_OUT	       1
#define T_FLUSH	       4
#define T_GET_ID       8
#define T_DISCARD      11
#define T_WRITE_ZEROES 13
#define S_OK	       0
#define S_IOERR	       1
#define S_UNSUPP       2

#define F_RO	       5
#define F_DISCARD      13
#define F_WRITE_ZEROES 14

static struct guest_mem mem;
static char path[64];
static char err[256];
static struct gq q;

static struct virtio_dev *open_disk(bool ro, const char *id)
{
	if (!mem.base && guest_mem__init(&mem, 16 * MIB))
		abort();
	snprintf(path, sizeof(path), "/tmp/ember-virtio-blk-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	uint8_t *buf = malloc(DISK);
	for (size_t i = 0; i < DISK; i++)
		buf[i] = (uint8_t)(i * 7 + i / 512);
	if (write(fd, buf, DISK) != (ssize_t)DISK)
		abort();
	free(buf);
	close(fd);
	struct drive_config dc = {.read_only = ro};
	snprintf(dc.id, sizeof(dc.id), "%s", id);
	snprintf(dc.path, sizeof(dc.path), "%s", path);
	struct virtio_dev *d = blk__create(&dc, &mem, NULL, err, sizeof(err));
	if (!d) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	gq_init(&q, &mem, QB, 16);
	driver_init(d, ~0ull, &q, 1);
	return d;
}

static void close_disk(struct virtio_dev *d)
{
	virtio_dev__destroy(d);
	unlink(path);
}

/* One request: header, optional data (writable for IN/GET_ID), status byte.
 * Returns the status byte; *used gets the used length. */
static int req(struct virtio_dev *d, uint32_t type, uint64_t sector, uint32_t len, bool data_in,
	       uint32_t *used)
{
	uint8_t *h = gp(&mem, HDR, 16);
	uint32_t t[2] = {type, 0};
	memcpy(h, t, 8);
	memcpy(h + 8, &sector, 8);
	*(uint8_t *)gp(&mem, STATUS, 1) = 0xee;
	uint16_t n = 0;
	gq_desc(&q, n, HDR, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(n + 1));
	n++;
	if (len) {
		gq_desc(&q, n, DATA, len, VIRTQ_DESC_F_NEXT | (data_in ? VIRTQ_DESC_F_WRITE : 0),
			(uint16_t)(n + 1));
		n++;
	}
	gq_desc(&q, n, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	uint32_t id = 99;
	*used = 0;
	if (gq_take_used(&q, &id, used))
		return -1;
	return *(uint8_t *)gp(&mem, STATUS, 1);
}

static int file_cmp(uint64_t off, const void *p, size_t len)
{
	uint8_t *buf = malloc(len);
	int fd = open(path, O_RDONLY);
	ssize_t r = pread(fd, buf, len, (off_t)off);
	close(fd);
	int c = r == (ssize_t)len ? memcmp(buf, p, len) : -1;
	free(buf);
	return c;
}

static void read_write_flush(void)
{
	struct virtio_dev *d = open_disk(false, "drive0");
	uint32_t used;
	CHECK_EQ(req(d, T_IN, 2, 1024, true, &used), S_OK);
	CHECK_EQ(used, 1025);
	CHECK_EQ(file_cmp(1024, gp(&mem, DATA, 1024), 1024), 0);

	memset(gp(&mem, DATA, 512), 0xab, 512);
	CHECK_EQ(req(d, T_OUT, 4, 512, false, &used), S_OK);
	CHECK_EQ(used, 1);
	CHECK_EQ(file_cmp(4 * 512, gp(&mem, DATA, 512), 512), 0);
	CHECK_EQ(req(d, T_FLUSH, 0, 0, false, &used), S_OK);

	/* The last sector is readable; one past it is not. */
	CHECK_EQ(req(d, T_IN, DISK / 512 - 1, 512, true, &used), S_OK);
	CHECK_EQ(req(d, T_IN, DISK / 512 - 1, 1024, true, &used), S_IOERR);
	CHECK_EQ(used, 1);
	CHECK_EQ(req(d, T_OUT, DISK / 512, 512, false, &used), S_IOERR);
	CHECK_EQ(req(d, T_IN, ~0ull - 1, 1024, true, &used), S_IOERR); /* sector overflow */
	CHECK_EQ(req(d, T_IN, 0, 100, true, &used), S_IOERR);	       /* not whole sectors */
	CHECK_EQ(req(d, 99, 0, 0, false, &used), S_UNSUPP);
	CHECK_EQ(d->stats.errors, 5);
	CHECK_EQ(d->stats.read_bytes, 512);
	close_disk(d);
}

static void header_split_and_indirect(void)
{
	struct virtio_dev *d = open_disk(false, "x");
	/* The 16-byte header in two pieces, the data in an indirect table. */
	uint64_t table = 0x500000;
	uint32_t t[2] = {T_IN, 0};
	uint64_t sector = 1;
	memcpy(gp(&mem, HDR, 8), t, 8);
	memcpy(gp(&mem, HDR + 0x100, 8), &sector, 8);
	g_desc_at(&mem, table, 0, HDR, 8, VIRTQ_DESC_F_NEXT, 1);
	g_desc_at(&mem, table, 1, HDR + 0x100, 8, VIRTQ_DESC_F_NEXT, 2);
	g_desc_at(&mem, table, 2, DATA, 300, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	g_desc_at(&mem, table, 3, DATA + 0x1000, 212, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 4);
	g_desc_at(&mem, table, 4, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	gq_desc(&q, 3, table, 5 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	gq_publish(&q, 3);
	virtio_dev__kick(d, 0);
	uint32_t id = 0, used = 0;
	CHECK_EQ(gq_take_used(&q, &id, &used), 0);
	CHECK_EQ(id, 3);
	CHECK_EQ(used, 513);
	CHECK_EQ(*(uint8_t *)gp(&mem, STATUS, 1), S_OK);
	CHECK_EQ(file_cmp(512, gp(&mem, DATA, 300), 300), 0);
	CHECK_EQ(file_cmp(812, gp(&mem, DATA + 0x1000, 212), 212), 0);
	close_disk(d);
}

static void get_id(void)
{
	struct virtio_dev *d = open_disk(false, "rootfs");
	uint32_t used;
	memset(gp(&mem, DATA, 20), 'z', 20);
	CHECK_EQ(req(d, T_GET_ID, 0, 20, true, &used), S_OK);
	CHECK_EQ(used, 21);
	CHECK(!memcmp(gp(&mem, DATA, 7), "rootfs\0", 7));
	close_disk(d);
	/* 20 bytes exactly, no NUL, when the id is longer. */
	d = open_disk(false, "a_very_long_drive_identifier");
	CHECK_EQ(req(d, T_GET_ID, 0, 20, true, &used), S_OK);
	CHECK(!memcmp(gp(&mem, DATA, 20), "a_very_long_drive_id", 20));
	close_disk(d);
}

static void read_only(void)
{
	struct virtio_dev *d = open_disk(true, "ro");
	CHECK(dev_features(d) & VIRTIO_BIT(F_RO));
	CHECK(!(dev_features(d) & VIRTIO_BIT(F_DISCARD)));
	uint32_t used;
	CHECK_EQ(req(d, T_IN, 0, 512, true, &used), S_OK);
	memset(gp(&mem, DATA, 512), 0xff, 512);
	CHECK_EQ(req(d, T_OUT, 0, 512, false, &used), S_IOERR);
	uint8_t first = 0;
	int fd = open(path, O_RDONLY);
	CHECK_EQ(pread(fd, &first, 1, 0), 1);
	close(fd);
	CHECK_EQ(first, 0); /* still the pattern, not 0xff */
	CHECK_EQ(req(d, T_IN, 0, 512, true, &used), S_OK);
	CHECK_EQ(file_cmp(0, gp(&mem, DATA, 512), 512), 0);
	close_disk(d);
}

/* A DISCARD or WRITE_ZEROES of one segment; the request's status. */
static int zeroes_req(struct virtio_dev *d, uint32_t type, uint64_t sector, uint32_t num)
{
	struct {
		uint64_t sector;
		uint32_t num, flags;
	} seg = {sector, num, 0};
	memcpy(gp(&mem, DATA, 16), &seg, 16);
	uint32_t used;
	return req(d, type, 0, 16, false, &used);
}

static void discard_write_zeroes(void)
{
	struct virtio_dev *d = open_disk(false, "z");
	CHECK(dev_features(d) & VIRTIO_BIT(F_WRITE_ZEROES));
	CHECK(dev_features(d) & VIRTIO_BIT(F_DISCARD));
	CHECK_EQ(zeroes_req(d, T_WRITE_ZEROES, 8, 16), S_OK);
	static uint8_t zero[16 * 512];
	CHECK_EQ(file_cmp(8 * 512, zero, sizeof(zero)), 0);
	CHECK(file_cmp(24 * 512, zero, 512) != 0); /* the next sector untouched */
	CHECK_EQ(zeroes_req(d, T_DISCARD, 40, 8), S_OK);
	CHECK_EQ(zeroes_req(d, T_WRITE_ZEROES, DISK / 512 - 4, 8), S_UNSUPP); /* past the end */
	close_disk(d);
}

/* A file system without fallocate (as some network ones): WRITE_ZEROES writes zeroes,
 * here 150 KiB, more than one 64 KiB call. This test's fallocate stands in for libc's. */
static bool fallocate_unsupported;

int fallocate(int fd, int mode, off_t off, off_t len)
{
	if (fallocate_unsupported) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return (int)syscall(SYS_fallocate, fd, mode, off, len);
}

static void write_zeroes_without_fallocate(void)
{
	struct virtio_dev *d = open_disk(false, "w");
	fallocate_unsupported = true;
	CHECK_EQ(zeroes_req(d, T_WRITE_ZEROES, 3, 300), S_OK);
	CHECK_EQ(zeroes_req(d, T_DISCARD, 400, 8), S_OK); /* may leave anything */
	fallocate_unsupported = false;
	static uint8_t zero[300 * 512];
	CHECK_EQ(file_cmp(3 * 512, zero, sizeof(zero)), 0);
	CHECK(file_cmp(2 * 512, zero, 512) != 0);   /* the sector before untouched */
	CHECK(file_cmp(303 * 512, zero, 512) != 0); /* and the one after */
	close_disk(d);
}

static void host_io_error(void)
{
	/* RLIMIT_FSIZE makes writes beyond 64 KiB fail (EFBIG) like a full disk would. */
	struct virtio_dev *d = open_disk(false, "full");
	struct rlimit old, lim = {64 * 1024, 64 * 1024};
	getrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_IGN);
	lim.rlim_max = old.rlim_max;
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	uint32_t used;
	memset(gp(&mem, DATA, 512), 0x5a, 512);
	CHECK_EQ(req(d, T_OUT, 0, 512, false, &used), S_OK); /* below the limit */
	memset(gp(&mem, DATA, 512), 0xa5, 512);
	CHECK_EQ(req(d, T_OUT, 1024, 512, false, &used), S_IOERR);
	CHECK_EQ(used, 1);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	/* What was acknowledged is there. */
	memset(gp(&mem, DATA, 512), 0x5a, 512);
	CHECK_EQ(file_cmp(0, gp(&mem, DATA, 512), 512), 0);
	CHECK_EQ(req(d, T_FLUSH, 0, 0, false, &used), S_OK);
	CHECK_EQ(d->stats.errors, 1);
	close_disk(d);
}

/* The used length of a read is the data plus the status byte, a u32: a chain
 * whose buffers add up to more (descriptors may overlap) is refused, not served
 * with a truncated length. */
static void transfer_longer_than_u32(void)
{
	struct guest_mem big;
	if (guest_mem__init(&big, 64 * MIB))
		abort();
	char bpath[64];
	snprintf(bpath, sizeof(bpath), "/tmp/ember-virtio-blk-XXXXXX");
	int fd = mkstemp(bpath);
	if (fd < 0 || ftruncate(fd, 5ll << 30)) /* sparse, big enough for the range */
		abort();
	close(fd);
	struct drive_config dc = {.read_only = false};
	snprintf(dc.id, sizeof(dc.id), "big");
	snprintf(dc.path, sizeof(dc.path), "%s", bpath);
	struct virtio_dev *d = blk__create(&dc, &big, NULL, err, sizeof(err));
	CHECK(d != NULL);
	if (!d) {
		unlink(bpath);
		guest_mem__destroy(&big);
		return;
	}
	struct gq bq;
	gq_init(&bq, &big, QB, 256);
	driver_init(d, ~0ull, &bq, 1);
	uint32_t t[4] = {T_IN, 0, 0, 0}; /* type, reserved, sector 0 */
	memcpy(gp(&big, HDR, 16), t, 16);
	*(uint8_t *)gp(&big, STATUS, 1) = 0xee;
	/* 129 writable buffers of 32 MiB over the same guest pages: 4128 MiB. */
	const uint16_t nd = 129;
	gq_desc(&bq, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	for (uint16_t i = 1; i <= nd; i++)
		gq_desc(&bq, i, 16 * MIB, 32 * MIB, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
			(uint16_t)(i + 1));
	gq_desc(&bq, nd + 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&bq, 0);
	virtio_dev__kick(d, 0);
	uint32_t id = 99, used = 99;
	CHECK_EQ(gq_take_used(&bq, &id, &used), 0);
	CHECK_EQ(id, 0);
	CHECK_EQ(used, 1);
	CHECK_EQ(*(uint8_t *)gp(&big, STATUS, 1), S_IOERR);
	virtio_dev__destroy(d);
	unlink(bpath);
	guest_mem__destroy(&big);
}

static void malformed(void)
{
	struct virtio_dev *d = open_disk(false, "m");
	/* No writable byte for the status: completed with length 0, counted. */
	gq_desc(&q, 0, HDR, 16, 0, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	uint32_t id = 0, used = 9;
	CHECK_EQ(gq_take_used(&q, &id, &used), 0);
	CHECK_EQ(used, 0);
	CHECK_EQ(d->stats.errors, 1);
	/* A short header. */
	gq_desc(&q, 0, HDR, 8, VIRTQ_DESC_F_NEXT, 1);
	gq_desc(&q, 1, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	CHECK_EQ(gq_take_used(&q, &id, &used), 0);
	CHECK_EQ(*(uint8_t *)gp(&mem, STATUS, 1), S_IOERR);
	/* Data outside guest RAM: the ring is broken, the device needs a reset. */
	uint64_t sector = 0;
	uint32_t t[2] = {T_IN, 0};
	memcpy(gp(&mem, HDR, 8), t, 8);
	memcpy(gp(&mem, HDR + 8, 8), &sector, 8);
	gq_desc(&q, 0, HDR, 16, VIRTQ_DESC_F_NEXT, 1);
	gq_desc(&q, 1, mem.total - 256, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	gq_desc(&q, 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
	gq_publish(&q, 0);
	virtio_dev__kick(d, 0);
	CHECK_EQ(gq_take_used(&q, &id, &used), -1);
	CHECK(mmio_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	close_disk(d);
}

/* PATCH /drives/{id} after boot: the new file serves reads, the capacity follows, the
 * configuration generation moves and the driver gets a configuration interrupt. A
 * file that cannot be opened changes nothing. */
static void hot_swap(void)
{
	struct virtio_dev *d = open_disk(false, "swap");
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_CONFIG), DISK / 512);
	uint32_t gen = mmio_r(d, VIRTIO_MMIO_CONFIG_GENERATION);
	mmio_w(d, VIRTIO_MMIO_INTERRUPT_ACK, mmio_r(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	uint64_t irqs = d->stats.interrupts;

	char other[64] = "/tmp/ember-virtio-blk-swap-XXXXXX";
	int fd = mkstemp(other);
	CHECK(fd >= 0);
	uint8_t *buf = calloc(1, 2 * DISK);
	memset(buf, 0x5a, 512);
	CHECK_EQ(write(fd, buf, 2 * DISK), (ssize_t)(2 * DISK));
	close(fd);

	CHECK_EQ(blk__swap(d, "swap", "/nonexistent/disk", err, sizeof(err)), -1);
	CHECK(strstr(err, "drive swap: cannot open /nonexistent/disk") != NULL);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_CONFIG_GENERATION), gen);
	CHECK_EQ(d->stats.interrupts, irqs);
	uint32_t used;
	CHECK_EQ(req(d, T_IN, 0, 512, true, &used), S_OK);
	CHECK_EQ(*(uint8_t *)gp(&mem, DATA, 1), 0); /* still the old file: byte 0 is 0 */

	irqs = d->stats.interrupts;
	CHECK_EQ(blk__swap(d, "swap", other, err, sizeof(err)), 0);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_CONFIG), 2 * DISK / 512);
	CHECK_EQ(mmio_r(d, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
	CHECK(mmio_r(d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
	CHECK_EQ(d->stats.interrupts, irqs + 1);
	CHECK_EQ(req(d, T_IN, 0, 512, true, &used), S_OK);
	CHECK_EQ(*(uint8_t *)gp(&mem, DATA, 1), 0x5a);
	/* Past the old end: only the new file has these sectors. */
	CHECK_EQ(req(d, T_IN, DISK / 512 + 8, 512, true, &used), S_OK);
	free(buf);
	unlink(other);
	close_disk(d);
}

CHECK_MAIN("virtio-blk", CHECK_CASE(hot_swap), CHECK_CASE(read_write_flush),
	   CHECK_CASE(header_split_and_indirect), CHECK_CASE(get_id), CHECK_CASE(read_only),
	   CHECK_CASE(discard_write_zeroes), CHECK_CASE(write_zeroes_without_fallocate),
	   CHECK_CASE(host_io_error), CHECK_CASE(malformed), CHECK_CASE(transfer_longer_than_u32))
