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
	/* One bit per page that ember itself wrote (virtio buffers and rings), which
	 * KVM's dirty log does not see; NULL unless dirty pages are tracked. */
	uint64_t *dirty;
};

/* Maps `size` bytes of anonymous, MAP_NORESERVE memory and lays it out. */
int guest_mem__init(struct guest_mem *mem, uint64_t size);
void guest_mem__destroy(struct guest_mem *mem);

/* Host pointer to [gpa, gpa+len) if the whole range lies in one region, else NULL.
 * Every guest-supplied address goes through here. */
void *guest_mem__ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Diff snapshots: start tracking the pages ember writes (0, or -1 with errno). */
int guest_mem__track_dirty(struct guest_mem *mem);
/* Any thread: [hva, hva+len), a range inside guest memory, was written by ember. */
void guest_mem__mark_dirty(const struct guest_mem *mem, const void *hva, uint64_t len);
/* Sets in out the bits of pages [first, first+n) (host-layout page numbers) marked
 * since the last call, and clears them. */
void guest_mem__take_dirty(const struct guest_mem *mem, uint64_t first, uint64_t n, uint64_t *out);

/* Highest guest-physical address of RAM below the 32-bit gap (exclusive). */
uint64_t guest_mem__low_end(const struct guest_mem *mem);

#endif
