/* A page-fault handler for ember's (and Firecracker's) Uffd memory backend: listens on
 * a Unix socket, takes one VMM's userfaultfd and region list, and serves its guest
 * memory's missing pages from the snapshot's memory file with UFFDIO_COPY. */
#ifndef EMBER_UFFD_HANDLER_H
#define EMBER_UFFD_HANDLER_H

#include <stdbool.h>
#include <stdint.h>

#include "msg.h"
#include "workset.h"

struct pf {
	const char *prog;
	int listen_fd, sock, uffd;
	const uint8_t *file; /* the memory file, mapped read-only */
	uint64_t file_size, page;
	struct uffd_region regions[UFFD_MSG_MAX_REGIONS];
	unsigned nr_regions;
	struct workset *record; /* pages faulted, by file page number; NULL: not kept */
	uint64_t faults, copied, prefetched, removed;
};

/* Maps mem_path and listens on sock_path (removing a stale socket there first); prints
 * "<prog>: listening on <path>" on stdout once a VMM can connect. Exits with a message
 * on failure (start-up). */
void pf__listen(struct pf *h, const char *prog, const char *sock_path, const char *mem_path);
/* Accepts the VMM, receives and checks its message and userfaultfd (waiting at most
 * timeout_ms for it). 0, or -1 with the reason printed. */
int pf__accept(struct pf *h, int timeout_ms);
/* Serves faults until the VMM is gone (its end of the connection closes, or the
 * userfaultfd reports it). Between events, idle(h) is called while it returns 1 (more
 * work to do, such as a prefetch); 0 means nothing left. 0 when the VMM went away,
 * -1 with the reason printed on an error. */
int pf__serve(struct pf *h, int (*idle)(struct pf *h, void *arg), void *arg);
/* Copies len bytes of the file at file offset off to guest memory at addr (one
 * region's range). Returns the bytes copied (a page that is already there counts as
 * copied), 0 if the kernel asks to retry after reading events (EAGAIN), -1 if the VMM
 * is gone, -2 on another error (printed). */
int64_t pf__copy(struct pf *h, uint64_t addr, uint64_t off, uint64_t len);

#endif
