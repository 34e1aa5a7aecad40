/* The arm64 Image header parser and loaders, against good and hostile headers. */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/aarch64/image.h"
#include "check.h"
#include "mem.h"

#define MiB	 (1ull << 20)
#define RAM_BASE 0x80000000ull

static uint8_t file[64 * 1024];

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A header as Linux 6.1 writes it: text_offset 0, 4 KiB pages, anywhere. */
static void header(uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	memset(file, 0, sizeof(file));
	put64(file + 8, text_offset);
	put64(file + 16, image_size);
	put64(file + 24, flags);
	put64(file + 56, ARM64_IMAGE_MAGIC);
	for (size_t i = 64; i < sizeof(file); i++)
		file[i] = (uint8_t)(i * 7);
}

static int parse(size_t size, uint64_t ram_size, struct arm64_image *img, char *err)
{
	return arm64_image__parse(file, size, size, RAM_BASE, ram_size, img, err, 200);
}

static void good(void)
{
	struct arm64_image img;
	char err[200] = "";
	header(0, 4 * MiB, 0xa);
	CHECK_EQ(parse(sizeof(file), 64 * MiB, &img, err), 0);
	CHECK_EQ(img.load_addr, RAM_BASE);
	CHECK_EQ(img.load_end, RAM_BASE + 4 * MiB);
	/* Kernels before 5.8 use text_offset 0x80000. */
	header(0x80000, 4 * MiB, 0x2);
	CHECK_EQ(parse(sizeof(file), 64 * MiB, &img, err), 0);
	CHECK_EQ(img.load_addr, RAM_BASE + 0x80000);
	CHECK_EQ(img.load_end, RAM_BASE + 0x80000 + 4 * MiB);
	/* Exactly filling RAM is allowed. */
	header(0x80000, 64 * MiB - 0x80000, 0);
	CHECK_EQ(parse(sizeof(file), 64 * MiB, &img, err), 0);
}

static void refused(const char *why, size_t size, uint64_t ram_size, const char *expect)
{
	struct arm64_image img;
	char err[200] = "";
	int rc = parse(size, ram_size, &img, err);
	if (rc != -1 || !strstr(err, expect)) {
		char m[300];
		snprintf(m, sizeof(m), "%s: rc %d, err \"%s\"", why, rc, err);
		check__fail(__FILE__, __LINE__, m);
	}
}

static void hostile(void)
{
	header(0, 4 * MiB, 0);
	refused("short file", 63, 64 * MiB, "too small");
	refused("empty file", 0, 64 * MiB, "too small");
	header(0, 4 * MiB, 0);
	file[56] ^= 1;
	refused("magic", sizeof(file), 64 * MiB, "not an arm64 Image");
	header(0, 0, 0);
	refused("image_size 0", sizeof(file), 64 * MiB, "image_size is 0");
	header(0, 4 * MiB, ARM64_IMAGE_FLAG_BE);
	refused("big-endian", sizeof(file), 64 * MiB, "big-endian");
	header(0, 4 * MiB, 1ull << 4);
	refused("reserved flag", sizeof(file), 64 * MiB, "reserved flags");
	header(0, 4 * MiB, 1ull << 63);
	refused("top reserved flag", sizeof(file), 64 * MiB, "reserved flags");
	header(0x80001, 4 * MiB, 0);
	refused("unaligned text_offset", sizeof(file), 64 * MiB, "text_offset");
	header(2 * MiB, 4 * MiB, 0);
	refused("text_offset 2 MiB", sizeof(file), 64 * MiB, "text_offset");
	header(UINT64_MAX & ~0xfffull, 4 * MiB, 0);
	refused("huge text_offset", sizeof(file), 64 * MiB, "text_offset");
	header(0, 4096, 0);
	refused("image_size below the file", sizeof(file), 64 * MiB, "smaller than the file");
	header(0, 64 * MiB + 1, 0);
	refused("image_size over RAM", sizeof(file), 64 * MiB, "does not fit");
	header(0x80000, 64 * MiB - 0x7ffff, 0);
	refused("offset + size over RAM", sizeof(file), 64 * MiB, "does not fit");
	header(0x80000, UINT64_MAX - 0x7ffff, 0);
	refused("offset + size wraps", sizeof(file), 64 * MiB, "does not fit");
	/* An unaligned RAM base is the caller's bug, refused all the same. */
	struct arm64_image img;
	char err[200];
	header(0, 4 * MiB, 0);
	CHECK_EQ(arm64_image__parse(file, sizeof(file), sizeof(file), RAM_BASE + 4096, 64 * MiB,
				    &img, err, 200),
		 -1);
}

