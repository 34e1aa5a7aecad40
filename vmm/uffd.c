#include "uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define FAIL(...) error__fail(e, EXIT_USAGE, __VA_ARGS__)

int uffd__regions_json(const struct guest_mem *mem, char *buf, size_t len)
{
	size_t n = 0;
	long page = sysconf(_SC_PAGESIZE);
	for (unsigned i = 0; i <= mem->nr_regions; i++) {
		const struct mem_region *r = &mem->regions[i];
		int w =
		    i == mem->nr_regions
			? snprintf(buf + n, len - n, "]")
			: snprintf(buf + n, len - n,
				   "%s{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu,"
				   "\"page_size\":%ld,\"page_size_kib\":%ld}",
				   i ? "," : "[", (unsigned long long)(uintptr_t)r->hva,
				   (unsigned long long)r->size,
				   (unsigned long long)(r->hva - mem->base), page, page);
		if (w < 0 || (size_t)w >= len - n)
			return -1;
		n += (size_t)w;
	}
	return (int)n;
}

/* The syscall first (what Firecracker does on 5.10 hosts); /dev/userfaultfd where
 * vm.unprivileged_userfaultfd=0 keeps an unprivileged VMM from the syscall for faults
 * that KVM takes in the kernel. */
static int uffd_create(struct error *e)
{
	int flags = O_CLOEXEC | O_NONBLOCK;
	int fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd >= 0)
		return fd;
	int err = errno;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
		close(dev);
		if (fd >= 0)
			return fd;
	}
	return FAIL("userfaultfd: %s (neither the system call nor /dev/userfaultfd "
		    "could be used)",
		    strerror(err));
}

static int uffd_register(int fd, const struct guest_mem *mem, struct error *e)
{
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMOVE};
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		return FAIL("userfaultfd: UFFDIO_API (with UFFD_FEATURE_EVENT_REMOVE): %s",
			    strerror(errno));
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		struct uffdio_register reg = {
		    .range = {.start = (uintptr_t)mem->regions[i].hva, .len = mem->regions[i].size},
		    .mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
			return FAIL("userfaultfd: UFFDIO_REGISTER of memory region %u: %s", i,
				    strerror(errno));
		if (!(reg.ioctls & (1ull << _UFFDIO_COPY)))
			return FAIL("userfaultfd: memory region %u cannot be served with "
				    "UFFDIO_COPY",
				    i);
	}
	return 0;
}

static void uffd_unregister(int fd, const struct guest_mem *mem)
{
	/* Unregistering also wakes any fault waiting in the range (the probe's); the
	 * explicit wakes around it make sure of that whichever comes first, the probe's
	 * fault or the unregistration (a load once stayed stuck joining the probe after
	 * a handler that closed at once, and was not reproduced since). */
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		struct uffdio_range r = {.start = (uintptr_t)mem->regions[i].hva,
					 .len = mem->regions[i].size};
		ioctl(fd, UFFDIO_WAKE, &r);
		ioctl(fd, UFFDIO_UNREGISTER, &r);
		ioctl(fd, UFFDIO_WAKE, &r);
	}
}

static int uffd_send(const char *path, int uffd, const struct guest_mem *mem, struct error *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return FAIL("mem_backend (Uffd) '%s': longer than a Unix socket path (%zu bytes)",
			    path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	char msg[1024];
	int len = uffd__regions_json(mem, msg, sizeof(msg));
	if (len < 0)
		return FAIL("mem_backend (Uffd): the region list does not fit in a message");
	/* Non-blocking: a handler that never accepts and has a full backlog is EAGAIN,
	 * not a wait. */
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return FAIL("mem_backend (Uffd): socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(s);
		return FAIL("mem_backend (Uffd) '%s': cannot connect to the page-fault "
			    "handler: %s",
			    path, err == EAGAIN ? "its backlog is full" : strerror(err));
	}
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = {.iov_base = msg, .iov_len = (size_t)len};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &uffd, sizeof(int));
	ssize_t n = sendmsg(s, &mh, MSG_NOSIGNAL);
	if (n != len) {
		int err = errno;
		close(s);
		return FAIL(
		    "mem_backend (Uffd) '%s': cannot send the userfaultfd to the page-fault "
		    "handler: %s",
		    path, n < 0 ? strerror(err) : "short write");
	}
	return s;
}

