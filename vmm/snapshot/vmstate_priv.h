/* Shared by the vmstate writer and reader; not part of the public API (vmstate.h). */
#ifndef EMBER_VMSTATE_PRIV_H
#define EMBER_VMSTATE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/vmstate.h"

/* Like fdt_subnode_offset_namelen and fdt_path_offset, but a name matches only itself:
 * libfdt lets "blk" match "blk@1", and lets a path start with an alias. */
int vmstate__subnode(const void *fdt, int parent, const char *name, size_t len);
int vmstate__path_offset(const void *fdt, const char *path);

static inline void vmstate__put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static inline void vmstate__put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint32_t vmstate__be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t vmstate__be64(const uint8_t *p)
{
	return (uint64_t)vmstate__be32(p) << 32 | vmstate__be32(p + 4);
}

#endif
