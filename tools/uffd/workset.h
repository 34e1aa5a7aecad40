/* A recorded working set (REAP, ASPLOS'21): one bit per page of the memory file,
 * set for each page the guest faulted in during a restore. On disk:
 *   "EMBERWS1", u64 page size, u64 number of pages, then the bits as u64 words
 *   (page p is bit p % 64 of word p / 64), all in host byte order. */
#ifndef EMBER_UFFD_WORKSET_H
#define EMBER_UFFD_WORKSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct workset {
	uint64_t page;	   /* bytes */
	uint64_t nr_pages; /* of the memory file */
	uint64_t *bits;
};

/* A set of nr_pages pages, all clear. 0, or -1 (out of memory). */
int workset__init(struct workset *w, uint64_t page, uint64_t nr_pages);
void workset__free(struct workset *w);
static inline void workset__set(struct workset *w, uint64_t p)
{
	w->bits[p / 64] |= 1ull << (p % 64);
}
static inline bool workset__test(const struct workset *w, uint64_t p)
{
	return w->bits[p / 64] >> (p % 64) & 1;
}
uint64_t workset__count(const struct workset *w);

/* Reads a working set from its file image data[0..len); it must describe nr_pages
 * pages of `page` bytes (the memory file's), with no bit past the last page. 0, or
 * -1 with a one-line reason in err. */
int workset__decode(struct workset *w, const void *data, size_t len, uint64_t page,
		    uint64_t nr_pages, char *err, size_t errlen);
/* Loads path with workset__decode. */
int workset__load(struct workset *w, const char *path, uint64_t page, uint64_t nr_pages, char *err,
		  size_t errlen);
/* Writes w to path (through a temporary file renamed over it). 0, or -1 with err. */
int workset__save(const struct workset *w, const char *path, char *err, size_t errlen);

#endif
