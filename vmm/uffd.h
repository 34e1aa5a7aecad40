/* The Uffd memory backend of PUT /snapshot/load, in Firecracker's protocol
 * (docs/snapshotting/handling-page-faults-on-snapshot-resume.md there): guest memory
 * stays anonymous, a userfaultfd is registered over every region, and an outside
 * page-fault handler listening on a Unix socket receives it (SCM_RIGHTS) with one
 * JSON message describing the regions:
 *   [{"base_host_virt_addr":N,"size":N,"offset":N,"page_size":N,"page_size_kib":N},...]
 * offset is the region's offset in the memory file, page_size is in bytes
 * (page_size_kib is Firecracker's deprecated misnomer for the same number). */
#ifndef EMBER_UFFD_H
#define EMBER_UFFD_H

#include <stddef.h>

#include "error.h"
#include "mem.h"

/* How long the handler has to serve the first page fault (see uffd__attach). */
#define UFFD_HANDSHAKE_MS 3000

struct uffd_backend {
	int uffd; /* ember keeps its copy: guest memory never silently reverts to zeros */
	int sock; /* kept open: the handler sees the VM go when it closes */
};

/* Writes ember's JSON message for mem into buf. Returns its length, or -1 if it does
 * not fit. */
int uffd__regions_json(const struct guest_mem *mem, char *buf, size_t len);

/* Creates a userfaultfd, registers mem's regions for missing-page faults, connects to
 * the handler at sock_path and sends it the uffd and the regions. Then it checks,
 * within timeout_ms, that the handler serves a fault (a thread of ember reads the
 * first guest page): a missing socket, a refused connection, a handler that closes
 * the connection, sends anything back or serves nothing is an error here instead of
 * a VM frozen later. 0 with b set, or -1 with e (EXIT_USAGE) and nothing registered. */
int uffd__attach(const struct guest_mem *mem, const char *sock_path, unsigned timeout_ms,
		 struct uffd_backend *b, struct error *e);
/* Closes b's descriptors (those that are >= 0). */
void uffd__detach(struct uffd_backend *b);

#endif
