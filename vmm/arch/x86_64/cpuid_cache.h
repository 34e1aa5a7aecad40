/* KVM's supported CPUID kept in a file between runs (ember --cpuid-cache FILE).
 *
 * KVM_GET_SUPPORTED_CPUID runs CPUID on the host for every leaf and subleaf. Where the
 * host is itself a guest (a cloud instance, nested or kvm_pvm), each CPUID traps to
 * the hypervisor below: 0.3-0.4 ms per VM start on such hosts, the largest single
 * step before the guest's first instruction. The answer depends only on the host's
 * CPU and on the KVM module that is loaded, so it is kept keyed on the /dev/kvm device
 * node that was opened: its device number and modification time. Booting again or
 * loading KVM again makes a new node (devtmpfs), so either one makes the file stale,
 * and it is then asked again and rewritten. Not its inode or change time: ember-jailer
 * makes each jail a node of its own, and gives it the host node's modification time,
 * so that one file serves every jail.
 *
 * The file is input like any other: it is refused, with a warning and a fresh answer
 * from KVM, unless it is a regular file of exactly the expected size, with this
 * version's magic, the same key, at most CPUID_MAX_ENTRIES entries and a matching
 * checksum (cpuid_cache__sum). It is written beside its path and renamed over it, so
 * concurrent starts never read half of one. */
#ifndef EMBER_X86_CPUID_CACHE_H
#define EMBER_X86_CPUID_CACHE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/* What identifies the KVM whose answer a file holds. */
struct cpuid_cache_key {
	uint64_t rdev;
	int64_t mtime_sec, mtime_nsec;
};

/* The key of the KVM behind kvm_fd (an opened /dev/kvm). 0, or -1 with errno. */
int cpuid_cache__key(int kvm_fd, struct cpuid_cache_key *key);

/* The file's size for nent entries. */
size_t cpuid_cache__size(unsigned nent);
/* The checksum that ends the file, of its len bytes before it: against a torn or
 * damaged file, not against tampering (the file's permissions keep others out). Not
 * the snapshots' CRC-64, whose 16 KiB of tables, cold in each new process, took 10-14
 * us per start for these 3 KiB on our hosts (this: under 1 us). */
uint64_t cpuid_cache__sum(const void *buf, size_t len);
/* Writes c's entries under key into buf, which holds cpuid_cache__size(c->nent). */
void cpuid_cache__format(void *buf, const struct cpuid_cache_key *key, const struct kvm_cpuid2 *c);

enum cpuid_cache_verdict {
	CPUID_CACHE_HIT,
	CPUID_CACHE_STALE, /* a good file for another KVM: expected after a reboot */
	CPUID_CACHE_BAD,   /* not a file this version wrote, or damaged */
};
/* Checks a file's len bytes against key and, on a hit, copies its entries into out,
 * which has room for max (out->nent is set). Otherwise *why says what is wrong. Pure:
 * fuzzed (tests/fuzz/fuzz_cpuid_cache.c). */
enum cpuid_cache_verdict cpuid_cache__parse(const void *buf, size_t len,
					    const struct cpuid_cache_key *key,
					    struct kvm_cpuid2 *out, unsigned max, const char **why);
/* The two halves of cpuid_cache__parse, for a reader that reads the file in pieces:
 * the head (the bytes before the first entry) against the file's length, which gives
 * the number of entries; then the head, the entries and the file's last 8 bytes (its
 * checksum) against the key. HIT where the next step may go on, else *why. */
enum cpuid_cache_verdict cpuid_cache__check_head(const void *head, size_t len, unsigned max,
						 unsigned *nent, const char **why);
enum cpuid_cache_verdict cpuid_cache__check_body(const void *head, const void *entries,
						 unsigned nent, uint64_t sum,
						 const struct cpuid_cache_key *key,
						 const char **why);

/* The file, for every VM of this process: set once from the command line before any
 * thread exists, read afterwards. NULL (the default): no file. */
void cpuid_cache__set_path(const char *path);

/* With a file set: 0 and its entries in c (room for max) when it holds kvm_fd's KVM's
 * answer; -1 when there is no file, or it is stale (debug line) or refused (warning). */
int cpuid_cache__load(int kvm_fd, struct kvm_cpuid2 *c, unsigned max);
/* With a file set: writes c as kvm_fd's KVM's answer. A failure is a warning: the next
 * start asks KVM again. */
void cpuid_cache__store(int kvm_fd, const struct kvm_cpuid2 *c);

#endif
