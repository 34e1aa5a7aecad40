#include "cpuid_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "log.h"

/* The file: this header, nent entries as KVM returns them, then cpuid_cache__sum of
 * every byte before it. Host byte order: the file never leaves the host that wrote it. */
static const char cache_magic[8] = "EMBRCPU3";

struct cache_head {
	char magic[8];
	uint32_t entry_size; /* sizeof(struct kvm_cpuid_entry2) */
	uint32_t nent;
	struct cpuid_cache_key key;
};
/* So that the head and the entries sum as pieces as they do as one buffer. */
_Static_assert(sizeof(struct cache_head) % 8 == 0, "the head is whole words");

/* Each 8-byte word (the last one padded with zeros) is folded in with a multiply and a
 * shift, and the length last: a changed, lost or moved word changes the sum. */
static uint64_t sum_mix(uint64_t h, uint64_t word)
{
	h = (h ^ word) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static uint64_t sum_words(uint64_t h, const uint8_t *p, size_t len)
{
	uint64_t w;
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		h = sum_mix(h, w);
	}
	if (len) {
		w = 0;
		memcpy(&w, p, len);
		h = sum_mix(h, w);
	}
	return h;
}

/* The sum of a then b, as of one buffer (a's length a multiple of 8). */
static uint64_t sum_two(const void *a, size_t alen, const void *b, size_t blen)
{
	uint64_t h = sum_words(0x243f6a8885a308d3ull, a, alen);
	return sum_mix(sum_words(h, b, blen), alen + blen);
}

uint64_t cpuid_cache__sum(const void *buf, size_t len)
{
	return sum_two(NULL, 0, buf, len);
}

/* Process-wide on purpose: chosen once at start-up, before any thread exists, and
 * only read afterwards (like the seccomp settings). */
static const char *cache_path;

void cpuid_cache__set_path(const char *path)
{
	cache_path = path;
}

int cpuid_cache__key(int kvm_fd, struct cpuid_cache_key *key)
{
	struct stat st;
	if (fstat(kvm_fd, &st) < 0)
		return -1;
	*key = (struct cpuid_cache_key){
	    .rdev = st.st_rdev, .mtime_sec = st.st_mtim.tv_sec, .mtime_nsec = st.st_mtim.tv_nsec};
	return 0;
}

size_t cpuid_cache__size(unsigned nent)
{
	return sizeof(struct cache_head) + (size_t)nent * sizeof(struct kvm_cpuid_entry2) +
	       sizeof(uint64_t);
}

void cpuid_cache__format(void *buf, const struct cpuid_cache_key *key, const struct kvm_cpuid2 *c)
{
	struct cache_head h = {.entry_size = sizeof(struct kvm_cpuid_entry2), .nent = c->nent};
	memcpy(h.magic, cache_magic, sizeof(h.magic));
	h.key = *key;
	uint8_t *p = buf;
	memcpy(p, &h, sizeof(h));
	size_t body = (size_t)c->nent * sizeof(struct kvm_cpuid_entry2);
	memcpy(p + sizeof(h), c->entries, body);
	uint64_t sum = cpuid_cache__sum(p, sizeof(h) + body);
	memcpy(p + sizeof(h) + body, &sum, sizeof(sum));
}

enum cpuid_cache_verdict cpuid_cache__check_head(const void *head, size_t len, unsigned max,
						 unsigned *nent, const char **why)
{
	struct cache_head h;
	if (len < cpuid_cache__size(0)) {
		*why = "too short to be a CPUID cache";
		return CPUID_CACHE_BAD;
	}
	memcpy(&h, head, sizeof(h));
	if (memcmp(h.magic, cache_magic, sizeof(h.magic)) != 0) {
		*why = "not a CPUID cache of this ember version";
		return CPUID_CACHE_BAD;
	}
	if (h.entry_size != sizeof(struct kvm_cpuid_entry2)) {
		*why = "entries of another size";
		return CPUID_CACHE_BAD;
	}
	if (h.nent == 0 || h.nent > max) {
		*why = "no entries, or more than KVM can return";
		return CPUID_CACHE_BAD;
	}
	if (len != cpuid_cache__size(h.nent)) {
		*why = "its size does not match its entry count";
		return CPUID_CACHE_BAD;
	}
	*nent = h.nent;
	*why = NULL;
	return CPUID_CACHE_HIT;
}

enum cpuid_cache_verdict cpuid_cache__check_body(const void *head, const void *entries,
						 unsigned nent, uint64_t sum,
						 const struct cpuid_cache_key *key,
						 const char **why)
{
	if (sum != sum_two(head, sizeof(struct cache_head), entries,
			   (size_t)nent * sizeof(struct kvm_cpuid_entry2))) {
		*why = "its checksum does not match";
		return CPUID_CACHE_BAD;
	}
	struct cache_head h;
	memcpy(&h, head, sizeof(h));
	if (memcmp(&h.key, key, sizeof(*key)) != 0) {
		*why = "written for another KVM (/dev/kvm is a new node: a reboot or a reload)";
		return CPUID_CACHE_STALE;
	}
	*why = NULL;
	return CPUID_CACHE_HIT;
}

