/* The vmstate container: what a snapshot's state file holds and how it is checked.
 *
 * File layout (all integers big-endian):
 *
 *   [0, T)        a flattened device tree (dtb, version 17) of T = fdt totalsize bytes
 *   [T, T+24)     trailer: "EMBERVMS" | u32 layout (1) | u32 T | u64 CRC-64/XZ
 *
 * The CRC covers every byte before it (the dtb and the first 16 trailer bytes). The dtb
 * comes first so that `dtc -I dtb -O dts FILE` prints the tree; dtc reads totalsize bytes
 * and ignores the trailer. The file is exactly T + 24 bytes long.
 *
 * Root node:
 *   compatible      = "ember,vmstate"
 *   format-version  = <major minor>     a reader refuses a newer major, accepts a newer minor
 *   ember-version   = "x.y.z"           the ember that wrote it
 *   host-cpu-vendor = "GenuineIntel"    CPUID leaf 0 of the host that wrote it
 *   cpuid           = [...]             optional: the CPUID given to the guest (a blob)
 * Other nodes are the snapshot code's; the conventions are:
 *   u32 = one cell, u64 = two cells (high, low), strings NUL-terminated, blobs raw bytes;
 *   /memory { #address-cells = <1>; #size-cells = <0>;
 *             region@N { reg = <N>; guest-address, size, file-offset (u64) } }
 *   a node with unit-address children (/vcpus/vcpu@N) carries the same two cells and each
 *   child reg = <N>, or dtc prints warnings; and standard DT property names (status,
 *   reg, compatible, name, device_type) keep their DT meaning, or dtc warns about them.
 *
 * Writer: vmstate_writer__init, then set properties by node path (missing nodes are
 * created). The first failure is kept; later calls return -1 and finish reports it.
 * Nodes and properties land in the file in creation order. libfdt cannot add "blk"
 * beside an existing "blk@1" (its lookup lets one match the other): create "blk" first.
 * Reader: vmstate__open / vmstate__parse check the whole file (size, trailer, checksum,
 * fdt_check_full, no two nodes or properties of one name, bounded node and property
 * counts, compatible, version) before any getter runs; getters match names exactly,
 * check presence and length and say which node and property was wrong. Nothing here is
 * thread-shared: each call works on the caller's writer or vmstate.
 * Errors: EXIT_USAGE for what the client gave (a path, a damaged or foreign file, a memory
 * file too small), EXIT_ERROR for host failures (memory, I/O) and writer misuse. */
#ifndef EMBER_VMSTATE_H
#define EMBER_VMSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define VMSTATE_COMPATIBLE "ember,vmstate"
#define VMSTATE_MAJOR	   1
/* 1.1: device rows save the virtio rate limiters' buckets and the balloon's state. */
#define VMSTATE_MINOR	       1
#define VMSTATE_TRAILER_MAGIC  "EMBERVMS"
#define VMSTATE_TRAILER_LAYOUT 1
#define VMSTATE_TRAILER_SIZE   24
/* A vmstate holds registers and device rows, not guest memory: 64 MiB is far above any
 * real one and bounds what a load reads into memory. */
#define VMSTATE_MAX_FILE  (64u << 20)
#define VMSTATE_PAGE_SIZE 4096u
/* Far above what a VM with 32 vCPUs and its devices stores; bounds the
 * checks for twin names. */
#define VMSTATE_MAX_NODES      4096
#define VMSTATE_MAX_PATH       256
#define VMSTATE_MAX_PROPS      65536
#define VMSTATE_MAX_NODE_PROPS 512

#define VMSTATE_PROP_COMPATIBLE "compatible"
#define VMSTATE_PROP_VERSION	"format-version"
#define VMSTATE_PROP_EMBER	"ember-version"
#define VMSTATE_PROP_VENDOR	"host-cpu-vendor"
#define VMSTATE_PROP_CPUID	"cpuid"

struct vmstate_writer {
	void *fdt;
	size_t cap;
	bool failed;
	char err[256];
};

