/* libFuzzer over the arm64 Image header parser, given what the loader gives it (the
 * file's first BOOTFILE_HEAD_MAX bytes and its size): whatever the bytes, it either
 * refuses them or places a kernel that lies wholly inside the RAM it was given. */
#include <stdint.h>
#include <stdlib.h>

#include "arch/aarch64/image.h"
#include "bootfile.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE (64ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arm64_image img;
	char err[200];
	size_t len = size < BOOTFILE_HEAD_MAX ? size : BOOTFILE_HEAD_MAX;
	if (arm64_image__parse(data, len, size, RAM_BASE, RAM_SIZE, &img, err, sizeof(err)))
		return 0;
	if (img.load_addr < RAM_BASE || img.load_end > RAM_BASE + RAM_SIZE ||
	    img.load_end < img.load_addr || img.load_end - img.load_addr != img.image_size ||
	    img.image_size < size || (img.load_addr & 0xfff))
		abort();
	return 0;
}
