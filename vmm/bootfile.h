/* The files a boot reads, shared by every architecture's loader: a kernel or initrd
 * is opened like any path a user hands ember (file.h: FIFO-safe, regular files only),
 * mapped read-only for its parser, and placed in guest memory copy-on-write. */
#ifndef EMBER_BOOTFILE_H
#define EMBER_BOOTFILE_H

#include <stddef.h>
#include <stdint.h>

#include "file.h"

struct guest_mem;

/* Maps the file at path; on failure err says "<what> '<path>': <reason>". 0 or -1. */
int bootfile__map(const char *path, const char *what, struct file_map *m, char *err, size_t errlen);

/* Places the initrd at path as high as it fits below `top`, page-aligned, and not
 * below `floor` (the kernel's end). top_name says what `top` is, for the error.
 * Sets addr and size. 0, or -1 with err. */
int bootfile__load_initrd(struct guest_mem *mem, const char *path, uint64_t floor, uint64_t top,
			  const char *top_name, uint64_t *addr, uint64_t *size, char *err,
			  size_t errlen);

#endif
