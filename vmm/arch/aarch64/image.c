/* arm64 Image and initrd loaders. The Image is untrusted input: every field of its
 * header is checked against the file and against guest RAM before anything moves. */
#include "image.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bootfile.h"
#include "log.h"
#include "mem.h"

#define PAGE_SIZE 4096ull
#define PAGE_MASK (PAGE_SIZE - 1)

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int arm64_image__parse(const uint8_t *file, size_t len, uint64_t size, uint64_t ram_base,
		       uint64_t ram_size, struct arm64_image *img, char *err, size_t errlen)
{
	memset(img, 0, sizeof(*img));
	if (size < ARM64_IMAGE_HDR_SIZE || len < ARM64_IMAGE_HDR_SIZE)
		return error__set(err, errlen, "%llu bytes: too small for an arm64 Image header",
				  (unsigned long long)size);
	uint32_t magic = (uint32_t)rd64(file + 56);
	if (magic != ARM64_IMAGE_MAGIC)
		return error__set(err, errlen, "not an arm64 Image (no \"ARM\\x64\" magic)");
	img->text_offset = rd64(file + 8);
	img->image_size = rd64(file + 16);
	img->flags = rd64(file + 24);
	/* Kernels before 3.17 leave image_size 0 and need guesses; ember does not guess. */
	if (img->image_size == 0)
		return error__set(err, errlen,
				  "image_size is 0 (a kernel older than 3.17): not supported");
	if (img->flags & ARM64_IMAGE_FLAG_BE)
		return error__set(err, errlen, "a big-endian kernel: not supported");
	if (img->flags >> 4)
		return error__set(err, errlen, "reserved flags 0x%llx set",
				  (unsigned long long)img->flags);
	/* text_offset is an offset into a 2 MiB aligned region; ember also wants it
	 * page-aligned so that the Image can be mapped rather than copied. */
	if (img->text_offset >= ARM64_IMAGE_ALIGN || (img->text_offset & PAGE_MASK))
		return error__set(err, errlen,
				  "text_offset 0x%llx: not a page-aligned offset below 2 MiB",
				  (unsigned long long)img->text_offset);
	if (img->image_size < size)
		return error__set(err, errlen,
				  "image_size %llu is smaller than the file (%llu bytes)",
				  (unsigned long long)img->image_size, (unsigned long long)size);
	/* Written so that no sum overflows: text_offset and image_size are the file's. */
	if (ram_base & (ARM64_IMAGE_ALIGN - 1) || img->image_size > ram_size ||
	    img->text_offset > ram_size - img->image_size)
		return error__set(
		    err, errlen,
		    "the kernel (%llu bytes at offset 0x%llx) does not fit in %llu MiB "
		    "of guest memory",
		    (unsigned long long)img->image_size, (unsigned long long)img->text_offset,
		    (unsigned long long)(ram_size >> 20));
	img->load_addr = ram_base + img->text_offset;
	img->load_end = img->load_addr + img->image_size;
	return 0;
}

int arm64_image__load(struct guest_mem *mem, const char *path, uint64_t limit,
		      struct arm64_image *img, char *err, size_t errlen)
{
	struct file_image fi;
	uint8_t head[BOOTFILE_HEAD_MAX];
	size_t len;
	if (bootfile__open(path, "kernel image", &fi, head, &len, err, errlen))
		return -1;
	char why[200];
	uint64_t base = mem->regions[0].gpa;
	uint64_t room = limit > base ? limit - base : 0;
	int rc = arm64_image__parse(head, len, fi.size, base, room, img, why, sizeof(why));
	if (rc)
		rc = error__set(err, errlen, "kernel image '%s': %s", path, why);
	else if (guest_mem__map_file(mem, fi.fd, 0, fi.size, img->load_addr))
		rc = error__set(err, errlen, "kernel image '%s': loading failed: %s", path,
				strerror(errno));
	close(fi.fd);
	return rc;
}

int arm64_image__load_initrd(struct guest_mem *mem, const char *path, const struct arm64_image *img,
			     uint64_t top, uint64_t *addr, uint64_t *size, char *err, size_t errlen)
{
	return bootfile__load_initrd(mem, path, img->load_end, top, "the device tree at ", addr,
				     size, err, errlen);
}
