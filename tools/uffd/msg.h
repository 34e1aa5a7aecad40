/* What a page-fault handler receives from ember (or Firecracker) with the
 * userfaultfd: a JSON array of guest memory regions (vmm/uffd.h has the format).
 * Everything in it is checked before the handler uses an address from it. */
#ifndef EMBER_UFFD_MSG_H
#define EMBER_UFFD_MSG_H

#include <stddef.h>
#include <stdint.h>

#define UFFD_MSG_MAX_REGIONS 8
#define UFFD_MSG_MAX_BYTES   4096

struct uffd_region {
	uint64_t base;	 /* base_host_virt_addr: where the region is in the VMM */
	uint64_t size;	 /* bytes */
	uint64_t offset; /* where its contents start in the memory file */
};

/* Parses text[0..len) into out (at most UFFD_MSG_MAX_REGIONS regions) and checks it
 * against the memory file (file_size bytes) and the page size the handler serves
 * (page): every region non-empty, page-aligned (address, size and offset), inside the
 * address space and inside the file, no two overlapping in memory or in the file,
 * page_size (and page_size_kib, Firecracker's other name for it, if given) equal to
 * page, no other member. Returns the number of regions, or -1 with a one-line reason
 * in err. */
int uffd_msg__parse(const char *text, size_t len, uint64_t file_size, uint64_t page,
		    struct uffd_region *out, char *err, size_t errlen);

/* The region holding host address addr, or NULL. */
const struct uffd_region *uffd_msg__find(const struct uffd_region *r, unsigned n, uint64_t addr);

#endif
