/* ember-uffd-prefetch [--record FILE] [--prefetch FILE] SOCKET MEMFILE
 *
 * A REAP-style handler (ASPLOS'21). --record FILE writes, when the VM is gone, the set
 * of pages the restore faulted in (tools/uffd/workset.h). --prefetch FILE copies the
 * pages of a recorded set into guest memory as soon as the VMM has sent its
 * userfaultfd, in runs of contiguous pages (one UFFDIO_COPY each), while faults keep
 * being served first; pages outside the set are served on demand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"

#define MAX_RUN_PAGES 512 /* 2 MiB per copy: long enough, and faults wait no longer */

struct prefetch {
	struct workset ws;
	unsigned region;
	uint64_t next; /* the next file page to look at in that region */
};

/* One run of recorded pages per call: 1 if there is more, 0 when all were copied. */
static int prefetch_step(struct pf *h, void *arg)
{
	struct prefetch *p = arg;
	while (p->region < h->nr_regions) {
		const struct uffd_region *r = &h->regions[p->region];
		uint64_t first = r->offset / h->page, end = first + r->size / h->page;
		if (p->next < first)
			p->next = first;
		while (p->next < end && !workset__test(&p->ws, p->next))
			p->next++;
		if (p->next == end) {
			p->region++;
			continue;
		}
		uint64_t n = 1;
		while (p->next + n < end && n < MAX_RUN_PAGES && workset__test(&p->ws, p->next + n))
			n++;
		uint64_t off = p->next * h->page;
		int64_t done = pf__copy(h, r->base + (off - r->offset), off, n * h->page);
		if (done < 0)
			return (int)done;
		/* 0 (EAGAIN): events first, then this run again. */
		p->next += (uint64_t)done / h->page;
		h->prefetched += (uint64_t)done / h->page;
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *record = NULL, *prefetch = NULL;
	int i = 1;
	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--record"))
			record = argv[i + 1];
		else if (!strcmp(argv[i], "--prefetch"))
			prefetch = argv[i + 1];
		else
			break;
	}
	if (argc - i != 2 || argv[i][0] == '-' || (!record && !prefetch)) {
		fprintf(stderr,
			"usage: %s [--record FILE] [--prefetch FILE] SOCKET MEMFILE\n"
			"  (at least one of --record and --prefetch)\n",
			argv[0]);
		return 2;
	}
	const char *prog = "ember-uffd-prefetch";
	struct pf h;
	pf__listen(&h, prog, argv[i], argv[i + 1]);
	uint64_t nr_pages = h.file_size / h.page;
	char err[256];
	struct prefetch p = {0};
	struct workset rec;
	if (prefetch && workset__load(&p.ws, prefetch, h.page, nr_pages, err, sizeof(err))) {
		fprintf(stderr, "%s: --prefetch %s\n", prog, err);
		return 1;
	}
	if (record) {
		if (workset__init(&rec, h.page, nr_pages)) {
			fprintf(stderr, "%s: out of memory\n", prog);
			return 1;
		}
		h.record = &rec;
	}
	if (pf__accept(&h, 5000) || pf__serve(&h, prefetch ? prefetch_step : NULL, &p))
		return 1;
	printf("%s: the VM is gone; %llu pages prefetched (of %llu recorded), %llu faults "
	       "served on demand, %llu removed ranges\n",
	       prog, (unsigned long long)h.prefetched,
	       (unsigned long long)(prefetch ? workset__count(&p.ws) : 0),
	       (unsigned long long)h.faults, (unsigned long long)h.removed);
	if (record) {
		if (workset__save(&rec, record, err, sizeof(err))) {
			fprintf(stderr, "%s: --record %s\n", prog, err);
			return 1;
		}
		printf("%s: recorded %llu pages in %s\n", prog,
		       (unsigned long long)workset__count(&rec), record);
	}
	return 0;
}
