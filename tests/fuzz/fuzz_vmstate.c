/* libFuzzer target for the vmstate reader: a snapshot file is untrusted input to a load.
 * Each input is parsed as it is (the checksum stops most mutations) and again with its
 * last 8 bytes replaced by the right CRC, so that mutations reach fdt_check_full and the
 * getters. A tree that passes is walked with every getter, its regions are read, and it
 * is copied through the writer: the copy must parse again. */
#include <libfdt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/vmstate.h"

static void copy_and_reparse(const struct vmstate *vs)
{
	struct error e;
	struct vmstate_writer w;
	if (vmstate_writer__init(&w, vs->ember_version, &e))
		return;
	char path[256];
	for (int off = 0; off >= 0; off = fdt_next_node(vs->buf, off, NULL)) {
		if (fdt_get_path(vs->buf, off, path, sizeof(path)) < 0)
			continue;
		vmstate_writer__node(&w, path);
		int p;
		fdt_for_each_property_offset(p, vs->buf, off)
		{
			const char *name;
			int len;
			const void *v = fdt_getprop_by_offset(vs->buf, p, &name, &len);
			if (v)
				vmstate_writer__set_blob(&w, path, name, v, (size_t)len);
		}
	}
	uint8_t *out;
	size_t outlen;
	if (!vmstate_writer__finish(&w, &out, &outlen, &e)) {
		struct vmstate again;
		/* What the writer made, the reader takes. */
		if (vmstate__parse(&again, out, outlen, &e))
			__builtin_trap();
		vmstate__close(&again);
		free(out);
	}
	vmstate_writer__free(&w);
}

static void walk(const struct vmstate *vs)
{
	struct error e;
	char path[256];
	for (int off = 0; off >= 0; off = fdt_next_node(vs->buf, off, NULL)) {
		if (fdt_get_path(vs->buf, off, path, sizeof(path)) < 0)
			continue;
		if (!vmstate__has_node(vs, path))
			__builtin_trap();
		const char *child;
		for (unsigned i = 0; i < 64; i++)
			if (vmstate__child(vs, path, i, &child, &e) != 1)
				break;
		int p;
		fdt_for_each_property_offset(p, vs->buf, off)
		{
			const char *name;
			int len;
			if (!fdt_getprop_by_offset(vs->buf, p, &name, &len))
				continue;
			uint32_t u32;
			uint64_t u64;
			const char *s;
			const void *blob;
			size_t n;
			uint8_t bytes[16];
			vmstate__get_u32(vs, path, name, &u32, &e);
			vmstate__get_u64(vs, path, name, &u64, &e);
			if (!vmstate__get_string(vs, path, name, &s, &e) &&
			    strlen(s) + 1 != (size_t)len)
				__builtin_trap();
			/* By name a getter must find this very property, not a twin. */
			if (vmstate__get_blob(vs, path, name, &blob, &n, &e) ||
			    blob != fdt_getprop_by_offset(vs->buf, p, NULL, NULL))
				__builtin_trap();
			vmstate__get_bytes(vs, path, name, bytes, sizeof(bytes), &e);
		}
	}
	struct vmstate_region r[8];
	size_t count;
	if (!vmstate__regions(vs, r, 8, &count, &e))
		vmstate__check_mem_size(r, count, 1ull << 32, &e);
	copy_and_reparse(vs);
}

static void one(const uint8_t *data, size_t size)
{
	struct error e;
	struct vmstate vs;
	if (vmstate__parse(&vs, data, size, &e))
		return;
	walk(&vs);
	vmstate__close(&vs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size);
	if (size < 8)
		return 0;
	uint8_t *copy = malloc(size);
	memcpy(copy, data, size);
	uint64_t c = vmstate__crc64(copy, size - 8);
	for (int i = 0; i < 8; i++)
		copy[size - 8 + i] = (uint8_t)(c >> (56 - 8 * i));
	one(copy, size);
	free(copy);
	return 0;
}
