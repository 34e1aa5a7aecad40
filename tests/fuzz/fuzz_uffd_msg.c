/* libFuzzer target for the page-fault handlers' parser of the VMM's region list
 * (tools/uffd/msg.c): the message arrives on a socket the handler listens on. The
 * first 8 bytes choose the memory file's size; the rest is the message. Whatever the
 * parser accepts must hold its promises: regions inside the file, page-aligned,
 * not overlapping, and found by uffd_msg__find. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/uffd/msg.h"

#define PAGE 4096ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	uint64_t file_size;
	memcpy(&file_size, data, 8);
	struct uffd_region r[UFFD_MSG_MAX_REGIONS];
	char err[256];
	int n =
	    uffd_msg__parse((const char *)data + 8, size - 8, file_size, PAGE, r, err, sizeof(err));
	if (n < 0)
		return memchr(err, 0, sizeof(err)) && err[0] ? 0 : (abort(), 0);
	if (n == 0 || n > UFFD_MSG_MAX_REGIONS)
		abort();
	for (int i = 0; i < n; i++) {
		if (!r[i].size || (r[i].base | r[i].size | r[i].offset) % PAGE ||
		    r[i].offset + r[i].size > file_size || r[i].offset + r[i].size < r[i].offset ||
		    r[i].base + r[i].size < r[i].base)
			abort();
		if (uffd_msg__find(r, (unsigned)n, r[i].base) != &r[i] ||
		    uffd_msg__find(r, (unsigned)n, r[i].base + r[i].size - 1) != &r[i])
			abort();
		for (int j = 0; j < i; j++)
			if (r[i].base < r[j].base + r[j].size && r[j].base < r[i].base + r[i].size)
				abort();
	}
	return 0;
}
