#include "bootfile.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#define PAGE_MASK 4095ull

static int open_image(const char *path, const char *what, struct file_image *img, char *err,
		      size_t errlen)
{
	if (file__open_image(path, img))
		return error__set(err, errlen, "%s '%s': %s", what, path, file__error());
	return 0;
}

int bootfile__open(const char *path, const char *what, struct file_image *img,
		   uint8_t head[BOOTFILE_HEAD_MAX], size_t *head_len, char *err, size_t errlen)
{
	if (open_image(path, what, img, err, errlen))
		return -1;
	*head_len = img->size < BOOTFILE_HEAD_MAX ? (size_t)img->size : BOOTFILE_HEAD_MAX;
	if (file__read_at(img->fd, head, *head_len, 0) == 0)
		return 0;
	error__set(err, errlen, "%s '%s': %s", what, path, file__error());
	close(img->fd);
	return -1;
}

bool bootfile__maps(uint64_t off, uint64_t gpa)
{
	return !((gpa | off) & PAGE_MASK);
}

int bootfile__place(struct guest_mem *mem, const struct file_image *img, uint64_t off, uint64_t len,
		    uint64_t gpa)
{
	if (bootfile__maps(off, gpa))
		return guest_mem__map_file(mem, img->fd, off, len, gpa);
	uint8_t *hva = guest_mem__ptr(mem, gpa, len);
	if (!hva) {
		errno = EFAULT;
		return -1;
	}
	return file__read_at(img->fd, hva, (size_t)len, off);
}

int bootfile__load_initrd(struct guest_mem *mem, const char *path, uint64_t floor, uint64_t top,
			  const char *top_name, uint64_t *addr, uint64_t *size, char *err,
			  size_t errlen)
{
	struct file_image img;
	if (open_image(path, "initrd", &img, err, errlen))
		return -1;
	floor = (floor + PAGE_MASK) & ~PAGE_MASK;
	if (img.size > top || ((top - img.size) & ~PAGE_MASK) < floor) {
		close(img.fd);
		return error__set(err, errlen,
				  "initrd '%s' (%llu bytes) does not fit in guest memory between "
				  "the kernel (ends at 0x%llx) and %s0x%llx",
				  path, (unsigned long long)img.size, (unsigned long long)floor,
				  top_name, (unsigned long long)top);
	}
	uint64_t gpa = (top - img.size) & ~PAGE_MASK;
	int rc = guest_mem__map_file(mem, img.fd, 0, img.size, gpa);
	if (rc)
		rc = error__set(err, errlen, "initrd '%s': loading failed: %s", path,
				strerror(errno));
	*addr = gpa;
	*size = img.size;
	close(img.fd);
	return rc;
}
