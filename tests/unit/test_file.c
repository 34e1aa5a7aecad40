/* vmm/file.c: opening user-given paths. Every open runs in a child that is
 * killed after 2 s, so an open that blocks (a FIFO without its other end) is a
 * FAIL line, not a hung test. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "file.h"

static char dir[64];

static const char *tmp(const char *name)
{
	static char bufs[4][192];
	static int k;
	char *b = bufs[k++ % 4];
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static void setup(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/tmp/ember-test-file.XXXXXX");
	if (!mkdtemp(dir))
		abort();
	FILE *f = fopen(tmp("reg"), "w");
	fputs("0123456789", f);
	fclose(f);
	mkfifo(tmp("fifo"), 0600);
	mkdir(tmp("dir"), 0700);
	if (symlink(tmp("reg"), tmp("link-reg")) || symlink(tmp("fifo"), tmp("link-fifo")) ||
	    symlink(tmp("nowhere"), tmp("dangling")))
		abort();
}

struct outcome {
	bool blocked;  /* the open did not return within 2 s */
	int fd_ok;     /* file__open returned an fd */
	int err;       /* errno when it failed */
	int nonblock;  /* O_NONBLOCK is set on the fd */
	int accmode;   /* O_RDONLY, O_WRONLY or O_RDWR */
	int append;    /* O_APPEND is set */
	int cloexec;   /* FD_CLOEXEC is set */
	char why[160]; /* file__error() */
};

/* file__open(path, use) in a child, bounded in time. */
static struct outcome open_bounded(const char *path, enum file_use use)
{
	struct outcome o = {0};
	int p[2];
	if (pipe(p))
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		struct outcome c = {0};
		int fd = file__open(path, use);
		if (fd >= 0) {
			c.fd_ok = 1;
			int fl = fcntl(fd, F_GETFL);
			c.nonblock = !!(fl & O_NONBLOCK);
			c.accmode = fl & O_ACCMODE;
			c.append = !!(fl & O_APPEND);
			c.cloexec = !!(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		} else {
			c.err = errno;
			snprintf(c.why, sizeof(c.why), "%s", file__error());
		}
		if (write(p[1], &c, sizeof(c)) != sizeof(c))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int st;
	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 2) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			o.blocked = true;
			close(p[0]);
			return o;
		}
		usleep(2000);
	}
	if (read(p[0], &o, sizeof(o)) != sizeof(o))
		o.blocked = true;
	close(p[0]);
	return o;
}

static void test_image_regular(void)
{
	setup();
	struct outcome o = open_bounded(tmp("reg"), FILE_IMAGE);
	CHECK(!o.blocked);
	CHECK(o.fd_ok);
	CHECK_EQ(o.accmode, O_RDONLY);
	CHECK(!o.nonblock); /* the loader's reads and mmap see an ordinary fd */
	CHECK(o.cloexec);
}

static void test_image_fifo_refused(void)
{
	setup();
	/* No writer: open(O_RDONLY) without O_NONBLOCK would wait forever. */
	struct outcome o = open_bounded(tmp("fifo"), FILE_IMAGE);
	CHECK(!o.blocked);
	CHECK(!o.fd_ok);
	CHECK(strstr(o.why, "is a FIFO") != NULL);
	CHECK(strstr(o.why, "not a regular file") != NULL);
}

static void test_image_other_kinds_refused(void)
{
	setup();
	struct outcome o = open_bounded(tmp("dir"), FILE_IMAGE);
	CHECK(!o.fd_ok);
	CHECK_EQ(o.err, EISDIR);
	CHECK_STR(o.why, "is a directory, not a regular file");
	o = open_bounded("/dev/null", FILE_IMAGE);
	CHECK(!o.fd_ok);
	CHECK(strstr(o.why, "is a character device") != NULL);
	o = open_bounded(tmp("missing"), FILE_IMAGE);
	CHECK(!o.fd_ok);
	CHECK_EQ(o.err, ENOENT);
	CHECK_STR(o.why, strerror(ENOENT));
}

static void test_links_followed_target_checked(void)
{
	setup();
	struct outcome o = open_bounded(tmp("link-reg"), FILE_IMAGE);
	CHECK(o.fd_ok);
	o = open_bounded(tmp("link-fifo"), FILE_DISK_RW);
	CHECK(!o.blocked);
	CHECK(!o.fd_ok);
	CHECK(strstr(o.why, "is a FIFO, not a regular file or a block device") != NULL);
}

