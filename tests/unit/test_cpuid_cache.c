/* --cpuid-cache: the file's format, its checks, and loading and storing it. A temporary
 * file stands in for /dev/kvm: the key is only what fstat says of the descriptor. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuid_cache.h"
#include "check.h"
#include "log_capture.h"

static struct {
	struct kvm_cpuid2 head;
	struct kvm_cpuid_entry2 entries[CPUID_MAX_ENTRIES];
} answer, got;

static void fill_answer(unsigned nent)
{
	memset(&answer, 0, sizeof(answer));
	answer.head.nent = nent;
	for (unsigned i = 0; i < nent; i++)
		answer.entries[i] = (struct kvm_cpuid_entry2){
		    .function = i, .index = i % 3, .eax = 0x1000 + i, .ebx = ~i, .edx = i * 7};
}

static bool same_entries(void)
{
	return got.head.nent == answer.head.nent &&
	       memcmp(got.entries, answer.entries,
		      answer.head.nent * sizeof(struct kvm_cpuid_entry2)) == 0;
}

static const struct cpuid_cache_key key_a = {1, 2, 3}, key_b = {1, 2, 4};

/* The checksum: the values the kvm-tier's Python writer (t_cpuid_cache.sh) computes the
 * same way, then every flipped bit and every swap of two different words of a file-sized
 * buffer changes it, as does a zero word more. */
