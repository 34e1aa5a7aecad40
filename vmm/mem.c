#include "mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int guest_mem__init(struct guest_mem *mem, uint64_t size)
{
	memset(mem, 0, sizeof(*mem));
	if (size == 0 || size > (1ull << 46)) {
		errno = EINVAL;
		return -1;
	}
	/* MAP_NORESERVE: a FaaS host overcommits; pages cost only when the guest touches them. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	mem->base = p;
	mem->total = size;
	uint64_t low = size < MEM_LOW_LIMIT ? size : MEM_LOW_LIMIT;
	mem->regions[0] = (struct mem_region){.gpa = MEM_RAM_BASE, .size = low, .hva = p};
	mem->nr_regions = 1;
	if (size > low) {
		mem->regions[1] = (struct mem_region){
		    .gpa = MEM_HIGH_BASE, .size = size - low, .hva = (uint8_t *)p + low};
		mem->nr_regions = 2;
	}
	return 0;
}

int guest_mem__track_dirty(struct guest_mem *mem)
{
	if (mem->dirty)
		return 0;
	mem->dirty = calloc((mem->total / 4096 + 63) / 64, sizeof(uint64_t));
	return mem->dirty ? 0 : -1;
}

void guest_mem__mark_dirty(const struct guest_mem *mem, const void *hva, uint64_t len)
{
	if (!mem->dirty || !len)
		return;
	uint64_t off = (uint64_t)((const uint8_t *)hva - mem->base);
	for (uint64_t p = off / 4096; p <= (off + len - 1) / 4096; p++)
		__atomic_fetch_or(&mem->dirty[p / 64], 1ull << (p % 64), __ATOMIC_RELAXED);
}

void guest_mem__take_dirty(const struct guest_mem *mem, uint64_t first, uint64_t n, uint64_t *out)
{
	if (!mem->dirty)
		return;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = first + i, bit = 1ull << (p % 64);
		if (__atomic_fetch_and(&mem->dirty[p / 64], ~bit, __ATOMIC_RELAXED) & bit)
			out[i / 64] |= 1ull << (i % 64);
	}
}

void guest_mem__destroy(struct guest_mem *mem)
{
	free(mem->dirty);
	if (mem->base)
		munmap(mem->base, mem->total);
	memset(mem, 0, sizeof(*mem));
}

void *guest_mem__ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct mem_region *r = &mem->regions[i];
		/* Written so that no sum can overflow: gpa and len are guest-controlled. */
		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		if (off >= r->size && !(off == r->size && len == 0))
			continue;
		if (len > r->size - off)
			return NULL;
		return r->hva + off;
	}
	return NULL;
}

int guest_mem__map_file(struct guest_mem *mem, int fd, uint64_t off, uint64_t len, uint64_t gpa)
{
	const uint64_t page_mask = 4095;
	uint64_t maplen = (len + page_mask) & ~page_mask;
	uint8_t *hva = guest_mem__ptr(mem, gpa, maplen);
	if (!hva || ((gpa | off) & page_mask)) {
		errno = EFAULT;
		return -1;
	}
	if (mmap(hva, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, (off_t)off) ==
	    MAP_FAILED)
		return -1;
	memset(hva + len, 0, maplen - len);
	return 0;
}

uint64_t guest_mem__low_end(const struct guest_mem *mem)
{
	return mem->regions[0].gpa + mem->regions[0].size;
}
