/* The arm64 Linux Image: its 64-byte header (Documentation/arch/arm64/booting.rst)
 * and where it, the initrd and the FDT go in guest RAM. */
#ifndef EMBER_A64_IMAGE_H
#define EMBER_A64_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define ARM64_IMAGE_MAGIC	  0x644d5241u /* "ARM\x64", little-endian at offset 56 */
#define ARM64_IMAGE_HDR_SIZE	  64
#define ARM64_IMAGE_ALIGN	  0x200000ull /* the Image's base is 2 MiB aligned */
#define ARM64_IMAGE_FLAG_BE	  (1ull << 0)
#define ARM64_IMAGE_FLAG_PAGE	  (3ull << 1)
#define ARM64_IMAGE_FLAG_ANYWHERE (1ull << 3)

struct arm64_image {
	uint64_t text_offset;
	uint64_t image_size; /* bytes the kernel occupies from load_addr, bss included */
	uint64_t flags;
	uint64_t load_addr; /* = entry point: the 2 MiB aligned RAM base + text_offset */
	uint64_t load_end;
};

/* Checks an Image file of size bytes from its first len bytes (its header) and places
 * it in RAM [ram_base, ram_base + ram_size), ram_base 2 MiB aligned. Pure and safe on
 * hostile input: 0, or -1 with err saying what is wrong. */
int arm64_image__parse(const uint8_t *file, size_t len, uint64_t size, uint64_t ram_base,
		       uint64_t ram_size, struct arm64_image *img, char *err, size_t errlen);

struct guest_mem;

/* Loads the Image at path into guest memory below `limit` (where the FDT starts):
 * mapped copy-on-write from the file when the load address and the file are
 * page-aligned, which they are for every real kernel. */
int arm64_image__load(struct guest_mem *mem, const char *path, uint64_t limit,
		      struct arm64_image *img, char *err, size_t errlen);
/* Places the initrd page-aligned just below `top`, above the kernel. */
int arm64_image__load_initrd(struct guest_mem *mem, const char *path, const struct arm64_image *img,
			     uint64_t top, uint64_t *addr, uint64_t *size, char *err,
			     size_t errlen);

#endif