static void test_disk(void)
{
	setup();
	struct outcome o = open_bounded(tmp("reg"), FILE_DISK_RW);
	CHECK(o.fd_ok);
	CHECK_EQ(o.accmode, O_RDWR);
	CHECK(!o.nonblock);
	o = open_bounded(tmp("reg"), FILE_DISK_RO);
	CHECK_EQ(o.accmode, O_RDONLY);
	o = open_bounded(tmp("fifo"), FILE_DISK_RO);
	CHECK(!o.blocked);
	CHECK(!o.fd_ok);
	o = open_bounded("/dev/zero", FILE_DISK_RO);
	CHECK(!o.fd_ok);
	CHECK(strstr(o.why, "is a character device") != NULL);
}

static void test_sink_fifo_without_reader(void)
{
	setup();
	/* firecracker-containerd's order: the FIFO exists, nobody reads it yet. */
	struct outcome o = open_bounded(tmp("fifo"), FILE_SINK);
	CHECK(!o.blocked);
	CHECK(o.fd_ok);
	CHECK_EQ(o.accmode, O_RDWR);
	CHECK(o.nonblock);
	o = open_bounded(tmp("fifo"), FILE_CONSOLE_OUT);
	CHECK(!o.blocked);
	CHECK(o.fd_ok);
	CHECK(o.nonblock); /* a vCPU never waits for a FIFO's reader */
	o = open_bounded(tmp("reg"), FILE_CONSOLE_OUT);
	CHECK(o.fd_ok);
	CHECK(!o.nonblock); /* console writes to a file block: the UART has flow control */
}

static void test_sink_regular_created_and_appended(void)
{
	setup();
	const char *p = tmp("sink.log");
	for (int i = 0; i < 2; i++) {
		int fd = file__open(p, FILE_SINK);
		CHECK(fd >= 0);
		if (fd < 0)
			return;
		int fl = fcntl(fd, F_GETFL);
		CHECK(fl & O_APPEND);
		CHECK_EQ(fl & O_ACCMODE, O_WRONLY);
		CHECK_EQ(file__write_record(fd, FILE_SINK_LOG, "line\n", 5), 0);
		close(fd);
	}
	struct stat st;
	CHECK_EQ(stat(p, &st), 0);
	CHECK_EQ(st.st_size, 10); /* appended, not overwritten */
	CHECK_EQ(st.st_mode & 0777, 0600);
	unlink(p);
}

static void test_sink_dangling_link_not_followed(void)
{
	setup();
	struct outcome o = open_bounded(tmp("dangling"), FILE_SINK);
	CHECK(!o.fd_ok);
	CHECK(strstr(o.why, "symbolic link") != NULL);
	CHECK(access(tmp("nowhere"), F_OK) != 0); /* nothing was created at the target */
	o = open_bounded(tmp("dir"), FILE_SINK);
	CHECK(!o.fd_ok);
	CHECK_EQ(o.err, EISDIR);
	o = open_bounded("/dev/null", FILE_SINK);
	CHECK(o.fd_ok);
}

static void test_console_in_fifo_without_writer(void)
{
	setup();
	struct outcome o = open_bounded(tmp("fifo"), FILE_CONSOLE_IN);
	CHECK(!o.blocked);
	CHECK(o.fd_ok);
	CHECK_EQ(o.accmode, O_RDONLY);
	CHECK(o.nonblock);
}

static void test_check(void)
{
	setup();
	CHECK_EQ(file__check(tmp("reg"), FILE_DISK_RO), 0);
	CHECK_EQ(file__check(tmp("fifo"), FILE_DISK_RO), -1);
	CHECK_STR(file__error(), "is a FIFO, not a regular file or a block device");
	CHECK_EQ(file__check(tmp("missing"), FILE_IMAGE), -1);
	CHECK_EQ(errno, ENOENT);
	/* A sink that does not exist yet is created when opened. */
	CHECK_EQ(file__check(tmp("missing"), FILE_SINK), 0);
	CHECK_EQ(file__check(tmp("fifo"), FILE_SINK), 0);
}

static void test_full_pipe_drops_and_counts(void)
{
	int p[2];
	CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
	char line[100];
	memset(line, 'x', sizeof(line));
	line[sizeof(line) - 1] = '\n';
	uint64_t before = file__dropped(FILE_SINK_METRICS);
	int written = 0, refused = 0;
	for (int i = 0; i < 2000; i++) {
		if (file__write_record(p[1], FILE_SINK_METRICS, line, sizeof(line)) == 0)
			written++;
		else if (errno == EAGAIN)
			refused++;
	}
	CHECK(written > 0);
	CHECK(refused > 0); /* 200 KB does not fit in a 64 KiB pipe */
	CHECK_EQ(file__dropped(FILE_SINK_METRICS) - before, refused);
	CHECK_EQ(file__dropped(FILE_SINK_LOG), 0);
	/* Every line that went in went in whole. */
	char buf[sizeof(line)];
	int whole = 0;
	while (read(p[0], buf, sizeof(buf)) == (ssize_t)sizeof(buf) &&
	       memcmp(buf, line, sizeof(line)) == 0)
		whole++;
	CHECK_EQ(whole, written);
	close(p[0]);
	close(p[1]);
}