struct vmstate {
	uint8_t *buf; /* owned: the whole file */
	size_t len;
	uint32_t major, minor;
	const char *ember_version; /* point into buf */
	const char *cpu_vendor;
};

struct vmstate_region {
	uint64_t guest_address;
	uint64_t size;
	uint64_t file_offset;
};

/* CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones). */
uint64_t vmstate__crc64(const void *data, size_t len);
/* The same over the bytes of n pieces in turn, as if they were one buffer. */
struct iovec;
uint64_t vmstate__crc64v(const struct iovec *piece, unsigned n);
/* The host's CPUID vendor string ("" where there is no CPUID); out holds 13 bytes. */
void vmstate__host_cpu_vendor(char out[13]);

int vmstate_writer__init(struct vmstate_writer *w, const char *ember_version, struct error *e);
void vmstate_writer__free(struct vmstate_writer *w);
int vmstate_writer__node(struct vmstate_writer *w, const char *path);
int vmstate_writer__set_u32(struct vmstate_writer *w, const char *path, const char *name,
			    uint32_t v);
int vmstate_writer__set_u64(struct vmstate_writer *w, const char *path, const char *name,
			    uint64_t v);
int vmstate_writer__set_string(struct vmstate_writer *w, const char *path, const char *name,
			       const char *s);
int vmstate_writer__set_blob(struct vmstate_writer *w, const char *path, const char *name,
			     const void *data, size_t len);
/* /memory/region@index with reg, guest-address, size and file-offset. */
int vmstate_writer__add_region(struct vmstate_writer *w, unsigned index,
			       const struct vmstate_region *r);
/* The complete file (dtb + trailer) in a malloc'd buffer the caller frees. */
int vmstate_writer__finish(struct vmstate_writer *w, uint8_t **out, size_t *outlen,
			   struct error *e);
/* finish, then replace path atomically: a temporary file beside it, fsync, rename. */
int vmstate_writer__write_file(struct vmstate_writer *w, const char *path, struct error *e);

/* Reads a regular file of at most VMSTATE_MAX_FILE bytes and checks it as vmstate__parse. */
int vmstate__open(struct vmstate *vs, const char *path, struct error *e);
/* Checks a whole file's bytes and keeps a copy. On failure vs holds nothing. */
int vmstate__parse(struct vmstate *vs, const void *data, size_t len, struct error *e);
void vmstate__close(struct vmstate *vs);

bool vmstate__has_node(const struct vmstate *vs, const char *path);
/* The name of the index-th subnode of path: 1 and *name set, 0 past the last, -1 if path
 * is missing. */
int vmstate__child(const struct vmstate *vs, const char *path, unsigned index, const char **name,
		   struct error *e);
int vmstate__get_u32(const struct vmstate *vs, const char *path, const char *name, uint32_t *out,
		     struct error *e);
int vmstate__get_u64(const struct vmstate *vs, const char *path, const char *name, uint64_t *out,
		     struct error *e);
/* A NUL-terminated string with no NUL inside; *out points into vs. */
int vmstate__get_string(const struct vmstate *vs, const char *path, const char *name,
			const char **out, struct error *e);
/* Any length; *data points into vs. */
int vmstate__get_blob(const struct vmstate *vs, const char *path, const char *name,
		      const void **data, size_t *len, struct error *e);
/* Exactly len bytes, copied to out (a KVM struct of known size). */
int vmstate__get_bytes(const struct vmstate *vs, const char *path, const char *name, void *out,
		       size_t len, struct error *e);

/* Reads /memory/region@0.. in order (no gaps): page-aligned, non-empty, no overflow, no
 * overlap in guest or file space. */
int vmstate__regions(const struct vmstate *vs, struct vmstate_region *out, size_t max,
		     size_t *count, struct error *e);
/* A memory file of file_size bytes covers every region, or an error names the first that
 * it does not. The fd form fstats a regular file. */
int vmstate__check_mem_size(const struct vmstate_region *r, size_t n, uint64_t file_size,
			    struct error *e);
int vmstate__check_mem_fd(const struct vmstate_region *r, size_t n, int fd, struct error *e);

#endif
