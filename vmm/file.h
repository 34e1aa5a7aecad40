/* Opening the paths a user hands ember: kernel, initrd, config file, drives, log,
 * metrics and serial files.
 *
 * Such a path can name anything. A FIFO with no writer blocks open(O_RDONLY)
 * forever, a FIFO with no reader blocks open(O_WRONLY), and opening a device node
 * can have effects of its own. Both stop the event loop of the thread that opens
 * (the VMM thread), so that GET / hangs and SIGTERM is never read. Each use below
 * says which kinds of file it takes; any other kind is refused by its name ("is a
 * FIFO") before it is opened, and the open itself is non-blocking, so a path
 * swapped for something else between the check and the open is refused too.
 *
 * Symbolic links are followed (kernels and drives are often links into a store);
 * the kind that counts is the final target's. A file that is created (a log,
 * metrics or serial output that does not exist yet) is created with O_EXCL, so a
 * dangling link is never followed to create a file somewhere else. */
#ifndef EMBER_FILE_H
#define EMBER_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum file_use {
	/* Kernel, initrd, config file: read-only; a regular file. */
	FILE_IMAGE,
	/* Drives: a regular file or a block device, read-only or read-write. */
	FILE_DISK_RO,
	FILE_DISK_RW,
	/* Log and metrics: a regular file (appended to; created 0600 if missing), a
	 * FIFO (opened read-write, as Firecracker does, so it needs no reader yet) or
	 * a character device. The fd stays non-blocking: a full pipe drops a record
	 * (file__write_record) instead of stopping the thread that logs. */
	FILE_SINK,
	/* Serial output: what FILE_SINK takes. Writes to a regular file or a device
	 * block (the UART stalls the writing vCPU rather than lose output); a FIFO
	 * stays non-blocking, so a full pipe drops bytes, as in Firecracker, and no
	 * vCPU waits forever for a reader that may never come. */
	FILE_CONSOLE_OUT,
	/* Serial input: a regular file, a FIFO (no writer needed) or a character
	 * device, read-only; stays non-blocking. */
	FILE_CONSOLE_IN,
};

/* Opens path for `use` with O_CLOEXEC. Returns the fd, or -1 with errno set and
 * the reason in file__error(). */
int file__open(const char *path, enum file_use use);

/* The checks of file__open() (the path exists, is of a kind `use` takes and is
 * accessible), without opening it: for refusing a path when it is configured.
 * 0, or -1 with errno set and the reason in file__error(). */
int file__check(const char *path, enum file_use use);

/* Why the calling thread's last file__open() or file__check() failed: "is a FIFO,
 * not a regular file", or strerror(errno). Valid until the thread's next call. */
const char *file__error(void);

/* "a FIFO", "a directory", ... for a stat mode. */
const char *file__kind(mode_t mode);

/* A kernel, initrd or CPUID cache opened as FILE_IMAGE for loading: its headers are read
 * (file__read_at) and its contents read or mapped into guest memory
 * (guest_mem__map_file), never mapped whole. Unmapping a parse mapping afterwards
 * interrupted every other CPU the process ran on (a TLB shootdown), while the start-up
 * helper was building the VM on one of them. */
struct file_image {
	int fd;
	uint64_t size;
};
/* 0, or -1 with errno and the reason in file__error() ("file is empty" among them). */
int file__open_image(const char *path, struct file_image *img);
/* Reads len bytes at offset off whole: 0, or -1 with errno (EIO: the file is shorter
 * than it was when opened) and the reason in file__error(). */
int file__read_at(int fd, void *buf, size_t len, uint64_t off);
/* Reads the small regular file at path (a config file, MMDS metadata) whole, opened
 * as FILE_IMAGE: *out is a malloc'd copy with a NUL after its *len bytes. 0, or -1 with
 * errno (EFBIG: more than max bytes) and the reason in file__error(). */
int file__read_small(const char *path, size_t max, char **out, size_t *len);

/* Sinks whose records are counted when dropped. */
enum file_sink_id { FILE_SINK_LOG, FILE_SINK_METRICS, FILE_NR_SINKS };

/* Writes one record to a non-blocking sink. A record that does not fit (a full
 * pipe whose reader is slow or absent) is dropped and counted, never waited for.
 * 0 when it was written whole, -1 with errno otherwise. Any thread may call it. */
int file__write_record(int fd, enum file_sink_id sink, const void *buf, size_t len);
/* Records dropped on `sink` since the start. */
uint64_t file__dropped(enum file_sink_id sink);

#endif