struct probe {
	const volatile uint8_t *page;
	int efd;
};

static void *probe_thread(void *arg)
{
	struct probe *p = arg;
	(void)*p->page; /* the fault the handler must serve */
	uint64_t one = 1;
	if (write(p->efd, &one, sizeof(one)) < 0)
		return NULL;
	return NULL;
}

/* Waits for the probe's fault to be served, watching the connection meanwhile. */
static int probe_wait(int efd, int sock, const char *path, unsigned timeout_ms, struct error *e)
{
	uint64_t deadline = now_us() + (uint64_t)timeout_ms * 1000;
	for (;;) {
		struct pollfd fds[2] = {{.fd = efd, .events = POLLIN},
					{.fd = sock, .events = POLLIN | POLLRDHUP}};
		uint64_t now = now_us();
		if (now >= deadline)
			return FAIL("mem_backend (Uffd) '%s': the page-fault handler did not serve "
				    "a page fault within %u ms",
				    path, timeout_ms);
		int r = poll(fds, 2, (int)((deadline - now + 999) / 1000));
		if (r < 0 && errno != EINTR)
			return FAIL("mem_backend (Uffd): poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		if (fds[1].revents) {
			char buf[64];
			ssize_t n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0)
				return FAIL("mem_backend (Uffd) '%s': the page-fault handler sent "
					    "data (%zd bytes); it is to send nothing",
					    path, n);
			if (n == 0 || (fds[1].revents & (POLLHUP | POLLRDHUP | POLLERR)))
				return FAIL(
				    "mem_backend (Uffd) '%s': the page-fault handler closed "
				    "the connection",
				    path);
		}
		if (fds[0].revents & POLLIN)
			return 0;
	}
}

int uffd__attach(const struct guest_mem *mem, const char *sock_path, unsigned timeout_ms,
		 struct uffd_backend *b, struct error *e)
{
	b->uffd = b->sock = -1;
	uint64_t t0 = now_us();
	int fd = uffd_create(e);
	if (fd < 0)
		return -1;
	int s = -1, efd = -1;
	if (uffd_register(fd, mem, e))
		goto fail;
	uint64_t t1 = now_us();
	s = uffd_send(sock_path, fd, mem, e);
	if (s < 0)
		goto fail;
	uint64_t t2 = now_us();
	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0) {
		error__fail(e, EXIT_ERROR, "eventfd: %s", strerror(errno));
		goto fail;
	}
	struct probe p = {.page = mem->base, .efd = efd};
	pthread_t t;
	int err = pthread_create(&t, NULL, probe_thread, &p);
	if (err) {
		error__fail(e, EXIT_ERROR, "cannot start a thread: %s", strerror(err));
		goto fail;
	}
	int rc = probe_wait(efd, s, sock_path, timeout_ms, e);
	if (rc) {
		/* The handler failed us: serve the probe's page ourselves (a zero page, as
		 * the guest's memory is thrown away anyway), which wakes its fault for sure.
		 * Unregistering alone once left it asleep, and this thread waiting for it. */
		struct uffdio_zeropage z = {.range = {.start = (uintptr_t)mem->base,
						      .len = (uint64_t)sysconf(_SC_PAGESIZE)}};
		ioctl(fd, UFFDIO_ZEROPAGE, &z);
		uffd_unregister(fd, mem);
	}
	pthread_join(t, NULL);
	if (rc)
		goto fail;
	close(efd);
	b->uffd = fd;
	b->sock = s;
	pr_info("uffd: userfaultfd registered in %llu us, sent to the handler in %llu us, a first "
		"fault served in %llu us",
		(unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1),
		(unsigned long long)(now_us() - t2));
	return 0;
fail:
	uffd_unregister(fd, mem);
	close(fd);
	if (s >= 0)
		close(s);
	if (efd >= 0)
		close(efd);
	return -1;
}

void uffd__detach(struct uffd_backend *b)
{
	if (b->uffd >= 0)
		close(b->uffd);
	if (b->sock >= 0)
		close(b->sock);
	b->uffd = b->sock = -1;
}
