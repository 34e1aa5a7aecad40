#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static __thread char last_error[160];

static int fail(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	errno = errnum;
	return -1;
}

static int fail_errno(void)
{
	return fail(errno, "%s", strerror(errno));
}

const char *file__error(void)
{
	return last_error[0] ? last_error : "no error";
}

const char *file__kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFLNK:
		return "a symbolic link";
	default:
		return "of an unknown kind";
	}
}

static bool kind_ok(enum file_use use, mode_t mode)
{
	switch (use) {
	case FILE_IMAGE:
		return S_ISREG(mode);
	case FILE_DISK_RO:
	case FILE_DISK_RW:
		return S_ISREG(mode) || S_ISBLK(mode);
	case FILE_SINK:
	case FILE_CONSOLE_OUT:
	case FILE_CONSOLE_IN:
		return S_ISREG(mode) || S_ISFIFO(mode) || S_ISCHR(mode);
	}
	return false;
}

static const char *kinds_wanted(enum file_use use)
{
	switch (use) {
	case FILE_IMAGE:
		return "a regular file";
	case FILE_DISK_RO:
	case FILE_DISK_RW:
		return "a regular file or a block device";
	default:
		return "a regular file, a FIFO or a character device";
	}
}

static int refuse_kind(enum file_use use, mode_t mode)
{
	/* EISDIR where it fits, so that callers that only look at errno say so. */
	return fail(S_ISDIR(mode) ? EISDIR : EINVAL, "is %s, not %s", file__kind(mode),
		    kinds_wanted(use));
}

static bool creates(enum file_use use)
{
	return use == FILE_SINK || use == FILE_CONSOLE_OUT;
}

/* Access mode for an existing file of this kind. */
static int open_flags(enum file_use use, mode_t mode)
{
	switch (use) {
	case FILE_IMAGE:
	case FILE_DISK_RO:
	case FILE_CONSOLE_IN:
		return O_RDONLY;
	case FILE_DISK_RW:
		return O_RDWR;
	case FILE_SINK:
	case FILE_CONSOLE_OUT:
		/* A FIFO opened write-only fails (O_NONBLOCK) or waits (without) until a
		 * reader comes; read-write it always opens, and ember never reads it. */
		if (S_ISFIFO(mode))
			return O_RDWR;
		return S_ISREG(mode) ? O_WRONLY | O_APPEND : O_WRONLY;
	}
	return O_RDONLY;
}

static int access_mode(enum file_use use)
{
	switch (use) {
	case FILE_DISK_RW:
		return R_OK | W_OK;
	case FILE_SINK:
	case FILE_CONSOLE_OUT:
		return W_OK;
	default:
		return R_OK;
	}
}

int file__check(const char *path, enum file_use use)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT && creates(use))
			return 0; /* file__open() creates it */
		return fail_errno();
	}
	if (!kind_ok(use, st.st_mode))
		return refuse_kind(use, st.st_mode);
	if (access(path, access_mode(use)) < 0)
		return fail_errno();
	return 0;
}

/* Creates a missing sink. O_EXCL also refuses to follow a link at the last
 * component, so a dangling link cannot make ember create a file elsewhere. */
static int create_sink(const char *path)
{
	struct stat lst;
	if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
		return fail(ENOENT, "is a symbolic link to a file that does not exist");
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? -2 : fail_errno();
	return fd;
}

