/* The Uffd memory backend's messages: ember's region list (vmm/uffd.c) as the
 * handlers parse it (tools/uffd/msg.c), every kind of bad list refused with its own
 * reason, the working-set file, and uffd__attach against in-process handlers (a
 * serving one, one that answers garbage, none at all) where userfaultfd is usable. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "mem.h"
#include "tools/uffd/handler.h"
#include "tools/uffd/msg.h"
#include "tools/uffd/workset.h"
#include "uffd.h"

#define PAGE 4096ull

static int parse(const char *json, uint64_t file_size, struct uffd_region *r, char *err,
		 size_t errlen)
{
	return uffd_msg__parse(json, strlen(json), file_size, PAGE, r, err, errlen);
}

/* What ember sends is what the handlers read back, region by region. */
static void ember_json_parses(void)
{
	static const uint64_t sizes[] = {64ull << 20, (3ull << 30) + (256ull << 20)};
	for (unsigned k = 0; k < 2; k++) {
		struct guest_mem mem;
		CHECK_EQ(guest_mem__init(&mem, sizes[k]), 0);
		char buf[1024], err[256] = "";
		int n = uffd__regions_json(&mem, buf, sizeof(buf));
		CHECK(n > 0);
		struct uffd_region r[UFFD_MSG_MAX_REGIONS];
		int nr = uffd_msg__parse(buf, (size_t)n, mem.total, PAGE, r, err, sizeof(err));
		CHECK_EQ(nr, (int)mem.nr_regions);
		for (int i = 0; i < nr && i < (int)mem.nr_regions; i++) {
			CHECK_EQ(r[i].base, (uintptr_t)mem.regions[i].hva);
			CHECK_EQ(r[i].size, mem.regions[i].size);
			CHECK_EQ(r[i].offset, (uint64_t)(mem.regions[i].hva - mem.base));
		}
		CHECK(strstr(buf, "\"page_size\":4096,\"page_size_kib\":4096") != NULL);
		CHECK_EQ(uffd__regions_json(&mem, buf, 40), -1);
		/* A memory file shorter than the regions. */
		CHECK_EQ(
		    uffd_msg__parse(buf, (size_t)n, mem.total - PAGE, PAGE, r, err, sizeof(err)),
		    -1);
		guest_mem__destroy(&mem);
	}
}

/* Firecracker's own message shape (both page size members, in bytes). */
static void firecracker_json_parses(void)
{
	struct uffd_region r[UFFD_MSG_MAX_REGIONS];
	char err[256];
	CHECK_EQ(parse("[{\"base_host_virt_addr\":140000000000000,\"size\":134217728,\"offset\":0,"
		       "\"page_size\":4096,\"page_size_kib\":4096}]",
		       128ull << 20, r, err, sizeof(err)),
		 1);
	CHECK_EQ(r[0].base, 140000000000000ull);
	CHECK_EQ(r[0].size, 128ull << 20);
	CHECK_EQ(parse(" [ {\"size\":4096, \"offset\":4096, \"page_size\":4096,"
		       "\"base_host_virt_addr\":8192},{\"base_host_virt_addr\":16384,\"size\":4096,"
		       "\"offset\":0,\"page_size\":4096}] ",
		       8192, r, err, sizeof(err)),
		 2);
	CHECK(uffd_msg__find(r, 2, 8192) == &r[0]);
	CHECK(uffd_msg__find(r, 2, 16384 + 4095) == &r[1]);
	CHECK(uffd_msg__find(r, 2, 12288) == NULL);
	CHECK(uffd_msg__find(r, 2, 20480) == NULL);
}

#define R9(b) "{\"base_host_virt_addr\":" b ",\"size\":4096,\"offset\":0,\"page_size\":4096}"
#define NINE_REGIONS                                                                               \
	R9("0")                                                                                    \
	"," R9("4096") "," R9("8192") "," R9("12288") "," R9("16384") "," R9("20480") "," R9(      \
	    "24576") "," R9("28672") "," R9("32768")
#define REG(b, s, o)                                                                               \
	"{\"base_host_virt_addr\":" b ",\"size\":" s ",\"offset\":" o ",\"page_size\":4096}"

