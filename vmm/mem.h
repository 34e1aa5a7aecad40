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
/* Where RAM starts, and how much of it fits before the first hole (then the rest
 * starts at MEM_HIGH_BASE). aarch64: one region from 2 GiB, as Firecracker's. */
#if defined(__aarch64__)
#define MEM_RAM_BASE  0x80000000ull
#define MEM_LOW_LIMIT (1ull << 46)
#define MEM_HIGH_BASE 0
#else
#define MEM_RAM_BASE  0
#define MEM_LOW_LIMIT MEM_32BIT_GAP_START
#define MEM_HIGH_BASE MEM_4G
#endif

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

/* End (exclusive) of the first RAM region: x86, the RAM below the 32-bit gap. */
uint64_t guest_mem__low_end(const struct guest_mem *mem);

#endif
