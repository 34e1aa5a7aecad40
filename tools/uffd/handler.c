#include "handler.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const struct pf *h, const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "%s: ", h->prog);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	exit(1);
}

void pf__listen(struct pf *h, const char *prog, const char *sock_path, const char *mem_path)
{
	memset(h, 0, sizeof(*h));
	h->prog = prog;
	h->sock = h->uffd = -1;
	h->page = (uint64_t)sysconf(_SC_PAGESIZE);
	int fd = open(mem_path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die(h, "memory file %s: %s", mem_path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size <= 0)
		die(h, "memory file %s: %s", mem_path, "not a non-empty regular file");
	h->file_size = (uint64_t)st.st_size;
	/* Private and read-only: the source of every copy, shared with the page cache. */
	void *p = mmap(NULL, h->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		die(h, "memory file %s: mmap: %s", mem_path, strerror(errno));
	close(fd);
	h->file = p;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(sa.sun_path))
		die(h, "%s: %s", sock_path, "longer than a Unix socket path");
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0)
		die(h, "socket: %s%s", strerror(errno), "");
	if (lstat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sock_path);
	if (bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(h->listen_fd, 1) < 0)
		die(h, "%s: %s", sock_path, strerror(errno));
	printf("%s: listening on %s\n", prog, sock_path);
	fflush(stdout);
}

static int fail(const struct pf *h, const char *why, const char *detail)
{
	fprintf(stderr, "%s: %s%s%s\n", h->prog, why, detail ? ": " : "", detail ? detail : "");
	return -1;
}

/* The descriptor must be a userfaultfd: what else would UFFDIO_COPY be sent to. */
static bool is_userfaultfd(int fd)
{
	char path[64], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return errno == ENOENT && access("/proc/self", F_OK) != 0; /* no /proc: trust */
	target[n] = 0;
	return strcmp(target, "anon_inode:[userfaultfd]") == 0;
}

int pf__accept(struct pf *h, int timeout_ms)
{
	h->sock = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (h->sock < 0)
		return fail(h, "accept", strerror(errno));
	struct pollfd pfd = {.fd = h->sock, .events = POLLIN};
	int r = poll(&pfd, 1, timeout_ms);
	if (r <= 0)
		return fail(h, "no message from the VMM", r == 0 ? "timed out" : strerror(errno));
	char text[UFFD_MSG_MAX_BYTES + 1];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = text, .iov_len = sizeof(text)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ssize_t n = recvmsg(h->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return fail(h, "recvmsg", strerror(errno));
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&h->uffd, CMSG_DATA(c), sizeof(int));
	if (mh.msg_flags & MSG_CTRUNC)
		return fail(h, "the VMM sent more than one descriptor", NULL);
	if (h->uffd < 0)
		return fail(h, "the VMM's message carries no userfaultfd", NULL);
	if (!is_userfaultfd(h->uffd))
		return fail(h, "the descriptor the VMM sent is not a userfaultfd", NULL);
	if (n == 0 || (size_t)n > UFFD_MSG_MAX_BYTES)
		return fail(h, "the VMM's message is empty or too long", NULL);
	char err[256];
	int nr =
	    uffd_msg__parse(text, (size_t)n, h->file_size, h->page, h->regions, err, sizeof(err));
	if (nr < 0)
		return fail(h, "the VMM's region list", err);
	h->nr_regions = (unsigned)nr;
	/* The handler can do nothing but copy on this descriptor: it must not block. */
	int fl = fcntl(h->uffd, F_GETFL);
	if (fl < 0 || fcntl(h->uffd, F_SETFL, fl | O_NONBLOCK) < 0)
		return fail(h, "fcntl", strerror(errno));
	return 0;
}

int64_t pf__copy(struct pf *h, uint64_t addr, uint64_t off, uint64_t len)
{
	struct uffdio_copy c = {.dst = addr, .src = (uintptr_t)(h->file + off), .len = len};
	if (ioctl(h->uffd, UFFDIO_COPY, &c) == 0)
		return (int64_t)len;
	int err = errno;
	if (c.copy > 0) /* part of it: the caller goes on from there */
		return c.copy;
	if (err == EEXIST) {
		/* Someone (a prefetch, a racing fault) filled the first page: the waiter,
		 * if any, was woken by that copy. Wake it anyway, as it costs nothing. */
		struct uffdio_range r = {.start = addr, .len = h->page};
		ioctl(h->uffd, UFFDIO_WAKE, &r);
		return (int64_t)h->page;
	}
	if (err == EAGAIN)
		return 0;
	if (err == ESRCH || err == ENOENT)
		return -1; /* the VMM's address space is going or gone */
	fail(h, "UFFDIO_COPY", strerror(err));
	return -2;
}