static void checksum(void)
{
	CHECK_EQ(cpuid_cache__sum("123456789", 9), 0x27b75d58149ecbdfull);
	CHECK_EQ(cpuid_cache__sum("", 0), 0xf7e27bed97b0321eull);
	uint8_t words[40];
	for (unsigned i = 0; i < sizeof(words); i++)
		words[i] = (uint8_t)i;
	CHECK_EQ(cpuid_cache__sum(words, sizeof(words)), 0x455ca391b4f86d7eull);

	fill_answer(75);
	size_t len = cpuid_cache__size(75) - 8;
	uint8_t *buf = malloc(len + 8);
	cpuid_cache__format(buf, &key_a, &answer.head);
	const uint64_t sum = cpuid_cache__sum(buf, len);
	unsigned same = 0;
	for (size_t bit = 0; bit < len * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		same += cpuid_cache__sum(buf, len) == sum;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CHECK_EQ(same, 0u);
	for (size_t a = 0; a + 8 <= len; a += 8)
		for (size_t b = a + 8; b + 8 <= len; b += 8) {
			uint64_t wa, wb;
			memcpy(&wa, buf + a, 8);
			memcpy(&wb, buf + b, 8);
			if (wa == wb)
				continue;
			memcpy(buf + a, &wb, 8);
			memcpy(buf + b, &wa, 8);
			same += cpuid_cache__sum(buf, len) == sum;
			memcpy(buf + a, &wa, 8);
			memcpy(buf + b, &wb, 8);
		}
	CHECK_EQ(same, 0u);
	memset(buf + len, 0, 8);
	CHECK(cpuid_cache__sum(buf, len + 8) != sum);
	free(buf);
}

static void round_trip_and_refusals(void)
{
	fill_answer(75);
	size_t len = cpuid_cache__size(75);
	uint8_t *buf = malloc(len + 1);
	cpuid_cache__format(buf, &key_a, &answer.head);
	const char *why = "unset";
	memset(&got, 0, sizeof(got));
	CHECK_EQ(cpuid_cache__parse(buf, len, &key_a, &got.head, CPUID_MAX_ENTRIES, &why),
		 CPUID_CACHE_HIT);
	CHECK(why == NULL);
	CHECK(same_entries());
	/* Another /dev/kvm node (a reboot, a reloaded module). */
	CHECK_EQ(cpuid_cache__parse(buf, len, &key_b, &got.head, CPUID_MAX_ENTRIES, &why),
		 CPUID_CACHE_STALE);
	CHECK(why && strstr(why, "another KVM"));
	/* More entries than the caller has room for. */
	CHECK_EQ(cpuid_cache__parse(buf, len, &key_a, &got.head, 74, &why), CPUID_CACHE_BAD);
	/* Cut short, one byte too many, a flipped bit, another magic. */
	CHECK_EQ(cpuid_cache__parse(buf, len - 1, &key_a, &got.head, CPUID_MAX_ENTRIES, &why),
		 CPUID_CACHE_BAD);
	CHECK(why && strstr(why, "size"));
	CHECK_EQ(cpuid_cache__parse(buf, len + 1, &key_a, &got.head, CPUID_MAX_ENTRIES, &why),
		 CPUID_CACHE_BAD);
	CHECK_EQ(cpuid_cache__parse(buf, 10, &key_a, &got.head, CPUID_MAX_ENTRIES, &why),
		 CPUID_CACHE_BAD);
	buf[100] ^= 0x10;
	CHECK_EQ(cpuid_cache__parse(buf, len, &key_a, &got.head, CPUID_MAX_ENTRIES, &why),
		 CPUID_CACHE_BAD);
	CHECK(why && strstr(why, "checksum"));
	buf[100] ^= 0x10;
	buf[0] = 'X';
	CHECK_EQ(cpuid_cache__parse(buf, len, &key_a, &got.head, CPUID_MAX_ENTRIES, &why),
		 CPUID_CACHE_BAD);
	CHECK(why && strstr(why, "not a CPUID cache"));
	/* No entries at all. */
	fill_answer(0);
	cpuid_cache__format(buf, &key_a, &answer.head);
	CHECK_EQ(cpuid_cache__parse(buf, cpuid_cache__size(0), &key_a, &got.head, CPUID_MAX_ENTRIES,
				    &why),
		 CPUID_CACHE_BAD);
	free(buf);
}

static char dir[64];

static void path_in_dir(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void load_and_store(void)
{
	char kvm_path[128], cache[128], log[4096];
	snprintf(dir, sizeof(dir), "/tmp/ember-cpuid-cache-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	path_in_dir(kvm_path, sizeof(kvm_path), "kvm");
	path_in_dir(cache, sizeof(cache), "cache");
	int kvm = open(kvm_path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(kvm >= 0);
	fill_answer(40);

	/* No file set: nothing read, nothing written. */
	cpuid_cache__set_path(NULL);
	CHECK_EQ(cpuid_cache__load(kvm, &got.head, CPUID_MAX_ENTRIES), -1);
	cpuid_cache__store(kvm, &answer.head);
	CHECK(access(cache, F_OK) != 0);

	char err[256] = "";
	CHECK_EQ(arch__set_cpuid_cache(cache, err, sizeof(err)), 0);
	CHECK_EQ(cpuid_cache__load(kvm, &got.head, CPUID_MAX_ENTRIES), -1); /* none yet */
	cpuid_cache__store(kvm, &answer.head);
	memset(&got, 0, sizeof(got));
	CHECK_EQ(cpuid_cache__load(kvm, &got.head, CPUID_MAX_ENTRIES), 0);
	CHECK(same_entries());

	/* A chmod or chown (its change time only, as ember-jailer's chown of a jail's node)
	 * keeps it. */
	struct timespec pause = {0, 2000000};
	nanosleep(&pause, NULL);
	CHECK_EQ(fchmod(kvm, 0640), 0);
	CHECK_EQ(cpuid_cache__load(kvm, &got.head, CPUID_MAX_ENTRIES), 0);
	/* Another node (another modification time: a reboot or a reloaded KVM makes a new
	 * node): stale, asked again, rewritten. */
	const struct timespec another[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 12345}};
	CHECK_EQ(futimens(kvm, another), 0);
	CHECK_EQ(cpuid_cache__load(kvm, &got.head, CPUID_MAX_ENTRIES), -1);
	cpuid_cache__store(kvm, &answer.head);
	CHECK_EQ(cpuid_cache__load(kvm, &got.head, CPUID_MAX_ENTRIES), 0);

	/* Damaged: refused with a warning that names the path and the reason. */
	int fd = open(cache, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "garbage", 7, 0) == 7);
	close(fd);
	log_to_temp("cpuid-cache");
	CHECK_EQ(cpuid_cache__load(kvm, &got.head, CPUID_MAX_ENTRIES), -1);
	log_back(log, sizeof(log));
	CHECK(strstr(log, "refused: not a CPUID cache") && strstr(log, cache));
	/* ... and a fresh answer replaces it. */
	cpuid_cache__store(kvm, &answer.head);
	CHECK_EQ(cpuid_cache__load(kvm, &got.head, CPUID_MAX_ENTRIES), 0);

	/* A FIFO at the path: refused when configured and when read, never written over. */
	CHECK_EQ(unlink(cache), 0);
	CHECK_EQ(mkfifo(cache, 0600), 0);
	CHECK_EQ(arch__set_cpuid_cache(cache, err, sizeof(err)), -1);
	CHECK(strstr(err, "FIFO") != NULL);
	log_to_temp("cpuid-cache");
	CHECK_EQ(cpuid_cache__load(kvm, &got.head, CPUID_MAX_ENTRIES), -1);
	cpuid_cache__store(kvm, &answer.head);
	log_back(log, sizeof(log));
	CHECK(strstr(log, "FIFO") != NULL);
	struct stat st;
	CHECK(stat(cache, &st) == 0 && S_ISFIFO(st.st_mode));
	CHECK_EQ(unlink(cache), 0);

	/* A directory that does not exist: the write fails with a warning, nothing else. */
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/no/such/dir", dir);
	CHECK_EQ(arch__set_cpuid_cache(missing, err, sizeof(err)), 0);
	log_to_temp("cpuid-cache");
	cpuid_cache__store(kvm, &answer.head);
	log_back(log, sizeof(log));
	CHECK(strstr(log, "cannot write it (open: No such file or directory)") != NULL);
	CHECK_EQ(arch__set_cpuid_cache("", err, sizeof(err)), -1);
	CHECK(strstr(err, "must not be empty") != NULL);

	cpuid_cache__set_path(NULL);
	close(kvm);
	unlink(kvm_path);
	CHECK_EQ(rmdir(dir), 0); /* no temporary file left behind */
}

CHECK_MAIN("cpuid_cache", CHECK_CASE(checksum), CHECK_CASE(round_trip_and_refusals),
	   CHECK_CASE(load_and_store))
