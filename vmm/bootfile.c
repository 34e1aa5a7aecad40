#include "bootfile.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "mem.h"

#define PAGE_MASK 4095ull

int bootfile__map(const char *path, const char *what, struct file_map *m, char *err, size_t errlen)
{
	if (file__map(path, m))
		return error__set(err, errlen, "%s '%s': %s", what, path, file__error());
	return 0;
}

int bootfile__load_initrd(struct guest_mem *mem, const char *path, uint64_t floor, uint64_t top,
			  const char *top_name, uint64_t *addr, uint64_t *size, char *err,
			  size_t errlen)
{
	struct file_map m;
	if (bootfile__map(path, "initrd", &m, err, errlen))
		return -1;
	floor = (floor + PAGE_MASK) & ~PAGE_MASK;
	if (m.size > top || ((top - m.size) & ~PAGE_MASK) < floor) {
		file__unmap(&m);
		return error__set(err, errlen,
				  "initrd '%s' (%zu bytes) does not fit in guest memory between "
				  "the kernel (ends at 0x%llx) and %s0x%llx",
				  path, m.size, (unsigned long long)floor, top_name,
				  (unsigned long long)top);
	}
	uint64_t gpa = (top - m.size) & ~PAGE_MASK;
	int rc = guest_mem__map_file(mem, m.fd, 0, m.size, gpa);
	if (rc)
		rc = error__set(err, errlen, "initrd '%s': loading failed: %s", path,
				strerror(errno));
	*addr = gpa;
	*size = m.size;
	file__unmap(&m);
	return rc;
}
