/* Guest physical memory: the only way device code reaches guest bytes. */
#ifndef EMBER_MEM_H
#define EMBER_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* x86_64 layout: RAM below the 32-bit MMIO gap, the rest above 4 GiB. */
#define MEM_32BIT_GAP_START 0xc0000000ull
#define MEM_4G		    0x100000000ull
#define MEM_MAX_REGIONS	    2

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct mem_region regions[MEM_MAX_REGIONS];
	unsigned nr_regions;
	uint8_t *base; /* one host mapping holds every region, in order */
	uint64_t total;
};

/* Maps `size` bytes of anonymous, MAP_NORESERVE memory and lays it out. */
int guest_mem__init(struct guest_mem *mem, uint64_t size);
void guest_mem__destroy(struct guest_mem *mem);

/* Host pointer to [gpa, gpa+len) if the whole range lies in one region, else NULL.
 * Every guest-supplied address goes through here. */
void *guest_mem__ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Highest guest-physical address of RAM below the 32-bit gap (exclusive). */
uint64_t guest_mem__low_end(const struct guest_mem *mem);

#endif