static void bad_lists_refused(void)
{
	static const struct {
		const char *json, *needle;
	} bad[] = {
	    {"", "not the JSON"},
	    {"[", "not the JSON"},
	    {"{}", "expected an array"},
	    {"[]", "0 regions"},
	    {"[" NINE_REGIONS "]", "9 regions"},
	    {"[1]", "expected an object"},
	    {"[{\"base_host_virt_addr\":0,\"size\":4096,\"offset\":0}]", "'page_size' missing"},
	    {"[{\"size\":4096,\"offset\":0,\"page_size\":4096}]", "'base_host_virt_addr' missing"},
	    {"[{\"base_host_virt_addr\":0,\"size\":4096,\"offset\":0,\"page_size\":4096,\"x\":1}]",
	     "unknown member 'x'"},
	    {"[{\"base_host_virt_addr\":0,\"size\":4096,\"size\":8192,\"offset\":0,\"page_size\":"
	     "4096}]",
	     "'size' given twice"},
	    {"[" REG("-4096", "4096", "0") "]", "out of range"},
	    {"[" REG("4096.0", "4096", "0") "]", "unsigned integer"},
	    {"[" REG("\"4096\"", "4096", "0") "]", "unsigned integer"},
	    {"[" REG("99999999999999999999", "4096", "0") "]", "out of range"},
	    {"[{\"base_host_virt_addr\":0,\"size\":4096,\"offset\":0,\"page_size\":2097152}]",
	     "page_size 2097152"},
	    {"[{\"base_host_virt_addr\":0,\"size\":4096,\"offset\":0,\"page_size\":4096,\"page_"
	     "size_kib\":4}]",
	     "page_size_kib 4"},
	    {"[" REG("0", "0", "0") "]", "size 0"},
	    {"[" REG("100", "4096", "0") "]", "multiples of the page size"},
	    {"[" REG("0", "4097", "0") "]", "multiples of the page size"},
	    {"[" REG("0", "4096", "512") "]", "multiples of the page size"},
	    {"[" REG("18446744073709547520", "8192", "0") "]", "wraps around"},
	    {"[" REG("0", "8192", "61440") "]", "of the memory file, which has 65536"},
	    {"[" REG("0", "4096", "65536") "]", "of the memory file"},
	    {"[" REG("0", "8192", "0") "," REG("4096", "4096", "8192") "]", "overlap in memory"},
	    {"[" REG("0", "8192", "0") "," REG("65536", "4096", "4096") "]", "overlap in the file"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct uffd_region r[UFFD_MSG_MAX_REGIONS];
		char err[256] = "";
		int rc = parse(bad[i].json, 65536, r, err, sizeof(err));
		if (rc != -1 || !strstr(err, bad[i].needle)) {
			char m[400];
			snprintf(m, sizeof(m), "case %zu: rc %d, '%s' lacks '%s'", i, rc, err,
				 bad[i].needle);
			check__fail(__FILE__, __LINE__, m);
		}
	}
	/* Longer than any message the handlers read. */
	static char big[UFFD_MSG_MAX_BYTES + 2];
	memset(big, ' ', sizeof(big) - 1);
	struct uffd_region r[UFFD_MSG_MAX_REGIONS];
	char err[256] = "";
	CHECK_EQ(uffd_msg__parse(big, sizeof(big) - 1, 65536, PAGE, r, err, sizeof(err)), -1);
	CHECK(strstr(err, "at most") != NULL);
}

static void workset_round_trip(void)
{
	char path[] = "/tmp/ember-test-uffd-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	struct workset w, back;
	char err[256] = "";
	CHECK_EQ(workset__init(&w, PAGE, 100), 0);
	workset__set(&w, 0);
	workset__set(&w, 63);
	workset__set(&w, 64);
	workset__set(&w, 99);
	CHECK_EQ(workset__count(&w), 4);
	CHECK_EQ(workset__save(&w, path, err, sizeof(err)), 0);
	CHECK_EQ(workset__load(&back, path, PAGE, 100, err, sizeof(err)), 0);
	CHECK_EQ(workset__count(&back), 4);
	CHECK(workset__test(&back, 63) && workset__test(&back, 99) && !workset__test(&back, 98));
	workset__free(&back);
	/* Recorded for another memory file, or another page size. */
	CHECK_EQ(workset__load(&back, path, PAGE, 101, err, sizeof(err)), -1);
	CHECK(strstr(err, "bytes") != NULL);
	CHECK_EQ(workset__load(&back, path, PAGE, 128, err, sizeof(err)), -1);
	/* The file image itself: header, length, stray bits. */
	uint8_t img[24 + 16];
	memcpy(img, "EMBERWS1", 8);
	uint64_t hdr[2] = {PAGE, 100};
	memcpy(img + 8, hdr, 16);
	memcpy(img + 24, w.bits, 16);
	CHECK_EQ(workset__decode(&back, img, sizeof(img), PAGE, 100, err, sizeof(err)), 0);
	workset__free(&back);
	CHECK_EQ(workset__decode(&back, img, sizeof(img), 2 * PAGE, 100, err, sizeof(err)), -1);
	CHECK(strstr(err, "recorded for") != NULL);
	CHECK_EQ(workset__decode(&back, img, sizeof(img) - 8, PAGE, 100, err, sizeof(err)), -1);
	CHECK(strstr(err, "bytes of bits") != NULL);
	img[24 + 15] = 0x80; /* page 127 of 100 */
	CHECK_EQ(workset__decode(&back, img, sizeof(img), PAGE, 100, err, sizeof(err)), -1);
	CHECK(strstr(err, "past the last page") != NULL);
	img[0] = 'X';
	CHECK_EQ(workset__decode(&back, img, sizeof(img), PAGE, 100, err, sizeof(err)), -1);
	CHECK(strstr(err, "not a working-set") != NULL);
	workset__free(&w);
	unlink(path);
}

/* --- uffd__attach against handlers in this process ---------------------------------- */

enum peer_mode { PEER_SERVE, PEER_GARBAGE, PEER_CLOSE };
struct peer {
	enum peer_mode mode;
	int listen_fd;
	uint8_t *src; /* the "memory file" */
	uint64_t file_size;
	int regions;
};

static void *peer_thread(void *arg)
{
	struct peer *p = arg;
	int s = accept(p->listen_fd, NULL, NULL);
	if (s < 0)
		return NULL;
	if (p->mode == PEER_CLOSE) {
		close(s);
		return NULL;
	}
	char text[4096];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = text, .iov_len = sizeof(text)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ssize_t n = recvmsg(s, &mh, 0);
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int uffd = -1;
	if (n > 0 && c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&uffd, CMSG_DATA(c), sizeof(int));
	struct uffd_region r[UFFD_MSG_MAX_REGIONS];
	char err[256];
	p->regions =
	    n > 0 ? uffd_msg__parse(text, (size_t)n, p->file_size, PAGE, r, err, sizeof(err)) : -1;
	if (p->mode == PEER_GARBAGE) {
		if (write(s, "?", 1) != 1)
			p->regions = -1;
	} else if (uffd >= 0 && p->regions > 0) {
		/* One fault, served from the "file". */
		struct pollfd pfd = {.fd = uffd, .events = POLLIN};
		struct uffd_msg m;
		if (poll(&pfd, 1, 5000) == 1 && read(uffd, &m, sizeof(m)) == sizeof(m) &&
		    m.event == UFFD_EVENT_PAGEFAULT) {
			uint64_t a = m.arg.pagefault.address & ~(PAGE - 1);
			const struct uffd_region *reg = uffd_msg__find(r, (unsigned)p->regions, a);
			if (reg) {
				struct uffdio_copy cp = {
				    .dst = a,
				    .src = (uintptr_t)(p->src + reg->offset + (a - reg->base)),
				    .len = PAGE};
				ioctl(uffd, UFFDIO_COPY, &cp);
			}
		}
	}
	/* Keep the connection until ember's side is done with it. */
	struct pollfd pfd = {.fd = s, .events = POLLRDHUP};
	poll(&pfd, 1, 5000);
	if (uffd >= 0)
		close(uffd);
	close(s);
	return NULL;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1))
		return -1;
	return l;
}