static int open_existing(const char *path, enum file_use use, const struct stat *st)
{
	if (!kind_ok(use, st->st_mode))
		return refuse_kind(use, st->st_mode);
	/* O_NONBLOCK: if the path was swapped for a FIFO since the stat, the open
	 * still returns at once, and the check below refuses it. */
	int fd = open(path, open_flags(use, st->st_mode) | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail_errno();
	return fd;
}

/* file__open, which also gives the open file's fstat (*after). */
static int open_stat(const char *path, enum file_use use, struct stat *after_out)
{
	last_error[0] = '\0';
	struct stat before, after;
	int fd = -1;
	bool created = false;
	/* Two rounds: the path may appear between a failed stat and the O_EXCL create. */
	for (int round = 0; round < 2 && fd < 0; round++) {
		if (stat(path, &before) == 0) {
			fd = open_existing(path, use, &before);
			if (fd < 0)
				return -1;
		} else if (errno == ENOENT && creates(use)) {
			fd = create_sink(path);
			if (fd == -1)
				return -1;
			created = fd >= 0;
		} else {
			return fail_errno();
		}
	}
	if (fd < 0)
		return fail(EBUSY, "changed while it was being opened");
	if (fstat(fd, &after) < 0) {
		fail_errno();
		goto fail;
	}
	if (!kind_ok(use, after.st_mode) || (created && !S_ISREG(after.st_mode))) {
		refuse_kind(use, after.st_mode);
		goto fail;
	}
	if (!created && (after.st_dev != before.st_dev || after.st_ino != before.st_ino)) {
		fail(EBUSY, "changed while it was being opened");
		goto fail;
	}
	bool blocking = use != FILE_SINK && use != FILE_CONSOLE_IN &&
			!(use == FILE_CONSOLE_OUT && S_ISFIFO(after.st_mode));
	if (blocking) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
			fail_errno();
			goto fail;
		}
	}
	*after_out = after;
	return fd;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int file__open(const char *path, enum file_use use)
{
	struct stat st;
	return open_stat(path, use, &st);
}

static _Atomic uint64_t dropped[FILE_NR_SINKS];
/* A record went in part: the reader's line is open until a newline follows. */
static atomic_bool cut[FILE_NR_SINKS];

static ssize_t write_retry(int fd, const void *buf, size_t len)
{
	ssize_t n;
	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

int file__write_record(int fd, enum file_sink_id sink, const void *buf, size_t len)
{
	ssize_t n = 0;
	if (atomic_load(&cut[sink])) {
		n = write_retry(fd, "\n", 1);
		if (n == 1)
			atomic_store(&cut[sink], false);
	}
	if (n >= 0 && !atomic_load(&cut[sink]))
		n = write_retry(fd, buf, len);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && errno != EAGAIN)
		return -1; /* a real error: the caller reports it */
	/* A record longer than PIPE_BUF can go in part; the next record then starts
	 * with the newline that ends the cut one. */
	if (n > 0 && len && ((const char *)buf)[len - 1] == '\n')
		atomic_store(&cut[sink], true);
	atomic_fetch_add(&dropped[sink], 1);
	errno = EAGAIN;
	return -1;
}

uint64_t file__dropped(enum file_sink_id sink)
{
	return atomic_load(&dropped[sink]);
}

int file__open_image(const char *path, struct file_image *img)
{
	struct stat st;
	img->fd = open_stat(path, FILE_IMAGE, &st);
	if (img->fd < 0)
		return -1;
	img->size = (uint64_t)st.st_size;
	if (img->size == 0) {
		close(img->fd);
		img->fd = -1;
		return fail(EINVAL, "file is empty");
	}
	return 0;
}

int file__read_at(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail_errno();
		if (n == 0)
			return fail(EIO, "the file ended early (was it truncated while loading?)");
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int file__read_small(const char *path, size_t max, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	struct stat st;
	int fd = open_stat(path, FILE_IMAGE, &st);
	if (fd < 0)
		return -1;
	int rc = -1;
	char *buf = NULL;
	/* Checked before reading, so that a huge file costs nothing. */
	if ((uint64_t)st.st_size > max) {
		rc = fail(EFBIG, "larger than %zu bytes", max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = fail(ENOMEM, "out of memory");
		goto out;
	}
	if (file__read_at(fd, buf, (size_t)st.st_size, 0))
		goto out;
	buf[st.st_size] = 0;
	*out = buf;
	*len = (size_t)st.st_size;
	buf = NULL;
	rc = 0;
out:;
	int saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return rc;
}
