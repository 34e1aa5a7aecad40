/* libFuzzer over the --cpuid-cache reader (vmm/arch/x86_64/cpuid_cache.c): a file
 * anyone with write access to its path may have written. The first input byte picks the
 * mode: even, the rest of the input as it is, against a fixed key; odd, the rest with
 * its checksum mended and its own key expected, so that inputs reach the checks after
 * the checksum and the copy of a hit. Any crash or sanitizer report, a hit whose entries
 * are not the file's, or a hit that formats back to other bytes is a finding. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/cpuid_cache.h"

/* Where the format puts the key and the first entry (cpuid_cache.c's header). */
#define KEY_OFFSET     16
#define ENTRIES_OFFSET (KEY_OFFSET + sizeof(struct cpuid_cache_key))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct {
		struct kvm_cpuid2 head;
		struct kvm_cpuid_entry2 entries[CPUID_MAX_ENTRIES];
	} out;
	if (size < 1)
		return 0;
	bool mend = data[0] & 1;
	size_t len = size - 1;
	uint8_t *buf = malloc(len ? len : 1);
	memcpy(buf, data + 1, len);
	struct cpuid_cache_key key = {1, 2, 3};
	if (mend && len >= cpuid_cache__size(0)) {
		memcpy(&key, buf + KEY_OFFSET, sizeof(key));
		uint64_t sum = cpuid_cache__sum(buf, len - sizeof(sum));
		memcpy(buf + len - sizeof(sum), &sum, sizeof(sum));
	}
	unsigned max = mend ? CPUID_MAX_ENTRIES : 1 + data[0] % CPUID_MAX_ENTRIES;
	const char *why = NULL;
	enum cpuid_cache_verdict v = cpuid_cache__parse(buf, len, &key, &out.head, max, &why);
	if (v == CPUID_CACHE_HIT) {
		assert(out.head.nent >= 1 && out.head.nent <= max);
		assert(len == cpuid_cache__size(out.head.nent));
		assert(!memcmp(out.entries, buf + ENTRIES_OFFSET,
			       out.head.nent * sizeof(struct kvm_cpuid_entry2)));
		uint8_t *again = malloc(len);
		cpuid_cache__format(again, &key, &out.head);
		assert(!memcmp(again, buf, len));
		free(again);
	} else {
		assert(why != NULL);
	}
	free(buf);
	return 0;
}