static void attach_with(enum peer_mode mode, const char *needle)
{
	/* Per process: the unit and asan runs of this test may overlap. */
	char path[64];
	snprintf(path, sizeof(path), "/tmp/ember-test-uffd-%d.sock", (int)getpid());
	struct guest_mem mem;
	CHECK_EQ(guest_mem__init(&mem, 1 << 20), 0);
	uint8_t *file = malloc(1 << 20);
	CHECK(file != NULL);
	if (!file)
		return;
	memset(file, 0x5a, 1 << 20);
	struct peer p = {
	    .mode = mode, .listen_fd = listen_on(path), .src = file, .file_size = 1 << 20};
	CHECK(p.listen_fd >= 0);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, peer_thread, &p), 0);
	struct uffd_backend b;
	struct error e = {0};
	int rc = uffd__attach(&mem, path, 2000, &b, &e);
	if (mode == PEER_SERVE) {
		CHECK_EQ(rc, 0);
		CHECK_EQ(p.regions, 1);
		CHECK_EQ(mem.base[0], 0x5a); /* the probe's page, from the "file" */
		CHECK(b.uffd >= 0 && b.sock >= 0);
		uffd__detach(&b);
	} else {
		CHECK_EQ(rc, -1);
		CHECK_EQ(e.code, EXIT_USAGE);
		/* A peer that closes at once may be seen when ember sends, or after. */
		bool ok = strstr(e.msg, needle) ||
			  (mode == PEER_CLOSE && strstr(e.msg, "cannot send the userfaultfd"));
		CHECK(ok);
		if (!ok)
			fprintf(stderr, "uffd__attach: %s\n", e.msg);
		CHECK(b.uffd == -1 && b.sock == -1);
		/* Nothing stays registered: memory reads as zeros again. */
		CHECK_EQ(mem.base[4096], 0);
	}
	pthread_join(t, NULL);
	close(p.listen_fd);
	unlink(path);
	free(file);
	guest_mem__destroy(&mem);
}

