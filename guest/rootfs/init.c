/*
 * ember guest init (PID 1), for the rootfs on virtio-blk and for the initramfs.
 *
 * 1. Writes the byte 123 to guest-physical 0xd0000000 (ember's boot-timer
 *    device) through /dev/mem, before anything else.
 * 2. Mounts proc, sysfs, devtmpfs.
 * 3. Runs the scenario named by `ember.test=NAME` on the kernel command line:
 *    exec /bin/sh /etc/ember/scenario.sh NAME. Without ember.test it prints a
 *    line and reboots (reboot=k makes ember exit 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ember's layout per architecture: aarch64 builds pass -DBOOT_TIMER_ADDR=0x40000000UL. */
#ifndef BOOT_TIMER_ADDR
#define BOOT_TIMER_ADDR 0xd0000000UL
#endif
#define BOOT_TIMER_MAGIC 123

static void say(const char *msg)
{
	ssize_t r = write(2, msg, strlen(msg));
	(void)r;
}

static int open_devmem(void)
{
	int fd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	/* No devtmpfs on /dev yet: make the node, or mount devtmpfs if / is read-only. */
	mkdir("/dev", 0755);
	if (mknod("/dev/mem", S_IFCHR | 0600, makedev(1, 1)) == 0 || errno == EEXIST)
		return open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) == 0 || errno == EBUSY)
		return open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
	return -1;
}

static void boot_timer(void)
{
	int fd = open_devmem();
	if (fd < 0) {
		say("ember-init: cannot open /dev/mem; boot timer not written\n");
		return;
	}
	long page = sysconf(_SC_PAGESIZE);
	volatile uint8_t *p =
	    mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, BOOT_TIMER_ADDR);
	if (p != MAP_FAILED) {
		*p = BOOT_TIMER_MAGIC;
		munmap((void *)p, (size_t)page);
	} else {
		uint8_t b = BOOT_TIMER_MAGIC;
		if (pwrite(fd, &b, 1, (off_t)BOOT_TIMER_ADDR) != 1)
			say("ember-init: boot timer write failed\n");
	}
	close(fd);
}

static void mount_one(const char *src, const char *dir, const char *type, const char *opts)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, MS_NOSUID, opts) < 0 && errno != EBUSY) {
		char buf[160];
		snprintf(buf, sizeof(buf), "ember-init: mount %s on %s: %s\n", type, dir,
			 strerror(errno));
		say(buf);
	}
}

static void console_stdio(void)
{
	if (fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0)
		return;
	int fd = open("/dev/console", O_RDWR);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

/* Value of `key=` in /proc/cmdline, copied into out; 0 if found. */
static int cmdline_get(const char *key, char *out, size_t outlen)
{
	char buf[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	size_t klen = strlen(key);
	for (char *tok = strtok(buf, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
		if (strncmp(tok, key, klen) == 0 && tok[klen] == '=') {
			snprintf(out, outlen, "%s", tok + klen + 1);
			return 0;
		}
	}
	return -1;
}

int main(void)
{
	boot_timer();

	if (access("/dev/null", F_OK) != 0) /* the kernel mounts it itself for a disk root */
		mount_one("devtmpfs", "/dev", "devtmpfs", "mode=0755");
	console_stdio();
	mount_one("proc", "/proc", "proc", NULL);
	mount_one("sysfs", "/sys", "sysfs", NULL);
	mount_one("tmpfs", "/tmp", "tmpfs", "mode=1777");
	setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
	setenv("HOME", "/", 1);

	char name[128];
	if (cmdline_get("ember.test", name, sizeof(name)) == 0 && name[0]) {
		execl("/bin/sh", "sh", "/etc/ember/scenario.sh", name, (char *)NULL);
		char buf[200];
		snprintf(buf, sizeof(buf), "EMBER-RESULT %s FAIL cannot exec /bin/sh: %s\n", name,
			 strerror(errno));
		say(buf);
	} else {
		say("ember-init: no ember.test= on the kernel command line; rebooting\n");
	}
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}
