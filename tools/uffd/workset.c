#include "workset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC	    "EMBERWS1"
#define HEADER_SIZE 24

static uint64_t words(uint64_t nr_pages)
{
	return (nr_pages + 63) / 64;
}

int workset__init(struct workset *w, uint64_t page, uint64_t nr_pages)
{
	w->page = page;
	w->nr_pages = nr_pages;
	w->bits = calloc(words(nr_pages) ? words(nr_pages) : 1, sizeof(uint64_t));
	return w->bits ? 0 : -1;
}

void workset__free(struct workset *w)
{
	free(w->bits);
	w->bits = NULL;
}

uint64_t workset__count(const struct workset *w)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < words(w->nr_pages); i++)
		n += (uint64_t)__builtin_popcountll(w->bits[i]);
	return n;
}

int workset__decode(struct workset *w, const void *data, size_t len, uint64_t page,
		    uint64_t nr_pages, char *err, size_t errlen)
{
	const uint8_t *d = data;
	uint64_t hdr[2];
	if (len < HEADER_SIZE || memcmp(d, MAGIC, 8)) {
		snprintf(err, errlen, "not a working-set file (no %s header)", MAGIC);
		return -1;
	}
	memcpy(hdr, d + 8, sizeof(hdr));
	if (hdr[0] != page || hdr[1] != nr_pages) {
		snprintf(err, errlen,
			 "recorded for %llu pages of %llu bytes, the memory file has %llu of %llu",
			 (unsigned long long)hdr[1], (unsigned long long)hdr[0],
			 (unsigned long long)nr_pages, (unsigned long long)page);
		return -1;
	}
	if ((len - HEADER_SIZE) / 8 != words(nr_pages) || (len - HEADER_SIZE) % 8) {
		snprintf(err, errlen, "%zu bytes of bits, %llu expected", len - HEADER_SIZE,
			 (unsigned long long)(words(nr_pages) * 8));
		return -1;
	}
	if (workset__init(w, page, nr_pages)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(w->bits, d + HEADER_SIZE, words(nr_pages) * 8);
	if (nr_pages % 64 && w->bits[nr_pages / 64] >> (nr_pages % 64)) {
		workset__free(w);
		snprintf(err, errlen, "bits set past the last page");
		return -1;
	}
	return 0;
}

int workset__load(struct workset *w, const char *path, uint64_t page, uint64_t nr_pages, char *err,
		  size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* No more than a file of the expected size: the length check refuses the rest. */
	size_t want = HEADER_SIZE + (size_t)words(nr_pages) * 8;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != want) {
		snprintf(err, errlen, "%s: %lld bytes, a working set of this memory file has %zu",
			 path, (long long)st.st_size, want);
		close(fd);
		return -1;
	}
	uint8_t *buf = malloc(want);
	ssize_t got = buf ? pread(fd, buf, want, 0) : -1;
	close(fd);
	int rc = -1;
	if (got != (ssize_t)want)
		snprintf(err, errlen, "%s: cannot read it", path);
	else if (workset__decode(w, buf, want, page, nr_pages, err, errlen) == 0)
		rc = 0;
	free(buf);
	return rc;
}

int workset__save(const struct workset *w, const char *path, char *err, size_t errlen)
{
	char tmp[4096 + 8];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	FILE *f = fopen(tmp, "we");
	if (!f) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	uint64_t hdr[2] = {w->page, w->nr_pages};
	bool ok = fwrite(MAGIC, 1, 8, f) == 8 && fwrite(hdr, sizeof(hdr), 1, f) == 1 &&
		  fwrite(w->bits, 8, words(w->nr_pages), f) == words(w->nr_pages);
	if (fclose(f) || !ok || rename(tmp, path)) {
		snprintf(err, errlen, "%s: cannot write it: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}