static int serve_fault(struct pf *h, uint64_t addr, bool *retry)
{
	uint64_t page_addr = addr & ~(h->page - 1);
	const struct uffd_region *r = uffd_msg__find(h->regions, h->nr_regions, page_addr);
	if (!r) {
		char a[32];
		snprintf(a, sizeof(a), "0x%llx", (unsigned long long)addr);
		return fail(h, "a fault outside every region", a) - 1;
	}
	uint64_t off = r->offset + (page_addr - r->base);
	int64_t n = pf__copy(h, page_addr, off, h->page);
	if (n == 0) {
		*retry = true;
		return 0;
	}
	if (n < 0)
		return (int)n;
	h->faults++;
	h->copied++;
	if (h->record)
		workset__set(h->record, off / h->page);
	return 0;
}

/* A balloon's madvise(MADV_DONTNEED) in the VMM: the range now reads as zeros. Take it
 * out of the userfaultfd so that later faults there get the kernel's zero pages, not
 * the snapshot's contents. */
static int serve_remove(struct pf *h, uint64_t start, uint64_t end)
{
	struct uffdio_range r = {.start = start, .len = end - start};
	h->removed++;
	if (end > start && ioctl(h->uffd, UFFDIO_UNREGISTER, &r) < 0 && errno != ENOMEM &&
	    errno != ESRCH)
		return fail(h, "UFFDIO_UNREGISTER after a remove event", strerror(errno));
	return 0;
}

/* Reads every pending event. Faults that must wait (EAGAIN: a remove event is queued)
 * are kept in pending and retried after the next read. 1 if events were handled, 0
 * if none was pending, -1 if the VMM is gone, -2 on an error. */
#define MAX_PENDING 256
static int drain(struct pf *h, uint64_t *pending, unsigned *nr_pending)
{
	int any = 0;
	for (;;) {
		struct uffd_msg m[16];
		ssize_t n = read(h->uffd, m, sizeof(m));
		if (n < 0 && errno == EAGAIN)
			break;
		if (n == 0)
			return -1;
		if (n < 0)
			return fail(h, "read of the userfaultfd", strerror(errno)) - 1;
		if (n % sizeof(m[0]))
			return fail(h, "a partial userfaultfd message", NULL) - 1;
		any = 1;
		for (size_t i = 0; i < (size_t)n / sizeof(m[0]); i++) {
			switch (m[i].event) {
			case UFFD_EVENT_PAGEFAULT:
				if (*nr_pending == MAX_PENDING)
					return fail(h, "too many faults waiting", NULL) - 1;
				pending[(*nr_pending)++] = m[i].arg.pagefault.address;
				break;
			case UFFD_EVENT_REMOVE:
				if (serve_remove(h, m[i].arg.remove.start, m[i].arg.remove.end))
					return -2;
				break;
			default:
				return fail(h, "an unexpected userfaultfd event", NULL) - 1;
			}
		}
	}
	unsigned keep = 0;
	for (unsigned i = 0; i < *nr_pending; i++) {
		bool retry = false;
		int rc = serve_fault(h, pending[i], &retry);
		if (rc)
			return rc;
		if (retry)
			pending[keep++] = pending[i];
	}
	*nr_pending = keep;
	return any;
}

int pf__serve(struct pf *h, int (*idle)(struct pf *h, void *arg), void *arg)
{
	uint64_t pending[MAX_PENDING];
	unsigned nr_pending = 0;
	bool more_idle = idle != NULL;
	for (;;) {
		struct pollfd fds[2] = {{.fd = h->uffd, .events = POLLIN},
					{.fd = h->sock, .events = POLLIN | POLLRDHUP}};
		/* Faults first; idle work only when nothing waits. A retry soon after an
		 * EAGAIN. */
		int timeout = nr_pending ? 1 : more_idle ? 0 : -1;
		int r = poll(fds, 2, timeout);
		if (r < 0 && errno != EINTR)
			return fail(h, "poll", strerror(errno));
		if (r > 0 && (fds[0].revents & (POLLERR | POLLHUP)))
			return 0;
		if (r > 0 && fds[1].revents) {
			char c;
			ssize_t n = recv(h->sock, &c, 1, MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				return 0; /* the VMM closed its end: it is gone */
			if (n > 0)
				return fail(h, "the VMM sent more than its one message", NULL);
		}
		if ((r > 0 && fds[0].revents & POLLIN) || nr_pending) {
			int rc = drain(h, pending, &nr_pending);
			if (rc == -1)
				return 0;
			if (rc < 0)
				return -1;
			continue;
		}
		if (more_idle) {
			int rc = idle(h, arg);
			if (rc < 0)
				return rc == -1 ? 0 : -1;
			more_idle = rc > 0;
		}
	}
}
