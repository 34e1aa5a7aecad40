/* vmm/pagealloc.h: zeroed, aligned, writable to the last byte, freed, and a size
 * that cannot be mapped refused with ENOMEM. Under AddressSanitizer (make asan) the
 * same checks run over calloc. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "pagealloc.h"

static void zeroed_and_aligned(void)
{
	const size_t sizes[] = {1, 4096 - 16, 4096, 10968, 121960};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = pagealloc__zalloc(sizes[i]);
		CHECK(p != NULL);
		if (!p)
			continue;
		CHECK_EQ((uintptr_t)p % _Alignof(max_align_t), 0);
		size_t nonzero = 0;
		for (size_t j = 0; j < sizes[i]; j++)
			nonzero += p[j] != 0;
		CHECK_EQ(nonzero, 0);
		memset(p, 0xa5, sizes[i]);
		CHECK_EQ(p[sizes[i] - 1], 0xa5);
		pagealloc__free(p);
	}
	pagealloc__free(NULL);
}

static void freed_is_unmapped(void)
{
#ifndef PAGEALLOC_FROM_CALLOC
	uint8_t *p = pagealloc__zalloc(3 * 4096);
	CHECK(p != NULL);
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)4095;
	unsigned char in_core;
	CHECK_EQ(mincore((void *)page, 4096, &in_core), 0);
	pagealloc__free(p);
	/* mincore fails with ENOMEM on an address with no mapping. */
	errno = 0;
	CHECK_EQ(mincore((void *)page, 4096, &in_core), -1);
	CHECK_EQ(errno, ENOMEM);
#endif
}

static void too_big(void)
{
	errno = 0;
	CHECK(pagealloc__zalloc(SIZE_MAX - 8) == NULL);
	CHECK_EQ(errno, ENOMEM);
	errno = 0;
	CHECK(pagealloc__zalloc(SIZE_MAX / 2 + 1) == NULL);
	CHECK_EQ(errno, ENOMEM);
}

CHECK_MAIN("pagealloc", CHECK_CASE(zeroed_and_aligned), CHECK_CASE(freed_is_unmapped),
	   CHECK_CASE(too_big))