static void test_cut_record_ends_its_line(void)
{
	int p[2];
	CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
	/* Leave 4 KiB of room, then write a record longer than PIPE_BUF: part goes in. */
	int size = fcntl(p[1], F_GETPIPE_SZ);
	CHECK(size > 8192);
	char *buf = calloc(1, (size_t)size);
	memset(buf, 'f', (size_t)size);
	CHECK_EQ(write(p[1], buf, (size_t)size - 4096), size - 4096);
	char big[8192];
	memset(big, 'b', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	uint64_t before = file__dropped(FILE_SINK_LOG);
	CHECK_EQ(file__write_record(p[1], FILE_SINK_LOG, big, sizeof(big)), -1);
	CHECK_EQ(file__dropped(FILE_SINK_LOG) - before, 1);
	while (read(p[0], buf, (size_t)size) > 0)
		;
	/* The reader drained the pipe: the next record first ends the cut line. */
	CHECK_EQ(file__write_record(p[1], FILE_SINK_LOG, "next\n", 5), 0);
	ssize_t n = read(p[0], buf, (size_t)size);
	CHECK_EQ(n, 6);
	CHECK(memcmp(buf, "\nnext\n", 6) == 0);
	free(buf);
	close(p[0]);
	close(p[1]);
}

/* The whole-file reader: sizes at and past the limit, and kinds it refuses. The FIFO
 * case returns at once only because the open is O_NONBLOCK and refused after. */
static void test_read_whole(void)
{
	setup();
	size_t len;
	char *out = NULL;
	CHECK_EQ(file__read_small(tmp("dir"), 16, &out, &len), -1);
	CHECK_EQ(errno, EISDIR);
	CHECK_EQ(file__read_small(tmp("nowhere"), 16, &out, &len), -1);
	CHECK_EQ(errno, ENOENT);
	struct outcome o = open_bounded(tmp("fifo"), FILE_IMAGE);
	CHECK(!o.blocked && !o.fd_ok);
	CHECK_EQ(file__read_small(tmp("fifo"), 16, &out, &len), -1);
	CHECK(strstr(file__error(), "is a FIFO") != NULL);
	CHECK(out == NULL);

	CHECK_EQ(file__read_small(tmp("reg"), 10, &out, &len), 0);
	CHECK(out != NULL);
	CHECK_EQ(len, 10);
	CHECK_STR(out, "0123456789"); /* NUL-terminated */
	free(out);
	out = (char *)1;
	CHECK_EQ(file__read_small(tmp("reg"), 9, &out, &len), -1);
	CHECK_EQ(errno, EFBIG);
	CHECK(strstr(file__error(), "larger than 9 bytes") != NULL);
	CHECK(out == NULL);
}

static void test_kind_names(void)
{
	CHECK_STR(file__kind(S_IFIFO), "a FIFO");
	CHECK_STR(file__kind(S_IFSOCK), "a socket");
	CHECK_STR(file__kind(S_IFBLK), "a block device");
}

static void cleanup(void)
{
	const char *names[] = {"reg", "fifo", "link-reg", "link-fifo", "dangling"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(tmp(names[i]));
	rmdir(tmp("dir"));
	rmdir(dir);
}

static void test_zz_cleanup(void)
{
	cleanup();
	CHECK(access(dir, F_OK) != 0);
}

CHECK_MAIN("file", CHECK_CASE(test_image_regular), CHECK_CASE(test_image_fifo_refused),
	   CHECK_CASE(test_image_other_kinds_refused),
	   CHECK_CASE(test_links_followed_target_checked), CHECK_CASE(test_disk),
	   CHECK_CASE(test_sink_fifo_without_reader),
	   CHECK_CASE(test_sink_regular_created_and_appended),
	   CHECK_CASE(test_sink_dangling_link_not_followed),
	   CHECK_CASE(test_console_in_fifo_without_writer), CHECK_CASE(test_check),
	   CHECK_CASE(test_full_pipe_drops_and_counts), CHECK_CASE(test_cut_record_ends_its_line),
	   CHECK_CASE(test_read_whole), CHECK_CASE(test_kind_names), CHECK_CASE(test_zz_cleanup))