enum cpuid_cache_verdict cpuid_cache__parse(const void *buf, size_t len,
					    const struct cpuid_cache_key *key,
					    struct kvm_cpuid2 *out, unsigned max, const char **why)
{
	unsigned nent;
	enum cpuid_cache_verdict v = cpuid_cache__check_head(buf, len, max, &nent, why);
	if (v != CPUID_CACHE_HIT)
		return v;
	const uint8_t *entries = (const uint8_t *)buf + sizeof(struct cache_head);
	size_t body = (size_t)nent * sizeof(struct kvm_cpuid_entry2);
	uint64_t sum;
	memcpy(&sum, entries + body, sizeof(sum));
	v = cpuid_cache__check_body(buf, entries, nent, sum, key, why);
	if (v != CPUID_CACHE_HIT)
		return v;
	out->nent = nent;
	memcpy(out->entries, entries, body);
	return CPUID_CACHE_HIT;
}

/* Reads the file at path straight into c's entries (no buffer of its own: a heap one was
 * a fresh mapping per start, unmapped again while the start-up helper ran). CPUID_CACHE_HIT
 * with c->nent set; otherwise *why, or NULL and errno with file__error() when the file
 * could not be read. */
static enum cpuid_cache_verdict read_file(const char *path, const struct cpuid_cache_key *key,
					  struct kvm_cpuid2 *c, unsigned max, const char **why)
{
	struct file_image img;
	*why = NULL;
	if (file__open_image(path, &img))
		return CPUID_CACHE_BAD;
	struct cache_head head;
	unsigned nent = 0;
	uint64_t sum = 0;
	enum cpuid_cache_verdict v = CPUID_CACHE_BAD;
	size_t want = img.size < sizeof(head) ? (size_t)img.size : sizeof(head);
	if (file__read_at(img.fd, &head, want, 0) == 0)
		v = cpuid_cache__check_head(&head, (size_t)img.size, max, &nent, why);
	size_t body = (size_t)nent * sizeof(struct kvm_cpuid_entry2);
	if (v == CPUID_CACHE_HIT && (file__read_at(img.fd, c->entries, body, sizeof(head)) ||
				     file__read_at(img.fd, &sum, sizeof(sum), sizeof(head) + body)))
		v = CPUID_CACHE_BAD;
	else if (v == CPUID_CACHE_HIT)
		v = cpuid_cache__check_body(&head, c->entries, nent, sum, key, why);
	close(img.fd);
	if (v == CPUID_CACHE_HIT)
		c->nent = nent;
	return v;
}

int cpuid_cache__load(int kvm_fd, struct kvm_cpuid2 *c, unsigned max)
{
	struct cpuid_cache_key key;
	if (!cache_path || cpuid_cache__key(kvm_fd, &key) < 0)
		return -1;
	const char *why;
	enum cpuid_cache_verdict v = read_file(cache_path, &key, c, max, &why);
	if (v == CPUID_CACHE_HIT) {
		pr_debug("--cpuid-cache '%s': KVM's supported CPUID, %u entries", cache_path,
			 c->nent);
		return 0;
	}
	if (!why && errno == ENOENT)
		pr_debug("--cpuid-cache '%s': none yet; asking KVM", cache_path);
	else if (!why)
		pr_warn("--cpuid-cache '%s': %s; asking KVM", cache_path, file__error());
	else if (v == CPUID_CACHE_STALE)
		pr_debug("--cpuid-cache '%s': %s; asking KVM", cache_path, why);
	else
		pr_warn("--cpuid-cache '%s': refused: %s; asking KVM", cache_path, why);
	return -1;
}

void cpuid_cache__store(int kvm_fd, const struct kvm_cpuid2 *c)
{
	struct cpuid_cache_key key;
	struct stat st;
	if (!cache_path || cpuid_cache__key(kvm_fd, &key) < 0)
		return;
	/* Something that is not a regular file was refused when read; it stays. */
	if (stat(cache_path, &st) == 0 && !S_ISREG(st.st_mode))
		return;
	uint64_t salt = 0;
	char tmp[4096];
	if (getrandom(&salt, sizeof(salt), GRND_NONBLOCK) != sizeof(salt))
		salt = (uint64_t)(uintptr_t)&salt ^ (uint64_t)key.mtime_nsec;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%016llx", cache_path,
			     (unsigned long long)salt) >= sizeof(tmp)) {
		pr_warn("--cpuid-cache '%s': path too long", cache_path);
		return;
	}
	size_t len = cpuid_cache__size(c->nent);
	void *buf = malloc(len);
	if (!buf)
		return;
	cpuid_cache__format(buf, &key, c);
	const char *failed = "open";
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	bool ok = fd >= 0;
	for (size_t done = 0; ok && done < len;) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			failed = "write";
			ok = false;
			if (n == 0)
				errno = EIO;
			break;
		}
		done += (size_t)n;
	}
	int err = errno;
	if (fd >= 0 && close(fd) < 0 && ok) {
		failed = "close";
		err = errno;
		ok = false;
	}
	if (ok && rename(tmp, cache_path) < 0) {
		failed = "rename";
		err = errno;
		ok = false;
	}
	if (!ok) {
		if (fd >= 0)
			unlink(tmp);
		pr_warn("--cpuid-cache '%s': cannot write it (%s: %s); the next start asks KVM "
			"again",
			cache_path, failed, strerror(err));
	}
	free(buf);
}
