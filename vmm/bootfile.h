/* The files a boot reads, shared by every architecture's loader: a kernel or initrd
 * is opened like any path a user hands ember (file.h: FIFO-safe, regular files only),
 * its headers are read into the loader's buffer for its parser, and its contents are
 * placed in guest memory, mapped copy-on-write where the layout allows, else read. */
#ifndef EMBER_BOOTFILE_H
#define EMBER_BOOTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "file.h"

struct guest_mem;

/* The most of an image's start its parser sees: the x86 setup header and an ELF's
 * program headers (right after its header, in every linker's output) lie within it. */
#define BOOTFILE_HEAD_MAX 4096u

/* Opens the file at path and reads its first min(size, BOOTFILE_HEAD_MAX) bytes into
 * head (*head_len). On failure err says "<what> '<path>': <reason>" and nothing is
 * left open. 0 or -1. */
int bootfile__open(const char *path, const char *what, struct file_image *img,
		   uint8_t head[BOOTFILE_HEAD_MAX], size_t *head_len, char *err, size_t errlen);

/* Whether bootfile__place maps [off, ...) at gpa (both page-aligned) rather than reads
 * it: a mapping zeroes the rest of its last page, so a loader places these first. */
bool bootfile__maps(uint64_t off, uint64_t gpa);
/* Puts [off, off+len) of the image at gpa: mapped when both are page-aligned, else
 * read. 0, or -1 with errno. */
int bootfile__place(struct guest_mem *mem, const struct file_image *img, uint64_t off, uint64_t len,
		    uint64_t gpa);

/* Places the initrd at path as high as it fits below `top`, page-aligned, and not
 * below `floor` (the kernel's end). top_name says what `top` is, for the error.
 * Sets addr and size. 0, or -1 with err. */
int bootfile__load_initrd(struct guest_mem *mem, const char *path, uint64_t floor, uint64_t top,
			  const char *top_name, uint64_t *addr, uint64_t *size, char *err,
			  size_t errlen);

#endif