static void attach_serves(void)
{
	attach_with(PEER_SERVE, NULL);
}
static void attach_garbage(void)
{
	attach_with(PEER_GARBAGE, "sent data");
}
static void attach_closed(void)
{
	attach_with(PEER_CLOSE, "closed the connection");
}
static void attach_missing(void)
{
	struct guest_mem mem;
	CHECK_EQ(guest_mem__init(&mem, 1 << 20), 0);
	struct uffd_backend b;
	struct error e = {0};
	CHECK_EQ(uffd__attach(&mem, "/nonexistent/ember-uffd.sock", 1000, &b, &e), -1);
	CHECK(strstr(e.msg, "cannot connect") && strstr(e.msg, "No such file"));
	guest_mem__destroy(&mem);
}

/* The real handler (tools/uffd/handler.c) in a thread, ember's uffd__attach in this
 * one: pages read back from the memory file, a balloon-style MADV_DONTNEED reaches the
 * handler as a remove event and the range then reads as zeros, and the handler ends
 * when ember lets go. */
struct served {
	struct pf h;
	int rc;
};
static void *serve_thread(void *arg)
{
	struct served *s = arg;
	s->rc = pf__accept(&s->h, 5000) ? -10 : pf__serve(&s->h, NULL, NULL);
	return NULL;
}
static void handler_serves_and_removes(void)
{
	char sock[64], file[64];
	snprintf(sock, sizeof(sock), "/tmp/ember-test-uffd-h-%d.sock", (int)getpid());
	snprintf(file, sizeof(file), "/tmp/ember-test-uffd-h-%d.mem", (int)getpid());
	const size_t size = 1 << 20;
	FILE *f = fopen(file, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	for (size_t i = 0; i < size; i++)
		fputc((int)(i / 4096 + 1) & 0xff, f);
	fclose(f);
	struct guest_mem mem;
	CHECK_EQ(guest_mem__init(&mem, size), 0);
	static struct served s;
	pf__listen(&s.h, "test-handler", sock, file);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, serve_thread, &s), 0);
	struct uffd_backend b;
	struct error e = {0};
	CHECK_EQ(uffd__attach(&mem, sock, 2000, &b, &e), 0);
	/* Every page from the file, through the handler. */
	for (size_t p = 0; p < size / 4096; p++)
		if (mem.base[p * 4096 + 7] != (uint8_t)(p + 1)) {
			CHECK_EQ(mem.base[p * 4096 + 7], (uint8_t)(p + 1));
			break;
		}
	/* The balloon gives 16 pages back: they read as zeros from then on. */
	CHECK_EQ(madvise(mem.base + 32 * 4096, 16 * 4096, MADV_DONTNEED), 0);
	CHECK_EQ(mem.base[40 * 4096], 0);
	CHECK_EQ(mem.base[48 * 4096], 49);
	uffd__detach(&b);
	pthread_join(t, NULL);
	CHECK_EQ(s.rc, 0);
	CHECK_EQ(s.h.faults, size / 4096); /* each page once, the probe's included */
	CHECK_EQ(s.h.removed, 1);
	unlink(sock);
	unlink(file);
	guest_mem__destroy(&mem);
}

int main(void)
{
	static const struct check_case always[] = {
	    CHECK_CASE(ember_json_parses), CHECK_CASE(firecracker_json_parses),
	    CHECK_CASE(bad_lists_refused), CHECK_CASE(workset_round_trip)};
	static const struct check_case with_uffd[] = {
	    CHECK_CASE(attach_serves), CHECK_CASE(attach_garbage), CHECK_CASE(attach_closed),
	    CHECK_CASE(attach_missing), CHECK_CASE(handler_serves_and_removes)};
	int rc = check__run("uffd", always, sizeof(always) / sizeof(always[0]));
	/* Handling kernel faults needs root or CAP_SYS_PTRACE (vm.unprivileged_userfaultfd). */
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		for (size_t i = 0; i < sizeof(with_uffd) / sizeof(with_uffd[0]); i++)
			printf("SKIP unit/uffd/%s: userfaultfd: %s\n", with_uffd[i].name,
			       strerror(errno));
		return rc;
	}
	close(fd);
	return check__run("uffd", with_uffd, sizeof(with_uffd) / sizeof(with_uffd[0])) | rc;
}
