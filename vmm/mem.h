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

/* Maps bytes [off, off+len) of the file fd at gpa, copy-on-write: a kernel or initrd
 * costs no copy, and its pages stay shared with the page cache until the guest writes
 * them. gpa and off are page-aligned; the rest of the last page past len, which is
 * the file's next bytes, is zeroed. 0, or -1 with errno (EFAULT: not in guest RAM). */
int guest_mem__map_file(struct guest_mem *mem, int fd, uint64_t off, uint64_t len, uint64_t gpa);

/* Diff snapshots: start tracking the pages ember writes (0, or -1 with errno). */
int guest_mem__track_dirty(struct guest_mem *mem);
/* Any thread: [hva, hva+len), a range inside guest memory, was written by ember. */
void guest_mem__mark_dirty(const struct guest_mem *mem, const void *hva, uint64_t len);
/* Sets in out the bits of pages [first, first+n) (host-layout page numbers) marked
 * since the last call, and clears them. */
void guest_mem__take_dirty(const struct guest_mem *mem, uint64_t first, uint64_t n, uint64_t *out);

/* End (exclusive) of the first RAM region: x86, the RAM below the 32-bit gap. */
uint64_t guest_mem__low_end(const struct guest_mem *mem);

#endif