static const char *write_tmp(const char *name, const uint8_t *data, size_t size)
{
	static char path[2][64];
	static int n;
	char *p = path[n++ & 1];
	snprintf(p, 64, "/tmp/ember-test-%s-%d", name, (int)getpid());
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		check__fail(__FILE__, __LINE__, "cannot write a temporary file");
	close(fd);
	return p;
}

/* Loading: the Image lands at its load address, the initrd page-aligned right below
 * the limit and above the kernel; what does not fit is refused. */
static void load(void)
{
	struct guest_mem mem;
	CHECK_EQ(guest_mem__init(&mem, 32 * MiB), 0);
	uint64_t base = mem.regions[0].gpa, top = base + 30 * MiB;
	header(0x80000, 8 * MiB, 0);
	const char *kernel = write_tmp("image", file, sizeof(file));
	struct arm64_image img;
	char err[300] = "";
	CHECK_EQ(arm64_image__load(&mem, kernel, top, &img, err, sizeof(err)), 0);
	CHECK_EQ(img.load_addr, base + 0x80000);
	uint8_t *k = guest_mem__ptr(&mem, img.load_addr, sizeof(file));
	CHECK(k && memcmp(k, file, sizeof(file)) == 0);

	uint8_t initrd[5000];
	memset(initrd, 0x5a, sizeof(initrd));
	const char *rd = write_tmp("initrd", initrd, sizeof(initrd));
	uint64_t addr = 0, size = 0;
	CHECK_EQ(arm64_image__load_initrd(&mem, rd, &img, top, &addr, &size, err, sizeof(err)), 0);
	CHECK_EQ(size, sizeof(initrd));
	CHECK_EQ(addr & 0xfff, 0);
	CHECK(addr + size <= top && addr >= img.load_end);
	uint8_t *r = guest_mem__ptr(&mem, addr, size);
	CHECK(r && memcmp(r, initrd, sizeof(initrd)) == 0);
	/* No room between the kernel's end and the limit. */
	CHECK_EQ(arm64_image__load_initrd(&mem, rd, &img, img.load_end + 4096, &addr, &size, err,
					  sizeof(err)),
		 -1);
	CHECK(strstr(err, "does not fit") != NULL);
	/* A kernel whose image_size passes the limit. */
	header(0, 31 * MiB, 0);
	kernel = write_tmp("image", file, sizeof(file));
	CHECK_EQ(arm64_image__load(&mem, kernel, top, &img, err, sizeof(err)), -1);
	CHECK(strstr(err, "does not fit") != NULL);
	unlink(kernel);
	unlink(rd);
	guest_mem__destroy(&mem);
}

/* The paths are a user's: a FIFO (which would block open() with no writer), a
 * directory or an empty file is refused by its kind, at once, for both files. */
static void bad_paths(void)
{
	struct guest_mem mem;
	CHECK_EQ(guest_mem__init(&mem, 32 * MiB), 0);
	uint64_t top = mem.regions[0].gpa + 30 * MiB, addr, size;
	struct arm64_image img = {.load_end = mem.regions[0].gpa + 8 * MiB};
	char fifo[64], err[300];
	snprintf(fifo, sizeof(fifo), "/tmp/ember-test-fifo-%d", (int)getpid());
	CHECK_EQ(mkfifo(fifo, 0600), 0);
	CHECK_EQ(arm64_image__load(&mem, fifo, top, &img, err, sizeof(err)), -1);
	CHECK(strstr(err, "kernel image") && strstr(err, "FIFO"));
	CHECK_EQ(arm64_image__load_initrd(&mem, fifo, &img, top, &addr, &size, err, sizeof(err)),
		 -1);
	CHECK(strstr(err, "initrd") && strstr(err, "FIFO"));
	unlink(fifo);
	CHECK_EQ(arm64_image__load(&mem, "/tmp", top, &img, err, sizeof(err)), -1);
	CHECK(strstr(err, "directory") != NULL);
	const char *empty = write_tmp("empty", (const uint8_t *)"", 0);
	CHECK_EQ(arm64_image__load_initrd(&mem, empty, &img, top, &addr, &size, err, sizeof(err)),
		 -1);
	CHECK(strstr(err, "empty") != NULL);
	unlink(empty);
	guest_mem__destroy(&mem);
}

CHECK_MAIN("arm64_image", CHECK_CASE(good), CHECK_CASE(hostile), CHECK_CASE(load),
	   CHECK_CASE(bad_paths))
